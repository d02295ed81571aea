//! Server responses (RFC 9051 §7) and their encoding.
//!
//! [`Response::encode`] writes one complete response (CRLF-terminated;
//! literals inline). Large FETCH bodies are written with
//! [`crate::FetchEncoder`], which lets the caller stream literal data.

use bytes::{BufMut, BytesMut};

use crate::command::ListSelect;
use crate::fetch_response::{FetchEncoder, FetchValue};
use crate::mailbox::Mailbox;
use crate::sequence::SequenceSet;
use crate::types::{Flag, MailboxAttr, Tag};
use crate::writer::{
    EncodeOptions, write_astring, write_mailbox, write_nstring, write_quoted, write_string,
    write_text,
};

/// OK / NO / BAD / PREAUTH / BYE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusKind {
    Ok,
    No,
    Bad,
    PreAuth,
    Bye,
}

impl StatusKind {
    pub fn name(self) -> &'static str {
        match self {
            StatusKind::Ok => "OK",
            StatusKind::No => "NO",
            StatusKind::Bad => "BAD",
            StatusKind::PreAuth => "PREAUTH",
            StatusKind::Bye => "BYE",
        }
    }
}

/// Response codes (RFC 9051 §7.1; RFC 4315 UIDPLUS; RFC 7162 CONDSTORE /
/// QRESYNC; RFC 5530 codes; RFC 4469/7888 TOOBIG; RFC 8474 MAILBOXID;
/// RFC 3516 UNKNOWN-CTE; RFC 5182 NOTSAVED; RFC 6154 USEATTR).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Code {
    Alert,
    AlreadyExists,
    AppendUid {
        uidvalidity: u32,
        uids: SequenceSet,
    },
    AuthenticationFailed,
    AuthorizationFailed,
    BadCharset(Vec<String>),
    Cannot,
    Capability(Vec<String>),
    ClientBug,
    Closed,
    ContactAdmin,
    CopyUid {
        uidvalidity: u32,
        source: SequenceSet,
        dest: SequenceSet,
    },
    Corruption,
    Expired,
    ExpungeIssued,
    HasChildren,
    HighestModSeq(u64),
    InUse,
    Limit,
    MailboxId(String),
    Modified(SequenceSet),
    NoModSeq,
    NonExistent,
    NoPerm,
    /// RFC 5182: `$` could not be saved.
    NotSaved,
    OverQuota,
    Parse,
    PermanentFlags(Vec<Flag>),
    PrivacyRequired,
    ReadOnly,
    ReadWrite,
    ServerBug,
    TooBig,
    TryCreate,
    UidNext(u32),
    UidNotSticky,
    UidValidity(u32),
    Unavailable,
    /// RFC 3516: unknown Content-Transfer-Encoding for BINARY.
    UnknownCte,
    Unseen(u32),
    UseAttr,
    /// Any other code: an atom and optional text (no `]`, CR, LF).
    Other(String, Option<String>),
}

fn join<T>(out: &mut BytesMut, items: &[T], mut each: impl FnMut(&mut BytesMut, &T)) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.put_u8(b' ');
        }
        each(out, item);
    }
}

fn put_str(out: &mut BytesMut, s: &str) {
    out.put_slice(s.as_bytes());
}

