//! Trace headers added on receipt (RFC 5321 §4.4) and line-ending
//! normalisation of stored messages.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::SystemTime;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc2822;

use crate::Envelope;

/// RFC 5322 §3.3 date-time, UTC (`Tue, 01 Jul 2025 10:00:00 +0000`).
pub fn rfc5322_date(at: SystemTime) -> String {
    OffsetDateTime::from(at)
        .format(&Rfc2822)
        .unwrap_or_else(|_| "Thu, 01 Jan 1970 00:00:00 +0000".to_string())
}

/// RFC 5321 §4.1.3 address literal: `[192.0.2.1]` or `[IPv6:2001:db8::1]`.
pub fn address_literal(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => format!("[{v4}]"),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => format!("[{v4}]"),
            None => format!("[IPv6:{v6}]"),
        },
    }
}

/// Keeps a client-supplied HELO name from breaking the header: only the
/// characters of domains and address literals survive.
fn sanitize_helo(helo: &str) -> String {
    let clean: String = helo
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '[' | ']' | ':'))
        .take(255)
        .collect();
    if clean.is_empty() {
        "unknown".to_string()
    } else {
        clean
    }
}

/// Keeps an envelope address from breaking the header: no controls, no
/// angle brackets, bounded length.
fn sanitize_path(path: &str) -> String {
    path.chars()
        .filter(|c| !c.is_control() && !matches!(c, '<' | '>'))
        .take(320)
        .collect()
}

/// Keeps a login from breaking out of a header comment: no controls,
/// parentheses or backslashes, bounded length.
fn sanitize_comment(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control() && !matches!(c, '(' | ')' | '\\'))
        .take(320)
        .collect()
}

/// The `Return-Path:` and `Received:` header fields for a delivery, each
/// ending in CRLF, folded at whitespace to stay short.
pub fn trace_headers(envelope: &Envelope, hostname: &str, now: SystemTime) -> String {
    let mut out = String::with_capacity(256);
    // RFC 5321 §4.4: the final delivery adds Return-Path with the reverse-path.
    let _ = write!(
        out,
        "Return-Path: <{}>\r\n",
        sanitize_path(&envelope.reverse_path)
    );
    // Received: from HELO (TCP-info) by us with PROTOCOL id ID for <rcpt>; date
    let _ = write!(
        out,
        "Received: from {} ({})\r\n\tby {} (Pillarbox) with {}",
        sanitize_helo(&envelope.helo),
        address_literal(envelope.peer_ip),
        sanitize_helo(hostname),
        envelope.protocol,
    );
    if let Some(tls) = &envelope.tls {
        let _ = write!(
            out,
            "\r\n\t(version={} cipher={})",
            sanitize_helo(&tls.protocol),
            sanitize_helo(&tls.cipher)
        );
    }
    // RFC 3848 §1 (ESMTPA/ESMTPSA): who authenticated, as a comment.
    if let Some(login) = &envelope.authenticated {
        let _ = write!(out, "\r\n\t(authenticated as {})", sanitize_comment(login));
    }
    if !envelope.id.is_empty() {
        let _ = write!(out, " id {}", sanitize_helo(&envelope.id));
    }
    // RFC 5321 §4.4: "for" only names a single recipient, never the list.
    if let [only] = envelope.recipients.as_slice() {
        let _ = write!(out, "\r\n\tfor <{}>", sanitize_path(&only.address));
    }
    let _ = write!(out, ";\r\n\t{}\r\n", rfc5322_date(now));
    out
}

