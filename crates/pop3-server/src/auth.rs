//! AUTHORIZATION state: USER/PASS (RFC 1939 §7), AUTH (RFC 5034), and
//! the move to TRANSACTION (maildrop lock and snapshot).

use std::time::Duration;

use pillarbox_pop3_proto::{Response, encode_continuation, encode_list_line, encode_terminator};
use pillarbox_sasl::{
    ClientResponse, Credentials, Exchange, Failure, Mechanism, Step, decode_initial_response,
    decode_response, encode_challenge, prepare_username, verify_password_or_dummy,
};
use pillarbox_session::Control;
use pillarbox_store::{AccountId, StoredCredentials};
use tracing::info;

use crate::error::Pop3Error;
use crate::maildrop::Maildrop;
use crate::session::{Pop3Session, SaslInProgress, State};

/// The store login for an authentication identity: logins are lowercase.
fn login_of(authcid: &str) -> String {
    authcid.to_lowercase()
}

impl Pop3Session {
    /// RFC 1939 §7 USER. Always accepted (the answer must not reveal which
    /// names exist); the password decides.
    pub(crate) fn user(&mut self, name: String, out: &mut Vec<u8>) -> Result<Control, Pop3Error> {
        if !self.auth_allowed() {
            return Err(Pop3Error::TlsRequired);
        }
        self.state = State::Authorization { user: Some(name) };
        Response::ok("Send PASS").encode(out);
        Ok(Control::Continue)
    }

    /// RFC 1939 §7 PASS. Whatever the outcome, a new USER is needed after a
    /// failure ("the server returns to the AUTHORIZATION state").
    pub(crate) async fn pass(&mut self, password: String, out: &mut Vec<u8>) -> Control {
        if !self.auth_allowed() {
            return self.reply_err(Pop3Error::TlsRequired, out);
        }
        let user = match &mut self.state {
            State::Authorization { user } => user.take(),
            _ => None,
        };
        let Some(user) = user else {
            return self.reply_err(Pop3Error::NeedUser, out);
        };
        // A name SASLprep refuses cannot be an account: verify against the
        // dummy anyway so the timing is the same.
        let login = prepare_username(&user).ok().map(|u| login_of(&u));
        if let Err(control) = self.throttle_check(login.as_deref(), out) {
            return control;
        }
        let found = match &login {
            Some(l) => match self.ctx.store.credentials(l).await {
                Ok(f) => f,
                Err(e) => return self.reply_err(Pop3Error::Store(e), out),
            },
            None => None,
        };
        let hash = found.as_ref().map(|(_, c)| c.password_hash.clone());
        let ok = match tokio::task::spawn_blocking(move || {
            verify_password_or_dummy(hash.as_deref(), &password)
        })
        .await
        {
            Ok(ok) => ok,
            Err(e) => return self.reply_err(Pop3Error::Internal(e.to_string()), out),
        };
        match (ok, found, login) {
            (true, Some((account, _)), Some(login)) => {
                self.open_maildrop(account, login, out).await
            }
            _ => self.auth_failed(out).await,
        }
    }

    /// RFC 5034 §4 AUTH.
    pub(crate) async fn auth(
        &mut self,
        mechanism: Option<String>,
        initial_response: Option<String>,
        out: &mut Vec<u8>,
    ) -> Control {
        if !self.auth_allowed() {
            return self.reply_err(Pop3Error::TlsRequired, out);
        }
        let Some(mechanism) = mechanism else {
            // Bare AUTH (RFC 1734 era, still sent by some clients): list
            // the mechanisms.
            Response::ok("Supported mechanisms follow").encode(out);
            let bindings = self.conn.tls.as_ref().map(|t| &t.channel_bindings);
            for m in Mechanism::offered(bindings) {
                encode_list_line(m.name(), out);
            }
            encode_terminator(out);
            return Control::Continue;
        };
        let Some(mechanism) = Mechanism::from_name(&mechanism) else {
            return self.reply_err(Pop3Error::UnsupportedMechanism, out);
        };
        let initial = match initial_response.map(|ir| decode_initial_response(ir.as_bytes())) {
            None => None,
            Some(Ok(d)) => Some(d),
            Some(Err(_)) => return self.reply_err(Pop3Error::SaslMalformed, out),
        };
        self.state = State::Authorization { user: None };
        // The same bindings as CAPA advertised with (RFC 5802 §6).
        let bindings = self.conn.tls.as_ref().map(|t| &t.channel_bindings);
        let mut exchange = Exchange::for_connection(mechanism, bindings);
        let step = exchange.start(initial.as_deref());
        self.drive_sasl(exchange, step, None, out).await
    }

