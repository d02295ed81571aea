//! Low-level output: choosing atom / quoted / literal / literal8 forms.
//!
//! A string goes out quoted when it is short and every octet is a
//! QUOTED-CHAR (printable 7-bit, or UTF-8 when the client enabled
//! UTF8=ACCEPT); otherwise as a literal `{n}` CRLF octets. Data with NUL
//! can only be sent as literal8 `~{n}` (RFC 3516), which [`write_binary`]
//! does.

use std::fmt;

use bytes::{BufMut, BytesMut};

use crate::chars::{is_astring_char, is_quoted_special};
use crate::mailbox::Mailbox;

/// Longest string sent quoted; longer ones go as literals.
pub const MAX_QUOTED: usize = 1024;

/// How strings may be written on this connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EncodeOptions {
    /// UTF8=ACCEPT enabled: UTF-8 in quoted strings, mailbox names sent as
    /// UTF-8 instead of modified UTF-7.
    pub utf8: bool,
}

/// True if `s` can be sent as a quoted string.
pub fn can_quote(s: &[u8], opts: EncodeOptions) -> bool {
    if s.len() > MAX_QUOTED || s.iter().any(|&b| b == 0 || b == b'\r' || b == b'\n') {
        return false;
    }
    s.is_ascii() || (opts.utf8 && std::str::from_utf8(s).is_ok())
}

/// `"..."` with `\` and `"` escaped. The caller checked [`can_quote`].
pub fn write_quoted(out: &mut BytesMut, s: &[u8]) {
    out.reserve(s.len() + 2);
    out.put_u8(b'"');
    for &b in s {
        if is_quoted_special(b) {
            out.put_u8(b'\\');
        }
        out.put_u8(b);
    }
    out.put_u8(b'"');
}

/// `{n}` CRLF (or `~{n}` CRLF): the caller then writes exactly `n` octets.
pub fn write_literal_header(out: &mut BytesMut, len: u64, literal8: bool) {
    if literal8 {
        out.put_u8(b'~');
    }
    out.put_slice(format!("{{{len}}}\r\n").as_bytes());
}

/// string = quoted / literal
pub fn write_string(out: &mut BytesMut, s: &[u8], opts: EncodeOptions) {
    if can_quote(s, opts) {
        write_quoted(out, s);
    } else {
        write_literal_header(out, s.len() as u64, false);
        out.put_slice(s);
    }
}

/// nstring = string / nil
pub fn write_nstring(out: &mut BytesMut, s: Option<&[u8]>, opts: EncodeOptions) {
    match s {
        Some(s) => write_string(out, s, opts),
        None => out.put_slice(b"NIL"),
    }
}

/// True if `s` is sent as a bare atom by [`write_astring`].
pub(crate) fn is_plain_astring(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_astring_char(b)) && !s.eq_ignore_ascii_case(b"NIL")
}

/// astring = 1*ASTRING-CHAR / string (NIL is quoted to stay a string).
pub fn write_astring(out: &mut BytesMut, s: &[u8], opts: EncodeOptions) {
    if is_plain_astring(s) {
        out.put_slice(s);
    } else {
        write_string(out, s, opts);
    }
}

/// Binary data (RFC 3516 BINARY response): a literal8 if it contains NUL,
/// otherwise a string.
pub fn write_binary(out: &mut BytesMut, s: &[u8], opts: EncodeOptions) {
    if s.contains(&0) {
        write_literal_header(out, s.len() as u64, true);
        out.put_slice(s);
    } else {
        write_string(out, s, opts);
    }
}

/// A mailbox name in responses: quoted (or literal), modified UTF-7
/// unless UTF8=ACCEPT is enabled.
pub fn write_mailbox(out: &mut BytesMut, m: &Mailbox, opts: EncodeOptions) {
    write_string(out, m.to_wire(opts.utf8).as_bytes(), opts);
}

/// Human-readable `text`: CR, LF and other controls become spaces (no line
/// injection); never empty.
pub fn write_text(out: &mut BytesMut, text: &str) {
    if text.is_empty() {
        out.put_slice(b"completed");
        return;
    }
    for ch in text.chars() {
        if ch.is_control() {
            out.put_u8(b' ');
        } else {
            let mut buf = [0u8; 4];
            out.put_slice(ch.encode_utf8(&mut buf).as_bytes());
        }
    }
}

/// astring through a [`fmt::Formatter`] (for `Display` of sections): atom
/// or quoted; non-quotable names are quoted lossily (header names are
/// printable ASCII, so this does not happen for valid ones).
pub(crate) fn fmt_astring(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    if is_plain_astring(s.as_bytes()) {
        return f.write_str(s);
    }
    f.write_str("\"")?;
    for ch in s.chars() {
        if ch == '"' || ch == '\\' {
            f.write_str("\\")?;
        }
        if ch != '\r' && ch != '\n' {
            write!(f, "{ch}")?;
        }
    }
    f.write_str("\"")
}
