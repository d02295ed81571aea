//! SQLite-specific behaviour: persistence across reopen, two handles on one
//! file (the CLI next to the server), clean shutdown, and `check` catching
//! corruption written behind the store's back.

use std::path::Path;
use std::sync::Arc;

use pillarbox_store::conformance::test_message;
use pillarbox_store::sqlite::{DB_FILE, SqliteStore};
use pillarbox_store::*;
use rusqlite::Connection;

fn creds() -> StoredCredentials {
    StoredCredentials {
        password_hash: "$argon2id$test".into(),
        scram_sha256: None,
    }
}

fn to_inbox(account: AccountId) -> DeliveryTarget {
    DeliveryTarget {
        account,
        mailbox: None,
        flags: Flags::EMPTY,
        keywords: Vec::new(),
    }
}

/// A store in `dir` with account `u@example.org` holding `n` messages.
async fn populated(dir: &Path, n: usize) -> (Arc<SqliteStore>, Account) {
    let store = SqliteStore::open(dir).expect("open");
    store.create_domain("example.org").await.expect("domain");
    let a = store
        .create_account("u@example.org", creds())
        .await
        .expect("account");
    for i in 0..n {
        store
            .deliver(test_message(&format!("m{i}")), vec![to_inbox(a.id)])
            .await
            .expect("deliver")[0]
            .as_ref()
            .expect("delivered");
    }
    (store, a)
}

fn raw(dir: &Path) -> Connection {
    Connection::open(dir.join(DB_FILE)).expect("open raw")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_survives_reopen_and_schema_is_versioned() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, a) = populated(dir.path(), 3).await;
    let validity = store
        .mailbox_by_name(a.id, "INBOX")
        .await
        .expect("get")
        .expect("INBOX")
        .uid_validity;
    drop(store);
    let version: i64 = raw(dir.path())
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("version");
    assert_eq!(version, 1);
    let mode: String = raw(dir.path())
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("mode");
    assert_eq!(mode, "wal");
    let store = SqliteStore::open(dir.path()).expect("reopen");
    let inbox = store
        .mailbox_by_name(a.id, "INBOX")
        .await
        .expect("get")
        .expect("INBOX");
    assert_eq!((inbox.exists, inbox.uid_validity), (3, validity));
    let d = store
        .deliver(test_message("after reopen"), vec![to_inbox(a.id)])
        .await
        .expect("deliver")
        .remove(0)
        .expect("delivered");
    assert_eq!(d.uid, Uid(4));
    assert!(store.check().await.expect("check").problems.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_handles_on_one_file_see_each_other() {
    // Like the CLI writing while the server runs: no stale caches.
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, a) = populated(dir.path(), 1).await;
    let cli = SqliteStore::open(dir.path()).expect("second handle");
    cli.add_alias("team@example.org", "u@example.org")
        .await
        .expect("alias");
    cli.set_quota("u@example.org", Some(1))
        .await
        .expect("quota");
    assert!(matches!(
        server
            .lookup_address("team@example.org")
            .await
            .expect("lookup"),
        Some(AddressTarget::Alias(_))
    ));
    let r = server
        .deliver(test_message("x"), vec![to_inbox(a.id)])
        .await
        .expect("deliver");
    assert!(matches!(r[0], Err(StoreError::QuotaExceeded)));
    cli.set_quota("u@example.org", None).await.expect("quota");
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let s: Store = if i % 2 == 0 {
            server.clone()
        } else {
            cli.clone()
        };
        tasks.spawn(async move {
            s.deliver(test_message(&format!("p{i}")), vec![to_inbox(a.id)])
                .await
                .expect("deliver")
                .remove(0)
                .expect("delivered")
                .uid
        });
    }
    let mut uids = std::collections::HashSet::new();
    while let Some(uid) = tasks.join_next().await {
        assert!(uids.insert(uid.expect("task")), "UID given twice");
    }
    assert_eq!(uids.len(), 20);
    assert!(cli.check().await.expect("check").problems.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_store_answers_queued_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, a) = populated(dir.path(), 0).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..50 {
        let s: Store = store.clone();
        tasks.spawn(async move {
            s.deliver(test_message(&format!("s{i}")), vec![to_inbox(a.id)])
                .await
                .map(|mut r| r.remove(0))
        });
    }
    // The last handle is dropped by whichever task finishes last, inside
    // the runtime; every write must still be answered and durable.
    drop(store);
    while let Some(r) = tasks.join_next().await {
        r.expect("task").expect("deliver").expect("delivered");
    }
    let store = SqliteStore::open(dir.path()).expect("reopen");
    let inbox = store
        .mailbox_by_name(a.id, "INBOX")
        .await
        .expect("get")
        .expect("INBOX");
    assert_eq!(inbox.exists, 50);
}

