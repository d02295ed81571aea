//! Forwarding: alias targets in other domains (`alias add
//! info@example.org bob@elsewhere.example`). The session queues one copy
//! of the message for them; this module decides whether that is safe
//! (mail loops) and builds the copy.
//!
//! Policy, as an MTA admin expects it (documented in ARCHITECTURE.md):
//! - The envelope sender of the forwarded copy is the original
//!   reverse-path (no SRS rewriting): SPF may fail at the destination,
//!   DKIM signatures of the original survive and carry DMARC. A bounce
//!   (`<>`) is forwarded with `<>`, and the queue never bounces a bounce,
//!   so a failing forward cannot bounce back and forth.
//! - Each forwarded copy carries `Delivered-To: <alias>` on top. A
//!   message that arrives again for an alias it already names in a
//!   `Delivered-To:` field went round a loop through the destination and
//!   is refused for that recipient (`554 5.4.6`, RFC 3463 "routing loop
//!   detected"), local copies included: they were delivered on the first
//!   pass.
//! - RFC 5321 §6.3: a message with [`MAX_RECEIVED`] or more `Received:`
//!   fields is refused as looping, whatever its recipients.
//! - RFC 3461 §4.2: the forwarded recipient keeps the client's `ORCPT`,
//!   or gets one naming the alias address the client used.

use std::fmt::Write as _;
use std::time::SystemTime;

use crate::{Envelope, EnvelopeRecipient, trace};

/// RFC 5321 §6.3: servers counting `Received:` fields "SHOULD use a large
/// rejection threshold, normally at least 100".
pub const MAX_RECEIVED: usize = 100;

/// The trace facts of a message's header section that loop detection
/// needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hops {
    /// Number of `Received:` fields.
    pub received: usize,
    /// The addresses of the `Delivered-To:` fields, lowercased, without
    /// angle brackets.
    pub delivered_to: Vec<String>,
}

impl Hops {
    /// Reads the header section of `raw` (up to the first empty line; a
    /// message without one is all header). Folded fields are handled;
    /// field names are case-insensitive (RFC 5322 §2.2, §1.2.2).
    pub fn of(raw: &[u8]) -> Hops {
        let mut hops = Hops::default();
        // The Delivered-To: field being read (unfolded), if any.
        let mut delivered: Option<Vec<u8>> = None;
        let finish = |field: Option<Vec<u8>>, hops: &mut Hops| {
            let Some(value) = field else { return };
            let value = String::from_utf8_lossy(&value);
            let value = value.trim().trim_start_matches('<').trim_end_matches('>');
            // Bounded: only loop detection reads these.
            if hops.delivered_to.len() < MAX_RECEIVED {
                hops.delivered_to.push(value.trim().to_lowercase());
            }
        };
        for line in raw.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                break;
            }
            if matches!(line.first(), Some(b' ' | b'\t')) {
                if let Some(value) = delivered.as_mut()
                    && value.len() < 1024
                {
                    value.extend_from_slice(line);
                }
                continue;
            }
            finish(delivered.take(), &mut hops);
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                continue;
            };
            let name = line[..colon].trim_ascii();
            if name.eq_ignore_ascii_case(b"received") {
                hops.received += 1;
            } else if name.eq_ignore_ascii_case(b"delivered-to") {
                delivered = Some(line[colon + 1..].iter().take(1024).copied().collect());
            }
        }
        finish(delivered, &mut hops);
        hops
    }

    /// RFC 5321 §6.3: too many hops for any recipient.
    pub fn too_many(&self) -> bool {
        self.received >= MAX_RECEIVED
    }

    /// Whether the message already went through us for `alias` (compared
    /// case-insensitively).
    pub fn delivered_to(&self, alias: &str) -> bool {
        let alias = alias.to_lowercase();
        self.delivered_to.contains(&alias)
    }
}

