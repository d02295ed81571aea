//! RFC 5161 ENABLE (and RFC 9051 §6.3.1): IMAP4rev2, UTF8=ACCEPT,
//! CONDSTORE, QRESYNC.

use pillarbox_imap_proto::Data;

use super::Completion;
use crate::session::ImapSession;

pub(crate) fn run(s: &mut ImapSession, capabilities: Vec<String>) -> Completion {
    let mut enabled = Vec::new();
    for c in capabilities {
        let upper = c.to_ascii_uppercase();
        let newly = match upper.as_str() {
            "IMAP4REV2" => !std::mem::replace(&mut s.enabled.rev2, true),
            "UTF8=ACCEPT" => {
                s.parser.set_utf8(true);
                !std::mem::replace(&mut s.enabled.utf8, true)
            }
            "CONDSTORE" => !std::mem::replace(&mut s.enabled.condstore, true),
            // RFC 7162 §3.2.3: QRESYNC implies CONDSTORE.
            "QRESYNC" => {
                s.enabled.condstore = true;
                !std::mem::replace(&mut s.enabled.qresync, true)
            }
            _ => false,
        };
        if newly && !enabled.contains(&c) {
            enabled.push(c);
        }
    }
    // RFC 9051: IMAP4rev2 also means UTF-8 mailbox names may be sent.
    if s.enabled.rev2 && !s.enabled.utf8 {
        s.parser.set_utf8(true);
    }
    s.data(Data::Enabled(enabled));
    Completion::ok("")
}
