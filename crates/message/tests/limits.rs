//! Bounds: deep nesting, many parts, large messages. The parser must stay
//! within MAX_DEPTH / MAX_PARTS, keep exact offsets, never overflow the
//! stack, and produce well-formed BODYSTRUCTURE.

mod wire_grammar;

use std::time::Instant;

use pillarbox_message::mime::{MAX_DEPTH, MAX_PARTS};
use pillarbox_message::summary::{Summary, summarize};
use pillarbox_message::{MimeTree, PartKind, write_body};

fn depth_of(t: &MimeTree, index: usize) -> usize {
    1 + t.children(index).map(|c| depth_of(t, c)).max().unwrap_or(0)
}

fn check_wire(t: &MimeTree) -> usize {
    let mut n = 0;
    for extended in [false, true] {
        let mut out = Vec::new();
        write_body(&mut out, t, extended, false);
        let item = wire_grammar::parse(&out).expect("parses");
        n = wire_grammar::check_body(&item, extended).expect("well-formed");
    }
    n
}

fn check_offsets(t: &MimeTree, raw: &[u8]) {
    assert!(!t.parts.is_empty() && t.parts.len() <= MAX_PARTS);
    assert_eq!(t.parts[0].header_start, 0);
    assert_eq!(t.parts[0].body_end as usize, raw.len());
    for (i, p) in t.parts.iter().enumerate() {
        assert!(p.header_start <= p.body_start && p.body_start <= p.body_end);
        assert!(p.body_end as usize <= raw.len());
        for c in t.children(i) {
            let c = &t.parts[c];
            assert!(c.header_start >= p.body_start && c.body_end <= p.body_end);
        }
    }
}

fn json_round_trip(s: &Summary) {
    let json = serde_json::to_string(s).expect("serialise");
    let back: Summary = serde_json::from_str(&json).expect("deserialise");
    assert_eq!(&back, s);
}

#[test]
fn thousand_nested_multiparts_are_cut_at_max_depth() {
    let levels = 1000;
    let mut raw = Vec::new();
    for i in 0..levels {
        raw.extend_from_slice(
            format!("Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n").as_bytes(),
        );
    }
    raw.extend_from_slice(b"Content-Type: text/plain\r\n\r\ninnermost\r\n");
    for i in (0..levels).rev() {
        raw.extend_from_slice(format!("--b{i}--\r\n").as_bytes());
    }
    let s = summarize(&raw);
    let t = &s.mime;
    check_offsets(t, &raw);
    assert_eq!(t.parts.len(), MAX_DEPTH + 1);
    assert_eq!(depth_of(t, 0), MAX_DEPTH + 1);
    let last = t.parts.last().expect("parts");
    assert!(last.is_opaque() && last.kind == PartKind::Leaf);
    let opaque_body = &raw[last.body_range().to_usize()];
    assert!(opaque_body.windows(9).any(|w| w == b"innermost"));
    assert_eq!(check_wire(t), MAX_DEPTH + 1);
    json_round_trip(&s);
}

#[test]
fn thousand_nested_messages_are_cut_at_max_depth() {
    let mut raw = b"Subject: top\r\n".to_vec();
    for i in 0..1000 {
        raw.extend_from_slice(
            format!("Content-Type: message/rfc822\r\n\r\nSubject: {i}\r\n").as_bytes(),
        );
    }
    raw.extend_from_slice(b"\r\nbottom\r\n");
    let s = summarize(&raw);
    check_offsets(&s.mime, &raw);
    assert_eq!(s.mime.parts.len(), MAX_DEPTH + 1);
    check_wire(&s.mime);
    json_round_trip(&s);
}

