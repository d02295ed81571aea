//! The background full-text indexer.
//!
//! Deliveries and appends do not index: they only insert the new message
//! into `fts_pending` (see `search`), so the delivering transaction — and
//! the fsync every delivery waits for — carries no text extraction and no
//! FTS5 insert. This module's thread catches up:
//!
//! 1. It waits until there may be work (the writer kicks it after every
//!    committed batch; at start it looks anyway, so rows left pending by
//!    an earlier process, crash or shutdown are indexed) and until the
//!    writer has been free of foreground jobs for [`IDLE_GRACE`] — under
//!    a burst of deliveries the whole CPU and the writer stay with them.
//!    So that the index cannot stall under sustained load, a batch is
//!    started anyway once work has waited [`MAX_DEFER`] and a full batch
//!    ([`MAX_INDEX_BATCH`]) is pending, or any batch once work has waited
//!    [`MAX_WAIT`]: at most one batch per [`MAX_DEFER`], so under
//!    sustained load the index trails and catches up when the load drops —
//!    search stays complete meanwhile, at the price of reading the pending
//!    messages. A single session delivering back to back keeps the writer
//!    "busy" in this sense (its gaps are shorter than [`IDLE_GRACE`]).
//! 2. It reads up to [`MAX_INDEX_BATCH`] pending messages (at most
//!    [`MAX_BATCH_BYTES`] of bodies) on its own read-only connection,
//!    decompresses them and extracts their text ([`search::stored_text`])
//!    on this thread — never on tokio's blocking pool, which deliveries
//!    use for their own preparation.
//! 3. It hands the batch to the writer thread as low-priority work
//!    ([`IndexWork`]) and waits for it to be committed. The writer starts
//!    it only when no foreground job is queued, and then indexes for up to
//!    its index budget (see `writer`) in one transaction — normally the
//!    whole batch: FTS5 writes one segment per transaction, so one large
//!    transaction costs far fewer pages (and later merges) than many small
//!    ones. Foreground jobs arriving meanwhile wait and join that
//!    transaction (one fsync for both); what is left resumes later. A
//!    foreground write therefore waits at most one budget plus the flush.
//! 4. Once nothing is pending, it merges the index's segments in short
//!    steps ([`search::merge_step`]) while the writer stays idle: FTS5
//!    makes a segment per transaction, and queries slow down with their
//!    number.
//!
//! Each message moves from `fts_pending` to `message_text` in one
//! transaction, and only if it is still pending (it may have been expunged
//! since its text was read), so the indexer never resurrects a collected
//! message and never indexes one twice. Dropping the store stops the
//! thread between two messages; what is left pending is indexed by the
//! next process to open the store.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, SyncSender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use crate::api::MessageId;
use crate::error::StoreError;
use crate::fulltext::IndexedText;

use super::writer::{JobSender, Msg};
use super::{schema, search};

/// Most messages read, extracted and handed to the writer at once; under
/// load, the indexer waits for this many.
pub(crate) const MAX_INDEX_BATCH: usize = 256;

/// Most raw body bytes read into one batch (a batch has at least one
/// message, whatever its size).
pub(crate) const MAX_BATCH_BYTES: u64 = 16 << 20;

/// The writer counts as busy until this long after its last foreground
/// batch.
pub(crate) const IDLE_GRACE: Duration = Duration::from_millis(20);

/// Under sustained foreground load, a full batch is indexed anyway once
/// work has waited this long (so at most one batch per period).
pub(crate) const MAX_DEFER: Duration = Duration::from_secs(2);

/// Under sustained foreground load, any batch is indexed once work has
/// waited this long.
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(10);

/// FTS5 pages merged per merge step (a few milliseconds of work).
const MERGE_PAGES: i64 = 64;

/// Pause after a failed batch before trying again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// State shared by the store, the writer thread and the indexer thread.
pub(crate) struct Shared {
    epoch: Instant,
    /// Microseconds since `epoch` of the writer's last foreground activity.
    last_foreground: AtomicU64,
    state: Mutex<State>,
    wake: Condvar,
}