impl Code {
    /// `[...]` including the brackets.
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u8(b'[');
        let simple = match self {
            Code::Alert => Some("ALERT"),
            Code::AlreadyExists => Some("ALREADYEXISTS"),
            Code::AuthenticationFailed => Some("AUTHENTICATIONFAILED"),
            Code::AuthorizationFailed => Some("AUTHORIZATIONFAILED"),
            Code::Cannot => Some("CANNOT"),
            Code::ClientBug => Some("CLIENTBUG"),
            Code::Closed => Some("CLOSED"),
            Code::ContactAdmin => Some("CONTACTADMIN"),
            Code::Corruption => Some("CORRUPTION"),
            Code::Expired => Some("EXPIRED"),
            Code::ExpungeIssued => Some("EXPUNGEISSUED"),
            Code::HasChildren => Some("HASCHILDREN"),
            Code::InUse => Some("INUSE"),
            Code::Limit => Some("LIMIT"),
            Code::NoModSeq => Some("NOMODSEQ"),
            Code::NonExistent => Some("NONEXISTENT"),
            Code::NoPerm => Some("NOPERM"),
            Code::NotSaved => Some("NOTSAVED"),
            Code::OverQuota => Some("OVERQUOTA"),
            Code::Parse => Some("PARSE"),
            Code::PrivacyRequired => Some("PRIVACYREQUIRED"),
            Code::ReadOnly => Some("READ-ONLY"),
            Code::ReadWrite => Some("READ-WRITE"),
            Code::ServerBug => Some("SERVERBUG"),
            Code::TooBig => Some("TOOBIG"),
            Code::TryCreate => Some("TRYCREATE"),
            Code::UidNotSticky => Some("UIDNOTSTICKY"),
            Code::Unavailable => Some("UNAVAILABLE"),
            Code::UnknownCte => Some("UNKNOWN-CTE"),
            Code::UseAttr => Some("USEATTR"),
            _ => None,
        };
        if let Some(s) = simple {
            put_str(out, s);
        } else {
            match self {
                Code::AppendUid { uidvalidity, uids } => {
                    put_str(out, &format!("APPENDUID {uidvalidity} {uids}"));
                }
                Code::CopyUid {
                    uidvalidity,
                    source,
                    dest,
                } => put_str(out, &format!("COPYUID {uidvalidity} {source} {dest}")),
                Code::BadCharset(list) => {
                    put_str(out, "BADCHARSET");
                    if !list.is_empty() {
                        put_str(out, " (");
                        join(out, list, |o, c| {
                            write_astring(o, c.as_bytes(), EncodeOptions::default())
                        });
                        out.put_u8(b')');
                    }
                }
                Code::Capability(caps) => {
                    put_str(out, "CAPABILITY ");
                    join(out, caps, |o, c| put_str(o, c));
                }
                Code::HighestModSeq(m) => put_str(out, &format!("HIGHESTMODSEQ {m}")),
                Code::MailboxId(id) => put_str(out, &format!("MAILBOXID ({id})")),
                Code::Modified(set) => put_str(out, &format!("MODIFIED {set}")),
                Code::PermanentFlags(flags) => {
                    put_str(out, "PERMANENTFLAGS ");
                    write_flag_list(out, flags);
                }
                Code::UidNext(n) => put_str(out, &format!("UIDNEXT {n}")),
                Code::UidValidity(n) => put_str(out, &format!("UIDVALIDITY {n}")),
                Code::Unseen(n) => put_str(out, &format!("UNSEEN {n}")),
                Code::Other(atom, text) => {
                    put_str(out, atom);
                    if let Some(t) = text {
                        out.put_u8(b' ');
                        for ch in t.chars() {
                            if ch != ']' && !ch.is_control() {
                                put_str(out, ch.encode_utf8(&mut [0u8; 4]));
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        out.put_u8(b']');
    }
}

pub(crate) fn write_flag_list(out: &mut BytesMut, flags: &[Flag]) {
    out.put_u8(b'(');
    join(out, flags, |o, f| put_str(o, &f.to_string()));
    out.put_u8(b')');
}

/// A status response: tagged (`tag OK ...`) or untagged (`* OK ...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusResponse {
    pub tag: Option<Tag>,
    pub kind: StatusKind,
    pub code: Option<Code>,
    pub text: String,
}

/// One LIST / LSUB reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListItem {
    pub attrs: Vec<MailboxAttr>,
    /// Hierarchy delimiter, `None` for NIL (flat).
    pub delimiter: Option<char>,
    pub mailbox: Mailbox,
    /// RFC 5258 CHILDINFO (e.g. `SUBSCRIBED`).
    pub child_info: Vec<ListSelect>,
    /// RFC 9051 OLDNAME after RENAME.
    pub old_name: Option<Mailbox>,
}

/// One STATUS item value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusValue {
    Messages(u32),
    UidNext(u32),
    UidValidity(u32),
    Unseen(u32),
    Deleted(u32),
    Size(u64),
    Recent(u32),
    HighestModSeq(u64),
    /// `None` is NIL: no limit (RFC 7889).
    AppendLimit(Option<u64>),
    MailboxId(String),
}

/// RFC 4731 / RFC 9051 ESEARCH response.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ESearch {
    /// The command's tag (search-correlator).
    pub tag: Option<Tag>,
    pub uid: bool,
    pub min: Option<u32>,
    pub max: Option<u32>,
    pub all: Option<SequenceSet>,
    pub count: Option<u32>,
    pub modseq: Option<u64>,
}

/// One token of a `* THREAD` response (RFC 5256 §5 `thread-list`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadToken {
    Open,
    Close,
    Number(u32),
}

