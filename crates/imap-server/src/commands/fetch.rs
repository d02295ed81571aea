//! RFC 9051 §6.4.5 FETCH and UID FETCH, with RFC 3501 `RFC822*` items,
//! RFC 3516 BINARY, RFC 7162 MODSEQ / CHANGEDSINCE / VANISHED, RFC 8474
//! EMAILID / THREADID, RFC 8514 SAVEDATE and RFC 8970 PREVIEW.
//!
//! Everything is answered from stored data: flags, sizes and dates from the
//! mailbox entries; ENVELOPE, BODY and BODYSTRUCTURE from the parse-once
//! summary; body sections by reading only their byte range from the store
//! (see [`body`]). The response is produced in bounded chunks (see
//! [`stream`]): message by message, large bodies slice by slice, so a
//! session holds neither a whole mailbox's response nor a whole body.

mod body;
mod decode;
mod preview;
mod stream;
mod view;
mod write;

use std::collections::VecDeque;

use bytes::BytesMut;
use pillarbox_imap_proto::{
    Code, Data, EncodeOptions, FetchAttr, FetchCommand, Response, SequenceSet, Tag,
};
use pillarbox_session::Control;
use pillarbox_store::{AccountId, FlagChange, FlagOp, Flags, ModSeq, Store, Uid};

use super::{Completion, complete, selected};
use crate::selected::Selected;
use crate::session::{Enabled, ImapSession, Pending, State};
use body::{FetchError, Msg};
pub(crate) use stream::FetchStream;
use stream::{Step, step};

/// FETCH / UID FETCH: answers what fits in one chunk now; the rest follows
/// as the client reads (the session's `Pending::Fetch`).
pub(crate) async fn run(
    s: &mut ImapSession,
    tag: Tag,
    name: &'static str,
    allow_expunge: bool,
    cmd: FetchCommand,
) -> Control {
    match start(s, cmd).await {
        Ok(parts) => {
            let st = Box::new(FetchStream {
                tag,
                name,
                allow_expunge,
                cx: parts.cx,
                account: parts.account,
                plan: parts.plan,
                queue: parts.queue,
                view: parts.view,
                seen_set: parts.seen_set,
                missing: parts.missing,
                rest: VecDeque::new(),
            });
            s.pending = Pending::Fetch(st);
            resume(s).await
        }
        Err(done) => complete(s, &tag, name, done, allow_expunge).await,
    }
}

/// Produces the next chunk of the FETCH in progress; completes the command
/// after its last message.
pub(crate) async fn resume(s: &mut ImapSession) -> Control {
    let Pending::Fetch(mut st) = std::mem::replace(&mut s.pending, Pending::None) else {
        return Control::Continue;
    };
    let done = match &mut s.state {
        State::Selected(_, sel) => step(&mut st, sel, &mut s.out).await,
        _ => Step::Done(Completion::bad("No mailbox selected")),
    };
    match done {
        Step::More => {
            s.pending = Pending::Fetch(st);
            Control::Continue
        }
        Step::Done(done) => complete(s, &st.tag, st.name, done, st.allow_expunge).await,
        Step::Broken => {
            s.state = State::Logout;
            Control::Close
        }
    }
}

/// What a FETCH answers, decided before its first response.
struct Started {
    cx: Cx,
    account: AccountId,
    plan: Plan,
    queue: VecDeque<(u32, pillarbox_store::Entry)>,
    view: Option<view::ViewFetch>,
    seen_set: Vec<Uid>,
    missing: bool,
}

async fn start(s: &mut ImapSession, cmd: FetchCommand) -> Result<Started, Completion> {
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
            return Err(Completion::bad("VANISHED requires UID FETCH"));
        }
        if !s.enabled.qresync {
            return Err(Completion::bad("QRESYNC must be enabled first"));
        }
        if modifiers.changed_since.is_none() {
            return Err(Completion::bad("VANISHED requires CHANGEDSINCE"));
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
    let mut out = std::mem::take(&mut s.out);
    let started = match selected(s) {
        Some((account, sel)) => {
            prepare(cx, account, sel, &set, plan, modifiers.vanished, &mut out).await
        }
        None => Err(Completion::bad("No mailbox selected")),
    };
    s.out = out;
    started
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
pub(super) struct Plan {
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
pub(super) struct Cx {
    store: Store,
    enabled: Enabled,
    opts: EncodeOptions,
}

/// Resolves the set, writes `VANISHED (EARLIER)` and sets `\Seen` where
/// due: everything before the first FETCH response.
async fn prepare(
    cx: Cx,
    account: AccountId,
    sel: &mut Selected,
    set: &SequenceSet,
    plan: Plan,
    vanished: bool,
    out: &mut BytesMut,
) -> Result<Started, Completion> {
    let targets = resolve_checked(sel, set, plan.by_uid)?;
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
            Err(e) => return Err(Completion::store(&e)),
        }
    }
    let mut started = Started {
        cx,
        account,
        plan,
        queue: VecDeque::new(),
        view: None,
        seen_set: Vec::new(),
        missing: false,
    };
    if targets.is_empty() {
        return Ok(started);
    }
    if started.plan.view_only() {
        let (v, missing) = view::prepare(&started.cx.store, account, sel, targets)
            .await
            .map_err(|e| Completion::store(&e))?;
        started.view = Some(v);
        started.missing = missing;
        return Ok(started);
    }
    let (cx, plan) = (&started.cx, &started.plan);
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
    let mut entries = entries.map_err(|e| Completion::store(&e))?;
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
                    return Err(failed(e));
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
                Err(e) => return Err(Completion::store(&e)),
            }
        }
    }
    // Only the chosen entries are kept for the rest of the command.
    started.queue = chosen
        .into_iter()
        .map(|(seq, i)| (seq, entries[i].clone()))
        .collect();
    started.seen_set = seen_set;
    started.missing = missing;
    Ok(started)
}

fn failed(e: FetchError) -> Completion {
    match e {
        FetchError::Store(e) => Completion::store(&e),
        FetchError::UnknownCte => {
            Completion::no(Some(Code::UnknownCte), "Unknown Content-Transfer-Encoding")
        }
    }
}
