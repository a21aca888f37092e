//! The embedded backend: one SQLite file in WAL mode, shared by every process
//! on the machine (API, workers, CLI).
//!
//! Each state change updates the job row under its guard and appends the
//! event row, atomically. Within a process all writes go to one writer
//! thread that owns the write connection (SQLite has one writer at a time
//! anyway): it takes the writes in arrival order, so none starves, and runs
//! all that are waiting in one `BEGIN IMMEDIATE` transaction, each in its own
//! savepoint (group commit: one commit for many changes, and a write that
//! fails rolls back alone). Callers hear of their write only once it is
//! committed. Across processes the busy timeout arbitrates. Readers use
//! their own connections, which WAL lets run beside the writer.
//!
//! Quotas: the table `queue_usage` holds, per queue, the number of waiting
//! (queued or scheduled) jobs and the bytes of their payloads, so an
//! enqueue checks `Quotas` with one indexed read instead of counting the
//! queue. Its invariant: each row is the count and byte sum of its queue's
//! waiting jobs. Every write that moves jobs into or out of waiting (an
//! insert, a claim, a transition, a purge) adds its change to one
//! `UsageChange` and writes it at its end, in the same savepoint: one row
//! update per write and queue, where a trigger on `jobs` cost an update per
//! job (a sixth more writer instructions per job). Jobs never change queue
//! or payload. Processes of earlier versions sharing the file do not keep
//! it, and a hand edit may not: so each process counts the waiting jobs
//! again at most once a minute in maintenance, on a reader's snapshot
//! (`COUNT_WAITING`; `octet_length` reads no payload), and the writer adds
//! the difference it found to the table. A difference is a delta, so writes
//! committed between the snapshot and the fix keep theirs. When the table
//! is created in a database that already holds jobs, it is filled from them
//! in the same transaction.
//!
//! Waiting needs no server: a waiter looks for what it waits for (a ready
//! job, an event after its cursor) with one indexed read, then sleeps until
//! this process commits or a short poll interval (1 ms growing to 20 ms)
//! passes, and looks again. Its own process wakes it at once; other
//! processes' commits are seen within the poll interval. Because it looks at
//! the data, not at a change counter, no wake-up is lost between a caller's
//! read and its wait.

use std::collections::hash_map::{Entry, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};
use tokio::sync::{oneshot, Notify};

use super::{
    Backend, BackendInfo, ClaimRequest, Inserted, JobPage, JobQuery, LeaseRef, LeaseState,
    ProgressUpdate, QueueCounts, WorkerRecord,
};
use crate::catalog::Quotas;
use crate::error::{QueueError, Result};
use crate::event::Event;
use crate::job::{
    ErrorKind, Job, JobError, JobId, JobState, Kind, LeaseToken, QueueName, Status, Timestamp,
};
use crate::state::{self, Transition};

/// How long a connection waits for another process's write lock before it
/// reports the database as busy.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Events kept for followers; older ones are pruned by maintenance.
const EVENTS_KEPT: i64 = 100_000;
const EVENTS_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// Schema version in `PRAGMA user_version`.
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    queue TEXT NOT NULL,
    payload TEXT NOT NULL,
    priority INTEGER NOT NULL,
    max_attempts INTEGER NOT NULL,
    timeout_ms INTEGER NOT NULL,
    result_ttl_ms INTEGER NOT NULL,
    failure_ttl_ms INTEGER NOT NULL,
    backoff_ms INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    status TEXT NOT NULL,
    progress REAL,
    progress_message TEXT,
    result TEXT,
    error_kind TEXT,
    error_message TEXT,
    attempt INTEGER NOT NULL,
    run_at INTEGER NOT NULL,
    enqueued_at INTEGER,
    started_at INTEGER,
    completed_at INTEGER,
    expires_at INTEGER,
    worker TEXT,
    lease_token INTEGER,
    lease_expires_at INTEGER,
    cancel_requested INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_ready ON jobs(queue, priority DESC, run_at, seq)
    WHERE status IN ('queued', 'scheduled');
CREATE INDEX IF NOT EXISTS jobs_leases ON jobs(lease_expires_at) WHERE status = 'running';
CREATE INDEX IF NOT EXISTS jobs_scheduled ON jobs(run_at) WHERE status = 'scheduled';
CREATE INDEX IF NOT EXISTS jobs_expiry ON jobs(expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS jobs_by_queue_status ON jobs(queue, status, seq);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs(status, seq);
CREATE INDEX IF NOT EXISTS jobs_by_kind ON jobs(kind, seq);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    body TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS workers (
    name TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS queue_usage (
    queue TEXT PRIMARY KEY,
    waiting_jobs INTEGER NOT NULL,
    waiting_bytes INTEGER NOT NULL
) WITHOUT ROWID;
";

/// Fills `queue_usage` from the jobs, when it is created in a database
/// that already holds some (made by a version without it).
const COUNT_USAGE: &str = "
INSERT INTO queue_usage (queue, waiting_jobs, waiting_bytes)
SELECT queue, COUNT(*), SUM(octet_length(payload)) FROM jobs
WHERE status IN ('queued', 'scheduled') GROUP BY queue;
";
/// Each queue's waiting jobs and their payload bytes, counted from the jobs
/// (octet_length reads a value's size without its content).
const COUNT_WAITING: &str = "SELECT queue, COUNT(*), SUM(octet_length(payload)) FROM jobs \
    WHERE status IN ('queued', 'scheduled') GROUP BY queue";
/// How often a process counts the waiting jobs again to set `queue_usage`
/// right (see the module doc).
const RECOUNT_EVERY: Duration = Duration::from_secs(60);

const JOB_COLUMNS: &str = "id, kind, queue, payload, priority, max_attempts, timeout_ms, \
    result_ttl_ms, failure_ttl_ms, backoff_ms, created_at, status, progress, progress_message, \
    result, error_kind, error_message, attempt, run_at, enqueued_at, started_at, completed_at, \
    expires_at, worker, lease_token, lease_expires_at, cancel_requested, seq";

/// How the database syncs to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Synchronous {
    /// WAL + NORMAL: a crash of any process loses nothing; a power cut may
    /// lose the last transactions but never corrupts the file.
    Normal,
    /// Every commit reaches the disk before it returns; several times slower.
    Full,
}

/// How the embedded backend opens its file.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// How commits reach the disk.
    pub synchronous: Synchronous,
    /// Reader connections kept open for reuse.
    pub readers: usize,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            synchronous: Synchronous::Normal,
            // Enough for every task that reads at once (claim probes, waiters,
            // API requests): a connection opened and closed per read costs
            // far more than the read (schema parse, cache and mmap set-up).
            readers: 16,
        }
    }
}

