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
//! When every [`Sender`] is gone the thread finishes the queued jobs and
//! exits.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use rusqlite::Connection;
use tokio::sync::{broadcast, oneshot};

use crate::api::{AccountId, Change};
use crate::error::StoreError;

/// Most jobs committed by one transaction.
const MAX_BATCH: usize = 256;

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

/// The queue into the writer thread.
pub(crate) type JobSender = Sender<Box<dyn Job>>;

/// Starts the writer thread on `conn`.
pub(crate) fn spawn(
    conn: Connection,
    feeds: Arc<Feeds>,
) -> Result<(JobSender, JoinHandle<()>), StoreError> {
    let (tx, rx) = std::sync::mpsc::channel::<Box<dyn Job>>();
    let handle = std::thread::Builder::new()
        .name("store-writer".into())
        .spawn(move || run(conn, rx, &feeds))?;
    Ok((tx, handle))
}

fn run(conn: Connection, rx: Receiver<Box<dyn Job>>, feeds: &Feeds) {
    // `recv` fails only once every sender is dropped AND the queue is empty,
    // so every queued job is answered before the thread exits.
    while let Ok(first) = rx.recv() {
        let mut batch = Vec::with_capacity(16);
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        run_batch(&conn, batch, feeds);
    }
    if let Err(e) = conn.execute_batch("PRAGMA optimize") {
        tracing::debug!(error = %e, "PRAGMA optimize failed at store shutdown");
    }
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

/// Runs one group of jobs in one transaction (see the module docs).
fn run_batch(conn: &Connection, batch: Vec<Box<dyn Job>>, feeds: &Feeds) {
    let mut jobs = batch.into_iter();
    // Jobs that ran successfully in the open transaction, awaiting commit.
    let mut pending: Vec<Ran> = Vec::new();
    if let Err(e) = exec(conn, "BEGIN IMMEDIATE") {
        tracing::warn!(error = %e, "store writer cannot begin a transaction");
        for job in jobs {
            job.fail(copy_error(&e));
        }
        return;
    }
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
                    rollback_savepoint(conn);
                    (ran.finish)(None);
                }
                Err(_) => {
                    // The job's reply channel was dropped while unwinding;
                    // its caller sees an internal error.
                    tracing::error!("store write job panicked; rolled back");
                    rollback_savepoint(conn);
                }
            }
        }
        if conn.is_autocommit() {
            // SQLite aborted the whole transaction (I/O error, disk full...):
            // the work of the jobs before this one is gone too.
            let lost = StoreError::Internal("transaction aborted by the database".into());
            for ran in pending.drain(..) {
                (ran.finish)(Some(copy_error(&lost)));
            }
            if let Err(e) = exec(conn, "BEGIN IMMEDIATE") {
                for job in jobs.by_ref() {
                    job.fail(copy_error(&e));
                }
                return;
            }
        }
    }
    match exec(conn, "COMMIT") {
        Ok(()) => {
            let changes: Vec<Change> = pending
                .iter_mut()
                .flat_map(|ran| std::mem::take(&mut ran.changes))
                .collect();
            // Publish before answering, so that a caller that has seen its
            // write return also finds it on the feed.
            feeds.publish(&changes);
            for ran in pending {
                (ran.finish)(None);
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "store commit failed");
            if !conn.is_autocommit() {
                let _ = exec(conn, "ROLLBACK");
            }
            for ran in pending {
                (ran.finish)(Some(copy_error(&e)));
            }
        }
    }
}

fn rollback_savepoint(conn: &Connection) {
    if conn.is_autocommit() {
        return;
    }
    if let Err(e) = exec(conn, "ROLLBACK TO job").and_then(|()| exec(conn, "RELEASE job")) {
        // Never commit a half-done job: abandon the whole transaction (the
        // caller notices `is_autocommit` and fails the batch's other jobs).
        tracing::error!(error = %e, "cannot roll back a store job's savepoint");
        let _ = exec(conn, "ROLLBACK");
    }
}
