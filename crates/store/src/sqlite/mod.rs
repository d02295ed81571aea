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
//!   blocking pool before a job is queued, so the writer only does I/O.
//! - Reads use a small pool of read-only connections on tokio's blocking
//!   pool; each read call sees one consistent snapshot.
//! - Nothing is cached in memory: another process (the CLI) may write the
//!   same database concurrently (SQLite's locks plus a 5 s busy timeout
//!   serialise the writers). The change feed only carries this process's
//!   writes.
//! - Dropping the last handle closes the queue; the writer answers every
//!   queued job, and `Drop` waits for it to exit.
//!
//! # Counters
//!
//! `mailboxes.uidnext` and `mailboxes.highestmodseq` are bumped in the same
//! transaction as the entry change they account for; every changed or
//! expunged entry gets its own MODSEQ; expunges leave `tombstones`.
//! UIDVALIDITY comes from a store-wide counter (`meta.uidvalidity`) that
//! only grows and starts at the Unix time. `accounts.used` is the sum of the
//! sizes of the account's entries, maintained by deliver and expunge.
//! [`SqliteStore`]'s `check` verifies all of this.

mod check;
mod ops;
mod read;
mod schema;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use async_trait::async_trait;
use pillarbox_message::summary::Summary;
use rusqlite::Connection;
use sha2::{Digest, Sha256};
use tokio::sync::{broadcast, oneshot};

use crate::api::*;
use crate::error::StoreError;

use self::ops::PreparedMessage;
use self::writer::{Feeds, Job, JobSender, TypedJob};

/// File name of the database inside the store directory.
pub const DB_FILE: &str = "store.sqlite3";

/// Read-only connections kept open between reads.
const MAX_IDLE_READERS: usize = 8;

/// zstd level for message bodies: fast, and most of the gain.
const ZSTD_LEVEL: i32 = 3;

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
    reads: Arc<ReadPool>,
    feeds: Arc<Feeds>,
}

impl SqliteStore {
    /// Opens the store in `dir` (created if missing, with
    /// `dir/store.sqlite3`), migrating its schema, and starts its writer
    /// thread.
    pub fn open(dir: &Path) -> Result<Arc<SqliteStore>, StoreError> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(DB_FILE);
        let conn = schema::open_writer(&path)?;
        let feeds = Arc::new(Feeds::default());
        let (writer, thread) = writer::spawn(conn, feeds.clone())?;
        Ok(Arc::new(SqliteStore {
            path: path.clone(),
            writer: Some(writer),
            thread: Some(thread),
            reads: Arc::new(ReadPool {
                path,
                idle: Mutex::new(Vec::new()),
            }),
            feeds,
        }))
    }

    /// The database file.
    pub fn db_path(&self) -> &Path {
        &self.path
    }

    /// Queues `f` for the writer thread and waits until it is committed.
    async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &mut Vec<Change>) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Box<dyn Job> = Box::new(TypedJob {
            f: Box::new(f),
            reply,
        });
        self.writer
            .as_ref()
            .ok_or(StoreError::Closed)?
            .send(job)
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

impl Drop for SqliteStore {
    fn drop(&mut self) {
        // Closing the queue makes the writer answer what is queued and exit.
        drop(self.writer.take());
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("store writer thread panicked");
        }
    }
}

thread_local! {
    /// One zstd context per blocking-pool thread: creating a context costs
    /// more than compressing a typical message.
    static COMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
        const { std::cell::RefCell::new(None) };
}

/// zstd-compresses a message body (one frame, with its content size).
fn compress(data: &[u8]) -> Result<Vec<u8>, StoreError> {
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        let compressor = match &mut *slot {
            Some(c) => c,
            None => slot.insert(zstd::bulk::Compressor::new(ZSTD_LEVEL)?),
        };
        Ok(compressor.compress(data)?)
    })
}

/// Hashes, compresses and summarises a message (CPU work, done on the
/// blocking pool before the write is queued).
fn prepare(message: &NewMessage) -> Result<PreparedMessage, StoreError> {
    let data = message.data.as_slice();
    let hash = hex::encode(Sha256::digest(data));
    let compressed = compress(data)?;
    let summary = pillarbox_message::summary::summarize(data);
    let summary_json = serde_json::to_string(&summary)
        .map_err(|e| StoreError::Internal(format!("cannot encode summary: {e}")))?;
    Ok(PreparedMessage {
        hash,
        compressed,
        size: data.len() as u64,
        internal_date: message.internal_date,
        summary_json,
    })
}

#[async_trait]
impl MailStore for SqliteStore {
    async fn create_domain(&self, name: &str) -> Result<Domain, StoreError> {
        let name = name.to_owned();
        self.write(move |c, _| ops::create_domain(c, &name)).await
    }

    async fn domain(&self, name: &str) -> Result<Option<Domain>, StoreError> {
        let name = name.to_owned();
        self.read(move |c| read::domain(c, &name)).await
    }

    async fn list_domains(&self) -> Result<Vec<Domain>, StoreError> {
        self.read(read::list_domains).await
    }

    async fn delete_domain(&self, name: &str) -> Result<(), StoreError> {
        let name = name.to_owned();
        self.write(move |c, _| ops::delete_domain(c, &name)).await
    }

    async fn set_catch_all(
        &self,
        domain: &str,
        account: Option<AccountId>,
    ) -> Result<(), StoreError> {
        let domain = domain.to_owned();
        self.write(move |c, _| ops::set_catch_all(c, &domain, account))
            .await
    }

