//! Write operations. Each runs on the writer thread's connection inside a
//! job savepoint of an open `BEGIN IMMEDIATE` transaction (see `writer`),
//! so it sees a stable database and all its statements commit together.

use rusqlite::{Connection, OptionalExtension, params};

use crate::api::*;
use crate::error::StoreError;
use crate::names;

use super::read::{ENTRY_COLUMNS, entry_from_row};
use super::{from_db_u64, to_db_u64, unix_now};

/// A message ready to be stored: hashed, compressed and summarised off the
/// writer thread.
pub(crate) struct PreparedMessage {
    /// SHA-256 of the raw bytes, lowercase hex.
    pub(crate) hash: String,
    /// zstd frame of the raw bytes.
    pub(crate) compressed: Vec<u8>,
    /// Raw size in octets.
    pub(crate) size: u64,
    pub(crate) internal_date: UnixTime,
    /// `pillarbox_message::summary::Summary` as JSON.
    pub(crate) summary_json: String,
}

fn domain_id(conn: &Connection, name: &str) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT id FROM domains WHERE name = ?1")?
        .query_row([name], |r| r.get(0))
        .optional()?)
}

fn account_id(conn: &Connection, login: &str) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT id FROM accounts WHERE login = ?1")?
        .query_row([login], |r| r.get(0))
        .optional()?)
}

fn alias_exists(conn: &Connection, address: &str) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM aliases WHERE address = ?1 LIMIT 1")?
        .exists([address])?)
}

// --- domains ---

pub(crate) fn create_domain(conn: &Connection, name: &str) -> Result<Domain, StoreError> {
    let name = names::domain(name)?;
    if domain_id(conn, &name)?.is_some() {
        return Err(StoreError::Conflict(format!("domain {name}")));
    }
    conn.prepare_cached("INSERT INTO domains (name) VALUES (?1)")?
        .execute([&name])?;
    Ok(Domain {
        id: DomainId(conn.last_insert_rowid()),
        name,
        catch_all: None,
    })
}

pub(crate) fn delete_domain(conn: &Connection, name: &str) -> Result<(), StoreError> {
    let name = names::domain(name)?;
    let id =
        domain_id(conn, &name)?.ok_or_else(|| StoreError::NotFound(format!("domain {name}")))?;
    let accounts: i64 = conn.query_row(
        "SELECT count(*) FROM accounts WHERE domain = ?1",
        [id],
        |r| r.get(0),
    )?;
    let aliases: i64 = conn.query_row(
        "SELECT count(*) FROM aliases WHERE domain = ?1",
        [id],
        |r| r.get(0),
    )?;
    if accounts > 0 || aliases > 0 {
        return Err(StoreError::Conflict(format!(
            "domain {name} still has {accounts} account(s) and {aliases} alias target(s)"
        )));
    }
    conn.execute("DELETE FROM domains WHERE id = ?1", [id])?;
    Ok(())
}

pub(crate) fn set_catch_all(
    conn: &Connection,
    domain: &str,
    account: Option<AccountId>,
) -> Result<(), StoreError> {
    let domain = names::domain(domain)?;
    let id = domain_id(conn, &domain)?
        .ok_or_else(|| StoreError::NotFound(format!("domain {domain}")))?;
    if let Some(a) = account {
        let exists = conn
            .prepare_cached("SELECT 1 FROM accounts WHERE id = ?1")?
            .exists([a.0])?;
        if !exists {
            return Err(StoreError::NotFound(format!("account {a}")));
        }
    }
    conn.execute(
        "UPDATE domains SET catch_all = ?1 WHERE id = ?2",
        params![account.map(|a| a.0), id],
    )?;
    Ok(())
}

// --- accounts ---

/// The next UIDVALIDITY: strictly greater than every one handed out before
/// in this store (RFC 9051 §2.3.1.1: a mailbox recreated under an old name
/// must get a new UIDVALIDITY), and at least the current Unix time so that
/// a store rebuilt from scratch does not repeat the values of the old one.
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

fn insert_mailbox(
    conn: &Connection,
    account: i64,
    name: &str,
    special_use: Option<SpecialUse>,
) -> Result<MailboxId, StoreError> {
    let uid_validity = next_uid_validity(conn)?;
    conn.prepare_cached(
        "INSERT INTO mailboxes (account, name, special_use, subscribed, uidvalidity)
         VALUES (?1, ?2, ?3, 1, ?4)",
    )?
    .execute(params![
        account,
        name,
        special_use.map(SpecialUse::attribute),
        uid_validity
    ])?;
    Ok(MailboxId(conn.last_insert_rowid()))
}

