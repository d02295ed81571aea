//! RFC 9051 §6.3.4 CREATE (+ RFC 6154 CREATE-SPECIAL-USE, RFC 8474
//! MAILBOXID in the tagged OK).
//!
//! A trailing delimiter only declares that the client means to create
//! names below: the mailbox is created without it. Parents implied by the
//! name are not created (LIST shows them as `\NonExistent`/`\Noselect`
//! hierarchy levels); the new mailbox is not subscribed.

use pillarbox_imap_proto::{Code, Mailbox as WireMailbox, MailboxAttr};
use pillarbox_store::{ErrorKind, SpecialUse};

use super::Completion;
use super::mailbox_names::{DELIMITER, canonical};
use super::status::mailbox_id;
use crate::session::ImapSession;

pub(crate) async fn run(
    s: &mut ImapSession,
    mailbox: WireMailbox,
    special_use: Vec<MailboxAttr>,
) -> Completion {
    let Some(account) = s.account() else {
        return Completion::bad("Log in first");
    };
    // RFC 9051 §6.3.4: "the name created is without the trailing
    // hierarchy delimiter".
    let raw = mailbox.as_str();
    let raw = raw.strip_suffix(DELIMITER).unwrap_or(raw);
    let Some(name) = canonical(raw) else {
        return Completion::no(Some(Code::Cannot), "Invalid mailbox name");
    };
    // RFC 9051 §6.3.4: INBOX always exists.
    if name == "INBOX" {
        return Completion::no(Some(Code::AlreadyExists), "Mailbox already exists");
    }
    let use_attr = match special_use_of(&special_use) {
        Ok(u) => u,
        Err(text) => return Completion::no(Some(Code::UseAttr), text),
    };
    match s.ctx.store.create_mailbox(account, &name, use_attr).await {
        Ok(mb) => Completion::ok_code(Code::MailboxId(mailbox_id(&mb)), "CREATE completed"),
        Err(e) if e.kind() == ErrorKind::Conflict => {
            Completion::no(Some(Code::AlreadyExists), "Mailbox already exists")
        }
        Err(e) if e.kind() == ErrorKind::Invalid => {
            Completion::no(Some(Code::Cannot), "Invalid mailbox name")
        }
        Err(e) => Completion::store(&e),
    }
}

/// RFC 6154 §3: the special use asked for with `USE (..)`. One real
/// mailbox can have one of `\Sent \Drafts \Trash \Junk \Archive`; the
/// virtual `\All` and `\Flagged` (and anything else) cannot be created, so
/// the mailbox is not created and the answer is `NO [USEATTR]`.
fn special_use_of(attrs: &[MailboxAttr]) -> Result<Option<SpecialUse>, &'static str> {
    let mut chosen: Option<SpecialUse> = None;
    for a in attrs {
        let u = match a {
            MailboxAttr::Sent => SpecialUse::Sent,
            MailboxAttr::Drafts => SpecialUse::Drafts,
            MailboxAttr::Trash => SpecialUse::Trash,
            MailboxAttr::Junk => SpecialUse::Junk,
            MailboxAttr::Archive => SpecialUse::Archive,
            MailboxAttr::All | MailboxAttr::Flagged => {
                return Err("Virtual special-use mailboxes cannot be created");
            }
            _ => return Err("Unsupported special-use attribute"),
        };
        match chosen {
            Some(c) if c != u => return Err("Only one special-use attribute per mailbox"),
            _ => chosen = Some(u),
        }
    }
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_use_choice() {
        assert_eq!(special_use_of(&[]), Ok(None));
        assert_eq!(
            special_use_of(&[MailboxAttr::Sent]),
            Ok(Some(SpecialUse::Sent))
        );
        assert_eq!(
            special_use_of(&[MailboxAttr::Junk, MailboxAttr::Junk]),
            Ok(Some(SpecialUse::Junk))
        );
        assert!(special_use_of(&[MailboxAttr::Sent, MailboxAttr::Trash]).is_err());
        assert!(special_use_of(&[MailboxAttr::All]).is_err());
        assert!(special_use_of(&[MailboxAttr::Extension("Important".into())]).is_err());
        assert!(special_use_of(&[MailboxAttr::NoSelect]).is_err());
    }
}
