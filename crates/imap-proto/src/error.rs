//! Parse errors.
//!
//! Every error is recoverable: when [`crate::CommandParser::feed`] returns
//! one, the parser has already resynchronised (dropped the rest of the bad
//! command, skipping announced non-synchronizing literals) and the next call
//! parses the next command. The `Display` text is safe to send to the client
//! after `BAD`: it names what was expected, never echoes client data.

use crate::response::{Code, StatusKind};
use crate::types::Tag;

/// Broad class of a [`ParseError`], to branch on instead of text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Malformed input: answer `BAD`.
    Invalid,
    /// A configured bound was exceeded (line, literal, nesting): answer
    /// `BAD [TOOBIG]` (or `NO [TOOBIG]` for an APPEND message).
    TooBig,
}

/// Why a command (or a line in IDLE / AUTHENTICATE) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    #[error("line too long")]
    LineTooLong,
    #[error("command too long")]
    CommandTooLong,
    #[error("literal too large")]
    LiteralTooLarge,
    #[error("message too large")]
    MessageTooLarge,
    #[error("non-synchronizing literal larger than 4096 octets (LITERAL-)")]
    NonSyncLiteralTooLarge,
    #[error("too deeply nested")]
    TooDeep,
    #[error("missing or invalid tag")]
    InvalidTag,
    #[error("unknown command")]
    UnknownCommand,
    #[error("syntax error at octet {at}: expected {expected}")]
    Syntax { expected: &'static str, at: usize },
    #[error("invalid {what}")]
    Invalid { what: &'static str },
    #[error("8-bit data requires a literal or UTF8=ACCEPT")]
    EightBit,
    #[error("literal8 (~{{n}}) is only allowed for APPEND message data")]
    UnexpectedLiteral8,
    #[error("expected DONE")]
    ExpectedDone,
    #[error("invalid base64")]
    InvalidBase64,
}

impl ParseError {
    pub(crate) fn syntax(expected: &'static str, at: usize) -> Self {
        ParseError::Syntax { expected, at }
    }

    pub(crate) fn invalid(what: &'static str) -> Self {
        ParseError::Invalid { what }
    }

    /// The broad class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ParseError::LineTooLong
            | ParseError::CommandTooLong
            | ParseError::LiteralTooLarge
            | ParseError::MessageTooLarge
            | ParseError::NonSyncLiteralTooLarge
            | ParseError::TooDeep => ErrorKind::TooBig,
            _ => ErrorKind::Invalid,
        }
    }
}

/// A refused command: the tag (when one could be read) and the reason.
///
/// Answer with [`CommandError::status`] and [`CommandError::code`] on the
/// tag, or untagged (`* BAD ...`) when there is no tag.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}")]
pub struct CommandError {
    pub tag: Option<Tag>,
    #[source]
    pub error: ParseError,
}

impl CommandError {
    pub(crate) fn new(tag: Option<Tag>, error: ParseError) -> Self {
        CommandError { tag, error }
    }

    /// `NO` for an APPEND message over the size limit (RFC 7889: the
    /// command was well formed), `BAD` for everything else.
    pub fn status(&self) -> StatusKind {
        match self.error {
            ParseError::MessageTooLarge => StatusKind::No,
            _ => StatusKind::Bad,
        }
    }

    /// `TOOBIG` (RFC 4469 / RFC 7888 / RFC 7889) for exceeded bounds.
    pub fn code(&self) -> Option<Code> {
        match self.error.kind() {
            ErrorKind::TooBig => Some(Code::TooBig),
            ErrorKind::Invalid => None,
        }
    }
}
