//! Flag and keyword writes (RFC 9051 §6.4.6 STORE, RFC 7162 §3.1.3
//! UNCHANGEDSINCE) and the per-mailbox keyword list.
//!
//! Keywords are compared case-insensitively (RFC 9051 §2.3.2). The first
//! spelling used in a mailbox is kept in `mailbox_keywords` and every later
//! use in that mailbox takes it, so one keyword never appears in two
//! spellings in one mailbox.

use rusqlite::{Connection, OptionalExtension, params};

use crate::api::*;
use crate::error::StoreError;
use crate::names;

use super::ops::MailboxCursor;
use super::read::{ENTRY_COLUMNS, entry_from_row};
use super::to_db_u64;

/// Validates `keywords`, adds the new ones to the mailbox's keyword list,
/// and returns them in the mailbox's spelling (deduplicated, in order).
pub(crate) fn register_keywords(
    conn: &Connection,
    mailbox: MailboxId,
    keywords: &[String],
) -> Result<Vec<String>, StoreError> {
    let keywords = names::keywords(keywords)?;
    if keywords.is_empty() {
        return Ok(keywords);
    }
    let mut insert = conn.prepare_cached(
        "INSERT OR IGNORE INTO mailbox_keywords (mailbox, keyword) VALUES (?1, ?2)",
    )?;
    let mut spelling = conn.prepare_cached(
        "SELECT keyword FROM mailbox_keywords WHERE mailbox = ?1 AND keyword = ?2",
    )?;
    let mut out = Vec::with_capacity(keywords.len());
    for k in keywords {
        insert.execute(params![mailbox.0, k])?;
        let canonical: Option<String> = spelling
            .query_row(params![mailbox.0, k], |r| r.get(0))
            .optional()?;
        out.push(canonical.unwrap_or(k));
    }
    Ok(out)
}

/// How each selected entry's state changes.
enum Edit {
    /// [`MailStore::update_flags`]: system flags only.
    System { add: Flags, remove: Flags },
    /// [`MailStore::store_flags`], keywords already canonical (for `Add`
    /// and `Replace`) or validated (for `Remove`).
    Store {
        op: FlagOp,
        flags: Flags,
        keywords: Vec<String>,
    },
}

fn contains_ci(list: &[String], k: &str) -> bool {
    list.iter().any(|x| x.eq_ignore_ascii_case(k))
}

fn same_set(a: &[String], b: &[String]) -> bool {
    a.len() == b.len() && a.iter().all(|k| contains_ci(b, k))
}

impl Edit {
    /// The entry's new flags and keywords.
    fn apply(&self, flags: Flags, keywords: &[String]) -> (Flags, Vec<String>) {
        match self {
            Edit::System { add, remove } => (flags.union(*add).minus(*remove), keywords.to_vec()),
            Edit::Store {
                op: FlagOp::Add,
                flags: f,
                keywords: k,
            } => {
                let mut list = keywords.to_vec();
                for kw in k {
                    if !contains_ci(&list, kw) {
                        list.push(kw.clone());
                    }
                }
                (flags.union(*f), list)
            }
            Edit::Store {
                op: FlagOp::Remove,
                flags: f,
                keywords: k,
            } => {
                let list = keywords
                    .iter()
                    .filter(|kw| !contains_ci(k, kw))
                    .cloned()
                    .collect();
                (flags.minus(*f), list)
            }
            Edit::Store {
                op: FlagOp::Replace,
                flags: f,
                keywords: k,
            } => (*f, k.clone()),
        }
    }
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
    let edit = Edit::System { add, remove };
    Ok(apply(conn, account, mailbox, uids, &edit, None, changes)?.changed)
}

pub(crate) fn store_flags(
    conn: &Connection,
    account: AccountId,
    mailbox: MailboxId,
    uids: &[Uid],
    change: &FlagChange,
    unchanged_since: Option<ModSeq>,
    changes: &mut Vec<Change>,
) -> Result<FlagsStored, StoreError> {
    MailboxCursor::load(conn, account, mailbox)?;
    let keywords = match change.op {
        FlagOp::Add | FlagOp::Replace => register_keywords(conn, mailbox, &change.keywords)?,
        FlagOp::Remove => names::keywords(&change.keywords)?,
    };
    let edit = Edit::Store {
        op: change.op,
        flags: Flags(change.flags.0 & Flags::ALL.0),
        keywords,
    };
    apply(
        conn,
        account,
        mailbox,
        uids,
        &edit,
        unchanged_since,
        changes,
    )
}

fn apply(
    conn: &Connection,
    account: AccountId,
    mailbox: MailboxId,
    uids: &[Uid],
    edit: &Edit,
    unchanged_since: Option<ModSeq>,
    changes: &mut Vec<Change>,
) -> Result<FlagsStored, StoreError> {
    let mut cursor = MailboxCursor::load(conn, account, mailbox)?;
    let mut uids = uids.to_vec();
    uids.sort_unstable();
    uids.dedup();
    let mut out = FlagsStored::default();
    let mut get = conn.prepare_cached(&format!(
        "SELECT {ENTRY_COLUMNS} FROM entries e WHERE e.mailbox = ?1 AND e.uid = ?2"
    ))?;
    let mut set = conn.prepare_cached(
        "UPDATE entries SET flags = ?1, keywords = ?2, modseq = ?3 WHERE mailbox = ?4 AND uid = ?5",
    )?;
    for uid in uids {
        let Some(mut entry) = get
            .query_row(params![mailbox.0, uid.0], entry_from_row)
            .optional()?
        else {
            continue;
        };
        // RFC 7162 §3.1.3: an entry changed since the client's MODSEQ is
        // not touched and is reported in MODIFIED.
        if unchanged_since.is_some_and(|since| entry.modseq > since) {
            out.modified.push(uid);
            continue;
        }
        let (flags, keywords) = edit.apply(entry.flags, &entry.keywords);
        let flags = Flags(flags.0 & Flags::ALL.0);
        if flags == entry.flags && same_set(&keywords, &entry.keywords) {
            continue;
        }
        // RFC 7162 §3.1: each changed message gets a new, larger MODSEQ.
        let modseq = cursor.next_modseq();
        set.execute(params![
            flags.0,
            keywords.join(" "),
            to_db_u64(modseq),
            mailbox.0,
            uid.0
        ])?;
        entry.flags = flags;
        entry.keywords = keywords;
        entry.modseq = ModSeq(modseq);
        out.changed.push(entry);
    }
    if !out.changed.is_empty() {
        cursor.save(conn, changes)?;
    }
    Ok(out)
}

/// The mailbox's keyword list, in first-use order.
pub(crate) fn mailbox_keywords(
    conn: &Connection,
    mailbox: MailboxId,
) -> Result<Vec<String>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT keyword FROM mailbox_keywords WHERE mailbox = ?1 ORDER BY id")?
        .query_map([mailbox.0], |r| r.get(0))?
        .collect::<Result<_, _>>()?)
}
