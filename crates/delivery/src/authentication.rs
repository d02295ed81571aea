//! Inbound message authentication on the MX path: SPF (RFC 7208), DKIM
//! (RFC 6376) and DMARC (RFC 7489) with `mail-auth`, recorded in an
//! `Authentication-Results:` header field (RFC 8601).
//!
//! Choices documented here:
//! - SPF checks both identities (RFC 7208 §2.3 HELO, §2.4 MAIL FROM); with
//!   the null reverse-path the MAIL FROM identity is `postmaster@<HELO>`
//!   (RFC 7208 §2.4), so the HELO result stands for both. A HELO that is an
//!   address literal or has no dot is not checked (`none`).
//! - Every DKIM signature is verified and reported (RFC 6376 §6.1; RFC 8601
//!   §2.7.1 one `dkim=` result per signature); no signature gives
//!   `dkim=none`. `mail-auth` reports a body-hash mismatch as `neutral`
//!   (RFC 6376 §6.1.3 calls it a PERMFAIL); DMARC counts it as not
//!   passing either way.
//! - DMARC uses the MAIL FROM SPF result (RFC 7489 §4.1) and every DKIM
//!   result. Only a definite `fail` applies the policy: `p=reject` is
//!   refused (`dmarc_reject`), `p=quarantine` goes to Junk
//!   (`dmarc_quarantine_to_junk`; a `p=reject` failure with `dmarc_reject`
//!   off is quarantined too).
//! - Temporary DNS errors never lose or refuse mail: RFC 7489 leaves their
//!   handling to the receiver (§6.6.2, §6.6.3), and mail-auth reports
//!   `temperror` whenever an aligned identifier could not be checked, so a
//!   `dmarc=temperror` message is delivered with the result recorded rather
//!   than deferred. (A `451` would not lose mail either, but a domain with
//!   a broken DNS server would see all its mail delayed.)
//! - Our `Authentication-Results:` field is prepended like a trace field
//!   (RFC 8601 §5), below the final `Return-Path:` and above our
//!   `Received:`; existing fields claiming our authserv-id are removed
//!   (RFC 8601 §5: forged results must not reach the user).

use std::net::IpAddr;

use mail_auth::dmarc::Policy;
use mail_auth::dmarc::verify::DmarcParameters;
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{
    AuthenticatedMessage, AuthenticationResults, DkimResult, DmarcResult, MessageAuthenticator,
    SpfOutput, SpfResult,
};

pub use pillarbox_dns::DnsSetupError;
use pillarbox_dns::resolver_config;

use crate::{DnsConfig, Envelope};

/// RFC 6376 §6.1 lets a verifier limit the signatures it tries, against
/// denial of service: each costs a DNS query and, with its own `l=` or
/// canonicalization, another pass over the body, so a message with
/// thousands of `DKIM-Signature:` fields would hold the session for
/// minutes and produce an `Authentication-Results:` field as long.
const MAX_DKIM_SIGNATURES: usize = 8;

/// `raw` without the `DKIM-Signature:` fields after the first
/// [`MAX_DKIM_SIGNATURES`] (those are not verified and not reported); the
/// message itself when it has no more.
fn limit_signatures(raw: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let is_signature =
        |f: &pillarbox_message::header::Field<'_>| f.name.eq_ignore_ascii_case(b"DKIM-Signature");
    let count = pillarbox_message::header::fields(raw)
        .filter(is_signature)
        .count();
    if count <= MAX_DKIM_SIGNATURES {
        return std::borrow::Cow::Borrowed(raw);
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut seen = 0;
    let mut fields = pillarbox_message::header::fields(raw);
    for field in fields.by_ref() {
        if is_signature(&field) {
            seen += 1;
            if seen > MAX_DKIM_SIGNATURES {
                continue;
            }
        }
        out.extend_from_slice(field.raw);
    }
    out.extend_from_slice(&raw[fields.offset()..]);
    tracing::info!(
        signatures = count,
        verified = MAX_DKIM_SIGNATURES,
        "DKIM signatures beyond the limit ignored"
    );
    std::borrow::Cow::Owned(out)
}

/// What to do with a verified message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Deliver to INBOX.
    Deliver,
    /// Deliver into each account's Junk mailbox (DMARC failure under a
    /// quarantine policy).
    Quarantine,
    /// Refuse with `550 5.7.1` (DMARC failure under `p=reject`).
    Reject,
}

