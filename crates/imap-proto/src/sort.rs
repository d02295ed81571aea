//! SORT and THREAD (RFC 5256 §5 formal syntax, RFC 5957 DISPLAYFROM /
//! DISPLAYTO, RFC 5267 §3 ESORT `RETURN` options).

use crate::command::{SortCommand, ThreadCommand};
use crate::cursor::{Cursor, PResult};
use crate::error::ParseError;
use crate::search::{SearchKey, search_key};

/// `sort-key` (RFC 5256 §5; RFC 5957 §5 adds DISPLAYFROM / DISPLAYTO).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortKey {
    Arrival,
    Cc,
    Date,
    From,
    Size,
    Subject,
    To,
    DisplayFrom,
    DisplayTo,
}

impl SortKey {
    pub fn name(self) -> &'static str {
        match self {
            SortKey::Arrival => "ARRIVAL",
            SortKey::Cc => "CC",
            SortKey::Date => "DATE",
            SortKey::From => "FROM",
            SortKey::Size => "SIZE",
            SortKey::Subject => "SUBJECT",
            SortKey::To => "TO",
            SortKey::DisplayFrom => "DISPLAYFROM",
            SortKey::DisplayTo => "DISPLAYTO",
        }
    }

    fn from_name(s: &str) -> Option<SortKey> {
        const ALL: [SortKey; 9] = [
            SortKey::Arrival,
            SortKey::Cc,
            SortKey::Date,
            SortKey::From,
            SortKey::Size,
            SortKey::Subject,
            SortKey::To,
            SortKey::DisplayFrom,
            SortKey::DisplayTo,
        ];
        ALL.into_iter().find(|k| k.name().eq_ignore_ascii_case(s))
    }
}

/// `sort-criterion = ["REVERSE" SP] sort-key`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SortCriterion {
    pub reverse: bool,
    pub key: SortKey,
}

/// `thread-alg` (RFC 5256 §3); other algorithms are a syntax error (BAD).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ThreadAlgorithm {
    OrderedSubject,
    References,
}

impl ThreadAlgorithm {
    pub fn name(self) -> &'static str {
        match self {
            ThreadAlgorithm::OrderedSubject => "ORDEREDSUBJECT",
            ThreadAlgorithm::References => "REFERENCES",
        }
    }
}

/// `charset = atom / quoted` (not astring: no literal).
pub(crate) fn charset(c: &mut Cursor<'_>) -> PResult<String> {
    if c.peek() == Some(b'"') {
        String::from_utf8(c.quoted()?).map_err(|_| ParseError::invalid("charset"))
    } else {
        Ok(c.atom()?.to_string())
    }
}

/// `search-criteria = charset 1*(SP search-key)` (RFC 5256 §5).
fn search_criteria(c: &mut Cursor<'_>) -> PResult<(String, Vec<SearchKey>)> {
    let cs = charset(c)?;
    let mut keys = Vec::new();
    while c.eat(b' ') {
        keys.push(search_key(c)?);
    }
    if keys.is_empty() {
        return Err(c.err("search key"));
    }
    Ok((cs, keys))
}

/// `["UID" SP] "SORT" [search-return-opts] SP sort-criteria SP
/// search-criteria`, after the command name.
pub(crate) fn sort(c: &mut Cursor<'_>, uid: bool) -> PResult<SortCommand> {
    c.sp()?;
    // RFC 5267 §3 extended-sort: ESORT's RETURN options, and RFC 5182's
    // SAVE (SEARCHRES).
    let return_opts = crate::parse::return_opts(c, "sort return option")?;
    // sort-criteria = "(" sort-criterion *(SP sort-criterion) ")"
    let criteria = c.paren_list(false, |c| {
        let mut start = c.pos();
        let mut w = c.atom()?;
        let reverse = w.eq_ignore_ascii_case("REVERSE");
        if reverse {
            c.sp()?;
            start = c.pos();
            w = c.atom()?;
        }
        let key = SortKey::from_name(w).ok_or(ParseError::syntax("sort key", start))?;
        Ok(SortCriterion { reverse, key })
    })?;
    c.sp()?;
    let (charset, search) = search_criteria(c)?;
    Ok(SortCommand {
        uid,
        return_opts,
        criteria,
        charset,
        search,
    })
}

/// `["UID" SP] "THREAD" SP thread-alg SP search-criteria`, after the
/// command name.
pub(crate) fn thread(c: &mut Cursor<'_>, uid: bool) -> PResult<ThreadCommand> {
    c.sp()?;
    let start = c.pos();
    let alg = c.atom()?;
    let algorithm = if alg.eq_ignore_ascii_case("ORDEREDSUBJECT") {
        ThreadAlgorithm::OrderedSubject
    } else if alg.eq_ignore_ascii_case("REFERENCES") {
        ThreadAlgorithm::References
    } else {
        return Err(ParseError::syntax("ORDEREDSUBJECT or REFERENCES", start));
    };
    c.sp()?;
    let (charset, search) = search_criteria(c)?;
    Ok(ThreadCommand {
        uid,
        algorithm,
        charset,
        search,
    })
}
