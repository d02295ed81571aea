//! Conformance checks of messages: UIDs, MODSEQs, expunge, blobs, quota,
//! the change feed and account isolation.

use std::collections::HashSet;

use tokio::sync::broadcast::error::TryRecvError;

use crate::api::*;
use crate::error::{ErrorKind, StoreError};

use super::{assert_clean, deliver_one, inbox_of, kind, setup, test_message, to_inbox};

/// Delivered bytes, flags, keywords, dates and summary come back exactly.
pub async fn message_round_trip(store: Store) {
    let a = setup(&store, "u@example.org").await;
    let sent = store
        .mailbox_by_name(a.id, "Sent")
        .await
        .expect("lookup")
        .expect("Sent exists");
    let msg = test_message("round-trip");
    let target = DeliveryTarget {
        account: a.id,
        mailbox: Some(sent.id),
        flags: Flags::SEEN.union(Flags::FLAGGED),
        keywords: vec!["$Forwarded".into(), "Work".into()],
    };
    let d = store
        .deliver(msg.clone(), vec![target])
        .await
        .expect("deliver")
        .remove(0)
        .expect("delivered");
    assert_eq!((d.mailbox, d.uid), (sent.id, Uid(1)));
    let bytes = store.message_bytes(a.id, d.message).await.expect("bytes");
    assert_eq!(bytes.as_slice(), msg.data.as_slice());
    let entries = store.entries(a.id, sent.id).await.expect("entries");
    assert_eq!(entries.len(), 1);
    let e = &entries[0];
    assert_eq!((e.uid, e.message, e.modseq), (d.uid, d.message, d.modseq));
    assert_eq!(e.flags, Flags::SEEN.union(Flags::FLAGGED));
    assert_eq!(e.keywords, ["$Forwarded", "Work"]);
    assert_eq!(e.size, msg.data.len() as u64);
    assert_eq!(e.internal_date, msg.internal_date);
    assert!(e.saved_date > 0);
    let summary = store.summary(a.id, d.message).await.expect("summary");
    assert_eq!(summary.subject.as_deref(), Some("test round-trip"));
    assert_eq!(
        summary.message_id.as_deref(),
        Some("round-trip@example.net")
    );
    assert_eq!(summary.date, Some(760_686_745));
    let header = &msg.data[..summary.header_len as usize];
    assert!(header.ends_with(b"\r\n\r\n"));
    let mb = store
        .mailbox(a.id, sent.id)
        .await
        .expect("get")
        .expect("present");
    assert_eq!(
        (mb.exists, mb.unseen, mb.size),
        (1, 0, msg.data.len() as u64)
    );
    let acc = store
        .account_by_id(a.id)
        .await
        .expect("get")
        .expect("present");
    assert_eq!(acc.used, msg.data.len() as u64);
    assert_eq!(
        kind(
            store
                .message_bytes(a.id, MessageId(d.message.0 + 1000))
                .await
        ),
        ErrorKind::NotFound
    );
    assert!(
        store
            .deliver(test_message("none"), Vec::new())
            .await
            .expect("empty")
            .is_empty()
    );
    let missing = DeliveryTarget {
        mailbox: Some(MailboxId(sent.id.0 + 1000)),
        ..to_inbox(a.id)
    };
    let r = store
        .deliver(test_message("x"), vec![missing])
        .await
        .expect("deliver");
    assert_eq!(
        r[0].as_ref().map_err(StoreError::kind).err(),
        Some(ErrorKind::NotFound)
    );
    let r = store
        .deliver(test_message("x"), vec![to_inbox(AccountId(a.id.0 + 1000))])
        .await
        .expect("deliver");
    assert_eq!(
        r[0].as_ref().map_err(StoreError::kind).err(),
        Some(ErrorKind::NotFound)
    );
    assert_clean(&store).await;
}

