//! Outbound queue records (DESIGN §4 "queue records"): what the queue
//! (`pillarbox-queue`) keeps durably about each message waiting for remote
//! delivery.
//!
//! Invariants every backend guarantees:
//! - [`crate::MailStore::enqueue`] returns only once the item, its
//!   recipients and its message bytes are durable (group-committed with
//!   the other writes of the moment).
//! - Recipients keep their enqueue order; [`QueueRecipient::index`] is
//!   their position and never changes.
//! - An item is only removed by [`crate::MailStore::queue_delete`]; the
//!   queue calls it once every recipient is final (delivered or failed).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::api::UnixTime;

/// A queue item's stable id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct QueueId(pub i64);

impl std::fmt::Display for QueueId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Where one recipient of a queue item stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RecipientStatus {
    /// Not delivered yet; will be tried again.
    Pending,
    /// The remote server accepted it (2xx).
    Delivered,
    /// Permanently failed (5xx, null MX, expiry).
    Failed,
}

impl RecipientStatus {
    /// Whether nothing more will be done for the recipient.
    pub fn is_final(self) -> bool {
        self != RecipientStatus::Pending
    }

    pub(crate) fn to_db(self) -> i64 {
        match self {
            RecipientStatus::Pending => 0,
            RecipientStatus::Delivered => 1,
            RecipientStatus::Failed => 2,
        }
    }

    pub(crate) fn from_db(v: i64) -> RecipientStatus {
        match v {
            1 => RecipientStatus::Delivered,
            2 => RecipientStatus::Failed,
            _ => RecipientStatus::Pending,
        }
    }
}

/// RFC 3461 parameters of the whole message, stored for the DSNs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DsnEnvelope {
    /// `RET=FULL` or `RET=HDRS` (RFC 3461 §4.3), as given.
    pub ret: Option<String>,
    /// `ENVID=` (RFC 3461 §4.4), xtext-decoded.
    pub envid: Option<String>,
}

/// A recipient to enqueue, with its RFC 3461 parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewQueueRecipient {
    /// `local@domain`, as accepted.
    pub address: String,
    /// `NOTIFY=` (RFC 3461 §4.1), e.g. `FAILURE,DELAY` or `NEVER`.
    pub notify: Option<String>,
    /// `ORCPT=` (RFC 3461 §4.2), e.g. `rfc822;bob@example.net`.
    pub orcpt: Option<String>,
}

/// A message to enqueue.
#[derive(Debug, Clone)]
pub struct NewQueueItem {
    /// The reverse-path without brackets; empty for `<>` (a bounce).
    pub reverse_path: String,
    /// At least one.
    pub recipients: Vec<NewQueueRecipient>,
    pub dsn: DsnEnvelope,
    /// The complete message, as it will be sent.
    pub data: Arc<Vec<u8>>,
    /// When it was accepted.
    pub created: UnixTime,
    /// When to try first (normally `created`).
    pub next_attempt: UnixTime,
}

/// One recipient of a queue item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueRecipient {
    /// Position in the item (0-based, enqueue order).
    pub index: u32,
    pub address: String,
    pub status: RecipientStatus,
    /// The last reply or error for it, e.g. `550 5.1.1 no such user`.
    pub last_reply: Option<String>,
    pub notify: Option<String>,
    pub orcpt: Option<String>,
}

/// A queued message and its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueItem {
    pub id: QueueId,
    pub reverse_path: String,
    pub recipients: Vec<QueueRecipient>,
    pub dsn: DsnEnvelope,
    /// Size of the message in octets.
    pub size: u64,
    pub created: UnixTime,
    pub next_attempt: UnixTime,
    /// Delivery attempts made so far.
    pub attempts: u32,
    /// Whether the delay notice (RFC 3464 `delayed`) was sent.
    pub delay_notified: bool,
}

impl QueueItem {
    /// The recipients still pending.
    pub fn pending(&self) -> impl Iterator<Item = &QueueRecipient> {
        self.recipients
            .iter()
            .filter(|r| r.status == RecipientStatus::Pending)
    }
}

/// A recipient's new state, by [`QueueRecipient::index`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientResult {
    pub index: u32,
    pub status: RecipientStatus,
    pub reply: Option<String>,
}

/// What [`crate::MailStore::queue_update`] changes, in one transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueUpdate {
    /// Recipient results to record (unknown indexes are ignored).
    pub recipients: Vec<RecipientResult>,
    /// Adds one to the attempt counter.
    pub count_attempt: bool,
    /// The new next-attempt time.
    pub next_attempt: Option<UnixTime>,
    /// Sets the delay-notice flag.
    pub delay_notified: bool,
    /// Added to the store-wide delivery counters ([`QueueStats`]).
    pub counted: QueueCounters,
}

/// Delivery results counted by the queue, per recipient and attempt:
/// accepted by the remote server, deferred (4xx, connection or DNS
/// trouble) and failed for good (5xx, null MX, expiry).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueCounters {
    pub delivered: u64,
    pub deferred: u64,
    pub bounced: u64,
}

impl QueueCounters {
    pub fn is_zero(&self) -> bool {
        *self == QueueCounters::default()
    }
}

/// The queue at a glance (`pillarbox queue stats`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueStats {
    /// Items in the queue.
    pub items: u64,
    /// Recipients not final yet, over all items.
    pub recipients_pending: u64,
    /// When the oldest item was queued.
    pub oldest: Option<UnixTime>,
    /// Counted since [`QueueStats::counting_since`].
    pub counters: QueueCounters,
    /// When the counters were last reset (the server's start), if ever.
    pub counting_since: Option<UnixTime>,
}
