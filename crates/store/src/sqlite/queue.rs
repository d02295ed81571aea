//! Outbound queue records in SQLite (schema version 4).
//!
//! `queue` holds one row per message with its envelope, schedule and the
//! message bytes, zstd-compressed like mailbox bodies (`blob::compress`)
//! but kept in the row itself rather than in the content-addressed
//! `blobs` table: a queued message belongs to no mailbox, and keeping it
//! out of `blobs` means mailbox garbage collection can never take it.
//! `queue_recipients` holds each recipient's status and last reply; it
//! goes with its item (`ON DELETE CASCADE`). The delivery counters of
//! [`QueueStats`] are rows of `meta` (`queue_delivered`, `queue_deferred`,
//! `queue_bounced`, `queue_counters_since`), updated in the transaction
//! that records the results, so another process (the CLI) reads them.

use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension, params};

use crate::api::UnixTime;
use crate::error::StoreError;
use crate::queue::*;

use super::{blob, from_db_u64, to_db_u64};

/// The item row without its recipients.
fn item_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<QueueItem> {
    Ok(QueueItem {
        id: QueueId(r.get(0)?),
        reverse_path: r.get(1)?,
        recipients: Vec::new(),
        dsn: DsnEnvelope {
            ret: r.get(2)?,
            envid: r.get(3)?,
        },
        size: from_db_u64(r.get(4)?),
        created: r.get(5)?,
        next_attempt: r.get(6)?,
        attempts: u32::try_from(r.get::<_, i64>(7)?).unwrap_or(u32::MAX),
        delay_notified: r.get::<_, i64>(8)? != 0,
    })
}

const ITEM_COLUMNS: &str =
    "id, reverse_path, ret, envid, size, created, next_attempt, attempts, delay_notified";

fn with_recipients(conn: &Connection, mut item: QueueItem) -> Result<QueueItem, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT idx, address, status, reply, notify, orcpt FROM queue_recipients
         WHERE item = ?1 ORDER BY idx",
    )?;
    item.recipients = stmt
        .query_map([item.id.0], |r| {
            Ok(QueueRecipient {
                index: u32::try_from(r.get::<_, i64>(0)?).unwrap_or(u32::MAX),
                address: r.get(1)?,
                status: RecipientStatus::from_db(r.get(2)?),
                last_reply: r.get(3)?,
                notify: r.get(4)?,
                orcpt: r.get(5)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(item)
}

/// Inserts a prepared item (the body is compressed by the caller).
pub(crate) fn enqueue(
    conn: &Connection,
    item: &NewQueueItem,
    compressed: &blob::Compressed,
) -> Result<QueueId, StoreError> {
    if item.recipients.is_empty() {
        return Err(StoreError::Invalid("a queue item needs a recipient".into()));
    }
    conn.prepare_cached(
        "INSERT INTO queue (reverse_path, ret, envid, size, created, next_attempt, data, frames)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        item.reverse_path,
        item.dsn.ret,
        item.dsn.envid,
        to_db_u64(item.data.len() as u64),
        item.created,
        item.next_attempt,
        compressed.data,
        compressed.frames,
    ])?;
    let id = conn.last_insert_rowid();
    let mut insert = conn.prepare_cached(
        "INSERT INTO queue_recipients (item, idx, address, notify, orcpt)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for (i, r) in item.recipients.iter().enumerate() {
        insert.execute(params![id, i as i64, r.address, r.notify, r.orcpt])?;
    }
    Ok(QueueId(id))
}

pub(crate) fn due(
    conn: &Connection,
    now: UnixTime,
    limit: usize,
) -> Result<Vec<QueueItem>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {ITEM_COLUMNS} FROM queue q WHERE next_attempt <= ?1
           AND EXISTS (SELECT 1 FROM queue_recipients r WHERE r.item = q.id AND r.status = 0)
         ORDER BY next_attempt, id LIMIT ?2"
    ))?;
    let items: Vec<QueueItem> = stmt
        .query_map(params![now, to_db_u64(limit as u64)], item_row)?
        .collect::<Result<_, _>>()?;
    items
        .into_iter()
        .map(|i| with_recipients(conn, i))
        .collect()
}

pub(crate) fn list(conn: &Connection) -> Result<Vec<QueueItem>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {ITEM_COLUMNS} FROM queue ORDER BY id"))?;
    let items: Vec<QueueItem> = stmt.query_map([], item_row)?.collect::<Result<_, _>>()?;
    items
        .into_iter()
        .map(|i| with_recipients(conn, i))
        .collect()
}