/// The outcome of [`crate::Delivery::authenticate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The `Authentication-Results:` field, CRLF-terminated and folded.
    pub header: String,
    /// What to do with the message.
    pub disposition: Disposition,
    /// The MAIL FROM SPF result (RFC 8601 §2.7.2 name: `pass`, `fail`, ...).
    pub spf: &'static str,
    /// The DKIM result of each signature; empty when unsigned.
    pub dkim: Vec<&'static str>,
    /// The DMARC result (`pass`, `fail`, `none`, `temperror`, ...).
    pub dmarc: &'static str,
    /// The author domain DMARC evaluated (empty if none).
    pub dmarc_domain: String,
}

/// SPF/DKIM/DMARC checks with an injected resolver; one per server.
pub struct Authenticator {
    resolver: MessageAuthenticator,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator").finish_non_exhaustive()
    }
}

impl Authenticator {
    /// A resolver for `dns`: its name servers, or the system's when none
    /// are configured. Must be called inside a tokio runtime.
    pub fn new(dns: &DnsConfig) -> Result<Authenticator, DnsSetupError> {
        let (config, options) = resolver_config(&dns.nameservers, dns.timeout_secs)?;
        let resolver = MessageAuthenticator::new(config, options)
            .map_err(|e| DnsSetupError::Resolver(e.to_string()))?;
        Ok(Authenticator { resolver })
    }

    /// Verifies `raw` (the message as received) for `envelope` and builds
    /// the `Authentication-Results:` field naming `authserv_id`.
    pub(crate) async fn verify(
        &self,
        envelope: &Envelope,
        raw: &[u8],
        authserv_id: &str,
        policy: PolicyConfig,
    ) -> Verdict {
        let ip = envelope.peer_ip;
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            IpAddr::V4(_) => ip,
        };
        let helo = envelope
            .helo
            .trim()
            .trim_end_matches('.')
            .to_ascii_lowercase();
        let sender = envelope.reverse_path.as_str();

        // RFC 7208 §2.3: the HELO identity, when it is a domain name.
        let helo_checkable =
            helo.contains('.') && !helo.starts_with('[') && helo.parse::<IpAddr>().is_err();
        let helo_spf: Option<SpfOutput> = if helo_checkable {
            Some(
                self.resolver
                    .verify_spf(SpfParameters::verify_ehlo(ip, &helo, authserv_id))
                    .await,
            )
        } else {
            None
        };
        // RFC 7208 §2.4: MAIL FROM, or postmaster@HELO for the null path.
        let mail_from_spf: Option<SpfOutput> = if sender.is_empty() {
            helo_spf.clone()
        } else if sender.contains('@') {
            Some(
                self.resolver
                    .verify_spf(SpfParameters::verify_mail_from(
                        ip,
                        &helo,
                        authserv_id,
                        sender,
                    ))
                    .await,
            )
        } else {
            None
        };
        let none_spf = SpfOutput::new(String::new());

        let mail_from_domain = if sender.is_empty() {
            helo.as_str()
        } else {
            sender.rsplit_once('@').map_or("", |(_, d)| d)
        };

        let mut results = AuthenticationResults::new(authserv_id);
        let mut header_tail = String::new();
        let spf_for_dmarc = mail_from_spf.as_ref().unwrap_or(&none_spf);
        match &mail_from_spf {
            Some(output) => {
                results = results.with_spf_mailfrom_result(output, ip, sender, &helo);
            }
            None => header_tail.push_str(";\r\n\tspf=none smtp.mailfrom=<>"),
        }
        if let Some(output) = &helo_spf
            && !sender.is_empty()
        {
            results = results.with_spf_ehlo_result(output, ip, &helo);
        }

