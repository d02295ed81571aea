//! RFC 9051 §6.4.3 EXPUNGE: remove every `\Deleted` message of the view.

use pillarbox_imap_proto::Code;
use pillarbox_store::Uid;

use super::{Completion, selected};
use crate::session::ImapSession;

pub(crate) async fn run(s: &mut ImapSession) -> Completion {
    expunge_matching(s, None).await
}

/// Expunges the `\Deleted` messages of the view, limited to `only` if given
/// (UID EXPUNGE), reporting them at once.
pub(crate) async fn expunge_matching(s: &mut ImapSession, only: Option<Vec<Uid>>) -> Completion {
    let store = s.ctx.store.clone();
    let enabled = s.enabled;
    let opts = s.encode_opts();
    let Some((account, sel)) = selected(s) else {
        return Completion::bad("No mailbox selected");
    };
    if sel.read_only {
        return Completion::no(Some(Code::ReadOnly), "Mailbox is read-only");
    }
    let targets: Vec<Uid> = match sel.deleted_uids(&store, account).await {
        Ok(d) => d
            .into_iter()
            .filter(|u| only.as_ref().is_none_or(|o| o.binary_search(u).is_ok()))
            .collect(),
        Err(e) => return Completion::store(&e),
    };
    if targets.is_empty() {
        return Completion::ok("");
    }
    let removed = match store.expunge(account, sel.mailbox, &targets).await {
        Ok(r) => r,
        Err(e) => return Completion::store(&e),
    };
    let mut out = bytes::BytesMut::new();
    sel.report_expunged(&removed, enabled, &mut out, opts);
    s.out.extend_from_slice(&out);
    Completion::ok("")
}