/// Opens a store on `dir`, runs `check`, and returns its problems.
async fn problems(dir: &Path) -> Vec<String> {
    let store = SqliteStore::open(dir).expect("open");
    store.check().await.expect("check").problems
}

fn assert_reported(problems: &[String], needle: &str) {
    assert!(
        problems.iter().any(|p| p.contains(needle)),
        "expected a problem containing {needle:?}, got {problems:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reports_a_corrupt_blob() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _) = populated(dir.path(), 2).await;
    drop(store);
    let db = raw(dir.path());
    let hashes: Vec<String> = db
        .prepare("SELECT hash FROM blobs ORDER BY hash")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(hashes.len(), 2);
    // Same length, different content: only the hash check can tell.
    let mut other = test_message("m0").data.as_ref().clone();
    other[100] ^= 1;
    let swapped = zstd::bulk::compress(&other, 3).expect("compress");
    db.execute(
        "UPDATE blobs SET data = ?1 WHERE hash = ?2",
        rusqlite::params![swapped, hashes[0]],
    )
    .expect("corrupt");
    // Not zstd at all.
    db.execute(
        "UPDATE blobs SET data = x'00010203' WHERE hash = ?1",
        [&hashes[1]],
    )
    .expect("corrupt");
    drop(db);
    let p = problems(dir.path()).await;
    assert_reported(&p, &format!("blob {} has SHA-256", hashes[0]));
    assert_reported(&p, &format!("blob {} does not decompress", hashes[1]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reports_wrong_counters() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _) = populated(dir.path(), 3).await;
    drop(store);
    let db = raw(dir.path());
    db.execute_batch(
        "UPDATE accounts SET used = used + 1;
         UPDATE mailboxes SET uidnext = 2, highestmodseq = 1 WHERE name = 'INBOX';
         UPDATE messages SET size = size + 5 WHERE id = 1;",
    )
    .expect("corrupt");
    drop(db);
    let p = problems(dir.path()).await;
    assert_reported(&p, "bytes used but holds");
    assert_reported(&p, "has UIDNEXT 2 <= used UID 3");
    assert_reported(&p, "has HIGHESTMODSEQ 1 < MODSEQ");
    assert_reported(&p, "but its blob has");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reports_dangling_and_unreferenced_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _) = populated(dir.path(), 2).await;
    drop(store);
    let db = raw(dir.path());
    db.execute_batch(
        "PRAGMA foreign_keys = OFF;
         INSERT INTO blobs (hash, data, size) VALUES ('00ff', x'', 0);
         INSERT INTO messages (blob, size, internal_date, summary)
              VALUES ('00ff', 0, 0, '{}');
         DELETE FROM messages WHERE id = 1;",
    )
    .expect("corrupt");
    drop(db);
    let p = problems(dir.path()).await;
    assert_reported(&p, "refers to missing message 1");
    assert_reported(&p, "message 3 is referenced by no entry");
    assert_reported(&p, "refers to a missing row of messages");
}
