//! IMAP session settings (`[imap]` in the configuration file).

use serde::{Deserialize, Serialize};

/// IMAP settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImapConfig {
    /// Host name in the greeting; empty: the server's global `hostname`.
    pub hostname: String,
    /// Allow LOGIN and AUTHENTICATE on connections without TLS. When false
    /// (the default) they are refused until STARTTLS (or on the implicit-TLS
    /// listener) and CAPABILITY advertises LOGINDISABLED.
    pub allow_plaintext_auth: bool,
    /// Seconds an authenticated client may stay silent, IDLE included
    /// (RFC 9051 §5.4: at least 30 minutes).
    pub idle_timeout_secs: u64,
    /// Seconds a client may stay silent before logging in.
    pub login_timeout_secs: u64,
    /// Failed authentications per connection; the last one closes it.
    pub max_auth_failures: u32,
    /// Milliseconds before answering a failed authentication.
    pub auth_failure_delay_ms: u64,
    /// Malformed or unknown commands tolerated in a row; the next closes the
    /// connection.
    pub max_bad_commands: u32,
    /// Simultaneous IMAP sessions of one account.
    pub max_sessions_per_account: usize,
    /// Largest message APPEND accepts, in bytes (RFC 7889 APPENDLIMIT).
    pub max_append_size: u64,
    /// Longest command line in bytes, literals excluded.
    pub max_line_length: usize,
    /// Slowloris defence: seconds one command (its line and literals,
    /// APPEND data included) may take to arrive once begun, plus one
    /// second per `min_data_rate` octets of it; then `* BYE` and close.
    pub command_timeout_secs: u64,
    /// Octets per second a long command (APPEND) must at least arrive at.
    pub min_data_rate: u64,
}

impl Default for ImapConfig {
    fn default() -> Self {
        ImapConfig {
            hostname: String::new(),
            allow_plaintext_auth: false,
            idle_timeout_secs: 30 * 60,
            login_timeout_secs: 60,
            max_auth_failures: 3,
            auth_failure_delay_ms: 1000,
            max_bad_commands: 20,
            max_sessions_per_account: 50,
            max_append_size: 50 * 1024 * 1024,
            max_line_length: 64 * 1024,
            command_timeout_secs: 300,
            min_data_rate: 1024,
        }
    }
}
