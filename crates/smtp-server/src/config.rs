//! Configuration of SMTP, submission and LMTP sessions.

use serde::{Deserialize, Serialize};

/// SMTP (MX), submission and LMTP session settings (`[smtp]` in the
/// configuration file). The limits apply to every mode; the `submission_*`
/// settings only to submission listeners (RFC 6409).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    /// The host name in the greeting, the EHLO reply and closing replies.
    /// Empty: the server's global `hostname` (`localhost` if none is set).
    pub hostname: String,
    /// Text after `220 <hostname> ESMTP` (or `LMTP`) in the greeting.
    pub greeting: String,
    /// Largest message accepted, in bytes (advertised as `SIZE`, RFC 1870).
    /// Larger messages are refused at `MAIL FROM ... SIZE=` when announced,
    /// otherwise with `552 5.3.4` once the data ends. Default 50 MiB.
    pub max_message_size: u64,
    /// Most recipients in one transaction; more get `452 4.5.3`
    /// (RFC 5321 §4.5.3.1.8 requires at least 100). Default 100.
    pub max_recipients: usize,
    /// Longest command line in bytes, CRLF included; longer lines get
    /// `500 5.5.6` (RFC 5321 §4.5.3.1.4 minimum: 512). Default 1000.
    pub max_line_length: usize,
    /// Client errors (bad commands, syntax, unknown recipients, relay
    /// attempts) tolerated per connection; then `421 4.7.0` and close.
    /// Default 10.
    pub max_errors: u32,
    /// Seconds a client may stay silent (between commands or inside DATA)
    /// before `421 4.4.2` and close. RFC 5321 §4.5.3.2 suggests 5 minutes
    /// per command and 10 for data; one value keeps it simple. Default 300.
    pub idle_timeout_secs: u64,
    /// Slowloris defence: seconds one command line, or one message (DATA
    /// or BDAT to its end), may take to arrive, plus one second per
    /// `min_data_rate` octets of it; then `421 4.4.2` and close. Default 300.
    pub command_timeout_secs: u64,
    /// Octets per second a message must at least arrive at, past
    /// `command_timeout_secs` (see there). Default 1024.
    pub min_data_rate: u64,
    /// Refuse `MAIL FROM` with `530 5.7.0` until STARTTLS is done. Do not
    /// enable on a public MX: RFC 3207 §4 forbids requiring TLS there.
    /// Default false.
    pub require_tls: bool,
    /// Submission: offer and accept AUTH on connections without TLS. When
    /// false (the default), EHLO offers AUTH only after STARTTLS (or on an
    /// implicit-TLS listener) and AUTH before TLS gets `538 5.7.11`
    /// (RFC 8314 §3.3). Only for loopback tests.
    pub submission_allow_plaintext_auth: bool,
    /// Submission: failed AUTH attempts per connection; the last one is
    /// followed by `421 4.7.0` and the connection closes. Default 3.
    pub submission_max_auth_failures: u32,
    /// Submission: milliseconds to wait before answering a failed AUTH, to
    /// slow down password guessing. Default 1000; tests set 0.
    pub submission_auth_failure_delay_ms: u64,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            hostname: String::new(),
            greeting: "Pillarbox ready".to_string(),
            max_message_size: 50 * 1024 * 1024,
            max_recipients: 100,
            max_line_length: 1000,
            max_errors: 10,
            idle_timeout_secs: 300,
            command_timeout_secs: 300,
            min_data_rate: 1024,
            require_tls: false,
            submission_allow_plaintext_auth: false,
            submission_max_auth_failures: 3,
            submission_auth_failure_delay_ms: 1000,
        }
    }
}
