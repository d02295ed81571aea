//! The queue against an in-process fake MX (reached through a route
//! override) and the test DNS server, with an injected clock.

#![allow(clippy::unwrap_used)]

use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use pillarbox_delivery::test_dns::TestDns;
use pillarbox_queue::DnsServers;
use pillarbox_queue::mx::{MxError, MxResolver};
use pillarbox_store::*;

mod common;
use common::*;

#[tokio::test]
async fn delivers_to_the_routed_server_and_forgets_the_item() {
    let dns = TestDns::start().await.unwrap();
    let (addr, received) = fake_mx(Behaviour::Accept, false).await;
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
    let (addr, received) = fake_mx(Behaviour::TempThenAccept, false).await;
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
    let (addr, _received) = fake_mx(Behaviour::Reject, false).await;
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
        "Remote-MTA: dns; 127.0.0.1",
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
    let (addr, _received) = fake_mx(Behaviour::Reject, false).await;
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
    assert!(!inbox[1].contains("Remote-MTA:"), "no server answered");
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

/// A recipient with its RFC 3461 `NOTIFY` and `ORCPT` as stored.
fn rcpt(address: &str, notify: Option<&str>, orcpt: Option<&str>) -> NewQueueRecipient {
    NewQueueRecipient {
        address: address.to_string(),
        notify: notify.map(str::to_string),
        orcpt: orcpt.map(str::to_string),
    }
}

fn envelope(ret: Option<&str>, envid: Option<&str>) -> DsnEnvelope {
    DsnEnvelope {
        ret: ret.map(str::to_string),
        envid: envid.map(str::to_string),
    }
}

async fn submit_dsn(s: &Setup, to: Vec<NewQueueRecipient>, dsn: DsnEnvelope) -> QueueId {
    s.queue
        .submit("alice@example.org", to, dsn, message())
        .await
        .unwrap()
}

/// RFC 3461 §5.2.1: a server offering DSN gets RET/ENVID on MAIL and
/// NOTIFY/ORCPT on RCPT, in xtext; it reports from then on, so no
/// `relayed` notice is sent.
#[tokio::test]
async fn dsn_parameters_are_passed_to_a_server_offering_dsn() {
    let dns = TestDns::start().await.unwrap();
    let (addr, received) = fake_mx(Behaviour::Accept, true).await;
    let s = setup(addr.port(), &dns).await;
    submit_dsn(
        &s,
        vec![
            rcpt(
                "bob@example.net",
                Some("SUCCESS,FAILURE"),
                Some("rfc822;Bob+x@example.net"),
            ),
            rcpt("carol@example.net", None, None),
        ],
        envelope(Some("HDRS"), Some("env 1")),
    )
    .await;
    s.queue.run_due().await.unwrap();
    let commands = received.lock().unwrap().commands.clone();
    assert_eq!(
        commands,
        [
            "MAIL FROM:<alice@example.org> RET=HDRS ENVID=env+201",
            "RCPT TO:<bob@example.net> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;Bob+2Bx@example.net",
            "RCPT TO:<carol@example.net>",
        ]
    );
    assert!(inbox_messages(&s).await.is_empty(), "the server reports");
}

/// RFC 3461 §5.2.2: a server without DSN gets no parameters, and the
/// recipients that asked for SUCCESS get a `relayed` notice.
#[tokio::test]
async fn success_through_a_server_without_dsn_is_reported_relayed() {
    let dns = TestDns::start().await.unwrap();
    let (addr, received) = fake_mx(Behaviour::Accept, false).await;
    let s = setup(addr.port(), &dns).await;
    submit_dsn(
        &s,
        vec![
            rcpt(
                "bob@example.net",
                Some("SUCCESS"),
                Some("rfc822;bob@example.net"),
            ),
            rcpt("carol@example.net", Some("FAILURE"), None),
        ],
        envelope(Some("FULL"), Some("env-2")),
    )
    .await;
    s.queue.run_due().await.unwrap();
    let commands = received.lock().unwrap().commands.clone();
    assert_eq!(
        commands,
        [
            "MAIL FROM:<alice@example.org>",
            "RCPT TO:<bob@example.net>",
            "RCPT TO:<carol@example.net>",
        ]
    );
    let inbox = inbox_messages(&s).await;
    assert_eq!(inbox.len(), 1, "one relayed notice");
    let dsn = &inbox[0];
    for needle in [
        "Action: relayed",
        "Status: 2.0.0",
        "Original-Envelope-Id: env-2",
        "Original-Recipient: rfc822;bob@example.net",
        "Final-Recipient: rfc822; bob@example.net",
        "Remote-MTA: dns; 127.0.0.1",
        "Diagnostic-Code: smtp; 250 2.0.0 queued as 1",
        "Content-Type: text/rfc822-headers",
    ] {
        assert!(dsn.contains(needle), "{needle:?} missing in:\n{dsn}");
    }
    assert!(!dsn.contains("carol@"), "carol did not ask: {dsn}");
    assert!(
        !dsn.contains("Hi."),
        "success notices never return the body"
    );
}

/// RFC 3461 §4.1: NOTIFY=NEVER and a NOTIFY without FAILURE get no bounce;
/// RET=FULL returns the whole message to the one that asked.
#[tokio::test]
async fn bounces_follow_notify_and_ret() {
    let dns = TestDns::start().await.unwrap();
    let (addr, _received) = fake_mx(Behaviour::Reject, false).await;
    let s = setup(addr.port(), &dns).await;
    let id = submit_dsn(
        &s,
        vec![
            rcpt("never@example.net", Some("NEVER"), None),
            rcpt("delay@example.net", Some("SUCCESS,DELAY"), None),
        ],
        envelope(Some("FULL"), None),
    )
    .await;
    s.queue.run_due().await.unwrap();
    assert!(s.store.queue_item(id).await.unwrap().is_none());
    assert!(inbox_messages(&s).await.is_empty(), "nobody asked");

    submit_dsn(
        &s,
        vec![rcpt("full@example.net", Some("FAILURE"), None)],
        envelope(Some("FULL"), Some("env-3")),
    )
    .await;
    s.queue.run_due().await.unwrap();
    let inbox = inbox_messages(&s).await;
    assert_eq!(inbox.len(), 1);
    let dsn = &inbox[0];
    for needle in [
        "Action: failed",
        "Original-Envelope-Id: env-3",
        "Content-Type: message/rfc822",
        "Hi.\r\n",
    ] {
        assert!(dsn.contains(needle), "{needle:?} missing in:\n{dsn}");
    }
}

/// The delay notice lists only recipients whose NOTIFY allows it (absent
/// or with DELAY); the final bounce only those allowing FAILURE.
#[tokio::test]
async fn delay_notice_and_expiry_follow_notify() {
    let dns = TestDns::start().await.unwrap();
    let s = setup(closed_port().await, &dns).await;
    let id = submit_dsn(
        &s,
        vec![
            rcpt("failure@example.net", Some("FAILURE"), None),
            rcpt("delay@example.net", Some("DELAY"), None),
            rcpt("default@example.net", None, None),
        ],
        DsnEnvelope::default(),
    )
    .await;
    let mut passes = 0;
    while let Some(item) = s.store.queue_item(id).await.unwrap() {
        passes += 1;
        assert!(passes < 100, "must expire");
        let next = item.next_attempt;
        let now = pillarbox_session::Clock::now(&*s.clock)
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        s.clock
            .advance(Duration::from_secs(next.saturating_sub(now) as u64));
        s.queue.run_due().await.unwrap();
    }
    let inbox = inbox_messages(&s).await;
    assert_eq!(inbox.len(), 2, "{inbox:#?}");
    let (delay, bounce) = (&inbox[0], &inbox[1]);
    assert!(delay.contains("Action: delayed"));
    assert!(delay.contains("Final-Recipient: rfc822; delay@example.net"));
    assert!(delay.contains("Final-Recipient: rfc822; default@example.net"));
    assert!(!delay.contains("failure@example.net"), "{delay}");
    assert!(bounce.contains("Action: failed"));
    assert!(bounce.contains("Final-Recipient: rfc822; failure@example.net"));
    assert!(bounce.contains("Final-Recipient: rfc822; default@example.net"));
    assert!(!bounce.contains("delay@example.net"), "{bounce}");
}

/// RFC 3461 §5.2.3: `delivered` notices for local delivery.
#[tokio::test]
async fn local_delivery_notice() {
    let dns = TestDns::start().await.unwrap();
    let s = setup(closed_port().await, &dns).await;
    s.queue
        .notify_delivered(
            "alice@example.org",
            &envelope(Some("FULL"), Some("env-4")),
            vec![pillarbox_queue::Delivered {
                address: "bob@example.org".into(),
                orcpt: Some("rfc822;bob@example.org".into()),
            }],
            b"Subject: Hello Bob\r\n\r\n",
        )
        .await;
    // Never to the null reverse-path.
    s.queue
        .notify_delivered(
            "",
            &DsnEnvelope::default(),
            vec![pillarbox_queue::Delivered {
                address: "bob@example.org".into(),
                orcpt: None,
            }],
            b"Subject: x\r\n\r\n",
        )
        .await;
    let inbox = inbox_messages(&s).await;
    assert_eq!(inbox.len(), 1);
    let dsn = &inbox[0];
    for needle in [
        "Subject: Successful Mail Delivery Report",
        "Action: delivered",
        "Status: 2.0.0",
        "Original-Envelope-Id: env-4",
        "Original-Recipient: rfc822;bob@example.org",
        "Final-Recipient: rfc822; bob@example.org",
        "Subject: Hello Bob",
    ] {
        assert!(dsn.contains(needle), "{needle:?} missing in:\n{dsn}");
    }
    assert!(s.store.queue_list().await.unwrap().is_empty());
}

/// Delivery results are counted in the store, per recipient and attempt.
#[tokio::test]
async fn results_are_counted() {
    let dns = TestDns::start().await.unwrap();
    let (addr, _received) = fake_mx(Behaviour::TempThenAccept, false).await;
    let s = setup(addr.port(), &dns).await;
    s.store.queue_counters_reset(T0 as i64).await.unwrap();
    submit(
        &s,
        "alice@example.org",
        &["bob@example.net", "carol@example.net"],
    )
    .await;
    s.queue.run_due().await.unwrap();
    let stats = s.store.queue_stats().await.unwrap();
    assert_eq!((stats.items, stats.recipients_pending), (1, 2));
    assert_eq!(stats.oldest, Some(T0 as i64));
    assert_eq!(
        stats.counters,
        QueueCounters {
            delivered: 0,
            deferred: 2,
            bounced: 0
        }
    );
    s.clock.advance(Duration::from_secs(300));
    s.queue.run_due().await.unwrap();
    let stats = s.store.queue_stats().await.unwrap();
    assert_eq!((stats.items, stats.recipients_pending), (0, 0));
    assert_eq!(
        stats.counters,
        QueueCounters {
            delivered: 2,
            deferred: 2,
            bounced: 0
        }
    );
}

/// A clean stop lets the attempt under way finish and record its result:
/// nothing is sent twice after a restart.
#[tokio::test]
async fn shutdown_waits_for_the_attempt_under_way() {
    let dns = TestDns::start().await.unwrap();
    let (addr, received) = fake_mx(Behaviour::SlowAccept, false).await;
    let s = setup(addr.port(), &dns).await;
    let id = submit(&s, "alice@example.org", &["bob@example.net"]).await;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(s.queue.clone().run(shutdown.clone()));
    for _ in 0..200 {
        if received.lock().unwrap().connections > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(received.lock().unwrap().connections, 1, "delivery started");
    shutdown.cancel();
    task.await.unwrap();
    assert_eq!(received.lock().unwrap().messages.len(), 1);
    assert!(
        s.store.queue_item(id).await.unwrap().is_none(),
        "the delivery was recorded before the task ended"
    );
}

/// A signer that prepends a marker naming the domain, and fails for
/// `fail`; records the domains it was asked for.
struct FakeSigner {
    fail: bool,
    asked: Mutex<Vec<String>>,
}

impl pillarbox_queue::NoticeSigner for FakeSigner {
    fn sign<'a>(
        &'a self,
        domain: &'a str,
        message: &'a [u8],
    ) -> futures::future::BoxFuture<'a, Result<Vec<u8>, String>> {
        Box::pin(async move {
            self.asked.lock().unwrap().push(domain.to_string());
            if self.fail {
                return Err("keys unreadable".into());
            }
            let mut out = format!("X-Fake-Signature: d={domain}\r\n").into_bytes();
            out.extend_from_slice(message);
            Ok(out)
        })
    }
}

