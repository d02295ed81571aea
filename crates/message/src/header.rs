//! Header sections (RFC 5322 §2.2): iterating fields with their folded
//! lines, unfolding values, and selecting fields for IMAP
//! `BODY[HEADER.FIELDS (...)]` / `BODY[HEADER.FIELDS.NOT (...)]`
//! (RFC 9051 §6.4.5).
//!
//! Bare LF line ends are accepted wherever CRLF is; bytes are never
//! rewritten, so selected fields are byte-exact copies of the input.

/// One header field as it appears in a raw header section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    /// The field name: the bytes before the first colon of the first line,
    /// without trailing whitespace. Empty for a malformed line without a
    /// colon (or a continuation line with no field before it).
    pub name: &'a [u8],
    /// Everything after the colon up to the end of the field, folded line
    /// ends included and the final line end excluded.
    pub value: &'a [u8],
    /// The whole field, including the line end of its last line (if any).
    pub raw: &'a [u8],
}

/// The offset just past the next LF at or after `pos`, or `buf.len()`.
pub(crate) fn line_end(buf: &[u8], pos: usize) -> usize {
    match buf
        .get(pos..)
        .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
    {
        Some(i) => pos + i + 1,
        None => buf.len(),
    }
}

/// Whether `line` (with its line end) is an empty line.
pub(crate) fn is_blank_line(line: &[u8]) -> bool {
    line == b"\r\n" || line == b"\n"
}

/// `line` without its trailing CRLF / LF.
fn strip_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Iterator over the fields of a header section; see [`fields`].
#[derive(Debug, Clone)]
pub struct Fields<'a> {
    header: &'a [u8],
    pos: usize,
}

/// Iterates over the fields of `header`, stopping at the empty line that
/// ends a header section (or at the end of `header`).
pub fn fields(header: &[u8]) -> Fields<'_> {
    Fields { header, pos: 0 }
}

impl<'a> Fields<'a> {
    /// Offset (in the header given to [`fields`]) of the next unread byte:
    /// after the iterator returned `None`, the start of the empty line that
    /// ended the section, or the header's length.
    pub fn offset(&self) -> usize {
        self.pos
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Field<'a>;

    fn next(&mut self) -> Option<Field<'a>> {
        let h = self.header;
        let start = self.pos;
        if start >= h.len() {
            return None;
        }
        let first_end = line_end(h, start);
        if is_blank_line(&h[start..first_end]) {
            return None;
        }
        // RFC 5322 §2.2.3: a line starting with WSP continues the field.
        let mut end = first_end;
        while end < h.len() && matches!(h[end], b' ' | b'\t') {
            end = line_end(h, end);
        }
        self.pos = end;
        let first = strip_eol(&h[start..first_end]);
        let raw = &h[start..end];
        let (name, value) = match first.iter().position(|&b| b == b':') {
            Some(colon) if !matches!(first.first(), Some(b' ' | b'\t')) => {
                let name = trim_end_wsp(&first[..colon]);
                (name, strip_eol(&raw[colon + 1..]))
            }
            _ => (&first[..0], strip_eol(raw)),
        };
        Some(Field { name, value, raw })
    }
}

fn trim_end_wsp(b: &[u8]) -> &[u8] {
    let end = b
        .iter()
        .rposition(|&c| !matches!(c, b' ' | b'\t'))
        .map_or(0, |i| i + 1);
    &b[..end]
}

