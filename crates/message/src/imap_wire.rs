//! IMAP wire forms of ENVELOPE, BODY and BODYSTRUCTURE (RFC 9051 §7.5.2,
//! RFC 3501 §7.4.2), written from stored data so the server only copies
//! bytes.
//!
//! Strings follow RFC 9051 §4.3: a quoted string when the octets allow it
//! (no CR, LF or NUL; 7-bit, or valid UTF-8 when the client accepts UTF-8),
//! a literal otherwise. NUL cannot appear in a string at all (`CHAR8`
//! excludes it), so NUL octets are dropped.
//!
//! Media types, subtypes, parameter names, dispositions and transfer
//! encodings are written in upper case as in the RFC examples; values are
//! written as stored. A part kept opaque ([`Part::is_opaque`]) is described
//! as `"APPLICATION" "OCTET-STREAM"` so the structure stays well-formed.

use std::borrow::Cow;

use crate::envelope::{Envelope, EnvelopeAddress};
use crate::mime::{MAX_DEPTH, MimeTree, Part, PartKind};

/// Deeper than this (only possible with hand-made data) parts are written
/// as opaque leaves, so writing never recurses without bound.
const MAX_WRITE_DEPTH: usize = 2 * MAX_DEPTH + 2;

/// Writes `bytes` as an IMAP `string`: quoted (with `"` and `\` escaped)
/// when possible, else a `{n}` CRLF literal. `utf8_ok`: the session allows
/// UTF-8 in quoted strings (IMAP4rev2, or UTF8=ACCEPT enabled).
pub fn write_imap_string(out: &mut Vec<u8>, bytes: &[u8], utf8_ok: bool) {
    let bytes: Cow<'_, [u8]> = if bytes.contains(&0) {
        Cow::Owned(bytes.iter().copied().filter(|&b| b != 0).collect())
    } else {
        Cow::Borrowed(bytes)
    };
    let quotable = !bytes.iter().any(|&b| b == b'\r' || b == b'\n')
        && (bytes.is_ascii() || (utf8_ok && std::str::from_utf8(&bytes).is_ok()));
    if quotable {
        out.reserve(bytes.len() + 2);
        out.push(b'"');
        for &b in bytes.iter() {
            if b == b'"' || b == b'\\' {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        out.push(b'{');
        out.extend_from_slice(bytes.len().to_string().as_bytes());
        out.extend_from_slice(b"}\r\n");
        out.extend_from_slice(&bytes);
    }
}

/// `nstring`: `NIL` or a string.
pub fn write_nstring(out: &mut Vec<u8>, bytes: Option<&[u8]>, utf8_ok: bool) {
    match bytes {
        Some(b) => write_imap_string(out, b, utf8_ok),
        None => out.extend_from_slice(b"NIL"),
    }
}

fn write_upper(out: &mut Vec<u8>, s: &str, utf8_ok: bool) {
    write_imap_string(out, s.to_ascii_uppercase().as_bytes(), utf8_ok);
}

fn write_number(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(n.to_string().as_bytes());
}

fn write_address_list(out: &mut Vec<u8>, list: &[EnvelopeAddress], utf8_ok: bool) {
    if list.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for a in list {
        out.push(b'(');
        write_nstring(out, a.name.as_deref(), utf8_ok);
        out.push(b' ');
        write_nstring(out, a.adl.as_deref(), utf8_ok);
        out.push(b' ');
        write_nstring(out, a.mailbox.as_deref(), utf8_ok);
        out.push(b' ');
        write_nstring(out, a.host.as_deref(), utf8_ok);
        out.push(b')');
    }
    out.push(b')');
}

/// Writes `envelope` (RFC 9051 §7.5.2). Absent or empty Sender and
/// Reply-To are written as From, as the RFC requires.
pub fn write_envelope(out: &mut Vec<u8>, env: &Envelope, utf8_ok: bool) {
    let sender = if env.sender.is_empty() {
        &env.from
    } else {
        &env.sender
    };
    let reply_to = if env.reply_to.is_empty() {
        &env.from
    } else {
        &env.reply_to
    };
    out.push(b'(');
    write_nstring(out, env.date.as_deref(), utf8_ok);
    out.push(b' ');
    write_nstring(out, env.subject.as_deref(), utf8_ok);
    for list in [&env.from, sender, reply_to, &env.to, &env.cc, &env.bcc] {
        out.push(b' ');
        write_address_list(out, list, utf8_ok);
    }
    out.push(b' ');
    write_nstring(out, env.in_reply_to.as_deref(), utf8_ok);
    out.push(b' ');
    write_nstring(out, env.message_id.as_deref(), utf8_ok);
    out.push(b')');
}

/// ENVELOPE for a client without UTF-8 support (8-bit values become
/// literals).
pub fn envelope_imap(env: &Envelope) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write_envelope(&mut out, env, false);
    out
}

