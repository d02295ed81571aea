//! The server-side mechanism step machine, shared by POP3, IMAP and SMTP.
//!
//! The machine is sans-IO: it never touches the store. When it knows who is
//! authenticating it returns [`Step::NeedCredentials`]; the session looks the
//! account up and calls [`Exchange::credentials`]. A typical loop:
//!
//! ```text
//! let mut ex = Exchange::new(mechanism);
//! let mut step = ex.start(initial_response);
//! loop {
//!     match step {
//!         Step::Challenge(c)             => { send "+ base64(c)"; step = ex.respond(&decoded_reply) }
//!         Step::NeedCredentials{authcid} => { step = ex.credentials(store_lookup(authcid)) }
//!         Step::Done{..} | Step::Fail(_) => break,
//!     }
//! }
//! ```
//!
//! [`Exchange::credentials`] verifies argon2 hashes for PLAIN and LOGIN,
//! which takes tens of milliseconds: async callers run it on a blocking
//! thread (`Exchange` is `Send + 'static`).
//!
//! Data the server must send with success (SCRAM's `server-final-message`)
//! is returned as a last [`Step::Challenge`], to which the client answers
//! with an empty response; this is how POP3 (RFC 5034 §4), SMTP (RFC 4954)
//! and IMAP without SASL-IR success data all carry it.

use pillarbox_session::ChannelBindings;

use crate::password::{ScramRecord, verify_password_or_dummy};
use crate::prep::prepare_username;
use crate::scram::{self, Binding, ServerFirst};

/// A SASL mechanism this crate implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mechanism {
    /// RFC 4616.
    Plain,
    /// draft-murchison-sasl-login.
    Login,
    /// RFC 5802 + RFC 7677, without channel binding.
    ScramSha256,
    /// RFC 5802 §6 + RFC 7677 with TLS channel binding (RFC 9266
    /// `tls-exporter`); offered only where the connection has bindings.
    ScramSha256Plus,
}

impl Mechanism {
    /// Every mechanism, strongest first (the order to advertise them in).
    pub const ALL: [Mechanism; 4] = [
        Mechanism::ScramSha256Plus,
        Mechanism::ScramSha256,
        Mechanism::Plain,
        Mechanism::Login,
    ];

    /// The mechanisms to advertise on a connection, strongest first:
    /// all of them when the connection has channel bindings (a TLS
    /// connection, see [`ChannelBindings`]), all but the `-PLUS` ones
    /// otherwise.
    pub fn offered(bindings: Option<&ChannelBindings>) -> impl Iterator<Item = Mechanism> {
        let plus = bindings.is_some_and(ChannelBindings::any);
        Mechanism::ALL
            .into_iter()
            .filter(move |m| plus || *m != Mechanism::ScramSha256Plus)
    }

    /// The IANA-registered name.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Login => "LOGIN",
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::ScramSha256Plus => "SCRAM-SHA-256-PLUS",
        }
    }

    /// Looks a mechanism up by name, case-insensitively (RFC 4422 §3.1).
    pub fn from_name(name: &str) -> Option<Mechanism> {
        Mechanism::ALL
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(name))
    }
}

/// An account's stored credentials, as handed back by the caller after
/// [`Step::NeedCredentials`].
#[derive(Debug, Clone, Copy)]
pub struct Credentials<'a> {
    /// argon2 PHC string.
    pub password_hash: &'a str,
    /// SCRAM-SHA-256 record, if one exists.
    pub scram_sha256: Option<&'a str>,
}

/// Why an exchange failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    /// The client's message does not follow the mechanism's syntax.
    Malformed,
    /// Wrong user name or password (deliberately not distinguished).
    BadCredentials,
    /// The client asked to act as another identity; we only allow an empty
    /// authzid or one equal to the authcid.
    AuthzidRefused,
    /// The client asked for channel binding where it is not available (a
    /// connection without TLS, a binding type we do not support, or
    /// `p=` on a mechanism without `-PLUS`).
    ChannelBindingUnsupported,
    /// RFC 5802 §6: the client sent the `y` flag (it supports channel
    /// binding but thinks the server does not) while the server offers
    /// `-PLUS`: a downgrade attack is assumed.
    Downgrade,
    /// A call out of order (e.g. `respond` while credentials are awaited).
    Protocol,
}

