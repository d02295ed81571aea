//! Configuration of the inbound pipeline.

use serde::{Deserialize, Serialize};

/// Inbound delivery settings (`[delivery]` in the configuration file).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// This server's host name, written in the `by` clause of the
    /// `Received:` header added to every delivered message (RFC 5321 §4.4).
    /// Empty: the server's global `hostname` (`localhost` if none is set).
    pub hostname: String,
    /// The subaddress separator: mail to `alice+lists@example.org` goes to
    /// `alice@example.org` when no address matches exactly. Empty disables
    /// subaddressing. Only the first occurrence splits the local part.
    pub subaddress_separator: String,
    /// How deep aliases may nest (an alias whose targets are aliases, ...).
    /// Deeper targets are ignored and logged.
    pub max_alias_depth: usize,
    /// How many addresses one recipient may expand to, counting every alias
    /// and target visited. Further targets are ignored and logged.
    pub max_alias_expansion: usize,
    /// Mail from other MTAs (the SMTP/MX listener) is checked with SPF
    /// (RFC 7208, HELO and MAIL FROM identities), DKIM (RFC 6376, every
    /// signature) and DMARC (RFC 7489), and the results are recorded in an
    /// `Authentication-Results:` header field (RFC 8601) naming `hostname`.
    /// Never done for LMTP (the MTA in front has checked) nor submission
    /// (the sender authenticated). DNS queries go to `[dns]`.
    pub verify_inbound: bool,
    /// A DMARC failure whose domain publishes `p=reject` is refused at the
    /// end of the data with `550 5.7.1`. When false, it is delivered like a
    /// `p=quarantine` failure, with the result recorded.
    pub dmarc_reject: bool,
    /// A DMARC failure whose domain publishes `p=quarantine` is delivered
    /// into the recipient's Junk mailbox instead of INBOX. When false, it
    /// goes to INBOX with the result recorded.
    pub dmarc_quarantine_to_junk: bool,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            hostname: String::new(),
            subaddress_separator: "+".to_string(),
            max_alias_depth: 8,
            max_alias_expansion: 1000,
            verify_inbound: true,
            dmarc_reject: true,
            dmarc_quarantine_to_junk: true,
        }
    }
}

/// The DNS resolver used for SPF, DKIM and DMARC (`[dns]` in the
/// configuration file).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DnsConfig {
    /// Name servers to query, as `"IP"` or `"IP:port"` (UDP, and TCP for
    /// truncated answers), e.g. `["127.0.0.1:5353"]` for a local test
    /// server. Empty: the system resolver (`/etc/resolv.conf`).
    pub nameservers: Vec<String>,
    /// How long to wait for one answer, in seconds. A lookup that times
    /// out is a temporary error: the message is still delivered, with
    /// `temperror` recorded.
    pub timeout_secs: u64,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            nameservers: Vec::new(),
            timeout_secs: 5,
        }
    }
}