/// RFC 2342 namespace description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceDesc {
    pub prefix: String,
    pub delimiter: Option<char>,
}

/// RFC 9208 quota resource: name, usage, limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaResource {
    pub name: String,
    pub usage: u64,
    pub limit: u64,
}

/// Untagged data responses.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Data {
    Capability(Vec<String>),
    /// RFC 5161
    Enabled(Vec<String>),
    List(ListItem),
    Lsub(ListItem),
    Status {
        mailbox: Mailbox,
        items: Vec<StatusValue>,
    },
    Flags(Vec<Flag>),
    Exists(u32),
    Recent(u32),
    Expunge(u32),
    /// RFC 7162 §3.2.10
    Vanished {
        earlier: bool,
        uids: SequenceSet,
    },
    /// `* SEARCH n...` with the RFC 7162 `(MODSEQ m)` suffix.
    Search {
        numbers: Vec<u32>,
        modseq: Option<u64>,
    },
    ESearch(ESearch),
    /// RFC 5256 `* SORT n...`, with the RFC 7162 §3.1.5 `(MODSEQ m)`
    /// suffix.
    Sort {
        numbers: Vec<u32>,
        modseq: Option<u64>,
    },
    /// RFC 5256 `* THREAD` thread lists, as a flat token sequence (no
    /// recursion, however deep a thread is). The encoder puts SP between
    /// two numbers and between a number and a following `(`.
    Thread(Vec<ThreadToken>),
    Fetch {
        seq: u32,
        items: Vec<FetchValue>,
    },
    Namespace {
        personal: Vec<NamespaceDesc>,
        other: Vec<NamespaceDesc>,
        shared: Vec<NamespaceDesc>,
    },
    /// RFC 2971: `None` for NIL.
    Id(Option<crate::command::IdParams>),
    Quota {
        root: String,
        resources: Vec<QuotaResource>,
    },
    QuotaRoot {
        mailbox: Mailbox,
        roots: Vec<String>,
    },
}

/// A continuation request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Continue {
    /// `+ text` (e.g. `+ Ready for literal data`, `+ idling`).
    Text(String),
    /// `+ base64` SASL challenge (empty for `+ `).
    Base64(Vec<u8>),
}

/// Anything the server sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    Status(StatusResponse),
    Data(Data),
    Continue(Continue),
}

impl Response {
    /// Tagged `tag kind [code] text`.
    pub fn tagged(tag: Tag, kind: StatusKind, code: Option<Code>, text: &str) -> Response {
        Response::Status(StatusResponse {
            tag: Some(tag),
            kind,
            code,
            text: text.to_string(),
        })
    }

    /// Untagged `* kind [code] text`.
    pub fn untagged(kind: StatusKind, code: Option<Code>, text: &str) -> Response {
        Response::Status(StatusResponse {
            tag: None,
            kind,
            code,
            text: text.to_string(),
        })
    }

    /// Append the wire form of this response to `out`.
    pub fn encode(&self, out: &mut BytesMut, opts: EncodeOptions) {
        match self {
            Response::Status(s) => encode_status(out, s),
            Response::Continue(c) => {
                put_str(out, "+ ");
                match c {
                    Continue::Text(t) => write_text(out, t),
                    Continue::Base64(b) => {
                        use base64::Engine as _;
                        put_str(out, &base64::engine::general_purpose::STANDARD.encode(b));
                    }
                }
                put_str(out, "\r\n");
            }
            Response::Data(d) => encode_data(out, d, opts),
        }
    }

    /// The wire form as a new buffer.
    pub fn to_bytes(&self, opts: EncodeOptions) -> BytesMut {
        let mut out = BytesMut::new();
        self.encode(&mut out, opts);
        out
    }
}

fn encode_status(out: &mut BytesMut, s: &StatusResponse) {
    match &s.tag {
        Some(t) => put_str(out, t.as_str()),
        None => out.put_u8(b'*'),
    }
    out.put_u8(b' ');
    put_str(out, s.kind.name());
    out.put_u8(b' ');
    if let Some(code) = &s.code {
        code.encode(out);
        out.put_u8(b' ');
    }
    write_text(out, &s.text);
    put_str(out, "\r\n");
}

