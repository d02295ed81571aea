//! The embedded SQLite backend (DESIGN §4).
//!
//! # Layout on disk
//!
//! One database file, `<dir>/store.sqlite3`, in WAL mode with
//! `synchronous=FULL` and foreign keys on. Its schema version is kept in
//! `PRAGMA user_version` and migrated forward on open (`schema`).
//!
//! Message bodies are stored **inside SQLite**, as zstd-compressed BLOBs in
//! the `blobs` table keyed by the SHA-256 (hex) of the raw bytes. That is
//! deliberate: a body and the metadata that refers to it commit atomically
//! in one fsync'd transaction, so a crash can leave neither an orphan file
//! nor an entry without its body, and backups are one file. Identical bodies
//! are stored once; a `messages` row (one stored copy with its internal date
//! and parsed summary) is deleted when no mailbox entry refers to it, and a
//! blob when no message does (on expunge and account deletion).
//!
//! # Concurrency and durability
//!
//! - All writes of a process go through ONE writer thread (`writer`), which
//!   group-commits: it runs every queued job in one `BEGIN IMMEDIATE`
//!   transaction, each in its own savepoint, commits once (one WAL fsync),
//!   and only then answers the callers and publishes the change feed. A
//!   write therefore returns only when durable, and one fsync serves many
//!   writes. CPU work (hashing, compression, parsing) is done on tokio's
//!   blocking pool before a job is queued, so that the writer only does
//!   I/O and index updates — except when no other write is in flight: a
//!   lone message is prepared by the writer itself, saving two thread
//!   hand-offs on the latency of a single session's delivery.
//! - Reads use a small pool of read-only connections on tokio's blocking
//!   pool; each read call sees one consistent snapshot.
//! - Nothing is cached in memory: another process (the CLI) may write the
//!   same database concurrently (SQLite's locks plus a 5 s busy timeout
//!   serialise the writers). The change feed only carries this process's
//!   writes.
//! - A second thread, the full-text indexer (`indexer`), works in the
//!   background (see below).
//! - Dropping the last handle stops the indexer and closes the queue; the
//!   writer answers every queued job, and `Drop` waits for both threads to
//!   exit.
//!
//! Large bodies are cut into independent zstd frames of 1 MiB, with a
//! frame table in `blobs.frames`; a byte range is read with incremental
//! BLOB I/O from the frame holding its start, and decompression stops at
//! its end (`blob`).
//!
//! # Counters
//!
//! `mailboxes.uidnext` and `mailboxes.highestmodseq` are bumped in the same
//! transaction as the entry change they account for; every changed or
//! expunged entry gets its own MODSEQ; expunges leave `tombstones`.
//! UIDVALIDITY comes from a store-wide counter (`meta.uidvalidity`) that
//! only grows and starts at the Unix time. The per-mailbox counters
//! (`total_count`, `unseen_count`, `deleted_count`, `total_size`) and
//! `accounts.used` (the sum of the sizes of the account's entries) are kept
//! by triggers on `entries`, in the statement that changes them, so no
//! write path can forget them; entries carry their message's size and
//! internal date for the same reason and so that a mailbox listing is one
//! scan of its key range. Reading STATUS is one row (see `schema` v2 and
//! `tests/large_mailbox.rs` for measurements).
//! [`SqliteStore`]'s `check` verifies all of this.
//!
//! # Full-text search
//!
//! An FTS5 table with the trigram tokenizer (`search`), filled in the
//! background so that deliveries do not pay for it:
//!
//! - The transaction storing a message only adds it to `fts_pending`.
//!   Extracting its text ([`crate::fulltext`]) and inserting it into the
//!   index cost several times the rest of a delivery; done inline they
//!   divided group-commit delivery throughput by about 4.
//! - The indexer thread (`indexer`) extracts the text of pending messages
//!   in batches when the writer is idle, and the writer moves them from
//!   `fts_pending` into the index as low-priority work that yields to every
//!   foreground write. Pending rows are durable: a restart catches up.
//! - **Search results are complete at all times**: a search matches the
//!   index and, in the same snapshot, reads and matches the mailbox's
//!   pending messages directly, with the same extraction and comparison.
//!   **Indexing is eventually done**: every stored message is either
//!   indexed or pending (`check` verifies it), and the indexer runs
//!   whenever the writer is idle (and starts a batch at least every second
//!   under sustained load). [`SqliteStore::index_backlog`] tells how far
//!   behind it is.
//! - A collected message loses its index or pending row with it.
//! - Once caught up, the indexer merges FTS5's segments while idle, so that
//!   queries on indexed messages stay as fast as with inline indexing.

mod admin;
mod backfill;
mod blob;
mod check;
mod dkim;
mod flags;
mod indexer;
mod mail_store;
mod mailboxes;
mod ops;
mod queue;
mod read;
mod schema;
mod search;
mod sort;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use rusqlite::Connection;
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;

use crate::api::*;
use crate::error::StoreError;

use self::ops::PreparedMessage;
use self::writer::{Feeds, Job, JobSender, Msg, TypedJob};

