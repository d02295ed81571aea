//! The crate's error type.

/// Why a SASL operation failed. Client-facing text is chosen by the protocol
/// layer from [`SaslError::kind`]; the message here is for logs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SaslError {
    /// A client message could not be parsed (bad base64, bad mechanism syntax).
    #[error("malformed client message: {0}")]
    Malformed(&'static str),
    /// A string failed SASLprep (RFC 4013): prohibited or unassigned characters.
    #[error("string rejected by SASLprep")]
    Prep,
    /// A stored credential record could not be parsed.
    #[error("invalid stored credential record: {0}")]
    BadRecord(&'static str),
    /// Hashing failed (argon2 parameter or length error).
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// How a protocol session should treat a [`SaslError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The client sent something invalid.
    Invalid,
    /// Server-side data or a bug; not the client's fault.
    Internal,
}

impl SaslError {
    /// The class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            SaslError::Malformed(_) | SaslError::Prep => ErrorKind::Invalid,
            SaslError::BadRecord(_) | SaslError::Hash(_) => ErrorKind::Internal,
        }
    }
}
