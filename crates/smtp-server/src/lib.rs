//! Pillarbox's SMTP (MX), submission and LMTP session logic (DESIGN §3,
//! layer 4).
//!
//! [`SmtpSession`] implements [`pillarbox_session::Session`]: it never
//! touches a socket. The network driver feeds it bytes and writes the
//! replies it returns; wire parsing is done by `smtp-proto`.
//!
//! RFCs: RFC 5321 (SMTP), RFC 2033 (LMTP: `LHLO`, one reply per recipient
//! after the data), RFC 1870 (SIZE), RFC 2920 (PIPELINING), RFC 3030
//! (CHUNKING/`BDAT`), RFC 6152 (8BITMIME), RFC 6531 (SMTPUTF8), RFC 2034 and
//! RFC 3463 (enhanced status codes), RFC 3207 (STARTTLS), RFC 3461 (DSN:
//! `RET`/`ENVID`/`NOTIFY`/`ORCPT` checked in `session::dsn_params`, kept
//! with queued mail, `delivered` notices for local delivery); for submission
//! RFC 6409 (message submission), RFC 8314 (implicit TLS, no AUTH in
//! cleartext), RFC 4954 (AUTH with the `sasl` crate's PLAIN, LOGIN and
//! SCRAM-SHA-256), RFC 3848 (ESMTPA/ESMTPSA in `Received:`).
//!
//! Invariants callers rely on:
//! - `250` after DATA/`BDAT LAST` is sent only after the store reported the
//!   message durable for at least one recipient (DESIGN §2.2); in LMTP each
//!   recipient's `250` means that recipient's copy is durable.
//! - Never an open relay: on MX and LMTP a recipient outside our domains
//!   gets `554 5.7.1`. On submission nothing is accepted before a
//!   successful AUTH (`530 5.7.0` for MAIL, RCPT, DATA, BDAT), and AUTH is
//!   neither offered nor accepted before TLS unless
//!   `submission_allow_plaintext_auth` is set (`538 5.7.11`).
//! - Submission senders: the `MAIL FROM` address and every `From:` address
//!   must belong to the authenticated account — its login, an alias that
//!   delivers to it, or a `+tag` form of those (`553 5.7.1` at MAIL,
//!   `550 5.7.1` after the data). Missing `Date:` and `Message-ID:` fields
//!   are added (RFC 6409 §8.2, §8.3).
//! - Submitted messages are DKIM-signed (RFC 6376, `pillarbox-dkim`) with
//!   the keys of their `From:` domains, after the fields above are added
//!   and before they are queued or delivered locally; a store failure
//!   reading the keys answers `451`, a domain without keys sends unsigned.
//! - Bounded: command lines (`max_line_length`), message size
//!   (`max_message_size`; data is streamed into a [`Spool`] that spills to a
//!   temporary file past 1 MiB, never whole in memory while receiving),
//!   recipients (`max_recipients`), errors per connection (`max_errors`).
//! - Replies are appended in command order, so PIPELINING (RFC 2920) works
//!   by processing every complete command in the input buffer.
//! - Data pipelined after `STARTTLS` is discarded, never interpreted
//!   (RFC 3207 §4.2, CVE-2011-0411); after the handshake the session is
//!   back to its initial state and needs a new EHLO.
//!
//! Choices documented here:
//! - SMTP can give only one reply after the data. Delivery goes to every
//!   recipient that can take it; the reply is `250` if any recipient got
//!   the message (failures of the others are logged: there are no bounces
//!   before the outbound queue exists), `451` if none did and a failure was
//!   temporary (a retry cannot duplicate), else the permanent error.
//! - Forwarding (any listener, given a queue): an alias's targets in other
//!   domains get one queued copy (`Delivered-To:` per alias, our
//!   `Received:`, the original reverse-path, ORCPT kept or set to the
//!   alias), enqueued with the submission's remote recipients before any
//!   local delivery, in one all-or-nothing step (`session::forward`). A
//!   forwarded recipient succeeds once queued; a message that already went
//!   through us for that alias, or has 100 `Received:` fields, gets
//!   `554 5.4.6` for it (see `pillarbox_delivery::forward`). Without a
//!   queue an alias reaching only other domains is refused at RCPT
//!   (`550 5.7.1`) and a mixed one is delivered locally only.
//! - `RCPT TO:<Postmaster>` (no domain, RFC 5321 §4.5.1) is resolved as
//!   `postmaster@<hostname>`.
//! - Submission to another domain goes to the outbound queue
//!   (`pillarbox-queue`, given by [`SmtpContext::with_queue`]): the message
//!   is queued durably for those recipients BEFORE local recipients are
//!   delivered, so a failing enqueue answers `451` with nothing stored (a
//!   retry cannot duplicate). Without a queue such a recipient gets
//!   `554 5.7.1 Outbound delivery not configured` at RCPT. MX and LMTP
//!   sessions never relay, queue or not: only our own aliases' remote
//!   targets reach the queue from them.
//! - Submission allows the null reverse-path `<>` for authenticated users
//!   (RFC 8098 MDNs use it); the `From:` check still applies.
//! - A `+tag` subaddress of an owned address is owned; a domain catch-all
//!   does not make the catch-all account the owner of every address.
//!
//! [`Spool`]: pillarbox_message::spool::Spool

