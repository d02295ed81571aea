//! Full-text search: the FTS5 table `message_text`, one row per indexed
//! message (rowid = message id) holding its [`IndexedText`], and the
//! `fts_pending` table listing the stored messages not indexed yet.
//!
//! The table uses FTS5's `trigram` tokenizer (SQLite ≥ 3.34; the bundled
//! SQLite is 3.50) with case folding, which indexes every 3-character
//! window of the text: a phrase query made of the needle matches exactly
//! the rows containing the needle as a case-insensitive substring — the
//! IMAP SEARCH semantics (RFC 9051 §6.4.4) — without word boundaries.
//!
//! - Needles of 3 or more characters use the index: `MATCH` yields the
//!   matching messages, joined with the mailbox's entries.
//! - Shorter needles cannot (a trigram query needs 3 characters): the text
//!   of the mailbox's messages is scanned in Rust. Rare in practice, and
//!   bounded by the mailbox.
//! - `HEADER name value`: the index narrows to messages whose header text
//!   contains the value; the named field is then checked line by line.
//! - Messages of the mailbox still in `fts_pending` are read, their text
//!   extracted exactly as the indexer will ([`stored_text`]) and matched in
//!   Rust with the same case-insensitive substring test, so results are
//!   complete whether or not the indexer has caught up. Both parts are read
//!   in one snapshot, in which the indexer's move of a message from
//!   `fts_pending` to `message_text` (one transaction) has happened or not:
//!   a message is never missed nor counted twice. The extra cost is
//!   nothing measurable when nothing is pending; otherwise an index probe
//!   per pending message (of any mailbox) and, per pending message of this
//!   mailbox, a decompression and parse (`BODY`, `TEXT`, `HEADER`) or just
//!   its stored summary (`SUBJECT`, `FROM`, `TO`, `CC`, `BCC`).
//!
//! A stored message gets its `fts_pending` row in the delivering
//! transaction ([`queue_for_index`]); the background indexer (`indexer`)
//! replaces it with the index row ([`index_pending`]); collecting the
//! message deletes whichever it has. Messages are shared between accounts,
//! the index too; a search only ever sees the entries of one mailbox of
//! the calling account.
//!
//! Cost: a trigram index is several times the size of the indexed text;
//! the extracted text is bounded per message (see [`crate::fulltext`]).

use std::collections::HashMap;

use pillarbox_message::summary::Summary;
use rusqlite::{Connection, params};

use crate::api::*;
use crate::error::StoreError;
use crate::fulltext::{self, IndexedText, contains_ci, header_matches};

use super::{blob, from_db_u64};

/// Marks a newly stored message as waiting for the indexer (in the
/// transaction storing it).
pub(crate) fn queue_for_index(conn: &Connection, message: MessageId) -> Result<(), StoreError> {
    conn.prepare_cached("INSERT INTO fts_pending (message) VALUES (?1)")?
        .execute([message.0])?;
    Ok(())
}

/// Moves `message` from `fts_pending` into the index with `text`; does
/// nothing if it is no longer pending (collected since its text was
/// extracted). Returns whether it was indexed.
pub(crate) fn index_pending(
    conn: &Connection,
    message: MessageId,
    text: &IndexedText,
) -> Result<bool, StoreError> {
    let pending = conn
        .prepare_cached("DELETE FROM fts_pending WHERE message = ?1")?
        .execute([message.0])?;
    if pending == 0 {
        return Ok(false);
    }
    index_message(conn, message, text)?;
    Ok(true)
}

/// One step of merging the index's segments: at most `pages` pages of
/// work, merging only levels holding `usermerge` (2, see `schema` v3)
/// segments or more. Returns whether there was work to do.
///
/// FTS5 adds a segment per transaction that writes to it; its automerge
/// (during writes) keeps their number logarithmic, but fewer, larger
/// segments answer queries faster, so the indexer merges further while
/// the store is idle.
pub(crate) fn merge_step(conn: &Connection, pages: i64) -> Result<bool, StoreError> {
    let before = conn.total_changes();
    conn.prepare_cached("INSERT INTO message_text (message_text, rank) VALUES ('merge', ?1)")?
        .execute([pages])?;
    // FTS5's documented test: fewer than 2 changes means nothing was left.
    Ok(conn.total_changes() - before >= 2)
}

