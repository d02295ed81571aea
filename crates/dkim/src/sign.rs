//! Signing a submitted message with its author domains' stored keys.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use mail_auth::common::crypto::{Algorithm, Ed25519Key, RsaKey, Sha256, SigningKey};
use mail_auth::common::headers::{HeaderWriter, Writable};
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

/// Parsed keys kept at most; past it the cache starts over (keys are
/// re-parsed on demand, so this only bounds memory).
const MAX_PARSED_KEYS: usize = 1024;

/// Signs outbound messages with the keys in the store; one per server.
pub struct Signer {
    store: Store,
    /// Domains already reported as having no key.
    unsigned_logged: Mutex<HashSet<String>>,
    /// Keys already parsed, by domain and selector, with the DER they came
    /// from (a rotated or replaced key under the same name is re-parsed).
    /// ring validates an RSA key when parsing it, which costs more than
    /// signing with it, so parsing once per key matters.
    parsed: Arc<Mutex<ParsedKeys>>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").finish_non_exhaustive()
    }
}

type ParsedKeys = HashMap<(String, String), (Vec<u8>, ParsedKey)>;

/// `key` parsed, from `cache` when it holds the same DER under its name.
fn parsed_key(cache: &Mutex<ParsedKeys>, key: &DkimKey) -> Result<ParsedKey, DkimError> {
    let name = (key.domain.clone(), key.selector.clone());
    {
        let cache = cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((der, parsed)) = cache.get(&name)
            && *der == key.private_key
        {
            return Ok(parsed.clone());
        }
    }
    let parsed = ParsedKey::parse(key)?;
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    if cache.len() >= MAX_PARSED_KEYS {
        cache.clear();
    }
    cache.insert(name, (key.private_key.clone(), parsed.clone()));
    Ok(parsed)
}

/// A parsed private key, shareable between signing tasks.
#[derive(Clone)]
enum ParsedKey {
    Ed25519(Arc<Ed25519Key>),
    Rsa(Arc<RsaKey<Sha256>>),
}

impl ParsedKey {
    fn parse(key: &DkimKey) -> Result<ParsedKey, DkimError> {
        Ok(match key.algorithm {
            DkimAlgorithm::Ed25519Sha256 => ParsedKey::Ed25519(Arc::new(
                Ed25519Key::from_pkcs8_der(&key.private_key)
                    .map_err(|e| DkimError::Crypto(e.to_string()))?,
            )),
            DkimAlgorithm::RsaSha256 => ParsedKey::Rsa(Arc::new(rsa_key(&key.private_key)?)),
        })
    }
}

/// A shared parsed key as mail-auth's `SigningKey` (which `DkimSigner`
/// takes by value).
struct Shared<K>(Arc<K>);

impl<K: SigningKey> SigningKey for Shared<K> {
    type Hasher = K::Hasher;

    fn sign(&self, input: impl Writable) -> mail_auth::Result<Vec<u8>> {
        self.0.sign(input)
    }

    fn algorithm(&self) -> Algorithm {
        self.0.algorithm()
    }
}

/// One `DKIM-Signature:` field (CRLF-terminated) by `key` for `message`.
fn signature(key: &DkimKey, parsed: &ParsedKey, message: &[u8]) -> Result<String, DkimError> {
    match parsed {
        ParsedKey::Ed25519(k) => sign_with(Shared(k.clone()), key, message),
        ParsedKey::Rsa(k) => sign_with(Shared(k.clone()), key, message),
    }
}

/// [`signature`] for one key type.
fn sign_with<K: SigningKey>(
    signing: K,
    key: &DkimKey,
    message: &[u8],
) -> Result<String, DkimError> {
    // RFC 6376 §3.4: relaxed/relaxed survives the usual whitespace and
    // folding changes of relays.
    Ok(DkimSigner::from_key(signing)
        .domain(&key.domain)
        .selector(&key.selector)
        .headers(SIGNED_HEADERS.iter().copied())
        .header_canonicalization(Canonicalization::Relaxed)
        .body_canonicalization(Canonicalization::Relaxed)
        .sign(message)
        .map_err(|e| DkimError::Crypto(e.to_string()))?
        .to_header())
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
            parsed: Arc::new(Mutex::new(HashMap::new())),
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
        let cache = self.parsed.clone();
        tokio::task::spawn_blocking(move || {
            let mut fields = String::new();
            let mut count = 0;
            for key in &keys {
                match parsed_key(&cache, key).and_then(|p| signature(key, &p, &message)) {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::keys::generate;

    fn key(selector: &str, algorithm: DkimAlgorithm) -> DkimKey {
        DkimKey {
            domain: "example.org".into(),
            selector: selector.into(),
            algorithm,
            private_key: generate(algorithm).unwrap(),
            created: 0,
        }
    }

    fn same(a: &ParsedKey, b: &ParsedKey) -> bool {
        match (a, b) {
            (ParsedKey::Ed25519(a), ParsedKey::Ed25519(b)) => Arc::ptr_eq(a, b),
            (ParsedKey::Rsa(a), ParsedKey::Rsa(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    #[test]
    fn keys_are_parsed_once_and_again_when_replaced() {
        let cache = Mutex::new(ParsedKeys::new());
        let rsa = key("s1", DkimAlgorithm::RsaSha256);
        let first = parsed_key(&cache, &rsa).unwrap();
        assert!(same(&first, &parsed_key(&cache, &rsa).unwrap()));
        // Another key under the same name (e.g. re-created) is parsed anew.
        let replaced = key("s1", DkimAlgorithm::RsaSha256);
        assert!(!same(&first, &parsed_key(&cache, &replaced).unwrap()));
        let ed = key("s2", DkimAlgorithm::Ed25519Sha256);
        let parsed = parsed_key(&cache, &ed).unwrap();
        assert!(same(&parsed, &parsed_key(&cache, &ed).unwrap()));
        assert_eq!(cache.lock().unwrap().len(), 2);
    }

    #[test]
    fn cached_keys_sign_like_fresh_ones() {
        let cache = Mutex::new(ParsedKeys::new());
        let message = b"From: a@example.org\r\nSubject: x\r\n\r\nbody\r\n";
        for algorithm in [DkimAlgorithm::Ed25519Sha256, DkimAlgorithm::RsaSha256] {
            let k = key("s", algorithm);
            let once = signature(&k, &parsed_key(&cache, &k).unwrap(), message).unwrap();
            let twice = signature(&k, &parsed_key(&cache, &k).unwrap(), message).unwrap();
            // Same body hash; RSA PKCS#1 v1.5 and Ed25519 are deterministic,
            // so apart from the timestamp the fields agree.
            let strip = |h: &str| {
                h.split(';')
                    .filter(|t| !t.trim_start().starts_with("t="))
                    .collect::<Vec<_>>()
                    .join(";")
            };
            assert_eq!(strip(&once), strip(&twice));
            assert!(once.contains("bh="));
        }
    }
}
