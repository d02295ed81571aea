//! Key generation, public keys and the published `v=DKIM1` records.

use base64::Engine;
use mail_auth::common::crypto::{Ed25519Key, RsaKey, Sha256};
use pillarbox_store::{DkimAlgorithm, DkimKey, Store, UnixTime};
use rsa::pkcs8::EncodePrivateKey;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::DkimError;

/// RSA modulus size of generated keys: RFC 8301 §3.2 requires at least
/// 1024 bits and recommends 2048; 2048-bit keys still fit one TXT record.
pub const RSA_BITS: usize = 2048;

fn crypto(e: impl std::fmt::Display) -> DkimError {
    DkimError::Crypto(e.to_string())
}

/// A new private key, PKCS#8 DER. RSA generation takes a while (tens to
/// hundreds of milliseconds): call it off the async runtime.
pub fn generate(algorithm: DkimAlgorithm) -> Result<Vec<u8>, DkimError> {
    match algorithm {
        DkimAlgorithm::Ed25519Sha256 => Ed25519Key::generate_pkcs8().map_err(crypto),
        DkimAlgorithm::RsaSha256 => {
            let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, RSA_BITS).map_err(crypto)?;
            Ok(key.to_pkcs8_der().map_err(crypto)?.as_bytes().to_vec())
        }
    }
}

pub(crate) fn rsa_key(pkcs8: &[u8]) -> Result<RsaKey<Sha256>, DkimError> {
    RsaKey::<Sha256>::from_key_der(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pkcs8)))
        .map_err(crypto)
}

/// The public key bytes published in `p=`: the raw 32-byte key for
/// Ed25519 (RFC 8463 §4), the DER SubjectPublicKeyInfo for RSA (RFC 6376
/// §3.6.1 and Appendix C).
pub fn public_key(algorithm: DkimAlgorithm, pkcs8: &[u8]) -> Result<Vec<u8>, DkimError> {
    match algorithm {
        DkimAlgorithm::Ed25519Sha256 => Ok(Ed25519Key::from_pkcs8_der(pkcs8)
            .map_err(crypto)?
            .public_key()),
        DkimAlgorithm::RsaSha256 => Ok(rsa_spki(&rsa_key(pkcs8)?.public_key())),
    }
}

/// DER length octets (X.690 §8.1.3).
fn der_length(len: usize, out: &mut Vec<u8>) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    der_length(content.len(), &mut out);
    out.extend_from_slice(content);
    out
}

