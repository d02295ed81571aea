//! Single-pass MIME parser building a [`MimeTree`] (RFC 2045, RFC 2046).
//!
//! Every line of the message is looked at once: a stack of active
//! boundaries (innermost last) tells which multipart a delimiter line
//! closes, so a missing close delimiter or a truncated message ends the
//! open parts cleanly instead of being rescanned. Recursion follows the MIME
//! nesting and stops at [`MAX_DEPTH`]; the part count stops at
//! [`MAX_PARTS`]. Cost is linear in the message size (a delimiter line is
//! compared with at most `MAX_DEPTH` boundaries; line counts of nested
//! attached messages add at most a `MAX_DEPTH` factor).

use crate::envelope::Envelope;
use crate::header::{fields, is_blank_line, line_end, unfold};
use crate::mime::{Disposition, MAX_BOUNDARY, MAX_DEPTH, MAX_PARTS, MimeTree, Part, PartKind};
use crate::params;

/// What ended a scan.
#[derive(Clone, Copy, Debug)]
enum Stop {
    /// A delimiter line of the multipart whose boundary is at `level` in
    /// the boundary stack; `next` is the offset after the line.
    Delimiter {
        level: usize,
        close: bool,
        line_start: usize,
        next: usize,
    },
    /// The end of the message.
    End,
}

/// What ended a header section.
enum HeaderEnd {
    /// The empty line; the body starts at the offset given.
    Blank(usize),
    /// A delimiter line or the end of the message, before any empty line.
    Stop(Stop),
}

/// The Content-Type of a part without a (valid) one (RFC 2046 §5.1.5).
#[derive(Clone, Copy)]
enum DefaultType {
    TextPlain,
    MessageRfc822,
}

/// What a part's body is parsed as.
enum Structure {
    Multipart(Vec<u8>),
    Message,
}

struct Parser<'a> {
    raw: &'a [u8],
    parts: Vec<Part>,
    /// Boundaries of the open multiparts, outermost first.
    bounds: Vec<Vec<u8>>,
    /// The part limit was reached: delimiters are no longer recognised and
    /// the last part runs to the end of the message.
    exhausted: bool,
}

/// Builds the MIME tree of `raw`; see [`MimeTree::parse`].
pub(crate) fn parse(raw: &[u8]) -> MimeTree {
    let mut p = Parser {
        raw,
        parts: Vec::new(),
        bounds: Vec::new(),
        exhausted: false,
    };
    p.entity(0, 0, DefaultType::TextPlain);
    MimeTree { parts: p.parts }
}

/// Lines of a body: LFs, plus one for a last line without line end.
fn count_lines(body: &[u8]) -> u64 {
    let lf = body.iter().filter(|&&b| b == b'\n').count() as u64;
    lf + u64::from(body.last().is_some_and(|&b| b != b'\n'))
}

fn is_identity_encoding(encoding: Option<&str>) -> bool {
    matches!(encoding, None | Some("7bit" | "8bit" | "binary"))
}

/// The MIME fields of a part's header (RFC 2045 §3, RFC 2183, RFC 3282,
/// RFC 2557 Content-Location, RFC 1864 Content-MD5); the first occurrence
/// of each wins.
fn header_info(header: &[u8], default: DefaultType) -> Part {
    let mut part = Part::default();
    let mut content_type = None;
    let (mut seen_type, mut seen_disposition, mut seen_language) = (false, false, false);
    for f in fields(header) {
        let name = f.name;
        if name.len() <= 8 || !name[..8].eq_ignore_ascii_case(b"content-") {
            continue;
        }
        match name[8..].to_ascii_lowercase().as_slice() {
            b"type" if !seen_type => {
                seen_type = true;
                content_type = params::content_type(&unfold(f.value));
            }
            b"transfer-encoding" if part.encoding.is_none() => {
                part.encoding = params::single_token(&unfold(f.value));
            }
            b"id" if part.id.is_none() => part.id = Some(unfold(f.value)),
            b"description" if part.description.is_none() => {
                part.description = Some(unfold(f.value));
            }
            b"disposition" if !seen_disposition => {
                seen_disposition = true;
                part.disposition = params::disposition(&unfold(f.value))
                    .map(|(kind, params)| Disposition { kind, params });
            }
            b"language" if !seen_language => {
                seen_language = true;
                part.language = params::language_list(&unfold(f.value));
            }
            b"location" if part.location.is_none() => part.location = Some(unfold(f.value)),
            b"md5" if part.md5.is_none() => part.md5 = Some(unfold(f.value)),
            _ => {}
        }
    }
    let (t, s, p) = match (content_type, default) {
        (Some(ct), _) => ct,
        // RFC 2045 §5.2: no (or an invalid) Content-Type means
        // "text/plain; charset=us-ascii".
        (None, DefaultType::TextPlain) => (
            "text".into(),
            "plain".into(),
            vec![("charset".into(), "US-ASCII".into())],
        ),
        // RFC 2046 §5.1.5: in a digest the default is message/rfc822.
        (None, DefaultType::MessageRfc822) => ("message".into(), "rfc822".into(), Vec::new()),
    };
    part.media_type = t;
    part.media_subtype = s;
    part.params = p;
    part
}