/// What the session does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Send this challenge (base64-encoded by the protocol) and feed the
    /// client's decoded answer to [`Exchange::respond`].
    Challenge(Vec<u8>),
    /// Look up the credentials of this SASLprep'd identity and call
    /// [`Exchange::credentials`] (with `None` when there is no such account).
    NeedCredentials {
        /// The authentication identity, SASLprep'd.
        authcid: String,
    },
    /// Authenticated.
    Done {
        /// The authentication identity, SASLprep'd; the one passed in
        /// [`Step::NeedCredentials`].
        authcid: String,
        /// The authorization identity, if the client sent one; always equal
        /// (ASCII case-insensitively) to `authcid`.
        authzid: Option<String>,
    },
    /// Failed; the exchange is over.
    Fail(Failure),
}

enum State {
    Start,
    /// PLAIN or SCRAM sent an empty challenge and waits for the client's
    /// first message.
    AwaitFirst,
    LoginUser,
    LoginPassword {
        user: String,
    },
    /// PLAIN/LOGIN: the password waits for the account's hash.
    PasswordCreds {
        authcid: String,
        authzid: Option<String>,
        password: String,
    },
    ScramCreds(scram::ClientFirst),
    ScramFinal(Box<ServerFirst>),
    /// SCRAM sent `v=...`; waits for the client's empty answer.
    ScramAck {
        authcid: String,
        authzid: Option<String>,
    },
    Over,
}

/// One authentication exchange on the server side.
pub struct Exchange {
    mechanism: Mechanism,
    state: State,
    /// Test hook: a fixed SCRAM server nonce.
    fixed_nonce: Option<String>,
    /// The connection's channel bindings; `None` without TLS.
    bindings: Option<ChannelBindings>,
}

impl std::fmt::Debug for Exchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print passwords.
        f.debug_struct("Exchange")
            .field("mechanism", &self.mechanism)
            .finish_non_exhaustive()
    }
}

/// RFC 4616 §2: authcid, authzid and passwd are at most 255 octets.
const PLAIN_FIELD_MAX: usize = 255;

impl Exchange {
    /// An exchange on a connection without channel bindings (no TLS):
    /// `SCRAM-SHA-256-PLUS` fails at once. Use [`Exchange::for_connection`]
    /// on TLS connections.
    pub fn new(mechanism: Mechanism) -> Exchange {
        Exchange {
            mechanism,
            state: State::Start,
            fixed_nonce: None,
            bindings: None,
        }
    }

    /// An exchange on a connection whose channel bindings are `bindings`
    /// (those of [`pillarbox_session::TlsInfo`]). The server must have
    /// advertised exactly [`Mechanism::offered`] with the same bindings:
    /// SCRAM's downgrade detection (RFC 5802 §6) relies on it.
    pub fn for_connection(mechanism: Mechanism, bindings: Option<&ChannelBindings>) -> Exchange {
        Exchange {
            bindings: bindings.filter(|b| b.any()).cloned(),
            ..Exchange::new(mechanism)
        }
    }

    #[cfg(test)]
    pub(crate) fn with_nonce(mechanism: Mechanism, nonce: &str) -> Exchange {
        Exchange {
            fixed_nonce: Some(nonce.to_string()),
            ..Exchange::new(mechanism)
        }
    }

    #[cfg(test)]
    pub(crate) fn with_nonce_and_bindings(
        mechanism: Mechanism,
        nonce: &str,
        bindings: &ChannelBindings,
    ) -> Exchange {
        Exchange {
            fixed_nonce: Some(nonce.to_string()),
            ..Exchange::for_connection(mechanism, Some(bindings))
        }
    }

    fn scram(&self) -> bool {
        matches!(
            self.mechanism,
            Mechanism::ScramSha256 | Mechanism::ScramSha256Plus
        )
    }

