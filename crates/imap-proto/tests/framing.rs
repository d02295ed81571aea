//! Streaming behaviour: literals of every kind, APPEND streaming,
//! continuation decisions, IDLE/AUTHENTICATE lines, pipelining, and
//! byte-at-a-time equivalence.

#![allow(clippy::unwrap_used)]

mod harness;

use bytes::BytesMut;
use harness::{Decide, Out, run, run_with};
use pillarbox_imap_proto::*;

fn tag(s: &str) -> Tag {
    Tag::new(s).unwrap()
}

fn all_splits_agree(input: &[u8], cfg: ParserConfig) -> Vec<Out> {
    let whole = run_with(input, cfg.clone(), 0, Decide::Accept);
    for chunk in [1, 2, 3, 7, 64] {
        assert_eq!(
            run_with(input, cfg.clone(), chunk, Decide::Accept),
            whole,
            "chunk {chunk} differs"
        );
    }
    whole
}

#[test]
fn synchronizing_literal_waits_for_accept() {
    let mut p = CommandParser::default();
    let mut buf = BytesMut::from(&b"a1 LOGIN {5}\r\n"[..]);
    let ev = p.feed(&mut buf).unwrap().unwrap();
    assert_eq!(
        ev,
        Event::LiteralRequest(LiteralRequest {
            tag: tag("a1"),
            size: 5
        })
    );
    assert!(ev.awaits_continuation());
    assert!(p.awaiting_continuation());
    // Data that arrives before the decision is not consumed.
    buf.extend_from_slice(b"alice \"pw\"\r\n");
    assert_eq!(p.feed(&mut buf).unwrap(), None);
    assert_eq!(buf.len(), 12);
    p.accept_literal();
    let ev = p.feed(&mut buf).unwrap().unwrap();
    assert_eq!(
        ev,
        Event::Command(Command {
            tag: tag("a1"),
            kind: CommandKind::Login {
                username: b"alice".to_vec(),
                password: b"pw".to_vec()
            }
        })
    );
    assert!(buf.is_empty());
}

#[test]
fn rejected_literal_drops_the_command() {
    let out = run_with(
        b"a1 LOGIN {5}\r\na2 NOOP\r\n",
        ParserConfig::default(),
        0,
        Decide::Reject,
    );
    assert_eq!(out.len(), 2);
    assert!(matches!(&out[0], Out::Event(Event::LiteralRequest(_))));
    assert!(matches!(&out[1], Out::Event(Event::Command(c)) if c.kind == CommandKind::Noop));
}

#[test]
fn non_synchronizing_literals_need_no_decision() {
    let out = all_splits_agree(
        b"a1 LOGIN {5+}\r\nalice {3+}\r\nx y\r\n",
        ParserConfig::default(),
    );
    assert_eq!(
        out,
        vec![Out::Event(Event::Command(Command {
            tag: tag("a1"),
            kind: CommandKind::Login {
                username: b"alice".to_vec(),
                password: b"x y".to_vec()
            }
        }))]
    );
}

#[test]
fn literal_minus_limits_non_sync_literals() {
    let cfg = ParserConfig {
        literal_plus: false,
        ..ParserConfig::default()
    };
    let mut input = b"a1 LOGIN {4097+}\r\n".to_vec();
    input.extend(std::iter::repeat_n(b'x', 4097));
    input.extend_from_slice(b" pw\r\na2 NOOP\r\n");
    let out = all_splits_agree(&input, cfg.clone());
    assert_eq!(out.len(), 2, "{out:?}");
    let Out::Error(e) = &out[0] else { panic!() };
    assert_eq!(e.error, ParseError::NonSyncLiteralTooLarge);
    assert_eq!(e.tag, Some(tag("a1")));
    assert_eq!(e.code(), Some(Code::TooBig));
    assert!(matches!(&out[1], Out::Event(Event::Command(c)) if c.tag == tag("a2")));
    // 4096 is fine.
    let mut ok = b"a1 LOGIN {4096+}\r\n".to_vec();
    ok.extend(std::iter::repeat_n(b'x', 4096));
    ok.extend_from_slice(b" pw\r\n");
    assert!(matches!(
        &run_with(&ok, cfg, 0, Decide::Accept)[0],
        Out::Event(Event::Command(_))
    ));
}

#[test]
fn zero_length_literal() {
    let out = all_splits_agree(b"a LOGIN {0}\r\n {0+}\r\n\r\n", ParserConfig::default());
    assert!(matches!(&out[1], Out::Event(Event::Command(c))
        if c.kind == CommandKind::Login { username: vec![], password: vec![] }));
}

