//! Server-side SASL for Pillarbox's protocols (POP3, IMAP, SMTP submission),
//! and the password credential records they check against.
//!
//! Implements:
//! - RFC 4422 (SASL framework): [`Exchange`] is a sans-IO step machine;
//!   [`wire`] decodes base64 lines, `*` cancellation and `=` empty initial
//!   responses.
//! - RFC 4616 PLAIN, draft-murchison-sasl-login LOGIN, RFC 5802 + RFC 7677
//!   SCRAM-SHA-256, and SCRAM-SHA-256-PLUS with the RFC 9266
//!   `tls-exporter` channel binding ([`Mechanism::offered`] lists it only
//!   for connections with [`pillarbox_session::ChannelBindings`]).
//! - RFC 4013 SASLprep on user names and passwords ([`prepare_username`],
//!   [`prepare_password`]).
//! - Credential records: [`hash_password`] derives an argon2id PHC string
//!   and a SCRAM-SHA-256 record (`salt$iterations$stored_key$server_key`,
//!   RFC 5802 §3, iteration count [`SCRAM_ITERATIONS`]).
//!
//! - Brute-force protection ([`throttle`]): failed authentications counted
//!   per client address and per login, an increasing delay and hard limits,
//!   on the injected clock.
//!
//! Invariants callers rely on:
//! - No I/O and no store access: the caller looks credentials up between
//!   steps ([`Step::NeedCredentials`] → [`Exchange::credentials`]).
//! - A wrong password and an unknown user fail the same way
//!   ([`Failure::BadCredentials`]) after the same work (a dummy argon2
//!   verification; a fake, per-process-stable SCRAM salt).
//! - The authorization identity is either absent or equal to the
//!   authentication identity; proxy authorization is refused.
//! - The same SASLprep is applied when a password is set and when it is
//!   checked, so hashes and SCRAM keys always agree.

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod error;
mod exchange;
mod password;
mod prep;
mod scram;
pub mod throttle;
pub mod wire;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_plus;

pub use error::{ErrorKind, SaslError};
pub use exchange::{Credentials, Exchange, Failure, Mechanism, Step};
pub use password::{
    SCRAM_ITERATIONS, ScramRecord, StoredCredentialsStrings, hash_password, try_hash_password,
    verify_password, verify_password_or_dummy,
};
pub use prep::{prepare_password, prepare_username};
pub use throttle::{AuthLimits, AuthThrottle, Refusal, Scope};
pub use wire::{ClientResponse, decode_initial_response, decode_response, encode_challenge};
