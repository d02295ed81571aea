//! `BODY[section]` / `BINARY[section]` resolution (RFC 9051 §6.4.5,
//! RFC 3516) to byte ranges of the raw message, from a [`MimeTree`].
//!
//! Part numbering: every message has a part 1; the parts of a multipart
//! are numbered from 1; part 1 of a non-multipart message is its body; the
//! parts of a `message/rfc822` part `n` are numbered `n.1`, `n.2`, ... as
//! the parts of the attached message. `HEADER`, `HEADER.FIELDS[.NOT]` and
//! `TEXT` apply to the message itself (no part number) or to a
//! `message/rfc822` part (the attached message); `MIME` is the header of
//! the numbered part itself.

use std::borrow::Cow;
use std::ops::Range;

use crate::header::header_fields;
use crate::mime::{MimeTree, PartKind};

/// A half-open range of octets of the raw message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ByteRange {
    pub start: u64,
    pub end: u64,
}

impl ByteRange {
    /// `start..end`, with `end` raised to `start` if smaller.
    pub fn new(start: u64, end: u64) -> ByteRange {
        ByteRange {
            start,
            end: end.max(start),
        }
    }

    pub fn len(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `<origin.max_len>` partial fetch of this range (RFC 9051
    /// §6.4.5): at most `max_len` octets from `origin`; empty when `origin`
    /// is past the end.
    pub fn partial(&self, origin: u64, max_len: u64) -> ByteRange {
        let start = self.start.saturating_add(origin).min(self.end);
        ByteRange::new(start, start.saturating_add(max_len).min(self.end))
    }

    /// As a `usize` range for slicing an in-memory message (saturating).
    pub fn to_usize(&self) -> Range<usize> {
        let c = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
        c(self.start)..c(self.end)
    }
}

/// The text after the part numbers of a section (RFC 9051 `section-msgtext`
/// and `MIME`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Specifier {
    /// `HEADER`
    Header,
    /// `HEADER.FIELDS (names)` (`not == false`) or `HEADER.FIELDS.NOT`.
    HeaderFields { names: Vec<String>, not: bool },
    /// `TEXT`
    Text,
    /// `MIME` (only after a part number).
    Mime,
}

/// A parsed `section`: part numbers (each >= 1) and an optional specifier.
/// `BODY[]` is the default value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SectionPath {
    pub parts: Vec<u32>,
    pub specifier: Option<Specifier>,
}

impl MimeTree {
    /// In an attached message (or the message itself) whose root entity is
    /// `root`: part `n`.
    fn in_message(&self, root: usize, n: u32) -> Option<usize> {
        match self.parts.get(root)?.kind {
            PartKind::Multipart => self.child(root, n),
            _ if n == 1 => Some(root),
            _ => None,
        }
    }

    /// The index of the part a part-number path designates (RFC 9051
    /// §6.4.5); `None` for an empty path or a path that does not exist.
    pub fn part_index(&self, path: &[u32]) -> Option<usize> {
        let mut cur: Option<usize> = None;
        for &n in path {
            cur = Some(match cur {
                None => self.in_message(0, n)?,
                Some(i) => match self.parts.get(i)?.kind {
                    PartKind::Multipart => self.child(i, n)?,
                    PartKind::Message => self.in_message(self.child(i, 1)?, n)?,
                    PartKind::Leaf => return None,
                },
            });
        }
        cur
    }

    /// The part a non-empty part-number path designates; for
    /// `BINARY[path]`, its body and transfer encoding are what to decode.
    pub fn part_at(&self, path: &[u32]) -> Option<&crate::mime::Part> {
        self.parts.get(self.part_index(path)?)
    }
}

/// The byte range of `BODY[section]` (before any `<partial>`), or `None`
/// when the section does not exist in this message (or the tree was never
/// computed).
///
/// For `HEADER.FIELDS` / `HEADER.FIELDS.NOT` the range is the whole header
/// the fields are taken from; pass its bytes to
/// [`header_fields`] (or use
/// [`section_bytes`]).
pub fn section_range(tree: &MimeTree, section: &SectionPath) -> Option<ByteRange> {
    let root = tree.parts.first()?;
    if section.parts.is_empty() {
        return match section.specifier {
            None => Some(ByteRange::new(root.header_start, root.body_end)),
            Some(Specifier::Header | Specifier::HeaderFields { .. }) => Some(root.header_range()),
            Some(Specifier::Text) => Some(root.body_range()),
            Some(Specifier::Mime) => None,
        };
    }
    let index = tree.part_index(&section.parts)?;
    let part = &tree.parts[index];
    match section.specifier {
        None => Some(part.body_range()),
        Some(Specifier::Mime) => Some(part.header_range()),
        Some(Specifier::Header | Specifier::HeaderFields { .. } | Specifier::Text) => {
            if part.kind != PartKind::Message {
                return None;
            }
            let inner = tree.parts.get(tree.child(index, 1)?)?;
            Some(match section.specifier {
                Some(Specifier::Text) => inner.body_range(),
                _ => inner.header_range(),
            })
        }
    }
}

/// The octets of `BODY[section]` (before any `<partial>`) of a message held
/// in memory: [`section_range`], with the `HEADER.FIELDS[.NOT]` subset
/// applied.
pub fn section_bytes<'r>(
    tree: &MimeTree,
    raw: &'r [u8],
    section: &SectionPath,
) -> Option<Cow<'r, [u8]>> {
    let bytes = raw.get(section_range(tree, section)?.to_usize())?;
    Some(match &section.specifier {
        Some(Specifier::HeaderFields { names, not }) => {
            Cow::Owned(header_fields(bytes, names, *not))
        }
        _ => Cow::Borrowed(bytes),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_ranges_clamp() {
        let r = ByteRange::new(10, 20);
        assert_eq!(r.partial(0, 5), ByteRange::new(10, 15));
        assert_eq!(r.partial(8, 5), ByteRange::new(18, 20));
        assert_eq!(r.partial(30, 5), ByteRange::new(20, 20));
        assert_eq!(r.partial(u64::MAX, u64::MAX), ByteRange::new(20, 20));
        assert!(ByteRange::new(5, 3).is_empty());
    }

    #[test]
    fn empty_tree_has_no_sections() {
        let t = MimeTree::default();
        assert_eq!(section_range(&t, &SectionPath::default()), None);
        assert_eq!(t.part_at(&[1]), None);
    }

    #[test]
    fn single_part_message_numbering() {
        let raw = b"Subject: x\r\n\r\nbody\r\n";
        let t = MimeTree::parse(raw);
        let s = |parts: &[u32], specifier| SectionPath {
            parts: parts.to_vec(),
            specifier,
        };
        let get = |sec: SectionPath| section_bytes(&t, raw, &sec).map(|b| b.into_owned());
        assert_eq!(get(s(&[], None)).as_deref(), Some(&raw[..]));
        assert_eq!(get(s(&[1], None)).as_deref(), Some(&b"body\r\n"[..]));
        assert_eq!(
            get(s(&[1], Some(Specifier::Mime))).as_deref(),
            Some(&b"Subject: x\r\n\r\n"[..])
        );
        assert_eq!(get(s(&[2], None)), None);
        assert_eq!(get(s(&[0], None)), None);
        assert_eq!(get(s(&[1, 1], None)), None);
        assert_eq!(get(s(&[1], Some(Specifier::Header))), None);
        assert_eq!(get(s(&[], Some(Specifier::Mime))), None);
    }
}