        let limited = limit_signatures(raw);
        let message = AuthenticatedMessage::parse(&limited);
        let (dkim_names, dmarc_name, dmarc_domain, disposition, dkim_dmarc_text) = match &message {
            Some(message) => {
                let dkim = self.resolver.verify_dkim(message).await;
                let dmarc = self
                    .resolver
                    .verify_dmarc(DmarcParameters::new(
                        message,
                        &dkim,
                        mail_from_domain,
                        spf_for_dmarc,
                    ))
                    .await;
                let mut text = String::new();
                let header_from = message.from();
                if dkim.is_empty() {
                    text.push_str(";\r\n\tdkim=none");
                } else {
                    text.push_str(
                        &AuthenticationResults::new("")
                            .with_dkim_results(&dkim, header_from)
                            .to_string(),
                    );
                }
                let dmarc_result = dmarc.result();
                if dmarc.domain().is_empty() {
                    // No author domain (or several): DMARC does not apply.
                    text.push_str(";\r\n\tdmarc=none");
                } else {
                    text.push_str(
                        &AuthenticationResults::new("")
                            .with_dmarc_result(&dmarc)
                            .to_string(),
                    );
                }
                let failed = matches!(dmarc_result, DmarcResult::Fail(_));
                let disposition = match dmarc.policy() {
                    Policy::Reject if failed && policy.reject => Disposition::Reject,
                    Policy::Reject | Policy::Quarantine if failed && policy.quarantine_to_junk => {
                        Disposition::Quarantine
                    }
                    _ => Disposition::Deliver,
                };
                (
                    dkim.iter().map(|o| dkim_name(o.result())).collect(),
                    dmarc_name(&dmarc_result),
                    dmarc.domain().to_string(),
                    disposition,
                    text,
                )
            }
            None => (
                Vec::new(),
                "none",
                String::new(),
                Disposition::Deliver,
                ";\r\n\tdkim=none;\r\n\tdmarc=none".to_string(),
            ),
        };

        let mut header = format!("Authentication-Results: {results}");
        header.push_str(&header_tail);
        header.push_str(&dkim_dmarc_text);
        header.push_str("\r\n");
        Verdict {
            header,
            disposition,
            spf: spf_name(
                mail_from_spf
                    .as_ref()
                    .map_or(SpfResult::None, SpfOutput::result),
            ),
            dkim: dkim_names,
            dmarc: dmarc_name,
            dmarc_domain,
        }
    }
}

/// The policy switches of [`crate::DeliveryConfig`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct PolicyConfig {
    pub reject: bool,
    pub quarantine_to_junk: bool,
}

/// RFC 8601 §2.7.2 result names.
fn spf_name(result: SpfResult) -> &'static str {
    match result {
        SpfResult::Pass => "pass",
        SpfResult::Fail => "fail",
        SpfResult::SoftFail => "softfail",
        SpfResult::Neutral => "neutral",
        SpfResult::TempError => "temperror",
        SpfResult::PermError => "permerror",
        SpfResult::None => "none",
    }
}

/// RFC 8601 §2.7.1 result names.
fn dkim_name(result: &DkimResult) -> &'static str {
    match result {
        DkimResult::Pass => "pass",
        DkimResult::Neutral(_) => "neutral",
        DkimResult::Fail(_) => "fail",
        DkimResult::PermError(_) => "permerror",
        DkimResult::TempError(_) => "temperror",
        DkimResult::None => "none",
    }
}

/// RFC 7489 §11.2 result names.
fn dmarc_name(result: &DmarcResult) -> &'static str {
    match result {
        DmarcResult::Pass => "pass",
        DmarcResult::Fail(_) => "fail",
        DmarcResult::TempError(_) => "temperror",
        DmarcResult::PermError(_) => "permerror",
        DmarcResult::None => "none",
    }
}

