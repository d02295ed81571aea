//! Read queries. They run on pooled read-only connections inside a
//! deferred transaction (one consistent snapshot per call), on tokio's
//! blocking pool — never on the writer thread.

use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::api::*;
use crate::error::StoreError;
use crate::names;
use pillarbox_message::summary::Summary;

use super::blob::{self, BlobLocation};
use super::{flags, from_db_u64, search, to_db_u64};

/// Columns read by [`entry_from_row`]; `e` is `entries` (which carries its
/// message's size and internal date, so no join is needed).
pub(crate) const ENTRY_COLUMNS: &str =
    "e.uid, e.message, e.flags, e.keywords, e.modseq, e.size, e.internal_date, e.saved_date";

pub(crate) fn entry_from_row(r: &Row<'_>) -> rusqlite::Result<Entry> {
    let keywords: String = r.get(3)?;
    Ok(Entry {
        uid: Uid(r.get(0)?),
        message: MessageId(r.get(1)?),
        flags: Flags(r.get(2)?),
        keywords: keywords.split_whitespace().map(str::to_owned).collect(),
        modseq: ModSeq(from_db_u64(r.get(4)?)),
        size: from_db_u64(r.get(5)?),
        internal_date: r.get(6)?,
        saved_date: r.get(7)?,
    })
}

const DOMAIN_COLUMNS: &str = "id, name, catch_all";

fn domain_from_row(r: &Row<'_>) -> rusqlite::Result<Domain> {
    Ok(Domain {
        id: DomainId(r.get(0)?),
        name: r.get(1)?,
        catch_all: r.get::<_, Option<i64>>(2)?.map(AccountId),
    })
}

const ACCOUNT_COLUMNS: &str = "id, login, quota, used";

fn account_from_row(r: &Row<'_>) -> rusqlite::Result<Account> {
    Ok(Account {
        id: AccountId(r.get(0)?),
        login: r.get(1)?,
        quota: r.get::<_, Option<i64>>(2)?.map(from_db_u64),
        used: from_db_u64(r.get(3)?),
    })
}

/// Mailbox columns with their stored counters; `x` is `mailboxes`.
const MAILBOX_COLUMNS: &str = "x.id, x.account, x.name, x.special_use,
    EXISTS (SELECT 1 FROM subscriptions s WHERE s.account = x.account AND s.name = x.name),
    x.uidvalidity, x.uidnext, x.highestmodseq,
    x.total_count, x.unseen_count, x.deleted_count, x.total_size";

fn mailbox_from_row(r: &Row<'_>) -> rusqlite::Result<Mailbox> {
    let special_use: Option<String> = r.get(3)?;
    Ok(Mailbox {
        id: MailboxId(r.get(0)?),
        account: AccountId(r.get(1)?),
        name: r.get(2)?,
        special_use: special_use.as_deref().and_then(SpecialUse::from_attribute),
        subscribed: r.get(4)?,
        uid_validity: UidValidity(r.get(5)?),
        uid_next: Uid(r.get(6)?),
        highest_modseq: ModSeq(from_db_u64(r.get(7)?)),
        exists: r.get(8)?,
        unseen: r.get(9)?,
        deleted: r.get(10)?,
        size: from_db_u64(r.get(11)?),
    })
}

pub(crate) fn domain(conn: &Connection, name: &str) -> Result<Option<Domain>, StoreError> {
    let Ok(name) = names::domain(name) else {
        return Ok(None);
    };
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {DOMAIN_COLUMNS} FROM domains WHERE name = ?1"
        ))?
        .query_row([name], domain_from_row)
        .optional()?)
}

pub(crate) fn list_domains(conn: &Connection) -> Result<Vec<Domain>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {DOMAIN_COLUMNS} FROM domains ORDER BY name"
        ))?
        .query_map([], domain_from_row)?
        .collect::<Result<_, _>>()?)
}

