//! The IMAP session (`ImapSession` through the `Session` trait) driven by
//! arbitrary client input in arbitrary splits, against a real SQLite store
//! (`fixture.rs`): an account with messages in INBOX and `Work`, in the
//! same state at the start of every input.
//!
//! Input: `[flags, split_seed, bytes...]`. `flags % 4` picks the state the
//! input starts in, reached by a fixed prelude whose answers are checked:
//! 0 not authenticated, 1 authenticated (`LOGIN`), 2 selected
//! (`SELECT INBOX`), 3 selected read-only (`EXAMINE INBOX`). `flags & 0x10`
//! starts the connection as TLS.
//!
//! Checks: no panic; every call returns (libFuzzer's -timeout catches a
//! hang); a chunked response (`output_pending`) finishes; the output is
//! well-formed IMAP framing: every line starts with `*`, `+` or a tag and
//! a space, ends in CRLF with no bare CR or LF, and literals (`{n}`,
//! `~{n}`) carry exactly n octets; it ends at a line boundary whenever the
//! session waits for input.

#![no_main]

mod common;
mod fixture;

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use pillarbox_imap_server::{ImapConfig, ImapContext, ImapSession};
use pillarbox_session::{Control, Limits, Session};

/// Calls in a row a chunked response may take before it counts as a hang.
const MAX_RESUMES: usize = 100_000;

/// Checks `out` (what the session wrote, from a response boundary on) for
/// IMAP framing; returns how much of it is complete responses (the rest is
/// checked again once more output arrived).
fn check_framing(out: &[u8]) -> usize {
    let mut i = 0;
    while i < out.len() {
        // Start of a response line.
        let response = i;
        let first = out[i];
        if first == b'*' || first == b'+' {
            i += 1;
        } else {
            let start = i;
            while i < out.len() && out[i].is_ascii_graphic() {
                i += 1;
            }
            assert!(
                i > start,
                "response line without tag: {:?}",
                lossy(&out[start..])
            );
        }
        if i == out.len() {
            return response;
        }
        if first == b'+' && out[i..].starts_with(b"\r\n") {
            i += 2;
            continue;
        }
        assert_eq!(
            out[i],
            b' ',
            "no space after the tag: {:?}",
            lossy(&out[i..])
        );
        // The rest of the line, literals included.
        let mut line_start = i;
        loop {
            let Some(pos) = out[i..].iter().position(|&b| b == b'\n' || b == b'\r') else {
                return response;
            };
            let end = i + pos;
            if out[end] == b'\n' || end + 1 == out.len() {
                assert!(
                    out[end] == b'\r',
                    "bare LF in {:?}",
                    lossy(&out[line_start..])
                );
                return response;
            }
            assert_eq!(
                out[end + 1],
                b'\n',
                "bare CR in {:?}",
                lossy(&out[line_start..=end + 1])
            );
            let text = &out[line_start..end];
            i = end + 2;
            match literal_len(text) {
                Some(n) => {
                    if out.len() - i < n {
                        return response;
                    }
                    i += n;
                    line_start = i;
                }
                None => break,
            }
        }
    }
    out.len()
}

/// `n` if `text` ends with a literal announcement `{n}` (or `~{n}`).
fn literal_len(text: &[u8]) -> Option<usize> {
    let body = text.strip_suffix(b"}")?;
    let open = body.iter().rposition(|&b| b == b'{')?;
    let digits = &body[open + 1..];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(&b[..b.len().min(200)]).into_owned()
}

fuzz_target!(|data: &[u8]| {
    let [flags, seed, input @ ..] = data else {
        return;
    };
    let w = fixture::world();
    let state = flags % 4;
    let tls = flags & 0x10 != 0;
    let config = ImapConfig {
        hostname: "mail.example.org".into(),
        allow_plaintext_auth: true,
        auth_failure_delay_ms: 0,
        max_append_size: 64 * 1024,
        ..ImapConfig::default()
    };
    let max_buffer = Limits::default().max_buffer;
    w.rt.block_on(async {
        fixture::account(&w.store).await;
        // A fresh context per input: its brute-force throttle, session
        // counts and \Recent claims start empty each time.
        let ctx = ImapContext::new(w.store.clone(), config, fixture::clock());
        let mut session = ImapSession::new(ctx, fixture::conn(143, tls));
        let mut out = Vec::new();
        let mut control = session.greeting(&mut out).await;
        assert_eq!(control, Control::Continue);
        assert!(out.starts_with(b"* OK "), "greeting {:?}", lossy(&out));
        // The prelude.
        let mut prelude = Vec::new();
        if state >= 1 {
            prelude.push(format!(
                "p1 LOGIN {} {}\r\n",
                fixture::LOGIN,
                fixture::PASSWORD
            ));
        }
        match state {
            2 => prelude.push("p2 SELECT INBOX\r\n".into()),
            3 => prelude.push("p2 EXAMINE INBOX\r\n".into()),
            _ => {}
        }
        let mut buf = BytesMut::new();
        for (n, line) in prelude.iter().enumerate() {
            buf.extend_from_slice(line.as_bytes());
            let mut reply = Vec::new();
            control = session.input(&mut buf, &mut reply).await;
            let tag = format!("p{} OK", n + 1);
            assert!(
                control == Control::Continue
                    && reply.windows(tag.len()).any(|x| x == tag.as_bytes()),
                "prelude {line:?} answered {:?}",
                lossy(&reply)
            );
            out.extend_from_slice(&reply);
        }
        assert!(buf.is_empty());
        let mut checked = 0;
        'chunks: for piece in common::chunks(input, *seed) {
            buf.extend_from_slice(piece);
            if buf.len() > max_buffer {
                break; // the driver closes the connection here
            }
            control = session.input(&mut buf, &mut out).await;
            let mut resumes = 0;
            loop {
                match control {
                    Control::Close => break 'chunks,
                    Control::StartTls => {
                        // The driver discards what was pipelined after STARTTLS.
                        buf.clear();
                        session.tls_established(fixture::tls_info());
                    }
                    Control::Continue => {}
                }
                if session.output_pending() {
                    resumes += 1;
                    assert!(resumes < MAX_RESUMES, "a chunked response never ends");
                    control = session.input(&mut buf, &mut out).await;
                    continue;
                }
                // Changes the session itself caused (STORE, EXPUNGE, ...)
                // are in its feed: deliver them the way the driver does
                // while the client is silent (IDLE updates).
                let woke = tokio::select! {
                    biased;
                    _ = session.wake() => true,
                    _ = std::future::ready(()) => false,
                };
                if !woke {
                    break;
                }
                control = session.on_wake(&mut out).await;
                resumes += 1;
                assert!(resumes < MAX_RESUMES, "wake-ups never end");
            }
            checked += check_framing(&out[checked..]);
            assert_eq!(
                checked,
                out.len(),
                "waiting for input in the middle of a response: {:?}",
                lossy(&out[checked..])
            );
        }
        session.closed().await;
        drop(session);
        check_framing(&out[checked..]);
        fixture::finish(&w.store).await;
    });
});
