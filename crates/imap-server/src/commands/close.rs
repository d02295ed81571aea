//! RFC 9051 §6.4.1 CLOSE: silently expunge `\Deleted` messages (unless
//! read-only) and leave the mailbox.

use super::Completion;
use crate::session::ImapSession;

pub(crate) async fn run(s: &mut ImapSession) -> Completion {
    let Some(account) = s.account() else {
        return Completion::bad("No mailbox selected");
    };
    let Some(sel) = s.deselect() else {
        return Completion::bad("No mailbox selected");
    };
    if !sel.read_only {
        let store = s.ctx.store.clone();
        let deleted = match sel.deleted_uids(&store, account).await {
            Ok(d) => d,
            Err(e) => return Completion::store(&e),
        };
        if !deleted.is_empty()
            && let Err(e) = store.expunge(account, sel.mailbox, &deleted).await
        {
            return Completion::store(&e);
        }
    }
    // RFC 7162 §3.2.11: with QRESYNC, CLOSED is sent when a mailbox is
    // closed as part of selecting another; a plain CLOSE needs nothing.
    Completion::ok("")
}
