//! The TOML configuration. Every field has a default that works, so no file
//! is needed for the quick start; unknown fields are errors.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use pillarbox_delivery::{DeliveryConfig, DnsConfig};
use pillarbox_imap_server::ImapConfig;
use pillarbox_pop3_server::Pop3Config;
use pillarbox_queue::QueueConfig;
use pillarbox_smtp_server::SmtpConfig;
use serde::{Deserialize, Serialize};

/// The whole configuration.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// This server's host name: used in greetings, `Received:` headers and
    /// the self-signed certificate. Default: `localhost`.
    pub hostname: String,
    /// The certificate for STARTTLS and implicit-TLS listeners.
    pub tls: TlsConfig,
    /// The listeners. Default: the quick-start set on 127.0.0.1 (SMTP 2525,
    /// submission 5587 with STARTTLS and 5465 over TLS, LMTP 2424, POP3
    /// 1110, POP3 over TLS 1995, IMAP 1143, IMAP over TLS 1993).
    #[serde(rename = "listener")]
    pub listeners: Vec<ListenerConfig>,
    /// Connection limits shared by all listeners.
    pub limits: LimitsConfig,
    /// SMTP (MX), submission and LMTP sessions.
    pub smtp: SmtpConfig,
    /// POP3 sessions.
    pub pop3: Pop3Config,
    /// IMAP sessions.
    pub imap: ImapConfig,
    /// Brute-force protection of password authentication, shared by SMTP
    /// submission, IMAP and POP3: failures counted per client address and
    /// per login, an increasing delay, and hard limits.
    pub auth: pillarbox_sasl::AuthLimits,
    /// Inbound delivery: recipient resolution and headers added on receipt.
    pub delivery: DeliveryConfig,
    /// The DNS resolver for SPF/DKIM/DMARC checks of inbound mail and
    /// the outbound queue's MX lookups.
    pub dns: DnsConfig,
    /// The outbound queue: delivery of submitted mail to other domains.
    pub queue: QueueConfig,
    /// Log filter in `tracing` syntax, e.g. `info` or `pillarbox=debug`.
    /// The `RUST_LOG` environment variable overrides it.
    pub log: String,
}

/// TLS certificate files.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// PEM certificate chain. Without `cert` and `key` a self-signed ECDSA
    /// P-256 certificate is generated in `DATA/tls/` and reused.
    pub cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: Option<PathBuf>,
}

/// What a listener speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// SMTP for mail from the Internet (MX; port 25 in production).
    Smtp,
    /// Message submission from users' mail clients, with AUTH (RFC 6409;
    /// port 587 with STARTTLS, 465 with `tls = "implicit"`, RFC 8314).
    Submission,
    /// LMTP (RFC 2033) for hand-off from another MTA, e.g. Postfix.
    Lmtp,
    /// POP3 (port 110 with STLS, 995 with `tls = "implicit"`).
    Pop3,
    /// IMAP (port 143 with STARTTLS, 993 with `tls = "implicit"`).
    Imap,
}

/// How a listener uses TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Plaintext only; no STARTTLS/STLS offered.
    None,
    /// Plaintext with STARTTLS (SMTP, submission, LMTP, IMAP) or STLS
    /// (POP3) offered.
    Starttls,
    /// TLS from the first byte (ports 465/995 style).
    Implicit,
}

/// One listening socket.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    pub protocol: Protocol,
    /// `IP:port`; `[::]:25` or `0.0.0.0:25` for all interfaces.
    pub address: SocketAddr,
    /// Default `starttls`.
    #[serde(default = "default_tls_mode")]
    pub tls: TlsMode,
}

fn default_tls_mode() -> TlsMode {
    TlsMode::Starttls
}

impl ListenerConfig {
    /// A short name for logs, e.g. `pop3s`.
    pub fn name(&self) -> String {
        let base = match self.protocol {
            Protocol::Smtp => "smtp",
            Protocol::Submission => "submission",
            Protocol::Lmtp => "lmtp",
            Protocol::Pop3 => "pop3",
            Protocol::Imap => "imap",
        };
        if self.tls == TlsMode::Implicit {
            format!("{base}s")
        } else {
            base.to_string()
        }
    }
}

/// Connection limits.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Simultaneous connections from one IP address, all listeners together.
    pub connections_per_ip: usize,
    /// Simultaneous connections in total.
    pub connections_total: usize,
    /// Seconds a TLS handshake may take.
    pub tls_handshake_timeout_secs: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            connections_per_ip: 50,
            connections_total: 10_000,
            tls_handshake_timeout_secs: 30,
        }
    }
}

/// The quick-start listeners, all on 127.0.0.1.
pub fn quick_start_listeners() -> Vec<ListenerConfig> {
    let l = |protocol, port: u16, tls| ListenerConfig {
        protocol,
        address: SocketAddr::from(([127, 0, 0, 1], port)),
        tls,
    };
    vec![
        l(Protocol::Smtp, 2525, TlsMode::Starttls),
        l(Protocol::Submission, 5587, TlsMode::Starttls),
        l(Protocol::Submission, 5465, TlsMode::Implicit),
        l(Protocol::Lmtp, 2424, TlsMode::None),
        l(Protocol::Pop3, 1110, TlsMode::Starttls),
        l(Protocol::Pop3, 1995, TlsMode::Implicit),
        l(Protocol::Imap, 1143, TlsMode::Starttls),
        l(Protocol::Imap, 1993, TlsMode::Implicit),
    ]
}

