//! MIME and summary: `summarize`, `MimeTree::parse`, the ENVELOPE and
//! BODYSTRUCTURE writers and `BODY[section]` ranges on arbitrary bytes.
//!
//! Checks: no panic; the tree is bounded (parts, depth) and its offsets are
//! exact (inside the message, ordered, subtrees inside their parent);
//! every section range lies inside the message; the IMAP writers produce
//! balanced parentheses outside strings and literals.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pillarbox_message::mime::{MAX_DEPTH, MAX_PARTS};
use pillarbox_message::summary::summarize;
use pillarbox_message::{
    MimeTree, PartKind, SectionPath, Specifier, binary_size, bodystructure_imap, decode_part,
    envelope_imap, header_fields, section_bytes, section_range,
};

fn check_tree(tree: &MimeTree, len: u64) {
    assert!(!tree.parts.is_empty(), "a parsed tree has a root");
    assert!(tree.parts.len() <= MAX_PARTS + 1);
    for (i, p) in tree.parts.iter().enumerate() {
        assert!(
            p.header_start <= p.body_start && p.body_start <= p.body_end && p.body_end <= len,
            "part {i} offsets {}..{}..{} in {len}",
            p.header_start,
            p.body_start,
            p.body_end
        );
        let last = i + p.descendants as usize;
        assert!(last < tree.parts.len(), "part {i} subtree past the end");
        for c in &tree.parts[i + 1..=last] {
            assert!(c.header_start >= p.body_start && c.body_end <= p.body_end);
        }
        if p.kind == PartKind::Leaf {
            assert_eq!(p.descendants, 0);
        }
    }
}

/// Walks the IMAP form: parentheses balance outside quoted strings and
/// literals, and nesting stays within the MIME depth bound.
fn check_imap(wire: &[u8]) {
    let mut depth = 0usize;
    let mut i = 0;
    while i < wire.len() {
        match wire[i] {
            b'(' => {
                depth += 1;
                assert!(depth <= 3 * MAX_DEPTH + 8, "nesting {depth}");
            }
            b')' => depth = depth.checked_sub(1).expect("unbalanced )"),
            b'"' => {
                i += 1;
                while wire[i] != b'"' {
                    if wire[i] == b'\\' {
                        i += 1;
                    }
                    assert!(wire[i] != b'\r' && wire[i] != b'\n', "CR/LF in quoted");
                    i += 1;
                }
            }
            b'{' => {
                let close = wire[i..].iter().position(|&b| b == b'}').expect("}") + i;
                let n: usize = std::str::from_utf8(&wire[i + 1..close])
                    .expect("utf8")
                    .trim_end_matches('+')
                    .parse()
                    .expect("literal size");
                assert_eq!(&wire[close + 1..close + 3], b"\r\n");
                i = close + 2 + n;
            }
            b'\r' | b'\n' => panic!("line break outside a literal"),
            _ => {}
        }
        i += 1;
    }
    assert_eq!(depth, 0, "unbalanced (");
}

fuzz_target!(|raw: &[u8]| {
    let len = raw.len() as u64;
    let summary = summarize(raw);
    assert!(summary.header_len <= len);
    let tree = MimeTree::parse(raw);
    assert_eq!(tree, summary.mime);
    check_tree(&tree, len);

    check_imap(&envelope_imap(&summary.envelope));
    check_imap(&bodystructure_imap(&tree, false));
    check_imap(&bodystructure_imap(&tree, true));

    // Sections: every part path up to three levels, each specifier.
    let specs = [
        None,
        Some(Specifier::Header),
        Some(Specifier::Text),
        Some(Specifier::Mime),
        Some(Specifier::HeaderFields {
            names: vec!["Subject".into(), "From".into()],
            not: false,
        }),
        Some(Specifier::HeaderFields {
            names: vec!["Received".into()],
            not: true,
        }),
    ];
    let mut paths: Vec<Vec<u32>> = vec![vec![]];
    for a in 1..=3 {
        paths.push(vec![a]);
        for b in 1..=3 {
            paths.push(vec![a, b]);
            paths.push(vec![a, b, 1]);
        }
    }
    paths.push(vec![u32::MAX]);
    for parts in &paths {
        if let Some(part) = tree.part_at(parts) {
            let body = &raw[part.body_start as usize..part.body_end as usize];
            let _ = decode_part(part.encoding.as_deref(), body);
            let _ = binary_size(part.encoding.as_deref(), body);
        }
        for spec in &specs {
            let section = SectionPath {
                parts: parts.clone(),
                specifier: spec.clone(),
            };
            if let Some(r) = section_range(&tree, &section) {
                assert!(r.start <= r.end && r.end <= len, "{section:?} -> {r:?}");
                let b = section_bytes(&tree, raw, &section).expect("range inside");
                assert!(b.len() as u64 <= r.len());
                let p = r.partial(u64::from(raw.first().copied().unwrap_or(0)), 7);
                assert!(p.start >= r.start && p.end <= r.end);
            }
        }
    }
    let _ = header_fields(
        &raw[..summary.header_len as usize],
        &["subject", "to"],
        false,
    );
});