#[test]
fn literal_containing_crlf_and_braces() {
    let out = all_splits_agree(
        b"a SEARCH TEXT {9+}\r\nx\r\n{3}\r\ny SEEN\r\n",
        ParserConfig::default(),
    );
    let Out::Event(Event::Command(c)) = &out[0] else {
        panic!("{out:?}")
    };
    let CommandKind::Search(s) = &c.kind else {
        panic!()
    };
    assert_eq!(
        s.criteria,
        vec![SearchKey::Text(b"x\r\n{3}\r\ny".to_vec()), SearchKey::Seen]
    );
}

#[test]
fn append_streams_message_data() {
    let msg = b"Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\nFrom: Fred Foobar <foobar@Blurdybloop.example>\r\nSubject: afternoon meeting\r\n\r\nHello Joe, do you think we can meet at 3:30 tomorrow?\r\n";
    let mut input = format!(
        "A003 APPEND saved-messages (\\Seen) \"07-Feb-1994 21:52:25 -0800\" {{{}}}\r\n",
        msg.len()
    )
    .into_bytes();
    input.extend_from_slice(msg);
    input.extend_from_slice(b"\r\nA004 NOOP\r\n");
    let out = all_splits_agree(&input, ParserConfig::default());
    assert_eq!(out.len(), 4, "{out:?}");
    let Out::Event(Event::AppendMessage(m)) = &out[0] else {
        panic!()
    };
    assert_eq!(m.tag, tag("A003"));
    assert_eq!(m.mailbox, Mailbox::new("saved-messages"));
    assert_eq!(m.flags, vec![Flag::Seen]);
    assert_eq!(m.date, DateTime::parse("07-Feb-1994 21:52:25 -0800"));
    assert_eq!(m.size, msg.len() as u64);
    assert!(m.sync && !m.binary && !m.utf8);
    assert_eq!(m.index, 0);
    assert_eq!(out[1], Out::Data(msg.to_vec()));
    assert_eq!(out[2], Out::Event(Event::AppendDone { tag: tag("A003") }));
    assert!(matches!(&out[3], Out::Event(Event::Command(c)) if c.kind == CommandKind::Noop));
}

#[test]
fn append_data_is_chunked_not_buffered() {
    // A message much larger than every buffered-literal limit streams fine.
    let cfg = ParserConfig {
        max_literal: 16,
        max_command: 64,
        max_line: 64,
        ..ParserConfig::default()
    };
    let body = vec![b'z'; 100_000];
    let mut p = CommandParser::new(cfg);
    let mut buf = BytesMut::from(&b"t APPEND INBOX {100000+}\r\n"[..]);
    let Some(Event::AppendMessage(m)) = p.feed(&mut buf).unwrap() else {
        panic!()
    };
    assert_eq!(m.size, 100_000);
    let mut got = 0;
    for chunk in body.chunks(4096) {
        buf.extend_from_slice(chunk);
        while let Some(ev) = p.feed(&mut buf).unwrap() {
            let Event::AppendData(d) = ev else {
                panic!("{ev:?}")
            };
            assert!(d.len() <= 4096);
            got += d.len();
        }
    }
    assert_eq!(got, 100_000);
    buf.extend_from_slice(b"\r\n");
    assert_eq!(
        p.feed(&mut buf).unwrap(),
        Some(Event::AppendDone { tag: tag("t") })
    );
}

#[test]
fn multiappend_and_mailbox_literal() {
    let input = b"A1 APPEND {4+}\r\nWork (\\Seen) {3+}\r\nabc {2+}\r\nde ~{2+}\r\nf\0 UTF8 (~{1+}\r\ng)\r\n";
    let out = all_splits_agree(input, ParserConfig::default());
    let mut msgs = Vec::new();
    let mut datas = Vec::new();
    for o in &out {
        match o {
            Out::Event(Event::AppendMessage(m)) => msgs.push(m.clone()),
            Out::Data(d) => datas.push(d.clone()),
            _ => {}
        }
    }
    assert_eq!(msgs.len(), 4, "{out:?}");
    assert!(
        msgs.iter()
            .all(|m| m.mailbox == Mailbox::new("Work") && !m.sync)
    );
    assert_eq!(
        msgs.iter().map(|m| m.index).collect::<Vec<_>>(),
        vec![0, 1, 2, 3]
    );
    assert_eq!(msgs[0].flags, vec![Flag::Seen]);
    assert!(msgs[1].flags.is_empty());
    assert!(msgs[2].binary && !msgs[2].utf8);
    assert!(msgs[3].binary && msgs[3].utf8);
    assert_eq!(
        datas,
        vec![
            b"abc".to_vec(),
            b"de".to_vec(),
            b"f\0".to_vec(),
            b"g".to_vec()
        ]
    );
    assert_eq!(
        out.last(),
        Some(&Out::Event(Event::AppendDone { tag: tag("A1") }))
    );
}