fn write_delimiter(out: &mut BytesMut, d: Option<char>) {
    match d {
        Some(c) => {
            let mut buf = [0u8; 4];
            write_quoted(out, c.encode_utf8(&mut buf).as_bytes());
        }
        None => put_str(out, "NIL"),
    }
}

fn write_list_item(out: &mut BytesMut, name: &str, item: &ListItem, opts: EncodeOptions) {
    put_str(out, "* ");
    put_str(out, name);
    put_str(out, " (");
    join(out, &item.attrs, |o, a| put_str(o, &a.to_string()));
    put_str(out, ") ");
    write_delimiter(out, item.delimiter);
    out.put_u8(b' ');
    write_mailbox(out, &item.mailbox, opts);
    if !item.child_info.is_empty() || item.old_name.is_some() {
        put_str(out, " (");
        let mut first = true;
        if !item.child_info.is_empty() {
            put_str(out, "\"CHILDINFO\" (");
            join(out, &item.child_info, |o, s| {
                put_str(
                    o,
                    match s {
                        ListSelect::Subscribed => "\"SUBSCRIBED\"",
                        ListSelect::Remote => "\"REMOTE\"",
                        ListSelect::RecursiveMatch => "\"RECURSIVEMATCH\"",
                        ListSelect::SpecialUse => "\"SPECIAL-USE\"",
                    },
                )
            });
            out.put_u8(b')');
            first = false;
        }
        if let Some(old) = &item.old_name {
            if !first {
                out.put_u8(b' ');
            }
            put_str(out, "\"OLDNAME\" (");
            write_mailbox(out, old, opts);
            out.put_u8(b')');
        }
        out.put_u8(b')');
    }
    put_str(out, "\r\n");
}

fn write_status_value(out: &mut BytesMut, v: &StatusValue) {
    let s = match v {
        StatusValue::Messages(n) => format!("MESSAGES {n}"),
        StatusValue::UidNext(n) => format!("UIDNEXT {n}"),
        StatusValue::UidValidity(n) => format!("UIDVALIDITY {n}"),
        StatusValue::Unseen(n) => format!("UNSEEN {n}"),
        StatusValue::Deleted(n) => format!("DELETED {n}"),
        StatusValue::Size(n) => format!("SIZE {n}"),
        StatusValue::Recent(n) => format!("RECENT {n}"),
        StatusValue::HighestModSeq(n) => format!("HIGHESTMODSEQ {n}"),
        StatusValue::AppendLimit(Some(n)) => format!("APPENDLIMIT {n}"),
        StatusValue::AppendLimit(None) => "APPENDLIMIT NIL".to_string(),
        StatusValue::MailboxId(id) => format!("MAILBOXID ({id})"),
    };
    put_str(out, &s);
}

fn write_namespaces(out: &mut BytesMut, list: &[NamespaceDesc], opts: EncodeOptions) {
    if list.is_empty() {
        put_str(out, "NIL");
        return;
    }
    out.put_u8(b'(');
    for ns in list {
        out.put_u8(b'(');
        write_string(
            out,
            crate::mailbox::wire_name(&ns.prefix, opts.utf8).as_bytes(),
            opts,
        );
        out.put_u8(b' ');
        write_delimiter(out, ns.delimiter);
        out.put_u8(b')');
    }
    out.put_u8(b')');
}

