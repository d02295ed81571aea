//! Typed client commands (RFC 9051 §6, RFC 3501 §6 and the extensions
//! named in the crate docs). Parsing is in `parse.rs`, encoding (the client
//! side, used by tests and the testkit) in `command_encode.rs`.
//!
//! APPEND is not a [`CommandKind`]: its message data is streamed, so it
//! arrives as [`crate::Event::AppendMessage`] / [`crate::Event::AppendData`]
//! / [`crate::Event::AppendDone`].

use crate::fetch::{FetchItems, FetchModifiers};
use crate::mailbox::Mailbox;
use crate::search::SearchKey;
use crate::sequence::SequenceSet;
use crate::sort::{SortCriterion, ThreadAlgorithm};
use crate::types::{Flag, MailboxAttr, Tag};

/// One complete client command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub tag: Tag,
    pub kind: CommandKind,
}

/// What the command asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommandKind {
    Capability,
    Noop,
    Logout,
    StartTls,
    /// RFC 9051 §6.2.2; RFC 4959 SASL-IR: `initial_response` is the decoded
    /// initial response, `Some(empty)` for `=`.
    Authenticate {
        mechanism: String,
        initial_response: Option<Vec<u8>>,
    },
    Login {
        username: Vec<u8>,
        password: Vec<u8>,
    },
    /// RFC 5161; capability names as sent.
    Enable {
        capabilities: Vec<String>,
    },
    Select {
        mailbox: Mailbox,
        params: SelectParams,
    },
    Examine {
        mailbox: Mailbox,
        params: SelectParams,
    },
    /// RFC 6154 `USE (...)` special-use attributes.
    Create {
        mailbox: Mailbox,
        special_use: Vec<MailboxAttr>,
    },
    Delete {
        mailbox: Mailbox,
    },
    Rename {
        from: Mailbox,
        to: Mailbox,
    },
    Subscribe {
        mailbox: Mailbox,
    },
    Unsubscribe {
        mailbox: Mailbox,
    },
    List(ListCommand),
    Lsub {
        reference: String,
        pattern: String,
    },
    /// RFC 2342
    Namespace,
    Status {
        mailbox: Mailbox,
        items: Vec<StatusItem>,
    },
    /// RFC 2177 / RFC 9051 §6.3.13: after answering `+ idling`, call
    /// [`crate::CommandParser::expect_idle_done`].
    Idle,
    Check,
    Close,
    /// RFC 3691
    Unselect,
    Expunge,
    /// RFC 4315 / RFC 9051 §6.4.9
    UidExpunge {
        set: SequenceSet,
    },
    Search(SearchCommand),
    /// RFC 5256 SORT / UID SORT (RFC 5267 ESORT with `RETURN`).
    Sort(SortCommand),
    /// RFC 5256 THREAD / UID THREAD.
    Thread(ThreadCommand),
    Fetch(FetchCommand),
    Store(StoreCommand),
    Copy {
        uid: bool,
        set: SequenceSet,
        mailbox: Mailbox,
    },
    /// RFC 6851
    Move {
        uid: bool,
        set: SequenceSet,
        mailbox: Mailbox,
    },
    /// RFC 2971: `None` for `ID NIL`.
    Id {
        params: Option<IdParams>,
    },
    /// RFC 9208
    GetQuota {
        root: String,
    },
    GetQuotaRoot {
        mailbox: Mailbox,
    },
}