mod config;
pub mod reply;
mod session;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use pillarbox_delivery::Delivery;
use pillarbox_dkim::Signer;
use pillarbox_message::spool::{SpillFile, Spool};
use pillarbox_queue::Queue;
use pillarbox_sasl::{AuthLimits, AuthThrottle};
use pillarbox_session::SharedClock;
use pillarbox_store::Store;

pub use config::SmtpConfig;
pub use session::SmtpSession;

/// Which protocol a listener speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// SMTP from other MTAs (RFC 5321), normally port 25.
    Mx,
    /// LMTP (RFC 2033): `LHLO`, one reply per recipient after the data.
    Lmtp,
    /// Message submission (RFC 6409) from users' clients, normally port
    /// 587 with STARTTLS or 465 with implicit TLS (RFC 8314): AUTH first,
    /// then only the user's own addresses as senders.
    Submission,
}

/// What every SMTP/LMTP session of a server shares.
pub struct SmtpContext {
    store: Store,
    delivery: Arc<Delivery>,
    /// Submission: where mail for other domains goes; `None` refuses it.
    queue: Option<Arc<Queue>>,
    /// Submission: DKIM-signs messages with their author domain's keys.
    dkim: Signer,
    config: SmtpConfig,
    clock: SharedClock,
    transactions: AtomicU64,
    /// Failed-AUTH counts (see [`SmtpContext::set_auth_throttle`]).
    throttle: std::sync::OnceLock<Arc<AuthThrottle>>,
    /// Where message data past 1 MiB is spooled (see [`SmtpContext::set_spool_file`]).
    spool_file: std::sync::OnceLock<SpillFile>,
}

impl std::fmt::Debug for SmtpContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpContext")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl SmtpContext {
    /// An empty `config.hostname` becomes `localhost`.
    pub fn new(
        store: Store,
        delivery: Arc<Delivery>,
        config: SmtpConfig,
        clock: SharedClock,
    ) -> Arc<SmtpContext> {
        SmtpContext::build(store, delivery, config, clock, None)
    }

    /// As [`SmtpContext::new`], with the outbound queue: authenticated
    /// submission sessions accept recipients in other domains and queue
    /// the message for them.
    pub fn with_queue(
        store: Store,
        delivery: Arc<Delivery>,
        config: SmtpConfig,
        clock: SharedClock,
        queue: Arc<Queue>,
    ) -> Arc<SmtpContext> {
        SmtpContext::build(store, delivery, config, clock, Some(queue))
    }

    fn build(
        store: Store,
        delivery: Arc<Delivery>,
        mut config: SmtpConfig,
        clock: SharedClock,
        queue: Option<Arc<Queue>>,
    ) -> Arc<SmtpContext> {
        if config.hostname.is_empty() {
            config.hostname = "localhost".to_string();
        }
        Arc::new(SmtpContext {
            dkim: Signer::new(store.clone()),
            store,
            delivery,
            queue,
            config,
            clock,
            transactions: AtomicU64::new(0),
            throttle: std::sync::OnceLock::new(),
            spool_file: std::sync::OnceLock::new(),
        })
    }

    /// Spools message data past 1 MiB to the file `open` gives instead of
    /// an anonymous temporary file (tests inject `/dev/full`). Only before
    /// the first message; returns false if already set.
    pub fn set_spool_file(&self, open: SpillFile) -> bool {
        self.spool_file.set(open).is_ok()
    }

    /// A spool for one message of at most `max_size` octets.
    pub(crate) fn spool(&self, max_size: u64) -> Spool {
        Spool::with_spill_file(max_size, self.spool_file.get().copied())
    }

    /// Uses `throttle` (normally the server's one, shared by all protocols)
    /// for brute-force protection of submission AUTH. Only before the first
    /// authentication; returns false if a throttle is already in use.
    pub fn set_auth_throttle(&self, throttle: Arc<AuthThrottle>) -> bool {
        self.throttle.set(throttle).is_ok()
    }

    /// The brute-force protection (a default one on this context's clock
    /// unless one was set).
    pub fn auth_throttle(&self) -> &AuthThrottle {
        self.throttle
            .get_or_init(|| Arc::new(AuthThrottle::new(AuthLimits::default(), self.clock.clone())))
    }

    /// The configuration in use.
    pub fn config(&self) -> &SmtpConfig {
        &self.config
    }

    /// The store (AUTH on submission reads credentials from it).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The injected clock.
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// A process-unique id for a transaction (the `Received: ... id`).
    fn next_transaction_id(&self, session_id: u64) -> String {
        let n = self.transactions.fetch_add(1, Ordering::Relaxed) + 1;
        format!("{session_id:X}.{n:X}")
    }
}
