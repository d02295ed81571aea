//! The batched read behind IMAP SORT / THREAD (RFC 5256): the
//! [`SortFields`] of many entries in one read transaction, taken from the
//! stored summaries with `json_extract` so the MIME tree and ENVELOPE are
//! neither copied out of SQLite nor deserialised.

use rusqlite::{Connection, Row, params};

use crate::api::*;
use crate::error::StoreError;
use pillarbox_message::sort_fields::SortFields;
use pillarbox_message::summary::SummaryAddress;

use super::read::require_mailbox;

/// The summary keys read, in [`Extracted`] order.
const FIELDS: &str = "json_extract(g.summary, '$.date', '$.subject', '$.from', '$.to', '$.cc',
                      '$.message_id', '$.in_reply_to', '$.references')";

/// `json_extract` with several paths answers a JSON array, `null` for a
/// missing key.
type Extracted = (
    Option<i64>,
    Option<String>,
    Option<Vec<SummaryAddress>>,
    Option<Vec<SummaryAddress>>,
    Option<Vec<SummaryAddress>>,
    Option<String>,
    Option<Vec<String>>,
    Option<Vec<String>>,
);

fn from_row(r: &Row<'_>) -> rusqlite::Result<(Uid, String)> {
    Ok((Uid(r.get(0)?), r.get(1)?))
}

fn decode(uid: Uid, json: &str) -> Result<(Uid, SortFields), StoreError> {
    let (date, subject, from, to, cc, message_id, in_reply_to, references): Extracted =
        serde_json::from_str(json)
            .map_err(|e| StoreError::Internal(format!("uid {uid}: bad summary: {e}")))?;
    Ok((
        uid,
        SortFields {
            date,
            subject,
            from: from.unwrap_or_default(),
            to: to.unwrap_or_default(),
            cc: cc.unwrap_or_default(),
            message_id,
            in_reply_to: in_reply_to.unwrap_or_default(),
            references: references.unwrap_or_default(),
        },
    ))
}

pub(crate) fn sort_fields(
    conn: &Connection,
    account: AccountId,
    mailbox: MailboxId,
    uids: &[Uid],
) -> Result<Vec<(Uid, SortFields)>, StoreError> {
    require_mailbox(conn, account, mailbox)?;
    let total: i64 = conn
        .prepare_cached("SELECT total_count FROM mailboxes WHERE id = ?1")?
        .query_row([mailbox.0], |r| r.get(0))?;
    let mut out = Vec::with_capacity(uids.len());
    // A few UIDs: one indexed lookup each (same statement, same snapshot).
    // Many: one scan in UID order, keeping the wanted ones.
    if (uids.len() as i64).saturating_mul(8) < total {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT e.uid, {FIELDS} FROM entries e JOIN messages g ON g.id = e.message
             WHERE e.mailbox = ?1 AND e.uid = ?2"
        ))?;
        let mut last = None;
        for &uid in uids {
            if last.is_some_and(|l| l >= uid) {
                continue; // not ascending: skip duplicates / disorder
            }
            last = Some(uid);
            let mut rows = stmt.query(params![mailbox.0, uid.0])?;
            if let Some(r) = rows.next()? {
                let (uid, json) = from_row(r)?;
                out.push(decode(uid, &json)?);
            }
        }
    } else {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT e.uid, {FIELDS} FROM entries e JOIN messages g ON g.id = e.message
             WHERE e.mailbox = ?1 ORDER BY e.uid"
        ))?;
        let mut rows = stmt.query([mailbox.0])?;
        let mut want = uids.iter().copied().peekable();
        while let Some(r) = rows.next()? {
            let uid = Uid(r.get(0)?);
            while want.peek().is_some_and(|w| *w < uid) {
                want.next();
            }
            if want.peek() != Some(&uid) {
                continue;
            }
            want.next();
            let json: String = r.get(1)?;
            out.push(decode(uid, &json)?);
            if want.peek().is_none() {
                break;
            }
        }
    }
    Ok(out)
}
