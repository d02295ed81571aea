//! `BINARY[part]` and `BINARY.SIZE[part]` of a large encoded part without
//! holding it (RFC 3516 §4.2, §4.3): the part is read and decoded piece by
//! piece, each piece cut where decoding it alone gives the same octets as
//! decoding the whole part would (base64, RFC 2045 §6.8: after a multiple
//! of four alphabet characters, or at the `=` that ends the data;
//! quoted-printable, §6.7: after a line end). The size is one such pass;
//! the data another, slice by slice while the client reads.

use pillarbox_imap_proto::Partial;
use pillarbox_message::section::ByteRange;
use pillarbox_message::{binary_size, decode_part};
use pillarbox_store::{AccountId, MessageId, Store, StoreError};

use super::body::{FetchError, read_range};

/// Encoded octets read at a time.
pub(super) const SLICE: u64 = 128 * 1024;

/// The encodings decoded piece by piece.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Base64,
    QuotedPrintable,
}

fn kind(encoding: &str) -> Option<Kind> {
    let e = encoding.trim();
    if e.eq_ignore_ascii_case("base64") {
        Some(Kind::Base64)
    } else if e.eq_ignore_ascii_case("quoted-printable") {
        Some(Kind::QuotedPrintable)
    } else {
        None
    }
}

fn is_b64(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'+' || b == b'/'
}

/// Where `buf` (the start of what is left of the part) may be cut, or
/// `None` if more must be read first. `at_end`: `buf` reaches the end.
fn cut(kind: Kind, buf: &[u8], at_end: bool) -> Option<(usize, bool)> {
    match kind {
        Kind::Base64 => {
            // The decoder stops at the first `=`: the rest is not data.
            if let Some(eq) = buf.iter().position(|&b| b == b'=') {
                return Some((eq, true));
            }
            if at_end {
                return Some((buf.len(), true));
            }
            let mut count = 0usize;
            let mut last = 0;
            for (i, &b) in buf.iter().enumerate() {
                if is_b64(b) {
                    count += 1;
                    if count.is_multiple_of(4) {
                        last = i + 1;
                    }
                }
            }
            match (count, last) {
                // Only separators so far: nothing pending, drop them.
                (0, _) => Some((buf.len(), false)),
                (_, 0) => None,
                (_, last) => Some((last, false)),
            }
        }
        Kind::QuotedPrintable => {
            if at_end {
                return Some((buf.len(), true));
            }
            buf.iter()
                .rposition(|&b| b == b'\n')
                .map(|nl| (nl + 1, false))
        }
    }
}

/// A large encoded part being decoded, piece by piece.
#[derive(Debug)]
pub(super) struct Decoding {
    message: MessageId,
    encoding: String,
    kind: Kind,
    /// What is left of the encoded part.
    rest: ByteRange,
    /// Decoded octets still to skip (`<partial>` origin) and to send.
    skip: u64,
    left: u64,
}

impl Decoding {
    /// `None` for an encoding that is not decoded piece by piece.
    pub fn new(message: MessageId, range: ByteRange, encoding: &str) -> Option<Decoding> {
        Some(Decoding {
            message,
            encoding: encoding.to_string(),
            kind: kind(encoding)?,
            rest: range,
            skip: 0,
            left: u64::MAX,
        })
    }

    /// The decoded size, read through once.
    pub async fn size(&self, store: &Store, account: AccountId) -> Result<u64, FetchError> {
        let mut rest = self.rest;
        let mut size = 0u64;
        while !rest.is_empty() {
            let (piece, next) = self.piece(store, account, rest).await?;
            size +=
                binary_size(Some(&self.encoding), &piece).map_err(|_| FetchError::UnknownCte)?;
            rest = next;
        }
        Ok(size)
    }

    /// Limits the output to the `<partial>` window of a part of `size`
    /// decoded octets; returns the window's length.
    pub fn window(&mut self, size: u64, partial: Option<Partial>) -> u64 {
        let (skip, left) = match partial {
            Some(p) => {
                let skip = p.offset.min(size);
                (skip, p.length.min(size - skip))
            }
            None => (0, size),
        };
        self.skip = skip;
        self.left = left;
        left
    }