struct Shared {
    path: PathBuf,
    options: SqliteOptions,
    /// Sends writes to the writer thread.
    writer: Mutex<std::sync::mpsc::Sender<Box<dyn WriteOp>>>,
    readers: Mutex<Vec<Connection>>,
    /// Wakes waiters in this process when it commits.
    changed: Arc<Notify>,
    journal_mode: String,
    /// Set when the last claim filled its batch: the next claim skips the
    /// read-only look for ready jobs, which then almost surely exist.
    busy: std::sync::atomic::AtomicBool,
    /// When maintenance last counted the waiting jobs again (module doc).
    last_recount: Mutex<Option<std::time::Instant>>,
}

/// The embedded SQLite backend. Cheap to clone.
#[derive(Clone)]
pub struct SqliteBackend {
    shared: Arc<Shared>,
}

fn storage(err: rusqlite::Error) -> QueueError {
    if is_busy(&err) {
        return QueueError::Unavailable(format!("database is busy: {err}"));
    }
    QueueError::Storage(err.to_string())
}

fn is_busy(err: &rusqlite::Error) -> bool {
    matches!(
        err.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// Runs `f` again while SQLite answers busy, for up to `BUSY_TIMEOUT` in
/// all. Some lock waits never reach the busy handler: switching a new file
/// to WAL, and a read that must turn into a write after another process
/// wrote (WAL's stale snapshot). Both happen when several processes (an
/// API and its workers, started together) open a fresh database at once.
fn retry_busy<T>(mut f: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match f() {
            Err(e) if is_busy(&e) && std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

fn open_connection(path: &Path, options: &SqliteOptions) -> Result<(Connection, String)> {
    let conn = Connection::open(path).map_err(|e| {
        QueueError::Unavailable(format!("cannot open database {}: {e}", path.display()))
    })?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(storage)?;
    let journal: String =
        retry_busy(|| conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)))
            .map_err(storage)?;
    let sync = match options.synchronous {
        Synchronous::Normal => 1,
        Synchronous::Full => 2,
    };
    // No memory-mapped I/O: a queue's file grows all the time, and SQLite
    // remaps a growing file at the start of every read (measured: slower
    // than plain reads). The default page cache is kept for the same reason:
    // a large one costs a scan at every commit and every invalidation.
    conn.execute_batch(&format!("PRAGMA synchronous = {sync}"))
        .map_err(storage)?;
    // Read the settings back: SQLite silently ignores a pragma it does not
    // know or cannot apply (a WAL database on a network file system, say).
    let sync_now: i64 = conn
        .query_row("PRAGMA synchronous", [], |r| r.get(0))
        .map_err(storage)?;
    let busy_now: i64 = conn
        .query_row("PRAGMA busy_timeout", [], |r| r.get(0))
        .map_err(storage)?;
    if !journal.eq_ignore_ascii_case("wal") {
        return Err(QueueError::Unavailable(format!(
            "{} could not be put in WAL mode (journal_mode is {journal}); \
             is it on a network file system?",
            path.display()
        )));
    }
    if sync_now != sync || busy_now != BUSY_TIMEOUT.as_millis() as i64 {
        return Err(QueueError::Unavailable(format!(
            "{}: pragmas did not take (synchronous={sync_now}, busy_timeout={busy_now})",
            path.display()
        )));
    }
    Ok((conn, journal))
}

impl SqliteBackend {
    /// Opens (or creates) the database `wjp.db` in `data_dir`.
    pub fn open_dir(data_dir: &Path, options: SqliteOptions) -> Result<Self> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            QueueError::Unavailable(format!(
                "cannot create data directory {}: {e}",
                data_dir.display()
            ))
        })?;
        Self::open(&data_dir.join("wjp.db"), options)
    }

    /// Opens (or creates) the database file at `path`.
    pub fn open(path: &Path, options: SqliteOptions) -> Result<Self> {
        let (writer, journal_mode) = open_connection(path, &options)?;
        migrate(&writer)?;
        let changed = Arc::new(Notify::new());
        let (ops_tx, ops_rx) = std::sync::mpsc::channel();
        let notify = changed.clone();
        std::thread::Builder::new()
            .name("wjp-sqlite-writer".into())
            .spawn(move || run_writer(writer, ops_rx, &notify))
            .map_err(|e| QueueError::Unavailable(format!("cannot start the writer thread: {e}")))?;
        Ok(SqliteBackend {
            shared: Arc::new(Shared {
                path: path.to_owned(),
                options,
                writer: Mutex::new(ops_tx),
                readers: Mutex::new(Vec::new()),
                changed,
                journal_mode,
                busy: std::sync::atomic::AtomicBool::new(false),
                last_recount: Mutex::new(None),
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// Runs `f` in a write transaction on the writer thread; returns once
    /// its changes are committed.
    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let op = Box::new(Write {
            f: Some(f),
            outcome: None,
            reply: Some(reply),
        });
        self.shared
            .writer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(op)
            .map_err(|_| QueueError::Storage("the database writer thread has stopped".into()))?;
        answer
            .await
            .map_err(|_| QueueError::Storage("the database writer thread has stopped".into()))?
    }

    /// Runs `f` on a reader connection on the blocking pool.
    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || {
            let pooled = shared
                .readers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop();
            let conn = match pooled {
                Some(conn) => conn,
                None => open_connection(&shared.path, &shared.options)?.0,
            };
            let out = f(&conn);
            let mut readers = shared.readers.lock().unwrap_or_else(|p| p.into_inner());
            if readers.len() < shared.options.readers {
                readers.push(conn);
            }
            out
        })
        .await
        .map_err(|e| QueueError::Storage(format!("database task failed: {e}")))?
    }

    /// Waits until `check` holds (it reads the data), this process commits,
    /// or `max_wait` passes; between looks it sleeps a poll interval that
    /// grows from 1 ms to 20 ms while nothing happens.
    async fn wait_until<F>(&self, max_wait: Duration, check: F) -> Result<()>
    where
        F: Fn(&Connection) -> Result<bool> + Clone + Send + 'static,
    {
        let deadline = tokio::time::Instant::now() + max_wait;
        let mut poll = Duration::from_millis(1);
        loop {
            // Registered before the look: a commit after it wakes us.
            let notified = self.shared.changed.notified();
            if self.read(check.clone()).await? {
                return Ok(());
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep(poll.min(left)) => {}
            }
            poll = (poll * 2).min(Duration::from_millis(20));
        }
    }
}

/// One write waiting for the writer thread.
trait WriteOp: Send {
    /// Runs the write inside the open transaction (in its own savepoint).
    fn run(&mut self, tx: &mut rusqlite::Transaction<'_>);
    /// Tells the caller the outcome once the transaction ended.
    fn finish(self: Box<Self>, commit: std::result::Result<(), String>);
}

struct Write<T, F> {
    f: Option<F>,
    outcome: Option<Result<T>>,
    reply: Option<oneshot::Sender<Result<T>>>,
}

impl<T, F> WriteOp for Write<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> Result<T> + Send + 'static,
{
    fn run(&mut self, tx: &mut rusqlite::Transaction<'_>) {
        let Some(f) = self.f.take() else { return };
        let outcome = match tx.savepoint() {
            Ok(savepoint) => match f(&savepoint) {
                // A savepoint dropped without commit rolls back: a write that
                // failed leaves nothing behind, and its neighbours go on.
                Ok(value) => savepoint.commit().map(|()| value).map_err(storage),
                Err(e) => Err(e),
            },
            Err(e) => Err(storage(e)),
        };
        self.outcome = Some(outcome);
    }

    fn finish(mut self: Box<Self>, commit: std::result::Result<(), String>) {
        let outcome = match (commit, self.outcome.take()) {
            (Ok(()), Some(outcome)) => outcome,
            (Err(e), Some(Ok(_)) | None) => Err(QueueError::Storage(e)),
            // The write failed on its own: that is the better answer.
            (Err(_), Some(Err(e))) => Err(e),
            (Ok(()), None) => Err(QueueError::Storage("the write never ran".into())),
        };
        if let Some(reply) = self.reply.take() {
            let _ = reply.send(outcome);
        }
    }
}

/// Largest number of writes committed together.
const GROUP_COMMIT_MAX: usize = 512;

/// The writer thread: takes the writes waiting, in arrival order, and runs
/// them in one transaction. Ends when every handle on the backend is gone.
fn run_writer(
    mut conn: Connection,
    ops: std::sync::mpsc::Receiver<Box<dyn WriteOp>>,
    changed: &Notify,
) {
    while let Ok(first) = ops.recv() {
        let mut batch = vec![first];
        while batch.len() < GROUP_COMMIT_MAX {
            match ops.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        let commit = (|| {
            let mut tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| storage(e).to_string())?;
            for op in batch.iter_mut() {
                // A write that panics answers with an error; the thread and
                // the other writes carry on.
                let ran =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| op.run(&mut tx)));
                if ran.is_err() {
                    tracing::error!("a database write panicked; it was rolled back");
                }
            }
            tx.commit().map_err(|e| storage(e).to_string())
        })();
        let committed = commit.is_ok();
        for op in batch {
            op.finish(commit.clone());
        }
        if committed {
            changed.notify_waiters();
        }
    }
}

