//! Pillarbox's mail store: accounts, domains, addresses, mailboxes, messages,
//! flags, UIDs, MODSEQs, quotas and the change feed (DESIGN §4).
//!
//! [`MailStore`] is the backend-neutral API; [`sqlite::SqliteStore`] is the
//! embedded default backend. Every backend must pass [`conformance`].
//!
//! Invariants every backend guarantees:
//! - A write returns only when it is durable (fsync'd); concurrent writers are
//!   group-committed, so one flush serves many deliveries.
//! - UIDs in a mailbox only grow; a UID is never reused within one
//!   UIDVALIDITY. MODSEQs of a mailbox strictly increase with every change.
//! - Expunged entries leave a tombstone `(uid, modseq)` (RFC 7162 VANISHED).
//! - Message bodies are content-addressed (SHA-256) and zstd-compressed;
//!   identical bodies are stored once; a body is removed when nothing refers
//!   to it.
//! - Changes are published on the change feed only after commit, in commit
//!   order per account.
//! - No call reaches another account's data: every message/mailbox access
//!   takes the account id and checks ownership (`NotFound` otherwise).
//! - Logins, addresses and domain names are lowercased on input
//!   ([`names`]); nothing is cached in memory, so several processes (the
//!   server and the CLI) can share one store.
//! - A message's parse-once [`pillarbox_message::summary::Summary`] is
//!   computed at delivery and served by [`MailStore::summary`].
//!
//! The SQLite backend's layout, group commit and durability argument are
//! described in [`sqlite`].

pub mod api;
pub mod conformance;
pub mod error;
pub mod names;
pub mod sqlite;

pub use api::*;
pub use error::{ErrorKind, StoreError};