#[test]
fn unterminated_deep_nesting_ends_cleanly() {
    // Boundaries opened and never closed, then garbage.
    let mut raw = Vec::new();
    for i in 0..500 {
        raw.extend_from_slice(
            format!("Content-Type: multipart/alternative; boundary=\"x{i}\"\n\n--x{i}\n")
                .as_bytes(),
        );
    }
    raw.extend_from_slice(b"--x3\nContent-Type: text/plain\n\ntail\n");
    let s = summarize(&raw);
    check_offsets(&s.mime, &raw);
    check_wire(&s.mime);
}

#[test]
fn twenty_thousand_parts_are_cut_at_max_parts() {
    let mut raw = b"Content-Type: multipart/mixed; boundary=p\r\n\r\n".to_vec();
    for i in 0..20_000 {
        raw.extend_from_slice(format!("--p\r\n\r\n{i}\r\n").as_bytes());
    }
    raw.extend_from_slice(b"--p--\r\n");
    let start = Instant::now();
    let s = summarize(&raw);
    let t = &s.mime;
    assert!(start.elapsed().as_secs() < 10);
    check_offsets(t, &raw);
    assert_eq!(t.parts.len(), MAX_PARTS);
    assert_eq!(t.children(0).count(), MAX_PARTS - 1);
    // Parts before the limit are exact; the last one runs to the end.
    let p5 = &t.parts[6];
    assert_eq!(&raw[p5.body_range().to_usize()], b"5");
    let last = t.parts.last().expect("parts");
    assert_eq!(last.body_end as usize, raw.len());
    assert!(raw[last.body_range().to_usize()].ends_with(b"19999\r\n--p--\r\n"));
    assert_eq!(check_wire(t), MAX_PARTS);
    json_round_trip(&s);
}

/// A message of about `mib` MiB: a text part and a few base64 attachments.
fn big_message(mib: usize) -> Vec<u8> {
    let mut raw = b"From: big@example.org\r\nSubject: big\r\nContent-Type: multipart/mixed; boundary=\"big-boundary\"\r\n\r\n--big-boundary\r\nContent-Type: text/plain\r\n\r\nSee attachments.\r\n".to_vec();
    let line = [b'Q'; 76];
    let attachments = 4;
    let lines_each = mib * 1024 * 1024 / attachments / 78;
    for a in 0..attachments {
        // One text attachment, so line counting is part of the cost.
        let ty = if a == 0 {
            "text/plain"
        } else {
            "application/octet-stream"
        };
        raw.extend_from_slice(
            format!("--big-boundary\r\nContent-Type: {ty}; name=a{a}.bin\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=a{a}.bin\r\n\r\n").as_bytes(),
        );
        for _ in 0..lines_each {
            raw.extend_from_slice(&line);
            raw.extend_from_slice(b"\r\n");
        }
    }
    raw.extend_from_slice(b"--big-boundary--\r\n");
    raw
}

#[test]
fn big_message_structure() {
    let raw = big_message(1);
    let s = summarize(&raw);
    check_offsets(&s.mime, &raw);
    assert_eq!(s.mime.parts.len(), 6);
    let json = serde_json::to_string(&s).expect("json");
    assert!(
        json.len() < 2048,
        "summary JSON is compact: {} bytes",
        json.len()
    );
}

/// Timing (run with `--ignored`, ideally `--release`): summarising is
/// linear in the message size.
#[test]
#[ignore]
fn summarize_10_mib_is_linear() {
    let small = big_message(1);
    let large = big_message(10);
    let time = |raw: &[u8]| {
        let start = Instant::now();
        for _ in 0..3 {
            std::hint::black_box(summarize(std::hint::black_box(raw)));
        }
        start.elapsed().as_secs_f64() / 3.0
    };
    let _ = time(&small);
    let (t1, t10) = (time(&small), time(&large));
    eprintln!("1 MiB: {:.1} ms, 10 MiB: {:.1} ms", t1 * 1e3, t10 * 1e3);
    assert!(t10 < t1 * 20.0, "not linear: {t1} s vs {t10} s");
    assert!(t10 < 5.0, "10 MiB took {t10} s");
}