/// Whether any job of these queues may be claimed now.
fn any_ready(conn: &Connection, queues: &[String], now: Timestamp) -> Result<bool> {
    let sql = format!(
        "SELECT EXISTS (SELECT 1 FROM jobs WHERE queue IN ({}) \
         AND status IN ('queued', 'scheduled') AND run_at <= ?)",
        queue_placeholders(queues.len())
    );
    let mut values: Vec<SqlValue> = queues.iter().map(|q| SqlValue::Text(q.clone())).collect();
    values.push(SqlValue::Integer(now.0));
    conn.prepare_cached(&sql)
        .and_then(|mut stmt| stmt.query_row(rusqlite::params_from_iter(values), |r| r.get(0)))
        .map_err(storage)
}

/// A queue's waiting jobs and their payload bytes, from `queue_usage`.
fn waiting_usage(conn: &Connection, queue: &QueueName) -> Result<(u64, u64)> {
    let usage: Option<(i64, i64)> = conn
        .prepare_cached("SELECT waiting_jobs, waiting_bytes FROM queue_usage WHERE queue = ?1")
        .and_then(|mut stmt| {
            stmt.query_row(params![queue.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .map_err(storage)?;
    let (jobs, bytes) = usage.unwrap_or((0, 0));
    Ok((jobs.max(0) as u64, bytes.max(0) as u64))
}

fn is_waiting(status: Status) -> bool {
    matches!(status, Status::Queued | Status::Scheduled)
}

/// What one write changes in `queue_usage`, per queue: waiting jobs and
/// their payload bytes, written once at the write's end (see the module doc).
#[derive(Default)]
struct UsageChange(HashMap<QueueName, (i64, i64)>);

impl UsageChange {
    fn add(&mut self, queue: &QueueName, jobs: i64, bytes: i64) {
        let change = match self.0.get_mut(queue) {
            Some(change) => change,
            None => self.0.entry(queue.clone()).or_default(),
        };
        change.0 += jobs;
        change.1 += bytes;
    }

    /// The change of a transition that applied: a job that starts or
    /// stops waiting (its payload's size is read from its row).
    fn add_transition(&mut self, tx: &Connection, t: &Transition) -> Result<()> {
        let (was, is) = (is_waiting(t.expect.status), is_waiting(t.job.status()));
        if was == is {
            return Ok(());
        }
        let bytes: i64 = tx
            .prepare_cached("SELECT octet_length(payload) FROM jobs WHERE id = ?1")
            .and_then(|mut stmt| stmt.query_row(params![t.job.id.as_str()], |r| r.get(0)))
            .map_err(storage)?;
        let sign = if is { 1 } else { -1 };
        self.add(&t.job.queue, sign, sign * bytes);
        Ok(())
    }

    /// Whether it changes nothing.
    fn is_empty(&self) -> bool {
        self.0.values().all(|change| *change == (0, 0))
    }

    fn write(self, tx: &Connection) -> Result<()> {
        for (queue, (jobs, bytes)) in self.0 {
            if (jobs, bytes) == (0, 0) {
                continue;
            }
            tx.prepare_cached(
                "INSERT INTO queue_usage (queue, waiting_jobs, waiting_bytes) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (queue) DO UPDATE SET \
                 waiting_jobs = waiting_jobs + excluded.waiting_jobs, \
                 waiting_bytes = waiting_bytes + excluded.waiting_bytes",
            )
            .and_then(|mut stmt| stmt.execute(params![queue.as_str(), jobs, bytes]))
            .map_err(storage)?;
        }
        Ok(())
    }
}

/// What `queue_usage` lacks, per queue, on one snapshot: what the jobs
/// count minus what the table says (see the module doc).
fn usage_correction(conn: &Connection) -> Result<UsageChange> {
    let snapshot = conn.unchecked_transaction().map_err(storage)?;
    let mut drift = UsageChange::default();
    let mut read = |sql: &str, sign: i64| -> Result<()> {
        let mut stmt = snapshot.prepare_cached(sql).map_err(storage)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, Option<i64>>(2)?.unwrap_or(0),
                ))
            })
            .map_err(storage)?;
        for row in rows {
            let (queue, jobs, bytes) = row.map_err(storage)?;
            let queue = QueueName::parse(&queue).map_err(|e| QueueError::Corrupt(e.to_string()))?;
            drift.add(&queue, sign * jobs, sign * bytes);
        }
        Ok(())
    };
    read(
        "SELECT queue, waiting_jobs, waiting_bytes FROM queue_usage",
        -1,
    )?;
    read(COUNT_WAITING, 1)?;
    snapshot.finish().map_err(storage)?;
    Ok(drift)
}

