//! RFC 3501 §6.4.1 CHECK (removed in IMAP4rev2, where it is NOOP): every
//! write is durable when acknowledged, so there is nothing to checkpoint.

use super::Completion;
use crate::session::ImapSession;

pub(crate) fn run(_s: &mut ImapSession) -> Completion {
    Completion::ok("")
}
