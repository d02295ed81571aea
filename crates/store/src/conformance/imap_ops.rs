//! Conformance checks of the message operations IMAP needs: APPEND
//! (RFC 4315 APPENDUID), COPY (COPYUID), MOVE (RFC 6851), STORE with
//! keywords and UNCHANGEDSINCE (RFC 7162 §3.1.3), CHANGEDSINCE, the first
//! unseen entry and the stored counters.

use tokio::sync::broadcast::error::TryRecvError;

use crate::api::*;
use crate::error::ErrorKind;

use super::{
    assert_clean, deliver_one, inbox_of, kind, mailbox_named, setup, test_message, uids_of,
};

fn add(flags: Flags, keywords: &[&str]) -> FlagChange {
    FlagChange {
        op: FlagOp::Add,
        flags,
        keywords: keywords.iter().map(|k| (*k).to_owned()).collect(),
    }
}

async fn used(store: &Store, account: AccountId) -> u64 {
    store
        .account_by_id(account)
        .await
        .expect("get")
        .expect("present")
        .used
}

/// The mailbox's stored counters equal what its entries add up to.
async fn assert_counters(store: &Store, account: AccountId, mailbox: MailboxId) {
    let mb = store
        .mailbox(account, mailbox)
        .await
        .expect("get")
        .expect("present");
    let entries = store.entries(account, mailbox).await.expect("entries");
    let unseen = entries
        .iter()
        .filter(|e| !e.flags.contains(Flags::SEEN))
        .count();
    let deleted = entries
        .iter()
        .filter(|e| e.flags.contains(Flags::DELETED))
        .count();
    let size: u64 = entries.iter().map(|e| e.size).sum();
    assert_eq!(
        (
            mb.exists as usize,
            mb.unseen as usize,
            mb.deleted as usize,
            mb.size
        ),
        (entries.len(), unseen, deleted, size),
        "counters of {}",
        mb.name
    );
}

/// APPEND stores one message with flags, keywords and INTERNALDATE, and
/// reports UIDVALIDITY and UID; refusals (quota, missing mailbox, bad
/// keyword) store nothing.
pub async fn append_reports_appenduid(store: Store) {
    let a = setup(&store, "u@example.org").await;
    let b = setup(&store, "b@example.org").await;
    let drafts = mailbox_named(&store, a.id, "Drafts").await;
    let msg = NewMessage {
        internal_date: 1_600_000_000,
        ..test_message("draft")
    };
    let r = store
        .append(
            a.id,
            drafts.id,
            msg.clone(),
            Flags::DRAFT.union(Flags::SEEN),
            vec!["$Work".into(), "$work".into()],
        )
        .await
        .expect("append");
    assert_eq!(
        (r.mailbox, r.uid_validity, r.uid),
        (drafts.id, drafts.uid_validity, Uid(1))
    );
    assert!(r.modseq > drafts.highest_modseq);
    let entries = store.entries(a.id, drafts.id).await.expect("entries");
    assert_eq!(entries.len(), 1);
    let e = &entries[0];
    assert_eq!((e.uid, e.message, e.modseq), (r.uid, r.message, r.modseq));
    assert_eq!(e.flags, Flags::DRAFT.union(Flags::SEEN));
    assert_eq!(e.keywords, ["$Work"]);
    assert_eq!(e.internal_date, 1_600_000_000);
    assert!(e.saved_date > 0);
    let bytes = store.message_bytes(a.id, r.message).await.expect("bytes");
    assert_eq!(bytes.as_slice(), msg.data.as_slice());
    assert_eq!(
        store
            .mailbox_keywords(a.id, drafts.id)
            .await
            .expect("keywords"),
        ["$Work"]
    );
    let r2 = store
        .append(a.id, drafts.id, test_message("d2"), Flags::EMPTY, vec![])
        .await
        .expect("append");
    assert_eq!(r2.uid, Uid(2));
    assert_counters(&store, a.id, drafts.id).await;

    let size = test_message("x").data.len() as u64;
    store
        .set_quota("u@example.org", Some(used(&store, a.id).await + size - 1))
        .await
        .expect("quota");
    assert_eq!(
        kind(
            store
                .append(a.id, drafts.id, test_message("over"), Flags::EMPTY, vec![])
                .await
        ),
        ErrorKind::QuotaExceeded
    );
    store.set_quota("u@example.org", None).await.expect("quota");
    assert_eq!(
        kind(
            store
                .append(
                    a.id,
                    drafts.id,
                    test_message("k"),
                    Flags::EMPTY,
                    vec!["a b".into()]
                )
                .await
        ),
        ErrorKind::Invalid
    );
    assert_eq!(
        kind(
            store
                .append(
                    a.id,
                    MailboxId(drafts.id.0 + 1000),
                    test_message("k"),
                    Flags::EMPTY,
                    vec![]
                )
                .await
        ),
        ErrorKind::NotFound,
        "the IMAP TRYCREATE case"
    );
    assert_eq!(
        kind(
            store
                .append(b.id, drafts.id, test_message("k"), Flags::EMPTY, vec![])
                .await
        ),
        ErrorKind::NotFound,
        "another account's mailbox"
    );
    let report = assert_clean(&store).await;
    assert_eq!(report.messages, 2, "refused appends store nothing");
    assert_eq!(uids_of(&store, a.id, drafts.id).await, [Uid(1), Uid(2)]);
}