fn encode_data(out: &mut BytesMut, d: &Data, opts: EncodeOptions) {
    match d {
        Data::Capability(caps) => {
            put_str(out, "* CAPABILITY");
            for c in caps {
                out.put_u8(b' ');
                put_str(out, c);
            }
        }
        Data::Enabled(caps) => {
            put_str(out, "* ENABLED");
            for c in caps {
                out.put_u8(b' ');
                put_str(out, c);
            }
        }
        Data::List(item) => return write_list_item(out, "LIST", item, opts),
        Data::Lsub(item) => return write_list_item(out, "LSUB", item, opts),
        Data::Status { mailbox, items } => {
            put_str(out, "* STATUS ");
            write_mailbox(out, mailbox, opts);
            put_str(out, " (");
            join(out, items, write_status_value);
            out.put_u8(b')');
        }
        Data::Flags(flags) => {
            put_str(out, "* FLAGS ");
            write_flag_list(out, flags);
        }
        Data::Exists(n) => put_str(out, &format!("* {n} EXISTS")),
        Data::Recent(n) => put_str(out, &format!("* {n} RECENT")),
        Data::Expunge(n) => put_str(out, &format!("* {n} EXPUNGE")),
        Data::Vanished { earlier, uids } => {
            put_str(out, "* VANISHED ");
            if *earlier {
                put_str(out, "(EARLIER) ");
            }
            put_str(out, &uids.to_string());
        }
        Data::Search { numbers, modseq } => {
            put_str(out, "* SEARCH");
            for n in numbers {
                put_str(out, &format!(" {n}"));
            }
            if let Some(m) = modseq {
                put_str(out, &format!(" (MODSEQ {m})"));
            }
        }
        Data::Sort { numbers, modseq } => {
            put_str(out, "* SORT");
            for n in numbers {
                put_str(out, &format!(" {n}"));
            }
            if let Some(m) = modseq {
                put_str(out, &format!(" (MODSEQ {m})"));
            }
        }
        Data::Thread(tokens) => {
            // thread-data = "THREAD" [SP 1*thread-list]
            put_str(out, "* THREAD");
            if !tokens.is_empty() {
                out.put_u8(b' ');
            }
            let mut prev: Option<ThreadToken> = None;
            for t in tokens {
                if matches!(prev, Some(ThreadToken::Number(_)))
                    && matches!(t, ThreadToken::Number(_) | ThreadToken::Open)
                {
                    out.put_u8(b' ');
                }
                match t {
                    ThreadToken::Open => out.put_u8(b'('),
                    ThreadToken::Close => out.put_u8(b')'),
                    ThreadToken::Number(n) => put_str(out, &n.to_string()),
                }
                prev = Some(*t);
            }
        }
        Data::ESearch(e) => {
            put_str(out, "* ESEARCH");
            if let Some(t) = &e.tag {
                put_str(out, " (TAG ");
                write_quoted(out, t.as_str().as_bytes());
                out.put_u8(b')');
            }
            if e.uid {
                put_str(out, " UID");
            }
            if let Some(n) = e.min {
                put_str(out, &format!(" MIN {n}"));
            }
            if let Some(n) = e.max {
                put_str(out, &format!(" MAX {n}"));
            }
            if let Some(s) = &e.all {
                put_str(out, &format!(" ALL {s}"));
            }
            if let Some(n) = e.count {
                put_str(out, &format!(" COUNT {n}"));
            }
            if let Some(m) = e.modseq {
                put_str(out, &format!(" MODSEQ {m}"));
            }
        }
        Data::Fetch { seq, items } => {
            let mut f = FetchEncoder::start(out, *seq, opts);
            for item in items {
                f.item(out, item);
            }
            f.finish(out);
            return;
        }
        Data::Namespace {
            personal,
            other,
            shared,
        } => {
            put_str(out, "* NAMESPACE ");
            write_namespaces(out, personal, opts);
            out.put_u8(b' ');
            write_namespaces(out, other, opts);
            out.put_u8(b' ');
            write_namespaces(out, shared, opts);
        }
        Data::Id(params) => {
            put_str(out, "* ID ");
            match params {
                None => put_str(out, "NIL"),
                Some(p) if p.is_empty() => put_str(out, "NIL"),
                Some(p) => {
                    out.put_u8(b'(');
                    join(out, p, |o, (k, v)| {
                        write_string(o, k.as_bytes(), opts);
                        o.put_u8(b' ');
                        write_nstring(o, v.as_ref().map(|v| v.as_bytes()), opts);
                    });
                    out.put_u8(b')');
                }
            }
        }
        Data::Quota { root, resources } => {
            put_str(out, "* QUOTA ");
            write_astring(out, root.as_bytes(), opts);
            put_str(out, " (");
            join(out, resources, |o, r| {
                put_str(o, &format!("{} {} {}", r.name, r.usage, r.limit))
            });
            out.put_u8(b')');
        }
        Data::QuotaRoot { mailbox, roots } => {
            put_str(out, "* QUOTAROOT ");
            write_mailbox(out, mailbox, opts);
            for r in roots {
                out.put_u8(b' ');
                write_astring(out, r.as_bytes(), opts);
            }
        }
    }
    put_str(out, "\r\n");
}
