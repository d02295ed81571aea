//! RFC 9051 §6.3.11 STATUS (+ RFC 8438 STATUS=SIZE, RFC 7162
//! HIGHESTMODSEQ, RFC 7889 APPENDLIMIT, RFC 8474 MAILBOXID).
//!
//! Every value comes from the counters the store keeps on the mailbox row,
//! so STATUS costs the same for an empty mailbox and a huge one. STATUS of
//! the selected mailbox is allowed: the view is brought up to date first
//! (its untagged EXISTS/EXPUNGE precede the STATUS response), then the
//! store answers.

use pillarbox_imap_proto::{Code, Data, Mailbox as WireMailbox, StatusItem, StatusValue};
use pillarbox_store::Mailbox;

use super::Completion;
use super::mailbox_names::canonical;
use crate::session::{ImapSession, State};

pub(crate) async fn run(
    s: &mut ImapSession,
    mailbox: WireMailbox,
    items: Vec<StatusItem>,
) -> Completion {
    let Some(account) = s.account() else {
        return Completion::bad("Log in first");
    };
    let Some(name) = canonical(mailbox.as_str()) else {
        return Completion::no(Some(Code::NonExistent), "No such mailbox");
    };
    let store = s.ctx.store.clone();
    let mut mb = match store.mailbox_by_name(account, &name).await {
        Ok(Some(mb)) => mb,
        Ok(None) => return Completion::no(Some(Code::NonExistent), "No such mailbox"),
        Err(e) => return Completion::store(&e),
    };
    if matches!(&s.state, State::Selected(_, sel) if sel.mailbox == mb.id) {
        // STATUS is not FETCH/STORE/SEARCH: expunges may be reported.
        s.sync(true).await;
        mb = match store.mailbox(account, mb.id).await {
            Ok(Some(mb)) => mb,
            Ok(None) => return Completion::no(Some(Code::NonExistent), "No such mailbox"),
            Err(e) => return Completion::store(&e),
        };
    }
    let values = status_values(s, &mb, &items);
    s.data(Data::Status {
        mailbox: WireMailbox::new(mb.name.clone()),
        items: values,
    });
    Completion::ok("")
}

/// The values of the requested items, in request order without
/// duplicates (shared with LIST RETURN (STATUS ...), RFC 5819).
pub(crate) fn status_values(
    s: &mut ImapSession,
    mb: &Mailbox,
    items: &[StatusItem],
) -> Vec<StatusValue> {
    let mut seen: Vec<StatusItem> = Vec::with_capacity(items.len());
    let mut out = Vec::with_capacity(items.len());
    for &item in items {
        if seen.contains(&item) {
            continue;
        }
        seen.push(item);
        out.push(match item {
            StatusItem::Messages => StatusValue::Messages(mb.exists),
            StatusItem::UidNext => StatusValue::UidNext(mb.uid_next.0),
            StatusItem::UidValidity => StatusValue::UidValidity(mb.uid_validity.0),
            StatusItem::Unseen => StatusValue::Unseen(mb.unseen),
            StatusItem::Deleted => StatusValue::Deleted(mb.deleted),
            StatusItem::Size => StatusValue::Size(mb.size),
            // RFC 3501 \Recent is handed out at SELECT (see
            // `crate::selected::RecentClaims`); STATUS does not count the
            // messages not claimed yet.
            StatusItem::Recent => StatusValue::Recent(0),
            StatusItem::HighestModSeq => {
                // RFC 7162 §3.1: STATUS (HIGHESTMODSEQ) is a
                // CONDSTORE-enabling command.
                s.enabled.condstore = true;
                StatusValue::HighestModSeq(mb.highest_modseq.0)
            }
            // RFC 7889 §4: the same limit as the APPENDLIMIT capability.
            StatusItem::AppendLimit => StatusValue::AppendLimit(Some(s.ctx.config.max_append_size)),
            // RFC 8474 §4: the same id as SELECT's [MAILBOXID].
            StatusItem::MailboxId => StatusValue::MailboxId(mailbox_id(mb)),
        });
    }
    out
}

/// RFC 8474 objectid of a mailbox (as in SELECT's `[MAILBOXID (..)]`).
pub(crate) fn mailbox_id(mb: &Mailbox) -> String {
    format!("M{}", mb.id.0)
}