/// COPY adds entries sharing the messages, with flags, keywords and
/// INTERNALDATE, new UIDs and MODSEQs, and reports COPYUID pairs in source
/// order; it counts against the quota and is all-or-nothing.
pub async fn copy_shares_messages_and_reports_copyuid(store: Store) {
    let a = setup(&store, "u@example.org").await;
    let inbox = inbox_of(&store, a.id).await;
    let archive = mailbox_named(&store, a.id, "Archive").await;
    let d: Vec<Delivered> = {
        let mut v = Vec::new();
        for i in 0..4 {
            v.push(deliver_one(&store, a.id, &format!("c{i}")).await);
        }
        v
    };
    store
        .store_flags(
            a.id,
            inbox.id,
            &[d[1].uid],
            add(Flags::FLAGGED, &["Important"]),
            None,
        )
        .await
        .expect("flags");
    // The destination already uses the keyword, spelled differently: its
    // spelling wins.
    store
        .append(
            a.id,
            archive.id,
            test_message("already there"),
            Flags::EMPTY,
            vec!["IMPORTANT".into()],
        )
        .await
        .expect("append");
    let archive = mailbox_named(&store, a.id, "Archive").await;
    let before_used = used(&store, a.id).await;
    let copied = store
        .copy(
            a.id,
            inbox.id,
            &[d[3].uid, d[1].uid, Uid(999), d[1].uid],
            archive.id,
        )
        .await
        .expect("copy");
    assert_eq!(copied.uid_validity, archive.uid_validity);
    assert_eq!(
        copied.uids,
        [(d[1].uid, Uid(2)), (d[3].uid, Uid(3))],
        "source order, missing UIDs ignored"
    );
    let entries = store.entries(a.id, archive.id).await.expect("entries");
    let e1 = &entries[1];
    assert_eq!(e1.message, d[1].message, "the message is shared");
    assert_eq!(e1.flags, Flags::FLAGGED);
    assert_eq!(e1.keywords, ["IMPORTANT"], "destination spelling");
    assert!(e1.modseq > archive.highest_modseq);
    assert!(entries[2].modseq > e1.modseq);
    assert_eq!(entries[2].message, d[3].message);
    assert_eq!(
        used(&store, a.id).await,
        before_used + e1.size + entries[2].size,
        "copies count against the quota"
    );
    let report = assert_clean(&store).await;
    assert_eq!(
        (report.messages, report.blobs),
        (5, 5),
        "nothing duplicated"
    );
    assert_eq!(
        uids_of(&store, a.id, inbox.id).await.len(),
        4,
        "source untouched"
    );
    // Expunging the source leaves the copy readable.
    store
        .expunge(a.id, inbox.id, &[d[1].uid])
        .await
        .expect("expunge");
    let bytes = store.message_bytes(a.id, e1.message).await.expect("bytes");
    assert_eq!(bytes.as_slice(), test_message("c1").data.as_slice());
    // All or nothing under the quota.
    store
        .set_quota("u@example.org", Some(used(&store, a.id).await + e1.size))
        .await
        .expect("quota");
    let all = uids_of(&store, a.id, inbox.id).await;
    assert_eq!(
        kind(store.copy(a.id, inbox.id, &all, archive.id).await),
        ErrorKind::QuotaExceeded
    );
    assert_eq!(uids_of(&store, a.id, archive.id).await.len(), 3);
    store.set_quota("u@example.org", None).await.expect("quota");
    // Copy into the same mailbox gives new UIDs.
    let same = store
        .copy(a.id, inbox.id, &[d[0].uid], inbox.id)
        .await
        .expect("copy to self");
    assert_eq!(same.uids.len(), 1);
    assert!(same.uids[0].1 > d[3].uid);
    let b = setup(&store, "b@example.org").await;
    let inbox_b = inbox_of(&store, b.id).await;
    assert_eq!(
        kind(store.copy(a.id, inbox.id, &all, inbox_b.id).await),
        ErrorKind::NotFound,
        "no copy into another account"
    );
    assert_eq!(
        kind(store.copy(b.id, inbox.id, &all, inbox_b.id).await),
        ErrorKind::NotFound,
        "no copy out of another account"
    );
    assert_counters(&store, a.id, inbox.id).await;
    assert_counters(&store, a.id, archive.id).await;
    assert_clean(&store).await;
}

