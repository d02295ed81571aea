//! Property tests: whatever the bytes, summarising never panics, offsets
//! stay exact and inside the message, every section resolves inside the
//! message, the wire forms are well-formed RFC 9051 syntax, and the summary
//! survives a JSON round trip.

mod wire_grammar;

use proptest::prelude::*;

use pillarbox_message::summary::{Summary, summarize};
use pillarbox_message::{
    MimeTree, PartKind, SectionPath, Specifier, binary_size, decode_part, section_bytes,
    section_range, write_body, write_envelope,
};

/// Every part-number path of the tree (RFC 9051 numbering), bounded.
fn paths(t: &MimeTree) -> Vec<Vec<u32>> {
    fn walk(t: &MimeTree, index: usize, prefix: &mut Vec<u32>, out: &mut Vec<Vec<u32>>) {
        if out.len() > 200 || prefix.len() > 80 {
            return;
        }
        let Some(p) = t.parts.get(index) else { return };
        let children: Vec<usize> = match p.kind {
            PartKind::Multipart => t.children(index).collect(),
            PartKind::Message => match t.child(index, 1) {
                Some(root) if t.parts[root].kind == PartKind::Multipart => {
                    t.children(root).collect()
                }
                Some(root) => vec![root],
                None => Vec::new(),
            },
            PartKind::Leaf => Vec::new(),
        };
        for (n, c) in children.into_iter().enumerate() {
            prefix.push(n as u32 + 1);
            out.push(prefix.clone());
            walk(t, c, prefix, out);
            prefix.pop();
        }
    }
    let mut out = Vec::new();
    if t.parts.is_empty() {
        return out;
    }
    if t.parts[0].kind == PartKind::Multipart {
        walk(t, 0, &mut Vec::new(), &mut out);
    } else {
        out.push(vec![1]);
        let mut prefix = vec![1];
        walk(t, 0, &mut prefix, &mut out);
    }
    out
}

fn check_message(raw: &[u8]) {
    let s = summarize(raw);
    let t = &s.mime;
    assert!(!t.parts.is_empty());
    assert_eq!(t.parts[0].body_end as usize, raw.len());
    assert_eq!(t.parts[0].body_start, s.header_len);
    for (i, p) in t.parts.iter().enumerate() {
        assert!(p.header_start <= p.body_start && p.body_start <= p.body_end);
        assert!(p.body_end as usize <= raw.len());
        for c in t.children(i) {
            assert!(t.parts[c].header_start >= p.body_start);
            assert!(t.parts[c].body_end <= p.body_end);
        }
    }
    for path in paths(t) {
        let part = t.part_at(&path).expect("enumerated path resolves");
        let body = &raw[part.body_range().to_usize()];
        if let Ok(decoded) = decode_part(part.encoding.as_deref(), body) {
            assert_eq!(
                binary_size(part.encoding.as_deref(), body),
                Ok(decoded.len() as u64)
            );
        }
        for specifier in [
            None,
            Some(Specifier::Mime),
            Some(Specifier::Header),
            Some(Specifier::Text),
            Some(Specifier::HeaderFields {
                names: vec!["subject".into(), "content-type".into()],
                not: true,
            }),
        ] {
            let section = SectionPath {
                parts: path.clone(),
                specifier,
            };
            if let Some(r) = section_range(t, &section) {
                assert!(r.start <= r.end && r.end as usize <= raw.len());
                assert!(section_bytes(t, raw, &section).is_some());
            }
        }
    }
    for utf8 in [false, true] {
        let mut env = Vec::new();
        write_envelope(&mut env, &s.envelope, utf8);
        let item = wire_grammar::parse(&env).expect("envelope parses");
        wire_grammar::check_envelope(&item).expect("envelope well-formed");
        for extended in [false, true] {
            let mut out = Vec::new();
            write_body(&mut out, t, extended, utf8);
            let item = wire_grammar::parse(&out).expect("body parses");
            wire_grammar::check_body(&item, extended).expect("body well-formed");
        }
    }
    let json = serde_json::to_string(&s).expect("serialise");
    let back: Summary = serde_json::from_str(&json).expect("deserialise");
    assert_eq!(back, s);
}

