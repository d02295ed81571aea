//! A minimal IMAP client connection: TCP (optionally from a chosen source
//! address), optional implicit TLS that accepts any certificate (the servers
//! under test use self-signed ones), and a response reader that understands
//! exactly what a client must: CRLF lines, `{n}` literals inside them,
//! tagged / untagged / continuation responses.
//!
//! Nothing here is shared with the server's codec on purpose: a benchmark
//! client that reused the server's parser could not notice its mistakes.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpSocket;
use tokio_rustls::TlsConnector;

/// Longest response line (literals excluded) the reader accepts.
const MAX_LINE: usize = 16 << 20;
/// Largest literal the reader accepts.
const MAX_LITERAL: usize = 64 << 20;

pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Where to connect and how.
#[derive(Clone)]
pub struct Target {
    pub addr: SocketAddr,
    pub tls: Option<TlsConnector>,
    pub timeout: Duration,
}

impl Target {
    pub fn new(host: &str, port: u16, tls: bool, timeout: Duration) -> io::Result<Target> {
        let ip: IpAddr = host
            .parse()
            .map_err(|_| io::Error::other(format!("host must be an IP address: {host}")))?;
        let tls = if tls { Some(tls_connector()?) } else { None };
        Ok(Target {
            addr: SocketAddr::new(ip, port),
            tls,
            timeout,
        })
    }
}

/// A TLS client that accepts any server certificate and never resumes
/// sessions, so every connection costs the server a full handshake (as
/// imaptest and most first connections of real clients do).
fn tls_connector() -> io::Result<TlsConnector> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
        .with_no_client_auth();
    config.resumption = rustls::client::Resumption::disabled();
    Ok(TlsConnector::from(Arc::new(config)))
}

#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// One response: its line(s) with each literal's octets moved to `literals`
/// (the `{n}` markers stay in `line`).
#[derive(Debug, Default)]
pub struct Resp {
    pub line: Vec<u8>,
    pub literals: Vec<Vec<u8>>,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.line).into_owned()
    }

    /// `* N NAME...` → (N, NAME) for numeric untagged responses
    /// (EXISTS, EXPUNGE, FETCH, RECENT).
    pub fn numbered(&self) -> Option<(u32, &[u8])> {
        let rest = self.line.strip_prefix(b"* ")?;
        let sp = rest.iter().position(|&b| b == b' ')?;
        let n: u32 = std::str::from_utf8(&rest[..sp]).ok()?.parse().ok()?;
        Some((n, trim_crlf(&rest[sp + 1..])))
    }

    pub fn is_untagged(&self, name: &[u8]) -> bool {
        self.line
            .strip_prefix(b"* ")
            .is_some_and(|r| starts_with_ci(r, name))
    }
}

pub fn trim_crlf(b: &[u8]) -> &[u8] {
    let b = b.strip_suffix(b"\n").unwrap_or(b);
    b.strip_suffix(b"\r").unwrap_or(b)
}

pub fn starts_with_ci(hay: &[u8], needle: &[u8]) -> bool {
    hay.len() >= needle.len() && hay[..needle.len()].eq_ignore_ascii_case(needle)
}

pub fn contains_ci(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty()
        || hay
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    No,
    Bad,
}

/// Everything a command produced.
#[derive(Debug)]
pub struct Reply {
    pub untagged: Vec<Resp>,
    pub status: Status,
    /// The tagged line after the tag, e.g. `OK [APPENDUID 1 5] done`.
    pub text: String,
}

impl Reply {
    pub fn ok(&self) -> bool {
        self.status == Status::Ok
    }
}

/// One piece of a command: plain text, or a literal's octets.
pub enum Seg<'a> {
    Text(&'a [u8]),
    Lit(&'a [u8]),
}

pub struct Conn {
    io: BufReader<Box<dyn Io>>,
    next_tag: u32,
    timeout: Duration,
    /// Server advertised LITERAL+ (RFC 7888): literals are sent without
    /// waiting for a continuation.
    pub literal_plus: bool,
    /// The greeting line.
    pub greeting: String,
}

fn timeout_err(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, format!("timed out: {what}"))
}

