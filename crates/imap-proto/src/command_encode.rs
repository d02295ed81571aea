//! Client-side encoding of [`Command`]s: for test clients, round-trip
//! properties and differential tests. Strings that cannot be atoms or
//! quoted strings become synchronizing literals (`{n}`), or `{n+}` with
//! [`CommandEncodeOptions::literal_plus`].

use base64::Engine as _;
use bytes::{BufMut, BytesMut};

use crate::command::{
    Command, CommandKind, ListReturn, ListSelect, SearchReturn, SelectParams, StatusItem, StoreMode,
};
use crate::fetch::{FetchAttr, FetchItems, Partial, part_path_string};
use crate::mailbox::{Mailbox, wire_name};
use crate::search::SearchKey;
use crate::types::{Flag, is_atom};
use crate::writer::{EncodeOptions, can_quote, is_plain_astring, write_quoted};

/// How to write a command.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommandEncodeOptions {
    /// UTF8=ACCEPT: raw UTF-8 names and quoted strings.
    pub utf8: bool,
    /// Use `{n+}` literals (LITERAL+).
    pub literal_plus: bool,
}

struct W<'a> {
    out: &'a mut BytesMut,
    opts: CommandEncodeOptions,
}

impl W<'_> {
    fn s(&mut self, s: &str) {
        self.out.put_slice(s.as_bytes());
    }

    fn string(&mut self, s: &[u8]) {
        if can_quote(
            s,
            EncodeOptions {
                utf8: self.opts.utf8,
            },
        ) {
            write_quoted(self.out, s);
        } else {
            let plus = if self.opts.literal_plus { "+" } else { "" };
            self.s(&format!("{{{}{plus}}}\r\n", s.len()));
            self.out.put_slice(s);
        }
    }

    fn astring(&mut self, s: &[u8]) {
        if is_plain_astring(s) {
            self.out.put_slice(s);
        } else {
            self.string(s);
        }
    }

    fn mailbox(&mut self, m: &Mailbox) {
        let w = m.to_wire(self.opts.utf8);
        self.astring(w.as_bytes());
    }

    fn name(&mut self, n: &str) {
        let w = wire_name(n, self.opts.utf8);
        self.astring(w.as_bytes());
    }

    /// list-mailbox: wildcards may stay bare.
    fn pattern(&mut self, p: &str) {
        let w = wire_name(p, self.opts.utf8);
        if !w.is_empty() && w.bytes().all(crate::chars::is_list_char) {
            self.s(&w);
        } else {
            self.string(w.as_bytes());
        }
    }

    fn list<T>(&mut self, items: &[T], mut each: impl FnMut(&mut Self, &T)) {
        self.s("(");
        for (i, it) in items.iter().enumerate() {
            if i > 0 {
                self.s(" ");
            }
            each(self, it);
        }
        self.s(")");
    }

    fn flags(&mut self, flags: &[Flag]) {
        self.list(flags, |w, f| w.s(&f.to_string()));
    }

    fn status_items(&mut self, items: &[StatusItem]) {
        self.list(items, |w, i| w.s(i.name()));
    }
}

fn partial(p: &Option<Partial>) -> String {
    p.map(|p| format!("<{}.{}>", p.offset, p.length))
        .unwrap_or_default()
}

fn fetch_attr(w: &mut W<'_>, a: &FetchAttr) {
    let s = match a {
        FetchAttr::Envelope => "ENVELOPE".to_string(),
        FetchAttr::Flags => "FLAGS".to_string(),
        FetchAttr::InternalDate => "INTERNALDATE".to_string(),
        FetchAttr::Rfc822Size => "RFC822.SIZE".to_string(),
        FetchAttr::Rfc822 => "RFC822".to_string(),
        FetchAttr::Rfc822Header => "RFC822.HEADER".to_string(),
        FetchAttr::Rfc822Text => "RFC822.TEXT".to_string(),
        FetchAttr::Body => "BODY".to_string(),
        FetchAttr::BodyStructure => "BODYSTRUCTURE".to_string(),
        FetchAttr::Uid => "UID".to_string(),
        FetchAttr::ModSeq => "MODSEQ".to_string(),
        FetchAttr::EmailId => "EMAILID".to_string(),
        FetchAttr::ThreadId => "THREADID".to_string(),
        FetchAttr::SaveDate => "SAVEDATE".to_string(),
        FetchAttr::Preview => "PREVIEW".to_string(),
        FetchAttr::BodySection {
            peek,
            section,
            partial: p,
        } => format!(
            "BODY{}[{section}]{}",
            if *peek { ".PEEK" } else { "" },
            partial(p)
        ),
        FetchAttr::Binary {
            peek,
            part,
            partial: p,
        } => format!(
            "BINARY{}[{}]{}",
            if *peek { ".PEEK" } else { "" },
            part_path_string(part),
            partial(p)
        ),
        FetchAttr::BinarySize { part } => format!("BINARY.SIZE[{}]", part_path_string(part)),
    };
    w.s(&s);
}

