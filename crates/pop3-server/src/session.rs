//! The POP3 session: RFC 1939 §3 states AUTHORIZATION → TRANSACTION →
//! UPDATE, driven by [`pillarbox_session::Session`].

use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use pillarbox_pop3_proto::{
    Command, LineEvent, LineMode, LineReader, ParseError, Response, encode_list_line,
    encode_terminator,
};
use pillarbox_sasl::Exchange;
use pillarbox_session::{ConnInfo, Control, Pace, PaceTimer, Session, TlsInfo};
use pillarbox_store::AccountId;
use tracing::{debug, warn};

use crate::context::Pop3Context;
use crate::error::Pop3Error;
use crate::maildrop::Maildrop;

/// The session state; each variant carries exactly its data.
pub(crate) enum State {
    /// RFC 1939 §4. `user` is the name given by USER, awaiting PASS.
    Authorization { user: Option<String> },
    /// RFC 5034: an AUTH exchange waits for the client's next response.
    Sasl(Box<SaslInProgress>),
    /// RFC 1939 §5: logged in, maildrop locked and snapshotted.
    Transaction(Maildrop),
    /// After QUIT, a fatal error, a timeout or the peer's close. Dropping
    /// the maildrop released its lock; nothing more is processed.
    Closed,
}

pub(crate) struct SaslInProgress {
    pub exchange: Exchange,
    /// The account looked up for the exchange's authcid: id and login.
    pub account: Option<(AccountId, String)>,
}

/// One POP3 connection's session logic (no socket: see
/// `pillarbox_session`).
pub struct Pop3Session {
    pub(crate) ctx: Arc<Pop3Context>,
    pub(crate) conn: ConnInfo,
    pub(crate) state: State,
    reader: LineReader,
    bad_commands: u32,
    pub(crate) auth_failures: u32,
    /// The login of the authentication attempt in progress, for the
    /// brute-force counts.
    pub(crate) auth_login: Option<String>,
    /// Slowloris defence: the command line in progress.
    pace: PaceTimer,
    /// RFC 6856: the client sent UTF8.
    pub(crate) utf8: bool,
}

impl std::fmt::Debug for Pop3Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pop3Session")
            .field("session_id", &self.conn.session_id)
            .finish_non_exhaustive()
    }
}

impl Pop3Session {
    pub fn new(ctx: Arc<Pop3Context>, conn: ConnInfo) -> Pop3Session {
        Pop3Session {
            ctx,
            conn,
            state: State::Authorization { user: None },
            reader: LineReader::new(),
            bad_commands: 0,
            auth_failures: 0,
            auth_login: None,
            pace: PaceTimer::default(),
            utf8: false,
        }
    }

    /// Whether USER/PASS and AUTH may be used on this connection now.
    pub(crate) fn auth_allowed(&self) -> bool {
        self.conn.tls.is_some() || self.ctx.config.allow_plaintext_auth
    }

    /// Writes the response for an error (the one place errors become
    /// `-ERR` lines), logs server-side errors with their chain, counts bad
    /// commands and closes after too many.
    pub(crate) fn reply_err(&mut self, e: Pop3Error, out: &mut Vec<u8>) -> Control {
        if e.is_server_error() {
            warn!(session = self.conn.session_id, error = %e, "pop3 command failed");
        } else {
            debug!(session = self.conn.session_id, error = %e, "pop3 command refused");
        }
        if e.is_bad_command() {
            self.bad_commands += 1;
            if self.bad_commands > self.ctx.config.max_bad_commands {
                Pop3Error::TooManyBadCommands.response().encode(out);
                self.state = State::Closed;
                return Control::Close;
            }
        }
        e.response().encode(out);
        Control::Continue
    }

    async fn line(&mut self, line: &[u8], out: &mut Vec<u8>) -> Control {
        if matches!(self.state, State::Sasl(_)) {
            return self.sasl_response(line, out).await;
        }
        match Command::parse(line) {
            Ok(cmd) => {
                debug!(
                    session = self.conn.session_id,
                    command = cmd.keyword(),
                    "pop3 command"
                );
                match self.command(cmd, out).await {
                    Ok(c) => c,
                    Err(e) => self.reply_err(e, out),
                }
            }
            Err(e) => self.reply_err(Pop3Error::Syntax(e), out),
        }
    }

