//! The only crate that touches sockets: listeners, TLS (rustls with the ring
//! provider), the STARTTLS upgrade, per-IP and total connection limits, idle
//! timeouts, panic isolation and graceful shutdown, and the generic loop
//! ([`drive`]) that runs any [`pillarbox_session::Session`] over a stream.
//!
//! Invariants:
//! - A session never sees a socket; it gets bytes and returns bytes plus a
//!   [`pillarbox_session::Control`].
//! - Input buffered without being consumed is bounded
//!   ([`pillarbox_session::Limits::max_buffer`]); past it the connection is
//!   closed.
//! - A panic in one connection's task is caught, logged and counted; only that
//!   connection closes.
//! - Only TLS 1.2 and 1.3 with rustls' default (modern, AEAD-only) suites.

pub mod driver;
pub mod listener;
pub mod stream;
pub mod tls;

pub use driver::drive;
pub use listener::{ConnLimiter, ListenerSpec, serve_listener};
pub use stream::MaybeTls;
