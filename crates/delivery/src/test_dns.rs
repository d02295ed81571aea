//! A tiny authoritative DNS server on 127.0.0.1 for tests (UDP only): it
//! serves the records it was given and answers `NXDOMAIN` for every other
//! name, so the verification code runs through the real resolver path
//! ([`crate::DnsConfig::nameservers`]) without touching the Internet.
//!
//! Only what SPF/DKIM/DMARC need: `A`, `AAAA`, `MX`, `TXT` in class IN;
//! names marked with [`TestDns::servfail`] answer `SERVFAIL` (a temporary
//! error for the resolver). Answers are never truncated: keep TXT records
//! small (Ed25519 DKIM keys, not RSA).
//!
//! Built for this crate's tests and, with the `test-dns` feature, for other
//! crates' tests.

use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

const TYPE_A: u16 = 1;
const TYPE_MX: u16 = 15;
const TYPE_TXT: u16 = 16;
const TYPE_AAAA: u16 = 28;
const RCODE_SERVFAIL: u8 = 2;
const RCODE_NXDOMAIN: u8 = 3;
const RCODE_NOTIMP: u8 = 4;

#[derive(Debug, Clone)]
enum Rdata {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Mx(u16, String),
    Txt(String),
}

impl Rdata {
    fn rtype(&self) -> u16 {
        match self {
            Rdata::A(_) => TYPE_A,
            Rdata::Aaaa(_) => TYPE_AAAA,
            Rdata::Mx(..) => TYPE_MX,
            Rdata::Txt(_) => TYPE_TXT,
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Rdata::A(ip) => out.extend_from_slice(&ip.octets()),
            Rdata::Aaaa(ip) => out.extend_from_slice(&ip.octets()),
            Rdata::Mx(preference, exchange) => {
                out.extend_from_slice(&preference.to_be_bytes());
                encode_name(exchange, out);
            }
            // RFC 1035 §3.3.14: one or more <character-string>s of at most
            // 255 octets each.
            Rdata::Txt(text) => {
                let bytes = text.as_bytes();
                if bytes.is_empty() {
                    out.push(0);
                }
                for chunk in bytes.chunks(255) {
                    out.push(u8::try_from(chunk.len()).unwrap_or(255));
                    out.extend_from_slice(chunk);
                }
            }
        }
    }
}

#[derive(Debug, Default)]
struct Zone {
    records: HashMap<String, Vec<Rdata>>,
    servfail: HashSet<String>,
}

/// A running test DNS server; stops when dropped.
#[derive(Debug)]
pub struct TestDns {
    addr: SocketAddr,
    zone: Arc<Mutex<Zone>>,
    task: JoinHandle<()>,
}

fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl TestDns {
    /// Binds 127.0.0.1 on a free port and starts answering.
    pub async fn start() -> std::io::Result<TestDns> {
        let socket = UdpSocket::bind("127.0.0.1:0").await?;
        let addr = socket.local_addr()?;
        let zone = Arc::new(Mutex::new(Zone::default()));
        let served = zone.clone();
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let Ok((len, peer)) = socket.recv_from(&mut buf).await else {
                    continue;
                };
                let answer = {
                    let zone = served.lock().unwrap_or_else(PoisonError::into_inner);
                    respond(&zone, &buf[..len])
                };
                if let Some(answer) = answer {
                    let _ = socket.send_to(&answer, peer).await;
                }
            }
        });
        Ok(TestDns { addr, zone, task })
    }

    /// The server's address, for [`crate::DnsConfig::nameservers`].
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn add(&self, name: &str, rdata: Rdata) {
        let mut zone = self.zone.lock().unwrap_or_else(PoisonError::into_inner);
        zone.records.entry(key(name)).or_default().push(rdata);
    }

    /// Adds a TXT record (split into 255-octet strings as needed).
    pub fn txt(&self, name: &str, text: &str) {
        self.add(name, Rdata::Txt(text.to_string()));
    }

    /// Adds an A record.
    pub fn a(&self, name: &str, ip: Ipv4Addr) {
        self.add(name, Rdata::A(ip));
    }

    /// Adds an AAAA record.
    pub fn aaaa(&self, name: &str, ip: Ipv6Addr) {
        self.add(name, Rdata::Aaaa(ip));
    }

    /// Adds an MX record.
    pub fn mx(&self, name: &str, preference: u16, exchange: &str) {
        self.add(name, Rdata::Mx(preference, exchange.to_string()));
    }

    /// Every query for `name` answers SERVFAIL (a temporary DNS error).
    pub fn servfail(&self, name: &str) {
        let mut zone = self.zone.lock().unwrap_or_else(PoisonError::into_inner);
        zone.servfail.insert(key(name));
    }
}

impl Drop for TestDns {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn encode_name(name: &str, out: &mut Vec<u8>) {
    for label in name
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        let label = &label.as_bytes()[..label.len().min(63)];
        out.push(u8::try_from(label.len()).unwrap_or(63));
        out.extend_from_slice(label);
    }
    out.push(0);
}

/// Builds the answer to one query; `None` for garbage (dropped).
fn respond(zone: &Zone, query: &[u8]) -> Option<Vec<u8>> {
    if query.len() < 12 || query[2] & 0x80 != 0 {
        return None;
    }
    let qdcount = u16::from_be_bytes([query[4], query[5]]);
    // The question: labels, then QTYPE and QCLASS.
    let mut pos = 12;
    let mut labels = Vec::new();
    loop {
        let len = usize::from(*query.get(pos)?);
        pos += 1;
        if len == 0 {
            break;
        }
        if len > 63 {
            return None;
        }
        labels.push(String::from_utf8_lossy(query.get(pos..pos + len)?).to_ascii_lowercase());
        pos += len;
    }
    let qtype = u16::from_be_bytes([*query.get(pos)?, *query.get(pos + 1)?]);
    let question_end = pos + 4;
    query.get(..question_end)?;
    let name = labels.join(".");

    let mut rcode = 0u8;
    let mut answers: Vec<&Rdata> = Vec::new();
    if qdcount != 1 {
        rcode = RCODE_NOTIMP;
    } else if zone.servfail.contains(&name) {
        rcode = RCODE_SERVFAIL;
    } else {
        match zone.records.get(&name) {
            // NODATA when the name has records of other types.
            Some(records) => answers.extend(records.iter().filter(|r| r.rtype() == qtype)),
            None => rcode = RCODE_NXDOMAIN,
        }
    }

    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(&query[..2]); // ID
    // QR, opcode copied, AA; RD copied; RA clear.
    out.push(0x80 | (query[2] & 0x78) | 0x04 | (query[2] & 0x01));
    out.push(rcode);
    out.extend_from_slice(&1u16.to_be_bytes());
    let count = u16::try_from(answers.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&count.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]); // NSCOUNT, ARCOUNT
    out.extend_from_slice(&query[12..question_end]);
    for rdata in answers.iter().take(usize::from(count)) {
        out.extend_from_slice(&[0xC0, 0x0C]); // pointer to the question name
        out.extend_from_slice(&rdata.rtype().to_be_bytes());
        out.extend_from_slice(&1u16.to_be_bytes()); // IN
        out.extend_from_slice(&60u32.to_be_bytes()); // TTL
        let mut data = Vec::new();
        rdata.encode(&mut data);
        out.extend_from_slice(&u16::try_from(data.len()).unwrap_or(0).to_be_bytes());
        out.extend_from_slice(&data);
    }
    Some(out)
}
