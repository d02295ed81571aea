//! Pillarbox's inbound pipeline (DESIGN §3, layer 3): recipient resolution
//! (aliases, `+tag` subaddresses, catch-all), trace headers added on receipt,
//! and local delivery into the store.
//!
//! The SMTP/LMTP session calls [`Delivery::resolve`] for every `RCPT TO` and
//! [`Delivery::deliver`] once the message data is complete.
//!
//! RFCs: RFC 5321 §4.4 (trace information: `Return-Path:` and `Received:`
//! added at final delivery), RFC 3848 / RFC 6531 §3.7.3 (the `with` protocol
//! keywords, chosen by the caller; the authenticated login, if any, is
//! noted in a comment), RFC 5322 §3.3 (dates), RFC 5233
//! (subaddress `local+tag`).
//!
//! Invariants callers rely on:
//! - [`Delivery::deliver`] returns success for a recipient only after the
//!   store reported the message durable (fsync'd) for it; a protocol may
//!   answer `250` only then (DESIGN §2.2).
//! - One message is stored with **one** store call for all local accounts;
//!   an account reached through several recipients (or through an alias and
//!   directly) receives the message once.
//! - Messages are stored with CRLF line endings (bare LF is converted), with
//!   `Return-Path:` and `Received:` prepended; the `Received:` date comes
//!   from the injected clock.
//! - Resolution is case-insensitive (addresses are lowercased), expands
//!   aliases recursively with loop detection, a depth limit and a size
//!   limit, and never reports a non-local domain as local.
//!
//! - Mail from other MTAs is checked with SPF (RFC 7208), DKIM (RFC 6376)
//!   and DMARC (RFC 7489) by [`Delivery::authenticate`] (the MX session
//!   calls it after the data, before the store write) and delivered with
//!   [`Delivery::deliver_authenticated`], which records the results in an
//!   `Authentication-Results:` field (RFC 8601) and removes fields forging
//!   our authserv-id (see [`authentication`] for the policy choices). DNS
//!   is injected: [`Authenticator::new`] takes the `[dns]` name servers.
//!
//! - Alias targets in other domains are reported by [`Delivery::resolve`]
//!   in [`Resolution::Local`]'s `remote`; the session queues one copy for
//!   them (built by [`forward::forwarded_message`]) before delivering
//!   locally. Loop detection (`Delivered-To:`, the RFC 5321 §6.3
//!   `Received:` count) and the sender/ORCPT policy are in [`forward`].
//!
//! Not yet: SRS rewriting of forwarded mail, ARC (RFC 8617), DMARC reports
//! and IDNA (U-label) domains.

pub mod authentication;
mod config;
pub mod forward;
mod resolve;
#[cfg(any(test, feature = "test-dns"))]
pub mod test_dns;
pub mod trace;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use pillarbox_session::{SharedClock, TlsInfo};
use pillarbox_store::{
    AccountId, DeliveryTarget, ErrorKind, Flags, MailboxId, NewMessage, SpecialUse, Store,
    StoreError,
};

pub use authentication::{Authenticator, Disposition, DnsSetupError, Verdict};
pub use config::{DeliveryConfig, DnsConfig};
pub use resolve::Resolution;

/// One accepted recipient of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeRecipient {
    /// The forward-path as the client gave it in `RCPT TO` (no brackets).
    pub address: String,
    /// The local accounts it resolved to (see [`Delivery::resolve`]).
    pub accounts: Vec<AccountId>,
}

/// The SMTP envelope and connection facts of one message.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// The reverse-path from `MAIL FROM` without brackets; empty for the
    /// null reverse-path `<>` (bounces).
    pub reverse_path: String,
    /// Accepted recipients, in `RCPT` order.
    pub recipients: Vec<EnvelopeRecipient>,
    /// The name the client gave in HELO/EHLO/LHLO.
    pub helo: String,
    /// The client's IP address.
    pub peer_ip: IpAddr,
    /// The RFC 3848 / RFC 6531 `with` keyword: `SMTP`, `ESMTP`, `ESMTPS`,
    /// `UTF8SMTPS`, `LMTP`, ...
    pub protocol: &'static str,
    /// TLS facts, if the connection is encrypted.
    pub tls: Option<TlsInfo>,
    /// The login the client authenticated as (SMTP AUTH on submission),
    /// noted in the `Received:` field; `None` for unauthenticated sessions.
    pub authenticated: Option<String>,
    /// A trace id for this transaction (appears in `Received: ... id`);
    /// empty for none.
    pub id: String,
}