    async fn create_account(
        &self,
        login: &str,
        credentials: StoredCredentials,
    ) -> Result<Account, StoreError> {
        let login = login.to_owned();
        self.write(move |c, _| ops::create_account(c, &login, &credentials))
            .await
    }

    async fn account(&self, login: &str) -> Result<Option<Account>, StoreError> {
        let login = login.to_owned();
        self.read(move |c| read::account(c, &login)).await
    }

    async fn account_by_id(&self, id: AccountId) -> Result<Option<Account>, StoreError> {
        self.read(move |c| read::account_by_id(c, id)).await
    }

    async fn list_accounts(&self) -> Result<Vec<Account>, StoreError> {
        self.read(read::list_accounts).await
    }

    async fn delete_account(&self, login: &str) -> Result<(), StoreError> {
        let login = login.to_owned();
        self.write(move |c, _| ops::delete_account(c, &login)).await
    }

    async fn credentials(
        &self,
        login: &str,
    ) -> Result<Option<(AccountId, StoredCredentials)>, StoreError> {
        let login = login.to_owned();
        self.read(move |c| read::credentials(c, &login)).await
    }

    async fn set_credentials(
        &self,
        login: &str,
        credentials: StoredCredentials,
    ) -> Result<(), StoreError> {
        let login = login.to_owned();
        self.write(move |c, _| ops::set_credentials(c, &login, &credentials))
            .await
    }

    async fn set_quota(&self, login: &str, quota: Option<u64>) -> Result<(), StoreError> {
        let login = login.to_owned();
        self.write(move |c, _| ops::set_quota(c, &login, quota))
            .await
    }

    async fn lookup_address(&self, address: &str) -> Result<Option<AddressTarget>, StoreError> {
        let address = address.to_owned();
        self.read(move |c| read::lookup_address(c, &address)).await
    }

    async fn add_alias(&self, address: &str, target: &str) -> Result<(), StoreError> {
        let (address, target) = (address.to_owned(), target.to_owned());
        self.write(move |c, _| ops::add_alias(c, &address, &target))
            .await
    }

    async fn remove_alias(&self, address: &str, target: Option<&str>) -> Result<(), StoreError> {
        let address = address.to_owned();
        let target = target.map(str::to_owned);
        self.write(move |c, _| ops::remove_alias(c, &address, target.as_deref()))
            .await
    }

    async fn list_aliases(&self) -> Result<Vec<(String, Vec<String>)>, StoreError> {
        self.read(read::list_aliases).await
    }

    async fn list_mailboxes(&self, account: AccountId) -> Result<Vec<Mailbox>, StoreError> {
        self.read(move |c| read::list_mailboxes(c, account)).await
    }

    async fn mailbox_by_name(
        &self,
        account: AccountId,
        name: &str,
    ) -> Result<Option<Mailbox>, StoreError> {
        let name = name.to_owned();
        self.read(move |c| read::mailbox_by_name(c, account, &name))
            .await
    }

    async fn mailbox(
        &self,
        account: AccountId,
        id: MailboxId,
    ) -> Result<Option<Mailbox>, StoreError> {
        self.read(move |c| read::mailbox(c, account, id)).await
    }

    async fn deliver(
        &self,
        message: NewMessage,
        targets: Vec<DeliveryTarget>,
    ) -> Result<Vec<Result<Delivered, StoreError>>, StoreError> {
        if targets.is_empty() {
            return Ok(Vec::new());
        }
        let prepared = tokio::task::spawn_blocking(move || prepare(&message))
            .await
            .map_err(|e| StoreError::Internal(format!("message preparation failed: {e}")))??;
        self.write(move |c, changes| ops::deliver(c, &prepared, &targets, changes))
            .await
    }

    async fn entries(
        &self,
        account: AccountId,
        mailbox: MailboxId,
    ) -> Result<Vec<Entry>, StoreError> {
        self.read(move |c| read::entries(c, account, mailbox)).await
    }

    async fn message_bytes(
        &self,
        account: AccountId,
        message: MessageId,
    ) -> Result<Arc<Vec<u8>>, StoreError> {
        self.read(move |c| read::message_bytes(c, account, message))
            .await
    }

    async fn summary(&self, account: AccountId, message: MessageId) -> Result<Summary, StoreError> {
        self.read(move |c| read::summary(c, account, message)).await
    }

    async fn expunge(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        uids: &[Uid],
    ) -> Result<Vec<Uid>, StoreError> {
        let uids = uids.to_vec();
        self.write(move |c, changes| ops::expunge(c, account, mailbox, &uids, changes))
            .await
    }

    async fn vanished(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        since: ModSeq,
    ) -> Result<Vec<Uid>, StoreError> {
        self.read(move |c| read::vanished(c, account, mailbox, since))
            .await
    }

    async fn update_flags(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        uids: &[Uid],
        add: Flags,
        remove: Flags,
    ) -> Result<Vec<Entry>, StoreError> {
        let uids = uids.to_vec();
        self.write(move |c, changes| {
            ops::update_flags(c, account, mailbox, &uids, add, remove, changes)
        })
        .await
    }

    fn subscribe(&self, account: AccountId) -> broadcast::Receiver<Change> {
        self.feeds.subscribe(account)
    }

    async fn check(&self) -> Result<CheckReport, StoreError> {
        self.read(check::check).await
    }
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
            ops::create_domain(c, "fails.example")?;
            Err::<(), _>(StoreError::Invalid("on purpose".into()))
        });
        let panics = store.write(|c, _| -> Result<(), StoreError> {
            ops::create_domain(c, "panics.example")?;
            panic!("on purpose");
        });
        let works = store.write(|c, _| ops::create_domain(c, "works.example"));
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
