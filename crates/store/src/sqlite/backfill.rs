//! The Rust parts of schema migrations: what SQL alone cannot compute.
//! They run inside the migration's transaction, when the store is opened.

use rusqlite::{Connection, params};

use crate::api::MessageId;
use crate::error::StoreError;
use crate::fulltext;
use crate::names;

use super::{blob, from_db_u64, search, to_db_u64};

/// Version 2: the header length and full-text index of every stored
/// message (which needs its body), and the keyword list of every mailbox.
pub(crate) fn v2(conn: &Connection) -> Result<(), StoreError> {
    let mut rows = Vec::new();
    {
        let mut stmt =
            conn.prepare("SELECT mailbox, keywords FROM entries WHERE keywords != ''")?;
        let mut q = stmt.query([])?;
        while let Some(r) = q.next()? {
            rows.push((r.get::<_, i64>(0)?, r.get::<_, String>(1)?));
        }
    }
    let mut insert =
        conn.prepare("INSERT OR IGNORE INTO mailbox_keywords (mailbox, keyword) VALUES (?1, ?2)")?;
    for (mailbox, keywords) in rows {
        let list: Vec<String> = keywords.split_whitespace().map(str::to_owned).collect();
        // Entries only ever held validated keywords; skip anything else.
        for k in names::keywords(&list).unwrap_or_default() {
            insert.execute(params![mailbox, k])?;
        }
    }

    let ids: Vec<i64> = conn
        .prepare("SELECT id FROM messages ORDER BY id")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut body = conn.prepare(
        "SELECT b.data, m.size FROM messages m JOIN blobs b ON b.hash = m.blob WHERE m.id = ?1",
    )?;
    let mut set_header = conn.prepare("UPDATE messages SET header_len = ?1 WHERE id = ?2")?;
    for id in ids {
        let (compressed, size): (Vec<u8>, i64) =
            body.query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        let size = usize::try_from(from_db_u64(size)).unwrap_or(0);
        // A corrupt body is left for `check` to report; it is not fatal.
        let Ok(raw) = blob::decompress_all(&compressed, size) else {
            tracing::warn!(message = id, "cannot index a corrupt message body");
            continue;
        };
        let summary = pillarbox_message::summary::summarize(&raw);
        set_header.execute(params![to_db_u64(summary.header_len), id])?;
        search::index_message(conn, MessageId(id), &fulltext::extract(&raw, &summary))?;
    }
    Ok(())
}