fn parse_event_id(cursor: &str) -> Result<i64> {
    cursor
        .parse::<i64>()
        .map_err(|_| QueueError::InvalidRequest(format!("invalid event id {cursor:?}")))
}

/// Creates or checks the schema in one `BEGIN IMMEDIATE` transaction: it
/// takes the write lock before reading the version, so processes opening
/// the same fresh file take turns instead of colliding mid-way.
fn migrate(conn: &Connection) -> Result<()> {
    let version = retry_busy(|| {
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let outcome = conn
            .query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))
            .and_then(|version| {
                if version <= SCHEMA_VERSION {
                    let had_usage: bool = conn.query_row(
                        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'queue_usage')",
                        [],
                        |r| r.get(0),
                    )?;
                    conn.execute_batch(SCHEMA)?;
                    if !had_usage {
                        conn.execute_batch(COUNT_USAGE)?;
                    }
                    conn.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))?;
                }
                Ok(version)
            });
        match outcome {
            Ok(version) => conn.execute_batch("COMMIT").map(|()| version),
            Err(e) => {
                // The error is what matters; a failed rollback adds nothing.
                let _ = conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    })
    .map_err(storage)?;
    if version > SCHEMA_VERSION {
        return Err(QueueError::Unavailable(format!(
            "the database has schema version {version}, newer than this wjp \
             understands ({SCHEMA_VERSION}); upgrade wjp"
        )));
    }
    Ok(())
}

fn to_json_text(value: &serde_json::Value) -> String {
    value.to_string()
}

fn corrupt(what: &str, err: impl std::fmt::Display) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Text,
        format!("{what}: {err}").into(),
    )
}

fn ts(value: Option<i64>) -> Option<Timestamp> {
    value.map(Timestamp)
}

/// A job as read, with what its row holds besides.
struct StoredJob {
    job: Job,
    /// For cursors and claim order.
    seq: i64,
    /// The bytes of the payload's JSON text, as `queue_usage` counts them.
    payload_bytes: u64,
}

/// Reads a row selected with [`JOB_COLUMNS`].
fn row_to_job(row: &Row<'_>) -> rusqlite::Result<StoredJob> {
    let parse_json = |idx: usize, what: &str| -> rusqlite::Result<Option<serde_json::Value>> {
        match row.get::<_, Option<String>>(idx)? {
            Some(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| corrupt(what, e)),
            None => Ok(None),
        }
    };
    let payload_text: Option<String> = row.get(3)?;
    let payload_bytes = payload_text.as_ref().map_or(0, |text| text.len() as u64);
    let payload = match payload_text {
        Some(text) => serde_json::from_str(&text).map_err(|e| corrupt("payload", e))?,
        None => serde_json::Value::Null,
    };
    let id: String = row.get(0)?;
    let error = match (
        row.get::<_, Option<String>>(15)?,
        row.get::<_, Option<String>>(16)?,
    ) {
        (Some(kind), message) => Some(JobError {
            kind: kind
                .parse::<ErrorKind>()
                .map_err(|e| corrupt("error kind", e))?,
            message: message.unwrap_or_default(),
        }),
        _ => None,
    };
    let job = Job {
        id: JobId::parse(&id).map_err(|e| corrupt("job id", e))?,
        kind: Kind::parse(&row.get::<_, String>(1)?).map_err(|e| corrupt("kind", e))?,
        queue: QueueName::parse(&row.get::<_, String>(2)?).map_err(|e| corrupt("queue", e))?,
        payload,
        priority: row.get(4)?,
        max_attempts: row.get(5)?,
        timeout_ms: row.get::<_, i64>(6)? as u64,
        result_ttl_ms: row.get::<_, i64>(7)? as u64,
        failure_ttl_ms: row.get::<_, i64>(8)? as u64,
        backoff_ms: row.get::<_, i64>(9)? as u64,
        created_at: Timestamp(row.get(10)?),
        state: JobState {
            status: row
                .get::<_, String>(11)?
                .parse()
                .map_err(|e| corrupt("status", e))?,
            progress: row.get(12)?,
            progress_message: row.get(13)?,
            result: parse_json(14, "result")?,
            error,
            attempt: row.get(17)?,
            run_at: Timestamp(row.get(18)?),
            enqueued_at: ts(row.get(19)?),
            started_at: ts(row.get(20)?),
            completed_at: ts(row.get(21)?),
            expires_at: ts(row.get(22)?),
            worker: row.get(23)?,
            lease_token: row.get::<_, Option<i64>>(24)?.map(|t| LeaseToken(t as u64)),
            lease_expires_at: ts(row.get(25)?),
            cancel_requested: row.get::<_, i64>(26)? != 0,
        },
    };
    Ok(StoredJob {
        job,
        seq: row.get(27)?,
        payload_bytes,
    })
}

