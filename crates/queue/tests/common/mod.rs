//! The fake MX (reached through a route override), the test setup with
//! an injected clock, and helpers shared by the queue's test files.

#![allow(clippy::unwrap_used, dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use pillarbox_delivery::test_dns::TestDns;
use pillarbox_queue::{DnsServers, Queue, QueueConfig, Route};
use pillarbox_session::ManualClock;
use pillarbox_store::sqlite::SqliteStore;
use pillarbox_store::*;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// How the fake MX answers RCPT TO.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    Accept,
    /// `451` on the first connection, then `250`.
    TempThenAccept,
    Reject,
    /// `250`, but the final reply to DATA takes 300 ms.
    SlowAccept,
    /// `250`, then the connection is closed after each reply to DATA's
    /// content (an idle timeout on the server's side).
    CloseAfterData,
    /// `421` to the second MAIL on a connection, then close.
    Busy421OnSecondMail,
}

#[derive(Debug, Default)]
pub struct Received {
    /// (reverse-path, recipients, data) per message.
    pub messages: Vec<(String, Vec<String>, String)>,
    pub connections: usize,
    /// Every MAIL, RCPT and RSET command line, as received.
    pub commands: Vec<String>,
    /// QUIT commands received.
    pub quits: usize,
}

/// A tiny SMTP server on 127.0.0.1:0; `dsn`: it offers DSN (RFC 3461).
pub async fn fake_mx(behaviour: Behaviour, dsn: bool) -> (SocketAddr, Arc<Mutex<Received>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let received = Arc::new(Mutex::new(Received::default()));
    let state = received.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let state = state.clone();
            tokio::spawn(async move {
                let connection = {
                    let mut s = state.lock().unwrap();
                    s.connections += 1;
                    s.connections
                };
                let (r, mut w) = stream.into_split();
                let mut lines = BufReader::new(r);
                w.write_all(b"220 fake.example.net ESMTP\r\n")
                    .await
                    .unwrap();
                let (mut from, mut rcpts) = (String::new(), Vec::new());
                let mut mails = 0;
                let mut line = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let upper = line.to_ascii_uppercase();
                    if upper.starts_with("MAIL")
                        || upper.starts_with("RCPT")
                        || upper.starts_with("RSET")
                    {
                        state
                            .lock()
                            .unwrap()
                            .commands
                            .push(line.trim_end().to_string());
                    }
                    let reply: &[u8] = if upper.starts_with("EHLO") && dsn {
                        b"250-fake.example.net\r\n250-DSN\r\n250 8BITMIME\r\n"
                    } else if upper.starts_with("EHLO") {
                        b"250-fake.example.net\r\n250 8BITMIME\r\n"
                    } else if upper.starts_with("MAIL FROM:") {
                        mails += 1;
                        if behaviour == Behaviour::Busy421OnSecondMail && mails == 2 {
                            let _ = w.write_all(b"421 4.3.2 closing\r\n").await;
                            return;
                        }
                        let path = line[10..].split_whitespace().next().unwrap_or("");
                        from = path.trim_matches(['<', '>']).to_string();
                        b"250 2.1.0 ok\r\n"
                    } else if upper.starts_with("RCPT TO:") {
                        match behaviour {
                            Behaviour::Reject => b"550 5.1.1 no such user\r\n",
                            Behaviour::TempThenAccept if connection == 1 => {
                                b"451 4.3.0 try again later\r\n"
                            }
                            _ => {
                                let path = line[8..].split_whitespace().next().unwrap_or("");
                                let to = path.trim_matches(['<', '>']).to_string();
                                rcpts.push(to);
                                b"250 2.1.5 ok\r\n"
                            }
                        }
                    } else if upper.starts_with("DATA") {
                        w.write_all(b"354 go ahead\r\n").await.unwrap();
                        let mut data = String::new();
                        loop {
                            line.clear();
                            lines.read_line(&mut line).await.unwrap();
                            if line == ".\r\n" {
                                break;
                            }
                            data.push_str(&line);
                        }
                        if behaviour == Behaviour::SlowAccept {
                            tokio::time::sleep(Duration::from_millis(300)).await;
                        }
                        state.lock().unwrap().messages.push((
                            from.clone(),
                            std::mem::take(&mut rcpts),
                            data,
                        ));
                        if behaviour == Behaviour::CloseAfterData {
                            let _ = w.write_all(b"250 2.0.0 queued as 1\r\n").await;
                            return;
                        }
                        b"250 2.0.0 queued as 1\r\n"
                    } else if upper.starts_with("RSET") {
                        rcpts.clear();
                        b"250 2.0.0 ok\r\n"
                    } else if upper.starts_with("QUIT") {
                        state.lock().unwrap().quits += 1;
                        let _ = w.write_all(b"221 bye\r\n").await;
                        return;
                    } else {
                        b"250 ok\r\n"
                    };
                    w.write_all(reply).await.unwrap();
                }
            });
        }
    });
    (addr, received)
}

pub struct Setup {
    pub _dir: tempfile::TempDir,
    pub store: Store,
    pub clock: Arc<ManualClock>,
    pub queue: Arc<Queue>,
    pub alice: AccountId,
}

pub const T0: u64 = 1_800_000_000;

pub async fn setup(route_port: u16, dns: &TestDns) -> Setup {
    setup_with(route_port, dns, |_| {}).await
}

pub async fn setup_with(route_port: u16, dns: &TestDns, f: impl FnOnce(&mut QueueConfig)) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let store: Store = SqliteStore::open(dir.path()).unwrap();
    store.create_domain("example.org").await.unwrap();
    let alice = store
        .create_account(
            "alice@example.org",
            StoredCredentials {
                password_hash: "x".into(),
                scram_sha256: None,
            },
        )
        .await
        .unwrap()
        .id;
    let clock = Arc::new(ManualClock::new(
        SystemTime::UNIX_EPOCH + Duration::from_secs(T0),
    ));
    let mut config = QueueConfig {
        routes: vec![Route {
            domain: "example.net".into(),
            host: "127.0.0.1".into(),
            port: route_port,
        }],
        timeout_secs: 5,
        ..QueueConfig::default()
    };
    f(&mut config);
    let queue = Queue::new(
        store.clone(),
        config,
        "mail.example.org",
        clock.clone(),
        &DnsServers {
            nameservers: vec![dns.addr().to_string()],
            timeout_secs: 2,
        },
    )
    .unwrap();
    Setup {
        _dir: dir,
        store,
        clock,
        queue,
        alice,
    }
}

pub fn message() -> Vec<u8> {
    b"From: alice@example.org\r\nTo: bob@example.net\r\nSubject: Hello Bob\r\n\r\nHi.\r\n.leading dot\r\n"
        .to_vec()
}

pub async fn submit(s: &Setup, from: &str, to: &[&str]) -> QueueId {
    s.queue
        .submit(
            from,
            to.iter()
                .map(|a| NewQueueRecipient {
                    address: (*a).to_string(),
                    ..NewQueueRecipient::default()
                })
                .collect(),
            DsnEnvelope::default(),
            message(),
        )
        .await
        .unwrap()
}

pub async fn inbox_messages(s: &Setup) -> Vec<String> {
    let inbox = s
        .store
        .mailbox_by_name(s.alice, "INBOX")
        .await
        .unwrap()
        .unwrap();
    let mut out = Vec::new();
    for e in s.store.entries(s.alice, inbox.id).await.unwrap() {
        let bytes = s.store.message_bytes(s.alice, e.message).await.unwrap();
        out.push(String::from_utf8_lossy(&bytes).into_owned());
    }
    out
}

/// A port with nothing listening.
pub async fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
}
