//! Pillarbox's outbound queue (DESIGN §3, layer 3): messages submitted for
//! other domains are kept durably in the store ([`pillarbox_store::queue`])
//! and delivered to each recipient domain's mail servers, with retries,
//! delay notices and bounces.
//!
//! RFCs: RFC 5321 §5.1 (MX by preference, then the domain's A/AAAA as an
//! implicit MX), RFC 7505 (null MX: permanent failure), RFC 5321 §4.5.4.1
//! (retry strategy, a lifetime of days), RFC 3207 (opportunistic STARTTLS,
//! certificates not verified unless configured, RFC 7435), RFC 3464 and
//! RFC 6522 (DSNs), RFC 3461 (NOTIFY, RET, ENVID, ORCPT honoured in DSNs
//! and passed on to servers offering DSN; `relayed` notices for
//! NOTIFY=SUCCESS when a server does not offer it, `delivered` notices
//! for local delivery through [`Queue::notify_delivered`]), RFC 3834
//! (`Auto-Submitted`).
//!
//! Invariants callers rely on:
//! - [`Queue::submit`] returns only once the item is durable in the store;
//!   the submission session answers `250` after it.
//! - Every decision (due, backoff, expiry, delay notice) uses the injected
//!   clock; only the idle wait between passes ([`Queue::run`]) is real
//!   time. Tests drive [`Queue::run_due`] and advance a `ManualClock`.
//! - A recipient is final once a server answered 2xx (delivered) or 5xx
//!   (failed), its domain has a null MX or does not exist, or the item
//!   outlived `lifetime_secs`; 4xx replies and connection or DNS trouble
//!   leave it pending, retried after `retry_initial_secs`, doubling up to
//!   `retry_max_secs`.
//! - An item is deleted only after all its recipients are final, and
//!   after the sender's notice (if any) is durable.
//! - Never bounce a bounce: an item with the null reverse-path `<>`
//!   produces no notice.
//! - Delivery results are counted in the store (`queue_stats`) in the
//!   transaction that records them; the counters restart at zero when
//!   the queue starts ([`Queue::run`]), so they read "since start".
//!
//! Crash safety is at-least-once: results are recorded after each
//! attempt, so a crash between a server's `250` and the store update makes
//! that recipient get the message again at the next attempt (at most the
//! `concurrency` attempts under way; a clean shutdown lets them finish and
//! record first). A crash never loses a message: nothing is deleted before
//! it is final. Likewise a notice may be sent twice, never lost.
//!
//! Notices are signed by the injected [`NoticeSigner`] (DKIM, for the
//! `From:` domain, our host name) before they are delivered or queued;
//! without one, or when it fails, they go out unsigned. The messages the
//! queue relays were signed at submission and are sent as stored.
//!
//! Connections are reused ([`pool`]): after a transaction a usable
//! connection stays idle for `connection_idle_secs` (by the injected
//! clock) for the next message to the same address and TLS name, up to
//! `connection_max_transactions` transactions; a cached connection found
//! dead before MAIL was accepted is replaced at once, without counting an
//! attempt.
//!
//! Not yet: MTA-STS/DANE policies, per-destination
//! connection limits, SMTPUTF8/8BITMIME parameters on MAIL FROM.

mod client;
mod config;
pub mod dsn;
pub mod mx;
mod pool;
mod sign;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use pillarbox_session::SharedClock;
use pillarbox_store::{
    AddressTarget, DeliveryTarget, DsnEnvelope, Flags, NewMessage, NewQueueItem, NewQueueRecipient,
    QueueCounters, QueueId, QueueItem, QueueRecipient, QueueUpdate, RecipientResult,
    RecipientStatus, Store, StoreError, UnixTime,
};
use tokio::sync::Notify;
use tokio_rustls::TlsConnector;
use tokio_util::sync::CancellationToken;

pub use client::RcptOutcome;
pub use config::{DnsServers, QueueConfig, Route};
use dsn::DsnKind;
use mx::{MxError, MxResolver};
pub use sign::NoticeSigner;

/// The queue could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    #[error("cannot set up the DNS resolver: {0}")]
    Dns(String),
    #[error("cannot set up TLS: {0}")]
    Tls(String),
}

