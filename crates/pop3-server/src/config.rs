//! Configuration of POP3 sessions (`[pop3]` in the configuration file).

use serde::{Deserialize, Serialize};

/// RFC 1939 §3: "an autologout timer ... MUST be of at least 10 minutes".
pub const MIN_IDLE_TIMEOUT_SECS: u64 = 600;

/// POP3 session settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Pop3Config {
    /// The host name in the greeting. Empty: the server's global `hostname`
    /// (or just `Pillarbox` if none is set).
    pub hostname: String,
    /// Allow USER/PASS and AUTH on connections without TLS. When false (the
    /// default), they are refused until STLS (or on the implicit-TLS port),
    /// and CAPA omits USER and SASL on such connections.
    pub allow_plaintext_auth: bool,
    /// Seconds a client may stay silent before the server closes the
    /// connection (without deleting anything). RFC 1939 §3 requires at least
    /// 600; smaller values are raised to 600. Default 600.
    pub idle_timeout_secs: u64,
    /// Slowloris defence: seconds a command line may take to arrive once
    /// begun; then `-ERR` and close (nothing deleted). Default 300.
    pub command_timeout_secs: u64,
    /// Failed authentication attempts allowed per connection; the last one
    /// closes the connection. Default 3.
    pub max_auth_failures: u32,
    /// Unknown, malformed, overlong or out-of-state commands tolerated per
    /// connection; the next closes the connection. Default 10.
    pub max_bad_commands: u32,
    /// Milliseconds to wait before answering a failed authentication, to
    /// slow down password guessing. Default 1000; tests set 0.
    pub auth_failure_delay_ms: u64,
    /// RFC 2449 §6.5 LOGIN-DELAY: minimum seconds between two logins of the
    /// same account; advertised in CAPA and enforced with
    /// `-ERR [LOGIN-DELAY]`. 0 (the default) disables it and it is not
    /// advertised.
    pub login_delay_secs: u64,
    /// RFC 2449 §6.7 EXPIRE: days the server keeps a retrieved message,
    /// advertised to clients so they know whether "leave on server" works.
    /// Not enforced by the POP3 server. Absent (the default): `EXPIRE NEVER`.
    pub expire_days: Option<u32>,
}

impl Default for Pop3Config {
    fn default() -> Self {
        Pop3Config {
            hostname: String::new(),
            allow_plaintext_auth: false,
            idle_timeout_secs: MIN_IDLE_TIMEOUT_SECS,
            command_timeout_secs: 300,
            max_auth_failures: 3,
            max_bad_commands: 10,
            auth_failure_delay_ms: 1000,
            login_delay_secs: 0,
            expire_days: None,
        }
    }
}