impl CommandKind {
    /// The command name as on the wire (`UID FETCH` for UID variants).
    pub fn name(&self) -> &'static str {
        match self {
            CommandKind::Capability => "CAPABILITY",
            CommandKind::Noop => "NOOP",
            CommandKind::Logout => "LOGOUT",
            CommandKind::StartTls => "STARTTLS",
            CommandKind::Authenticate { .. } => "AUTHENTICATE",
            CommandKind::Login { .. } => "LOGIN",
            CommandKind::Enable { .. } => "ENABLE",
            CommandKind::Select { .. } => "SELECT",
            CommandKind::Examine { .. } => "EXAMINE",
            CommandKind::Create { .. } => "CREATE",
            CommandKind::Delete { .. } => "DELETE",
            CommandKind::Rename { .. } => "RENAME",
            CommandKind::Subscribe { .. } => "SUBSCRIBE",
            CommandKind::Unsubscribe { .. } => "UNSUBSCRIBE",
            CommandKind::List(_) => "LIST",
            CommandKind::Lsub { .. } => "LSUB",
            CommandKind::Namespace => "NAMESPACE",
            CommandKind::Status { .. } => "STATUS",
            CommandKind::Idle => "IDLE",
            CommandKind::Check => "CHECK",
            CommandKind::Close => "CLOSE",
            CommandKind::Unselect => "UNSELECT",
            CommandKind::Expunge => "EXPUNGE",
            CommandKind::UidExpunge { .. } => "UID EXPUNGE",
            CommandKind::Search(s) if s.uid => "UID SEARCH",
            CommandKind::Search(_) => "SEARCH",
            CommandKind::Sort(s) if s.uid => "UID SORT",
            CommandKind::Sort(_) => "SORT",
            CommandKind::Thread(t) if t.uid => "UID THREAD",
            CommandKind::Thread(_) => "THREAD",
            CommandKind::Fetch(f) if f.uid => "UID FETCH",
            CommandKind::Fetch(_) => "FETCH",
            CommandKind::Store(s) if s.uid => "UID STORE",
            CommandKind::Store(_) => "STORE",
            CommandKind::Copy { uid: true, .. } => "UID COPY",
            CommandKind::Copy { .. } => "COPY",
            CommandKind::Move { uid: true, .. } => "UID MOVE",
            CommandKind::Move { .. } => "MOVE",
            CommandKind::Id { .. } => "ID",
            CommandKind::GetQuota { .. } => "GETQUOTA",
            CommandKind::GetQuotaRoot { .. } => "GETQUOTAROOT",
        }
    }
}

/// RFC 2971 field/value pairs.
pub type IdParams = Vec<(String, Option<String>)>;

/// SELECT/EXAMINE parameters (RFC 7162 §3.1.8, §3.2.5).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SelectParams {
    pub condstore: bool,
    pub qresync: Option<QresyncParams>,
}

/// `QRESYNC (uidvalidity modseq [known-uids] [(seqs uids)])`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QresyncParams {
    pub uidvalidity: u32,
    pub modseq: u64,
    pub known_uids: Option<SequenceSet>,
    /// `(known-sequence-set known-uid-set)`.
    pub seq_match: Option<(SequenceSet, SequenceSet)>,
}

/// LIST, basic (RFC 9051 §6.3.9) or extended (RFC 5258, RFC 5819
/// LIST-STATUS, RFC 6154 SPECIAL-USE).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListCommand {
    /// `Some` when a selection-options list was given (possibly empty).
    pub selection: Option<Vec<ListSelect>>,
    /// Decoded reference name (may be empty).
    pub reference: String,
    /// Decoded patterns (with `%` / `*` wildcards); at least one.
    pub patterns: Vec<String>,
    /// `Some` when `RETURN (...)` was given (possibly empty).
    pub return_opts: Option<Vec<ListReturn>>,
}

impl ListCommand {
    /// RFC 5258 §3: selection options, return options or several
    /// patterns make the command extended.
    pub fn is_extended(&self) -> bool {
        self.selection.is_some() || self.return_opts.is_some() || self.patterns.len() > 1
    }
}

/// RFC 5258 selection options (+ RFC 6154 SPECIAL-USE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListSelect {
    Subscribed,
    Remote,
    RecursiveMatch,
    SpecialUse,
}

/// RFC 5258 return options (+ RFC 5819 STATUS, RFC 6154 SPECIAL-USE).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListReturn {
    Subscribed,
    Children,
    SpecialUse,
    Status(Vec<StatusItem>),
}