#[test]
fn append_sync_waits_and_can_be_refused() {
    let mut p = CommandParser::default();
    let mut buf = BytesMut::from(&b"A APPEND INBOX {10}\r\n"[..]);
    let ev = p.feed(&mut buf).unwrap().unwrap();
    assert!(ev.awaits_continuation());
    // e.g. over quota: NO [OVERQUOTA]; the client sends no data.
    p.reject_literal();
    buf.extend_from_slice(b"B NOOP\r\n");
    assert!(matches!(p.feed(&mut buf).unwrap(), Some(Event::Command(c)) if c.tag == tag("B")));
}

#[test]
fn append_over_limit_is_no_toobig() {
    let cfg = ParserConfig {
        max_append: 10,
        ..ParserConfig::default()
    };
    let out = all_splits_agree(b"A APPEND INBOX {11}\r\nB NOOP\r\n", cfg.clone());
    let Out::Error(e) = &out[0] else { panic!() };
    assert_eq!(e.error, ParseError::MessageTooLarge);
    assert_eq!(e.status(), StatusKind::No);
    assert_eq!(e.code(), Some(Code::TooBig));
    assert!(matches!(&out[1], Out::Event(Event::Command(_))));
    // Non-synchronizing: the data is skipped, not buffered.
    let out = all_splits_agree(b"A APPEND INBOX {11+}\r\n01234567890\r\nB NOOP\r\n", cfg);
    assert_eq!(out.len(), 2, "{out:?}");
    assert!(matches!(&out[1], Out::Event(Event::Command(c)) if c.tag == tag("B")));
}