    async fn command(&mut self, cmd: Command, out: &mut Vec<u8>) -> Result<Control, Pop3Error> {
        let in_auth = matches!(self.state, State::Authorization { .. });
        let in_trans = matches!(self.state, State::Transaction(_));
        match cmd {
            Command::Capa => {
                self.capa(out);
                Ok(Control::Continue)
            }
            Command::Quit => self.quit(out).await,
            Command::Lang(_) => Err(Pop3Error::NotSupported("LANG")),
            Command::Apop if in_auth => Err(Pop3Error::NotSupported("APOP")),
            Command::Stls if in_auth => self.stls(out),
            Command::Utf8 if in_auth => {
                // RFC 6856 §2.
                self.utf8 = true;
                Response::ok("UTF8 enabled").encode(out);
                Ok(Control::Continue)
            }
            Command::User(name) if in_auth => self.user(name, out),
            Command::Pass(pw) if in_auth => Ok(self.pass(pw, out).await),
            Command::Auth {
                mechanism,
                initial_response,
            } if in_auth => Ok(self.auth(mechanism, initial_response, out).await),
            Command::Noop if in_trans => {
                Response::ok("").encode(out);
                Ok(Control::Continue)
            }
            Command::Stat
            | Command::List(_)
            | Command::Retr(_)
            | Command::Dele(_)
            | Command::Rset
            | Command::Top { .. }
            | Command::Uidl(_)
                if in_trans =>
            {
                self.transaction(cmd, out).await
            }
            _ => Err(Pop3Error::WrongState),
        }
    }

    /// RFC 2595 §4: STLS, only in the AUTHORIZATION state.
    fn stls(&mut self, out: &mut Vec<u8>) -> Result<Control, Pop3Error> {
        if self.conn.tls.is_some() {
            return Err(Pop3Error::AlreadyTls);
        }
        if !self.conn.starttls_available {
            return Err(Pop3Error::TlsUnavailable);
        }
        self.state = State::Authorization { user: None };
        Response::ok("Begin TLS negotiation").encode(out);
        Ok(Control::StartTls)
    }

    /// RFC 2449 §5 CAPA.
    fn capa(&self, out: &mut Vec<u8>) {
        let cfg = &self.ctx.config;
        let in_auth = !matches!(self.state, State::Transaction(_));
        Response::ok("Capability list follows").encode(out);
        let mut lines: Vec<String> = vec![
            "TOP".into(),
            "UIDL".into(),
            "RESP-CODES".into(),
            "AUTH-RESP-CODE".into(),
            "PIPELINING".into(),
            // RFC 6856 §2: "USER" says USER/PASS take UTF-8 as well.
            "UTF8 USER".into(),
        ];
        lines.push(match cfg.expire_days {
            None => "EXPIRE NEVER".into(),
            Some(d) => format!("EXPIRE {d}"),
        });
        if cfg.login_delay_secs > 0 {
            lines.push(format!("LOGIN-DELAY {}", cfg.login_delay_secs));
        }
        if in_auth && self.auth_allowed() {
            lines.push("USER".into());
            // SCRAM-SHA-256-PLUS only where TLS gave channel bindings.
            let bindings = self.conn.tls.as_ref().map(|t| &t.channel_bindings);
            let mechs: Vec<&str> = pillarbox_sasl::Mechanism::offered(bindings)
                .map(|m| m.name())
                .collect();
            lines.push(format!("SASL {}", mechs.join(" ")));
        }
        if in_auth && self.conn.tls.is_none() && self.conn.starttls_available {
            lines.push("STLS".into());
        }
        lines.push("IMPLEMENTATION Pillarbox".into());
        for l in &lines {
            encode_list_line(l, out);
        }
        encode_terminator(out);
    }

