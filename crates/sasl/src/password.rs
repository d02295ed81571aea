//! Password credentials: the argon2id PHC string (PLAIN, LOGIN, POP3
//! USER/PASS) and the SCRAM-SHA-256 record (RFC 5802 §3, RFC 7677), both
//! derived when a password is set.

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
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
/// respect to the password (the computed hash is compared with
/// `password_hash::Output`'s constant-time equality). The password is
/// SASLprep'd the same way as by [`hash_password`]. A malformed PHC string
/// never matches.
///
/// The work runs on a small pool of dedicated threads, each reusing one
/// argon2 memory buffer (19 MiB with the default parameters). Verifying on
/// whichever thread happens to call would leave a freed buffer in every
/// thread's malloc arena — tens of MiB per login that are never returned to
/// the system (measured: ~12 MiB resident per idle IMAP session). The pool
/// bounds that memory to one buffer per worker and argon2's CPU use to the
/// number of workers. Callers block until the answer; async callers use
/// their runtime's blocking pool as before.
pub fn verify_password(phc: &str, pw: &str) -> bool {
    let prepared = prepare_password(pw);
    verifier().verify(phc.to_string(), prepared.as_bytes().to_vec())
}

/// Verifies on the calling thread with the given reusable buffer.
fn verify_with(phc: &str, pw: &[u8], memory: &mut Vec<argon2::Block>) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(expected), Some(salt)) = (parsed.hash, parsed.salt) else {
        return false;
    };
    let Ok(algorithm) = argon2::Algorithm::try_from(parsed.algorithm) else {
        return false;
    };
    let version = match parsed.version.map(argon2::Version::try_from) {
        None => argon2::Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let Ok(params) = argon2::Params::try_from(&parsed) else {
        return false;
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let blocks = params.block_count();
    // Bound what a stored hash can make us allocate (1 GiB of blocks).
    if blocks > 1024 * 1024 {
        return false;
    }
    if memory.len() < blocks {
        memory.resize(blocks, argon2::Block::default());
    }
    let mut out = vec![0u8; expected.len()];
    let ok = Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(pw, salt, &mut out, &mut memory[..blocks])
        .is_ok();
    match argon2::password_hash::Output::new(&out) {
        Ok(computed) => ok && computed == expected,
        Err(_) => false,
    }
}

/// The argon2 verification pool.
struct Verifier {
    jobs: std::sync::Mutex<std::sync::mpsc::Sender<VerifyJob>>,
}

type VerifyJob = (String, Vec<u8>, std::sync::mpsc::SyncSender<bool>);

impl Verifier {
    fn verify(&self, phc: String, pw: Vec<u8>) -> bool {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let sent = self
            .jobs
            .lock()
            .map(|jobs| jobs.send((phc, pw, tx)).is_ok())
            .unwrap_or(false);
        sent && rx.recv().unwrap_or(false)
    }
}

fn verifier() -> &'static Verifier {
    static POOL: OnceLock<Verifier> = OnceLock::new();
    POOL.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<VerifyJob>();
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
        for i in 0..workers {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    let mut memory = Vec::new();
                    loop {
                        let job = match rx.lock() {
                            Ok(guard) => guard.recv(),
                            Err(_) => return,
                        };
                        let Ok((phc, pw, reply)) = job else { return };
                        let _ = reply.send(verify_with(&phc, &pw, &mut memory));
                    }
                });
            // Without a worker every verification fails closed (false).
            drop(spawned);
        }
        Verifier {
            jobs: std::sync::Mutex::new(tx),
        }
    })
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

    /// An unknown user costs a full argon2 verification, like a wrong
    /// password: the answer time does not tell which names exist.
    #[test]
    fn unknown_user_costs_the_same_as_a_wrong_password() {
        let c = hash_password("correct horse");
        let _ = verify_password_or_dummy(None, "warm up the dummy hash");
        let time = |phc: Option<&str>| {
            let start = std::time::Instant::now();
            assert!(!verify_password_or_dummy(phc, "wrong"));
            start.elapsed()
        };
        // Interleaved, so that a busy machine slows both alike.
        let (mut wrong, mut unknown) = (std::time::Duration::ZERO, std::time::Duration::ZERO);
        for _ in 0..4 {
            wrong += time(Some(&c.password_hash));
            unknown += time(None);
        }
        // Same work within noise; without the dummy the unknown case would
        // take microseconds against tens of milliseconds.
        assert!(
            unknown * 3 > wrong,
            "unknown {unknown:?} vs wrong {wrong:?}"
        );
        assert!(
            wrong * 3 > unknown,
            "unknown {unknown:?} vs wrong {wrong:?}"
        );
    }

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