fn select_jobs(
    conn: &Connection,
    where_clause: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<StoredJob>> {
    let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE {where_clause}");
    let mut stmt = conn.prepare_cached(&sql).map_err(storage)?;
    let rows = stmt.query_map(params, row_to_job).map_err(storage)?;
    rows.collect::<rusqlite::Result<Vec<_>>>()
        .map_err(|e| QueueError::Corrupt(e.to_string()))
}

fn get_live(conn: &Connection, id: &JobId, now: Timestamp) -> Result<Option<Job>> {
    Ok(select_jobs(
        conn,
        "id = ?1 AND (expires_at IS NULL OR expires_at > ?2)",
        params![id.as_str(), now.0],
    )?
    .pop()
    .map(|stored| stored.job))
}

/// The mutable columns, in the order [`state_values`] gives them.
const STATE_COLUMNS: [&str; 16] = [
    "status",
    "progress",
    "progress_message",
    "result",
    "error_kind",
    "error_message",
    "attempt",
    "run_at",
    "enqueued_at",
    "started_at",
    "completed_at",
    "expires_at",
    "worker",
    "lease_token",
    "lease_expires_at",
    "cancel_requested",
];

/// A job state as SQL values, in [`STATE_COLUMNS`] order: the one mapping
/// used by inserts and updates alike.
fn state_values(s: &JobState) -> Vec<SqlValue> {
    let time = |t: Option<Timestamp>| t.map_or(SqlValue::Null, |t| SqlValue::Integer(t.0));
    let text = |t: Option<&str>| t.map_or(SqlValue::Null, |t| SqlValue::Text(t.to_owned()));
    vec![
        SqlValue::Text(s.status.as_str().to_owned()),
        s.progress.map_or(SqlValue::Null, SqlValue::Real),
        text(s.progress_message.as_deref()),
        s.result
            .as_ref()
            .map_or(SqlValue::Null, |r| SqlValue::Text(to_json_text(r))),
        text(s.error.as_ref().map(|e| e.kind.as_str())),
        text(s.error.as_ref().map(|e| e.message.as_str())),
        SqlValue::Integer(s.attempt.into()),
        SqlValue::Integer(s.run_at.0),
        time(s.enqueued_at),
        time(s.started_at),
        time(s.completed_at),
        time(s.expires_at),
        text(s.worker.as_deref()),
        s.lease_token
            .map_or(SqlValue::Null, |t| SqlValue::Integer(t.0 as i64)),
        time(s.lease_expires_at),
        SqlValue::Integer(s.cancel_requested.into()),
    ]
}

/// Stores a new job; `payload` is its payload as JSON text.
fn insert_job(tx: &Connection, job: &Job, payload: String) -> Result<()> {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let sql = SQL.get_or_init(|| {
        let columns = "id, kind, queue, payload, priority, max_attempts, timeout_ms, \
                       result_ttl_ms, failure_ttl_ms, backoff_ms, created_at, "
            .to_owned()
            + &STATE_COLUMNS.join(", ");
        let n = 11 + STATE_COLUMNS.len();
        let marks: Vec<String> = (1..=n).map(|i| format!("?{i}")).collect();
        format!("INSERT INTO jobs ({columns}) VALUES ({})", marks.join(", "))
    });
    let mut values = vec![
        SqlValue::Text(job.id.to_string()),
        SqlValue::Text(job.kind.to_string()),
        SqlValue::Text(job.queue.to_string()),
        SqlValue::Text(payload),
        SqlValue::Integer(job.priority.into()),
        SqlValue::Integer(job.max_attempts.into()),
        SqlValue::Integer(job.timeout_ms as i64),
        SqlValue::Integer(job.result_ttl_ms as i64),
        SqlValue::Integer(job.failure_ttl_ms as i64),
        SqlValue::Integer(job.backoff_ms as i64),
        SqlValue::Integer(job.created_at.0),
    ];
    values.extend(state_values(&job.state));
    tx.prepare_cached(sql)
        .map_err(storage)?
        .execute(rusqlite::params_from_iter(values))
        .map_err(storage)?;
    Ok(())
}

/// Writes a transition's new state if the guard holds; `true` if it did.
fn apply_transition(tx: &Connection, t: &Transition) -> Result<bool> {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let sql = SQL.get_or_init(|| {
        let n = STATE_COLUMNS.len();
        let set: Vec<String> = STATE_COLUMNS
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c} = ?{}", i + 1))
            .collect();
        format!(
            "UPDATE jobs SET {} WHERE id = ?{} AND status = ?{} AND lease_token IS ?{}",
            set.join(", "),
            n + 1,
            n + 2,
            n + 3
        )
    });
    let mut values = state_values(&t.job.state);
    values.push(SqlValue::Text(t.job.id.to_string()));
    values.push(SqlValue::Text(t.expect.status.as_str().to_owned()));
    values.push(
        t.expect
            .lease_token
            .map_or(SqlValue::Null, |t| SqlValue::Integer(t.0 as i64)),
    );
    let changed = tx
        .prepare_cached(sql)
        .map_err(storage)?
        .execute(rusqlite::params_from_iter(values))
        .map_err(storage)?;
    if changed == 1 {
        append_event(tx, &Event::of(&t.job, Timestamp::now()))?;
    }
    Ok(changed == 1)
}

fn append_event(tx: &Connection, event: &Event) -> Result<()> {
    let body = serde_json::to_string(event).map_err(|e| QueueError::Storage(e.to_string()))?;
    tx.prepare_cached("INSERT INTO events (body, at) VALUES (?1, ?2)")
        .map_err(storage)?
        .execute(params![body, event.at.0])
        .map_err(storage)?;
    Ok(())
}

fn queue_placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