/// MOVE copies and expunges the sources in one transaction: tombstones in
/// the source, entries in the destination, usage unchanged.
pub async fn move_expunges_the_source(store: Store) {
    let a = setup(&store, "u@example.org").await;
    let inbox = inbox_of(&store, a.id).await;
    let trash = mailbox_named(&store, a.id, "Trash").await;
    let mut uids = Vec::new();
    for i in 0..3 {
        uids.push(deliver_one(&store, a.id, &format!("m{i}")).await.uid);
    }
    store
        .update_flags(a.id, inbox.id, &[uids[0]], Flags::SEEN, Flags::EMPTY)
        .await
        .expect("flags");
    let before_used = used(&store, a.id).await;
    // A full quota does not stop a move.
    store
        .set_quota("u@example.org", Some(before_used))
        .await
        .expect("quota");
    let before = inbox_of(&store, a.id).await.highest_modseq;
    let mut feed = store.subscribe(a.id);
    let moved = store
        .move_messages(a.id, inbox.id, &[uids[0], uids[2], Uid(77)], trash.id)
        .await
        .expect("move");
    assert_eq!(moved.uid_validity, trash.uid_validity);
    assert_eq!(moved.uids, [(uids[0], Uid(1)), (uids[2], Uid(2))]);
    assert_eq!(uids_of(&store, a.id, inbox.id).await, [uids[1]]);
    let vanished = store
        .vanished(a.id, inbox.id, before)
        .await
        .expect("vanished");
    assert_eq!(vanished, [uids[0], uids[2]]);
    let t = store.entries(a.id, trash.id).await.expect("entries");
    assert_eq!(t[0].flags, Flags::SEEN, "flags move along");
    assert_eq!(used(&store, a.id).await, before_used);
    let mut touched = Vec::new();
    loop {
        match feed.try_recv() {
            Ok(c) => touched.push(c.mailbox),
            Err(TryRecvError::Empty) => break,
            Err(e) => panic!("feed: {e}"),
        }
    }
    touched.sort();
    let mut want = vec![inbox.id, trash.id];
    want.sort();
    assert_eq!(touched, want, "both mailboxes are published");
    store.set_quota("u@example.org", None).await.expect("quota");
    // Moving within one mailbox renumbers.
    let within = store
        .move_messages(a.id, inbox.id, &[uids[1]], inbox.id)
        .await
        .expect("move to self");
    assert_eq!(uids_of(&store, a.id, inbox.id).await, [within.uids[0].1]);
    assert_counters(&store, a.id, inbox.id).await;
    assert_counters(&store, a.id, trash.id).await;
    let report = assert_clean(&store).await;
    assert_eq!(report.messages, 3);
}

