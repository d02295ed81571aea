//! Outbound queue records ([`crate::queue`]).

use std::sync::Arc;

use crate::api::*;
use crate::error::ErrorKind;
use crate::queue::*;

fn new_item(created: UnixTime, rcpts: &[&str]) -> NewQueueItem {
    NewQueueItem {
        reverse_path: "alice@example.org".into(),
        recipients: rcpts
            .iter()
            .map(|a| NewQueueRecipient {
                address: (*a).to_string(),
                notify: Some("FAILURE,DELAY".into()),
                orcpt: Some(format!("rfc822;{a}")),
            })
            .collect(),
        dsn: DsnEnvelope {
            ret: Some("HDRS".into()),
            envid: Some("env-1".into()),
        },
        data: Arc::new(b"Subject: q\r\n\r\nbody\r\n".repeat(1000)),
        created,
        next_attempt: created,
    }
}

/// Enqueued items round-trip with their envelope and bytes, are due by
/// time, record per-recipient results, and are gone once deleted.
pub async fn queue_items_round_trip(store: Store) {
    let item = new_item(1000, &["bob@example.net", "carol@example.com"]);
    let id = store.enqueue(item.clone()).await.expect("enqueue");
    let later = store
        .enqueue(NewQueueItem {
            next_attempt: 5000,
            ..new_item(1000, &["dave@example.net"])
        })
        .await
        .expect("enqueue");
    assert_ne!(id, later, "queue ids are distinct");
    let empty = NewQueueItem {
        recipients: Vec::new(),
        ..new_item(1000, &[])
    };
    assert_eq!(
        store
            .enqueue(empty)
            .await
            .map(|_| ())
            .expect_err("no rcpt")
            .kind(),
        ErrorKind::Invalid
    );

    let got = store.queue_item(id).await.expect("item").expect("exists");
    assert_eq!(got.reverse_path, "alice@example.org");
    assert_eq!(got.dsn, item.dsn, "RET/ENVID are kept");
    assert_eq!(
        (got.created, got.next_attempt, got.attempts),
        (1000, 1000, 0)
    );
    assert_eq!(got.size, item.data.len() as u64);
    assert!(!got.delay_notified);
    assert_eq!(got.recipients.len(), 2);
    assert_eq!(got.recipients[1].index, 1);
    assert_eq!(got.recipients[1].address, "carol@example.com");
    assert_eq!(got.recipients[1].status, RecipientStatus::Pending);
    assert_eq!(
        got.recipients[0].orcpt.as_deref(),
        Some("rfc822;bob@example.net")
    );
    assert_eq!(got.recipients[0].notify.as_deref(), Some("FAILURE,DELAY"));
    assert_eq!(
        store.queue_message(id).await.expect("bytes").as_slice(),
        item.data.as_slice()
    );

    let due: Vec<QueueId> = store
        .queue_due(1000, 10)
        .await
        .expect("due")
        .iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(due, [id], "only items whose time has come are due");
    assert_eq!(store.queue_due(6000, 10).await.expect("due").len(), 2);
    assert_eq!(store.queue_due(6000, 1).await.expect("due").len(), 1);

    store
        .queue_update(
            id,
            QueueUpdate {
                recipients: vec![RecipientResult {
                    index: 0,
                    status: RecipientStatus::Delivered,
                    reply: Some("250 2.0.0 ok".into()),
                }],
                count_attempt: true,
                next_attempt: Some(1300),
                delay_notified: true,
                counted: QueueCounters {
                    delivered: 1,
                    deferred: 1,
                    bounced: 0,
                },
            },
        )
        .await
        .expect("update");
    let got = store.queue_item(id).await.expect("item").expect("exists");
    assert_eq!((got.attempts, got.next_attempt), (1, 1300));
    assert!(got.delay_notified);
    assert_eq!(got.recipients[0].status, RecipientStatus::Delivered);
    assert_eq!(
        got.recipients[0].last_reply.as_deref(),
        Some("250 2.0.0 ok")
    );
    assert_eq!(got.pending().count(), 1);
    assert!(store.queue_due(1200, 10).await.expect("due").is_empty());

    // An item whose recipients are all final is no longer due.
    store
        .queue_update(
            id,
            QueueUpdate {
                recipients: vec![RecipientResult {
                    index: 1,
                    status: RecipientStatus::Failed,
                    reply: Some("550 5.1.1 unknown".into()),
                }],
                next_attempt: Some(0),
                ..QueueUpdate::default()
            },
        )
        .await
        .expect("update");
    assert!(
        store
            .queue_due(2000, 10)
            .await
            .expect("due")
            .iter()
            .all(|i| i.id != id)
    );

    let listed: Vec<QueueId> = store
        .queue_list()
        .await
        .expect("list")
        .iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(listed, [id, later]);
    store.queue_delete(id).await.expect("delete");
    assert!(store.queue_item(id).await.expect("item").is_none());
    assert_eq!(
        store.queue_delete(id).await.expect_err("gone").kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        store
            .queue_message(id)
            .await
            .map(|_| ())
            .expect_err("gone")
            .kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        store
            .queue_update(id, QueueUpdate::default())
            .await
            .expect_err("gone")
            .kind(),
        ErrorKind::NotFound
    );
    assert_eq!(store.queue_list().await.expect("list").len(), 1);
    super::assert_clean(&store).await;
}

/// Queue size, the oldest item and the delivery counters, which are
/// added to with the results, finished items and reset.
pub async fn queue_stats_count_results(store: Store) {
    let empty = store.queue_stats().await.expect("stats");
    assert_eq!(empty, QueueStats::default());
    store.queue_counters_reset(500).await.expect("reset");
    let a = store
        .enqueue(new_item(1000, &["a@example.net", "b@example.net"]))
        .await
        .expect("enqueue");
    let b = store
        .enqueue(new_item(900, &["c@example.net"]))
        .await
        .expect("enqueue");
    let update = QueueUpdate {
        recipients: vec![RecipientResult {
            index: 0,
            status: RecipientStatus::Delivered,
            reply: None,
        }],
        counted: QueueCounters {
            delivered: 1,
            deferred: 1,
            bounced: 0,
        },
        ..QueueUpdate::default()
    };
    store.queue_update(a, update).await.expect("update");
    let stats = store.queue_stats().await.expect("stats");
    assert_eq!(
        (stats.items, stats.recipients_pending, stats.oldest),
        (2, 2, Some(900))
    );
    assert_eq!(stats.counting_since, Some(500));
    let counted = QueueCounters {
        delivered: 0,
        deferred: 0,
        bounced: 1,
    };
    store.queue_finish(b, counted).await.expect("finish");
    assert_eq!(
        store
            .queue_finish(b, counted)
            .await
            .expect_err("gone")
            .kind(),
        ErrorKind::NotFound
    );
    let stats = store.queue_stats().await.expect("stats");
    assert_eq!((stats.items, stats.oldest), (1, Some(1000)));
    assert_eq!(
        stats.counters,
        QueueCounters {
            delivered: 1,
            deferred: 1,
            bounced: 1,
        },
        "a failed finish adds nothing"
    );
    store.queue_counters_reset(2000).await.expect("reset");
    let stats = store.queue_stats().await.expect("stats");
    assert_eq!(stats.counters, QueueCounters::default());
    assert_eq!(stats.counting_since, Some(2000));
}