/// File name of the database inside the store directory.
pub const DB_FILE: &str = "store.sqlite3";

/// Read-only connections kept open between reads.
const MAX_IDLE_READERS: usize = 8;

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// SQLite integers are signed; byte counts beyond `i64::MAX` are clamped.
pub(crate) fn to_db_u64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Negative values (only possible through corruption) read as 0.
pub(crate) fn from_db_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// Pool of read-only connections.
struct ReadPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl ReadPool {
    fn take(&self) -> Result<Connection, StoreError> {
        let pooled = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        match pooled {
            Some(conn) => Ok(conn),
            None => schema::open_reader(&self.path),
        }
    }

    fn give_back(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_IDLE_READERS {
            idle.push(conn);
        }
    }
}

/// The embedded SQLite store. See the module docs for its guarantees.
pub struct SqliteStore {
    path: PathBuf,
    writer: Option<JobSender>,
    thread: Option<JoinHandle<()>>,
    index: Arc<indexer::Shared>,
    indexer: Option<JoinHandle<()>>,
    reads: Arc<ReadPool>,
    feeds: Arc<Feeds>,
    /// Writes sent to the writer and not yet answered (see
    /// [`SqliteStore::writer_idle`]).
    in_flight: AtomicUsize,
}

/// Counts a write as in flight while alive.
struct InFlight<'a>(&'a AtomicUsize);

impl<'a> InFlight<'a> {
    fn new(counter: &'a AtomicUsize) -> InFlight<'a> {
        counter.fetch_add(1, Ordering::Relaxed);
        InFlight(counter)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How often [`SqliteStore::wait_for_index`] looks.
const INDEX_POLL: std::time::Duration = std::time::Duration::from_millis(5);

impl SqliteStore {
    /// Opens the store in `dir` (created if missing, with
    /// `dir/store.sqlite3`), migrating its schema, and starts its writer
    /// and indexer threads.
    pub fn open(dir: &Path) -> Result<Arc<SqliteStore>, StoreError> {
        Self::open_with(dir, true)
    }

    /// [`Self::open`], with or without the background indexer (tests leave
    /// messages pending with `false`).
    pub(crate) fn open_with(
        dir: &Path,
        background_index: bool,
    ) -> Result<Arc<SqliteStore>, StoreError> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(DB_FILE);
        let conn = schema::open_writer(&path)?;
        let feeds = Arc::new(Feeds::default());
        let index = indexer::Shared::new();
        let (writer, thread) = writer::spawn(conn, feeds.clone(), index.clone())?;
        let mut store = SqliteStore {
            path: path.clone(),
            writer: Some(writer),
            thread: Some(thread),
            index,
            indexer: None,
            reads: Arc::new(ReadPool {
                path,
                idle: Mutex::new(Vec::new()),
            }),
            feeds,
            in_flight: AtomicUsize::new(0),
        };
        if background_index && let Some(writer) = &store.writer {
            // On failure, `store` is dropped: the writer thread stops.
            store.indexer = Some(indexer::spawn(
                store.path.clone(),
                store.index.clone(),
                writer.clone(),
            )?);
        }
        Ok(Arc::new(store))
    }

    /// The database file.
    pub fn db_path(&self) -> &Path {
        &self.path
    }

    /// How many stored messages wait for the background indexer. Search
    /// finds them anyway (see the module docs); this is for monitoring,
    /// tests and benchmarks.
    pub async fn index_backlog(&self) -> Result<u64, StoreError> {
        self.read(|c| {
            let n: i64 = c.query_row("SELECT count(*) FROM fts_pending", [], |r| r.get(0))?;
            Ok(from_db_u64(n))
        })
        .await
    }

    /// Waits until every message stored so far (by any process) has been
    /// indexed by the background indexer, which runs once writes pause.
    pub async fn wait_for_index(&self) -> Result<(), StoreError> {
        if self.indexer.is_none() {
            return Err(StoreError::Internal(
                "this store has no background indexer".into(),
            ));
        }
        while self.index_backlog().await? > 0 {
            tokio::time::sleep(INDEX_POLL).await;
        }
        Ok(())
    }

    /// Queues `f` for the writer thread and waits until it is committed.
    async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &mut Vec<Change>) -> Result<T, StoreError> + Send + 'static,
    {
        let _in_flight = InFlight::new(&self.in_flight);
        let (reply, answer) = oneshot::channel();
        let job: Box<dyn Job> = Box::new(TypedJob {
            f: Box::new(f),
            reply,
        });
        self.writer
            .as_ref()
            .ok_or(StoreError::Closed)?
            .send(Msg::Write(job))
            .map_err(|_| StoreError::Closed)?;
        answer
            .await
            .map_err(|_| StoreError::Internal("store write job failed (see log)".into()))?
    }

    /// Runs `f` on a pooled read-only connection, in one read transaction,
    /// on tokio's blocking pool.
    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let pool = self.reads.clone();
        tokio::task::spawn_blocking(move || {
            let conn = pool.take()?;
            conn.execute_batch("BEGIN")?;
            let result = f(&conn);
            // Ends the read snapshot; a failure here means the connection
            // is in a bad state, so it is not returned to the pool.
            if conn.execute_batch("COMMIT").is_ok() {
                pool.give_back(conn);
            }
            result
        })
        .await
        .map_err(|e| StoreError::Internal(format!("store read task failed: {e}")))?
    }
}

