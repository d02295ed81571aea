//! Where mail for a domain goes (RFC 5321 §5.1): its MX hosts by
//! preference, else the domain itself (implicit MX, A/AAAA); a null MX
//! (RFC 7505) means the domain accepts no mail.

use std::net::IpAddr;

use mail_auth::hickory_resolver::TokioResolver;
use mail_auth::hickory_resolver::net::runtime::TokioRuntimeProvider;
use mail_auth::hickory_resolver::proto::rr::{RData, RecordType};

use pillarbox_dns::resolver_config;

use crate::QueueError;
use crate::config::DnsServers;

/// One host to try, with its addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MxHost {
    /// Host name without the trailing dot (the TLS server name).
    pub name: String,
    pub addrs: Vec<IpAddr>,
}

/// Why a domain has no host to deliver to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MxError {
    /// RFC 7505: the domain publishes a null MX.
    NullMx,
    /// The domain does not exist, or has neither MX nor address records.
    NoSuchDomain,
    /// DNS failed; try later.
    Temporary(String),
}

/// MX resolution with an injected resolver.
pub struct MxResolver {
    resolver: TokioResolver,
}

impl std::fmt::Debug for MxResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MxResolver").finish_non_exhaustive()
    }
}

impl MxResolver {
    /// A resolver querying `dns`'s name servers (the system's when none).
    /// Must be called inside a tokio runtime.
    pub fn new(dns: &DnsServers) -> Result<MxResolver, QueueError> {
        let (config, options) =
            resolver_config(&dns.nameservers, dns.timeout_secs).map_err(|e| match e {
                // QueueError::Dns already says "cannot set up the DNS resolver".
                pillarbox_dns::DnsSetupError::Resolver(m) => QueueError::Dns(m),
                other => QueueError::Dns(other.to_string()),
            })?;
        let resolver = TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
            .with_options(options)
            .build()
            .map_err(|e| QueueError::Dns(e.to_string()))?;
        Ok(MxResolver { resolver })
    }

    /// The hosts for `domain`, most preferred first (RFC 5321 §5.1; equal
    /// preferences are shuffled). Hosts without addresses are skipped.
    pub async fn hosts(&self, domain: &str) -> Result<Vec<MxHost>, MxError> {
        let fqdn = format!("{}.", domain.trim_end_matches('.'));
        match self.resolver.lookup(fqdn.as_str(), RecordType::MX).await {
            Ok(lookup) => {
                let mut mx: Vec<(u16, String)> = lookup
                    .answers()
                    .iter()
                    .filter_map(|r| match &r.data {
                        RData::MX(mx) => Some((mx.preference, mx.exchange.to_ascii())),
                        _ => None,
                    })
                    .collect();
                // RFC 7505 §3: a single MX with an empty exchange ("."), and
                // §4.3: also when mixed with others.
                if mx.iter().any(|(_, name)| name == "." || name.is_empty()) {
                    return Err(MxError::NullMx);
                }
                if mx.is_empty() {
                    return self.implicit(domain).await;
                }
                {
                    use rand::seq::SliceRandom;
                    mx.shuffle(&mut rand::thread_rng());
                }
                mx.sort_by_key(|(pref, _)| *pref);
                let mut hosts = Vec::new();
                let mut last_error = None;
                for (_, name) in mx {
                    let name = name.trim_end_matches('.').to_string();
                    match self.addresses(&name).await {
                        Ok(addrs) if !addrs.is_empty() => hosts.push(MxHost { name, addrs }),
                        Ok(_) => {}
                        Err(e) => last_error = Some(e),
                    }
                }
                match (hosts.is_empty(), last_error) {
                    (true, Some(e)) => Err(e),
                    (true, None) => Err(MxError::NoSuchDomain),
                    (false, _) => Ok(hosts),
                }
            }
            Err(e) if e.is_nx_domain() => Err(MxError::NoSuchDomain),
            // RFC 5321 §5.1: no MX records: the domain is its own MX.
            Err(e) if e.is_no_records_found() => self.implicit(domain).await,
            Err(e) => Err(MxError::Temporary(e.to_string())),
        }
    }

    async fn implicit(&self, domain: &str) -> Result<Vec<MxHost>, MxError> {
        let name = domain.trim_end_matches('.').to_string();
        let addrs = self.addresses(&name).await?;
        if addrs.is_empty() {
            return Err(MxError::NoSuchDomain);
        }
        Ok(vec![MxHost { name, addrs }])
    }

    /// The A and AAAA addresses of a host (an IP literal is itself).
    pub async fn addresses(&self, host: &str) -> Result<Vec<IpAddr>, MxError> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![ip]);
        }
        let fqdn = format!("{}.", host.trim_end_matches('.'));
        match self.resolver.lookup_ip(fqdn.as_str()).await {
            Ok(ips) => Ok(ips.iter().collect()),
            Err(e) if e.is_nx_domain() || e.is_no_records_found() => Ok(Vec::new()),
            Err(e) => Err(MxError::Temporary(e.to_string())),
        }
    }
}
