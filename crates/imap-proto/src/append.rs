//! APPEND (RFC 9051 §6.3.12) with MULTIAPPEND (RFC 3502), BINARY literal8
//! (RFC 3516) and the UTF8 data form (RFC 6855 §4): the part of the grammar
//! that runs *before* each message literal, so the framer can stream the
//! message data instead of buffering it.
//!
//! ```text
//! append          = "APPEND" SP mailbox 1*append-message
//! append-message  = append-opts SP append-data
//! append-opts     = [SP flag-list] [SP date-time]
//! append-data     = literal / literal8 / "UTF8" SP "(" literal8 ")"
//! ```

use crate::cursor::{Cursor, PResult};
use crate::datetime::{DateTime, date_time};
use crate::mailbox::Mailbox;
use crate::parse::{flag_list, tag};
use crate::types::{Flag, Tag};

/// One message of an APPEND command, announced before its data.
///
/// Exactly `size` octets of [`crate::Event::AppendData`] follow (after
/// [`crate::CommandParser::accept_literal`] when `sync`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendMessage {
    pub tag: Tag,
    pub mailbox: Mailbox,
    /// 0 for the first message, 1.. for further MULTIAPPEND messages.
    pub index: usize,
    pub flags: Vec<Flag>,
    pub date: Option<DateTime>,
    pub size: u64,
    /// Synchronizing literal: the client waits for `+` before the data.
    pub sync: bool,
    /// `~{n}` literal8: the data may contain NUL (RFC 3516).
    pub binary: bool,
    /// `UTF8 (~{n})` (RFC 6855): the message may have UTF-8 headers.
    pub utf8: bool,
}

/// What precedes one message literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MessageOpts {
    pub flags: Vec<Flag>,
    pub date: Option<DateTime>,
    pub size: u64,
    pub sync: bool,
    pub binary: bool,
    pub utf8: bool,
}

/// The literal at the end of an APPEND segment.
#[derive(Debug)]
pub(crate) enum AppendPrefix {
    /// The literal is the mailbox name: buffer it like any small literal.
    MailboxLiteral,
    /// The literal is message data.
    Message(Tag, Mailbox, MessageOpts),
}

/// True if the command in `input` is APPEND (cheap check on the name).
pub(crate) fn is_append(input: &[u8]) -> bool {
    let mut c = Cursor::new(
        input,
        crate::cursor::Options {
            utf8: false,
            max_depth: 1,
        },
    );
    tag(&mut c).is_ok() && c.eat(b' ') && c.eat_keyword("APPEND")
}

/// Parse `tag SP "APPEND" SP mailbox append-opts SP <literal header>` where
/// the segment ends right after the header's CRLF.
pub(crate) fn append_start(c: &mut Cursor<'_>) -> PResult<AppendPrefix> {
    let t = tag(c)?;
    c.sp()?;
    c.keyword("APPEND")?;
    c.sp()?;
    if matches!(c.peek(), Some(b'{')) {
        let save = c.pos();
        if literal_header(c).is_ok() && c.at_end() {
            return Ok(AppendPrefix::MailboxLiteral);
        }
        c.reset_to(save);
    }
    let mailbox = c.mailbox()?;
    let opts = message_opts(c)?;
    Ok(AppendPrefix::Message(t, mailbox, opts))
}

/// After a message: `[")"] CRLF` ends the command (`None`); otherwise the
/// next message's options and literal header.
pub(crate) fn append_next(c: &mut Cursor<'_>, close_paren: bool) -> PResult<Option<MessageOpts>> {
    if close_paren {
        c.expect(b')', ")")?;
    }
    if c.at_crlf() {
        c.crlf()?;
        return Ok(None);
    }
    message_opts(c).map(Some)
}

fn message_opts(c: &mut Cursor<'_>) -> PResult<MessageOpts> {
    c.sp()?;
    let mut flags = Vec::new();
    let mut date = None;
    if c.peek() == Some(b'(') {
        flags = flag_list(c)?;
        c.sp()?;
    }
    if c.peek() == Some(b'"') {
        date = Some(date_time(c)?);
        c.sp()?;
    }
    let utf8 = if c.eat_keyword("UTF8") {
        c.sp()?;
        c.expect(b'(', "(")?;
        true
    } else {
        false
    };
    let binary = c.eat(b'~');
    if utf8 && !binary {
        return Err(c.err("literal8 in UTF8 (...)"));
    }
    let (size, sync) = literal_header(c)?;
    if !c.at_end() {
        return Err(c.err("end of line after literal"));
    }
    Ok(MessageOpts {
        flags,
        date,
        size,
        sync,
        binary,
        utf8,
    })
}

/// `"{" number64 ["+"] "}" CRLF` → (size, synchronizing)
fn literal_header(c: &mut Cursor<'_>) -> PResult<(u64, bool)> {
    c.expect(b'{', "literal")?;
    let n = c.number64()?;
    let plus = c.eat(b'+');
    c.expect(b'}', "}")?;
    c.crlf_anywhere()?;
    Ok((n, !plus))
}
