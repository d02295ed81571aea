//! Administrative operations behind `pillarbox domain|user|alias`: input
//! normalisation and validation, then one store call each (plus DKIM key
//! generation for domains).

use pillarbox_store::{Account, DkimKey, Domain, Store, StoreError, StoredCredentials, UnixTime};

/// Why an admin operation failed; `Display` is the one-line reason the CLI
/// prints.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Dkim(#[from] pillarbox_dkim::DkimError),
}

/// Lowercases and checks a domain name (ASCII / IDNA A-label form).
pub fn normalize_domain(name: &str) -> Result<String, AdminError> {
    let d = name.trim().trim_end_matches('.').to_ascii_lowercase();
    if d.is_empty() || d.len() > 253 {
        return Err(AdminError::Invalid(format!(
            "invalid domain name: {name:?}"
        )));
    }
    if !d.is_ascii() {
        return Err(AdminError::Invalid(format!(
            "non-ASCII domain {name:?}: give its IDNA A-label (xn--...)"
        )));
    }
    for label in d.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !ok {
            return Err(AdminError::Invalid(format!(
                "invalid domain name: {name:?}"
            )));
        }
    }
    Ok(d)
}

/// Lowercases and checks an address `local@domain`.
pub fn normalize_address(address: &str) -> Result<String, AdminError> {
    let a = address.trim();
    let Some((local, domain)) = a.rsplit_once('@') else {
        return Err(AdminError::Invalid(format!(
            "invalid address {address:?}: expected local@domain"
        )));
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| !c.is_control() && !c.is_whitespace() && !"<>()[]\\,;:@\"".contains(c));
    if !local_ok {
        return Err(AdminError::Invalid(format!(
            "invalid local part in {address:?}"
        )));
    }
    let domain = normalize_domain(domain)?;
    Ok(format!("{}@{}", local.to_lowercase(), domain))
}

/// Adds a domain and gives it its DKIM keys (Ed25519 and RSA-2048, see
/// `pillarbox_dkim`). Should key generation fail, the domain stays and
/// [`domain_dkim`] makes the keys later.
pub async fn domain_add(store: &Store, name: &str) -> Result<Domain, AdminError> {
    let domain = store.create_domain(&normalize_domain(name)?).await?;
    pillarbox_dkim::ensure_keys(store, &domain.name, unix_now(), false).await?;
    Ok(domain)
}

