//! The single writer thread and its group commit.
//!
//! Every write is a [`Job`] sent over a channel to one dedicated OS thread
//! that owns the only read-write connection of this process. The thread
//! takes the first queued job, drains up to [`MAX_BATCH`] more, and runs
//! them all in ONE `BEGIN IMMEDIATE` transaction, each inside its own
//! `SAVEPOINT` so that a failing (or panicking) job is rolled back alone.
//! It then commits once — one WAL fsync (`synchronous=FULL`) makes the whole
//! batch durable — and only then answers every job and publishes their
//! changes on the change feed. A caller is therefore never told "done"
//! before its write is on disk, and under load one fsync serves hundreds of
//! writes.
//!
//! The same queue carries the background indexer's low-priority
//! [`IndexWork`] (see `indexer`). Foreground jobs go first: index work
//! starts only when no job is queued, then runs one message at a time for
//! at most [`INDEX_BUDGET`] per transaction; jobs arriving meanwhile wait
//! for the budget (or the end of the work) and then join the open
//! transaction (after the index work's savepoint), so one commit serves
//! both. What is left of the index work resumes at the next idle moment.
//! (Stopping at the first arriving job made, under steady deliveries, one
//! tiny FTS5 segment per delivery: many more pages written and merged.)
//!
//! A batch of one job (the usual case at low concurrency) runs without a
//! savepoint: nothing else shares its transaction, so a failure rolls the
//! whole transaction back, and SQLite need not copy every page the job
//! changes into a statement journal.
//!
//! When every [`Sender`] is gone the thread finishes the queued jobs and
//! exits; unfinished index work is dropped (its messages stay pending).

use std::collections::{HashMap, VecDeque};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use tokio::sync::{broadcast, oneshot};

use crate::api::{AccountId, Change};
use crate::error::StoreError;

use super::indexer::{self, IndexWork};

/// Most jobs committed by one transaction.
const MAX_BATCH: usize = 256;

/// Most time spent indexing in one transaction, and so about the longest
/// a foreground job arriving meanwhile waits (plus the flush of what was
/// indexed: FTS5 writes it when the transaction commits). Longer means
/// fewer, larger FTS5 segments; about one batch of the indexer.
const INDEX_BUDGET: Duration = Duration::from_millis(20);

/// Capacity of each account's change feed.
const FEED_CAPACITY: usize = 1024;

/// What a job reports to the writer once it has run (before commit).
pub(crate) struct Ran {
    /// Whether the job succeeded (its savepoint is released, not rolled back).
    ok: bool,
    /// Changes to publish after commit.
    changes: Vec<Change>,
    /// Answers the caller: `None` once committed, or the commit's error.
    finish: Box<dyn FnOnce(Option<StoreError>) + Send>,
}

/// A write queued for the writer thread.
pub(crate) trait Job: Send {
    /// Runs the job inside its savepoint.
    fn run(self: Box<Self>, conn: &Connection) -> Ran;
    /// Answers the caller with `err` without running.
    fn fail(self: Box<Self>, err: StoreError);
}

/// The body of a write: runs on the writer's connection inside a
/// transaction, recording the mailboxes it changed.
pub(crate) type WriteFn<T> =
    Box<dyn FnOnce(&Connection, &mut Vec<Change>) -> Result<T, StoreError> + Send>;

/// A [`Job`] answering a typed result on a oneshot channel.
pub(crate) struct TypedJob<T> {
    pub(crate) f: WriteFn<T>,
    pub(crate) reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T: Send + 'static> Job for TypedJob<T> {
    fn run(self: Box<Self>, conn: &Connection) -> Ran {
        let TypedJob { f, reply } = *self;
        let mut changes = Vec::new();
        let result = f(conn, &mut changes);
        // One change per touched mailbox per job: the last (highest) one.
        let mut seen = std::collections::HashSet::new();
        let mut changes: Vec<Change> = changes
            .into_iter()
            .rev()
            .filter(|c| seen.insert(c.mailbox))
            .collect();
        changes.reverse();
        Ran {
            ok: result.is_ok(),
            changes,
            finish: Box::new(move |commit_error| {
                let answer = match (commit_error, result) {
                    (Some(e), Ok(_)) => Err(e),
                    (_, result) => result,
                };
                // The caller may have gone away; nothing to do then.
                let _ = reply.send(answer);
            }),
        }
    }

    fn fail(self: Box<Self>, err: StoreError) {
        let _ = self.reply.send(Err(err));
    }
}

/// Per-account change feeds, created lazily by subscribers and fed by the
/// writer thread after each commit.
#[derive(Default)]
pub(crate) struct Feeds {
    senders: Mutex<HashMap<AccountId, broadcast::Sender<Change>>>,
}

