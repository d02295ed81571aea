//! POP3 session logic for Pillarbox: a sans-socket
//! [`pillarbox_session::Session`] over the mail store.
//!
//! Implements RFC 1939 (POP3) with RFC 2449 (CAPA, RESP-CODES, PIPELINING,
//! EXPIRE, LOGIN-DELAY, IMPLEMENTATION), RFC 2595 §4 (STLS), RFC 3206
//! (`[AUTH]`, `[SYS/TEMP]`), RFC 5034 (SASL AUTH with initial response,
//! AUTH-RESP-CODE) using `pillarbox-sasl` (PLAIN, LOGIN, SCRAM-SHA-256), and
//! RFC 6856 (UTF8). APOP and LANG are refused. Wire syntax is in
//! `pillarbox-pop3-proto`.
//!
//! Invariants:
//! - The maildrop is the account's INBOX, snapshotted at login: message
//!   numbers and sizes are fixed for the session (RFC 1939 §5), even while
//!   IMAP sessions or deliveries change the mailbox.
//! - One POP3 session per account at a time (an in-process lock in
//!   [`Pop3Context`]); a second login gets `-ERR [IN-USE]`. The lock is
//!   released when the session ends, however it ends.
//! - Only QUIT in TRANSACTION deletes (RFC 1939 §6 UPDATE): all marked
//!   messages in one atomic store call, and `+OK` only after it is durable;
//!   on failure `-ERR [SYS/TEMP]` and nothing is deleted. A dropped
//!   connection, a timeout or a shutdown deletes nothing.
//! - UIDL identifiers are `UIDVALIDITY.UID`: stable across sessions and
//!   restarts.
//! - LIST/STAT sizes are the octets RETR sends before dot-stuffing (the
//!   store keeps messages with CRLF line ends).
//! - Without TLS, USER/PASS/AUTH are refused unless `allow_plaintext_auth`.
//! - Every error becomes a response in one place: [`Pop3Error::response`];
//!   client-facing text never carries internal details.
//! - Commands are processed strictly in order, all complete lines of a
//!   buffer at a time (PIPELINING); nothing after STLS is processed.

mod auth;
mod config;
mod context;
mod error;
mod maildrop;
mod session;
mod transaction;

pub use config::{MIN_IDLE_TIMEOUT_SECS, Pop3Config};
pub use context::Pop3Context;
pub use error::Pop3Error;
pub use session::Pop3Session;
