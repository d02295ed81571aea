//! Schema, migrations (versioned by `PRAGMA user_version`) and connection
//! settings.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::error::StoreError;

/// How long a connection waits for another connection's (or process's)
/// lock before giving up with `SQLITE_BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Rust code run after a migration's SQL, in the same transaction.
pub(crate) type Backfill = fn(&Connection) -> Result<(), StoreError>;

/// One schema migration: SQL, then optionally a [`Backfill`] computing what
/// SQL cannot.
pub(crate) struct Migration {
    pub(crate) sql: &'static str,
    pub(crate) backfill: Option<Backfill>,
}

/// Migrations, in order; migration `i` brings the schema from version `i`
/// to `i + 1`. Never edit a released migration: append a new one.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        sql: V1,
        backfill: None,
    },
    Migration {
        sql: V2,
        backfill: Some(super::backfill::v2),
    },
    Migration {
        sql: V3,
        backfill: None,
    },
    Migration {
        sql: V4,
        backfill: None,
    },
    Migration {
        sql: V5,
        backfill: None,
    },
];

/// Version 1: the initial schema.
const V1: &str = r#"
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE domains (
        id        INTEGER PRIMARY KEY AUTOINCREMENT,
        name      TEXT NOT NULL UNIQUE,
        catch_all INTEGER REFERENCES accounts(id) ON DELETE SET NULL
    ) STRICT;

    CREATE TABLE accounts (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        login         TEXT NOT NULL UNIQUE,
        domain        INTEGER NOT NULL REFERENCES domains(id),
        password_hash TEXT NOT NULL,
        scram_sha256  TEXT,
        quota         INTEGER,
        used          INTEGER NOT NULL DEFAULT 0
    ) STRICT;
    CREATE INDEX accounts_domain ON accounts(domain);

    CREATE TABLE aliases (
        address TEXT NOT NULL,
        target  TEXT NOT NULL,
        domain  INTEGER NOT NULL REFERENCES domains(id),
        PRIMARY KEY (address, target)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX aliases_domain ON aliases(domain);

    CREATE TABLE mailboxes (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        account       INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        name          TEXT NOT NULL,
        special_use   TEXT,
        subscribed    INTEGER NOT NULL DEFAULT 1,
        uidvalidity   INTEGER NOT NULL,
        uidnext       INTEGER NOT NULL DEFAULT 1,
        highestmodseq INTEGER NOT NULL DEFAULT 1,
        UNIQUE (account, name)
    ) STRICT;

    CREATE TABLE blobs (
        hash TEXT PRIMARY KEY,
        data BLOB NOT NULL,
        size INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE messages (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        blob          TEXT NOT NULL REFERENCES blobs(hash),
        size          INTEGER NOT NULL,
        internal_date INTEGER NOT NULL,
        summary       TEXT NOT NULL
    ) STRICT;
    CREATE INDEX messages_blob ON messages(blob);

    CREATE TABLE entries (
        mailbox    INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
        uid        INTEGER NOT NULL,
        message    INTEGER NOT NULL REFERENCES messages(id),
        flags      INTEGER NOT NULL DEFAULT 0,
        keywords   TEXT NOT NULL DEFAULT '',
        modseq     INTEGER NOT NULL,
        saved_date INTEGER NOT NULL,
        PRIMARY KEY (mailbox, uid)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX entries_message ON entries(message);
    CREATE INDEX entries_modseq ON entries(mailbox, modseq);

    CREATE TABLE tombstones (
        mailbox INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
        uid     INTEGER NOT NULL,
        modseq  INTEGER NOT NULL,
        PRIMARY KEY (mailbox, uid)
    ) STRICT, WITHOUT ROWID;
    "#;

/// Version 2: what IMAP needs.
///
/// - Stored mailbox counters (`total_count`, `unseen_count`,
///   `deleted_count`, `total_size`) and `accounts.used`, kept by triggers on
///   `entries` in the transaction that changes them, so STATUS/SELECT cost
///   the same for any mailbox size. Entries carry their message's size and
///   internal date, so listing a mailbox is one scan of its key range.
///   Entries must be deleted explicitly BEFORE their mailbox (a cascaded
///   delete would not find the account to credit); `mailbox` and `size`
///   of an entry never change.
/// - `subscriptions`: per-account names, independent of mailboxes
///   (RFC 9051 §6.3.7: a subscription may name a mailbox that does not
///   exist).
/// - `mailbox_keywords`: every keyword used in a mailbox (IMAP FLAGS).
/// - `messages.header_len`, so a header fetch needs no parse.
/// - `blobs.frames`: the compressed length of each zstd frame of a body
///   stored as several frames (NULL: one frame), for seeking.
/// - `entries_unseen`: partial index for the first unseen entry.
/// - `message_text`: FTS5 trigram index of each message's text, keyed by
///   message id (see `search`).
const V2: &str = r#"
    ALTER TABLE entries ADD COLUMN size INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE entries ADD COLUMN internal_date INTEGER NOT NULL DEFAULT 0;
    UPDATE entries SET
        size = coalesce((SELECT m.size FROM messages m WHERE m.id = entries.message), 0),
        internal_date = coalesce(
            (SELECT m.internal_date FROM messages m WHERE m.id = entries.message), 0);

    ALTER TABLE mailboxes ADD COLUMN total_count INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE mailboxes ADD COLUMN unseen_count INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE mailboxes ADD COLUMN deleted_count INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE mailboxes ADD COLUMN total_size INTEGER NOT NULL DEFAULT 0;
    UPDATE mailboxes SET
        total_count = (SELECT count(*) FROM entries e WHERE e.mailbox = mailboxes.id),
        unseen_count = (SELECT count(*) FROM entries e
                        WHERE e.mailbox = mailboxes.id AND (e.flags & 1) = 0),
        deleted_count = (SELECT count(*) FROM entries e
                         WHERE e.mailbox = mailboxes.id AND (e.flags & 8) != 0),
        total_size = (SELECT coalesce(sum(e.size), 0) FROM entries e
                      WHERE e.mailbox = mailboxes.id);

    CREATE TRIGGER entries_count_insert AFTER INSERT ON entries BEGIN
        UPDATE mailboxes SET
            total_count = total_count + 1,
            unseen_count = unseen_count + ((NEW.flags & 1) = 0),
            deleted_count = deleted_count + ((NEW.flags & 8) != 0),
            total_size = total_size + NEW.size
        WHERE id = NEW.mailbox;
        UPDATE accounts SET used = used + NEW.size
        WHERE id = (SELECT account FROM mailboxes WHERE id = NEW.mailbox);
    END;
    CREATE TRIGGER entries_count_delete AFTER DELETE ON entries BEGIN
        UPDATE mailboxes SET
            total_count = total_count - 1,
            unseen_count = unseen_count - ((OLD.flags & 1) = 0),
            deleted_count = deleted_count - ((OLD.flags & 8) != 0),
            total_size = total_size - OLD.size
        WHERE id = OLD.mailbox;
        UPDATE accounts SET used = max(used - OLD.size, 0)
        WHERE id = (SELECT account FROM mailboxes WHERE id = OLD.mailbox);
    END;
    CREATE TRIGGER entries_count_flags AFTER UPDATE OF flags ON entries
    WHEN (OLD.flags & 9) != (NEW.flags & 9) BEGIN
        UPDATE mailboxes SET
            unseen_count = unseen_count + ((NEW.flags & 1) = 0) - ((OLD.flags & 1) = 0),
            deleted_count = deleted_count + ((NEW.flags & 8) != 0) - ((OLD.flags & 8) != 0)
        WHERE id = NEW.mailbox;
    END;
    CREATE TRIGGER entries_fixed BEFORE UPDATE OF mailbox, size ON entries BEGIN
        SELECT RAISE(ABORT, 'entries.mailbox and entries.size never change');
    END;

    CREATE TABLE subscriptions (
        account INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        name    TEXT NOT NULL,
        PRIMARY KEY (account, name)
    ) STRICT, WITHOUT ROWID;
    INSERT INTO subscriptions (account, name)
        SELECT account, name FROM mailboxes WHERE subscribed = 1;
    ALTER TABLE mailboxes DROP COLUMN subscribed;

    CREATE TABLE mailbox_keywords (
        id      INTEGER PRIMARY KEY,
        mailbox INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
        keyword TEXT NOT NULL COLLATE NOCASE,
        UNIQUE (mailbox, keyword)
    ) STRICT;

    ALTER TABLE messages ADD COLUMN header_len INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE blobs ADD COLUMN frames BLOB;

    CREATE INDEX entries_unseen ON entries(mailbox, uid) WHERE (flags & 1) = 0;

    CREATE VIRTUAL TABLE message_text USING fts5(
        subject, hfrom, hto, hcc, hbcc, headers, body,
        tokenize = 'trigram case_sensitive 0'
    );
"#;

/// Version 3: deferred full-text indexing.
///
/// - `fts_pending`: the messages stored but not yet in `message_text`.
///   A delivery/append inserts the message's row here (cheap) instead of
///   indexing it; the background indexer (`indexer`) moves messages from
///   here into `message_text`, both in one transaction. Every message is
///   in exactly one of the two (`check` verifies it). The foreign key
///   makes forgetting to clear a collected message's row an error.
///   Messages of older versions were all indexed by version 2's backfill.
/// - `message_text`'s `usermerge` is 2: the indexer's idle-time merge
///   steps (`search::merge_step`) merge any two segments of one level,
///   keeping fewer segments than FTS5's default of 4 per level.
const V3: &str = r#"
    CREATE TABLE fts_pending (
        message INTEGER PRIMARY KEY REFERENCES messages(id)
    ) STRICT;
    INSERT INTO message_text (message_text, rank) VALUES ('usermerge', 2);
"#;

/// Version 4: the outbound queue (see `queue`).
///
/// - `queue`: one row per queued message: envelope, RFC 3461 `RET` and
///   `ENVID`, schedule, attempt count, whether the delay notice went out,
///   and the message bytes compressed like `blobs.data`/`blobs.frames`.
/// - `queue_recipients`: per-recipient status (0 pending, 1 delivered,
///   2 failed), last reply, `NOTIFY` and `ORCPT`.
const V4: &str = r#"
    CREATE TABLE queue (
        id             INTEGER PRIMARY KEY AUTOINCREMENT,
        reverse_path   TEXT NOT NULL,
        ret            TEXT,
        envid          TEXT,
        size           INTEGER NOT NULL,
        created        INTEGER NOT NULL,
        next_attempt   INTEGER NOT NULL,
        attempts       INTEGER NOT NULL DEFAULT 0,
        delay_notified INTEGER NOT NULL DEFAULT 0,
        data           BLOB NOT NULL,
        frames         BLOB
    ) STRICT;
    CREATE INDEX queue_next_attempt ON queue(next_attempt);
    CREATE TABLE queue_recipients (
        item    INTEGER NOT NULL REFERENCES queue(id) ON DELETE CASCADE,
        idx     INTEGER NOT NULL,
        address TEXT NOT NULL,
        status  INTEGER NOT NULL DEFAULT 0,
        reply   TEXT,
        notify  TEXT,
        orcpt   TEXT,
        PRIMARY KEY (item, idx)
    ) STRICT, WITHOUT ROWID;
"#;

/// Version 5: DKIM signing keys (see `crate::dkim`).
///
/// - `dkim_keys`: one row per (domain, selector): the `a=` algorithm name,
///   the PKCS#8 DER private key and its creation time. Keys go with their
///   domain (`ON DELETE CASCADE`; `delete_domain` also deletes them
///   explicitly).
const V5: &str = r#"
    CREATE TABLE dkim_keys (
        domain      INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
        selector    TEXT NOT NULL,
        algorithm   TEXT NOT NULL CHECK (algorithm IN ('ed25519-sha256', 'rsa-sha256')),
        private_key BLOB NOT NULL,
        created     INTEGER NOT NULL,
        PRIMARY KEY (domain, selector)
    ) STRICT, WITHOUT ROWID;
"#;

/// The schema version this code writes.
pub(crate) const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

fn configure(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // FULL: the WAL is fsync'd at every commit, so a committed write survives
    // power loss (DESIGN §4 durability).
    conn.execute_batch(
        "PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;",
    )?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

/// Opens the read-write connection used by the writer thread, switching the
/// database to WAL mode and migrating it to [`SCHEMA_VERSION`].
pub(crate) fn open_writer(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    configure(&conn)?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Internal(format!(
            "cannot switch to WAL mode (journal_mode is {mode})"
        )));
    }
    migrate(&conn)?;
    Ok(conn)
}

/// Opens one read-only connection for the read pool.
pub(crate) fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    configure(&conn)?;
    Ok(conn)
}

/// Applies the missing migrations in one `BEGIN IMMEDIATE` transaction, so
/// two processes opening a fresh store at once do not race.
fn migrate(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let result = (|| {
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::Internal(format!(
                "store schema version {version} is newer than this program's \
                 ({SCHEMA_VERSION}); upgrade Pillarbox"
            )));
        }
        for (i, migration) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            conn.execute_batch(migration.sql)?;
            if let Some(backfill) = migration.backfill {
                backfill(conn)?;
            }
            conn.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
        }
        Ok(())
    })();
    match result {
        Ok(()) => {
            conn.execute_batch("COMMIT")?;
            Ok(())
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::*;
    use crate::sqlite::SqliteStore;

    /// A store written by schema version 1 (before IMAP support) opens, is
    /// migrated, and serves the new calls for its old data.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn version_1_store_is_migrated() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(crate::sqlite::DB_FILE);
        let raw = b"From: old@example.net\r\nSubject: Legacy invoice\r\n\r\nOld body text\r\n";
        {
            let conn = Connection::open(&path).expect("open");
            conn.execute_batch(V1).expect("v1 schema");
            conn.execute_batch("PRAGMA user_version = 1")
                .expect("version");
            let data = zstd::bulk::compress(raw, 3).expect("compress");
            conn.execute_batch(
                "INSERT INTO domains (name) VALUES ('example.org');
                 INSERT INTO accounts (login, domain, password_hash)
                      VALUES ('u@example.org', 1, 'x');
                 INSERT INTO mailboxes (account, name, subscribed, uidvalidity, uidnext,
                                        highestmodseq)
                      VALUES (1, 'INBOX', 1, 100, 3, 5), (1, 'Old', 0, 101, 1, 1);",
            )
            .expect("rows");
            let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(raw));
            conn.execute(
                "INSERT INTO blobs (hash, data, size) VALUES (?1, ?2, ?3)",
                rusqlite::params![hash, data, raw.len() as i64],
            )
            .expect("blob");
            conn.execute(
                "INSERT INTO messages (blob, size, internal_date, summary)
                 VALUES (?1, ?2, 42, '{}')",
                rusqlite::params![hash, raw.len() as i64],
            )
            .expect("message");
            conn.execute_batch(
                "INSERT INTO entries (mailbox, uid, message, flags, keywords, modseq, saved_date)
                      VALUES (1, 1, 1, 1, '$Work Later', 3, 7), (1, 2, 1, 8, '', 4, 7);",
            )
            .expect("entries");
            conn.execute("UPDATE accounts SET used = ?1", [2 * raw.len() as i64])
                .expect("used");
        }
        let store = SqliteStore::open(dir.path()).expect("migrate");
        let a = AccountId(1);
        let inbox = store
            .mailbox_by_name(a, "INBOX")
            .await
            .expect("get")
            .expect("INBOX");
        assert_eq!(
            (inbox.exists, inbox.unseen, inbox.deleted, inbox.size),
            (2, 1, 1, 2 * raw.len() as u64)
        );
        assert!(inbox.subscribed);
        let old = store
            .mailbox_by_name(a, "Old")
            .await
            .expect("get")
            .expect("Old");
        assert!(!old.subscribed);
        assert_eq!(store.list_subscriptions(a).await.expect("subs"), ["INBOX"]);
        let entries = store.entries(a, inbox.id).await.expect("entries");
        assert_eq!(
            (entries[0].size, entries[0].internal_date),
            (raw.len() as u64, 42)
        );
        assert_eq!(
            store.mailbox_keywords(a, inbox.id).await.expect("keywords"),
            ["$Work", "Later"]
        );
        let header = store.message_header(a, MessageId(1)).await.expect("header");
        assert_eq!(
            header.as_slice(),
            b"From: old@example.net\r\nSubject: Legacy invoice\r\n\r\n"
        );
        let found = store
            .search_text(a, inbox.id, SearchField::Body, "body text")
            .await
            .expect("search");
        assert_eq!(found, [Uid(1), Uid(2)]);
        assert_eq!(
            store
                .first_unseen(a, inbox.id)
                .await
                .expect("unseen")
                .map(|f| f.uid),
            Some(Uid(2))
        );
        let report = store.check().await.expect("check");
        assert!(report.problems.is_empty(), "{:#?}", report.problems);
        // Version 5: a domain from before DKIM keys has none and can get them.
        assert!(
            store
                .dkim_keys("example.org")
                .await
                .expect("keys")
                .is_empty()
        );
        store
            .add_dkim_key(crate::dkim::DkimKey {
                domain: "example.org".into(),
                selector: "pbx-ed-20261127".into(),
                algorithm: crate::dkim::DkimAlgorithm::Ed25519Sha256,
                private_key: vec![1, 2, 3],
                created: 7,
            })
            .await
            .expect("add key");
        assert_eq!(store.dkim_keys("example.org").await.expect("keys").len(), 1);
    }
}
