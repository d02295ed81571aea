//! Hostile input never breaks the server (DESIGN §2.3): arbitrary bytes,
//! in arbitrary splits, sent to every listener of an in-process server.
//! For each case: no connection task panics (the listener's panic counter
//! stays 0), the connection ends within a bound once the client stops
//! sending, and afterwards a normal session on the same listener works.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::Ordering;
use std::time::Duration;

use pillarbox_testkit::TestServer;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Cases per listener: enough to hit the parsers' states, small enough for
/// a debug build to finish quickly.
const CASES: u32 = 64;

/// How long the server may take to close after the client's FIN.
const END_BOUND: Duration = Duration::from_secs(10);

const CONFIG: &str = r#"
[imap]
allow_plaintext_auth = true
auth_failure_delay_ms = 0
[pop3]
allow_plaintext_auth = true
auth_failure_delay_ms = 0
[smtp]
submission_allow_plaintext_auth = true
submission_auth_failure_delay_ms = 0
[limits]
connections_per_ip = 1000
"#;

/// Protocol words that take the parsers past their first state, mixed with
/// arbitrary octets.
fn vocabulary(listener: &str) -> Vec<&'static [u8]> {
    let common: &[&'static [u8]] = &[b"\r\n", b"\n", b"\r", b" ", b"\0", b"\xff", b"=", b"*"];
    let proto: &[&'static [u8]] = match listener {
        "smtp" | "submission" | "lmtp" => &[
            b"EHLO client.example\r\n",
            b"LHLO client.example\r\n",
            b"MAIL FROM:<a@example.net>",
            b"RCPT TO:<alice@example.org>",
            b" SIZE=99999999999999999999",
            b" BODY=BINARYMIME",
            b"DATA\r\n",
            b"BDAT 5",
            b"BDAT 18446744073709551615 LAST",
            b"\r\n.\r\n",
            b"AUTH PLAIN",
            b"AUTH LOGIN",
            b"STARTTLS",
            b"RSET\r\n",
        ],
        "pop3" => &[
            b"USER alice@example.org\r\n",
            b"PASS ",
            b"AUTH PLAIN",
            b"AUTH SCRAM-SHA-256 ",
            b"LIST ",
            b"RETR 1",
            b"TOP 1 4294967296",
            b"UIDL",
            b"STLS",
            b"CAPA\r\n",
        ],
        _ => &[
            b"a1 ",
            b"LOGIN ",
            b"AUTHENTICATE PLAIN",
            b"SELECT INBOX",
            b"APPEND INBOX ",
            b"{5}\r\n",
            b"{3+}\r\n",
            b"~{4}\r\n",
            b"{4294967296}\r\n",
            b"(",
            b")",
            b"\"",
            b"\\",
            b"FETCH 1:* (BODY[1.2.HEADER.FIELDS (A B)]<0.5>)",
            b"SEARCH OR NOT ",
            b"IDLE\r\n",
            b"DONE\r\n",
            b"STARTTLS",
            b"ENABLE UTF8=ACCEPT",
        ],
    };
    common.iter().chain(proto).copied().collect()
}

fn garbage(listener: &str) -> impl Strategy<Value = Vec<u8>> {
    let words = vocabulary(listener);
    let piece = prop_oneof![
        prop::collection::vec(any::<u8>(), 1..40),
        prop::sample::select(words).prop_map(|w| w.to_vec()),
    ];
    prop::collection::vec(piece, 0..40).prop_map(|v| v.concat())
}

/// Sends `data` in chunks of the given sizes (cycled), then half-closes
/// and reads until the server closes. Returns what the server sent.
async fn send_garbage(
    addr: std::net::SocketAddr,
    data: &[u8],
    splits: &[usize],
) -> Result<Vec<u8>, String> {
    let mut s = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    s.set_nodelay(true).map_err(|e| e.to_string())?;
    let mut rest = data;
    let mut sizes = splits.iter().cycle();
    while !rest.is_empty() {
        let n = (*sizes.next().unwrap_or(&1)).clamp(1, rest.len());
        // The server may close first (error limits, a refused TLS
        // handshake): later writes then fail, which is fine.
        if s.write_all(&rest[..n]).await.is_err() {
            break;
        }
        rest = &rest[n..];
        tokio::task::yield_now().await;
    }
    let _ = s.shutdown().await;
    let mut got = Vec::new();
    match tokio::time::timeout(END_BOUND, s.read_to_end(&mut got)).await {
        Ok(_) => Ok(got),
        Err(_) => Err(format!(
            "connection still open {END_BOUND:?} after the client's FIN; got {:?}",
            String::from_utf8_lossy(&got)
        )),
    }
}