/// UIDs grow by delivery and are never reused, even after expunging the
/// highest one (RFC 9051 §2.3.1.1).
pub async fn uids_are_monotonic(store: Store) {
    let a = setup(&store, "u@example.org").await;
    let mut last = 0;
    for i in 0..3 {
        let d = deliver_one(&store, a.id, &format!("m{i}")).await;
        assert!(d.uid.0 > last, "UID {} after {last}", d.uid);
        last = d.uid.0;
    }
    let inbox = inbox_of(&store, a.id).await;
    assert_eq!(inbox.uid_next, Uid(last + 1));
    let removed = store
        .expunge(a.id, inbox.id, &[Uid(last)])
        .await
        .expect("expunge");
    assert_eq!(removed, [Uid(last)]);
    let d = deliver_one(&store, a.id, "after").await;
    assert!(d.uid.0 > last, "UID {} reused after expunge", d.uid);
    let uids: Vec<Uid> = store
        .entries(a.id, inbox.id)
        .await
        .expect("entries")
        .iter()
        .map(|e| e.uid)
        .collect();
    assert_eq!(uids, [Uid(1), Uid(2), d.uid]);
    let mb = inbox_of(&store, a.id).await;
    assert_eq!(
        mb.uid_validity, inbox.uid_validity,
        "UIDVALIDITY must not change"
    );
    assert!(mb.uid_next.0 > d.uid.0);
}

/// Every mailbox has a non-zero UIDVALIDITY, distinct from every other
/// mailbox's, including those of a re-created account.
pub async fn uid_validity_is_distinct(store: Store) {
    let a = setup(&store, "a@example.org").await;
    let b = setup(&store, "b@example.org").await;
    let mut seen = HashSet::new();
    for acc in [a.id, b.id] {
        for m in store.list_mailboxes(acc).await.expect("list") {
            assert_ne!(m.uid_validity.0, 0);
            assert!(
                seen.insert(m.uid_validity),
                "UIDVALIDITY {} repeated",
                m.uid_validity
            );
        }
    }
    store.delete_account("a@example.org").await.expect("delete");
    let a2 = setup(&store, "a@example.org").await;
    for m in store.list_mailboxes(a2.id).await.expect("list") {
        assert!(
            seen.insert(m.uid_validity),
            "re-created mailbox {} reuses UIDVALIDITY {}",
            m.name,
            m.uid_validity
        );
    }
}

/// Every change (append, flag change, expunge) gets a MODSEQ larger than
/// every earlier one in the mailbox (RFC 7162 §3.1).
pub async fn modseq_strictly_increases(store: Store) {
    let a = setup(&store, "u@example.org").await;
    let inbox = inbox_of(&store, a.id).await;
    let mut last = inbox.highest_modseq;
    let d1 = deliver_one(&store, a.id, "one").await;
    assert!(d1.modseq > last);
    last = d1.modseq;
    let d2 = deliver_one(&store, a.id, "two").await;
    assert!(d2.modseq > last);
    last = d2.modseq;
    let changed = store
        .update_flags(a.id, inbox.id, &[d1.uid, d2.uid], Flags::SEEN, Flags::EMPTY)
        .await
        .expect("flags");
    assert_eq!(changed.len(), 2);
    let mut modseqs: Vec<ModSeq> = changed.iter().map(|e| e.modseq).collect();
    for m in &modseqs {
        assert!(*m > last, "flag change MODSEQ {m} not above {last}");
    }
    modseqs.sort();
    modseqs.dedup();
    last = *modseqs.last().expect("two entries");
    let mb = inbox_of(&store, a.id).await;
    assert_eq!(mb.highest_modseq, last, "HIGHESTMODSEQ is the last change");
    assert_eq!(mb.unseen, 0);
    // A no-op flag change changes nothing and bumps nothing.
    let unchanged = store
        .update_flags(a.id, inbox.id, &[d1.uid], Flags::SEEN, Flags::EMPTY)
        .await
        .expect("flags");
    assert!(unchanged.is_empty());
    assert_eq!(inbox_of(&store, a.id).await.highest_modseq, last);
    let changed = store
        .update_flags(a.id, inbox.id, &[d1.uid], Flags::DELETED, Flags::SEEN)
        .await
        .expect("flags");
    assert_eq!(changed[0].flags, Flags::DELETED);
    assert!(changed[0].modseq > last);
    last = changed[0].modseq;
    let entries = store.entries(a.id, inbox.id).await.expect("entries");
    assert_eq!(entries[0].modseq, last, "the entry keeps its new MODSEQ");
    store
        .expunge(a.id, inbox.id, &[d1.uid])
        .await
        .expect("expunge");
    let mb = inbox_of(&store, a.id).await;
    assert!(mb.highest_modseq > last, "expunge bumps HIGHESTMODSEQ");
    assert_eq!((mb.exists, mb.unseen), (1, 0));
}

