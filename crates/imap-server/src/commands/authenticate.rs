//! RFC 9051 §6.2.2 AUTHENTICATE with RFC 4959 SASL-IR; mechanisms from
//! `pillarbox-sasl` (PLAIN, LOGIN, SCRAM-SHA-256).

use pillarbox_imap_proto::{Code, Continue, Response, Tag};
use pillarbox_sasl::{Credentials, Exchange, Failure, Mechanism, Step};
use pillarbox_session::Control;
use pillarbox_store::{AccountId, StoredCredentials};

use super::login::{authenticated, failed, login_of};
use super::{Completion, complete};
use crate::session::{ImapSession, Pending};

/// An exchange waiting for the client's next response.
pub(crate) struct InProgress {
    tag: Tag,
    exchange: Exchange,
    account: Option<(AccountId, String)>,
}

impl InProgress {
    /// The tag of the AUTHENTICATE command.
    pub(crate) fn tag(&self) -> &Tag {
        &self.tag
    }
}

pub(crate) async fn start(
    s: &mut ImapSession,
    tag: &Tag,
    mechanism: String,
    initial: Option<Vec<u8>>,
) -> Option<Completion> {
    if !s.auth_allowed() {
        return Some(Completion::no(
            Some(Code::PrivacyRequired),
            "Use STARTTLS first",
        ));
    }
    let Some(mech) = Mechanism::from_name(&mechanism) else {
        return Some(Completion::no(None, "Unsupported authentication mechanism"));
    };
    // The same bindings as CAPABILITY advertised with (RFC 5802 §6).
    let bindings = s.conn.tls.as_ref().map(|t| &t.channel_bindings);
    let mut exchange = Exchange::for_connection(mech, bindings);
    let step = exchange.start(initial.as_deref());
    drive(s, tag.clone(), exchange, step, None).await
}

/// A client response line (`None`: the client cancelled with `*`).
pub(crate) async fn response(s: &mut ImapSession, data: Option<Vec<u8>>) -> Control {
    let Pending::Authenticate(p) = std::mem::replace(&mut s.pending, Pending::None) else {
        return Control::Continue;
    };
    let InProgress {
        tag,
        mut exchange,
        account,
    } = *p;
    let done = match data {
        None => Some(Completion::bad("Authentication cancelled")),
        Some(d) => {
            let step = exchange.respond(&d);
            drive(s, tag.clone(), exchange, step, account).await
        }
    };
    match done {
        Some(done) => complete(s, &tag, "AUTHENTICATE", done, true).await,
        None => Control::Continue,
    }
}

async fn drive(
    s: &mut ImapSession,
    tag: Tag,
    mut exchange: Exchange,
    mut step: Step,
    mut account: Option<(AccountId, String)>,
) -> Option<Completion> {
    loop {
        match step {
            Step::Challenge(c) => {
                // RFC 9051 §6.2.2: the challenge is base64 (`+ ` when empty).
                s.send(Response::Continue(Continue::Base64(c)));
                s.parser.expect_auth_response();
                s.pending = Pending::Authenticate(Box::new(InProgress {
                    tag,
                    exchange,
                    account,
                }));
                return None;
            }
            Step::NeedCredentials { authcid } => {
                let login = login_of(&authcid);
                if let Err(refused) = super::login::throttle_check(s, Some(&login)) {
                    return Some(refused);
                }
                let found = match s.ctx.store.credentials(&login).await {
                    Ok(f) => f,
                    Err(e) => return Some(Completion::store(&e)),
                };
                let creds: Option<StoredCredentials> = found.map(|(id, c)| {
                    account = Some((id, login));
                    c
                });
                let joined = tokio::task::spawn_blocking(move || {
                    let step = exchange.credentials(creds.as_ref().map(|c| Credentials {
                        password_hash: &c.password_hash,
                        scram_sha256: c.scram_sha256.as_deref(),
                    }));
                    (exchange, step)
                })
                .await;
                match joined {
                    Ok((e, st)) => {
                        exchange = e;
                        step = st;
                    }
                    Err(_) => return Some(Completion::no(Some(Code::ServerBug), "Internal error")),
                }
            }
            Step::Done { authcid, .. } => {
                return Some(match account {
                    Some((id, login)) if login == login_of(&authcid) => {
                        authenticated(s, id, login, "AUTHENTICATE")
                    }
                    _ => Completion::no(Some(Code::ServerBug), "Internal error"),
                });
            }
            Step::Fail(Failure::BadCredentials) | Step::Fail(Failure::AuthzidRefused) => {
                return Some(failed(s).await);
            }
            Step::Fail(_) => return Some(Completion::bad("Malformed authentication exchange")),
        }
    }
}
