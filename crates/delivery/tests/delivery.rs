//! Recipient resolution and local delivery.

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, UNIX_EPOCH};

use pillarbox_delivery::{
    Delivery, DeliveryConfig, DeliveryError, Envelope, EnvelopeRecipient, Resolution,
};
use pillarbox_session::ManualClock;
use pillarbox_store::sqlite::SqliteStore;
use pillarbox_store::{AccountId, ErrorKind, MailStore, StoredCredentials};
use support::MemoryStore;

fn creds() -> StoredCredentials {
    StoredCredentials {
        password_hash: "x".into(),
        scram_sha256: None,
    }
}

struct Fixture<S> {
    _dir: tempfile::TempDir,
    store: Arc<S>,
    delivery: Delivery,
    alice: AccountId,
    bob: AccountId,
}

async fn populate<S: MailStore>(
    dir: tempfile::TempDir,
    store: Arc<S>,
    config: DeliveryConfig,
) -> Fixture<S> {
    store.create_domain("example.org").await.unwrap();
    store.create_domain("example.com").await.unwrap();
    let alice = store
        .create_account("alice@example.org", creds())
        .await
        .unwrap()
        .id;
    let bob = store
        .create_account("bob@example.org", creds())
        .await
        .unwrap()
        .id;
    let clock = Arc::new(ManualClock::new(
        UNIX_EPOCH + Duration::from_secs(1_767_225_600),
    ));
    let delivery = Delivery::new(store.clone(), config, clock);
    Fixture {
        _dir: dir,
        store,
        delivery,
        alice,
        bob,
    }
}

/// The real store in a temporary directory.
async fn fixture(config: DeliveryConfig) -> Fixture<SqliteStore> {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    populate(dir, store, config).await
}

/// The fault-injecting in-memory store.
async fn memory_fixture() -> Fixture<MemoryStore> {
    populate(
        tempfile::tempdir().unwrap(),
        MemoryStore::new(),
        DeliveryConfig::default(),
    )
    .await
}

/// The messages in an account's INBOX, oldest first.
async fn inbox(store: &SqliteStore, account: AccountId) -> Vec<Vec<u8>> {
    let mailbox = store
        .mailbox_by_name(account, "INBOX")
        .await
        .unwrap()
        .unwrap();
    let mut out = Vec::new();
    for entry in store.entries(account, mailbox.id).await.unwrap() {
        let bytes = store.message_bytes(account, entry.message).await.unwrap();
        out.push(bytes.to_vec());
    }
    out
}

fn local(accounts: Vec<AccountId>) -> Resolution {
    Resolution::Local {
        accounts,
        remote: Vec::new(),
    }
}

#[tokio::test]
async fn resolve_exact_account_case_insensitively() {
    let f = fixture(DeliveryConfig::default()).await;
    assert_eq!(
        f.delivery.resolve("alice@example.org").await,
        local(vec![f.alice])
    );
    assert_eq!(
        f.delivery.resolve("Alice@EXAMPLE.org").await,
        local(vec![f.alice])
    );
}

#[tokio::test]
async fn resolve_subaddress_strips_tag() {
    let f = fixture(DeliveryConfig::default()).await;
    assert_eq!(
        f.delivery.resolve("alice+lists@example.org").await,
        local(vec![f.alice])
    );
    assert_eq!(
        f.delivery.resolve("+lists@example.org").await,
        Resolution::UnknownUser
    );
}

#[tokio::test]
async fn resolve_subaddress_with_other_separator_or_disabled() {
    let f = fixture(DeliveryConfig {
        subaddress_separator: "-".into(),
        ..DeliveryConfig::default()
    })
    .await;
    assert_eq!(
        f.delivery.resolve("alice-x@example.org").await,
        local(vec![f.alice])
    );
    assert_eq!(
        f.delivery.resolve("alice+x@example.org").await,
        Resolution::UnknownUser
    );
    let f = fixture(DeliveryConfig {
        subaddress_separator: String::new(),
        ..DeliveryConfig::default()
    })
    .await;
    assert_eq!(
        f.delivery.resolve("alice+x@example.org").await,
        Resolution::UnknownUser
    );
}

