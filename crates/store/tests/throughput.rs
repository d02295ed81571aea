//! Delivery throughput with group commit: 20 concurrent tasks deliver 4 KiB
//! messages. Ignored by default; run with
//! `cargo test -p pillarbox-store --test throughput -- --ignored --nocapture`.
//! Set `PILLARBOX_BENCH_DIR` to measure on a particular file system.

use std::time::Instant;

use pillarbox_store::conformance::test_message;
use pillarbox_store::sqlite::SqliteStore;
use pillarbox_store::*;

const TASKS: usize = 20;
const PER_TASK: usize = 250;

#[tokio::test(flavor = "multi_thread")]
#[ignore = "benchmark"]
async fn deliveries_per_second_with_20_concurrent_tasks() {
    let dir = match std::env::var_os("PILLARBOX_BENCH_DIR") {
        Some(base) => tempfile::tempdir_in(base),
        None => tempfile::tempdir(),
    }
    .expect("tempdir");
    let store: Store = SqliteStore::open(dir.path()).expect("open");
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
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..TASKS {
        let store = store.clone();
        tasks.spawn(async move {
            for i in 0..PER_TASK {
                let target = DeliveryTarget {
                    account: a.id,
                    mailbox: None,
                    flags: Flags::EMPTY,
                    keywords: Vec::new(),
                };
                let r = store
                    .deliver(test_message(&format!("t{t}-{i}")), vec![target])
                    .await
                    .expect("deliver");
                r[0].as_ref().expect("delivered");
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("task");
    }
    let elapsed = started.elapsed();
    let n = TASKS * PER_TASK;
    println!(
        "{n} deliveries of 4 KiB by {TASKS} tasks in {elapsed:.2?}: {:.0}/s",
        n as f64 / elapsed.as_secs_f64()
    );
    let report = store.check().await.expect("check");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.entries, n as u64);
}
