//! POP3 command input: line framing of arbitrary bytes in arbitrary
//! splits, command parsing, and the response encoders.
//!
//! Input: `[split_seed, bytes...]`. Checks: no panic; the same lines
//! whether the input arrives whole or split; the unconsumed buffer never
//! exceeds the longest allowed line; every parsed command is found again
//! when its line is parsed twice (parsing is a function); single-line
//! responses stay one bounded line; multi-line bodies round-trip.

#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use pillarbox_pop3_proto::{
    Command, LineEvent, LineMode, LineReader, MAX_AUTH_LINE, MAX_RESPONSE_LINE, Response,
    decode_multiline_body, encode_multiline_body, normalized_len, top_part,
};

#[derive(Debug, PartialEq)]
enum Out {
    Line(Vec<u8>),
    TooLong,
}

fn frame(pieces: &[&[u8]]) -> Vec<Out> {
    let mut reader = LineReader::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    let mut mode = LineMode::Command;
    for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            let (used, ev) = reader.next(&buf, mode);
            let ev = ev.map(|e| match e {
                LineEvent::Line(l) => Out::Line(l.to_vec()),
                LineEvent::TooLong => Out::TooLong,
            });
            assert!(used <= buf.len());
            buf.drain(..used);
            match ev {
                Some(Out::Line(l)) => {
                    // Like the session: after AUTH, SASL response lines
                    // until one that is not base64-looking.
                    mode = match Command::parse(&l) {
                        Ok(Command::Auth { .. }) => LineMode::Sasl,
                        Ok(_) => LineMode::Command,
                        Err(_) if mode == LineMode::Sasl && l != b"*" => LineMode::Sasl,
                        Err(_) => LineMode::Command,
                    };
                    out.push(Out::Line(l));
                }
                Some(e) => out.push(e),
                None => break,
            }
        }
        assert!(
            buf.len() <= MAX_AUTH_LINE,
            "{} octets left buffered",
            buf.len()
        );
    }
    out
}

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

fuzz_target!(|data: &[u8]| {
    let [seed, input @ ..] = data else {
        return;
    };
    let whole = frame(&[input]);
    let split = frame(&common::chunks(input, *seed));
    assert_eq!(whole, split, "split feeding changed the lines");
    for o in &whole {
        if let Out::Line(l) = o {
            assert_eq!(Command::parse(l), Command::parse(l));
        }
    }

    let text = String::from_utf8_lossy(input);
    let mut line = Vec::new();
    Response::err(&text).encode(&mut line);
    assert!(line.len() <= MAX_RESPONSE_LINE);
    assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
    assert!(line.ends_with(b"\r\n"));

    let mut wire = Vec::new();
    encode_multiline_body(input, &mut wire);
    let (body, used) = decode_multiline_body(&wire).expect("terminated");
    assert_eq!(used, wire.len());
    let expected = normalise(input);
    assert_eq!(normalized_len(input), expected.len() as u64);
    // Lone CRs make the CRLF split ambiguous; the round trip is exact for
    // the data POP3 serves (no CR outside CRLF).
    let lone_cr = input
        .iter()
        .enumerate()
        .any(|(i, &b)| b == b'\r' && input.get(i + 1) != Some(&b'\n'));
    if !lone_cr {
        assert_eq!(body, expected);
    }
    let top = top_part(input, u32::from(*seed));
    assert!(input.starts_with(top));
});