/// Bounces, delay and success notices are signed for their `From:` domain
/// (our host name), whether delivered locally or queued for a remote
/// sender; a failing signer leaves them unsigned but sent.
#[tokio::test]
async fn notices_are_signed_by_the_injected_signer() {
    let dns = TestDns::start().await.unwrap();
    let (addr, _received) = fake_mx(Behaviour::Reject, false).await;
    let s = setup(addr.port(), &dns).await;
    let signer = Arc::new(FakeSigner {
        fail: false,
        asked: Mutex::default(),
    });
    assert!(s.queue.set_notice_signer(signer.clone()));
    submit(&s, "alice@example.org", &["bob@example.net"]).await;
    s.queue.run_due().await.unwrap();
    let bounce = inbox_messages(&s).await.remove(0);
    assert!(
        bounce.starts_with("X-Fake-Signature: d=mail.example.org\r\nFrom: Mail Delivery System"),
        "{bounce}"
    );
    // A success notice, and a bounce for a remote sender (queued with <>).
    s.queue
        .notify_delivered(
            "alice@example.org",
            &DsnEnvelope::default(),
            vec![pillarbox_queue::Delivered {
                address: "bob@example.org".into(),
                orcpt: None,
            }],
            b"Subject: x\r\n\r\n",
        )
        .await;
    assert!(inbox_messages(&s).await[1].starts_with("X-Fake-Signature: "));
    submit(&s, "dave@example.net", &["bob@example.net"]).await;
    s.queue.run_due().await.unwrap();
    let queued = s.store.queue_list().await.unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].reverse_path, "", "notices go out with <>");
    let data = s.store.queue_message(queued[0].id).await.unwrap();
    assert!(data.starts_with(b"X-Fake-Signature: d=mail.example.org\r\n"));
    assert_eq!(signer.asked.lock().unwrap().len(), 3);

    // Signing trouble: the notice still goes out, unsigned.
    let (addr, _received) = fake_mx(Behaviour::Reject, false).await;
    let s = setup(addr.port(), &dns).await;
    let broken = Arc::new(FakeSigner {
        fail: true,
        asked: Mutex::default(),
    });
    s.queue.set_notice_signer(broken.clone());
    assert!(!s.queue.set_notice_signer(broken.clone()), "set once");
    submit(&s, "alice@example.org", &["bob@example.net"]).await;
    s.queue.run_due().await.unwrap();
    let bounce = inbox_messages(&s).await.remove(0);
    assert!(bounce.starts_with("From: Mail Delivery System"), "{bounce}");
    assert_eq!(
        broken.asked.lock().unwrap().as_slice(),
        ["mail.example.org"]
    );
}
