//! FETCH response items (RFC 9051 §7.5.2 `msg-att`), ENVELOPE and
//! BODYSTRUCTURE encoding, and [`FetchEncoder`], which writes a FETCH
//! response item by item so that large bodies can be streamed: it writes
//! the `BODY[...] {n}` CRLF prefix and the caller sends the `n` octets
//! itself, straight from the blob store, without one big buffer.

use bytes::{BufMut, Bytes, BytesMut};

use crate::datetime::DateTime;
use crate::fetch::{Section, part_path_string};
use crate::response::write_flag_list;
use crate::types::Flag;
use crate::writer::{
    EncodeOptions, write_binary, write_literal_header, write_nstring, write_string,
};

/// An address in an ENVELOPE (RFC 9051 `address`). RFC 5322 groups are
/// written as an entry with `host: None` and the group name in `mailbox`
/// before the members, and an entry with `mailbox: None, host: None`
/// after them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Address {
    pub name: Option<Vec<u8>>,
    pub adl: Option<Vec<u8>>,
    pub mailbox: Option<Vec<u8>>,
    pub host: Option<Vec<u8>>,
}

/// ENVELOPE: raw (undecoded) header values; empty address lists are NIL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Envelope {
    pub date: Option<Vec<u8>>,
    pub subject: Option<Vec<u8>>,
    pub from: Vec<Address>,
    pub sender: Vec<Address>,
    pub reply_to: Vec<Address>,
    pub to: Vec<Address>,
    pub cc: Vec<Address>,
    pub bcc: Vec<Address>,
    pub in_reply_to: Option<Vec<u8>>,
    pub message_id: Option<Vec<u8>>,
}

/// `body-fld-dsp`: disposition type and parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disposition {
    pub kind: String,
    pub params: Vec<(String, String)>,
}

/// Extension data shared by single parts and multiparts
/// (`body-fld-dsp`, `body-fld-lang`, `body-fld-loc`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BodyExt {
    pub disposition: Option<Disposition>,
    /// Empty is NIL.
    pub language: Vec<String>,
    pub location: Option<String>,
}

/// BODYSTRUCTURE / BODY (RFC 9051 `body`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyStructure {
    Single {
        fields: BodyFields,
        kind: SingleKind,
        /// `body-fld-md5` (extension data; BODYSTRUCTURE only).
        md5: Option<String>,
        ext: BodyExt,
    },
    Multipart {
        parts: Vec<BodyStructure>,
        subtype: String,
        /// `body-fld-param` (extension data).
        params: Vec<(String, String)>,
        ext: BodyExt,
    },
}

/// `media-type` and `body-fields`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyFields {
    pub media_type: String,
    pub subtype: String,
    pub params: Vec<(String, String)>,
    pub id: Option<String>,
    pub description: Option<String>,
    pub encoding: String,
    pub size: u64,
}

/// What follows `body-fields` for the three single-part kinds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SingleKind {
    Basic,
    Text {
        lines: u64,
    },
    /// MESSAGE/RFC822 (and MESSAGE/GLOBAL).
    Message {
        envelope: Box<Envelope>,
        body: Box<BodyStructure>,
        lines: u64,
    },
}

/// The name of a body-data item in a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyName {
    /// `BODY[section]<origin>`
    Section {
        section: Section,
        origin: Option<u64>,
    },
    /// `BINARY[part]<origin>` (RFC 3516)
    Binary {
        part: Vec<u32>,
        origin: Option<u64>,
    },
    Rfc822,
    Rfc822Header,
    Rfc822Text,
}

impl BodyName {
    fn write(&self, out: &mut BytesMut) {
        let s = match self {
            BodyName::Section { section, origin } => {
                with_origin(format!("BODY[{section}]"), *origin)
            }
            BodyName::Binary { part, origin } => {
                with_origin(format!("BINARY[{}]", part_path_string(part)), *origin)
            }
            BodyName::Rfc822 => "RFC822".to_string(),
            BodyName::Rfc822Header => "RFC822.HEADER".to_string(),
            BodyName::Rfc822Text => "RFC822.TEXT".to_string(),
        };
        out.put_slice(s.as_bytes());
    }
}

