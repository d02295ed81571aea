//! Conformance checks of message content reads (byte ranges, header) and
//! full-text search (RFC 9051 §6.4.4).

use std::sync::Arc;

use crate::api::*;
use crate::error::ErrorKind;

use super::{assert_clean, deliver_one, inbox_of, kind, mailbox_named, setup, test_message};

fn message(raw: &str) -> NewMessage {
    NewMessage {
        data: Arc::new(raw.as_bytes().to_vec()),
        internal_date: 1_700_000_000,
    }
}

/// A message larger than several compression frames, with distinct lines.
fn big_message() -> NewMessage {
    let mut raw = String::from("From: big@example.net\r\nSubject: big\r\n\r\n");
    let mut i = 0;
    while raw.len() < 3 * 1024 * 1024 + 517 {
        raw.push_str(&format!("line {i:08} {}\r\n", "x".repeat(i % 61)));
        i += 1;
    }
    message(&raw)
}

/// Byte ranges and the header section come back exactly, also across the
/// compression frames of a large message and past the end.
pub async fn message_ranges_and_headers_are_exact(store: Store) {
    let a = setup(&store, "u@example.org").await;
    let b = setup(&store, "b@example.org").await;
    let small = test_message("range");
    let d = deliver_one(&store, a.id, "range").await;
    let data = small.data.as_slice();
    let header = store.message_header(a.id, d.message).await.expect("header");
    let summary = store.summary(a.id, d.message).await.expect("summary");
    assert_eq!(header.as_slice(), &data[..summary.header_len as usize]);
    assert!(header.ends_with(b"\r\n\r\n"));
    let len = data.len() as u64;
    for (start, n) in [(0, 10), (100, 50), (len - 6, 100), (10, u64::MAX), (0, len)] {
        let got = store
            .message_range(a.id, d.message, start, n)
            .await
            .expect("range");
        let end = start.saturating_add(n).min(len) as usize;
        assert_eq!(got.as_slice(), &data[start as usize..end], "{start}+{n}");
    }
    for (start, n) in [(len, 10), (len + 5000, 10), (0, 0), (u64::MAX, u64::MAX)] {
        assert!(
            store
                .message_range(a.id, d.message, start, n)
                .await
                .expect("range")
                .is_empty(),
            "{start}+{n} is empty"
        );
    }

    let big = big_message();
    let data = big.data.as_slice();
    let len = data.len() as u64;
    let r = store
        .deliver(big.clone(), vec![super::to_inbox(a.id)])
        .await
        .expect("deliver")
        .remove(0)
        .expect("delivered");
    let mib = 1024 * 1024;
    for (start, n) in [
        (0, 64),
        (mib - 10, 20),
        (mib, 1),
        (2 * mib + 5, 100_000),
        (len - 3, 10),
        (mib / 2, 2 * mib),
    ] {
        let got = store
            .message_range(a.id, r.message, start, n)
            .await
            .expect("range");
        let end = start.saturating_add(n).min(len) as usize;
        assert!(got.as_slice() == &data[start as usize..end], "{start}+{n}");
    }
    let header = store.message_header(a.id, r.message).await.expect("header");
    assert_eq!(
        header.as_slice(),
        b"From: big@example.net\r\nSubject: big\r\n\r\n"
    );
    let whole = store.message_bytes(a.id, r.message).await.expect("bytes");
    assert!(whole.as_slice() == data, "whole large message");
    assert_eq!(
        kind(store.message_range(b.id, r.message, 0, 10).await),
        ErrorKind::NotFound
    );
    assert_eq!(
        kind(store.message_header(b.id, d.message).await),
        ErrorKind::NotFound
    );
    assert_clean(&store).await;
}

pub(crate) const REPORT: &str = "From: \"Alice Example\" <alice@example.net>\r\n\
    To: bob@example.org\r\n\
    Cc: carol@example.com\r\n\
    Bcc: dave@example.com\r\n\
    Subject: Quarterly Report Q3\r\n\
    X-Tracking: ABC-123-xyz\r\n\r\n\
    The invoice total is 1234 EUR.\r\n\
    He said \"hello\" twice.\r\n";

