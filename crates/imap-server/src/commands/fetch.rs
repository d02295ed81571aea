//! RFC 9051 §6.4.5 FETCH and UID FETCH, with RFC 3501 `RFC822*` items,
//! RFC 3516 BINARY, RFC 7162 MODSEQ / CHANGEDSINCE / VANISHED, RFC 8474
//! EMAILID / THREADID, RFC 8514 SAVEDATE and RFC 8970 PREVIEW.
//!
//! Everything is answered from stored data: flags, sizes and dates from the
//! mailbox entries; ENVELOPE, BODY and BODYSTRUCTURE from the parse-once
//! summary; body sections by reading only their byte range from the store
//! (see [`body`]). Each message's response is written to the session's
//! output as soon as it is complete, so at most one body is held at a time.

mod body;
mod preview;

use bytes::{BufMut, BytesMut};
use pillarbox_imap_proto::{
    Code, Data, Date, DateTime, EncodeOptions, FetchAttr, FetchCommand, Response, SequenceSet,
    write_literal_header, write_nstring,
};
use pillarbox_store::{AccountId, Entry, FlagChange, FlagOp, Flags, ModSeq, Store, Uid};

use super::{Completion, selected};
use crate::selected::{Selected, flag_list};
use crate::session::{Enabled, ImapSession, State};
use body::{FetchError, Msg};

pub(crate) async fn run(s: &mut ImapSession, cmd: FetchCommand) -> Completion {
    let FetchCommand {
        uid,
        set,
        items,
        modifiers,
    } = cmd;
    // RFC 7162 §3.2.6: VANISHED only with UID FETCH, CHANGEDSINCE and
    // QRESYNC enabled; otherwise BAD.
    if modifiers.vanished {
        if !uid {
            return Completion::bad("VANISHED requires UID FETCH");
        }
        if !s.enabled.qresync {
            return Completion::bad("QRESYNC must be enabled first");
        }
        if modifiers.changed_since.is_none() {
            return Completion::bad("VANISHED requires CHANGEDSINCE");
        }
    }
    let plan = Plan::new(items.expand(), uid, modifiers.changed_since);
    // RFC 7162 §3.1: the MODSEQ item and CHANGEDSINCE enable CONDSTORE.
    if plan.modseq_requested || plan.changed_since.is_some() {
        enable_condstore(s);
    }
    let cx = Cx {
        store: s.ctx.store.clone(),
        enabled: s.enabled,
        opts: s.encode_opts(),
    };
    // Responses go straight into the session's output buffer.
    let mut out = std::mem::take(&mut s.out);
    let done = match selected(s) {
        Some((account, sel)) => {
            fetch(&cx, account, sel, &set, &plan, modifiers.vanished, &mut out).await
        }
        None => Completion::bad("No mailbox selected"),
    };
    s.out = out;
    done
}

/// RFC 7162 §3.1: turns CONDSTORE on for the session (a CONDSTORE-enabling
/// command: FETCH MODSEQ / CHANGEDSINCE, STORE UNCHANGEDSINCE, SEARCH
/// MODSEQ). The first one issued with a mailbox selected reports the
/// mailbox's HIGHESTMODSEQ as known to this session.
pub(crate) fn enable_condstore(s: &mut ImapSession) {
    if std::mem::replace(&mut s.enabled.condstore, true) {
        return;
    }
    if let State::Selected(_, sel) = &s.state {
        let modseq = sel.known_modseq.0;
        s.untagged_ok(
            Some(Code::HighestModSeq(modseq)),
            "Highest mailbox modification sequence",
        );
    }
}

/// Resolves a sequence set to `(seq, uid)` pairs like
/// [`Selected::resolve`], but answers BAD for a message sequence number
/// above the number of messages, including `*` in an empty mailbox
/// (RFC 9051 §9, `seq-number`). UIDs not in the view are skipped; the
/// pairs come in ascending order, each once.
pub(crate) fn resolve_checked(
    sel: &Selected,
    set: &SequenceSet,
    uid: bool,
) -> Result<Vec<(u32, Uid)>, Completion> {
    if !uid && !sel.valid_seqs(set) {
        return Err(Completion::bad("Invalid message sequence number"));
    }
    let mut targets = sel.resolve(set, uid);
    if set.is_saved() {
        // `$` holds UIDs in the order saved: answer in sequence order, once.
        targets.sort_unstable();
        targets.dedup();
    }
    Ok(targets)
}