pub(crate) fn account(conn: &Connection, login: &str) -> Result<Option<Account>, StoreError> {
    let Ok((login, _)) = names::address(login) else {
        return Ok(None);
    };
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE login = ?1"
        ))?
        .query_row([login], account_from_row)
        .optional()?)
}

pub(crate) fn account_by_id(
    conn: &Connection,
    id: AccountId,
) -> Result<Option<Account>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = ?1"
        ))?
        .query_row([id.0], account_from_row)
        .optional()?)
}

pub(crate) fn list_accounts(conn: &Connection) -> Result<Vec<Account>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY login"
        ))?
        .query_map([], account_from_row)?
        .collect::<Result<_, _>>()?)
}

pub(crate) fn credentials(
    conn: &Connection,
    login: &str,
) -> Result<Option<(AccountId, StoredCredentials)>, StoreError> {
    let Ok((login, _)) = names::address(login) else {
        return Ok(None);
    };
    Ok(conn
        .prepare_cached("SELECT id, password_hash, scram_sha256 FROM accounts WHERE login = ?1")?
        .query_row([login], |r| {
            Ok((
                AccountId(r.get(0)?),
                StoredCredentials {
                    password_hash: r.get(1)?,
                    scram_sha256: r.get(2)?,
                },
            ))
        })
        .optional()?)
}

pub(crate) fn lookup_address(
    conn: &Connection,
    address: &str,
) -> Result<Option<AddressTarget>, StoreError> {
    let Ok((address, _)) = names::address(address) else {
        return Ok(None);
    };
    let account: Option<i64> = conn
        .prepare_cached("SELECT id FROM accounts WHERE login = ?1")?
        .query_row([&address], |r| r.get(0))
        .optional()?;
    if let Some(id) = account {
        return Ok(Some(AddressTarget::Account(AccountId(id))));
    }
    let targets: Vec<String> = conn
        .prepare_cached("SELECT target FROM aliases WHERE address = ?1 ORDER BY target")?
        .query_map([&address], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok((!targets.is_empty()).then_some(AddressTarget::Alias(targets)))
}

pub(crate) fn list_aliases(conn: &Connection) -> Result<Vec<(String, Vec<String>)>, StoreError> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    let mut stmt =
        conn.prepare_cached("SELECT address, target FROM aliases ORDER BY address, target")?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let address: String = r.get(0)?;
        let target: String = r.get(1)?;
        match out.last_mut() {
            Some((a, targets)) if *a == address => targets.push(target),
            _ => out.push((address, vec![target])),
        }
    }
    Ok(out)
}

pub(crate) fn list_mailboxes(
    conn: &Connection,
    account: AccountId,
) -> Result<Vec<Mailbox>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {MAILBOX_COLUMNS} FROM mailboxes x WHERE x.account = ?1 ORDER BY x.id"
        ))?
        .query_map([account.0], mailbox_from_row)?
        .collect::<Result<_, _>>()?)
}

pub(crate) fn mailbox_by_name(
    conn: &Connection,
    account: AccountId,
    name: &str,
) -> Result<Option<Mailbox>, StoreError> {
    let Ok(name) = names::mailbox(name) else {
        return Ok(None);
    };
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {MAILBOX_COLUMNS} FROM mailboxes x WHERE x.account = ?1 AND x.name = ?2"
        ))?
        .query_row(params![account.0, name], mailbox_from_row)
        .optional()?)
}

pub(crate) fn mailbox(
    conn: &Connection,
    account: AccountId,
    id: MailboxId,
) -> Result<Option<Mailbox>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {MAILBOX_COLUMNS} FROM mailboxes x WHERE x.id = ?1 AND x.account = ?2"
        ))?
        .query_row(params![id.0, account.0], mailbox_from_row)
        .optional()?)
}

pub(crate) fn require_mailbox(
    conn: &Connection,
    account: AccountId,
    id: MailboxId,
) -> Result<(), StoreError> {
    let exists = conn
        .prepare_cached("SELECT 1 FROM mailboxes WHERE id = ?1 AND account = ?2")?
        .exists(params![id.0, account.0])?;
    if exists {
        Ok(())
    } else {
        Err(StoreError::NotFound(format!("mailbox {id}")))
    }
}

