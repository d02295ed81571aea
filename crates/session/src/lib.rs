//! The contract between protocol session logic and the network driver.
//!
//! A protocol session (SMTP, LMTP, POP3, later IMAP) never touches a socket.
//! The driver in `pillarbox-net` owns the stream: it reads bytes into a
//! buffer, hands the buffer to [`Session::input`], writes whatever the session
//! appended to the output buffer, and then acts on the returned [`Control`]:
//! keep going, upgrade the stream to TLS (STARTTLS / STLS), or close.
//!
//! Invariants callers rely on:
//! - `input` consumes only complete protocol units from the front of the
//!   buffer; unconsumed bytes stay for the next call, after more bytes arrive.
//! - A session bounds its own buffering: when the buffer holds more than its
//!   protocol allows without a complete unit (an overlong line), the session
//!   answers with an error and discards input itself; the driver additionally
//!   closes connections whose buffer passes [`Limits::max_buffer`].
//! - After `Control::StartTls` the driver discards nothing but requires the
//!   buffer to be empty (RFC 3207 §4 / RFC 2595 §3.1: pipelined data after
//!   STARTTLS must not be processed); leftover plaintext closes the connection.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;

/// What the driver should do after a call into the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Write the output and read more input.
    Continue,
    /// Write the output, then perform a TLS handshake on the stream and call
    /// [`Session::tls_established`].
    StartTls,
    /// Write the output and close the connection.
    Close,
}

/// Facts about the TLS layer of a connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsInfo {
    /// e.g. `TLSv1.3`.
    pub protocol: String,
    /// e.g. `TLS13_AES_128_GCM_SHA256`.
    pub cipher: String,
}

/// Facts about a connection, known when it is accepted.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// Unique per process, for logs.
    pub session_id: u64,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    /// Set when the listener is implicit TLS, or after STARTTLS.
    pub tls: Option<TlsInfo>,
    /// Whether this listener can offer STARTTLS (a certificate is loaded).
    pub starttls_available: bool,
}

impl ConnInfo {
    /// Whether the peer is on a loopback address.
    pub fn peer_is_loopback(&self) -> bool {
        self.peer.ip().is_loopback()
    }
}

/// Driver-enforced bounds.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Input buffered without the session consuming it; past this the
    /// connection is closed.
    pub max_buffer: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_buffer: 1024 * 1024,
        }
    }
}

/// One protocol session on one connection.
pub trait Session: Send {
    /// The greeting sent when the connection opens (and, for implicit TLS,
    /// after the handshake). Returns the control decision (a session may
    /// refuse the connection with a greeting and `Close`).
    fn greeting(&mut self, out: &mut Vec<u8>) -> impl Future<Output = Control> + Send;

    /// Consume complete units from the front of `buf`, append responses to
    /// `out`.
    fn input(
        &mut self,
        buf: &mut BytesMut,
        out: &mut Vec<u8>,
    ) -> impl Future<Output = Control> + Send;

    /// The peer closed its side: release anything held. No output possible.
    fn closed(&mut self) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// The TLS handshake after `Control::StartTls` succeeded.
    fn tls_established(&mut self, info: TlsInfo);

    /// How long the driver waits for input before calling [`Session::timed_out`].
    fn idle_timeout(&self) -> Duration;

    /// The peer was idle too long: append the protocol's farewell
    /// (`421`, `-ERR`, `* BYE`). The driver closes the connection afterwards.
    fn timed_out(&mut self, out: &mut Vec<u8>);

    /// Resolves when the session has something to send without new input,
    /// e.g. IMAP IDLE notifications from the change feed. Must be cancel
    /// safe: the driver drops it whenever input arrives first. The default
    /// never resolves.
    fn wake(&mut self) -> impl Future<Output = ()> + Send {
        std::future::pending()
    }

    /// Called after [`Session::wake`] resolved: append what is to be sent.
    fn on_wake(&mut self, out: &mut Vec<u8>) -> impl Future<Output = Control> + Send {
        let _ = out;
        async { Control::Continue }
    }

    /// The server is shutting down while the session waits for input: append
    /// the protocol's farewell. The driver closes the connection afterwards.
    fn shutting_down(&mut self, out: &mut Vec<u8>) {
        self.timed_out(out)
    }
}

/// The source of wall-clock time, injected so tests control it.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> std::time::SystemTime;
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> std::time::SystemTime {
        std::time::SystemTime::now()
    }
}

/// A clock that stands still until moved; for tests.
#[derive(Debug)]
pub struct ManualClock(std::sync::Mutex<std::time::SystemTime>);

impl ManualClock {
    pub fn new(at: std::time::SystemTime) -> Self {
        ManualClock(std::sync::Mutex::new(at))
    }
    pub fn advance(&self, by: Duration) {
        let mut t = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *t += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> std::time::SystemTime {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The clock handle passed to components.
pub type SharedClock = std::sync::Arc<dyn Clock>;
