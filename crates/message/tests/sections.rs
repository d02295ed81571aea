//! `BODY[section]` resolution on the RFC 3501 §6.4.5 example structure
//! (`tests/corpus/rfc3501_sections.eml` reproduces it part for part) and on
//! edge cases: HEADER.FIELDS, MIME of the body of a single-part message,
//! BINARY decoding of resolved parts.

use std::fs;
use std::path::Path;

use pillarbox_message::summary::summarize;
use pillarbox_message::{
    MimeTree, SectionPath, Specifier, binary_size, decode_part, header_fields, section_bytes,
    section_range,
};

fn corpus(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(name);
    fs::read(p).expect("corpus file")
}

/// Parses `1.2.HEADER`-style section text (test helper; the IMAP codec
/// has its own parser).
fn section(spec: &str) -> SectionPath {
    let mut parts = Vec::new();
    let mut rest = spec;
    while let Some((head, tail)) = rest.split_once('.').or(Some((rest, ""))) {
        match head.parse::<u32>() {
            Ok(n) if !head.is_empty() => {
                parts.push(n);
                rest = tail;
                if tail.is_empty() {
                    break;
                }
            }
            _ => break,
        }
    }
    let specifier = match rest {
        "" => None,
        "HEADER" => Some(Specifier::Header),
        "TEXT" => Some(Specifier::Text),
        "MIME" => Some(Specifier::Mime),
        other => {
            let (not, names) = if let Some(n) = other.strip_prefix("HEADER.FIELDS.NOT ") {
                (true, n)
            } else if let Some(n) = other.strip_prefix("HEADER.FIELDS ") {
                (false, n)
            } else {
                panic!("bad test section {spec}");
            };
            let names = names
                .trim_matches(|c| c == '(' || c == ')')
                .split(' ')
                .map(str::to_owned)
                .collect();
            Some(Specifier::HeaderFields { names, not })
        }
    };
    SectionPath { parts, specifier }
}

fn fetch(tree: &MimeTree, raw: &[u8], spec: &str) -> Option<String> {
    section_bytes(tree, raw, &section(spec)).map(|b| String::from_utf8_lossy(&b).into_owned())
}

#[test]
fn rfc3501_example_part_numbers() {
    let raw = corpus("rfc3501_sections.eml");
    let t = summarize(&raw).mime;
    let f = |s: &str| fetch(&t, &raw, s);
    let text = String::from_utf8_lossy(&raw).into_owned();

    assert_eq!(f("").as_deref(), Some(text.as_str()));
    let header_end = text.find("\r\n\r\n").expect("blank line") + 4;
    assert_eq!(f("HEADER").as_deref(), Some(&text[..header_end]));
    assert_eq!(f("TEXT").as_deref(), Some(&text[header_end..]));
    assert!(
        f("TEXT")
            .expect("text")
            .starts_with("This is the preamble.\r\n--outer\r\n")
    );
    assert!(
        f("TEXT")
            .expect("text")
            .ends_with("--outer--\r\nThis is the epilogue.\r\n")
    );

    assert_eq!(f("1").as_deref(), Some("part 1"));
    assert_eq!(
        f("1.MIME").as_deref(),
        Some("Content-Type: text/plain; charset=us-ascii\r\n\r\n")
    );
    assert_eq!(f("2").as_deref(), Some("cGFydCAy"));
    let three = f("3").expect("3");
    assert!(three.starts_with("From: Carol <carol@example.com>\r\n"));
    assert!(three.ends_with("part 3.2\r\n--m3--"));
    assert_eq!(
        f("3.MIME").as_deref(),
        Some("Content-Type: message/rfc822\r\n\r\n")
    );
    assert_eq!(
        f("3.HEADER").as_deref(),
        Some(
            "From: Carol <carol@example.com>\r\nSubject: part 3\r\n\
             Content-Type: multipart/mixed; boundary=\"m3\"\r\n\r\n"
        )
    );
    assert!(f("3.TEXT").expect("3.TEXT").starts_with("--m3\r\n"));
    assert_eq!(f("3.1").as_deref(), Some("part 3.1"));
    assert_eq!(f("3.2").as_deref(), Some("part 3.2"));
    assert_eq!(
        f("3.2.MIME").as_deref(),
        Some("Content-Type: application/octet-stream\r\n\r\n")
    );
    assert!(
        f("4")
            .expect("4")
            .starts_with("--m4\r\nContent-Type: image/gif")
    );
    assert_eq!(f("4.1").as_deref(), Some("R0lGODlhAQABAAAAACw="));
    assert_eq!(
        f("4.1.MIME").as_deref(),
        Some("Content-Type: image/gif\r\nContent-Transfer-Encoding: base64\r\n\r\n")
    );
    assert!(
        f("4.2.HEADER")
            .expect("4.2.HEADER")
            .starts_with("From: Dave")
    );
    assert!(f("4.2.TEXT").expect("4.2.TEXT").starts_with("--m42\r\n"));
    assert_eq!(f("4.2.1").as_deref(), Some("part 4.2.1"));
    assert!(f("4.2.2").expect("4.2.2").starts_with("--m422\r\n"));
    assert_eq!(f("4.2.2.1").as_deref(), Some("part 4.2.2.1"));
    assert_eq!(f("4.2.2.2").as_deref(), Some("part 4.2.2.2"));
    assert_eq!(
        f("4.2.2.2.MIME").as_deref(),
        Some("Content-Type: text/richtext\r\n\r\n")
    );
    assert_eq!(
        f("4.2.HEADER.FIELDS (SUBJECT)").as_deref(),
        Some("Subject: part 4.2\r\n\r\n")
    );

    // Sections that do not exist.
    for missing in [
        "0",
        "5",
        "1.1",
        "2.1",
        "3.3",
        "4.3",
        "4.2.3",
        "4.2.2.3",
        "4.2.2.1.1",
        "MIME",
        "1.HEADER",
        "4.HEADER",
        "4.1.TEXT",
    ] {
        assert_eq!(f(missing), None, "section {missing}");
    }
}

