//! One file per IMAP command; [`dispatch`] is the one `match` on
//! [`CommandKind`]. Handlers return a [`Completion`]; dispatch reports
//! pending mailbox changes and then writes the tagged response, so every
//! command's untagged data precedes its completion.

use pillarbox_imap_proto::{Code, Command, CommandKind, StatusKind, Tag};
use pillarbox_session::Control;
use pillarbox_store::StoreError;

use crate::session::{ImapSession, State};

pub(crate) mod append;
pub(crate) mod authenticate;
pub(crate) mod capability;
pub(crate) mod check;
pub(crate) mod close;
pub(crate) mod copy;
pub(crate) mod create;
pub(crate) mod delete;
pub(crate) mod enable;
pub(crate) mod expunge;
pub(crate) mod fetch;
pub(crate) mod id;
pub(crate) mod idle;
pub(crate) mod list;
pub(crate) mod login;
pub(crate) mod logout;
pub(crate) mod lsub;
pub(crate) mod mailbox_names;
pub(crate) mod r#move;
pub(crate) mod namespace;
pub(crate) mod noop;
pub(crate) mod quota;
pub(crate) mod rename;
pub(crate) mod search;
pub(crate) mod select;
pub(crate) mod sort;
pub(crate) mod starttls;
pub(crate) mod status;
pub(crate) mod store;
pub(crate) mod subscribe;
pub(crate) mod thread;
pub(crate) mod uid_expunge;
pub(crate) mod unselect;

/// How a command ends: the tagged response and what the driver does next.
#[derive(Debug)]
pub(crate) struct Completion {
    pub kind: StatusKind,
    pub code: Option<Code>,
    pub text: String,
    pub control: Control,
}

impl Completion {
    pub fn ok(text: impl Into<String>) -> Completion {
        Completion {
            kind: StatusKind::Ok,
            code: None,
            text: text.into(),
            control: Control::Continue,
        }
    }
    pub fn ok_code(code: Code, text: impl Into<String>) -> Completion {
        Completion {
            code: Some(code),
            ..Completion::ok(text)
        }
    }
    pub fn no(code: Option<Code>, text: impl Into<String>) -> Completion {
        Completion {
            kind: StatusKind::No,
            code,
            text: text.into(),
            control: Control::Continue,
        }
    }
    pub fn bad(text: impl Into<String>) -> Completion {
        Completion {
            kind: StatusKind::Bad,
            code: None,
            text: text.into(),
            control: Control::Continue,
        }
    }
    /// `NO [code]` for a store failure (the one mapping, in `crate::error`).
    pub fn store(e: &StoreError) -> Completion {
        let (code, text) = crate::error::store_error(e);
        if matches!(code, Code::ServerBug | Code::Unavailable) {
            tracing::warn!(error = %e, "store error");
        } else {
            tracing::debug!(error = %e, "store refused");
        }
        Completion::no(Some(code), text)
    }
    pub fn with_control(mut self, control: Control) -> Completion {
        self.control = control;
        self
    }
}

/// The states a command may be used in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Needs {
    Any,
    NotAuthenticated,
    Authenticated,
    Selected,
}

fn needs(kind: &CommandKind) -> Needs {
    use CommandKind as K;
    match kind {
        K::Capability | K::Noop | K::Logout | K::Id { .. } => Needs::Any,
        K::StartTls | K::Authenticate { .. } | K::Login { .. } => Needs::NotAuthenticated,
        K::Check
        | K::Close
        | K::Unselect
        | K::Expunge
        | K::UidExpunge { .. }
        | K::Search(_)
        | K::Sort(_)
        | K::Thread(_)
        | K::Fetch(_)
        | K::Store(_)
        | K::Copy { .. }
        | K::Move { .. } => Needs::Selected,
        _ => Needs::Authenticated,
    }
}

/// Whether the command is one during which EXPUNGE must not be sent
/// (RFC 9051 §7.5.1: FETCH, STORE, SEARCH by sequence number; RFC 5256
/// SORT and THREAD answer with sequence numbers too).
fn expunge_allowed_after(kind: &CommandKind) -> bool {
    use CommandKind as K;
    !matches!(kind, K::Fetch(f) if !f.uid)
        && !matches!(kind, K::Store(s) if !s.uid)
        && !matches!(kind, K::Search(s) if !s.uid)
        && !matches!(kind, K::Sort(s) if !s.uid)
        && !matches!(kind, K::Thread(t) if !t.uid)
}

