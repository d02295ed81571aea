//! The text of a message that full-text search looks at (RFC 9051 §6.4.4
//! `BODY`, `TEXT`, `HEADER`, `SUBJECT`, `FROM`, `TO`, `CC`, `BCC`),
//! shared by every backend so they all match the same text. The SQLite
//! backend extracts it on its background indexer thread, and at search
//! time for messages not indexed yet — the same function either way.
//!
//! - Header fields: every top-level field as one `Name: value` line, the
//!   value unfolded and RFC 2047-decoded (structured MIME fields such as
//!   `Content-Type` are kept as written).
//! - Subject and the address fields come from the message's parse-once
//!   [`Summary`], so SEARCH matches what ENVELOPE shows.
//! - Body: the decoded text (charset-converted) of every `text/*` part, HTML
//!   reduced to its text, and the header and body text of attached
//!   messages; parts are separated by a newline. Binary parts are not
//!   indexed.
//!
//! Both the header and the body text are bounded ([`MAX_HEADER_TEXT`],
//! [`MAX_BODY_TEXT`]) so that one huge message cannot stall the indexer:
//! text beyond the bound is not searchable. So is the parser's input
//! ([`parser_input`]): `mail-parser` allocates per header field and per
//! part, so a message with millions of either (small enough for the size
//! limit) is cut down first to the fields the bound lets in and the parts
//! the summary's MIME tree describes (`MAX_PARTS`).

use mail_parser::decoders::html::html_to_text;
use mail_parser::{HeaderValue, Message, MessageParser, PartType};
use pillarbox_message::mime::MAX_PARTS;
use pillarbox_message::summary::{Summary, SummaryAddress};

/// Most header text indexed per message, in bytes.
pub const MAX_HEADER_TEXT: usize = 256 * 1024;

/// Most body text indexed per message, in bytes.
pub const MAX_BODY_TEXT: usize = 1024 * 1024;

/// Attached messages are followed this deep.
const MAX_NESTING: usize = 4;

/// The searchable text of one message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexedText {
    pub subject: String,
    /// `Name <address>` of each mailbox, comma-separated.
    pub from: String,
    pub to: String,
    pub cc: String,
    pub bcc: String,
    /// One `Name: value` line per top-level header field, in order.
    pub headers: String,
    pub body: String,
}

/// Extracts the searchable text of `raw`, whose summary is `summary`.
/// Never panics; an unparseable message indexes its raw body as text.
pub fn extract(raw: &[u8], summary: &Summary) -> IndexedText {
    let mut text = summary_fields(summary);
    // MIME fields are parsed structurally (the parser needs them to find the
    // parts); every other field is decoded as unstructured text.
    let parser = MessageParser::new()
        .with_mime_headers()
        .default_header_text();
    let input = parser_input(raw, summary);
    match parser.parse(&input[..]) {
        Some(message) => {
            header_lines(&message, &mut text.headers, MAX_HEADER_TEXT);
            body_text(&message, &mut text.body, 0);
        }
        None => {
            let start = usize::try_from(summary.header_len)
                .unwrap_or(raw.len())
                .min(raw.len());
            push_bounded(
                &mut text.body,
                &String::from_utf8_lossy(&raw[start..]),
                MAX_BODY_TEXT,
            );
        }
    }
    text
}

/// What `mail-parser` is given for `raw`: `raw` itself, unless its header
/// section is longer than [`MAX_HEADER_TEXT`] (then the fields within that
/// bound and, after it, only the MIME fields the parser needs to find the
/// parts) or its MIME tree reached `MAX_PARTS` (then the message up to
/// the opaque last part, whose text is not searchable).
pub fn parser_input<'a>(raw: &'a [u8], summary: &Summary) -> std::borrow::Cow<'a, [u8]> {
    let header_len = usize::try_from(summary.header_len)
        .unwrap_or(raw.len())
        .min(raw.len());
    let parts = &summary.mime.parts;
    let body_end = match parts.last() {
        Some(last) if parts.len() >= MAX_PARTS => usize::try_from(last.header_start)
            .unwrap_or(raw.len())
            .clamp(header_len, raw.len()),
        _ => raw.len(),
    };
    if header_len <= MAX_HEADER_TEXT && body_end == raw.len() {
        return std::borrow::Cow::Borrowed(raw);
    }
    let mut input = if header_len <= MAX_HEADER_TEXT {
        raw[..header_len].to_vec()
    } else {
        pillarbox_message::header::bounded_header(
            &raw[..header_len],
            MAX_HEADER_TEXT,
            MAX_LATE_MIME_FIELDS,
            |name| {
                name.eq_ignore_ascii_case(b"MIME-Version")
                    || name
                        .get(..8)
                        .is_some_and(|p| p.eq_ignore_ascii_case(b"Content-"))
            },
        )
    };
    input.extend_from_slice(&raw[header_len..body_end]);
    std::borrow::Cow::Owned(input)
}

