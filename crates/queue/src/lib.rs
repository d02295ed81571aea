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
//! and passed on to servers offering DSN), RFC 3834 (`Auto-Submitted`).
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
//!
//! Crash safety is at-least-once: results are recorded after each
//! attempt, so a crash (or shutdown) between a server's `250` and the
//! store update makes that recipient get the message again at the next
//! attempt. A crash never loses a message: nothing is deleted before it is
//! final. Likewise a notice may be sent twice, never lost.
//!
//! Not yet: DKIM signing, MTA-STS/DANE policies, per-destination
//! connection limits and connection reuse, SMTPUTF8/8BITMIME parameters
//! on MAIL FROM.

mod client;
mod config;
pub mod dsn;
pub mod mx;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use pillarbox_session::SharedClock;
use pillarbox_store::{
    AddressTarget, DeliveryTarget, DsnEnvelope, Flags, NewMessage, NewQueueItem, NewQueueRecipient,
    QueueId, QueueItem, QueueRecipient, QueueUpdate, RecipientResult, RecipientStatus, Store,
    StoreError, UnixTime,
};
use tokio::sync::Notify;
use tokio_rustls::TlsConnector;
use tokio_util::sync::CancellationToken;

pub use client::RcptOutcome;
pub use config::{DnsServers, QueueConfig, Route};
use dsn::DsnKind;
use mx::{MxError, MxResolver};

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