/// What every message's response holds, decided once per command.
#[derive(Debug)]
struct Plan {
    /// The requested items, macros expanded, duplicates and UID removed,
    /// every body item marked PEEK (see `sets_seen`).
    attrs: Vec<FetchAttr>,
    /// UID FETCH (the set holds UIDs).
    by_uid: bool,
    /// UID FETCH, or UID requested: `UID n` leads every response.
    uid: bool,
    flags_requested: bool,
    modseq_requested: bool,
    changed_since: Option<u64>,
    /// A non-PEEK body item: `\Seen` is set (RFC 9051 §6.4.5).
    sets_seen: bool,
}

impl Plan {
    fn new(expanded: Vec<FetchAttr>, uid_fetch: bool, changed_since: Option<u64>) -> Plan {
        let sets_seen = expanded.iter().any(|a| {
            matches!(
                a,
                FetchAttr::BodySection { peek: false, .. }
                    | FetchAttr::Binary { peek: false, .. }
                    | FetchAttr::Rfc822
                    | FetchAttr::Rfc822Text
            )
        });
        let mut attrs: Vec<FetchAttr> = Vec::with_capacity(expanded.len());
        let mut uid = uid_fetch;
        for mut a in expanded {
            // \Seen is decided for the whole command; BODY[x] and
            // BODY.PEEK[x] are then the same item (one response item).
            if let FetchAttr::BodySection { peek, .. } | FetchAttr::Binary { peek, .. } = &mut a {
                *peek = true;
            }
            if a == FetchAttr::Uid {
                uid = true;
            } else if !attrs.contains(&a) {
                attrs.push(a);
            }
        }
        Plan {
            flags_requested: attrs.contains(&FetchAttr::Flags),
            modseq_requested: attrs.contains(&FetchAttr::ModSeq),
            attrs,
            by_uid: uid_fetch,
            uid,
            changed_since,
            sets_seen,
        }
    }

    /// The parts of the BINARY and BINARY.SIZE items.
    fn binary_parts(&self) -> impl Iterator<Item = &[u32]> {
        self.attrs.iter().filter_map(|a| match a {
            FetchAttr::Binary { part, .. } | FetchAttr::BinarySize { part } => {
                Some(part.as_slice())
            }
            _ => None,
        })
    }
}

/// Per-command context that does not borrow the session.
struct Cx {
    store: Store,
    enabled: Enabled,
    opts: EncodeOptions,
}

