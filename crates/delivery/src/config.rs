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
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            hostname: String::new(),
            subaddress_separator: "+".to_string(),
            max_alias_depth: 8,
            max_alias_expansion: 1000,
        }
    }
}
