//! One SMTP/submission/LMTP session: the command state machine and the
//! end of a message. Input framing (command lines, DATA and BDAT streamed
//! into a spool, the per-input loop and its slowloris bound) lives in
//! [`framing`], AUTH in [`auth`], the submission
//! policy (sender checks, header fields an MSA adds) in [`submission`].

mod auth;
mod dsn_params;
mod forward;
mod framing;
mod submission;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use pillarbox_delivery::{DeliveryError, Disposition, Envelope, EnvelopeRecipient, Resolution};
use pillarbox_message::spool::Spool;
use pillarbox_session::{ConnInfo, Control, PaceTimer, Session, TlsInfo};
use pillarbox_store::AccountId;
use pillarbox_store::DsnEnvelope;
use smtp_proto::request::receiver::{BdatReceiver, DataReceiver, DummyDataReceiver};
use smtp_proto::{EhloResponse, MailFrom, RcptTo, Request};

use crate::reply::{self, Reply};
use crate::{Mode, SmtpContext};
use dsn_params::{Extracted, RcptDsn};

/// MX: the message failed DMARC and its author domain publishes
/// `p=reject` (RFC 7489 §6.3); `5.7.1` "delivery not authorized"
/// (RFC 3463) is the code receivers commonly use for it.
const C550_DMARC_REJECT: Reply = Reply {
    code: 550,
    status: Some([5, 7, 1]),
    text: "Rejected by the DMARC policy of the From: domain",
};

/// What the client said in HELO/EHLO/LHLO.
#[derive(Debug)]
struct Helo {
    name: String,
    /// EHLO or LHLO: service extensions were negotiated.
    extended: bool,
}

/// A mail transaction (RFC 5321 §3.3), from MAIL FROM on.
#[derive(Debug)]
struct MailTx {
    /// Without brackets; empty for the null reverse-path.
    reverse_path: String,
    /// RFC 6531: the SMTPUTF8 parameter was given.
    smtputf8: bool,
    /// Accepted recipients, in RCPT order.
    recipients: Vec<EnvelopeRecipient>,
    /// For each entry of `recipients`: its alias targets in other domains,
    /// forwarded through the queue (empty: none).
    forwards: Vec<Vec<String>>,
    /// Submission: accepted recipients in other domains, for the queue.
    remote: Vec<String>,
    /// RFC 3461: `RET` and `ENVID` of MAIL FROM.
    dsn: DsnEnvelope,
    /// RFC 3461: `NOTIFY` and `ORCPT` of each entry of `recipients`.
    recipients_dsn: Vec<RcptDsn>,
    /// The same for each entry of `remote`.
    remote_dsn: Vec<RcptDsn>,
}

impl MailTx {
    fn has_recipients(&self) -> bool {
        !self.recipients.is_empty() || !self.remote.is_empty()
    }
}

/// Where the session is; each variant carries exactly its data.
enum Phase {
    /// No transaction.
    Idle,
    /// MAIL FROM accepted; collecting RCPT TO.
    Mail(MailTx),
    /// After `354`: message text until `<CRLF>.<CRLF>`.
    Data(MailTx, DataReceiver, Spool),
    /// RFC 3030: between BDAT chunks of one message.
    Chunks(MailTx, Spool),
    /// Inside a BDAT chunk.
    Chunk(MailTx, Spool, BdatReceiver),
    /// Consuming the octets of a refused BDAT chunk, then sending the reply.
    Discard(DummyDataReceiver, Reply),
    /// Submission: an AUTH exchange waits for the client's next response
    /// line (RFC 4954 §4).
    Auth(Box<auth::InProgress>),
}

/// Who a submission session authenticated as (RFC 4954).
#[derive(Debug, Clone)]
struct Authenticated {
    account: AccountId,
    /// The account's login (lowercase).
    login: String,
}

enum Hello {
    Helo,
    Ehlo,
    Lhlo,
}

/// An SMTP or LMTP session on one connection.
pub struct SmtpSession {
    ctx: Arc<SmtpContext>,
    conn: ConnInfo,
    mode: Mode,
    helo: Option<Helo>,
    phase: Phase,
    /// Reused buffer between the wire receivers and the spool. While in
    /// `Phase::Data` it may hold back one trailing CR (see `feed_data`).
    scratch: Vec<u8>,
    /// The rest of an overlong line is being dropped.
    skipping_line: bool,
    errors: u32,
    closing: bool,
    /// Submission: set by a successful AUTH, cleared by STARTTLS.
    auth: Option<Authenticated>,
    /// Submission: failed AUTH attempts on this connection.
    auth_failures: u32,
    /// Submission: the login of the AUTH attempt in progress, for the
    /// brute-force counts.
    auth_login: Option<String>,
    /// Slowloris defence: the command or message in progress.
    pace: PaceTimer,
}