    /// A line received while an AUTH exchange waits for the client.
    pub(crate) async fn sasl_response(&mut self, line: &[u8], out: &mut Vec<u8>) -> Control {
        let state = std::mem::replace(&mut self.state, State::Authorization { user: None });
        let State::Sasl(sasl) = state else {
            return self.reply_err(Pop3Error::Internal("no SASL exchange".into()), out);
        };
        let SaslInProgress {
            mut exchange,
            account,
        } = *sasl;
        match decode_response(line) {
            // RFC 5034 §4: "*" cancels; the server rejects the AUTH.
            Ok(ClientResponse::Cancel) => self.reply_err(Pop3Error::AuthCancelled, out),
            Ok(ClientResponse::Data(d)) => {
                let step = exchange.respond(&d);
                self.drive_sasl(exchange, step, account, out).await
            }
            Err(_) => self.reply_err(Pop3Error::SaslMalformed, out),
        }
    }

    /// Runs the exchange until it needs the client again or ends.
    async fn drive_sasl(
        &mut self,
        mut exchange: Exchange,
        mut step: Step,
        mut account: Option<(AccountId, String)>,
        out: &mut Vec<u8>,
    ) -> Control {
        loop {
            match step {
                Step::Challenge(c) => {
                    encode_continuation(&encode_challenge(&c), out);
                    self.state = State::Sasl(Box::new(SaslInProgress { exchange, account }));
                    return Control::Continue;
                }
                Step::NeedCredentials { authcid } => {
                    let login = login_of(&authcid);
                    if let Err(control) = self.throttle_check(Some(&login), out) {
                        return control;
                    }
                    let found = match self.ctx.store.credentials(&login).await {
                        Ok(f) => f,
                        Err(e) => return self.reply_err(Pop3Error::Store(e), out),
                    };
                    let creds: Option<StoredCredentials> = match found {
                        Some((id, c)) => {
                            account = Some((id, login));
                            Some(c)
                        }
                        None => None,
                    };
                    // PLAIN/LOGIN verify argon2 here: off the runtime.
                    match tokio::task::spawn_blocking(move || {
                        let step = exchange.credentials(creds.as_ref().map(|c| Credentials {
                            password_hash: &c.password_hash,
                            scram_sha256: c.scram_sha256.as_deref(),
                        }));
                        (exchange, step)
                    })
                    .await
                    {
                        Ok((e, s)) => {
                            exchange = e;
                            step = s;
                        }
                        Err(e) => return self.reply_err(Pop3Error::Internal(e.to_string()), out),
                    }
                }
                Step::Done { authcid, .. } => {
                    return match account {
                        Some((id, login)) if login == login_of(&authcid) => {
                            self.open_maildrop(id, login, out).await
                        }
                        _ => self.reply_err(
                            Pop3Error::Internal("SASL success without an account".into()),
                            out,
                        ),
                    };
                }
                Step::Fail(Failure::BadCredentials) | Step::Fail(Failure::AuthzidRefused) => {
                    return self.auth_failed(out).await;
                }
                Step::Fail(_) => return self.reply_err(Pop3Error::SaslMalformed, out),
            }
        }
    }