/// STATUS data items (RFC 9051 §6.3.11; RFC 3501 RECENT; RFC 7162
/// HIGHESTMODSEQ; RFC 7889 APPENDLIMIT; RFC 8474 MAILBOXID).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusItem {
    Messages,
    UidNext,
    UidValidity,
    Unseen,
    Deleted,
    Size,
    Recent,
    HighestModSeq,
    AppendLimit,
    MailboxId,
}

impl StatusItem {
    pub fn name(self) -> &'static str {
        match self {
            StatusItem::Messages => "MESSAGES",
            StatusItem::UidNext => "UIDNEXT",
            StatusItem::UidValidity => "UIDVALIDITY",
            StatusItem::Unseen => "UNSEEN",
            StatusItem::Deleted => "DELETED",
            StatusItem::Size => "SIZE",
            StatusItem::Recent => "RECENT",
            StatusItem::HighestModSeq => "HIGHESTMODSEQ",
            StatusItem::AppendLimit => "APPENDLIMIT",
            StatusItem::MailboxId => "MAILBOXID",
        }
    }

    pub(crate) fn from_name(s: &str) -> Option<StatusItem> {
        const ALL: [StatusItem; 10] = [
            StatusItem::Messages,
            StatusItem::UidNext,
            StatusItem::UidValidity,
            StatusItem::Unseen,
            StatusItem::Deleted,
            StatusItem::Size,
            StatusItem::Recent,
            StatusItem::HighestModSeq,
            StatusItem::AppendLimit,
            StatusItem::MailboxId,
        ];
        ALL.into_iter().find(|i| i.name().eq_ignore_ascii_case(s))
    }
}

/// SEARCH / UID SEARCH (RFC 9051 §6.4.4, RFC 4731 ESEARCH, RFC 5182
/// SEARCHRES).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchCommand {
    pub uid: bool,
    /// `Some` for `RETURN (...)` (an ESEARCH answer is wanted). Empty means
    /// `ALL` (RFC 4731 §3.1).
    pub return_opts: Option<Vec<SearchReturn>>,
    pub charset: Option<String>,
    /// Implicitly ANDed keys; at least one.
    pub criteria: Vec<SearchKey>,
}

/// ESEARCH result options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SearchReturn {
    Min,
    Max,
    All,
    Count,
    /// RFC 5182: save the result as `$`.
    Save,
}

/// SORT / UID SORT (RFC 5256 §3; RFC 5267 §3 ESORT).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortCommand {
    pub uid: bool,
    /// `Some` for `RETURN (...)` (an ESEARCH answer is wanted; RFC 5267
    /// §3). Empty means `ALL`. `SAVE` is RFC 5182's.
    pub return_opts: Option<Vec<SearchReturn>>,
    /// At least one.
    pub criteria: Vec<SortCriterion>,
    /// The mandatory charset of `search-criteria`.
    pub charset: String,
    /// Implicitly ANDed search keys; at least one.
    pub search: Vec<SearchKey>,
}

/// THREAD / UID THREAD (RFC 5256 §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadCommand {
    pub uid: bool,
    pub algorithm: ThreadAlgorithm,
    pub charset: String,
    /// Implicitly ANDed search keys; at least one.
    pub search: Vec<SearchKey>,
}

/// FETCH / UID FETCH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchCommand {
    pub uid: bool,
    pub set: SequenceSet,
    pub items: FetchItems,
    pub modifiers: FetchModifiers,
}

/// STORE / UID STORE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreCommand {
    pub uid: bool,
    pub set: SequenceSet,
    /// RFC 7162 `UNCHANGEDSINCE`.
    pub unchanged_since: Option<u64>,
    pub mode: StoreMode,
    /// `.SILENT`
    pub silent: bool,
    pub flags: Vec<Flag>,
}

/// `FLAGS`, `+FLAGS`, `-FLAGS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoreMode {
    Replace,
    Add,
    Remove,
}
