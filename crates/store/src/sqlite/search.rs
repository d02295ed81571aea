//! Full-text search: the FTS5 table `message_text`, one row per stored
//! message (rowid = message id) holding its [`IndexedText`].
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
//!
//! Rows are written with the message (same transaction) and deleted when
//! the message is collected. Messages are shared between accounts, the
//! index too; a search only ever sees the entries of one mailbox of the
//! calling account.
//!
//! Cost: a trigram index is several times the size of the indexed text;
//! the extracted text is bounded per message (see [`crate::fulltext`]).

use rusqlite::{Connection, params};

use crate::api::*;
use crate::error::StoreError;
use crate::fulltext::{IndexedText, contains_ci, header_matches};

/// Writes the index row of a new message.
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
/// belongs to the account.
pub(crate) fn search_text(
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
    if needle.is_empty() && header.is_none() {
        // Every text contains the empty string.
        return Ok(conn
            .prepare_cached("SELECT uid FROM entries WHERE mailbox = ?1 ORDER BY uid")?
            .query_map([mailbox.0], |r| Ok(Uid(r.get(0)?)))?
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