impl SmtpSession {
    pub fn new(ctx: Arc<SmtpContext>, conn: ConnInfo, mode: Mode) -> SmtpSession {
        SmtpSession {
            ctx,
            conn,
            mode,
            helo: None,
            phase: Phase::Idle,
            scratch: Vec::new(),
            skipping_line: false,
            errors: 0,
            closing: false,
            auth: None,
            auth_failures: 0,
            auth_login: None,
            pace: PaceTimer::default(),
        }
    }

    fn hostname(&self) -> &str {
        &self.ctx.config.hostname
    }

    fn control(&self) -> Control {
        if self.closing {
            Control::Close
        } else {
            Control::Continue
        }
    }

    /// Sends a reply to a client error and counts it; past `max_errors`
    /// the session says `421` and closes.
    fn client_error(&mut self, out: &mut Vec<u8>, reply: Reply) -> Control {
        reply.write(out);
        self.errors += 1;
        if self.errors >= self.ctx.config.max_errors && !self.closing {
            tracing::info!(
                session = self.conn.session_id,
                errors = self.errors,
                "too many errors; closing"
            );
            let text = format!("{} {}", self.hostname(), reply::C421_TOO_MANY_ERRORS.text);
            reply::C421_TOO_MANY_ERRORS.write_text(out, text);
            self.closing = true;
        }
        self.control()
    }

    /// Sends a reply that is not the client's fault.
    fn reply(&self, out: &mut Vec<u8>, reply: Reply) -> Control {
        reply.write(out);
        self.control()
    }

    fn helo_first(&self) -> Reply {
        match self.mode {
            Mode::Mx | Mode::Submission => reply::C503_HELO_FIRST,
            Mode::Lmtp => reply::C503_LHLO_FIRST,
        }
    }

    /// Submission without a successful AUTH: no transaction may start
    /// (RFC 4954 §6 `530 5.7.0`).
    fn auth_required(&self) -> bool {
        self.mode == Mode::Submission && self.auth.is_none()
    }

