//! The SMTP/LMTP/submission session (`SmtpSession` through the `Session`
//! trait) driven by arbitrary client input in arbitrary splits, against a
//! SQLite store in a temporary directory (on tmpfs when there is one, so
//! fsyncs stay cheap).
//!
//! Input: `[flags, split_seed, bytes...]`; flags picks the mode (MX, LMTP,
//! submission) and whether the connection starts as TLS. Accounts:
//! `alice@example.org` (password `pw`) and `bob@example.org`.
//!
//! Checks: no panic; every call returns (libFuzzer's -timeout catches a
//! hang); the session never leaves more unconsumed input than the driver
//! allows (a partial line at most); everything it writes is well-formed SMTP reply lines.

#![no_main]

mod common;

use std::sync::{Arc, OnceLock};
use std::time::{Duration, UNIX_EPOCH};

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use pillarbox_delivery::{Delivery, DeliveryConfig};
use pillarbox_session::{ConnInfo, Control, Limits, ManualClock, Session, TlsInfo};
use pillarbox_smtp_server::{Mode, SmtpConfig, SmtpContext, SmtpSession};
use pillarbox_store::sqlite::SqliteStore;
use pillarbox_store::{Store, StoredCredentials};

struct World {
    rt: tokio::runtime::Runtime,
    ctx: Arc<SmtpContext>,
    _dir: tempfile::TempDir,
}

/// `SmtpConfig::max_line_length` (the default).
const MAX_LINE: usize = 1000;
/// RFC 4954 §4: AUTH lines on submission may be this long.
const MAX_AUTH_LINE: usize = 12288;

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let dir = if std::path::Path::new("/dev/shm").is_dir() {
            tempfile::tempdir_in("/dev/shm")
        } else {
            tempfile::tempdir()
        }
        .expect("tempdir");
        let ctx = rt.block_on(async {
            let store: Store = SqliteStore::open(dir.path()).expect("store");
            store.create_domain("example.org").await.expect("domain");
            let hashed = pillarbox_sasl::hash_password("pw");
            for user in ["alice@example.org", "bob@example.org"] {
                let creds = StoredCredentials {
                    password_hash: hashed.password_hash.clone(),
                    scram_sha256: Some(hashed.scram_sha256.clone()),
                };
                store.create_account(user, creds).await.expect("account");
            }
            let clock = Arc::new(ManualClock::new(
                UNIX_EPOCH + Duration::from_secs(1_767_225_600),
            ));
            let delivery = Arc::new(Delivery::new(
                store.clone(),
                DeliveryConfig {
                    hostname: "mx.example.org".into(),
                    verify_inbound: false,
                    ..DeliveryConfig::default()
                },
                clock.clone(),
            ));
            let config = SmtpConfig {
                hostname: "mx.example.org".into(),
                max_message_size: 64 * 1024,
                max_recipients: 5,
                submission_allow_plaintext_auth: true,
                submission_auth_failure_delay_ms: 0,
                ..SmtpConfig::default()
            };
            SmtpContext::new(store, delivery, config, clock)
        });
        World { rt, ctx, _dir: dir }
    })
}

/// Every line the session writes is `ddd[ -]text` ending in CRLF.
fn check_replies(out: &[u8]) {
    if out.is_empty() {
        return;
    }
    assert!(out.ends_with(b"\r\n"), "reply without CRLF: {out:?}");
    for line in out[..out.len() - 2].split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        assert!(
            line.len() >= 3
                && line[..3].iter().all(u8::is_ascii_digit)
                && matches!(line.get(3), None | Some(b' ') | Some(b'-')),
            "malformed reply line {:?}",
            String::from_utf8_lossy(line)
        );
        assert!(!line.contains(&b'\r'), "CR inside a reply line");
    }
}

fuzz_target!(|data: &[u8]| {
    let [flags, seed, input @ ..] = data else {
        return;
    };
    let w = world();
    let mode = match flags % 3 {
        0 => Mode::Mx,
        1 => Mode::Lmtp,
        _ => Mode::Submission,
    };
    let tls = (flags & 0x10 != 0).then(|| TlsInfo {
        protocol: "TLSv1.3".into(),
        cipher: "TLS13_AES_128_GCM_SHA256".into(),
        ..TlsInfo::default()
    });
    let conn = ConnInfo {
        session_id: 1,
        peer: "192.0.2.1:40000".parse().expect("addr"),
        local: "192.0.2.25:25".parse().expect("addr"),
        tls,
        starttls_available: true,
    };
    let max_buffer = Limits::default().max_buffer;
    w.rt.block_on(async {
        let mut session = SmtpSession::new(w.ctx.clone(), conn, mode);
        let mut out = Vec::new();
        if session.greeting(&mut out).await == Control::Close {
            return;
        }
        check_replies(&out);
        let mut buf = BytesMut::new();
        for piece in common::chunks(input, *seed) {
            buf.extend_from_slice(piece);
            out.clear();
            let control = session.input(&mut buf, &mut out).await;
            check_replies(&out);
            match control {
                Control::Continue => {}
                Control::Close => break,
                Control::StartTls => {
                    // The driver refuses pipelined plaintext after STARTTLS.
                    if !buf.is_empty() {
                        break;
                    }
                    session.tls_established(TlsInfo {
                        protocol: "TLSv1.3".into(),
                        cipher: "TLS13_AES_128_GCM_SHA256".into(),
                        ..TlsInfo::default()
                    });
                }
            }
            // A session bounds its own buffering (pillarbox-session):
            // at most a partial line stays, never more than the driver's cap.
            // On submission that line may be an AUTH command or response of
            // up to 12288 octets (RFC 4954 §4), not just a 1000-octet
            // command line (found by this target at 5.5 million runs).
            let line_max = if mode == Mode::Submission {
                MAX_AUTH_LINE
            } else {
                MAX_LINE
            };
            assert!(
                buf.len() <= line_max.min(max_buffer),
                "session left {} octets unconsumed",
                buf.len()
            );
        }
        session.closed().await;
    });
});
