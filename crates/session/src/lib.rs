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
    /// The channel bindings of this TLS connection (RFC 5056), for SASL
    /// `-PLUS` mechanisms; empty when none could be derived.
    pub channel_bindings: ChannelBindings,
}

/// Channel binding data of one TLS connection (RFC 5056 §2.1), one field per
/// channel binding type the driver could compute.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ChannelBindings {
    /// RFC 9266 `tls-exporter`: 32 octets exported with the label
    /// `EXPORTER-Channel-Binding` and an empty context. Only set for TLS
    /// 1.3 (RFC 9266 §2 requires the extended master secret on TLS 1.2,
    /// which the driver cannot confirm).
    pub tls_exporter: Option<Vec<u8>>,
}

impl ChannelBindings {
    /// Whether any channel binding type is available.
    pub fn any(&self) -> bool {
        self.tls_exporter.is_some()
    }
}

impl std::fmt::Debug for ChannelBindings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The binding values are connection secrets' offspring: never log them.
        f.debug_struct("ChannelBindings")
            .field("tls_exporter", &self.tls_exporter.is_some())
            .finish()
    }
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

    /// Whether the session has more output for input it already consumed: a
    /// long response (an IMAP FETCH of large bodies or many messages) is
    /// produced in bounded chunks. While this holds, the driver writes `out`
    /// and, once the stream took it all, calls [`Session::input`] again with
    /// the buffer as it is (no new input is read in between), so neither the
    /// session nor the driver ever holds more than one chunk. The default is
    /// false: every `input` call produces its whole answer.
    fn output_pending(&self) -> bool {
        false
    }

    /// The server is shutting down while the session waits for input: append
    /// the protocol's farewell. The driver closes the connection afterwards.
    fn shutting_down(&mut self, out: &mut Vec<u8>) {
        self.timed_out(out)
    }
}

/// Slowloris defence: how long a client may take to send one command (a
/// line, or a command with its literal or message data). The idle timeout
/// only bounds silence; a client sending one byte per second is never
/// silent, so each session also bounds the time a partly received command
/// may take: `timeout`, plus one second per `min_rate` octets received for
/// it (so large messages on slow but honest links are not cut off).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    pub timeout: Duration,
    /// Octets per second; at least 1.
    pub min_rate: u64,
}

/// Tracks the command in progress against a [`Pace`]; one per session,
/// checked after every [`Session::input`] on the session's clock.
#[derive(Debug, Default)]
pub struct PaceTimer {
    /// When the first octet of the command in progress arrived.
    started: Option<std::time::SystemTime>,
    /// Octets received since then.
    bytes: u64,
    /// Octets left unconsumed in the buffer after the previous call.
    left: usize,
}

impl PaceTimer {
    /// Call at the end of `input`: `before` and `after` are the buffer's
    /// length at the start and end of the call, `busy` whether a command
    /// is partly received (in the buffer or in the session's own state).
    /// Returns how long the command has taken when that is past its
    /// allowance: the session then answers with its protocol's error and
    /// closes.
    pub fn check(
        &mut self,
        pace: Pace,
        now: std::time::SystemTime,
        before: usize,
        after: usize,
        busy: bool,
    ) -> Option<Duration> {
        let received = before.saturating_sub(self.left) as u64;
        self.left = after;
        if !busy {
            self.started = None;
            self.bytes = 0;
            return None;
        }
        let started = *self.started.get_or_insert(now);
        self.bytes = self.bytes.saturating_add(received);
        let allowance = pace
            .timeout
            .saturating_add(Duration::from_secs(self.bytes / pace.min_rate.max(1)));
        let taken = now.duration_since(started).unwrap_or(Duration::ZERO);
        (taken > allowance).then_some(taken)
    }
}

/// The source of wall-clock time, injected so tests control it.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> std::time::SystemTime;

    /// Waits `duration` on this clock: the real clock sleeps (a tokio
    /// timer, so the task yields); [`ManualClock`] moves itself forward by
    /// `duration` and returns at once, so a test sees the wait without
    /// spending it.
    fn sleep(&self, duration: Duration) -> Sleep;
}

/// The future returned by [`Clock::sleep`].
pub type Sleep = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> std::time::SystemTime {
        std::time::SystemTime::now()
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        Box::pin(tokio::time::sleep(duration))
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

    fn sleep(&self, duration: Duration) -> Sleep {
        self.advance(duration);
        Box::pin(std::future::ready(()))
    }
}

/// The clock handle passed to components.
pub type SharedClock = std::sync::Arc<dyn Clock>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    const PACE: Pace = Pace {
        timeout: Duration::from_secs(60),
        min_rate: 100,
    };

    #[test]
    fn one_byte_per_second_is_cut_off_after_the_timeout() {
        let mut t = PaceTimer::default();
        let t0 = SystemTime::UNIX_EPOCH;
        let mut len = 0;
        for s in 0..=60 {
            len += 1;
            let now = t0 + Duration::from_secs(s);
            assert_eq!(t.check(PACE, now, len, len, true), None, "{s}");
        }
        len += 1;
        let now = t0 + Duration::from_secs(61);
        assert_eq!(
            t.check(PACE, now, len, len, true),
            Some(Duration::from_secs(61))
        );
    }

    #[test]
    fn a_steady_stream_above_the_rate_is_never_cut_off() {
        let mut t = PaceTimer::default();
        let t0 = SystemTime::UNIX_EPOCH;
        for s in 0..10_000 {
            // 200 octets/s, all consumed (message data).
            let now = t0 + Duration::from_secs(s);
            assert_eq!(t.check(PACE, now, 200, 0, true), None, "{s}");
        }
    }

    #[test]
    fn a_completed_command_restarts_the_clock() {
        let mut t = PaceTimer::default();
        let t0 = SystemTime::UNIX_EPOCH;
        assert_eq!(t.check(PACE, t0, 3, 3, true), None);
        assert_eq!(
            t.check(PACE, t0 + Duration::from_secs(30), 6, 0, false),
            None
        );
        let later = t0 + Duration::from_secs(100);
        assert_eq!(t.check(PACE, later, 2, 2, true), None);
        assert_eq!(
            t.check(PACE, later + Duration::from_secs(61), 3, 3, true),
            Some(Duration::from_secs(61))
        );
    }
}
