//! Spooling of incoming message data (SMTP `DATA`/`BDAT`, later IMAP
//! `APPEND` literals).
//!
//! A [`Spool`] receives a message in pieces as it arrives on the wire and
//! never holds more than [`DEFAULT_MEMORY_LIMIT`] bytes in memory: past that it
//! moves the data to an anonymous temporary file (deleted by the OS when the
//! spool is dropped, even on crash).
//!
//! Invariants callers rely on:
//! - [`Spool::len`] counts every byte ever written, including bytes written
//!   after the size limit was exceeded, so a protocol can finish reading the
//!   payload and then report the overflow (RFC 1870 §6: `552` after the data).
//! - Once the limit is exceeded the stored data is dropped at once (memory and
//!   file space are released) and every later [`Spool::write`] fails with
//!   [`SpoolError::TooLarge`]; [`Spool::into_bytes`] fails too.
//! - After an I/O error the spool stays failed: the data is incomplete.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};

/// Bytes kept in memory before spilling to a temporary file.
pub const DEFAULT_MEMORY_LIMIT: usize = 1024 * 1024;

/// Opens the file a spool spills to: by default an anonymous temporary
/// file ([`tempfile::tempfile`], in `$TMPDIR`). Servers let tests inject
/// another (`/dev/full` to see a full disk).
pub type SpillFile = fn() -> io::Result<File>;

/// Whether an I/O error means the disk (or a file system quota) is full:
/// a temporary condition, answered as such (SMTP `452 4.3.1`).
pub fn is_storage_full(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    )
}

/// Why a [`Spool::write`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpoolError {
    /// More than the spool's maximum size was written. The spool keeps
    /// counting ([`Spool::len`]) but stores nothing more.
    #[error("message exceeds the maximum size of {max} bytes")]
    TooLarge { max: u64 },
    /// Writing to the temporary file failed.
    #[error("spool I/O error: {0}")]
    Io(#[from] io::Error),
}

#[derive(Debug)]
enum Storage {
    Memory(Vec<u8>),
    File(File),
    /// Too large or failed: nothing kept.
    Dropped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Ok,
    TooLarge,
    /// An I/O error of this kind happened; the data is incomplete.
    Failed(io::ErrorKind),
}

/// A message being received, bounded in size and in memory.
#[derive(Debug)]
pub struct Spool {
    max_size: u64,
    memory_limit: usize,
    len: u64,
    storage: Storage,
    status: Status,
    spill_file: SpillFile,
}

impl Spool {
    /// A spool accepting at most `max_size` bytes, keeping up to
    /// [`DEFAULT_MEMORY_LIMIT`] bytes in memory.
    pub fn new(max_size: u64) -> Spool {
        Spool::with_memory_limit(max_size, DEFAULT_MEMORY_LIMIT)
    }

    /// A spool with an explicit in-memory threshold (mainly for tests).
    pub fn with_memory_limit(max_size: u64, memory_limit: usize) -> Spool {
        Spool {
            max_size,
            memory_limit,
            len: 0,
            storage: Storage::Memory(Vec::new()),
            status: Status::Ok,
            spill_file: tempfile::tempfile,
        }
    }

    /// Spills to the file `spill_file` opens instead of a temporary file.
    pub fn spilling_to(mut self, spill_file: SpillFile) -> Spool {
        self.spill_file = spill_file;
        self
    }

    /// [`Spool::new`], spilling to `spill_file` when one is given.
    pub fn with_spill_file(max_size: u64, spill_file: Option<SpillFile>) -> Spool {
        let spool = Spool::new(max_size);
        match spill_file {
            Some(open) => spool.spilling_to(open),
            None => spool,
        }
    }

    /// Appends data. Fails with [`SpoolError::TooLarge`] once the total
    /// written exceeds the maximum size (and on every later call), and with
    /// [`SpoolError::Io`] if the temporary file cannot be written.
    pub fn write(&mut self, data: &[u8]) -> Result<(), SpoolError> {
        self.len = self.len.saturating_add(data.len() as u64);
        match self.status {
            Status::Ok => {}
            Status::TooLarge => return Err(self.too_large()),
            Status::Failed(kind) => {
                return Err(SpoolError::Io(io::Error::new(
                    kind,
                    "spool failed earlier; data incomplete",
                )));
            }
        }
        if self.len > self.max_size {
            self.status = Status::TooLarge;
            self.storage = Storage::Dropped;
            return Err(self.too_large());
        }
        let result = match &mut self.storage {
            Storage::Memory(buf) if buf.len() + data.len() <= self.memory_limit => {
                buf.extend_from_slice(data);
                Ok(())
            }
            Storage::Memory(buf) => Self::spill(self.spill_file, buf, data).map(|file| {
                self.storage = Storage::File(file);
            }),
            Storage::File(file) => file.write_all(data),
            Storage::Dropped => Ok(()),
        };
        result.map_err(|e| {
            self.status = Status::Failed(e.kind());
            self.storage = Storage::Dropped;
            SpoolError::Io(e)
        })
    }

    fn spill(open: SpillFile, buf: &[u8], data: &[u8]) -> io::Result<File> {
        let mut file = open()?;
        file.write_all(buf)?;
        file.write_all(data)?;
        Ok(file)
    }

