//! Delivery status notifications (RFC 3464): a `multipart/report`
//! (RFC 6522) with a human-readable part, a `message/delivery-status`
//! part and the original message's header (`text/rfc822-headers`), or the
//! whole original (`message/rfc822`) when the sender asked `RET=FULL`.
//!
//! RFC 3461 decides which notices exist: `failed` and `delayed` unless
//! `NOTIFY` excludes them, `delivered` (§5.2.3, local delivery) and
//! `relayed` (§5.2.2, handed to a server without DSN) only when `NOTIFY`
//! includes `SUCCESS`, and nothing at all for `NOTIFY=NEVER`.

use std::collections::BTreeMap;
use std::time::SystemTime;

use pillarbox_store::{DsnEnvelope, QueueRecipient};

/// Which notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DsnKind {
    /// Permanent failure or expiry (`Action: failed`).
    Failed,
    /// Still trying after the delay-notice time (`Action: delayed`).
    Delayed,
    /// Delivered into a local mailbox (`Action: delivered`, RFC 3461
    /// §5.2.3).
    Delivered,
    /// Accepted by a server that does not offer DSN, so no further notice
    /// will come (`Action: relayed`, RFC 3461 §5.2.2).
    Relayed,
}

/// RFC 3461 §4.1: whether a recipient's `NOTIFY` asks for this notice.
/// Without `NOTIFY`, failures are reported and delays too (§4.1 leaves
/// delays to the MTA), successes never.
pub fn wanted(recipient: &QueueRecipient, kind: DsnKind) -> bool {
    let word = match kind {
        DsnKind::Failed => "FAILURE",
        DsnKind::Delayed => "DELAY",
        DsnKind::Delivered | DsnKind::Relayed => "SUCCESS",
    };
    let Some(notify) = &recipient.notify else {
        return word != "SUCCESS";
    };
    notify
        .split(',')
        .any(|w| w.trim().eq_ignore_ascii_case(word))
}

/// The RFC 3463 status in a stored reply (`550 5.1.1 ...` → `5.1.1`), or
/// a generic one for its class.
pub fn status_of(reply: &str, kind: DsnKind) -> String {
    let mut words = reply.split_whitespace();
    let code = words.next().unwrap_or("");
    if let Some(esc) = words.next() {
        let parts: Vec<&str> = esc.split('.').collect();
        if parts.len() == 3
            && matches!(parts[0], "2" | "4" | "5")
            && parts[1..]
                .iter()
                .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
        {
            return esc.to_string();
        }
    }
    match (kind, code.as_bytes().first()) {
        (DsnKind::Failed, Some(b'5')) => "5.0.0".into(),
        (DsnKind::Failed, _) => "4.4.7".into(),
        (DsnKind::Delayed, _) => "4.0.0".into(),
        (DsnKind::Delivered | DsnKind::Relayed, _) => "2.0.0".into(),
    }
}

/// The xtext form of a value (RFC 3461 §4): `+`, `=` and anything
/// outside `!`..`~` become `+XX`; used to pass `ENVID` and `ORCPT` on.
pub fn xtext_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if (33..=126).contains(&b) && b != b'+' && b != b'=' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("+{b:02X}"));
        }
    }
    out
}

/// A stored `ORCPT` (`addr-type;address`) in its wire form
/// (`addr-type;xtext`).
pub fn orcpt_param(orcpt: &str) -> String {
    match orcpt.split_once(';') {
        Some((kind, address)) => format!("{kind};{}", xtext_encode(address)),
        None => format!("rfc822;{}", xtext_encode(orcpt)),
    }
}

fn rfc5322_date(at: SystemTime) -> String {
    let t = time::OffsetDateTime::from(at);
    t.format(&time::format_description::well_known::Rfc2822)
        .unwrap_or_else(|_| "Thu, 01 Jan 1970 00:00:00 +0000".into())
}

/// The header section of `message` (through the empty line, or all).
pub fn header_section(message: &[u8]) -> &[u8] {
    let mut iter = pillarbox_message::header::fields(message);
    for _ in iter.by_ref() {}
    &message[..iter.offset()]
}

