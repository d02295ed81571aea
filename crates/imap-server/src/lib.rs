//! IMAP session logic (RFC 9051 IMAP4rev2 and RFC 3501 IMAP4rev1) over the
//! store, driven by `pillarbox-net` through the [`pillarbox_session::Session`]
//! trait. Wire parsing and encoding live in `pillarbox-imap-proto`.
//!
//! Layout: [`session`] holds the connection state machine (not
//! authenticated → authenticated → selected → logout) and the event loop;
//! [`selected`] the per-session view of the selected mailbox (sequence
//! numbers ↔ UIDs) and its synchronisation with the store's change feed;
//! `commands/` one file per IMAP command.
//!
//! Invariants:
//! - Each session keeps its own sequence-number view; a message leaves it
//!   only when this session reports EXPUNGE (or VANISHED), and never while
//!   answering FETCH, STORE or SEARCH by sequence number (RFC 9051 §7.5.1).
//! - EXISTS never decreases without an expunge report.
//! - Every store call carries the session's account id: no command reaches
//!   another account's data.
//! - Store errors are mapped to `NO [code]` in one place ([`error`]).

mod capabilities;
mod commands;
pub mod config;
mod context;
mod error;
mod selected;
mod session;

pub use config::ImapConfig;
pub use context::ImapContext;
pub use session::ImapSession;