    /// Brute-force protection before a password is checked: a client
    /// address or login with too many recent failures gets `-ERR
    /// [SYS/TEMP]` without anything being checked. Remembers `login` for
    /// [`Pop3Session::auth_failed`].
    fn throttle_check(&mut self, login: Option<&str>, out: &mut Vec<u8>) -> Result<(), Control> {
        self.auth_login = login.map(str::to_string);
        let Err(refusal) = self.ctx.auth_throttle().check(self.conn.peer.ip(), login) else {
            return Ok(());
        };
        self.auth_failures += 1;
        self.state = State::Authorization { user: None };
        tracing::warn!(
            session = self.conn.session_id,
            peer = %self.conn.peer,
            login = login.unwrap_or(""),
            scope = %refusal.scope(),
            retry_after_secs = refusal.retry_after().as_secs(),
            "pop3 authentication refused: too many failures"
        );
        let control = self.reply_err(Pop3Error::Throttled, out);
        if self.auth_failures >= self.ctx.config.max_auth_failures {
            self.state = State::Closed;
            return Err(Control::Close);
        }
        Err(control)
    }

    /// Counts a failed authentication (per connection and in the server's
    /// brute-force counts), waits the configured delay, and closes after
    /// too many.
    async fn auth_failed(&mut self, out: &mut Vec<u8>) -> Control {
        self.auth_failures += 1;
        self.state = State::Authorization { user: None };
        let login = self.auth_login.take();
        let recent = self
            .ctx
            .auth_throttle()
            .failed(self.conn.peer.ip(), login.as_deref());
        info!(
            session = self.conn.session_id,
            peer = %self.conn.peer,
            login = login.as_deref().unwrap_or(""),
            failures = self.auth_failures,
            recent,
            "pop3 authentication failed"
        );
        let delay = self.ctx.config.auth_failure_delay_ms;
        if delay > 0 {
            self.ctx.clock.sleep(Duration::from_millis(delay)).await;
        }
        if self.auth_failures >= self.ctx.config.max_auth_failures {
            let _ = self.reply_err(Pop3Error::TooManyAuthFailures, out);
            self.state = State::Closed;
            return Control::Close;
        }
        self.reply_err(Pop3Error::AuthFailed, out)
    }

    /// Authenticated: lock and snapshot the INBOX, enter TRANSACTION.
    async fn open_maildrop(
        &mut self,
        account: AccountId,
        login: String,
        out: &mut Vec<u8>,
    ) -> Control {
        match self.try_open_maildrop(account, login).await {
            Ok(maildrop) => {
                self.ctx.auth_throttle().succeeded(&maildrop.login);
                self.auth_login = None;
                let (n, size) = maildrop.stat();
                info!(
                    session = self.conn.session_id,
                    account = %maildrop.login,
                    messages = n,
                    "pop3 login"
                );
                let text = format!("Maildrop has {n} messages ({size} octets)");
                self.state = State::Transaction(maildrop);
                Response::ok(&text).encode(out);
                Control::Continue
            }
            Err(e) => {
                self.state = State::Authorization { user: None };
                self.reply_err(e, out)
            }
        }
    }

    async fn try_open_maildrop(
        &self,
        account: AccountId,
        login: String,
    ) -> Result<Maildrop, Pop3Error> {
        // RFC 1939 §4: exclusive access; RFC 2449 §8.1.2 [IN-USE].
        let lock = self.ctx.try_lock(account).ok_or(Pop3Error::InUse)?;
        // RFC 2449 §8.1.1 [LOGIN-DELAY].
        if !self.ctx.check_and_record_login(account) {
            return Err(Pop3Error::LoginDelay);
        }
        let store = &self.ctx.store;
        let inbox = store
            .mailbox_by_name(account, "INBOX")
            .await?
            .ok_or_else(|| Pop3Error::Internal(format!("account {account} has no INBOX")))?;
        let entries = store.entries(account, inbox.id).await?;
        Ok(Maildrop::new(
            account,
            login,
            inbox.id,
            inbox.uid_validity,
            entries,
            lock,
        ))
    }
}
