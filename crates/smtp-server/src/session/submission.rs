//! Submission policy (RFC 6409): which addresses an authenticated user may
//! send as, the header fields a message submission agent completes, and
//! the DKIM signatures (RFC 6376) it adds.
//!
//! A user owns an address when it is their login, an alias whose expansion
//! reaches their account (directly or through nested aliases), or a
//! `+tag` subaddress of one of those. A domain's catch-all does not make
//! every address of the domain the catch-all account's own.

use pillarbox_delivery::Resolution;
use pillarbox_delivery::trace::{normalize_crlf, rfc5322_date};
use pillarbox_message::address::parse_address_list;
use pillarbox_message::header::{fields, unfold};
use pillarbox_store::AddressTarget;

use super::Authenticated;
use crate::SmtpContext;
use crate::reply::{self, Reply};

/// Whether an authenticated user may use an address as a sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SenderCheck {
    Owned,
    NotOwned,
    /// The store failed; the client may retry.
    TemporaryFailure,
}

/// Whether `auth` owns `address` (see the module documentation).
pub(super) async fn sender_check(
    ctx: &SmtpContext,
    auth: &Authenticated,
    address: &str,
) -> SenderCheck {
    let address = address.to_lowercase();
    let separator = ctx.delivery.config().subaddress_separator.as_str();
    let mut candidates = vec![address.clone()];
    if let Some((local, domain)) = address.rsplit_once('@')
        && !separator.is_empty()
        && let Some((base, _tag)) = local.split_once(separator)
        && !base.is_empty()
    {
        candidates.push(format!("{base}@{domain}"));
    }
    for candidate in candidates {
        if candidate == auth.login {
            return SenderCheck::Owned;
        }
        match ctx.store.lookup_address(&candidate).await {
            Err(error) => {
                tracing::warn!(address = %candidate, %error, "sender lookup failed");
                return SenderCheck::TemporaryFailure;
            }
            Ok(None) => continue,
            Ok(Some(AddressTarget::Account(id))) => {
                return if id == auth.account {
                    SenderCheck::Owned
                } else {
                    SenderCheck::NotOwned
                };
            }
            // The exact address is an alias, so resolution expands it
            // (never falling back to a catch-all for the alias itself).
            Ok(Some(AddressTarget::Alias(_))) => {
                return match ctx.delivery.resolve(&candidate).await {
                    Resolution::Local { accounts, .. } if accounts.contains(&auth.account) => {
                        SenderCheck::Owned
                    }
                    Resolution::TemporaryFailure => SenderCheck::TemporaryFailure,
                    _ => SenderCheck::NotOwned,
                };
            }
        }
    }
    SenderCheck::NotOwned
}

/// The header section of a message: up to (not including) the empty line,
/// or all of it when there is none.
fn header_section(raw: &[u8]) -> &[u8] {
    let mut iter = fields(raw);
    for _ in iter.by_ref() {}
    &raw[..iter.offset()]
}

/// The addresses (`local@domain`, as written) of every `From:` field;
/// `None` when the message has no `From:` field.
fn from_addresses(header: &[u8]) -> Option<Vec<String>> {
    let mut found = false;
    let mut addresses = Vec::new();
    for field in fields(header).filter(|f| f.name.eq_ignore_ascii_case(b"From")) {
        found = true;
        for address in parse_address_list(&unfold(field.value)) {
            // Group markers carry no host; a mailbox always has both parts.
            if let (Some(mailbox), Some(host)) = (&address.mailbox, &address.host) {
                addresses.push(format!(
                    "{}@{}",
                    String::from_utf8_lossy(mailbox),
                    String::from_utf8_lossy(host)
                ));
            }
        }
    }
    found.then_some(addresses)
}

fn has_field(header: &[u8], name: &str) -> bool {
    fields(header).any(|f| f.name.eq_ignore_ascii_case(name.as_bytes()))
}

