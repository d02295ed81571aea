//! Backend conformance suite: every [`MailStore`] backend must pass it.
//!
//! Each check is a `pub async fn` taking a fresh, empty [`Store`] and
//! panicking (with a message naming the violated rule) on failure, so a
//! backend's test file can run each one as its own test; [`run_all`] runs
//! them all, opening a fresh store for each. [`CHECKS`] lists their names.
//!
//! The checks only use the public API, and are written from the contract in
//! DESIGN §4 and the RFCs it cites (RFC 9051 UIDs and mailbox commands,
//! RFC 7162 MODSEQs, RFC 6851 MOVE, RFC 4315 UIDPLUS, RFC 6154 special-use,
//! RFC 9051 §6.4.4 text search, RFC 6376 DKIM keys).

use std::future::Future;
use std::sync::Arc;

use crate::api::*;
use crate::error::{ErrorKind, StoreError};

mod accounts;
mod content;
mod dkim;
mod imap_ops;
mod mailboxes;
mod messages;
mod queue;

pub use accounts::*;
pub use content::*;
pub use dkim::*;
pub use imap_ops::*;
pub use mailboxes::*;
pub use messages::*;
pub use queue::*;

/// The names of the checks run by [`run_all`], in order.
pub const CHECKS: &[&str] = &[
    "domains_are_unique_and_lowercase",
    "accounts_get_default_mailboxes",
    "invalid_input_is_refused",
    "credentials_round_trip",
    "aliases_add_remove_list",
    "catch_all_is_set_and_cleared",
    "message_round_trip",
    "uids_are_monotonic",
    "uid_validity_is_distinct",
    "modseq_strictly_increases",
    "concurrent_deliveries_get_distinct_uids",
    "expunge_leaves_tombstones",
    "blobs_are_deduplicated_and_collected",
    "quota_is_enforced_per_target",
    "change_feed_is_ordered",
    "accounts_are_isolated",
    "delete_account_removes_everything",
    "check_is_clean",
    "mailboxes_are_created_and_deleted",
    "rename_moves_children_and_subscriptions",
    "rename_inbox_moves_its_messages",
    "subscriptions_are_independent_of_mailboxes",
    "append_reports_appenduid",
    "copy_shares_messages_and_reports_copyuid",
    "move_expunges_the_source",
    "store_flags_handles_keywords_and_unchangedsince",
    "changed_since_and_first_unseen",
    "message_ranges_and_headers_are_exact",
    "search_text_matches_imap_semantics",
    "sort_fields_match_the_summaries",
    "queue_items_round_trip",
    "queue_stats_count_results",
    "dkim_keys_round_trip_and_go_with_their_domain",
];