impl Conn {
    /// Connects (from `source` if given), does the TLS handshake if the
    /// target wants it, reads the greeting (must be `* OK`).
    pub async fn connect(target: &Target, source: Option<IpAddr>, buf: usize) -> io::Result<Conn> {
        let fut = async {
            let sock = match target.addr {
                SocketAddr::V4(_) => TcpSocket::new_v4()?,
                SocketAddr::V6(_) => TcpSocket::new_v6()?,
            };
            if let Some(ip) = source {
                sock.bind(SocketAddr::new(ip, 0))?;
            }
            let tcp = sock.connect(target.addr).await?;
            tcp.set_nodelay(true)?;
            let io: Box<dyn Io> = match &target.tls {
                Some(tls) => {
                    let name = ServerName::IpAddress(target.addr.ip().into());
                    Box::new(tls.connect(name, tcp).await?)
                }
                None => Box::new(tcp),
            };
            Ok::<_, io::Error>(io)
        };
        let io = tokio::time::timeout(target.timeout, fut)
            .await
            .map_err(|_| timeout_err("connect"))??;
        let mut c = Conn {
            io: BufReader::with_capacity(buf, io),
            next_tag: 1,
            timeout: target.timeout,
            literal_plus: false,
            greeting: String::new(),
        };
        let g = c.read_resp().await?;
        c.greeting = g.text();
        if !starts_with_ci(&g.line, b"* OK") {
            return Err(io::Error::other(format!(
                "greeting: {}",
                c.greeting.trim_end()
            )));
        }
        c.literal_plus = contains_ci(&g.line, b"LITERAL+");
        Ok(c)
    }

    fn tag(&mut self) -> String {
        let t = format!("a{}", self.next_tag);
        self.next_tag += 1;
        t
    }

    /// Reads one response (line plus any literals).
    pub async fn read_resp(&mut self) -> io::Result<Resp> {
        let t = self.timeout;
        tokio::time::timeout(t, self.read_resp_inner())
            .await
            .map_err(|_| timeout_err("response"))?
    }

