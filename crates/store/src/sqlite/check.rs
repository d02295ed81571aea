//! The consistency check behind [`crate::MailStore::check`]: runs on one
//! read snapshot and reports every problem it finds as a sentence.

use rusqlite::Connection;
use sha2::{Digest, Sha256};

use crate::api::CheckReport;
use crate::error::StoreError;

use super::blob;

/// Queries returning one human-readable problem per row.
const PROBLEM_QUERIES: &[&str] = &[
    "SELECT 'entry ' || e.mailbox || '/' || e.uid || ' refers to missing message ' || e.message
       FROM entries e LEFT JOIN messages m ON m.id = e.message WHERE m.id IS NULL",
    "SELECT 'entry ' || e.mailbox || '/' || e.uid || ' is in missing mailbox'
       FROM entries e LEFT JOIN mailboxes x ON x.id = e.mailbox WHERE x.id IS NULL",
    "SELECT 'tombstone ' || t.mailbox || '/' || t.uid || ' is in missing mailbox'
       FROM tombstones t LEFT JOIN mailboxes x ON x.id = t.mailbox WHERE x.id IS NULL",
    "SELECT 'message ' || m.id || ' refers to missing blob ' || m.blob
       FROM messages m LEFT JOIN blobs b ON b.hash = m.blob WHERE b.hash IS NULL",
    "SELECT 'message ' || m.id || ' is referenced by no entry'
       FROM messages m WHERE NOT EXISTS (SELECT 1 FROM entries e WHERE e.message = m.id)",
    "SELECT 'blob ' || b.hash || ' is referenced by no message'
       FROM blobs b WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.blob = b.hash)",
    "SELECT 'message ' || m.id || ' has size ' || m.size || ' but its blob has ' || b.size
       FROM messages m JOIN blobs b ON b.hash = m.blob WHERE m.size != b.size",
    "SELECT 'mailbox ' || x.id || ' has UIDNEXT ' || x.uidnext || ' <= used UID ' || u.uid
       FROM mailboxes x JOIN (
           SELECT mailbox, max(uid) AS uid FROM (
               SELECT mailbox, uid FROM entries UNION ALL SELECT mailbox, uid FROM tombstones)
           GROUP BY mailbox) u ON u.mailbox = x.id
      WHERE x.uidnext <= u.uid",
    "SELECT 'mailbox ' || x.id || ' has HIGHESTMODSEQ ' || x.highestmodseq
            || ' < MODSEQ ' || s.modseq
       FROM mailboxes x JOIN (
           SELECT mailbox, max(modseq) AS modseq FROM (
               SELECT mailbox, modseq FROM entries UNION ALL SELECT mailbox, modseq FROM tombstones)
           GROUP BY mailbox) s ON s.mailbox = x.id
      WHERE x.highestmodseq < s.modseq",
    "SELECT 'mailbox ' || x.id || ' has UIDVALIDITY 0' FROM mailboxes x WHERE x.uidvalidity = 0",
    "SELECT 'mailbox ' || x.id || ' has UIDVALIDITY ' || x.uidvalidity
            || ' like another mailbox of its account'
       FROM mailboxes x WHERE EXISTS (SELECT 1 FROM mailboxes y
            WHERE y.account = x.account AND y.uidvalidity = x.uidvalidity AND y.id < x.id)",
    "SELECT 'account ' || a.login || ' records ' || a.used || ' bytes used but holds ' || u.total
       FROM accounts a JOIN (
           SELECT a2.id AS id, coalesce((SELECT sum(m.size) FROM mailboxes x
               JOIN entries e ON e.mailbox = x.id JOIN messages m ON m.id = e.message
               WHERE x.account = a2.id), 0) AS total FROM accounts a2) u ON u.id = a.id
      WHERE a.used != u.total",
    "SELECT 'mailbox ' || x.id || ' belongs to missing account ' || x.account
       FROM mailboxes x LEFT JOIN accounts a ON a.id = x.account WHERE a.id IS NULL",
    "SELECT 'mailbox ' || x.id || ' counts ' || x.total_count || '/' || x.unseen_count || '/'
            || x.deleted_count || '/' || x.total_size
            || ' (messages/unseen/deleted/size) but holds '
            || c.n || '/' || c.unseen || '/' || c.deleted || '/' || c.size
       FROM mailboxes x JOIN (
           SELECT y.id AS id,
                  (SELECT count(*) FROM entries e WHERE e.mailbox = y.id) AS n,
                  (SELECT count(*) FROM entries e
                    WHERE e.mailbox = y.id AND (e.flags & 1) = 0) AS unseen,
                  (SELECT count(*) FROM entries e
                    WHERE e.mailbox = y.id AND (e.flags & 8) != 0) AS deleted,
                  (SELECT coalesce(sum(e.size), 0) FROM entries e
                    WHERE e.mailbox = y.id) AS size
             FROM mailboxes y) c ON c.id = x.id
      WHERE (x.total_count, x.unseen_count, x.deleted_count, x.total_size)
            != (c.n, c.unseen, c.deleted, c.size)",
    "SELECT 'entry ' || e.mailbox || '/' || e.uid || ' records size/date '
            || e.size || '/' || e.internal_date || ' but its message has '
            || m.size || '/' || m.internal_date
       FROM entries e JOIN messages m ON m.id = e.message
      WHERE e.size != m.size OR e.internal_date != m.internal_date",
    "SELECT 'message ' || m.id || ' has header length ' || m.header_len
            || ' beyond its size ' || m.size
       FROM messages m WHERE m.header_len > m.size OR m.header_len < 0",
    // Every message is indexed or waiting for the indexer, not both.
    "SELECT 'message ' || m.id || ' has no text index row and is not pending indexing'
       FROM messages m
      WHERE NOT EXISTS (SELECT 1 FROM message_text t WHERE t.rowid = m.id)
        AND NOT EXISTS (SELECT 1 FROM fts_pending p WHERE p.message = m.id)",
    "SELECT 'message ' || p.message || ' is pending indexing but has a text index row'
       FROM fts_pending p WHERE EXISTS (SELECT 1 FROM message_text t WHERE t.rowid = p.message)",
    "SELECT 'pending index row ' || p.message || ' has no message'
       FROM fts_pending p WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = p.message)",
    "SELECT 'text index row ' || t.rowid || ' has no message'
       FROM message_text t WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = t.rowid)",
    "SELECT 'mailbox ' || x.id || ' is named ' || quote(x.name) || ', not a valid name'
       FROM mailboxes x WHERE x.name = '' OR x.name GLOB '*[*%]*' OR x.name GLOB '/*'
            OR x.name GLOB '*/' OR instr(x.name, '//') > 0",
];