pub(crate) fn create_account(
    conn: &Connection,
    login: &str,
    credentials: &StoredCredentials,
) -> Result<Account, StoreError> {
    let (login, domain) = names::address(login)?;
    let domain_id = domain_id(conn, &domain)?
        .ok_or_else(|| StoreError::NotFound(format!("domain {domain}")))?;
    if account_id(conn, &login)?.is_some() {
        return Err(StoreError::Conflict(format!("account {login}")));
    }
    if alias_exists(conn, &login)? {
        return Err(StoreError::Conflict(format!("{login} is an alias")));
    }
    conn.execute(
        "INSERT INTO accounts (login, domain, password_hash, scram_sha256, quota, used)
         VALUES (?1, ?2, ?3, ?4, NULL, 0)",
        params![
            login,
            domain_id,
            credentials.password_hash,
            credentials.scram_sha256
        ],
    )?;
    let id = conn.last_insert_rowid();
    for (name, special_use) in DEFAULT_MAILBOXES {
        insert_mailbox(conn, id, name, *special_use)?;
    }
    Ok(Account {
        id: AccountId(id),
        login,
        quota: None,
        used: 0,
    })
}

pub(crate) fn delete_account(conn: &Connection, login: &str) -> Result<(), StoreError> {
    let (login, _) = names::address(login)?;
    let id = account_id(conn, &login)?
        .ok_or_else(|| StoreError::NotFound(format!("account {login}")))?;
    let messages: Vec<i64> = conn
        .prepare(
            "SELECT DISTINCT e.message FROM entries e JOIN mailboxes m ON m.id = e.mailbox
             WHERE m.account = ?1",
        )?
        .query_map([id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    conn.execute(
        "DELETE FROM entries WHERE mailbox IN (SELECT id FROM mailboxes WHERE account = ?1)",
        [id],
    )?;
    conn.execute(
        "DELETE FROM tombstones WHERE mailbox IN (SELECT id FROM mailboxes WHERE account = ?1)",
        [id],
    )?;
    conn.execute("DELETE FROM mailboxes WHERE account = ?1", [id])?;
    conn.execute(
        "UPDATE domains SET catch_all = NULL WHERE catch_all = ?1",
        [id],
    )?;
    conn.execute("DELETE FROM accounts WHERE id = ?1", [id])?;
    collect_garbage(conn, &messages)?;
    Ok(())
}

pub(crate) fn set_credentials(
    conn: &Connection,
    login: &str,
    credentials: &StoredCredentials,
) -> Result<(), StoreError> {
    let (login, _) = names::address(login)?;
    let n = conn.execute(
        "UPDATE accounts SET password_hash = ?1, scram_sha256 = ?2 WHERE login = ?3",
        params![credentials.password_hash, credentials.scram_sha256, login],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("account {login}")));
    }
    Ok(())
}

pub(crate) fn set_quota(
    conn: &Connection,
    login: &str,
    quota: Option<u64>,
) -> Result<(), StoreError> {
    let (login, _) = names::address(login)?;
    let n = conn.execute(
        "UPDATE accounts SET quota = ?1 WHERE login = ?2",
        params![quota.map(to_db_u64), login],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("account {login}")));
    }
    Ok(())
}

// --- aliases ---

pub(crate) fn add_alias(conn: &Connection, address: &str, target: &str) -> Result<(), StoreError> {
    let (address, domain) = names::address(address)?;
    let (target, _) = names::address(target)?;
    let domain_id = domain_id(conn, &domain)?
        .ok_or_else(|| StoreError::NotFound(format!("domain {domain}")))?;
    if account_id(conn, &address)?.is_some() {
        return Err(StoreError::Conflict(format!("{address} is an account")));
    }
    let n = conn.execute(
        "INSERT OR IGNORE INTO aliases (address, target, domain) VALUES (?1, ?2, ?3)",
        params![address, target, domain_id],
    )?;
    if n == 0 {
        return Err(StoreError::Conflict(format!("alias {address} -> {target}")));
    }
    Ok(())
}

pub(crate) fn remove_alias(
    conn: &Connection,
    address: &str,
    target: Option<&str>,
) -> Result<(), StoreError> {
    let (address, _) = names::address(address)?;
    let n = match target {
        Some(t) => {
            let (t, _) = names::address(t)?;
            conn.execute(
                "DELETE FROM aliases WHERE address = ?1 AND target = ?2",
                params![address, t],
            )?
        }
        None => conn.execute("DELETE FROM aliases WHERE address = ?1", [&address])?,
    };
    if n == 0 {
        return Err(StoreError::NotFound(format!("alias {address}")));
    }
    Ok(())
}

// --- messages ---

