//! Mailbox management writes: create, delete, rename, special-use and
//! subscriptions (RFC 9051 §6.3, RFC 6154).

use rusqlite::{Connection, OptionalExtension, params};

use crate::api::*;
use crate::error::StoreError;
use crate::names;

use super::ops::{MailboxCursor, Transfer, collect_garbage, transfer};
use super::{read, unix_now};

/// The next UIDVALIDITY: strictly greater than every one handed out before
/// in this store (RFC 9051 §2.3.1.1: a mailbox recreated under an old name
/// — after DELETE or RENAME — must get a new UIDVALIDITY), and at least the
/// current Unix time so that a store rebuilt from scratch does not repeat
/// the values of the old one.
fn next_uid_validity(conn: &Connection) -> Result<u32, StoreError> {
    let last: i64 = conn
        .prepare_cached(
            "SELECT max(coalesce((SELECT value FROM meta WHERE key = 'uidvalidity'), 0),
                        coalesce((SELECT max(uidvalidity) FROM mailboxes), 0))",
        )?
        .query_row([], |r| r.get(0))?;
    let next = (last + 1).max(unix_now());
    if next > i64::from(u32::MAX) {
        return Err(StoreError::Internal("UIDVALIDITY space exhausted".into()));
    }
    conn.prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES ('uidvalidity', ?1)")?
        .execute([next])?;
    Ok(next as u32)
}

/// Inserts a mailbox row with a fresh UIDVALIDITY (`name` already
/// canonical and free).
pub(crate) fn insert_mailbox(
    conn: &Connection,
    account: i64,
    name: &str,
    special_use: Option<SpecialUse>,
) -> Result<MailboxId, StoreError> {
    let uid_validity = next_uid_validity(conn)?;
    conn.prepare_cached(
        "INSERT INTO mailboxes (account, name, special_use, uidvalidity) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![
        account,
        name,
        special_use.map(SpecialUse::attribute),
        uid_validity
    ])?;
    Ok(MailboxId(conn.last_insert_rowid()))
}

/// Adds `name` to the account's subscriptions (no-op if present).
pub(crate) fn subscribe(conn: &Connection, account: i64, name: &str) -> Result<(), StoreError> {
    conn.prepare_cached("INSERT OR IGNORE INTO subscriptions (account, name) VALUES (?1, ?2)")?
        .execute(params![account, name])?;
    Ok(())
}

fn require_account(conn: &Connection, account: AccountId) -> Result<(), StoreError> {
    let exists = conn
        .prepare_cached("SELECT 1 FROM accounts WHERE id = ?1")?
        .exists([account.0])?;
    if exists {
        Ok(())
    } else {
        Err(StoreError::NotFound(format!("account {account}")))
    }
}

fn mailbox_id(
    conn: &Connection,
    account: AccountId,
    name: &str,
) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT id FROM mailboxes WHERE account = ?1 AND name = ?2")?
        .query_row(params![account.0, name], |r| r.get(0))
        .optional()?)
}

/// The mailbox as a record, read inside the writer's transaction.
fn record(conn: &Connection, account: AccountId, id: MailboxId) -> Result<Mailbox, StoreError> {
    read::mailbox(conn, account, id)?
        .ok_or_else(|| StoreError::Internal(format!("mailbox {id} vanished")))
}

pub(crate) fn create_mailbox(
    conn: &Connection,
    account: AccountId,
    name: &str,
    special_use: Option<SpecialUse>,
) -> Result<Mailbox, StoreError> {
    let name = names::mailbox(name)?;
    require_account(conn, account)?;
    // RFC 9051 §6.3.4: creating an existing name (INBOX always exists) is
    // an error (ALREADYEXISTS).
    if mailbox_id(conn, account, &name)?.is_some() {
        return Err(StoreError::Conflict(format!("mailbox {name}")));
    }
    // The parents implied by `/` are not created: see the crate docs.
    let id = insert_mailbox(conn, account.0, &name, special_use)?;
    record(conn, account, id)
}