fn search_key(w: &mut W<'_>, k: &SearchKey) {
    let arg = |w: &mut W<'_>, name: &str, v: &[u8]| {
        w.s(name);
        w.s(" ");
        w.astring(v);
    };
    match k {
        SearchKey::All => w.s("ALL"),
        SearchKey::Answered => w.s("ANSWERED"),
        SearchKey::Deleted => w.s("DELETED"),
        SearchKey::Draft => w.s("DRAFT"),
        SearchKey::Flagged => w.s("FLAGGED"),
        SearchKey::New => w.s("NEW"),
        SearchKey::Old => w.s("OLD"),
        SearchKey::Recent => w.s("RECENT"),
        SearchKey::Seen => w.s("SEEN"),
        SearchKey::Unanswered => w.s("UNANSWERED"),
        SearchKey::Undeleted => w.s("UNDELETED"),
        SearchKey::Undraft => w.s("UNDRAFT"),
        SearchKey::Unflagged => w.s("UNFLAGGED"),
        SearchKey::Unseen => w.s("UNSEEN"),
        SearchKey::SaveDateSupported => w.s("SAVEDATESUPPORTED"),
        SearchKey::Bcc(v) => arg(w, "BCC", v),
        SearchKey::Body(v) => arg(w, "BODY", v),
        SearchKey::Cc(v) => arg(w, "CC", v),
        SearchKey::From(v) => arg(w, "FROM", v),
        SearchKey::Subject(v) => arg(w, "SUBJECT", v),
        SearchKey::Text(v) => arg(w, "TEXT", v),
        SearchKey::To(v) => arg(w, "TO", v),
        SearchKey::Header(f, v) => {
            w.s("HEADER ");
            w.astring(f.as_bytes());
            w.s(" ");
            w.astring(v);
        }
        SearchKey::Keyword(k) => w.s(&format!("KEYWORD {k}")),
        SearchKey::Unkeyword(k) => w.s(&format!("UNKEYWORD {k}")),
        SearchKey::Before(d) => w.s(&format!("BEFORE {d}")),
        SearchKey::On(d) => w.s(&format!("ON {d}")),
        SearchKey::Since(d) => w.s(&format!("SINCE {d}")),
        SearchKey::SentBefore(d) => w.s(&format!("SENTBEFORE {d}")),
        SearchKey::SentOn(d) => w.s(&format!("SENTON {d}")),
        SearchKey::SentSince(d) => w.s(&format!("SENTSINCE {d}")),
        SearchKey::SavedBefore(d) => w.s(&format!("SAVEDBEFORE {d}")),
        SearchKey::SavedOn(d) => w.s(&format!("SAVEDON {d}")),
        SearchKey::SavedSince(d) => w.s(&format!("SAVEDSINCE {d}")),
        SearchKey::Larger(n) => w.s(&format!("LARGER {n}")),
        SearchKey::Smaller(n) => w.s(&format!("SMALLER {n}")),
        SearchKey::Younger(n) => w.s(&format!("YOUNGER {n}")),
        SearchKey::Older(n) => w.s(&format!("OLDER {n}")),
        SearchKey::Uid(s) => w.s(&format!("UID {s}")),
        SearchKey::EmailId(id) => w.s(&format!("EMAILID {id}")),
        SearchKey::ThreadId(id) => w.s(&format!("THREADID {id}")),
        SearchKey::SequenceSet(s) => w.s(&s.to_string()),
        SearchKey::Not(k) => {
            w.s("NOT ");
            search_key(w, k);
        }
        SearchKey::Or(a, b) => {
            w.s("OR ");
            search_key(w, a);
            w.s(" ");
            search_key(w, b);
        }
        SearchKey::And(keys) => w.list(keys, search_key),
        SearchKey::ModSeq { entry, modseq } => {
            w.s("MODSEQ ");
            if let Some((flag, kind)) = entry {
                write_quoted(w.out, format!("/flags/{flag}").as_bytes());
                w.s(&format!(" {} ", kind.name()));
            }
            w.s(&modseq.to_string());
        }
    }
}