#[test]
fn append_syntax_errors() {
    for (input, needle) in [
        (
            &b"A APPEND INBOX (\\Seen {3+}\r\nabc\r\nB NOOP\r\n"[..],
            "flag",
        ),
        (
            b"A APPEND INBOX \"31-Feb-2020 00:00:00 +0000\" {3+}\r\nabc\r\nB NOOP\r\n",
            "date",
        ),
        (
            b"A APPEND INBOX UTF8 ({3+}\r\nabc)\r\nB NOOP\r\n",
            "literal8",
        ),
        (b"A APPEND INBOX {1+}\r\nx junk\r\nB NOOP\r\n", "literal"),
        (b"A APPEND INBOX UTF8 (~{1+}\r\nx\r\nB NOOP\r\n", ")"),
    ] {
        let out = all_splits_agree(input, ParserConfig::default());
        let errs: Vec<_> = out
            .iter()
            .filter_map(|o| match o {
                Out::Error(e) => Some(e.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(errs.len(), 1, "{out:?}");
        assert_eq!(errs[0].tag, Some(tag("A")));
        assert!(
            errs[0].to_string().contains(needle),
            "{} / {needle}",
            errs[0]
        );
        assert!(
            matches!(out.last(), Some(Out::Event(Event::Command(c))) if c.tag == tag("B")),
            "{input:?}: {out:?}"
        );
    }
}

#[test]
fn literal8_outside_append_is_refused() {
    let out = all_splits_agree(
        b"a LOGIN ~{3+}\r\nabc x\r\nb NOOP\r\n",
        ParserConfig::default(),
    );
    let Out::Error(e) = &out[0] else { panic!() };
    assert_eq!(e.error, ParseError::UnexpectedLiteral8);
    assert_eq!(out.len(), 2);
}

#[test]
fn idle_and_done() {
    let out = all_splits_agree(
        b"a IDLE\r\ndone\r\nb IDLE\r\nnope\r\nc NOOP\r\n",
        ParserConfig::default(),
    );
    assert!(matches!(&out[0], Out::Event(Event::Command(c)) if c.kind == CommandKind::Idle));
    assert_eq!(out[1], Out::Event(Event::IdleDone));
    let Out::Error(e) = &out[3] else {
        panic!("{out:?}")
    };
    assert_eq!(e.error, ParseError::ExpectedDone);
    assert!(matches!(&out[4], Out::Event(Event::Command(c)) if c.kind == CommandKind::Noop));
}

#[test]
fn authenticate_responses() {
    let mut p = CommandParser::default();
    let mut buf = BytesMut::from(&b"a AUTHENTICATE PLAIN\r\nAGJvYgBzZWNyZXQ=\r\n"[..]);
    assert!(matches!(p.feed(&mut buf).unwrap(), Some(Event::Command(_))));
    p.expect_auth_response();
    assert_eq!(
        p.feed(&mut buf).unwrap(),
        Some(Event::AuthenticateData(b"\0bob\0secret".to_vec()))
    );
    buf.extend_from_slice(b"*\r\n\r\n!!\r\n");
    p.expect_auth_response();
    assert_eq!(p.feed(&mut buf).unwrap(), Some(Event::AuthenticateCancel));
    p.expect_auth_response();
    assert_eq!(
        p.feed(&mut buf).unwrap(),
        Some(Event::AuthenticateData(vec![]))
    );
    p.expect_auth_response();
    assert_eq!(
        p.feed(&mut buf).unwrap_err().error,
        ParseError::InvalidBase64
    );
}

#[test]
fn pipelined_commands_and_bare_lf() {
    let out = all_splits_agree(
        b"a NOOP\r\n\r\nb CHECK\nc LOGOUT\r\n",
        ParserConfig::default(),
    );
    let tags: Vec<_> = out
        .iter()
        .map(|o| match o {
            Out::Event(Event::Command(c)) => c.tag.as_str().to_string(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(tags, vec!["a", "b", "c"]);
}

#[test]
fn feed_leaves_following_commands_in_the_buffer() {
    let mut p = CommandParser::default();
    let mut buf = BytesMut::from(&b"a NOOP\r\nb NOOP\r\n"[..]);
    assert!(p.feed(&mut buf).unwrap().is_some());
    assert_eq!(&buf[..], b"b NOOP\r\n");
}

#[test]
fn utf8_can_be_switched_on_after_enable() {
    let mut p = CommandParser::default();
    let mut buf = BytesMut::from("a ENABLE UTF8=ACCEPT\r\nb SELECT \"\u{c5}r\"\r\n".as_bytes());
    assert!(matches!(p.feed(&mut buf).unwrap(), Some(Event::Command(_))));
    p.set_utf8(true);
    let Some(Event::Command(c)) = p.feed(&mut buf).unwrap() else {
        panic!()
    };
    assert_eq!(
        c.kind,
        CommandKind::Select {
            mailbox: Mailbox::new("\u{c5}r"),
            params: SelectParams::default()
        }
    );
}

#[test]
fn whole_session_is_split_independent() {
    let input: &[u8] = b"1 CAPABILITY\r\n2 LOGIN {5}\r\nalice {6+}\r\nsecret\r\n3 SELECT INBOX (CONDSTORE)\r\n4 UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From)]) (CHANGEDSINCE 1)\r\n5 APPEND Sent (\\Seen) {5}\r\nhello UTF8 (~{2}\r\nhi)\r\n6 IDLE\r\nDONE\r\n7 bad command\r\n8 SEARCH OR (FROM {3}\r\nbob) NOT SEEN\r\n9 LOGOUT\r\n";
    let out = all_splits_agree(input, ParserConfig::default());
    assert_eq!(out.iter().filter(|o| matches!(o, Out::Error(_))).count(), 1);
    assert!(
        matches!(out.last(), Some(Out::Event(Event::Command(c))) if c.kind == CommandKind::Logout)
    );
}

#[test]
fn run_helper_handles_empty_input() {
    assert!(run(b"").is_empty());
}

#[test]
fn append_mailbox_as_sync_literal_then_second_message_too_big() {
    let cfg = ParserConfig {
        max_append: 5,
        ..ParserConfig::default()
    };
    let input = b"A APPEND {4}\r\nWork {3}\r\nabc {6}\r\nB NOOP\r\n";
    let out = all_splits_agree(input, cfg);
    assert!(
        matches!(&out[0], Out::Event(Event::LiteralRequest(r)) if r.size == 4),
        "{out:?}"
    );
    assert!(
        matches!(&out[1], Out::Event(Event::AppendMessage(m)) if m.mailbox == Mailbox::new("Work") && m.sync)
    );
    assert_eq!(out[2], Out::Data(b"abc".to_vec()));
    // MULTIAPPEND is all-or-nothing (RFC 3502): the server discards the
    // first message when the command fails.
    let Out::Error(e) = &out[3] else {
        panic!("{out:?}")
    };
    assert_eq!(e.error, ParseError::MessageTooLarge);
    assert_eq!(e.tag, Some(tag("A")));
    assert!(matches!(&out[4], Out::Event(Event::Command(c)) if c.tag == tag("B")));
}
