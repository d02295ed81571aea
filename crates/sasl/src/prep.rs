//! SASLprep (RFC 4013) for user names and passwords.

use crate::error::SaslError;

/// RFC 4013 SASLprep of a user name or authorization identity, as a query
/// string would be prepared by the client. Empty results are refused.
pub fn prepare_username(s: &str) -> Result<String, SaslError> {
    let prepared = stringprep::saslprep(s).map_err(|_| SaslError::Prep)?;
    if prepared.is_empty() {
        return Err(SaslError::Prep);
    }
    Ok(prepared.into_owned())
}

/// RFC 4013 SASLprep of a password, used both when a password is set and
/// when it is checked, so the two always agree.
///
/// A password that SASLprep rejects (e.g. it contains a control character)
/// is used as its raw UTF-8 bytes rather than refused: the same rule applies
/// on both sides, and refusing would lock such users out. This is the
/// behaviour RFC 5802 §2.2 leaves to the implementation.
pub fn prepare_password(s: &str) -> std::borrow::Cow<'_, str> {
    match stringprep::saslprep(s) {
        Ok(p) if !p.is_empty() => p,
        _ => std::borrow::Cow::Borrowed(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4013_examples() {
        // RFC 4013 §3 examples.
        assert_eq!(prepare_username("I\u{00AD}X").unwrap(), "IX");
        assert_eq!(prepare_username("user").unwrap(), "user");
        assert_eq!(prepare_username("USER").unwrap(), "USER");
        assert_eq!(prepare_username("\u{00AA}").unwrap(), "a");
        assert_eq!(prepare_username("\u{2168}").unwrap(), "IX");
        assert!(prepare_username("\u{0007}").is_err());
        assert!(prepare_username("\u{0627}\u{0031}").is_err());
        assert!(prepare_username("\u{00AD}").is_err());
    }

    #[test]
    fn password_non_ascii_space_maps_to_space() {
        assert_eq!(prepare_password("a\u{00A0}b"), "a b");
        // Prohibited: falls back to the raw string instead of failing.
        assert_eq!(prepare_password("a\u{0007}b"), "a\u{0007}b");
    }
}
