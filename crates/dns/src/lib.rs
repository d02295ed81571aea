//! Resolver configuration shared by everything that queries DNS (inbound
//! SPF/DKIM/DMARC in `delivery`, MX lookup in `queue`): the configured name
//! servers (`IP` or `IP:port`, UDP and TCP) or the system's
//! (`/etc/resolv.conf`) when none are given, and the query timeout.
//!
//! Uses the hickory-resolver that `mail-auth` re-exports, so every resolver
//! in the process is the same version.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

pub use mail_auth::hickory_resolver;
use mail_auth::hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts,
};
use mail_auth::hickory_resolver::system_conf::read_system_conf;

/// Why a resolver could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DnsSetupError {
    /// A `[dns] nameservers` entry is neither `IP` nor `IP:port`.
    #[error("invalid name server address {0:?} (expected IP or IP:port)")]
    Nameserver(String),
    /// The system configuration (`/etc/resolv.conf`) or the resolver failed.
    #[error("cannot set up the DNS resolver: {0}")]
    Resolver(String),
}

/// Parses `IP` (port 53) or `IP:port` (`[v6]:port` for IPv6).
pub fn nameserver(text: &str) -> Result<SocketAddr, DnsSetupError> {
    let text = text.trim();
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    text.parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, 53))
        .map_err(|_| DnsSetupError::Nameserver(text.to_string()))
}

/// The resolver configuration and options for these name servers (the
/// system's when `nameservers` is empty) with a per-query timeout of
/// `timeout_secs` (at least one second).
pub fn resolver_config(
    nameservers: &[String],
    timeout_secs: u64,
) -> Result<(ResolverConfig, ResolverOpts), DnsSetupError> {
    let (config, mut options) = if nameservers.is_empty() {
        read_system_conf().map_err(|e| DnsSetupError::Resolver(e.to_string()))?
    } else {
        let mut servers = Vec::with_capacity(nameservers.len());
        for text in nameservers {
            let addr = nameserver(text)?;
            let mut udp = ConnectionConfig::udp();
            udp.port = addr.port();
            let mut tcp = ConnectionConfig::tcp();
            tcp.port = addr.port();
            servers.push(NameServerConfig::new(addr.ip(), true, vec![udp, tcp]));
        }
        (
            ResolverConfig::from_parts(None, Vec::new(), servers),
            ResolverOpts::default(),
        )
    };
    options.timeout = Duration::from_secs(timeout_secs.max(1));
    Ok((config, options))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nameserver_forms() {
        assert_eq!(
            nameserver("127.0.0.1").unwrap(),
            "127.0.0.1:53".parse().unwrap()
        );
        assert_eq!(
            nameserver("127.0.0.1:5353").unwrap(),
            "127.0.0.1:5353".parse().unwrap()
        );
        assert!(nameserver("[::1]:53").is_ok());
        assert!(nameserver("localhost").is_err());
    }
}
