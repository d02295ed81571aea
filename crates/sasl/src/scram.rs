//! SCRAM-SHA-256 server messages (RFC 5802 §5, §7; RFC 7677), with the
//! GS2 channel binding of RFC 5802 §6 for SCRAM-SHA-256-PLUS. Which flags
//! are acceptable on which mechanism is decided by the exchange; this
//! module parses the flag and checks the `c=` attribute against the
//! header and binding data.

use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::exchange::Failure;
use crate::password::{ScramRecord, ct_eq, hmac};
use crate::prep::prepare_username;

/// Upper bound on the iteration count we accept from a stored record, so a
/// corrupt record cannot make clients spin.
const MAX_ITERATIONS: u32 = 1_000_000;

/// RFC 5802 §7 `gs2-cbind-flag`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CbindFlag {
    /// `n`: the client does not support channel binding.
    No,
    /// `y`: the client supports it but thinks the server does not.
    ClientOnly,
    /// `p=cb-name`: the client requires this channel binding type.
    Type(String),
}

/// The channel binding data the client must prove it sees too.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Binding(pub(crate) Vec<u8>);

impl std::fmt::Debug for Binding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Binding(..)")
    }
}

/// What the client's first message told us.
#[derive(Debug, Clone)]
pub(crate) struct ClientFirst {
    /// `gs2-header`, echoed base64-encoded in the final message's `c=`.
    gs2_header: String,
    pub(crate) cbind: CbindFlag,
    /// For `p=`: the data `c=` must carry after the header (RFC 5802 §7
    /// `cbind-input = gs2-header [ cbind-data ]`).
    binding: Option<Binding>,
    pub(crate) authzid: Option<String>,
    /// SASLprep'd user name.
    pub(crate) username: String,
    /// `client-first-message-bare`, part of AuthMessage.
    bare: String,
    cnonce: String,
}

/// RFC 5802 §7: `saslname` decoding: `=2C` is `,`, `=3D` is `=`, any other
/// `=` is invalid.
fn decode_saslname(s: &str) -> Result<String, Failure> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        match rest.get(i..i + 3) {
            Some("=2C") => out.push(','),
            Some("=3D") => out.push('='),
            _ => return Err(Failure::Malformed),
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    if out.is_empty() {
        return Err(Failure::Malformed);
    }
    Ok(out)
}

fn valid_nonce(n: &str) -> bool {
    // RFC 5802 §7: printable = %x21-2B / %x2D-7E (no comma).
    !n.is_empty() && n.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b',')
}

/// RFC 5802 §7 `client-first-message = gs2-header client-first-message-bare`.
pub(crate) fn parse_client_first(msg: &[u8]) -> Result<ClientFirst, Failure> {
    let msg = std::str::from_utf8(msg).map_err(|_| Failure::Malformed)?;
    // gs2-header = gs2-cbind-flag "," [ authzid ] ","
    let (flag, rest) = msg.split_once(',').ok_or(Failure::Malformed)?;
    let cbind = match flag {
        "n" => CbindFlag::No,
        "y" => CbindFlag::ClientOnly,
        // cb-name = 1*(ALPHA / DIGIT / "." / "-")
        f => match f.strip_prefix("p=") {
            Some(name)
                if !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-') =>
            {
                CbindFlag::Type(name.to_string())
            }
            _ => return Err(Failure::Malformed),
        },
    };
    let (authzid_field, bare) = rest.split_once(',').ok_or(Failure::Malformed)?;
    let authzid = if authzid_field.is_empty() {
        None
    } else {
        let name = authzid_field.strip_prefix("a=").ok_or(Failure::Malformed)?;
        Some(prepare_username(&decode_saslname(name)?).map_err(|_| Failure::Malformed)?)
    };
    let gs2_header = msg[..flag.len() + 1 + authzid_field.len() + 1].to_string();

    // client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions]
    let mut attrs = bare.split(',');
    let user_attr = attrs.next().ok_or(Failure::Malformed)?;
    if user_attr.starts_with("m=") {
        // RFC 5802 §5.1: unknown mandatory extension: fail.
        return Err(Failure::Malformed);
    }
    let username = user_attr.strip_prefix("n=").ok_or(Failure::Malformed)?;
    let username = prepare_username(&decode_saslname(username)?).map_err(|_| Failure::Malformed)?;
    let cnonce = attrs
        .next()
        .and_then(|a| a.strip_prefix("r="))
        .ok_or(Failure::Malformed)?;
    if !valid_nonce(cnonce) {
        return Err(Failure::Malformed);
    }
    // extensions = attr-val *("," attr-val); attr-val = ALPHA "=" value
    if !attrs
        .all(|a| a.len() >= 2 && a.as_bytes()[0].is_ascii_alphabetic() && a.as_bytes()[1] == b'=')
    {
        return Err(Failure::Malformed);
    }
    Ok(ClientFirst {
        gs2_header,
        cbind,
        binding: None,
        authzid,
        username,
        bare: bare.to_string(),
        cnonce: cnonce.to_string(),
    })
}