/// The outbound queue; one per server.
pub struct Queue {
    store: Store,
    config: QueueConfig,
    clock: SharedClock,
    resolver: MxResolver,
    tls: TlsConnector,
    wake: Notify,
    /// Idle connections kept for the next message to the same server.
    pool: pool::Pool,
    /// Signs notices; set once by the server at startup.
    signer: std::sync::OnceLock<Arc<dyn NoticeSigner>>,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn unix(at: SystemTime) -> UnixTime {
    at.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn system_time(at: UnixTime) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::try_from(at).unwrap_or(0))
}

fn secs(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The domain of an address, lowercase.
fn domain_of(address: &str) -> String {
    address
        .rsplit_once('@')
        .map_or("", |(_, d)| d)
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

/// RFC 3461 parameters for one `RCPT TO` (§5.2.1: passed on as given).
fn rcpt_params(r: &QueueRecipient) -> String {
    let mut p = Vec::new();
    if let Some(n) = &r.notify {
        p.push(format!("NOTIFY={n}"));
    }
    if let Some(o) = &r.orcpt {
        p.push(format!("ORCPT={}", dsn::orcpt_param(o)));
    }
    p.join(" ")
}

/// RFC 3461 parameters for `MAIL FROM` (§5.2.1: passed on as given).
fn mail_params(d: &DsnEnvelope) -> String {
    let mut p = Vec::new();
    if let Some(ret) = &d.ret {
        p.push(format!("RET={ret}"));
    }
    if let Some(envid) = &d.envid {
        p.push(format!("ENVID={}", dsn::xtext_encode(envid)));
    }
    p.join(" ")
}

/// What the notices of one attempt on one item share.
#[derive(Clone, Copy)]
struct Pass<'a> {
    item: &'a QueueItem,
    original: &'a [u8],
    now: UnixTime,
    expires: UnixTime,
    remote_mta: &'a BTreeMap<u32, String>,
}

/// A recipient delivered locally, for a `delivered` notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub address: String,
    /// Its `ORCPT` as stored (`addr-type;address`).
    pub orcpt: Option<String>,
}

impl Queue {
    /// `config.hostname` empty becomes `hostname` (the server's). Must be
    /// called inside a tokio runtime.
    pub fn new(
        store: Store,
        mut config: QueueConfig,
        hostname: &str,
        clock: SharedClock,
        dns: &DnsServers,
    ) -> Result<Arc<Queue>, QueueError> {
        if config.hostname.is_empty() {
            config.hostname = if hostname.is_empty() {
                "localhost".to_string()
            } else {
                hostname.to_string()
            };
        }
        let resolver = MxResolver::new(dns)?;
        let tls = mail_send::smtp::tls::build_tls_connector(!config.verify_certificates)
            .map_err(QueueError::Tls)?;
        let pool = pool::Pool::new(
            config.connection_idle_secs,
            config.connection_max_transactions,
            config.concurrency,
            clock.clone(),
        );
        Ok(Arc::new(Queue {
            store,
            config,
            clock,
            pool,
            resolver,
            tls,
            wake: Notify::new(),
            signer: std::sync::OnceLock::new(),
        }))
    }

    /// Installs the signer of the notices (call before [`Queue::run`]);
    /// false if one was installed already.
    pub fn set_notice_signer(&self, signer: Arc<dyn NoticeSigner>) -> bool {
        self.signer.set(signer).is_ok()
    }