/// A mailbox of `account`, with its `(uidnext, highestmodseq)`; `NotFound`
/// when it does not exist or belongs to another account.
fn owned_mailbox(
    conn: &Connection,
    account: AccountId,
    mailbox: MailboxId,
) -> Result<(u32, u64), StoreError> {
    conn.prepare_cached(
        "SELECT uidnext, highestmodseq FROM mailboxes WHERE id = ?1 AND account = ?2",
    )?
    .query_row(params![mailbox.0, account.0], |r| {
        Ok((r.get::<_, u32>(0)?, from_db_u64(r.get(1)?)))
    })
    .optional()?
    .ok_or_else(|| StoreError::NotFound(format!("mailbox {mailbox}")))
}

/// Deletes those of `messages` that no entry refers to any more, and then
/// their blobs if no message refers to them.
fn collect_garbage(conn: &Connection, messages: &[i64]) -> Result<(), StoreError> {
    let mut referenced = conn.prepare_cached("SELECT 1 FROM entries WHERE message = ?1 LIMIT 1")?;
    let mut delete_message =
        conn.prepare_cached("DELETE FROM messages WHERE id = ?1 RETURNING blob")?;
    let mut blob_used = conn.prepare_cached("SELECT 1 FROM messages WHERE blob = ?1 LIMIT 1")?;
    let mut delete_blob = conn.prepare_cached("DELETE FROM blobs WHERE hash = ?1")?;
    for &id in messages {
        if referenced.exists([id])? {
            continue;
        }
        let blob: Option<String> = delete_message.query_row([id], |r| r.get(0)).optional()?;
        if let Some(blob) = blob
            && !blob_used.exists([&blob])?
        {
            delete_blob.execute([&blob])?;
        }
    }
    Ok(())
}

/// Stores `message` for each target; see [`MailStore::deliver`]. A target
/// fails alone with `NotFound`, `QuotaExceeded` or `Invalid`; any other
/// error fails the whole job (and rolls back its savepoint).
pub(crate) fn deliver(
    conn: &Connection,
    message: &PreparedMessage,
    targets: &[DeliveryTarget],
    changes: &mut Vec<Change>,
) -> Result<Vec<Result<Delivered, StoreError>>, StoreError> {
    let mut stored: Option<MessageId> = None;
    let mut results = Vec::with_capacity(targets.len());
    for target in targets {
        match deliver_one(conn, message, &mut stored, target, changes) {
            Ok(d) => results.push(Ok(d)),
            Err(
                e @ (StoreError::NotFound(_) | StoreError::QuotaExceeded | StoreError::Invalid(_)),
            ) => results.push(Err(e)),
            Err(e) => return Err(e),
        }
    }
    Ok(results)
}

fn deliver_one(
    conn: &Connection,
    message: &PreparedMessage,
    stored: &mut Option<MessageId>,
    target: &DeliveryTarget,
    changes: &mut Vec<Change>,
) -> Result<Delivered, StoreError> {
    let keywords = names::keywords(&target.keywords)?.join(" ");
    let account = target.account;
    let (quota, used): (Option<i64>, i64) = conn
        .prepare_cached("SELECT quota, used FROM accounts WHERE id = ?1")?
        .query_row([account.0], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("account {account}")))?;
    let (mailbox, uid_next, highest): (i64, u32, i64) = match target.mailbox {
        Some(id) => conn
            .prepare_cached(
                "SELECT id, uidnext, highestmodseq FROM mailboxes WHERE id = ?1 AND account = ?2",
            )?
            .query_row(params![id.0, account.0], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()?,
        None => conn
            .prepare_cached(
                "SELECT id, uidnext, highestmodseq FROM mailboxes
                 WHERE account = ?1 AND name = 'INBOX'",
            )?
            .query_row([account.0], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?,
    }
    .ok_or_else(|| StoreError::NotFound(format!("mailbox of account {account}")))?;
    let size = message.size;
    if let Some(quota) = quota
        && from_db_u64(used).saturating_add(size) > from_db_u64(quota)
    {
        return Err(StoreError::QuotaExceeded);
    }
    if uid_next == u32::MAX {
        return Err(StoreError::Invalid("mailbox UID space exhausted".into()));
    }
    let message_id = match *stored {
        Some(id) => id,
        None => {
            // Content-addressed: an identical body is stored once.
            conn.prepare_cached(
                "INSERT OR IGNORE INTO blobs (hash, data, size) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![message.hash, message.compressed, to_db_u64(size)])?;
            conn.prepare_cached(
                "INSERT INTO messages (blob, size, internal_date, summary) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![
                message.hash,
                to_db_u64(size),
                message.internal_date,
                message.summary_json
            ])?;
            let id = MessageId(conn.last_insert_rowid());
            *stored = Some(id);
            id
        }
    };
    let uid = uid_next;
    let modseq = highest + 1;
    conn.prepare_cached("UPDATE mailboxes SET uidnext = ?1, highestmodseq = ?2 WHERE id = ?3")?
        .execute(params![uid + 1, modseq, mailbox])?;
    conn.prepare_cached(
        "INSERT INTO entries (mailbox, uid, message, flags, keywords, modseq, saved_date)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        mailbox,
        uid,
        message_id.0,
        target.flags.0,
        keywords,
        modseq,
        unix_now()
    ])?;
    conn.prepare_cached("UPDATE accounts SET used = used + ?1 WHERE id = ?2")?
        .execute(params![to_db_u64(size), account.0])?;
    let modseq = ModSeq(from_db_u64(modseq));
    changes.push(Change {
        account,
        mailbox: MailboxId(mailbox),
        modseq,
    });
    Ok(Delivered {
        mailbox: MailboxId(mailbox),
        uid: Uid(uid),
        message: message_id,
        modseq,
    })
}

