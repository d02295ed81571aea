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
//! Not yet: alias targets in other domains need the outbound queue (a later
//! issue); [`Resolution::Local`] reports them in `remote` and the caller
//! decides. SPF/DKIM/DMARC verification and IDNA (U-label) domains are also
//! still to come.

mod config;
mod resolve;
pub mod trace;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use pillarbox_session::{SharedClock, TlsInfo};
use pillarbox_store::{AccountId, DeliveryTarget, ErrorKind, Flags, NewMessage, Store, StoreError};

pub use config::DeliveryConfig;
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
}

impl DeliveryError {
    /// The class of this error, for protocol mappings (4xx vs 5xx).
    pub fn kind(&self) -> ErrorKind {
        match self {
            DeliveryError::QuotaExceeded => ErrorKind::QuotaExceeded,
            DeliveryError::NoMailbox => ErrorKind::NotFound,
            DeliveryError::Store(e) => e.kind(),
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
        }
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

        let now = self.clock.now();
        let headers = trace::trace_headers(envelope, &self.config.hostname, now);
        let body = trace::normalize_crlf(raw);
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

fn account_error(error: StoreError) -> DeliveryError {
    match error.kind() {
        ErrorKind::QuotaExceeded => DeliveryError::QuotaExceeded,
        _ => DeliveryError::Store(Arc::new(error)),
    }
}