    /// `notice` signed for its `From:` domain (our host name), or as it
    /// is without a signer or when signing fails (logged).
    async fn signed(&self, notice: Vec<u8>) -> Vec<u8> {
        let Some(signer) = self.signer.get() else {
            return notice;
        };
        let domain = self.config.hostname.to_ascii_lowercase();
        match signer.sign(&domain, &notice).await {
            Ok(signed) => signed,
            Err(error) => {
                tracing::warn!(%domain, %error, "notice not signed");
                notice
            }
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &QueueConfig {
        &self.config
    }

    fn now(&self) -> UnixTime {
        unix(self.clock.now())
    }

    /// Queues `data` for `recipients`; returns once durable, and wakes the
    /// delivery task.
    pub async fn submit(
        &self,
        reverse_path: &str,
        recipients: Vec<NewQueueRecipient>,
        dsn: DsnEnvelope,
        data: Vec<u8>,
    ) -> Result<QueueId, StoreError> {
        let now = self.now();
        let id = self
            .store
            .enqueue(NewQueueItem {
                reverse_path: reverse_path.to_string(),
                recipients,
                dsn,
                data: Arc::new(data),
                created: now,
                next_attempt: now,
            })
            .await?;
        tracing::info!(queue_id = %id, from = %reverse_path, "queued");
        self.wake.notify_one();
        Ok(id)
    }

    /// Delivers until `shutdown`: a pass over the due items, then a wait
    /// for a submission or `poll_interval_secs`. At `shutdown` no new
    /// item is started, and the attempts under way finish and record
    /// their results (within the server's shutdown grace period), so a
    /// clean stop sends nothing twice; a crash may (see the crate docs on
    /// at-least-once). The delivery counters start again from zero.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        if let Err(error) = self.store.queue_counters_reset(self.now()).await {
            tracing::warn!(%error, "queue counters not reset");
        }
        let poll = Duration::from_secs(self.config.poll_interval_secs.max(1));
        loop {
            let full = match self.pass(Some(&shutdown)).await {
                Ok(n) => n >= self.batch(),
                Err(error) => {
                    tracing::warn!(%error, "queue pass failed");
                    false
                }
            };
            if shutdown.is_cancelled() {
                break;
            }
            if full {
                continue;
            }
            // Wake in time to close idle connections as they expire.
            let wait = if self.pool.is_empty() {
                poll
            } else {
                poll.min(self.pool.idle_for())
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
            self.pool.sweep();
        }
        // After the attempts under way finished (they were awaited by
        // the pass): QUIT the cached connections, within 2 s.
        self.pool.close_all().await;
    }

    fn batch(&self) -> usize {
        self.config.concurrency.max(1) * 4
    }

    /// One pass: attempts every item due now (by the injected clock), at
    /// most `concurrency` at once, and a batch of at most 4×`concurrency`
    /// items. Returns how many were attempted.
    pub async fn run_due(&self) -> Result<usize, StoreError> {
        self.pass(None).await
    }

    /// [`Queue::run_due`], starting no item once `stop` is cancelled.
    async fn pass(&self, stop: Option<&CancellationToken>) -> Result<usize, StoreError> {
        self.pool.sweep();
        let due = self.store.queue_due(self.now(), self.batch()).await?;
        let n = due.len();
        let stopped = move || stop.is_some_and(CancellationToken::is_cancelled);
        futures::stream::iter(due)
            .take_while(move |_| std::future::ready(!stopped()))
            .for_each_concurrent(self.config.concurrency.max(1), |item| async move {
                let id = item.id;
                if let Err(error) = self.process(item).await {
                    tracing::warn!(queue_id = %id, %error, "queue item not updated");
                }
            })
            .await;
        Ok(n)
    }

    /// One attempt for one item, then its bookkeeping.
    async fn process(&self, item: QueueItem) -> Result<(), StoreError> {
        let now = self.now();
        let expires = item.created.saturating_add(secs(self.config.lifetime_secs));
        let mut state: Vec<QueueRecipient> = item.recipients.clone();
        let message = self.store.queue_message(item.id).await?;
        let mut counted = QueueCounters::default();
        // Delivered to servers without DSN (RFC 3461 §5.2.2).
        let mut relayed: Vec<usize> = Vec::new();
        // Who answered, by recipient index (RFC 3464 §2.3.5).
        let mut remote_mta: BTreeMap<u32, String> = BTreeMap::new();
        if now < expires {
            let mut by_domain: BTreeMap<String, Vec<usize>> = BTreeMap::new();
            for (i, r) in state.iter().enumerate() {
                if r.status == RecipientStatus::Pending {
                    by_domain.entry(domain_of(&r.address)).or_default().push(i);
                }
            }
            for (domain, indexes) in by_domain {
                let rcpts: Vec<&QueueRecipient> = indexes.iter().map(|&i| &state[i]).collect();
                let (outcomes, remote_dsn, server) =
                    self.deliver_domain(&domain, &item, &rcpts, &message).await;
                for (&i, outcome) in indexes.iter().zip(outcomes) {
                    if let Some(server) = &server {
                        remote_mta.insert(state[i].index, server.clone());
                    }
                    let (status, reply) = match outcome {
                        RcptOutcome::Delivered(r) => {
                            counted.delivered += 1;
                            if !remote_dsn {
                                relayed.push(i);
                            }
                            (RecipientStatus::Delivered, r)
                        }
                        RcptOutcome::Failed(r) => {
                            counted.bounced += 1;
                            (RecipientStatus::Failed, r)
                        }
                        RcptOutcome::Deferred(r) => {
                            counted.deferred += 1;
                            (RecipientStatus::Pending, r)
                        }
                    };
                    tracing::info!(
                        queue_id = %item.id,
                        to = %state[i].address,
                        ?status,
                        reply = %reply,
                        "delivery attempt"
                    );
                    state[i].status = status;
                    state[i].last_reply = Some(reply);
                }
            }
        }
        let now = self.now();
        let attempted = now < expires;
        if now >= expires {
            // RFC 5321 §4.5.4.1: give up after the lifetime.
            for r in state
                .iter_mut()
                .filter(|r| r.status == RecipientStatus::Pending)
            {
                counted.bounced += 1;
                r.status = RecipientStatus::Failed;
                r.last_reply = Some(format!(
                    "expired after {} days in the queue; last: {}",
                    self.config.lifetime_secs / 86400,
                    r.last_reply.as_deref().unwrap_or("no attempt")
                ));
            }
        }
        let pass = Pass {
            item: &item,
            original: &message,
            now,
            expires,
            remote_mta: &remote_mta,
        };
        let newly_failed: Vec<&QueueRecipient> = state
            .iter()
            .zip(&item.recipients)
            .filter(|(s, before)| s.status == RecipientStatus::Failed && !before.status.is_final())
            .map(|(s, _)| s)
            .filter(|s| dsn::wanted(s, DsnKind::Failed))
            .collect();
        if !newly_failed.is_empty() {
            self.notify_sender(&pass, DsnKind::Failed, newly_failed)
                .await;
        }
        let relayed: Vec<&QueueRecipient> = relayed
            .into_iter()
            .map(|i| &state[i])
            .filter(|r| dsn::wanted(r, DsnKind::Relayed))
            .collect();
        if !relayed.is_empty() {
            self.notify_sender(&pass, DsnKind::Relayed, relayed).await;
        }
        let pending: Vec<&QueueRecipient> = state
            .iter()
            .filter(|r| r.status == RecipientStatus::Pending)
            .collect();
        if pending.is_empty() {
            self.store.queue_finish(item.id, counted).await?;
            tracing::info!(queue_id = %item.id, "queue item done");
            return Ok(());
        }
        let mut delay_notified = false;
        let delay = secs(self.config.delay_notice_secs);
        if delay > 0 && !item.delay_notified && now.saturating_sub(item.created) >= delay {
            let wanted: Vec<&QueueRecipient> = pending
                .iter()
                .copied()
                .filter(|r| dsn::wanted(r, DsnKind::Delayed))
                .collect();
            if !wanted.is_empty() {
                self.notify_sender(&pass, DsnKind::Delayed, wanted).await;
            }
            delay_notified = true;
        }
        let attempts = item.attempts.saturating_add(u32::from(attempted));
        let next = now
            .saturating_add(secs(self.config.retry_delay(attempts)))
            .min(expires);
        let update = QueueUpdate {
            recipients: state
                .iter()
                .zip(&item.recipients)
                .filter(|(s, before)| s != before)
                .map(|(s, _)| RecipientResult {
                    index: s.index,
                    status: s.status,
                    reply: s.last_reply.clone(),
                })
                .collect(),
            count_attempt: attempted,
            next_attempt: Some(next),
            delay_notified,
            counted,
        };
        self.store.queue_update(item.id, update).await
    }

    /// Delivers to the recipients of one domain; one outcome per
    /// recipient, whether the server that answered offers DSN, and its
    /// name (`None` when no server answered).
    async fn deliver_domain(
        &self,
        domain: &str,
        item: &QueueItem,
        rcpts: &[&QueueRecipient],
        message: &[u8],
    ) -> (Vec<RcptOutcome>, bool, Option<String>) {
        let all = |o: RcptOutcome| (vec![o; rcpts.len()], false, None);
        let targets: Vec<(String, Vec<SocketAddr>)> = if let Some(route) = self.config.route(domain)
        {
            match self.resolver.addresses(&route.host).await {
                Ok(addrs) if !addrs.is_empty() => vec![(
                    route.host.clone(),
                    addrs
                        .into_iter()
                        .map(|ip| SocketAddr::new(ip, route.port))
                        .collect(),
                )],
                Ok(_) => {
                    return all(RcptOutcome::Deferred(format!(
                        "route host {} has no address",
                        route.host
                    )));
                }
                Err(e) => return all(RcptOutcome::Deferred(format!("DNS: {e:?}"))),
            }
        } else {
            match self.resolver.hosts(domain).await {
                Ok(hosts) => hosts
                    .into_iter()
                    .map(|h| {
                        let addrs = h.addrs.iter().map(|ip| SocketAddr::new(*ip, 25)).collect();
                        (h.name, addrs)
                    })
                    .collect(),
                Err(MxError::NullMx) => {
                    return all(RcptOutcome::Failed(
                        "556 5.1.10 the recipient domain accepts no mail (null MX)".into(),
                    ));
                }
                Err(MxError::NoSuchDomain) => {
                    return all(RcptOutcome::Failed(
                        "550 5.1.2 the recipient domain has no mail server".into(),
                    ));
                }
                Err(MxError::Temporary(e)) => {
                    return all(RcptOutcome::Deferred(format!("DNS: {e}")));
                }
            }
        };
        let params: Vec<(String, String)> = rcpts
            .iter()
            .map(|r| (r.address.clone(), rcpt_params(r)))
            .collect();
        let mail_params = mail_params(&item.dsn);
        let mut last = String::from("no server to try");
        for (name, addrs) in &targets {
            for addr in addrs {
                let attempt = client::Attempt {
                    addr: *addr,
                    server_name: name,
                    helo: &self.config.hostname,
                    timeout: Duration::from_secs(self.config.timeout_secs.max(1)),
                    tls: Some(&self.tls),
                    reverse_path: &item.reverse_path,
                    mail_params: &mail_params,
                    recipients: &params,
                    message,
                };
                match self.deliver_to(&attempt).await {
                    Ok((outcomes, dsn)) => return (outcomes, dsn, Some(name.clone())),
                    Err(client::HostFailure(e)) => {
                        tracing::info!(%addr, error = %e, "server unusable; trying the next");
                        last = e;
                    }
                }
            }
        }
        all(RcptOutcome::Deferred(last))
    }

    /// One transaction with one server address: on a cached connection
    /// when there is one, else on a new one; the connection is cached
    /// again afterwards when still usable. A cached connection found dead
    /// before the transaction began (RSET or MAIL: I/O error, EOF, `421`)
    /// is replaced by a new one at once, which counts as no attempt:
    /// nothing was delivered on it. Errors after the content was sent are
    /// never retried here (unknown outcome: deferred).
    async fn deliver_to(
        &self,
        attempt: &client::Attempt<'_>,
    ) -> Result<(Vec<RcptOutcome>, bool), client::HostFailure> {
        let key = pool::Key::new(attempt.addr, attempt.server_name);
        let n = attempt.recipients.len();
        if let Some(mut session) = self.pool.take(&key) {
            tracing::debug!(
                addr = %attempt.addr,
                tls = session.tls,
                transactions = session.transactions,
                "reusing a cached connection"
            );
            match session.transaction(attempt).await {
                client::Tx::Done(outcomes) => {
                    let dsn = session.dsn;
                    self.pool.put(key, session);
                    return Ok((outcomes, dsn));
                }
                client::Tx::NotStarted(why) => {
                    tracing::info!(addr = %attempt.addr, reason = ?why, "cached connection unusable; connecting anew");
                }
            }
        }
        let mut session = match client::Session::open(attempt).await {
            Ok(s) => s,
            Err(client::HostFailure(e)) if e.starts_with("STARTTLS") => {
                // RFC 7435: opportunistic; try again in plaintext.
                tracing::info!(addr = %attempt.addr, error = %e, "STARTTLS failed; retrying in plaintext");
                let plain = client::Attempt {
                    tls: None,
                    ..*attempt
                };
                client::Session::open(&plain).await?
            }
            Err(e) => return Err(e),
        };
        let dsn = session.dsn;
        let outcomes = match session.transaction(attempt).await {
            client::Tx::Done(outcomes) => outcomes,
            client::Tx::NotStarted(o) => vec![o; n],
        };
        self.pool.put(key, session);
        Ok((outcomes, dsn))
    }

    /// RFC 3461 §5.2.3: a `delivered` notice to `reverse_path` for the
    /// recipients whose `NOTIFY` has `SUCCESS`, after local delivery.
    /// `header` is the message's header section (success notices never
    /// return the whole message). Failures are logged.
    pub async fn notify_delivered(
        &self,
        reverse_path: &str,
        envelope: &DsnEnvelope,
        recipients: Vec<Delivered>,
        header: &[u8],
    ) {
        if reverse_path.is_empty() || recipients.is_empty() {
            return;
        }
        let now = self.now();
        let recipients: Vec<QueueRecipient> = recipients
            .into_iter()
            .enumerate()
            .map(|(i, r)| QueueRecipient {
                index: u32::try_from(i).unwrap_or(u32::MAX),
                address: r.address,
                status: RecipientStatus::Delivered,
                last_reply: None,
                notify: Some("SUCCESS".into()),
                orcpt: r.orcpt,
            })
            .collect();
        let notice = dsn::build(&dsn::Notice {
            kind: DsnKind::Delivered,
            hostname: &self.config.hostname,
            reverse_path,
            dsn: envelope,
            arrival: system_time(now),
            recipients: recipients.iter().collect(),
            remote_mta: &BTreeMap::new(),
            original: header,
            now: system_time(now),
            retry_until: system_time(now),
        });
        self.send_notice(reverse_path, DsnKind::Delivered, notice, None)
            .await;
    }

    /// Sends a DSN about a queue item to its sender. Never for a null
    /// reverse-path. Failures are logged (the item goes on).
    async fn notify_sender(
        &self,
        pass: &Pass<'_>,
        kind: DsnKind,
        recipients: Vec<&QueueRecipient>,
    ) {
        let Pass {
            item,
            original,
            now,
            expires,
            remote_mta,
        } = *pass;
        if item.reverse_path.is_empty() {
            return;
        }
        let notice = dsn::build(&dsn::Notice {
            kind,
            hostname: &self.config.hostname,
            reverse_path: &item.reverse_path,
            dsn: &item.dsn,
            arrival: system_time(item.created),
            recipients,
            remote_mta,
            original,
            now: system_time(now),
            retry_until: system_time(expires),
        });
        self.send_notice(&item.reverse_path, kind, notice, Some(item.id))
            .await;
    }

    /// Delivers a notice into the local sender's INBOX, or queues it with
    /// the null reverse-path for a remote sender.
    async fn send_notice(
        &self,
        reverse_path: &str,
        kind: DsnKind,
        notice: Vec<u8>,
        about: Option<QueueId>,
    ) {
        let sender = reverse_path.to_lowercase();
        let notice = self.signed(notice).await;
        let result = match self.local_account(&sender).await {
            Ok(Some(account)) => self
                .store
                .deliver(
                    NewMessage {
                        data: Arc::new(notice),
                        internal_date: self.now(),
                    },
                    vec![DeliveryTarget {
                        account,
                        mailbox: None,
                        flags: Flags::EMPTY,
                        keywords: Vec::new(),
                    }],
                )
                .await
                .and_then(|mut r| {
                    r.pop()
                        .unwrap_or(Err(StoreError::Internal("no result".into())))
                })
                .map(|_| ()),
            Ok(None) if self.is_local_domain(&sender).await => Err(StoreError::NotFound(format!(
                "local sender {sender} has no mailbox"
            ))),
            Ok(None) => self
                .submit(
                    "",
                    vec![NewQueueRecipient {
                        address: reverse_path.to_string(),
                        notify: None,
                        orcpt: None,
                    }],
                    DsnEnvelope::default(),
                    notice,
                )
                .await
                .map(|_| ()),
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => tracing::info!(queue_id = ?about, ?kind, to = %sender, "notice sent"),
            Err(error) => {
                tracing::warn!(queue_id = ?about, ?kind, to = %sender, %error, "notice not sent")
            }
        }
    }

    /// The local account an address (or its `+tag` base) is the login of.
    async fn local_account(
        &self,
        address: &str,
    ) -> Result<Option<pillarbox_store::AccountId>, StoreError> {
        let mut candidates = vec![address.to_string()];
        if let Some((local, domain)) = address.rsplit_once('@')
            && let Some((base, _)) = local.split_once('+')
        {
            candidates.push(format!("{base}@{domain}"));
        }
        for c in candidates {
            if let Some(AddressTarget::Account(id)) = self.store.lookup_address(&c).await? {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }

    async fn is_local_domain(&self, address: &str) -> bool {
        matches!(self.store.domain(&domain_of(address)).await, Ok(Some(_)))
    }
}