#[tokio::test]
async fn resolve_alias_expands_recursively_with_dedup_and_loops() {
    let f = fixture(DeliveryConfig::default()).await;
    let s = &f.store;
    s.add_alias("team@example.org", "alice@example.org")
        .await
        .unwrap();
    s.add_alias("team@example.org", "staff@example.org")
        .await
        .unwrap();
    s.add_alias("staff@example.org", "BOB@example.org")
        .await
        .unwrap();
    s.add_alias("staff@example.org", "alice@example.org")
        .await
        .unwrap();
    s.add_alias("staff@example.org", "team@example.org")
        .await
        .unwrap();
    assert_eq!(
        f.delivery.resolve("team@example.org").await,
        local(vec![f.alice, f.bob])
    );
    // An alias is also reached through its +tag. (The store does not
    // promise an order of alias targets.)
    let mut accounts = f
        .delivery
        .resolve("staff+x@example.org")
        .await
        .accounts()
        .to_vec();
    accounts.sort();
    let mut expected = vec![f.bob, f.alice];
    expected.sort();
    assert_eq!(accounts, expected);
}

#[tokio::test]
async fn resolve_alias_reports_remote_targets() {
    let f = fixture(DeliveryConfig::default()).await;
    let s = &f.store;
    s.add_alias("fwd@example.org", "carol@remote.example")
        .await
        .unwrap();
    s.add_alias("fwd@example.org", "alice@example.org")
        .await
        .unwrap();
    s.add_alias("away@example.org", "dave@remote.example")
        .await
        .unwrap();
    assert_eq!(
        f.delivery.resolve("fwd@example.org").await,
        Resolution::Local {
            accounts: vec![f.alice],
            remote: vec!["carol@remote.example".into()]
        }
    );
    assert_eq!(
        f.delivery.resolve("away@example.org").await,
        Resolution::Local {
            accounts: vec![],
            remote: vec!["dave@remote.example".into()]
        }
    );
}

/// Forwarding through nested aliases: every remote target once, case
/// folded, local accounts alongside.
#[tokio::test]
async fn resolve_nested_alias_collects_remote_targets_once() {
    let f = fixture(DeliveryConfig::default()).await;
    let s = &f.store;
    for (alias, target) in [
        ("team@example.org", "info@example.org"),
        ("team@example.org", "Carol@Remote.example"),
        ("info@example.org", "carol@remote.example"),
        ("info@example.org", "alice@example.org"),
        ("info@example.org", "dave@other.example"),
    ] {
        s.add_alias(alias, target).await.unwrap();
    }
    assert_eq!(
        f.delivery.resolve("Team@example.org").await,
        Resolution::Local {
            accounts: vec![f.alice],
            remote: vec!["carol@remote.example".into(), "dave@other.example".into()]
        }
    );
}

#[tokio::test]
async fn resolve_alias_depth_limit_and_unknown_targets() {
    let f = fixture(DeliveryConfig {
        max_alias_depth: 2,
        ..DeliveryConfig::default()
    })
    .await;
    let s = &f.store;
    s.add_alias("a1@example.org", "a2@example.org")
        .await
        .unwrap();
    s.add_alias("a2@example.org", "a3@example.org")
        .await
        .unwrap();
    s.add_alias("a3@example.org", "alice@example.org")
        .await
        .unwrap();
    s.add_alias("a2@example.org", "bob@example.org")
        .await
        .unwrap();
    assert_eq!(
        f.delivery.resolve("a1@example.org").await,
        local(vec![f.bob])
    );
    let mut accounts = f
        .delivery
        .resolve("a2@example.org")
        .await
        .accounts()
        .to_vec();
    accounts.sort();
    let mut expected = vec![f.bob, f.alice];
    expected.sort();
    assert_eq!(accounts, expected);
    s.add_alias("ghost@example.org", "nobody@example.org")
        .await
        .unwrap();
    assert_eq!(
        f.delivery.resolve("ghost@example.org").await,
        Resolution::UnknownUser
    );
}

#[tokio::test]
async fn resolve_catch_all_after_exact_and_tag() {
    let f = fixture(DeliveryConfig::default()).await;
    assert_eq!(
        f.delivery.resolve("nobody@example.org").await,
        Resolution::UnknownUser
    );
    f.store
        .set_catch_all("example.org", Some(f.bob))
        .await
        .unwrap();
    assert_eq!(
        f.delivery.resolve("nobody@example.org").await,
        local(vec![f.bob])
    );
    assert_eq!(
        f.delivery.resolve("alice+tag@example.org").await,
        local(vec![f.alice])
    );
    assert_eq!(
        f.delivery.resolve("nobody@example.com").await,
        Resolution::UnknownUser
    );
}

#[tokio::test]
async fn resolve_foreign_domain_and_bad_addresses() {
    let f = fixture(DeliveryConfig::default()).await;
    assert_eq!(
        f.delivery.resolve("alice@example.net").await,
        Resolution::NotLocalDomain
    );
    assert_eq!(
        f.delivery.resolve("alice@[192.0.2.1]").await,
        Resolution::NotLocalDomain
    );
    assert_eq!(f.delivery.resolve("").await, Resolution::UnknownUser);
    assert_eq!(f.delivery.resolve("@x").await, Resolution::UnknownUser);
}

