//! Message bodies as zstd frames inside the `blobs` table.
//!
//! A body of up to [`FRAME_SIZE`] bytes is one zstd frame (`frames` is
//! NULL). A larger body is cut into independent frames of [`FRAME_SIZE`]
//! raw bytes each, concatenated in `data`; `frames` records the raw frame
//! size and each frame's compressed length, so a reader can seek straight
//! to the frame holding a byte range. Either way `data` is a valid zstd
//! stream of the whole body (zstd decodes concatenated frames), so code
//! that wants everything just decompresses it.
//!
//! Byte ranges are read with SQLite's incremental BLOB I/O and a streaming
//! decoder that stops at the end of the range: fetching a header or a
//! leading part reads and decompresses only the frames before its end.

use std::io::{Read, Seek, SeekFrom};

use rusqlite::Connection;

use crate::error::StoreError;

/// Raw bytes per zstd frame of a large body: large enough not to cost
/// compression ratio, small enough that a seek wastes little.
pub(crate) const FRAME_SIZE: usize = 1024 * 1024;

/// zstd level for message bodies: fast, and most of the gain.
const ZSTD_LEVEL: i32 = 3;

/// A compressed body, ready for the `blobs` row.
pub(crate) struct Compressed {
    /// The `data` column.
    pub(crate) data: Vec<u8>,
    /// The `frames` column (see the module docs).
    pub(crate) frames: Option<Vec<u8>>,
}

thread_local! {
    /// One zstd context per blocking-pool thread: creating a context costs
    /// more than compressing a typical message.
    static COMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
        const { std::cell::RefCell::new(None) };
}

/// zstd-compresses a message body into one frame per [`FRAME_SIZE`] bytes,
/// each with its content size.
pub(crate) fn compress(data: &[u8]) -> Result<Compressed, StoreError> {
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        let compressor = match &mut *slot {
            Some(c) => c,
            None => slot.insert(zstd::bulk::Compressor::new(ZSTD_LEVEL)?),
        };
        if data.len() <= FRAME_SIZE {
            return Ok(Compressed {
                data: compressor.compress(data)?,
                frames: None,
            });
        }
        let mut out = Vec::with_capacity(data.len() / 3);
        let mut lens = Vec::new();
        for chunk in data.chunks(FRAME_SIZE) {
            let frame = compressor.compress(chunk)?;
            lens.push(frame.len() as u64);
            out.extend_from_slice(&frame);
        }
        Ok(Compressed {
            data: out,
            frames: Some(encode_frames(FRAME_SIZE as u64, &lens)),
        })
    })
}

/// `frames` column layout: the raw frame size, then each frame's
/// compressed length, all as little-endian u64.
fn encode_frames(raw_frame: u64, lens: &[u64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 * (lens.len() + 1));
    out.extend_from_slice(&raw_frame.to_le_bytes());
    for len in lens {
        out.extend_from_slice(&len.to_le_bytes());
    }
    out
}

/// The raw frame size and compressed frame lengths, or `None` if the
/// column is malformed.
pub(crate) fn decode_frames(bytes: &[u8]) -> Option<(u64, Vec<u64>)> {
    if bytes.len() < 16 || !bytes.len().is_multiple_of(8) {
        return None;
    }
    let mut words = bytes
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])));
    let raw_frame = words.next().filter(|&n| n > 0)?;
    Some((raw_frame, words.collect()))
}

/// Decompresses a whole body of `size` bytes.
pub(crate) fn decompress_all(compressed: &[u8], size: usize) -> Result<Vec<u8>, StoreError> {
    let data = zstd::bulk::decompress(compressed, size)
        .map_err(|e| StoreError::Internal(format!("corrupt blob: {e}")))?;
    if data.len() != size {
        return Err(StoreError::Internal(format!(
            "blob is {} bytes, expected {size}",
            data.len()
        )));
    }
    Ok(data)
}

/// Where a stored body is, for [`read_range`].
pub(crate) struct BlobLocation {
    /// rowid of the `blobs` row.
    pub(crate) rowid: i64,
    /// Raw size in bytes.
    pub(crate) size: u64,
    /// The `frames` column.
    pub(crate) frames: Option<Vec<u8>>,
}

/// Raw bytes `start..end` (already clamped to the size) of a stored body,
/// decompressing from the frame holding `start` and stopping at `end`.
pub(crate) fn read_range(
    conn: &Connection,
    blob: &BlobLocation,
    start: u64,
    end: u64,
) -> Result<Vec<u8>, StoreError> {
    if start >= end {
        return Ok(Vec::new());
    }
    // The frame holding `start`, its raw offset and its compressed offset.
    let (raw_offset, compressed_offset) = match &blob.frames {
        None => (0, 0),
        Some(bytes) => {
            let (raw_frame, lens) = decode_frames(bytes)
                .ok_or_else(|| StoreError::Internal("malformed blob frame table".into()))?;
            let index = usize::try_from(start / raw_frame).unwrap_or(usize::MAX);
            if index >= lens.len() {
                return Err(StoreError::Internal("blob frame table too short".into()));
            }
            (index as u64 * raw_frame, lens[..index].iter().sum::<u64>())
        }
    };
    let mut stored = conn.blob_open(c"main", c"blobs", c"data", blob.rowid, true)?;
    stored.seek(SeekFrom::Start(compressed_offset))?;
    let mut decoder = zstd::stream::read::Decoder::new(stored)?;
    let skip = start - raw_offset;
    let skipped = std::io::copy(&mut (&mut decoder).take(skip), &mut std::io::sink())?;
    let want = end - start;
    let mut out = Vec::with_capacity(usize::try_from(want).unwrap_or(0));
    decoder.take(want).read_to_end(&mut out)?;
    if skipped != skip || out.len() as u64 != want {
        return Err(StoreError::Internal(format!(
            "blob {} is shorter than its recorded size {}",
            blob.rowid, blob.size
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_table_round_trips() {
        let bytes = encode_frames(1024, &[10, 20, 30]);
        assert_eq!(decode_frames(&bytes), Some((1024, vec![10, 20, 30])));
        assert_eq!(decode_frames(&bytes[..12]), None);
        assert_eq!(decode_frames(&encode_frames(0, &[1])), None);
    }

    #[test]
    fn large_bodies_are_several_frames_and_decode_whole() {
        let data: Vec<u8> = (0..(FRAME_SIZE * 2 + 1234))
            .map(|i| (i % 251) as u8 ^ (i / 7919) as u8)
            .collect();
        let c = compress(&data).expect("compress");
        let (raw, lens) = decode_frames(c.frames.as_deref().expect("framed")).expect("table");
        assert_eq!((raw, lens.len()), (FRAME_SIZE as u64, 3));
        assert_eq!(lens.iter().sum::<u64>(), c.data.len() as u64);
        assert_eq!(decompress_all(&c.data, data.len()).expect("bulk"), data);
        assert_eq!(
            zstd::stream::decode_all(c.data.as_slice()).expect("stream"),
            data
        );
        let small = compress(b"hello").expect("compress");
        assert!(small.frames.is_none());
    }
}
