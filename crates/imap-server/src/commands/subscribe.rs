//! RFC 9051 §6.3.7 SUBSCRIBE and §6.3.8 UNSUBSCRIBE.
//!
//! Any valid name may be subscribed, whether a mailbox of that name exists
//! or not (§6.3.7 leaves the check to the server; a name whose mailbox was
//! deleted stays subscribed). Subscribing twice, or unsubscribing a name
//! that is not subscribed, succeeds.

use pillarbox_imap_proto::{Code, Mailbox as WireMailbox};

use super::Completion;
use super::mailbox_names::canonical;
use crate::session::ImapSession;

pub(crate) async fn run(s: &mut ImapSession, mailbox: WireMailbox, on: bool) -> Completion {
    let Some(account) = s.account() else {
        return Completion::bad("Log in first");
    };
    let Some(name) = canonical(mailbox.as_str()) else {
        return Completion::no(Some(Code::Cannot), "Invalid mailbox name");
    };
    match s.ctx.store.set_subscribed(account, &name, on).await {
        Ok(()) => Completion::ok(""),
        Err(e) => Completion::store(&e),
    }
}