pub(crate) fn delete_mailbox(
    conn: &Connection,
    account: AccountId,
    name: &str,
    changes: &mut Vec<Change>,
) -> Result<(), StoreError> {
    let name = names::mailbox(name)?;
    // RFC 9051 §6.3.5: it is an error to delete INBOX.
    if name == "INBOX" {
        return Err(StoreError::Invalid("INBOX cannot be deleted".into()));
    }
    let id = mailbox_id(conn, account, &name)?
        .ok_or_else(|| StoreError::NotFound(format!("mailbox {name}")))?;
    let mut cursor = MailboxCursor::load(conn, account, MailboxId(id))?;
    let messages: Vec<i64> = conn
        .prepare_cached("SELECT DISTINCT message FROM entries WHERE mailbox = ?1")?
        .query_map([id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    // Entries first, explicitly: their delete trigger credits the account.
    conn.prepare_cached("DELETE FROM entries WHERE mailbox = ?1")?
        .execute([id])?;
    conn.prepare_cached("DELETE FROM tombstones WHERE mailbox = ?1")?
        .execute([id])?;
    conn.prepare_cached("DELETE FROM mailbox_keywords WHERE mailbox = ?1")?
        .execute([id])?;
    conn.prepare_cached("DELETE FROM mailboxes WHERE id = ?1")?
        .execute([id])?;
    // Children (`name/...`) stay, as do subscriptions (RFC 9051 §6.3.5,
    // §6.3.7). A mailbox later created under this name gets a new id and a
    // new UIDVALIDITY, so no UID of this one is ever reused.
    collect_garbage(conn, &messages)?;
    // Tells sessions watching the mailbox; the id no longer resolves.
    let modseq = cursor.next_modseq();
    changes.push(Change {
        account,
        mailbox: MailboxId(id),
        modseq: ModSeq(modseq),
    });
    Ok(())
}

/// `to` + the part of `name` after `from` (`name` is `from` or below it).
fn renamed(name: &str, from: &str, to: &str) -> String {
    format!("{to}{}", &name[from.len()..])
}

pub(crate) fn rename_mailbox(
    conn: &Connection,
    account: AccountId,
    from: &str,
    to: &str,
    changes: &mut Vec<Change>,
) -> Result<Mailbox, StoreError> {
    let from = names::mailbox(from)?;
    let to = names::mailbox(to)?;
    let all: Vec<(i64, String)> = conn
        .prepare_cached("SELECT id, name FROM mailboxes WHERE account = ?1")?
        .query_map([account.0], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let &(source, _) = all
        .iter()
        .find(|(_, n)| *n == from)
        .ok_or_else(|| StoreError::NotFound(format!("mailbox {from}")))?;
    if all.iter().any(|(_, n)| *n == to) {
        return Err(StoreError::Conflict(format!("mailbox {to}")));
    }
    if from == "INBOX" {
        return rename_inbox(conn, account, MailboxId(source), &to, changes);
    }
    if names::is_below(&to, &from) {
        return Err(StoreError::Invalid(format!(
            "cannot rename {from} below itself"
        )));
    }
    // RFC 9051 §6.3.6: inferior hierarchical names are renamed too.
    let mut moves: Vec<(i64, String)> = Vec::new();
    for (id, name) in &all {
        if *name == from || names::is_below(name, &from) {
            let new = names::mailbox(&renamed(name, &from, &to))?;
            moves.push((*id, new));
        }
    }
    for (_, new) in &moves {
        let taken = all
            .iter()
            .any(|(id, n)| n == new && !moves.iter().any(|(m, _)| m == id));
        if taken {
            return Err(StoreError::Conflict(format!("mailbox {new}")));
        }
    }
    // Two steps so that no intermediate state violates UNIQUE(account,
    // name) when one new name equals another mailbox's old name (`a/b` →
    // `a` with a child `a/b/b`). Control characters never occur in names.
    let mut set_name = conn.prepare_cached("UPDATE mailboxes SET name = ?1 WHERE id = ?2")?;
    for (id, _) in &moves {
        set_name.execute(params![format!("\u{1}{id}"), id])?;
    }
    for (id, new) in &moves {
        set_name.execute(params![new, id])?;
    }
    // Subscriptions follow the renamed names (also those of children that
    // are only subscribed).
    let subscribed: Vec<String> = conn
        .prepare_cached("SELECT name FROM subscriptions WHERE account = ?1")?
        .query_map([account.0], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut unsubscribe =
        conn.prepare_cached("DELETE FROM subscriptions WHERE account = ?1 AND name = ?2")?;
    for name in subscribed {
        if name == from || names::is_below(&name, &from) {
            unsubscribe.execute(params![account.0, name])?;
            subscribe(conn, account.0, &renamed(&name, &from, &to))?;
        }
    }
    record(conn, account, MailboxId(source))
}

/// RFC 9051 §6.3.6: renaming INBOX moves all its messages to a new mailbox
/// and leaves INBOX empty (its expunges leave tombstones); INBOX's children
/// are unaffected.
fn rename_inbox(
    conn: &Connection,
    account: AccountId,
    inbox: MailboxId,
    to: &str,
    changes: &mut Vec<Change>,
) -> Result<Mailbox, StoreError> {
    let target = insert_mailbox(conn, account.0, to, None)?;
    let uids: Vec<Uid> = conn
        .prepare_cached("SELECT uid FROM entries WHERE mailbox = ?1 ORDER BY uid")?
        .query_map([inbox.0], |r| Ok(Uid(r.get(0)?)))?
        .collect::<Result<_, _>>()?;
    transfer(conn, account, inbox, &uids, target, Transfer::Move, changes)?;
    record(conn, account, target)
}

pub(crate) fn set_special_use(
    conn: &Connection,
    account: AccountId,
    mailbox: MailboxId,
    special_use: Option<SpecialUse>,
) -> Result<(), StoreError> {
    let n = conn
        .prepare_cached("UPDATE mailboxes SET special_use = ?1 WHERE id = ?2 AND account = ?3")?
        .execute(params![
            special_use.map(SpecialUse::attribute),
            mailbox.0,
            account.0
        ])?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("mailbox {mailbox}")));
    }
    Ok(())
}

pub(crate) fn set_subscribed(
    conn: &Connection,
    account: AccountId,
    name: &str,
    subscribed: bool,
) -> Result<(), StoreError> {
    let name = names::mailbox(name)?;
    require_account(conn, account)?;
    if subscribed {
        subscribe(conn, account.0, &name)
    } else {
        conn.prepare_cached("DELETE FROM subscriptions WHERE account = ?1 AND name = ?2")?
            .execute(params![account.0, name])?;
        Ok(())
    }
}