/// STORE on flags and keywords: add, remove, replace; keywords compared
/// case-insensitively and listed per mailbox; UNCHANGEDSINCE reports
/// MODIFIED without touching those entries; no-ops change nothing.
pub async fn store_flags_handles_keywords_and_unchangedsince(store: Store) {
    let a = setup(&store, "u@example.org").await;
    let inbox = inbox_of(&store, a.id).await;
    let mut uids = Vec::new();
    for i in 0..3 {
        uids.push(deliver_one(&store, a.id, &format!("s{i}")).await.uid);
    }
    let r = store
        .store_flags(
            a.id,
            inbox.id,
            &uids,
            add(Flags::SEEN, &["$Forwarded", "Work"]),
            None,
        )
        .await
        .expect("add");
    assert_eq!(r.changed.len(), 3);
    assert!(r.modified.is_empty());
    assert!(
        r.changed
            .iter()
            .all(|e| e.keywords == ["$Forwarded", "Work"])
    );
    let after_add = inbox_of(&store, a.id).await.highest_modseq;
    assert_eq!(r.changed[2].modseq, after_add);
    // Same keywords in another case: no change, no MODSEQ.
    let r = store
        .store_flags(a.id, inbox.id, &uids, add(Flags::SEEN, &["work"]), None)
        .await
        .expect("no-op");
    assert!(r.changed.is_empty());
    assert_eq!(inbox_of(&store, a.id).await.highest_modseq, after_add);
    let r = store
        .store_flags(
            a.id,
            inbox.id,
            &[uids[0]],
            FlagChange {
                op: FlagOp::Remove,
                flags: Flags::SEEN,
                keywords: vec!["WORK".into()],
            },
            None,
        )
        .await
        .expect("remove");
    assert_eq!(r.changed.len(), 1);
    assert_eq!(r.changed[0].flags, Flags::EMPTY);
    assert_eq!(r.changed[0].keywords, ["$Forwarded"]);
    let r = store
        .store_flags(
            a.id,
            inbox.id,
            &[uids[1]],
            FlagChange {
                op: FlagOp::Replace,
                flags: Flags::ANSWERED.union(Flags::DELETED),
                keywords: vec!["new".into()],
            },
            None,
        )
        .await
        .expect("replace");
    assert_eq!(r.changed[0].flags, Flags::ANSWERED.union(Flags::DELETED));
    assert_eq!(r.changed[0].keywords, ["new"]);
    let entries = store.entries(a.id, inbox.id).await.expect("entries");
    assert_eq!(entries[1].keywords, ["new"], "stored");
    assert_eq!(entries[1].modseq, r.changed[0].modseq);
    assert_eq!(
        store
            .mailbox_keywords(a.id, inbox.id)
            .await
            .expect("keywords"),
        ["$Forwarded", "Work", "new"],
        "every keyword used, first spelling, first-use order"
    );
    assert_counters(&store, a.id, inbox.id).await;

    // RFC 7162 §3.1.3: uids[1] changed after `after_add`, the others did not
    // (uids[0] did too).
    let r = store
        .store_flags(
            a.id,
            inbox.id,
            &uids,
            add(Flags::FLAGGED, &[]),
            Some(after_add),
        )
        .await
        .expect("conditional store");
    assert_eq!(r.modified, [uids[0], uids[1]]);
    assert_eq!(r.changed.len(), 1);
    assert_eq!(r.changed[0].uid, uids[2]);
    let entries = store.entries(a.id, inbox.id).await.expect("entries");
    assert!(
        !entries[0].flags.contains(Flags::FLAGGED),
        "guarded entry untouched"
    );
    let r = store
        .store_flags(
            a.id,
            inbox.id,
            &uids,
            add(Flags::DRAFT, &[]),
            Some(ModSeq(0)),
        )
        .await
        .expect("UNCHANGEDSINCE 0");
    assert_eq!(r.modified, uids, "UNCHANGEDSINCE 0 always fails");
    assert!(r.changed.is_empty());
    assert_eq!(
        kind(
            store
                .store_flags(a.id, inbox.id, &uids, add(Flags::EMPTY, &["bad kw"]), None)
                .await
        ),
        ErrorKind::Invalid
    );
    let b = setup(&store, "b@example.org").await;
    assert_eq!(
        kind(
            store
                .store_flags(b.id, inbox.id, &uids, add(Flags::SEEN, &[]), None)
                .await
        ),
        ErrorKind::NotFound
    );
    assert_eq!(
        kind(store.mailbox_keywords(b.id, inbox.id).await),
        ErrorKind::NotFound
    );
    assert_clean(&store).await;
}