fn with_origin(mut s: String, origin: Option<u64>) -> String {
    if let Some(o) = origin {
        s.push_str(&format!("<{o}>"));
    }
    s
}

/// One FETCH response item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchValue {
    Flags(Vec<Flag>),
    Uid(u32),
    InternalDate(DateTime),
    Rfc822Size(u64),
    /// RFC 7162
    ModSeq(u64),
    /// RFC 8474
    EmailId(String),
    /// RFC 8474: `None` is NIL (no threading).
    ThreadId(Option<String>),
    /// RFC 8514: `None` is NIL.
    SaveDate(Option<DateTime>),
    Envelope(Envelope),
    BodyStructure(BodyStructure),
    /// `BODY`: the structure without extension data.
    Body(BodyStructure),
    /// Body data held in memory; `None` is NIL.
    BodyData {
        name: BodyName,
        data: Option<Bytes>,
    },
    /// RFC 3516 `BINARY.SIZE[part] n`.
    BinarySize {
        part: Vec<u32>,
        size: u64,
    },
    /// RFC 8970
    Preview(Option<String>),
}

/// Writes `* n FETCH (item item ...)` CRLF piece by piece.
///
/// ```
/// use bytes::BytesMut;
/// use pillarbox_imap_proto::{BodyName, EncodeOptions, FetchEncoder, FetchValue, Section};
/// let mut out = BytesMut::new();
/// let mut f = FetchEncoder::start(&mut out, 3, EncodeOptions::default());
/// f.item(&mut out, &FetchValue::Uid(17));
/// let name = BodyName::Section { section: Section::default(), origin: None };
/// f.literal_prefix(&mut out, &name, 5, false);
/// // ... flush `out`, stream the 5 octets to the client ...
/// out.extend_from_slice(b"hello");
/// f.finish(&mut out);
/// assert_eq!(&out[..], b"* 3 FETCH (UID 17 BODY[] {5}\r\nhello)\r\n");
/// ```
#[derive(Debug)]
pub struct FetchEncoder {
    first: bool,
    opts: EncodeOptions,
}

impl FetchEncoder {
    /// Write `* seq FETCH (`.
    pub fn start(out: &mut BytesMut, seq: u32, opts: EncodeOptions) -> FetchEncoder {
        out.put_slice(format!("* {seq} FETCH (").as_bytes());
        FetchEncoder { first: true, opts }
    }

    fn sep(&mut self, out: &mut BytesMut) {
        if !self.first {
            out.put_u8(b' ');
        }
        self.first = false;
    }

