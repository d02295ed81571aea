//! DKIM signing keys (DESIGN §4 "Domain: ... DKIM keys"): the private keys
//! outbound mail of a domain is signed with (RFC 6376), one per selector.
//!
//! The store keeps them as opaque PKCS#8 DER documents; generating,
//! parsing and signing are `pillarbox-dkim`'s business. Invariants every
//! backend guarantees:
//! - A key belongs to an existing domain, and `(domain, selector)` is
//!   unique; removing the domain removes its keys in the same transaction.
//! - [`crate::MailStore::dkim_keys`] lists a domain's keys oldest first
//!   (by `created`, then selector), so the last key of an algorithm is its
//!   newest.
//! - Nothing is cached: a key added by the CLI is seen by a running
//!   server's next lookup.

use serde::{Deserialize, Serialize};

use crate::api::UnixTime;
use crate::error::StoreError;

/// A DKIM signing algorithm (the `a=` tag of RFC 6376 §3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DkimAlgorithm {
    /// RFC 8463: Ed25519 over SHA-256.
    Ed25519Sha256,
    /// RFC 6376 §3.3.1: RSASSA-PKCS1-v1_5 with SHA-256.
    RsaSha256,
}

impl DkimAlgorithm {
    /// Both algorithms, Ed25519 first.
    pub const ALL: [DkimAlgorithm; 2] = [DkimAlgorithm::Ed25519Sha256, DkimAlgorithm::RsaSha256];

    /// The `a=` tag value, e.g. `ed25519-sha256`.
    pub fn as_str(self) -> &'static str {
        match self {
            DkimAlgorithm::Ed25519Sha256 => "ed25519-sha256",
            DkimAlgorithm::RsaSha256 => "rsa-sha256",
        }
    }

    /// Parses an `a=` tag value (case-insensitive).
    pub fn parse(s: &str) -> Option<DkimAlgorithm> {
        DkimAlgorithm::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(s))
    }
}

impl std::fmt::Display for DkimAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored DKIM key.
#[derive(Clone, PartialEq, Eq)]
pub struct DkimKey {
    /// Lowercase domain name (the `d=` tag).
    pub domain: String,
    /// Lowercase selector (the `s=` tag; the key's TXT record lives at
    /// `<selector>._domainkey.<domain>`).
    pub selector: String,
    pub algorithm: DkimAlgorithm,
    /// The private key, PKCS#8 DER.
    pub private_key: Vec<u8>,
    /// When the key was made.
    pub created: UnixTime,
}

impl std::fmt::Debug for DkimKey {
    // The private key stays out of logs and test failure output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DkimKey")
            .field("domain", &self.domain)
            .field("selector", &self.selector)
            .field("algorithm", &self.algorithm)
            .field("created", &self.created)
            .finish_non_exhaustive()
    }
}

/// Checks and lowercases a selector: RFC 6376 §3.1, `selector =
/// sub-domain *( "." sub-domain )`, each label letters, digits and inner
/// hyphens, at most 63 octets; the whole at most 200 octets (so that
/// `<selector>._domainkey.<domain>` can still be a DNS name).
pub fn selector(s: &str) -> Result<String, StoreError> {
    let lower = s.to_ascii_lowercase();
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if lower.is_empty() || lower.len() > 200 || !lower.split('.').all(label_ok) {
        return Err(StoreError::Invalid(format!("DKIM selector {s:?}")));
    }
    Ok(lower)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_follow_rfc6376() {
        assert_eq!(selector("PBX-ed-20261127").expect("ok"), "pbx-ed-20261127");
        assert_eq!(selector("a.b-2").expect("ok"), "a.b-2");
        for bad in ["", "-a", "a-", "a..b", "a_b", "a b", &"x".repeat(64)] {
            assert!(selector(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn algorithms_round_trip() {
        for a in DkimAlgorithm::ALL {
            assert_eq!(DkimAlgorithm::parse(a.as_str()), Some(a));
        }
        assert_eq!(
            DkimAlgorithm::parse("RSA-SHA256"),
            Some(DkimAlgorithm::RsaSha256)
        );
        assert_eq!(DkimAlgorithm::parse("rsa-sha1"), None);
    }
}