/// CHANGEDSINCE lists the entries changed after a MODSEQ; the first
/// unseen entry comes with its sequence number; counters track flags.
pub async fn changed_since_and_first_unseen(store: Store) {
    let a = setup(&store, "u@example.org").await;
    let inbox = inbox_of(&store, a.id).await;
    assert_eq!(
        store.first_unseen(a.id, inbox.id).await.expect("unseen"),
        None
    );
    let mut uids = Vec::new();
    for i in 0..5 {
        uids.push(deliver_one(&store, a.id, &format!("u{i}")).await.uid);
    }
    let mark = inbox_of(&store, a.id).await.highest_modseq;
    assert!(
        store
            .entries_changed_since(a.id, inbox.id, mark)
            .await
            .expect("changed")
            .is_empty()
    );
    let all = store
        .entries_changed_since(a.id, inbox.id, ModSeq(0))
        .await
        .expect("changed");
    assert_eq!(all.len(), 5);
    store
        .update_flags(
            a.id,
            inbox.id,
            &[uids[0], uids[1], uids[3]],
            Flags::SEEN,
            Flags::EMPTY,
        )
        .await
        .expect("flags");
    let changed: Vec<Uid> = store
        .entries_changed_since(a.id, inbox.id, mark)
        .await
        .expect("changed")
        .iter()
        .map(|e| e.uid)
        .collect();
    assert_eq!(changed, [uids[0], uids[1], uids[3]], "UID order");
    assert_eq!(
        store.first_unseen(a.id, inbox.id).await.expect("unseen"),
        Some(FirstUnseen {
            seq: 3,
            uid: uids[2]
        })
    );
    store
        .expunge(a.id, inbox.id, &[uids[0]])
        .await
        .expect("expunge");
    assert_eq!(
        store.first_unseen(a.id, inbox.id).await.expect("unseen"),
        Some(FirstUnseen {
            seq: 2,
            uid: uids[2]
        }),
        "sequence numbers follow expunges"
    );
    store
        .update_flags(
            a.id,
            inbox.id,
            &uids,
            Flags::SEEN.union(Flags::DELETED),
            Flags::EMPTY,
        )
        .await
        .expect("flags");
    assert_eq!(
        store.first_unseen(a.id, inbox.id).await.expect("unseen"),
        None
    );
    let mb = inbox_of(&store, a.id).await;
    assert_eq!((mb.exists, mb.unseen, mb.deleted), (4, 0, 4));
    assert_counters(&store, a.id, inbox.id).await;
    let b = setup(&store, "b@example.org").await;
    assert_eq!(
        kind(store.first_unseen(b.id, inbox.id).await),
        ErrorKind::NotFound
    );
    assert_eq!(
        kind(store.entries_changed_since(b.id, inbox.id, ModSeq(0)).await),
        ErrorKind::NotFound
    );
}
