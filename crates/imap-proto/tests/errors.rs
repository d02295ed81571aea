//! Bad input gets a clear error (tag when known), never a panic, and the
//! parser resynchronises on the next command.

#![allow(clippy::unwrap_used)]

mod harness;

use harness::{Decide, Out, parse_one, parse_one_cfg, run_with};
use pillarbox_imap_proto::*;

fn err(input: &str) -> CommandError {
    match parse_one(format!("{input}\r\n").as_bytes()) {
        Ok(c) => panic!("{input:?} parsed as {c:?}"),
        Err(e) => e,
    }
}

#[test]
fn syntax_errors_are_bad_with_a_clear_reason() {
    let table: &[(&str, &str)] = &[
        ("a FOO", "unknown command"),
        ("a SORT (FOO) UTF-8 ALL", "sort key"),
        ("a SORT () UTF-8 ALL", "non-empty list"),
        ("a SORT (REVERSE) UTF-8 ALL", "expected SP"),
        ("a SORT (DATE) UTF-8", "search key"),
        ("a SORT DATE UTF-8 ALL", "expected ("),
        (
            "a SORT RETURN (PARTIAL) (DATE) UTF-8 ALL",
            "sort return option",
        ),
        ("a THREAD FOO UTF-8 ALL", "ORDEREDSUBJECT or REFERENCES"),
        ("a UID THREAD REFERENCES UTF-8", "search key"),
        ("a", "expected SP"),
        ("a NOOP extra", "expected end of line"),
        ("a NOOP ", "expected end of line"),
        ("a  NOOP", "atom"),
        ("a LOGIN onlyuser", "expected SP"),
        ("a LOGIN \"unterminated", "closing quote"),
        ("a LOGIN \"bad\\escape\" x", "quoted string"),
        ("a SELECT", "expected SP"),
        ("a SELECT &Jjo", "invalid mailbox name"),
        ("a SELECT INBOX (FOO)", "CONDSTORE or QRESYNC"),
        ("a SELECT INBOX (QRESYNC (0 1))", "non-zero number"),
        ("a SELECT INBOX (QRESYNC (1 2 1:*))", "without * or $"),
        ("a FETCH 0 FLAGS", "sequence set"),
        ("a FETCH 1: FLAGS", "sequence set"),
        ("a FETCH 1 (FLAGS", "expected SP"),
        ("a FETCH 1 ()", "non-empty list"),
        ("a FETCH 1 BODY[1.MIME", "expected ]"),
        ("a FETCH 1 BODY[MIME]", "section text"),
        ("a FETCH 1 BODY[]<0.0>", "non-zero number"),
        ("a FETCH 1 BODY[HEADER.FIELDS ()]", "non-empty list"),
        ("a FETCH 1 FLAGS (CHANGEDSINCE x)", "number"),
        ("a FETCH 1 NOSUCH", "fetch attribute"),
        ("a FETCH 4294967296 FLAGS", "sequence set"),
        ("a STORE 1 FLAGS.LOUD (\\Seen)", "FLAGS or FLAGS.SILENT"),
        ("a STORE 1 +FLAGS (\\)", "flag"),
        ("a SEARCH", "expected SP"),
        ("a SEARCH FROG", "search key"),
        ("a SEARCH SINCE 31-Feb-2020", "valid date"),
        ("a SEARCH SINCE 1-Feb-94", "digits"),
        ("a SEARCH OR SEEN", "expected SP"),
        ("a SEARCH RETURN (BEST) ALL", "search return option"),
        ("a SEARCH EMAILID a.b", "object id"),
        ("a SEARCH HEADER \"Bad Name\" x", "header field name"),
        ("a SEARCH MODSEQ \"/flag/x\" all 1", "/flags/"),
        ("a LIST (BOGUS) \"\" *", "list selection option"),
        ("a LIST (RECURSIVEMATCH) \"\" *", "RECURSIVEMATCH"),
        ("a LIST \"\" * RETURN (NOPE)", "list return option"),
        ("a STATUS INBOX ()", "non-empty list"),
        ("a STATUS INBOX (SIZES)", "status item"),
        ("a CREATE x (USE (Drafts))", "special-use"),
        ("a ENABLE", "capability"),
        ("a AUTHENTICATE PLAIN ***", "base64"),
        ("a AUTHENTICATE PLAIN AGJvYgBzZWNyZXQ", "invalid base64"),
        ("a UID FROB 1", "UID command"),
        ("a APPEND INBOX", "APPEND message literal"),
        ("a ID (\"k\")", "expected SP"),
    ];
    for (input, needle) in table {
        let e = err(input);
        assert_eq!(e.tag, Tag::new("a"), "{input:?}");
        assert_eq!(e.status(), StatusKind::Bad);
        let msg = e.to_string();
        assert!(msg.contains(needle), "{input:?}: {msg:?} lacks {needle:?}");
    }
}

#[test]
fn missing_or_bad_tag_is_untagged() {
    for input in ["", " NOOP", "+a NOOP", "a+b NOOP", "(a NOOP", "\"a\" NOOP"] {
        let line = format!("{input}\r\n");
        let out = run_with(line.as_bytes(), ParserConfig::default(), 0, Decide::Accept);
        if input.is_empty() {
            assert!(out.is_empty());
            continue;
        }
        let [Out::Error(e)] = out.as_slice() else {
            panic!("{input:?}: {out:?}")
        };
        assert_eq!(e.tag, None, "{input:?}");
        assert_eq!(e.error, ParseError::InvalidTag);
    }
}

