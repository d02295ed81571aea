//! RFC 3691 / RFC 9051 §6.4.2 UNSELECT: leave the mailbox without expunging.

use super::Completion;
use crate::session::ImapSession;

pub(crate) fn run(s: &mut ImapSession) -> Completion {
    s.deselect();
    Completion::ok("")
}
