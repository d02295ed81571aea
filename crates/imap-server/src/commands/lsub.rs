//! RFC 3501 §6.3.9 LSUB (deprecated in IMAP4rev2, kept for rev1 clients):
//! the subscribed names matching the pattern. A subscribed name that is no
//! selectable mailbox is returned with `\Noselect` (RFC 5258 §3.1 notes
//! LSUB's convention). When the pattern ends with `%`, the hierarchy levels
//! it matches above subscribed names are returned too, with `\Noselect`
//! if they are not subscribed themselves (RFC 3501 §6.3.9, the
//! `LSUB "#news." "comp.%"` example).

use std::collections::HashSet;

use pillarbox_imap_proto::{Code, Data, ListItem, Mailbox as WireMailbox, MailboxAttr};

use super::Completion;
use super::mailbox_names::{DELIMITER, Hierarchy, Pattern, Patterns, TooComplex};
use crate::session::ImapSession;

pub(crate) async fn run(s: &mut ImapSession, reference: String, pattern: String) -> Completion {
    let Some(account) = s.account() else {
        return Completion::bad("Log in first");
    };
    let store = s.ctx.store.clone();
    let subscriptions = match store.list_subscriptions(account).await {
        Ok(v) => v,
        Err(e) => return Completion::store(&e),
    };
    if subscriptions.is_empty() || pattern.is_empty() {
        return Completion::ok("");
    }
    let mailboxes = match store.list_mailboxes(account).await {
        Ok(m) => m,
        Err(e) => return Completion::store(&e),
    };
    let existing: HashSet<&str> = mailboxes.iter().map(|m| m.name.as_str()).collect();
    // Only the subscribed names and their parents matter here.
    let tree = Hierarchy::new(&[], &subscriptions);
    let mut pattern = Patterns::new(vec![Pattern::new(&reference, &pattern)]);
    for n in &tree.nodes {
        let matched = match pattern.check(&n.name) {
            Ok(m) if m.any => m,
            Ok(_) => continue,
            Err(TooComplex) => return Completion::no(Some(Code::Limit), "Pattern too complex"),
        };
        let attrs = if n.subscribed {
            if existing.contains(n.name.as_str()) {
                vec![]
            } else {
                vec![MailboxAttr::NoSelect]
            }
        } else if matched.by_trailing_percent {
            // A level above subscribed names, not subscribed itself.
            vec![MailboxAttr::NoSelect]
        } else {
            continue;
        };
        s.data(Data::Lsub(ListItem {
            attrs,
            delimiter: Some(DELIMITER),
            mailbox: WireMailbox::new(n.name.clone()),
            child_info: vec![],
            old_name: None,
        }));
    }
    Completion::ok("")
}
