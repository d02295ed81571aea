//! The one mapping from store errors to IMAP status responses.

use pillarbox_imap_proto::Code;
use pillarbox_store::{ErrorKind, StoreError};

/// How a failed store call is answered: `NO [code] text`.
pub(crate) fn store_error(e: &StoreError) -> (Code, &'static str) {
    match e.kind() {
        ErrorKind::NotFound => (Code::NonExistent, "No such mailbox or message"),
        ErrorKind::Conflict => (Code::AlreadyExists, "Already exists"),
        ErrorKind::QuotaExceeded => (Code::OverQuota, "Quota exceeded"),
        ErrorKind::Invalid => (Code::Cannot, "Not possible"),
        ErrorKind::Transient => (Code::Unavailable, "Temporary failure, try again later"),
        // RFC 5530 §3 UNAVAILABLE: a temporary failure; nothing was written.
        ErrorKind::StorageFull => (Code::Unavailable, "Server storage full, try again later"),
        _ => (Code::ServerBug, "Internal error"),
    }
}
