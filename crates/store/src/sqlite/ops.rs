//! Message writes: deliver, append, copy, move, expunge. Each runs on the
//! writer thread's connection inside a job savepoint of an open
//! `BEGIN IMMEDIATE` transaction (see `writer`), so it sees a stable
//! database and all its statements commit together (or, on `Err`, none).
//!
//! Mailbox counters and `accounts.used` follow entry inserts and deletes
//! by themselves (schema triggers); these functions maintain UIDNEXT,
//! HIGHESTMODSEQ, tombstones and the change feed.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, params};

use crate::api::*;
use crate::error::StoreError;

use super::blob::Compressed;
use super::flags::register_keywords;
use super::{from_db_u64, search, to_db_u64, unix_now};

/// A message ready to be stored: hashed, compressed and summarised off the
/// writer thread. Its searchable text is extracted later, by the background
/// indexer (see `indexer`).
pub(crate) struct PreparedMessage {
    /// SHA-256 of the raw bytes, lowercase hex.
    pub(crate) hash: String,
    pub(crate) compressed: Compressed,
    /// Raw size in octets.
    pub(crate) size: u64,
    pub(crate) internal_date: UnixTime,
    /// `pillarbox_message::summary::Summary` as JSON (opaque here).
    pub(crate) summary_json: String,
    /// Length of the header section (from the summary).
    pub(crate) header_len: u64,
}

/// A mailbox being written to: UIDNEXT and HIGHESTMODSEQ are advanced in
/// memory and saved once by [`MailboxCursor::save`].
pub(crate) struct MailboxCursor {
    pub(crate) id: MailboxId,
    pub(crate) account: AccountId,
    pub(crate) uid_validity: UidValidity,
    uid_next: u32,
    modseq: u64,
    loaded_modseq: u64,
}

impl MailboxCursor {
    fn from_row(account: AccountId, r: &rusqlite::Row<'_>) -> rusqlite::Result<MailboxCursor> {
        let modseq = from_db_u64(r.get(3)?);
        Ok(MailboxCursor {
            id: MailboxId(r.get(0)?),
            account,
            uid_validity: UidValidity(r.get(1)?),
            uid_next: r.get(2)?,
            modseq,
            loaded_modseq: modseq,
        })
    }

    /// A mailbox of `account`; `NotFound` when it does not exist or
    /// belongs to another account (account isolation).
    pub(crate) fn load(
        conn: &Connection,
        account: AccountId,
        mailbox: MailboxId,
    ) -> Result<MailboxCursor, StoreError> {
        conn.prepare_cached(
            "SELECT id, uidvalidity, uidnext, highestmodseq FROM mailboxes
             WHERE id = ?1 AND account = ?2",
        )?
        .query_row(params![mailbox.0, account.0], |r| {
            Self::from_row(account, r)
        })
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("mailbox {mailbox}")))
    }

    /// The account's INBOX.
    pub(crate) fn inbox(
        conn: &Connection,
        account: AccountId,
    ) -> Result<MailboxCursor, StoreError> {
        conn.prepare_cached(
            "SELECT id, uidvalidity, uidnext, highestmodseq FROM mailboxes
             WHERE account = ?1 AND name = 'INBOX'",
        )?
        .query_row([account.0], |r| Self::from_row(account, r))
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("INBOX of account {account}")))
    }

    /// Fails unless `n` more UIDs can be handed out.
    pub(crate) fn reserve_uids(&self, n: usize) -> Result<(), StoreError> {
        if u64::from(self.uid_next) + n as u64 > u64::from(u32::MAX) {
            return Err(StoreError::Invalid("mailbox UID space exhausted".into()));
        }
        Ok(())
    }

    /// RFC 7162 §3.1: every change gets a MODSEQ larger than all before.
    pub(crate) fn next_modseq(&mut self) -> u64 {
        self.modseq += 1;
        self.modseq
    }

    fn next_uid(&mut self) -> Result<u32, StoreError> {
        self.reserve_uids(1)?;
        let uid = self.uid_next;
        self.uid_next += 1;
        Ok(uid)
    }

    /// Writes UIDNEXT and HIGHESTMODSEQ back and, if anything changed,
    /// records the change for the feed.
    pub(crate) fn save(
        &self,
        conn: &Connection,
        changes: &mut Vec<Change>,
    ) -> Result<(), StoreError> {
        conn.prepare_cached("UPDATE mailboxes SET uidnext = ?1, highestmodseq = ?2 WHERE id = ?3")?
            .execute(params![self.uid_next, to_db_u64(self.modseq), self.id.0])?;
        if self.modseq != self.loaded_modseq {
            changes.push(Change {
                account: self.account,
                mailbox: self.id,
                modseq: ModSeq(self.modseq),
            });
        }
        Ok(())
    }
}

