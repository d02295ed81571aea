//! Normalisation and validation of the names the store keys on: domains,
//! addresses (account logins, aliases) and keywords. Shared by backends so
//! they all accept and refuse the same input.

use crate::error::StoreError;

fn has_bad_char(s: &str) -> bool {
    s.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Lowercases and validates a domain name (expected as an IDNA A-label,
/// but any non-empty name without `@`, whitespace or controls is accepted).
pub fn domain(name: &str) -> Result<String, StoreError> {
    let name = name.to_lowercase();
    if name.is_empty()
        || name.contains('@')
        || has_bad_char(&name)
        || name.starts_with('.')
        || name.ends_with('.')
        || name.contains("..")
    {
        return Err(StoreError::Invalid(format!("bad domain name {name:?}")));
    }
    Ok(name)
}

/// Lowercases and validates `local@domain`; returns the address and its
/// domain part. The local part is everything before the last `@`.
pub fn address(addr: &str) -> Result<(String, String), StoreError> {
    let addr = addr.to_lowercase();
    let bad = || StoreError::Invalid(format!("bad address {addr:?}"));
    let (local, dom) = addr.rsplit_once('@').ok_or_else(bad)?;
    if local.is_empty() || has_bad_char(local) {
        return Err(bad());
    }
    let dom = domain(dom).map_err(|_| bad())?;
    Ok((addr.clone(), dom))
}

/// Validates keywords (IMAP flag keywords such as `$Forwarded`): non-empty,
/// no whitespace, controls, or IMAP specials. Case is kept; duplicates
/// (compared case-insensitively, RFC 9051 §2.3.2) are dropped.
pub fn keywords(list: &[String]) -> Result<Vec<String>, StoreError> {
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for k in list {
        if k.is_empty()
            || has_bad_char(k)
            || k.starts_with('\\')
            || k.chars().any(|c| "(){%*\"]".contains(c))
        {
            return Err(StoreError::Invalid(format!("bad keyword {k:?}")));
        }
        if !out.iter().any(|o| o.eq_ignore_ascii_case(k)) {
            out.push(k.clone());
        }
    }
    Ok(out)
}

/// The canonical spelling of a mailbox name: `INBOX` in any case is
/// `INBOX` (RFC 9051 §5.1); other names are kept as given. Empty names and
/// names with controls are refused.
pub fn mailbox(name: &str) -> Result<String, StoreError> {
    if name.eq_ignore_ascii_case("INBOX") {
        return Ok("INBOX".into());
    }
    if name.is_empty() || name.chars().any(char::is_control) {
        return Err(StoreError::Invalid(format!("bad mailbox name {name:?}")));
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_lowercased_and_split() {
        let (a, d) = address("Alice@Example.ORG").expect("valid");
        assert_eq!(a, "alice@example.org");
        assert_eq!(d, "example.org");
        assert!(address("alice").is_err());
        assert!(address("@example.org").is_err());
        assert!(address("alice@").is_err());
        assert!(address("al ice@example.org").is_err());
        assert!(address("").is_err());
    }

    #[test]
    fn keywords_are_deduplicated_case_insensitively() {
        let k = keywords(&["$Forwarded".into(), "$forwarded".into(), "x".into()]).expect("valid");
        assert_eq!(k, vec!["$Forwarded".to_string(), "x".to_string()]);
        assert!(keywords(&["a b".into()]).is_err());
        assert!(keywords(&["\\Seen".into()]).is_err());
    }

    #[test]
    fn inbox_is_case_insensitive() {
        assert_eq!(mailbox("inbox").expect("valid"), "INBOX");
        assert_eq!(mailbox("Work/Inbox").expect("valid"), "Work/Inbox");
        assert!(mailbox("").is_err());
    }
}
