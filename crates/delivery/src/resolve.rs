//! Recipient resolution: exact address (account or alias, expanded
//! recursively), then `local+tag` → `local`, then the domain's catch-all.

use std::collections::{HashMap, HashSet, VecDeque};

use pillarbox_store::{AccountId, AddressTarget, Domain, StoreError};

use crate::Delivery;

/// What a recipient address means to this server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// The address is in one of our domains and reaches these accounts
    /// (deduplicated, in the order first reached). `remote` lists alias
    /// targets in domains that are not ours (forwarding, lowercased, in
    /// the order first reached): the SMTP server queues a copy for them
    /// when it has an outbound queue (see [`crate::forward`]), and refuses
    /// a recipient reaching only remote targets when it has none.
    /// `accounts` and `remote` are never both empty.
    Local {
        accounts: Vec<AccountId>,
        remote: Vec<String>,
    },
    /// The domain is not one of ours (relaying is the caller's policy).
    NotLocalDomain,
    /// The domain is ours but nothing matches (no account, alias or
    /// catch-all), or every alias target was unknown.
    UnknownUser,
    /// The store failed; try again later.
    TemporaryFailure,
}

impl Resolution {
    /// The local accounts, if the address is local.
    pub fn accounts(&self) -> &[AccountId] {
        match self {
            Resolution::Local { accounts, .. } => accounts,
            _ => &[],
        }
    }
}

/// Splits `local@domain` at the last `@`. Both parts must be non-empty.
pub(crate) fn split_address(address: &str) -> Option<(&str, &str)> {
    let (local, domain) = address.rsplit_once('@')?;
    (!local.is_empty() && !domain.is_empty()).then_some((local, domain))
}

/// The outcome of looking up one address without expanding aliases.
enum Step {
    Target(AddressTarget),
    Remote,
    Unknown,
}

impl Delivery {
    /// Resolves one recipient address (RFC 5321 forward-path without the
    /// angle brackets). Case-insensitive: the address is lowercased.
    pub async fn resolve(&self, address: &str) -> Resolution {
        match self.expand(address).await {
            Ok(resolution) => resolution,
            Err(error) => {
                tracing::warn!(%address, %error, "recipient resolution failed");
                Resolution::TemporaryFailure
            }
        }
    }

    async fn expand(&self, address: &str) -> Result<Resolution, StoreError> {
        let address = address.to_lowercase();
        let mut domains: HashMap<String, Option<Domain>> = HashMap::new();
        Ok(match self.lookup(&address, &mut domains).await? {
            Step::Remote => Resolution::NotLocalDomain,
            Step::Unknown => Resolution::UnknownUser,
            Step::Target(AddressTarget::Account(id)) => Resolution::Local {
                accounts: vec![id],
                remote: Vec::new(),
            },
            Step::Target(AddressTarget::Alias(targets)) => {
                self.expand_alias(&address, targets, &mut domains).await?
            }
        })
    }

    /// Breadth-first alias expansion with loop detection and limits.
    async fn expand_alias(
        &self,
        address: &str,
        targets: Vec<String>,
        domains: &mut HashMap<String, Option<Domain>>,
    ) -> Result<Resolution, StoreError> {
        let mut accounts = Vec::new();
        let mut remote = Vec::new();
        let mut seen_accounts = HashSet::new();
        let mut visited = HashSet::from([address.to_string()]);
        let mut queue: VecDeque<(String, usize)> = VecDeque::new();
        self.enqueue(address, targets, 1, &mut visited, &mut queue);
        while let Some((target, depth)) = queue.pop_front() {
            match self.lookup(&target, domains).await? {
                Step::Remote => remote.push(target),
                Step::Unknown => {
                    tracing::warn!(alias = %address, %target, "alias target does not exist");
                }
                Step::Target(AddressTarget::Account(id)) => {
                    if seen_accounts.insert(id) {
                        accounts.push(id);
                    }
                }
                Step::Target(AddressTarget::Alias(targets)) => {
                    self.enqueue(&target, targets, depth + 1, &mut visited, &mut queue);
                }
            }
        }
        Ok(if accounts.is_empty() && remote.is_empty() {
            Resolution::UnknownUser
        } else {
            Resolution::Local { accounts, remote }
        })
    }

    /// Queues the targets of `alias` at `depth`, skipping addresses already
    /// visited (alias loops) and anything past the depth/size limits.
    fn enqueue(
        &self,
        alias: &str,
        targets: Vec<String>,
        depth: usize,
        visited: &mut HashSet<String>,
        queue: &mut VecDeque<(String, usize)>,
    ) {
        if depth > self.config.max_alias_depth {
            tracing::warn!(%alias, depth, "alias nesting too deep; targets ignored");
            return;
        }
        for target in targets {
            if visited.len() >= self.config.max_alias_expansion {
                tracing::warn!(%alias, "alias expansion too large; targets ignored");
                return;
            }
            let target = target.to_lowercase();
            if visited.insert(target.clone()) {
                queue.push_back((target, depth));
            }
        }
    }

    /// One address: exact match, then without the `+tag`, then catch-all.
    async fn lookup(
        &self,
        address: &str,
        domains: &mut HashMap<String, Option<Domain>>,
    ) -> Result<Step, StoreError> {
        let Some((local, domain_name)) = split_address(address) else {
            return Ok(Step::Unknown);
        };
        let (domain, target) = match domains.get(domain_name) {
            Some(None) => return Ok(Step::Remote),
            Some(Some(domain)) => (domain.clone(), self.store.lookup_address(address).await?),
            None => {
                // Domain and address in one store call.
                let (domain, target) = self.store.lookup_recipient(domain_name, address).await?;
                domains.insert(domain_name.to_string(), domain.clone());
                let Some(domain) = domain else {
                    return Ok(Step::Remote);
                };
                (domain, target)
            }
        };
        if let Some(target) = target {
            return Ok(Step::Target(target));
        }
        let separator = self.config.subaddress_separator.as_str();
        if !separator.is_empty()
            && let Some((base, _tag)) = local.split_once(separator)
            && !base.is_empty()
        {
            let base_address = format!("{base}@{domain_name}");
            if let Some(target) = self.store.lookup_address(&base_address).await? {
                return Ok(Step::Target(target));
            }
        }
        Ok(match domain.catch_all {
            Some(id) => Step::Target(AddressTarget::Account(id)),
            None => Step::Unknown,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::split_address;

    #[test]
    fn split_address_needs_both_parts() {
        assert_eq!(split_address("a@b"), Some(("a", "b")));
        assert_eq!(split_address("\"a@x\"@b"), Some(("\"a@x\"", "b")));
        assert_eq!(split_address("@b"), None);
        assert_eq!(split_address("a@"), None);
        assert_eq!(split_address("ab"), None);
    }
}