    pub fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    /// Starts the exchange. `initial_response` is the decoded initial
    /// response (RFC 4422 §5), `None` when the client sent none; an empty
    /// one (`=` on the wire) is `Some(&[])`.
    pub fn start(&mut self, initial_response: Option<&[u8]>) -> Step {
        if !matches!(self.state, State::Start) {
            return self.fail(Failure::Protocol);
        }
        match (self.mechanism, initial_response) {
            (Mechanism::Plain, None) => {
                self.state = State::AwaitFirst;
                Step::Challenge(Vec::new())
            }
            (Mechanism::Plain, Some(msg)) => self.plain(msg),
            (Mechanism::Login, None) | (Mechanism::Login, Some([])) => {
                self.state = State::LoginUser;
                Step::Challenge(b"Username:".to_vec())
            }
            (Mechanism::Login, Some(user)) => self.login_user(user),
            (Mechanism::ScramSha256Plus, _) if self.bindings.is_none() => {
                // Never advertised without bindings; a client naming it
                // anyway gets the same failure as an unsupported type.
                self.fail(Failure::ChannelBindingUnsupported)
            }
            (Mechanism::ScramSha256 | Mechanism::ScramSha256Plus, None | Some([])) => {
                // RFC 5802 §5: the client sends first; ask for it.
                self.state = State::AwaitFirst;
                Step::Challenge(Vec::new())
            }
            (Mechanism::ScramSha256 | Mechanism::ScramSha256Plus, Some(msg)) => {
                self.scram_first(msg)
            }
        }
    }

    /// Feeds the client's decoded response to the last challenge.
    pub fn respond(&mut self, response: &[u8]) -> Step {
        match std::mem::replace(&mut self.state, State::Over) {
            State::AwaitFirst => {
                if self.scram() {
                    self.scram_first(response)
                } else {
                    self.plain(response)
                }
            }
            State::LoginUser => self.login_user(response),
            State::LoginPassword { user } => {
                let Ok(password) = std::str::from_utf8(response) else {
                    return self.fail(Failure::Malformed);
                };
                self.password_step(&user, None, password)
            }
            State::ScramFinal(sf) => match sf.verify_final(response) {
                Ok(server_final) => {
                    let client = sf.client();
                    self.state = State::ScramAck {
                        authcid: client.username.clone(),
                        authzid: client.authzid.clone(),
                    };
                    Step::Challenge(server_final)
                }
                Err(f) => self.fail(f),
            },
            State::ScramAck { authcid, authzid } => {
                if !response.is_empty() {
                    return self.fail(Failure::Malformed);
                }
                self.done(authcid, authzid)
            }
            State::Start | State::PasswordCreds { .. } | State::ScramCreds(_) | State::Over => {
                self.fail(Failure::Protocol)
            }
        }
    }

    /// Hands over the stored credentials of the identity named by
    /// [`Step::NeedCredentials`] (`None`: no such account, or no usable
    /// credentials). For PLAIN and LOGIN this verifies the argon2 hash (slow:
    /// run it off the async runtime).
    pub fn credentials(&mut self, creds: Option<Credentials<'_>>) -> Step {
        match std::mem::replace(&mut self.state, State::Over) {
            State::PasswordCreds {
                authcid,
                authzid,
                password,
            } => {
                if verify_password_or_dummy(creds.map(|c| c.password_hash), &password) {
                    self.done(authcid, authzid)
                } else {
                    self.fail(Failure::BadCredentials)
                }
            }
            State::ScramCreds(client) => {
                let record = creds
                    .and_then(|c| c.scram_sha256)
                    .and_then(|r| ScramRecord::parse(r).ok());
                let nonce = self
                    .fixed_nonce
                    .clone()
                    .unwrap_or_else(scram::new_server_nonce);
                let sf = scram::server_first(client, record, &nonce);
                let msg = sf.message().to_vec();
                self.state = State::ScramFinal(Box::new(sf));
                Step::Challenge(msg)
            }
            _ => self.fail(Failure::Protocol),
        }
    }

    fn fail(&mut self, f: Failure) -> Step {
        self.state = State::Over;
        Step::Fail(f)
    }

    fn done(&mut self, authcid: String, authzid: Option<String>) -> Step {
        self.state = State::Over;
        Step::Done { authcid, authzid }
    }