impl SqliteStore {
    /// Like `read`, on a new connection rather than a pooled one: nothing
    /// cached by an earlier read on the connection (FTS5 caches its index
    /// structure per connection, and `PRAGMA integrity_check` does not
    /// refresh it) can hide or fake a problem. For `check`.
    async fn read_fresh<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let conn = schema::open_reader(&path)?;
            conn.execute_batch("BEGIN")?;
            let result = f(&conn);
            let _ = conn.execute_batch("COMMIT");
            result
        })
        .await
        .map_err(|e| StoreError::Internal(format!("store read task failed: {e}")))?
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        // The indexer stops between two messages (the writer abandons its
        // index work); what it has not done stays pending for next time.
        self.index.stop();
        if let Some(thread) = self.indexer.take()
            && thread.join().is_err()
        {
            tracing::error!("store indexer thread panicked");
        }
        // Closing the queue makes the writer answer what is queued and exit.
        drop(self.writer.take());
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("store writer thread panicked");
        }
    }
}

/// Hashes, compresses and summarises a message (CPU work, done before the
/// write is queued, or by the writer when it is idle: see
/// [`SqliteStore::writer_idle`]). Its searchable text is extracted later,
/// by the indexer.
fn prepare(message: &NewMessage) -> Result<PreparedMessage, StoreError> {
    let data = message.data.as_slice();
    let hash = hex::encode(Sha256::digest(data));
    let compressed = blob::compress(data)?;
    let summary = pillarbox_message::summary::summarize(data);
    let summary_json = serde_json::to_string(&summary)
        .map_err(|e| StoreError::Internal(format!("cannot encode summary: {e}")))?;
    Ok(PreparedMessage {
        hash,
        compressed,
        size: data.len() as u64,
        internal_date: message.internal_date,
        summary_json,
        header_len: summary.header_len,
    })
}

impl SqliteStore {
    /// Whether no write of this process is queued or running. A message
    /// stored then is prepared ([`prepare`]) by the writer thread itself,
    /// inside its transaction: that saves the hop to tokio's blocking pool
    /// and back (two thread wake-ups, a good part of a lone delivery's
    /// latency) and costs little, as no other write is waiting for it.
    /// Under concurrent writes messages are prepared on the blocking pool
    /// as before, in parallel, and the writer only writes.
    fn writer_idle(&self) -> bool {
        self.in_flight.load(Ordering::Relaxed) == 0
    }
}

/// [`prepare`] on tokio's blocking pool.
async fn prepare_blocking(message: NewMessage) -> Result<PreparedMessage, StoreError> {
    tokio::task::spawn_blocking(move || prepare(&message))
        .await
        .map_err(|e| StoreError::Internal(format!("message preparation failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn domain_names(store: &SqliteStore) -> Vec<String> {
        store
            .list_domains()
            .await
            .expect("list")
            .into_iter()
            .map(|d| d.name)
            .collect()
    }

    /// Jobs of one group commit are isolated by their savepoints: a failing
    /// or panicking job is rolled back alone, the others commit.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn failing_and_panicking_jobs_roll_back_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(dir.path()).expect("open");
        // Hold the writer so that the next jobs queue up into one batch.
        let blocker = store.write(|_, _| {
            std::thread::sleep(std::time::Duration::from_millis(100));
            Ok(())
        });
        let fails = store.write(|c, _| {
            admin::create_domain(c, "fails.example")?;
            Err::<(), _>(StoreError::Invalid("on purpose".into()))
        });
        let panics = store.write(|c, _| -> Result<(), StoreError> {
            admin::create_domain(c, "panics.example")?;
            panic!("on purpose");
        });
        let works = store.write(|c, _| admin::create_domain(c, "works.example"));
        let (b, f, p, w) = tokio::join!(blocker, fails, panics, works);
        b.expect("blocker");
        assert!(matches!(f, Err(StoreError::Invalid(_))));
        assert!(matches!(p, Err(StoreError::Internal(_))));
        w.expect("the healthy job commits");
        assert_eq!(domain_names(&store).await, ["works.example"]);
        // The writer is still alive.
        store.create_domain("after.example").await.expect("create");
        assert_eq!(
            domain_names(&store).await,
            ["after.example", "works.example"]
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        drop(SqliteStore::open(dir.path()).expect("open"));
        let conn = Connection::open(dir.path().join(DB_FILE)).expect("raw");
        conn.execute_batch(&format!(
            "PRAGMA user_version = {}",
            schema::SCHEMA_VERSION + 1
        ))
        .expect("bump");
        drop(conn);
        let err = SqliteStore::open(dir.path()).err().expect("refused");
        assert!(err.to_string().contains("newer"), "{err}");
    }
}
