//! Conformance checks of mailbox management: CREATE, DELETE, RENAME
//! (RFC 9051 §6.3.4–6.3.6), subscriptions (§6.3.7–6.3.8) and special-use
//! (RFC 6154).

use std::collections::HashSet;

use tokio::sync::broadcast::error::TryRecvError;

use crate::api::*;
use crate::error::ErrorKind;

use super::{
    assert_clean, deliver_one, deliver_to, inbox_of, kind, mailbox_named as by_name, setup, uids_of,
};

async fn names_of(store: &Store, account: AccountId) -> Vec<String> {
    let mut names: Vec<String> = store
        .list_mailboxes(account)
        .await
        .expect("list")
        .into_iter()
        .map(|m| m.name)
        .collect();
    names.sort();
    names
}

/// CREATE makes an empty, unsubscribed mailbox with a fresh UIDVALIDITY;
/// existing names (INBOX in any case) conflict; implied parents are not
/// created; DELETE removes the mailbox and its messages but not its
/// children, refuses INBOX, and a re-created name never reuses UIDVALIDITY.
pub async fn mailboxes_are_created_and_deleted(store: Store) {
    let a = setup(&store, "u@example.org").await;
    let b = setup(&store, "b@example.org").await;
    let before: HashSet<UidValidity> = store
        .list_mailboxes(a.id)
        .await
        .expect("list")
        .iter()
        .map(|m| m.uid_validity)
        .collect();
    let work = store
        .create_mailbox(a.id, "Work/2024", Some(SpecialUse::Archive))
        .await
        .expect("create");
    assert_eq!(work.name, "Work/2024");
    assert_eq!(work.special_use, Some(SpecialUse::Archive));
    assert_eq!((work.exists, work.unseen, work.size), (0, 0, 0));
    assert_eq!(work.uid_next, Uid(1));
    assert!(!work.subscribed, "CREATE does not subscribe");
    assert!(!before.contains(&work.uid_validity));
    assert_eq!(by_name(&store, a.id, "Work/2024").await.id, work.id);
    assert_eq!(
        store.mailbox_by_name(a.id, "Work").await.expect("lookup"),
        None,
        "implied parents are not created"
    );
    let unicode = store
        .create_mailbox(a.id, "Été/Ünïcode", None)
        .await
        .expect("UTF-8 names");
    assert_eq!(unicode.name, "Été/Ünïcode");
    for existing in ["Work/2024", "INBOX", "inbox", "Sent"] {
        assert_eq!(
            kind(store.create_mailbox(a.id, existing, None).await),
            ErrorKind::Conflict,
            "{existing}"
        );
    }
    let inbox_child = store
        .create_mailbox(a.id, "inbox/Sub", None)
        .await
        .expect("create below INBOX");
    assert_eq!(inbox_child.name, "INBOX/Sub");
    for bad in ["", "a//b", "/a", "a/", "a*", "%", "x\u{7}"] {
        assert_eq!(
            kind(store.create_mailbox(a.id, bad, None).await),
            ErrorKind::Invalid,
            "{bad:?}"
        );
    }
    assert_eq!(
        kind(
            store
                .create_mailbox(AccountId(a.id.0 + 1000), "X", None)
                .await
        ),
        ErrorKind::NotFound
    );
    // The same name in another account is another mailbox.
    let other = store
        .create_mailbox(b.id, "Work/2024", None)
        .await
        .expect("create");
    assert_ne!(other.id, work.id);

    // A parent created after its child is a real mailbox.
    let parent = store
        .create_mailbox(a.id, "Work", None)
        .await
        .expect("create");
    for i in 0..3 {
        deliver_to(&store, a.id, parent.id, &format!("p{i}")).await;
    }
    deliver_to(&store, a.id, work.id, "child").await;
    let mut feed = store.subscribe(a.id);
    let highest = by_name(&store, a.id, "Work").await.highest_modseq;
    let used = store
        .account_by_id(a.id)
        .await
        .expect("get")
        .expect("present")
        .used;
    store.delete_mailbox(a.id, "Work").await.expect("delete");
    let change = feed.try_recv().expect("DELETE is published");
    assert_eq!((change.mailbox, change.account), (parent.id, a.id));
    assert!(change.modseq > highest);
    assert!(matches!(feed.try_recv(), Err(TryRecvError::Empty)));
    assert_eq!(store.mailbox(a.id, parent.id).await.expect("lookup"), None);
    assert_eq!(
        kind(store.entries(a.id, parent.id).await),
        ErrorKind::NotFound
    );
    assert_eq!(
        by_name(&store, a.id, "Work/2024").await.exists,
        1,
        "children stay"
    );
    let acc = store
        .account_by_id(a.id)
        .await
        .expect("get")
        .expect("present");
    assert!(acc.used < used, "deleted messages no longer count");
    let report = assert_clean(&store).await;
    assert_eq!(
        report.messages, 1,
        "the deleted mailbox's messages are gone"
    );
    // Re-created: a new id and a larger UIDVALIDITY; UIDs start again.
    let again = store
        .create_mailbox(a.id, "Work", None)
        .await
        .expect("re-create");
    assert_ne!(again.id, parent.id);
    assert!(again.uid_validity > parent.uid_validity);
    assert_eq!(
        store
            .vanished(a.id, again.id, ModSeq(0))
            .await
            .expect("vanished"),
        Vec::<Uid>::new()
    );

    for name in ["INBOX", "Inbox"] {
        assert_eq!(
            kind(store.delete_mailbox(a.id, name).await),
            ErrorKind::Invalid
        );
    }
    assert_eq!(
        kind(store.delete_mailbox(a.id, "Nope").await),
        ErrorKind::NotFound
    );
    assert_eq!(
        kind(store.delete_mailbox(b.id, "Été/Ünïcode").await),
        ErrorKind::NotFound,
        "another account's mailbox"
    );
    assert!(
        store
            .mailbox(a.id, unicode.id)
            .await
            .expect("get")
            .is_some()
    );
    // Special-use mailboxes can be deleted too.
    store.delete_mailbox(a.id, "Junk").await.expect("delete");
    assert!(!names_of(&store, a.id).await.contains(&"Junk".to_owned()));
    assert_clean(&store).await;
}