/// RFC 3461 parameters for one `RCPT TO`.
fn rcpt_params(r: &QueueRecipient) -> String {
    let mut p = Vec::new();
    if let Some(n) = &r.notify {
        p.push(format!("NOTIFY={n}"));
    }
    if let Some(o) = &r.orcpt {
        p.push(format!("ORCPT={o}"));
    }
    p.join(" ")
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
        Ok(Arc::new(Queue {
            store,
            config,
            clock,
            resolver,
            tls,
            wake: Notify::new(),
        }))
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
    /// for a submission or `poll_interval_secs`. Cancelling mid-delivery
    /// leaves the item due (see the crate docs on at-least-once).
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let poll = Duration::from_secs(self.config.poll_interval_secs.max(1));
        loop {
            let full = tokio::select! {
                _ = shutdown.cancelled() => break,
                done = self.run_due() => match done {
                    Ok(n) => n >= self.batch(),
                    Err(error) => {
                        tracing::warn!(%error, "queue pass failed");
                        false
                    }
                },
            };
            if full {
                continue;
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(poll) => {}
            }
        }
    }

    fn batch(&self) -> usize {
        self.config.concurrency.max(1) * 4
    }

    /// One pass: attempts every item due now (by the injected clock), at
    /// most `concurrency` at once, and a batch of at most 4×`concurrency`
    /// items. Returns how many were attempted.
    pub async fn run_due(&self) -> Result<usize, StoreError> {
        let due = self.store.queue_due(self.now(), self.batch()).await?;
        let n = due.len();
        futures::stream::iter(due)
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
        if now < expires {
            let mut by_domain: BTreeMap<String, Vec<usize>> = BTreeMap::new();
            for (i, r) in state.iter().enumerate() {
                if r.status == RecipientStatus::Pending {
                    by_domain.entry(domain_of(&r.address)).or_default().push(i);
                }
            }
            for (domain, indexes) in by_domain {
                let rcpts: Vec<&QueueRecipient> = indexes.iter().map(|&i| &state[i]).collect();
                let outcomes = self
                    .deliver_domain(&domain, &item.reverse_path, &rcpts, &message)
                    .await;
                for (&i, outcome) in indexes.iter().zip(outcomes) {
                    let (status, reply) = match outcome {
                        RcptOutcome::Delivered(r) => (RecipientStatus::Delivered, r),
                        RcptOutcome::Failed(r) => (RecipientStatus::Failed, r),
                        RcptOutcome::Deferred(r) => (RecipientStatus::Pending, r),
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
                r.status = RecipientStatus::Failed;
                r.last_reply = Some(format!(
                    "expired after {} days in the queue; last: {}",
                    self.config.lifetime_secs / 86400,
                    r.last_reply.as_deref().unwrap_or("no attempt")
                ));
            }
        }
        let newly_failed: Vec<&QueueRecipient> = state
            .iter()
            .zip(&item.recipients)
            .filter(|(s, before)| s.status == RecipientStatus::Failed && !before.status.is_final())
            .map(|(s, _)| s)
            .filter(|s| dsn::wanted(s, DsnKind::Failed))
            .collect();
        if !newly_failed.is_empty() {
            self.notify_sender(&item, DsnKind::Failed, newly_failed, &message, now, expires)
                .await;
        }
        let pending: Vec<&QueueRecipient> = state
            .iter()
            .filter(|r| r.status == RecipientStatus::Pending)
            .collect();
        if pending.is_empty() {
            self.store.queue_delete(item.id).await?;
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
                self.notify_sender(&item, DsnKind::Delayed, wanted, &message, now, expires)
                    .await;
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
        };
        self.store.queue_update(item.id, update).await
    }

    /// Delivers to the recipients of one domain; one outcome per recipient.
    async fn deliver_domain(
        &self,
        domain: &str,
        reverse_path: &str,
        rcpts: &[&QueueRecipient],
        message: &[u8],
    ) -> Vec<RcptOutcome> {
        let all = |o: RcptOutcome| vec![o; rcpts.len()];
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
        let mut last = String::from("no server to try");
        for (name, addrs) in &targets {
            for addr in addrs {
                let mut attempt = client::Attempt {
                    addr: *addr,
                    server_name: name,
                    helo: &self.config.hostname,
                    timeout: Duration::from_secs(self.config.timeout_secs.max(1)),
                    tls: Some(&self.tls),
                    reverse_path,
                    recipients: &params,
                    message,
                };
                match client::deliver(&attempt).await {
                    Ok(outcomes) => return outcomes,
                    Err(client::HostFailure(e)) if e.starts_with("STARTTLS") => {
                        // RFC 7435: opportunistic; try again in plaintext.
                        tracing::info!(%addr, error = %e, "STARTTLS failed; retrying in plaintext");
                        attempt.tls = None;
                        match client::deliver(&attempt).await {
                            Ok(outcomes) => return outcomes,
                            Err(client::HostFailure(e)) => last = e,
                        }
                    }
                    Err(client::HostFailure(e)) => {
                        tracing::info!(%addr, error = %e, "server unusable; trying the next");
                        last = e;
                    }
                }
            }
        }
        all(RcptOutcome::Deferred(last))
    }

    /// Sends a DSN to the item's sender: into the local account's INBOX,
    /// or queued with the null reverse-path for a remote sender. Never for
    /// a null reverse-path. Failures are logged (the item goes on).
    async fn notify_sender(
        &self,
        item: &QueueItem,
        kind: DsnKind,
        recipients: Vec<&QueueRecipient>,
        original: &[u8],
        now: UnixTime,
        expires: UnixTime,
    ) {
        if item.reverse_path.is_empty() {
            return;
        }
        let notice = dsn::build(&dsn::Notice {
            kind,
            hostname: &self.config.hostname,
            item,
            recipients,
            original,
            now: system_time(now),
            retry_until: system_time(expires),
        });
        let sender = item.reverse_path.to_lowercase();
        let result = match self.local_account(&sender).await {
            Ok(Some(account)) => self
                .store
                .deliver(
                    NewMessage {
                        data: Arc::new(notice),
                        internal_date: now,
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
                        address: item.reverse_path.clone(),
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
            Ok(()) => tracing::info!(queue_id = %item.id, ?kind, to = %sender, "notice sent"),
            Err(error) => {
                tracing::warn!(queue_id = %item.id, ?kind, to = %sender, %error, "notice not sent")
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