/// `BODY` (`extended == false`) or `BODYSTRUCTURE` (`extended == true`) of
/// a message, for a client without UTF-8 support.
pub fn bodystructure_imap(tree: &MimeTree, extended: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write_body(&mut out, tree, extended, false);
    out
}

/// Writes `body` (RFC 9051 §7.5.2) for the whole message: BODY form, or
/// BODYSTRUCTURE form with extension data when `extended`. An empty
/// (never computed) tree is written as an empty text/plain body.
pub fn write_body(out: &mut Vec<u8>, tree: &MimeTree, extended: bool, utf8_ok: bool) {
    let w = Writer {
        tree,
        extended,
        utf8_ok,
    };
    if tree.parts.is_empty() {
        w.empty_text(out);
    } else {
        w.part(out, 0, 0, tree.parts.len());
    }
}

struct Writer<'a> {
    tree: &'a MimeTree,
    extended: bool,
    utf8_ok: bool,
}

/// RFC 2231 `attribute-char`.
fn is_attribute_char(b: u8) -> bool {
    b.is_ascii_graphic() && !b"*'%()<>@,;:\\\"/[]?=".contains(&b)
}

impl Writer<'_> {
    /// `body-fld-param`. Without UTF-8, a non-ASCII value is sent as an
    /// RFC 2231 extended value (`NAME*` `utf-8''%XX...`).
    fn params(&self, out: &mut Vec<u8>, params: &[(String, String)]) {
        if params.is_empty() {
            out.extend_from_slice(b"NIL");
            return;
        }
        out.push(b'(');
        for (i, (name, value)) in params.iter().enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            if value.is_ascii() || self.utf8_ok {
                write_upper(out, name, self.utf8_ok);
                out.push(b' ');
                write_imap_string(out, value.as_bytes(), self.utf8_ok);
            } else {
                write_upper(out, &format!("{name}*"), false);
                out.push(b' ');
                let mut v = b"utf-8''".to_vec();
                for &b in value.as_bytes() {
                    if is_attribute_char(b) {
                        v.push(b);
                    } else {
                        v.extend_from_slice(format!("%{b:02X}").as_bytes());
                    }
                }
                write_imap_string(out, &v, false);
            }
        }
        out.push(b')');
    }

    /// `body-fld-dsp SP body-fld-lang SP body-fld-loc`.
    fn extension_tail(&self, out: &mut Vec<u8>, p: &Part) {
        match &p.disposition {
            Some(d) => {
                out.push(b'(');
                write_upper(out, &d.kind, self.utf8_ok);
                out.push(b' ');
                self.params(out, &d.params);
                out.push(b')');
            }
            None => out.extend_from_slice(b"NIL"),
        }
        out.push(b' ');
        if p.language.is_empty() {
            out.extend_from_slice(b"NIL");
        } else {
            out.push(b'(');
            for (i, l) in p.language.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                write_imap_string(out, l.as_bytes(), self.utf8_ok);
            }
            out.push(b')');
        }
        out.push(b' ');
        write_nstring(out, p.location.as_deref(), self.utf8_ok);
    }

    /// A zero-length text/plain part, where the syntax needs a body that
    /// the data does not have.
    fn empty_text(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(
            b"(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0",
        );
        if self.extended {
            out.extend_from_slice(b" NIL NIL NIL NIL");
        }
        out.push(b')');
    }

    /// Writes part `index`, whose subtree may not extend past `limit`.
    fn part(&self, out: &mut Vec<u8>, index: usize, depth: usize, limit: usize) {
        let Some(p) = self.tree.parts.get(index) else {
            self.empty_text(out);
            return;
        };
        let end = self.tree.subtree_end(index, limit);
        let too_deep = depth > MAX_WRITE_DEPTH;
        if p.kind == PartKind::Multipart && !too_deep {
            out.push(b'(');
            let mut any = false;
            for c in self.tree.children(index).take_while(|&c| c < end) {
                self.part(out, c, depth + 1, end);
                any = true;
            }
            if !any {
                self.empty_text(out);
            }
            out.push(b' ');
            write_upper(out, &p.media_subtype, self.utf8_ok);
            if self.extended {
                out.push(b' ');
                self.params(out, &p.params);
                out.push(b' ');
                self.extension_tail(out, p);
            }
            out.push(b')');
            return;
        }
        let opaque = p.is_opaque() || (p.kind != PartKind::Leaf && too_deep);
        out.push(b'(');
        if opaque {
            out.extend_from_slice(b"\"APPLICATION\" \"OCTET-STREAM\"");
        } else {
            write_upper(out, &p.media_type, self.utf8_ok);
            out.push(b' ');
            write_upper(out, &p.media_subtype, self.utf8_ok);
        }
        // body-fields
        out.push(b' ');
        self.params(out, &p.params);
        out.push(b' ');
        write_nstring(out, p.id.as_deref(), self.utf8_ok);
        out.push(b' ');
        write_nstring(out, p.description.as_deref(), self.utf8_ok);
        out.push(b' ');
        write_upper(out, p.encoding.as_deref().unwrap_or("7bit"), self.utf8_ok);
        out.push(b' ');
        write_number(out, p.size());
        if !opaque && p.kind == PartKind::Message {
            // body-type-msg: envelope, body and lines of the attached message.
            out.push(b' ');
            match &p.envelope {
                Some(env) => write_envelope(out, env, self.utf8_ok),
                None => write_envelope(out, &Envelope::default(), self.utf8_ok),
            }
            out.push(b' ');
            match self.tree.child(index, 1).filter(|&c| c < end) {
                Some(c) => self.part(out, c, depth + 1, end),
                None => self.empty_text(out),
            }
            out.push(b' ');
            write_number(out, p.lines);
        } else if !opaque && p.media_type == "text" {
            out.push(b' ');
            write_number(out, p.lines);
        }
        if self.extended {
            // body-ext-1part: body-fld-md5, the Content-MD5 value (RFC 9051
            // §7.5.2 "body MD5 ... as defined in [MD5]", RFC 1864), then
            // the rest.
            out.push(b' ');
            write_nstring(out, p.md5.as_deref(), self.utf8_ok);
            out.push(b' ');
            self.extension_tail(out, p);
        }
        out.push(b')');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(bytes: &[u8], utf8: bool) -> Vec<u8> {
        let mut out = Vec::new();
        write_imap_string(&mut out, bytes, utf8);
        out
    }

    #[test]
    fn strings_pick_quoted_or_literal() {
        assert_eq!(s(b"plain", false), b"\"plain\"");
        assert_eq!(s(b"", false), b"\"\"");
        assert_eq!(s(b"a \"q\" \\", false), b"\"a \\\"q\\\" \\\\\"");
        assert_eq!(s(b"NIL", false), b"\"NIL\"");
        assert_eq!(s(b"a\r\nb", false), b"{4}\r\na\r\nb");
        assert_eq!(s("été".as_bytes(), false), "{5}\r\nété".as_bytes());
        assert_eq!(s("été".as_bytes(), true), "\"été\"".as_bytes());
        assert_eq!(s(b"\xff", true), b"{1}\r\n\xff");
        assert_eq!(s(b"a\0b", false), b"\"ab\"");
    }

    #[test]
    fn non_ascii_params_use_rfc2231_without_utf8() {
        let w = Writer {
            tree: &MimeTree::default(),
            extended: true,
            utf8_ok: false,
        };
        let mut out = Vec::new();
        w.params(&mut out, &[("name".into(), "café 1.txt".into())]);
        assert_eq!(out, b"(\"NAME*\" \"utf-8''caf%C3%A9%201.txt\")");
        let w = Writer { utf8_ok: true, ..w };
        let mut out = Vec::new();
        w.params(&mut out, &[("name".into(), "café".into())]);
        assert_eq!(out, "(\"NAME\" \"café\")".as_bytes());
    }

    #[test]
    fn inconsistent_subtrees_are_written_once() {
        // Part 2 claims descendants that belong to the root's next child
        // (part 3): each part must still be written once.
        let part = |d: u32, kind: PartKind, sub: &str| Part {
            descendants: d,
            kind,
            media_type: "x".into(),
            media_subtype: sub.into(),
            ..Part::default()
        };
        let t = MimeTree {
            parts: vec![
                part(5, PartKind::Multipart, "mixed"),
                part(1, PartKind::Multipart, "mixed"),
                part(3, PartKind::Multipart, "mixed"),
                part(0, PartKind::Leaf, "bee"),
                part(0, PartKind::Leaf, "leaf"),
                part(0, PartKind::Leaf, "leaf"),
            ],
        };
        let out = bodystructure_imap(&t, true);
        let text = String::from_utf8_lossy(&out);
        assert_eq!(text.matches("\"BEE\"").count(), 1, "{text}");
    }

    #[test]
    fn content_md5_is_the_body_md5() {
        // RFC 9051 §7.5.2: body MD5 is the Content-MD5 value (RFC 1864);
        // only single parts have one.
        let raw =
            b"Content-Type: text/plain\r\nContent-MD5:  Q2hlY2sgSW50ZWdyaXR5IQ==\r\n\r\nx\r\n";
        let out = bodystructure_imap(&MimeTree::parse(raw), true);
        assert_eq!(
            out,
            b"(\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 3 1 \"Q2hlY2sgSW50ZWdyaXR5IQ==\" NIL NIL NIL)"
        );
        let out = bodystructure_imap(&MimeTree::parse(b"Subject: x\r\n\r\nx\r\n"), true);
        assert!(out.ends_with(b" 3 1 NIL NIL NIL NIL)"), "{out:?}");
    }

    #[test]
    fn empty_tree_is_empty_text() {
        let t = MimeTree::default();
        assert_eq!(
            bodystructure_imap(&t, false),
            b"(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0)"
        );
    }
}