/// RENAME keeps the mailbox (id, UIDVALIDITY, entries), renames every
/// mailbox below it and the matching subscriptions, and refuses existing
/// targets and moves below itself.
pub async fn rename_moves_children_and_subscriptions(store: Store) {
    let a = setup(&store, "u@example.org").await;
    for name in ["a", "a/x", "a/x/y", "ab"] {
        store
            .create_mailbox(a.id, name, None)
            .await
            .expect("create");
    }
    store.set_subscribed(a.id, "a/x", true).await.expect("sub");
    store
        .set_subscribed(a.id, "a/only-subscribed", true)
        .await
        .expect("sub");
    let d = deliver_to(&store, a.id, by_name(&store, a.id, "a/x").await.id, "kept").await;
    let ax = by_name(&store, a.id, "a/x").await;
    let renamed = store
        .rename_mailbox(a.id, "a", "b/c")
        .await
        .expect("rename");
    assert_eq!(renamed.name, "b/c");
    let moved = by_name(&store, a.id, "b/c/x").await;
    assert_eq!(
        (
            moved.id,
            moved.uid_validity,
            moved.uid_next,
            moved.highest_modseq
        ),
        (ax.id, ax.uid_validity, ax.uid_next, ax.highest_modseq),
        "a rename keeps the mailbox"
    );
    assert_eq!(uids_of(&store, a.id, moved.id).await, [d.uid]);
    assert!(moved.subscribed);
    let names = names_of(&store, a.id).await;
    for gone in ["a", "a/x", "a/x/y"] {
        assert!(!names.contains(&gone.to_owned()), "{gone} renamed");
    }
    for present in ["b/c", "b/c/x", "b/c/x/y", "ab"] {
        assert!(names.contains(&present.to_owned()), "{present} present");
    }
    let subs = store.list_subscriptions(a.id).await.expect("subs");
    assert!(subs.contains(&"b/c/x".to_owned()));
    assert!(subs.contains(&"b/c/only-subscribed".to_owned()));
    assert!(!subs.iter().any(|s| s.starts_with("a/")));

    assert_eq!(
        kind(store.rename_mailbox(a.id, "ab", "b/c/x").await),
        ErrorKind::Conflict
    );
    assert_eq!(
        kind(store.rename_mailbox(a.id, "ab", "Sent").await),
        ErrorKind::Conflict
    );
    assert_eq!(
        kind(store.rename_mailbox(a.id, "ab", "inbox").await),
        ErrorKind::Conflict
    );
    assert_eq!(
        kind(store.rename_mailbox(a.id, "nope", "zz").await),
        ErrorKind::NotFound
    );
    assert_eq!(
        kind(store.rename_mailbox(a.id, "b/c", "b/c/d").await),
        ErrorKind::Invalid,
        "below itself"
    );
    assert_eq!(
        kind(store.rename_mailbox(a.id, "ab", "bad//name").await),
        ErrorKind::Invalid
    );
    // A child's new name must be free as well.
    store
        .create_mailbox(a.id, "q/x", None)
        .await
        .expect("create");
    assert_eq!(
        kind(store.rename_mailbox(a.id, "b/c", "q").await),
        ErrorKind::Conflict
    );
    // New names may be old names of other renamed mailboxes: p/q -> p with
    // a child p/q/q ending up as p/q.
    store
        .create_mailbox(a.id, "p/q", None)
        .await
        .expect("create");
    let pqq = store
        .create_mailbox(a.id, "p/q/q", None)
        .await
        .expect("create");
    store
        .rename_mailbox(a.id, "p/q", "p")
        .await
        .expect("rename");
    assert_eq!(by_name(&store, a.id, "p/q").await.id, pqq.id);
    assert_clean(&store).await;
}

