//! The store's error type, classified by [`ErrorKind`].

/// How callers should treat a store error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    NotFound,
    Conflict,
    QuotaExceeded,
    /// Try again later (busy, I/O, disk full).
    Transient,
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

impl StoreError {
    /// The class of this error, for protocol mappings.
    pub fn kind(&self) -> ErrorKind {
        match self {
            StoreError::NotFound(_) => ErrorKind::NotFound,
            StoreError::Conflict(_) => ErrorKind::Conflict,
            StoreError::QuotaExceeded => ErrorKind::QuotaExceeded,
            StoreError::Invalid(_) => ErrorKind::Invalid,
            StoreError::Io(_) | StoreError::Closed => ErrorKind::Transient,
            StoreError::Database(e) => match e.sqlite_error_code() {
                Some(rusqlite::ErrorCode::DatabaseBusy)
                | Some(rusqlite::ErrorCode::DatabaseLocked)
                | Some(rusqlite::ErrorCode::DiskFull)
                | Some(rusqlite::ErrorCode::SystemIoFailure)
                | Some(rusqlite::ErrorCode::OutOfMemory) => ErrorKind::Transient,
                _ => ErrorKind::Internal,
            },
            StoreError::Internal(_) => ErrorKind::Internal,
        }
    }
}