/// MIME fields after [`MAX_HEADER_TEXT`] still given to the parser.
const MAX_LATE_MIME_FIELDS: usize = 16;

/// The fields of [`IndexedText`] that come from the summary alone
/// (subject and addresses; `headers` and `body` are empty): what
/// [`extract`] puts there, without reading the message.
pub fn summary_fields(summary: &Summary) -> IndexedText {
    IndexedText {
        subject: summary.subject.clone().unwrap_or_default(),
        from: addresses(&summary.from),
        to: addresses(&summary.to),
        cc: addresses(&summary.cc),
        bcc: addresses(&summary.bcc),
        ..IndexedText::default()
    }
}

/// Case-insensitive substring test with the semantics the search backends
/// implement (Unicode lowercase on both sides).
pub fn contains_ci(haystack: &str, needle: &str) -> bool {
    needle.is_empty() || haystack.to_lowercase().contains(&needle.to_lowercase())
}

/// Whether the `headers` text of [`IndexedText`] has a field `name`
/// (case-insensitive) whose value contains `needle` (RFC 9051 SEARCH
/// HEADER; an empty needle matches any such field).
pub fn header_matches(headers: &str, name: &str, needle: &str) -> bool {
    headers.lines().any(|line| {
        line.split_once(':').is_some_and(|(field, value)| {
            field.eq_ignore_ascii_case(name) && contains_ci(value, needle)
        })
    })
}

fn addresses(list: &[SummaryAddress]) -> String {
    let mut out = String::new();
    for a in list {
        if !out.is_empty() {
            out.push_str(", ");
        }
        match (&a.name, &a.address) {
            (Some(n), Some(addr)) => {
                out.push_str(n);
                out.push_str(" <");
                out.push_str(addr);
                out.push('>');
            }
            (Some(n), None) => out.push_str(n),
            (None, Some(addr)) => out.push_str(addr),
            (None, None) => {}
        }
    }
    out
}

/// Appends `s` to `out` without letting `out` grow past `max` bytes (cut at
/// a character boundary). Returns false once the bound is reached.
fn push_bounded(out: &mut String, s: &str, max: usize) -> bool {
    let room = max.saturating_sub(out.len());
    if s.len() <= room {
        out.push_str(s);
        return true;
    }
    let mut cut = room;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    out.push_str(&s[..cut]);
    false
}

/// One line per field: newlines inside values become spaces so that a
/// line is exactly one field.
fn header_lines(message: &Message<'_>, out: &mut String, max: usize) {
    let raw = message.raw_message.as_ref();
    for header in message.headers() {
        let value = match &header.value {
            HeaderValue::Text(t) => t.to_string(),
            HeaderValue::TextList(list) => list.join(", "),
            _ => {
                let (start, end) = (header.offset_start as usize, header.offset_end as usize);
                raw.get(start..end)
                    .map(|v| String::from_utf8_lossy(v).trim().to_owned())
                    .unwrap_or_default()
            }
        };
        let value = value.replace(['\r', '\n'], " ");
        let line = format!("{}: {}\n", header.name.as_str(), value.trim());
        if !push_bounded(out, &line, max) {
            return;
        }
    }
}

fn body_text(message: &Message<'_>, out: &mut String, depth: usize) {
    for part in &message.parts {
        let ok = match &part.body {
            PartType::Text(t) => push_part(out, t),
            PartType::Html(h) => push_part(out, &html_to_text(h)),
            PartType::Message(inner) if depth < MAX_NESTING => {
                let mut headers = String::new();
                header_lines(inner, &mut headers, MAX_HEADER_TEXT);
                let ok = push_part(out, &headers);
                body_text(inner, out, depth + 1);
                ok
            }
            _ => true,
        };
        if !ok || out.len() >= MAX_BODY_TEXT {
            return;
        }
    }
}

