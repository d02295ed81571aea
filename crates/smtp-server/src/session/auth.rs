//! SMTP AUTH on submission sessions (RFC 4954), driving the `sasl` crate's
//! step machines (PLAIN, LOGIN, SCRAM-SHA-256).
//!
//! Wire rules implemented here (RFC 4954 §4): `AUTH mechanism
//! [initial-response]` with `=` for an empty initial response; challenges
//! as `334 base64`; a `*` response cancels (`501 5.0.0`); lines up to 12288
//! octets; AUTH is refused during a transaction and after a success
//! (`503 5.5.1`), and before TLS unless plaintext AUTH is configured
//! (`538 5.7.11`). Failed attempts are delayed and counted; the last one
//! allowed closes the connection.

use std::time::Duration;

use pillarbox_sasl::{
    ClientResponse, Credentials, Exchange, Failure, Mechanism, Step, decode_initial_response,
    decode_response, encode_challenge,
};
use pillarbox_session::Control;
use pillarbox_store::{AccountId, StoredCredentials};

use super::{Authenticated, Phase, SmtpSession};
use crate::reply::{self, Reply};

/// RFC 4954 §4: the longest AUTH command or response line, CRLF included.
pub(super) const AUTH_LINE_MAX: usize = 12288;

/// An exchange waiting for the client's next response line.
pub(crate) struct InProgress {
    exchange: Exchange,
    /// The account looked up for the identity being authenticated.
    account: Option<(AccountId, String)>,
}

/// Whether `line` (possibly incomplete) is an `AUTH` command.
pub(super) fn is_auth_command(line: &[u8]) -> bool {
    line.len() >= 5
        && line[..4].eq_ignore_ascii_case(b"AUTH")
        && matches!(line[4], b' ' | b'\r' | b'\n')
}

/// The store login for an authentication identity: logins are lowercase.
fn login_of(authcid: &str) -> String {
    authcid.to_lowercase()
}

/// `line` without its line ending.
fn strip_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

const C501_AUTH_SYNTAX: Reply = Reply {
    text: "Syntax: AUTH mechanism [initial-response]",
    ..reply::C501_SYNTAX
};

impl SmtpSession {
    /// Whether EHLO offers AUTH on this connection (RFC 8314 §3.3: only
    /// under TLS, unless configured for plaintext).
    pub(super) fn auth_offered(&self) -> bool {
        self.mode == crate::Mode::Submission
            && (self.conn.tls.is_some() || self.ctx.config.submission_allow_plaintext_auth)
    }

    /// RFC 4954 §4 `AUTH mechanism [initial-response]`.
    pub(super) async fn auth(&mut self, line: &[u8], out: &mut Vec<u8>) -> Control {
        if !self.helo.as_ref().is_some_and(|h| h.extended) {
            return self.client_error(out, self.helo_first());
        }
        if self.auth.is_some() {
            return self.client_error(out, reply::C503_ALREADY_AUTHENTICATED);
        }
        if !matches!(self.phase, Phase::Idle) {
            return self.client_error(out, reply::C503_AUTH_IN_TRANSACTION);
        }
        if !self.auth_offered() {
            return self.client_error(out, reply::C538_ENCRYPTION_REQUIRED);
        }
        let mut args = strip_eol(line)[4..]
            .split(|&b| b == b' ')
            .filter(|a| !a.is_empty());
        let (Some(name), initial, None) = (args.next(), args.next(), args.next()) else {
            return self.client_error(out, C501_AUTH_SYNTAX);
        };
        let Some(mechanism) = std::str::from_utf8(name)
            .ok()
            .and_then(Mechanism::from_name)
        else {
            return self.client_error(out, reply::C504_UNKNOWN_MECHANISM);
        };
        let initial = match initial.map(decode_initial_response) {
            None => None,
            Some(Ok(data)) => Some(data),
            Some(Err(_)) => return self.client_error(out, reply::C501_AUTH_UNDECODABLE),
        };
        // The same bindings as EHLO advertised with (RFC 5802 §6).
        let bindings = self.conn.tls.as_ref().map(|t| &t.channel_bindings);
        let mut exchange = Exchange::for_connection(mechanism, bindings);
        let step = exchange.start(initial.as_deref());
        self.drive(exchange, step, None, out).await
    }

    /// A response line inside an exchange.
    pub(super) async fn auth_response(
        &mut self,
        progress: InProgress,
        line: &[u8],
        out: &mut Vec<u8>,
    ) -> Control {
        let InProgress {
            mut exchange,
            account,
        } = progress;
        match decode_response(strip_eol(line)) {
            // RFC 4954 §4: "*" cancels; the AUTH is rejected with 501.
            Ok(ClientResponse::Cancel) => self.client_error(out, reply::C501_AUTH_CANCELLED),
            Ok(ClientResponse::Data(data)) => {
                let step = exchange.respond(&data);
                self.drive(exchange, step, account, out).await
            }
            Err(_) => self.client_error(out, reply::C501_AUTH_UNDECODABLE),
        }
    }