/// Runs one command and writes its tagged completion.
pub(crate) async fn dispatch(s: &mut ImapSession, cmd: Command) -> Control {
    let Command { tag, kind } = cmd;
    let state_ok = matches!(
        (needs(&kind), &s.state),
        (Needs::Any, _)
            | (Needs::NotAuthenticated, State::NotAuthenticated)
            | (
                Needs::Authenticated,
                State::Authenticated(_) | State::Selected(..)
            )
            | (Needs::Selected, State::Selected(..))
    );
    if !state_ok {
        let text = match (needs(&kind), &s.state) {
            (Needs::NotAuthenticated, _) => "Already authenticated",
            (_, State::NotAuthenticated) => "Log in first",
            _ => "No mailbox selected",
        };
        return s.bad(&tag, text);
    }
    let allow_expunge = expunge_allowed_after(&kind);
    let name = kind.name();
    use CommandKind as K;
    let done: Option<Completion> = match kind {
        K::Capability => Some(capability::run(s)),
        K::Noop => Some(noop::run(s)),
        K::Logout => Some(logout::run(s)),
        K::Id { params } => Some(id::run(s, params)),
        K::StartTls => Some(starttls::run(s)),
        K::Login { username, password } => Some(login::run(s, username, password).await),
        K::Authenticate {
            mechanism,
            initial_response,
        } => authenticate::start(s, &tag, mechanism, initial_response).await,
        K::Enable { capabilities } => Some(enable::run(s, capabilities)),
        K::Select { mailbox, params } => Some(select::run(s, mailbox, params, false).await),
        K::Examine { mailbox, params } => Some(select::run(s, mailbox, params, true).await),
        K::Create {
            mailbox,
            special_use,
        } => Some(create::run(s, mailbox, special_use).await),
        K::Delete { mailbox } => Some(delete::run(s, mailbox).await),
        K::Rename { from, to } => Some(rename::run(s, from, to).await),
        K::Subscribe { mailbox } => Some(subscribe::run(s, mailbox, true).await),
        K::Unsubscribe { mailbox } => Some(subscribe::run(s, mailbox, false).await),
        K::List(list) => Some(list::run(s, list).await),
        K::Lsub { reference, pattern } => Some(lsub::run(s, reference, pattern).await),
        K::Namespace => Some(namespace::run(s)),
        K::Status { mailbox, items } => Some(status::run(s, mailbox, items).await),
        K::Idle => idle::start(s, &tag),
        K::Check => Some(check::run(s)),
        K::Close => Some(close::run(s).await),
        K::Unselect => Some(unselect::run(s)),
        K::Expunge => Some(expunge::run(s).await),
        K::UidExpunge { set } => Some(uid_expunge::run(s, set).await),
        K::Search(cmd) => Some(search::run(s, &tag, cmd).await),
        K::Sort(cmd) => Some(sort::run(s, &tag, cmd).await),
        K::Thread(cmd) => Some(thread::run(s, cmd).await),
        // Completes itself, possibly over several driver calls.
        K::Fetch(cmd) => return fetch::run(s, tag, name, allow_expunge, cmd).await,
        K::Store(cmd) => Some(store::run(s, cmd).await),
        K::Copy { uid, set, mailbox } => Some(copy::run(s, uid, set, mailbox).await),
        K::Move { uid, set, mailbox } => Some(r#move::run(s, uid, set, mailbox).await),
        K::GetQuota { root } => Some(quota::get_quota(s, root).await),
        K::GetQuotaRoot { mailbox } => Some(quota::get_quota_root(s, mailbox).await),
        _ => Some(Completion::bad("Command not supported")),
    };
    match done {
        Some(done) => complete(s, &tag, name, done, allow_expunge).await,
        None => Control::Continue,
    }
}

/// Reports pending changes, then writes the tagged response.
pub(crate) async fn complete(
    s: &mut ImapSession,
    tag: &Tag,
    name: &str,
    done: Completion,
    allow_expunge: bool,
) -> Control {
    if done.control == Control::Continue {
        s.sync(allow_expunge).await;
    }
    let text = if done.kind == StatusKind::Ok && done.text.is_empty() {
        format!("{name} completed")
    } else {
        done.text
    };
    s.tagged(tag, done.kind, done.code, &text);
    done.control
}

/// The selected mailbox's view, for handlers that run in the selected
/// state (dispatch checked it).
pub(crate) fn selected(
    s: &mut ImapSession,
) -> Option<(pillarbox_store::AccountId, &mut crate::selected::Selected)> {
    match &mut s.state {
        State::Selected(a, sel) => Some((a.account, sel.as_mut())),
        _ => None,
    }
}
