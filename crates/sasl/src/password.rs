//! Password credentials: the argon2id PHC string (PLAIN, LOGIN, POP3
//! USER/PASS) and the SCRAM-SHA-256 record (RFC 5802 §3, RFC 7677), both
//! derived when a password is set.

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::error::SaslError;
use crate::prep::prepare_password;

type HmacSha256 = Hmac<Sha256>;

/// RFC 7677 §4: the iteration count SHOULD be at least 4096.
pub const SCRAM_ITERATIONS: u32 = 4096;
/// Salt length of new SCRAM records, in octets.
const SCRAM_SALT_LEN: usize = 16;

/// The two stored forms of one password. Maps field for field onto the
/// store's `StoredCredentials` (with `scram_sha256: Some(..)`); this crate
/// does not depend on the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCredentialsStrings {
    /// argon2id PHC string (`$argon2id$v=19$m=...`).
    pub password_hash: String,
    /// SCRAM-SHA-256 record: `salt$iterations$stored_key$server_key`, the
    /// binary parts in standard base64.
    pub scram_sha256: String,
}

/// Derives both stored forms of a password (after SASLprep, RFC 4013).
///
/// Infallible in practice: argon2 only refuses passwords longer than
/// 2^32 - 1 octets; see [`try_hash_password`] for the fallible form.
pub fn hash_password(pw: &str) -> StoredCredentialsStrings {
    match try_hash_password(pw) {
        Ok(c) => c,
        // Only reachable for a password of 4 GiB or more, which no caller
        // can hand us through a protocol line or the CLI.
        Err(e) => panic!("argon2 refused the password: {e}"),
    }
}

/// Fallible form of [`hash_password`].
pub fn try_hash_password(pw: &str) -> Result<StoredCredentialsStrings, SaslError> {
    let prepared = prepare_password(pw);
    let salt = SaltString::generate(&mut OsRng);
    let password_hash = Argon2::default()
        .hash_password(prepared.as_bytes(), &salt)
        .map_err(|e| SaslError::Hash(e.to_string()))?
        .to_string();
    let mut scram_salt = [0u8; SCRAM_SALT_LEN];
    rand::thread_rng().fill_bytes(&mut scram_salt);
    let scram = ScramRecord::derive(pw, &scram_salt, SCRAM_ITERATIONS);
    Ok(StoredCredentialsStrings {
        password_hash,
        scram_sha256: scram.encode(),
    })
}

/// Checks a password against an argon2 PHC string, in constant time with
/// respect to the password (argon2's verifier). The password is SASLprep'd
/// the same way as by [`hash_password`]. A malformed PHC string never
/// matches.
pub fn verify_password(phc: &str, pw: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let prepared = prepare_password(pw);
    Argon2::default()
        .verify_password(prepared.as_bytes(), &parsed)
        .is_ok()
}

/// Like [`verify_password`], but for a login that may not exist: with
/// `None` it spends the same time verifying against a dummy hash and
/// returns `false`, so response timing does not reveal which accounts exist.
pub fn verify_password_or_dummy(phc: Option<&str>, pw: &str) -> bool {
    match phc {
        Some(phc) => verify_password(phc, pw),
        None => {
            let _ = verify_password(dummy_phc(), pw);
            false
        }
    }
}

fn dummy_phc() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(b"pillarbox-dummy-password", &salt)
            .map(|h| h.to_string())
            // Unreachable (short fixed input); an unparsable dummy still
            // never matches, only the timing equalisation would be lost.
            .unwrap_or_default()
    })
}

/// A parsed SCRAM-SHA-256 credential record (RFC 5802 §3).
#[derive(Clone, PartialEq, Eq)]
pub struct ScramRecord {
    pub salt: Vec<u8>,
    pub iterations: u32,
    /// H(ClientKey).
    pub stored_key: [u8; 32],
    /// HMAC(SaltedPassword, "Server Key").
    pub server_key: [u8; 32],
}

impl std::fmt::Debug for ScramRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramRecord")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