impl Feeds {
    pub(crate) fn subscribe(&self, account: AccountId) -> broadcast::Receiver<Change> {
        let mut senders = self.senders.lock().unwrap_or_else(|e| e.into_inner());
        // Drop the channels whose subscribers are all gone. `publish` only
        // does so on the account's next change, so an account whose
        // sessions ended and that never changes again (or was deleted)
        // would keep its FEED_CAPACITY buffer (~57 KiB) forever: memory
        // growing with every account that ever logged in (found by the
        // imap_session fuzz target). This keeps the map at the accounts
        // with live sessions, so the scan is cheap.
        senders.retain(|_, s| s.receiver_count() > 0);
        senders
            .entry(account)
            .or_insert_with(|| broadcast::channel(FEED_CAPACITY).0)
            .subscribe()
    }

    fn publish(&self, changes: &[Change]) {
        if changes.is_empty() {
            return;
        }
        let mut senders = self.senders.lock().unwrap_or_else(|e| e.into_inner());
        for change in changes {
            if let Some(sender) = senders.get(&change.account)
                && sender.send(change.clone()).is_err()
            {
                // No receiver left: forget the channel.
                senders.remove(&change.account);
            }
        }
    }
}

/// What the writer thread is sent.
pub(crate) enum Msg {
    /// A foreground write.
    Write(Box<dyn Job>),
    /// Background indexing, run when no write is queued.
    Index(IndexWork),
}

/// The queue into the writer thread.
pub(crate) type JobSender = Sender<Msg>;

/// Starts the writer thread on `conn`.
pub(crate) fn spawn(
    conn: Connection,
    feeds: Arc<Feeds>,
    index: Arc<indexer::Shared>,
) -> Result<(JobSender, JoinHandle<()>), StoreError> {
    let (tx, rx) = std::sync::mpsc::channel::<Msg>();
    let handle = std::thread::Builder::new()
        .name("store-writer".into())
        .spawn(move || {
            let mut writer = Writer {
                conn,
                rx,
                feeds: &feeds,
                index: &index,
                index_work: VecDeque::new(),
                closed: false,
            };
            writer.run();
            if let Err(e) = writer.conn.execute_batch("PRAGMA optimize") {
                tracing::debug!(error = %e, "PRAGMA optimize failed at store shutdown");
            }
        })?;
    Ok((tx, handle))
}

/// A copy of `err` for each of several callers (errors are not `Clone`).
pub(crate) fn copy_error(err: &StoreError) -> StoreError {
    match err {
        StoreError::Database(rusqlite::Error::SqliteFailure(code, msg)) => {
            StoreError::Database(rusqlite::Error::SqliteFailure(*code, msg.clone()))
        }
        StoreError::Closed => StoreError::Closed,
        other => StoreError::Internal(other.to_string()),
    }
}

fn exec(conn: &Connection, sql: &str) -> Result<(), StoreError> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

struct Writer<'a> {
    conn: Connection,
    rx: Receiver<Msg>,
    feeds: &'a Feeds,
    index: &'a indexer::Shared,
    /// Index work received, oldest first (in practice at most one: the
    /// indexer waits for each).
    index_work: VecDeque<IndexWork>,
    /// Every sender is gone and the queue is empty.
    closed: bool,
}

