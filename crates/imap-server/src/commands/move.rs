//! RFC 6851 / RFC 9051 §6.4.8 MOVE / UID MOVE.
//!
//! One store transaction copies and expunges. The client then gets
//! `* OK [COPYUID ...]` before the EXPUNGE (or, with QRESYNC, VANISHED)
//! responses of the moved messages (RFC 6851 §4.3), and the tagged OK.
//! Moving into the selected mailbox itself is allowed: the messages get new
//! UIDs, reported as new messages by the following sync.

use pillarbox_imap_proto::{Code, Mailbox as WireMailbox, Response, SequenceSet, StatusKind};
use pillarbox_store::Uid;

use super::copy::{copy_uid, resolve_target, source_uids, target_error};
use super::{Completion, selected};
use crate::session::ImapSession;

pub(crate) async fn run(
    s: &mut ImapSession,
    uid: bool,
    set: SequenceSet,
    mailbox: WireMailbox,
) -> Completion {
    let store = s.ctx.store.clone();
    let Some((account, sel)) = selected(s) else {
        return Completion::bad("No mailbox selected");
    };
    if sel.read_only {
        // RFC 6851 §3.3: MOVE expunges, which a read-only mailbox refuses.
        return Completion::no(Some(Code::ReadOnly), "Mailbox is read-only");
    }
    let from = sel.mailbox;
    let uids = match source_uids(sel, &set, uid) {
        Ok(u) => u,
        Err(done) => return done,
    };
    let to = match resolve_target(s, account, &mailbox).await {
        Ok(id) => id,
        Err(done) => return done,
    };
    if uids.is_empty() {
        return Completion::ok("No matching messages, so nothing moved");
    }
    let moved = match store.move_messages(account, from, &uids, to).await {
        Ok(m) => m,
        Err(e) => return target_error(&e),
    };
    let Some(code) = copy_uid(&moved) else {
        // Expunged elsewhere meanwhile: nothing moved.
        return Completion::ok("No matching messages, so nothing moved");
    };
    let enabled = s.enabled;
    let opts = s.encode_opts();
    s.send(Response::untagged(StatusKind::Ok, Some(code), "Moved"));
    let gone: Vec<Uid> = moved.uids.iter().map(|(src, _)| *src).collect();
    let Some((_, sel)) = selected(s) else {
        return Completion::bad("No mailbox selected");
    };
    let mut out = bytes::BytesMut::new();
    sel.report_expunged(&gone, enabled, &mut out, opts);
    s.out.extend_from_slice(&out);
    Completion::ok("")
}