    fn too_large(&self) -> SpoolError {
        SpoolError::TooLarge { max: self.max_size }
    }

    /// Total bytes written so far, including any beyond the limit.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether more than the maximum size was written.
    pub fn is_too_large(&self) -> bool {
        self.status == Status::TooLarge
    }

    /// The I/O error that made the spool fail, if one did (a fresh error
    /// of the same kind: the data is incomplete).
    pub fn failure(&self) -> Option<io::Error> {
        match self.status {
            Status::Failed(kind) => Some(io::Error::new(kind, "spool failed; data incomplete")),
            _ => None,
        }
    }

    /// Whether the data was spilled to a temporary file.
    pub fn is_on_disk(&self) -> bool {
        matches!(self.storage, Storage::File(_))
    }

    /// The complete data. Fails (`FileTooLarge`) if the limit was exceeded,
    /// or if an I/O error happened while spooling or reading back.
    pub fn into_bytes(self) -> io::Result<Vec<u8>> {
        match self.status {
            Status::Ok => {}
            Status::TooLarge => {
                return Err(io::Error::new(
                    io::ErrorKind::FileTooLarge,
                    self.too_large(),
                ));
            }
            Status::Failed(kind) => {
                return Err(io::Error::new(kind, "spool failed; data incomplete"));
            }
        }
        match self.storage {
            Storage::Memory(buf) => Ok(buf),
            Storage::File(mut file) => {
                file.seek(SeekFrom::Start(0))?;
                let mut buf = Vec::with_capacity(usize::try_from(self.len).unwrap_or(0));
                file.read_to_end(&mut buf)?;
                Ok(buf)
            }
            Storage::Dropped => Ok(Vec::new()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn small_data_stays_in_memory() {
        let mut s = Spool::new(100);
        s.write(b"hello ").unwrap();
        s.write(b"world").unwrap();
        assert_eq!(s.len(), 11);
        assert!(!s.is_on_disk());
        assert_eq!(s.into_bytes().unwrap(), b"hello world");
    }

    #[test]
    fn large_data_spills_to_file_and_reads_back() {
        let mut s = Spool::with_memory_limit(1 << 20, 16);
        let mut expected = Vec::new();
        for i in 0..100u8 {
            let chunk = [i; 7];
            s.write(&chunk).unwrap();
            expected.extend_from_slice(&chunk);
        }
        assert!(s.is_on_disk());
        assert_eq!(s.len(), 700);
        assert_eq!(s.into_bytes().unwrap(), expected);
    }

    #[test]
    fn default_spills_past_one_mebibyte() {
        let mut s = Spool::new(4 << 20);
        s.write(&vec![b'a'; DEFAULT_MEMORY_LIMIT]).unwrap();
        assert!(!s.is_on_disk());
        s.write(b"b").unwrap();
        assert!(s.is_on_disk());
        let bytes = s.into_bytes().unwrap();
        assert_eq!(bytes.len(), DEFAULT_MEMORY_LIMIT + 1);
        assert_eq!(bytes.last(), Some(&b'b'));
    }

    fn dev_full() -> io::Result<File> {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/full")
    }

    #[test]
    fn a_full_disk_is_reported_as_such_to_the_end() {
        let mut s = Spool::with_memory_limit(1 << 20, 16).spilling_to(dev_full);
        s.write(b"fits in memory").unwrap();
        let Err(SpoolError::Io(e)) = s.write(b" but this spills to a full disk") else {
            panic!("the spill should fail");
        };
        assert!(is_storage_full(&e), "{e:?}");
        // Later writes and the final read keep saying why.
        let Err(SpoolError::Io(e)) = s.write(b"more") else {
            panic!("a failed spool stays failed");
        };
        assert!(is_storage_full(&e), "{e:?}");
        assert!(s.failure().is_some_and(|e| is_storage_full(&e)));
        let e = s.into_bytes().unwrap_err();
        assert!(is_storage_full(&e), "{e:?}");
        assert!(!is_storage_full(&io::Error::other("other")));
    }

    #[test]
    fn exactly_max_size_is_accepted() {
        let mut s = Spool::new(5);
        s.write(b"12345").unwrap();
        assert!(!s.is_too_large());
        assert_eq!(s.into_bytes().unwrap(), b"12345");
    }

    #[test]
    fn too_large_errors_but_keeps_counting() {
        let mut s = Spool::with_memory_limit(10, 4);
        s.write(b"12345678").unwrap();
        assert!(s.is_on_disk());
        assert!(matches!(
            s.write(b"abc"),
            Err(SpoolError::TooLarge { max: 10 })
        ));
        assert!(s.is_too_large());
        assert!(!s.is_on_disk(), "data is dropped once too large");
        assert!(matches!(s.write(b"x"), Err(SpoolError::TooLarge { .. })));
        assert_eq!(s.len(), 12);
        let err = s.into_bytes().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::FileTooLarge);
    }

    #[test]
    fn empty_spool() {
        let s = Spool::new(0);
        assert!(s.is_empty());
        assert_eq!(s.into_bytes().unwrap(), b"");
    }
}