    /// QUIT: in TRANSACTION, the UPDATE state (RFC 1939 §6).
    async fn quit(&mut self, out: &mut Vec<u8>) -> Result<Control, Pop3Error> {
        let state = std::mem::replace(&mut self.state, State::Closed);
        let State::Transaction(maildrop) = state else {
            Response::ok("Bye").encode(out);
            return Ok(Control::Close);
        };
        let marked = maildrop.marked();
        if marked.is_empty() {
            Response::ok("Bye").encode(out);
            return Ok(Control::Close);
        }
        // One store call: the expunge is atomic, so either every marked
        // message is gone or none is. +OK only once it is durable.
        match self
            .ctx
            .store
            .expunge(maildrop.account, maildrop.mailbox, &marked)
            .await
        {
            Ok(removed) => {
                debug!(
                    session = self.conn.session_id,
                    account = %maildrop.login,
                    removed = removed.len(),
                    "pop3 update"
                );
                let text = format!("Bye ({} messages deleted)", marked.len());
                Response::ok(&text).encode(out);
            }
            Err(e) => {
                // RFC 1939 §6: "-ERR some deleted messages not removed";
                // nothing was removed (one transaction). Close anyway.
                let _ = self.reply_err(Pop3Error::UpdateFailed(e), out);
            }
        }
        // The maildrop (and its lock) is released here, after the update.
        drop(maildrop);
        Ok(Control::Close)
    }
}

impl Pop3Session {
    /// RFC 2449 PIPELINING: every complete line, in order.
    async fn lines(&mut self, buf: &mut BytesMut, out: &mut Vec<u8>) -> Control {
        loop {
            if matches!(self.state, State::Closed) {
                buf.clear();
                return Control::Close;
            }
            let mode = if matches!(self.state, State::Sasl(_)) {
                LineMode::Sasl
            } else {
                LineMode::Command
            };
            let (used, event) = self.reader.next(&buf[..], mode);
            let line = match event {
                Some(LineEvent::Line(l)) => Some(l.to_vec()),
                Some(LineEvent::TooLong) => None,
                None => {
                    buf.advance(used);
                    return Control::Continue;
                }
            };
            buf.advance(used);
            let control = match line {
                Some(l) => self.line(&l, out).await,
                None => {
                    if matches!(self.state, State::Sasl(_)) {
                        // An overlong SASL response aborts the exchange.
                        self.state = State::Authorization { user: None };
                    }
                    self.reply_err(Pop3Error::Syntax(ParseError::LineTooLong), out)
                }
            };
            if control != Control::Continue {
                return control;
            }
        }
    }
}

impl Session for Pop3Session {
    async fn greeting(&mut self, out: &mut Vec<u8>) -> Control {
        let host = &self.ctx.config.hostname;
        let text = if host.is_empty() {
            "Pillarbox POP3 server ready".to_string()
        } else {
            format!("{host} Pillarbox POP3 server ready")
        };
        Response::ok(&text).encode(out);
        Control::Continue
    }

    async fn input(&mut self, buf: &mut BytesMut, out: &mut Vec<u8>) -> Control {
        let before = buf.len();
        let control = self.lines(buf, out).await;
        // Slowloris defence: a command line still incomplete after
        // `command_timeout_secs` ends the connection (the idle timeout alone
        // never fires while a byte trickles in now and then).
        let pace = Pace {
            timeout: Duration::from_secs(self.ctx.config.command_timeout_secs),
            min_rate: 1024,
        };
        let busy = !buf.is_empty() || self.reader.is_discarding();
        let now = self.ctx.clock.now();
        match self.pace.check(pace, now, before, buf.len(), busy) {
            Some(taken) if control == Control::Continue => {
                tracing::warn!(
                    session = self.conn.session_id,
                    peer = %self.conn.peer,
                    seconds = taken.as_secs(),
                    "pop3 client too slow; closing connection"
                );
                // Like the autologout: no UPDATE, nothing is deleted.
                self.state = State::Closed;
                buf.clear();
                Response::err("Command too slow, closing connection").encode(out);
                Control::Close
            }
            _ => control,
        }
    }

    async fn closed(&mut self) {
        // RFC 1939 §6: without QUIT there is no UPDATE: nothing is deleted.
        self.state = State::Closed;
    }

    fn tls_established(&mut self, info: TlsInfo) {
        // RFC 2595 §4: forget what was learned before TLS.
        self.conn.tls = Some(info);
        self.state = State::Authorization { user: None };
        self.utf8 = false;
    }

    fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.ctx.config.idle_timeout_secs)
    }

    fn timed_out(&mut self, out: &mut Vec<u8>) {
        // RFC 1939 §3 autologout: close without entering UPDATE.
        self.state = State::Closed;
        Response::err("Idle timeout, closing connection").encode(out);
    }

    fn shutting_down(&mut self, out: &mut Vec<u8>) {
        self.state = State::Closed;
        Response::err_code(
            pillarbox_pop3_proto::RespCode::SysTemp,
            "Server shutting down, try again later",
        )
        .encode(out);
    }
}