    async fn read_resp_inner(&mut self) -> io::Result<Resp> {
        let mut r = Resp::default();
        loop {
            let start = r.line.len();
            let n = self.io.read_until(b'\n', &mut r.line).await?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "connection closed (partial: {:?})",
                        String::from_utf8_lossy(&r.line)
                    ),
                ));
            }
            if r.line.len() > MAX_LINE {
                return Err(io::Error::other("response line too long"));
            }
            match literal_len(&r.line[start..]) {
                Some(len) => {
                    if len > MAX_LITERAL {
                        return Err(io::Error::other("literal too large"));
                    }
                    let mut lit = vec![0u8; len];
                    self.io.read_exact(&mut lit).await?;
                    r.literals.push(lit);
                }
                None => return Ok(r),
            }
        }
    }

    pub async fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        let t = self.timeout;
        let w = self.io.get_mut();
        tokio::time::timeout(t, async {
            w.write_all(bytes).await?;
            w.flush().await
        })
        .await
        .map_err(|_| timeout_err("write"))?
    }

    /// Sends a command made of segments (the tag and CRLF are added) and
    /// reads until its tagged response. Literals use LITERAL+ when the
    /// server offered it, else wait for the continuation.
    pub async fn command(&mut self, segs: &[Seg<'_>]) -> io::Result<Reply> {
        let tag = self.tag();
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(tag.as_bytes());
        out.push(b' ');
        let mut untagged = Vec::new();
        for seg in segs {
            match seg {
                Seg::Text(t) => out.extend_from_slice(t),
                Seg::Lit(data) => {
                    if self.literal_plus {
                        out.extend_from_slice(format!("{{{}+}}\r\n", data.len()).as_bytes());
                        out.extend_from_slice(data);
                    } else {
                        out.extend_from_slice(format!("{{{}}}\r\n", data.len()).as_bytes());
                        self.write(&out).await?;
                        out.clear();
                        loop {
                            let r = self.read_resp().await?;
                            if r.line.starts_with(b"+") {
                                break;
                            }
                            if let Some(reply) = tagged(&tag, &r) {
                                return Ok(Reply { untagged, ..reply });
                            }
                            untagged.push(r);
                        }
                        out.extend_from_slice(data);
                    }
                }
            }
        }
        out.extend_from_slice(b"\r\n");
        self.write(&out).await?;
        self.finish(&tag, untagged).await
    }

    /// Sends a command without waiting for its answer (literals must be
    /// LITERAL+ ones: fails if the server did not offer LITERAL+). Returns
    /// the tag for [`Conn::wait`].
    pub async fn send(&mut self, segs: &[Seg<'_>]) -> io::Result<String> {
        let tag = self.tag();
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(tag.as_bytes());
        out.push(b' ');
        for seg in segs {
            match seg {
                Seg::Text(t) => out.extend_from_slice(t),
                Seg::Lit(data) => {
                    if !self.literal_plus {
                        return Err(io::Error::other("server lacks LITERAL+"));
                    }
                    out.extend_from_slice(format!("{{{}+}}\r\n", data.len()).as_bytes());
                    out.extend_from_slice(data);
                }
            }
        }
        out.extend_from_slice(b"\r\n");
        self.write(&out).await?;
        Ok(tag)
    }

    /// Reads until the tagged answer of a command sent with [`Conn::send`].
    pub async fn wait(&mut self, tag: &str) -> io::Result<Reply> {
        self.finish(tag, Vec::new()).await
    }

    /// Plain-text command convenience.
    pub async fn simple(&mut self, text: &str) -> io::Result<Reply> {
        self.command(&[Seg::Text(text.as_bytes())]).await
    }

    async fn finish(&mut self, tag: &str, mut untagged: Vec<Resp>) -> io::Result<Reply> {
        loop {
            let r = self.read_resp().await?;
            if let Some(reply) = tagged(tag, &r) {
                return Ok(Reply { untagged, ..reply });
            }
            if r.line.starts_with(b"+") {
                return Err(io::Error::other(format!(
                    "unexpected continuation: {}",
                    r.text().trim_end()
                )));
            }
            untagged.push(r);
        }
    }

    /// Starts IDLE: sends it and waits for the continuation. Returns the
    /// tag (for [`Conn::idle_done`]) and any untagged responses before it.
    pub async fn idle_start(&mut self) -> io::Result<(String, Vec<Resp>)> {
        let tag = self.tag();
        self.write(format!("{tag} IDLE\r\n").as_bytes()).await?;
        let mut untagged = Vec::new();
        loop {
            let r = self.read_resp().await?;
            if r.line.starts_with(b"+") {
                return Ok((tag, untagged));
            }
            if let Some(reply) = tagged(&tag, &r) {
                return Err(io::Error::other(format!("IDLE refused: {}", reply.text)));
            }
            untagged.push(r);
        }
    }

    /// Ends IDLE (DONE) and reads its tagged response.
    pub async fn idle_done(&mut self, tag: &str) -> io::Result<Reply> {
        self.write(b"DONE\r\n").await?;
        self.finish(tag, Vec::new()).await
    }
}

fn tagged(tag: &str, r: &Resp) -> Option<Reply> {
    let rest = r.line.strip_prefix(tag.as_bytes())?.strip_prefix(b" ")?;
    let rest = trim_crlf(rest);
    let status = if starts_with_ci(rest, b"OK") {
        Status::Ok
    } else if starts_with_ci(rest, b"NO") {
        Status::No
    } else if starts_with_ci(rest, b"BAD") {
        Status::Bad
    } else {
        return None;
    };
    Some(Reply {
        untagged: Vec::new(),
        status,
        text: String::from_utf8_lossy(rest).into_owned(),
    })
}

/// `...{123}\r\n` or `...{123+}\r\n` / `~{123}` at the end of a line
/// segment → 123.
fn literal_len(seg: &[u8]) -> Option<usize> {
    let s = trim_crlf(seg);
    let s = s.strip_suffix(b"}")?;
    let open = s.iter().rposition(|&b| b == b'{')?;
    let digits = &s[open + 1..];
    let digits = digits.strip_suffix(b"+").unwrap_or(digits);
    if digits.is_empty() || digits.len() > 10 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Quotes a string for IMAP (the test data never needs a literal here).
pub fn quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            q.push('\\');
        }
        q.push(c);
    }
    q.push('"');
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_markers() {
        assert_eq!(literal_len(b"* 1 FETCH (BODY[] {12}\r\n"), Some(12));
        assert_eq!(literal_len(b"* 1 FETCH (BODY[] {12+}\r\n"), Some(12));
        assert_eq!(literal_len(b"* OK done\r\n"), None);
        assert_eq!(literal_len(b"* OK {x}\r\n"), None);
    }

    #[test]
    fn numbered_responses() {
        let r = Resp {
            line: b"* 17 EXISTS\r\n".to_vec(),
            literals: vec![],
        };
        assert_eq!(r.numbered(), Some((17, &b"EXISTS"[..])));
        assert!(
            tagged(
                "a1",
                &Resp {
                    line: b"a1 OK done\r\n".to_vec(),
                    literals: vec![]
                }
            )
            .is_some_and(|r| r.ok())
        );
    }
}