impl ClientFirst {
    /// Sets the binding data `c=` must carry (for `p=`).
    pub(crate) fn with_binding(mut self, binding: Option<Binding>) -> ClientFirst {
        self.binding = binding;
        self
    }
}

/// The server side after sending `server-first-message`.
#[derive(Clone)]
pub(crate) struct ServerFirst {
    client: ClientFirst,
    record: ScramRecord,
    /// False when the user is unknown or has no SCRAM record: the exchange
    /// runs on a fake record to its end and then fails (RFC 5802 §5.1
    /// suggests not revealing whether the user exists).
    known: bool,
    nonce: String,
    message: String,
}

impl std::fmt::Debug for ServerFirst {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerFirst")
            .field("username", &self.client.username)
            .finish_non_exhaustive()
    }
}

impl ServerFirst {
    pub(crate) fn client(&self) -> &ClientFirst {
        &self.client
    }
}

/// A fresh server nonce part: 24 random octets, base64 (no comma possible).
pub(crate) fn new_server_nonce() -> String {
    let mut b = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut b);
    STANDARD.encode(b)
}

fn process_secret() -> &'static [u8; 32] {
    static SECRET: OnceLock<[u8; 32]> = OnceLock::new();
    SECRET.get_or_init(|| {
        let mut s = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut s);
        s
    })
}

/// A stable-per-process fake record, so the salt an unknown user is shown
/// does not change between attempts.
fn fake_record(username: &str) -> ScramRecord {
    let secret = process_secret();
    let salt = hmac(secret, format!("salt\0{username}").as_bytes());
    ScramRecord {
        salt: salt[..16].to_vec(),
        iterations: crate::password::SCRAM_ITERATIONS,
        stored_key: hmac(secret, format!("stored\0{username}").as_bytes()),
        server_key: hmac(secret, format!("server\0{username}").as_bytes()),
    }
}

/// Builds `server-first-message = [reserved-mext ","] nonce "," salt ","
/// iteration-count ["," extensions]`.
pub(crate) fn server_first(
    client: ClientFirst,
    record: Option<ScramRecord>,
    server_nonce: &str,
) -> ServerFirst {
    let (record, known) = match record {
        Some(r) if r.iterations <= MAX_ITERATIONS => (r, true),
        _ => (fake_record(&client.username), false),
    };
    let nonce = format!("{}{}", client.cnonce, server_nonce);
    let message = format!(
        "r={},s={},i={}",
        nonce,
        STANDARD.encode(&record.salt),
        record.iterations
    );
    ServerFirst {
        client,
        record,
        known,
        nonce,
        message,
    }
}

impl ServerFirst {
    pub(crate) fn message(&self) -> &[u8] {
        self.message.as_bytes()
    }