/// What a notice needs.
pub struct Notice<'a> {
    pub kind: DsnKind,
    /// Our host name (Reporting-MTA, From: domain, Message-ID).
    pub hostname: &'a str,
    /// Where the notice goes (the original reverse-path).
    pub reverse_path: &'a str,
    /// The original `RET` and `ENVID`.
    pub dsn: &'a DsnEnvelope,
    /// When the original arrived.
    pub arrival: SystemTime,
    /// The recipients reported, with their last reply.
    pub recipients: Vec<&'a QueueRecipient>,
    /// The server that gave a recipient's reply, by
    /// [`QueueRecipient::index`], when the reply came from one in this
    /// attempt (RFC 3464 §2.3.5 `Remote-MTA`).
    pub remote_mta: &'a BTreeMap<u32, String>,
    pub original: &'a [u8],
    pub now: SystemTime,
    /// For `Will-Retry-Until` of a delay notice.
    pub retry_until: SystemTime,
}

/// Builds the notice, addressed to `reverse_path`.
pub fn build(n: &Notice<'_>) -> Vec<u8> {
    let boundary = format!("{:032x}", rand::random::<u128>());
    let id = format!("{:032x}", rand::random::<u128>());
    let (subject, action, intro) = match n.kind {
        DsnKind::Failed => (
            "Undelivered Mail Returned to Sender",
            "failed",
            "Your message could not be delivered to the following recipients; \
             no further attempts will be made.",
        ),
        DsnKind::Delayed => (
            "Delivery Status Notification (Delay)",
            "delayed",
            "Your message has not been delivered yet to the following recipients; \
             delivery will be retried. You do not need to send it again.",
        ),
        DsnKind::Delivered => (
            "Successful Mail Delivery Report",
            "delivered",
            "Your message was delivered to the following recipients.",
        ),
        DsnKind::Relayed => (
            "Mail Relay Report",
            "relayed",
            "Your message was handed to the following recipients' mail servers, \
             which do not report delivery; no further notice will follow.",
        ),
    };
    let mut out = String::new();
    out.push_str(&format!(
        "From: Mail Delivery System <MAILER-DAEMON@{}>\r\n",
        n.hostname
    ));
    out.push_str(&format!("To: <{}>\r\n", n.reverse_path));
    out.push_str(&format!("Subject: {subject}\r\n"));
    out.push_str(&format!("Date: {}\r\n", rfc5322_date(n.now)));
    out.push_str(&format!("Message-ID: <{id}@{}>\r\n", n.hostname));
    // RFC 3834 §5: never answered automatically.
    out.push_str("Auto-Submitted: auto-replied\r\n");
    out.push_str("MIME-Version: 1.0\r\n");
    out.push_str(&format!(
        "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"{boundary}\"\r\n\r\n"
    ));
    out.push_str("This is a MIME-encapsulated delivery status notification.\r\n\r\n");

    // Part 1: for people.
    out.push_str(&format!(
        "--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{intro}\r\n\r\n"
    ));
    for r in &n.recipients {
        out.push_str(&format!(
            "<{}>: {}\r\n",
            r.address,
            r.last_reply.as_deref().unwrap_or(action)
        ));
    }
    out.push_str("\r\n");

    // Part 2: RFC 3464 §2.2 per-message and §2.3 per-recipient fields.
    out.push_str(&format!(
        "--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n"
    ));
    out.push_str(&format!("Reporting-MTA: dns; {}\r\n", n.hostname));
    if let Some(envid) = &n.dsn.envid {
        out.push_str(&format!("Original-Envelope-Id: {envid}\r\n"));
    }
    out.push_str(&format!("Arrival-Date: {}\r\n", rfc5322_date(n.arrival)));
    for r in &n.recipients {
        out.push_str("\r\n");
        if let Some(orcpt) = &r.orcpt {
            out.push_str(&format!("Original-Recipient: {orcpt}\r\n"));
        }
        out.push_str(&format!("Final-Recipient: rfc822; {}\r\n", r.address));
        out.push_str(&format!("Action: {action}\r\n"));
        let reply = r.last_reply.as_deref().unwrap_or("");
        out.push_str(&format!("Status: {}\r\n", status_of(reply, n.kind)));
        if let Some(mta) = n.remote_mta.get(&r.index) {
            out.push_str(&format!("Remote-MTA: dns; {mta}\r\n"));
        }
        if !reply.is_empty() {
            let kind = if reply.as_bytes().first().is_some_and(u8::is_ascii_digit) {
                "smtp"
            } else {
                "x-pillarbox"
            };
            out.push_str(&format!("Diagnostic-Code: {kind}; {reply}\r\n"));
        }
        out.push_str(&format!("Last-Attempt-Date: {}\r\n", rfc5322_date(n.now)));
        if n.kind == DsnKind::Delayed {
            out.push_str(&format!(
                "Will-Retry-Until: {}\r\n",
                rfc5322_date(n.retry_until)
            ));
        }
    }
    out.push_str("\r\n");

    // Part 3: the original (RFC 3461 §4.3: headers unless RET=FULL).
    let full = n
        .dsn
        .ret
        .as_deref()
        .is_some_and(|r| r.eq_ignore_ascii_case("FULL"));
    let mut bytes = out.into_bytes();
    if full && n.kind == DsnKind::Failed {
        bytes.extend_from_slice(
            format!("--{boundary}\r\nContent-Type: message/rfc822\r\n\r\n").as_bytes(),
        );
        bytes.extend_from_slice(n.original);
        if !n.original.ends_with(b"\r\n") {
            bytes.extend_from_slice(b"\r\n");
        }
    } else {
        bytes.extend_from_slice(
            format!("--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n").as_bytes(),
        );
        let header = header_section(n.original);
        bytes.extend_from_slice(header);
        if !header.ends_with(b"\r\n") {
            bytes.extend_from_slice(b"\r\n");
        }
    }
    bytes.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rcpt(notify: Option<&str>) -> QueueRecipient {
        QueueRecipient {
            index: 0,
            address: "bob@example.net".into(),
            status: pillarbox_store::RecipientStatus::Failed,
            last_reply: Some("550 5.1.1 no such user".into()),
            notify: notify.map(str::to_string),
            orcpt: None,
        }
    }

    #[test]
    fn notify_selects_notices() {
        assert!(wanted(&rcpt(None), DsnKind::Failed));
        assert!(wanted(&rcpt(None), DsnKind::Delayed));
        assert!(!wanted(&rcpt(Some("NEVER")), DsnKind::Failed));
        assert!(wanted(&rcpt(Some("success,failure")), DsnKind::Failed));
        assert!(!wanted(&rcpt(Some("FAILURE")), DsnKind::Delayed));
        assert!(
            !wanted(&rcpt(None), DsnKind::Delivered),
            "success only on request"
        );
        assert!(!wanted(&rcpt(Some("NEVER")), DsnKind::Relayed));
        assert!(wanted(&rcpt(Some("SUCCESS")), DsnKind::Relayed));
        assert!(wanted(&rcpt(Some("SUCCESS,DELAY")), DsnKind::Delivered));
    }

    #[test]
    fn parameters_are_xtext_encoded() {
        assert_eq!(xtext_encode("a+b=c d"), "a+2Bb+3Dc+20d");
        assert_eq!(
            orcpt_param("rfc822;bob+x@example.net"),
            "rfc822;bob+2Bx@example.net"
        );
        assert_eq!(orcpt_param("bob@example.net"), "rfc822;bob@example.net");
    }

    #[test]
    fn status_comes_from_the_reply() {
        assert_eq!(
            status_of("550 5.1.1 no such user", DsnKind::Failed),
            "5.1.1"
        );
        assert_eq!(status_of("550 no such user", DsnKind::Failed), "5.0.0");
        assert_eq!(status_of("connect: refused", DsnKind::Failed), "4.4.7");
        assert_eq!(status_of("451 4.3.0 later", DsnKind::Delayed), "4.3.0");
    }
}