/// The immutable part of a new entry.
pub(crate) struct NewEntry<'a> {
    pub(crate) message: i64,
    pub(crate) flags: Flags,
    /// Canonical keywords of the target mailbox.
    pub(crate) keywords: &'a [String],
    pub(crate) size: u64,
    pub(crate) internal_date: UnixTime,
}

/// Adds an entry with the next UID and MODSEQ of `mailbox` and SAVEDATE
/// now (RFC 8514).
pub(crate) fn insert_entry(
    conn: &Connection,
    mailbox: &mut MailboxCursor,
    entry: &NewEntry<'_>,
) -> Result<(Uid, ModSeq), StoreError> {
    let uid = mailbox.next_uid()?;
    let modseq = mailbox.next_modseq();
    conn.prepare_cached(
        "INSERT INTO entries (mailbox, uid, message, flags, keywords, modseq, saved_date,
                              size, internal_date)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        mailbox.id.0,
        uid,
        entry.message,
        entry.flags.0 & Flags::ALL.0,
        entry.keywords.join(" "),
        to_db_u64(modseq),
        unix_now(),
        to_db_u64(entry.size),
        entry.internal_date,
    ])?;
    Ok((Uid(uid), ModSeq(modseq)))
}

/// `QuotaExceeded` unless `account` can take `extra` more bytes; `NotFound`
/// if the account does not exist.
pub(crate) fn check_quota(
    conn: &Connection,
    account: AccountId,
    extra: u64,
) -> Result<(), StoreError> {
    let (quota, used): (Option<i64>, i64) = conn
        .prepare_cached("SELECT quota, used FROM accounts WHERE id = ?1")?
        .query_row([account.0], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("account {account}")))?;
    match quota {
        Some(q) if from_db_u64(used).saturating_add(extra) > from_db_u64(q) => {
            Err(StoreError::QuotaExceeded)
        }
        _ => Ok(()),
    }
}

/// Stores a prepared message (blob deduplicated by hash), queued for the
/// full-text indexer; the caller adds the entries referring to it.
fn insert_message(conn: &Connection, message: &PreparedMessage) -> Result<MessageId, StoreError> {
    let size = to_db_u64(message.size);
    // Content-addressed: an identical body is stored once.
    conn.prepare_cached(
        "INSERT OR IGNORE INTO blobs (hash, data, size, frames) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![
        message.hash,
        message.compressed.data,
        size,
        message.compressed.frames
    ])?;
    conn.prepare_cached(
        "INSERT INTO messages (blob, size, internal_date, summary, header_len)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        message.hash,
        size,
        message.internal_date,
        message.summary_json,
        to_db_u64(message.header_len)
    ])?;
    let id = MessageId(conn.last_insert_rowid());
    search::queue_for_index(conn, id)?;
    Ok(id)
}