fn search_return(r: SearchReturn) -> &'static str {
    match r {
        SearchReturn::Min => "MIN",
        SearchReturn::Max => "MAX",
        SearchReturn::All => "ALL",
        SearchReturn::Count => "COUNT",
        SearchReturn::Save => "SAVE",
    }
}

/// charset = atom / quoted
fn charset(w: &mut W<'_>, cs: &str) {
    if is_atom(cs) {
        w.s(cs);
    } else {
        write_quoted(w.out, cs.as_bytes());
    }
}

/// RFC 5256 `search-criteria = charset 1*(SP search-key)` (with its
/// leading SP).
fn search_criteria(w: &mut W<'_>, cs: &str, keys: &[SearchKey]) {
    w.s(" ");
    charset(w, cs);
    for k in keys {
        w.s(" ");
        search_key(w, k);
    }
}

fn select_params(w: &mut W<'_>, p: &SelectParams) {
    if !p.condstore && p.qresync.is_none() {
        return;
    }
    let mut items = Vec::new();
    if p.condstore {
        items.push("CONDSTORE".to_string());
    }
    if let Some(q) = &p.qresync {
        let mut s = format!("QRESYNC ({} {}", q.uidvalidity, q.modseq);
        if let Some(k) = &q.known_uids {
            s.push_str(&format!(" {k}"));
        }
        if let Some((a, b)) = &q.seq_match {
            s.push_str(&format!(" ({a} {b})"));
        }
        s.push(')');
        items.push(s);
    }
    w.s(" ");
    w.list(&items, |w, s| w.s(s));
}

