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
    assert_eq!(version, 5);
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

/// A message of about 3 MiB (several compression frames) whose lines are
/// determined by `seed`.
fn big_message(seed: &str) -> NewMessage {
    let mut raw = format!("From: {seed}@example.net\r\nSubject: big {seed}\r\n\r\n");
    let mut i = 0;
    while raw.len() < 3 * 1024 * 1024 {
        raw.push_str(&format!("{seed} line {i:08} {}\r\n", "y".repeat(i % 47)));
        i += 1;
    }
    NewMessage {
        data: Arc::new(raw.into_bytes()),
        internal_date: 1_700_000_000,
    }
}

/// The compressed offset of each frame of the only blob of `dir`'s store
/// whose hash is `hash`.
fn frame_offsets(db: &Connection, hash: &str) -> Vec<usize> {
    let frames: Vec<u8> = db
        .query_row("SELECT frames FROM blobs WHERE hash = ?1", [hash], |r| {
            r.get(0)
        })
        .expect("frames");
    let words: Vec<usize> = frames
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")) as usize)
        .collect();
    let mut offsets = vec![0];
    for len in &words[1..words.len() - 1] {
        offsets.push(offsets.last().expect("one") + len);
    }
    offsets
}

/// Overwrites the zstd magic number of frame `index` of a blob, so that
/// decoding that frame fails.
fn break_frame(db: &Connection, hash: &str, index: usize) {
    let offset = frame_offsets(db, hash)[index];
    let mut data: Vec<u8> = db
        .query_row("SELECT data FROM blobs WHERE hash = ?1", [hash], |r| {
            r.get(0)
        })
        .expect("data");
    data[offset..offset + 4].copy_from_slice(&[0, 0, 0, 0]);
    db.execute(
        "UPDATE blobs SET data = ?1 WHERE hash = ?2",
        rusqlite::params![data, hash],
    )
    .expect("corrupt");
}

/// Byte ranges decompress only the frames they need: a range read still
/// works when frames it does not cover are unreadable (DESIGN §4).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn range_reads_touch_only_the_frames_they_need() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, a) = populated(dir.path(), 0).await;
    let mut ids = Vec::new();
    for seed in ["late", "early"] {
        let d = store
            .deliver(big_message(seed), vec![to_inbox(a.id)])
            .await
            .expect("deliver")
            .remove(0)
            .expect("delivered");
        ids.push(d.message);
    }
    drop(store);
    let db = raw(dir.path());
    let hash_of = |seed: &str| {
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
            big_message(seed).data.as_slice(),
        ))
    };
    assert_eq!(
        frame_offsets(&db, &hash_of("late")).len(),
        3,
        "three frames"
    );
    break_frame(&db, &hash_of("late"), 2);
    break_frame(&db, &hash_of("early"), 0);
    drop(db);
    let store = SqliteStore::open(dir.path()).expect("reopen");
    let mib = 1024 * 1024;
    let (late, early) = (ids[0], ids[1]);
    let late_data = big_message("late").data;
    let header = store.message_header(a.id, late).await.expect("header");
    assert!(header.starts_with(b"From: late@example.net"));
    let r = store
        .message_range(a.id, late, mib - 5, 1000)
        .await
        .expect("frames 0 and 1 only");
    assert_eq!(
        r.as_slice(),
        &late_data[mib as usize - 5..mib as usize + 995]
    );
    assert!(
        store
            .message_range(a.id, late, 2 * mib + 1, 10)
            .await
            .is_err()
    );
    assert!(store.message_bytes(a.id, late).await.is_err());
    // Seeking: frame 0 of `early` is broken, a range in frame 1 is fine.
    let early_data = big_message("early").data;
    let r = store
        .message_range(a.id, early, mib + 10, 100)
        .await
        .expect("seek past the broken frame");
    assert_eq!(
        r.as_slice(),
        &early_data[mib as usize + 10..mib as usize + 110]
    );
    assert!(store.message_header(a.id, early).await.is_err());
    let p = store.check().await.expect("check").problems;
    assert_reported(&p, "does not decompress");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reports_drifted_counters_keywords_and_text_index() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _) = populated(dir.path(), 3).await;
    store.wait_for_index().await.expect("indexed");
    drop(store);
    let db = raw(dir.path());
    db.execute_batch(
        "UPDATE mailboxes SET unseen_count = unseen_count + 1 WHERE name = 'INBOX';
         UPDATE entries SET keywords = 'Ghost' WHERE uid = 1;
         DELETE FROM message_text WHERE rowid = 2;
         UPDATE messages SET header_len = size + 1 WHERE id = 3;",
    )
    .expect("corrupt");
    // Entries never change mailbox or size.
    assert!(db.execute_batch("UPDATE entries SET size = 1").is_err());
    drop(db);
    let p = problems(dir.path()).await;
    assert_reported(&p, "(messages/unseen/deleted/size) but holds 3/3/0/");
    assert_reported(&p, "has keyword Ghost missing from its mailbox's list");
    assert_reported(&p, "message 2 has no text index row");
    assert_reported(&p, "message 3 has header length");
}
