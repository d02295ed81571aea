//! FETCH of flags, UID and MODSEQ only (e.g. a client's `FETCH 1:*
//! (FLAGS UID)` resync), answered from the selected view.
//!
//! The view holds every message's flags as of its last sync
//! (`Selected::flags`, kept current by `Selected::sync`); what changed in
//! the store since then is read once at the start of the command (the
//! entries above the view's MODSEQ, and the UIDs expunged since), so the
//! answer is as current as one read of every entry, at the cost of the
//! changes only. Lines are written straight into the output buffer, in
//! chunks of [`CHUNK`] octets like any FETCH.

use bytes::{BufMut, BytesMut};
use pillarbox_imap_proto::FetchAttr;
use pillarbox_store::{AccountId, Entry, Flags, ModSeq, Store, StoreError, Uid};

use super::Plan;
use super::stream::CHUNK;
use crate::selected::Selected;
use crate::session::Enabled;

/// A flags-only FETCH in progress.
#[derive(Debug)]
pub(super) struct ViewFetch {
    /// `(seq, uid)` of the messages to answer, ascending.
    targets: Vec<(u32, Uid)>,
    /// The next target to answer.
    next: usize,
    /// Entries changed in the store since the view's last sync, by UID.
    changed: Vec<Entry>,
}

impl Plan {
    /// Whether every requested item is in the view: FLAGS, MODSEQ and UID,
    /// without CHANGEDSINCE (which reads only the changed entries anyway).
    /// Such a FETCH never sets `\Seen`.
    pub(super) fn view_only(&self) -> bool {
        self.changed_since.is_none()
            && !self.sets_seen
            && self
                .attrs
                .iter()
                .all(|a| matches!(a, FetchAttr::Flags | FetchAttr::ModSeq))
    }
}

/// Reads what changed since the view's last sync. Returns the FETCH and
/// whether some targets were expunged elsewhere (they are left out, as
/// when the entries are read from the store).
pub(super) async fn prepare(
    store: &Store,
    account: AccountId,
    sel: &Selected,
    mut targets: Vec<(u32, Uid)>,
) -> Result<(ViewFetch, bool), StoreError> {
    let mut changed = Vec::new();
    let mut gone: Vec<Uid> = sel.pending_expunge.iter().copied().collect();
    // One cheap read tells whether anything changed at all.
    let high = match store.mailbox(account, sel.mailbox).await? {
        Some(mb) => mb.highest_modseq,
        // Deleted: the reads below fail as reading every entry would.
        None => ModSeq(u64::MAX),
    };
    if high > sel.known_modseq {
        changed = store
            .entries_changed_since(account, sel.mailbox, sel.known_modseq)
            .await?;
        gone.extend(
            store
                .vanished(account, sel.mailbox, sel.known_modseq)
                .await?,
        );
        gone.sort_unstable();
    }
    let before = targets.len();
    if !gone.is_empty() {
        targets.retain(|(_, uid)| gone.binary_search(uid).is_err());
    }
    let missing = targets.len() < before;
    Ok((
        ViewFetch {
            targets,
            next: 0,
            changed,
        },
        missing,
    ))
}

/// Appends responses to `out` until it holds [`CHUNK`] octets; true once
/// every target is answered.
pub(super) fn step(
    v: &mut ViewFetch,
    plan: &Plan,
    enabled: Enabled,
    sel: &mut Selected,
    out: &mut BytesMut,
) -> bool {
    out.reserve(CHUNK.saturating_sub(out.len()) + 512);
    let recent_shown = !enabled.rev2 && !sel.recent.is_empty();
    while out.len() < CHUNK {
        let Some(&(seq, uid)) = v.targets.get(v.next) else {
            return true;
        };
        v.next += 1;
        let recent = recent_shown && sel.recent.contains(&uid);
        let newer = if v.changed.is_empty() {
            None
        } else {
            v.changed
                .binary_search_by_key(&uid, |e| e.uid)
                .ok()
                .map(|i| &v.changed[i])
        };
        match newer {
            Some(e) => {
                write_line(out, plan, seq, uid, e.flags, &e.keywords, recent, e.modseq);
                // As in `stream::step`: flags reported (with MODSEQ once
                // CONDSTORE is on) need not be echoed by the next sync.
                if plan.flags_requested && (plan.modseq_requested || !enabled.condstore) {
                    sel.note_reported(e);
                }
            }
            None => {
                // `seq` numbers the view: its state is at index seq - 1.
                let i = seq as usize - 1;
                let keywords = if sel.msg_keywords.is_empty() {
                    &[][..]
                } else {
                    sel.msg_keywords.get(&uid).map_or(&[][..], Vec::as_slice)
                };
                write_line(
                    out,
                    plan,
                    seq,
                    uid,
                    sel.flags[i],
                    keywords,
                    recent,
                    sel.modseqs[i],
                );
            }
        }
    }
    v.next >= v.targets.len()
}

/// `* seq FETCH (UID u FLAGS (...) MODSEQ (m))` CRLF, the items in the
/// order `stream::step` writes them: UID first, then as requested.
#[allow(clippy::too_many_arguments)]
fn write_line(
    out: &mut BytesMut,
    plan: &Plan,
    seq: u32,
    uid: Uid,
    flags: Flags,
    keywords: &[String],
    recent: bool,
    modseq: ModSeq,
) {
    out.put_slice(b"* ");
    put_u64(out, seq.into());
    out.put_slice(b" FETCH (");
    let mut first = true;
    let mut sep = |out: &mut BytesMut| {
        if !std::mem::replace(&mut first, false) {
            out.put_u8(b' ');
        }
    };
    if plan.uid {
        sep(out);
        out.put_slice(b"UID ");
        put_u64(out, uid.0.into());
    }
    for attr in &plan.attrs {
        sep(out);
        match attr {
            FetchAttr::Flags => write_flags(out, flags, keywords, recent),
            _ => {
                out.put_slice(b"MODSEQ (");
                put_u64(out, modseq.0);
                out.put_u8(b')');
            }
        }
    }
    out.put_slice(b")\r\n");
}

/// `FLAGS (...)` in the order of `selected::flag_list`.
fn write_flags(out: &mut BytesMut, flags: Flags, keywords: &[String], recent: bool) {
    out.put_slice(b"FLAGS (");
    let mut first = true;
    let names = [
        (Flags::SEEN, &b"\\Seen"[..]),
        (Flags::ANSWERED, b"\\Answered"),
        (Flags::FLAGGED, b"\\Flagged"),
        (Flags::DELETED, b"\\Deleted"),
        (Flags::DRAFT, b"\\Draft"),
    ];
    let system = names
        .iter()
        .filter(|(f, _)| flags.contains(*f))
        .map(|(_, n)| *n);
    let recent = recent.then_some(&b"\\Recent"[..]);
    for name in system
        .chain(recent)
        .chain(keywords.iter().map(|k| k.as_bytes()))
    {
        if !std::mem::replace(&mut first, false) {
            out.put_u8(b' ');
        }
        out.put_slice(name);
    }
    out.put_u8(b')');
}

/// Decimal digits without formatting machinery.
fn put_u64(out: &mut BytesMut, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.put_slice(&buf[i..]);
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;

    use super::put_u64;

    #[test]
    fn decimal() {
        for n in [0, 7, 10, 99, 100, 4_294_967_295, u64::MAX] {
            let mut b = BytesMut::new();
            put_u64(&mut b, n);
            assert_eq!(b, n.to_string().as_bytes());
        }
    }
}
