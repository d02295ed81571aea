//! Sans-IO IMAP: a streaming command parser and a response encoder, with
//! the value types both share. No tokio, no store, no logging.
//!
//! Implements the wire side of:
//! - RFC 9051 (IMAP4rev2) and RFC 3501 (IMAP4rev1): every command of the
//!   formal syntax ([`CommandKind`]), strings (`atom`, `quoted`, `literal`,
//!   `astring`, `nstring`, `list-mailbox`) exactly per the ABNF character
//!   classes, sequence sets ([`SequenceSet`]), dates ([`Date`],
//!   [`DateTime`]), status responses with codes ([`Code`]) and all data
//!   responses ([`Data`]), FETCH items ([`FetchValue`]) including ENVELOPE
//!   and BODYSTRUCTURE.
//! - RFC 3501 §5.1.3 modified UTF-7 mailbox names ([`encode_utf7`],
//!   [`decode_utf7`], [`Mailbox`]); RFC 6855 / RFC 9755 UTF8=ACCEPT (raw UTF-8 names and
//!   quoted strings when [`ParserConfig::utf8`] / [`EncodeOptions::utf8`]).
//! - RFC 7888 LITERAL+ / LITERAL-; RFC 3516 BINARY (literal8, BINARY[],
//!   BINARY.SIZE); RFC 3502 MULTIAPPEND; RFC 4959 SASL-IR; RFC 5161 ENABLE;
//!   RFC 2177 IDLE; RFC 3691 UNSELECT; RFC 4315 UIDPLUS; RFC 6851 MOVE;
//!   RFC 2342 NAMESPACE; RFC 2971 ID; RFC 9208 QUOTA (GETQUOTA,
//!   GETQUOTAROOT); RFC 7162 CONDSTORE/QRESYNC (MODSEQ, CHANGEDSINCE,
//!   UNCHANGEDSINCE, VANISHED, QRESYNC select parameters); RFC 4731 ESEARCH
//!   and RFC 5182 SEARCHRES (`RETURN (MIN MAX ALL COUNT SAVE)`, `$`);
//!   RFC 5032 WITHIN (YOUNGER/OLDER); RFC 5258 LIST-EXTENDED; RFC 5819
//!   LIST-STATUS; RFC 6154 SPECIAL-USE (LIST options, CREATE USE);
//!   RFC 7889 APPENDLIMIT; RFC 8474 OBJECTID; RFC 8514 SAVEDATE; RFC 8970
//!   PREVIEW (plain); RFC 5530 response codes; RFC 5256 SORT and THREAD
//!   (THREAD responses as flat [`ThreadToken`]s), RFC 5957 DISPLAYFROM /
//!   DISPLAYTO, RFC 5267 ESORT (`SORT RETURN (...)`).
//!
//! Invariants callers rely on:
//! - Bounded: one command never buffers more than
//!   [`ParserConfig::max_line`] octets of line data plus small literals
//!   within [`ParserConfig::max_command`]; each small literal is at most
//!   [`ParserConfig::max_literal`]; nesting is at most
//!   [`ParserConfig::max_depth`]. Limits are checked before memory is used.
//! - APPEND data is streamed: message literals come out as
//!   [`Event::AppendData`] chunks that borrow the caller's buffer (no copy)
//!   and are never accumulated.
//! - Never panics on any input, and returns the same events (APPEND chunks
//!   concatenated) however the input is split, down to one octet at a time.
//! - Every error is reported as a [`CommandError`] (tag if known, reason
//!   safe to echo after BAD) and leaves the parser at the next command.
//! - A LITERAL- violation (non-synchronizing literal over 4096 octets) or an
//!   oversized literal is answered `BAD [TOOBIG]` and its octets are read
//!   and discarded (RFC 7888 §4), never stored.
//! - Leniency, deliberate and only here: a bare LF ends a line like CRLF,
//!   and an empty line between commands is ignored.
//! - Encoded responses are CRLF-terminated; human text cannot inject lines;
//!   strings that cannot be quoted become literals (literal8 only for BINARY
//!   data with NUL), and [`FetchEncoder`] lets large bodies be streamed.
//!
//! The `imap-codec` crate (2.0.0-alpha) serves as an independent oracle in
//! the dev-only differential test (`tests/differential.rs`).

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod append;
mod chars;
mod command;
mod command_encode;
mod cursor;
mod datetime;
mod error;
mod fetch;
mod fetch_response;
mod framer;
mod mailbox;
mod parse;
mod response;
mod search;
mod sequence;
mod sort;
mod types;
mod utf7;
mod writer;

pub use append::AppendMessage;
pub use command::{
    Command, CommandKind, FetchCommand, IdParams, ListCommand, ListReturn, ListSelect,
    QresyncParams, SearchCommand, SearchReturn, SelectParams, SortCommand, StatusItem,
    StoreCommand, StoreMode, ThreadCommand,
};
pub use command_encode::CommandEncodeOptions;
pub use datetime::{Date, DateTime};
pub use error::{CommandError, ErrorKind, ParseError};
pub use fetch::{FetchAttr, FetchItems, FetchModifiers, Partial, Section, SectionText};
pub use fetch_response::{
    Address, BodyExt, BodyFields, BodyName, BodyStructure, Disposition, Envelope, FetchEncoder,
    FetchValue, SingleKind, write_body, write_envelope,
};
pub use framer::{CommandParser, Event, LITERAL_MINUS_MAX, LiteralRequest, ParserConfig};
pub use mailbox::{Mailbox, MailboxError};
pub use response::{
    Code, Continue, Data, ESearch, ListItem, NamespaceDesc, QuotaResource, Response, StatusKind,
    StatusResponse, StatusValue, ThreadToken,
};
pub use search::{EntryType, SearchKey};
pub use sequence::{SeqNum, SeqRange, SequenceSet};
pub use sort::{SortCriterion, SortKey, ThreadAlgorithm};
pub use types::{Flag, MailboxAttr, Tag};
pub use utf7::{Utf7Error, decode_utf7, encode_utf7};
pub use writer::{
    EncodeOptions, MAX_QUOTED, can_quote, write_astring, write_binary, write_literal_header,
    write_mailbox, write_nstring, write_quoted, write_string, write_text,
};
