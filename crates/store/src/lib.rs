//! Pillarbox's mail store: accounts, domains and their DKIM keys
//! ([`dkim`]), addresses, mailboxes, subscriptions, messages, flags and
//! keywords, UIDs, MODSEQs, quotas, full-text search and the change feed
//! (DESIGN §4).
//!
//! [`MailStore`] is the backend-neutral API; [`sqlite::SqliteStore`] is the
//! embedded default backend. Every backend must pass [`conformance`].
//! It gives the IMAP server what RFC 9051 needs, plus CONDSTORE/QRESYNC
//! (RFC 7162: MODSEQs, CHANGEDSINCE, UNCHANGEDSINCE, VANISHED), MOVE
//! (RFC 6851), UIDPLUS (RFC 4315: APPENDUID/COPYUID data), SPECIAL-USE and
//! CREATE-SPECIAL-USE (RFC 6154), STATUS=SIZE (RFC 8438), OBJECTID
//! (RFC 8474: [`MailboxId`] and [`MessageId`] are stable) and SAVEDATE
//! (RFC 8514: [`Entry::saved_date`]).
//!
//! Invariants every backend guarantees:
//! - A write returns only when it is durable (fsync'd); concurrent writers are
//!   group-committed, so one flush serves many deliveries. A write call is
//!   one transaction: it happens entirely or not at all (COPY, MOVE, RENAME
//!   and multi-entry STORE included).
//! - UIDs in a mailbox only grow; a UID is never reused within one
//!   UIDVALIDITY. MODSEQs of a mailbox strictly increase with every change;
//!   a change that changes nothing (a no-op STORE) takes no MODSEQ.
//! - UIDVALIDITY values are unique store-wide and only grow: a mailbox
//!   deleted (or renamed away) and created again under the same name never
//!   gets an earlier one, so no client can confuse the incarnations.
//! - Expunged entries (EXPUNGE, MOVE, RENAME INBOX) leave a tombstone
//!   `(uid, modseq)` for the life of the mailbox (RFC 7162 VANISHED).
//!   Compacting old tombstones (and answering QRESYNC from before the
//!   cut-off with a full resync) is future work.
//! - Message bodies are content-addressed (SHA-256) and zstd-compressed;
//!   identical bodies are stored once; COPY shares the stored message; a
//!   body is removed when nothing refers to it. Byte ranges (header, one
//!   part) are read without decompressing the rest of a large body.
//! - Mailbox counters (messages, unseen, deleted, size) and the account's
//!   used bytes are exact after every write and cost the same for any
//!   mailbox size.
//! - Changes are published on the change feed only after commit, in commit
//!   order per account.
//! - No call reaches another account's data: every message/mailbox access
//!   takes the account id and checks ownership (`NotFound` otherwise). A
//!   message shared by a delivery to several accounts is only visible
//!   through each account's own entries, also to search.
//! - Logins, addresses and domain names are lowercased on input, mailbox
//!   names normalised (`INBOX` in any case is `INBOX`) and keywords
//!   validated ([`names`]); nothing is cached in memory, so several
//!   processes (the server and the CLI) can share one store.
//! - A message's parse-once [`pillarbox_message::summary::Summary`] is
//!   computed at delivery/append and served by [`MailStore::summary`].
//! - Text search ([`MailStore::search_text`]) is complete and exact at all
//!   times: a message is found from the moment its delivery returns. Its
//!   searchable text ([`fulltext`]) may be indexed later, in the
//!   background, so that deliveries do not wait for it; indexing is
//!   eventually done, and a backend matches not-yet-indexed messages
//!   directly meanwhile (the SQLite backend's design is in [`sqlite`]).
//!
//! # Mailbox hierarchy
//!
//! Names are UTF-8 with `/` as the hierarchy separator. Only mailboxes that
//! were created exist: creating `a/b` does not create `a` (RFC 9051
//! §6.3.4's SHOULD is left to clients that want it), and deleting `a`
//! leaves `a/b`. A protocol layer derives the hierarchy from the names of
//! [`MailStore::list_mailboxes`] (see [`names::mailbox_parents`]): a name
//! with children that is not a mailbox is listed as `\NonExistent
//! \HasChildren` (RFC 5258 LIST-EXTENDED; `\Noselect` for plain LIST),
//! and a mailbox with children as `\HasChildren`. RENAME moves the whole
//! subtree, except for INBOX, whose rename moves its messages instead.
//! Subscriptions are a separate list of names per account, which may name
//! mailboxes that do not exist.
//!
//! The SQLite backend's layout, group commit and durability argument are
//! described in [`sqlite`].

pub mod api;
pub mod conformance;
pub mod dkim;
pub mod error;
pub mod fault;
pub mod fulltext;
pub mod names;
pub mod queue;
pub mod sqlite;

pub use api::*;
pub use dkim::{DkimAlgorithm, DkimKey};
pub use error::{ErrorKind, StoreError};
pub use queue::{
    DsnEnvelope, NewQueueItem, NewQueueRecipient, QueueCounters, QueueId, QueueItem,
    QueueRecipient, QueueStats, QueueUpdate, RecipientResult, RecipientStatus,
};