pub(crate) fn entries(
    conn: &Connection,
    account: AccountId,
    mailbox: MailboxId,
) -> Result<Vec<Entry>, StoreError> {
    require_mailbox(conn, account, mailbox)?;
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {ENTRY_COLUMNS} FROM entries e WHERE e.mailbox = ?1 ORDER BY e.uid"
        ))?
        .query_map([mailbox.0], entry_from_row)?
        .collect::<Result<_, _>>()?)
}

/// Account isolation: a message is visible to an account only through an
/// entry in one of its mailboxes.
const OWNED_MESSAGE: &str = "EXISTS (SELECT 1 FROM entries e JOIN mailboxes x ON x.id = e.mailbox
                                     WHERE e.message = g.id AND x.account = ?2)";

pub(crate) fn message_bytes(
    conn: &Connection,
    account: AccountId,
    message: MessageId,
) -> Result<Arc<Vec<u8>>, StoreError> {
    let row: Option<(Vec<u8>, i64)> = conn
        .prepare_cached(&format!(
            "SELECT b.data, g.size FROM messages g JOIN blobs b ON b.hash = g.blob
             WHERE g.id = ?1 AND {OWNED_MESSAGE}"
        ))?
        .query_row(params![message.0, account.0], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    let (compressed, size) =
        row.ok_or_else(|| StoreError::NotFound(format!("message {message}")))?;
    let size = usize::try_from(size)
        .map_err(|_| StoreError::Internal(format!("message {message}: bad size {size}")))?;
    let data = blob::decompress_all(&compressed, size)
        .map_err(|e| StoreError::Internal(format!("message {message}: {e}")))?;
    Ok(Arc::new(data))
}

/// Where a message's body is stored, and its header length.
fn locate(
    conn: &Connection,
    account: AccountId,
    message: MessageId,
) -> Result<(BlobLocation, u64), StoreError> {
    conn.prepare_cached(&format!(
        "SELECT b.rowid, g.size, b.frames, g.header_len
           FROM messages g JOIN blobs b ON b.hash = g.blob
          WHERE g.id = ?1 AND {OWNED_MESSAGE}"
    ))?
    .query_row(params![message.0, account.0], |r| {
        Ok((
            BlobLocation {
                rowid: r.get(0)?,
                size: from_db_u64(r.get(1)?),
                frames: r.get(2)?,
            },
            from_db_u64(r.get(3)?),
        ))
    })
    .optional()?
    .ok_or_else(|| StoreError::NotFound(format!("message {message}")))
}

pub(crate) fn message_range(
    conn: &Connection,
    account: AccountId,
    message: MessageId,
    start: u64,
    len: u64,
) -> Result<Vec<u8>, StoreError> {
    let (blob, _) = locate(conn, account, message)?;
    let end = start.saturating_add(len).min(blob.size);
    blob::read_range(conn, &blob, start.min(end), end)
}

pub(crate) fn message_header(
    conn: &Connection,
    account: AccountId,
    message: MessageId,
) -> Result<Vec<u8>, StoreError> {
    let (blob, header_len) = locate(conn, account, message)?;
    blob::read_range(conn, &blob, 0, header_len.min(blob.size))
}

pub(crate) fn summary(
    conn: &Connection,
    account: AccountId,
    message: MessageId,
) -> Result<Summary, StoreError> {
    let json: String = conn
        .prepare_cached(&format!(
            "SELECT g.summary FROM messages g WHERE g.id = ?1 AND {OWNED_MESSAGE}"
        ))?
        .query_row(params![message.0, account.0], |r| r.get(0))
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("message {message}")))?;
    serde_json::from_str(&json)
        .map_err(|e| StoreError::Internal(format!("message {message}: bad summary: {e}")))
}

