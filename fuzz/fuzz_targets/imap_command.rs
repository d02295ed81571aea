//! The IMAP command parser fed arbitrary bytes in arbitrary splits.
//!
//! Input: `[flags, split_seed, bytes...]`. Checks: no panic; the events
//! are the same whether the input arrives whole or split (APPEND data
//! joined); every parsed command re-encodes to bytes that parse back to
//! the same command.

#![no_main]

mod common;

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use pillarbox_imap_proto::{
    CommandEncodeOptions, CommandError, CommandKind, CommandParser, Event, ParserConfig,
};

#[derive(Debug, PartialEq)]
enum Out {
    Event(Event),
    Data(Vec<u8>),
    Error(CommandError),
}

#[derive(Clone, Copy)]
enum Decide {
    Accept,
    Reject,
    Alternate,
}

fn config(flags: u8) -> ParserConfig {
    let mut cfg = if flags & 0x10 != 0 {
        // Small limits, so the limit paths are reached often.
        ParserConfig {
            max_line: 200,
            max_literal: 64,
            max_command: 1024,
            max_append: 300,
            max_depth: 6,
            ..ParserConfig::default()
        }
    } else {
        ParserConfig::default()
    };
    cfg.utf8 = flags & 1 != 0;
    cfg.literal_plus = flags & 2 != 0;
    cfg
}

fn run(cfg: ParserConfig, pieces: &[&[u8]], decide: Decide) -> Vec<Out> {
    let mut p = CommandParser::new(cfg);
    let mut buf = BytesMut::new();
    let mut out: Vec<Out> = Vec::new();
    let mut decisions = 0usize;
    for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            match p.feed(&mut buf) {
                Ok(Some(ev)) => {
                    let waits = ev.awaits_continuation();
                    match ev {
                        Event::AppendData(d) => match out.last_mut() {
                            Some(Out::Data(prev)) => prev.extend_from_slice(&d),
                            _ => out.push(Out::Data(d.to_vec())),
                        },
                        Event::Command(c) => {
                            let idle = matches!(c.kind, CommandKind::Idle);
                            let auth = matches!(c.kind, CommandKind::Authenticate { .. });
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
                        decisions += 1;
                        let accept = match decide {
                            Decide::Accept => true,
                            Decide::Reject => false,
                            Decide::Alternate => decisions % 2 == 1,
                        };
                        if accept {
                            p.accept_literal();
                        } else {
                            p.reject_literal();
                        }
                    }
                }
                Ok(None) => break,
                Err(e) => out.push(Out::Error(e)),
            }
        }
        // While no decision is pending, everything fed is consumed.
        assert!(
            p.awaiting_continuation() || buf.is_empty(),
            "parser left {} octets unconsumed",
            buf.len()
        );
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let [flags, seed, input @ ..] = data else {
        return;
    };
    let cfg = config(*flags);
    let decide = match (flags >> 2) & 3 {
        0 | 3 => Decide::Accept,
        1 => Decide::Reject,
        _ => Decide::Alternate,
    };
    let whole = run(cfg.clone(), &[input], decide);
    let split = run(cfg.clone(), &common::chunks(input, *seed), decide);
    assert_eq!(whole, split, "split feeding changed the events");

    // Round trip: encode each command, parse it back.
    for o in &whole {
        let Out::Event(Event::Command(c)) = o else {
            continue;
        };
        if matches!(c.kind, CommandKind::Idle | CommandKind::Authenticate { .. }) {
            continue;
        }
        let opts = CommandEncodeOptions {
            utf8: cfg.utf8,
            literal_plus: true,
        };
        let bytes = c.to_bytes(opts);
        let mut back = ParserConfig {
            utf8: cfg.utf8,
            ..ParserConfig::default()
        };
        back.max_depth = back.max_depth.max(cfg.max_depth);
        let again = run(back, &[&bytes], Decide::Accept);
        assert_eq!(
            again,
            vec![Out::Event(Event::Command(c.clone()))],
            "re-encoded as {:?}",
            String::from_utf8_lossy(&bytes)
        );
    }
});