pub(crate) const GREETING: &str = "From: =?utf-8?q?J=C3=BCrgen?= <j@example.de>\r\n\
    To: team@example.org\r\n\
    Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=\r\n\
    MIME-Version: 1.0\r\n\
    Content-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n\
    --b1\r\n\
    Content-Type: text/plain; charset=iso-8859-1\r\n\
    Content-Transfer-Encoding: quoted-printable\r\n\r\n\
    Wir treffen uns in der Stra=DFe.\r\n\
    --b1\r\n\
    Content-Type: text/html; charset=utf-8\r\n\r\n\
    <p>Meeting <b>tomorrow</b> at noon</p>\r\n\
    --b1--\r\n";

pub(crate) const SHORT: &str = "From: x@y.z\r\nSubject: hi\r\n\r\nok\r\n";

/// Text search: case-insensitive substrings of decoded header fields and
/// body text (HTML stripped, charsets decoded), for every field and for
/// needles too short for an index; expunged and foreign entries never
/// match.
pub async fn search_text_matches_imap_semantics(store: Store) {
    let a = setup(&store, "u@example.org").await;
    let b = setup(&store, "b@example.org").await;
    let inbox = inbox_of(&store, a.id).await;
    let mut uid = Vec::new();
    for raw in [REPORT, GREETING, SHORT] {
        let r = store
            .deliver(message(raw), vec![super::to_inbox(a.id)])
            .await
            .expect("deliver")
            .remove(0)
            .expect("delivered");
        uid.push(r.uid);
    }
    let (u1, u2, u3) = (uid[0], uid[1], uid[2]);
    let search = async |mailbox: MailboxId, field: SearchField, needle: &str| -> Vec<Uid> {
        store
            .search_text(a.id, mailbox, field, needle)
            .await
            .expect("search")
    };
    use SearchField::*;
    let none: Vec<Uid> = Vec::new();
    let cases: Vec<(SearchField, &str, Vec<Uid>)> = vec![
        (Body, "invoice total", vec![u1]),
        (Body, "INVOICE", vec![u1]),
        (Body, "\"hello\"", vec![u1]),
        (Body, "straße", vec![u2]),
        (Body, "STRASSE", none.clone()),
        (Body, "meeting tomorrow at", vec![u2]),
        (Body, "<b>", none.clone()),
        (Body, "Quarterly", none.clone()),
        (Body, "ok", vec![u3]),
        (Body, "", vec![u1, u2, u3]),
        (Text, "Quarterly", vec![u1]),
        (Text, "invoice", vec![u1]),
        (Text, "example", vec![u1, u2]),
        (Subject, "report", vec![u1]),
        (Subject, "KÖLN", vec![u2]),
        (Subject, "hi", vec![u3]),
        (Subject, "h", vec![u3]),
        (From, "alice", vec![u1]),
        (From, "example.net", vec![u1]),
        (From, "jürgen", vec![u2]),
        (From, "x@", vec![u3]),
        (To, "team", vec![u2]),
        (To, "carol", none.clone()),
        (Cc, "carol", vec![u1]),
        (Bcc, "dave@", vec![u1]),
        (Header("X-Tracking".into()), "abc-123", vec![u1]),
        (Header("x-tracking".into()), "", vec![u1]),
        (Header("x-tracking".into()), "q3", none.clone()),
        (Header("Subject".into()), "QUARTERLY", vec![u1]),
        (Header("Subject".into()), "grüße", vec![u2]),
        (Header("Subject".into()), "", vec![u1, u2, u3]),
        (Header("Received".into()), "", none.clone()),
        (Header("To".into()), "Q3", none.clone()),
    ];
    for (field, needle, want) in cases {
        let got = search(inbox.id, field.clone(), needle).await;
        assert_eq!(got, want, "{field:?} {needle:?}");
    }

    // Copies are found in their mailbox; expunged entries are not.
    let archive = mailbox_named(&store, a.id, "Archive").await;
    let copied = store
        .copy(a.id, inbox.id, &[u2], archive.id)
        .await
        .expect("copy");
    assert_eq!(search(archive.id, Body, "noon").await, [copied.uids[0].1]);
    assert_eq!(search(archive.id, Body, "invoice").await, none);
    store.expunge(a.id, inbox.id, &[u1]).await.expect("expunge");
    assert_eq!(search(inbox.id, Body, "invoice").await, none);
    assert_eq!(search(inbox.id, Subject, "r").await, [u2], "short needle");

    // A message delivered to two accounts is found only in each one's
    // own mailbox.
    let shared = store
        .deliver(
            message(REPORT),
            vec![super::to_inbox(a.id), super::to_inbox(b.id)],
        )
        .await
        .expect("deliver");
    let ua = shared[0].as_ref().expect("a").uid;
    let ub = shared[1].as_ref().expect("b").uid;
    assert_eq!(search(inbox.id, Body, "invoice").await, [ua]);
    let inbox_b = inbox_of(&store, b.id).await;
    assert_eq!(
        store
            .search_text(b.id, inbox_b.id, Body, "invoice")
            .await
            .expect("search"),
        [ub]
    );
    assert_eq!(
        kind(store.search_text(b.id, inbox.id, Body, "invoice").await),
        ErrorKind::NotFound
    );
    store.delete_account("b@example.org").await.expect("delete");
    assert_eq!(search(inbox.id, Body, "invoice").await, [ua]);
    assert_clean(&store).await;
}

