//! Runs the backend conformance suite against [`SqliteStore`], each check
//! on a fresh store in its own temporary directory.

use pillarbox_store::Store;
use pillarbox_store::conformance;
use pillarbox_store::sqlite::SqliteStore;

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Store = SqliteStore::open(dir.path()).expect("open store");
    (dir, store)
}

macro_rules! conformance_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let (_dir, store) = open();
                conformance::$name(store).await;
            }
        )*

        #[test]
        fn every_check_is_run_here() {
            let here = [$(stringify!($name)),*];
            assert_eq!(&here[..], conformance::CHECKS);
        }
    };
}

conformance_tests!(
    domains_are_unique_and_lowercase,
    accounts_get_default_mailboxes,
    invalid_input_is_refused,
    credentials_round_trip,
    aliases_add_remove_list,
    catch_all_is_set_and_cleared,
    message_round_trip,
    uids_are_monotonic,
    uid_validity_is_distinct,
    modseq_strictly_increases,
    concurrent_deliveries_get_distinct_uids,
    expunge_leaves_tombstones,
    blobs_are_deduplicated_and_collected,
    quota_is_enforced_per_target,
    change_feed_is_ordered,
    accounts_are_isolated,
    delete_account_removes_everything,
    check_is_clean,
    mailboxes_are_created_and_deleted,
    rename_moves_children_and_subscriptions,
    rename_inbox_moves_its_messages,
    subscriptions_are_independent_of_mailboxes,
    append_reports_appenduid,
    copy_shares_messages_and_reports_copyuid,
    move_expunges_the_source,
    store_flags_handles_keywords_and_unchangedsince,
    changed_since_and_first_unseen,
    message_ranges_and_headers_are_exact,
    search_text_matches_imap_semantics,
    sort_fields_match_the_summaries,
    queue_items_round_trip,
    queue_stats_count_results,
    dkim_keys_round_trip_and_go_with_their_domain,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_all_passes() {
    let dirs = std::sync::Mutex::new(Vec::new());
    conformance::run_all(|| {
        let (dir, store) = open();
        dirs.lock().expect("lock").push(dir);
        async move { store }
    })
    .await;
}