#[test]
fn ranges_are_exact_offsets() {
    let raw = corpus("rfc3501_sections.eml");
    let t = summarize(&raw).mime;
    let r = section_range(&t, &section("4.2.2.1")).expect("range");
    assert_eq!(&raw[r.to_usize()], b"part 4.2.2.1");
    let at = raw
        .windows(12)
        .position(|w| w == b"part 4.2.2.1")
        .expect("present") as u64;
    assert_eq!((r.start, r.end), (at, at + 12));
    let p = r.partial(5, 3);
    assert_eq!(&raw[p.to_usize()], b"4.2");
    // Every part range lies in the message and is ordered.
    for part in &t.parts {
        assert!(part.header_start <= part.body_start);
        assert!(part.body_start <= part.body_end);
        assert!(part.body_end as usize <= raw.len());
    }
    assert_eq!(t.parts.len(), 15);
}

#[test]
fn header_fields_on_the_message() {
    let raw = corpus("encoded_words.eml");
    let t = summarize(&raw).mime;
    let got = fetch(&t, &raw, "HEADER.FIELDS (subject date NOPE)").expect("fields");
    assert_eq!(
        got,
        "Subject: =?ISO-8859-1?B?SWYgeW91IGNhbiByZWFkIHRoaXMgeW8=?=\r\n \
         =?ISO-8859-2?B?dSB1bmRlcnN0YW5kIHRoZSBleGFtcGxlLg==?=\r\n\
         Date: Thu, 8 Feb 2024 10:00:00 +0000\r\n\r\n"
    );
    let not = fetch(&t, &raw, "HEADER.FIELDS.NOT (From To CC Subject Reply-To Sender Date Message-ID In-Reply-To MIME-Version Content-Type Content-Transfer-Encoding)")
        .expect("fields");
    assert_eq!(not, "Content-Description: =?UTF-8?Q?caf=C3=A9?=\r\n\r\n");
    // The whole header through header_fields with no names and NOT is the
    // header itself.
    let header = fetch(&t, &raw, "HEADER").expect("header");
    let none: [&[u8]; 0] = [];
    assert_eq!(
        header_fields(header.as_bytes(), &none, true),
        header.as_bytes()
    );
}

#[test]
fn single_part_and_header_only_messages() {
    let raw = corpus("no_blank_line.eml");
    let t = summarize(&raw).mime;
    assert_eq!(
        fetch(&t, &raw, "HEADER").as_deref(),
        Some("Subject: header only\r\nFrom: x@example.org")
    );
    assert_eq!(fetch(&t, &raw, "TEXT").as_deref(), Some(""));
    assert_eq!(fetch(&t, &raw, "1").as_deref(), Some(""));
    // No blank line: none is added to a HEADER.FIELDS result.
    assert_eq!(
        fetch(&t, &raw, "HEADER.FIELDS (Subject)").as_deref(),
        Some("Subject: header only\r\n")
    );

    let raw = corpus("encoded_words.eml");
    let t = summarize(&raw).mime;
    assert_eq!(fetch(&t, &raw, "1").as_deref(), Some("Keld J=F8rn\r\n"));
    assert_eq!(fetch(&t, &raw, "1.MIME"), fetch(&t, &raw, "HEADER"));
}

#[test]
fn binary_of_resolved_parts() {
    let raw = corpus("rfc3501_sections.eml");
    let t = summarize(&raw).mime;
    let part = t.part_at(&[2]).expect("part 2");
    let body = &raw[part.body_range().to_usize()];
    assert_eq!(
        decode_part(part.encoding.as_deref(), body).as_deref(),
        Ok(&b"part 2"[..])
    );
    assert_eq!(binary_size(part.encoding.as_deref(), body), Ok(6));

    let raw = corpus("alternative.eml");
    let t = summarize(&raw).mime;
    let part = t.part_at(&[1]).expect("part 1");
    let body = &raw[part.body_range().to_usize()];
    let decoded = decode_part(part.encoding.as_deref(), body).expect("qp");
    assert_eq!(
        String::from_utf8(decoded).expect("utf-8"),
        "Café au lait, a long line that is soft-broken here and continues."
    );

    let raw = corpus("garbage.eml");
    let t = summarize(&raw).mime;
    let part = t.part_at(&[1]).expect("part 1");
    let err = decode_part(part.encoding.as_deref(), &raw[part.body_range().to_usize()]);
    assert!(err.is_err(), "x-unknown must be UNKNOWN-CTE");
}

#[test]
fn digest_and_bare_lf_sections() {
    let raw = corpus("digest.eml");
    let t = summarize(&raw).mime;
    assert_eq!(
        fetch(&t, &raw, "1.HEADER").as_deref(),
        Some("From: one@example.org\r\nSubject: first\r\n\r\n")
    );
    assert_eq!(fetch(&t, &raw, "1.1").as_deref(), Some("one"));
    assert_eq!(fetch(&t, &raw, "1.MIME").as_deref(), Some("\r\n"));
    assert_eq!(fetch(&t, &raw, "2").as_deref(), Some("explicit"));

    let raw = corpus("bare_lf.eml");
    let t = summarize(&raw).mime;
    assert_eq!(fetch(&t, &raw, "1").as_deref(), Some("plain"));
    assert_eq!(
        fetch(&t, &raw, "2.MIME").as_deref(),
        Some("Content-Type: text/html\n\n")
    );
    assert_eq!(fetch(&t, &raw, "2").as_deref(), Some("<b>html</b>"));
}