#[test]
fn eight_bit_outside_literals_is_refused() {
    assert_eq!(err("a LOGIN \"\u{e9}\" x").error, ParseError::EightBit);
    let e = err("a SELECT \u{e9}t\u{e9}");
    assert!(e.to_string().contains("expected"), "{e}");
    // Invalid UTF-8 is refused even with UTF8=ACCEPT.
    let cfg = ParserConfig {
        utf8: true,
        ..ParserConfig::default()
    };
    assert!(parse_one_cfg(b"a LOGIN \"\xff\" x\r\n", cfg).is_err());
}

#[test]
fn nul_is_refused_everywhere() {
    assert!(parse_one(b"a LOGIN \"a\0\" x\r\n").is_err());
    assert!(parse_one(b"a LOGIN {2}\r\na\0 x\r\n").is_err());
    assert!(parse_one(b"a\0 NOOP\r\n").is_err());
}

#[test]
fn nesting_is_bounded() {
    let deep = format!("a SEARCH {}ALL{}\r\n", "(".repeat(5000), ")".repeat(5000));
    assert_eq!(
        parse_one(deep.as_bytes()).unwrap_err().error,
        ParseError::TooDeep
    );
    let nots = format!("a SEARCH {}ALL\r\n", "NOT ".repeat(5000));
    assert_eq!(
        parse_one(nots.as_bytes()).unwrap_err().error,
        ParseError::TooDeep
    );
    let ors = format!("a SEARCH {}ALL{}\r\n", "OR ALL ".repeat(5000), "");
    assert_eq!(
        parse_one(ors.as_bytes()).unwrap_err().error,
        ParseError::TooDeep
    );
    let parts = format!("a FETCH 1 BODY[{}1]\r\n", "1.".repeat(100));
    assert_eq!(
        parse_one(parts.as_bytes()).unwrap_err().error,
        ParseError::TooDeep
    );
    // 31 levels is fine with the default bound of 32.
    let ok = format!("a SEARCH {}ALL{}\r\n", "(".repeat(31), ")".repeat(31));
    assert!(parse_one(ok.as_bytes()).is_ok());
}

#[test]
fn long_line_is_refused_and_skipped() {
    let cfg = ParserConfig {
        max_line: 100,
        ..ParserConfig::default()
    };
    let mut input = b"t1 SEARCH TEXT ".to_vec();
    input.extend(std::iter::repeat_n(b'x', 500));
    input.extend_from_slice(b" {5+}\r\nab\r\nc FLAGGED\r\nt2 NOOP\r\n");
    for chunk in [0, 1, 13] {
        let out = run_with(&input, cfg.clone(), chunk, Decide::Accept);
        assert_eq!(out.len(), 2, "{out:?}");
        let Out::Error(e) = &out[0] else { panic!() };
        assert_eq!(e.error, ParseError::LineTooLong);
        assert_eq!(e.tag, Tag::new("t1"));
        assert_eq!(e.code(), Some(Code::TooBig));
        assert!(matches!(&out[1], Out::Event(Event::Command(c)) if c.tag.as_str() == "t2"));
    }
}

#[test]
fn literal_limits() {
    let cfg = ParserConfig {
        max_literal: 10,
        max_command: 30,
        ..ParserConfig::default()
    };
    // Synchronizing: refused before the client sends anything.
    let out = run_with(
        b"a LOGIN {11}\r\nb NOOP\r\n",
        cfg.clone(),
        0,
        Decide::Accept,
    );
    let Out::Error(e) = &out[0] else { panic!() };
    assert_eq!(e.error, ParseError::LiteralTooLarge);
    assert!(matches!(&out[1], Out::Event(Event::Command(_))));
    // Non-synchronizing: the octets are skipped.
    let out = run_with(
        b"a LOGIN {11+}\r\n01234567890 x\r\nb NOOP\r\n",
        cfg.clone(),
        1,
        Decide::Accept,
    );
    assert_eq!(out.len(), 2, "{out:?}");
    // Many small literals hit the command bound.
    let out = run_with(
        b"a ID ({10+}\r\n0123456789 {10+}\r\n0123456789 {10+}\r\n0123456789 NIL)\r\nb NOOP\r\n",
        cfg.clone(),
        0,
        Decide::Accept,
    );
    let Out::Error(e) = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(e.error, ParseError::CommandTooLong);
    assert!(matches!(out.last(), Some(Out::Event(Event::Command(c))) if c.tag.as_str() == "b"));
    // A size that does not fit in 64 bits.
    let out = run_with(
        b"a LOGIN {99999999999999999999999}\r\nb NOOP\r\n",
        cfg,
        0,
        Decide::Accept,
    );
    assert!(matches!(&out[0], Out::Error(e) if e.error == ParseError::LiteralTooLarge));
}

#[test]
fn errors_never_echo_client_data() {
    let e = err("a LOGIN \"secret-password");
    assert!(!e.to_string().contains("secret"));
    let e = err("a XSECRETCOMMAND");
    assert!(!e.to_string().contains("SECRET"));
}