#[async_trait]
impl Backend for SqliteBackend {
    fn info(&self) -> BackendInfo {
        let mut details = serde_json::Map::new();
        details.insert(
            "journal_mode".into(),
            self.shared.journal_mode.clone().into(),
        );
        details.insert(
            "synchronous".into(),
            match self.shared.options.synchronous {
                Synchronous::Normal => "normal",
                Synchronous::Full => "full",
            }
            .into(),
        );
        details.insert("sqlite_version".into(), rusqlite::version().into());
        BackendInfo {
            name: "sqlite".into(),
            location: self.shared.path.display().to_string(),
            details,
        }
    }

    async fn ping(&self) -> Result<()> {
        self.read(|conn| conn.query_row("SELECT 1", [], |_| Ok(())).map_err(storage))
            .await
    }

    async fn insert(&self, jobs: Vec<Job>) -> Result<Vec<Inserted>> {
        self.insert_within(jobs, &Quotas::unlimited()).await
    }

    async fn insert_within(&self, jobs: Vec<Job>, quotas: &Quotas) -> Result<Vec<Inserted>> {
        let quotas = quotas.clone();
        self.write(move |tx| {
            let now = Timestamp::now();
            let batch_len = jobs.len();
            // Per queue of the batch: its waiting jobs and payload bytes, as
            // stored and then with the batch's new jobs ahead of this one.
            let mut usage: HashMap<QueueName, (u64, u64)> = HashMap::new();
            let mut change = UsageChange::default();
            let mut out = Vec::with_capacity(batch_len);
            for (index, job) in jobs.into_iter().enumerate() {
                // A stored job under this id, live or expired-but-not-yet-swept.
                let existing = select_jobs(tx, "id = ?1", params![job.id.as_str()])?.pop();
                let replaces = match existing {
                    Some(StoredJob { job: existing, .. }) => {
                        let expired = existing.state.expires_at.is_some_and(|t| t <= now);
                        if !expired && !state::id_is_reusable(&existing) {
                            out.push(Inserted::Existing(existing));
                            continue;
                        }
                        true
                    }
                    None => false,
                };
                let payload = to_json_text(&job.payload);
                let payload_len = payload.len() as u64;
                if is_waiting(job.status()) {
                    let (waiting, bytes) = match usage.entry(job.queue.clone()) {
                        Entry::Occupied(seen) => seen.into_mut(),
                        Entry::Vacant(first) => first.insert(waiting_usage(tx, &job.queue)?),
                    };
                    quotas
                        .admit(job.queue.as_str(), *waiting, *bytes, payload_len)
                        .map_err(|e| super::refused_at(index, batch_len, e))?;
                    *waiting += 1;
                    *bytes += payload_len;
                }
                if replaces {
                    // Failed or cancelled, or expired: not waiting.
                    tx.execute("DELETE FROM jobs WHERE id = ?1", params![job.id.as_str()])
                        .map_err(storage)?;
                }
                if is_waiting(job.status()) {
                    change.add(&job.queue, 1, payload_len as i64);
                }
                insert_job(tx, &job, payload)?;
                append_event(tx, &Event::of(&job, now))?;
                out.push(Inserted::New(job));
            }
            change.write(tx)?;
            Ok(out)
        })
        .await
    }

    async fn get(&self, id: &JobId) -> Result<Option<Job>> {
        let id = id.clone();
        self.read(move |conn| get_live(conn, &id, Timestamp::now()))
            .await
    }

    async fn list(&self, query: &JobQuery) -> Result<JobPage> {
        let query = query.clone();
        self.read(move |conn| {
            let before = match &query.cursor {
                Some(c) => c
                    .parse::<i64>()
                    .map_err(|_| QueueError::InvalidRequest(format!("invalid cursor {c:?}")))?,
                None => i64::MAX,
            };
            let limit = query.limit.clamp(1, 1000);
            // Only the filters given appear in the SQL, so SQLite can walk
            // the matching index in `seq` order instead of scanning history.
            let mut sql = String::from("seq < ?1 AND (expires_at IS NULL OR expires_at > ?2)");
            let mut values: Vec<rusqlite::types::Value> =
                vec![before.into(), Timestamp::now().0.into()];
            if let Some(queue) = &query.queue {
                values.push(queue.to_string().into());
                sql += &format!(" AND queue = ?{}", values.len());
            }
            if let Some(status) = query.status {
                values.push(status.as_str().to_owned().into());
                sql += &format!(" AND status = ?{}", values.len());
            }
            if let Some(kind) = &query.kind {
                values.push(kind.to_string().into());
                sql += &format!(" AND kind = ?{}", values.len());
            }
            values.push((limit as i64 + 1).into());
            sql += &format!(" ORDER BY seq DESC LIMIT ?{}", values.len());
            let jobs = select_jobs(conn, &sql, rusqlite::params_from_iter(values))?;
            let more = jobs.len() > limit;
            let jobs: Vec<_> = jobs.into_iter().take(limit).collect();
            let next_cursor = if more {
                jobs.last().map(|stored| stored.seq.to_string())
            } else {
                None
            };
            Ok(JobPage {
                jobs: jobs.into_iter().map(|stored| stored.job).collect(),
                next_cursor,
            })
        })
        .await
    }

    async fn claim(&self, request: &ClaimRequest) -> Result<Vec<Job>> {
        if request.max == 0 || request.queues.is_empty() {
            return Ok(Vec::new());
        }
        // Look before taking the write lock: an idle worker must not hold up
        // writers in other processes.
        let queues: Vec<String> = request.queues.iter().map(|q| q.to_string()).collect();
        let now = request.now;
        let probe_queues = queues.clone();
        let busy = self.shared.busy.load(std::sync::atomic::Ordering::Relaxed);
        let any_ready = busy
            || self
                .read(move |conn| any_ready(conn, &probe_queues, now))
                .await?;
        if !any_ready {
            return Ok(Vec::new());
        }
        let request = request.clone();
        let max = request.max;
        let claimed = self
            .write(move |tx| {
                // The best `max` of each queue, then the best `max` of those:
                // each per-queue scan walks the ready index in claim order.
                let mut candidates = Vec::new();
                for queue in &request.queues {
                    candidates.extend(select_jobs(
                        tx,
                        "queue = ?1 AND status IN ('queued', 'scheduled') AND run_at <= ?2 \
                     ORDER BY priority DESC, run_at, seq LIMIT ?3",
                        params![queue.as_str(), request.now.0, request.max as i64],
                    )?);
                }
                candidates.sort_by_key(|c| (-(c.job.priority as i64), c.job.state.run_at, c.seq));
                let mut claimed = Vec::new();
                let mut usage = UsageChange::default();
                for c in candidates.into_iter().take(request.max) {
                    let t = state::claim(&c.job, &request.worker, request.lease, request.now);
                    if apply_transition(tx, &t)? {
                        usage.add(&c.job.queue, -1, -(c.payload_bytes as i64));
                        claimed.push(t.job);
                    }
                }
                usage.write(tx)?;
                Ok(claimed)
            })
            .await?;
        self.shared
            .busy
            .store(claimed.len() == max, std::sync::atomic::Ordering::Relaxed);
        Ok(claimed)
    }