impl Default for Config {
    fn default() -> Self {
        Config {
            hostname: "localhost".into(),
            tls: TlsConfig::default(),
            listeners: quick_start_listeners(),
            limits: LimitsConfig::default(),
            smtp: SmtpConfig::default(),
            pop3: Pop3Config::default(),
            imap: ImapConfig::default(),
            auth: pillarbox_sasl::AuthLimits::default(),
            delivery: DeliveryConfig::default(),
            dns: DnsConfig::default(),
            queue: QueueConfig::default(),
            log: "info".into(),
        }
    }
}

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{0}")]
    Invalid(String),
}

impl Config {
    /// Parses TOML text (`origin` names it in errors) and validates it.
    pub fn from_toml(text: &str, origin: &Path) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_owned(),
            message: e.to_string(),
        })?;
        config.finish()?;
        Ok(config)
    }

    /// Reads the file, or returns the defaults when `path` is `None`.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        match path {
            None => {
                let mut c = Config::default();
                c.finish()?;
                Ok(c)
            }
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.to_owned(),
                    source,
                })?;
                Config::from_toml(&text, p)
            }
        }
    }

    /// Fills derived values and checks cross-field rules.
    fn finish(&mut self) -> Result<(), ConfigError> {
        self.hostname = self.hostname.trim().to_ascii_lowercase();
        if self.hostname.is_empty() {
            return Err(ConfigError::Invalid("hostname must not be empty".into()));
        }
        if self.smtp.hostname.is_empty() {
            self.smtp.hostname = self.hostname.clone();
        }
        if self.imap.hostname.is_empty() {
            self.imap.hostname = self.hostname.clone();
        }
        if self.pop3.hostname.is_empty() {
            self.pop3.hostname = self.hostname.clone();
        }
        if self.delivery.hostname.is_empty() {
            self.delivery.hostname = self.hostname.clone();
        }
        if self.tls.cert.is_some() != self.tls.key.is_some() {
            return Err(ConfigError::Invalid(
                "tls.cert and tls.key must be given together".into(),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for l in &self.listeners {
            if l.address.port() != 0 && !seen.insert(l.address) {
                return Err(ConfigError::Invalid(format!(
                    "two listeners on {}",
                    l.address
                )));
            }
            // RFC 8314 §3.3: no AUTH in cleartext, so such a listener
            // could never accept a message.
            if l.protocol == Protocol::Submission
                && l.tls == TlsMode::None
                && !self.smtp.submission_allow_plaintext_auth
            {
                return Err(ConfigError::Invalid(format!(
                    "the submission listener on {} has tls = \"none\": clients could never \
                     authenticate (use starttls or implicit, or set \
                     smtp.submission_allow_plaintext_auth for tests)",
                    l.address
                )));
            }
        }
        if self.limits.connections_per_ip == 0 || self.limits.connections_total == 0 {
            return Err(ConfigError::Invalid("connection limits must be > 0".into()));
        }
        Ok(())
    }
}

/// The commented reference configuration printed by `pillarbox config example`.
pub const EXAMPLE: &str = include_str!("../config.example.toml");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_quick_start() {
        let c = Config::load(None).expect("defaults");
        assert_eq!(c.listeners.len(), 8);
        assert!(
            c.listeners.iter().any(|l| l.name() == "submissions"
                && l.address == SocketAddr::from(([127, 0, 0, 1], 5465)))
        );
        assert_eq!(c.smtp.hostname, "localhost");
    }

    #[test]
    fn example_parses() {
        Config::from_toml(EXAMPLE, Path::new("example")).expect("example parses");
    }

    /// The reference configuration shows every default exactly, so the
    /// example and the code cannot drift apart.
    #[test]
    fn example_equals_the_defaults() {
        let example: toml::Value = toml::from_str(EXAMPLE).expect("example parses");
        let defaults = toml::Value::try_from(Config::default()).expect("defaults serialise");
        assert_eq!(example, defaults);
    }

    #[test]
    fn cleartext_submission_needs_plaintext_auth() {
        let listener =
            "[[listener]]\nprotocol = \"submission\"\naddress = \"127.0.0.1:0\"\ntls = \"none\"\n";
        let e = Config::from_toml(listener, Path::new("t")).expect_err("refused");
        assert!(e.to_string().contains("submission"), "{e}");
        let allowed = format!("[smtp]\nsubmission_allow_plaintext_auth = true\n{listener}");
        Config::from_toml(&allowed, Path::new("t")).expect("allowed for tests");
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let e = Config::from_toml("hostnme = \"x\"", Path::new("t")).expect_err("unknown");
        assert!(e.to_string().contains("hostnme"), "{e}");
    }
}
