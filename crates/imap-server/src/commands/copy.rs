//! RFC 9051 §6.4.7 COPY / UID COPY with RFC 4315 COPYUID.
//!
//! The store copies atomically (all or nothing, quota included), sharing
//! the stored messages. [`resolve_target`] and [`source_uids`] are shared
//! with MOVE.

use pillarbox_imap_proto::{Code, Mailbox as WireMailbox, SequenceSet};
use pillarbox_store::{AccountId, Copied, ErrorKind, MailboxId, StoreError, Uid};

use super::fetch::resolve_checked;
use super::{Completion, selected};
use crate::selected::Selected;
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
        // RFC 9051 §6.3.12 example (A005): no COPYUID when nothing matched.
        return Completion::ok("No matching messages, so nothing copied");
    }
    match store.copy(account, from, &uids, to).await {
        Ok(copied) => match copy_uid(&copied) {
            Some(code) => Completion::ok_code(code, ""),
            None => Completion::ok("No matching messages, so nothing copied"),
        },
        Err(e) => target_error(&e),
    }
}

/// The UIDs of the view that `set` names, ascending. A message sequence
/// number beyond the view, or `*` in an empty one, is BAD as for FETCH
/// ([`resolve_checked`]); UIDs never are.
pub(crate) fn source_uids(
    sel: &Selected,
    set: &SequenceSet,
    uid: bool,
) -> Result<Vec<Uid>, Completion> {
    let mut uids: Vec<Uid> = resolve_checked(sel, set, uid)?
        .into_iter()
        .map(|(_, u)| u)
        .collect();
    uids.sort_unstable();
    uids.dedup();
    Ok(uids)
}

/// The destination mailbox: `NO [TRYCREATE]` when it does not exist
/// (RFC 9051 §6.4.7).
pub(crate) async fn resolve_target(
    s: &ImapSession,
    account: AccountId,
    mailbox: &WireMailbox,
) -> Result<MailboxId, Completion> {
    match s.ctx.store.mailbox_by_name(account, mailbox.as_str()).await {
        Ok(Some(mb)) => Ok(mb.id),
        Ok(None) => Err(no_target()),
        Err(e) => Err(Completion::store(&e)),
    }
}

fn no_target() -> Completion {
    Completion::no(Some(Code::TryCreate), "Mailbox does not exist")
}

/// A failed copy or move: the destination vanishing meanwhile is still
/// TRYCREATE; the rest (`[OVERQUOTA]`, ...) is the one store mapping.
pub(crate) fn target_error(e: &StoreError) -> Completion {
    if e.kind() == ErrorKind::NotFound {
        no_target()
    } else {
        Completion::store(e)
    }
}

/// RFC 4315 `COPYUID uidvalidity source-uids dest-uids`; `None` when
/// nothing was copied. Destination UIDs ascend with the source UIDs, so
/// the two compact sets list them in matching order.
pub(crate) fn copy_uid(copied: &Copied) -> Option<Code> {
    let source = SequenceSet::from_numbers(copied.uids.iter().map(|(s, _)| s.0))?;
    let dest = SequenceSet::from_numbers(copied.uids.iter().map(|(_, d)| d.0))?;
    Some(Code::CopyUid {
        uidvalidity: copied.uid_validity.0,
        source,
        dest,
    })
}

#[cfg(test)]
mod tests {
    use crate::commands::append::harness::Harness;

    const MSG: &str = "Subject: test\r\n\r\nsome body text\r\n"; // 33 octets

    async fn two_messages(quota: Option<u64>) -> Harness {
        let mut h = Harness::new(quota).await;
        let out = h
            .send(&format!(
                "a1 APPEND INBOX {{33+}}\r\n{MSG} {{33+}}\r\n{MSG}\r\n"
            ))
            .await;
        assert!(out.starts_with("a1 OK [APPENDUID"), "{out}");
        let out = h.send("a2 SELECT INBOX\r\n").await;
        assert!(out.contains("a2 OK [READ-WRITE]"), "{out}");
        h
    }

    #[tokio::test]
    async fn copy_over_quota_copies_nothing() {
        let mut h = two_messages(Some(100)).await;
        let out = h.send("b1 COPY 1:2 Archive\r\n").await;
        assert_eq!(out, "b1 NO [OVERQUOTA] Quota exceeded\r\n");
        assert!(h.entries("Archive").await.is_empty());
        // One copy fits.
        let out = h.send("b2 UID COPY 2 Archive\r\n").await;
        assert!(out.starts_with("b2 OK [COPYUID "), "{out}");
        assert!(out.ends_with(" 2 1] UID COPY completed\r\n"), "{out}");
    }

    #[tokio::test]
    async fn move_is_not_held_by_the_quota() {
        let mut h = two_messages(Some(66)).await;
        let out = h.send("b1 MOVE 1:2 Archive\r\n").await;
        assert!(out.starts_with("* OK [COPYUID "), "{out}");
        assert!(
            out.ends_with(
                " 1:2 1:2] Moved\r\n* 2 EXPUNGE\r\n* 1 EXPUNGE\r\nb1 OK MOVE completed\r\n"
            ),
            "{out}"
        );
        assert_eq!(h.entries("Archive").await.len(), 2);
        assert!(h.entries("INBOX").await.is_empty());
    }
}
