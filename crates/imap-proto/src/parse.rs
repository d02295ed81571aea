//! The command grammar (RFC 9051 §9 `command`, RFC 3501 §9) over one
//! complete command.

use base64::Engine as _;

use crate::chars::is_base64_char;
use crate::command::{
    Command, CommandKind, FetchCommand, IdParams, ListCommand, ListReturn, ListSelect,
    QresyncParams, SearchCommand, SearchReturn, SelectParams, StatusItem, StoreCommand, StoreMode,
};
use crate::cursor::{Cursor, Options, PResult};
use crate::error::{CommandError, ParseError};
use crate::fetch::{FetchModifiers, fetch_items, fetch_modifiers};
use crate::search::search_key;
use crate::sequence::SequenceSet;
use crate::types::{Flag, MailboxAttr, Tag};

/// Parse one complete command (with any literals inline, ending in CRLF).
pub(crate) fn parse_command(input: &[u8], opts: Options) -> Result<Command, CommandError> {
    let mut c = Cursor::new(input, opts);
    let tag = tag(&mut c).map_err(|e| CommandError::new(None, e))?;
    let kind = command_body(&mut c).map_err(|e| CommandError::new(Some(tag.clone()), e))?;
    Ok(Command { tag, kind })
}

pub(crate) fn tag(c: &mut Cursor<'_>) -> PResult<Tag> {
    let t = c.take_while(crate::chars::is_tag_char);
    // A tag ends at SP (or at the end of a truncated line).
    if c.peek().is_some_and(|b| b != b' ' && b != b'\r') {
        return Err(ParseError::InvalidTag);
    }
    Tag::from_bytes(t).ok_or(ParseError::InvalidTag)
}

fn command_body(c: &mut Cursor<'_>) -> PResult<CommandKind> {
    c.sp()?;
    let name = c.atom()?.to_ascii_uppercase();
    let kind = match name.as_str() {
        "CAPABILITY" => CommandKind::Capability,
        "NOOP" => CommandKind::Noop,
        "LOGOUT" => CommandKind::Logout,
        "STARTTLS" => CommandKind::StartTls,
        "IDLE" => CommandKind::Idle,
        "CHECK" => CommandKind::Check,
        "CLOSE" => CommandKind::Close,
        "UNSELECT" => CommandKind::Unselect,
        "EXPUNGE" => CommandKind::Expunge,
        "NAMESPACE" => CommandKind::Namespace,
        "AUTHENTICATE" => authenticate(c)?,
        "LOGIN" => {
            c.sp()?;
            let username = c.astring()?;
            c.sp()?;
            let password = c.astring()?;
            CommandKind::Login { username, password }
        }
        "ENABLE" => {
            let mut capabilities = Vec::new();
            while c.eat(b' ') {
                capabilities.push(c.atom()?.to_string());
            }
            if capabilities.is_empty() {
                return Err(c.err("capability"));
            }
            CommandKind::Enable { capabilities }
        }
        "SELECT" | "EXAMINE" => {
            c.sp()?;
            let mailbox = c.mailbox()?;
            let params = if c.eat(b' ') {
                select_params(c)?
            } else {
                SelectParams::default()
            };
            if name == "SELECT" {
                CommandKind::Select { mailbox, params }
            } else {
                CommandKind::Examine { mailbox, params }
            }
        }
        "CREATE" => {
            c.sp()?;
            let mailbox = c.mailbox()?;
            let special_use = if c.eat(b' ') {
                create_params(c)?
            } else {
                Vec::new()
            };
            CommandKind::Create {
                mailbox,
                special_use,
            }
        }
        "DELETE" | "SUBSCRIBE" | "UNSUBSCRIBE" | "GETQUOTAROOT" => {
            c.sp()?;
            let mailbox = c.mailbox()?;
            match name.as_str() {
                "DELETE" => CommandKind::Delete { mailbox },
                "SUBSCRIBE" => CommandKind::Subscribe { mailbox },
                "UNSUBSCRIBE" => CommandKind::Unsubscribe { mailbox },
                _ => CommandKind::GetQuotaRoot { mailbox },
            }
        }
        "RENAME" => {
            c.sp()?;
            let from = c.mailbox()?;
            c.sp()?;
            let to = c.mailbox()?;
            CommandKind::Rename { from, to }
        }
        "LIST" => CommandKind::List(list(c)?),
        "LSUB" => {
            c.sp()?;
            let reference = c.list_mailbox_reference()?;
            c.sp()?;
            let pattern = c.list_mailbox()?;
            CommandKind::Lsub { reference, pattern }
        }
        "STATUS" => {
            c.sp()?;
            let mailbox = c.mailbox()?;
            c.sp()?;
            let items = status_items(c)?;
            CommandKind::Status { mailbox, items }
        }
        "SEARCH" => CommandKind::Search(search(c, false)?),
        "SORT" => CommandKind::Sort(crate::sort::sort(c, false)?),
        "THREAD" => CommandKind::Thread(crate::sort::thread(c, false)?),
        "FETCH" => CommandKind::Fetch(fetch(c, false)?),
        "STORE" => CommandKind::Store(store(c, false)?),
        "COPY" | "MOVE" => copy_move(c, &name, false)?,
        "UID" => {
            c.sp()?;
            let start = c.pos();
            let sub = c.atom()?.to_ascii_uppercase();
            match sub.as_str() {
                "SEARCH" => CommandKind::Search(search(c, true)?),
                "SORT" => CommandKind::Sort(crate::sort::sort(c, true)?),
                "THREAD" => CommandKind::Thread(crate::sort::thread(c, true)?),
                "FETCH" => CommandKind::Fetch(fetch(c, true)?),
                "STORE" => CommandKind::Store(store(c, true)?),
                "COPY" | "MOVE" => copy_move(c, &sub, true)?,
                "EXPUNGE" => {
                    c.sp()?;
                    CommandKind::UidExpunge {
                        set: SequenceSet::parse(c)?,
                    }
                }
                _ => return Err(ParseError::syntax("UID command", start)),
            }
        }
        "ID" => {
            c.sp()?;
            CommandKind::Id { params: id(c)? }
        }
        "GETQUOTA" => {
            c.sp()?;
            CommandKind::GetQuota {
                root: c.astring_utf8()?,
            }
        }
        "APPEND" => return Err(c.err("APPEND message literal")),
        _ => return Err(ParseError::UnknownCommand),
    };
    c.crlf()?;
    Ok(kind)
}

