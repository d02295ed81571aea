//! SEARCH keys (RFC 9051 §6.4.4 `search-key`; RFC 3501 NEW/OLD/RECENT;
//! RFC 7162 MODSEQ; RFC 5032 OLDER/YOUNGER; RFC 8474 EMAILID/THREADID;
//! RFC 8514 SAVEDBEFORE/SAVEDON/SAVEDSINCE/SAVEDATESUPPORTED; RFC 5182 `$`).

use crate::cursor::{Cursor, PResult};
use crate::datetime::{Date, search_date};
use crate::error::ParseError;
use crate::sequence::SequenceSet;
use crate::types::Flag;

/// One search key. Strings are the raw octets in the command's CHARSET.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchKey {
    All,
    Answered,
    Bcc(Vec<u8>),
    Before(Date),
    Body(Vec<u8>),
    Cc(Vec<u8>),
    Deleted,
    Draft,
    Flagged,
    From(Vec<u8>),
    /// `HEADER field-name string`
    Header(String, Vec<u8>),
    Keyword(String),
    Larger(u64),
    New,
    Not(Box<SearchKey>),
    Old,
    On(Date),
    Or(Box<SearchKey>, Box<SearchKey>),
    Recent,
    Seen,
    SentBefore(Date),
    SentOn(Date),
    SentSince(Date),
    Since(Date),
    Smaller(u64),
    Subject(Vec<u8>),
    Text(Vec<u8>),
    To(Vec<u8>),
    Uid(SequenceSet),
    Unanswered,
    Undeleted,
    Undraft,
    Unflagged,
    Unkeyword(String),
    Unseen,
    /// Message sequence numbers (or `$`).
    SequenceSet(SequenceSet),
    /// `( key *(SP key) )`
    And(Vec<SearchKey>),
    /// RFC 7162: `MODSEQ ["/flags/<flag>" priv|shared|all] modseq`.
    ModSeq {
        entry: Option<(Flag, EntryType)>,
        modseq: u64,
    },
    /// RFC 5032 WITHIN: internal date at most n seconds ago.
    Younger(u32),
    /// RFC 5032 WITHIN: internal date more than n seconds ago.
    Older(u32),
    EmailId(String),
    ThreadId(String),
    SavedBefore(Date),
    SavedOn(Date),
    SavedSince(Date),
    SaveDateSupported,
}

/// RFC 7162 `entry-type-req`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryType {
    Private,
    Shared,
    All,
}

impl EntryType {
    pub fn name(self) -> &'static str {
        match self {
            EntryType::Private => "priv",
            EntryType::Shared => "shared",
            EntryType::All => "all",
        }
    }
}