pub(crate) fn item(conn: &Connection, id: QueueId) -> Result<Option<QueueItem>, StoreError> {
    let found = conn
        .prepare_cached(&format!("SELECT {ITEM_COLUMNS} FROM queue WHERE id = ?1"))?
        .query_row([id.0], item_row)
        .optional()?;
    found.map(|i| with_recipients(conn, i)).transpose()
}

pub(crate) fn message(conn: &Connection, id: QueueId) -> Result<Arc<Vec<u8>>, StoreError> {
    let (data, size): (Vec<u8>, i64) = conn
        .prepare_cached("SELECT data, size FROM queue WHERE id = ?1")?
        .query_row([id.0], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("queue item {id}")))?;
    // A body of several zstd frames decompresses as their concatenation.
    let size = usize::try_from(from_db_u64(size)).unwrap_or(usize::MAX);
    Ok(Arc::new(blob::decompress_all(&data, size)?))
}

pub(crate) fn update(conn: &Connection, id: QueueId, u: &QueueUpdate) -> Result<(), StoreError> {
    let changed = conn
        .prepare_cached(
            "UPDATE queue SET attempts = attempts + ?2,
                next_attempt = coalesce(?3, next_attempt),
                delay_notified = max(delay_notified, ?4)
             WHERE id = ?1",
        )?
        .execute(params![
            id.0,
            i64::from(u.count_attempt),
            u.next_attempt,
            i64::from(u.delay_notified)
        ])?;
    if changed == 0 {
        return Err(StoreError::NotFound(format!("queue item {id}")));
    }
    let mut set = conn.prepare_cached(
        "UPDATE queue_recipients SET status = ?3, reply = ?4 WHERE item = ?1 AND idx = ?2",
    )?;
    for r in &u.recipients {
        set.execute(params![id.0, i64::from(r.index), r.status.to_db(), r.reply])?;
    }
    count(conn, &u.counted)
}

const COUNTERS: [&str; 3] = ["queue_delivered", "queue_deferred", "queue_bounced"];
const COUNTERS_SINCE: &str = "queue_counters_since";

/// Adds to the delivery counters.
pub(crate) fn count(conn: &Connection, counted: &QueueCounters) -> Result<(), StoreError> {
    if counted.is_zero() {
        return Ok(());
    }
    let mut add = conn.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = value + excluded.value",
    )?;
    for (key, n) in COUNTERS
        .iter()
        .zip([counted.delivered, counted.deferred, counted.bounced])
    {
        if n > 0 {
            add.execute(params![key, to_db_u64(n)])?;
        }
    }
    Ok(())
}

pub(crate) fn reset_counters(conn: &Connection, since: UnixTime) -> Result<(), StoreError> {
    let mut set =
        conn.prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)")?;
    for key in COUNTERS {
        set.execute(params![key, 0])?;
    }
    set.execute(params![COUNTERS_SINCE, since])?;
    Ok(())
}

pub(crate) fn stats(conn: &Connection) -> Result<QueueStats, StoreError> {
    let (items, oldest): (i64, Option<i64>) = conn
        .prepare_cached("SELECT count(*), min(created) FROM queue")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let pending: i64 = conn
        .prepare_cached("SELECT count(*) FROM queue_recipients WHERE status = 0")?
        .query_row([], |r| r.get(0))?;
    let mut get = conn.prepare_cached("SELECT value FROM meta WHERE key = ?1")?;
    let mut value = |key: &str| -> Result<Option<i64>, StoreError> {
        Ok(get.query_row([key], |r| r.get(0)).optional()?)
    };
    let counters = QueueCounters {
        delivered: from_db_u64(value(COUNTERS[0])?.unwrap_or(0)),
        deferred: from_db_u64(value(COUNTERS[1])?.unwrap_or(0)),
        bounced: from_db_u64(value(COUNTERS[2])?.unwrap_or(0)),
    };
    Ok(QueueStats {
        items: from_db_u64(items),
        recipients_pending: from_db_u64(pending),
        oldest,
        counters,
        counting_since: value(COUNTERS_SINCE)?,
    })
}

pub(crate) fn delete(conn: &Connection, id: QueueId) -> Result<(), StoreError> {
    let n = conn
        .prepare_cached("DELETE FROM queue WHERE id = ?1")?
        .execute([id.0])?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("queue item {id}")));
    }
    Ok(())
}
