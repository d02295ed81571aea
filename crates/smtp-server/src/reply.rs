//! SMTP replies: every reply code the server sends, as a named constant
//! with its RFC 3463 enhanced status code, and the one place where errors
//! (parse errors, recipient resolution, delivery failures) become replies.

use std::fmt::Display;
use std::io::Write as _;

use pillarbox_delivery::{DeliveryError, Resolution};
use pillarbox_store::ErrorKind;

/// One reply line: code, enhanced status code (RFC 2034), text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    /// `None` for replies sent before EHLO could negotiate
    /// ENHANCEDSTATUSCODES (greeting) and for the `354` intermediate reply.
    pub status: Option<[u8; 3]>,
    pub text: &'static str,
}

impl Reply {
    const fn new(code: u16, status: [u8; 3], text: &'static str) -> Reply {
        Reply {
            code,
            status: Some(status),
            text,
        }
    }

    /// Appends `code status text CRLF`.
    pub fn write(&self, out: &mut Vec<u8>) {
        self.write_text(out, self.text);
    }

    /// Appends the reply with other text (e.g. naming the host).
    pub fn write_text(&self, out: &mut Vec<u8>, text: impl Display) {
        let _ = match self.status {
            Some([a, b, c]) => write!(out, "{} {a}.{b}.{c} {text}\r\n", self.code),
            None => write!(out, "{} {text}\r\n", self.code),
        };
    }

    /// 4xx.
    pub fn is_temporary(&self) -> bool {
        (400..500).contains(&self.code)
    }

    /// 2xx.
    pub fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }
}

// --- positive ---
/// Greeting (text replaced by `<host> ESMTP <greeting>`).
pub const C220_READY: Reply = Reply {
    code: 220,
    status: None,
    text: "ready",
};
/// RFC 3207 §4: STARTTLS accepted.
pub const C220_TLS_GO_AHEAD: Reply = Reply::new(220, [2, 0, 0], "Ready to start TLS");
/// QUIT (text replaced by `<host> closing connection`).
pub const C221_BYE: Reply = Reply::new(221, [2, 0, 0], "closing connection");
pub const C214_HELP: Reply = Reply::new(
    214,
    [2, 0, 0],
    "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY STARTTLS (RFC 5321)",
);
/// RFC 4954 §6: AUTH succeeded.
pub const C235_AUTH_OK: Reply = Reply::new(235, [2, 7, 0], "Authentication successful");
pub const C250_OK: Reply = Reply::new(250, [2, 0, 0], "OK");
pub const C250_SENDER_OK: Reply = Reply::new(250, [2, 1, 0], "Sender OK");
pub const C250_RECIPIENT_OK: Reply = Reply::new(250, [2, 1, 5], "Recipient OK");
/// Sent only after the store reported the message durable.
pub const C250_MESSAGE_ACCEPTED: Reply = Reply::new(250, [2, 0, 0], "Message accepted");
/// RFC 3030: a non-final BDAT chunk was received.
pub const C250_CHUNK_ACCEPTED: Reply = Reply::new(250, [2, 0, 0], "Chunk accepted");
/// RFC 5321 §3.5.3: VRFY is not answered (address harvesting).
pub const C252_CANNOT_VRFY: Reply = Reply::new(
    252,
    [2, 0, 0],
    "Cannot VRFY user, but will accept message and attempt delivery",
);
/// RFC 4954 §4: a server challenge (text replaced by the base64 data;
/// no enhanced status code).
pub const C334_CHALLENGE: Reply = Reply {
    code: 334,
    status: None,
    text: "",
};
pub const C354_START_INPUT: Reply = Reply {
    code: 354,
    status: None,
    text: "End data with <CR><LF>.<CR><LF>",
};

// --- transient ---
pub const C421_TOO_MANY_ERRORS: Reply =
    Reply::new(421, [4, 7, 0], "Too many errors, closing connection");
pub const C421_TOO_MANY_AUTH_FAILURES: Reply = Reply::new(
    421,
    [4, 7, 0],
    "Too many authentication failures, closing connection",
);
pub const C421_TIMEOUT: Reply = Reply::new(421, [4, 4, 2], "Idle timeout, closing connection");
/// RFC 5321 §3.8 / RFC 3463 4.3.2 "system not accepting network messages".
pub const C421_SHUTTING_DOWN: Reply =
    Reply::new(421, [4, 3, 2], "Service shutting down, try again later");
/// A command or message arriving too slowly (slowloris defence).
pub const C421_TOO_SLOW: Reply = Reply::new(
    421,
    [4, 4, 2],
    "Command or data too slow, closing connection",
);
pub const C451_LOCAL_ERROR: Reply =
    Reply::new(451, [4, 3, 0], "Temporary local problem, try again later");
