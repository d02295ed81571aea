//! Delivery throughput with group commit: 20 concurrent tasks deliver 4 KiB
//! messages; then the background indexer's catch-up, search latency, and
//! delivery latency while the indexer works. Ignored by default; run with
//! `cargo test -p pillarbox-store --test throughput -- --ignored --nocapture --test-threads 1`.
//! Set `PILLARBOX_BENCH_DIR` to measure on a particular file system.

use std::sync::Arc;
use std::time::{Duration, Instant};

use pillarbox_store::conformance::test_message;
use pillarbox_store::sqlite::SqliteStore;
use pillarbox_store::*;

const TASKS: usize = 20;
const PER_TASK: usize = 250;

fn percentiles(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let at = |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize];
    format!(
        "p50 {:.2?}, p99 {:.2?}, max {:.2?} (n={})",
        at(0.5),
        at(0.99),
        at(1.0),
        samples.len()
    )
}

fn to_inbox(account: AccountId) -> DeliveryTarget {
    DeliveryTarget {
        account,
        mailbox: None,
        flags: Flags::EMPTY,
        keywords: Vec::new(),
    }
}

async fn open() -> (tempfile::TempDir, Arc<SqliteStore>, Account) {
    let dir = match std::env::var_os("PILLARBOX_BENCH_DIR") {
        Some(base) => tempfile::tempdir_in(base),
        None => tempfile::tempdir(),
    }
    .expect("tempdir");
    let store = SqliteStore::open(dir.path()).expect("open");
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
    (dir, store, a)
}

/// `TASKS` tasks deliver `PER_TASK` messages each; returns the time taken.
async fn burst(store: &Arc<SqliteStore>, a: AccountId) -> Duration {
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..TASKS {
        let store: Store = store.clone();
        tasks.spawn(async move {
            for i in 0..PER_TASK {
                let r = store
                    .deliver(test_message(&format!("t{t}-{i}")), vec![to_inbox(a)])
                    .await
                    .expect("deliver");
                r[0].as_ref().expect("delivered");
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("task");
    }
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "benchmark"]
async fn deliveries_per_second_with_20_concurrent_tasks() {
    let (_dir, store, a) = open().await;
    let elapsed = burst(&store, a.id).await;
    let n = TASKS * PER_TASK;
    let backlog = store.index_backlog().await.expect("backlog");
    println!(
        "{n} deliveries of 4 KiB by {TASKS} tasks in {elapsed:.2?}: {:.0}/s \
         ({backlog} left for the indexer)",
        n as f64 / elapsed.as_secs_f64()
    );
    let inbox = store
        .mailbox_by_name(a.id, "INBOX")
        .await
        .expect("mailbox")
        .expect("INBOX");
    if backlog > 0 {
        let t = Instant::now();
        let found = store
            .search_text(a.id, inbox.id, SearchField::Body, "t7-142 lorem")
            .await
            .expect("search");
        assert_eq!(found.len(), 1);
        println!(
            "one search with {backlog} messages pending: {:.2?}",
            t.elapsed()
        );
    }
    let t = Instant::now();
    store.wait_for_index().await.expect("indexed");
    println!(
        "indexer caught up in {:.2?} after the burst ({:.2?} after it started)",
        t.elapsed(),
        t.elapsed() + elapsed
    );

    // The indexer merges the index's segments once it has caught up.
    tokio::time::sleep(Duration::from_secs(1)).await;
    for (field, needle, hits) in [
        (SearchField::Body, "t7-142 lorem", 1),
        (SearchField::Subject, "test t13-200", 1),
        (SearchField::Text, "no such text", 0),
        (SearchField::Body, "ipsum dolor", n),
    ] {
        let mut samples = Vec::new();
        for _ in 0..50 {
            let t = Instant::now();
            let found = store
                .search_text(a.id, inbox.id, field.clone(), needle)
                .await
                .expect("search");
            samples.push(t.elapsed());
            assert_eq!(found.len(), hits, "{field:?} {needle}");
        }
        println!(
            "search {field:?} {needle:?} ({hits} hits): {}",
            percentiles(samples)
        );
    }

    let report = store.check().await.expect("check");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.entries, n as u64);
}

/// Latency of single deliveries spaced so that the indexer works between
/// them (the spacing is longer than its idle grace), while it catches up on
/// a burst, compared with the same deliveries once it is idle.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "benchmark"]
async fn delivery_latency_while_the_indexer_works() {
    let (_dir, store, a) = open().await;
    burst(&store, a.id).await;
    let spacing = Duration::from_millis(25);
    let one = async |seed: String| {
        let t = Instant::now();
        store
            .deliver(test_message(&seed), vec![to_inbox(a.id)])
            .await
            .expect("deliver")[0]
            .as_ref()
            .expect("delivered");
        t.elapsed()
    };
    let mut busy = Vec::new();
    let started = Instant::now();
    while store.index_backlog().await.expect("backlog") > 0 {
        busy.push(one(format!("busy{}", busy.len())).await);
        tokio::time::sleep(spacing).await;
    }
    let catch_up = started.elapsed();
    let mut idle = Vec::new();
    for i in 0..100 {
        idle.push(one(format!("idle{i}")).await);
        tokio::time::sleep(spacing).await;
    }
    println!(
        "deliveries every {spacing:?} while the indexer catches up on {} ({catch_up:.2?}): {}",
        TASKS * PER_TASK,
        percentiles(busy)
    );
    println!("same, indexer idle: {}", percentiles(idle));
    store.wait_for_index().await.expect("indexed");
    let report = store.check().await.expect("check");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}
