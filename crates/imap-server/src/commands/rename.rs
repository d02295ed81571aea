//! RFC 9051 §6.3.6 RENAME.
//!
//! Mailboxes below the renamed one are renamed with it; ids, UIDVALIDITY,
//! UIDs and MODSEQs are kept, and subscriptions follow (the store does
//! this in one transaction). Renaming INBOX moves its messages into a new
//! mailbox and leaves INBOX empty; its children stay. Errors:
//! `NO [NONEXISTENT]` if the source is no mailbox, `NO [ALREADYEXISTS]` if
//! the new name (or a renamed child's) is taken, `NO [CANNOT]` for an
//! invalid new name or a move below itself. A session that has a renamed
//! mailbox selected keeps it selected under the new name; when INBOX is
//! renamed, the session with INBOX selected sees its messages expunged.

use pillarbox_imap_proto::{Code, Mailbox as WireMailbox};
use pillarbox_store::{ErrorKind, names};

use super::Completion;
use super::mailbox_names::canonical;
use crate::session::{ImapSession, State};

pub(crate) async fn run(s: &mut ImapSession, from: WireMailbox, to: WireMailbox) -> Completion {
    let Some(account) = s.account() else {
        return Completion::bad("Log in first");
    };
    let Some(from) = canonical(from.as_str()) else {
        return Completion::no(Some(Code::NonExistent), "No such mailbox");
    };
    let Some(to) = canonical(to.as_str()) else {
        return Completion::no(Some(Code::Cannot), "Invalid new mailbox name");
    };
    let store = s.ctx.store.clone();
    match store.mailbox_by_name(account, &from).await {
        Ok(Some(_)) => {}
        Ok(None) => return Completion::no(Some(Code::NonExistent), "No such mailbox"),
        Err(e) => return Completion::store(&e),
    }
    if to == "INBOX" {
        return Completion::no(Some(Code::AlreadyExists), "Mailbox already exists");
    }
    if from != "INBOX" && names::is_below(&to, &from) {
        return Completion::no(Some(Code::Cannot), "Cannot move a mailbox below itself");
    }
    match store.rename_mailbox(account, &from, &to).await {
        Ok(_) => {}
        Err(e) => {
            return match e.kind() {
                ErrorKind::NotFound => Completion::no(Some(Code::NonExistent), "No such mailbox"),
                ErrorKind::Conflict => {
                    Completion::no(Some(Code::AlreadyExists), "Mailbox already exists")
                }
                ErrorKind::Invalid => Completion::no(Some(Code::Cannot), "Cannot rename"),
                _ => Completion::store(&e),
            };
        }
    }
    // The selected view follows its mailbox's new name.
    if from != "INBOX"
        && let State::Selected(_, sel) = &mut s.state
        && (sel.name == from || names::is_below(&sel.name, &from))
    {
        sel.name = format!("{to}{}", &sel.name[from.len()..]);
    }
    Completion::ok("")
}
