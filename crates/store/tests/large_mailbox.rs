//! What a 100 000-message mailbox costs for the calls IMAP makes on SELECT,
//! STATUS, FETCH, SEARCH and sync. Ignored by default (it builds the
//! mailbox first); run with
//! `cargo test -p pillarbox-store --test large_mailbox -- --ignored --nocapture`.
//! Set `PILLARBOX_BENCH_DIR` to measure on a particular file system.
//!
//! The mailbox holds 2 000 distinct delivered messages (each with a unique
//! token in its body) copied until it has 100 000 entries, so 50 entries
//! share each message: enough distinct text for the index to be exercised,
//! without spending minutes on deliveries.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pillarbox_store::sqlite::{DB_FILE, SqliteStore};
use pillarbox_store::*;

const DISTINCT: usize = 2_000;
const ENTRIES: usize = 100_000;
const TASKS: usize = 20;

fn message(i: usize) -> NewMessage {
    let mut raw = format!(
        "From: Sender {i} <sender{i}@example.net>\r\nTo: rcpt@example.org\r\n\
         Subject: report number {i}\r\nMessage-ID: <{i}@example.net>\r\n\r\n\
         Body of message {i}, token tok{i:05}x.\r\n"
    );
    while raw.len() < 3000 {
        raw.push_str("The quick brown fox jumps over the lazy dog.\r\n");
    }
    NewMessage {
        data: Arc::new(raw.into_bytes()),
        internal_date: 1_700_000_000,
    }
}

/// Runs `f` `runs` times and returns the median duration and the last
/// result.
async fn timed<T, F, Fut>(runs: usize, mut f: F) -> (Duration, T)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = T>,
{
    let mut times = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs {
        let start = Instant::now();
        last = Some(f().await);
        times.push(start.elapsed());
    }
    times.sort();
    (times[runs / 2], last.expect("at least one run"))
}

