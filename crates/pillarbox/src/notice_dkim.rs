//! DKIM signatures on the queue's own notices (bounces, delay and success
//! notices, `From: MAILER-DAEMON@<hostname>`): the queue (layer 3) cannot
//! call `pillarbox-dkim` (same layer), so the server injects this
//! [`NoticeSigner`].

use std::future::Future;
use std::pin::Pin;

use pillarbox_dkim::Signer;
use pillarbox_queue::NoticeSigner;
use pillarbox_store::Store;

/// Signs notices with the stored keys of their `From:` domain or of its
/// nearest parent domain that has keys.
pub struct NoticeDkim {
    store: Store,
    signer: Signer,
}

impl NoticeDkim {
    pub fn new(store: Store) -> NoticeDkim {
        NoticeDkim {
            signer: Signer::new(store.clone()),
            store,
        }
    }

    /// `domain` if it has keys, else the nearest parent with keys: the
    /// host name (`mail.example.org`) is usually not a mail domain, and
    /// DMARC's relaxed alignment (RFC 7489 §3.1.1, the default) accepts a
    /// signature by the organizational domain (`example.org`). Keys exist
    /// only for our own domains, so nothing else is ever signed for. Top
    /// level labels are not tried.
    async fn signing_domain(&self, domain: &str) -> Result<Option<String>, String> {
        let mut candidate = domain;
        loop {
            let keys = self
                .store
                .dkim_keys(candidate)
                .await
                .map_err(|e| e.to_string())?;
            if !keys.is_empty() {
                return Ok(Some(candidate.to_string()));
            }
            match candidate.split_once('.') {
                Some((_, parent)) if parent.contains('.') => candidate = parent,
                _ => return Ok(None),
            }
        }
    }
}

impl NoticeSigner for NoticeDkim {
    fn sign<'a>(
        &'a self,
        domain: &'a str,
        message: &'a [u8],
    ) -> Pin<Box<dyn Future<Output = Result<Vec<u8>, String>> + Send + 'a>> {
        Box::pin(async move {
            let Some(signing) = self.signing_domain(domain).await? else {
                tracing::debug!(%domain, "no DKIM key for notices");
                return Ok(message.to_vec());
            };
            let (signed, _) = self
                .signer
                .sign(&[signing], message.to_vec())
                .await
                .map_err(|e| e.to_string())?;
            Ok(signed)
        })
    }
}