/// Deletes those of `messages` that no entry refers to any more, with their
/// text index row or pending-index row, and then their blobs if no message
/// refers to them.
pub(crate) fn collect_garbage(conn: &Connection, messages: &[i64]) -> Result<(), StoreError> {
    let mut referenced = conn.prepare_cached("SELECT 1 FROM entries WHERE message = ?1 LIMIT 1")?;
    let mut unqueue = conn.prepare_cached("DELETE FROM fts_pending WHERE message = ?1")?;
    let mut delete_message =
        conn.prepare_cached("DELETE FROM messages WHERE id = ?1 RETURNING blob")?;
    let mut blob_used = conn.prepare_cached("SELECT 1 FROM messages WHERE blob = ?1 LIMIT 1")?;
    let mut delete_blob = conn.prepare_cached("DELETE FROM blobs WHERE hash = ?1")?;
    for &id in messages {
        if referenced.exists([id])? {
            continue;
        }
        // Before the message: the pending row refers to it.
        unqueue.execute([id])?;
        let blob: Option<String> = delete_message.query_row([id], |r| r.get(0)).optional()?;
        let Some(blob) = blob else { continue };
        search::unindex_message(conn, MessageId(id))?;
        if !blob_used.exists([&blob])? {
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
        let mailbox = match target.mailbox {
            Some(id) => MailboxCursor::load(conn, target.account, id),
            None => MailboxCursor::inbox(conn, target.account),
        };
        let result = mailbox.and_then(|mut mailbox| {
            let (uid, message_id, modseq) = store_one(
                conn,
                message,
                &mut stored,
                &mut mailbox,
                target.flags,
                &target.keywords,
            )?;
            mailbox.save(conn, changes)?;
            Ok(Delivered {
                mailbox: mailbox.id,
                uid,
                message: message_id,
                modseq,
            })
        });
        match result {
            Ok(d) => results.push(Ok(d)),
            Err(
                e @ (StoreError::NotFound(_) | StoreError::QuotaExceeded | StoreError::Invalid(_)),
            ) => results.push(Err(e)),
            Err(e) => return Err(e),
        }
    }
    Ok(results)
}

/// Adds `message` to `mailbox`, storing it first if `stored` is empty.
/// Checks the quota, UID space and keywords before writing anything, so a
/// refused target leaves no trace.
fn store_one(
    conn: &Connection,
    message: &PreparedMessage,
    stored: &mut Option<MessageId>,
    mailbox: &mut MailboxCursor,
    flags: Flags,
    keywords: &[String],
) -> Result<(Uid, MessageId, ModSeq), StoreError> {
    crate::names::keywords(keywords)?;
    check_quota(conn, mailbox.account, message.size)?;
    mailbox.reserve_uids(1)?;
    let keywords = register_keywords(conn, mailbox.id, keywords)?;
    let message_id = match *stored {
        Some(id) => id,
        None => *stored.insert(insert_message(conn, message)?),
    };
    let (uid, modseq) = insert_entry(
        conn,
        mailbox,
        &NewEntry {
            message: message_id.0,
            flags,
            keywords: &keywords,
            size: message.size,
            internal_date: message.internal_date,
        },
    )?;
    Ok((uid, message_id, modseq))
}

/// See [`MailStore::append`].
pub(crate) fn append(
    conn: &Connection,
    account: AccountId,
    mailbox: MailboxId,
    message: &PreparedMessage,
    flags: Flags,
    keywords: &[String],
    changes: &mut Vec<Change>,
) -> Result<Appended, StoreError> {
    let mut cursor = MailboxCursor::load(conn, account, mailbox)?;
    let (uid, message_id, modseq) =
        store_one(conn, message, &mut None, &mut cursor, flags, keywords)?;
    cursor.save(conn, changes)?;
    Ok(Appended {
        mailbox,
        uid_validity: cursor.uid_validity,
        uid,
        message: message_id,
        modseq,
    })
}

/// Deletes the entries with these UIDs from `mailbox` (missing ones are
/// skipped), each leaving a tombstone with its own MODSEQ. Returns the
/// removed UIDs (ascending) and the messages they referred to, for
/// [`collect_garbage`] once the caller is done.
pub(crate) fn remove_entries(
    conn: &Connection,
    mailbox: &mut MailboxCursor,
    uids: &[Uid],
) -> Result<(Vec<Uid>, Vec<i64>), StoreError> {
    let mut uids = uids.to_vec();
    uids.sort_unstable();
    uids.dedup();
    let mut removed = Vec::new();
    let mut messages = Vec::new();
    let mut delete = conn
        .prepare_cached("DELETE FROM entries WHERE mailbox = ?1 AND uid = ?2 RETURNING message")?;
    let mut tombstone = conn.prepare_cached(
        "INSERT OR REPLACE INTO tombstones (mailbox, uid, modseq) VALUES (?1, ?2, ?3)",
    )?;
    for uid in uids {
        let message: Option<i64> = delete
            .query_row(params![mailbox.id.0, uid.0], |r| r.get(0))
            .optional()?;
        let Some(message) = message else { continue };
        // RFC 7162 §3.2.10: every expunge gets its own MODSEQ, kept in a
        // tombstone so QRESYNC can report it as VANISHED. Tombstones are
        // kept for the life of the mailbox.
        let modseq = mailbox.next_modseq();
        tombstone.execute(params![mailbox.id.0, uid.0, to_db_u64(modseq)])?;
        removed.push(uid);
        messages.push(message);
    }
    Ok((removed, messages))
}

pub(crate) fn expunge(
    conn: &Connection,
    account: AccountId,
    mailbox: MailboxId,
    uids: &[Uid],
    changes: &mut Vec<Change>,
) -> Result<Vec<Uid>, StoreError> {
    let mut cursor = MailboxCursor::load(conn, account, mailbox)?;
    let (removed, messages) = remove_entries(conn, &mut cursor, uids)?;
    if !removed.is_empty() {
        cursor.save(conn, changes)?;
        collect_garbage(conn, &messages)?;
    }
    Ok(removed)
}

/// Whether [`transfer`] copies or moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transfer {
    /// RFC 9051 COPY: counts against the quota.
    Copy,
    /// RFC 6851 MOVE: copy, then expunge the sources in the same
    /// transaction; usage does not change, so no quota check.
    Move,
}