pub(crate) fn vanished(
    conn: &Connection,
    account: AccountId,
    mailbox: MailboxId,
    since: ModSeq,
) -> Result<Vec<Uid>, StoreError> {
    require_mailbox(conn, account, mailbox)?;
    Ok(conn
        .prepare_cached(
            "SELECT uid FROM tombstones WHERE mailbox = ?1 AND modseq > ?2 ORDER BY uid",
        )?
        .query_map(params![mailbox.0, to_db_u64(since.0)], |r| {
            Ok(Uid(r.get(0)?))
        })?
        .collect::<Result<_, _>>()?)
}

pub(crate) fn entries_changed_since(
    conn: &Connection,
    account: AccountId,
    mailbox: MailboxId,
    since: ModSeq,
) -> Result<Vec<Entry>, StoreError> {
    require_mailbox(conn, account, mailbox)?;
    let since = to_db_u64(since.0);
    // The MODSEQ index finds a few changes fast, but each then costs a row
    // lookup and the result a sort; when many entries changed (a client
    // resyncing from far back), one scan in UID order is cheaper. Counting
    // on the index alone tells which case this is.
    let (changed, total): (i64, i64) = conn
        .prepare_cached(
            "SELECT (SELECT count(*) FROM entries WHERE mailbox = ?1 AND modseq > ?2),
                    (SELECT total_count FROM mailboxes WHERE id = ?1)",
        )?
        .query_row(params![mailbox.0, since], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let sql = if changed.saturating_mul(8) > total {
        // `+` keeps SQLite from using the MODSEQ index.
        format!(
            "SELECT {ENTRY_COLUMNS} FROM entries e WHERE e.mailbox = ?1 AND +e.modseq > ?2
             ORDER BY e.uid"
        )
    } else {
        format!(
            "SELECT {ENTRY_COLUMNS} FROM entries e WHERE e.mailbox = ?1 AND e.modseq > ?2
             ORDER BY e.uid"
        )
    };
    Ok(conn
        .prepare_cached(&sql)?
        .query_map(params![mailbox.0, since], entry_from_row)?
        .collect::<Result<_, _>>()?)
}

pub(crate) fn first_unseen(
    conn: &Connection,
    account: AccountId,
    mailbox: MailboxId,
) -> Result<Option<FirstUnseen>, StoreError> {
    require_mailbox(conn, account, mailbox)?;
    // Served by the partial index `entries_unseen`.
    let uid: Option<u32> = conn
        .prepare_cached("SELECT min(uid) FROM entries WHERE mailbox = ?1 AND (flags & 1) = 0")?
        .query_row([mailbox.0], |r| r.get(0))?;
    let Some(uid) = uid else { return Ok(None) };
    let seq: u32 = conn
        .prepare_cached("SELECT count(*) FROM entries WHERE mailbox = ?1 AND uid <= ?2")?
        .query_row(params![mailbox.0, uid], |r| r.get(0))?;
    Ok(Some(FirstUnseen { seq, uid: Uid(uid) }))
}

pub(crate) fn mailbox_keywords(
    conn: &Connection,
    account: AccountId,
    mailbox: MailboxId,
) -> Result<Vec<String>, StoreError> {
    require_mailbox(conn, account, mailbox)?;
    flags::mailbox_keywords(conn, mailbox)
}

pub(crate) fn list_subscriptions(
    conn: &Connection,
    account: AccountId,
) -> Result<Vec<String>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT name FROM subscriptions WHERE account = ?1 ORDER BY name")?
        .query_map([account.0], |r| r.get(0))?
        .collect::<Result<_, _>>()?)
}

pub(crate) fn search_text(
    conn: &Connection,
    account: AccountId,
    mailbox: MailboxId,
    field: &SearchField,
    needle: &str,
) -> Result<Vec<Uid>, StoreError> {
    require_mailbox(conn, account, mailbox)?;
    search::search_text(conn, mailbox, field, needle)
}
