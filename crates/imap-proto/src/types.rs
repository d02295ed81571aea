//! Small value types shared by commands and responses: tags, flags,
//! special-use attributes.

use std::fmt;

use crate::chars::{is_atom_char, is_tag_char};

/// A command tag (RFC 9051 `tag`): one or more ASTRING-CHARs except `+`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(String);

impl Tag {
    /// `None` unless `s` is a valid tag.
    pub fn new(s: &str) -> Option<Tag> {
        Tag::from_bytes(s.as_bytes())
    }

    pub(crate) fn from_bytes(b: &[u8]) -> Option<Tag> {
        if b.is_empty() || !b.iter().all(|&c| is_tag_char(c)) {
            return None;
        }
        // All tag chars are ASCII.
        Some(Tag(String::from_utf8_lossy(b).into_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// True when `s` is a non-empty atom (1*ATOM-CHAR).
pub(crate) fn is_atom(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_atom_char)
}

/// A message flag (RFC 9051 `flag`, `flag-fetch`, `flag-perm`).
///
/// System flags compare case-insensitively on the wire and are normalised
/// to their variant; keywords keep their spelling (servers compare them
/// case-insensitively).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Flag {
    Answered,
    Flagged,
    Deleted,
    Seen,
    Draft,
    /// `\Recent` (RFC 3501; fetch only, never stored by clients).
    Recent,
    /// `\*` in PERMANENTFLAGS: clients may create keywords.
    MayCreate,
    /// A keyword atom, e.g. `$Forwarded`, `$Junk`, `work`.
    Keyword(String),
    /// `\` atom other than the system flags (flag-extension). Stored
    /// without the backslash.
    Extension(String),
}

impl Flag {
    /// Parse one flag from its wire spelling (`\Seen`, `$Junk`, `\*`).
    pub fn parse(s: &str) -> Option<Flag> {
        if let Some(rest) = s.strip_prefix('\\') {
            if rest == "*" {
                return Some(Flag::MayCreate);
            }
            if !is_atom(rest) {
                return None;
            }
            let f = match rest.to_ascii_lowercase().as_str() {
                "answered" => Flag::Answered,
                "flagged" => Flag::Flagged,
                "deleted" => Flag::Deleted,
                "seen" => Flag::Seen,
                "draft" => Flag::Draft,
                "recent" => Flag::Recent,
                _ => Flag::Extension(rest.to_string()),
            };
            Some(f)
        } else if is_atom(s) {
            Some(Flag::Keyword(s.to_string()))
        } else {
            None
        }
    }

    /// A keyword flag, `None` unless `s` is an atom.
    pub fn keyword(s: &str) -> Option<Flag> {
        is_atom(s).then(|| Flag::Keyword(s.to_string()))
    }

    /// True for the system flags `\Answered` .. `\Draft` and `\Recent`.
    pub fn is_system(&self) -> bool {
        !matches!(
            self,
            Flag::Keyword(_) | Flag::Extension(_) | Flag::MayCreate
        )
    }
}

impl fmt::Display for Flag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Flag::Answered => f.write_str("\\Answered"),
            Flag::Flagged => f.write_str("\\Flagged"),
            Flag::Deleted => f.write_str("\\Deleted"),
            Flag::Seen => f.write_str("\\Seen"),
            Flag::Draft => f.write_str("\\Draft"),
            Flag::Recent => f.write_str("\\Recent"),
            Flag::MayCreate => f.write_str("\\*"),
            Flag::Keyword(k) => f.write_str(k),
            Flag::Extension(e) => write!(f, "\\{e}"),
        }
    }
}

/// A mailbox attribute in LIST responses and CREATE (USE ...): RFC 9051
/// `mbx-list-flags`, RFC 6154 `use-attr`, RFC 5258 `\Subscribed`,
/// `\Remote`, `\HasChildren`, `\HasNoChildren`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MailboxAttr {
    NoInferiors,
    NoSelect,
    NonExistent,
    Marked,
    Unmarked,
    Subscribed,
    Remote,
    HasChildren,
    HasNoChildren,
    // RFC 6154 special-use
    All,
    Archive,
    Drafts,
    Flagged,
    Junk,
    Sent,
    Trash,
    /// Any other `\` atom, stored without the backslash.
    Extension(String),
}

impl MailboxAttr {
    /// Parse `\Name` (case-insensitive).
    pub fn parse(s: &str) -> Option<MailboxAttr> {
        let rest = s.strip_prefix('\\')?;
        if !is_atom(rest) {
            return None;
        }
        Some(match rest.to_ascii_lowercase().as_str() {
            "noinferiors" => MailboxAttr::NoInferiors,
            "noselect" => MailboxAttr::NoSelect,
            "nonexistent" => MailboxAttr::NonExistent,
            "marked" => MailboxAttr::Marked,
            "unmarked" => MailboxAttr::Unmarked,
            "subscribed" => MailboxAttr::Subscribed,
            "remote" => MailboxAttr::Remote,
            "haschildren" => MailboxAttr::HasChildren,
            "hasnochildren" => MailboxAttr::HasNoChildren,
            "all" => MailboxAttr::All,
            "archive" => MailboxAttr::Archive,
            "drafts" => MailboxAttr::Drafts,
            "flagged" => MailboxAttr::Flagged,
            "junk" => MailboxAttr::Junk,
            "sent" => MailboxAttr::Sent,
            "trash" => MailboxAttr::Trash,
            _ => MailboxAttr::Extension(rest.to_string()),
        })
    }

    /// True for the RFC 6154 special-use attributes.
    pub fn is_special_use(&self) -> bool {
        matches!(
            self,
            MailboxAttr::All
                | MailboxAttr::Archive
                | MailboxAttr::Drafts
                | MailboxAttr::Flagged
                | MailboxAttr::Junk
                | MailboxAttr::Sent
                | MailboxAttr::Trash
        )
    }
}

impl fmt::Display for MailboxAttr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            MailboxAttr::NoInferiors => "\\NoInferiors",
            MailboxAttr::NoSelect => "\\Noselect",
            MailboxAttr::NonExistent => "\\NonExistent",
            MailboxAttr::Marked => "\\Marked",
            MailboxAttr::Unmarked => "\\Unmarked",
            MailboxAttr::Subscribed => "\\Subscribed",
            MailboxAttr::Remote => "\\Remote",
            MailboxAttr::HasChildren => "\\HasChildren",
            MailboxAttr::HasNoChildren => "\\HasNoChildren",
            MailboxAttr::All => "\\All",
            MailboxAttr::Archive => "\\Archive",
            MailboxAttr::Drafts => "\\Drafts",
            MailboxAttr::Flagged => "\\Flagged",
            MailboxAttr::Junk => "\\Junk",
            MailboxAttr::Sent => "\\Sent",
            MailboxAttr::Trash => "\\Trash",
            MailboxAttr::Extension(e) => return write!(f, "\\{e}"),
        };
        f.write_str(s)
    }
}
