//! Mailbox names: INBOX case-insensitivity (RFC 9051 §5.1), modified UTF-7
//! (RFC 3501 §5.1.3) or raw UTF-8 after `ENABLE UTF8=ACCEPT` (RFC 6855 §3,
//! RFC 9051 §6.3.1).

use std::fmt;

use crate::utf7::{Utf7Error, decode_utf7, encode_utf7};

/// A mailbox name as a Unicode string, independent of its wire form.
///
/// Any spelling of `INBOX` (case-insensitive) is normalised to `INBOX`, so
/// `Mailbox` equality is the equality of IMAP names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mailbox(String);

/// Why a wire mailbox name was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MailboxError {
    #[error("mailbox name is not valid modified UTF-7: {0}")]
    Utf7(#[from] Utf7Error),
    #[error("mailbox name is not valid UTF-8")]
    Utf8,
    #[error("mailbox name contains control characters")]
    Control,
}

impl Mailbox {
    /// A mailbox from a Unicode name (INBOX normalised).
    pub fn new(name: impl Into<String>) -> Mailbox {
        let name = name.into();
        if name.eq_ignore_ascii_case("INBOX") {
            Mailbox("INBOX".to_string())
        } else {
            Mailbox(name)
        }
    }

    /// Decode the octets of an `astring` mailbox argument. With `utf8`
    /// (UTF8=ACCEPT enabled) the name is raw UTF-8 and `&` is literal;
    /// otherwise it must be modified UTF-7.
    pub fn from_wire(raw: &[u8], utf8: bool) -> Result<Mailbox, MailboxError> {
        Ok(Mailbox::new(decode_name(raw, utf8)?))
    }

    /// The Unicode name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for INBOX.
    pub fn is_inbox(&self) -> bool {
        self.0 == "INBOX"
    }

    /// The wire spelling: raw UTF-8 with `utf8`, otherwise modified UTF-7.
    pub fn to_wire(&self, utf8: bool) -> String {
        wire_name(&self.0, utf8)
    }
}

impl fmt::Display for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The wire spelling of a name or prefix (no INBOX normalisation).
pub(crate) fn wire_name(name: &str, utf8: bool) -> String {
    if utf8 {
        name.to_string()
    } else {
        encode_utf7(name)
    }
}

/// Decode a wire name or pattern (no INBOX normalisation).
pub(crate) fn decode_name(raw: &[u8], utf8: bool) -> Result<String, MailboxError> {
    if raw.iter().any(|&b| b < 0x20 || b == 0x7f) {
        return Err(MailboxError::Control);
    }
    if utf8 {
        String::from_utf8(raw.to_vec()).map_err(|_| MailboxError::Utf8)
    } else {
        Ok(decode_utf7(raw)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inbox_is_case_insensitive() {
        assert_eq!(Mailbox::new("inBox"), Mailbox::new("INBOX"));
        assert!(Mailbox::from_wire(b"Inbox", false).unwrap().is_inbox());
        assert!(!Mailbox::new("INBOX/sub").is_inbox());
    }

    #[test]
    fn wire_forms() {
        let m = Mailbox::from_wire(b"&ZeVnLIqe-", false).unwrap();
        assert_eq!(m.as_str(), "\u{65e5}\u{672c}\u{8a9e}");
        assert_eq!(m.to_wire(false), "&ZeVnLIqe-");
        assert_eq!(m.to_wire(true), "\u{65e5}\u{672c}\u{8a9e}");
        let raw = Mailbox::from_wire("A&B \u{e9}".as_bytes(), true).unwrap();
        assert_eq!(raw.as_str(), "A&B \u{e9}");
        assert!(Mailbox::from_wire("\u{e9}".as_bytes(), false).is_err());
        assert!(Mailbox::from_wire(b"\xff", true).is_err());
    }
}
