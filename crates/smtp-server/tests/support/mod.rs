//! Helpers shared by the smtp-server integration tests: a fixed test
//! clock, in-process sessions fed whole strings, and AUTH PLAIN lines.

#![allow(dead_code, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::BytesMut;
use pillarbox_session::{ConnInfo, ManualClock, Session, TlsInfo};
use pillarbox_smtp_server::{Mode, SmtpContext, SmtpSession};

/// A manual clock at 2026-01-01T00:00:00Z.
pub fn test_clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(
        UNIX_EPOCH + Duration::from_secs(1_767_225_600),
    ))
}

/// A session of `mode` from 192.0.2.1 to `local`, already past TLS
/// (TLS 1.3), with its greeting consumed.
pub async fn tls_session(ctx: &Arc<SmtpContext>, mode: Mode, local: &str) -> SmtpSession {
    let conn = ConnInfo {
        session_id: 7,
        peer: "192.0.2.1:40000".parse().unwrap(),
        local: local.parse().unwrap(),
        tls: Some(TlsInfo {
            protocol: "TLSv1.3".into(),
            cipher: "TLS13_AES_128_GCM_SHA256".into(),
            ..Default::default()
        }),
        starttls_available: false,
    };
    let mut s = SmtpSession::new(ctx.clone(), conn, mode);
    s.greeting(&mut Vec::new()).await;
    s
}

/// Feeds `text` to the session and returns everything it answered.
pub async fn send(s: &mut SmtpSession, text: &str) -> String {
    let mut buf = BytesMut::from(text.as_bytes());
    let mut out = Vec::new();
    s.input(&mut buf, &mut out).await;
    String::from_utf8(out).unwrap()
}

/// An `AUTH PLAIN` command line (with an initial response) for `login`.
pub fn auth_plain(login: &str, password: &str) -> String {
    format!(
        "AUTH PLAIN {}\r\n",
        STANDARD.encode(format!("\0{login}\0{password}"))
    )
}
