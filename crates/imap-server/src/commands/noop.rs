//! RFC 9051 §6.1.2 NOOP: does nothing; the pending changes of the selected
//! mailbox are reported by the completion path.

use super::Completion;
use crate::session::ImapSession;

pub(crate) fn run(_s: &mut ImapSession) -> Completion {
    Completion::ok("")
}
