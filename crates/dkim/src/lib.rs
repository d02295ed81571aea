//! Outbound DKIM (RFC 6376) for Pillarbox: generating a domain's signing
//! keys, the key records to publish in DNS, and signing submitted messages
//! with the keys kept in the store (`pillarbox_store::dkim`).
//!
//! RFCs: RFC 6376 (DKIM signatures, `rsa-sha256`, relaxed/relaxed
//! canonicalization), RFC 8463 (`ed25519-sha256`), RFC 8301 (RSA keys of at
//! least 1024 bits, SHA-256 only). Signing and key parsing use `mail-auth`
//! on ring; RSA key generation uses the `rsa` crate (ring cannot generate
//! RSA keys). The `rsa` crate never signs or decrypts here, so its
//! private-key timing issue (RUSTSEC-2023-0071) does not apply.
//!
//! Choices documented here:
//! - Every domain gets two keys, Ed25519 and RSA-2048, and a message is
//!   signed with both (two `DKIM-Signature:` fields): verifiers that do not
//!   know Ed25519 yet (RFC 8463 §4 expects this) still find the RSA one.
//! - Selectors are dated, `pbx-ed-YYYYMMDD` and `pbx-rsa-YYYYMMDD` (UTC
//!   creation date; `-2`, `-3`, ... when that name is taken), so a rotation
//!   publishes a new name next to the old one and the old record can be
//!   removed once no message in transit needs it. The newest key of each
//!   algorithm signs.
//! - Private keys are stored as PKCS#8 DER. The RSA `p=` value is the DER
//!   SubjectPublicKeyInfo (RFC 6376 Appendix C, what `openssl rsa -pubout`
//!   prints); the Ed25519 one is the raw 32-byte key (RFC 8463 §4).
//! - The signed header fields are [`SIGNED_HEADERS`]; `From` is listed
//!   twice, so a second `From:` added in transit breaks the signature
//!   (RFC 6376 §8.15 "oversigning"), and listed fields the message lacks
//!   are signed as absent (§5.4.2), so they cannot be added either.
//! - Keys are read from the store for every message (one indexed read), so
//!   a key added by `pillarbox domain dkim` while the server runs signs
//!   the next message. Parsed keys are cached by name and DER (ring
//!   validates an RSA key on parsing, which costs more than a signature). A domain without keys sends unsigned mail, logged
//!   once per domain and process.

mod keys;
mod sign;

pub use keys::{dkim_record, ensure_keys, generate, next_selector, public_key, selector_prefix};
pub use sign::{SIGNED_HEADERS, Signer};

/// Why a DKIM operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DkimError {
    /// The store failed (reading or writing keys).
    #[error(transparent)]
    Store(#[from] pillarbox_store::StoreError),
    /// Key generation, parsing or signing failed.
    #[error("DKIM key error: {0}")]
    Crypto(String),
}
