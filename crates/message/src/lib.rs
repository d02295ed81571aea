//! RFC 5322 / MIME message handling on top of `mail-parser`.
//!
//! What this crate holds:
//! - [`spool`]: spooling of incoming message data.
//! - [`summary`]: the parse-once [`Summary`](summary::Summary) computed at
//!   delivery and stored as JSON (DESIGN §4): decoded search/sort fields,
//!   the IMAP ENVELOPE ([`Envelope`]) and the MIME structure
//!   ([`MimeTree`]).
//! - [`mime`] / [`section`]: the MIME tree with exact byte offsets and the
//!   resolution of IMAP `BODY[section]` / `BINARY[section]` to byte ranges,
//!   so the IMAP server reads only the octets it needs from the store.
//! - [`imap_wire`]: ENVELOPE / BODY / BODYSTRUCTURE in IMAP wire form.
//! - [`header`]: header field iteration and `HEADER.FIELDS[.NOT]`.
//! - [`sort_fields`]: what IMAP SORT / THREAD read (RFC 5256 §2.1 base
//!   subject, RFC 5957 display values).
//! - [`transfer_encoding`]: base64 / quoted-printable decoding for
//!   `BINARY` and `BINARY.SIZE`.
//!
//! Standards: RFC 5322 (message format, address lists), RFC 2045 and
//! RFC 2046 (MIME headers, multipart boundaries, preamble/epilogue,
//! message/rfc822), RFC 2047 (encoded words: kept raw in ENVELOPE and
//! BODYSTRUCTURE), RFC 2183 (Content-Disposition), RFC 2231 (parameter
//! continuations and charsets), RFC 3282 (Content-Language), RFC 6532
//! (message/global, 8-bit headers), RFC 9051 §6.4.5 and §7.5.2 and
//! RFC 3501 (FETCH sections, ENVELOPE, BODYSTRUCTURE), RFC 3516 (BINARY).
//!
//! Invariants callers rely on:
//! - Offsets are exact: every [`Part`] range lies within the
//!   raw message it was computed from, `header_start <= body_start <=
//!   body_end`, and the ranges returned by [`section_range`] are the
//!   octets RFC 9051 specifies (header ranges include the empty line).
//! - Bounded: MIME nesting deeper than [`mime::MAX_DEPTH`] and parts beyond
//!   [`mime::MAX_PARTS`] are kept as opaque parts; parameters per field are
//!   capped; parsing is linear in the message size.
//! - Never panics, on any input bytes (property-tested), and never
//!   recurses deeper than the nesting bound; stored trees are flat.
//! - Stored data stays loadable: every field added to the summary has a
//!   serde default.

pub mod address;
pub mod envelope;
pub mod header;
pub mod imap_wire;
pub mod mime;
mod mime_parser;
mod params;
mod raw_bytes;
pub mod section;
pub mod sort_fields;
pub mod spool;
pub mod summary;
pub mod transfer_encoding;

pub use envelope::{Envelope, EnvelopeAddress};
pub use header::header_fields;
pub use imap_wire::{
    bodystructure_imap, envelope_imap, write_body, write_envelope, write_imap_string, write_nstring,
};
pub use mime::{Disposition, MimeTree, Part, PartKind};
pub use section::{ByteRange, SectionPath, Specifier, section_bytes, section_range};
pub use transfer_encoding::{UnknownEncoding, binary_size, decode_part};