/// Converts bare LF line endings to CRLF (bare CR is left alone): messages
/// are stored exactly as they will be served by IMAP/POP3, with CRLF.
pub fn normalize_crlf(raw: Vec<u8>) -> Vec<u8> {
    let bare = raw
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'\n' && (i == 0 || raw[i - 1] != b'\r'))
        .count();
    if bare == 0 {
        return raw;
    }
    let mut out = Vec::with_capacity(raw.len() + bare);
    let mut prev = 0u8;
    for &b in &raw {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::EnvelopeRecipient;
    use pillarbox_session::TlsInfo;
    use pillarbox_store::AccountId;
    use std::time::{Duration, UNIX_EPOCH};

    fn envelope(recipients: &[&str]) -> Envelope {
        Envelope {
            reverse_path: "bob@example.net".into(),
            recipients: recipients
                .iter()
                .map(|r| EnvelopeRecipient {
                    address: r.to_string(),
                    accounts: vec![AccountId(1)],
                })
                .collect(),
            helo: "client.example.net".into(),
            peer_ip: "192.0.2.7".parse().unwrap(),
            protocol: "ESMTP",
            tls: None,
            authenticated: None,
            id: "abc123".into(),
        }
    }

    #[test]
    fn date_is_rfc5322() {
        let t = UNIX_EPOCH + Duration::from_secs(1_751_364_000);
        assert_eq!(rfc5322_date(t), "Tue, 01 Jul 2025 10:00:00 +0000");
    }

    #[test]
    fn received_for_single_recipient() {
        let t = UNIX_EPOCH + Duration::from_secs(1_751_364_000);
        let h = trace_headers(&envelope(&["alice@example.org"]), "mx.example.org", t);
        assert_eq!(
            h,
            "Return-Path: <bob@example.net>\r\n\
             Received: from client.example.net ([192.0.2.7])\r\n\
             \tby mx.example.org (Pillarbox) with ESMTP id abc123\r\n\
             \tfor <alice@example.org>;\r\n\
             \tTue, 01 Jul 2025 10:00:00 +0000\r\n"
        );
    }

    #[test]
    fn received_omits_for_with_several_recipients_and_shows_tls() {
        let mut e = envelope(&["a@example.org", "b@example.org"]);
        e.tls = Some(TlsInfo {
            protocol: "TLSv1.3".into(),
            cipher: "TLS13_AES_128_GCM_SHA256".into(),
            ..Default::default()
        });
        e.protocol = "ESMTPS";
        e.reverse_path = String::new();
        e.helo = "evil\r\nX-Injected: 1".into();
        let h = trace_headers(&e, "mx", UNIX_EPOCH);
        assert!(h.starts_with("Return-Path: <>\r\n"));
        assert!(!h.contains("for <"));
        assert!(h.contains("(version=TLSv1.3 cipher=TLS13_AES_128_GCM_SHA256)"));
        assert!(h.contains("from evilX-Injected:1 ("));
        assert_eq!(h.matches("\r\n").count(), 5);
    }

    #[test]
    fn received_names_the_authenticated_login() {
        let mut e = envelope(&["a@example.org"]);
        e.protocol = "ESMTPSA";
        e.authenticated = Some("bob@example.org (x)\r\nX: 1".into());
        let h = trace_headers(&e, "mx", UNIX_EPOCH);
        assert!(
            h.contains("with ESMTPSA\r\n\t(authenticated as bob@example.org xX: 1) id abc123"),
            "{h}"
        );
    }

    #[test]
    fn ipv6_literal() {
        assert_eq!(
            address_literal("2001:db8::1".parse().unwrap()),
            "[IPv6:2001:db8::1]"
        );
        assert_eq!(
            address_literal("::ffff:192.0.2.1".parse().unwrap()),
            "[192.0.2.1]"
        );
    }

    #[test]
    fn bare_lf_becomes_crlf() {
        assert_eq!(normalize_crlf(b"a\nb\r\nc\n".to_vec()), b"a\r\nb\r\nc\r\n");
        assert_eq!(normalize_crlf(b"\n".to_vec()), b"\r\n");
        assert_eq!(normalize_crlf(b"a\rb\r\n".to_vec()), b"a\rb\r\n");
        assert_eq!(normalize_crlf(Vec::new()), b"");
    }
}