    async fn apply(&self, transitions: Vec<Transition>) -> Result<Vec<bool>> {
        if transitions.is_empty() {
            return Ok(Vec::new());
        }
        self.write(move |tx| {
            let mut usage = UsageChange::default();
            let mut applied = Vec::with_capacity(transitions.len());
            for t in &transitions {
                let done = apply_transition(tx, t)?;
                if done {
                    usage.add_transition(tx, t)?;
                }
                applied.push(done);
            }
            usage.write(tx)?;
            Ok(applied)
        })
        .await
    }

    async fn renew_leases(&self, leases: &[LeaseRef], until: Timestamp) -> Result<Vec<LeaseState>> {
        if leases.is_empty() {
            return Ok(Vec::new());
        }
        let leases = leases.to_vec();
        self.write(move |tx| {
            let mut stmt = tx
                .prepare_cached(
                    "UPDATE jobs SET lease_expires_at = ?1 \
                     WHERE id = ?2 AND status = 'running' AND lease_token = ?3 \
                     RETURNING cancel_requested",
                )
                .map_err(storage)?;
            leases
                .iter()
                .map(|lease| {
                    let cancel: Option<i64> = stmt
                        .query_row(
                            params![until.0, lease.id.as_str(), lease.token.0 as i64],
                            |r| r.get(0),
                        )
                        .optional()
                        .map_err(storage)?;
                    Ok(match cancel {
                        Some(flag) => LeaseState::Held {
                            cancel_requested: flag != 0,
                        },
                        None => LeaseState::Lost,
                    })
                })
                .collect()
        })
        .await
    }

    async fn set_progress(&self, updates: Vec<ProgressUpdate>) -> Result<()> {
        if updates.is_empty() {
            return Ok(());
        }
        self.write(move |tx| {
            let now = Timestamp::now();
            for update in updates {
                let changed = tx
                    .prepare_cached(
                        "UPDATE jobs SET progress = ?1, progress_message = ?2 \
                         WHERE id = ?3 AND status = 'running' AND lease_token = ?4",
                    )
                    .map_err(storage)?
                    .execute(params![
                        update.progress,
                        update.message,
                        update.lease.id.as_str(),
                        update.lease.token.0 as i64
                    ])
                    .map_err(storage)?;
                if changed == 1 {
                    if let Some(job) = get_live(tx, &update.lease.id, now)? {
                        append_event(tx, &Event::of(&job, now))?;
                    }
                }
            }
            Ok(())
        })
        .await
    }

    async fn request_cancel(&self, id: &JobId) -> Result<bool> {
        let id = id.clone();
        self.write(move |tx| {
            let changed = tx
                .execute(
                    "UPDATE jobs SET cancel_requested = 1 WHERE id = ?1 AND status = 'running'",
                    params![id.as_str()],
                )
                .map_err(storage)?;
            if changed == 1 {
                let now = Timestamp::now();
                if let Some(job) = get_live(tx, &id, now)? {
                    let mut event = Event::of(&job, now);
                    event.message = Some("cancel requested".into());
                    append_event(tx, &event)?;
                }
            }
            Ok(changed == 1)
        })
        .await
    }

    async fn expired_leases(&self, now: Timestamp, limit: usize) -> Result<Vec<Job>> {
        self.read(move |conn| {
            Ok(select_jobs(
                conn,
                "status = 'running' AND lease_expires_at < ?1 LIMIT ?2",
                params![now.0, limit as i64],
            )?
            .into_iter()
            .map(|stored| stored.job)
            .collect())
        })
        .await
    }

    async fn due_scheduled(&self, now: Timestamp, limit: usize) -> Result<Vec<Job>> {
        self.read(move |conn| {
            Ok(select_jobs(
                conn,
                "status = 'scheduled' AND run_at <= ?1 ORDER BY run_at LIMIT ?2",
                params![now.0, limit as i64],
            )?
            .into_iter()
            .map(|stored| stored.job)
            .collect())
        })
        .await
    }

    async fn delete_expired(&self, now: Timestamp) -> Result<u64> {
        let recount = {
            let mut last = self
                .shared
                .last_recount
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let due = last.is_none_or(|at| at.elapsed() >= RECOUNT_EVERY);
            if due {
                *last = Some(std::time::Instant::now());
            }
            due
        };
        if recount {
            let correction = self.read(usage_correction).await?;
            if !correction.is_empty() {
                tracing::info!(
                    "queue usage counts were off (a hand edit, or an earlier version \
                     sharing the database); set right"
                );
                self.write(move |tx| correction.write(tx)).await?;
            }
        }
        self.write(move |tx| {
            let jobs = tx
                .execute(
                    "DELETE FROM jobs WHERE expires_at IS NOT NULL AND expires_at <= ?1",
                    params![now.0],
                )
                .map_err(storage)?;
            tx.execute("DELETE FROM workers WHERE expires_at <= ?1", params![now.0])
                .map_err(storage)?;
            // Events are in id order and time order alike: cut both ways
            // from the low end, through the primary key, without a scan.
            tx.execute(
                "DELETE FROM events WHERE id <= (SELECT MAX(id) FROM events) - ?1",
                params![EVENTS_KEPT],
            )
            .map_err(storage)?;
            tx.execute(
                "DELETE FROM events WHERE id < COALESCE(\
                 (SELECT id FROM events WHERE at >= ?1 ORDER BY id LIMIT 1), \
                 (SELECT MAX(id) + 1 FROM events))",
                params![now.0 - EVENTS_MAX_AGE.as_millis() as i64],
            )
            .map_err(storage)?;
            Ok(jobs as u64)
        })
        .await
    }

