//! The queue against an in-process fake MX (reached through a route
//! override) and the test DNS server, with an injected clock.

#![allow(clippy::unwrap_used)]

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use pillarbox_delivery::test_dns::TestDns;
use pillarbox_queue::mx::{MxError, MxResolver};
use pillarbox_queue::{DnsServers, Queue, QueueConfig, Route};
use pillarbox_session::ManualClock;
use pillarbox_store::sqlite::SqliteStore;
use pillarbox_store::*;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// How the fake MX answers RCPT TO.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    Accept,
    /// `451` on the first connection, then `250`.
    TempThenAccept,
    Reject,
}

#[derive(Debug, Default)]
struct Received {
    /// (reverse-path, recipients, data) per message.
    messages: Vec<(String, Vec<String>, String)>,
    connections: usize,
}

/// A tiny SMTP server on 127.0.0.1:0.
async fn fake_mx(behaviour: Behaviour) -> (SocketAddr, Arc<Mutex<Received>>) {
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
                let mut line = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let upper = line.to_ascii_uppercase();
                    let reply: &[u8] = if upper.starts_with("EHLO") {
                        b"250-fake.example.net\r\n250 8BITMIME\r\n"
                    } else if upper.starts_with("MAIL FROM:") {
                        from = line[10..].trim().trim_matches(['<', '>']).to_string();
                        b"250 2.1.0 ok\r\n"
                    } else if upper.starts_with("RCPT TO:") {
                        match behaviour {
                            Behaviour::Reject => b"550 5.1.1 no such user\r\n",
                            Behaviour::TempThenAccept if connection == 1 => {
                                b"451 4.3.0 try again later\r\n"
                            }
                            _ => {
                                let to = line[8..].trim().trim_matches(['<', '>']).to_string();
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
                        state.lock().unwrap().messages.push((
                            from.clone(),
                            std::mem::take(&mut rcpts),
                            data,
                        ));
                        b"250 2.0.0 queued as 1\r\n"
                    } else if upper.starts_with("QUIT") {
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

struct Setup {
    _dir: tempfile::TempDir,
    store: Store,
    clock: Arc<ManualClock>,
    queue: Arc<Queue>,
    alice: AccountId,
}

const T0: u64 = 1_800_000_000;

async fn setup(route_port: u16, dns: &TestDns) -> Setup {
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
    let config = QueueConfig {
        routes: vec![Route {
            domain: "example.net".into(),
            host: "127.0.0.1".into(),
            port: route_port,
        }],
        timeout_secs: 5,
        ..QueueConfig::default()
    };
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

fn message() -> Vec<u8> {
    b"From: alice@example.org\r\nTo: bob@example.net\r\nSubject: Hello Bob\r\n\r\nHi.\r\n.leading dot\r\n"
        .to_vec()
}

async fn submit(s: &Setup, from: &str, to: &[&str]) -> QueueId {
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

async fn inbox_messages(s: &Setup) -> Vec<String> {
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
async fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
}

#[tokio::test]
async fn delivers_to_the_routed_server_and_forgets_the_item() {
    let dns = TestDns::start().await.unwrap();
    let (addr, received) = fake_mx(Behaviour::Accept).await;
    let s = setup(addr.port(), &dns).await;
    submit(
        &s,
        "alice@example.org",
        &["bob@example.net", "carol@example.net"],
    )
    .await;
    assert_eq!(s.queue.run_due().await.unwrap(), 1);
    let messages = std::mem::take(&mut received.lock().unwrap().messages);
    assert_eq!(messages.len(), 1, "one transaction for one domain");
    let (from, rcpts, data) = &messages[0];
    assert_eq!(from, "alice@example.org");
    assert_eq!(rcpts, &["bob@example.net", "carol@example.net"]);
    assert!(data.contains("Subject: Hello Bob"));
    assert!(
        data.contains("\r\n..leading dot\r\n"),
        "dot-stuffed: {data}"
    );
    assert!(s.store.queue_list().await.unwrap().is_empty());
    assert!(inbox_messages(&s).await.is_empty(), "no notice on success");
}

#[tokio::test]
async fn temporary_failure_is_retried_after_the_backoff() {
    let dns = TestDns::start().await.unwrap();
    let (addr, received) = fake_mx(Behaviour::TempThenAccept).await;
    let s = setup(addr.port(), &dns).await;
    let id = submit(&s, "alice@example.org", &["bob@example.net"]).await;
    s.queue.run_due().await.unwrap();
    let item = s.store.queue_item(id).await.unwrap().unwrap();
    assert_eq!(item.attempts, 1);
    assert_eq!(
        item.next_attempt,
        T0 as i64 + 300,
        "first retry after 5 minutes"
    );
    assert_eq!(item.recipients[0].status, RecipientStatus::Pending);
    assert_eq!(
        item.recipients[0].last_reply.as_deref(),
        Some("451 4.3.0 try again later")
    );
    // Not due before its time.
    s.clock.advance(Duration::from_secs(299));
    assert_eq!(s.queue.run_due().await.unwrap(), 0);
    s.clock.advance(Duration::from_secs(1));
    assert_eq!(s.queue.run_due().await.unwrap(), 1);
    assert_eq!(received.lock().unwrap().messages.len(), 1);
    assert!(s.store.queue_item(id).await.unwrap().is_none());
}

#[tokio::test]
async fn permanent_failure_bounces_to_the_local_sender() {
    let dns = TestDns::start().await.unwrap();
    let (addr, _received) = fake_mx(Behaviour::Reject).await;
    let s = setup(addr.port(), &dns).await;
    let id = submit(&s, "alice@example.org", &["bob@example.net"]).await;
    s.queue.run_due().await.unwrap();
    assert!(s.store.queue_item(id).await.unwrap().is_none());
    let inbox = inbox_messages(&s).await;
    assert_eq!(inbox.len(), 1, "one bounce");
    let dsn = &inbox[0];
    for needle in [
        "From: Mail Delivery System <MAILER-DAEMON@mail.example.org>",
        "Auto-Submitted: auto-replied",
        "Content-Type: multipart/report; report-type=delivery-status;",
        "Content-Type: message/delivery-status",
        "Reporting-MTA: dns; mail.example.org",
        "Final-Recipient: rfc822; bob@example.net",
        "Action: failed",
        "Status: 5.1.1",
        "Diagnostic-Code: smtp; 550 5.1.1 no such user",
        "Content-Type: text/rfc822-headers",
        "Subject: Hello Bob",
    ] {
        assert!(dsn.contains(needle), "{needle:?} missing in:\n{dsn}");
    }
    assert!(!dsn.contains("Hi."), "headers only without RET=FULL");
}

#[tokio::test]
async fn a_bounce_is_never_bounced() {
    let dns = TestDns::start().await.unwrap();
    let (addr, _received) = fake_mx(Behaviour::Reject).await;
    let s = setup(addr.port(), &dns).await;
    let id = submit(&s, "", &["bob@example.net"]).await;
    s.queue.run_due().await.unwrap();
    assert!(s.store.queue_item(id).await.unwrap().is_none());
    assert!(s.store.queue_list().await.unwrap().is_empty());
    assert!(inbox_messages(&s).await.is_empty());
}

/// An unreachable server: backoff 5m, 10m, 20m ... capped at 4h, one delay
/// notice after 4h, and a bounce when the 5 days are over.
#[tokio::test]
async fn unreachable_server_backs_off_notifies_delay_and_expires() {
    let dns = TestDns::start().await.unwrap();
    let s = setup(closed_port().await, &dns).await;
    let id = submit(&s, "alice@example.org", &["bob@example.net"]).await;
    let mut waits = Vec::new();
    let mut passes = 0;
    loop {
        passes += 1;
        assert!(passes < 100, "must expire");
        let now = pillarbox_session::Clock::now(&*s.clock)
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        assert_eq!(s.queue.run_due().await.unwrap(), 1, "due at its time");
        let Some(item) = s.store.queue_item(id).await.unwrap() else {
            break;
        };
        let wait = item.next_attempt - now;
        waits.push(wait);
        s.clock.advance(Duration::from_secs(wait as u64));
    }
    assert_eq!(
        &waits[..8],
        &[300, 600, 1200, 2400, 4800, 9600, 14400, 14400]
    );
    let total: i64 = waits.iter().sum();
    assert_eq!(total, 5 * 86400, "the last wait ends exactly at expiry");
    let inbox = inbox_messages(&s).await;
    assert_eq!(inbox.len(), 2, "one delay notice, one bounce: {inbox:#?}");
    assert!(inbox[0].contains("Action: delayed"));
    assert!(inbox[0].contains("Will-Retry-Until:"));
    assert!(inbox[1].contains("Action: failed"));
    assert!(inbox[1].contains("Status: 4.4.7"), "{}", inbox[1]);
    assert!(inbox[1].contains("expired after 5 days"));
}

#[tokio::test]
async fn mx_resolution_follows_preference_implicit_mx_and_null_mx() {
    let dns = TestDns::start().await.unwrap();
    dns.mx("example.com", 20, "mx2.example.com");
    dns.mx("example.com", 10, "mx1.example.com");
    dns.a("mx1.example.com", Ipv4Addr::new(127, 0, 0, 2));
    dns.a("mx2.example.com", Ipv4Addr::new(127, 0, 0, 3));
    dns.a("implicit.example", Ipv4Addr::new(127, 0, 0, 4));
    dns.mx("nullmx.example", 0, ".");
    dns.servfail("broken.example");
    let resolver = MxResolver::new(&DnsServers {
        nameservers: vec![dns.addr().to_string()],
        timeout_secs: 2,
    })
    .unwrap();
    let hosts = resolver.hosts("example.com").await.unwrap();
    let names: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["mx1.example.com", "mx2.example.com"]);
    assert_eq!(hosts[0].addrs, [std::net::IpAddr::from([127, 0, 0, 2])]);
    let implicit = resolver.hosts("implicit.example").await.unwrap();
    assert_eq!(implicit.len(), 1);
    assert_eq!(implicit[0].name, "implicit.example");
    assert_eq!(implicit[0].addrs, [std::net::IpAddr::from([127, 0, 0, 4])]);
    assert_eq!(resolver.hosts("nullmx.example").await, Err(MxError::NullMx));
    assert_eq!(
        resolver.hosts("nowhere.example").await,
        Err(MxError::NoSuchDomain)
    );
    assert!(matches!(
        resolver.hosts("broken.example").await,
        Err(MxError::Temporary(_))
    ));
}

#[tokio::test]
async fn null_mx_domain_fails_at_once_with_a_bounce() {
    let dns = TestDns::start().await.unwrap();
    dns.mx("nullmx.example", 0, ".");
    let s = setup(closed_port().await, &dns).await;
    let id = submit(&s, "alice@example.org", &["bob@nullmx.example"]).await;
    s.queue.run_due().await.unwrap();
    assert!(s.store.queue_item(id).await.unwrap().is_none());
    let inbox = inbox_messages(&s).await;
    assert_eq!(inbox.len(), 1);
    assert!(inbox[0].contains("Status: 5.1.10"), "{}", inbox[0]);
}