/// Runs every check, each on a store returned by `open` (fresh and empty).
pub async fn run_all<F, Fut>(mut open: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Store>,
{
    domains_are_unique_and_lowercase(open().await).await;
    accounts_get_default_mailboxes(open().await).await;
    invalid_input_is_refused(open().await).await;
    credentials_round_trip(open().await).await;
    aliases_add_remove_list(open().await).await;
    catch_all_is_set_and_cleared(open().await).await;
    message_round_trip(open().await).await;
    uids_are_monotonic(open().await).await;
    uid_validity_is_distinct(open().await).await;
    modseq_strictly_increases(open().await).await;
    concurrent_deliveries_get_distinct_uids(open().await).await;
    expunge_leaves_tombstones(open().await).await;
    blobs_are_deduplicated_and_collected(open().await).await;
    quota_is_enforced_per_target(open().await).await;
    change_feed_is_ordered(open().await).await;
    accounts_are_isolated(open().await).await;
    delete_account_removes_everything(open().await).await;
    check_is_clean(open().await).await;
    mailboxes_are_created_and_deleted(open().await).await;
    rename_moves_children_and_subscriptions(open().await).await;
    rename_inbox_moves_its_messages(open().await).await;
    subscriptions_are_independent_of_mailboxes(open().await).await;
    append_reports_appenduid(open().await).await;
    copy_shares_messages_and_reports_copyuid(open().await).await;
    move_expunges_the_source(open().await).await;
    store_flags_handles_keywords_and_unchangedsince(open().await).await;
    changed_since_and_first_unseen(open().await).await;
    message_ranges_and_headers_are_exact(open().await).await;
    search_text_matches_imap_semantics(open().await).await;
    sort_fields_match_the_summaries(open().await).await;
    queue_items_round_trip(open().await).await;
    queue_stats_count_results(open().await).await;
    dkim_keys_round_trip_and_go_with_their_domain(open().await).await;
}

// --- helpers ---

pub(crate) fn creds(tag: &str) -> StoredCredentials {
    StoredCredentials {
        password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1${tag}"),
        scram_sha256: Some(format!("c2FsdA==$4096${tag}$key")),
    }
}

/// A 4 KiB message whose bytes are determined by `seed`.
pub fn test_message(seed: &str) -> NewMessage {
    let mut data = format!(
        "From: Sender <sender@example.net>\r\nTo: rcpt@example.org\r\n\
         Subject: test {seed}\r\nMessage-ID: <{seed}@example.net>\r\n\
         Date: Mon, 7 Feb 1994 21:52:25 -0800\r\n\r\n"
    )
    .into_bytes();
    let line = format!("{seed} lorem ipsum dolor sit amet\r\n");
    while data.len() < 4096 {
        data.extend_from_slice(line.as_bytes());
    }
    data.truncate(4094);
    data.extend_from_slice(b"\r\n");
    NewMessage {
        data: Arc::new(data),
        internal_date: 1_700_000_000,
    }
}

pub(crate) fn to_inbox(account: AccountId) -> DeliveryTarget {
    DeliveryTarget {
        account,
        mailbox: None,
        flags: Flags::EMPTY,
        keywords: Vec::new(),
    }
}

pub(crate) async fn setup(store: &Store, login: &str) -> Account {
    let domain = login.rsplit_once('@').map_or("example.org", |(_, d)| d);
    if store.domain(domain).await.expect("domain lookup").is_none() {
        store.create_domain(domain).await.expect("create domain");
    }
    store
        .create_account(login, creds(login))
        .await
        .expect("create account")
}

pub(crate) async fn inbox_of(store: &Store, account: AccountId) -> Mailbox {
    store
        .mailbox_by_name(account, "INBOX")
        .await
        .expect("mailbox lookup")
        .expect("INBOX exists")
}

pub(crate) async fn deliver_one(store: &Store, account: AccountId, seed: &str) -> Delivered {
    let mut results = store
        .deliver(test_message(seed), vec![to_inbox(account)])
        .await
        .expect("deliver");
    assert_eq!(results.len(), 1, "one result per target");
    results.remove(0).expect("delivery to the target")
}

/// Delivers `test_message(seed)` into one mailbox of `account`.
pub(crate) async fn deliver_to(
    store: &Store,
    account: AccountId,
    mailbox: MailboxId,
    seed: &str,
) -> Delivered {
    let target = DeliveryTarget {
        mailbox: Some(mailbox),
        ..to_inbox(account)
    };
    let mut results = store
        .deliver(test_message(seed), vec![target])
        .await
        .expect("deliver");
    results.remove(0).expect("delivery to the mailbox")
}

pub(crate) async fn mailbox_named(store: &Store, account: AccountId, name: &str) -> Mailbox {
    store
        .mailbox_by_name(account, name)
        .await
        .expect("mailbox lookup")
        .unwrap_or_else(|| panic!("mailbox {name} exists"))
}

/// The UIDs of a mailbox, ascending.
pub(crate) async fn uids_of(store: &Store, account: AccountId, mailbox: MailboxId) -> Vec<Uid> {
    store
        .entries(account, mailbox)
        .await
        .expect("entries")
        .iter()
        .map(|e| e.uid)
        .collect()
}

pub(crate) fn kind<T: std::fmt::Debug>(r: Result<T, StoreError>) -> ErrorKind {
    r.expect_err("operation must fail").kind()
}

pub(crate) async fn assert_clean(store: &Store) -> CheckReport {
    let report = store.check().await.expect("check");
    assert!(
        report.problems.is_empty(),
        "check found problems: {:#?}",
        report.problems
    );
    report
}