/// 64 concurrent deliveries into one mailbox all succeed with distinct UIDs.
pub async fn concurrent_deliveries_get_distinct_uids(store: Store) {
    const N: u32 = 64;
    let a = setup(&store, "u@example.org").await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..N {
        let store = store.clone();
        tasks.spawn(async move { deliver_one(&store, a.id, &format!("c{i}")).await });
    }
    let mut uids = HashSet::new();
    let mut modseqs = HashSet::new();
    while let Some(d) = tasks.join_next().await {
        let d = d.expect("delivery task");
        assert!(uids.insert(d.uid), "UID {} given twice", d.uid);
        assert!(modseqs.insert(d.modseq), "MODSEQ {} given twice", d.modseq);
    }
    let inbox = inbox_of(&store, a.id).await;
    let entries = store.entries(a.id, inbox.id).await.expect("entries");
    assert_eq!(entries.len(), N as usize);
    assert_eq!(inbox.exists, N);
    assert_eq!(inbox.uid_next, Uid(N + 1));
    assert!(entries.iter().all(|e| uids.contains(&e.uid)));
    assert_clean(&store).await;
}

/// Expunge removes entries, reports only what it removed, and leaves
/// tombstones reported by `vanished` (RFC 7162 §3.2.10).
pub async fn expunge_leaves_tombstones(store: Store) {
    let a = setup(&store, "u@example.org").await;
    let inbox = inbox_of(&store, a.id).await;
    let mut uids = Vec::new();
    for i in 0..4 {
        uids.push(deliver_one(&store, a.id, &format!("t{i}")).await.uid);
    }
    let before = inbox_of(&store, a.id).await.highest_modseq;
    let removed = store
        .expunge(a.id, inbox.id, &[uids[1], uids[3], Uid(999), uids[1]])
        .await
        .expect("expunge");
    assert_eq!(removed, [uids[1], uids[3]]);
    assert_eq!(
        store
            .vanished(a.id, inbox.id, ModSeq(0))
            .await
            .expect("vanished"),
        removed
    );
    assert_eq!(
        store
            .vanished(a.id, inbox.id, before)
            .await
            .expect("vanished"),
        removed
    );
    let after = inbox_of(&store, a.id).await.highest_modseq;
    assert!(after > before);
    assert!(
        store
            .vanished(a.id, inbox.id, after)
            .await
            .expect("vanished")
            .is_empty()
    );
    let again = store
        .expunge(a.id, inbox.id, &[uids[1]])
        .await
        .expect("expunge");
    assert!(again.is_empty(), "expunging a missing UID removes nothing");
    assert_eq!(inbox_of(&store, a.id).await.highest_modseq, after);
    let left: Vec<Uid> = store
        .entries(a.id, inbox.id)
        .await
        .expect("entries")
        .iter()
        .map(|e| e.uid)
        .collect();
    assert_eq!(left, [uids[0], uids[2]]);
    assert_clean(&store).await;
}

