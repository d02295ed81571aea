//! Forwarding at the end of the data: alias recipients whose targets are
//! in other domains get one queued copy (policy and loop rules in
//! `pillarbox_delivery::forward`). Any listener forwards our own aliases
//! when the server has an outbound queue; only authenticated submission
//! relays to arbitrary remote recipients (see `rcpt`).

use pillarbox_delivery::forward::{self, Hops};
use pillarbox_delivery::{DeliveryError, Envelope};
use pillarbox_store::{DsnEnvelope, NewQueueItem, NewQueueRecipient, QueueId, StoreError};

use super::dsn_params::RcptDsn;
use crate::SmtpContext;

/// The loop verdict for each recipient (aligned with
/// `envelope.recipients`): `true` means refused with `554 5.4.6`. A
/// looped recipient's local accounts are removed from `envelope`: the
/// first pass delivered to them already.
pub(super) fn check_loops(
    session: u64,
    envelope: &mut Envelope,
    forwards: &[Vec<String>],
    raw: &[u8],
) -> Vec<bool> {
    let hops = Hops::of(raw);
    envelope
        .recipients
        .iter_mut()
        .zip(forwards.iter().chain(std::iter::repeat(&Vec::new())))
        .map(|(recipient, forward)| {
            let looped =
                hops.too_many() || (!forward.is_empty() && hops.delivered_to(&recipient.address));
            if looped {
                tracing::warn!(
                    session,
                    id = %envelope.id,
                    to = %recipient.address,
                    received = hops.received,
                    "mail loop: recipient refused"
                );
                recipient.accounts.clear();
            }
            looped
        })
        .collect()
}

/// One message to queue: the reverse-path, the recipients and the bytes.
pub(super) struct Outbound {
    pub(super) recipients: Vec<NewQueueRecipient>,
    pub(super) data: Vec<u8>,
}

/// The copy for the remote alias targets of the recipients not looped,
/// or `None` if there are none. A remote address reached through several
/// aliases is queued once (with the first alias's ORCPT).
pub(super) fn forwarded(
    ctx: &SmtpContext,
    envelope: &Envelope,
    forwards: &[Vec<String>],
    looped: &[bool],
    dsn: &[RcptDsn],
    raw: &[u8],
) -> Option<Outbound> {
    let mut aliases: Vec<&str> = Vec::new();
    let mut targets: Vec<String> = Vec::new();
    let mut recipients: Vec<NewQueueRecipient> = Vec::new();
    for (i, recipient) in envelope.recipients.iter().enumerate() {
        let forward = forwards.get(i).map_or(&[][..], Vec::as_slice);
        if forward.is_empty() || looped.get(i).copied().unwrap_or(true) {
            continue;
        }
        aliases.push(&recipient.address);
        let dsn = dsn.get(i).cloned().unwrap_or_default();
        for target in forward {
            if targets.contains(target) {
                continue;
            }
            targets.push(target.clone());
            recipients.push(NewQueueRecipient {
                address: target.clone(),
                notify: dsn.notify.clone(),
                // RFC 3461 §4.2: the original recipient, as the sender
                // knows it.
                orcpt: Some(forward::forward_orcpt(
                    dsn.orcpt.as_deref(),
                    &recipient.address,
                )),
            });
        }
    }
    if recipients.is_empty() {
        return None;
    }
    let data = forward::forwarded_message(
        envelope,
        &aliases,
        &targets,
        &ctx.delivery.config().hostname,
        ctx.clock.now(),
        raw.to_vec(),
    );
    Some(Outbound { recipients, data })
}

/// Submission's copy for recipients in other domains: our `Received:`
/// field (RFC 5321 §4.4; `Return-Path:` is the final delivery's business)
/// on top of the submitted message, with CRLF line endings, and the
/// client's NOTIFY and ORCPT.
pub(super) fn direct(
    ctx: &SmtpContext,
    envelope: &Envelope,
    remote: &[String],
    dsn: &[RcptDsn],
    raw: &[u8],
) -> Outbound {
    let recipients = remote
        .iter()
        .zip(dsn.iter().chain(std::iter::repeat(&RcptDsn::default())))
        .map(|(address, dsn)| NewQueueRecipient {
            address: address.clone(),
            notify: dsn.notify.clone(),
            orcpt: dsn.orcpt.clone(),
        })
        .collect();
    let data = forward::forwarded_message(
        envelope,
        &[],
        remote,
        &ctx.delivery.config().hostname,
        ctx.clock.now(),
        raw.to_vec(),
    );
    Outbound { recipients, data }
}

/// Queues every item durably, or none: all but the last are written
/// without waking the delivery task, the last through the queue (which
/// wakes it), and if one fails the ones written before are deleted again
/// so that the client's retry cannot duplicate them.
pub(super) async fn enqueue_all(
    ctx: &SmtpContext,
    reverse_path: &str,
    dsn: &DsnEnvelope,
    items: Vec<Outbound>,
) -> Result<Vec<QueueId>, StoreError> {
    let Some(queue) = &ctx.queue else {
        return Err(StoreError::Internal("no outbound queue".into()));
    };
    let mut done: Vec<QueueId> = Vec::new();
    let count = items.len();
    for (n, item) in items.into_iter().enumerate() {
        let result = if n + 1 == count {
            queue
                .submit(reverse_path, item.recipients, dsn.clone(), item.data)
                .await
        } else {
            let now = ctx
                .clock
                .now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
                .unwrap_or(0);
            ctx.store
                .enqueue(NewQueueItem {
                    reverse_path: reverse_path.to_string(),
                    recipients: item.recipients,
                    dsn: dsn.clone(),
                    data: std::sync::Arc::new(item.data),
                    created: now,
                    next_attempt: now,
                })
                .await
        };
        match result {
            Ok(id) => done.push(id),
            Err(error) => {
                for id in done {
                    if let Err(e) = ctx.store.queue_delete(id).await {
                        tracing::error!(queue_id = %id, error = %e, "could not undo a partial enqueue");
                    }
                }
                return Err(error);
            }
        }
    }
    Ok(done)
}

/// The per-recipient results after local delivery: a recipient with
/// forwarded targets succeeded once they are queued (retrying would
/// duplicate the queued copy), a looped one failed with `554 5.4.6`.
pub(super) fn merge(
    results: &mut [Result<(), DeliveryError>],
    forwards: &[Vec<String>],
    looped: &[bool],
) {
    for (i, result) in results.iter_mut().enumerate() {
        if looped.get(i).copied().unwrap_or(false) {
            *result = Err(DeliveryError::Loop);
        } else if forwards.get(i).is_some_and(|f| !f.is_empty()) {
            *result = Ok(());
        }
    }
}