/// RFC 8601 §5: removes every `Authentication-Results:` field of the
/// header section whose authserv-id is `authserv_id` (case-insensitive):
/// only we may speak for our ADMD. Fields of other ADMDs are kept.
pub fn remove_claimed_results(message: Vec<u8>, authserv_id: &str) -> Vec<u8> {
    let ours = authserv_id.trim_end_matches('.');
    // Header fields as (start, end) byte ranges, continuation lines included.
    let mut fields: Vec<(usize, usize)> = Vec::new();
    let mut pos = 0;
    while pos < message.len() {
        let end = message[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(message.len(), |i| pos + i + 1);
        let line = &message[pos..end];
        if line == b"\r\n" || line == b"\n" {
            break;
        }
        match (line.first(), fields.last_mut()) {
            (Some(b' ' | b'\t'), Some(last)) => last.1 = end,
            _ => fields.push((pos, end)),
        }
        pos = end;
    }
    let remove: Vec<(usize, usize)> = fields
        .into_iter()
        .filter(|&(start, end)| claims(&message[start..end], ours))
        .collect();
    if remove.is_empty() {
        return message;
    }
    let mut out = Vec::with_capacity(message.len());
    let mut from = 0;
    for (start, end) in remove {
        out.extend_from_slice(&message[from..start]);
        from = end;
    }
    out.extend_from_slice(&message[from..]);
    out
}

/// Whether a header field is `Authentication-Results:` with this
/// authserv-id (RFC 8601 §2.2: `authserv-id = value`, after optional CFWS).
fn claims(field: &[u8], ours: &str) -> bool {
    let Some(colon) = field.iter().position(|&b| b == b':') else {
        return false;
    };
    let name = field[..colon].trim_ascii();
    if !name.eq_ignore_ascii_case(b"Authentication-Results") {
        return false;
    }
    let value = &field[colon + 1..];
    let mut i = 0;
    // Skip folding whitespace and (nested) comments.
    loop {
        while i < value.len() && value[i].is_ascii_whitespace() {
            i += 1;
        }
        if value.get(i) != Some(&b'(') {
            break;
        }
        let mut depth = 0usize;
        while i < value.len() {
            match value[i] {
                b'\\' => i += 1,
                b'(' => depth += 1,
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        i += 1;
                        break;
                    }
                }
                _ => {}
            }
            i += 1;
        }
    }
    let start = i;
    while i < value.len() && !matches!(value[i], b';' | b'(' | b' ' | b'\t' | b'\r' | b'\n') {
        i += 1;
    }
    let id = &value[start..i];
    let id = id.strip_suffix(b".").unwrap_or(id);
    // RFC 8601 §2.2 allows a quoted-string value.
    let id = id
        .strip_prefix(b"\"")
        .and_then(|v| v.strip_suffix(b"\""))
        .unwrap_or(id);
    !id.is_empty() && id.eq_ignore_ascii_case(ours.as_bytes())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn claimed_results_are_removed_others_kept() {
        let msg = b"Authentication-Results: MX.example.org; spf=pass\r\n\
            \tsmtp.mailfrom=x@example.net\r\n\
            Authentication-Results: (comment) mx.example.org.; dkim=pass\r\n\
            Authentication-Results: other.example; dkim=pass\r\n\
            Subject: hi\r\n\
            \r\n\
            Authentication-Results: mx.example.org; body line kept\r\n"
            .to_vec();
        let out = remove_claimed_results(msg, "mx.example.org");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "Authentication-Results: other.example; dkim=pass\r\n\
             Subject: hi\r\n\
             \r\n\
             Authentication-Results: mx.example.org; body line kept\r\n"
        );
    }

    #[test]
    fn unrelated_message_is_untouched() {
        let msg = b"Subject: x\r\n\r\nbody".to_vec();
        assert_eq!(remove_claimed_results(msg.clone(), "mx"), msg);
        let prefix = b"Authentication-Results: mx.example.org.evil; x\r\n\r\n".to_vec();
        assert_eq!(
            remove_claimed_results(prefix.clone(), "mx.example.org"),
            prefix
        );
    }
}
