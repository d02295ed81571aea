//! RFC 9051 §6.2.3 LOGIN, and the move to the authenticated state shared
//! with AUTHENTICATE.

use std::time::Duration;

use pillarbox_imap_proto::Code;
use pillarbox_sasl::{prepare_username, verify_password_or_dummy};
use pillarbox_session::Control;
use pillarbox_store::AccountId;

use super::Completion;
use crate::session::{Authed, ImapSession, State, log_login};

/// The store login of an authentication identity: logins are lowercase.
pub(crate) fn login_of(authcid: &str) -> String {
    authcid.to_lowercase()
}

pub(crate) async fn run(s: &mut ImapSession, username: Vec<u8>, password: Vec<u8>) -> Completion {
    if !s.auth_allowed() {
        // RFC 9051 §6.2.3: LOGINDISABLED is advertised; refuse.
        return Completion::no(Some(Code::PrivacyRequired), "Use STARTTLS first");
    }
    s.auth_login = None;
    let (Ok(user), Ok(password)) = (String::from_utf8(username), String::from_utf8(password))
    else {
        return failed(s).await;
    };
    let login = prepare_username(&user).ok().map(|u| login_of(&u));
    if let Err(refused) = throttle_check(s, login.as_deref()) {
        return refused;
    }
    let found = match &login {
        Some(l) => match s.ctx.store.credentials(l).await {
            Ok(f) => f,
            Err(e) => return Completion::store(&e),
        },
        None => None,
    };
    let hash = found.as_ref().map(|(_, c)| c.password_hash.clone());
    // argon2 is deliberately slow: off the runtime. The dummy hash makes an
    // unknown user cost the same as a wrong password.
    let ok =
        tokio::task::spawn_blocking(move || verify_password_or_dummy(hash.as_deref(), &password))
            .await
            .unwrap_or(false);
    match (ok, found, login) {
        (true, Some((account, _)), Some(login)) => authenticated(s, account, login, "LOGIN"),
        _ => failed(s).await,
    }
}

/// Enters the authenticated state (checking the per-account session limit).
pub(crate) fn authenticated(
    s: &mut ImapSession,
    account: AccountId,
    login: String,
    how: &str,
) -> Completion {
    let Some(slot) = s.ctx.enter(account) else {
        return Completion::no(Some(Code::Limit), "Too many sessions for this account");
    };
    let feed = s.ctx.store.subscribe(account);
    s.ctx.auth_throttle().succeeded(&login);
    s.auth_login = None;
    log_login(s, &login, how);
    s.state = State::Authenticated(Authed::new(account, login, feed, slot));
    let caps = s.capabilities();
    Completion::ok_code(Code::Capability(caps), "Logged in")
}

/// Brute-force protection before a password is checked: a client address
/// or login with too many recent failures is refused with `NO
/// [UNAVAILABLE]` (RFC 5530 §3: temporary), without checking anything.
/// Remembers `login` for [`failed`].
pub(crate) fn throttle_check(s: &mut ImapSession, login: Option<&str>) -> Result<(), Completion> {
    s.auth_login = login.map(str::to_string);
    let Err(refusal) = s.ctx.auth_throttle().check(s.conn.peer.ip(), login) else {
        return Ok(());
    };
    s.auth_failures += 1;
    tracing::warn!(
        session = s.conn.session_id,
        peer = %s.conn.peer,
        login = login.unwrap_or(""),
        scope = %refusal.scope(),
        retry_after_secs = refusal.retry_after().as_secs(),
        "imap authentication refused: too many failures"
    );
    let done = Completion::no(
        Some(Code::Unavailable),
        "Too many failed authentications, try again later",
    );
    if s.auth_failures >= s.ctx.config.max_auth_failures {
        s.bye("Too many failed authentications");
        s.state = State::Logout;
        return Err(done.with_control(Control::Close));
    }
    Err(done)
}

/// Counts a failed authentication (per connection and in the server's
/// brute-force counts), waits the configured delay, closes after too many.
pub(crate) async fn failed(s: &mut ImapSession) -> Completion {
    s.auth_failures += 1;
    let login = s.auth_login.take();
    let recent = s
        .ctx
        .auth_throttle()
        .failed(s.conn.peer.ip(), login.as_deref());
    tracing::info!(
        session = s.conn.session_id,
        peer = %s.conn.peer,
        login = login.as_deref().unwrap_or(""),
        failures = s.auth_failures,
        recent,
        "imap authentication failed"
    );
    let delay = s.ctx.config.auth_failure_delay_ms;
    if delay > 0 {
        s.ctx.clock.sleep(Duration::from_millis(delay)).await;
    }
    let done = Completion::no(Some(Code::AuthenticationFailed), "Authentication failed");
    if s.auth_failures >= s.ctx.config.max_auth_failures {
        s.bye("Too many failed authentications");
        s.state = State::Logout;
        return done.with_control(Control::Close);
    }
    done
}
