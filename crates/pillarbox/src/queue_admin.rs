//! `pillarbox queue list | stats | show | retry | drop`: the outbound
//! queue, read and changed on the store directly (a running server picks
//! the change up at its next pass). `stats` reads the delivery counters
//! the running server keeps in the store (reset when it starts).

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

fn unix(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// `3d 4h`, `2h 5m`, `42s`.
fn age(secs: i64) -> String {
    let secs = secs.max(0);
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

/// Queue size, the oldest item's age and the delivery counters.
pub async fn stats(store: &Store, now: SystemTime) -> Result<String, StoreError> {
    let s = store.queue_stats().await?;
    let now = unix(now);
    let mut out = String::new();
    let _ = writeln!(out, "messages queued:    {}", s.items);
    let _ = writeln!(out, "recipients pending: {}", s.recipients_pending);
    let _ = writeln!(
        out,
        "oldest message:     {}",
        s.oldest.map_or_else(
            || "-".to_string(),
            |t| format!("{} ago ({})", age(now - t), when(t))
        )
    );
    match s.counting_since {
        Some(since) => {
            let _ = writeln!(
                out,
                "since server start: {} ({} ago)",
                when(since),
                age(now - since)
            );
        }
        None => {
            let _ = writeln!(out, "since server start: (the server has not run)");
        }
    }
    let _ = writeln!(out, "  delivered:        {}", s.counters.delivered);
    let _ = writeln!(out, "  deferred:         {}", s.counters.deferred);
    let _ = writeln!(out, "  bounced:          {}", s.counters.bounced);
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
    use pillarbox_store::{
        DsnEnvelope, NewQueueItem, NewQueueRecipient, QueueCounters, RecipientResult,
    };

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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stats_show_size_age_and_counters() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store: Store = SqliteStore::open(dir.path()).expect("open");
        let at = |s: u64| UNIX_EPOCH + std::time::Duration::from_secs(s);
        let empty = stats(&store, at(5000)).await.expect("stats");
        assert!(empty.contains("messages queued:    0\n"), "{empty}");
        assert!(empty.contains("oldest message:     -\n"), "{empty}");
        assert!(empty.contains("(the server has not run)"), "{empty}");
        // What a running server does: reset at start, count results.
        store.queue_counters_reset(1000).await.expect("reset");
        let id = store
            .enqueue(NewQueueItem {
                reverse_path: "alice@example.org".into(),
                recipients: ["bob@example.net", "carol@example.net"]
                    .iter()
                    .map(|a| NewQueueRecipient {
                        address: (*a).to_string(),
                        ..NewQueueRecipient::default()
                    })
                    .collect(),
                dsn: DsnEnvelope::default(),
                data: Arc::new(b"Subject: x\r\n\r\ny\r\n".to_vec()),
                created: 1200,
                next_attempt: 1200,
            })
            .await
            .expect("enqueue");
        store
            .queue_update(
                id,
                QueueUpdate {
                    recipients: vec![RecipientResult {
                        index: 0,
                        status: RecipientStatus::Delivered,
                        reply: None,
                    }],
                    counted: QueueCounters {
                        delivered: 1,
                        deferred: 3,
                        bounced: 2,
                    },
                    ..QueueUpdate::default()
                },
            )
            .await
            .expect("update");
        let shown = stats(&store, at(1200 + 2 * 3600 + 300))
            .await
            .expect("stats");
        for line in [
            "messages queued:    1\n",
            "recipients pending: 1\n",
            "oldest message:     2h 5m ago (1970-01-01T00:20:00Z)\n",
            "since server start: 1970-01-01T00:16:40Z (2h 8m ago)\n",
            "  delivered:        1\n",
            "  deferred:         3\n",
            "  bounced:          2\n",
        ] {
            assert!(shown.contains(line), "{line:?} missing in:\n{shown}");
        }
    }
}
