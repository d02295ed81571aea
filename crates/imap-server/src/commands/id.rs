//! RFC 2971 ID: the client's identification is logged; ours is returned.

use pillarbox_imap_proto::{Data, IdParams};

use super::Completion;
use crate::session::ImapSession;

/// Longest client field logged, to bound log lines.
const MAX_LOGGED: usize = 256;

pub(crate) fn run(s: &mut ImapSession, params: Option<IdParams>) -> Completion {
    if let Some(p) = params {
        let text: String = p
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_deref().unwrap_or("NIL")))
            .collect::<Vec<_>>()
            .join(" ");
        let text: String = text.chars().take(MAX_LOGGED).collect();
        tracing::info!(session = s.conn.session_id, client = %text, "imap client id");
    }
    s.data(Data::Id(Some(vec![
        ("name".into(), Some("Pillarbox".into())),
        ("version".into(), Some(env!("CARGO_PKG_VERSION").into())),
    ])));
    Completion::ok("")
}