/// RFC 5321 §4.2.3 (452 insufficient system storage), RFC 3463 4.3.1
/// "mail system full": the store's disk is full; nothing was stored.
pub const C452_STORAGE_FULL: Reply = Reply::new(
    452,
    [4, 3, 1],
    "Insufficient system storage, try again later",
);
/// RFC 5321 §4.5.3.1.10.
pub const C452_TOO_MANY_RECIPIENTS: Reply = Reply::new(452, [4, 5, 3], "Too many recipients");
/// RFC 4954 §6 (454 4.7.0 temporary authentication failure): refused by the
/// brute-force protection; the credentials were not checked.
pub const C454_AUTH_THROTTLED: Reply = Reply::new(
    454,
    [4, 7, 0],
    "Too many failed authentications, try again later",
);
/// RFC 4954 §6: the credentials could not be checked (store trouble).
pub const C454_AUTH_TEMPORARY: Reply =
    Reply::new(454, [4, 7, 0], "Temporary authentication failure");

// --- permanent: protocol ---
pub const C500_UNRECOGNIZED: Reply = Reply::new(500, [5, 5, 1], "Command unrecognized");
pub const C500_LINE_TOO_LONG: Reply = Reply::new(500, [5, 5, 6], "Line too long");
/// EHLO/HELO on an LMTP listener (RFC 2033 §4.1).
pub const C500_USE_LHLO: Reply = Reply::new(500, [5, 5, 1], "This is LMTP: use LHLO");
/// LHLO on an SMTP listener.
pub const C500_USE_EHLO: Reply = Reply::new(500, [5, 5, 1], "This is SMTP: use EHLO");
pub const C501_SYNTAX: Reply = Reply::new(501, [5, 5, 4], "Syntax error");
pub const C501_INVALID_PARAMETER: Reply = Reply::new(501, [5, 5, 4], "Invalid parameter value");
/// RFC 3461 §4: a DSN parameter given twice in one command.
pub const C501_DSN_DUPLICATE: Reply = Reply::new(501, [5, 5, 4], "Duplicate DSN parameter");
/// RFC 3461 §4.3: RET is FULL or HDRS.
pub const C501_DSN_RET: Reply = Reply::new(501, [5, 5, 4], "RET must be FULL or HDRS");
/// RFC 3461 §4.4: ENVID is 1 to 100 characters of xtext.
pub const C501_DSN_ENVID: Reply = Reply::new(501, [5, 5, 4], "Invalid ENVID parameter");
/// RFC 3461 §4.1: NEVER, or a list of SUCCESS, FAILURE, DELAY.
pub const C501_DSN_NOTIFY: Reply = Reply::new(501, [5, 5, 4], "Invalid NOTIFY parameter");
/// RFC 3461 §4.2: addr-type ";" xtext, at most 500 characters.
pub const C501_DSN_ORCPT: Reply = Reply::new(501, [5, 5, 4], "Invalid ORCPT parameter");
pub const C501_BAD_SENDER: Reply = Reply::new(501, [5, 1, 7], "Bad sender address syntax");
pub const C501_BAD_RECIPIENT: Reply = Reply::new(501, [5, 1, 3], "Bad recipient address syntax");
/// RFC 4954 §4: the client answered a challenge with `*`.
pub const C501_AUTH_CANCELLED: Reply = Reply::new(501, [5, 0, 0], "Authentication cancelled");
/// RFC 4954 §4: a response (or initial response) that is not base64.
pub const C501_AUTH_UNDECODABLE: Reply = Reply::new(501, [5, 5, 2], "Cannot decode response");
/// A decoded SASL message that does not follow the mechanism's syntax.
pub const C501_AUTH_MALFORMED: Reply =
    Reply::new(501, [5, 5, 2], "Malformed authentication exchange");
pub const C502_NOT_IMPLEMENTED: Reply = Reply::new(502, [5, 5, 1], "Command not implemented");
pub const C503_HELO_FIRST: Reply = Reply::new(503, [5, 5, 1], "Send EHLO/HELO first");
pub const C503_LHLO_FIRST: Reply = Reply::new(503, [5, 5, 1], "Send LHLO first");
pub const C503_NESTED_MAIL: Reply = Reply::new(503, [5, 5, 1], "Nested MAIL command");
pub const C503_NEED_MAIL: Reply = Reply::new(503, [5, 5, 1], "Need MAIL command");
/// RFC 3030 §2: DATA/MAIL/RCPT while a BDAT transfer is in progress.
pub const C503_BDAT_IN_PROGRESS: Reply =
    Reply::new(503, [5, 5, 1], "Not allowed during a BDAT transfer");
