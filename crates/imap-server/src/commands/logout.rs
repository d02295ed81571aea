//! RFC 9051 §6.1.3 LOGOUT: BYE, then the tagged OK, then close.

use pillarbox_session::Control;

use super::Completion;
use crate::session::{ImapSession, State};

pub(crate) fn run(s: &mut ImapSession) -> Completion {
    s.bye("Logging out");
    s.state = State::Logout;
    Completion::ok("").with_control(Control::Close)
}