    /// Write one complete item.
    pub fn item(&mut self, out: &mut BytesMut, v: &FetchValue) {
        self.sep(out);
        let opts = self.opts;
        match v {
            FetchValue::Flags(f) => {
                out.put_slice(b"FLAGS ");
                write_flag_list(out, f);
            }
            FetchValue::Uid(u) => out.put_slice(format!("UID {u}").as_bytes()),
            FetchValue::InternalDate(d) => {
                out.put_slice(format!("INTERNALDATE \"{d}\"").as_bytes())
            }
            FetchValue::Rfc822Size(n) => out.put_slice(format!("RFC822.SIZE {n}").as_bytes()),
            FetchValue::ModSeq(m) => out.put_slice(format!("MODSEQ ({m})").as_bytes()),
            FetchValue::EmailId(id) => out.put_slice(format!("EMAILID ({id})").as_bytes()),
            FetchValue::ThreadId(Some(id)) => out.put_slice(format!("THREADID ({id})").as_bytes()),
            FetchValue::ThreadId(None) => out.put_slice(b"THREADID NIL"),
            FetchValue::SaveDate(Some(d)) => out.put_slice(format!("SAVEDATE \"{d}\"").as_bytes()),
            FetchValue::SaveDate(None) => out.put_slice(b"SAVEDATE NIL"),
            FetchValue::Envelope(e) => {
                out.put_slice(b"ENVELOPE ");
                write_envelope(out, e, opts);
            }
            FetchValue::BodyStructure(b) => {
                out.put_slice(b"BODYSTRUCTURE ");
                write_body(out, b, true, opts, 0);
            }
            FetchValue::Body(b) => {
                out.put_slice(b"BODY ");
                write_body(out, b, false, opts, 0);
            }
            FetchValue::BodyData { name, data } => {
                name.write(out);
                out.put_u8(b' ');
                match (name, data) {
                    (BodyName::Binary { .. }, Some(d)) => write_binary(out, d, opts),
                    (_, d) => write_nstring(out, d.as_deref(), opts),
                }
            }
            FetchValue::BinarySize { part, size } => {
                out.put_slice(format!("BINARY.SIZE[{}] {size}", part_path_string(part)).as_bytes())
            }
            FetchValue::Preview(p) => {
                out.put_slice(b"PREVIEW ");
                write_nstring(out, p.as_ref().map(|s| s.as_bytes()), opts);
            }
        }
    }

    /// Write `name {len}` CRLF (`~{len}` when `literal8`, for BINARY data
    /// containing NUL). The caller must then write exactly `len` octets
    /// before the next item or [`FetchEncoder::finish`].
    pub fn literal_prefix(
        &mut self,
        out: &mut BytesMut,
        name: &BodyName,
        len: u64,
        literal8: bool,
    ) {
        self.sep(out);
        name.write(out);
        out.put_u8(b' ');
        write_literal_header(out, len, literal8);
    }

    /// Write `)` CRLF.
    pub fn finish(self, out: &mut BytesMut) {
        out.put_slice(b")\r\n");
    }
}

fn write_nstr(out: &mut BytesMut, s: Option<&str>, opts: EncodeOptions) {
    write_nstring(out, s.map(str::as_bytes), opts);
}

fn write_addresses(out: &mut BytesMut, list: &[Address], opts: EncodeOptions) {
    if list.is_empty() {
        out.put_slice(b"NIL");
        return;
    }
    out.put_u8(b'(');
    for a in list {
        out.put_u8(b'(');
        write_nstring(out, a.name.as_deref(), opts);
        out.put_u8(b' ');
        write_nstring(out, a.adl.as_deref(), opts);
        out.put_u8(b' ');
        write_nstring(out, a.mailbox.as_deref(), opts);
        out.put_u8(b' ');
        write_nstring(out, a.host.as_deref(), opts);
        out.put_u8(b')');
    }
    out.put_u8(b')');
}

/// `envelope` (RFC 9051 §9).
pub fn write_envelope(out: &mut BytesMut, e: &Envelope, opts: EncodeOptions) {
    out.put_u8(b'(');
    write_nstring(out, e.date.as_deref(), opts);
    out.put_u8(b' ');
    write_nstring(out, e.subject.as_deref(), opts);
    for list in [&e.from, &e.sender, &e.reply_to, &e.to, &e.cc, &e.bcc] {
        out.put_u8(b' ');
        write_addresses(out, list, opts);
    }
    out.put_u8(b' ');
    write_nstring(out, e.in_reply_to.as_deref(), opts);
    out.put_u8(b' ');
    write_nstring(out, e.message_id.as_deref(), opts);
    out.put_u8(b')');
}

fn write_params(out: &mut BytesMut, params: &[(String, String)], opts: EncodeOptions) {
    if params.is_empty() {
        out.put_slice(b"NIL");
        return;
    }
    out.put_u8(b'(');
    for (i, (k, v)) in params.iter().enumerate() {
        if i > 0 {
            out.put_u8(b' ');
        }
        write_string(out, k.as_bytes(), opts);
        out.put_u8(b' ');
        write_string(out, v.as_bytes(), opts);
    }
    out.put_u8(b')');
}

