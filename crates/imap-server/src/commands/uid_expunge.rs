//! RFC 4315 / RFC 9051 §6.4.9 UID EXPUNGE: expunge only the given UIDs
//! among the `\Deleted` messages.

use pillarbox_imap_proto::SequenceSet;
use pillarbox_store::Uid;

use super::{Completion, selected};
use crate::session::ImapSession;

pub(crate) async fn run(s: &mut ImapSession, set: SequenceSet) -> Completion {
    let Some((_, sel)) = selected(s) else {
        return Completion::bad("No mailbox selected");
    };
    let mut uids: Vec<Uid> = sel
        .resolve(&set, true)
        .into_iter()
        .map(|(_, u)| u)
        .collect();
    uids.sort_unstable();
    super::expunge::expunge_matching(s, Some(uids)).await
}