/// Why a message could not be delivered to one recipient.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum DeliveryError {
    /// Every account of the recipient is over quota.
    #[error("mailbox full")]
    QuotaExceeded,
    /// The recipient has no local account to deliver to.
    #[error("no local mailbox")]
    NoMailbox,
    /// The store failed for this recipient (or for the whole message).
    #[error("store error: {0}")]
    Store(#[source] Arc<StoreError>),
    /// The message already went through us for this recipient (a
    /// forwarding loop), or has too many `Received:` fields (RFC 5321
    /// §6.3); see [`forward`].
    #[error("mail loop detected")]
    Loop,
}

impl DeliveryError {
    /// The class of this error, for protocol mappings (4xx vs 5xx).
    pub fn kind(&self) -> ErrorKind {
        match self {
            DeliveryError::QuotaExceeded => ErrorKind::QuotaExceeded,
            DeliveryError::NoMailbox => ErrorKind::NotFound,
            DeliveryError::Store(e) => e.kind(),
            DeliveryError::Loop => ErrorKind::Invalid,
        }
    }

    /// Whether the failure may go away on retry (4xx rather than 5xx).
    /// A full mailbox counts as permanent (RFC 3463 5.2.2).
    pub fn is_temporary(&self) -> bool {
        !matches!(
            self.kind(),
            ErrorKind::QuotaExceeded | ErrorKind::NotFound | ErrorKind::Invalid
        )
    }
}