pub const C503_ALREADY_TLS: Reply = Reply::new(503, [5, 5, 1], "TLS already active");
/// RFC 4954 §4: only one successful AUTH per session.
pub const C503_ALREADY_AUTHENTICATED: Reply = Reply::new(503, [5, 5, 1], "Already authenticated");
/// RFC 4954 §4: AUTH is not permitted during a mail transaction.
pub const C503_AUTH_IN_TRANSACTION: Reply = Reply::new(
    503,
    [5, 5, 1],
    "AUTH not permitted during a mail transaction",
);
/// RFC 4954 §4: a mechanism we do not offer.
pub const C504_UNKNOWN_MECHANISM: Reply =
    Reply::new(504, [5, 5, 4], "Unrecognized authentication type");
/// RFC 4954 §6: submission needs AUTH before MAIL.
pub const C530_AUTH_REQUIRED: Reply = Reply::new(530, [5, 7, 0], "Authentication required");
pub const C530_TLS_REQUIRED: Reply =
    Reply::new(530, [5, 7, 0], "Must issue a STARTTLS command first");
/// RFC 4954 §6: wrong user name or password (never says which).
pub const C535_AUTH_FAILED: Reply =
    Reply::new(535, [5, 7, 8], "Authentication credentials invalid");
/// RFC 4954 §6 / RFC 8314 §3.3: AUTH before TLS on submission.
pub const C538_ENCRYPTION_REQUIRED: Reply = Reply::new(
    538,
    [5, 7, 11],
    "Encryption required for requested authentication mechanism",
);
pub const C555_UNSUPPORTED_PARAMETER: Reply = Reply::new(
    555,
    [5, 5, 4],
    "Parameter not recognized or not implemented",
);

// --- permanent: mail ---
pub const C550_NO_SUCH_USER: Reply =
    Reply::new(550, [5, 1, 1], "Mailbox unavailable: no such user");
/// An alias that only points to other domains, on a server without an
/// outbound queue to forward with.
pub const C550_FORWARDING_UNAVAILABLE: Reply = Reply::new(
    550,
    [5, 7, 1],
    "Forwarding to remote addresses is not available",
);
/// Submission: a `From:` address the authenticated user does not own.
pub const C550_FROM_NOT_OWNED: Reply = Reply::new(
    550,
    [5, 7, 1],
    "From: header address not owned by the authenticated user",
);
/// Submission: RFC 5322 §3.6 requires a `From:` field.
pub const C550_NO_FROM: Reply = Reply::new(550, [5, 6, 0], "Message has no From: header field");
/// RFC 1870 §6.1 / RFC 3463 5.3.4.
pub const C552_MESSAGE_TOO_BIG: Reply = Reply::new(
    552,
    [5, 3, 4],
    "Message size exceeds fixed maximum message size",
);
pub const C552_MAILBOX_FULL: Reply = Reply::new(552, [5, 2, 2], "Mailbox full");
/// RFC 6531 §3.4: non-ASCII address without the SMTPUTF8 parameter.
pub const C553_NON_ASCII_ADDRESS: Reply = Reply::new(
    553,
    [5, 6, 7],
    "Non-ASCII address requires the SMTPUTF8 parameter",
);
/// Submission: `MAIL FROM` names an address that is neither the
/// authenticated login nor an alias delivering to it.
pub const C553_SENDER_NOT_OWNED: Reply = Reply::new(
    553,
    [5, 7, 1],
    "Sender address not owned by the authenticated user",
);
/// Submission: a recipient in another domain. There is no outbound queue
/// yet; the queue replaces this reply with acceptance.
pub const C554_NO_OUTBOUND: Reply = Reply::new(
    554,
    [5, 7, 1],
    "Outbound delivery not configured: only local recipients are accepted",
);
pub const C554_RELAY_DENIED: Reply = Reply::new(554, [5, 7, 1], "Relay access denied");
/// RFC 3463 5.4.6 "routing loop detected": a forwarding loop
/// (`Delivered-To:` names the alias) or too many `Received:` fields
/// (RFC 5321 §6.3).
pub const C554_LOOP: Reply = Reply::new(554, [5, 4, 6], "Routing loop detected");
/// RFC 5321 §3.3: DATA/BDAT with no accepted recipient.
pub const C554_NO_VALID_RECIPIENTS: Reply = Reply::new(554, [5, 5, 1], "No valid recipients");
pub const C554_TRANSACTION_FAILED: Reply = Reply::new(554, [5, 0, 0], "Transaction failed");