impl Cursor<'_> {
    /// The LIST/LSUB reference argument: a `mailbox` (astring), decoded
    /// like a name but without INBOX normalisation.
    fn list_mailbox_reference(&mut self) -> PResult<String> {
        let raw = self.astring()?;
        crate::mailbox::decode_name(&raw, self.opts.utf8)
            .map_err(|_| ParseError::invalid("reference name"))
    }
}

/// authenticate = "AUTHENTICATE" SP auth-type [SP initial-resp]
fn authenticate(c: &mut Cursor<'_>) -> PResult<CommandKind> {
    c.sp()?;
    let mechanism = c.atom()?.to_ascii_uppercase();
    let initial_response = if c.eat(b' ') {
        // initial-resp = (base64 / "=")  (RFC 4959)
        if c.eat(b'=') {
            Some(Vec::new())
        } else {
            let text = c.take_while(|b| is_base64_char(b) || b == b'=');
            Some(decode_base64(text)?)
        }
    } else {
        None
    };
    Ok(CommandKind::Authenticate {
        mechanism,
        initial_response,
    })
}

/// Strict standard base64 (RFC 4648 §4, padding required).
pub(crate) fn decode_base64(text: &[u8]) -> PResult<Vec<u8>> {
    if text.is_empty() {
        return Err(ParseError::InvalidBase64);
    }
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| ParseError::InvalidBase64)
}

/// select-params = SP "(" select-param *(SP select-param) ")"
fn select_params(c: &mut Cursor<'_>) -> PResult<SelectParams> {
    let mut p = SelectParams::default();
    c.paren_list(false, |c| {
        let start = c.pos();
        if c.eat_keyword("CONDSTORE") {
            p.condstore = true;
        } else if c.eat_keyword("QRESYNC") {
            c.sp()?;
            c.expect(b'(', "(")?;
            let uidvalidity = c.nz_number()?;
            c.sp()?;
            let modseq = c.nz_number64()?;
            let mut known_uids = None;
            let mut seq_match = None;
            if c.eat(b' ') {
                if c.peek() != Some(b'(') {
                    known_uids = Some(sequence_set_no_star(c)?);
                    if c.eat(b' ') {
                        seq_match = Some(seq_match_data(c)?);
                    }
                } else {
                    seq_match = Some(seq_match_data(c)?);
                }
            }
            c.expect(b')', ")")?;
            p.qresync = Some(QresyncParams {
                uidvalidity,
                modseq,
                known_uids,
                seq_match,
            });
        } else {
            return Err(ParseError::syntax("CONDSTORE or QRESYNC", start));
        }
        Ok(())
    })?;
    Ok(p)
}

fn sequence_set_no_star(c: &mut Cursor<'_>) -> PResult<SequenceSet> {
    let start = c.pos();
    let s = SequenceSet::parse(c)?;
    if s.has_star() || s.is_saved() {
        return Err(ParseError::syntax("sequence set without * or $", start));
    }
    Ok(s)
}