/// RFC 9051 §6.3.6: renaming INBOX moves its messages into a new mailbox
/// and leaves INBOX empty but in place; INBOX's children are unaffected.
pub async fn rename_inbox_moves_its_messages(store: Store) {
    let a = setup(&store, "u@example.org").await;
    let inbox = inbox_of(&store, a.id).await;
    let child = store
        .create_mailbox(a.id, "INBOX/Child", None)
        .await
        .expect("create");
    let mut delivered = Vec::new();
    for i in 0..3 {
        delivered.push(deliver_one(&store, a.id, &format!("r{i}")).await);
    }
    store
        .store_flags(
            a.id,
            inbox.id,
            &[delivered[0].uid],
            FlagChange {
                op: FlagOp::Add,
                flags: Flags::SEEN,
                keywords: vec!["$Label1".into()],
            },
            None,
        )
        .await
        .expect("flags");
    let used = store
        .account_by_id(a.id)
        .await
        .expect("get")
        .expect("present")
        .used;
    let old = store
        .rename_mailbox(a.id, "inbox", "Old Inbox")
        .await
        .expect("rename INBOX");
    assert_eq!(old.name, "Old Inbox");
    assert_ne!(old.id, inbox.id);
    assert_ne!(old.uid_validity, inbox.uid_validity);
    assert_eq!(old.exists, 3);
    let entries = store.entries(a.id, old.id).await.expect("entries");
    let messages: Vec<MessageId> = entries.iter().map(|e| e.message).collect();
    let want: Vec<MessageId> = delivered.iter().map(|d| d.message).collect();
    assert_eq!(messages, want, "same messages, in order");
    assert_eq!(entries[0].flags, Flags::SEEN);
    assert_eq!(entries[0].keywords, ["$Label1"]);
    let now = inbox_of(&store, a.id).await;
    assert_eq!((now.id, now.uid_validity), (inbox.id, inbox.uid_validity));
    assert_eq!((now.exists, now.size), (0, 0));
    let vanished = store
        .vanished(a.id, inbox.id, ModSeq(0))
        .await
        .expect("vanished");
    let uids: Vec<Uid> = delivered.iter().map(|d| d.uid).collect();
    assert_eq!(vanished, uids, "INBOX sessions see the messages expunged");
    assert_eq!(by_name(&store, a.id, "INBOX/Child").await.id, child.id);
    assert!(
        store
            .mailbox_by_name(a.id, "Old Inbox/Child")
            .await
            .expect("lookup")
            .is_none()
    );
    let acc = store
        .account_by_id(a.id)
        .await
        .expect("get")
        .expect("present");
    assert_eq!(acc.used, used, "a rename does not change usage");
    // New mail goes to the (new, empty) INBOX.
    let d = deliver_one(&store, a.id, "after").await;
    assert_eq!(d.mailbox, inbox.id);
    assert!(d.uid > uids[2], "INBOX UIDs keep growing");
    assert_eq!(
        kind(store.rename_mailbox(a.id, "INBOX", "INBOX/Child").await),
        ErrorKind::Conflict
    );
    assert_clean(&store).await;
}