/// Identical bodies are stored once; a body and its messages disappear when
/// the last entry referring to them is expunged.
pub async fn blobs_are_deduplicated_and_collected(store: Store) {
    let a = setup(&store, "a@example.org").await;
    let b = setup(&store, "b@example.org").await;
    let d1 = deliver_one(&store, a.id, "same").await;
    let d2 = deliver_one(&store, a.id, "same").await;
    let report = assert_clean(&store).await;
    assert_eq!((report.entries, report.messages, report.blobs), (2, 2, 1));
    // One delivery to two accounts shares one message.
    let shared = store
        .deliver(test_message("shared"), vec![to_inbox(a.id), to_inbox(b.id)])
        .await
        .expect("deliver");
    let sa = shared[0].as_ref().expect("delivered to a").clone();
    let sb = shared[1].as_ref().expect("delivered to b").clone();
    assert_eq!(sa.message, sb.message);
    let report = assert_clean(&store).await;
    assert_eq!((report.entries, report.messages, report.blobs), (4, 3, 2));
    let inbox_a = inbox_of(&store, a.id).await;
    store
        .expunge(a.id, inbox_a.id, &[d1.uid])
        .await
        .expect("expunge");
    let report = assert_clean(&store).await;
    assert_eq!(
        (report.messages, report.blobs),
        (2, 2),
        "blob still used by d2"
    );
    let bytes = store.message_bytes(a.id, d2.message).await.expect("bytes");
    assert_eq!(bytes.as_slice(), test_message("same").data.as_slice());
    store
        .expunge(a.id, inbox_a.id, &[d2.uid, sa.uid])
        .await
        .expect("expunge");
    let report = assert_clean(&store).await;
    assert_eq!((report.entries, report.messages, report.blobs), (1, 1, 1));
    let bytes = store
        .message_bytes(b.id, sb.message)
        .await
        .expect("b still reads");
    assert_eq!(bytes.as_slice(), test_message("shared").data.as_slice());
    let inbox_b = inbox_of(&store, b.id).await;
    store
        .expunge(b.id, inbox_b.id, &[sb.uid])
        .await
        .expect("expunge");
    let report = assert_clean(&store).await;
    assert_eq!((report.entries, report.messages, report.blobs), (0, 0, 0));
}

/// An over-quota target fails alone with `QuotaExceeded`; used bytes follow
/// deliveries and expunges.
pub async fn quota_is_enforced_per_target(store: Store) {
    let a = setup(&store, "a@example.org").await;
    let b = setup(&store, "b@example.org").await;
    let size = test_message("q").data.len() as u64;
    store
        .set_quota("a@example.org", Some(2 * size + 10))
        .await
        .expect("quota");
    deliver_one(&store, a.id, "q1").await;
    deliver_one(&store, a.id, "q2").await;
    let results = store
        .deliver(test_message("q3"), vec![to_inbox(a.id), to_inbox(b.id)])
        .await
        .expect("deliver");
    assert!(
        matches!(results[0], Err(StoreError::QuotaExceeded)),
        "{results:?}"
    );
    assert!(results[1].is_ok(), "the other target still gets it");
    let acc = store
        .account_by_id(a.id)
        .await
        .expect("get")
        .expect("present");
    assert_eq!(acc.used, 2 * size);
    let acc_b = store
        .account_by_id(b.id)
        .await
        .expect("get")
        .expect("present");
    assert_eq!(acc_b.used, size);
    assert_eq!(inbox_of(&store, a.id).await.exists, 2);
    let results = store
        .deliver(test_message("q4"), vec![to_inbox(a.id)])
        .await
        .expect("deliver");
    assert!(matches!(results[0], Err(StoreError::QuotaExceeded)));
    let report = assert_clean(&store).await;
    assert_eq!(
        report.messages, 3,
        "a fully rejected delivery stores nothing"
    );
    let inbox_a = inbox_of(&store, a.id).await;
    let uids: Vec<Uid> = store
        .entries(a.id, inbox_a.id)
        .await
        .expect("entries")
        .iter()
        .map(|e| e.uid)
        .collect();
    store
        .expunge(a.id, inbox_a.id, &uids)
        .await
        .expect("expunge");
    let acc = store
        .account_by_id(a.id)
        .await
        .expect("get")
        .expect("present");
    assert_eq!(acc.used, 0, "used bytes return to 0");
    deliver_one(&store, a.id, "fits again").await;
    store.set_quota("a@example.org", None).await.expect("quota");
    for i in 0..3 {
        deliver_one(&store, a.id, &format!("unlimited{i}")).await;
    }
    assert_clean(&store).await;
}

