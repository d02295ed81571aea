//! A FETCH answered in bounded chunks.
//!
//! The command's messages are answered one after another; each [`step`]
//! produces output until the session's buffer holds [`CHUNK`] octets and
//! then returns, and the driver calls again once the client took them
//! (`Session::output_pending`). A large body goes out in slices of
//! [`EAGER`] octets read by byte range from the store, so the output held
//! for a session stays below `CHUNK + EAGER` plus one message's non-body
//! items, whatever the size of the message or of the mailbox. No other
//! command is read and no mailbox change is reported until the command
//! completes (RFC 9051 §7.5.1: no EXPUNGE during FETCH).

use std::collections::VecDeque;

use bytes::BytesMut;
use pillarbox_imap_proto::{Code, Tag};
use pillarbox_message::section::ByteRange;
use pillarbox_store::{AccountId, Entry, Uid};
use tracing::warn;

use super::body::{Msg, read_range};
use super::view::{self, ViewFetch};
use super::write::{EAGER, Resp, Segment, write_message};
use super::{Cx, Plan, failed};
use crate::commands::Completion;
use crate::selected::Selected;

/// Output produced per step before yielding to the driver.
pub(super) const CHUNK: usize = 64 * 1024;

/// A FETCH command in progress.
pub(crate) struct FetchStream {
    pub tag: Tag,
    /// `FETCH` or `UID FETCH`, for the completion text.
    pub name: &'static str,
    /// Whether expunges may be reported at completion (UID FETCH).
    pub allow_expunge: bool,
    pub(super) cx: Cx,
    pub(super) account: AccountId,
    pub(super) plan: Plan,
    /// The messages still to answer, with their sequence numbers.
    pub(super) queue: VecDeque<(u32, Entry)>,
    /// A FETCH of flags only, answered from the view instead of `queue`.
    pub(super) view: Option<ViewFetch>,
    /// Messages this FETCH set `\Seen` on (their flags are reported).
    pub(super) seen_set: Vec<Uid>,
    /// Some requested messages were expunged elsewhere.
    pub(super) missing: bool,
    /// The rest of the message being answered.
    pub(super) rest: VecDeque<Segment>,
}

/// What a step ended with.
pub(crate) enum Step {
    /// More output to come.
    More,
    /// Every message answered (or one failed before any of its output).
    Done(Completion),
    /// A store read failed in the middle of a literal whose length was
    /// sent: the response cannot be completed, the connection must close.
    Broken,
}

impl FetchStream {
    fn completion(&self) -> Completion {
        if self.missing && !self.plan.by_uid {
            // RFC 2180 §4.1.1 with the RFC 5530 code: the others were sent.
            return Completion::no(
                Some(Code::ExpungeIssued),
                "Some messages were expunged by another session",
            );
        }
        Completion::ok("")
    }
}

