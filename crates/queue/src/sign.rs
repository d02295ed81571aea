//! Signing the notices the queue writes (bounces, delay and success
//! notices). DKIM lives in `pillarbox-dkim`, on this crate's layer, so the
//! queue cannot call it: the server (layer 6) injects a [`NoticeSigner`]
//! with [`crate::Queue::set_notice_signer`].

use futures::future::BoxFuture;

/// Signs a notice for the domain of its `From:` address.
pub trait NoticeSigner: Send + Sync {
    /// Returns `message` (CRLF line endings, complete) with signature
    /// header fields prepended, or unchanged when `domain` (lowercase, the
    /// `From:` domain) is not one of ours with keys. `Err` (a message for
    /// the log) when signing could not be attempted, e.g. the keys could
    /// not be read; the queue then sends the notice unsigned, since a
    /// bounce that may fail DMARC is better than none.
    fn sign<'a>(
        &'a self,
        domain: &'a str,
        message: &'a [u8],
    ) -> BoxFuture<'a, Result<Vec<u8>, String>>;
}
