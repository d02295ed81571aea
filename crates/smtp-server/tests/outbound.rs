//! Submission with the outbound queue: remote recipients of authenticated
//! sessions are queued durably before `250`; local ones are delivered at
//! once; MX sessions never relay.

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;

use pillarbox_delivery::test_dns::TestDns;
use pillarbox_delivery::{Delivery, DeliveryConfig};
use pillarbox_queue::{DnsServers, Queue, QueueConfig};
use pillarbox_smtp_server::{Mode, SmtpConfig, SmtpContext, SmtpSession};
use pillarbox_store::sqlite::SqliteStore;
use pillarbox_store::{RecipientStatus, Store, StoredCredentials};
use support::send;

struct Harness {
    _dir: tempfile::TempDir,
    _dns: TestDns,
    store: Store,
    ctx: Arc<SmtpContext>,
}

async fn harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let store: Store = SqliteStore::open(dir.path()).unwrap();
    store.create_domain("example.org").await.unwrap();
    for login in ["alice@example.org", "bob@example.org"] {
        let c = pillarbox_sasl::hash_password("secret");
        store
            .create_account(
                login,
                StoredCredentials {
                    password_hash: c.password_hash,
                    scram_sha256: Some(c.scram_sha256),
                },
            )
            .await
            .unwrap();
    }
    let clock = support::test_clock();
    let delivery = Arc::new(Delivery::new(
        store.clone(),
        DeliveryConfig {
            hostname: "mail.example.org".into(),
            ..DeliveryConfig::default()
        },
        clock.clone(),
    ));
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
    let config = SmtpConfig {
        hostname: "mail.example.org".into(),
        submission_auth_failure_delay_ms: 0,
        ..SmtpConfig::default()
    };
    let ctx = SmtpContext::with_queue(store.clone(), delivery, config, clock, queue);
    Harness {
        _dir: dir,
        _dns: dns,
        store,
        ctx,
    }
}

async fn session(h: &Harness, mode: Mode) -> SmtpSession {
    support::tls_session(&h.ctx, mode, "192.0.2.25:465").await
}

#[tokio::test]
async fn submission_queues_remote_recipients_and_delivers_local_ones() {
    let h = harness().await;
    let mut s = session(&h, Mode::Submission).await;
    send(&mut s, "EHLO client.example.net\r\n").await;
    assert!(
        send(&mut s, &support::auth_plain("alice@example.org", "secret"))
            .await
            .starts_with("235")
    );
    let out = send(
        &mut s,
        "MAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.org>\r\n\
         RCPT TO:<carol@example.net>\r\nDATA\r\n",
    )
    .await;
    assert_eq!(
        out,
        "250 2.1.0 Sender OK\r\n250 2.1.5 Recipient OK\r\n250 2.1.5 Recipient OK\r\n\
         354 End data with <CR><LF>.<CR><LF>\r\n"
    );
    let out = send(
        &mut s,
        "From: alice@example.org\r\nTo: carol@example.net\r\nSubject: Out\r\n\r\nHi\r\n.\r\n",
    )
    .await;
    assert!(out.starts_with("250 2.0.0"), "{out}");

    // Durable before the 250: the queue item is in the store.
    let items = h.store.queue_list().await.unwrap();
    assert_eq!(items.len(), 1);
    let item = &items[0];
    assert_eq!(item.reverse_path, "alice@example.org");
    assert_eq!(item.recipients.len(), 1);
    assert_eq!(item.recipients[0].address, "carol@example.net");
    assert_eq!(item.recipients[0].status, RecipientStatus::Pending);
    let data = h.store.queue_message(item.id).await.unwrap();
    let text = String::from_utf8_lossy(&data);
    assert!(
        text.starts_with("Received: from client.example.net"),
        "{text}"
    );
    assert!(!text.contains("Return-Path:"), "{text}");
    assert!(text.contains("Subject: Out\r\n"));
    assert!(text.contains("Message-ID: <"), "completed by the MSA");

    // The local recipient got it at once.
    let bob = h.store.account("bob@example.org").await.unwrap().unwrap();
    let inbox = h
        .store
        .mailbox_by_name(bob.id, "INBOX")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(inbox.exists, 1);
}

#[tokio::test]
async fn remote_only_submission_is_accepted() {
    let h = harness().await;
    let mut s = session(&h, Mode::Submission).await;
    send(&mut s, "EHLO client.example.net\r\n").await;
    send(&mut s, &support::auth_plain("alice@example.org", "secret")).await;
    let out = send(
        &mut s,
        "MAIL FROM:<alice@example.org>\r\nRCPT TO:<dave@example.com>\r\nDATA\r\n\
         From: alice@example.org\r\n\r\nx\r\n.\r\n",
    )
    .await;
    assert!(
        out.ends_with("as 7.1\r\n") && out.contains("\r\n250 2.0.0"),
        "{out}"
    );
    assert_eq!(h.store.queue_list().await.unwrap().len(), 1);
}