/// A wire-parser error.
pub fn parse_error(error: &smtp_proto::Error) -> Reply {
    use smtp_proto::Error;
    match error {
        Error::UnknownCommand => C500_UNRECOGNIZED,
        Error::InvalidSenderAddress => C501_BAD_SENDER,
        Error::InvalidRecipientAddress => C501_BAD_RECIPIENT,
        Error::SyntaxError { syntax } => Reply {
            text: syntax,
            ..C501_SYNTAX
        },
        Error::InvalidParameter { .. } => C501_INVALID_PARAMETER,
        Error::UnsupportedParameter { .. } => C555_UNSUPPORTED_PARAMETER,
        Error::ResponseTooLong => C500_LINE_TOO_LONG,
        Error::NeedsMoreData { .. } | Error::InvalidResponse { .. } => C501_SYNTAX,
    }
}

/// The RCPT reply for a recipient that did not resolve to local accounts.
/// `Local` with accounts is [`C250_RECIPIENT_OK`].
pub fn resolution(resolution: &Resolution) -> Reply {
    match resolution {
        Resolution::Local { accounts, .. } if !accounts.is_empty() => C250_RECIPIENT_OK,
        Resolution::Local { .. } => C550_FORWARDING_UNAVAILABLE,
        Resolution::NotLocalDomain => C554_RELAY_DENIED,
        Resolution::UnknownUser => C550_NO_SUCH_USER,
        Resolution::TemporaryFailure => C451_LOCAL_ERROR,
    }
}

/// A failed delivery to one recipient. Temporary store trouble is `451`
/// (the client retries), a full disk `452 4.3.1`, a full mailbox `552 5.2.2`.
pub fn delivery_error(error: &DeliveryError) -> Reply {
    if matches!(error, DeliveryError::Loop) {
        return C554_LOOP;
    }
    match error.kind() {
        ErrorKind::QuotaExceeded => C552_MAILBOX_FULL,
        ErrorKind::StorageFull => C452_STORAGE_FULL,
        ErrorKind::NotFound => C550_NO_SUCH_USER,
        ErrorKind::Invalid => C554_TRANSACTION_FAILED,
        _ => C451_LOCAL_ERROR,
    }
}

/// A store write that failed for the whole message (nothing stored): a
/// full disk is `452 4.3.1`, anything else `451 4.3.0` (the client retries;
/// never a `250`).
pub fn store_error(error: &pillarbox_store::StoreError) -> Reply {
    match error.kind() {
        ErrorKind::StorageFull => C452_STORAGE_FULL,
        _ => C451_LOCAL_ERROR,
    }
}

/// The single reply after DATA/BDAT LAST in SMTP, from the per-recipient
/// results: `250` if any recipient got the message (it is durable for
/// them; a retry would duplicate it), else `451` if any failure was
/// temporary (nothing was stored, so a retry is safe), else the first
/// permanent failure.
pub fn smtp_final(results: &[Result<(), DeliveryError>]) -> Reply {
    if results.iter().any(Result::is_ok) {
        return C250_MESSAGE_ACCEPTED;
    }
    let errors = results.iter().filter_map(|r| r.as_ref().err());
    if let Some(e) = errors.clone().find(|e| e.is_temporary()) {
        return delivery_error(e);
    }
    errors
        .map(delivery_error)
        .next()
        .unwrap_or(C554_NO_VALID_RECIPIENTS)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn writes_code_status_text() {
        let mut out = Vec::new();
        C550_NO_SUCH_USER.write(&mut out);
        C354_START_INPUT.write(&mut out);
        C221_BYE.write_text(&mut out, "mx bye");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "550 5.1.1 Mailbox unavailable: no such user\r\n\
             354 End data with <CR><LF>.<CR><LF>\r\n\
             221 2.0.0 mx bye\r\n"
        );
    }

    #[test]
    fn smtp_final_prefers_success_then_temporary() {
        let temp = || {
            Err(DeliveryError::Store(Arc::new(
                pillarbox_store::StoreError::Closed,
            )))
        };
        assert_eq!(
            smtp_final(&[Err(DeliveryError::QuotaExceeded), Ok(())]),
            C250_MESSAGE_ACCEPTED
        );
        assert_eq!(
            smtp_final(&[Err(DeliveryError::QuotaExceeded), temp()]),
            C451_LOCAL_ERROR
        );
        assert_eq!(
            smtp_final(&[Err(DeliveryError::QuotaExceeded)]),
            C552_MAILBOX_FULL
        );
        assert_eq!(smtp_final(&[]), C554_NO_VALID_RECIPIENTS);
    }
}