/// RFC 5256 SORT / THREAD: `sort_fields` returns, in UID order and for the
/// UIDs asked only, the same fields as the full summary; both for a few
/// UIDs of a larger mailbox and for all of them; accounts stay isolated.
pub async fn sort_fields_match_the_summaries(store: Store) {
    use pillarbox_message::sort_fields::SortFields;
    let a = setup(&store, "u@example.org").await;
    let b = setup(&store, "b@example.org").await;
    let inbox = inbox_of(&store, a.id).await;
    let threaded = message(
        "From: \"Ann\" <ann@example.net>\r\nTo: t1@example.org, t2@example.org\r\n\
         Cc: cc@example.org\r\nSubject: Re: [list] hi\r\n\
         Date: Tue, 1 Feb 2000 10:00:00 +0200\r\nMessage-ID: <m2@example.net>\r\n\
         In-Reply-To: <m1@example.net>\r\nReferences: <m0@example.net> <m1@example.net>\r\n\r\nbody\r\n",
    );
    let bare = message("X-Nothing: here\r\n\r\nno sort headers\r\n");
    let mut delivered = Vec::new();
    for m in [threaded, bare] {
        let d = store
            .deliver(m, vec![super::to_inbox(a.id)])
            .await
            .expect("deliver")
            .remove(0)
            .expect("delivered");
        delivered.push(d);
    }
    for i in 0..14 {
        delivered.push(deliver_one(&store, a.id, &format!("sort{i}")).await);
    }
    let mut want = Vec::new();
    for d in &delivered {
        let summary = store.summary(a.id, d.message).await.expect("summary");
        want.push((d.uid, SortFields::from(&summary)));
    }
    assert_eq!(
        want[0].1.references,
        vec!["m0@example.net", "m1@example.net"]
    );
    assert_eq!(want[0].1.date, Some(949_392_000));
    assert_eq!(want[1].1, SortFields::default());

    let all: Vec<Uid> = delivered.iter().map(|d| d.uid).collect();
    let got = store
        .sort_fields(a.id, inbox.id, &all)
        .await
        .expect("sort fields");
    assert_eq!(got, want, "all entries, in UID order");

    // A few UIDs of the mailbox (and one that does not exist).
    let missing = Uid(all[all.len() - 1].0 + 100);
    let got = store
        .sort_fields(a.id, inbox.id, &[all[0], all[5], missing])
        .await
        .expect("sort fields");
    assert_eq!(got, vec![want[0].clone(), want[5].clone()], "a subset");
    // Most of them.
    let most: Vec<Uid> = all.iter().copied().skip(1).collect();
    let got = store
        .sort_fields(a.id, inbox.id, &most)
        .await
        .expect("sort fields");
    assert_eq!(got, want[1..].to_vec(), "most");
    assert!(
        store
            .sort_fields(a.id, inbox.id, &[])
            .await
            .expect("sort fields")
            .is_empty()
    );
    let err = store
        .sort_fields(b.id, inbox.id, &all)
        .await
        .expect_err("another account's mailbox");
    assert_eq!(err.kind(), ErrorKind::NotFound);
}