    /// The RFC 3848 / RFC 6531 §3.7.3 `with` keyword for `Received:`.
    fn protocol(&self, smtputf8: bool) -> &'static str {
        let tls = self.conn.tls.is_some();
        let extended = self.helo.as_ref().is_some_and(|h| h.extended);
        match (self.mode, extended, smtputf8, tls) {
            (Mode::Lmtp, _, false, false) => "LMTP",
            (Mode::Lmtp, _, false, true) => "LMTPS",
            (Mode::Lmtp, _, true, false) => "UTF8LMTP",
            (Mode::Lmtp, _, true, true) => "UTF8LMTPS",
            (Mode::Mx, false, _, _) => "SMTP",
            (Mode::Mx, true, false, false) => "ESMTP",
            (Mode::Mx, true, false, true) => "ESMTPS",
            (Mode::Mx, true, true, false) => "UTF8SMTP",
            (Mode::Mx, true, true, true) => "UTF8SMTPS",
            // Submission transactions are always authenticated (RFC 3848
            // ESMTPA/ESMTPSA, RFC 6531 UTF8SMTPA/UTF8SMTPSA).
            (Mode::Submission, _, false, false) => "ESMTPA",
            (Mode::Submission, _, false, true) => "ESMTPSA",
            (Mode::Submission, _, true, false) => "UTF8SMTPA",
            (Mode::Submission, _, true, true) => "UTF8SMTPSA",
        }
    }

    // --- commands ---

    async fn command(&mut self, line: BytesMut, buf: &mut BytesMut, out: &mut Vec<u8>) -> Control {
        // smtp-proto reduces the mechanism name to a bit; AUTH is parsed
        // here so that any registered name reaches the `sasl` crate.
        if self.mode == Mode::Submission && auth::is_auth_command(&line) {
            return self.auth(&line, out).await;
        }
        // RFC 3461: DSN parameters are checked here, the rest by smtp-proto.
        let (stripped, dsn) = match dsn_params::extract(&line) {
            Ok(found) => found,
            Err(answer) => return self.client_error(out, answer),
        };
        let parsed = stripped.as_deref().unwrap_or(&line);
        let request = match Request::parse(&mut parsed.iter()) {
            Ok(request) => request.into_owned(),
            Err(error) => {
                tracing::debug!(session = self.conn.session_id, %error, "bad command");
                return self.client_error(out, reply::parse_error(&error));
            }
        };
        match request {
            Request::Ehlo { host } => self.hello(host, Hello::Ehlo, out),
            Request::Helo { host } => self.hello(host, Hello::Helo, out),
            Request::Lhlo { host } => self.hello(host, Hello::Lhlo, out),
            Request::Mail { from } => self.mail(from, dsn, out).await,
            Request::Rcpt { to } => self.rcpt(to, dsn, &line, out).await,
            Request::Data => self.data(out),
            Request::Bdat {
                chunk_size,
                is_last,
            } => self.bdat(chunk_size, is_last),
            Request::Rset => {
                self.phase = Phase::Idle;
                self.reply(out, reply::C250_OK)
            }
            Request::Noop { .. } => self.reply(out, reply::C250_OK),
            Request::Quit => {
                let text = format!("{} {}", self.hostname(), reply::C221_BYE.text);
                reply::C221_BYE.write_text(out, text);
                self.phase = Phase::Idle;
                self.closing = true;
                Control::Close
            }
            // RFC 5321 §3.5.3: VRFY is allowed to answer 252.
            Request::Vrfy { .. } => self.reply(out, reply::C252_CANNOT_VRFY),
            Request::Help { .. } => self.reply(out, reply::C214_HELP),
            Request::StartTls => self.starttls(buf, out),
            Request::Expn { .. }
            | Request::Auth { .. }
            | Request::Etrn { .. }
            | Request::Atrn { .. }
            | Request::Burl { .. } => self.client_error(out, reply::C502_NOT_IMPLEMENTED),
        }
    }

    fn hello(&mut self, name: String, kind: Hello, out: &mut Vec<u8>) -> Control {
        match (self.mode, &kind) {
            // RFC 2033 §4.1: LMTP servers must not accept HELO/EHLO.
            (Mode::Lmtp, Hello::Helo | Hello::Ehlo) => {
                return self.client_error(out, reply::C500_USE_LHLO);
            }
            (Mode::Mx | Mode::Submission, Hello::Lhlo) => {
                return self.client_error(out, reply::C500_USE_EHLO);
            }
            _ => {}
        }
        // RFC 5321 §4.1.4: EHLO/HELO also resets any transaction.
        self.phase = Phase::Idle;
        let extended = !matches!(kind, Hello::Helo);
        self.helo = Some(Helo { name, extended });
        if !extended {
            let hostname = self.hostname().to_string();
            let _ = std::io::Write::write_fmt(out, format_args!("250 {hostname}\r\n"));
            return Control::Continue;
        }
        let config = &self.ctx.config;
        let mut ehlo = EhloResponse::new(config.hostname.as_str());
        ehlo.capabilities = smtp_proto::EXT_PIPELINING
            | smtp_proto::EXT_SIZE
            | smtp_proto::EXT_8BIT_MIME
            | smtp_proto::EXT_SMTP_UTF8
            | smtp_proto::EXT_ENHANCED_STATUS_CODES
            | smtp_proto::EXT_CHUNKING
            // RFC 3461 (and RFC 2033 §4.2 for LMTP): NOTIFY/ORCPT/RET/ENVID.
            | smtp_proto::EXT_DSN;
        // RFC 3207 §4.2: not offered again once TLS is active.
        if self.conn.starttls_available && self.conn.tls.is_none() {
            ehlo.capabilities |= smtp_proto::EXT_START_TLS;
        }
        ehlo.size = usize::try_from(config.max_message_size).unwrap_or(usize::MAX);
        let mut lines = Vec::new();
        let _ = ehlo.write(&mut lines);
        // RFC 5321 §4.1.1.1: "250-" Domain [SP ehlo-greet]; smtp-proto's
        // first line carries a joke greeting, so it is replaced.
        let rest = lines
            .windows(2)
            .position(|w| w == b"\r\n")
            .map_or(&lines[..0], |p| &lines[p + 2..]);
        let _ = std::io::Write::write_fmt(
            out,
            format_args!("250-{} at your service\r\n", config.hostname),
        );
        // RFC 4954 §4 / RFC 8314 §3.3: AUTH only over TLS unless allowed;
        // written here so the mechanisms appear strongest first.
        if self.auth_offered() {
            out.extend_from_slice(b"250-AUTH");
            // SCRAM-SHA-256-PLUS only where TLS gave channel bindings.
            let bindings = self.conn.tls.as_ref().map(|t| &t.channel_bindings);
            for mechanism in pillarbox_sasl::Mechanism::offered(bindings) {
                out.push(b' ');
                out.extend_from_slice(mechanism.name().as_bytes());
            }
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(rest);
        Control::Continue
    }

    fn starttls(&mut self, buf: &mut BytesMut, out: &mut Vec<u8>) -> Control {
        if self.conn.tls.is_some() {
            return self.client_error(out, reply::C503_ALREADY_TLS);
        }
        if !self.conn.starttls_available {
            return self.client_error(out, reply::C502_NOT_IMPLEMENTED);
        }
        if self.helo.is_none() {
            return self.client_error(out, self.helo_first());
        }
        if !buf.is_empty() {
            // RFC 3207 §4.2 / CVE-2011-0411: never carry plaintext that
            // followed STARTTLS into the TLS session.
            tracing::warn!(
                session = self.conn.session_id,
                bytes = buf.len(),
                "discarding data pipelined after STARTTLS"
            );
            buf.clear();
        }
        reply::C220_TLS_GO_AHEAD.write(out);
        self.helo = None;
        self.phase = Phase::Idle;
        self.auth = None;
        Control::StartTls
    }

    async fn mail(&mut self, from: MailFrom<String>, dsn: Extracted, out: &mut Vec<u8>) -> Control {
        let Some(helo) = &self.helo else {
            return self.client_error(out, self.helo_first());
        };
        let extended = helo.extended;
        match self.phase {
            Phase::Idle => {}
            Phase::Chunks(..) => return self.client_error(out, reply::C503_BDAT_IN_PROGRESS),
            _ => return self.client_error(out, reply::C503_NESTED_MAIL),
        }
        if self.ctx.config.require_tls && self.conn.tls.is_none() {
            return self.client_error(out, reply::C530_TLS_REQUIRED);
        }
        if self.auth_required() {
            return self.client_error(out, reply::C530_AUTH_REQUIRED);
        }
        // RFC 5321 §4.1.1.11: parameters of extensions we did not offer.
        let offered =
            smtp_proto::MAIL_BODY_7BIT | smtp_proto::MAIL_BODY_8BITMIME | smtp_proto::MAIL_SMTPUTF8;
        let unsupported = from.flags & !offered != 0
            || from.trans_id.is_some()
            || from.by != 0
            || from.env_id.is_some()
            || from.solicit.is_some()
            || from.mtrk.is_some()
            // RFC 4954 §5: AUTH= is accepted (and not relayed: nothing is
            // relayed yet) where AUTH is offered.
            || (from.auth.is_some() && self.mode != Mode::Submission)
            || from.hold_for != 0
            || from.hold_until != 0
            || from.mt_priority != 0;
        let any = from.flags != 0 || from.size != 0 || dsn.any();
        if unsupported || (!extended && any) {
            return self.client_error(out, reply::C555_UNSUPPORTED_PARAMETER);
        }
        // RFC 1870 §6.1: refuse an announced size we would not accept.
        if from.size as u64 > self.ctx.config.max_message_size {
            return self.reply(out, reply::C552_MESSAGE_TOO_BIG);
        }
        let smtputf8 = from.flags & smtp_proto::MAIL_SMTPUTF8 != 0;
        if !smtputf8 && !from.address.is_ascii() {
            return self.client_error(out, reply::C553_NON_ASCII_ADDRESS);
        }
        // RFC 6409 §4.1 / §8: the reverse-path must be an address of the
        // authenticated user. The null reverse-path stays allowed (RFC 8098
        // MDNs are sent with it); the From: field is checked at the end of
        // the data in every case.
        if let Some(auth) = &self.auth
            && !from.address.is_empty()
        {
            match submission::sender_check(&self.ctx, auth, &from.address).await {
                submission::SenderCheck::Owned => {}
                submission::SenderCheck::NotOwned => {
                    tracing::info!(
                        session = self.conn.session_id,
                        login = %auth.login,
                        from = %from.address,
                        "sender address not owned"
                    );
                    return self.client_error(out, reply::C553_SENDER_NOT_OWNED);
                }
                submission::SenderCheck::TemporaryFailure => {
                    return self.reply(out, reply::C451_LOCAL_ERROR);
                }
            }
        }
        tracing::debug!(session = self.conn.session_id, from = %from.address, "MAIL");
        self.phase = Phase::Mail(MailTx {
            reverse_path: from.address,
            smtputf8,
            recipients: Vec::new(),
            forwards: Vec::new(),
            remote: Vec::new(),
            dsn: match dsn {
                Extracted::Mail(dsn) => dsn,
                Extracted::Nothing | Extracted::Rcpt(_) => DsnEnvelope::default(),
            },
            recipients_dsn: Vec::new(),
            remote_dsn: Vec::new(),
        });
        self.reply(out, reply::C250_SENDER_OK)
    }

    async fn rcpt(
        &mut self,
        to: RcptTo<String>,
        dsn: Extracted,
        line: &[u8],
        out: &mut Vec<u8>,
    ) -> Control {
        if self.helo.is_none() {
            return self.client_error(out, self.helo_first());
        }
        if self.auth_required() {
            return self.client_error(out, reply::C530_AUTH_REQUIRED);
        }
        let (count, smtputf8) = match &self.phase {
            Phase::Mail(tx) => (tx.recipients.len() + tx.remote.len(), tx.smtputf8),
            Phase::Chunks(..) => return self.client_error(out, reply::C503_BDAT_IN_PROGRESS),
            _ => return self.client_error(out, reply::C503_NEED_MAIL),
        };
        if to.orcpt.is_some() || to.flags != 0 || to.rrvs != 0 {
            return self.client_error(out, reply::C555_UNSUPPORTED_PARAMETER);
        }
        let extended = self.helo.as_ref().is_some_and(|h| h.extended);
        if !extended && dsn.any() {
            return self.client_error(out, reply::C555_UNSUPPORTED_PARAMETER);
        }
        let dsn = match dsn {
            Extracted::Rcpt(dsn) => dsn,
            Extracted::Nothing | Extracted::Mail(_) => RcptDsn::default(),
        };
        if count >= self.ctx.config.max_recipients {
            return self.reply(out, reply::C452_TOO_MANY_RECIPIENTS);
        }
        let (address, resolution): (Cow<'_, str>, _) = if to.address.is_empty() {
            // smtp-proto reads both `<>` and `<Postmaster>` as empty.
            if !line
                .to_ascii_lowercase()
                .windows(12)
                .any(|w| w == b"<postmaster>")
            {
                return self.client_error(out, reply::C501_BAD_RECIPIENT);
            }
            let (address, resolution) = self.resolve_postmaster().await;
            (Cow::Owned(address), resolution)
        } else {
            if !smtputf8 && !to.address.is_ascii() {
                return self.client_error(out, reply::C553_NON_ASCII_ADDRESS);
            }
            let resolution = self.ctx.delivery.resolve(&to.address).await;
            (Cow::Borrowed(to.address.as_str()), resolution)
        };
        // Submission: an authenticated user (`auth_required` above) may
        // send anywhere, through the queue; without one, say so plainly.
        // MX and LMTP never relay: only our own aliases' remote targets
        // (forwarding) reach the queue from them.
        let relay = self.mode == Mode::Submission && self.auth.is_some();
        let forwarding = self.ctx.queue.is_some();
        let answer = match (&resolution, relay, &self.ctx.queue) {
            (Resolution::NotLocalDomain, true, Some(_)) => reply::C250_RECIPIENT_OK,
            (Resolution::NotLocalDomain, _, None) if self.mode == Mode::Submission => {
                reply::C554_NO_OUTBOUND
            }
            (Resolution::Local { remote, .. }, _, Some(_)) if !remote.is_empty() => {
                reply::C250_RECIPIENT_OK
            }
            _ => reply::resolution(&resolution),
        };
        tracing::debug!(
            session = self.conn.session_id,
            to = %address,
            code = answer.code,
            "RCPT"
        );
        match resolution {
            Resolution::Local { accounts, remote }
                if !accounts.is_empty() || (forwarding && !remote.is_empty()) =>
            {
                let forward = if forwarding {
                    remote
                } else {
                    if !remote.is_empty() {
                        tracing::warn!(
                            session = self.conn.session_id,
                            to = %address,
                            ?remote,
                            "remote alias targets not forwarded (no outbound queue)"
                        );
                    }
                    Vec::new()
                };
                let address = address.into_owned();
                if let Phase::Mail(tx) = &mut self.phase {
                    tx.recipients.push(EnvelopeRecipient { address, accounts });
                    tx.forwards.push(forward);
                    tx.recipients_dsn.push(dsn);
                }
                self.reply(out, answer)
            }
            Resolution::NotLocalDomain if answer.is_positive() => {
                if let Phase::Mail(tx) = &mut self.phase {
                    tx.remote.push(address.into_owned());
                    tx.remote_dsn.push(dsn);
                }
                self.reply(out, answer)
            }
            Resolution::NotLocalDomain if self.mode == Mode::Submission => self.reply(out, answer),
            Resolution::NotLocalDomain | Resolution::UnknownUser => self.client_error(out, answer),
            Resolution::Local { .. } | Resolution::TemporaryFailure => self.reply(out, answer),
        }
    }

    /// RFC 5321 §4.5.1: `RCPT TO:<Postmaster>` (no domain) MUST be
    /// accepted. It goes to the postmaster of the domain this server is
    /// named after: `postmaster@` the host name if that is one of our
    /// domains, else of its nearest parent that is (`mail.example.org` →
    /// `example.org`). Never a relay attempt: without any such postmaster
    /// the answer is "no such user".
    async fn resolve_postmaster(&self) -> (String, Resolution) {
        let host = self.hostname().trim_end_matches('.').to_ascii_lowercase();
        let mut domain = host.as_str();
        loop {
            let address = format!("postmaster@{domain}");
            let resolution = self.ctx.delivery.resolve(&address).await;
            match resolution {
                Resolution::NotLocalDomain => {}
                // Our domain: its postmaster, or no such user, or a
                // temporary failure to report as such.
                _ => return (address, resolution),
            }
            match domain.split_once('.') {
                Some((_, parent)) if parent.contains('.') => domain = parent,
                _ => return (format!("postmaster@{host}"), Resolution::UnknownUser),
            }
        }
    }

    fn data(&mut self, out: &mut Vec<u8>) -> Control {
        if self.helo.is_none() {
            return self.client_error(out, self.helo_first());
        }
        if self.auth_required() {
            return self.client_error(out, reply::C530_AUTH_REQUIRED);
        }
        match std::mem::replace(&mut self.phase, Phase::Idle) {
            Phase::Mail(tx) if tx.has_recipients() => {
                let mut receiver = DataReceiver::new();
                // The CRLF ending the DATA line starts the first text line,
                // so a leading "." is unstuffed and ".CRLF" ends at once.
                self.scratch.clear();
                receiver.ingest(&mut b"\r\n".iter(), &mut self.scratch);
                self.scratch.clear();
                self.phase = Phase::Data(
                    tx,
                    receiver,
                    self.ctx.spool(self.ctx.config.max_message_size),
                );
                self.reply(out, reply::C354_START_INPUT)
            }
            Phase::Mail(tx) => {
                // RFC 5321 §3.3: no valid recipients; the transaction stays.
                self.phase = Phase::Mail(tx);
                self.client_error(out, reply::C554_NO_VALID_RECIPIENTS)
            }
            phase @ Phase::Chunks(..) => {
                self.phase = phase;
                self.client_error(out, reply::C503_BDAT_IN_PROGRESS)
            }
            phase => {
                self.phase = phase;
                self.client_error(out, reply::C503_NEED_MAIL)
            }
        }
    }

    /// RFC 3030: the chunk's octets follow the command at once, so even a
    /// refused chunk is read (and dropped) before its reply.
    fn bdat(&mut self, size: usize, last: bool) -> Control {
        let max = self.ctx.config.max_message_size;
        let refused = if self.helo.is_none() {
            self.helo_first()
        } else if self.auth_required() {
            reply::C530_AUTH_REQUIRED
        } else {
            match std::mem::replace(&mut self.phase, Phase::Idle) {
                Phase::Mail(tx) if tx.has_recipients() => {
                    self.phase =
                        Phase::Chunk(tx, self.ctx.spool(max), BdatReceiver::new(size, last));
                    return Control::Continue;
                }
                Phase::Chunks(tx, spool) => {
                    self.phase = Phase::Chunk(tx, spool, BdatReceiver::new(size, last));
                    return Control::Continue;
                }
                Phase::Mail(_) => reply::C554_NO_VALID_RECIPIENTS,
                _ => reply::C503_NEED_MAIL,
            }
        };
        self.phase = Phase::Discard(DummyDataReceiver::new_bdat(size), refused);
        Control::Continue
    }

    /// The end of the message data: check the size, deliver, reply.
    async fn finish(&mut self, tx: MailTx, spool: Spool, out: &mut Vec<u8>) {
        // Idle sessions should not keep a large receive buffer around.
        self.scratch.clear();
        self.scratch.shrink_to(8 * 1024);
        let session = self.conn.session_id;
        if spool.is_too_large() {
            tracing::info!(session, size = spool.len(), "message too large; discarded");
            self.reply_each(out, &tx.recipients, reply::C552_MESSAGE_TOO_BIG);
            return;
        }
        let mut raw = match spool.into_bytes() {
            Ok(raw) => raw,
            Err(error) => {
                tracing::warn!(session, %error, "spool failed");
                let answer = reply::store_error(&pillarbox_store::StoreError::Io(error));
                self.reply_each(out, &tx.recipients, answer);
                return;
            }
        };
        let authenticated = self.auth.as_ref().map(|a| a.login.clone());
        if let Some(auth) = &self.auth {
            match submission::complete_message(&self.ctx, auth, raw).await {
                Ok(completed) => raw = completed,
                Err(answer) => {
                    tracing::info!(
                        session,
                        login = %auth.login,
                        code = answer.code,
                        "submitted message refused"
                    );
                    self.reply_each(out, &tx.recipients, answer);
                    return;
                }
            }
        }
        let helo = self
            .helo
            .as_ref()
            .map(|h| h.name.clone())
            .unwrap_or_default();
        let mut envelope = Envelope {
            reverse_path: tx.reverse_path,
            protocol: self.protocol(tx.smtputf8),
            recipients: tx.recipients,
            helo,
            peer_ip: self.conn.peer.ip(),
            tls: self.conn.tls.clone(),
            authenticated,
            id: self.ctx.next_transaction_id(session),
        };
        let size = raw.len();
        // RFC 3461 §5.2.3: a "delivered" notice for NOTIFY=SUCCESS; it
        // carries the header only (§4.3: RET is for failures).
        let success_header = tx
            .recipients_dsn
            .iter()
            .any(RcptDsn::wants_success)
            .then(|| pillarbox_queue::dsn::header_section(&raw).to_vec());
        // MX only: SPF/DKIM/DMARC after the data, before the store write
        // (LMTP's MTA and submission's AUTH already vouch for the message).
        let verdict = match self.mode {
            Mode::Mx => self.ctx.delivery.authenticate(&envelope, &raw).await,
            Mode::Lmtp | Mode::Submission => None,
        };
        // RFC 7489 §10.3: a p=reject failure is refused during the SMTP
        // transaction rather than bounced later; nothing is stored or
        // queued.
        if let Some(verdict) = &verdict
            && verdict.disposition == Disposition::Reject
        {
            tracing::info!(
                session,
                id = %envelope.id,
                from = %envelope.reverse_path,
                domain = %verdict.dmarc_domain,
                "message rejected by DMARC policy"
            );
            self.reply_each(out, &envelope.recipients, C550_DMARC_REJECT);
            return;
        }
        // Mail loops (Delivered-To: of a forwarding alias, RFC 5321 §6.3
        // Received: count) are refused per recipient.
        let looped = forward::check_loops(session, &mut envelope, &tx.forwards, &raw);
        // Queue for the remote recipients (submission) and the remote alias
        // targets (forwarding) first, so that a failing enqueue stores
        // nothing at all (see the crate docs).
        let mut outbound = Vec::new();
        if let Some(copy) = forward::forwarded(
            &self.ctx,
            &envelope,
            &tx.forwards,
            &looped,
            &tx.recipients_dsn,
            &raw,
        ) {
            outbound.push(copy);
        }
        if !tx.remote.is_empty() && self.ctx.queue.is_some() {
            outbound.push(forward::direct(
                &self.ctx,
                &envelope,
                &tx.remote,
                &tx.remote_dsn,
                &raw,
            ));
        }
        let mut queued = Vec::new();
        if !outbound.is_empty() {
            match forward::enqueue_all(&self.ctx, &envelope.reverse_path, &tx.dsn, outbound).await {
                Ok(queue_ids) => {
                    tracing::info!(session, id = %envelope.id, ?queue_ids, remote = tx.remote.len(), "queued for remote delivery");
                    queued = tx.remote.iter().map(|_| Ok(())).collect();
                }
                Err(error) => {
                    tracing::warn!(session, id = %envelope.id, %error, "enqueue failed");
                    self.reply_each(out, &envelope.recipients, reply::store_error(&error));
                    return;
                }
            }
        }
        let has_accounts = envelope.recipients.iter().any(|r| !r.accounts.is_empty());
        let mut results = match &verdict {
            _ if !has_accounts => envelope
                .recipients
                .iter()
                .map(|_| Err(DeliveryError::NoMailbox))
                .collect(),
            Some(verdict) => {
                self.ctx
                    .delivery
                    .deliver_authenticated(&envelope, raw, verdict)
                    .await
            }
            None => self.ctx.delivery.deliver(&envelope, raw).await,
        };
        if let (Some(header), Some(queue)) = (success_header, &self.ctx.queue) {
            // Local deliveries only: forwarded copies pass NOTIFY on.
            let delivered =
                dsn_params::delivered(&envelope.recipients, &results, &tx.recipients_dsn);
            queue
                .notify_delivered(&envelope.reverse_path, &tx.dsn, delivered, &header)
                .await;
        }
        forward::merge(&mut results, &tx.forwards, &looped);
        results.extend(queued);
        tracing::info!(
            session,
            id = %envelope.id,
            from = %envelope.reverse_path,
            recipients = envelope.recipients.len(),
            delivered = results.iter().filter(|r| r.is_ok()).count(),
            size,
            "message received"
        );
        match self.mode {
            // RFC 2033 §4.2: one reply per accepted recipient, in order.
            Mode::Lmtp => {
                for (recipient, result) in envelope.recipients.iter().zip(&results) {
                    let answer = result
                        .as_ref()
                        .map_or_else(reply::delivery_error, |()| reply::C250_MESSAGE_ACCEPTED);
                    answer.write_text(out, format_args!("<{}> {}", recipient.address, answer.text));
                }
            }
            Mode::Mx | Mode::Submission => {
                let answer = reply::smtp_final(&results);
                if answer.is_positive() {
                    answer.write_text(out, format_args!("{} as {}", answer.text, envelope.id));
                    log_partial_failures(session, &envelope, &results);
                } else {
                    answer.write(out);
                }
            }
        }
    }

    /// The same reply for the whole message: once in SMTP, once per
    /// recipient in LMTP (RFC 2033 §4.2).
    fn reply_each(&self, out: &mut Vec<u8>, recipients: &[EnvelopeRecipient], answer: Reply) {
        match self.mode {
            Mode::Mx | Mode::Submission => answer.write(out),
            Mode::Lmtp => {
                for recipient in recipients {
                    answer.write_text(out, format_args!("<{}> {}", recipient.address, answer.text));
                }
            }
        }
    }
}