/// Fragments that steer random messages into MIME structure.
const FRAGMENTS: &[&[u8]] = &[
    b"\r\n",
    b"\n",
    b"\r\n\r\n",
    b"--b\r\n",
    b"--b--\r\n",
    b"--c\r\n",
    b"--c--",
    b"--b",
    b"Content-Type: multipart/mixed; boundary=b\r\n",
    b"Content-Type: multipart/alternative; boundary=\"c\"\r\n",
    b"Content-Type: multipart/digest; boundary=b\r\n",
    b"Content-Type: message/rfc822\r\n",
    b"Content-Type: message/global\r\n",
    b"Content-Type: text/plain; charset*0*=utf-8''%E2; charset*1*=%82%AC\r\n",
    b"Content-Transfer-Encoding: base64\r\n",
    b"Content-Transfer-Encoding: quoted-printable\r\n",
    b"Content-Disposition: attachment; filename*=iso-8859-1''%E9\r\n",
    b"Content-Language: en, (c) fr\r\n",
    b"From: A <a@b.c>, g: x@y;, \"q\\\"\" <@r:s@t>\r\n",
    b"To: (c) x@y (Name)\r\n",
    b"Subject: =?utf-8?q?caf=C3=A9?= \xff\0\r\n",
    b" folded\r\n",
    b"aGVsbG8=\r\n",
    b"=41=\r\n",
    b"text line\r\n",
    b"\"",
    b"\\",
    b"(",
    b"<",
    b":",
    b";",
    b"\xc3\xa9",
];

fn fragments() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            4 => prop::sample::select(FRAGMENTS).prop_map(<[u8]>::to_vec),
            1 => prop::collection::vec(any::<u8>(), 0..8),
        ],
        0..60,
    )
    .prop_map(|v| v.concat())
}