fn report(what: &str, d: Duration, note: impl std::fmt::Display) {
    println!("{what:<44} {:>10.2} ms  {note}", d.as_secs_f64() * 1000.0);
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "benchmark"]
async fn hundred_thousand_entries() {
    let dir = match std::env::var_os("PILLARBOX_BENCH_DIR") {
        Some(base) => tempfile::tempdir_in(base),
        None => tempfile::tempdir(),
    }
    .expect("tempdir");
    let sqlite = SqliteStore::open(dir.path()).expect("open");
    let store: Store = sqlite.clone();
    store.create_domain("example.org").await.expect("domain");
    let a = store
        .create_account(
            "u@example.org",
            StoredCredentials {
                password_hash: "x".into(),
                scram_sha256: None,
            },
        )
        .await
        .expect("account");
    let inbox = store
        .mailbox_by_name(a.id, "INBOX")
        .await
        .expect("get")
        .expect("INBOX");

    // --- build ---
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..TASKS {
        let store = store.clone();
        tasks.spawn(async move {
            for i in (t..DISTINCT).step_by(TASKS) {
                let target = DeliveryTarget {
                    account: a.id,
                    mailbox: None,
                    flags: Flags::EMPTY,
                    keywords: Vec::new(),
                };
                store
                    .deliver(message(i), vec![target])
                    .await
                    .expect("deliver")[0]
                    .as_ref()
                    .expect("delivered");
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("task");
    }
    report(
        "build: deliver 2000 distinct (20 tasks)",
        started.elapsed(),
        "",
    );
    let originals: Vec<Uid> = store
        .entries(a.id, inbox.id)
        .await
        .expect("entries")
        .iter()
        .map(|e| e.uid)
        .collect();
    let started = Instant::now();
    while store
        .mailbox(a.id, inbox.id)
        .await
        .expect("get")
        .expect("INBOX")
        .exists
        < ENTRIES as u32
    {
        store
            .copy(a.id, inbox.id, &originals, inbox.id)
            .await
            .expect("copy");
    }
    report("build: 49 COPYs of 2000 entries", started.elapsed(), "");
    let uids: Vec<Uid> = store
        .entries(a.id, inbox.id)
        .await
        .expect("entries")
        .iter()
        .map(|e| e.uid)
        .collect();
    assert_eq!(uids.len(), ENTRIES);
    // All seen but the last 10.
    let (d, _) = timed(1, || {
        store.update_flags(
            a.id,
            inbox.id,
            &uids[..ENTRIES - 10],
            Flags::SEEN,
            Flags::EMPTY,
        )
    })
    .await;
    report(
        "STORE +FLAGS \\Seen on 99 990 entries",
        d,
        "one transaction",
    );
    println!();

    // --- SELECT / STATUS ---
    let (d, mb) = timed(21, || store.mailbox(a.id, inbox.id)).await;
    let mb = mb.expect("get").expect("INBOX");
    assert_eq!((mb.exists, mb.unseen), (ENTRIES as u32, 10));
    report(
        "mailbox(): STATUS counters",
        d,
        format!(
            "{} msgs, {} unseen, {} bytes",
            mb.exists, mb.unseen, mb.size
        ),
    );
    let (d, _) = timed(21, || store.list_mailboxes(a.id)).await;
    report("list_mailboxes(): 6 mailboxes with counters", d, "");
    let (d, first) = timed(21, || store.first_unseen(a.id, inbox.id)).await;
    let first = first.expect("unseen").expect("some unseen");
    assert_eq!(first.seq as usize, ENTRIES - 9);
    report(
        "first_unseen(): UNSEEN code",
        d,
        format!("seq {} uid {}", first.seq, first.uid),
    );
    let (d, all) = timed(5, || store.entries(a.id, inbox.id)).await;
    assert_eq!(all.expect("entries").len(), ENTRIES);
    report("entries(): all 100 000", d, "");
    let (d, _) = timed(5, || store.mailbox_keywords(a.id, inbox.id)).await;
    report("mailbox_keywords()", d, "");

    // --- sync ---
    let mark = store
        .mailbox(a.id, inbox.id)
        .await
        .expect("get")
        .expect("INBOX")
        .highest_modseq;
    store
        .update_flags(
            a.id,
            inbox.id,
            &uids[500..510],
            Flags::FLAGGED,
            Flags::EMPTY,
        )
        .await
        .expect("flags");
    let (d, changed) = timed(21, || store.entries_changed_since(a.id, inbox.id, mark)).await;
    assert_eq!(changed.expect("changed").len(), 10);
    report("entries_changed_since(): 10 changed", d, "");
    let (d, _) = timed(5, || store.entries_changed_since(a.id, inbox.id, ModSeq(0))).await;
    report("entries_changed_since(0): all 100 000", d, "");
    store
        .expunge(a.id, inbox.id, &uids[1000..1100])
        .await
        .expect("expunge");
    let (d, gone) = timed(21, || store.vanished(a.id, inbox.id, mark)).await;
    assert_eq!(gone.expect("vanished").len(), 100);
    report("vanished(): 100 expunged", d, "");

    // --- writes in a big mailbox ---
    let mut next = 2000;
    let (d, stored) = timed(11, || {
        next += 1;
        store.store_flags(
            a.id,
            inbox.id,
            &uids[next..next + 1],
            FlagChange {
                op: FlagOp::Add,
                flags: Flags::EMPTY,
                keywords: vec!["$Bench".into()],
            },
            None,
        )
    })
    .await;
    assert_eq!(stored.expect("store").changed.len(), 1);
    report("store_flags(): one entry (incl. fsync)", d, "");
    let (d, _) = timed(11, || {
        store.append(a.id, inbox.id, message(99_999), Flags::EMPTY, Vec::new())
    })
    .await;
    report("append(): 3 KB (incl. fsync)", d, "");

    // --- FETCH ---
    let msg = all_message(&store, a.id, inbox.id).await;
    let (d, _) = timed(21, || store.message_header(a.id, msg)).await;
    report("message_header()", d, "");
    let (d, _) = timed(21, || store.message_range(a.id, msg, 100, 200)).await;
    report("message_range(100, 200)", d, "");
    let (d, _) = timed(21, || store.summary(a.id, msg)).await;
    report("summary()", d, "");

    // --- SEARCH ---
    // The "(indexed)" figures need the background indexer to be done.
    let started = Instant::now();
    sqlite.wait_for_index().await.expect("indexed");
    report("background indexer done", started.elapsed(), "");
    let (d, hits) = timed(5, || {
        store.search_text(a.id, inbox.id, SearchField::Body, "tok01234x")
    })
    .await;
    report(
        "search BODY rare token (indexed)",
        d,
        format!("{} hits", hits.expect("search").len()),
    );
    let (d, hits) = timed(5, || {
        store.search_text(a.id, inbox.id, SearchField::Subject, "number 77")
    })
    .await;
    report(
        "search SUBJECT \"number 77\" (indexed)",
        d,
        format!("{} hits", hits.expect("search").len()),
    );
    let (d, hits) = timed(3, || {
        store.search_text(a.id, inbox.id, SearchField::Body, "lazy dog")
    })
    .await;
    report(
        "search BODY in every message (indexed)",
        d,
        format!("{} hits", hits.expect("search").len()),
    );
    let (d, hits) = timed(3, || {
        store.search_text(a.id, inbox.id, SearchField::From, "r1")
    })
    .await;
    report(
        "search FROM 2-char needle (scan)",
        d,
        format!("{} hits", hits.expect("search").len()),
    );
    let (d, hits) = timed(3, || {
        store.search_text(
            a.id,
            inbox.id,
            SearchField::Header("Message-ID".into()),
            "1234@",
        )
    })
    .await;
    report(
        "search HEADER Message-ID (indexed + check)",
        d,
        format!("{} hits", hits.expect("search").len()),
    );

    // For comparison: what STATUS cost with aggregate queries (schema v1).
    let db = rusqlite::Connection::open(dir.path().join(DB_FILE)).expect("raw");
    let started = Instant::now();
    let (n, unseen, size): (i64, i64, i64) = db
        .query_row(
            "SELECT count(*), sum((flags & 1) = 0), sum(size) FROM entries WHERE mailbox = ?1",
            [inbox.id.0],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .expect("aggregate");
    report(
        "(reference) aggregate count/unseen/size",
        started.elapsed(),
        format!("{n}/{unseen}/{size}"),
    );
    drop(db);

    let started = Instant::now();
    let report_ = store.check().await.expect("check");
    assert!(report_.problems.is_empty(), "{:?}", report_.problems);
    report("check(): whole store", started.elapsed(), "");
    let size = std::fs::metadata(dir.path().join(DB_FILE))
        .map(|m| m.len())
        .unwrap_or(0);
    println!("database file: {:.1} MiB", size as f64 / 1048576.0);
}

async fn all_message(store: &Store, account: AccountId, mailbox: MailboxId) -> MessageId {
    store
        .entries(account, mailbox)
        .await
        .expect("entries")
        .last()
        .expect("one entry")
        .message
}
