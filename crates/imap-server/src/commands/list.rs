//! RFC 9051 §6.3.9 LIST with RFC 5258 LIST-EXTENDED, RFC 5819 LIST-STATUS,
//! RFC 6154 SPECIAL-USE and RFC 3348 CHILDREN.
//!
//! What is listed:
//! - Base selection: the mailboxes matching a pattern. A parent that is
//!   only implied by a child's name (`a` of `a/b`; the store does not
//!   create parents, and DELETE of a mailbox with children leaves its name
//!   as such a parent) is listed only when a pattern ending in `%` matches
//!   it (RFC 9051 §6.3.9), as `\NonExistent \HasChildren` (IMAP4rev2 or an
//!   extended LIST; `\NonExistent` implies `\Noselect`) or
//!   `\Noselect \HasChildren` (basic IMAP4rev1 LIST).
//! - `SUBSCRIBED` selects the subscribed names, existing or not
//!   (`\NonExistent`); `SPECIAL-USE` the mailboxes with a special use; both
//!   together must hold. `REMOTE` changes nothing (no remote mailboxes).
//! - `RECURSIVEMATCH` also lists a matching name that is not selected
//!   itself but has a selected descendant matching no pattern, with
//!   `CHILDINFO` (RFC 5258 §3.5); a selected name gets `CHILDINFO` under
//!   the same condition.
//!
//! Attributes: `\HasChildren`/`\HasNoChildren` are always sent (the
//! CHILDREN capability; RFC 9051 requires them), the special-use attribute
//! too (RFC 6154 allows it without `RETURN (SPECIAL-USE)`), `\Subscribed`
//! when the SUBSCRIBED selection or return option is given. A name is
//! listed once even if several patterns match it. With `RETURN (STATUS
//! (..))` a `* STATUS` response follows the LIST response of every listed
//! mailbox that exists (RFC 5819).

use std::collections::HashMap;

use pillarbox_imap_proto::{
    Code, Data, ListCommand, ListItem, ListReturn, ListSelect, Mailbox as WireMailbox, MailboxAttr,
    StatusItem,
};
use pillarbox_store::{SpecialUse, names};

use super::Completion;
use super::mailbox_names::{
    DELIMITER, Hierarchy, MAX_PATTERNS, Node, Pattern, Patterns, TooComplex,
};
use super::status::status_values;
use crate::session::{ImapSession, State};

/// The options of one LIST command, resolved.
#[derive(Debug, Default)]
struct Options {
    select_subscribed: bool,
    select_special_use: bool,
    recursive: bool,
    return_subscribed: bool,
    status: Vec<StatusItem>,
    /// `\NonExistent` rather than `\Noselect` for names that are no
    /// mailbox.
    nonexistent: bool,
}

