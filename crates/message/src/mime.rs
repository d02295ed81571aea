//! The MIME structure of a message (RFC 2045, RFC 2046), computed once at
//! delivery with exact byte offsets into the raw message, so that IMAP
//! BODYSTRUCTURE, `BODY[section]` and `BINARY[section]` are answered without
//! re-parsing (DESIGN §4).
//!
//! The tree is stored flat, in pre-order: [`MimeTree::parts`]`[0]` is the
//! message itself, and each [`Part`] records how many parts follow it in
//! its subtree ([`Part::descendants`]). A multipart's children are its
//! direct descendants; a `message/rfc822` (or `message/global`) part has
//! exactly one child, the attached message's root entity. Flat storage keeps
//! (de)serialisation and dropping free of recursion whatever the depth.
//!
//! Offsets are exact: for every part, `header_start <= body_start <=
//! body_end <= raw.len()`; the header range includes the empty line ending
//! it (RFC 9051 `BODY[HEADER]` / `BODY[n.MIME]` semantics), so the header
//! ends where the body starts. Per RFC 2046 §5.1.1 the line end before a
//! boundary delimiter belongs to the delimiter, not to the part.

use serde::{Deserialize, Serialize};

use crate::envelope::Envelope;

/// Nesting depth (multiparts and attached messages) beyond which a part is
/// kept as one opaque leaf.
pub const MAX_DEPTH: usize = 64;

/// Maximum number of parts in a tree. The part that reaches the limit
/// becomes an opaque leaf that runs to the end of the message.
pub const MAX_PARTS: usize = 10_000;

/// Boundaries longer than this are ignored (RFC 2046 allows 70 octets).
pub const MAX_BOUNDARY: usize = 256;

/// How a part was parsed.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PartKind {
    /// A single part (or a part kept opaque: see [`Part::is_opaque`]).
    #[default]
    #[serde(rename = "l")]
    Leaf,
    /// A multipart (RFC 2046 §5.1) with at least one child.
    #[serde(rename = "m")]
    Multipart,
    /// `message/rfc822` or `message/global` whose body was parsed as a
    /// message: one child, the attached message's root entity.
    #[serde(rename = "r")]
    Message,
}

/// `Content-Disposition` (RFC 2183).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct Disposition {
    /// Lowercase disposition type (`inline`, `attachment`, ...).
    #[serde(rename = "t")]
    pub kind: String,
    /// Lowercase names, RFC 2231-decoded UTF-8 values.
    #[serde(rename = "p", skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<(String, String)>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn is_zero32(n: &u32) -> bool {
    *n == 0
}

fn is_leaf(k: &PartKind) -> bool {
    *k == PartKind::Leaf
}

/// One MIME entity: the message itself, a body part, or the root entity of
/// an attached message.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct Part {
    /// Offset of the first header octet.
    #[serde(rename = "h")]
    pub header_start: u64,
    /// Offset of the first body octet, which is also the end of the header
    /// (the header includes its terminating empty line, when there is one).
    #[serde(rename = "b")]
    pub body_start: u64,
    /// Offset just past the last body octet.
    #[serde(rename = "e")]
    pub body_end: u64,
    /// Number of parts following this one that belong to its subtree.
    #[serde(rename = "d", skip_serializing_if = "is_zero32")]
    pub descendants: u32,
    #[serde(rename = "k", skip_serializing_if = "is_leaf")]
    pub kind: PartKind,
    /// Lowercase media type (`text`); `text/plain` when the header has no
    /// valid Content-Type (`message/rfc822` inside `multipart/digest`).
    #[serde(rename = "t")]
    pub media_type: String,
    /// Lowercase media subtype (`plain`).
    #[serde(rename = "s")]
    pub media_subtype: String,
    /// Content-Type parameters: lowercase names, RFC 2231-decoded UTF-8
    /// values, in header order. The RFC 2045 default type carries
    /// `charset=US-ASCII`.
    #[serde(rename = "p", skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<(String, String)>,
    /// `Content-ID`, raw.
    #[serde(
        rename = "i",
        with = "crate::raw_bytes::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<Vec<u8>>,
    /// `Content-Description`, raw (encoded words not decoded).
    #[serde(
        rename = "ds",
        with = "crate::raw_bytes::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub description: Option<Vec<u8>>,
    /// `Content-Transfer-Encoding`, lowercase; `None` when absent (7bit).
    #[serde(rename = "c", skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    /// Body lines, counted for `text/*` parts and attached messages: the
    /// number of LFs in the body, plus one for a last line without line end.
    #[serde(rename = "n", skip_serializing_if = "is_zero")]
    pub lines: u64,
    #[serde(rename = "dp", skip_serializing_if = "Option::is_none")]
    pub disposition: Option<Disposition>,
    /// `Content-Language` tags.
    #[serde(rename = "lg", skip_serializing_if = "Vec::is_empty")]
    pub language: Vec<String>,
    /// `Content-Location`, raw.
    #[serde(
        rename = "lc",
        with = "crate::raw_bytes::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub location: Option<Vec<u8>>,
    /// `Content-MD5` (RFC 1864), raw: BODYSTRUCTURE's body MD5 (RFC 9051
    /// §7.5.2), passed on as sent, never computed or checked.
    #[serde(
        rename = "m5",
        with = "crate::raw_bytes::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub md5: Option<Vec<u8>>,
    /// For [`PartKind::Message`]: the attached message's ENVELOPE.
    #[serde(rename = "v", skip_serializing_if = "Option::is_none")]
    pub envelope: Option<Box<Envelope>>,
}