impl Writer<'_> {
    fn run(&mut self) {
        let mut batch: Vec<Box<dyn Job>> = Vec::new();
        loop {
            if batch.is_empty() && self.index_work.is_empty() {
                // `recv` fails only once every sender is dropped AND the
                // queue is empty, so every queued job is answered.
                match self.rx.recv() {
                    Ok(msg) => self.accept(msg, &mut batch),
                    Err(_) => break,
                }
            }
            self.drain(&mut batch);
            if batch.is_empty() && self.closed {
                break;
            }
            self.transaction(std::mem::take(&mut batch));
        }
        for work in self.index_work.drain(..) {
            work.finish(Err(StoreError::Closed));
        }
    }

    fn accept(&mut self, msg: Msg, batch: &mut Vec<Box<dyn Job>>) {
        match msg {
            Msg::Write(job) => batch.push(job),
            Msg::Index(work) => self.index_work.push_back(work),
        }
    }

    /// Adds what is queued to `batch`, up to [`MAX_BATCH`] jobs.
    fn drain(&mut self, batch: &mut Vec<Box<dyn Job>>) {
        while batch.len() < MAX_BATCH {
            match self.rx.try_recv() {
                Ok(msg) => self.accept(msg, batch),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    self.closed = true;
                    break;
                }
            }
        }
    }

    /// One transaction: `batch` if it has jobs; otherwise index work until
    /// a job arrives, then the jobs that arrived (see the module docs).
    fn transaction(&mut self, mut batch: Vec<Box<dyn Job>>) {
        let foreground = !batch.is_empty();
        if foreground {
            self.index.foreground();
        }
        if let Err(e) = exec(&self.conn, "BEGIN IMMEDIATE") {
            tracing::warn!(error = %e, "store writer cannot begin a transaction");
            for job in batch {
                job.fail(copy_error(&e));
            }
            if !foreground && let Some(work) = self.index_work.pop_front() {
                work.finish(Err(e));
            }
            return;
        }
        let indexing = !foreground && self.run_index_work(&mut batch);
        if !batch.is_empty() {
            self.index.foreground();
            self.drain(&mut batch);
        }
        let ran_jobs = !batch.is_empty();
        // Jobs that ran successfully in the open transaction, awaiting commit.
        let mut pending: Vec<Ran> = Vec::new();
        let mut lost = false;
        let open = if batch.len() == 1 && !indexing {
            run_alone(&self.conn, batch, &mut pending, &mut lost)
        } else {
            run_jobs(&self.conn, batch, &mut pending, &mut lost)
        };
        let committed = if open {
            self.commit(pending)
        } else {
            Err(StoreError::Internal(
                "transaction aborted by the database".into(),
            ))
        };
        if indexing {
            let finished = self.index_work.front().is_some_and(IndexWork::is_done);
            let stopping = self.index.stopping();
            let failed = match committed {
                Err(e) => Some(e),
                Ok(()) if lost => Some(StoreError::Internal(
                    "index work lost with its transaction".into(),
                )),
                Ok(()) => None,
            };
            if (finished || stopping || failed.is_some())
                && let Some(work) = self.index_work.pop_front()
            {
                work.finish(match failed {
                    Some(e) => Err(e),
                    None if finished => Ok(()),
                    None => Err(StoreError::Closed),
                });
            }
        }
        if ran_jobs {
            self.index.foreground();
            self.index.kick();
        }
    }

    /// Runs the oldest index work in its own savepoint, one message at a
    /// time, until it is done, the store stops, [`INDEX_BUDGET`] is spent,
    /// or a foreground job arrives (pushed on `batch`). Returns whether
    /// index work ran; on error the work is answered and dropped (its
    /// messages stay pending).
    fn run_index_work(&mut self, batch: &mut Vec<Box<dyn Job>>) -> bool {
        let conn = &self.conn;
        let Some(work) = self.index_work.front_mut() else {
            return false;
        };
        let mut later = Vec::new();
        let started = Instant::now();
        let result = exec(conn, "SAVEPOINT index_work").and_then(|()| {
            loop {
                // At least one message per turn: progress under any load.
                work.step(conn)?;
                if work.is_done() || self.index.stopping() || started.elapsed() >= INDEX_BUDGET {
                    return Ok(());
                }
                if batch.len() >= MAX_BATCH {
                    // Enough waiting; the rest stays queued.
                    continue;
                }
                // Jobs arriving now wait for the budget (module docs).
                match self.rx.try_recv() {
                    Ok(Msg::Write(job)) => batch.push(job),
                    Ok(Msg::Index(more)) => later.push(more),
                    Err(TryRecvError::Empty) => {}
                    Err(TryRecvError::Disconnected) => {
                        self.closed = true;
                        return Ok(());
                    }
                }
            }
        });
        self.index_work.extend(later);
        match result.and_then(|()| exec(conn, "RELEASE index_work")) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, "background indexing failed; rolled back");
                rollback_savepoint(conn, "index_work");
                if let Some(work) = self.index_work.pop_front() {
                    work.finish(Err(e));
                }
                false
            }
        }
    }

    /// Commits the open transaction and answers `pending`.
    fn commit(&self, mut pending: Vec<Ran>) -> Result<(), StoreError> {
        match exec(&self.conn, "COMMIT") {
            Ok(()) => {
                let changes: Vec<Change> = pending
                    .iter_mut()
                    .flat_map(|ran| std::mem::take(&mut ran.changes))
                    .collect();
                // Publish before answering, so that a caller that has seen
                // its write return also finds it on the feed.
                self.feeds.publish(&changes);
                for ran in pending {
                    (ran.finish)(None);
                }
                Ok(())
            }
            Err(e) => {
                tracing::warn!(error = %e, "store commit failed");
                if !self.conn.is_autocommit() {
                    let _ = exec(&self.conn, "ROLLBACK");
                }
                for ran in pending {
                    (ran.finish)(Some(copy_error(&e)));
                }
                Err(e)
            }
        }
    }
}

