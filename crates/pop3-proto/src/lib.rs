//! Sans-IO POP3: command parsing, bounded line framing and response
//! encoding. No tokio, no store, no logging.
//!
//! Implements the wire side of:
//! - RFC 1939 (POP3): commands, `+OK`/`-ERR` status lines, multi-line
//!   responses with dot-stuffing ([`encode_multiline_body`]), TOP
//!   ([`top_part`]), exact sizes ([`normalized_len`]).
//! - RFC 2449 (extension mechanism): CAPA, line limits (255 octets per
//!   command line, 512 per response line), response codes ([`RespCode`]).
//! - RFC 2595 §4 STLS; RFC 3206 `[AUTH]`, `[SYS/TEMP]`, `[SYS/PERM]`;
//!   RFC 5034 AUTH with initial response and `+ ` continuations;
//!   RFC 6856 UTF8 and LANG commands.
//!
//! Invariants callers rely on:
//! - [`LineReader`] never asks the caller to buffer more than
//!   [`MAX_AUTH_LINE`] octets: an overlong line yields one
//!   [`LineEvent::TooLong`] and is discarded up to its end.
//! - Encoded responses are always CRLF-terminated single lines; text that
//!   contains CR/LF cannot inject lines.
//! - A multi-line body always ends with `CRLF.CRLF`, whatever the data, and
//!   [`decode_multiline_body`] inverts [`encode_multiline_body`] exactly for
//!   CRLF data.
//! - APOP is recognised but never supported (no MD5 shared secrets).

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod command;
mod error;
mod line;
mod response;

pub use command::{Command, MsgNum};
pub use error::ParseError;
pub use line::{LineEvent, LineMode, LineReader, MAX_AUTH_LINE, MAX_COMMAND_LINE};
pub use response::{
    MAX_RESPONSE_LINE, RespCode, Response, Status, decode_multiline_body, encode_continuation,
    encode_list_line, encode_multiline_body, encode_terminator, normalized_len, top_part,
};