/// Seconds since the Unix epoch (key creation times, dated selectors).
fn unix_now() -> UnixTime {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Makes the DKIM keys `domain` lacks (a domain added before keys
/// existed), or with `rotate` a new key of each algorithm; returns the
/// keys made. Works on the store directly, so a running server signs with
/// new keys from its next message.
pub async fn domain_dkim(
    store: &Store,
    domain: &str,
    rotate: bool,
) -> Result<Vec<DkimKey>, AdminError> {
    let domain = normalize_domain(domain)?;
    if store.domain(&domain).await?.is_none() {
        return Err(AdminError::Invalid(format!("unknown domain {domain}")));
    }
    Ok(pillarbox_dkim::ensure_keys(store, &domain, unix_now(), rotate).await?)
}

/// Removes one DKIM key of `domain` (after a rotation, once its DNS record
/// is gone).
pub async fn domain_dkim_remove(
    store: &Store,
    domain: &str,
    selector: &str,
) -> Result<(), AdminError> {
    Ok(store
        .remove_dkim_key(&normalize_domain(domain)?, selector)
        .await?)
}

pub async fn domain_remove(store: &Store, name: &str) -> Result<(), AdminError> {
    Ok(store.delete_domain(&normalize_domain(name)?).await?)
}

/// Sets (or with `None` clears) the account that receives mail for unknown
/// local parts of `domain`.
pub async fn domain_catch_all(
    store: &Store,
    domain: &str,
    account: Option<&str>,
) -> Result<(), AdminError> {
    let domain = normalize_domain(domain)?;
    let id = match account {
        None => None,
        Some(a) => {
            let login = normalize_address(a)?;
            let acc = store
                .account(&login)
                .await?
                .ok_or_else(|| AdminError::Invalid(format!("no such user: {login}")))?;
            Some(acc.id)
        }
    };
    Ok(store.set_catch_all(&domain, id).await?)
}

fn credentials(password: &str) -> Result<StoredCredentials, AdminError> {
    if password.is_empty() {
        return Err(AdminError::Invalid("the password must not be empty".into()));
    }
    let c = pillarbox_sasl::try_hash_password(password)
        .map_err(|e| AdminError::Invalid(format!("cannot use this password: {e}")))?;
    Ok(StoredCredentials {
        password_hash: c.password_hash,
        scram_sha256: Some(c.scram_sha256),
    })
}

pub async fn user_add(store: &Store, address: &str, password: &str) -> Result<Account, AdminError> {
    let login = normalize_address(address)?;
    let creds = credentials(password)?;
    Ok(store.create_account(&login, creds).await?)
}

pub async fn user_passwd(store: &Store, address: &str, password: &str) -> Result<(), AdminError> {
    let login = normalize_address(address)?;
    let creds = credentials(password)?;
    Ok(store.set_credentials(&login, creds).await?)
}

pub async fn user_remove(store: &Store, address: &str) -> Result<(), AdminError> {
    Ok(store.delete_account(&normalize_address(address)?).await?)
}

pub async fn alias_add(store: &Store, address: &str, target: &str) -> Result<(), AdminError> {
    let a = normalize_address(address)?;
    let t = normalize_address(target)?;
    if a == t {
        return Err(AdminError::Invalid(
            "an alias cannot point to itself".into(),
        ));
    }
    Ok(store.add_alias(&a, &t).await?)
}

/// One alias target, as `alias list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasTarget {
    pub address: String,
    /// In a domain we do not serve: mail is forwarded through the
    /// outbound queue.
    pub forwarded: bool,
}

/// Every alias with its targets, remote (forwarding) targets marked.
pub async fn alias_list(store: &Store) -> Result<Vec<(String, Vec<AliasTarget>)>, AdminError> {
    let mut ours: std::collections::HashMap<String, bool> = std::collections::HashMap::new();
    let mut out = Vec::new();
    for (alias, targets) in store.list_aliases().await? {
        let mut listed = Vec::with_capacity(targets.len());
        for address in targets {
            let domain = address.rsplit_once('@').map_or("", |(_, d)| d).to_string();
            let local = match ours.get(&domain) {
                Some(&local) => local,
                None => {
                    let local = store.domain(&domain).await?.is_some();
                    ours.insert(domain, local);
                    local
                }
            };
            listed.push(AliasTarget {
                address,
                forwarded: !local,
            });
        }
        out.push((alias, listed));
    }
    Ok(out)
}

pub async fn alias_remove(
    store: &Store,
    address: &str,
    target: Option<&str>,
) -> Result<(), AdminError> {
    let a = normalize_address(address)?;
    let t = target.map(normalize_address).transpose()?;
    Ok(store.remove_alias(&a, t.as_deref()).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_normalised() {
        assert_eq!(
            normalize_address(" Alice@Example.ORG ").expect("ok"),
            "alice@example.org"
        );
        assert!(normalize_address("alice").is_err());
        assert!(normalize_address("@example.org").is_err());
        assert!(normalize_address("a b@example.org").is_err());
        assert!(normalize_address("a@exa_mple.org").is_err());
        assert!(normalize_domain("bücher.de").is_err());
        assert_eq!(normalize_domain("Example.org.").expect("ok"), "example.org");
    }

    /// A remote alias target (forwarding) is accepted with address syntax
    /// checked, and listed as forwarded.
    #[tokio::test]
    async fn alias_to_a_remote_address_is_a_forward() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store: Store = pillarbox_store::sqlite::SqliteStore::open(dir.path()).expect("open");
        store.create_domain("example.org").await.expect("domain");
        alias_add(&store, "info@example.org", "postmaster@example.org")
            .await
            .expect("local target");
        alias_add(&store, "Info@example.org", " Bob@Gmail.example ")
            .await
            .expect("remote target");
        assert!(alias_add(&store, "info@example.org", "bob@").await.is_err());
        assert!(alias_add(&store, "info@example.org", "bob").await.is_err());
        let list = alias_list(&store).await.expect("list");
        assert_eq!(list.len(), 1);
        let (alias, targets) = &list[0];
        assert_eq!(alias, "info@example.org");
        let mut targets = targets.clone();
        targets.sort_by(|a, b| a.address.cmp(&b.address));
        assert_eq!(
            targets,
            vec![
                AliasTarget {
                    address: "bob@gmail.example".into(),
                    forwarded: true
                },
                AliasTarget {
                    address: "postmaster@example.org".into(),
                    forwarded: false
                },
            ]
        );
    }
}
