//! Forwarding: aliases whose targets are in other domains are queued
//! (durably before the `250`) on every listener; loops are refused with
//! `554 5.4.6`; without a queue a forward-only alias is refused at RCPT.
//! Transcripts (`testkit/transcripts/{smtp,lmtp}/alias-forward*.txt`)
//! show the wire side; these tests look at the queue items.

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use pillarbox_delivery::forward::MAX_RECEIVED;
use pillarbox_delivery::test_dns::TestDns;
use pillarbox_delivery::{Delivery, DeliveryConfig};
use pillarbox_queue::{DnsServers, Queue, QueueConfig};
use pillarbox_smtp_server::{Mode, SmtpConfig, SmtpContext, SmtpSession};
use pillarbox_store::sqlite::SqliteStore;
use pillarbox_store::{Store, StoredCredentials};
use support::send;

struct Harness {
    _dir: tempfile::TempDir,
    _dns: Option<TestDns>,
    store: Store,
    ctx: Arc<SmtpContext>,
}

async fn harness(with_queue: bool) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let store: Store = SqliteStore::open(dir.path()).unwrap();
    store.create_domain("example.org").await.unwrap();
    let c = pillarbox_sasl::hash_password("secret");
    store
        .create_account(
            "alice@example.org",
            StoredCredentials {
                password_hash: c.password_hash,
                scram_sha256: Some(c.scram_sha256),
            },
        )
        .await
        .unwrap();
    store
        .add_alias("info@example.org", "alice@example.org")
        .await
        .unwrap();
    store
        .add_alias("info@example.org", "bob@remote.example")
        .await
        .unwrap();
    store
        .add_alias("fwd@example.org", "carol@elsewhere.example")
        .await
        .unwrap();
    let clock = support::test_clock();
    let delivery = Arc::new(Delivery::new(
        store.clone(),
        DeliveryConfig {
            hostname: "mail.example.org".into(),
            ..DeliveryConfig::default()
        },
        clock.clone(),
    ));
    let config = SmtpConfig {
        hostname: "mail.example.org".into(),
        submission_auth_failure_delay_ms: 0,
        ..SmtpConfig::default()
    };
    if !with_queue {
        let ctx = SmtpContext::new(store.clone(), delivery, config, clock);
        return Harness {
            _dir: dir,
            _dns: None,
            store,
            ctx,
        };
    }
    let dns = TestDns::start().await.unwrap();
    let queue = Queue::new(
        store.clone(),
        QueueConfig::default(),
        "mail.example.org",
        clock.clone(),
        &DnsServers {
            nameservers: vec![dns.addr().to_string()],
            timeout_secs: 2,
        },
    )
    .unwrap();
    let ctx = SmtpContext::with_queue(store.clone(), delivery, config, clock, queue);
    Harness {
        _dir: dir,
        _dns: Some(dns),
        store,
        ctx,
    }
}

async fn session(h: &Harness, mode: Mode) -> SmtpSession {
    support::tls_session(&h.ctx, mode, "192.0.2.25:25").await
}

async fn inbox_count(h: &Harness) -> u32 {
    let alice = h.store.account("alice@example.org").await.unwrap().unwrap();
    h.store
        .mailbox_by_name(alice.id, "INBOX")
        .await
        .unwrap()
        .unwrap()
        .exists
}

/// RFC 5321 §6.3: 100 `Received:` fields is a loop for every recipient;
/// 99 is still delivered and forwarded.
#[tokio::test]
async fn hop_limit_refuses_with_routing_loop() {
    let h = harness(true).await;
    let mut s = session(&h, Mode::Mx).await;
    send(&mut s, "EHLO relay.example.net\r\n").await;
    let received = "Received: from a by b; Thu, 1 Jan 2026 00:00:00 +0000\r\n";
    let message = |hops: usize| {
        format!(
            "MAIL FROM:<dave@example.net>\r\nRCPT TO:<info@example.org>\r\nDATA\r\n\
             {}Subject: hops\r\n\r\nhi\r\n.\r\n",
            received.repeat(hops)
        )
    };
    let out = send(&mut s, &message(MAX_RECEIVED)).await;
    assert!(
        out.ends_with("554 5.4.6 Routing loop detected\r\n"),
        "{out}"
    );
    assert_eq!(inbox_count(&h).await, 0);
    assert!(h.store.queue_list().await.unwrap().is_empty());

    let out = send(&mut s, &message(MAX_RECEIVED - 1)).await;
    assert!(out.contains("\r\n250 2.0.0 "), "{out}");
    assert_eq!(inbox_count(&h).await, 1);
    let items = h.store.queue_list().await.unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].recipients[0].address, "bob@remote.example");
}