/// Wraps a PKCS#1 `RSAPublicKey` in a SubjectPublicKeyInfo (RFC 5280
/// §4.1.2.7) with the `rsaEncryption` algorithm (RFC 8017 Appendix C).
fn rsa_spki(pkcs1: &[u8]) -> Vec<u8> {
    // SEQUENCE { OID 1.2.840.113549.1.1.1, NULL }
    const ALGORITHM: &[u8] = &[
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let mut bits = vec![0u8]; // no unused bits
    bits.extend_from_slice(pkcs1);
    let mut content = ALGORITHM.to_vec();
    content.extend_from_slice(&der(0x03, &bits));
    der(0x30, &content)
}

/// The TXT record value to publish at `<selector>._domainkey.<domain>`
/// (RFC 6376 §3.6.1): `v=DKIM1; k=ed25519; p=...` or `v=DKIM1; k=rsa; p=...`.
pub fn dkim_record(algorithm: DkimAlgorithm, pkcs8: &[u8]) -> Result<String, DkimError> {
    let k = match algorithm {
        DkimAlgorithm::Ed25519Sha256 => "ed25519",
        DkimAlgorithm::RsaSha256 => "rsa",
    };
    let p = base64::engine::general_purpose::STANDARD.encode(public_key(algorithm, pkcs8)?);
    Ok(format!("v=DKIM1; k={k}; p={p}"))
}

/// The dated selector base for a key made at `now`, e.g. `pbx-ed-20261127`.
pub fn selector_prefix(algorithm: DkimAlgorithm, now: UnixTime) -> String {
    let short = match algorithm {
        DkimAlgorithm::Ed25519Sha256 => "ed",
        DkimAlgorithm::RsaSha256 => "rsa",
    };
    let date = time::OffsetDateTime::from_unix_timestamp(now)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .date();
    format!(
        "pbx-{short}-{:04}{:02}{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// The first of `prefix`, `prefix-2`, `prefix-3`, ... not in `taken`.
pub fn next_selector(prefix: &str, taken: &[&str]) -> String {
    let mut candidate = prefix.to_string();
    let mut n = 2;
    while taken.contains(&candidate.as_str()) {
        candidate = format!("{prefix}-{n}");
        n += 1;
    }
    candidate
}

/// Gives `domain` a key of each algorithm it lacks — or, with `rotate`, a
/// new key of each algorithm (older keys stay, for messages in transit,
/// until removed) — and returns the keys made. The domain must exist
/// (`NotFound`). Keys are generated on the blocking pool.
pub async fn ensure_keys(
    store: &Store,
    domain: &str,
    now: UnixTime,
    rotate: bool,
) -> Result<Vec<DkimKey>, DkimError> {
    let Some(domain) = store.domain(domain).await? else {
        return Err(pillarbox_store::StoreError::NotFound(format!("domain {domain}")).into());
    };
    let existing = store.dkim_keys(&domain.name).await?;
    let mut made = Vec::new();
    for algorithm in DkimAlgorithm::ALL {
        if !rotate && existing.iter().any(|k| k.algorithm == algorithm) {
            continue;
        }
        let private_key = tokio::task::spawn_blocking(move || generate(algorithm))
            .await
            .map_err(crypto)??;
        let taken: Vec<&str> = existing.iter().map(|k| k.selector.as_str()).collect();
        let key = DkimKey {
            domain: domain.name.clone(),
            selector: next_selector(&selector_prefix(algorithm, now), &taken),
            algorithm,
            private_key,
            created: now,
        };
        store.add_dkim_key(key.clone()).await?;
        made.push(key);
    }
    Ok(made)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_are_dated_and_unique() {
        // 2026-11-27T12:00:00Z
        let now = 1_795_780_800;
        assert_eq!(
            selector_prefix(DkimAlgorithm::Ed25519Sha256, now),
            "pbx-ed-20261127"
        );
        assert_eq!(
            selector_prefix(DkimAlgorithm::RsaSha256, now),
            "pbx-rsa-20261127"
        );
        assert_eq!(next_selector("pbx-ed-20261127", &[]), "pbx-ed-20261127");
        assert_eq!(
            next_selector(
                "pbx-ed-20261127",
                &["pbx-ed-20261127", "pbx-ed-20261127-2", "pbx-rsa-20261127"]
            ),
            "pbx-ed-20261127-3"
        );
    }

    #[test]
    fn ed25519_keys_round_trip() {
        let der = generate(DkimAlgorithm::Ed25519Sha256).expect("generate");
        let public = public_key(DkimAlgorithm::Ed25519Sha256, &der).expect("public key");
        assert_eq!(public.len(), 32, "RFC 8463 §4: the raw 32-byte key");
        let record = dkim_record(DkimAlgorithm::Ed25519Sha256, &der).expect("record");
        let p = record
            .strip_prefix("v=DKIM1; k=ed25519; p=")
            .expect("record syntax");
        assert_eq!(
            base64::engine::general_purpose::STANDARD
                .decode(p)
                .expect("base64"),
            public
        );
        assert_ne!(
            generate(DkimAlgorithm::Ed25519Sha256).expect("generate"),
            der,
            "every key is new"
        );
        assert!(public_key(DkimAlgorithm::Ed25519Sha256, b"not a key").is_err());
    }

    #[test]
    fn rsa_keys_are_2048_bit_pkcs8_with_spki_records() {
        let der = generate(DkimAlgorithm::RsaSha256).expect("generate");
        let key = rsa_key(&der).expect("ring parses the PKCS#8 key");
        let pkcs1 = key.public_key();
        let spki = public_key(DkimAlgorithm::RsaSha256, &der).expect("public key");
        // SEQUENCE (long form, 2 length octets), the rsaEncryption
        // algorithm identifier, then a BIT STRING holding the PKCS#1 key.
        assert_eq!(&spki[..2], &[0x30, 0x82]);
        assert_eq!(
            usize::from(u16::from_be_bytes([spki[2], spki[3]])),
            spki.len() - 4
        );
        assert_eq!(
            &spki[4..19],
            &[
                0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05,
                0x00
            ]
        );
        assert!(spki.ends_with(&pkcs1));
        // A 2048-bit modulus: 256 octets (plus a leading zero) inside.
        assert!((270..=294).contains(&pkcs1.len()), "{}", pkcs1.len());
        let record = dkim_record(DkimAlgorithm::RsaSha256, &der).expect("record");
        assert!(record.starts_with("v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A"));
    }

    #[test]
    fn der_lengths() {
        let mut out = Vec::new();
        der_length(5, &mut out);
        der_length(0x80, &mut out);
        der_length(0x1234, &mut out);
        assert_eq!(out, [5, 0x81, 0x80, 0x82, 0x12, 0x34]);
    }
}
