//! Known-answer tests: every `tests/corpus/NAME.eml` has a `NAME.expected`
//! file with its ENVELOPE, BODY and BODYSTRUCTURE in IMAP wire form, one per
//! line (`KEY value`), checked by hand against RFC 9051 §7.5.2. CR, LF,
//! backslash and octets outside printable ASCII are escaped (`\r`, `\n`,
//! `\\`, `\xNN`). `ENVELOPE-UTF8` / `BODYSTRUCTURE-UTF8` lines give the
//! form for a UTF-8 session when it differs.
//!
//! `BLESS=1 cargo test -p pillarbox-message --test corpus` rewrites the
//! expected files from the current output (review the diff by hand).

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use pillarbox_message::summary::summarize;
use pillarbox_message::{write_body, write_envelope};

fn escape(bytes: &[u8]) -> String {
    let mut s = String::new();
    for &b in bytes {
        match b {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s
}

fn outputs(raw: &[u8]) -> BTreeMap<&'static str, String> {
    let summary = summarize(raw);
    let mut m = BTreeMap::new();
    for (key, utf8) in [("", false), ("-UTF8", true)] {
        let mut env = Vec::new();
        write_envelope(&mut env, &summary.envelope, utf8);
        let mut body = Vec::new();
        write_body(&mut body, &summary.mime, false, utf8);
        let mut bs = Vec::new();
        write_body(&mut bs, &summary.mime, true, utf8);
        let k = |base: &'static str| -> &'static str {
            match (base, key) {
                ("ENVELOPE", "") => "ENVELOPE",
                ("ENVELOPE", _) => "ENVELOPE-UTF8",
                ("BODY", "") => "BODY",
                ("BODY", _) => "BODY-UTF8",
                ("BODYSTRUCTURE", "") => "BODYSTRUCTURE",
                _ => "BODYSTRUCTURE-UTF8",
            }
        };
        m.insert(k("ENVELOPE"), escape(&env));
        m.insert(k("BODY"), escape(&body));
        m.insert(k("BODYSTRUCTURE"), escape(&bs));
    }
    // UTF-8 forms are recorded only when they differ.
    for base in ["ENVELOPE", "BODY", "BODYSTRUCTURE"] {
        let utf8 = format!("{base}-UTF8");
        if m.get(utf8.as_str()) == m.get(base) {
            m.retain(|k, _| *k != utf8);
        }
    }
    m
}

#[test]
fn corpus_matches_expected_wire_forms() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let bless = std::env::var_os("BLESS").is_some();
    let mut names: Vec<_> = fs::read_dir(&dir)
        .expect("corpus dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    names.sort();
    assert!(names.len() >= 12, "corpus is missing");
    let mut failures = Vec::new();
    for eml in names {
        let raw = fs::read(&eml).expect("read eml");
        let got = outputs(&raw);
        let expected_path = eml.with_extension("expected");
        let rendered: String = got.iter().map(|(k, v)| format!("{k} {v}\n")).collect();
        if bless {
            fs::write(&expected_path, &rendered).expect("write expected");
            continue;
        }
        let expected = fs::read_to_string(&expected_path).unwrap_or_default();
        if expected != rendered {
            failures.push(format!(
                "{}:\n--- expected\n{expected}--- got\n{rendered}",
                eml.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
