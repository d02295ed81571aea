//! Schema, migrations (versioned by `PRAGMA user_version`) and connection
//! settings.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::error::StoreError;

/// How long a connection waits for another connection's (or process's)
/// lock before giving up with `SQLITE_BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Migrations, in order; migration `i` brings the schema from version `i`
/// to `i + 1`. Never edit a released migration: append a new one.
const MIGRATIONS: &[&str] = &[
    // Version 1: the initial schema.
    r#"
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
    "#,
];

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
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            conn.execute_batch(sql)?;
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