/// The searchable text of a stored message, from its compressed body, raw
/// size and summary JSON: what the indexer indexes and what search matches
/// for a message not indexed yet. A body that does not decompress (a
/// corruption `check` reports) has no text.
pub(crate) fn stored_text(
    message: i64,
    compressed: &[u8],
    size: i64,
    summary_json: &str,
) -> IndexedText {
    let size = usize::try_from(from_db_u64(size)).unwrap_or(usize::MAX);
    let raw = match blob::decompress_all(compressed, size) {
        Ok(raw) => raw,
        Err(e) => {
            tracing::warn!(message, error = %e, "cannot read a message body to index it");
            return IndexedText::default();
        }
    };
    // The summary stored at delivery is the one extraction saw before
    // indexing was deferred; recomputing it is only a fallback.
    let summary = serde_json::from_str::<Summary>(summary_json)
        .unwrap_or_else(|_| pillarbox_message::summary::summarize(&raw));
    fulltext::extract(&raw, &summary)
}

/// Writes the index row of a message.
pub(crate) fn index_message(
    conn: &Connection,
    message: MessageId,
    text: &IndexedText,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO message_text (rowid, subject, hfrom, hto, hcc, hbcc, headers, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        message.0,
        text.subject,
        text.from,
        text.to,
        text.cc,
        text.bcc,
        text.headers,
        text.body
    ])?;
    Ok(())
}

/// Deletes the index row of a collected message.
pub(crate) fn unindex_message(conn: &Connection, message: MessageId) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM message_text WHERE rowid = ?1")?
        .execute([message.0])?;
    Ok(())
}

/// The texts of `text` a field is matched against, as [`columns`].
fn texts<'t>(field: &SearchField, text: &'t IndexedText) -> Vec<&'t str> {
    match field {
        SearchField::Body => vec![&text.body],
        SearchField::Text => vec![&text.headers, &text.body],
        SearchField::Header(_) => vec![&text.headers],
        SearchField::Subject => vec![&text.subject],
        SearchField::From => vec![&text.from],
        SearchField::To => vec![&text.to],
        SearchField::Cc => vec![&text.cc],
        SearchField::Bcc => vec![&text.bcc],
    }
}

/// Whether `text` matches, as the index and the short-needle scan decide.
fn text_matches(field: &SearchField, text: &IndexedText, needle: &str) -> bool {
    texts(field, text).into_iter().any(|t| match field {
        SearchField::Header(name) => header_matches(t, name, needle),
        _ => contains_ci(t, needle),
    })
}

/// The `message_text` columns a field is matched against.
fn columns(field: &SearchField) -> &'static [&'static str] {
    match field {
        SearchField::Body => &["body"],
        SearchField::Text => &["headers", "body"],
        SearchField::Header(_) => &["headers"],
        SearchField::Subject => &["subject"],
        SearchField::From => &["hfrom"],
        SearchField::To => &["hto"],
        SearchField::Cc => &["hcc"],
        SearchField::Bcc => &["hbcc"],
    }
}

/// An FTS5 query matching `needle` as one phrase in `columns`.
fn fts_query(columns: &[&str], needle: &str) -> String {
    format!(
        "{{{}}} : \"{}\"",
        columns.join(" "),
        needle.replace('"', "\"\"")
    )
}

/// The trigram index answers needles of at least this many characters.
const MIN_INDEXED_CHARS: usize = 3;

/// See [`MailStore::search_text`]; the caller has checked that the mailbox
/// belongs to the account, and runs this in one read transaction.
pub(crate) fn search_text(
    conn: &Connection,
    mailbox: MailboxId,
    field: &SearchField,
    needle: &str,
) -> Result<Vec<Uid>, StoreError> {
    if needle.is_empty() && !matches!(field, SearchField::Header(_)) {
        // Every text contains the empty string.
        return Ok(conn
            .prepare_cached("SELECT uid FROM entries WHERE mailbox = ?1 ORDER BY uid")?
            .query_map([mailbox.0], |r| Ok(Uid(r.get(0)?)))?
            .collect::<Result<_, _>>()?);
    }
    let mut found = search_indexed(conn, mailbox, field, needle)?;
    let pending = search_pending(conn, mailbox, field, needle)?;
    if !pending.is_empty() {
        found.extend(pending);
        found.sort_unstable();
        found.dedup();
    }
    Ok(found)
}

