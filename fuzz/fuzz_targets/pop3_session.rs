//! The POP3 session (`Pop3Session` through the `Session` trait) driven by
//! arbitrary client input in arbitrary splits, against a real SQLite store
//! (`fixture.rs`): an account with four messages in INBOX (the maildrop),
//! in the same state at the start of every input.
//!
//! Input: `[flags, split_seed, bytes...]`. `flags % 3` picks the state the
//! input starts in, reached by a fixed prelude whose answers are checked:
//! 0 AUTHORIZATION, 1 TRANSACTION after `USER`/`PASS`, 2 TRANSACTION after
//! `AUTH PLAIN` with an initial response. `flags & 0x10` starts the
//! connection as TLS.
//!
//! Checks: no panic; every call returns (libFuzzer's -timeout catches a
//! hang); output is CRLF-terminated lines without bare CR or LF, ending at
//! a line boundary whenever the session waits for input; the maildrop
//! loses nothing unless the input contains a `QUIT` (RFC 1939 §6: only
//! QUIT in TRANSACTION deletes).

#![no_main]

mod common;
mod fixture;

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use pillarbox_pop3_server::{Pop3Config, Pop3Context, Pop3Session};
use pillarbox_session::{Control, Limits, Session};
use pillarbox_store::Store;

/// Calls in a row a chunked response may take before it counts as a hang.
const MAX_RESUMES: usize = 100_000;

/// Checks that `out` is CRLF-terminated lines with no bare CR or LF;
/// returns the length of its complete lines.
fn check_lines(out: &[u8]) -> usize {
    let mut done = 0;
    let mut i = 0;
    while let Some(pos) = out[i..].iter().position(|&b| b == b'\r' || b == b'\n') {
        let end = i + pos;
        assert_eq!(out[end], b'\r', "bare LF: {:?}", lossy(&out[done..]));
        if end + 1 == out.len() {
            break;
        }
        assert_eq!(out[end + 1], b'\n', "bare CR: {:?}", lossy(&out[done..]));
        i = end + 2;
        done = i;
    }
    done
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(&b[..b.len().min(200)]).into_owned()
}

async fn inbox_count(store: &Store, account: pillarbox_store::AccountId) -> usize {
    let inbox = store
        .mailbox_by_name(account, "INBOX")
        .await
        .expect("mailbox")
        .expect("INBOX");
    store
        .entries(account, inbox.id)
        .await
        .expect("entries")
        .len()
}

fuzz_target!(|data: &[u8]| {
    let [flags, seed, input @ ..] = data else {
        return;
    };
    let w = fixture::world();
    let state = flags % 3;
    let tls = flags & 0x10 != 0;
    let config = Pop3Config {
        hostname: "mail.example.org".into(),
        allow_plaintext_auth: true,
        auth_failure_delay_ms: 0,
        ..Pop3Config::default()
    };
    let max_buffer = Limits::default().max_buffer;
    let quits = input.windows(4).any(|x| x.eq_ignore_ascii_case(b"QUIT"));
    w.rt.block_on(async {
        let account = fixture::account(&w.store).await;
        let before = inbox_count(&w.store, account).await;
        // A fresh context per input: its brute-force throttle, maildrop
        // locks and login-delay records start empty each time.
        let ctx = Pop3Context::new(w.store.clone(), config, fixture::clock());
        let mut session = Pop3Session::new(ctx, fixture::conn(110, tls));
        let mut out = Vec::new();
        let mut control = session.greeting(&mut out).await;
        assert_eq!(control, Control::Continue);
        assert!(out.starts_with(b"+OK "), "greeting {:?}", lossy(&out));
        let prelude: &[String] = match state {
            1 => &[
                format!("USER {}\r\n", fixture::LOGIN),
                format!("PASS {}\r\n", fixture::PASSWORD),
            ],
            // base64("\0alice@example.org\0secret")
            2 => &["AUTH PLAIN AGFsaWNlQGV4YW1wbGUub3JnAHNlY3JldA==\r\n".to_string()],
            _ => &[],
        };
        let mut buf = BytesMut::new();
        for line in prelude {
            buf.extend_from_slice(line.as_bytes());
            let mut reply = Vec::new();
            control = session.input(&mut buf, &mut reply).await;
            assert!(
                control == Control::Continue && reply.starts_with(b"+OK"),
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
                        // The driver discards what was pipelined after STLS.
                        buf.clear();
                        session.tls_established(fixture::tls_info());
                    }
                    Control::Continue => {}
                }
                if !session.output_pending() {
                    break;
                }
                resumes += 1;
                assert!(resumes < MAX_RESUMES, "a chunked response never ends");
                control = session.input(&mut buf, &mut out).await;
            }
            checked += check_lines(&out[checked..]);
            assert_eq!(
                checked,
                out.len(),
                "waiting for input in the middle of a line: {:?}",
                lossy(&out[checked..])
            );
        }
        session.closed().await;
        drop(session);
        checked += check_lines(&out[checked..]);
        assert_eq!(checked, out.len(), "output ends mid-line");
        if !quits {
            assert_eq!(
                inbox_count(&w.store, account).await,
                before,
                "messages deleted without QUIT"
            );
        }
        fixture::finish(&w.store).await;
    });
});