fn count(conn: &Connection, table: &str) -> Result<u64, StoreError> {
    let n: i64 = conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?;
    Ok(n.max(0) as u64)
}

pub(crate) fn check(conn: &Connection) -> Result<CheckReport, StoreError> {
    let mut report = CheckReport {
        accounts: count(conn, "accounts")?,
        mailboxes: count(conn, "mailboxes")?,
        entries: count(conn, "entries")?,
        messages: count(conn, "messages")?,
        blobs: count(conn, "blobs")?,
        problems: Vec::new(),
    };
    let problems = &mut report.problems;

    let mut stmt = conn.prepare("PRAGMA integrity_check")?;
    for line in stmt.query_map([], |r| r.get::<_, String>(0))? {
        let line = line?;
        if line != "ok" {
            problems.push(format!("SQLite integrity check: {line}"));
        }
    }
    let mut stmt = conn.prepare("PRAGMA foreign_key_check")?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let table: String = r.get(0)?;
        let rowid: Option<i64> = r.get(1)?;
        let parent: String = r.get(2)?;
        problems.push(format!(
            "row {rowid:?} of {table} refers to a missing row of {parent}"
        ));
    }

    for sql in PROBLEM_QUERIES {
        let mut stmt = conn.prepare(sql)?;
        for p in stmt.query_map([], |r| r.get::<_, String>(0))? {
            problems.push(p?);
        }
    }

    check_keywords(conn, problems)?;

    // Every blob must decompress to its recorded size and hash, and a frame
    // table must describe its data.
    let mut stmt = conn.prepare("SELECT hash, data, size, frames FROM blobs")?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let hash: String = r.get(0)?;
        let data: Vec<u8> = r.get(1)?;
        let size: i64 = r.get(2)?;
        let frames: Option<Vec<u8>> = r.get(3)?;
        if let Some(frames) = frames {
            match blob::decode_frames(&frames) {
                None => problems.push(format!("blob {hash} has a malformed frame table")),
                Some((raw, lens)) => {
                    let covers = raw.saturating_mul(lens.len() as u64) >= size.max(0) as u64
                        && raw.saturating_mul(lens.len().saturating_sub(1) as u64)
                            < size.max(0) as u64;
                    if lens.iter().sum::<u64>() != data.len() as u64 || !covers {
                        problems.push(format!("blob {hash} has a frame table not matching it"));
                    }
                }
            }
        }
        match zstd::stream::decode_all(data.as_slice()) {
            Err(e) => problems.push(format!("blob {hash} does not decompress: {e}")),
            Ok(raw) => {
                if i64::try_from(raw.len()) != Ok(size) {
                    problems.push(format!(
                        "blob {hash} is {} bytes, recorded as {size}",
                        raw.len()
                    ));
                }
                let actual = hex::encode(Sha256::digest(&raw));
                if actual != hash {
                    problems.push(format!("blob {hash} has SHA-256 {actual}"));
                }
            }
        }
    }
    Ok(report)
}

/// Every keyword of an entry is in its mailbox's keyword list, spelled the
/// same.
fn check_keywords(conn: &Connection, problems: &mut Vec<String>) -> Result<(), StoreError> {
    let mut stmt =
        conn.prepare("SELECT e.mailbox, e.uid, e.keywords FROM entries e WHERE e.keywords != ''")?;
    let mut listed = conn.prepare_cached(
        "SELECT 1 FROM mailbox_keywords WHERE mailbox = ?1 AND keyword = ?2 COLLATE BINARY",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let (mailbox, uid, keywords): (i64, i64, String) = (r.get(0)?, r.get(1)?, r.get(2)?);
        for k in keywords.split_whitespace() {
            if !listed.exists(rusqlite::params![mailbox, k])? {
                problems.push(format!(
                    "entry {mailbox}/{uid} has keyword {k} missing from its mailbox's list"
                ));
            }
        }
    }
    Ok(())
}