    /// RFC 4616 §2: `message = [authzid] UTF8NUL authcid UTF8NUL passwd`.
    fn plain(&mut self, msg: &[u8]) -> Step {
        let mut parts = msg.split(|&b| b == 0);
        let (Some(authzid), Some(authcid), Some(passwd), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return self.fail(Failure::Malformed);
        };
        if authcid.is_empty()
            || passwd.is_empty()
            || authzid.len() > PLAIN_FIELD_MAX
            || authcid.len() > PLAIN_FIELD_MAX
            || passwd.len() > PLAIN_FIELD_MAX
        {
            return self.fail(Failure::Malformed);
        }
        let (Ok(authzid), Ok(authcid), Ok(passwd)) = (
            std::str::from_utf8(authzid),
            std::str::from_utf8(authcid),
            std::str::from_utf8(passwd),
        ) else {
            return self.fail(Failure::Malformed);
        };
        let authzid = if authzid.is_empty() {
            None
        } else {
            Some(authzid.to_string())
        };
        self.password_step(authcid, authzid, passwd)
    }

    fn login_user(&mut self, user: &[u8]) -> Step {
        match std::str::from_utf8(user) {
            Ok(u) if !u.is_empty() && u.len() <= PLAIN_FIELD_MAX => {
                self.state = State::LoginPassword {
                    user: u.to_string(),
                };
                Step::Challenge(b"Password:".to_vec())
            }
            _ => self.fail(Failure::Malformed),
        }
    }

    fn password_step(&mut self, authcid: &str, authzid: Option<String>, password: &str) -> Step {
        if password.is_empty() || password.len() > PLAIN_FIELD_MAX {
            return self.fail(Failure::Malformed);
        }
        let Ok(authcid) = prepare_username(authcid) else {
            return self.fail(Failure::Malformed);
        };
        let authzid = match authzid {
            None => None,
            Some(z) => match prepare_username(&z) {
                Ok(z) if z.eq_ignore_ascii_case(&authcid) => Some(z),
                Ok(_) => return self.fail(Failure::AuthzidRefused),
                Err(_) => return self.fail(Failure::Malformed),
            },
        };
        // The raw password is kept: verify_password applies the same
        // SASLprep (with the same fallback) as hash_password did.
        self.state = State::PasswordCreds {
            authcid: authcid.clone(),
            authzid,
            password: password.to_string(),
        };
        Step::NeedCredentials { authcid }
    }

    fn scram_first(&mut self, msg: &[u8]) -> Step {
        let plus = self.mechanism == Mechanism::ScramSha256Plus;
        let client = scram::parse_client_first(msg).and_then(|client| {
            let binding = match (&client.cbind, plus) {
                // RFC 5802 §6: a client choosing -PLUS must bind.
                (scram::CbindFlag::No | scram::CbindFlag::ClientOnly, true) => {
                    Err(Failure::ChannelBindingUnsupported)
                }
                // "y": the client supports binding but thinks we do not;
                // we advertised -PLUS on this connection, so someone
                // removed it on the way: fail (downgrade detection).
                (scram::CbindFlag::ClientOnly, false) if self.bindings.is_some() => {
                    Err(Failure::Downgrade)
                }
                (scram::CbindFlag::No | scram::CbindFlag::ClientOnly, false) => Ok(None),
                // p= on the mechanism without -PLUS is a protocol error.
                (scram::CbindFlag::Type(_), false) => Err(Failure::ChannelBindingUnsupported),
                (scram::CbindFlag::Type(t), true) => {
                    let data = match t.as_str() {
                        "tls-exporter" => {
                            self.bindings.as_ref().and_then(|b| b.tls_exporter.clone())
                        }
                        _ => None,
                    };
                    data.map(|d| Some(Binding(d)))
                        .ok_or(Failure::ChannelBindingUnsupported)
                }
            };
            binding.map(|b| client.with_binding(b))
        });
        match client {
            Ok(client) => {
                if let Some(z) = &client.authzid
                    && !z.eq_ignore_ascii_case(&client.username)
                {
                    return self.fail(Failure::AuthzidRefused);
                }
                let authcid = client.username.clone();
                self.state = State::ScramCreds(client);
                Step::NeedCredentials { authcid }
            }
            Err(f) => self.fail(f),
        }
    }
}
