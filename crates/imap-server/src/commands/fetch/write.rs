//! One message's `* n FETCH (...)` response, item by item.
//!
//! Everything that can fail (the summary, a section's location, decoding)
//! is done while the response is built, before any of its octets is sent:
//! a failing message leaves nothing on the wire. Body octets are read from
//! the store by byte range; up to [`EAGER`] octets per message are read at
//! once, and a body beyond that goes out as a literal whose remaining
//! octets are queued as [`Segment::Range`] and read slice by slice while
//! the client takes them (see `stream`).

use std::collections::VecDeque;

use bytes::{BufMut, BytesMut};
use pillarbox_imap_proto::{Date, DateTime, FetchAttr, write_literal_header, write_nstring};
use pillarbox_message::section::ByteRange;
use pillarbox_store::{Entry, MessageId};

use super::body::{self, FetchError, Msg, Octets};
use super::decode::{Decoding, SLICE};
use super::{Cx, Plan, preview};
use crate::selected::{Selected, flag_list};
use crate::session::Enabled;

/// Octets of body data a message's response reads while it is built; the
/// rest of a larger body is read when sent. Also the size of one read.
pub(super) const EAGER: u64 = SLICE;

/// A piece of a response still to be sent.
#[derive(Debug)]
pub(super) enum Segment {
    Bytes(BytesMut),
    /// Octets of a stored message, read slice by slice.
    Range {
        message: MessageId,
        range: ByteRange,
    },
    /// A large encoded part, decoded piece by piece.
    Decoded(Decoding),
}

/// One message's response under construction: octets go straight to the
/// output until a body is deferred; from then on into `rest`.
pub(super) struct Resp<'o> {
    out: &'o mut BytesMut,
    rest: VecDeque<Segment>,
    eager_left: u64,
}

