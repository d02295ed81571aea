//! The `pillarbox` binary's library half: configuration, the wiring of store,
//! delivery, protocol sessions and listeners into a running server, and the
//! administrative operations the CLI performs.
//!
//! Admin operations work on the store directly. The SQLite store is safe for
//! several processes at once (WAL), and the server caches no account, domain
//! or alias data, so a change made by the CLI while the server runs is seen
//! by the server's next lookup.

pub mod admin;
pub mod config;
pub mod dns_records;
pub mod notice_dkim;
pub mod queue_admin;
pub mod server;

pub use config::Config;
pub use server::{ServeError, Server};
