//! A line-oriented test client over TCP with optional STARTTLS / implicit TLS.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    Gone,
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Stream::Gone => Poll::Ready(Ok(())),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Stream::Gone => Poll::Ready(Err(std::io::ErrorKind::NotConnected.into())),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Stream::Gone => Poll::Ready(Ok(())),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Stream::Gone => Poll::Ready(Ok(())),
        }
    }
}

/// How long a test waits for a server line before failing (a bound against
/// hangs, not a delay).
pub const READ_TIMEOUT: Duration = Duration::from_secs(20);

/// One client connection.
pub struct Conn {
    stream: Stream,
    buf: Vec<u8>,
    tls: Arc<ClientConfig>,
}

impl Conn {
    /// Connects in plaintext.
    pub async fn connect(addr: SocketAddr, tls: Arc<ClientConfig>) -> std::io::Result<Conn> {
        let s = TcpStream::connect(addr).await?;
        s.set_nodelay(true)?;
        Ok(Conn {
            stream: Stream::Plain(s),
            buf: Vec::new(),
            tls,
        })
    }

    /// Connects and handshakes TLS at once (implicit TLS).
    pub async fn connect_tls(addr: SocketAddr, tls: Arc<ClientConfig>) -> std::io::Result<Conn> {
        let mut c = Conn::connect(addr, tls).await?;
        c.start_tls().await?;
        Ok(c)
    }

    /// Upgrades to TLS (after the server accepted STARTTLS/STLS). Fails if
    /// the server sent anything beyond its reply.
    pub async fn start_tls(&mut self) -> std::io::Result<()> {
        if !self.buf.is_empty() {
            return Err(std::io::Error::other("unread plaintext before TLS"));
        }
        let Stream::Plain(s) = std::mem::replace(&mut self.stream, Stream::Gone) else {
            return Err(std::io::Error::other("already TLS"));
        };
        let name = ServerName::try_from("localhost").map_err(std::io::Error::other)?;
        let tls = TlsConnector::from(self.tls.clone())
            .connect(name, s)
            .await?;
        self.stream = Stream::Tls(Box::new(tls));
        Ok(())
    }

    pub fn is_tls(&self) -> bool {
        matches!(self.stream, Stream::Tls(_))
    }

    /// The client's view of the RFC 9266 `tls-exporter` channel binding
    /// (32 octets, label `EXPORTER-Channel-Binding`, empty context), for
    /// SCRAM-SHA-256-PLUS; `None` without TLS or with TLS below 1.3.
    pub fn tls_exporter(&self) -> Option<Vec<u8>> {
        let Stream::Tls(s) = &self.stream else {
            return None;
        };
        let (_, conn) = s.get_ref();
        if conn.protocol_version() != Some(rustls::ProtocolVersion::TLSv1_3) {
            return None;
        }
        let mut out = [0u8; 32];
        conn.export_keying_material(&mut out, b"EXPORTER-Channel-Binding", Some(&[]))
            .ok()?;
        Some(out.to_vec())
    }

    /// Sends raw bytes.
    pub async fn send_raw(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(data).await?;
        self.stream.flush().await
    }

    /// Sends `line` followed by CRLF.
    pub async fn send_line(&mut self, line: &str) -> std::io::Result<()> {
        let mut v = Vec::with_capacity(line.len() + 2);
        v.extend_from_slice(line.as_bytes());
        v.extend_from_slice(b"\r\n");
        self.send_raw(&v).await
    }

    /// Reads one line without its CRLF; `None` at end of stream.
    pub async fn read_line(&mut self) -> std::io::Result<Option<String>> {
        loop {
            if let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=pos).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(Some(String::from_utf8_lossy(&line).into_owned()));
            }
            let mut chunk = [0u8; 8192];
            let n = tokio::time::timeout(READ_TIMEOUT, self.stream.read(&mut chunk))
                .await
                .map_err(|_| {
                    std::io::Error::new(std::io::ErrorKind::TimedOut, "read timed out")
                })??;
            if n == 0 {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                let rest = std::mem::take(&mut self.buf);
                return Ok(Some(String::from_utf8_lossy(&rest).into_owned()));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Reads lines until one starts with `prefix` (inclusive); returns them.
    pub async fn read_until(&mut self, prefix: &str) -> std::io::Result<Vec<String>> {
        let mut lines = Vec::new();
        loop {
            match self.read_line().await? {
                None => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        format!("eof before {prefix:?}; got {lines:?}"),
                    ));
                }
                Some(l) => {
                    let done = l.starts_with(prefix);
                    lines.push(l);
                    if done {
                        return Ok(lines);
                    }
                }
            }
        }
    }

    /// Closes the client side.
    pub async fn close(&mut self) {
        let _ = self.stream.shutdown().await;
        self.stream = Stream::Gone;
    }
}