/// Runs the only job of `batch` in the open transaction, which holds
/// nothing else, without a savepoint: if it fails (or panics) the whole
/// transaction is rolled back. Returns whether a transaction is open at
/// the end (`pending` holds the job if so).
fn run_alone(
    conn: &Connection,
    mut batch: Vec<Box<dyn Job>>,
    pending: &mut Vec<Ran>,
    lost: &mut bool,
) -> bool {
    if batch.len() != 1 || conn.is_autocommit() {
        return run_jobs(conn, batch, pending, lost);
    }
    let Some(job) = batch.pop() else {
        return true;
    };
    match catch_unwind(AssertUnwindSafe(|| job.run(conn))) {
        Ok(ran) if ran.ok && !conn.is_autocommit() => {
            pending.push(ran);
            true
        }
        Ok(ran) if ran.ok => {
            // SQLite aborted the transaction under a job that succeeded.
            *lost = true;
            (ran.finish)(Some(StoreError::Internal(
                "transaction aborted by the database".into(),
            )));
            false
        }
        Ok(ran) => {
            // Its own error is the answer; nothing of it is kept.
            rollback(conn);
            (ran.finish)(None);
            false
        }
        Err(_) => {
            // The job's reply channel was dropped while unwinding; its
            // caller sees an internal error.
            tracing::error!("store write job panicked; rolled back");
            rollback(conn);
            false
        }
    }
}

/// Rolls back the open transaction, if any.
fn rollback(conn: &Connection) {
    if !conn.is_autocommit()
        && let Err(e) = exec(conn, "ROLLBACK")
    {
        tracing::error!(error = %e, "cannot roll back a store transaction");
    }
}

/// Runs `batch` in the open transaction, each job in its own savepoint;
/// the ones that succeed join `pending`. If SQLite aborts the whole
/// transaction, the work before is lost (`pending` is failed, `lost` set)
/// and a new transaction is begun for the rest. Returns whether a
/// transaction is open at the end.
fn run_jobs(
    conn: &Connection,
    batch: Vec<Box<dyn Job>>,
    pending: &mut Vec<Ran>,
    lost: &mut bool,
) -> bool {
    if conn.is_autocommit() {
        // The index work's transaction was aborted.
        *lost = true;
        if let Err(e) = exec(conn, "BEGIN IMMEDIATE") {
            for job in batch {
                job.fail(copy_error(&e));
            }
            return false;
        }
    }
    let mut jobs = batch.into_iter();
    while let Some(job) = jobs.next() {
        if let Err(e) = exec(conn, "SAVEPOINT job") {
            job.fail(e);
        } else {
            match catch_unwind(AssertUnwindSafe(|| job.run(conn))) {
                Ok(ran) if ran.ok => {
                    if let Err(e) = exec(conn, "RELEASE job") {
                        (ran.finish)(Some(e));
                    } else {
                        pending.push(ran);
                    }
                }
                Ok(ran) => {
                    // Its own error is the answer; nothing of it is kept.
                    rollback_savepoint(conn, "job");
                    (ran.finish)(None);
                }
                Err(_) => {
                    // The job's reply channel was dropped while unwinding;
                    // its caller sees an internal error.
                    tracing::error!("store write job panicked; rolled back");
                    rollback_savepoint(conn, "job");
                }
            }
        }
        if conn.is_autocommit() {
            // SQLite aborted the whole transaction (I/O error, disk full...):
            // the work of the jobs before this one is gone too.
            *lost = true;
            let err = StoreError::Internal("transaction aborted by the database".into());
            for ran in pending.drain(..) {
                (ran.finish)(Some(copy_error(&err)));
            }
            if let Err(e) = exec(conn, "BEGIN IMMEDIATE") {
                for job in jobs.by_ref() {
                    job.fail(copy_error(&e));
                }
                return false;
            }
        }
    }
    true
}

fn rollback_savepoint(conn: &Connection, name: &str) {
    if conn.is_autocommit() {
        return;
    }
    let rolled_back = exec(conn, &format!("ROLLBACK TO {name}"))
        .and_then(|()| exec(conn, &format!("RELEASE {name}")));
    if let Err(e) = rolled_back {
        // Never commit a half-done job: abandon the whole transaction (the
        // caller notices `is_autocommit` and fails the batch's other jobs).
        tracing::error!(error = %e, "cannot roll back a store job's savepoint");
        let _ = exec(conn, "ROLLBACK");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (fuzzing, issue 5): a feed nobody listens to any more is
    /// released even if its account never changes again.
    #[test]
    fn abandoned_feeds_are_released() {
        let feeds = Feeds::default();
        let count = || feeds.senders.lock().unwrap().len();
        drop(feeds.subscribe(AccountId(1)));
        let live = feeds.subscribe(AccountId(2));
        assert_eq!(count(), 1, "account 1's unused channel was kept");
        for id in 3..100 {
            drop(feeds.subscribe(AccountId(id)));
        }
        assert_eq!(count(), 2, "only the last one and the live one remain");
        // A live channel keeps working.
        feeds.publish(&[Change {
            account: AccountId(2),
            mailbox: crate::MailboxId(1),
            modseq: crate::ModSeq(5),
        }]);
        let mut live = live;
        assert_eq!(live.try_recv().unwrap().modseq, crate::ModSeq(5));
    }
}