impl<'o> Resp<'o> {
    pub fn new(out: &'o mut BytesMut) -> Resp<'o> {
        Resp {
            out,
            rest: VecDeque::new(),
            eager_left: EAGER,
        }
    }

    /// Where the next octets go.
    fn buf(&mut self) -> &mut BytesMut {
        if !self.rest.is_empty() && !matches!(self.rest.back(), Some(Segment::Bytes(_))) {
            self.rest.push_back(Segment::Bytes(BytesMut::new()));
        }
        match self.rest.back_mut() {
            Some(Segment::Bytes(b)) => b,
            _ => self.out,
        }
    }

    /// What is left to send after the output written so far.
    pub fn into_rest(self) -> VecDeque<Segment> {
        self.rest
    }
}

/// Writes `* seq FETCH (...)` for one message.
pub(super) async fn write_message(
    cx: &Cx,
    sel: &Selected,
    plan: &Plan,
    seq: u32,
    msg: &mut Msg<'_>,
    flags_changed: bool,
    resp: &mut Resp<'_>,
) -> Result<(), FetchError> {
    let entry = msg.entry;
    // RFC 7162 §3.1: once CONDSTORE is on, a response that carries a flag
    // change made by this FETCH (implicit \Seen) also has UID and MODSEQ.
    let condstore_change = flags_changed && cx.enabled.condstore;
    let mut line = Line::start(resp.buf(), seq);
    // Implied items lead: UID, then the FLAGS a \Seen change altered, then
    // MODSEQ (CHANGEDSINCE, or a CONDSTORE flag change).
    if plan.uid || condstore_change {
        line.item(resp)
            .put_slice(format!("UID {}", entry.uid).as_bytes());
    }
    if flags_changed && !plan.flags_requested {
        write_flags(line.item(resp), sel, cx.enabled, entry);
    }
    let modseq_implied = plan.changed_since.is_some() || condstore_change;
    if modseq_implied && !plan.modseq_requested {
        write_modseq(line.item(resp), entry);
    }
    for attr in &plan.attrs {
        match attr {
            FetchAttr::Flags => write_flags(line.item(resp), sel, cx.enabled, entry),
            other => write_attr(cx, &mut line, resp, msg, other).await?,
        }
    }
    resp.buf().put_slice(b")\r\n");
    Ok(())
}

async fn write_attr(
    cx: &Cx,
    line: &mut Line,
    resp: &mut Resp<'_>,
    msg: &mut Msg<'_>,
    attr: &FetchAttr,
) -> Result<(), FetchError> {
    let entry = msg.entry;
    let utf8 = cx.opts.utf8;
    match attr {
        // Written by the caller.
        FetchAttr::Flags | FetchAttr::Uid => {}
        FetchAttr::InternalDate => {
            let d = date_time(entry.internal_date);
            line.item(resp)
                .put_slice(format!("INTERNALDATE \"{d}\"").as_bytes());
        }
        FetchAttr::Rfc822Size => {
            line.item(resp)
                .put_slice(format!("RFC822.SIZE {}", entry.size).as_bytes());
        }
        FetchAttr::ModSeq => write_modseq(line.item(resp), entry),
        // RFC 8474: the stored message id is shared by COPY, as required.
        FetchAttr::EmailId => {
            line.item(resp)
                .put_slice(format!("EMAILID (E{})", entry.message.0).as_bytes());
        }
        // RFC 8474 §5.2: NIL when the server does not thread messages.
        FetchAttr::ThreadId => line.item(resp).put_slice(b"THREADID NIL"),
        FetchAttr::SaveDate => {
            let d = date_time(entry.saved_date);
            line.item(resp)
                .put_slice(format!("SAVEDATE \"{d}\"").as_bytes());
        }
        FetchAttr::Envelope => {
            let summary = msg.summary().await?;
            let mut v = Vec::with_capacity(256);
            pillarbox_message::write_envelope(&mut v, &summary.envelope, utf8);
            let o = line.item(resp);
            o.put_slice(b"ENVELOPE ");
            o.put_slice(&v);
        }
        FetchAttr::Body | FetchAttr::BodyStructure => {
            let extended = *attr == FetchAttr::BodyStructure;
            let summary = msg.summary().await?;
            let mut v = Vec::with_capacity(256);
            pillarbox_message::write_body(&mut v, &summary.mime, extended, utf8);
            let o = line.item(resp);
            o.put_slice(if extended {
                b"BODYSTRUCTURE "
            } else {
                b"BODY "
            });
            o.put_slice(&v);
        }
        FetchAttr::BodySection {
            section, partial, ..
        } => {
            let data = body::section(msg, section, *partial).await?;
            let mut name = format!("BODY[{section}]");
            if let Some(p) = partial {
                name.push_str(&format!("<{}>", p.offset));
            }
            line.item(resp);
            write_octets(resp, msg, &name, data, false).await?;
        }
        FetchAttr::Binary { part, partial, .. } => {
            let data = body::binary(msg, part, *partial).await?;
            let mut name = format!("BINARY[{}]", part_path(part));
            if let Some(p) = partial {
                name.push_str(&format!("<{}>", p.offset));
            }
            line.item(resp);
            write_octets(resp, msg, &name, data, true).await?;
        }
        FetchAttr::BinarySize { part } => {
            let size = body::binary_size(msg, part).await?;
            line.item(resp)
                .put_slice(format!("BINARY.SIZE[{}] {size}", part_path(part)).as_bytes());
        }
        // RFC 3501: RFC822 = BODY[], RFC822.HEADER = BODY.PEEK[HEADER],
        // RFC822.TEXT = BODY[TEXT], each under its own name.
        FetchAttr::Rfc822 | FetchAttr::Rfc822Header | FetchAttr::Rfc822Text => {
            let (name, text) = match attr {
                FetchAttr::Rfc822 => ("RFC822", None),
                FetchAttr::Rfc822Header => (
                    "RFC822.HEADER",
                    Some(pillarbox_imap_proto::SectionText::Header),
                ),
                _ => ("RFC822.TEXT", Some(pillarbox_imap_proto::SectionText::Text)),
            };
            let section = pillarbox_imap_proto::Section {
                part: Vec::new(),
                text,
            };
            let data = body::section(msg, &section, None).await?;
            line.item(resp);
            write_octets(resp, msg, name, data, false).await?;
        }
        FetchAttr::Preview => {
            let text = preview::preview(msg).await?;
            let o = line.item(resp);
            o.put_slice(b"PREVIEW ");
            write_nstring(o, Some(text.as_bytes()), cx.opts);
        }
    }
    Ok(())
}

/// `FLAGS (...)`, with `\Recent` for IMAP4rev1 sessions.
fn write_flags(out: &mut BytesMut, sel: &Selected, enabled: Enabled, entry: &Entry) {
    let recent = !enabled.rev2 && sel.recent.contains(&entry.uid);
    let flags = flag_list(entry.flags, &entry.keywords, recent);
    out.put_slice(b"FLAGS (");
    for (i, f) in flags.iter().enumerate() {
        if i > 0 {
            out.put_u8(b' ');
        }
        out.put_slice(f.to_string().as_bytes());
    }
    out.put_u8(b')');
}

fn write_modseq(out: &mut BytesMut, entry: &Entry) {
    out.put_slice(format!("MODSEQ ({})", entry.modseq.0).as_bytes());
}

/// `name` SP (literal / literal8 / NIL). Body data always goes as a
/// literal; `binary` data containing NUL as a literal8 (RFC 3516 §4.2).
/// A stored range larger than what is left of [`EAGER`] is announced with
/// its length and deferred after its first slice; as a BINARY item it is
/// then always a literal8, which RFC 3516 §4.2 allows for any BINARY data
/// (its octets are not all known when the length is sent).
async fn write_octets(
    resp: &mut Resp<'_>,
    msg: &Msg<'_>,
    name: &str,
    data: Option<Octets>,
    binary: bool,
) -> Result<(), FetchError> {
    let data = match data {
        None => {
            let o = resp.buf();
            o.put_slice(name.as_bytes());
            o.put_slice(b" NIL");
            return Ok(());
        }
        Some(Octets::Data(d)) => d,
        Some(Octets::Decoded(mut d, partial)) => {
            // The size pass reads the part once (and fails here, before any
            // output, if it cannot); the data follows piece by piece, as a
            // literal8 like any streamed BINARY data.
            let size = d.size(msg.store, msg.account).await?;
            let len = d.window(size, partial);
            let o = resp.buf();
            o.put_slice(name.as_bytes());
            o.put_u8(b' ');
            write_literal_header(o, len, true);
            resp.eager_left = 0;
            if !d.done() {
                resp.rest.push_back(Segment::Decoded(d));
            }
            return Ok(());
        }
        Some(Octets::Range(r)) if r.len() <= resp.eager_left => msg.read(r).await?,
        Some(Octets::Range(r)) => {
            let o = resp.buf();
            o.put_slice(name.as_bytes());
            o.put_u8(b' ');
            write_literal_header(o, r.len(), binary);
            // The first slice now, so that a message gone from the store
            // fails before anything of its response is sent.
            let first = ByteRange::new(r.start, r.start + resp.eager_left);
            let head = msg.read(first).await?;
            resp.eager_left = 0;
            resp.buf().put_slice(&head);
            resp.rest.push_back(Segment::Range {
                message: msg.entry.message,
                range: ByteRange::new(first.end, r.end),
            });
            return Ok(());
        }
    };
    resp.eager_left = resp.eager_left.saturating_sub(data.len() as u64);
    let o = resp.buf();
    o.put_slice(name.as_bytes());
    o.put_u8(b' ');
    write_literal_header(o, data.len() as u64, binary && data.contains(&0));
    o.put_slice(&data);
    Ok(())
}

/// An INTERNALDATE / SAVEDATE in UTC.
fn date_time(ts: i64) -> DateTime {
    DateTime::from_unix(ts, 0).unwrap_or(DateTime {
        date: Date {
            year: 1970,
            month: 1,
            day: 1,
        },
        hour: 0,
        minute: 0,
        second: 0,
        offset_minutes: 0,
    })
}

fn part_path(part: &[u32]) -> String {
    part.iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(".")
}

/// `* n FETCH (` item SP item ... `)` CRLF, item by item.
struct Line {
    first: bool,
}

impl Line {
    fn start(out: &mut BytesMut, seq: u32) -> Line {
        out.put_slice(format!("* {seq} FETCH (").as_bytes());
        Line { first: true }
    }

    /// Writes the separator before the next item and returns the buffer
    /// to write the item into.
    fn item<'r>(&mut self, resp: &'r mut Resp<'_>) -> &'r mut BytesMut {
        let out = resp.buf();
        if !std::mem::replace(&mut self.first, false) {
            out.put_u8(b' ');
        }
        out
    }
}