#[tokio::test]
async fn resolve_store_failure_is_temporary() {
    let f = memory_fixture().await;
    f.store.fail.store(true, Ordering::SeqCst);
    assert_eq!(
        f.delivery.resolve("alice@example.org").await,
        Resolution::TemporaryFailure
    );
}

fn envelope(recipients: Vec<(&str, Vec<AccountId>)>) -> Envelope {
    Envelope {
        reverse_path: "sender@example.net".into(),
        recipients: recipients
            .into_iter()
            .map(|(a, accounts)| EnvelopeRecipient {
                address: a.into(),
                accounts,
            })
            .collect(),
        helo: "client.example.net".into(),
        peer_ip: "192.0.2.1".parse().unwrap(),
        protocol: "ESMTP",
        tls: None,
        authenticated: None,
        id: "t1".into(),
    }
}

#[tokio::test]
async fn deliver_stores_once_per_account_with_trace_headers_and_crlf() {
    let f = fixture(DeliveryConfig {
        hostname: "mx.example.org".into(),
        ..DeliveryConfig::default()
    })
    .await;
    let env = envelope(vec![
        ("alice@example.org", vec![f.alice]),
        ("team@example.org", vec![f.alice, f.bob]),
    ]);
    let results = f
        .delivery
        .deliver(&env, b"Subject: hi\n\nbody\n".to_vec())
        .await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let alice = inbox(&f.store, f.alice).await;
    assert_eq!(alice.len(), 1, "deduplicated");
    assert_eq!(inbox(&f.store, f.bob).await.len(), 1);
    let text = String::from_utf8(alice[0].clone()).unwrap();
    assert!(
        text.starts_with(
            "Return-Path: <sender@example.net>\r\n\
             Received: from client.example.net ([192.0.2.1])\r\n\
             \tby mx.example.org (Pillarbox) with ESMTP id t1;\r\n\
             \tThu, 01 Jan 2026 00:00:00 +0000\r\n\
             Subject: hi\r\n\r\nbody\r\n"
        ),
        "{text}"
    );
}

#[tokio::test]
async fn deliver_reports_quota_per_recipient() {
    let f = fixture(DeliveryConfig::default()).await;
    f.store
        .set_quota("bob@example.org", Some(10))
        .await
        .unwrap();
    let env = envelope(vec![
        ("alice@example.org", vec![f.alice]),
        ("bob@example.org", vec![f.bob]),
        ("team@example.org", vec![f.bob, f.alice]),
    ]);
    let results = f
        .delivery
        .deliver(&env, b"Subject: x\r\n\r\n".to_vec())
        .await;
    assert!(results[0].is_ok());
    assert!(matches!(results[1], Err(DeliveryError::QuotaExceeded)));
    assert_eq!(
        results[1].as_ref().unwrap_err().kind(),
        ErrorKind::QuotaExceeded
    );
    assert!(!results[1].as_ref().unwrap_err().is_temporary());
    assert!(results[2].is_ok(), "alias succeeds when one account got it");
}

#[tokio::test]
async fn deliver_store_failure_is_temporary_for_all() {
    let f = memory_fixture().await;
    f.store.fail.store(true, Ordering::SeqCst);
    let env = envelope(vec![
        ("alice@example.org", vec![f.alice]),
        ("bob@example.org", vec![f.bob]),
    ]);
    let results = f.delivery.deliver(&env, b"x\r\n".to_vec()).await;
    assert_eq!(results.len(), 2);
    for r in results {
        assert!(r.unwrap_err().is_temporary());
    }
}

#[tokio::test]
async fn deliver_without_accounts_does_not_call_store() {
    let f = memory_fixture().await;
    let env = envelope(vec![("x@example.org", vec![])]);
    let results = f.delivery.deliver(&env, b"x\r\n".to_vec()).await;
    assert!(matches!(results[0], Err(DeliveryError::NoMailbox)));
    assert_eq!(f.store.deliver_calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn deliver_calls_the_store_once_for_all_accounts() {
    let f = memory_fixture().await;
    let env = envelope(vec![
        ("alice@example.org", vec![f.alice]),
        ("bob@example.org", vec![f.bob]),
        ("team@example.org", vec![f.bob, f.alice]),
    ]);
    let results = f.delivery.deliver(&env, b"x\r\n".to_vec()).await;
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(f.store.deliver_calls.load(Ordering::SeqCst), 1);
    assert_eq!(f.store.messages(f.alice).len(), 1);
    assert_eq!(f.store.messages(f.bob).len(), 1);
}
