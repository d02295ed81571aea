//! Property tests: round trips and byte-at-a-time splitting.
#![allow(clippy::unwrap_used)]

use pillarbox_pop3_proto::*;
use proptest::prelude::*;

/// What a client sees as the message: CRLF line ends, CRLF at the end.
fn normalise(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut prev = None;
    for &b in data {
        if b == b'\n' && prev != Some(b'\r') {
            out.push(b'\r');
        }
        out.push(b);
        prev = Some(b);
    }
    if !data.is_empty() && data.last() != Some(&b'\n') {
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn body_bytes() -> impl Strategy<Value = Vec<u8>> {
    // Bias towards the interesting octets.
    prop::collection::vec(
        prop_oneof![
            Just(b'.'),
            Just(b'\r'),
            Just(b'\n'),
            Just(b'a'),
            any::<u8>()
        ],
        0..200,
    )
}

fn render(c: &Command) -> String {
    match c {
        Command::User(u) => format!("USER {u}"),
        Command::Pass(p) => format!("PASS {p}"),
        Command::Apop => "APOP".into(),
        Command::Stat => "STAT".into(),
        Command::List(None) => "LIST".into(),
        Command::List(Some(n)) => format!("LIST {n}"),
        Command::Retr(n) => format!("RETR {n}"),
        Command::Dele(n) => format!("DELE {n}"),
        Command::Noop => "NOOP".into(),
        Command::Rset => "RSET".into(),
        Command::Quit => "QUIT".into(),
        Command::Top { msg, lines } => format!("TOP {msg} {lines}"),
        Command::Uidl(None) => "UIDL".into(),
        Command::Uidl(Some(n)) => format!("UIDL {n}"),
        Command::Capa => "CAPA".into(),
        Command::Stls => "STLS".into(),
        Command::Auth {
            mechanism,
            initial_response,
        } => {
            let mut s = "AUTH".to_string();
            for a in mechanism.iter().chain(initial_response.iter()) {
                s.push(' ');
                s.push_str(a);
            }
            s
        }
        Command::Utf8 => "UTF8".into(),
        Command::Lang(None) => "LANG".into(),
        Command::Lang(Some(l)) => format!("LANG {l}"),
    }
}

fn word() -> impl Strategy<Value = String> {
    "[!-~]{1,40}"
}

fn command() -> impl Strategy<Value = Command> {
    let n = any::<u32>().prop_map(MsgNum);
    prop_oneof![
        word().prop_map(Command::User),
        "[ -~]{1,60}".prop_map(Command::Pass),
        Just(Command::Stat),
        proptest::option::of(n.clone()).prop_map(Command::List),
        n.clone().prop_map(Command::Retr),
        n.clone().prop_map(Command::Dele),
        Just(Command::Noop),
        Just(Command::Rset),
        Just(Command::Quit),
        (n.clone(), any::<u32>()).prop_map(|(msg, lines)| Command::Top { msg, lines }),
        proptest::option::of(n).prop_map(Command::Uidl),
        Just(Command::Capa),
        Just(Command::Stls),
        (word(), proptest::option::of("[A-Za-z0-9+/=]{1,300}")).prop_map(|(m, ir)| {
            Command::Auth {
                mechanism: Some(m),
                initial_response: ir,
            }
        }),
        Just(Command::Utf8),
        proptest::option::of(word()).prop_map(Command::Lang),
    ]
}

proptest! {
    #[test]
    fn multiline_round_trip(data in body_bytes()) {
        let mut wire = Vec::new();
        encode_multiline_body(&data, &mut wire);
        prop_assert!(wire.ends_with(b"\r\n.\r\n") || wire == b".\r\n");
        let (body, used) = decode_multiline_body(&wire).unwrap();
        prop_assert_eq!(used, wire.len());
        let expected = normalise(&data);
        prop_assert_eq!(expected.len() as u64, normalized_len(&data));
        prop_assert_eq!(body, expected);
    }

    #[test]
    fn command_round_trip(c in command(), lower in any::<bool>()) {
        let mut line = render(&c);
        if lower {
            let (k, r) = line.split_at(4.min(line.len()));
            line = format!("{}{}", k.to_ascii_lowercase(), r);
        }
        prop_assert_eq!(Command::parse(line.as_bytes()), Ok(c));
    }

    #[test]
    fn parser_never_panics(line in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = Command::parse(&line);
    }

    #[test]
    fn line_reader_any_split(
        lines in prop::collection::vec("[ -~]{0,300}", 1..8),
        splits in prop::collection::vec(1usize..50, 1..20),
    ) {
        let mut input = Vec::new();
        for l in &lines {
            input.extend_from_slice(l.as_bytes());
            input.extend_from_slice(b"\r\n");
        }
        let collect = |chunks: &mut dyn Iterator<Item = usize>| {
            let mut r = LineReader::new();
            let mut buf: Vec<u8> = Vec::new();
            let mut events = Vec::new();
            let mut pos = 0;
            while pos < input.len() {
                let n = chunks.next().unwrap_or(input.len()).min(input.len() - pos);
                buf.extend_from_slice(&input[pos..pos + n]);
                pos += n;
                loop {
                    let (used, ev) = r.next(&buf, LineMode::Command);
                    let ev = ev.map(|e| match e {
                        LineEvent::Line(l) => Some(l.to_vec()),
                        LineEvent::TooLong => None,
                    });
                    buf.drain(..used);
                    match ev { Some(e) => events.push(e), None => break }
                }
            }
            events
        };
        let whole = collect(&mut std::iter::empty());
        let bytewise = collect(&mut std::iter::repeat(1));
        let split = collect(&mut splits.into_iter().cycle());
        prop_assert_eq!(&whole, &bytewise);
        prop_assert_eq!(&whole, &split);
        prop_assert_eq!(whole.len(), lines.len());
        for (l, e) in lines.iter().zip(&whole) {
            let auth = l.len() >= 5 && l[..5].eq_ignore_ascii_case("AUTH ");
            if l.len() + 2 <= MAX_COMMAND_LINE || auth {
                prop_assert_eq!(e.as_deref(), Some(l.as_bytes()));
            } else {
                prop_assert_eq!(e, &None);
            }
        }
    }

    #[test]
    fn response_is_one_bounded_line(text in any::<String>()) {
        let mut out = Vec::new();
        Response::err_code(RespCode::SysTemp, &text).encode(&mut out);
        prop_assert!(out.len() <= MAX_RESPONSE_LINE);
        prop_assert!(out.ends_with(b"\r\n"));
        prop_assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1);
        prop_assert!(std::str::from_utf8(&out).is_ok());
    }
}