/// Appends the next chunk of the response to `out`.
pub(crate) async fn step(st: &mut FetchStream, sel: &mut Selected, out: &mut BytesMut) -> Step {
    if let Some(v) = &mut st.view {
        return if view::step(v, &st.plan, st.cx.enabled, sel, out) {
            Step::Done(st.completion())
        } else {
            Step::More
        };
    }
    while out.len() < CHUNK {
        if let Some(seg) = st.rest.pop_front() {
            match seg {
                Segment::Bytes(b) => out.extend_from_slice(&b),
                Segment::Range { message, range } => {
                    let slice = ByteRange::new(range.start, range.end.min(range.start + EAGER));
                    match read_range(&st.cx.store, st.account, message, slice).await {
                        Ok(data) => out.extend_from_slice(&data),
                        Err(e) => {
                            // E.g. the message was expunged and collected by
                            // another session while its body was streaming.
                            warn!(error = %e, "FETCH body read failed mid-literal; closing");
                            return Step::Broken;
                        }
                    }
                    if slice.end < range.end {
                        st.rest.push_front(Segment::Range {
                            message,
                            range: ByteRange::new(slice.end, range.end),
                        });
                    }
                }
                Segment::Decoded(mut d) => {
                    match d.next(&st.cx.store, st.account).await {
                        Ok(data) => out.extend_from_slice(&data),
                        Err(e) => {
                            warn!(error = ?e, "FETCH BINARY decoding failed mid-literal; closing");
                            return Step::Broken;
                        }
                    }
                    if !d.done() {
                        st.rest.push_front(Segment::Decoded(d));
                    }
                }
            }
            continue;
        }
        let Some((seq, entry)) = st.queue.pop_front() else {
            return Step::Done(st.completion());
        };
        let flags_changed = st.seen_set.binary_search(&entry.uid).is_ok();
        let mut msg = Msg::new(&st.cx.store, st.account, &entry);
        let mark = out.len();
        let mut resp = Resp::new(out);
        let written = write_message(
            &st.cx,
            sel,
            &st.plan,
            seq,
            &mut msg,
            flags_changed,
            &mut resp,
        )
        .await;
        match written {
            Ok(()) => st.rest = resp.into_rest(),
            Err(e) => {
                // Never leave half a response on the wire.
                drop(resp);
                out.truncate(mark);
                return Step::Done(failed(e));
            }
        }
        // The flags were reported here (with MODSEQ, once CONDSTORE is on):
        // a later sync need not echo them.
        let plan = &st.plan;
        let condstore = st.cx.enabled.condstore;
        let flags_sent = flags_changed || plan.flags_requested;
        let modseq_sent =
            plan.modseq_requested || plan.changed_since.is_some() || (flags_changed && condstore);
        if flags_sent && (modseq_sent || !condstore) {
            sel.note_reported(&entry);
        }
    }
    Step::More
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::BytesMut;
    use pillarbox_session::Session;
    use pillarbox_store::{FlagChange, FlagOp, Flags, NewMessage, Uid};

    use super::{CHUNK, EAGER};
    use crate::commands::append::harness::Harness;

    /// The most output one driver call may carry: a chunk, one slice and a
    /// message's non-body items.
    const BOUND: usize = CHUNK + EAGER as usize + 4096;

    fn big_message(size: usize) -> Vec<u8> {
        let mut m = b"From: bob@example.net\r\nSubject: big\r\n\r\n".to_vec();
        let mut i = 0u64;
        while m.len() < size {
            // Varied lines, so that the stored body is not one tiny frame.
            i = i
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            m.extend_from_slice(format!("{i:016x} line {}\r\n", m.len()).as_bytes());
        }
        m
    }

    async fn put(h: &Harness, data: Vec<u8>) {
        let inbox = h
            .store
            .mailbox_by_name(h.account, "INBOX")
            .await
            .unwrap()
            .unwrap();
        let msg = NewMessage {
            data: Arc::new(data),
            internal_date: 0,
        };
        h.store
            .append(h.account, inbox.id, msg, Flags::EMPTY, Vec::new())
            .await
            .unwrap();
    }

    /// Feeds `input` once, then keeps calling like the driver while the
    /// session has output pending; returns every call's output.
    async fn drive(h: &mut Harness, input: &str) -> (Vec<Vec<u8>>, BytesMut) {
        let mut buf = BytesMut::from(input.as_bytes());
        let mut calls = Vec::new();
        loop {
            let mut out = Vec::new();
            h.session.input(&mut buf, &mut out).await;
            assert!(out.len() <= BOUND, "one call produced {} octets", out.len());
            // Nothing stays behind in the session between calls.
            assert_eq!(h.session.out.capacity(), 0);
            calls.push(out);
            if !h.session.output_pending() {
                return (calls, buf);
            }
        }
    }

    #[tokio::test]
    async fn a_large_body_streams_in_bounded_chunks_and_pipelining_waits() {
        let mut h = Harness::new(None).await;
        let msg = big_message(3 * 1024 * 1024 + 17);
        put(&h, msg.clone()).await;
        h.send("s SELECT INBOX\r\n").await;
        let (calls, rest) = drive(&mut h, "a FETCH 1 BODY.PEEK[]\r\nb NOOP\r\n").await;
        assert!(calls.len() > 10, "{} calls", calls.len());
        assert!(rest.is_empty());
        // The pipelined NOOP was answered only after the FETCH, in order.
        let all: Vec<u8> = calls.concat();
        let mut want = format!("* 1 FETCH (BODY[] {{{}}}\r\n", msg.len()).into_bytes();
        want.extend_from_slice(&msg);
        want.extend_from_slice(b")\r\na OK FETCH completed\r\nb OK NOOP completed\r\n");
        assert!(all == want, "response differs from the stored message");
    }

    #[tokio::test]
    async fn many_messages_stream_message_by_message() {
        let mut h = Harness::new(None).await;
        for _ in 0..300 {
            put(&h, big_message(2000)).await;
        }
        h.send("s SELECT INBOX\r\n").await;
        let (calls, _) = drive(&mut h, "a FETCH 1:* (FLAGS BODY.PEEK[])\r\n").await;
        assert!(calls.len() >= 8, "{} calls", calls.len());
        let text = String::from_utf8(calls.concat()).unwrap();
        assert_eq!(text.matches(" FETCH (FLAGS () BODY[] {").count(), 300);
        assert!(text.starts_with("* 1 FETCH "));
        assert!(text.ends_with(")\r\na OK FETCH completed\r\n"));
    }

    /// FETCH of flags only answers from the view (plus what changed
    /// since its last sync) in bounded chunks, exactly as reading every
    /// entry from the store does.
    #[tokio::test]
    async fn flags_only_fetch_streams_from_the_view_like_the_store() {
        let mut h = Harness::new(None).await;
        for _ in 0..2500 {
            put(&h, b"Subject: s\r\n\r\nx\r\n".to_vec()).await;
        }
        let inbox = h
            .store
            .mailbox_by_name(h.account, "INBOX")
            .await
            .unwrap()
            .unwrap();
        let change = |flags, kw: &[&str]| FlagChange {
            op: FlagOp::Add,
            flags,
            keywords: kw.iter().map(|k| k.to_string()).collect(),
        };
        let uids = |r: std::ops::Range<u32>| r.map(Uid).collect::<Vec<_>>();
        // Changed before the SELECT: in the view.
        h.store
            .store_flags(
                h.account,
                inbox.id,
                &uids(1..300),
                change(Flags::SEEN, &["$a"]),
                None,
            )
            .await
            .unwrap();
        h.send("s SELECT INBOX\r\nc FETCH 1 MODSEQ\r\n").await;
        // Changed by "another session" after it: read at the FETCH.
        h.store
            .store_flags(
                h.account,
                inbox.id,
                &uids(200..400),
                change(Flags::FLAGGED, &["$b"]),
                None,
            )
            .await
            .unwrap();
        let (calls, _) = drive(&mut h, "a FETCH 1:* (UID FLAGS MODSEQ)\r\n").await;
        assert!(calls.len() >= 2, "{} calls", calls.len());
        let fast = String::from_utf8(calls.concat()).unwrap();
        assert!(fast.contains("* 250 FETCH (UID 250 FLAGS (\\Seen \\Flagged $a $b) MODSEQ ("));
        // The same through the store-reading path (INTERNALDATE needs the
        // entries), with that item removed.
        let (calls, _) = drive(&mut h, "b FETCH 1:* (UID FLAGS MODSEQ INTERNALDATE)\r\n").await;
        let slow = String::from_utf8(calls.concat())
            .unwrap()
            .replace(" INTERNALDATE \" 1-Jan-1970 00:00:00 +0000\"", "")
            .replace("b OK", "a OK");
        // The new keyword $b is announced at the end of the first one.
        let fetches = |t: &str| {
            t.lines()
                .filter(|l| l.contains(" FETCH ("))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        assert_eq!(fetches(&fast).len(), 2500);
        for (f, s) in fetches(&fast).iter().zip(fetches(&slow).iter()) {
            assert_eq!(f, s);
        }
        assert_eq!(fetches(&slow).len(), 2500);
        assert!(fast.ends_with("* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $a $b \\*)] Flags permitted\r\na OK FETCH completed\r\n"), "{}", &fast[fast.len() - 300..]);
        assert!(slow.ends_with(")\r\na OK FETCH completed\r\n"));
    }

    #[tokio::test]
    async fn no_expunge_is_reported_while_streaming() {
        let mut h = Harness::new(None).await;
        put(&h, big_message(100)).await;
        put(&h, big_message(2 * 1024 * 1024)).await;
        h.send("s SELECT INBOX\r\n").await;
        let mut buf = BytesMut::from(&b"a FETCH 1:2 BODY.PEEK[]\r\nb NOOP\r\n"[..]);
        let mut out = Vec::new();
        h.session.input(&mut buf, &mut out).await;
        assert!(h.session.output_pending());
        // Another session expunges message 1 (already answered).
        let inbox = h
            .store
            .mailbox_by_name(h.account, "INBOX")
            .await
            .unwrap()
            .unwrap();
        let first = h.store.entries(h.account, inbox.id).await.unwrap()[0].uid;
        h.store
            .expunge(h.account, inbox.id, &[first])
            .await
            .unwrap();
        let mut all = out;
        while h.session.output_pending() {
            let mut out = Vec::new();
            h.session.input(&mut buf, &mut out).await;
            all.extend_from_slice(&out);
        }
        let text = String::from_utf8(all).unwrap();
        let fetch_done = text.find("a OK FETCH completed").expect("FETCH completes");
        let expunge = text
            .find("* 1 EXPUNGE\r\n")
            .expect("NOOP reports the expunge");
        assert!(expunge > fetch_done, "EXPUNGE sent during FETCH");
        assert!(
            text.ends_with("* 1 EXPUNGE\r\nb OK NOOP completed\r\n"),
            "{}",
            &text[text.len() - 80..]
        );
    }

    /// A multipart message: a short text part, then `data` as a base64
    /// attachment and as a quoted-printable one.
    fn with_attachments(data: &[u8]) -> Vec<u8> {
        let mut m = b"From: bob@example.net\r\nSubject: files\r\nMIME-Version: 1.0\r\n\
            Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n\
            Content-Type: text/plain\r\n\r\nSee attached.\r\n--b\r\n\
            Content-Type: application/octet-stream\r\n\
            Content-Transfer-Encoding: base64\r\n\r\n"
            .to_vec();
        const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut line = 0;
        for chunk in data.chunks(3) {
            let n = chunk.len();
            let v = chunk.iter().fold(0u32, |a, b| a << 8 | u32::from(*b)) << (8 * (3 - n));
            for i in 0..4 {
                m.push(if i <= n {
                    B64[(v >> (18 - 6 * i) & 63) as usize]
                } else {
                    b'='
                });
            }
            line += 4;
            if line == 76 {
                m.extend_from_slice(b"\r\n");
                line = 0;
            }
        }
        m.extend_from_slice(
            b"\r\n--b\r\nContent-Type: text/plain\r\n\
            Content-Transfer-Encoding: quoted-printable\r\n\r\n",
        );
        let mut col = 0;
        for &b in data {
            let enc = if b.is_ascii_graphic() && b != b'=' {
                vec![b]
            } else {
                format!("={b:02X}").into_bytes()
            };
            if col + enc.len() > 75 {
                m.extend_from_slice(b"=\r\n");
                col = 0;
            }
            col += enc.len();
            m.extend_from_slice(&enc);
        }
        m.extend_from_slice(b"\r\n--b--\r\n");
        m
    }

    #[tokio::test]
    async fn large_encoded_parts_decode_in_bounded_chunks() {
        let mut h = Harness::new(None).await;
        let data: Vec<u8> = (0..700_000u32)
            .map(|i| (i % 251) as u8 ^ (i / 977) as u8)
            .collect();
        put(&h, with_attachments(&data)).await;
        h.send("s SELECT INBOX\r\n").await;
        for part in [2, 3] {
            // The QP part ends with the CRLF before the boundary, which is
            // the part's own line end (RFC 2046 §5.1.1): none.
            let (calls, _) = drive(
                &mut h,
                &format!("a FETCH 1 (BINARY.SIZE[{part}] BINARY.PEEK[{part}] BINARY.PEEK[{part}]<1000.5000>)\r\n"),
            )
            .await;
            assert!(calls.len() > 3, "part {part}: {} calls", calls.len());
            let mut want = format!(
                "* 1 FETCH (BINARY.SIZE[{part}] {n} BINARY[{part}] ~{{{n}}}\r\n",
                n = data.len()
            )
            .into_bytes();
            want.extend_from_slice(&data);
            want.extend_from_slice(format!(" BINARY[{part}]<1000> ~{{5000}}\r\n").as_bytes());
            want.extend_from_slice(&data[1000..6000]);
            want.extend_from_slice(b")\r\na OK FETCH completed\r\n");
            let got = calls.concat();
            assert!(
                got == want,
                "part {part}: {:?}",
                String::from_utf8_lossy(&got[..200.min(got.len())])
            );
        }
    }
}
