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

/// Longest mailbox name accepted, in bytes.
pub const MAX_MAILBOX_NAME: usize = 1000;

/// The hierarchy separator of mailbox names.
pub const MAILBOX_SEPARATOR: char = '/';

/// The canonical spelling of a mailbox name. `INBOX` in any case is `INBOX`
/// (RFC 9051 §5.1), also as the first level of a hierarchical name
/// (`inbox/x` is `INBOX/x`); other names are kept as given (UTF-8,
/// case-sensitive). Refused (`Invalid`): empty names, names with controls,
/// with the LIST wildcards `*` or `%`, with an empty hierarchy level (a
/// leading, trailing or doubled `/`), or longer than [`MAX_MAILBOX_NAME`].
pub fn mailbox(name: &str) -> Result<String, StoreError> {
    let bad = name.is_empty()
        || name.len() > MAX_MAILBOX_NAME
        || name.chars().any(|c| c.is_control() || c == '*' || c == '%')
        || name.split(MAILBOX_SEPARATOR).any(str::is_empty);
    if bad {
        return Err(StoreError::Invalid(format!("bad mailbox name {name:?}")));
    }
    Ok(match name.split_once(MAILBOX_SEPARATOR) {
        _ if name.eq_ignore_ascii_case("INBOX") => "INBOX".into(),
        Some((first, rest)) if first.eq_ignore_ascii_case("INBOX") => format!("INBOX/{rest}"),
        _ => name.to_owned(),
    })
}

/// The names of the hierarchy levels above a mailbox name, nearest first:
/// `a/b/c` gives `a/b`, then `a`. The store does not create these; a
/// protocol layer lists those that are not mailboxes themselves as
/// `\NonExistent \HasChildren` (RFC 5258) or `\Noselect`.
pub fn mailbox_parents(name: &str) -> impl Iterator<Item = &str> {
    let mut rest = name;
    std::iter::from_fn(move || {
        let (parent, _) = rest.rsplit_once(MAILBOX_SEPARATOR)?;
        rest = parent;
        Some(parent)
    })
}

/// Whether `name` is below `parent` in the hierarchy (not equal to it).
pub fn is_below(name: &str, parent: &str) -> bool {
    name.len() > parent.len() + 1
        && name.starts_with(parent)
        && name[parent.len()..].starts_with(MAILBOX_SEPARATOR)
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
        assert_eq!(mailbox("iNbOx/Sub/x").expect("valid"), "INBOX/Sub/x");
        assert_eq!(mailbox("INBOXES").expect("valid"), "INBOXES");
        assert!(mailbox("").is_err());
    }

    #[test]
    fn bad_mailbox_names_are_refused() {
        for bad in ["/a", "a/", "a//b", "a*", "b%", "a\tb", "x\u{7f}"] {
            assert!(mailbox(bad).is_err(), "{bad:?}");
        }
        assert!(mailbox(&"x".repeat(MAX_MAILBOX_NAME + 1)).is_err());
        assert_eq!(mailbox("Été/ünïcode").expect("valid"), "Été/ünïcode");
    }

    #[test]
    fn mailbox_hierarchy_helpers() {
        let parents: Vec<&str> = mailbox_parents("a/b/c").collect();
        assert_eq!(parents, ["a/b", "a"]);
        assert_eq!(mailbox_parents("a").count(), 0);
        assert!(is_below("a/b", "a"));
        assert!(is_below("a/b/c", "a"));
        assert!(!is_below("a", "a"));
        assert!(!is_below("ab/c", "a"));
    }
}