    /// Whether every octet of the window was produced.
    pub fn done(&self) -> bool {
        self.left == 0
    }

    /// The next decoded octets of the window (at most about [`SLICE`]).
    pub async fn next(&mut self, store: &Store, account: AccountId) -> Result<Vec<u8>, FetchError> {
        while !self.rest.is_empty() && self.left > 0 {
            let (piece, next) = self.piece(store, account, self.rest).await?;
            self.rest = next;
            let mut data =
                decode_part(Some(&self.encoding), &piece).map_err(|_| FetchError::UnknownCte)?;
            let skip = usize::try_from(self.skip)
                .unwrap_or(usize::MAX)
                .min(data.len());
            data.drain(..skip);
            self.skip -= skip as u64;
            data.truncate(usize::try_from(self.left).unwrap_or(usize::MAX));
            self.left -= data.len() as u64;
            if !data.is_empty() {
                return Ok(data);
            }
        }
        if self.left > 0 {
            // The part ended before the length announced from it.
            return Err(FetchError::Store(StoreError::Internal(format!(
                "message {}: decoded part shorter than its size",
                self.message
            ))));
        }
        Ok(Vec::new())
    }

    /// The next piece of `rest` that decodes on its own, and what follows.
    async fn piece(
        &self,
        store: &Store,
        account: AccountId,
        rest: ByteRange,
    ) -> Result<(Vec<u8>, ByteRange), StoreError> {
        let mut end = rest.end.min(rest.start.saturating_add(SLICE));
        let mut buf = read_range(
            store,
            account,
            self.message,
            ByteRange::new(rest.start, end),
        )
        .await?;
        loop {
            if let Some((at, finished)) = cut(self.kind, &buf, end == rest.end) {
                buf.truncate(at);
                let next = if finished {
                    ByteRange::new(rest.end, rest.end)
                } else {
                    ByteRange::new(rest.start + at as u64, rest.end)
                };
                return Ok((buf, next));
            }
            // No place to cut yet (a very long line): read on. Bounded by
            // the part's size.
            let more_end = rest.end.min(end.saturating_add(SLICE));
            let more =
                read_range(store, account, self.message, ByteRange::new(end, more_end)).await?;
            buf.extend_from_slice(&more);
            end = more_end;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decoding piece by piece as `cut` allows equals decoding the whole.
    fn piecewise(kind: Kind, encoding: &str, data: &[u8], slice: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut start = 0;
        while start < data.len() {
            let mut end = (start + slice).min(data.len());
            let (at, finished) = loop {
                if let Some(c) = cut(kind, &data[start..end], end == data.len()) {
                    break c;
                }
                end = (end + slice).min(data.len());
            };
            out.extend(decode_part(Some(encoding), &data[start..start + at]).unwrap());
            if finished {
                break;
            }
            start += at;
        }
        out
    }

    #[test]
    fn pieces_decode_like_the_whole() {
        let cases: [(&str, &[u8]); 6] = [
            ("base64", b"aGVs\r\nbG8g\r\nd29y\r\nbGQh\r\n"),
            ("base64", b"aG Vs*bG8gd2\r\n9ybGQ=\r\nignored"),
            ("base64", b"YQ"),
            ("base64", b"\r\n\r\n!!!!YWJj"),
            (
                "quoted-printable",
                b"caf=C3=A9 =\r\nau lait  \r\nx=3D1\r\nend",
            ),
            ("quoted-printable", b"no line end at all =41"),
        ];
        for (encoding, data) in cases {
            let k = kind(encoding).unwrap();
            let whole = decode_part(Some(encoding), data).unwrap();
            for slice in 1..=data.len() {
                assert_eq!(
                    piecewise(k, encoding, data, slice),
                    whole,
                    "{encoding} {:?} in slices of {slice}",
                    String::from_utf8_lossy(data)
                );
            }
        }
    }
}
