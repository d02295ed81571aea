//! The IMAP connection: state machine, event loop, response helpers.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use pillarbox_imap_proto::{
    Code, CommandError, CommandParser, Continue, Data, EncodeOptions, Event, ParserConfig,
    Response, StatusKind, Tag,
};
use pillarbox_session::{ConnInfo, Control, Pace, PaceTimer, Session, TlsInfo};
use pillarbox_store::{AccountId, Change};
use tokio::sync::broadcast;
use tracing::{debug, info};

use crate::capabilities;
use crate::commands;
use crate::context::{ImapContext, SessionSlot};
use crate::selected::Selected;

/// An authenticated user.
pub(crate) struct Authed {
    pub account: AccountId,
    pub login: String,
    /// The account's change feed.
    pub feed: broadcast::Receiver<Change>,
    /// Set when the feed lagged or carried a change of the selected mailbox
    /// not yet reflected in the view.
    pub dirty: bool,
    _slot: SessionSlot,
}

impl Authed {
    pub(crate) fn new(
        account: AccountId,
        login: String,
        feed: broadcast::Receiver<Change>,
        slot: SessionSlot,
    ) -> Authed {
        Authed {
            account,
            login,
            feed,
            dirty: false,
            _slot: slot,
        }
    }
}

/// RFC 9051 §3: connection states; each carries exactly its data.
pub(crate) enum State {
    NotAuthenticated,
    Authenticated(Authed),
    Selected(Authed, Box<Selected>),
    Logout,
}

/// Extensions the client turned on (RFC 5161 ENABLE, or implicitly).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Enabled {
    /// ENABLE IMAP4rev2: rev2 behaviours (no \Recent, ESEARCH answers).
    pub rev2: bool,
    /// ENABLE UTF8=ACCEPT (RFC 6855 / 9051).
    pub utf8: bool,
    /// RFC 7162: CONDSTORE enabled (by ENABLE or a CONDSTORE-using command).
    pub condstore: bool,
    /// RFC 7162: QRESYNC enabled (VANISHED instead of EXPUNGE).
    pub qresync: bool,
}

/// A command that spans several events.
pub(crate) enum Pending {
    None,
    /// IDLE: waiting for DONE.
    Idle {
        tag: Tag,
    },
    /// AUTHENTICATE: waiting for a client response.
    Authenticate(Box<commands::authenticate::InProgress>),
    /// APPEND: message data arriving.
    Append(Box<commands::append::InProgress>),
    /// FETCH: the response is being produced in chunks; no input is read
    /// until it completes.
    Fetch(Box<commands::fetch::FetchStream>),
}

/// One IMAP connection.
pub struct ImapSession {
    pub(crate) ctx: Arc<ImapContext>,
    pub(crate) conn: ConnInfo,
    pub(crate) parser: CommandParser,
    pub(crate) state: State,
    pub(crate) enabled: Enabled,
    pub(crate) pending: Pending,
    /// Encoded responses not yet handed to the driver.
    pub(crate) out: BytesMut,
    pub(crate) auth_failures: u32,
    /// The login of the authentication attempt in progress, for the
    /// brute-force counts.
    pub(crate) auth_login: Option<String>,
    bad_commands: u32,
    /// Slowloris defence: the command in progress.
    pace: PaceTimer,
}

impl ImapSession {
    pub fn new(ctx: Arc<ImapContext>, conn: ConnInfo) -> ImapSession {
        let cfg = ParserConfig {
            max_line: ctx.config.max_line_length,
            max_append: ctx.config.max_append_size,
            ..ParserConfig::default()
        };
        ImapSession {
            ctx,
            conn,
            parser: CommandParser::new(cfg),
            state: State::NotAuthenticated,
            enabled: Enabled::default(),
            pending: Pending::None,
            out: BytesMut::new(),
            auth_failures: 0,
            auth_login: None,
            bad_commands: 0,
            pace: PaceTimer::default(),
        }
    }