impl Part {
    /// Body size in octets (`body-fld-octets`, `BODY[n]` length).
    pub fn size(&self) -> u64 {
        self.body_end.saturating_sub(self.body_start)
    }

    /// The header range (`BODY[n.MIME]`, or `BODY[HEADER]` of a message).
    pub fn header_range(&self) -> crate::section::ByteRange {
        crate::section::ByteRange::new(self.header_start, self.body_start)
    }

    /// The body range (`BODY[n]`, or `BODY[TEXT]` of a message).
    pub fn body_range(&self) -> crate::section::ByteRange {
        crate::section::ByteRange::new(self.body_start, self.body_end)
    }

    /// Whether the Content-Type names `type/subtype` (lowercase arguments).
    pub fn is(&self, media_type: &str, subtype: &str) -> bool {
        self.media_type == media_type && self.media_subtype == subtype
    }

    /// The value of Content-Type parameter `name` (lowercase).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// A leaf whose declared type is structured (`multipart/*`,
    /// `message/rfc822`, `message/global`) but that was not parsed as such
    /// (no boundary, no delimiter, a transfer encoding, a limit reached).
    /// BODYSTRUCTURE reports it as `APPLICATION/OCTET-STREAM`.
    pub fn is_opaque(&self) -> bool {
        self.kind == PartKind::Leaf
            && (self.media_type == "multipart"
                || self.is("message", "rfc822")
                || self.is("message", "global"))
    }
}

/// The MIME structure of one message; see the module docs.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct MimeTree {
    /// All parts in pre-order; empty only for a default (never computed)
    /// tree, e.g. a summary stored before this field existed.
    #[serde(rename = "p", skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<Part>,
}

impl MimeTree {
    /// Computes the MIME structure of a raw message. Linear in its size,
    /// bounded by [`MAX_DEPTH`] and [`MAX_PARTS`]; never panics.
    pub fn parse(raw: &[u8]) -> MimeTree {
        crate::mime_parser::parse(raw)
    }

    /// Whether the tree was never computed (see [`MimeTree::parts`]).
    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// The message's root entity.
    pub fn root(&self) -> Option<&Part> {
        self.parts.first()
    }

    /// Indexes of the direct children of part `index` (robust against
    /// inconsistent data: never yields an index out of range, always
    /// terminates).
    pub fn children(&self, index: usize) -> Children<'_> {
        Children {
            tree: self,
            next: index.saturating_add(1),
            end: self.subtree_end(index, self.parts.len()),
        }
    }

    /// One past the last index of part `index`'s subtree, capped at `limit`
    /// (a parent's own subtree end, so that with inconsistent stored data a
    /// walk that passes it down still visits every part at most once).
    pub(crate) fn subtree_end(&self, index: usize, limit: usize) -> usize {
        match self.parts.get(index) {
            Some(p) => index
                .saturating_add(1)
                .saturating_add(p.descendants as usize)
                .min(self.parts.len())
                .min(limit),
            None => 0,
        }
    }

    /// The `n`th (1-based) child of part `index`.
    pub fn child(&self, index: usize, n: u32) -> Option<usize> {
        let n = (n as usize).checked_sub(1)?;
        self.children(index).nth(n)
    }
}

/// Iterator returned by [`MimeTree::children`].
#[derive(Debug, Clone)]
pub struct Children<'a> {
    tree: &'a MimeTree,
    next: usize,
    end: usize,
}

impl Iterator for Children<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        if self.next >= self.end {
            return None;
        }
        let i = self.next;
        let skip = self.tree.parts.get(i).map_or(0, |p| p.descendants as usize);
        self.next = i.saturating_add(1).saturating_add(skip);
        Some(i)
    }
}
