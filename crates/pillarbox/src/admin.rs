//! Administrative operations behind `pillarbox domain|user|alias`: input
//! normalisation and validation, then one store call each.

use pillarbox_store::{Account, Domain, Store, StoreError, StoredCredentials};

/// Why an admin operation failed; `Display` is the one-line reason the CLI
/// prints.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Store(#[from] StoreError),
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

pub async fn domain_add(store: &Store, name: &str) -> Result<Domain, AdminError> {
    Ok(store.create_domain(&normalize_domain(name)?).await?)
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
}