/// The copy queued for the remote targets of the aliases `aliases` (the
/// recipient addresses as the client gave them): a `Delivered-To:` field
/// per alias, then our `Received:` field naming the remote targets when
/// there is one (RFC 5321 §4.4), then the message with CRLF line endings.
/// No `Return-Path:`: that is the final delivery's business.
pub fn forwarded_message(
    envelope: &Envelope,
    aliases: &[&str],
    targets: &[String],
    hostname: &str,
    now: SystemTime,
    raw: Vec<u8>,
) -> Vec<u8> {
    let outbound = Envelope {
        recipients: targets
            .iter()
            .map(|address| EnvelopeRecipient {
                address: address.clone(),
                accounts: Vec::new(),
            })
            .collect(),
        ..envelope.clone()
    };
    let mut top = String::new();
    for alias in aliases {
        let alias: String = alias
            .chars()
            .filter(|c| !c.is_control() && !matches!(c, '<' | '>'))
            .take(320)
            .collect();
        let _ = write!(top, "Delivered-To: {alias}\r\n");
    }
    let headers = trace::trace_headers(&outbound, hostname, now);
    let received = headers
        .find("Received:")
        .map_or(headers.as_str(), |at| &headers[at..]);
    top.push_str(received);
    let body = trace::normalize_crlf(raw);
    let mut data = Vec::with_capacity(top.len() + body.len());
    data.extend_from_slice(top.as_bytes());
    data.extend_from_slice(&body);
    data
}

/// RFC 3461 §4.2: the `ORCPT` for a forwarded copy: the one the client
/// gave, else the alias address it used (`rfc822`, or `utf-8` per RFC 6533
/// for a non-ASCII address). Stored decoded, as the session stores them.
pub fn forward_orcpt(given: Option<&str>, alias: &str) -> String {
    match given {
        Some(orcpt) => orcpt.to_string(),
        None if alias.is_ascii() => format!("rfc822;{alias}"),
        None => format!("utf-8;{alias}"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn counts_received_and_reads_delivered_to() {
        let raw = b"Received: from a\r\n\tby b; date\r\nDELIVERED-TO: <Info@Example.ORG>\r\n\
                    received: x\r\nDelivered-To:\r\n other@example.org\r\nSubject: s\r\n\r\n\
                    Received: in the body\r\nDelivered-To: body@example.org\r\n";
        let hops = Hops::of(raw);
        assert_eq!(hops.received, 2);
        assert_eq!(
            hops.delivered_to,
            vec![
                "info@example.org".to_string(),
                "other@example.org".to_string()
            ]
        );
        assert!(hops.delivered_to("INFO@example.org"));
        assert!(!hops.delivered_to("body@example.org"));
        assert!(!hops.too_many());
    }

    #[test]
    fn hop_limit_is_rfc5321_threshold() {
        let mut raw = "Received: x\r\n".repeat(MAX_RECEIVED - 1);
        raw.push_str("\r\nbody");
        assert!(!Hops::of(raw.as_bytes()).too_many());
        let raw = format!("Received: x\n{raw}");
        assert!(Hops::of(raw.as_bytes()).too_many());
    }

    #[test]
    fn headerless_and_garbage_input() {
        assert_eq!(Hops::of(b""), Hops::default());
        assert_eq!(Hops::of(b"no colon here\r\n\r\n").received, 0);
        let long = vec![b'x'; 100_000];
        assert_eq!(Hops::of(&long).received, 0);
    }

    #[test]
    fn forwarded_copy_has_delivered_to_and_received_on_top() {
        let envelope = Envelope {
            reverse_path: "carol@example.net".into(),
            recipients: Vec::new(),
            helo: "mx.example.net".into(),
            peer_ip: "192.0.2.7".parse().unwrap(),
            protocol: "ESMTP",
            tls: None,
            authenticated: None,
            id: "1.2".into(),
        };
        let now = UNIX_EPOCH + Duration::from_secs(1_751_364_000);
        let data = forwarded_message(
            &envelope,
            &["info@example.org"],
            &["bob@remote.example".to_string()],
            "mx.example.org",
            now,
            b"Subject: hi\n\nbody\n".to_vec(),
        );
        let text = String::from_utf8(data).unwrap();
        assert!(
            text.starts_with("Delivered-To: info@example.org\r\nReceived: from mx.example.net")
        );
        assert!(text.contains("for <bob@remote.example>"));
        assert!(!text.contains("Return-Path"));
        assert!(text.ends_with("Subject: hi\r\n\r\nbody\r\n"));
        assert!(Hops::of(text.as_bytes()).delivered_to("info@example.org"));
    }

    #[test]
    fn orcpt_is_kept_or_added() {
        assert_eq!(
            forward_orcpt(Some("rfc822;x@y.example"), "info@example.org"),
            "rfc822;x@y.example"
        );
        assert_eq!(
            forward_orcpt(None, "info@example.org"),
            "rfc822;info@example.org"
        );
        assert_eq!(forward_orcpt(None, "δ@example.org"), "utf-8;δ@example.org");
    }
}
