//! Signing a submitted message with its author domains' stored keys.

use std::collections::HashSet;
use std::sync::Mutex;

use mail_auth::common::crypto::Ed25519Key;
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::{Canonicalization, DkimSigner};
use pillarbox_store::{DkimAlgorithm, DkimKey, Store};

use crate::DkimError;
use crate::keys::rsa_key;

/// The header fields signed (RFC 6376 §5.4.1's recommended set). `From`
/// appears twice: the second, unmatched entry oversigns it (§8.15).
pub const SIGNED_HEADERS: &[&str] = &[
    "From",
    "From",
    "To",
    "Cc",
    "Subject",
    "Date",
    "Message-ID",
    "Reply-To",
    "In-Reply-To",
    "References",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
];

/// Signs outbound messages with the keys in the store; one per server.
pub struct Signer {
    store: Store,
    /// Domains already reported as having no key.
    unsigned_logged: Mutex<HashSet<String>>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").finish_non_exhaustive()
    }
}

/// One `DKIM-Signature:` field (CRLF-terminated) by `key` for `message`.
fn signature(key: &DkimKey, message: &[u8]) -> Result<String, DkimError> {
    let crypto = |e: mail_auth::Error| DkimError::Crypto(e.to_string());
    // RFC 6376 §3.4: relaxed/relaxed survives the usual whitespace and
    // folding changes of relays.
    let header = match key.algorithm {
        DkimAlgorithm::Ed25519Sha256 => {
            DkimSigner::from_key(Ed25519Key::from_pkcs8_der(&key.private_key).map_err(crypto)?)
                .domain(&key.domain)
                .selector(&key.selector)
                .headers(SIGNED_HEADERS.iter().copied())
                .header_canonicalization(Canonicalization::Relaxed)
                .body_canonicalization(Canonicalization::Relaxed)
                .sign(message)
                .map_err(crypto)?
                .to_header()
        }
        DkimAlgorithm::RsaSha256 => DkimSigner::from_key(rsa_key(&key.private_key)?)
            .domain(&key.domain)
            .selector(&key.selector)
            .headers(SIGNED_HEADERS.iter().copied())
            .header_canonicalization(Canonicalization::Relaxed)
            .body_canonicalization(Canonicalization::Relaxed)
            .sign(message)
            .map_err(crypto)?
            .to_header(),
    };
    Ok(header)
}

/// The newest key of each algorithm (keys come oldest first).
fn signing_keys(keys: Vec<DkimKey>) -> Vec<DkimKey> {
    let mut newest: Vec<DkimKey> = Vec::new();
    for key in keys {
        match newest.iter_mut().find(|k| k.algorithm == key.algorithm) {
            Some(slot) => *slot = key,
            None => newest.push(key),
        }
    }
    newest
}

impl Signer {
    pub fn new(store: Store) -> Signer {
        Signer {
            store,
            unsigned_logged: Mutex::new(HashSet::new()),
        }
    }

    /// Signs `message` (CRLF line endings) for each of `domains` (the
    /// author domains, lowercase) with the newest key of each algorithm,
    /// and returns it with the `DKIM-Signature:` fields prepended, and how
    /// many there are. A domain without keys adds none (logged once); a
    /// key that cannot be used is logged and skipped. `Err` only when the
    /// store could not be read (the caller should answer with a temporary
    /// failure rather than send mail its domain's DMARC policy may reject).
    pub async fn sign(
        &self,
        domains: &[String],
        message: Vec<u8>,
    ) -> Result<(Vec<u8>, usize), DkimError> {
        let mut keys = Vec::new();
        for domain in domains {
            let found = signing_keys(self.store.dkim_keys(domain).await?);
            if found.is_empty() {
                let first = self
                    .unsigned_logged
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(domain.clone());
                if first {
                    tracing::warn!(
                        %domain,
                        "domain has no DKIM key; its mail goes out unsigned \
                         (run `pillarbox domain dkim {domain}`)"
                    );
                }
            }
            keys.extend(found);
        }
        if keys.is_empty() {
            return Ok((message, 0));
        }
        // Hashing the body and RSA signing are CPU work: off the runtime.
        tokio::task::spawn_blocking(move || {
            let mut fields = String::new();
            let mut count = 0;
            for key in &keys {
                match signature(key, &message) {
                    Ok(field) => {
                        fields.push_str(&field);
                        count += 1;
                    }
                    Err(error) => tracing::error!(
                        domain = %key.domain,
                        selector = %key.selector,
                        %error,
                        "DKIM signing failed; this signature is left out"
                    ),
                }
            }
            let mut signed = Vec::with_capacity(fields.len() + message.len());
            signed.extend_from_slice(fields.as_bytes());
            signed.extend_from_slice(&message);
            (signed, count)
        })
        .await
        .map_err(|e| DkimError::Crypto(format!("signing task failed: {e}")))
    }
}