impl ScramRecord {
    /// RFC 5802 §3: SaltedPassword := Hi(Normalize(password), salt, i);
    /// ClientKey := HMAC(SaltedPassword, "Client Key"); StoredKey :=
    /// H(ClientKey); ServerKey := HMAC(SaltedPassword, "Server Key").
    pub fn derive(pw: &str, salt: &[u8], iterations: u32) -> ScramRecord {
        let prepared = prepare_password(pw);
        let mut salted = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(prepared.as_bytes(), salt, iterations, &mut salted);
        let client_key = hmac(&salted, b"Client Key");
        let stored_key: [u8; 32] = Sha256::digest(client_key).into();
        let server_key = hmac(&salted, b"Server Key");
        ScramRecord {
            salt: salt.to_vec(),
            iterations,
            stored_key,
            server_key,
        }
    }

    /// `salt$iterations$stored_key$server_key` with base64 binary parts.
    pub fn encode(&self) -> String {
        format!(
            "{}${}${}${}",
            STANDARD.encode(&self.salt),
            self.iterations,
            STANDARD.encode(self.stored_key),
            STANDARD.encode(self.server_key)
        )
    }

    /// Parses the form written by [`ScramRecord::encode`].
    pub fn parse(s: &str) -> Result<ScramRecord, SaslError> {
        let mut parts = s.split('$');
        let (Some(salt), Some(iter), Some(stored), Some(server), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(SaslError::BadRecord("expected 4 `$`-separated fields"));
        };
        let salt = STANDARD
            .decode(salt)
            .map_err(|_| SaslError::BadRecord("salt is not base64"))?;
        if salt.is_empty() {
            return Err(SaslError::BadRecord("empty salt"));
        }
        let iterations: u32 = iter
            .parse()
            .map_err(|_| SaslError::BadRecord("iteration count"))?;
        if iterations == 0 {
            return Err(SaslError::BadRecord("iteration count"));
        }
        let key = |s: &str| -> Result<[u8; 32], SaslError> {
            STANDARD
                .decode(s)
                .ok()
                .and_then(|v| <[u8; 32]>::try_from(v).ok())
                .ok_or(SaslError::BadRecord("key is not 32 base64 octets"))
        };
        Ok(ScramRecord {
            salt,
            iterations,
            stored_key: key(stored)?,
            server_key: key(server)?,
        })
    }
}

pub(crate) fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length; new_from_slice cannot fail for it.
    let mut mac = match HmacSha256::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return [0u8; 32],
    };
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Constant-time equality of two byte strings of public length.
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_then_verify() {
        let c = hash_password("correct horse");
        assert!(c.password_hash.starts_with("$argon2id$"));
        assert!(verify_password(&c.password_hash, "correct horse"));
        assert!(!verify_password(&c.password_hash, "correct horsE"));
        assert!(!verify_password("not a phc", "correct horse"));
        assert!(!verify_password_or_dummy(None, "correct horse"));
        let rec = ScramRecord::parse(&c.scram_sha256).unwrap();
        assert_eq!(rec.iterations, SCRAM_ITERATIONS);
        assert_eq!(rec.salt.len(), SCRAM_SALT_LEN);
        assert_eq!(
            rec,
            ScramRecord::derive("correct horse", &rec.salt, rec.iterations)
        );
    }

    #[test]
    fn saslprep_applies_to_both_sides() {
        // U+00A0 NO-BREAK SPACE maps to SPACE (RFC 4013 §2.1).
        let c = hash_password("a\u{00A0}b");
        assert!(verify_password(&c.password_hash, "a b"));
    }

    #[test]
    fn rfc7677_keys() {
        // RFC 7677 §3: user "user", password "pencil".
        let salt = STANDARD.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let rec = ScramRecord::derive("pencil", &salt, 4096);
        let again = ScramRecord::parse(&rec.encode()).unwrap();
        assert_eq!(rec, again);
    }

    #[test]
    fn bad_records() {
        assert!(ScramRecord::parse("").is_err());
        assert!(ScramRecord::parse("a$1$b").is_err());
        assert!(ScramRecord::parse("AAAA$0$AAAA$AAAA").is_err());
        assert!(ScramRecord::parse("AAAA$4096$AAAA$AAAA").is_err());
    }

    #[test]
    fn ct_eq_works() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }
}
