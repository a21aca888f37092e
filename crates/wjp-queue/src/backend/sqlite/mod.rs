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
//!
//! Where each part lives: `connection` opens connections and keeps the
//! readers, `writer` is the writer thread, `schema` creates the tables,
//! `rows` maps jobs to rows and back, `insert`, `claim`, `updates` and
//! `maintenance` are the writes and reads of each operation, `quotas`
//! keeps `queue_usage`, `events` the event log, `audit` the audit log, `workers` the worker
//! records, `reads` the listings and counts, `schedules` the schedules,
//! `stock` the stock pools, and `wait` the waits.

mod audit;
mod claim;
mod connection;
mod deps;
mod events;
mod groups;
mod insert;
mod maintenance;
mod quotas;
mod reads;
mod rows;
mod schedules;
mod schema;
mod stock;
mod updates;
mod wait;
mod workers;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::Connection;
use tokio::sync::Notify;

use super::{
    Backend, BackendInfo, ClaimRequest, Inserted, JobPage, JobQuery, LeaseRef, LeaseState,
    ProgressUpdate, QueueCounts, WorkerRecord,
};
use crate::audit::{AuditPage, AuditQuery, AuditRetention};
use crate::catalog::Quotas;
use crate::error::{QueueError, Result};
use crate::event::Event;
use crate::job::{Job, JobId, QueueName, Status, Timestamp};
use crate::limits::QueueLimits;
use crate::schedule::Schedule;
use crate::state::Transition;
use connection::{open_connection, storage};
use events::parse_event_id;

/// How the database syncs to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Synchronous {
    /// WAL + NORMAL: a crash of any process loses nothing; a power cut may
    /// lose the last transactions but never corrupts the file.
    Normal,
    /// Every commit reaches the disk before it returns; several times slower.
    Full,
}

/// How to open the database.
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

