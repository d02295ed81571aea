//! The generic connection loop: read → session → write, with TLS upgrade,
//! timeouts and shutdown.

use std::time::Duration;

use bytes::BytesMut;
use pillarbox_session::{ConnInfo, Control, Limits, Session, TlsInfo};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::stream::MaybeTls;

/// How a connection is driven.
#[derive(Clone)]
pub struct DriveOptions {
    pub limits: Limits,
    /// The certificate for STARTTLS and implicit TLS.
    pub tls: Option<TlsAcceptor>,
    /// Handshake before the greeting (ports 465/993/995 style).
    pub implicit_tls: bool,
    /// Bound on a TLS handshake.
    pub handshake_timeout: Duration,
    /// Cancelled when the server shuts down.
    pub shutdown: CancellationToken,
}

/// Why a connection ended abnormally (normal closes are `Ok`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DriveError {
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("TLS handshake failed: {0}")]
    Handshake(std::io::Error),
    #[error("TLS handshake timed out")]
    HandshakeTimeout,
    #[error("TLS requested but no certificate is configured")]
    NoTls,
    #[error("input buffer limit exceeded")]
    BufferLimit,
}

const READ_CHUNK: usize = 16 * 1024;
/// The read buffer of a connection whose last read was short (an idle
/// client, one command at a time): enough for a typical command line, so
/// thousands of idle connections do not each hold a full chunk. A read
/// that fills it gets a full chunk next time.
const SMALL_READ: usize = 512;
const KEEP_CAPACITY: usize = 64 * 1024;

fn tls_info<IO>(s: &tokio_rustls::server::TlsStream<IO>) -> TlsInfo {
    let (_, conn) = s.get_ref();
    TlsInfo {
        protocol: conn
            .protocol_version()
            .and_then(|v| v.as_str())
            .unwrap_or("TLS")
            .to_string(),
        cipher: conn
            .negotiated_cipher_suite()
            .and_then(|c| c.suite().as_str())
            .unwrap_or("unknown")
            .to_string(),
        channel_bindings: crate::tls::channel_bindings(conn),
    }
}

async fn handshake<IO: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut MaybeTls<IO>,
    opts: &DriveOptions,
) -> Result<TlsInfo, DriveError> {
    let acceptor = opts.tls.clone().ok_or(DriveError::NoTls)?;
    let MaybeTls::Plain(io) = std::mem::replace(stream, MaybeTls::Upgrading) else {
        return Err(DriveError::NoTls);
    };
    let tls = tokio::time::timeout(opts.handshake_timeout, acceptor.accept(io))
        .await
        .map_err(|_| DriveError::HandshakeTimeout)?
        .map_err(DriveError::Handshake)?;
    let info = tls_info(&tls);
    *stream = MaybeTls::Tls(Box::new(tls));
    Ok(info)
}

async fn flush_out<IO: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut MaybeTls<IO>,
    out: &mut Vec<u8>,
) -> std::io::Result<()> {
    if !out.is_empty() {
        stream.write_all(out).await?;
        stream.flush().await?;
        // Sessions allocate per response; a connection waiting for input
        // holds no output buffer.
        *out = Vec::new();
    }
    Ok(())
}

/// Runs one connection to its end: optional implicit TLS handshake, then the
/// session built by `make`, until it asks to close, the peer goes away, the
/// idle timeout passes or the server shuts down.
pub async fn drive<IO, S, F>(
    io: IO,
    mut conn: ConnInfo,
    make: F,
    opts: &DriveOptions,
) -> Result<(), DriveError>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send,
    S: Session,
    F: FnOnce(ConnInfo) -> S,
{
    let mut stream = MaybeTls::Plain(io);
    if opts.implicit_tls {
        conn.tls = Some(handshake(&mut stream, opts).await?);
    }
    conn.starttls_available = opts.tls.is_some();
    let mut session = make(conn);
    let mut out = Vec::new();
    let mut buf = BytesMut::new();
    let mut last_read_full = false;
    // Futures of session calls are boxed while they run, so the connection
    // task, which lives as long as the connection, stays small.
    let mut control = Box::pin(session.greeting(&mut out)).await;
    let mut read_deadline = None;
    loop {
        flush_out(&mut stream, &mut out).await?;
        match control {
            Control::Close => break,
            Control::StartTls => {
                // RFC 3207 §4 / RFC 2595 §3.1: anything pipelined after the
                // STARTTLS command was sent in the clear and is discarded.
                buf.clear();
                let info = handshake(&mut stream, opts).await?;
                session.tls_established(info);
            }
            Control::Continue => {}
        }
        if control == Control::Continue && session.output_pending() {
            // A response produced in chunks: the next chunk once the stream
            // took this one, before any further input is read (pipelined
            // commands wait in `buf` and the socket). Receiving it counts as
            // activity for the idle timer.
            control = Box::pin(session.input(&mut buf, &mut out)).await;
            read_deadline = None;
            continue;
        }
        if buf.is_empty() && (buf.capacity() > KEEP_CAPACITY || !last_read_full) {
            buf = BytesMut::new();
        }
        buf.reserve(if last_read_full || !buf.is_empty() {
            READ_CHUNK
        } else {
            SMALL_READ
        });
        let room = buf.capacity() - buf.len();
        // The idle timer runs from the last input, not from the last
        // notification a session sent on its own (RFC 9051 §5.4).
        let deadline = *read_deadline
            .get_or_insert_with(|| tokio::time::Instant::now() + session.idle_timeout());
        let read = tokio::select! {
            r = tokio::time::timeout_at(deadline, stream.read_buf(&mut buf)) => r,
            _ = session.wake() => {
                control = Box::pin(session.on_wake(&mut out)).await;
                continue;
            }
            _ = opts.shutdown.cancelled() => {
                session.shutting_down(&mut out);
                flush_out(&mut stream, &mut out).await?;
                break;
            }
        };
        match read {
            Err(_elapsed) => {
                session.timed_out(&mut out);
                flush_out(&mut stream, &mut out).await?;
                break;
            }
            Ok(Ok(0)) => {
                Box::pin(session.closed()).await;
                return Ok(());
            }
            Ok(Ok(n)) => last_read_full = n >= room,
            Ok(Err(e)) => {
                Box::pin(session.closed()).await;
                return Err(e.into());
            }
        }
        read_deadline = None;
        if buf.len() > opts.limits.max_buffer {
            Box::pin(session.closed()).await;
            return Err(DriveError::BufferLimit);
        }
        control = Box::pin(session.input(&mut buf, &mut out)).await;
    }
    Box::pin(session.closed()).await;
    let _ = stream.shutdown().await;
    debug!("connection closed");
    Ok(())
}