fn push_part(out: &mut String, text: &str) -> bool {
    if !out.is_empty() && !out.ends_with('\n') && !push_bounded(out, "\n", MAX_BODY_TEXT) {
        return false;
    }
    push_bounded(out, text, MAX_BODY_TEXT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pillarbox_message::summary::summarize;

    fn text_of(raw: &str) -> IndexedText {
        extract(raw.as_bytes(), &summarize(raw.as_bytes()))
    }

    /// Millions of parts or header fields: the parser sees a bounded
    /// input, and what lies within the bounds is still searchable.
    #[test]
    fn bombs_are_cut_down_before_parsing() {
        let mut raw =
            String::from("Subject: many\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n");
        raw.push_str("--x\r\n\r\nfirst part\r\n");
        for _ in 0..50_000 {
            raw.push_str("--x\r\n\r\na\r\n");
        }
        raw.push_str("--x\r\n\r\nlast part\r\n--x--\r\n");
        let summary = summarize(raw.as_bytes());
        assert_eq!(summary.mime.parts.len(), MAX_PARTS);
        let input = parser_input(raw.as_bytes(), &summary);
        assert!(input.len() < 11 * MAX_PARTS, "{}", input.len());
        let text = extract(raw.as_bytes(), &summary);
        assert!(text.body.contains("first part"));
        assert!(!text.body.contains("last part"), "beyond MAX_PARTS");

        let mut raw = String::from("MIME-Version: 1.0\r\n");
        for i in 0..100_000 {
            raw.push_str(&format!("X-F-{i}: v\r\n"));
        }
        raw.push_str("Content-Type: text/plain\r\nSubject: late\r\n\r\nthe body\r\n");
        let summary = summarize(raw.as_bytes());
        let input = parser_input(raw.as_bytes(), &summary);
        assert!(input.len() <= MAX_HEADER_TEXT + 200, "{}", input.len());
        let text = extract(raw.as_bytes(), &summary);
        assert_eq!(text.subject, "late", "from the summary");
        assert!(text.body.contains("the body"));
        assert!(text.headers.contains("Content-Type: text/plain"));
        assert!(
            !text.headers.contains("X-F-99999"),
            "beyond MAX_HEADER_TEXT"
        );
        // An ordinary message is parsed as it is.
        let raw = b"Subject: x\r\n\r\nbody\r\n";
        assert!(matches!(
            parser_input(raw, &summarize(raw)),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn multipart_text_and_html_are_decoded() {
        let raw = "From: =?utf-8?q?J=C3=BCrgen?= <j@example.org>\r\n\
                   To: a@example.org, B <b@example.org>\r\n\
                   Subject: =?utf-8?b?R3LDvMOfZQ==?=\r\n\
                   X-Custom: =?utf-8?q?caf=C3=A9?= au lait\r\n\
                   MIME-Version: 1.0\r\n\
                   Content-Type: multipart/alternative; boundary=b\r\n\r\n\
                   --b\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\
                   Content-Transfer-Encoding: quoted-printable\r\n\r\n\
                   Stra=DFe plain\r\n\
                   --b\r\nContent-Type: text/html\r\n\r\n\
                   <p>Hello <b>bold</b> world</p>\r\n\
                   --b\r\nContent-Type: application/octet-stream\r\n\
                   Content-Transfer-Encoding: base64\r\n\r\nc2VjcmV0IGJpbmFyeQ==\r\n\
                   --b--\r\n";
        let t = text_of(raw);
        assert_eq!(t.subject, "Grüße");
        assert_eq!(t.from, "Jürgen <j@example.org>");
        assert_eq!(t.to, "a@example.org, B <b@example.org>");
        assert!(
            t.headers.contains("X-Custom: café au lait\n"),
            "{}",
            t.headers
        );
        assert!(header_matches(&t.headers, "x-custom", "CAFÉ"));
        assert!(header_matches(&t.headers, "X-Custom", ""));
        assert!(!header_matches(&t.headers, "X-Other", ""));
        assert!(t.body.contains("Straße plain"), "{}", t.body);
        assert!(t.body.contains("Hello bold world"), "{}", t.body);
        assert!(!t.body.contains("secret"), "binary parts are not indexed");
    }

    #[test]
    fn body_text_is_bounded() {
        let mut raw = String::from("Subject: big\r\n\r\n");
        while raw.len() < MAX_BODY_TEXT + 4096 {
            raw.push_str("é123456789\r\n");
        }
        let t = text_of(&raw);
        assert!(t.body.len() <= MAX_BODY_TEXT);
        assert!(t.body.len() > MAX_BODY_TEXT - 16);
    }

    #[test]
    fn case_insensitive_matching() {
        assert!(contains_ci("Grüße aus Köln", "KÖLN"));
        assert!(contains_ci("anything", ""));
        assert!(!contains_ci("abc", "abd"));
    }
}