fn write_ext(out: &mut BytesMut, ext: &BodyExt, opts: EncodeOptions) {
    out.put_u8(b' ');
    match &ext.disposition {
        Some(d) => {
            out.put_u8(b'(');
            write_string(out, d.kind.as_bytes(), opts);
            out.put_u8(b' ');
            write_params(out, &d.params, opts);
            out.put_u8(b')');
        }
        None => out.put_slice(b"NIL"),
    }
    out.put_u8(b' ');
    match ext.language.as_slice() {
        [] => out.put_slice(b"NIL"),
        [one] => write_string(out, one.as_bytes(), opts),
        many => {
            out.put_u8(b'(');
            for (i, l) in many.iter().enumerate() {
                if i > 0 {
                    out.put_u8(b' ');
                }
                write_string(out, l.as_bytes(), opts);
            }
            out.put_u8(b')');
        }
    }
    out.put_u8(b' ');
    write_nstr(out, ext.location.as_deref(), opts);
}

/// Deeper structures than this are written as a basic part so that output
/// stays bounded for hostile MIME nesting.
const MAX_BODY_DEPTH: usize = 64;

/// `body` (RFC 9051 §9); `extensible` adds extension data
/// (BODYSTRUCTURE rather than BODY).
pub fn write_body(
    out: &mut BytesMut,
    b: &BodyStructure,
    extensible: bool,
    opts: EncodeOptions,
    depth: usize,
) {
    out.put_u8(b'(');
    match b {
        BodyStructure::Multipart {
            parts,
            subtype,
            params,
            ext,
        } if depth < MAX_BODY_DEPTH && !parts.is_empty() => {
            for p in parts {
                write_body(out, p, extensible, opts, depth + 1);
            }
            out.put_u8(b' ');
            write_string(out, subtype.as_bytes(), opts);
            if extensible {
                out.put_u8(b' ');
                write_params(out, params, opts);
                write_ext(out, ext, opts);
            }
        }
        BodyStructure::Multipart { .. } => {
            out.put_slice(b"\"APPLICATION\" \"OCTET-STREAM\" NIL NIL NIL \"7BIT\" 0");
        }
        BodyStructure::Single {
            fields,
            kind,
            md5,
            ext,
        } => {
            write_string(out, fields.media_type.as_bytes(), opts);
            out.put_u8(b' ');
            write_string(out, fields.subtype.as_bytes(), opts);
            out.put_u8(b' ');
            write_params(out, &fields.params, opts);
            out.put_u8(b' ');
            write_nstr(out, fields.id.as_deref(), opts);
            out.put_u8(b' ');
            write_nstr(out, fields.description.as_deref(), opts);
            out.put_u8(b' ');
            write_string(out, fields.encoding.as_bytes(), opts);
            out.put_slice(format!(" {}", fields.size).as_bytes());
            match kind {
                SingleKind::Basic => {}
                SingleKind::Text { lines } => out.put_slice(format!(" {lines}").as_bytes()),
                SingleKind::Message {
                    envelope,
                    body,
                    lines,
                } => {
                    out.put_u8(b' ');
                    write_envelope(out, envelope, opts);
                    out.put_u8(b' ');
                    if depth < MAX_BODY_DEPTH {
                        write_body(out, body, extensible, opts, depth + 1);
                    } else {
                        out.put_slice(b"(\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 0 0)");
                    }
                    out.put_slice(format!(" {lines}").as_bytes());
                }
            }
            if extensible {
                out.put_u8(b' ');
                write_nstr(out, md5.as_deref(), opts);
                write_ext(out, ext, opts);
            }
        }
    }
    out.put_u8(b')');
}
