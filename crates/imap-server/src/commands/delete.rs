//! RFC 9051 §6.3.5 DELETE.
//!
//! - INBOX cannot be deleted: `NO [CANNOT]`.
//! - A name that is no mailbox: `NO [NONEXISTENT]`, or `NO [HASCHILDREN]`
//!   when it is a `\Noselect` level above existing mailboxes ("It is an
//!   error to attempt to delete a name that has inferior hierarchical
//!   names and also has the \Noselect mailbox name attribute").
//! - A mailbox with children may be deleted: its messages go, the
//!   children stay, and its name becomes a `\Noselect` level (the
//!   alternative §6.3.5 allows). Subscriptions are kept (§6.3.7).
//! - Deleting the mailbox this session has selected is allowed: the
//!   session leaves the selected state and says so with an untagged
//!   `OK [CLOSED]` before the tagged OK (RFC 9051 §7.1 CLOSED marks the
//!   end of responses about a mailbox). Later selected-state commands get
//!   `BAD`. Other sessions that have it selected see every message
//!   expunged at their next synchronisation.

use pillarbox_imap_proto::{Code, Mailbox as WireMailbox};
use pillarbox_store::{ErrorKind, names};

use super::Completion;
use super::mailbox_names::canonical;
use crate::session::{ImapSession, State};

pub(crate) async fn run(s: &mut ImapSession, mailbox: WireMailbox) -> Completion {
    let Some(account) = s.account() else {
        return Completion::bad("Log in first");
    };
    let Some(name) = canonical(mailbox.as_str()) else {
        return Completion::no(Some(Code::NonExistent), "No such mailbox");
    };
    if name == "INBOX" {
        return Completion::no(Some(Code::Cannot), "INBOX cannot be deleted");
    }
    let store = s.ctx.store.clone();
    let mb = match store.mailbox_by_name(account, &name).await {
        Ok(Some(mb)) => mb,
        Ok(None) => {
            let mailboxes = match store.list_mailboxes(account).await {
                Ok(m) => m,
                Err(e) => return Completion::store(&e),
            };
            if mailboxes.iter().any(|m| names::is_below(&m.name, &name)) {
                return Completion::no(
                    Some(Code::HasChildren),
                    "Name has inferior hierarchical names and is not a mailbox",
                );
            }
            return Completion::no(Some(Code::NonExistent), "No such mailbox");
        }
        Err(e) => return Completion::store(&e),
    };
    match store.delete_mailbox(account, &name).await {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Completion::no(Some(Code::NonExistent), "No such mailbox");
        }
        Err(e) => return Completion::store(&e),
    }
    if matches!(&s.state, State::Selected(_, sel) if sel.mailbox == mb.id) {
        s.deselect();
        s.untagged_ok(Some(Code::Closed), "Selected mailbox deleted");
    }
    Completion::ok("")
}