async fn fetch(
    cx: &Cx,
    account: AccountId,
    sel: &mut Selected,
    set: &SequenceSet,
    plan: &Plan,
    vanished: bool,
    out: &mut BytesMut,
) -> Completion {
    let targets = match resolve_checked(sel, set, plan.by_uid) {
        Ok(t) => t,
        Err(c) => return c,
    };
    // RFC 7162 §3.2.6: `* VANISHED (EARLIER)` comes before the FETCH data.
    if vanished && let Some(since) = plan.changed_since {
        match cx.store.vanished(account, sel.mailbox, ModSeq(since)).await {
            Ok(gone) => {
                let star = gone.last().map_or(0, |u| u.0).max(sel.max_uid());
                let uids = gone.iter().map(|u| u.0).filter(|u| set.contains(*u, star));
                if let Some(uids) = SequenceSet::from_numbers(uids) {
                    Response::Data(Data::Vanished {
                        earlier: true,
                        uids,
                    })
                    .encode(out, cx.opts);
                }
            }
            Err(e) => return Completion::store(&e),
        }
    }
    if targets.is_empty() {
        return Completion::ok("");
    }
    // One indexed scan gives flags, sizes and dates; with CHANGEDSINCE only
    // the changed entries (RFC 7162 §3.1.4.1).
    let entries = match plan.changed_since {
        Some(since) => {
            cx.store
                .entries_changed_since(account, sel.mailbox, ModSeq(since))
                .await
        }
        None => cx.store.entries(account, sel.mailbox).await,
    };
    let mut entries = match entries {
        Ok(e) => e,
        Err(e) => return Completion::store(&e),
    };
    let mut chosen: Vec<(u32, usize)> = Vec::with_capacity(targets.len());
    let mut missing = false;
    for (seq, uid) in &targets {
        match entries.binary_search_by_key(uid, |e| e.uid) {
            Ok(i) => chosen.push((*seq, i)),
            // Unchanged (CHANGEDSINCE), or expunged by another session and
            // not yet reported.
            Err(_) => missing |= plan.changed_since.is_none(),
        }
    }
    // RFC 9051 §6.4.5: non-PEEK body items set \Seen (not in a read-only
    // mailbox); the changed flags are then part of the response.
    let mut seen_set: Vec<Uid> = Vec::new();
    if plan.sets_seen && !sel.read_only {
        let unseen: Vec<Uid> = chosen
            .iter()
            .map(|(_, i)| &entries[*i])
            .filter(|e| !e.flags.contains(Flags::SEEN))
            .map(|e| e.uid)
            .collect();
        // RFC 3516 §4.2: a BINARY that cannot be decoded fails the command;
        // check before \Seen is set, so that a failed FETCH changes nothing.
        for part in plan.binary_parts() {
            for e in entries
                .iter()
                .filter(|e| unseen.binary_search(&e.uid).is_ok())
            {
                let mut msg = Msg::new(&cx.store, account, e);
                if let Err(e) = body::check_binary(&mut msg, part).await {
                    return failed(e);
                }
            }
        }
        if !unseen.is_empty() {
            let change = FlagChange {
                op: FlagOp::Add,
                flags: Flags::SEEN,
                keywords: Vec::new(),
            };
            match cx
                .store
                .store_flags(account, sel.mailbox, &unseen, change, None)
                .await
            {
                Ok(stored) => {
                    for e in stored.changed {
                        if let Ok(i) = entries.binary_search_by_key(&e.uid, |x| x.uid) {
                            seen_set.push(e.uid);
                            entries[i] = e;
                        }
                    }
                }
                Err(e) => return Completion::store(&e),
            }
        }
    }
    for (seq, i) in chosen {
        let entry = &entries[i];
        let flags_changed = seen_set.binary_search(&entry.uid).is_ok();
        let mark = out.len();
        let mut msg = Msg::new(&cx.store, account, entry);
        let written = write_message(cx, sel, plan, seq, &mut msg, flags_changed, out).await;
        if let Err(e) = written {
            // Never leave half a response on the wire.
            out.truncate(mark);
            return failed(e);
        }
        // The flags were reported here (with MODSEQ, once CONDSTORE is on):
        // a later sync need not echo them.
        let flags_sent = flags_changed || plan.flags_requested;
        let modseq_sent = plan.modseq_requested
            || plan.changed_since.is_some()
            || (flags_changed && cx.enabled.condstore);
        if flags_sent && (modseq_sent || !cx.enabled.condstore) {
            sel.note_reported(entry);
        }
    }
    if missing && !plan.by_uid {
        // RFC 2180 §4.1.1 with the RFC 5530 code: the others were sent.
        return Completion::no(
            Some(Code::ExpungeIssued),
            "Some messages were expunged by another session",
        );
    }
    Completion::ok("")
}

fn failed(e: FetchError) -> Completion {
    match e {
        FetchError::Store(e) => Completion::store(&e),
        FetchError::UnknownCte => {
            Completion::no(Some(Code::UnknownCte), "Unknown Content-Transfer-Encoding")
        }
    }
}