/// How a freshly read part's body must be parsed (`None`: as a leaf).
fn structure(part: &Part) -> Option<Structure> {
    if part.media_type == "multipart" {
        let boundary = part.param("boundary")?;
        if boundary.is_empty() || boundary.len() > MAX_BOUNDARY {
            return None;
        }
        return Some(Structure::Multipart(boundary.as_bytes().to_vec()));
    }
    // RFC 2046 §5.2.1 / RFC 6532 §3.5: an encoded message/global cannot be
    // parsed in place (offsets would not be raw offsets): keep it opaque.
    if (part.is("message", "rfc822") || part.is("message", "global"))
        && is_identity_encoding(part.encoding.as_deref())
    {
        return Some(Structure::Message);
    }
    None
}

impl Parser<'_> {
    /// Where the content before `stop` ends: a delimiter takes the line end
    /// before it (RFC 2046 §5.1.1).
    fn content_end(&self, stop: Stop) -> usize {
        match stop {
            Stop::End => self.raw.len(),
            Stop::Delimiter { line_start, .. } => {
                let mut e = line_start;
                if e > 0 && self.raw[e - 1] == b'\n' {
                    e -= 1;
                    if e > 0 && self.raw[e - 1] == b'\r' {
                        e -= 1;
                    }
                }
                e
            }
        }
    }

    /// Whether `line` (which starts at a line start) is a delimiter of an
    /// open multipart: `(level, close)`. The innermost boundary is tried
    /// first; after the boundary comes `--` (close delimiter), or transport
    /// padding / the line end.
    fn delimiter(&self, line: &[u8]) -> Option<(usize, bool)> {
        let rest = line.strip_prefix(b"--")?;
        if self.exhausted {
            return None;
        }
        for (level, boundary) in self.bounds.iter().enumerate().rev() {
            if let Some(after) = rest.strip_prefix(boundary.as_slice()) {
                if after.starts_with(b"--") {
                    return Some((level, true));
                }
                if after
                    .first()
                    .is_none_or(|c| matches!(c, b' ' | b'\t' | b'\r' | b'\n'))
                {
                    return Some((level, false));
                }
            }
        }
        None
    }

    fn scan_header(&self, mut pos: usize) -> HeaderEnd {
        let raw = self.raw;
        while pos < raw.len() {
            let end = line_end(raw, pos);
            let line = &raw[pos..end];
            if is_blank_line(line) {
                return HeaderEnd::Blank(end);
            }
            if let Some((level, close)) = self.delimiter(line) {
                return HeaderEnd::Stop(Stop::Delimiter {
                    level,
                    close,
                    line_start: pos,
                    next: end,
                });
            }
            pos = end;
        }
        HeaderEnd::Stop(Stop::End)
    }

    fn scan_body(&self, mut pos: usize) -> Stop {
        if self.exhausted || self.bounds.is_empty() {
            return Stop::End;
        }
        let raw = self.raw;
        while pos < raw.len() {
            let end = line_end(raw, pos);
            if raw[pos] == b'-'
                && let Some((level, close)) = self.delimiter(&raw[pos..end])
            {
                return Stop::Delimiter {
                    level,
                    close,
                    line_start: pos,
                    next: end,
                };
            }
            pos = end;
        }
        Stop::End
    }

    /// Parses the entity starting at `start` (header, then body) and
    /// everything nested in it; returns what ended it.
    fn entity(&mut self, start: usize, depth: usize, default: DefaultType) -> Stop {
        let idx = self.parts.len();
        if idx + 1 >= MAX_PARTS {
            self.exhausted = true;
        }
        let (body_start, early) = match self.scan_header(start) {
            HeaderEnd::Blank(next) => (next, None),
            HeaderEnd::Stop(stop) => (self.content_end(stop).max(start), Some(stop)),
        };
        let mut part = header_info(&self.raw[start..body_start], default);
        part.header_start = start as u64;
        part.body_start = body_start as u64;
        self.parts.push(part);

        let structure = if early.is_some() || self.exhausted || depth >= MAX_DEPTH {
            None
        } else {
            structure(&self.parts[idx])
        };
        let stop = match (early, structure) {
            (Some(stop), _) => stop,
            (None, Some(Structure::Multipart(boundary))) => {
                self.multipart(idx, body_start, depth, boundary)
            }
            (None, Some(Structure::Message)) => self.message(idx, body_start, depth),
            (None, None) => self.scan_body(body_start),
        };

        let end = self.content_end(stop);
        let descendants = self.parts.len() - idx - 1;
        let (body_start, body_end) = if descendants == 0 && end < body_start {
            // RFC 2046 §5.1.1 grammar (`body-part := MIME-part-headers
            // [CRLF *OCTET]`, `delimiter := CRLF dash-boundary`): an empty
            // line directly followed by a delimiter is that delimiter's
            // CRLF, so the part has no body and its header no empty line.
            let b = end.max(start);
            (b, b)
        } else {
            // A parent never ends before its last child (which may sit
            // exactly at a delimiter shared with it).
            let mut floor = body_start;
            let mut c = idx + 1;
            while let Some(child) = self.parts.get(c) {
                floor = floor.max(child.body_end as usize);
                c = c
                    .saturating_add(1)
                    .saturating_add(child.descendants as usize);
            }
            (body_start, end.max(floor))
        };
        let body = &self.raw[body_start..body_end];
        let part = &mut self.parts[idx];
        part.body_start = body_start as u64;
        part.body_end = body_end as u64;
        part.descendants = u32::try_from(descendants).unwrap_or(u32::MAX);
        if part.media_type == "text" || part.kind == PartKind::Message {
            part.lines = count_lines(body);
        }
        stop
    }

    /// RFC 2046 §5.1.1: preamble, body parts between delimiters, close
    /// delimiter, epilogue. A missing close delimiter ends the multipart at
    /// an enclosing delimiter or at the end of the message.
    fn multipart(
        &mut self,
        idx: usize,
        body_start: usize,
        depth: usize,
        boundary: Vec<u8>,
    ) -> Stop {
        let level = self.bounds.len();
        self.bounds.push(boundary);
        let default = if self.parts[idx].media_subtype == "digest" {
            DefaultType::MessageRfc822
        } else {
            DefaultType::TextPlain
        };
        let mut stop = self.scan_body(body_start); // preamble
        let mut children = 0usize;
        loop {
            match stop {
                Stop::Delimiter {
                    level: l,
                    close: false,
                    next,
                    ..
                } if l == level => {
                    children += 1;
                    stop = self.entity(next, depth + 1, default);
                }
                Stop::Delimiter {
                    level: l,
                    close: true,
                    next,
                    ..
                } if l == level => {
                    self.bounds.truncate(level);
                    stop = self.scan_body(next); // epilogue
                    break;
                }
                _ => break,
            }
        }
        self.bounds.truncate(level);
        if children > 0 {
            self.parts[idx].kind = PartKind::Multipart;
        }
        stop
    }

    /// RFC 2046 §5.2.1: the body is a whole message (header and body).
    fn message(&mut self, idx: usize, body_start: usize, depth: usize) -> Stop {
        let child = self.parts.len();
        let stop = self.entity(body_start, depth + 1, DefaultType::TextPlain);
        let envelope = self.parts.get(child).map(|c| {
            let header = self
                .raw
                .get(c.header_start as usize..c.body_start as usize)
                .unwrap_or_default();
            Envelope::parse(header)
        });
        let part = &mut self.parts[idx];
        part.kind = PartKind::Message;
        part.envelope = envelope.map(Box::new);
        stop
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranges(t: &MimeTree, raw: &[u8]) -> Vec<(String, String, String)> {
        t.parts
            .iter()
            .map(|p| {
                (
                    format!("{}/{}", p.media_type, p.media_subtype),
                    String::from_utf8_lossy(&raw[p.header_start as usize..p.body_start as usize])
                        .into_owned(),
                    String::from_utf8_lossy(&raw[p.body_start as usize..p.body_end as usize])
                        .into_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn multipart_offsets_follow_rfc2046() {
        let raw = b"Content-Type: multipart/mixed; boundary=b\r\n\r\npre\r\n--b\r\n\r\none\r\n--b \r\nContent-Type: text/html\r\n\r\n<p>two</p>\r\n\r\n--b--\r\nepi\r\n";
        let t = parse(raw);
        let r = ranges(&t, raw);
        assert_eq!(t.parts.len(), 3);
        assert_eq!(t.parts[0].kind, PartKind::Multipart);
        assert_eq!(t.parts[0].descendants, 2);
        assert_eq!(
            r[0].2,
            "pre\r\n--b\r\n\r\none\r\n--b \r\nContent-Type: text/html\r\n\r\n<p>two</p>\r\n\r\n--b--\r\nepi\r\n"
        );
        assert_eq!(r[1], ("text/plain".into(), "\r\n".into(), "one".into()));
        assert_eq!(
            r[2],
            (
                "text/html".into(),
                "Content-Type: text/html\r\n\r\n".into(),
                "<p>two</p>\r\n".into()
            )
        );
        assert_eq!(t.parts[1].lines, 1);
        assert_eq!(t.parts[2].lines, 1);
    }

    #[test]
    fn missing_close_and_bare_lf() {
        let raw = b"Content-Type: multipart/alternative; boundary=\"x y\"\n\n--x y\nA: b\n\nfirst\n--x y\n\nsecond\n";
        let t = parse(raw);
        let r = ranges(&t, raw);
        assert_eq!(t.parts.len(), 3);
        assert_eq!(r[1].1, "A: b\n\n");
        assert_eq!(r[1].2, "first");
        assert_eq!(r[2].2, "second\n");
        assert_eq!(t.parts[2].body_end as usize, raw.len());
    }

    #[test]
    fn header_ended_by_delimiter() {
        let raw = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n--b\r\n--b--";
        let t = parse(raw);
        let r = ranges(&t, raw);
        assert_eq!(t.parts.len(), 3);
        assert_eq!(r[1].1, "Content-Type: text/plain");
        assert_eq!(r[1].2, "");
        assert_eq!(r[2].1, "");
        assert_eq!(r[2].2, "");
    }

    #[test]
    fn empty_line_before_delimiter_belongs_to_it() {
        let raw = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nX: y\r\n\r\n--b\r\n\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: s\r\n\r\n--b--\r\n";
        let t = parse(raw);
        let r = ranges(&t, raw);
        assert_eq!(t.parts.len(), 5);
        assert_eq!((r[1].1.as_str(), r[1].2.as_str()), ("X: y\r\n", ""));
        assert_eq!((r[2].1.as_str(), r[2].2.as_str()), ("", ""));
        assert_eq!(r[3].2, "Subject: s\r\n");
        assert_eq!((r[4].1.as_str(), r[4].2.as_str()), ("Subject: s\r\n", ""));
    }

    #[test]
    fn parent_contains_child_at_shared_delimiter() {
        let raw = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n--b--\r\n";
        let t = parse(raw);
        assert_eq!(t.parts.len(), 3);
        assert!(t.parts[2].body_end <= t.parts[1].body_end);
        assert!(t.parts[2].header_start >= t.parts[1].body_start);
    }

    #[test]
    fn nested_boundary_prefix_of_outer() {
        let raw = b"Content-Type: multipart/mixed; boundary=ab\r\n\r\n--ab\r\nContent-Type: multipart/alternative; boundary=abc\r\n\r\n--abc\r\n\r\nx\r\n--abc--\r\n--ab\r\n\r\ny\r\n--ab--\r\n";
        let t = parse(raw);
        let r = ranges(&t, raw);
        assert_eq!(t.parts.len(), 4);
        assert_eq!(t.parts[1].descendants, 1);
        assert_eq!(r[2].2, "x");
        assert_eq!(r[3].2, "y");
    }

    #[test]
    fn message_rfc822_has_envelope_and_subtree() {
        let raw = b"Content-Type: message/rfc822\r\n\r\nSubject: inner\r\nContent-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\n\r\na\r\n--q--\r\n";
        let t = parse(raw);
        assert_eq!(t.parts.len(), 3);
        assert_eq!(t.parts[0].kind, PartKind::Message);
        assert_eq!(t.parts[0].lines, 7);
        let env = t.parts[0].envelope.as_deref().expect("envelope");
        assert_eq!(env.subject.as_deref(), Some(&b"inner"[..]));
        assert_eq!(t.parts[1].kind, PartKind::Multipart);
    }

    #[test]
    fn opaque_cases() {
        // No boundary; encoded message/rfc822; no delimiter at all.
        for raw in [
            &b"Content-Type: multipart/mixed\r\n\r\n--x\r\n"[..],
            b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\nU3ViamVjdDogeA==\r\n",
            b"Content-Type: multipart/mixed; boundary=z\r\n\r\nno parts\r\n",
        ] {
            let t = parse(raw);
            assert_eq!(t.parts.len(), 1);
            assert!(t.parts[0].is_opaque());
        }
    }

    #[test]
    fn digest_default_type() {
        let raw = b"Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nSubject: s\r\n\r\nb\r\n--d--\r\n";
        let t = parse(raw);
        assert!(t.parts[1].is("message", "rfc822"));
        assert_eq!(t.parts[1].kind, PartKind::Message);
        assert_eq!(t.parts[2].body_end, t.parts[1].body_end);
    }
}
