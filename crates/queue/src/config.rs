//! Configuration of the outbound queue (`[queue]` in the configuration file).

use serde::{Deserialize, Serialize};

/// Outbound queue settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// The name sent in `EHLO` to remote servers and used in bounces.
    /// Empty: the server's global `hostname`.
    pub hostname: String,
    /// How long a message is retried before it bounces, in seconds
    /// (RFC 5321 §4.5.4.1: at least 4-5 days). Default: 5 days.
    pub lifetime_secs: u64,
    /// The delay before the first retry, in seconds; each further retry
    /// waits twice as long as the one before ...
    pub retry_initial_secs: u64,
    /// ... up to this many seconds.
    pub retry_max_secs: u64,
    /// After this many seconds without delivery, the sender gets one delay
    /// notice (RFC 3464 `delayed`). 0 disables delay notices.
    pub delay_notice_secs: u64,
    /// Timeout of each SMTP step (connect, command, data), in seconds.
    pub timeout_secs: u64,
    /// How many messages are delivered at once.
    pub concurrency: usize,
    /// How often the queue looks for due messages when nothing woke it,
    /// in seconds (a new submission wakes it at once).
    pub poll_interval_secs: u64,
    /// Opportunistic STARTTLS (RFC 3207) accepts any certificate, as RFC
    /// 7435 allows: it still defeats passive eavesdropping, and refusing
    /// would only make the delivery fall back to plaintext. Set true to
    /// require valid certificates (a failing handshake then falls back to
    /// plaintext delivery, as without STARTTLS).
    pub verify_certificates: bool,
    /// Connection reuse, as Postfix's connection cache: after a
    /// transaction the connection stays open this many seconds for the
    /// next message to the same server (address, port and TLS name),
    /// which then starts with MAIL FROM (RSET first if the previous
    /// transaction did not end cleanly, RFC 5321 §4.1.1.5). Expired
    /// connections are closed with QUIT; at most `concurrency` are kept.
    /// 0 disables reuse (one connection per delivery). Default: 2.
    pub connection_idle_secs: u64,
    /// How many transactions one connection carries before it is closed.
    /// Default: 100.
    pub connection_max_transactions: u32,
    /// Routes overriding MX lookup: mail for `domain` goes to `host:port`.
    /// `domain = "*"` is the smarthost (relayhost) for every other domain.
    /// Example:
    /// `[[queue.route]]` `domain = "example.net"` `host = "127.0.0.2"`
    /// `port = 2525`.
    #[serde(rename = "route", skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            hostname: String::new(),
            lifetime_secs: 5 * 24 * 3600,
            retry_initial_secs: 300,
            retry_max_secs: 4 * 3600,
            delay_notice_secs: 4 * 3600,
            timeout_secs: 300,
            concurrency: 16,
            poll_interval_secs: 15,
            verify_certificates: false,
            connection_idle_secs: 2,
            connection_max_transactions: 100,
            routes: Vec::new(),
        }
    }
}

/// A static route: a destination domain (or `*`) and the server to use.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// The recipient domain, lowercase, or `*` for every domain without
    /// its own route.
    pub domain: String,
    /// Host name or IP address of the server.
    pub host: String,
    /// Its SMTP port.
    #[serde(default = "default_port")]
    pub port: u16,
}

fn default_port() -> u16 {
    25
}

impl QueueConfig {
    /// The route for a recipient domain: its own, else `*`.
    pub fn route(&self, domain: &str) -> Option<&Route> {
        self.routes
            .iter()
            .find(|r| r.domain.eq_ignore_ascii_case(domain))
            .or_else(|| self.routes.iter().find(|r| r.domain == "*"))
    }

    /// RFC 5321 §4.5.4.1 backoff: the wait after `attempts` failed
    /// attempts (1 → `retry_initial_secs`, doubling, capped at
    /// `retry_max_secs`).
    pub fn retry_delay(&self, attempts: u32) -> u64 {
        let shift = attempts.saturating_sub(1).min(32);
        self.retry_initial_secs
            .max(1)
            .saturating_mul(1u64 << shift)
            .min(self.retry_max_secs.max(1))
    }
}

/// Where the queue's DNS queries go (the server's `[dns]` section).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsServers {
    /// `IP` or `IP:port`; empty: the system resolver.
    pub nameservers: Vec<String>,
    /// Per-query timeout in seconds.
    pub timeout_secs: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let c = QueueConfig::default();
        let waits: Vec<u64> = (1..=8).map(|n| c.retry_delay(n)).collect();
        assert_eq!(
            waits,
            [300, 600, 1200, 2400, 4800, 9600, 14400, 14400],
            "5m, 10m, 20m ... capped at 4h"
        );
        assert_eq!(c.retry_delay(1000), 14400);
    }

    #[test]
    fn routes_match_domain_then_star() {
        let mut c = QueueConfig::default();
        assert!(c.route("example.net").is_none());
        c.routes.push(Route {
            domain: "*".into(),
            host: "smarthost".into(),
            port: 587,
        });
        c.routes.push(Route {
            domain: "example.net".into(),
            host: "127.0.0.2".into(),
            port: 2525,
        });
        assert_eq!(c.route("EXAMPLE.net").map(|r| r.port), Some(2525));
        assert_eq!(
            c.route("other.org").map(|r| r.host.as_str()),
            Some("smarthost")
        );
    }
}
