//! RFC 9051 §6.2.1 STARTTLS.

use pillarbox_session::Control;

use super::Completion;
use crate::session::ImapSession;

pub(crate) fn run(s: &mut ImapSession) -> Completion {
    if s.conn.tls.is_some() {
        return Completion::bad("TLS is already active");
    }
    if !s.conn.starttls_available {
        return Completion::no(None, "TLS is not available");
    }
    // The driver writes the OK, then handshakes; pipelined plaintext after
    // the command is discarded (RFC 9051 §6.2.1).
    Completion::ok("Begin TLS negotiation now").with_control(Control::StartTls)
}
