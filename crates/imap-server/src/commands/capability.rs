//! RFC 9051 §6.1.1 CAPABILITY.

use pillarbox_imap_proto::Data;

use super::Completion;
use crate::session::ImapSession;

pub(crate) fn run(s: &mut ImapSession) -> Completion {
    let caps = s.capabilities();
    s.data(Data::Capability(caps));
    Completion::ok("")
}