/// The change feed carries each committed change of the account, in
/// commit order, with the mailbox's MODSEQ after the change.
pub async fn change_feed_is_ordered(store: Store) {
    let a = setup(&store, "a@example.org").await;
    let b = setup(&store, "b@example.org").await;
    let mut feed = store.subscribe(a.id);
    let mut other = store.subscribe(b.id);
    let inbox = inbox_of(&store, a.id).await;
    let d1 = deliver_one(&store, a.id, "f1").await;
    let d2 = deliver_one(&store, a.id, "f2").await;
    let flagged = store
        .update_flags(a.id, inbox.id, &[d1.uid], Flags::SEEN, Flags::EMPTY)
        .await
        .expect("flags");
    store
        .expunge(a.id, inbox.id, &[d2.uid])
        .await
        .expect("expunge");
    let last = inbox_of(&store, a.id).await.highest_modseq;
    let mut got = Vec::new();
    loop {
        match feed.try_recv() {
            Ok(c) => got.push(c),
            Err(TryRecvError::Empty) => break,
            Err(e) => panic!("feed error: {e}"),
        }
    }
    let want = [d1.modseq, d2.modseq, flagged[0].modseq, last];
    assert_eq!(got.len(), want.len(), "one change per write: {got:?}");
    for (c, m) in got.iter().zip(want) {
        assert_eq!((c.account, c.mailbox, c.modseq), (a.id, inbox.id, m));
    }
    assert!(
        matches!(other.try_recv(), Err(TryRecvError::Empty)),
        "no leak to b"
    );
    // A delivery to both accounts reaches both feeds.
    store
        .deliver(test_message("both"), vec![to_inbox(a.id), to_inbox(b.id)])
        .await
        .expect("deliver");
    assert_eq!(feed.try_recv().map(|c| c.account).ok(), Some(a.id));
    assert_eq!(other.try_recv().map(|c| c.account).ok(), Some(b.id));
}

/// No call reaches another account's mailboxes or messages.
pub async fn accounts_are_isolated(store: Store) {
    let a = setup(&store, "a@example.org").await;
    let b = setup(&store, "b@example.org").await;
    let d = deliver_one(&store, a.id, "private").await;
    let inbox_a = inbox_of(&store, a.id).await;
    assert_eq!(store.mailbox(b.id, inbox_a.id).await.expect("lookup"), None);
    assert_eq!(
        kind(store.entries(b.id, inbox_a.id).await),
        ErrorKind::NotFound
    );
    assert_eq!(
        kind(store.message_bytes(b.id, d.message).await),
        ErrorKind::NotFound
    );
    assert_eq!(
        kind(store.summary(b.id, d.message).await),
        ErrorKind::NotFound
    );
    assert_eq!(
        kind(store.expunge(b.id, inbox_a.id, &[d.uid]).await),
        ErrorKind::NotFound
    );
    assert_eq!(
        kind(store.vanished(b.id, inbox_a.id, ModSeq(0)).await),
        ErrorKind::NotFound
    );
    assert_eq!(
        kind(
            store
                .update_flags(b.id, inbox_a.id, &[d.uid], Flags::SEEN, Flags::EMPTY)
                .await
        ),
        ErrorKind::NotFound
    );
    let sneaky = DeliveryTarget {
        mailbox: Some(inbox_a.id),
        ..to_inbox(b.id)
    };
    let r = store
        .deliver(test_message("x"), vec![sneaky])
        .await
        .expect("deliver");
    assert_eq!(
        r[0].as_ref().map_err(StoreError::kind).err(),
        Some(ErrorKind::NotFound)
    );
    // A's data is untouched.
    let entries = store.entries(a.id, inbox_a.id).await.expect("entries");
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].flags, Flags::EMPTY);
    assert_eq!(inbox_of(&store, a.id).await.uid_next, Uid(2));
}

/// After a mixed workload, `check` finds nothing wrong.
pub async fn check_is_clean(store: Store) {
    assert_eq!(assert_clean(&store).await, CheckReport::default());
    let a = setup(&store, "a@example.org").await;
    let b = setup(&store, "b@example.org").await;
    let inbox_a = inbox_of(&store, a.id).await;
    let mut uids = Vec::new();
    for i in 0..10 {
        let r = store
            .deliver(
                test_message(&format!("w{}", i % 3)),
                vec![to_inbox(a.id), to_inbox(b.id)],
            )
            .await
            .expect("deliver");
        uids.push(r[0].as_ref().expect("delivered").uid);
    }
    store
        .update_flags(a.id, inbox_a.id, &uids[..5], Flags::SEEN, Flags::EMPTY)
        .await
        .expect("flags");
    store
        .expunge(a.id, inbox_a.id, &uids[3..7])
        .await
        .expect("expunge");
    let report = assert_clean(&store).await;
    assert_eq!(report.accounts, 2);
    assert_eq!(report.entries, 16);
    assert_eq!(report.blobs, 3);
}