/// objectid = 1*255(ALPHA / DIGIT / "_" / "-")  (RFC 8474)
pub(crate) fn is_objectid(s: &str) -> bool {
    (1..=255).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn objectid(c: &mut Cursor<'_>) -> PResult<String> {
    let start = c.pos();
    let s = c.atom()?;
    if !is_objectid(s) {
        return Err(ParseError::syntax("object id", start));
    }
    Ok(s.to_string())
}

fn keyword(c: &mut Cursor<'_>) -> PResult<String> {
    // flag-keyword = "$MDNSent" / "$Forwarded" / ... / atom
    Ok(c.atom()?.to_string())
}

/// One `search-key`.
pub(crate) fn search_key(c: &mut Cursor<'_>) -> PResult<SearchKey> {
    match c.peek() {
        Some(b'(') => return c.paren_list(false, search_key).map(SearchKey::And),
        Some(b'0'..=b'9' | b'*' | b'$') => {
            return SequenceSet::parse(c).map(SearchKey::SequenceSet);
        }
        _ => {}
    }
    let start = c.pos();
    let name = c.atom()?.to_ascii_uppercase();
    let arg = |c: &mut Cursor<'_>| -> PResult<Vec<u8>> {
        c.sp()?;
        c.astring()
    };
    let key = match name.as_str() {
        "ALL" => SearchKey::All,
        "ANSWERED" => SearchKey::Answered,
        "DELETED" => SearchKey::Deleted,
        "DRAFT" => SearchKey::Draft,
        "FLAGGED" => SearchKey::Flagged,
        "NEW" => SearchKey::New,
        "OLD" => SearchKey::Old,
        "RECENT" => SearchKey::Recent,
        "SEEN" => SearchKey::Seen,
        "UNANSWERED" => SearchKey::Unanswered,
        "UNDELETED" => SearchKey::Undeleted,
        "UNDRAFT" => SearchKey::Undraft,
        "UNFLAGGED" => SearchKey::Unflagged,
        "UNSEEN" => SearchKey::Unseen,
        "SAVEDATESUPPORTED" => SearchKey::SaveDateSupported,
        "BCC" => SearchKey::Bcc(arg(c)?),
        "BODY" => SearchKey::Body(arg(c)?),
        "CC" => SearchKey::Cc(arg(c)?),
        "FROM" => SearchKey::From(arg(c)?),
        "SUBJECT" => SearchKey::Subject(arg(c)?),
        "TEXT" => SearchKey::Text(arg(c)?),
        "TO" => SearchKey::To(arg(c)?),
        "HEADER" => {
            c.sp()?;
            let field = c.astring()?;
            if !field
                .iter()
                .all(|&b| (0x21..=0x7e).contains(&b) && b != b':')
            {
                return Err(ParseError::invalid("header field name"));
            }
            let field = String::from_utf8_lossy(&field).into_owned();
            SearchKey::Header(field, arg(c)?)
        }
        "KEYWORD" => {
            c.sp()?;
            SearchKey::Keyword(keyword(c)?)
        }
        "UNKEYWORD" => {
            c.sp()?;
            SearchKey::Unkeyword(keyword(c)?)
        }
        "BEFORE" | "ON" | "SINCE" | "SENTBEFORE" | "SENTON" | "SENTSINCE" | "SAVEDBEFORE"
        | "SAVEDON" | "SAVEDSINCE" => {
            c.sp()?;
            let d = search_date(c)?;
            match name.as_str() {
                "BEFORE" => SearchKey::Before(d),
                "ON" => SearchKey::On(d),
                "SINCE" => SearchKey::Since(d),
                "SENTBEFORE" => SearchKey::SentBefore(d),
                "SENTON" => SearchKey::SentOn(d),
                "SENTSINCE" => SearchKey::SentSince(d),
                "SAVEDBEFORE" => SearchKey::SavedBefore(d),
                "SAVEDON" => SearchKey::SavedOn(d),
                _ => SearchKey::SavedSince(d),
            }
        }
        "LARGER" => {
            c.sp()?;
            SearchKey::Larger(c.number64()?)
        }
        "SMALLER" => {
            c.sp()?;
            SearchKey::Smaller(c.number64()?)
        }
        "YOUNGER" => {
            c.sp()?;
            SearchKey::Younger(c.nz_number()?)
        }
        "OLDER" => {
            c.sp()?;
            SearchKey::Older(c.nz_number()?)
        }
        "UID" => {
            c.sp()?;
            SearchKey::Uid(SequenceSet::parse(c)?)
        }
        "EMAILID" => {
            c.sp()?;
            SearchKey::EmailId(objectid(c)?)
        }
        "THREADID" => {
            c.sp()?;
            SearchKey::ThreadId(objectid(c)?)
        }
        "NOT" => {
            c.sp()?;
            c.enter()?;
            let k = search_key(c)?;
            c.leave();
            SearchKey::Not(Box::new(k))
        }
        "OR" => {
            c.sp()?;
            c.enter()?;
            let a = search_key(c)?;
            c.sp()?;
            let b = search_key(c)?;
            c.leave();
            SearchKey::Or(Box::new(a), Box::new(b))
        }
        "MODSEQ" => {
            c.sp()?;
            let entry = if c.peek() == Some(b'"') {
                let e = modseq_entry(c)?;
                c.sp()?;
                Some(e)
            } else {
                None
            };
            SearchKey::ModSeq {
                entry,
                modseq: c.number64()?,
            }
        }
        _ => return Err(ParseError::syntax("search key", start)),
    };
    Ok(key)
}

/// search-modseq-ext = SP entry-name SP entry-type-req (the leading SP is
/// consumed by the caller); entry-name = DQUOTE "/flags/" attr-flag DQUOTE
fn modseq_entry(c: &mut Cursor<'_>) -> PResult<(Flag, EntryType)> {
    let start = c.pos();
    let raw = c.quoted()?;
    let flag = std::str::from_utf8(&raw)
        .ok()
        .and_then(|s| s.strip_prefix("/flags/"))
        .and_then(Flag::parse)
        .filter(|f| *f != Flag::MayCreate)
        .ok_or(ParseError::syntax("\"/flags/<flag>\"", start))?;
    c.sp()?;
    let t = c.atom()?.to_ascii_lowercase();
    let kind = match t.as_str() {
        "priv" => EntryType::Private,
        "shared" => EntryType::Shared,
        "all" => EntryType::All,
        _ => return Err(ParseError::syntax("priv, shared or all", start)),
    };
    Ok((flag, kind))
}
