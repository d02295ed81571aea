//! The store's error type, classified by [`ErrorKind`].

/// How callers should treat a store error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    NotFound,
    Conflict,
    QuotaExceeded,
    /// Try again later (busy, I/O failure).
    Transient,
    /// The disk (or file system) is full: nothing was written; try again
    /// later (SMTP `452 4.3.1`, RFC 3463 "mail system full").
    StorageFull,
    /// Input the store refuses (bad name, bad address).
    Invalid,
    /// A bug or corruption.
    Internal,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("not found: {0}")]
    NotFound(String),
    #[error("already exists: {0}")]
    Conflict(String),
    #[error("quota exceeded")]
    QuotaExceeded,
    #[error("invalid: {0}")]
    Invalid(String),
    #[error("database error: {0}")]
    Database(#[from] rusqlite::Error),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("store is shutting down")]
    Closed,
    #[error("internal error: {0}")]
    Internal(String),
}

impl ErrorKind {
    /// Whether the same call may succeed later without any change by the
    /// caller: such errors map to 4xx / `NO [UNAVAILABLE]` / `-ERR [SYS/TEMP]`.
    pub fn is_temporary(self) -> bool {
        matches!(self, ErrorKind::Transient | ErrorKind::StorageFull)
    }
}

impl StoreError {
    /// The class of this error, for protocol mappings.
    pub fn kind(&self) -> ErrorKind {
        match self {
            StoreError::NotFound(_) => ErrorKind::NotFound,
            StoreError::Conflict(_) => ErrorKind::Conflict,
            StoreError::QuotaExceeded => ErrorKind::QuotaExceeded,
            StoreError::Invalid(_) => ErrorKind::Invalid,
            // ENOSPC and EDQUOT (a file system quota) from a file write.
            StoreError::Io(e) if e.kind() == std::io::ErrorKind::StorageFull => {
                ErrorKind::StorageFull
            }
            StoreError::Io(e) if e.kind() == std::io::ErrorKind::QuotaExceeded => {
                ErrorKind::StorageFull
            }
            StoreError::Io(_) | StoreError::Closed => ErrorKind::Transient,
            StoreError::Database(e) => match e.sqlite_error_code() {
                // SQLITE_FULL: a write failed for lack of space; SQLite rolled
                // the statement (and our transaction) back.
                Some(rusqlite::ErrorCode::DiskFull) => ErrorKind::StorageFull,
                // SQLITE_IOERR_* (all extended codes map here), BUSY, LOCKED,
                // NOMEM, and CANTOPEN (e.g. no space for the WAL or a temp
                // file): the operation did not happen and may work later.
                Some(rusqlite::ErrorCode::DatabaseBusy)
                | Some(rusqlite::ErrorCode::DatabaseLocked)
                | Some(rusqlite::ErrorCode::SystemIoFailure)
                | Some(rusqlite::ErrorCode::CannotOpen)
                | Some(rusqlite::ErrorCode::OutOfMemory) => ErrorKind::Transient,
                _ => ErrorKind::Internal,
            },
            StoreError::Internal(_) => ErrorKind::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::Fault;

    #[test]
    fn disk_full_is_storage_full() {
        assert_eq!(Fault::DiskFull.error().kind(), ErrorKind::StorageFull);
        assert_eq!(Fault::NoSpace.error().kind(), ErrorKind::StorageFull);
        assert!(ErrorKind::StorageFull.is_temporary());
    }

    #[test]
    fn io_and_busy_are_transient_corruption_is_not() {
        assert_eq!(Fault::Io.error().kind(), ErrorKind::Transient);
        assert_eq!(Fault::Busy.error().kind(), ErrorKind::Transient);
        assert_eq!(
            StoreError::Io(std::io::Error::other("x")).kind(),
            ErrorKind::Transient
        );
        assert_eq!(Fault::Corrupt.error().kind(), ErrorKind::Internal);
        assert!(!ErrorKind::Internal.is_temporary());
    }
}