/// Trims SP, HTAB, CR and LF on both sides.
pub(crate) fn trim(b: &[u8]) -> &[u8] {
    let ws = |c: &u8| matches!(c, b' ' | b'\t' | b'\r' | b'\n');
    let start = b.iter().position(|c| !ws(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !ws(c)).map_or(start, |i| i + 1);
    &b[start..end]
}

/// Unfolds a field value (RFC 5322 §2.2.3: remove the CRLF of each fold,
/// keep the whitespace) and trims it.
pub fn unfold(value: &[u8]) -> Vec<u8> {
    trim(value)
        .iter()
        .copied()
        .filter(|&b| b != b'\r' && b != b'\n')
        .collect()
}

/// The first field named `name` (ASCII case-insensitive), unfolded.
pub fn first_value(header: &[u8], name: &str) -> Option<Vec<u8>> {
    fields(header)
        .find(|f| f.name.eq_ignore_ascii_case(name.as_bytes()))
        .map(|f| unfold(f.value))
}

/// `BODY[HEADER.FIELDS (names)]` (`not == false`) or
/// `BODY[HEADER.FIELDS.NOT (names)]` (`not == true`) of a raw header
/// section (RFC 9051 §6.4.5).
///
/// Field names match ASCII case-insensitively and otherwise exactly; the
/// selected fields are copied byte for byte with their folded lines, in
/// message order. The empty line ending the header is included when the
/// header has one ("the blank line is included in all header fetches,
/// except in the case of a message that has no body and no blank line").
/// Malformed lines without a field name never match a name, so they appear
/// only in the `.NOT` form.
pub fn header_fields<N: AsRef<[u8]>>(header: &[u8], names: &[N], not: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut it = fields(header);
    for field in it.by_ref() {
        let matched = !field.name.is_empty()
            && names
                .iter()
                .any(|n| n.as_ref().eq_ignore_ascii_case(field.name));
        if matched != not {
            out.extend_from_slice(field.raw);
        }
    }
    let rest = it.offset();
    if rest < header.len() {
        let end = line_end(header, rest);
        out.extend_from_slice(&header[rest..end]);
    }
    out
}

/// A header section cut down for parsers that allocate per field (a
/// message may carry millions of tiny fields within its size limit): the
/// fields that fit, whole and in order, in the first `max_bytes` octets,
/// then from the rest only those whose name `keep` selects, at most
/// `max_kept` of them; always ends with the empty line. A section within
/// `max_bytes` comes back unchanged (plus the empty line if it had none).
pub fn bounded_header(
    header: &[u8],
    max_bytes: usize,
    max_kept: usize,
    keep: impl Fn(&[u8]) -> bool,
) -> Vec<u8> {
    let mut out = Vec::new();
    let mut past_bound = false;
    let mut kept = 0;
    for field in fields(header) {
        past_bound = past_bound || out.len() + field.raw.len() > max_bytes;
        if past_bound {
            if kept >= max_kept || field.name.is_empty() || !keep(field.name) {
                continue;
            }
            kept += 1;
        }
        out.extend_from_slice(field.raw);
        if !field.raw.ends_with(b"\n") {
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_header_keeps_the_first_fields_and_selected_later_ones() {
        let h =
            b"A: 1\r\nB: 2\r\nC: 3\r\nSubject: s\r\nD: 4\r\nsubject: t\r\nsubject: u\r\n\r\nbody";
        let subject = |n: &[u8]| n.eq_ignore_ascii_case(b"subject");
        assert_eq!(bounded_header(h, 1000, 0, subject), &h[..h.len() - 4]);
        assert_eq!(
            bounded_header(h, 12, 2, subject),
            b"A: 1\r\nB: 2\r\nSubject: s\r\nsubject: t\r\n\r\n"
        );
        assert_eq!(bounded_header(b"X: 1", 10, 0, subject), b"X: 1\r\n\r\n");
    }

    #[test]
    fn fields_keep_folded_lines() {
        let h = b"Subject: a\r\n b\r\nTo: x\r\n\r\nbody";
        let f: Vec<_> = fields(h).collect();
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].name, b"Subject");
        assert_eq!(f[0].value, b" a\r\n b");
        assert_eq!(f[0].raw, b"Subject: a\r\n b\r\n");
        assert_eq!(unfold(f[0].value), b"a b");
        assert_eq!(f[1].raw, b"To: x\r\n");
    }

    #[test]
    fn malformed_lines_have_no_name() {
        let h = b" leading\r\nno colon here\nX-A : v\n";
        let f: Vec<_> = fields(h).collect();
        assert_eq!(f.len(), 3);
        assert_eq!(f[0].name, b"");
        assert_eq!(f[1].name, b"");
        assert_eq!(f[2].name, b"X-A");
        assert_eq!(f[2].value, b" v");
    }

    #[test]
    fn header_fields_selects_case_insensitively_with_blank_line() {
        let h = b"From: a\r\nSubject: s\r\n\tmore\r\nto: b\r\n\r\n";
        assert_eq!(
            header_fields(h, &["SUBJECT", "To"], false),
            b"Subject: s\r\n\tmore\r\nto: b\r\n\r\n"
        );
        assert_eq!(
            header_fields(h, &["subject"], true),
            b"From: a\r\nto: b\r\n\r\n"
        );
        assert_eq!(header_fields(h, &["x"], false), b"\r\n");
    }

    #[test]
    fn header_fields_without_blank_line() {
        let h = b"From: a\r\nSubject: s";
        assert_eq!(header_fields(h, &["subject"], false), b"Subject: s");
        assert_eq!(header_fields(h, &["subject"], true), b"From: a\r\n");
        let names: [&[u8]; 0] = [];
        assert_eq!(header_fields(b"", &names, true), b"");
    }
}
