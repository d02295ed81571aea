//! Body data for FETCH: `BODY[section]<partial>`, `BINARY[part]<partial>`
//! and `BINARY.SIZE[part]` (RFC 9051 §6.4.5, RFC 3516), read from the store
//! by byte range.
//!
//! Only the octets a response needs are read: the whole message for
//! `BODY[]`, the stored header for `BODY[HEADER]` and `HEADER.FIELDS`, one
//! part's range (located in the summary's MIME tree) otherwise, narrowed
//! to the `<partial>` window before reading whenever no decoding or field
//! selection stands in between.

use pillarbox_imap_proto::{Partial, Section, SectionText};
use pillarbox_message::section::{ByteRange, SectionPath, Specifier, section_range};
use pillarbox_message::summary::{Summary, summarize};
use pillarbox_message::{PartKind, binary_size as decoded_size, decode_part, header_fields};
use pillarbox_store::{AccountId, Entry, MessageId, Store, StoreError};

use super::decode::{Decoding, SLICE};

/// Why a message's response could not be written.
#[derive(Debug)]
pub(super) enum FetchError {
    Store(StoreError),
    /// RFC 3516: BINARY of a part whose Content-Transfer-Encoding is not
    /// known (`NO [UNKNOWN-CTE]`).
    UnknownCte,
}

impl From<StoreError> for FetchError {
    fn from(e: StoreError) -> Self {
        FetchError::Store(e)
    }
}

/// The octets of a body item.
#[derive(Debug)]
pub(super) enum Octets {
    /// Computed octets: a header, selected header fields, decoded content.
    Data(Vec<u8>),
    /// A byte range of the stored message, read when it is sent, so a large
    /// body can go out slice by slice.
    Range(ByteRange),
    /// A large encoded part, decoded piece by piece when it is sent, with
    /// the `<partial>` window to send.
    Decoded(Decoding, Option<Partial>),
}

/// One message being answered: its entry, and its summary once needed.
pub(super) struct Msg<'a> {
    pub store: &'a Store,
    pub account: AccountId,
    pub entry: &'a Entry,
    summary: Option<Summary>,
}

impl<'a> Msg<'a> {
    pub fn new(store: &'a Store, account: AccountId, entry: &'a Entry) -> Msg<'a> {
        Msg {
            store,
            account,
            entry,
            summary: None,
        }
    }

    /// The parse-once summary (ENVELOPE, MIME tree with byte offsets).
    pub async fn summary(&mut self) -> Result<&Summary, StoreError> {
        if self.summary.is_none() {
            let mut s = self.store.summary(self.account, self.entry.message).await?;
            if s.mime.is_empty() {
                // Fallback for summaries stored before the MIME tree (and
                // ENVELOPE) were part of them: compute both once from the
                // message. New deliveries never take this path.
                let raw = self
                    .store
                    .message_bytes(self.account, self.entry.message)
                    .await?;
                s = summarize(&raw);
            }
            self.summary = Some(s);
        }
        Ok(self.summary.get_or_insert_with(Summary::default))
    }

    /// Bytes `range` of the message.
    pub async fn read(&self, range: ByteRange) -> Result<Vec<u8>, StoreError> {
        read_range(self.store, self.account, self.entry.message, range).await
    }

    async fn header(&self) -> Result<Vec<u8>, StoreError> {
        self.store
            .message_header(self.account, self.entry.message)
            .await
    }

    /// The whole message.
    fn whole(&self) -> ByteRange {
        ByteRange::new(0, self.entry.size)
    }
}

/// Bytes `range` of a stored message, all of them: a message shorter than
/// its recorded size is an internal error, never a short literal.
pub(super) async fn read_range(
    store: &Store,
    account: AccountId,
    message: MessageId,
    range: ByteRange,
) -> Result<Vec<u8>, StoreError> {
    if range.is_empty() {
        return Ok(Vec::new());
    }
    let data = store
        .message_range(account, message, range.start, range.len())
        .await?;
    if data.len() as u64 != range.len() {
        return Err(StoreError::Internal(format!(
            "message {message}: {} octets at {} instead of {}",
            data.len(),
            range.start,
            range.len()
        )));
    }
    Ok(data)
}

/// `data[origin .. origin + len]`, clamped (RFC 9051: an origin past the
/// end gives an empty string).
fn cut(mut data: Vec<u8>, partial: Option<Partial>) -> Vec<u8> {
    let Some(p) = partial else {
        return data;
    };
    let start = usize::try_from(p.offset)
        .unwrap_or(usize::MAX)
        .min(data.len());
    let end = start
        .saturating_add(usize::try_from(p.length).unwrap_or(usize::MAX))
        .min(data.len());
    data.truncate(end);
    data.drain(..start);
    data
}

fn window(range: ByteRange, partial: Option<Partial>) -> ByteRange {
    match partial {
        Some(p) => range.partial(p.offset, p.length),
        None => range,
    }
}

/// The range-relevant part of a section text: `HEADER.FIELDS[.NOT]` reads
/// the header range (the field selection is applied afterwards).
fn specifier(text: &Option<SectionText>) -> Option<Specifier> {
    text.as_ref().map(|t| match t {
        SectionText::Header | SectionText::HeaderFields(_) | SectionText::HeaderFieldsNot(_) => {
            Specifier::Header
        }
        SectionText::Text => Specifier::Text,
        SectionText::Mime => Specifier::Mime,
    })
}

/// The `HEADER.FIELDS` selection of a section text: names and `.NOT`.
fn field_selection(text: &Option<SectionText>) -> Option<(&[String], bool)> {
    match text {
        Some(SectionText::HeaderFields(n)) => Some((n, false)),
        Some(SectionText::HeaderFieldsNot(n)) => Some((n, true)),
        _ => None,
    }
}

