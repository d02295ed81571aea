//! RFC 2177 / RFC 9051 §6.3.13 IDLE: changes of the selected mailbox are
//! pushed as they are committed (the session's `wake`), until DONE.

use pillarbox_imap_proto::Tag;
use pillarbox_session::Control;

use super::{Completion, complete};
use crate::session::{ImapSession, Pending};

pub(crate) fn start(s: &mut ImapSession, tag: &Tag) -> Option<Completion> {
    s.continuation("idling");
    s.parser.expect_idle_done();
    s.pending = Pending::Idle { tag: tag.clone() };
    None
}

/// The client sent DONE.
pub(crate) async fn done(s: &mut ImapSession) -> Control {
    let Pending::Idle { tag } = std::mem::replace(&mut s.pending, Pending::None) else {
        return Control::Continue;
    };
    complete(s, &tag, "IDLE", Completion::ok("IDLE terminated"), true).await
}