/// Writes `* seq FETCH (...)` for one message.
async fn write_message(
    cx: &Cx,
    sel: &Selected,
    plan: &Plan,
    seq: u32,
    msg: &mut Msg<'_>,
    flags_changed: bool,
    out: &mut BytesMut,
) -> Result<(), FetchError> {
    let entry = msg.entry;
    // RFC 7162 §3.1: once CONDSTORE is on, a response that carries a flag
    // change made by this FETCH (implicit \Seen) also has UID and MODSEQ.
    let condstore_change = flags_changed && cx.enabled.condstore;
    let mut line = Line::start(out, seq);
    // Implied items lead: UID, then the FLAGS a \Seen change altered, then
    // MODSEQ (CHANGEDSINCE, or a CONDSTORE flag change).
    if plan.uid || condstore_change {
        line.item(out)
            .put_slice(format!("UID {}", entry.uid).as_bytes());
    }
    if flags_changed && !plan.flags_requested {
        write_flags(line.item(out), sel, cx.enabled, entry);
    }
    let modseq_implied = plan.changed_since.is_some() || condstore_change;
    if modseq_implied && !plan.modseq_requested {
        write_modseq(line.item(out), entry);
    }
    for attr in &plan.attrs {
        match attr {
            FetchAttr::Flags => write_flags(line.item(out), sel, cx.enabled, entry),
            other => write_attr(cx, &mut line, out, msg, other).await?,
        }
    }
    line.finish(out);
    Ok(())
}

async fn write_attr(
    cx: &Cx,
    line: &mut Line,
    out: &mut BytesMut,
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
            line.item(out)
                .put_slice(format!("INTERNALDATE \"{d}\"").as_bytes());
        }
        FetchAttr::Rfc822Size => {
            line.item(out)
                .put_slice(format!("RFC822.SIZE {}", entry.size).as_bytes());
        }
        FetchAttr::ModSeq => write_modseq(line.item(out), entry),
        // RFC 8474: the stored message id is shared by COPY, as required.
        FetchAttr::EmailId => {
            line.item(out)
                .put_slice(format!("EMAILID (E{})", entry.message.0).as_bytes());
        }
        // RFC 8474 §5.2: NIL when the server does not thread messages.
        FetchAttr::ThreadId => line.item(out).put_slice(b"THREADID NIL"),
        FetchAttr::SaveDate => {
            let d = date_time(entry.saved_date);
            line.item(out)
                .put_slice(format!("SAVEDATE \"{d}\"").as_bytes());
        }
        FetchAttr::Envelope => {
            let summary = msg.summary().await?;
            let mut v = Vec::with_capacity(256);
            pillarbox_message::write_envelope(&mut v, &summary.envelope, utf8);
            let o = line.item(out);
            o.put_slice(b"ENVELOPE ");
            o.put_slice(&v);
        }
        FetchAttr::Body | FetchAttr::BodyStructure => {
            let extended = *attr == FetchAttr::BodyStructure;
            let summary = msg.summary().await?;
            let mut v = Vec::with_capacity(256);
            pillarbox_message::write_body(&mut v, &summary.mime, extended, utf8);
            let o = line.item(out);
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
            write_data(line.item(out), &name, data.as_deref(), false);
        }
        FetchAttr::Binary { part, partial, .. } => {
            let data = body::binary(msg, part, *partial).await?;
            let mut name = format!("BINARY[{}]", part_path(part));
            if let Some(p) = partial {
                name.push_str(&format!("<{}>", p.offset));
            }
            write_data(line.item(out), &name, data.as_deref(), true);
        }
        FetchAttr::BinarySize { part } => {
            let size = body::binary_size(msg, part).await?;
            line.item(out)
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
            write_data(line.item(out), name, data.as_deref(), false);
        }
        FetchAttr::Preview => {
            let text = preview::preview(msg).await?;
            let o = line.item(out);
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
fn write_data(out: &mut BytesMut, name: &str, data: Option<&[u8]>, binary: bool) {
    out.put_slice(name.as_bytes());
    out.put_u8(b' ');
    match data {
        Some(d) => {
            write_literal_header(out, d.len() as u64, binary && d.contains(&0));
            out.put_slice(d);
        }
        None => out.put_slice(b"NIL"),
    }
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
    fn item<'o>(&mut self, out: &'o mut BytesMut) -> &'o mut BytesMut {
        if !std::mem::replace(&mut self.first, false) {
            out.put_u8(b' ');
        }
        out
    }

    fn finish(self, out: &mut BytesMut) {
        out.put_slice(b")\r\n");
    }
}
