//! Drives a `CommandParser` over test input and records what it produced.

#![allow(dead_code)]

pub mod strategies;

use bytes::BytesMut;
use pillarbox_imap_proto::{Command, CommandError, CommandParser, Event, ParserConfig};

/// One observable outcome; consecutive APPEND chunks are joined, so the
/// record is independent of how the input was split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Out {
    Event(Event),
    Data(Vec<u8>),
    Error(CommandError),
}

/// What the driver does after an event that awaits a continuation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decide {
    Accept,
    Reject,
}

fn push(out: &mut Vec<Out>, o: Out) {
    if let (Out::Data(new), Some(Out::Data(prev))) = (&o, out.last_mut()) {
        prev.extend_from_slice(new);
        return;
    }
    out.push(o);
}

/// Feed `input` in chunks of `chunk` octets (0 = all at once).
pub fn run_with(input: &[u8], cfg: ParserConfig, chunk: usize, decide: Decide) -> Vec<Out> {
    let mut p = CommandParser::new(cfg);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let step = if chunk == 0 {
        input.len().max(1)
    } else {
        chunk
    };
    let mut guard = 0usize;
    for piece in input.chunks(step) {
        buf.extend_from_slice(piece);
        loop {
            guard += 1;
            assert!(guard < 10_000_000, "parser does not make progress");
            match p.feed(&mut buf) {
                Ok(Some(ev)) => {
                    let waits = ev.awaits_continuation();
                    match ev {
                        Event::AppendData(d) => push(&mut out, Out::Data(d.to_vec())),
                        Event::Command(c) => {
                            let idle = matches!(c.kind, pillarbox_imap_proto::CommandKind::Idle);
                            let auth = matches!(
                                c.kind,
                                pillarbox_imap_proto::CommandKind::Authenticate { .. }
                            );
                            out.push(Out::Event(Event::Command(c)));
                            if idle {
                                p.expect_idle_done();
                            }
                            if auth {
                                p.expect_auth_response();
                            }
                        }
                        other => out.push(Out::Event(other)),
                    }
                    if waits {
                        match decide {
                            Decide::Accept => p.accept_literal(),
                            Decide::Reject => p.reject_literal(),
                        }
                    }
                }
                Ok(None) => break,
                Err(e) => out.push(Out::Error(e)),
            }
        }
    }
    out
}

pub fn run(input: &[u8]) -> Vec<Out> {
    run_with(input, ParserConfig::default(), 0, Decide::Accept)
}

/// Parse one command through the streaming parser, checking that
/// byte-at-a-time feeding agrees.
pub fn parse_one(input: &[u8]) -> Result<Command, CommandError> {
    parse_one_cfg(input, ParserConfig::default())
}

pub fn parse_one_cfg(input: &[u8], cfg: ParserConfig) -> Result<Command, CommandError> {
    let whole = run_with(input, cfg.clone(), 0, Decide::Accept);
    let bytewise = run_with(input, cfg, 1, Decide::Accept);
    assert_eq!(whole, bytewise, "split feeding differs for {input:?}");
    let mut result = None;
    for o in whole {
        match o {
            Out::Event(Event::Command(c)) => result = Some(Ok(c)),
            Out::Error(e) => result = Some(Err(e)),
            _ => {}
        }
    }
    result.unwrap_or_else(|| panic!("no command from {:?}", String::from_utf8_lossy(input)))
}