/// Checks a submitted message and completes it: every `From:` address
/// must be the user's (`550 5.7.1`; no `From:` at all is `550 5.6.0`),
/// missing `Date:` (RFC 6409 §8.2) and `Message-ID:` (§8.3) fields are
/// added at the top of the header, and the result is DKIM-signed
/// ([`sign`]).
pub(super) async fn complete_message(
    ctx: &SmtpContext,
    auth: &Authenticated,
    raw: Vec<u8>,
) -> Result<Vec<u8>, Reply> {
    let header = header_section(&raw);
    let Some(from) = from_addresses(header) else {
        return Err(reply::C550_NO_FROM);
    };
    if from.is_empty() {
        return Err(reply::C550_FROM_NOT_OWNED);
    }
    for address in &from {
        match sender_check(ctx, auth, address).await {
            SenderCheck::Owned => {}
            SenderCheck::NotOwned => return Err(reply::C550_FROM_NOT_OWNED),
            SenderCheck::TemporaryFailure => return Err(reply::C451_LOCAL_ERROR),
        }
    }
    let mut added = String::new();
    if !has_field(header, "Date") {
        added.push_str(&format!("Date: {}\r\n", rfc5322_date(ctx.clock.now())));
    }
    if !has_field(header, "Message-ID") {
        let id: u128 = rand::random();
        added.push_str(&format!(
            "Message-ID: <{id:032x}@{}>\r\n",
            ctx.config.hostname
        ));
    }
    let completed = if added.is_empty() {
        raw
    } else {
        let mut completed = Vec::with_capacity(added.len() + raw.len());
        completed.extend_from_slice(added.as_bytes());
        completed.extend_from_slice(&raw);
        completed
    };
    sign(ctx, &from, completed).await
}

/// DKIM-signs a completed message with the keys of its `From:` domains
/// that are ours (every one is, after the sender checks; the lookup keeps
/// it so). The message is signed with CRLF line endings, exactly as it
/// will be queued and stored, so the body hash survives. A store failure
/// answers `451`: mail sent unsigned could be rejected by the domain's own
/// DMARC policy.
async fn sign(ctx: &SmtpContext, from: &[String], raw: Vec<u8>) -> Result<Vec<u8>, Reply> {
    let mut domains: Vec<String> = Vec::new();
    for address in from {
        let Some((_, domain)) = address.rsplit_once('@') else {
            continue;
        };
        let domain = domain.to_ascii_lowercase();
        if domains.contains(&domain) {
            continue;
        }
        match ctx.store.domain(&domain).await {
            Ok(Some(_)) => domains.push(domain),
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(%domain, %error, "domain lookup for DKIM failed");
                return Err(reply::C451_LOCAL_ERROR);
            }
        }
    }
    let raw = normalize_crlf(raw);
    if domains.is_empty() {
        return Ok(raw);
    }
    // RFC 6376 §3.5: d= is the author (From:) domain, so that the
    // signature is aligned for DMARC (RFC 7489 §3.1.1).
    match ctx.dkim.sign(&domains, raw).await {
        Ok((signed, signatures)) => {
            tracing::debug!(domains = ?domains, signatures, "DKIM-signed");
            Ok(signed)
        }
        Err(error) => {
            tracing::warn!(domains = ?domains, %error, "DKIM signing failed");
            Err(reply::C451_LOCAL_ERROR)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn from_addresses_of_every_field_and_group() {
        let h = b"Subject: x\r\nFrom: Alice <Alice@Example.org>, bob@example.org\r\n\
                  From: team: carol@example.org;\r\n\r\nFrom: body@example.org\r\n";
        let header = header_section(h);
        assert!(header.ends_with(b"carol@example.org;\r\n"));
        assert_eq!(
            from_addresses(header).unwrap(),
            vec![
                "Alice@Example.org".to_string(),
                "bob@example.org".to_string(),
                "carol@example.org".to_string()
            ]
        );
        assert_eq!(from_addresses(b"To: a@b\r\n\r\n"), None);
        assert!(has_field(b"date: now\r\n", "Date"));
        assert!(!has_field(b"X-Date: now\r\n", "Date"));
    }
}