    async fn counts(&self, queues: &[QueueName]) -> Result<Vec<QueueCounts>> {
        let queues = queues.to_vec();
        self.read(move |conn| {
            // All rows by (queue, status) from the covering index, minus the
            // few that expired but await the next sweep (from the expiry
            // index): exact, without reading the rows themselves.
            let now = Timestamp::now();
            let mut all = conn
                .prepare_cached(
                    "SELECT status, COUNT(*) FROM jobs WHERE queue = ?1 GROUP BY status",
                )
                .map_err(storage)?;
            let mut expired = conn
                .prepare_cached(
                    "SELECT status, COUNT(*) FROM jobs WHERE expires_at <= ?1 AND queue = ?2 \
                     GROUP BY status",
                )
                .map_err(storage)?;
            let status_counts = |stmt: &mut rusqlite::CachedStatement<'_>,
                                 params: &[&dyn rusqlite::ToSql]|
             -> Result<Vec<(Status, u64)>> {
                let rows = stmt
                    .query_map(params, |r| {
                        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
                    })
                    .map_err(storage)?;
                rows.map(|row| {
                    let (status, n) = row.map_err(storage)?;
                    Ok((status.parse::<Status>()?, n as u64))
                })
                .collect()
            };
            queues
                .iter()
                .map(|queue| {
                    let mut counts = QueueCounts {
                        name: queue.to_string(),
                        ..QueueCounts::default()
                    };
                    for (status, n) in status_counts(&mut all, &[&queue.as_str()])? {
                        counts.add(status, n);
                    }
                    for (status, n) in status_counts(&mut expired, &[&now.0, &queue.as_str()])? {
                        let count = counts.get_mut(status);
                        *count = count.saturating_sub(n);
                    }
                    Ok(counts)
                })
                .collect()
        })
        .await
    }

    async fn purge(&self, queue: &QueueName, status: Status) -> Result<u64> {
        let queue = queue.clone();
        self.write(move |tx| {
            if is_waiting(status) {
                let (jobs, bytes): (i64, Option<i64>) = tx
                    .query_row(
                        "SELECT COUNT(*), SUM(octet_length(payload)) FROM jobs \
                         WHERE queue = ?1 AND status = ?2",
                        params![queue.as_str(), status.as_str()],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .map_err(storage)?;
                let mut usage = UsageChange::default();
                usage.add(&queue, -jobs, -bytes.unwrap_or(0));
                usage.write(tx)?;
            }
            let n = tx
                .execute(
                    "DELETE FROM jobs WHERE queue = ?1 AND status = ?2",
                    params![queue.as_str(), status.as_str()],
                )
                .map_err(storage)?;
            Ok(n as u64)
        })
        .await
    }

    async fn register_worker(&self, worker: &WorkerRecord) -> Result<()> {
        let body = serde_json::to_string(worker).map_err(|e| QueueError::Storage(e.to_string()))?;
        let (name, expires) = (worker.name.clone(), worker.expires_at.0);
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO workers (name, body, expires_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (name) DO UPDATE SET body = ?2, expires_at = ?3",
                params![name, body, expires],
            )
            .map_err(storage)?;
            Ok(())
        })
        .await
    }

    async fn remove_worker(&self, name: &str) -> Result<()> {
        let name = name.to_owned();
        self.write(move |tx| {
            tx.execute("DELETE FROM workers WHERE name = ?1", params![name])
                .map_err(storage)?;
            Ok(())
        })
        .await
    }

    async fn workers(&self, now: Timestamp) -> Result<Vec<WorkerRecord>> {
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached("SELECT body FROM workers WHERE expires_at > ?1 ORDER BY name")
                .map_err(storage)?;
            let rows = stmt
                .query_map(params![now.0], |r| r.get::<_, String>(0))
                .map_err(storage)?;
            rows.map(|row| {
                let body = row.map_err(storage)?;
                serde_json::from_str(&body).map_err(|e| QueueError::Corrupt(e.to_string()))
            })
            .collect()
        })
        .await
    }

    async fn events_after(&self, cursor: Option<&str>, limit: usize) -> Result<Vec<Event>> {
        let after = cursor.map(parse_event_id).transpose()?.unwrap_or(0);
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached("SELECT id, body FROM events WHERE id > ?1 ORDER BY id LIMIT ?2")
                .map_err(storage)?;
            let rows = stmt
                .query_map(params![after, limit as i64], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
                })
                .map_err(storage)?;
            rows.map(|row| {
                let (id, body) = row.map_err(storage)?;
                let mut event: Event =
                    serde_json::from_str(&body).map_err(|e| QueueError::Corrupt(e.to_string()))?;
                event.id = id.to_string();
                Ok(event)
            })
            .collect()
        })
        .await
    }

    async fn last_event_id(&self) -> Result<Option<String>> {
        self.read(|conn| {
            let id: Option<i64> = conn
                .prepare_cached("SELECT MAX(id) FROM events")
                .and_then(|mut stmt| stmt.query_row([], |r| r.get(0)))
                .map_err(storage)?;
            Ok(id.map(|id| id.to_string()))
        })
        .await
    }

    async fn wait_for_jobs(
        &self,
        queues: &[QueueName],
        // Not needed: the wait looks at the ready jobs themselves.
        _claimed_at: std::time::Instant,
        max_wait: Duration,
    ) -> Result<()> {
        let queues: Vec<String> = queues.iter().map(|q| q.to_string()).collect();
        self.wait_until(max_wait, move |conn| {
            any_ready(conn, &queues, Timestamp::now())
        })
        .await
    }

    async fn wait_for_events(&self, after: Option<&str>, max_wait: Duration) -> Result<()> {
        let after = after.map(parse_event_id).transpose()?.unwrap_or(0);
        self.wait_until(max_wait, move |conn| {
            let newest: Option<i64> = conn
                .prepare_cached("SELECT MAX(id) FROM events")
                .and_then(|mut stmt| stmt.query_row([], |r| r.get(0)))
                .map_err(storage)?;
            Ok(newest.is_some_and(|id| id > after))
        })
        .await
    }
}