/// seq-match-data = "(" known-sequence-set SP known-uid-set ")"
fn seq_match_data(c: &mut Cursor<'_>) -> PResult<(SequenceSet, SequenceSet)> {
    c.expect(b'(', "(")?;
    let seqs = sequence_set_no_star(c)?;
    c.sp()?;
    let uids = sequence_set_no_star(c)?;
    c.expect(b')', ")")?;
    Ok((seqs, uids))
}

/// create-params = SP "(" create-param *(SP create-param) ")";
/// create-param = "USE" SP "(" [use-attr *(SP use-attr)] ")"  (RFC 6154)
fn create_params(c: &mut Cursor<'_>) -> PResult<Vec<MailboxAttr>> {
    let mut attrs = Vec::new();
    c.paren_list(false, |c| {
        c.keyword("USE")?;
        c.sp()?;
        let list = c.paren_list(true, |c| {
            let start = c.pos();
            c.expect(b'\\', "special-use attribute")?;
            let a = c.atom()?;
            MailboxAttr::parse(&format!("\\{a}"))
                .ok_or(ParseError::syntax("special-use attribute", start))
        })?;
        attrs.extend(list);
        Ok(())
    })?;
    Ok(attrs)
}

/// RFC 5258 `list`.
fn list(c: &mut Cursor<'_>) -> PResult<ListCommand> {
    c.sp()?;
    let selection = if c.peek() == Some(b'(') {
        let sel = c.paren_list(true, |c| {
            let start = c.pos();
            let w = c.atom()?.to_ascii_uppercase();
            Ok(match w.as_str() {
                "SUBSCRIBED" => ListSelect::Subscribed,
                "REMOTE" => ListSelect::Remote,
                "RECURSIVEMATCH" => ListSelect::RecursiveMatch,
                "SPECIAL-USE" => ListSelect::SpecialUse,
                _ => return Err(ParseError::syntax("list selection option", start)),
            })
        })?;
        // RFC 5258 §3.1: RECURSIVEMATCH needs a base option.
        if sel.contains(&ListSelect::RecursiveMatch)
            && !sel
                .iter()
                .any(|s| matches!(s, ListSelect::Subscribed | ListSelect::SpecialUse))
        {
            return Err(ParseError::invalid("RECURSIVEMATCH without a base option"));
        }
        c.sp()?;
        Some(sel)
    } else {
        None
    };
    let reference = c.list_mailbox_reference()?;
    c.sp()?;
    let patterns = if c.peek() == Some(b'(') {
        c.paren_list(false, |c| c.list_mailbox())?
    } else {
        vec![c.list_mailbox()?]
    };
    let return_opts = if c.eat(b' ') {
        c.keyword("RETURN")?;
        c.sp()?;
        Some(c.paren_list(true, |c| {
            let start = c.pos();
            let w = c.atom()?.to_ascii_uppercase();
            Ok(match w.as_str() {
                "SUBSCRIBED" => ListReturn::Subscribed,
                "CHILDREN" => ListReturn::Children,
                "SPECIAL-USE" => ListReturn::SpecialUse,
                "STATUS" => {
                    c.sp()?;
                    ListReturn::Status(status_items(c)?)
                }
                _ => return Err(ParseError::syntax("list return option", start)),
            })
        })?)
    } else {
        None
    };
    Ok(ListCommand {
        selection,
        reference,
        patterns,
        return_opts,
    })
}

/// "(" status-att *(SP status-att) ")"
fn status_items(c: &mut Cursor<'_>) -> PResult<Vec<StatusItem>> {
    c.paren_list(false, |c| {
        let start = c.pos();
        let w = c.atom()?;
        StatusItem::from_name(w).ok_or(ParseError::syntax("status item", start))
    })
}

/// `[search-return-opts SP]`: RFC 4731 ESEARCH's RETURN options (also
/// ESORT's, RFC 5267 §3) and RFC 5182's SAVE; `what` names them in errors.
pub(crate) fn return_opts(
    c: &mut Cursor<'_>,
    what: &'static str,
) -> PResult<Option<Vec<SearchReturn>>> {
    if !c.eat_keyword("RETURN") {
        return Ok(None);
    }
    c.sp()?;
    let opts = c.paren_list(true, |c| {
        let start = c.pos();
        let w = c.atom()?.to_ascii_uppercase();
        Ok(match w.as_str() {
            "MIN" => SearchReturn::Min,
            "MAX" => SearchReturn::Max,
            "ALL" => SearchReturn::All,
            "COUNT" => SearchReturn::Count,
            "SAVE" => SearchReturn::Save,
            _ => return Err(ParseError::syntax(what, start)),
        })
    })?;
    c.sp()?;
    Ok(Some(opts))
}