struct State {
    /// The store is being dropped.
    stop: bool,
    /// Writes were committed since the indexer last looked for work.
    dirty: bool,
}

impl Shared {
    pub(crate) fn new() -> Arc<Shared> {
        Arc::new(Shared {
            epoch: Instant::now(),
            last_foreground: AtomicU64::new(0),
            // Look for work left by an earlier process at start.
            state: Mutex::new(State {
                stop: false,
                dirty: true,
            }),
            wake: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writer: a foreground batch starts or has just finished.
    pub(crate) fn foreground(&self) {
        let now = u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.last_foreground.store(now, Ordering::Relaxed);
    }

    /// Writer: committed writes may have queued messages for indexing.
    pub(crate) fn kick(&self) {
        let mut state = self.lock();
        if !state.dirty {
            state.dirty = true;
            self.wake.notify_all();
        }
    }

    /// Store: stop the indexer (and make the writer abandon index work).
    pub(crate) fn stop(&self) {
        self.lock().stop = true;
        self.wake.notify_all();
    }

    pub(crate) fn stopping(&self) -> bool {
        self.lock().stop
    }

    fn idle_for(&self) -> Duration {
        let last = Duration::from_micros(self.last_foreground.load(Ordering::Relaxed));
        self.epoch.elapsed().saturating_sub(last)
    }

    /// Blocks until there may be work (clearing the mark); false on stop.
    fn wait_for_work(&self) -> bool {
        let mut state = self.lock();
        while !state.stop && !state.dirty {
            state = self.wake.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        state.dirty = false;
        !state.stop
    }

    /// Blocks until the writer has been idle for [`IDLE_GRACE`], or for at
    /// most [`MAX_DEFER`]; false on stop.
    fn wait_until_idle(&self) -> bool {
        let deadline = Instant::now() + MAX_DEFER;
        let mut state = self.lock();
        loop {
            if state.stop {
                return false;
            }
            let idle = self.idle_for();
            let now = Instant::now();
            if idle >= IDLE_GRACE || now >= deadline {
                return true;
            }
            let wait = (IDLE_GRACE - idle).min(deadline - now);
            state = self
                .wake
                .wait_timeout(state, wait)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Sleeps `d` unless stopped first; false on stop.
    fn pause(&self, d: Duration) -> bool {
        let state = self.lock();
        let (state, _) = self
            .wake
            .wait_timeout_while(state, d, |s| !s.stop)
            .unwrap_or_else(|e| e.into_inner());
        !state.stop
    }
}

/// Low-priority work for the writer thread, which runs it when it has no
/// foreground work (see the module docs).
pub(crate) struct IndexWork {
    task: Task,
    /// Answered once the task is committed (with whether a merge step
    /// found work), or with the error that stopped it.
    done: SyncSender<Result<bool, StoreError>>,
}

enum Task {
    /// Extracted texts to index, one per step.
    Texts {
        items: Vec<(MessageId, IndexedText)>,
        next: usize,
    },
    /// One step of FTS5 segment merging (see [`MERGE_PAGES`]).
    Merge { ran: bool, worked: bool },
}

impl IndexWork {
    fn new(task: Task) -> (IndexWork, mpsc::Receiver<Result<bool, StoreError>>) {
        let (done, answer) = mpsc::sync_channel(1);
        (IndexWork { task, done }, answer)
    }

    pub(crate) fn is_done(&self) -> bool {
        match &self.task {
            Task::Texts { items, next } => *next >= items.len(),
            Task::Merge { ran, .. } => *ran,
        }
    }

    /// Does the next step, inside the writer's open transaction.
    pub(crate) fn step(&mut self, conn: &Connection) -> Result<(), StoreError> {
        match &mut self.task {
            Task::Texts { items, next } => {
                let Some((id, text)) = items.get_mut(*next) else {
                    return Ok(());
                };
                *next += 1;
                // Its text is no longer needed once written.
                let text = std::mem::take(text);
                search::index_pending(conn, *id, &text)?;
            }
            Task::Merge { ran, worked } => {
                *ran = true;
                *worked = search::merge_step(conn, MERGE_PAGES)?;
            }
        }
        Ok(())
    }

    /// Answers the indexer.
    pub(crate) fn finish(self, result: Result<(), StoreError>) {
        let worked = match self.task {
            Task::Texts { .. } => true,
            Task::Merge { worked, .. } => worked,
        };
        let _ = self.done.send(result.map(|()| worked));
    }
}

/// Starts the indexer thread for the database at `path`.
pub(crate) fn spawn(
    path: PathBuf,
    shared: Arc<Shared>,
    writer: JobSender,
) -> Result<JoinHandle<()>, StoreError> {
    Ok(std::thread::Builder::new()
        .name("store-indexer".into())
        .spawn(move || run(&path, &shared, &writer))?)
}

fn run(path: &Path, shared: &Shared, writer: &JobSender) {
    let mut conn: Option<Connection> = None;
    // Whether the index has new segments to merge (at start: perhaps).
    let mut unmerged = true;
    while shared.wait_for_work() {
        // Since when work has been deferred under load.
        let mut deferred: Option<Instant> = None;
        loop {
            if !shared.wait_until_idle() {
                return;
            }
            if shared.idle_for() < IDLE_GRACE {
                // Under load: a full batch only, unless work has waited
                // long (on error, go on: indexing reports it).
                let since = *deferred.get_or_insert_with(Instant::now);
                if let Ok(false) = pending_at_least(path, &mut conn, MAX_INDEX_BATCH)
                    && since.elapsed() < MAX_WAIT
                {
                    continue;
                }
            }
            deferred = None;
            let result = match index_one_batch(path, &mut conn, shared, writer) {
                Ok(Some(0)) if unmerged => match merge(shared, writer) {
                    Ok(Some(true)) => {
                        unmerged = false;
                        Ok(Some(0))
                    }
                    Ok(Some(false)) => Ok(Some(0)),
                    other => other.map(|o| o.map(|_| 0)),
                },
                other => other,
            };
            match result {
                Ok(Some(0)) => break,
                Ok(Some(_)) => unmerged = true,
                Ok(None) => return,
                Err(e) => {
                    if shared.stopping() {
                        return;
                    }
                    tracing::warn!(error = %e, "full-text indexing failed; will retry");
                    // A fresh connection next time, in case it was the cause.
                    conn = None;
                    if !shared.pause(RETRY_AFTER) {
                        return;
                    }
                }
            }
        }
    }
}

/// Hands `task` to the writer and waits for it; `None` if the store is
/// stopping.
fn run_on_writer(
    task: Task,
    shared: &Shared,
    writer: &JobSender,
) -> Result<Option<bool>, StoreError> {
    let (work, answer) = IndexWork::new(task);
    if writer.send(Msg::Index(work)).is_err() {
        return Ok(None);
    }
    match answer.recv() {
        Ok(Ok(worked)) => Ok(Some(worked)),
        Ok(Err(_)) | Err(_) if shared.stopping() => Ok(None),
        Ok(Err(e)) => Err(e),
        Err(_) => Ok(None),
    }
}

/// Merges index segments, one short step per writer transaction, while
/// the writer stays idle. `Some(true)`: nothing is left to merge;
/// `Some(false)`: foreground work interrupted; `None`: stopping.
fn merge(shared: &Shared, writer: &JobSender) -> Result<Option<bool>, StoreError> {
    loop {
        if shared.idle_for() < IDLE_GRACE {
            return Ok(Some(false));
        }
        let task = Task::Merge {
            ran: false,
            worked: false,
        };
        match run_on_writer(task, shared, writer)? {
            Some(true) => {}
            Some(false) => return Ok(Some(true)),
            None => return Ok(None),
        }
    }
}

/// Reads, extracts and indexes one batch. `Some(n)`: `n` messages were
/// handled (0: nothing is pending); `None`: the store is stopping.
fn index_one_batch(
    path: &Path,
    conn: &mut Option<Connection>,
    shared: &Shared,
    writer: &JobSender,
) -> Result<Option<usize>, StoreError> {
    let reader = match conn {
        Some(c) => c,
        None => conn.insert(schema::open_reader(path)?),
    };
    let stored = read_pending(reader)?;
    if stored.is_empty() {
        return Ok(Some(0));
    }
    let mut items = Vec::with_capacity(stored.len());
    for s in stored {
        if shared.stopping() {
            return Ok(None);
        }
        let text = search::stored_text(s.id, &s.data, s.size, &s.summary);
        items.push((MessageId(s.id), text));
    }
    let n = items.len();
    let task = Task::Texts { items, next: 0 };
    Ok(run_on_writer(task, shared, writer)?.map(|_| n))
}

/// Whether at least `n` messages are pending.
fn pending_at_least(
    path: &Path,
    conn: &mut Option<Connection>,
    n: usize,
) -> Result<bool, StoreError> {
    let reader = match conn {
        Some(c) => c,
        None => conn.insert(schema::open_reader(path)?),
    };
    let n = i64::try_from(n).unwrap_or(i64::MAX);
    let found: i64 = reader
        .prepare_cached("SELECT count(*) FROM (SELECT 1 FROM fts_pending LIMIT ?1)")?
        .query_row([n], |r| r.get(0))?;
    Ok(found >= n)
}

/// A pending message as read for indexing.
struct Stored {
    id: i64,
    size: i64,
    summary: String,
    data: Vec<u8>,
}

/// The oldest pending messages, within the batch bounds, in one short
/// read transaction (extraction happens after it, so that no snapshot is
/// held for long).
fn read_pending(conn: &Connection) -> Result<Vec<Stored>, StoreError> {
    conn.execute_batch("BEGIN")?;
    let result = (|| {
        let mut stmt = conn.prepare_cached(
            "SELECT m.id, m.size, m.summary, b.data FROM fts_pending p
               JOIN messages m ON m.id = p.message
               JOIN blobs b ON b.hash = m.blob
              ORDER BY p.message LIMIT ?1",
        )?;
        let mut rows = stmt.query([MAX_INDEX_BATCH as i64])?;
        let mut out = Vec::new();
        let mut bytes = 0u64;
        while bytes < MAX_BATCH_BYTES
            && let Some(r) = rows.next()?
        {
            let s = Stored {
                id: r.get(0)?,
                size: r.get(1)?,
                summary: r.get(2)?,
                data: r.get(3)?,
            };
            bytes += super::from_db_u64(s.size);
            out.push(s);
        }
        Ok(out)
    })();
    let _ = conn.execute_batch("COMMIT");
    result
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use rusqlite::Connection;

    use crate::api::*;
    use crate::conformance::{GREETING, REPORT, SHORT, setup, test_message, to_inbox};
    use crate::sqlite::{DB_FILE, SqliteStore};

    fn message(raw: &str) -> NewMessage {
        NewMessage {
            data: Arc::new(raw.as_bytes().to_vec()),
            internal_date: 1_700_000_000,
        }
    }

    async fn deliver(store: &Store, account: AccountId, raw: &str) -> Delivered {
        store
            .deliver(message(raw), vec![to_inbox(account)])
            .await
            .expect("deliver")
            .remove(0)
            .expect("delivered")
    }

    fn raw_db(dir: &Path) -> Connection {
        Connection::open(dir.join(DB_FILE)).expect("open raw")
    }

    fn count(db: &Connection, sql: &str) -> i64 {
        db.query_row(sql, [], |r| r.get(0)).expect("count")
    }

    /// Every kind of text search, as `(field, needle)`.
    fn cases() -> Vec<(SearchField, &'static str)> {
        use SearchField::*;
        vec![
            (Body, "invoice total"),
            (Body, "INVOICE"),
            (Body, "\"hello\""),
            (Body, "straße"),
            (Body, "meeting tomorrow at"),
            (Body, "<b>"),
            (Body, "ok"),
            (Body, "o"),
            (Body, ""),
            (Text, "Quarterly"),
            (Text, "example"),
            (Subject, "KÖLN"),
            (Subject, "hi"),
            (From, "jürgen"),
            (From, "x@"),
            (To, "team"),
            (Cc, "carol"),
            (Bcc, "dave@"),
            (Header("X-Tracking".into()), "abc-123"),
            (Header("x-tracking".into()), ""),
            (Header("Subject".into()), "grüße"),
            (Header("Subject".into()), ""),
            (Header("To".into()), "Q3"),
            (Body, "lorem ipsum"),
        ]
    }

    async fn search_all(store: &Store, account: AccountId, mailbox: MailboxId) -> Vec<Vec<Uid>> {
        let mut out = Vec::new();
        for (field, needle) in cases() {
            out.push(
                store
                    .search_text(account, mailbox, field, needle)
                    .await
                    .expect("search"),
            );
        }
        out
    }

    /// Search is exact before the indexer has run (messages read
    /// directly), after it, and in between; pending rows survive a restart
    /// and are indexed by the next process.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn search_is_exact_before_and_after_indexing_and_restart_catches_up() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open_with(dir.path(), false).expect("open");
        let s: Store = store.clone();
        let a = setup(&s, "u@example.org").await;
        let inbox = crate::conformance::inbox_of(&s, a.id).await;
        let mut uids = Vec::new();
        for raw in [REPORT, GREETING, SHORT] {
            uids.push(deliver(&s, a.id, raw).await.uid);
        }
        s.deliver(test_message("filler"), vec![to_inbox(a.id)])
            .await
            .expect("deliver");
        // COPY into the same mailbox: one message, two entries.
        let copied = s
            .copy(a.id, inbox.id, &[uids[1]], inbox.id)
            .await
            .expect("copy")
            .uids[0]
            .1;
        assert_eq!(store.index_backlog().await.expect("backlog"), 4);
        let pending = search_all(&s, a.id, inbox.id).await;
        // Spot checks: the pending path has the IMAP semantics.
        let (u1, u2, u3) = (uids[0], uids[1], uids[2]);
        let by_case: Vec<_> = cases().into_iter().zip(pending.iter()).collect();
        let hits = |needle: &str| -> &Vec<Uid> {
            by_case
                .iter()
                .find(|((_, n), _)| *n == needle)
                .map(|(_, r)| *r)
                .expect("case")
        };
        assert_eq!(hits("invoice total"), &vec![u1]);
        assert_eq!(hits("straße"), &vec![u2, copied]);
        assert_eq!(hits("<b>"), &Vec::<Uid>::new());
        assert_eq!(hits("ok"), &vec![u3]);
        assert_eq!(hits("jürgen"), &vec![u2, copied]);
        assert_eq!(hits("abc-123"), &vec![u1]);
        assert_eq!(hits("Q3"), &Vec::<Uid>::new());
        assert_eq!(hits("lorem ipsum").len(), 1);
        assert!(s.check().await.expect("check").problems.is_empty());
        drop(s);
        drop(store);
        let db = raw_db(dir.path());
        assert_eq!(count(&db, "SELECT count(*) FROM fts_pending"), 4);
        assert_eq!(count(&db, "SELECT count(*) FROM message_text"), 0);
        drop(db);

        // A new process indexes what was left pending.
        let store = SqliteStore::open(dir.path()).expect("reopen");
        let s: Store = store.clone();
        store.wait_for_index().await.expect("indexed");
        assert_eq!(search_all(&s, a.id, inbox.id).await, pending);
        let db = raw_db(dir.path());
        assert_eq!(count(&db, "SELECT count(*) FROM fts_pending"), 0);
        assert_eq!(count(&db, "SELECT count(*) FROM message_text"), 4);
        drop(db);

        // Mixed: a new message is found at once, indexed or not.
        let late = deliver(&s, a.id, REPORT).await.uid;
        let found = s
            .search_text(a.id, inbox.id, SearchField::Body, "invoice total")
            .await
            .expect("search");
        assert_eq!(found, [u1, late]);
        store.wait_for_index().await.expect("indexed");
        let found = s
            .search_text(a.id, inbox.id, SearchField::Body, "invoice total")
            .await
            .expect("search");
        assert_eq!(found, [u1, late]);
        assert!(s.check().await.expect("check").problems.is_empty());
    }

    /// Expunging (or deleting the account of) a message the indexer has
    /// not reached leaves neither an index row nor a pending row, and the
    /// indexer skips a message collected after it read its text.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn collected_before_indexing_leaves_nothing_behind() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open_with(dir.path(), false).expect("open");
        let s: Store = store.clone();
        let a = setup(&s, "u@example.org").await;
        let b = setup(&s, "b@example.org").await;
        let inbox = crate::conformance::inbox_of(&s, a.id).await;
        let archive = crate::conformance::mailbox_named(&s, a.id, "Archive").await;
        let gone = deliver(&s, a.id, REPORT).await;
        let kept = deliver(&s, a.id, GREETING).await;
        s.copy(a.id, inbox.id, &[kept.uid], archive.id)
            .await
            .expect("copy");
        let shared = s
            .deliver(message(SHORT), vec![to_inbox(a.id), to_inbox(b.id)])
            .await
            .expect("deliver");
        let shared_id = shared[0].as_ref().expect("a").message;
        s.expunge(a.id, inbox.id, &[gone.uid, kept.uid])
            .await
            .expect("expunge");
        s.delete_account("b@example.org").await.expect("delete");
        // `kept` still has its Archive entry, `shared` its entry in `a`.
        assert_eq!(
            s.search_text(a.id, archive.id, SearchField::Body, "noon")
                .await
                .expect("search")
                .len(),
            1
        );
        assert!(
            s.search_text(a.id, inbox.id, SearchField::Body, "invoice")
                .await
                .expect("search")
                .is_empty()
        );
        assert!(s.check().await.expect("check").problems.is_empty());
        drop(s);
        drop(store);

        let db = raw_db(dir.path());
        let pending: Vec<i64> = db
            .prepare("SELECT message FROM fts_pending ORDER BY message")
            .expect("prepare")
            .query_map([], |r| r.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert_eq!(pending, [kept.message.0, shared_id.0]);
        assert_eq!(count(&db, "SELECT count(*) FROM message_text"), 0);
        assert_eq!(
            count(
                &db,
                &format!(
                    "SELECT count(*) FROM messages WHERE id = {}",
                    gone.message.0
                )
            ),
            0
        );
        // The indexer read `kept`'s text, then it was expunged everywhere:
        // its index work finds it no longer pending and writes nothing.
        db.execute_batch(
            "PRAGMA foreign_keys = ON; BEGIN;
             DELETE FROM entries; DELETE FROM fts_pending; DELETE FROM messages;",
        )
        .expect("collect everything");
        let text = crate::fulltext::IndexedText {
            body: "stale".into(),
            ..Default::default()
        };
        assert!(!crate::sqlite::search::index_pending(&db, kept.message, &text).expect("index"));
        db.execute_batch("COMMIT").expect("commit");
        assert_eq!(count(&db, "SELECT count(*) FROM message_text"), 0);
    }

    /// `check` accepts pending messages and reports a message indexed and
    /// pending at once, one neither, and a pending row without message.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn check_understands_pending_rows() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open_with(dir.path(), false).expect("open");
        let s: Store = store.clone();
        let a = setup(&s, "u@example.org").await;
        let mut m = Vec::new();
        for raw in [REPORT, GREETING, SHORT] {
            m.push(deliver(&s, a.id, raw).await.message.0);
        }
        let report = s.check().await.expect("check");
        assert!(report.problems.is_empty(), "{:#?}", report.problems);
        drop(s);
        drop(store);
        let db = raw_db(dir.path());
        db.execute(
            "INSERT INTO message_text (rowid, body) VALUES (?1, 'x')",
            [m[0]],
        )
        .expect("index a pending message");
        db.execute("DELETE FROM fts_pending WHERE message = ?1", [m[1]])
            .expect("forget a pending message");
        db.execute_batch(
            "PRAGMA foreign_keys = OFF; INSERT INTO fts_pending (message) VALUES (999)",
        )
        .expect("dangling pending row");
        drop(db);
        let store = SqliteStore::open_with(dir.path(), false).expect("reopen");
        let p = store.check().await.expect("check").problems;
        let reported = |needle: &str| {
            assert!(p.iter().any(|x| x.contains(needle)), "{needle:?}: {p:#?}");
        };
        reported(&format!(
            "message {} is pending indexing but has a text index row",
            m[0]
        ));
        reported(&format!(
            "message {} has no text index row and is not pending indexing",
            m[1]
        ));
        reported("pending index row 999 has no message");
        assert_eq!(p.len(), 4, "{p:#?}"); // and the foreign key check
    }

    /// Delivers `n` test messages to `account`'s INBOX from 20 tasks.
    async fn fill(store: &Store, account: AccountId, n: usize) {
        let mut tasks = tokio::task::JoinSet::new();
        for t in 0..20 {
            let s = store.clone();
            tasks.spawn(async move {
                for i in (t..n).step_by(20) {
                    s.deliver(test_message(&format!("m{i}")), vec![to_inbox(account)])
                        .await
                        .expect("deliver")[0]
                        .as_ref()
                        .expect("delivered");
                }
            });
        }
        while let Some(r) = tasks.join_next().await {
            r.expect("task");
        }
    }

    /// A foreground job that arrives while the writer indexes waits for
    /// one index budget at most, not for the whole index work (made longer
    /// than a budget here by padding every text).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn index_work_yields_to_foreground_writes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open_with(dir.path(), false).expect("open");
        let s: Store = store.clone();
        let a = setup(&s, "u@example.org").await;
        fill(&s, a.id, 200).await;
        let reader = crate::sqlite::schema::open_reader(store.db_path()).expect("reader");
        let items: Vec<_> = super::read_pending(&reader)
            .expect("read")
            .into_iter()
            .map(|m| {
                let mut text = super::search::stored_text(m.id, &m.data, m.size, &m.summary);
                for i in 0..400 {
                    text.body
                        .push_str(&format!(" padding word{i} for message {} ", m.id));
                }
                (MessageId(m.id), text)
            })
            .collect();
        assert_eq!(items.len(), 200);
        let (work, answer) = super::IndexWork::new(super::Task::Texts { items, next: 0 });
        store
            .writer
            .as_ref()
            .expect("writer")
            .send(super::Msg::Index(work))
            .expect("send");
        // Let the writer start on it.
        std::thread::sleep(std::time::Duration::from_millis(2));
        s.create_domain("during.example").await.expect("write");
        assert!(
            answer.try_recv().is_err(),
            "the index work finished before the foreground write"
        );
        answer.recv().expect("answer").expect("indexed");
        assert_eq!(store.index_backlog().await.expect("backlog"), 0);
        assert!(s.check().await.expect("check").problems.is_empty());
    }

    /// Dropping the store stops the indexer in the middle of a backlog;
    /// what it did is indexed, the rest still pending, nothing lost.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dropping_the_store_stops_the_indexer_midway() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open_with(dir.path(), false).expect("open");
        let s: Store = store.clone();
        let a = setup(&s, "u@example.org").await;
        fill(&s, a.id, 600).await;
        drop(s);
        drop(store);
        let store = SqliteStore::open(dir.path()).expect("reopen");
        // The indexer starts once the store has been idle for a moment.
        tokio::time::sleep(super::IDLE_GRACE * 3).await;
        let started = std::time::Instant::now();
        drop(store);
        let took = started.elapsed();
        assert!(
            took < std::time::Duration::from_secs(5),
            "drop took {took:?}"
        );
        let db = raw_db(dir.path());
        let pending = count(&db, "SELECT count(*) FROM fts_pending");
        let indexed = count(&db, "SELECT count(*) FROM message_text");
        assert_eq!(
            pending + indexed,
            600,
            "{pending} pending, {indexed} indexed"
        );
        drop(db);
        let store = SqliteStore::open_with(dir.path(), false).expect("reopen");
        let report = store.check().await.expect("check");
        assert!(report.problems.is_empty(), "{:#?}", report.problems);
    }
}