    pub(crate) fn encode_opts(&self) -> EncodeOptions {
        // RFC 9051 §5.1, §9 (quoted, mailbox): IMAP4rev2 uses UTF-8 for
        // mailbox names and allows it in quoted strings, as UTF8=ACCEPT does.
        EncodeOptions {
            utf8: self.enabled.utf8 || self.enabled.rev2,
        }
    }

    pub(crate) fn hostname(&self) -> &str {
        if self.ctx.config.hostname.is_empty() {
            "localhost"
        } else {
            &self.ctx.config.hostname
        }
    }

    /// Whether LOGIN/AUTHENTICATE may be used now.
    pub(crate) fn auth_allowed(&self) -> bool {
        self.conn.tls.is_some() || self.ctx.config.allow_plaintext_auth
    }

    /// The capability list for the current state.
    pub(crate) fn capabilities(&self) -> Vec<String> {
        let mut caps: Vec<String> = capabilities::BASE.iter().map(|s| s.to_string()).collect();
        if matches!(self.state, State::NotAuthenticated) {
            if self.conn.tls.is_none() && self.conn.starttls_available {
                caps.push("STARTTLS".into());
            }
            if self.auth_allowed() {
                let bindings = self.conn.tls.as_ref().map(|t| &t.channel_bindings);
                caps.extend(capabilities::auth(bindings));
            } else {
                caps.push("LOGINDISABLED".into());
            }
        }
        caps.push(format!("APPENDLIMIT={}", self.ctx.config.max_append_size));
        caps
    }

    // --- response helpers ---

    pub(crate) fn send(&mut self, r: Response) {
        let opts = self.encode_opts();
        r.encode(&mut self.out, opts);
    }

    pub(crate) fn data(&mut self, d: Data) {
        self.send(Response::Data(d));
    }

    pub(crate) fn tagged(&mut self, tag: &Tag, kind: StatusKind, code: Option<Code>, text: &str) {
        self.send(Response::tagged(tag.clone(), kind, code, text));
    }

    pub(crate) fn bad(&mut self, tag: &Tag, text: &str) -> Control {
        self.tagged(tag, StatusKind::Bad, None, text);
        Control::Continue
    }

    pub(crate) fn untagged_ok(&mut self, code: Option<Code>, text: &str) {
        self.send(Response::untagged(StatusKind::Ok, code, text));
    }

    /// Slowloris defence: a command still partly received after
    /// `command_timeout_secs` (plus a second per `min_data_rate` octets of
    /// it) ends the connection with `* BYE`. The idle timeout alone never
    /// fires while a byte trickles in now and then.
    fn pace_check(&mut self, before: usize, buf: &mut BytesMut, control: Control) -> Control {
        let pace = Pace {
            timeout: Duration::from_secs(self.ctx.config.command_timeout_secs),
            min_rate: self.ctx.config.min_data_rate,
        };
        let busy = self.parser.in_command();
        let now = self.ctx.clock.now();
        let Some(taken) = self.pace.check(pace, now, before, buf.len(), busy) else {
            return control;
        };
        if control != Control::Continue {
            return control;
        }
        tracing::warn!(
            session = self.conn.session_id,
            peer = %self.conn.peer,
            seconds = taken.as_secs(),
            "imap client too slow; closing connection"
        );
        self.bye("Command too slow; closing connection");
        buf.clear();
        Control::Close
    }

    pub(crate) fn bye(&mut self, text: &str) {
        self.send(Response::untagged(StatusKind::Bye, None, text));
    }

    pub(crate) fn continuation(&mut self, text: &str) {
        self.send(Response::Continue(Continue::Text(text.to_string())));
    }

    /// The account of an authenticated session.
    pub(crate) fn account(&self) -> Option<AccountId> {
        match &self.state {
            State::Authenticated(a) | State::Selected(a, _) => Some(a.account),
            _ => None,
        }
    }

    /// Leaves the selected state (CLOSE, UNSELECT, a new SELECT).
    pub(crate) fn deselect(&mut self) -> Option<Box<Selected>> {
        match std::mem::replace(&mut self.state, State::Logout) {
            State::Selected(a, s) => {
                self.state = State::Authenticated(a);
                Some(s)
            }
            other => {
                self.state = other;
                None
            }
        }
    }