/// search = "SEARCH" [search-return-opts] SP search-program
fn search(c: &mut Cursor<'_>, uid: bool) -> PResult<SearchCommand> {
    c.sp()?;
    let return_opts = return_opts(c, "search return option")?;
    let charset = if c.eat_keyword("CHARSET") {
        c.sp()?;
        let cs = crate::sort::charset(c)?;
        c.sp()?;
        Some(cs)
    } else {
        None
    };
    let mut criteria = vec![search_key(c)?];
    while c.eat(b' ') {
        criteria.push(search_key(c)?);
    }
    Ok(SearchCommand {
        uid,
        return_opts,
        charset,
        criteria,
    })
}

fn fetch(c: &mut Cursor<'_>, uid: bool) -> PResult<FetchCommand> {
    c.sp()?;
    let set = SequenceSet::parse(c)?;
    c.sp()?;
    let items = fetch_items(c)?;
    let modifiers = if c.eat(b' ') {
        fetch_modifiers(c)?
    } else {
        FetchModifiers::default()
    };
    Ok(FetchCommand {
        uid,
        set,
        items,
        modifiers,
    })
}

/// store = "STORE" SP sequence-set [store-modifiers] SP store-att-flags
fn store(c: &mut Cursor<'_>, uid: bool) -> PResult<StoreCommand> {
    c.sp()?;
    let set = SequenceSet::parse(c)?;
    c.sp()?;
    let mut unchanged_since = None;
    if c.peek() == Some(b'(') {
        c.paren_list(false, |c| {
            c.keyword("UNCHANGEDSINCE")?;
            c.sp()?;
            unchanged_since = Some(c.number64()?);
            Ok(())
        })?;
        c.sp()?;
    }
    let mode = if c.eat(b'+') {
        StoreMode::Add
    } else if c.eat(b'-') {
        StoreMode::Remove
    } else {
        StoreMode::Replace
    };
    let start = c.pos();
    let w = c.word()?.to_ascii_uppercase();
    let silent = match w.as_str() {
        "FLAGS" => false,
        "FLAGS.SILENT" => true,
        _ => return Err(ParseError::syntax("FLAGS or FLAGS.SILENT", start)),
    };
    c.sp()?;
    let flags = if c.peek() == Some(b'(') {
        flag_list(c)?
    } else {
        let mut v = vec![flag(c)?];
        while c.eat(b' ') {
            v.push(flag(c)?);
        }
        v
    };
    Ok(StoreCommand {
        uid,
        set,
        unchanged_since,
        mode,
        silent,
        flags,
    })
}

/// flag = "\Answered" / ... / flag-keyword / flag-extension
pub(crate) fn flag(c: &mut Cursor<'_>) -> PResult<Flag> {
    let start = c.pos();
    let backslash = c.eat(b'\\');
    let a = c.atom().map_err(|_| ParseError::syntax("flag", start))?;
    let f = if backslash {
        Flag::parse(&format!("\\{a}"))
    } else {
        Flag::keyword(a)
    };
    f.ok_or(ParseError::syntax("flag", start))
}

/// flag-list = "(" [flag *(SP flag)] ")"
pub(crate) fn flag_list(c: &mut Cursor<'_>) -> PResult<Vec<Flag>> {
    c.paren_list(true, flag)
}

fn copy_move(c: &mut Cursor<'_>, name: &str, uid: bool) -> PResult<CommandKind> {
    c.sp()?;
    let set = SequenceSet::parse(c)?;
    c.sp()?;
    let mailbox = c.mailbox()?;
    Ok(if name == "COPY" {
        CommandKind::Copy { uid, set, mailbox }
    } else {
        CommandKind::Move { uid, set, mailbox }
    })
}

/// id-params-list = "(" *(string SP nstring) ")" / nil  (RFC 2971)
fn id(c: &mut Cursor<'_>) -> PResult<Option<IdParams>> {
    if c.eat_keyword("NIL") {
        return Ok(None);
    }
    let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
    let mut out = Vec::new();
    c.expect(b'(', "(")?;
    c.enter()?;
    if !c.eat(b')') {
        loop {
            let k = text(c.string()?);
            c.sp()?;
            let v = c.nstring()?.map(text);
            out.push((k, v));
            if c.eat(b')') {
                break;
            }
            c.sp()?;
        }
    }
    c.leave();
    Ok(Some(out))
}

impl Command {
    /// Parse one complete command (CRLF-terminated, literals inline) that
    /// is not APPEND, with the default nesting bound. The streaming
    /// [`crate::CommandParser`] is what a server uses; this is for tests and
    /// tools.
    pub fn parse(input: &[u8], utf8: bool) -> Result<Command, CommandError> {
        parse_command(
            input,
            Options {
                utf8,
                max_depth: crate::ParserConfig::default().max_depth,
            },
        )
    }
}