/// A normal session on a plaintext listener still works.
async fn still_serves(server: &TestServer, listener: &str) {
    let mut c = server.connect(listener).await;
    match listener {
        "smtp" | "lmtp" => {
            let hello = if listener == "lmtp" { "LHLO" } else { "EHLO" };
            c.read_until("220 ").await.unwrap();
            c.send_line(&format!("{hello} client.example"))
                .await
                .unwrap();
            c.read_until("250 ").await.unwrap();
            c.send_line("MAIL FROM:<bob@example.net>").await.unwrap();
            c.read_until("250 ").await.unwrap();
            c.send_line("RCPT TO:<alice@example.org>").await.unwrap();
            c.read_until("250 ").await.unwrap();
            c.send_line("DATA").await.unwrap();
            c.read_until("354 ").await.unwrap();
            c.send_raw(b"Subject: after garbage\r\n\r\nhello\r\n.\r\n")
                .await
                .unwrap();
            let l = c.read_until("250 ").await.unwrap();
            assert!(l.last().unwrap().starts_with("250 "), "{l:?}");
        }
        "submission" => {
            c.read_until("220 ").await.unwrap();
            c.send_line("EHLO client.example").await.unwrap();
            c.read_until("250 ").await.unwrap();
            // \0alice@example.org\0secret
            c.send_line("AUTH PLAIN AGFsaWNlQGV4YW1wbGUub3JnAHNlY3JldA==")
                .await
                .unwrap();
            let l = c.read_until("235 ").await.unwrap();
            assert!(l.last().unwrap().starts_with("235 "), "{l:?}");
        }
        "pop3" => {
            c.read_until("+OK").await.unwrap();
            c.send_line("USER alice@example.org").await.unwrap();
            c.read_until("+OK").await.unwrap();
            c.send_line("PASS secret").await.unwrap();
            let l = c.read_until("").await.unwrap();
            assert!(l[0].starts_with("+OK"), "{l:?}");
            c.send_line("QUIT").await.unwrap();
            c.read_until("+OK").await.unwrap();
        }
        _ => {
            c.read_until("* OK").await.unwrap();
            c.send_line("a1 LOGIN alice@example.org secret")
                .await
                .unwrap();
            let l = c.read_until("a1 ").await.unwrap();
            assert!(l.last().unwrap().starts_with("a1 OK"), "{l:?}");
            c.send_line("a2 SELECT INBOX").await.unwrap();
            let l = c.read_until("a2 ").await.unwrap();
            assert!(l.last().unwrap().starts_with("a2 OK"), "{l:?}");
            c.send_line("a3 LOGOUT").await.unwrap();
            c.read_until("a3 ").await.unwrap();
        }
    }
    c.close().await;
}

/// Runs the cases against `listener` (and, where there is one, its
/// implicit-TLS twin, where the garbage is the TLS handshake itself).
fn garbage_never_breaks(listener: &'static str, tls_twin: Option<&'static str>) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = rt.block_on(async {
        let s = TestServer::start(CONFIG).await;
        s.add_user("alice@example.org", "secret").await;
        s
    });
    let panics = || {
        server
            .server
            .as_ref()
            .unwrap()
            .limiter
            .panics
            .load(Ordering::Relaxed)
    };
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (
        garbage(listener),
        prop::collection::vec(1usize..64, 1..16),
        // A quarter of the cases go to the implicit-TLS twin.
        prop::bool::weighted(0.25),
    );
    let result = runner.run(&strategy, |(data, splits, to_twin)| {
        let name = match (to_twin, tls_twin) {
            (true, Some(twin)) => twin,
            _ => listener,
        };
        let addr = server.addr(name);
        let got = rt
            .block_on(send_garbage(addr, &data, &splits))
            .map_err(TestCaseError::fail)?;
        // A plaintext listener greets first, whatever follows. (A TLS one
        // may close silently: an empty or cut-off ClientHello gets no alert.)
        if name == listener {
            prop_assert!(!got.is_empty(), "no greeting from {}", name);
        }
        prop_assert_eq!(panics(), 0, "a connection task panicked");
        Ok(())
    });
    if let Err(e) = result {
        panic!("{listener}: {e}");
    }
    rt.block_on(still_serves(&server, listener));
    assert_eq!(panics(), 0);
    let mut server = server;
    rt.block_on(server.stop());
}

#[test]
fn smtp_survives_garbage() {
    garbage_never_breaks("smtp", None);
}

#[test]
fn lmtp_survives_garbage() {
    garbage_never_breaks("lmtp", None);
}

#[test]
fn submission_survives_garbage() {
    garbage_never_breaks("submission", Some("submissions"));
}

#[test]
fn pop3_survives_garbage() {
    garbage_never_breaks("pop3", Some("pop3s"));
}

#[test]
fn imap_survives_garbage() {
    garbage_never_breaks("imap", Some("imaps"));
}