    /// Reports changes of the selected mailbox made elsewhere.
    /// `allow_expunge` is false while answering FETCH, STORE and SEARCH by
    /// sequence number (RFC 9051 §7.5.1).
    pub(crate) async fn sync(&mut self, allow_expunge: bool) {
        let State::Selected(auth, sel) = &mut self.state else {
            return;
        };
        // Drain the feed: only changes of our mailbox matter.
        loop {
            match auth.feed.try_recv() {
                Ok(c) => {
                    if c.mailbox == sel.mailbox && c.modseq > sel.known_modseq {
                        auth.dirty = true;
                    }
                }
                Err(broadcast::error::TryRecvError::Lagged(_)) => auth.dirty = true,
                Err(_) => break,
            }
        }
        let expunges_due = allow_expunge && !sel.pending_expunge.is_empty();
        if !auth.dirty && !expunges_due {
            return;
        }
        let ctx = self.ctx.clone();
        let account = auth.account;
        let enabled = self.enabled;
        let mut out = BytesMut::new();
        let opts = EncodeOptions {
            utf8: enabled.utf8 || enabled.rev2,
        };
        match sel
            .sync(&ctx, account, allow_expunge, enabled, &mut out, opts)
            .await
        {
            Ok(()) => auth.dirty = false,
            Err(e) => debug!(error = %e, "sync failed; will retry"),
        }
        self.out.extend_from_slice(&out);
    }

    /// Moves the encoded responses to the driver's buffer, leaving this one
    /// empty without capacity: an idle session holds no output buffer.
    fn hand_over(&mut self, out: &mut Vec<u8>) {
        let encoded = std::mem::take(&mut self.out);
        if out.is_empty() {
            // Usually the case: the buffer changes hands without a copy.
            *out = encoded.into();
        } else {
            out.extend_from_slice(&encoded);
        }
    }

    /// Handles one parser event.
    async fn event(&mut self, ev: Event) -> Control {
        match ev {
            Event::Command(cmd) => {
                // Only invalid commands in a row count towards the limit: a
                // long-lived session may send the odd unknown command.
                self.bad_commands = 0;
                if !matches!(self.pending, Pending::None) {
                    return self.bad(&cmd.tag, "Another command is in progress");
                }
                commands::dispatch(self, cmd).await
            }
            Event::LiteralRequest(req) => {
                self.parser.accept_literal();
                let _ = req;
                self.continuation("Ready for literal data");
                Control::Continue
            }
            Event::AppendMessage(m) => commands::append::message(self, m).await,
            Event::AppendData(chunk) => commands::append::data(self, &chunk),
            Event::AppendDone { tag } => commands::append::done(self, tag).await,
            Event::IdleDone => commands::idle::done(self).await,
            Event::AuthenticateData(d) => commands::authenticate::response(self, Some(d)).await,
            Event::AuthenticateCancel => commands::authenticate::response(self, None).await,
        }
    }

    async fn parse_error(&mut self, e: CommandError) -> Control {
        // A broken-off APPEND leaves nothing behind (RFC 3502 §3).
        if matches!(self.pending, Pending::Append(_)) {
            commands::append::abort(self).await;
        }
        self.bad_commands += 1;
        let text = e.error.to_string();
        // A line that is not DONE (IDLE, RFC 9051 §6.3.13) or not a valid
        // SASL response (AUTHENTICATE, §6.2.2) ends that command with its
        // tagged BAD; the parser already expects commands again.
        let interrupted = match std::mem::replace(&mut self.pending, Pending::None) {
            Pending::Idle { tag } => Some((tag, "IDLE")),
            Pending::Authenticate(p) => Some((p.tag().clone(), "AUTHENTICATE")),
            other => {
                self.pending = other;
                None
            }
        };
        if let Some((tag, name)) = interrupted {
            let done = commands::Completion::bad(text);
            return match commands::complete(self, &tag, name, done, true).await {
                Control::Continue => self.too_many_bad(),
                other => other,
            };
        }
        match (&e.tag, e.status()) {
            (Some(tag), StatusKind::No) => {
                let tag = tag.clone();
                self.tagged(&tag, StatusKind::No, e.code(), &text);
            }
            (Some(tag), _) => {
                let tag = tag.clone();
                self.tagged(&tag, StatusKind::Bad, e.code(), &text);
            }
            (None, _) => self.send(Response::untagged(StatusKind::Bad, e.code(), &text)),
        }
        self.too_many_bad()
    }

