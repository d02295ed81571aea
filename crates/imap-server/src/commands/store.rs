//! RFC 9051 §6.4.6 STORE and UID STORE, with RFC 7162 §3.1.3
//! UNCHANGEDSINCE (conditional STORE).
//!
//! The change is one store transaction ([`pillarbox_store::MailStore::store_flags`]).
//! Each message of the set then gets `* n FETCH (FLAGS ...)` with its new
//! flags (plus UID for UID STORE or with CONDSTORE, and MODSEQ with
//! CONDSTORE), unless `.SILENT`; every change made is recorded in the view
//! so the completion's sync does not echo it.

use bytes::BytesMut;
use pillarbox_imap_proto::{
    Code, Data, EncodeOptions, FetchValue, Flag, Response, SequenceSet, StoreCommand, StoreMode,
};
use pillarbox_store::{AccountId, Entry, FlagChange, FlagOp, ModSeq, Store, Uid};

use super::fetch::{enable_condstore, resolve_checked};
use super::{Completion, selected};
use crate::selected::{Selected, flag_list, split_flags, write_flags};
use crate::session::{Enabled, ImapSession};

pub(crate) async fn run(s: &mut ImapSession, cmd: StoreCommand) -> Completion {
    let StoreCommand {
        uid,
        set,
        unchanged_since,
        mode,
        silent,
        flags,
    } = cmd;
    for f in &flags {
        match f {
            Flag::MayCreate => return Completion::bad("\\* is not a flag"),
            // RFC 9051 §2.3.2: only the defined system flags can be set.
            Flag::Extension(_) => return Completion::bad("Unknown system flag"),
            _ => {}
        }
    }
    // \Recent is never stored by clients (RFC 3501 §2.3.2): split_flags
    // drops it.
    let (system, keywords) = split_flags(&flags);
    if pillarbox_store::names::keywords(&keywords).is_err() {
        return Completion::bad("Invalid keyword");
    }
    let op = match mode {
        StoreMode::Replace => FlagOp::Replace,
        StoreMode::Add => FlagOp::Add,
        StoreMode::Remove => FlagOp::Remove,
    };
    let req = Request {
        uid,
        silent,
        unchanged_since: unchanged_since.map(ModSeq),
        change: FlagChange {
            op,
            flags: system,
            keywords,
        },
    };
    // RFC 7162 §3.1: UNCHANGEDSINCE is a CONDSTORE-enabling command.
    if unchanged_since.is_some() {
        enable_condstore(s);
    }
    let store = s.ctx.store.clone();
    let enabled = s.enabled;
    let opts = s.encode_opts();
    let mut out = std::mem::take(&mut s.out);
    let done = match selected(s) {
        Some((account, sel)) => {
            let cx = Cx {
                store: &store,
                account,
                enabled,
                opts,
            };
            store_flags(&cx, sel, &set, req, &mut out).await
        }
        None => Completion::bad("No mailbox selected"),
    };
    s.out = out;
    done
}

struct Request {
    uid: bool,
    silent: bool,
    unchanged_since: Option<ModSeq>,
    change: FlagChange,
}

struct Cx<'a> {
    store: &'a Store,
    account: AccountId,
    enabled: Enabled,
    opts: EncodeOptions,
}

async fn store_flags(
    cx: &Cx<'_>,
    sel: &mut Selected,
    set: &SequenceSet,
    req: Request,
    out: &mut BytesMut,
) -> Completion {
    let targets = match resolve_checked(sel, set, req.uid) {
        Ok(t) => t,
        Err(c) => return c,
    };
    if sel.read_only {
        return Completion::no(Some(Code::ReadOnly), "Mailbox is read-only");
    }
    if targets.is_empty() {
        return Completion::ok("");
    }
    let uids: Vec<Uid> = targets.iter().map(|(_, u)| *u).collect();
    let stored = match cx
        .store
        .store_flags(
            cx.account,
            sel.mailbox,
            &uids,
            req.change,
            req.unchanged_since,
        )
        .await
    {
        Ok(r) => r,
        Err(e) => return Completion::store(&e),
    };
    for e in &stored.changed {
        sel.note_reported(e);
    }
    // New keywords: announce them (FLAGS, PERMANENTFLAGS) before the FETCH
    // responses that use them.
    let known = |k: &String| sel.keywords.iter().any(|x| x.eq_ignore_ascii_case(k));
    if stored
        .changed
        .iter()
        .any(|e| e.keywords.iter().any(|k| !known(k)))
    {
        match cx.store.mailbox_keywords(cx.account, sel.mailbox).await {
            Ok(k) => {
                sel.keywords = k;
                write_flags(sel, out, cx.opts);
            }
            // The next sync announces them.
            Err(e) => tracing::debug!(error = %e, "keyword list not reloaded"),
        }
    }
    // Messages the STORE left as they were still get their flags (unless
    // .SILENT, or refused by UNCHANGEDSINCE): read their current state.
    let unchanged_shown = !req.silent && stored.changed.len() + stored.modified.len() < uids.len();
    let current: Vec<Entry> = if unchanged_shown {
        match cx.store.entries(cx.account, sel.mailbox).await {
            Ok(e) => e,
            Err(e) => return Completion::store(&e),
        }
    } else {
        Vec::new()
    };
    // RFC 7162 §3.1: with CONDSTORE on, FETCH responses carry UID and MODSEQ.
    let with_uid = req.uid || cx.enabled.condstore;
    // RFC 7162 §3.1.3: with UNCHANGEDSINCE a FETCH with MODSEQ is sent for
    // each changed message even with .SILENT.
    let respond = !req.silent || req.unchanged_since.is_some();
    for (seq, uid) in targets.iter().filter(|_| respond) {
        let (entry, changed) = match stored.changed.binary_search_by_key(uid, |e| e.uid) {
            Ok(i) => (&stored.changed[i], true),
            Err(_) if !unchanged_shown || stored.modified.binary_search(uid).is_ok() => continue,
            Err(_) => match current.binary_search_by_key(uid, |e| e.uid) {
                Ok(i) => (&current[i], false),
                // Expunged meanwhile.
                Err(_) => continue,
            },
        };
        let mut items = Vec::with_capacity(3);
        if with_uid {
            items.push(FetchValue::Uid(entry.uid.0));
        }
        if req.silent {
            if !changed {
                continue;
            }
        } else {
            let recent = !cx.enabled.rev2 && sel.recent.contains(&entry.uid);
            items.push(FetchValue::Flags(flag_list(
                entry.flags,
                &entry.keywords,
                recent,
            )));
        }
        if cx.enabled.condstore {
            items.push(FetchValue::ModSeq(entry.modseq.0));
        }
        Response::Data(Data::Fetch { seq: *seq, items }).encode(out, cx.opts);
        if !changed {
            sel.note_reported(entry);
        }
    }
    // RFC 7162 §3.1.3: the messages that failed the UNCHANGEDSINCE test, as
    // sequence numbers for STORE and UIDs for UID STORE.
    let modified = stored
        .modified
        .iter()
        .filter_map(|u| if req.uid { Some(u.0) } else { sel.seq_of(*u) });
    if let Some(set) = SequenceSet::from_numbers(modified) {
        return Completion::ok_code(Code::Modified(set), "Conditional STORE failed");
    }
    Completion::ok("")
}
