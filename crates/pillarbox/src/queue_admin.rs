//! `pillarbox queue list | show | retry | drop`: the outbound queue,
//! read and changed on the store directly (a running server picks the
//! change up at its next pass).

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use pillarbox_store::{QueueId, QueueItem, QueueUpdate, RecipientStatus, Store, StoreError};

fn status(s: RecipientStatus) -> &'static str {
    match s {
        RecipientStatus::Pending => "pending",
        RecipientStatus::Delivered => "delivered",
        RecipientStatus::Failed => "failed",
    }
}

fn when(t: i64) -> String {
    let at = UNIX_EPOCH + std::time::Duration::from_secs(u64::try_from(t).unwrap_or(0));
    time::OffsetDateTime::from(at)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

fn sender(item: &QueueItem) -> &str {
    if item.reverse_path.is_empty() {
        "<>"
    } else {
        &item.reverse_path
    }
}

/// One line per item, then the queue size.
pub async fn list(store: &Store) -> Result<String, StoreError> {
    let items = store.queue_list().await?;
    let mut out = String::new();
    let mut bytes = 0;
    for item in &items {
        bytes += item.size;
        let _ = writeln!(
            out,
            "{}\t{}\t{} bytes\t{} pending/{} recipients\tattempts {}\tnext {}",
            item.id,
            sender(item),
            item.size,
            item.pending().count(),
            item.recipients.len(),
            item.attempts,
            when(item.next_attempt)
        );
    }
    let _ = writeln!(out, "{} message(s) queued, {bytes} bytes", items.len());
    Ok(out)
}

fn parse(id: &str) -> Result<QueueId, StoreError> {
    id.trim()
        .parse::<i64>()
        .map(QueueId)
        .map_err(|_| StoreError::Invalid(format!("not a queue id: {id}")))
}

/// Everything about one item.
pub async fn show(store: &Store, id: &str) -> Result<String, StoreError> {
    let id = parse(id)?;
    let item = store
        .queue_item(id)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("queue item {id}")))?;
    let mut out = String::new();
    let _ = writeln!(out, "id:           {}", item.id);
    let _ = writeln!(out, "from:         {}", sender(&item));
    let _ = writeln!(out, "size:         {} bytes", item.size);
    let _ = writeln!(out, "created:      {}", when(item.created));
    let _ = writeln!(out, "next attempt: {}", when(item.next_attempt));
    let _ = writeln!(out, "attempts:     {}", item.attempts);
    let _ = writeln!(
        out,
        "delay notice: {}",
        if item.delay_notified { "sent" } else { "no" }
    );
    for r in &item.recipients {
        let _ = writeln!(
            out,
            "to:           {} ({}) {}",
            r.address,
            status(r.status),
            r.last_reply.as_deref().unwrap_or("")
        );
    }
    Ok(out)
}

/// Makes an item due now.
pub async fn retry(store: &Store, id: &str, now: SystemTime) -> Result<(), StoreError> {
    let now = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    store
        .queue_update(
            parse(id)?,
            QueueUpdate {
                next_attempt: Some(now),
                ..QueueUpdate::default()
            },
        )
        .await
}

/// Deletes an item without notifying anyone.
pub async fn drop_item(store: &Store, id: &str) -> Result<(), StoreError> {
    store.queue_delete(parse(id)?).await
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use pillarbox_store::sqlite::SqliteStore;
    use pillarbox_store::{DsnEnvelope, NewQueueItem, NewQueueRecipient};

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn list_show_retry_drop() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store: Store = SqliteStore::open(dir.path()).expect("open");
        let id = store
            .enqueue(NewQueueItem {
                reverse_path: "alice@example.org".into(),
                recipients: vec![NewQueueRecipient {
                    address: "bob@example.net".into(),
                    ..NewQueueRecipient::default()
                }],
                dsn: DsnEnvelope::default(),
                data: Arc::new(b"Subject: x\r\n\r\ny\r\n".to_vec()),
                created: 1000,
                next_attempt: 5000,
            })
            .await
            .expect("enqueue");
        let listed = list(&store).await.expect("list");
        assert!(listed.contains("alice@example.org"), "{listed}");
        assert!(
            listed.ends_with("1 message(s) queued, 17 bytes\n"),
            "{listed}"
        );
        let shown = show(&store, &id.to_string()).await.expect("show");
        assert!(shown.contains("bob@example.net (pending)"), "{shown}");
        retry(
            &store,
            &id.to_string(),
            UNIX_EPOCH + std::time::Duration::from_secs(2000),
        )
        .await
        .expect("retry");
        let item = store.queue_item(id).await.expect("get").expect("exists");
        assert_eq!(item.next_attempt, 2000);
        drop_item(&store, &id.to_string()).await.expect("drop");
        assert!(show(&store, &id.to_string()).await.is_err());
        assert!(drop_item(&store, "nope").await.is_err());
        assert!(
            list(&store)
                .await
                .expect("list")
                .starts_with("0 message(s)")
        );
    }
}