/// The inbound pipeline; one per server, shared by all sessions.
pub struct Delivery {
    store: Store,
    config: DeliveryConfig,
    clock: SharedClock,
    /// SPF/DKIM/DMARC with the injected resolver; `None`: not checked.
    authenticator: Option<Authenticator>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Delivery {
    pub fn new(store: Store, mut config: DeliveryConfig, clock: SharedClock) -> Delivery {
        if config.hostname.is_empty() {
            config.hostname = "localhost".to_string();
        }
        Delivery {
            store,
            config,
            clock,
            authenticator: None,
        }
    }

    /// Enables SPF/DKIM/DMARC checks of MX mail with this resolver (when
    /// `verify_inbound` is set). Without it nothing is checked.
    pub fn with_authenticator(mut self, authenticator: Authenticator) -> Delivery {
        self.authenticator = Some(authenticator);
        self
    }

    /// Checks SPF, DKIM and DMARC for a message received from another MTA
    /// (the MX path; never LMTP or submission). `raw` is the message as
    /// received. `None` when checks are off (`verify_inbound = false` or no
    /// [`Authenticator`]). Never fails: DNS trouble is reported as
    /// `temperror` in the verdict.
    pub async fn authenticate(&self, envelope: &Envelope, raw: &[u8]) -> Option<Verdict> {
        if !self.config.verify_inbound {
            return None;
        }
        let authenticator = self.authenticator.as_ref()?;
        let policy = authentication::PolicyConfig {
            reject: self.config.dmarc_reject,
            quarantine_to_junk: self.config.dmarc_quarantine_to_junk,
        };
        let verdict = authenticator
            .verify(envelope, raw, &self.config.hostname, policy)
            .await;
        tracing::info!(
            id = %envelope.id,
            spf = verdict.spf,
            dkim = ?verdict.dkim,
            dmarc = verdict.dmarc,
            dmarc_domain = %verdict.dmarc_domain,
            disposition = ?verdict.disposition,
            "message authentication"
        );
        Some(verdict)
    }

    /// The configuration in use.
    pub fn config(&self) -> &DeliveryConfig {
        &self.config
    }

    /// Delivers `raw` (the message as received, after dot-unstuffing) to the
    /// local accounts of every recipient. Returns one result per
    /// `envelope.recipients` entry, in order; `Ok` means durably stored.
    ///
    /// A recipient reaching several accounts (an alias) succeeds when at
    /// least one of its accounts received the message: retrying it would
    /// duplicate the message for the others. Failures of the remaining
    /// accounts are logged.
    pub async fn deliver(
        &self,
        envelope: &Envelope,
        raw: Vec<u8>,
    ) -> Vec<Result<(), DeliveryError>> {
        self.deliver_with(envelope, raw, None).await
    }

    /// As [`Delivery::deliver`], for a message checked by
    /// [`Delivery::authenticate`]: its `Authentication-Results:` field is
    /// added (and fields claiming our authserv-id are removed, RFC 8601
    /// §5); a quarantined message goes to each account's Junk mailbox
    /// (INBOX if the account has none). The caller refuses
    /// [`Disposition::Reject`] instead of calling this; if it does call,
    /// the message is quarantined.
    pub async fn deliver_authenticated(
        &self,
        envelope: &Envelope,
        raw: Vec<u8>,
        verdict: &Verdict,
    ) -> Vec<Result<(), DeliveryError>> {
        self.deliver_with(envelope, raw, Some(verdict)).await
    }

    async fn deliver_with(
        &self,
        envelope: &Envelope,
        raw: Vec<u8>,
        verdict: Option<&Verdict>,
    ) -> Vec<Result<(), DeliveryError>> {
        // Every distinct account once, in the order first reached.
        let mut index: HashMap<AccountId, usize> = HashMap::new();
        let mut targets: Vec<DeliveryTarget> = Vec::new();
        for account in envelope.recipients.iter().flat_map(|r| &r.accounts) {
            index.entry(*account).or_insert_with(|| {
                targets.push(DeliveryTarget {
                    account: *account,
                    mailbox: None,
                    flags: Flags::EMPTY,
                    keywords: Vec::new(),
                });
                targets.len() - 1
            });
        }
        if targets.is_empty() {
            return envelope
                .recipients
                .iter()
                .map(|_| Err(DeliveryError::NoMailbox))
                .collect();
        }

        if verdict.is_some_and(|v| v.disposition != Disposition::Deliver) {
            for target in &mut targets {
                target.mailbox = self.junk_mailbox(target.account).await;
            }
        }

        let now = self.clock.now();
        let mut headers = trace::trace_headers(envelope, &self.config.hostname, now);
        let mut body = trace::normalize_crlf(raw);
        if let Some(verdict) = verdict {
            body = authentication::remove_claimed_results(body, &self.config.hostname);
            // RFC 8601 §5: prepended like a trace field, so above our
            // Received: and below the final Return-Path:.
            let at = headers.find("\r\n").map_or(0, |i| i + 2);
            headers.insert_str(at, &verdict.header);
        }
        let mut data = Vec::with_capacity(headers.len() + body.len());
        data.extend_from_slice(headers.as_bytes());
        data.extend_from_slice(&body);
        drop(body);
        let internal_date = now
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        let message = NewMessage {
            data: Arc::new(data),
            internal_date,
        };

        let per_account: Vec<Result<(), DeliveryError>> =
            match self.store.deliver(message, targets.clone()).await {
                Ok(results) if results.len() == targets.len() => results
                    .into_iter()
                    .map(|r| r.map(|_| ()).map_err(account_error))
                    .collect(),
                Ok(results) => {
                    let error = Arc::new(StoreError::Internal(format!(
                        "store returned {} results for {} targets",
                        results.len(),
                        targets.len()
                    )));
                    tracing::error!(id = %envelope.id, %error, "delivery failed");
                    targets
                        .iter()
                        .map(|_| Err(DeliveryError::Store(error.clone())))
                        .collect()
                }
                Err(error) => {
                    tracing::warn!(id = %envelope.id, %error, "delivery failed");
                    let error = Arc::new(error);
                    targets
                        .iter()
                        .map(|_| Err(DeliveryError::Store(error.clone())))
                        .collect()
                }
            };

        for (target, result) in targets.iter().zip(&per_account) {
            match result {
                Ok(()) => {
                    tracing::info!(id = %envelope.id, account = %target.account, "delivered");
                }
                Err(error) => {
                    tracing::warn!(id = %envelope.id, account = %target.account, %error, "not delivered");
                }
            }
        }

        envelope
            .recipients
            .iter()
            .map(|recipient| {
                let mut chosen: Option<&DeliveryError> = None;
                for account in &recipient.accounts {
                    let Some(result) = index.get(account).and_then(|&i| per_account.get(i)) else {
                        continue;
                    };
                    match result {
                        Ok(()) => return Ok(()),
                        // A temporary failure wins: nothing was stored for
                        // this recipient, so the client may safely retry.
                        Err(e) if chosen.is_none_or(|c| !c.is_temporary() && e.is_temporary()) => {
                            chosen = Some(e);
                        }
                        Err(_) => {}
                    }
                }
                Err(chosen.cloned().unwrap_or(DeliveryError::NoMailbox))
            })
            .collect()
    }
}

impl Delivery {
    /// The account's Junk mailbox (RFC 6154 `\\Junk`); `None` (INBOX) if
    /// it has none or the store cannot say.
    async fn junk_mailbox(&self, account: AccountId) -> Option<MailboxId> {
        match self.store.list_mailboxes(account).await {
            Ok(mailboxes) => {
                let junk = mailboxes
                    .into_iter()
                    .find(|m| m.special_use == Some(SpecialUse::Junk))
                    .map(|m| m.id);
                if junk.is_none() {
                    tracing::warn!(%account, "no Junk mailbox; quarantined message goes to INBOX");
                }
                junk
            }
            Err(error) => {
                tracing::warn!(%account, %error, "cannot list mailboxes; quarantined message goes to INBOX");
                None
            }
        }
    }
}

fn account_error(error: StoreError) -> DeliveryError {
    match error.kind() {
        ErrorKind::QuotaExceeded => DeliveryError::QuotaExceeded,
        _ => DeliveryError::Store(Arc::new(error)),
    }
}