pub(crate) fn expunge(
    conn: &Connection,
    account: AccountId,
    mailbox: MailboxId,
    uids: &[Uid],
    changes: &mut Vec<Change>,
) -> Result<Vec<Uid>, StoreError> {
    let (_, mut modseq) = owned_mailbox(conn, account, mailbox)?;
    let mut uids = uids.to_vec();
    uids.sort_unstable();
    uids.dedup();
    let mut removed = Vec::new();
    let mut messages = Vec::new();
    let mut freed: u64 = 0;
    {
        let mut get = conn.prepare_cached(
            "SELECT e.message, coalesce(m.size, 0) FROM entries e LEFT JOIN messages m ON m.id = e.message
             WHERE e.mailbox = ?1 AND e.uid = ?2",
        )?;
        let mut delete =
            conn.prepare_cached("DELETE FROM entries WHERE mailbox = ?1 AND uid = ?2")?;
        let mut tombstone = conn.prepare_cached(
            "INSERT OR REPLACE INTO tombstones (mailbox, uid, modseq) VALUES (?1, ?2, ?3)",
        )?;
        for uid in uids {
            let row: Option<(i64, i64)> = get
                .query_row(params![mailbox.0, uid.0], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            let Some((message, size)) = row else { continue };
            delete.execute(params![mailbox.0, uid.0])?;
            // RFC 7162 §3.2.10: every expunge gets its own MODSEQ, kept in a
            // tombstone so QRESYNC can report it as VANISHED.
            modseq += 1;
            tombstone.execute(params![mailbox.0, uid.0, to_db_u64(modseq)])?;
            removed.push(uid);
            messages.push(message);
            freed += from_db_u64(size);
        }
    }
    if removed.is_empty() {
        return Ok(removed);
    }
    conn.prepare_cached("UPDATE mailboxes SET highestmodseq = ?1 WHERE id = ?2")?
        .execute(params![to_db_u64(modseq), mailbox.0])?;
    conn.prepare_cached("UPDATE accounts SET used = max(used - ?1, 0) WHERE id = ?2")?
        .execute(params![to_db_u64(freed), account.0])?;
    collect_garbage(conn, &messages)?;
    changes.push(Change {
        account,
        mailbox,
        modseq: ModSeq(modseq),
    });
    Ok(removed)
}

pub(crate) fn update_flags(
    conn: &Connection,
    account: AccountId,
    mailbox: MailboxId,
    uids: &[Uid],
    add: Flags,
    remove: Flags,
    changes: &mut Vec<Change>,
) -> Result<Vec<Entry>, StoreError> {
    let (_, mut modseq) = owned_mailbox(conn, account, mailbox)?;
    let mut uids = uids.to_vec();
    uids.sort_unstable();
    uids.dedup();
    let mut changed = Vec::new();
    {
        let mut get = conn.prepare_cached(&format!(
            "SELECT {ENTRY_COLUMNS} FROM entries e JOIN messages m ON m.id = e.message
             WHERE e.mailbox = ?1 AND e.uid = ?2"
        ))?;
        let mut set = conn.prepare_cached(
            "UPDATE entries SET flags = ?1, modseq = ?2 WHERE mailbox = ?3 AND uid = ?4",
        )?;
        for uid in uids {
            let Some(mut entry) = get
                .query_row(params![mailbox.0, uid.0], entry_from_row)
                .optional()?
            else {
                continue;
            };
            let flags = entry.flags.union(add).minus(remove);
            if flags == entry.flags {
                continue;
            }
            // RFC 7162 §3.1: each changed message gets a new, larger MODSEQ.
            modseq += 1;
            set.execute(params![flags.0, to_db_u64(modseq), mailbox.0, uid.0])?;
            entry.flags = flags;
            entry.modseq = ModSeq(modseq);
            changed.push(entry);
        }
    }
    if !changed.is_empty() {
        conn.prepare_cached("UPDATE mailboxes SET highestmodseq = ?1 WHERE id = ?2")?
            .execute(params![to_db_u64(modseq), mailbox.0])?;
        changes.push(Change {
            account,
            mailbox,
            modseq: ModSeq(modseq),
        });
    }
    Ok(changed)
}