    /// Closes the connection after too many invalid commands in a row.
    fn too_many_bad(&mut self) -> Control {
        if self.bad_commands > self.ctx.config.max_bad_commands {
            self.bye("Too many invalid commands");
            self.state = State::Logout;
            return Control::Close;
        }
        Control::Continue
    }
}

impl Session for ImapSession {
    async fn greeting(&mut self, out: &mut Vec<u8>) -> Control {
        let caps = self.capabilities();
        let host = self.hostname().to_string();
        self.untagged_ok(
            Some(Code::Capability(caps)),
            &format!("{host} Pillarbox IMAP ready"),
        );
        self.hand_over(out);
        Control::Continue
    }

    async fn input(&mut self, buf: &mut BytesMut, out: &mut Vec<u8>) -> Control {
        let before = buf.len();
        let mut control = Control::Continue;
        // A FETCH still producing its response goes on first; pipelined
        // commands wait in `buf` until it has completed.
        if matches!(self.pending, Pending::Fetch(_)) {
            control = commands::fetch::resume(self).await;
        }
        while control == Control::Continue && !self.output_pending() {
            match self.parser.feed(buf) {
                Ok(None) => break,
                Ok(Some(ev)) => control = self.event(ev).await,
                Err(e) => control = self.parse_error(e).await,
            }
        }
        let control = self.pace_check(before, buf, control);
        self.hand_over(out);
        control
    }

    fn output_pending(&self) -> bool {
        matches!(self.pending, Pending::Fetch(_))
    }

    async fn closed(&mut self) {
        commands::append::abort(self).await;
        if let Some(a) = self.account() {
            let login = match &self.state {
                State::Authenticated(x) | State::Selected(x, _) => x.login.as_str(),
                _ => "",
            };
            debug!(session = self.conn.session_id, account = %a, login, "imap connection closed");
        }
        self.state = State::Logout;
    }

    fn tls_established(&mut self, info: TlsInfo) {
        self.conn.tls = Some(info);
    }

    fn idle_timeout(&self) -> Duration {
        match self.state {
            State::NotAuthenticated => Duration::from_secs(self.ctx.config.login_timeout_secs),
            _ => Duration::from_secs(self.ctx.config.idle_timeout_secs.max(30 * 60)),
        }
    }

    fn timed_out(&mut self, out: &mut Vec<u8>) {
        self.bye("Autologout; idle for too long");
        self.hand_over(out);
    }

    fn shutting_down(&mut self, out: &mut Vec<u8>) {
        self.bye("Server shutting down");
        self.hand_over(out);
    }

    async fn wake(&mut self) {
        // Only an IDLE-ing session with a mailbox selected pushes changes.
        if let (Pending::Idle { .. }, State::Selected(auth, sel)) = (&self.pending, &mut self.state)
        {
            loop {
                match auth.feed.recv().await {
                    Ok(c) if c.mailbox == sel.mailbox && c.modseq > sel.known_modseq => {
                        auth.dirty = true;
                        return;
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        auth.dirty = true;
                        return;
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        }
        std::future::pending::<()>().await;
    }

    async fn on_wake(&mut self, out: &mut Vec<u8>) -> Control {
        self.sync(true).await;
        self.hand_over(out);
        Control::Continue
    }
}

/// Logs a successful login.
pub(crate) fn log_login(s: &ImapSession, login: &str, how: &str) {
    info!(session = s.conn.session_id, peer = %s.conn.peer, account = login, how, "imap login");
}