/// The entries of `mailbox` whose message is pending indexing and matches.
fn search_pending(
    conn: &Connection,
    mailbox: MailboxId,
    field: &SearchField,
    needle: &str,
) -> Result<Vec<Uid>, StoreError> {
    // Subject and addresses come from the summary: no need to read and
    // parse the body for them.
    let body_needed = matches!(
        field,
        SearchField::Body | SearchField::Text | SearchField::Header(_)
    );
    // `fts_pending` drives the join (CROSS JOIN fixes the order): nothing
    // pending, nothing to do, whatever the size of the mailbox. SQLite
    // reads a body only if it is asked for.
    let mut stmt = conn.prepare_cached(
        "SELECT e.uid, m.id, m.summary, m.size, b.data FROM fts_pending p
           CROSS JOIN entries e ON e.message = p.message
           JOIN messages m ON m.id = p.message
           JOIN blobs b ON b.hash = m.blob
          WHERE e.mailbox = ?1",
    )?;
    let mut rows = stmt.query([mailbox.0])?;
    // A message may be in the mailbox more than once (COPY to itself).
    let mut seen: HashMap<i64, bool> = HashMap::new();
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let id: i64 = r.get(1)?;
        let hit = match seen.get(&id) {
            Some(&hit) => hit,
            None => {
                let summary: String = r.get(2)?;
                let from_summary = if body_needed {
                    None
                } else {
                    serde_json::from_str::<Summary>(&summary)
                        .ok()
                        .map(|s| fulltext::summary_fields(&s))
                };
                let text = match from_summary {
                    Some(text) => text,
                    None => {
                        let data: Vec<u8> = r.get(4)?;
                        stored_text(id, &data, r.get(3)?, &summary)
                    }
                };
                let hit = text_matches(field, &text, needle);
                seen.insert(id, hit);
                hit
            }
        };
        if hit {
            out.push(Uid(r.get(0)?));
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// The indexed entries of `mailbox` that match.
fn search_indexed(
    conn: &Connection,
    mailbox: MailboxId,
    field: &SearchField,
    needle: &str,
) -> Result<Vec<Uid>, StoreError> {
    let cols = columns(field);
    let header = match field {
        SearchField::Header(name) => Some(name.as_str()),
        _ => None,
    };
    let indexed = needle.chars().count() >= MIN_INDEXED_CHARS;
    if indexed && header.is_none() {
        return Ok(conn
            .prepare_cached(
                "SELECT e.uid FROM message_text t JOIN entries e ON e.message = t.rowid
                 WHERE message_text MATCH ?1 AND e.mailbox = ?2 ORDER BY e.uid",
            )?
            .query_map(params![fts_query(cols, needle), mailbox.0], |r| {
                Ok(Uid(r.get(0)?))
            })?
            .collect::<Result<_, _>>()?);
    }
    // Candidates with their text, checked here: the named header field, or
    // a needle too short for the index.
    let select = cols
        .iter()
        .map(|c| format!("t.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = if indexed {
        format!(
            "SELECT e.uid, {select} FROM message_text t JOIN entries e ON e.message = t.rowid
             WHERE message_text MATCH ?2 AND e.mailbox = ?1 ORDER BY e.uid"
        )
    } else {
        format!(
            "SELECT e.uid, {select} FROM entries e JOIN message_text t ON t.rowid = e.message
             WHERE e.mailbox = ?1 ORDER BY e.uid"
        )
    };
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = if indexed {
        stmt.query(params![mailbox.0, fts_query(cols, needle)])?
    } else {
        stmt.query(params![mailbox.0])?
    };
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let mut hit = false;
        for i in 0..cols.len() {
            let text: String = r.get(i + 1)?;
            hit |= match header {
                Some(name) => header_matches(&text, name, needle),
                None => contains_ci(&text, needle),
            };
        }
        if hit {
            out.push(Uid(r.get(0)?));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phrase_queries_are_quoted() {
        assert_eq!(
            fts_query(&["headers", "body"], r#"say "hi""#),
            r#"{headers body} : "say ""hi""""#
        );
    }

    /// The bundled SQLite has FTS5 with the trigram tokenizer, and a phrase
    /// query is a case-insensitive substring match across word boundaries.
    #[test]
    fn bundled_sqlite_has_fts5_trigram_substring_matching() {
        let conn = Connection::open_in_memory().expect("open");
        conn.execute_batch(
            "CREATE VIRTUAL TABLE t USING fts5(a, b, tokenize = 'trigram case_sensitive 0');
             INSERT INTO t (rowid, a, b) VALUES (1, 'Grüße aus KÖLN', 'invoice-2024'),
                                                (2, 'other', 'nothing');",
        )
        .expect("fts5 trigram");
        let hits = |q: &str| -> Vec<i64> {
            conn.prepare("SELECT rowid FROM t WHERE t MATCH ?1 ORDER BY rowid")
                .expect("prepare")
                .query_map([q], |r| r.get(0))
                .expect("query")
                .collect::<Result<_, _>>()
                .expect("rows")
        };
        assert_eq!(hits(&fts_query(&["a"], "köln")), [1]);
        assert_eq!(hits(&fts_query(&["a"], "e aus k")), [1]);
        assert_eq!(hits(&fts_query(&["b"], "CE-20")), [1]);
        assert_eq!(hits(&fts_query(&["a"], "CE-20")), Vec::<i64>::new());
        assert_eq!(hits(&fts_query(&["a", "b"], "thin")), [2]);
    }
}