impl Command {
    /// Append the wire form (CRLF-terminated) to `out`.
    pub fn encode(&self, out: &mut BytesMut, opts: CommandEncodeOptions) {
        let mut w = W { out, opts };
        w.s(self.tag.as_str());
        w.s(" ");
        w.s(self.kind.name());
        match &self.kind {
            CommandKind::Capability
            | CommandKind::Noop
            | CommandKind::Logout
            | CommandKind::StartTls
            | CommandKind::Namespace
            | CommandKind::Idle
            | CommandKind::Check
            | CommandKind::Close
            | CommandKind::Unselect
            | CommandKind::Expunge => {}
            CommandKind::Authenticate {
                mechanism,
                initial_response,
            } => {
                w.s(&format!(" {mechanism}"));
                match initial_response {
                    Some(r) if r.is_empty() => w.s(" ="),
                    Some(r) => w.s(&format!(
                        " {}",
                        base64::engine::general_purpose::STANDARD.encode(r)
                    )),
                    None => {}
                }
            }
            CommandKind::Login { username, password } => {
                w.s(" ");
                w.astring(username);
                w.s(" ");
                w.astring(password);
            }
            CommandKind::Enable { capabilities } => {
                for c in capabilities {
                    w.s(&format!(" {c}"));
                }
            }
            CommandKind::Select { mailbox, params } | CommandKind::Examine { mailbox, params } => {
                w.s(" ");
                w.mailbox(mailbox);
                select_params(&mut w, params);
            }
            CommandKind::Create {
                mailbox,
                special_use,
            } => {
                w.s(" ");
                w.mailbox(mailbox);
                if !special_use.is_empty() {
                    w.s(" (USE ");
                    w.list(special_use, |w, a| w.s(&a.to_string()));
                    w.s(")");
                }
            }
            CommandKind::Delete { mailbox }
            | CommandKind::Subscribe { mailbox }
            | CommandKind::Unsubscribe { mailbox }
            | CommandKind::GetQuotaRoot { mailbox } => {
                w.s(" ");
                w.mailbox(mailbox);
            }
            CommandKind::Rename { from, to } => {
                w.s(" ");
                w.mailbox(from);
                w.s(" ");
                w.mailbox(to);
            }
            CommandKind::List(l) => {
                if let Some(sel) = &l.selection {
                    w.s(" ");
                    w.list(sel, |w, s| {
                        w.s(match s {
                            ListSelect::Subscribed => "SUBSCRIBED",
                            ListSelect::Remote => "REMOTE",
                            ListSelect::RecursiveMatch => "RECURSIVEMATCH",
                            ListSelect::SpecialUse => "SPECIAL-USE",
                        })
                    });
                }
                w.s(" ");
                w.name(&l.reference);
                w.s(" ");
                match l.patterns.as_slice() {
                    [one] => w.pattern(one),
                    many => w.list(many, |w, p| w.pattern(p)),
                }
                if let Some(ret) = &l.return_opts {
                    w.s(" RETURN ");
                    w.list(ret, |w, r| match r {
                        ListReturn::Subscribed => w.s("SUBSCRIBED"),
                        ListReturn::Children => w.s("CHILDREN"),
                        ListReturn::SpecialUse => w.s("SPECIAL-USE"),
                        ListReturn::Status(items) => {
                            w.s("STATUS ");
                            w.status_items(items);
                        }
                    });
                }
            }
            CommandKind::Lsub { reference, pattern } => {
                w.s(" ");
                w.name(reference);
                w.s(" ");
                w.pattern(pattern);
            }
            CommandKind::Status { mailbox, items } => {
                w.s(" ");
                w.mailbox(mailbox);
                w.s(" ");
                w.status_items(items);
            }
            CommandKind::UidExpunge { set } => w.s(&format!(" {set}")),
            CommandKind::Search(s) => {
                if let Some(ret) = &s.return_opts {
                    w.s(" RETURN ");
                    w.list(ret, |w, r| w.s(search_return(*r)));
                }
                if let Some(cs) = &s.charset {
                    w.s(" CHARSET ");
                    charset(&mut w, cs);
                }
                for k in &s.criteria {
                    w.s(" ");
                    search_key(&mut w, k);
                }
            }
            CommandKind::Sort(s) => {
                if let Some(ret) = &s.return_opts {
                    w.s(" RETURN ");
                    w.list(ret, |w, r| w.s(search_return(*r)));
                }
                w.s(" ");
                w.list(&s.criteria, |w, c| {
                    if c.reverse {
                        w.s("REVERSE ");
                    }
                    w.s(c.key.name());
                });
                search_criteria(&mut w, &s.charset, &s.search);
            }
            CommandKind::Thread(t) => {
                w.s(" ");
                w.s(t.algorithm.name());
                search_criteria(&mut w, &t.charset, &t.search);
            }
            CommandKind::Fetch(f) => {
                w.s(&format!(" {} ", f.set));
                match &f.items {
                    FetchItems::All => w.s("ALL"),
                    FetchItems::Fast => w.s("FAST"),
                    FetchItems::Full => w.s("FULL"),
                    FetchItems::Attrs(a) => w.list(a, fetch_attr),
                }
                let m = &f.modifiers;
                let mut mods = Vec::new();
                if let Some(c) = m.changed_since {
                    mods.push(format!("CHANGEDSINCE {c}"));
                }
                if m.vanished {
                    mods.push("VANISHED".to_string());
                }
                if !mods.is_empty() {
                    w.s(" ");
                    w.list(&mods, |w, s| w.s(s));
                }
            }
            CommandKind::Store(s) => {
                w.s(&format!(" {}", s.set));
                if let Some(u) = s.unchanged_since {
                    w.s(&format!(" (UNCHANGEDSINCE {u})"));
                }
                w.s(match s.mode {
                    StoreMode::Replace => " ",
                    StoreMode::Add => " +",
                    StoreMode::Remove => " -",
                });
                w.s(if s.silent { "FLAGS.SILENT " } else { "FLAGS " });
                w.flags(&s.flags);
            }
            CommandKind::Copy { set, mailbox, .. } | CommandKind::Move { set, mailbox, .. } => {
                w.s(&format!(" {set} "));
                w.mailbox(mailbox);
            }
            CommandKind::Id { params } => match params {
                None => w.s(" NIL"),
                Some(p) => {
                    w.s(" ");
                    w.list(p, |w, (k, v)| {
                        w.string(k.as_bytes());
                        w.s(" ");
                        match v {
                            Some(v) => w.string(v.as_bytes()),
                            None => w.s("NIL"),
                        }
                    });
                }
            },
            CommandKind::GetQuota { root } => {
                w.s(" ");
                w.astring(root.as_bytes());
            }
        }
        w.s("\r\n");
    }

    /// The wire form as a new buffer.
    pub fn to_bytes(&self, opts: CommandEncodeOptions) -> BytesMut {
        let mut out = BytesMut::new();
        self.encode(&mut out, opts);
        out
    }
}