    /// Runs the exchange until it needs the client again or ends.
    async fn drive(
        &mut self,
        mut exchange: Exchange,
        mut step: Step,
        mut account: Option<(AccountId, String)>,
        out: &mut Vec<u8>,
    ) -> Control {
        let session = self.conn.session_id;
        loop {
            match step {
                Step::Challenge(challenge) => {
                    reply::C334_CHALLENGE.write_text(out, encode_challenge(&challenge));
                    self.phase = Phase::Auth(Box::new(InProgress { exchange, account }));
                    return Control::Continue;
                }
                Step::NeedCredentials { authcid } => {
                    let login = login_of(&authcid);
                    if let Err(control) = self.throttle_check(&login, out) {
                        return control;
                    }
                    let creds: Option<StoredCredentials> =
                        match self.ctx.store.credentials(&login).await {
                            Ok(Some((id, creds))) => {
                                account = Some((id, login));
                                Some(creds)
                            }
                            Ok(None) => None,
                            Err(error) => {
                                tracing::warn!(session, %error, "credentials lookup failed");
                                return self.reply(out, reply::C454_AUTH_TEMPORARY);
                            }
                        };
                    // PLAIN and LOGIN verify argon2 here: off the runtime.
                    let joined = tokio::task::spawn_blocking(move || {
                        let step = exchange.credentials(creds.as_ref().map(|c| Credentials {
                            password_hash: &c.password_hash,
                            scram_sha256: c.scram_sha256.as_deref(),
                        }));
                        (exchange, step)
                    })
                    .await;
                    match joined {
                        Ok((e, s)) => {
                            exchange = e;
                            step = s;
                        }
                        Err(error) => {
                            tracing::error!(session, %error, "credential check failed");
                            return self.reply(out, reply::C454_AUTH_TEMPORARY);
                        }
                    }
                }
                Step::Done { authcid, .. } => {
                    return match account {
                        Some((account, login)) if login == login_of(&authcid) => {
                            tracing::info!(
                                session,
                                peer = %self.conn.peer,
                                %login,
                                mechanism = exchange.mechanism().name(),
                                "smtp authenticated"
                            );
                            self.ctx.auth_throttle().succeeded(&login);
                            self.auth_login = None;
                            self.auth = Some(Authenticated { account, login });
                            self.reply(out, reply::C235_AUTH_OK)
                        }
                        _ => {
                            tracing::error!(session, "SASL success without an account");
                            self.reply(out, reply::C454_AUTH_TEMPORARY)
                        }
                    };
                }
                Step::Fail(Failure::BadCredentials | Failure::AuthzidRefused) => {
                    return self.auth_failed(out).await;
                }
                Step::Fail(failure) => {
                    tracing::debug!(session, ?failure, "malformed SASL exchange");
                    return self.client_error(out, reply::C501_AUTH_MALFORMED);
                }
            }
        }
    }

    /// Brute-force protection before a password is checked: a client
    /// address or login with too many recent failures gets `454 4.7.0`
    /// without anything being checked (and `421` after too many on this
    /// connection). Remembers `login` for [`SmtpSession::auth_failed`].
    fn throttle_check(&mut self, login: &str, out: &mut Vec<u8>) -> Result<(), Control> {
        self.auth_login = Some(login.to_string());
        let Err(refusal) = self
            .ctx
            .auth_throttle()
            .check(self.conn.peer.ip(), Some(login))
        else {
            return Ok(());
        };
        self.auth_failures += 1;
        tracing::warn!(
            session = self.conn.session_id,
            peer = %self.conn.peer,
            login,
            scope = %refusal.scope(),
            retry_after_secs = refusal.retry_after().as_secs(),
            "smtp authentication refused: too many failures"
        );
        reply::C454_AUTH_THROTTLED.write(out);
        self.close_after_too_many_failures(out);
        Err(self.control())
    }

    /// `421` and closing once this connection has had its allowance of
    /// failed (or refused) authentications.
    fn close_after_too_many_failures(&mut self, out: &mut Vec<u8>) {
        if self.auth_failures >= self.ctx.config.submission_max_auth_failures {
            let text = format!(
                "{} {}",
                self.hostname(),
                reply::C421_TOO_MANY_AUTH_FAILURES.text
            );
            reply::C421_TOO_MANY_AUTH_FAILURES.write_text(out, text);
            self.closing = true;
        }
    }

    /// Counts a failed authentication (per connection and in the server's
    /// brute-force counts), waits the configured delay, and closes after
    /// too many.
    async fn auth_failed(&mut self, out: &mut Vec<u8>) -> Control {
        self.auth_failures += 1;
        let login = self.auth_login.take();
        let recent = self
            .ctx
            .auth_throttle()
            .failed(self.conn.peer.ip(), login.as_deref());
        tracing::info!(
            session = self.conn.session_id,
            peer = %self.conn.peer,
            login = login.as_deref().unwrap_or(""),
            failures = self.auth_failures,
            recent,
            "smtp authentication failed"
        );
        let delay = self.ctx.config.submission_auth_failure_delay_ms;
        if delay > 0 {
            self.ctx.clock().sleep(Duration::from_millis(delay)).await;
        }
        reply::C535_AUTH_FAILED.write(out);
        self.close_after_too_many_failures(out);
        self.control()
    }
}

#[cfg(test)]
mod tests {
    use super::is_auth_command;

    #[test]
    fn recognises_auth_lines() {
        assert!(is_auth_command(b"AUTH PLAIN\r\n"));
        assert!(is_auth_command(b"auth login"));
        assert!(is_auth_command(b"AUTH\r\n"));
        assert!(!is_auth_command(b"AUTHX\r\n"));
        assert!(!is_auth_command(b"AUT"));
        assert!(!is_auth_command(b"MAIL FROM:<a@b>\r\n"));
    }
}