#[tokio::test]
async fn mx_sessions_never_relay_even_with_a_queue() {
    let h = harness().await;
    let mut s = session(&h, Mode::Mx).await;
    send(&mut s, "EHLO client.example.net\r\n").await;
    let out = send(
        &mut s,
        "MAIL FROM:<x@example.net>\r\nRCPT TO:<carol@example.net>\r\n",
    )
    .await;
    assert_eq!(
        out,
        "250 2.1.0 Sender OK\r\n554 5.7.1 Relay access denied\r\n"
    );
    assert!(h.store.queue_list().await.unwrap().is_empty());
}

#[tokio::test]
async fn unauthenticated_submission_cannot_relay() {
    let h = harness().await;
    let mut s = session(&h, Mode::Submission).await;
    send(&mut s, "EHLO client.example.net\r\n").await;
    let out = send(
        &mut s,
        "MAIL FROM:<alice@example.org>\r\nRCPT TO:<carol@example.net>\r\n",
    )
    .await;
    assert!(out.starts_with("530 5.7.0"), "{out}");
    assert!(out.contains("\r\n530 5.7.0"), "{out}");
}

/// RFC 3461: the DSN parameters of MAIL and RCPT are stored with the
/// queue item (decoded), and a local recipient asking for SUCCESS makes a
/// `delivered` notice for the sender (§5.2.3).
#[tokio::test]
async fn dsn_parameters_are_queued_and_local_success_is_notified() {
    let h = harness().await;
    let mut s = session(&h, Mode::Submission).await;
    send(&mut s, "EHLO client.example.net\r\n").await;
    assert!(
        send(&mut s, &support::auth_plain("alice@example.org", "secret"))
            .await
            .starts_with("235")
    );
    let out = send(
        &mut s,
        "MAIL FROM:<alice@example.org> RET=FULL ENVID=id+2B1\r\n\
         RCPT TO:<carol@example.net> NOTIFY=delay,failure ORCPT=rfc822;Carol+40example.net\r\n\
         RCPT TO:<dave@example.net>\r\n\
         RCPT TO:<bob@example.org> NOTIFY=SUCCESS\r\nDATA\r\n",
    )
    .await;
    assert_eq!(out.matches("250 ").count(), 4, "{out}");
    let out = send(
        &mut s,
        "From: alice@example.org\r\nSubject: Tracked\r\n\r\nHi\r\n.\r\n",
    )
    .await;
    assert!(out.starts_with("250 2.0.0"), "{out}");
    let items = h.store.queue_list().await.unwrap();
    assert_eq!(items.len(), 1);
    let item = &items[0];
    assert_eq!(item.dsn.ret.as_deref(), Some("FULL"));
    assert_eq!(item.dsn.envid.as_deref(), Some("id+1"));
    let carol = &item.recipients[0];
    assert_eq!(carol.notify.as_deref(), Some("FAILURE,DELAY"));
    assert_eq!(carol.orcpt.as_deref(), Some("rfc822;Carol@example.net"));
    let dave = &item.recipients[1];
    assert_eq!(
        (dave.notify.as_deref(), dave.orcpt.as_deref()),
        (None, None)
    );

    let alice = h.store.account("alice@example.org").await.unwrap().unwrap();
    let inbox = h
        .store
        .mailbox_by_name(alice.id, "INBOX")
        .await
        .unwrap()
        .unwrap();
    let entries = h.store.entries(alice.id, inbox.id).await.unwrap();
    assert_eq!(entries.len(), 1, "one delivered notice");
    let notice = h
        .store
        .message_bytes(alice.id, entries[0].message)
        .await
        .unwrap();
    let notice = String::from_utf8_lossy(&notice);
    for needle in [
        "Action: delivered",
        "Final-Recipient: rfc822; bob@example.org",
        "Original-Envelope-Id: id+1",
        "Subject: Tracked",
    ] {
        assert!(notice.contains(needle), "{needle:?} missing:\n{notice}");
    }
    assert!(!notice.contains("carol"), "{notice}");
}

/// RFC 3461 §5.2.3 on MX: a remote sender's `delivered` notice is queued
/// for it with the null reverse-path (a notice is never notified about).
#[tokio::test]
async fn mx_success_notice_for_a_remote_sender_is_queued() {
    let h = harness().await;
    let mut s = session(&h, Mode::Mx).await;
    send(&mut s, "EHLO client.example.net\r\n").await;
    let out = send(
        &mut s,
        "MAIL FROM:<x@example.net> ENVID=mx-1\r\n\
         RCPT TO:<bob@example.org> NOTIFY=SUCCESS,FAILURE\r\nDATA\r\n\
         From: x@example.net\r\nSubject: hello\r\n\r\nHi\r\n.\r\n",
    )
    .await;
    assert!(
        out.ends_with("\r\n") && out.contains("\r\n250 2.0.0"),
        "{out}"
    );
    let items = h.store.queue_list().await.unwrap();
    assert_eq!(items.len(), 1, "the notice is queued");
    let item = &items[0];
    assert_eq!(item.reverse_path, "", "sent with <>");
    assert_eq!(item.recipients[0].address, "x@example.net");
    let data = h.store.queue_message(item.id).await.unwrap();
    let text = String::from_utf8_lossy(&data);
    assert!(text.contains("Action: delivered"), "{text}");
    assert!(text.contains("Original-Envelope-Id: mx-1"), "{text}");
}