/// Subscriptions are names kept per account, whether or not a mailbox of
/// that name exists; the default mailboxes start subscribed.
pub async fn subscriptions_are_independent_of_mailboxes(store: Store) {
    let a = setup(&store, "u@example.org").await;
    let b = setup(&store, "b@example.org").await;
    let mut want: Vec<String> = DEFAULT_MAILBOXES
        .iter()
        .map(|(n, _)| (*n).to_owned())
        .collect();
    want.sort();
    assert_eq!(store.list_subscriptions(a.id).await.expect("list"), want);
    assert!(
        store
            .list_mailboxes(a.id)
            .await
            .expect("list")
            .iter()
            .all(|m| m.subscribed)
    );
    store
        .set_subscribed(a.id, "Not/There", true)
        .await
        .expect("subscribe a name without mailbox");
    store
        .set_subscribed(a.id, "Not/There", true)
        .await
        .expect("twice is fine");
    store
        .set_subscribed(a.id, "Sent", false)
        .await
        .expect("unsubscribe");
    store
        .set_subscribed(a.id, "Never", false)
        .await
        .expect("unsubscribing an unknown name is fine");
    let subs = store.list_subscriptions(a.id).await.expect("list");
    assert!(subs.contains(&"Not/There".to_owned()));
    assert!(!subs.contains(&"Sent".to_owned()));
    let mut sorted = subs.clone();
    sorted.sort();
    assert_eq!(subs, sorted, "sorted");
    assert!(!by_name(&store, a.id, "Sent").await.subscribed);
    let made = store
        .create_mailbox(a.id, "Not/There", None)
        .await
        .expect("create");
    assert!(made.subscribed, "the existing subscription applies");
    store
        .delete_mailbox(a.id, "Not/There")
        .await
        .expect("delete");
    assert!(
        store
            .list_subscriptions(a.id)
            .await
            .expect("list")
            .contains(&"Not/There".to_owned()),
        "DELETE keeps the subscription"
    );
    store
        .set_subscribed(a.id, "inbox", false)
        .await
        .expect("unsubscribe INBOX by any case");
    assert!(!inbox_of(&store, a.id).await.subscribed);
    assert_eq!(
        kind(store.set_subscribed(a.id, "a//b", true).await),
        ErrorKind::Invalid
    );
    assert_eq!(
        store.list_subscriptions(b.id).await.expect("list"),
        want,
        "accounts do not share subscriptions"
    );
    store
        .set_special_use(a.id, made.id, Some(SpecialUse::Trash))
        .await
        .expect_err("deleted mailbox");
    let archive = by_name(&store, a.id, "Archive").await;
    store
        .set_special_use(a.id, archive.id, Some(SpecialUse::All))
        .await
        .expect("set");
    assert_eq!(
        by_name(&store, a.id, "Archive").await.special_use,
        Some(SpecialUse::All)
    );
    store
        .set_special_use(a.id, archive.id, None)
        .await
        .expect("clear");
    assert_eq!(by_name(&store, a.id, "Archive").await.special_use, None);
    assert_eq!(
        kind(
            store
                .set_special_use(b.id, archive.id, Some(SpecialUse::Sent))
                .await
        ),
        ErrorKind::NotFound
    );
}