/// Submission to a forwarding alias and to a remote address in one
/// transaction: two queue items, so that the direct recipient's copy
/// does not reveal the alias (a Bcc) in a `Delivered-To:` field.
#[tokio::test]
async fn submission_forwards_aliases_separately_from_direct_recipients() {
    let h = harness(true).await;
    let mut s = session(&h, Mode::Submission).await;
    send(&mut s, "EHLO client.example.net\r\n").await;
    let auth = format!(
        "AUTH PLAIN {}\r\n",
        STANDARD.encode(b"\0alice@example.org\0secret")
    );
    assert!(send(&mut s, &auth).await.starts_with("235"));
    let out = send(
        &mut s,
        "MAIL FROM:<alice@example.org>\r\nRCPT TO:<zed@example.net>\r\n\
         RCPT TO:<fwd@example.org>\r\nDATA\r\n\
         From: alice@example.org\r\nTo: zed@example.net\r\nSubject: both\r\n\r\nhi\r\n.\r\n",
    )
    .await;
    assert!(out.contains("\r\n250 2.0.0 "), "{out}");
    let items = h.store.queue_list().await.unwrap();
    assert_eq!(items.len(), 2, "{items:?}");
    for item in &items {
        assert_eq!(item.reverse_path, "alice@example.org");
        assert_eq!(item.recipients.len(), 1);
        let data = h.store.queue_message(item.id).await.unwrap();
        let text = String::from_utf8_lossy(&data);
        assert!(text.contains("Subject: both\r\n"), "{text}");
        match item.recipients[0].address.as_str() {
            "carol@elsewhere.example" => {
                assert!(
                    text.starts_with("Delivered-To: fwd@example.org\r\n"),
                    "{text}"
                );
                assert_eq!(
                    item.recipients[0].orcpt.as_deref(),
                    Some("rfc822;fwd@example.org")
                );
            }
            "zed@example.net" => assert!(!text.contains("Delivered-To"), "{text}"),
            other => panic!("unexpected recipient {other}"),
        }
    }
}

/// Without an outbound queue, an alias reaching only other domains is
/// refused at RCPT and a mixed one is delivered locally only.
#[tokio::test]
async fn without_a_queue_forwarding_is_refused() {
    let h = harness(false).await;
    let mut s = session(&h, Mode::Mx).await;
    send(&mut s, "EHLO relay.example.net\r\n").await;
    let out = send(
        &mut s,
        "MAIL FROM:<dave@example.net>\r\nRCPT TO:<fwd@example.org>\r\n\
         RCPT TO:<info@example.org>\r\nDATA\r\nSubject: x\r\n\r\nhi\r\n.\r\n",
    )
    .await;
    assert!(
        out.contains("550 5.7.1 Forwarding to remote addresses is not available\r\n"),
        "{out}"
    );
    assert!(out.contains("\r\n250 2.0.0 "), "{out}");
    assert_eq!(inbox_count(&h).await, 1);
    assert!(h.store.queue_list().await.unwrap().is_empty());
}

/// MX sessions never relay: a remote address is refused even though one
/// of our aliases forwards to it.
#[tokio::test]
async fn mx_relay_to_a_forward_target_is_denied() {
    let h = harness(true).await;
    let mut s = session(&h, Mode::Mx).await;
    send(&mut s, "EHLO relay.example.net\r\n").await;
    let out = send(
        &mut s,
        "MAIL FROM:<dave@example.net>\r\nRCPT TO:<carol@elsewhere.example>\r\n\
         RCPT TO:<bob@remote.example>\r\n",
    )
    .await;
    assert_eq!(
        out,
        "250 2.1.0 Sender OK\r\n554 5.7.1 Relay access denied\r\n\
         554 5.7.1 Relay access denied\r\n"
    );
    assert!(h.store.queue_list().await.unwrap().is_empty());
}