fn log_partial_failures(session: u64, envelope: &Envelope, results: &[Result<(), DeliveryError>]) {
    for (recipient, result) in envelope.recipients.iter().zip(results) {
        if let Err(error) = result {
            tracing::warn!(
                session,
                id = %envelope.id,
                to = %recipient.address,
                %error,
                "message accepted but not delivered to this recipient (no bounce yet)"
            );
        }
    }
}

impl Session for SmtpSession {
    async fn greeting(&mut self, out: &mut Vec<u8>) -> Control {
        let protocol = match self.mode {
            Mode::Mx | Mode::Submission => "ESMTP",
            Mode::Lmtp => "LMTP",
        };
        let text = format!(
            "{} {protocol} {}",
            self.hostname(),
            self.ctx.config.greeting
        );
        reply::C220_READY.write_text(out, text.trim_end());
        Control::Continue
    }

    async fn input(&mut self, buf: &mut BytesMut, out: &mut Vec<u8>) -> Control {
        let before = buf.len();
        let control = self.units(buf, out).await;
        self.pace_check(before, buf, control, out)
    }

    async fn closed(&mut self) {
        self.phase = Phase::Idle;
    }

    fn tls_established(&mut self, info: TlsInfo) {
        // RFC 3207 §4.2: forget everything learnt before TLS.
        tracing::debug!(session = self.conn.session_id, protocol = %info.protocol, "TLS established");
        self.conn.tls = Some(info);
        self.helo = None;
        self.phase = Phase::Idle;
        self.skipping_line = false;
        self.auth = None;
    }

    fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.ctx.config.idle_timeout_secs)
    }

    fn timed_out(&mut self, out: &mut Vec<u8>) {
        let text = format!("{} {}", self.hostname(), reply::C421_TIMEOUT.text);
        reply::C421_TIMEOUT.write_text(out, text);
        self.phase = Phase::Idle;
        self.closing = true;
    }

    /// The server stops while this session waits for input: a message
    /// partly received is dropped (it was never acknowledged; the client
    /// retries after the `421`, RFC 5321 §3.8).
    fn shutting_down(&mut self, out: &mut Vec<u8>) {
        let text = format!("{} {}", self.hostname(), reply::C421_SHUTTING_DOWN.text);
        reply::C421_SHUTTING_DOWN.write_text(out, text);
        self.phase = Phase::Idle;
        self.closing = true;
    }
}