/// `BODY[section]<partial>`: the octets, or `None` (NIL) for a section the
/// message does not have.
pub(super) async fn section(
    msg: &mut Msg<'_>,
    section: &Section,
    partial: Option<Partial>,
) -> Result<Option<Octets>, FetchError> {
    let fields = field_selection(&section.text);
    let spec = specifier(&section.text);
    if section.part.is_empty() {
        // The top-level message: no summary needed except for TEXT.
        match (&spec, fields) {
            (None, _) => return Ok(Some(Octets::Range(window(msg.whole(), partial)))),
            (Some(Specifier::Header), None) => {
                return Ok(Some(Octets::Data(cut(msg.header().await?, partial))));
            }
            (Some(Specifier::Header), Some((names, not))) => {
                let header = msg.header().await?;
                let fields = header_fields(&header, names, not);
                return Ok(Some(Octets::Data(cut(fields, partial))));
            }
            _ => {}
        }
    }
    let path = SectionPath {
        parts: section.part.clone(),
        specifier: spec,
    };
    let Some(range) = section_range(&msg.summary().await?.mime, &path) else {
        return Ok(None);
    };
    Ok(Some(match fields {
        Some((names, not)) => {
            let header = msg.read(range).await?;
            Octets::Data(cut(header_fields(&header, names, not), partial))
        }
        None => Octets::Range(window(range, partial)),
    }))
}

/// Content-Transfer-Encodings that leave the octets as they are.
fn is_identity(encoding: Option<&str>) -> bool {
    encoding.is_none_or(|e| {
        let e = e.trim();
        e.is_empty()
            || ["7bit", "8bit", "binary"]
                .iter()
                .any(|k| e.eq_ignore_ascii_case(k))
    })
}

/// The part a BINARY item names: its body range and the encoding to undo
/// (`None` when nothing is to be decoded); `Ok(None)` if it does not exist.
async fn binary_part(
    msg: &mut Msg<'_>,
    part: &[u32],
) -> Result<Option<(ByteRange, Option<String>)>, FetchError> {
    if part.is_empty() {
        // BINARY[]: the message as stored; its header is not encoded.
        return Ok(Some((msg.whole(), None)));
    }
    let tree = &msg.summary().await?.mime;
    let Some(p) = tree.part_at(part) else {
        return Ok(None);
    };
    // Multiparts and attached messages are 7bit/8bit/binary by definition
    // (RFC 2045 §6.4): their octets are their content.
    let encoding = match p.kind {
        PartKind::Leaf => p.encoding.clone().filter(|e| !is_identity(Some(e))),
        _ => None,
    };
    if let Some(e) = &encoding
        && decoded_size(Some(e), &[]).is_err()
    {
        return Err(FetchError::UnknownCte);
    }
    Ok(Some((p.body_range(), encoding)))
}

/// Fails with [`FetchError::UnknownCte`] where `BINARY[part]` would.
pub(super) async fn check_binary(msg: &mut Msg<'_>, part: &[u32]) -> Result<(), FetchError> {
    binary_part(msg, part).await.map(|_| ())
}

/// `BINARY[part]<partial>`: the decoded content, or `None` (NIL) for a part
/// the message does not have.
pub(super) async fn binary(
    msg: &mut Msg<'_>,
    part: &[u32],
    partial: Option<Partial>,
) -> Result<Option<Octets>, FetchError> {
    let Some((range, encoding)) = binary_part(msg, part).await? else {
        return Ok(None);
    };
    Ok(Some(match encoding {
        None => Octets::Range(window(range, partial)),
        // A large part is decoded piece by piece as it is sent.
        Some(e)
            if range.len() > SLICE
                && let Some(d) = Decoding::new(msg.entry.message, range, &e) =>
        {
            Octets::Decoded(d, partial)
        }
        Some(e) => {
            let raw = msg.read(range).await?;
            let decoded = decode_part(Some(&e), &raw).map_err(|_| FetchError::UnknownCte)?;
            Octets::Data(cut(decoded, partial))
        }
    }))
}

/// `BINARY.SIZE[part]`: the decoded size (0 for a part the message does not
/// have); identity encodings need no read at all.
pub(super) async fn binary_size(msg: &mut Msg<'_>, part: &[u32]) -> Result<u64, FetchError> {
    let Some((range, encoding)) = binary_part(msg, part).await? else {
        return Ok(0);
    };
    match encoding {
        None => Ok(range.len()),
        Some(e)
            if range.len() > SLICE
                && let Some(d) = Decoding::new(msg.entry.message, range, &e) =>
        {
            d.size(msg.store, msg.account).await
        }
        Some(e) => {
            let raw = msg.read(range).await?;
            decoded_size(Some(&e), &raw).map_err(|_| FetchError::UnknownCte)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_clamps_like_partial_ranges() {
        let p = |offset, length| Some(Partial { offset, length });
        assert_eq!(cut(b"0123456789".to_vec(), p(2, 3)), b"234");
        assert_eq!(cut(b"0123456789".to_vec(), p(8, 5)), b"89");
        assert_eq!(cut(b"0123456789".to_vec(), p(10, 5)), b"");
        assert_eq!(cut(b"0123".to_vec(), p(u64::MAX, u64::MAX)), b"");
        assert_eq!(cut(b"0123".to_vec(), None), b"0123");
    }

    #[test]
    fn identity_encodings() {
        assert!(is_identity(None));
        assert!(is_identity(Some("7BIT")));
        assert!(is_identity(Some(" binary ")));
        assert!(!is_identity(Some("base64")));
        assert!(!is_identity(Some("x-uuencode")));
    }
}