/// A MIME entity to render (structured generator).
#[derive(Debug, Clone)]
enum Entity {
    Leaf(&'static [u8], Vec<u8>),
    Multi {
        boundary: &'static str,
        children: Vec<Entity>,
        close: bool,
    },
    Message(Box<Entity>),
}

const LEAF_HEADERS: &[&[u8]] = &[
    b"",
    b"Content-Type: text/plain\r\n",
    b"Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n",
    b"Content-Type: application/pdf; name=\"a.pdf\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=a.pdf\r\n",
    b"Content-Type: image/png\r\nContent-ID: <x@y>\r\nContent-Language: en\r\n",
    b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n",
    b"Content-Type: multipart/mixed\r\n",
];

fn entity() -> impl Strategy<Value = Entity> {
    let leaf = (
        prop::sample::select(LEAF_HEADERS),
        prop::collection::vec(prop::sample::select(&b"ab=\r\n-"[..]), 0..12),
    )
        .prop_map(|(h, b)| Entity::Leaf(h, b));
    leaf.prop_recursive(8, 96, 6, |inner| {
        prop_oneof![
            (
                prop::sample::select(&["a", "ab", "b", "a b"][..]),
                prop::collection::vec(inner.clone(), 0..6),
                any::<bool>(),
            )
                .prop_map(|(boundary, children, close)| Entity::Multi {
                    boundary,
                    children,
                    close
                }),
            inner.prop_map(|e| Entity::Message(Box::new(e))),
        ]
    })
}

fn render(e: &Entity, out: &mut Vec<u8>) {
    match e {
        Entity::Leaf(h, body) => {
            out.extend_from_slice(h);
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(body);
        }
        Entity::Multi {
            boundary,
            children,
            close,
        } => {
            out.extend_from_slice(
                format!("Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\npreamble")
                    .as_bytes(),
            );
            for c in children {
                out.extend_from_slice(format!("\r\n--{boundary}\r\n").as_bytes());
                render(c, out);
            }
            if *close {
                out.extend_from_slice(format!("\r\n--{boundary}--\r\nepilogue").as_bytes());
            }
        }
        Entity::Message(inner) => {
            out.extend_from_slice(b"Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n");
            render(inner, out);
        }
    }
}

/// Structured messages, then damaged: bare LF line ends, truncation, an
/// inserted fragment.
fn structured() -> impl Strategy<Value = Vec<u8>> {
    (
        entity(),
        any::<bool>(),
        prop::option::of(0.0f64..1.0),
        prop::option::of((0.0f64..1.0, prop::sample::select(FRAGMENTS))),
    )
        .prop_map(|(e, lf, cut, insert)| {
            let mut raw = Vec::new();
            render(&e, &mut raw);
            if lf {
                raw = String::from_utf8_lossy(&raw)
                    .replace("\r\n", "\n")
                    .into_bytes();
            }
            if let Some((at, frag)) = insert {
                let at = (raw.len() as f64 * at) as usize;
                raw.splice(at..at, frag.iter().copied());
            }
            if let Some(cut) = cut {
                raw.truncate((raw.len() as f64 * cut) as usize);
            }
            raw
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn structured_messages_keep_invariants(raw in structured()) {
        check_message(&raw);
    }

    #[test]
    fn arbitrary_bytes_never_panic(raw in prop::collection::vec(any::<u8>(), 0..2048)) {
        check_message(&raw);
    }

    #[test]
    fn mime_like_messages_keep_invariants(raw in fragments()) {
        check_message(&raw);
    }

    #[test]
    fn deserialised_garbage_trees_never_panic(
        parts in prop::collection::vec((0u64..100, 0u64..100, 0u64..100, 0u32..8, 0u8..3), 0..120),
        path in prop::collection::vec(0u32..5, 0..6),
    ) {
        // Hand-made (inconsistent) data must not panic the readers either.
        let mut t = MimeTree::default();
        for (h, b, e, d, k) in parts {
            t.parts.push(pillarbox_message::Part {
                header_start: h,
                body_start: b,
                body_end: e,
                descendants: d,
                kind: [PartKind::Leaf, PartKind::Multipart, PartKind::Message][k as usize],
                media_type: "message".into(),
                media_subtype: "rfc822".into(),
                ..Default::default()
            });
        }
        let mut out = Vec::new();
        write_body(&mut out, &t, true, false);
        // Every part is written at most once (plus fillers): no blow-up.
        assert!(out.len() <= 200 * (t.parts.len() + 1), "{} bytes", out.len());
        let item = wire_grammar::parse(&out).expect("parses");
        wire_grammar::check_body(&item, true).expect("well-formed");
        let raw = vec![b'x'; 64];
        for specifier in [None, Some(Specifier::Mime), Some(Specifier::Text)] {
            let section = SectionPath { parts: path.clone(), specifier };
            let _ = section_range(&t, &section);
            let _ = section_bytes(&t, &raw, &section);
        }
    }
}

#[test]
fn corpus_messages_keep_invariants() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    for entry in std::fs::read_dir(dir).expect("corpus") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|x| x == "eml") {
            check_message(&std::fs::read(&path).expect("read"));
        }
    }
}

#[test]
fn old_summary_json_loads_without_new_fields() {
    let old = r#"{"header_len":12,"date":null,"subject":"x","from":[],"sender":[],"reply_to":[],"to":[],"cc":[],"bcc":[],"in_reply_to":[],"message_id":null,"references":[]}"#;
    let s: Summary = serde_json::from_str(old).expect("old row loads");
    assert!(s.mime.is_empty());
    assert_eq!(s.envelope, Default::default());
    assert_eq!(s.subject.as_deref(), Some("x"));
}

#[test]
fn non_utf8_raw_values_round_trip_exactly() {
    let raw = b"Subject: caf\xe9\r\nContent-Description: \xff\xfe\r\n\r\nx";
    let s = summarize(raw);
    assert_eq!(s.envelope.subject.as_deref(), Some(&b"caf\xe9"[..]));
    let json = serde_json::to_string(&s).expect("json");
    let back: Summary = serde_json::from_str(&json).expect("back");
    assert_eq!(back.envelope.subject.as_deref(), Some(&b"caf\xe9"[..]));
    assert_eq!(
        back.mime.parts[0].description.as_deref(),
        Some(&b"\xff\xfe"[..])
    );
}