/// What every clone of a backend shares.
struct Shared {
    path: PathBuf,
    options: SqliteOptions,
    /// Sends writes to the writer thread.
    writer: Mutex<writer::WriteSender>,
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
        let opened = open_connection(path, &options)?;
        schema::migrate(&opened.conn)?;
        let changed = Arc::new(Notify::new());
        let writer = writer::spawn_writer(opened.conn, changed.clone())?;
        Ok(SqliteBackend {
            shared: Arc::new(Shared {
                path: path.to_owned(),
                options,
                writer: Mutex::new(writer),
                readers: Mutex::new(Vec::new()),
                changed,
                journal_mode: opened.journal_mode,
                busy: std::sync::atomic::AtomicBool::new(false),
                last_recount: Mutex::new(None),
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }
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
        self.insert_recorded(jobs, quotas, Vec::new()).await
    }

    async fn insert_recorded(
        &self,
        jobs: Vec<Job>,
        quotas: &Quotas,
        origins: Vec<String>,
    ) -> Result<Vec<Inserted>> {
        let quotas = quotas.clone();
        let audit = audit::submissions(&jobs, &origins, Timestamp::now());
        self.write(move |tx| insert::insert_batch(tx, jobs, &quotas, &audit))
            .await
    }

    async fn audit_entries(&self, query: &AuditQuery) -> Result<AuditPage> {
        let query = query.clone();
        self.read(move |conn| audit::entries(conn, &query)).await
    }

    async fn trim_audit(&self, now: Timestamp, retention: &AuditRetention) -> Result<u64> {
        let retention = *retention;
        self.write(move |tx| audit::trim(tx, now, &retention)).await
    }

    async fn forget_audit(&self, queue: &QueueName) -> Result<()> {
        let queue = queue.clone();
        self.write(move |tx| audit::forget(tx, &queue)).await
    }

    async fn get(&self, id: &JobId) -> Result<Option<Job>> {
        let id = id.clone();
        self.read(move |conn| rows::get_live(conn, &id, Timestamp::now()))
            .await
    }

    async fn list(&self, query: &JobQuery) -> Result<JobPage> {
        let query = query.clone();
        self.read(move |conn| reads::list_page(conn, &query)).await
    }

    async fn claim(&self, request: &ClaimRequest) -> Result<Vec<Job>> {
        self.claim_ready(request).await
    }

    async fn apply(&self, transitions: Vec<Transition>) -> Result<Vec<bool>> {
        if transitions.is_empty() {
            return Ok(Vec::new());
        }
        let audit = audit::transitions(&transitions, Timestamp::now());
        self.write(move |tx| updates::apply_all(tx, &transitions, &audit))
            .await
    }

    async fn renew_leases(&self, leases: &[LeaseRef], until: Timestamp) -> Result<Vec<LeaseState>> {
        if leases.is_empty() {
            return Ok(Vec::new());
        }
        let leases = leases.to_vec();
        self.write(move |tx| updates::renew(tx, &leases, until))
            .await
    }

    async fn set_progress(&self, updates: Vec<ProgressUpdate>) -> Result<()> {
        if updates.is_empty() {
            return Ok(());
        }
        let updates = updates.into_iter().map(ProgressUpdate::checked).collect();
        self.write(move |tx| updates::set_progress(tx, updates))
            .await
    }

    async fn request_cancel(&self, id: &JobId) -> Result<bool> {
        let id = id.clone();
        self.write(move |tx| updates::request_cancel(tx, &id)).await
    }

    async fn expired_leases(&self, now: Timestamp, limit: usize) -> Result<Vec<Job>> {
        self.read(move |conn| maintenance::expired_leases(conn, now, limit))
            .await
    }

    async fn due_scheduled(&self, now: Timestamp, limit: usize) -> Result<Vec<Job>> {
        self.read(move |conn| maintenance::due_scheduled(conn, now, limit))
            .await
    }

    async fn delete_expired(&self, now: Timestamp) -> Result<u64> {
        self.recount_usage_when_due().await?;
        self.write(move |tx| maintenance::sweep_expired(tx, now))
            .await
    }

    async fn counts(&self, queues: &[QueueName]) -> Result<Vec<QueueCounts>> {
        let queues = queues.to_vec();
        self.read(move |conn| reads::counts(conn, &queues)).await
    }

    async fn set_paused(&self, queue: &QueueName, paused: bool) -> Result<bool> {
        let queue = queue.to_string();
        // A commit wakes this process's waiters; other processes see it at
        // their next poll.
        self.write(move |tx| claim::set_paused(tx, &queue, paused))
            .await
    }

    async fn put_schedule(&self, schedule: &Schedule) -> Result<bool> {
        let schedule = schedule.clone();
        self.write(move |tx| schedules::put(tx, &schedule)).await
    }

    async fn remove_schedule(&self, name: &str) -> Result<bool> {
        let name = name.to_owned();
        self.write(move |tx| schedules::remove(tx, &name)).await
    }

    async fn schedules(&self) -> Result<Vec<Schedule>> {
        self.read(schedules::all).await
    }

    async fn advance_schedule(&self, schedule: &Schedule, expect_next: Timestamp) -> Result<bool> {
        let schedule = schedule.clone();
        self.write(move |tx| schedules::advance(tx, &schedule, expect_next))
            .await
    }

    async fn stock_add(&self, pool: &str, id: &str, body: &str, max_items: usize) -> Result<bool> {
        let (pool, id, body) = (pool.to_owned(), id.to_owned(), body.to_owned());
        self.write(move |tx| stock::add(tx, &pool, &id, &body, max_items))
            .await
    }

    async fn stock_items(&self, pool: &str) -> Result<Vec<crate::stock::StockItem>> {
        let pool = pool.to_owned();
        self.read(move |conn| stock::items(conn, &pool)).await
    }

    async fn stock_take(
        &self,
        pool: &str,
        ids: &[String],
        holder: &str,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<Vec<String>> {
        let (pool, ids, holder) = (pool.to_owned(), ids.to_vec(), holder.to_owned());
        self.write(move |tx| stock::take(tx, &pool, &ids, &holder, until, now))
            .await
    }

    async fn stock_settle(
        &self,
        pool: &str,
        holder: &str,
        used: &[String],
        released: &[String],
    ) -> Result<()> {
        let (pool, holder) = (pool.to_owned(), holder.to_owned());
        let (used, released) = (used.to_vec(), released.to_vec());
        self.write(move |tx| stock::settle(tx, &pool, &holder, &used, &released))
            .await
    }

    async fn stock_remove(&self, pool: &str, id: &str) -> Result<bool> {
        let (pool, id) = (pool.to_owned(), id.to_owned());
        self.write(move |tx| stock::remove(tx, &pool, &id)).await
    }

    async fn set_limits(&self, queue: &QueueName, limits: QueueLimits) -> Result<()> {
        let queue = queue.to_string();
        // The commit wakes this process's waiters; other processes see it at
        // their next poll, as they see a running job's end.
        self.write(move |tx| claim::set_limits(tx, &queue, limits))
            .await
    }

    async fn purge(&self, queue: &QueueName, status: Status) -> Result<u64> {
        let queue = queue.clone();
        self.write(move |tx| updates::purge(tx, &queue, status))
            .await
    }

    async fn register_worker(&self, worker: &WorkerRecord) -> Result<()> {
        let body = serde_json::to_string(worker).map_err(|e| QueueError::Storage(e.to_string()))?;
        let (name, expires) = (worker.name.clone(), worker.expires_at.0);
        self.write(move |tx| workers::register(tx, &name, &body, expires))
            .await
    }

    async fn remove_worker(&self, name: &str) -> Result<()> {
        let name = name.to_owned();
        self.write(move |tx| workers::remove(tx, &name)).await
    }

    async fn workers(&self, now: Timestamp) -> Result<Vec<WorkerRecord>> {
        self.read(move |conn| workers::live(conn, now)).await
    }

    async fn events_after(&self, cursor: Option<&str>, limit: usize) -> Result<Vec<Event>> {
        let after = cursor.map(parse_event_id).transpose()?.unwrap_or(0);
        self.read(move |conn| events::events_after(conn, after, limit))
            .await
    }

    async fn last_event_id(&self) -> Result<Option<String>> {
        self.read(|conn| Ok(events::newest_event_id(conn)?.map(|id| id.to_string())))
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
            claim::any_ready(conn, &queues, Timestamp::now())
        })
        .await
    }

    async fn wait_for_events(&self, after: Option<&str>, max_wait: Duration) -> Result<()> {
        let after = after.map(parse_event_id).transpose()?.unwrap_or(0);
        self.wait_until(max_wait, move |conn| {
            Ok(events::newest_event_id(conn)?.is_some_and(|id| id > after))
        })
        .await
    }
}