    /// Checks `client-final-message = client-final-message-without-proof ","
    /// proof` and returns `server-final-message` (`v=ServerSignature`).
    pub(crate) fn verify_final(&self, msg: &[u8]) -> Result<Vec<u8>, Failure> {
        let msg = std::str::from_utf8(msg).map_err(|_| Failure::Malformed)?;
        let (without_proof, proof) = msg.rsplit_once(",p=").ok_or(Failure::Malformed)?;
        let mut attrs = without_proof.split(',');
        let cbind = attrs
            .next()
            .and_then(|a| a.strip_prefix("c="))
            .ok_or(Failure::Malformed)?;
        let nonce = attrs
            .next()
            .and_then(|a| a.strip_prefix("r="))
            .ok_or(Failure::Malformed)?;
        if nonce != self.nonce {
            return Err(Failure::Malformed);
        }
        // RFC 5802 §7: c= is base64(gs2-header [cbind-data]); the data
        // only with "p=".
        let cbind = STANDARD.decode(cbind).map_err(|_| Failure::Malformed)?;
        let Some(data) = cbind.strip_prefix(self.client.gs2_header.as_bytes()) else {
            return Err(Failure::Malformed);
        };
        let expected = self.client.binding.as_ref().map_or(&[][..], |b| &b.0);
        // RFC 5802 §6: a binding that does not match means the two ends
        // see different TLS channels (a man in the middle): an
        // authentication failure, like a wrong proof.
        if !ct_eq(data, expected) {
            return Err(Failure::BadCredentials);
        }
        let proof = STANDARD.decode(proof).map_err(|_| Failure::Malformed)?;
        if proof.len() != 32 {
            return Err(Failure::Malformed);
        }
        // AuthMessage := client-first-message-bare + "," +
        //                server-first-message + "," +
        //                client-final-message-without-proof
        let auth_message = format!("{},{},{}", self.client.bare, self.message, without_proof);
        let client_signature = hmac(&self.record.stored_key, auth_message.as_bytes());
        let mut client_key = [0u8; 32];
        for (k, (p, s)) in client_key
            .iter_mut()
            .zip(proof.iter().zip(client_signature))
        {
            *k = p ^ s;
        }
        let stored: [u8; 32] = Sha256::digest(client_key).into();
        if !ct_eq(&stored, &self.record.stored_key) || !self.known {
            return Err(Failure::BadCredentials);
        }
        let server_signature = hmac(&self.record.server_key, auth_message.as_bytes());
        Ok(format!("v={}", STANDARD.encode(server_signature)).into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saslname_escapes() {
        assert_eq!(decode_saslname("a=2Cb=3Dc").unwrap(), "a,b=c");
        assert!(decode_saslname("a=2").is_err());
        assert!(decode_saslname("a=41").is_err());
        assert!(decode_saslname("").is_err());
    }

    #[test]
    fn client_first_variants() {
        let cf = parse_client_first(b"n,,n=user,r=abc").unwrap();
        assert_eq!(cf.username, "user");
        assert_eq!(cf.gs2_header, "n,,");
        assert_eq!(cf.bare, "n=user,r=abc");
        let cf = parse_client_first(b"y,a=admin,n=user,r=abc,x=ext").unwrap();
        assert_eq!(cf.authzid.as_deref(), Some("admin"));
        assert_eq!(cf.gs2_header, "y,a=admin,");
        let cf = parse_client_first(b"p=tls-exporter,,n=user,r=abc").unwrap();
        assert_eq!(cf.cbind, CbindFlag::Type("tls-exporter".into()));
        assert_eq!(cf.gs2_header, "p=tls-exporter,,");
        for bad in [
            &b"p=,,n=user,r=abc"[..],
            b"p=tls_exporter,,n=user,r=abc",
            &b"x,,n=user,r=abc"[..],
            b"n,,m=ext,n=user,r=abc",
            b"n,,r=abc",
            b"n,,n=user",
            b"n,,n=user,r=a,b",
            b"n,b=x,n=user,r=abc",
            b"n,,n=,r=abc",
            b"n",
            b"\xff",
        ] {
            assert!(parse_client_first(bad).is_err(), "{:?}", bad);
        }
    }
}