pub(crate) async fn run(s: &mut ImapSession, cmd: ListCommand) -> Completion {
    let Some(account) = s.account() else {
        return Completion::bad("Log in first");
    };
    if cmd.patterns.len() > MAX_PATTERNS {
        return Completion::bad("Too many patterns");
    }
    let mut o = Options {
        nonexistent: s.enabled.rev2 || cmd.is_extended(),
        ..Options::default()
    };
    for sel in cmd.selection.iter().flatten() {
        match sel {
            // RFC 5258 §3.1: SUBSCRIBED implies the SUBSCRIBED return
            // option.
            ListSelect::Subscribed => {
                o.select_subscribed = true;
                o.return_subscribed = true;
            }
            ListSelect::SpecialUse => o.select_special_use = true,
            ListSelect::RecursiveMatch => o.recursive = true,
            ListSelect::Remote => {}
        }
    }
    for ret in cmd.return_opts.iter().flatten() {
        match ret {
            ListReturn::Subscribed => o.return_subscribed = true,
            // Always sent (see the module docs).
            ListReturn::Children | ListReturn::SpecialUse => {}
            ListReturn::Status(items) => o.status.extend(items.iter().copied()),
        }
    }

    // RFC 9051 §6.3.9: an empty mailbox argument asks for the delimiter
    // and the root of the reference; our names are not rooted.
    let mut patterns = Vec::with_capacity(cmd.patterns.len());
    let mut root_asked = false;
    for p in &cmd.patterns {
        if p.is_empty() {
            root_asked = true;
        } else {
            patterns.push(Pattern::new(&cmd.reference, p));
        }
    }
    if root_asked {
        s.data(Data::List(ListItem {
            attrs: vec![MailboxAttr::NoSelect],
            delimiter: Some(DELIMITER),
            mailbox: WireMailbox::new(""),
            child_info: vec![],
            old_name: None,
        }));
    }
    let mut patterns = Patterns::new(patterns);
    if patterns.is_empty() {
        return Completion::ok("");
    }

    let store = s.ctx.store.clone();
    if !o.status.is_empty() && matches!(s.state, State::Selected(..)) {
        // The selected mailbox's STATUS should agree with the view
        // (LIST is not FETCH/STORE/SEARCH: expunges may be reported).
        s.sync(true).await;
    }
    let mailboxes = match store.list_mailboxes(account).await {
        Ok(m) => m,
        Err(e) => return Completion::store(&e),
    };
    let subscriptions = if o.select_subscribed || o.return_subscribed {
        match store.list_subscriptions(account).await {
            Ok(v) => v,
            Err(e) => return Completion::store(&e),
        }
    } else {
        Vec::new()
    };
    let tree = Hierarchy::new(&mailboxes, &subscriptions);

    let base = !o.select_subscribed && !o.select_special_use;
    let selected = |n: &Node<'_>| -> bool {
        if base {
            n.mailbox.is_some()
        } else {
            (!o.select_subscribed || n.subscribed)
                && (!o.select_special_use || n.mailbox.is_some_and(|m| m.special_use.is_some()))
        }
    };
    // RFC 5258 §3.5: the names with a selected descendant that no pattern
    // matches, and which criteria that descendant meets.
    let mut child_info: HashMap<String, Vec<ListSelect>> = HashMap::new();
    if o.recursive {
        for n in tree.nodes.iter().filter(|n| selected(n)) {
            match patterns.check(&n.name) {
                Ok(m) if m.any => continue,
                Ok(_) => {}
                Err(TooComplex) => return too_complex(),
            }
            let mut info = Vec::new();
            if o.select_subscribed {
                info.push(ListSelect::Subscribed);
            }
            if o.select_special_use {
                info.push(ListSelect::SpecialUse);
            }
            for p in names::mailbox_parents(&n.name) {
                let e = child_info.entry(p.to_string()).or_default();
                for i in &info {
                    if !e.contains(i) {
                        e.push(*i);
                    }
                }
            }
        }
    }

    for n in &tree.nodes {
        let matched = match patterns.check(&n.name) {
            Ok(m) if m.any => m,
            Ok(_) => continue,
            Err(TooComplex) => return too_complex(),
        };
        let info = child_info.get(&n.name).cloned().unwrap_or_default();
        let listed = selected(n)
            || !info.is_empty()
            // RFC 9051 §6.3.9: a trailing `%` also lists the hierarchy
            // levels it matches.
            || (base
                && n.mailbox.is_none()
                && n.has_children
                && matched.by_trailing_percent);
        if !listed {
            continue;
        }
        s.data(Data::List(ListItem {
            attrs: attributes(n, &o),
            delimiter: Some(DELIMITER),
            mailbox: WireMailbox::new(n.name.clone()),
            child_info: info,
            old_name: None,
        }));
        if let (false, Some(mb)) = (o.status.is_empty(), n.mailbox) {
            let items = status_values(s, mb, &o.status);
            s.data(Data::Status {
                mailbox: WireMailbox::new(mb.name.clone()),
                items,
            });
        }
    }
    Completion::ok("")
}

/// The answer when the patterns need too much matching work.
fn too_complex() -> Completion {
    Completion::no(Some(Code::Limit), "Patterns too complex")
}

/// The attributes of a listed name.
fn attributes(n: &Node<'_>, o: &Options) -> Vec<MailboxAttr> {
    let mut attrs = Vec::new();
    if n.mailbox.is_none() {
        attrs.push(if o.nonexistent {
            MailboxAttr::NonExistent
        } else {
            MailboxAttr::NoSelect
        });
    }
    if o.return_subscribed && n.subscribed {
        attrs.push(MailboxAttr::Subscribed);
    }
    if n.has_children {
        attrs.push(MailboxAttr::HasChildren);
    } else if n.mailbox.is_some() {
        attrs.push(MailboxAttr::HasNoChildren);
    }
    if let Some(u) = n.mailbox.and_then(|m| m.special_use) {
        attrs.push(special_use_attr(u));
    }
    attrs
}

/// The RFC 6154 attribute of a special use.
pub(crate) fn special_use_attr(u: SpecialUse) -> MailboxAttr {
    match u {
        SpecialUse::Sent => MailboxAttr::Sent,
        SpecialUse::Drafts => MailboxAttr::Drafts,
        SpecialUse::Trash => MailboxAttr::Trash,
        SpecialUse::Junk => MailboxAttr::Junk,
        SpecialUse::Archive => MailboxAttr::Archive,
        SpecialUse::All => MailboxAttr::All,
        SpecialUse::Flagged => MailboxAttr::Flagged,
    }
}