/// An entry as read for copying.
struct Source {
    uid: Uid,
    message: i64,
    flags: Flags,
    keywords: String,
    size: u64,
    internal_date: UnixTime,
}

/// COPY / MOVE (and RENAME INBOX): adds entries for the `uids` of `from`
/// to `to` sharing their messages, with flags, keywords and INTERNALDATE;
/// with [`Transfer::Move`], expunges the sources.
pub(crate) fn transfer(
    conn: &Connection,
    account: AccountId,
    from: MailboxId,
    uids: &[Uid],
    to: MailboxId,
    mode: Transfer,
    changes: &mut Vec<Change>,
) -> Result<Copied, StoreError> {
    MailboxCursor::load(conn, account, from)?;
    let mut dst = MailboxCursor::load(conn, account, to)?;
    let mut uids = uids.to_vec();
    uids.sort_unstable();
    uids.dedup();
    let mut sources = Vec::with_capacity(uids.len());
    {
        let mut get = conn.prepare_cached(
            "SELECT message, flags, keywords, size, internal_date FROM entries
             WHERE mailbox = ?1 AND uid = ?2",
        )?;
        for uid in uids {
            let row = get
                .query_row(params![from.0, uid.0], |r| {
                    Ok(Source {
                        uid,
                        message: r.get(0)?,
                        flags: Flags(r.get(1)?),
                        keywords: r.get(2)?,
                        size: from_db_u64(r.get(3)?),
                        internal_date: r.get(4)?,
                    })
                })
                .optional()?;
            sources.extend(row);
        }
    }
    if mode == Transfer::Copy {
        let total = sources.iter().map(|s| s.size).sum();
        check_quota(conn, account, total)?;
    }
    dst.reserve_uids(sources.len())?;
    // Keywords take the destination mailbox's spelling; most entries share
    // a few keyword sets, so each set is resolved once.
    let mut canonical: HashMap<String, Vec<String>> = HashMap::new();
    let mut pairs = Vec::with_capacity(sources.len());
    for s in &sources {
        if !canonical.contains_key(&s.keywords) {
            let list: Vec<String> = s.keywords.split_whitespace().map(str::to_owned).collect();
            let list = register_keywords(conn, dst.id, &list)?;
            canonical.insert(s.keywords.clone(), list);
        }
        let keywords = canonical.get(&s.keywords).map_or(&[][..], Vec::as_slice);
        let (uid, _) = insert_entry(
            conn,
            &mut dst,
            &NewEntry {
                message: s.message,
                flags: s.flags,
                keywords,
                size: s.size,
                internal_date: s.internal_date,
            },
        )?;
        pairs.push((s.uid, uid));
    }
    dst.save(conn, changes)?;
    if mode == Transfer::Move && !pairs.is_empty() {
        // Loaded after `dst` is saved: `from` may be `to`.
        let mut src = MailboxCursor::load(conn, account, from)?;
        let moved: Vec<Uid> = pairs.iter().map(|(s, _)| *s).collect();
        remove_entries(conn, &mut src, &moved)?;
        src.save(conn, changes)?;
        // The messages are still referred to by the new entries.
    }
    Ok(Copied {
        uid_validity: dst.uid_validity,
        uids: pairs,
    })
}
