//! RFC 2342 / RFC 9051 §6.3.10 NAMESPACE: one personal namespace, "/"
//! separated, no prefix.

use pillarbox_imap_proto::{Data, NamespaceDesc};

use super::Completion;
use crate::session::ImapSession;

pub(crate) fn run(s: &mut ImapSession) -> Completion {
    s.data(Data::Namespace {
        personal: vec![NamespaceDesc {
            prefix: String::new(),
            delimiter: Some('/'),
        }],
        other: vec![],
        shared: vec![],
    });
    Completion::ok("")
}
