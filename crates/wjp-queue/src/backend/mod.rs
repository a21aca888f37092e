//! Storage backends: drivers that store jobs and apply the state machine's
//! transitions atomically.
//!
//! A backend decides nothing about a job's life: [`crate::state`] computes
//! every new state, and the backend stores it if the guard still holds. The
//! one exception is [`Backend::claim`], which must pick and take the best
//! ready jobs in one atomic step; it applies [`crate::state::claim`] to them.
//!
//! Every backend passes the same conformance suite (`tests/conformance`).

pub mod redis;
pub mod sqlite;

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::audit::{AuditPage, AuditQuery, AuditRetention};
use crate::catalog::Quotas;
use crate::error::{QueueError, Result};
use crate::event::Event;
use crate::job::{Job, JobId, Kind, LeaseToken, QueueName, Status, Timestamp};
use crate::schedule::Schedule;
use crate::state::Transition;

/// Which backend is in use and where its data lives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackendInfo {
    /// `sqlite` or `redis`.
    pub name: String,
    /// A file path or a URL with any password removed.
    pub location: String,
    /// Settings worth showing an operator (journal mode, server version, ...).
    #[serde(default)]
    pub details: serde_json::Map<String, serde_json::Value>,
}

/// The result of inserting one job.
#[derive(Debug, Clone, PartialEq)]
pub enum Inserted {
    /// The job was stored as given (no job had its id, or the one that had
    /// it was reusable and has been replaced).
    New(Job),
    /// A job with this id exists and is not reusable (see
    /// [`crate::state::id_is_reusable`]): it is returned unchanged.
    Existing(Job),
}

impl Inserted {
    /// The job now stored under the id, whether new or existing.
    pub fn job(&self) -> &Job {
        match self {
            Inserted::New(job) | Inserted::Existing(job) => job,
        }
    }
}

/// What a worker asks of [`Backend::claim`].
#[derive(Debug, Clone)]
pub struct ClaimRequest {
    /// The queues to take jobs from, strictly in this order: a queue's jobs
    /// are taken only when the queues before it have no more ready. Within
    /// a queue, priority ranks, then run-at, then age.
    pub queues: Vec<QueueName>,
    /// The claiming worker's name, recorded on each job it takes.
    pub worker: String,
    /// At most this many jobs.
    pub max: usize,
    /// How long each lease lasts from `now` unless renewed; a job whose
    /// lease runs out is taken back by maintenance.
    pub lease: Duration,
    /// The claim's clock: decides which scheduled jobs are due and when the
    /// leases expire.
    pub now: Timestamp,
}

/// One lease a worker renews.
#[derive(Debug, Clone, PartialEq)]
pub struct LeaseRef {
    /// The job held.
    pub id: JobId,
    /// The token the claim handed out; a renewal with any other token finds
    /// the lease [`LeaseState::Lost`].
    pub token: LeaseToken,
}

/// What a worker learns about a job it holds when it renews the lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseState {
    /// The lease is still this worker's and now runs to the new time.
    Held {
        /// Someone asked to cancel the job: stop the handler and record the
        /// job cancelled.
        cancel_requested: bool,
    },
    /// The job is no longer this worker's (the lease expired and the reaper
    /// took it back, or the record is gone): stop and discard the result.
    Lost,
}

/// Progress a handler reported for a job it runs, written with
/// [`Backend::set_progress`].
#[derive(Debug, Clone, PartialEq)]
pub struct ProgressUpdate {
    /// The job and the lease under which it runs; a stale lease makes the
    /// update a no-op.
    pub lease: LeaseRef,
    /// The fraction done, from 0 to 1.
    pub progress: f64,
    /// What the handler is doing, for people watching (`step 3 of 5`).
    pub message: Option<String>,
    /// Its figures, for programs: a JSON object of at most
    /// [`MAX_PROGRESS_DETAIL_BYTES`](crate::job::MAX_PROGRESS_DETAIL_BYTES).
    pub detail: Option<serde_json::Value>,
}

impl ProgressUpdate {
    /// The update as a backend keeps it, whoever made it: no NUL in the
    /// message (the Redis backend keeps message and detail as one text,
    /// split at a NUL), and a detail only when it is a JSON object of at
    /// most [`MAX_PROGRESS_DETAIL_BYTES`](crate::job::MAX_PROGRESS_DETAIL_BYTES)
    /// (another is left out, with a warning; the message still goes).
    pub fn checked(mut self) -> Self {
        if let Some(message) = self.message.as_mut().filter(|m| m.contains('\0')) {
            message.retain(|c| c != '\0');
        }
        let limit = crate::job::MAX_PROGRESS_DETAIL_BYTES;
        self.detail = match self.detail.take() {
            Some(detail) if !detail.is_object() => {
                tracing::warn!(job = %self.lease.id, "a progress detail must be a JSON object; left out");
                None
            }
            Some(detail) if detail.to_string().len() > limit => {
                tracing::warn!(
                    job = %self.lease.id,
                    "a progress detail is larger than {limit} bytes; left out"
                );
                None
            }
            other => other,
        };
        self
    }
}

/// Filters for listing jobs, newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobQuery {
    /// Only jobs of this queue; all queues when `None`.
    pub queue: Option<QueueName>,
    /// Only jobs in this status; every status when `None`.
    pub status: Option<Status>,
    /// Only jobs of this kind; every kind when `None`.
    pub kind: Option<Kind>,
    /// The most jobs one page holds.
    pub limit: usize,
    /// Opaque cursor from the previous page.
    pub cursor: Option<String>,
}

/// One page of a [`JobQuery`].
#[derive(Debug, Clone, PartialEq)]
pub struct JobPage {
    /// The jobs of this page, newest first.
    pub jobs: Vec<Job>,
    /// Pass as [`JobQuery::cursor`] to get the next page; `None` on the
    /// last one.
    pub next_cursor: Option<String>,
}

/// How many jobs of one queue are in each status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueCounts {
    /// The queue's name.
    pub name: String,
    /// Jobs waiting for their parents to end (`after`).
    #[serde(default)]
    pub waiting: u64,
    /// Jobs waiting for their run-at time (a delay or a retry backoff).
    pub scheduled: u64,
    /// Jobs ready to run, waiting for a worker.
    pub queued: u64,
    /// Jobs a worker holds a lease on.
    pub running: u64,
    /// Completed jobs whose result has not expired yet.
    pub completed: u64,
    /// Failed jobs not yet past their failure TTL (the failed registry).
    pub failed: u64,
    /// Cancelled jobs not yet past their failure TTL.
    pub cancelled: u64,
    /// Whether the queue is paused: it takes jobs, but no worker claims
    /// from it until it is resumed.
    #[serde(default)]
    pub paused: bool,
    /// The queue's limits (running at once, claims per period), applied
    /// in the claim's atomic step.
    #[serde(default)]
    pub limits: crate::limits::QueueLimits,
    /// Claims counted in the current window of the queue's rate limit (0
    /// without one, or when its window has passed).
    #[serde(default)]
    pub rate_claims: u64,
}

impl QueueCounts {
    /// Adds `n` jobs to the count of `status`.
    pub fn add(&mut self, status: Status, n: u64) {
        *self.get_mut(status) += n;
    }

    /// The count of `status`, to change in place.
    pub fn get_mut(&mut self, status: Status) -> &mut u64 {
        match status {
            Status::Waiting => &mut self.waiting,
            Status::Scheduled => &mut self.scheduled,
            Status::Queued => &mut self.queued,
            Status::Running => &mut self.running,
            Status::Completed => &mut self.completed,
            Status::Failed => &mut self.failed,
            Status::Cancelled => &mut self.cancelled,
        }
    }

    /// The count of `status`.
    pub fn get(&self, status: Status) -> u64 {
        match status {
            Status::Waiting => self.waiting,
            Status::Scheduled => self.scheduled,
            Status::Queued => self.queued,
            Status::Running => self.running,
            Status::Completed => self.completed,
            Status::Failed => self.failed,
            Status::Cancelled => self.cancelled,
        }
    }
}

/// A live worker, as it registers itself with every heartbeat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerRecord {
    /// The worker's name and the record's key: two live workers with the
    /// same name overwrite each other's record.
    pub name: String,
    /// The machine it runs on.
    pub host: String,
    /// Its process id on that machine.
    pub pid: u32,
    /// The queues it claims from.
    pub queues: Vec<String>,
    /// The most jobs it runs at once.
    pub concurrency: usize,
    /// When the worker started.
    pub started_at: Timestamp,
    /// Its latest heartbeat, which wrote this record.
    pub heartbeat_at: Timestamp,
    /// The jobs it runs right now.
    pub current_jobs: Vec<String>,
    /// After this the record is stale: the worker died without saying so.
    pub expires_at: Timestamp,
}

/// What one maintenance pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Maintenance {
    /// Scheduled jobs whose run-at time had come, moved to their queue.
    pub promoted: u64,
    /// Jobs whose worker stopped renewing its lease, put back in their queue
    /// for another attempt.
    pub requeued_lost: u64,
    /// Jobs whose worker stopped renewing its lease and that had no attempts
    /// left: failed with `lost_lease`.
    pub failed_lost: u64,
    /// Ended jobs deleted because they passed their result or failure TTL.
    pub expired_deleted: u64,
    /// Jobs made by schedules whose tick had come (by this pass: another
    /// pass may have made the same tick's job first).
    #[serde(default)]
    pub scheduled: u64,
    /// Dependants released or cancelled because a parent ended, by a
    /// backend that settles them after the parent's end (Redis, whose
    /// queues live apart); 0 where the end settles them itself (SQLite).
    #[serde(default)]
    pub dependants_settled: u64,
}

/// A refusal of the job at `index` of a batch of `batch_len`: named by its
/// position when the batch holds more than one, as `Queue` does for
/// requests it refuses itself.
pub(crate) fn refused_at(index: usize, batch_len: usize, error: QueueError) -> QueueError {
    if batch_len > 1 {
        QueueError::InBatch {
            position: index + 1,
            error: Box::new(error),
        }
    } else {
        error
    }
}

/// A storage driver for the state machine.
///
/// Methods taking batches exist so hot paths (enqueue, claim, complete) cost
/// one round trip or one transaction for many jobs.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Which backend this is and where its data lives, for `wjp info` and the
    /// dashboard; makes no call to the store.
    fn info(&self) -> BackendInfo;

    /// Cheap reachability check.
    async fn ping(&self) -> Result<()>;

    /// Stores new jobs in one atomic step, honouring id reuse rules, with
    /// no quota (for tools and tests; [`crate::Queue`] uses
    /// [`Backend::insert_within`]).
    async fn insert(&self, jobs: Vec<Job>) -> Result<Vec<Inserted>>;

    /// Stores new jobs as [`Backend::insert`] does, unless that would take
    /// a queue past its waiting limits (`quotas.max_waiting_jobs`,
    /// `quotas.max_waiting_payload_bytes`): then nothing is stored, and the
    /// error is [`QueueError::QueueFull`] (inside [`QueueError::InBatch`],
    /// naming the job, when there are several). The check and the writes
    /// are one atomic step, so concurrent enqueues cannot pass a limit
    /// together. Jobs returned as [`Inserted::Existing`] do not count.
    ///
    /// The default checks nothing: it is for wrappers that forward
    /// `insert`; a wrapper that must keep the quotas forwards this too.
    async fn insert_within(&self, jobs: Vec<Job>, quotas: &Quotas) -> Result<Vec<Inserted>> {
        let _ = quotas;
        self.insert(jobs).await
    }

    /// Stores new jobs as [`Backend::insert_within`] does, and in the same
    /// atomic step the audit log's entry of each job it stored, naming who
    /// submitted it (`origins[i]` for `jobs[i]`; `""` or a missing one when
    /// not known). Both backends' `insert_within` record their jobs too,
    /// with no origin: every stored job has its entry, whatever the door.
    ///
    /// The default forgets the origins: it is for wrappers that forward
    /// `insert_within`.
    async fn insert_recorded(
        &self,
        jobs: Vec<Job>,
        quotas: &Quotas,
        origins: Vec<String>,
    ) -> Result<Vec<Inserted>> {
        let _ = origins;
        self.insert_within(jobs, quotas).await
    }

    /// One page of the audit log (`crate::audit`), newest first: at most
    /// `query.limit` matching entries, after looking at no more than
    /// [`crate::audit::SCAN_BUDGET`] entries.
    async fn audit_entries(&self, query: &AuditQuery) -> Result<AuditPage> {
        let _ = query;
        Err(QueueError::Unavailable(
            "this backend keeps no audit log".into(),
        ))
    }

    /// Deletes the audit entries older than `retention.max_age` before
    /// `now`, and the oldest beyond `retention.max_entries`; how many went.
    async fn trim_audit(&self, now: Timestamp, retention: &AuditRetention) -> Result<u64> {
        let _ = (now, retention);
        Ok(0)
    }

    /// Deletes every audit entry of a queue (for `wjp bench`, which deletes
    /// the queue it made).
    async fn forget_audit(&self, queue: &QueueName) -> Result<()> {
        let _ = queue;
        Ok(())
    }

    /// A job by id; `None` if it never existed or its record expired.
    async fn get(&self, id: &JobId) -> Result<Option<Job>>;

    /// One page of the jobs that match `query`, newest first.
    async fn list(&self, query: &JobQuery) -> Result<JobPage>;

    /// Takes up to `max` ready jobs (status queued, or scheduled and due) of
    /// the given queues: highest priority first, then earliest run-at, then
    /// first enqueued. Each comes back running under a fresh lease.
    async fn claim(&self, request: &ClaimRequest) -> Result<Vec<Job>>;

    /// Applies guarded transitions; `true` for each that applied, `false`
    /// where the stored job no longer matched the guard.
    async fn apply(&self, transitions: Vec<Transition>) -> Result<Vec<bool>>;

    /// Extends the leases a worker holds until `until`.
    async fn renew_leases(&self, leases: &[LeaseRef], until: Timestamp) -> Result<Vec<LeaseState>>;

    /// Records progress of running jobs (ignored where the lease is stale).
    async fn set_progress(&self, updates: Vec<ProgressUpdate>) -> Result<()>;

    /// Flags a running job as cancelled; its worker stops it. `false` if the
    /// job is not running.
    async fn request_cancel(&self, id: &JobId) -> Result<bool>;

    /// Running jobs whose lease expired before `now`.
    async fn expired_leases(&self, now: Timestamp, limit: usize) -> Result<Vec<Job>>;

    /// Scheduled jobs whose run-at time has come.
    async fn due_scheduled(&self, now: Timestamp, limit: usize) -> Result<Vec<Job>>;

    /// Deletes ended jobs past their TTL, stale workers and old events.
    async fn delete_expired(&self, now: Timestamp) -> Result<u64>;

    /// Settles the dependants of parents that ended (releases them, or
    /// cancels them with `dependency_failed`) where the parent's end could
    /// not do it in its own atomic step: the Redis backend keeps a queue's
    /// ends in an outbox of that queue and delivers them to dependants in
    /// other queues here, each delivery guarded and idempotent. Returns
    /// how many dependants changed. A backend whose ends settle their
    /// dependants atomically (SQLite) has nothing to do.
    async fn settle_dependants(&self, now: Timestamp) -> Result<u64> {
        let _ = now;
        Ok(0)
    }

    /// Counts by status for every queue given (zeros included).
    async fn counts(&self, queues: &[QueueName]) -> Result<Vec<QueueCounts>>;

    /// Pauses (`true`) or resumes a queue; whether that changed anything.
    /// A paused queue still takes jobs, and its running jobs go on; a claim
    /// takes nothing from it, atomically with the flag. Resuming wakes
    /// workers waiting for jobs.
    async fn set_paused(&self, queue: &QueueName, paused: bool) -> Result<bool>;

    // Schedules (`crate::schedule`): global, not per queue.

    /// Stores a schedule, replacing one of the same name; whether it is new.
    async fn put_schedule(&self, schedule: &Schedule) -> Result<bool>;

    /// Deletes a schedule; whether it existed.
    async fn remove_schedule(&self, name: &str) -> Result<bool>;

    /// Every schedule, by name.
    async fn schedules(&self) -> Result<Vec<Schedule>>;

    /// Stores `schedule` (its new `next_run` and `last_job`) only if the
    /// stored schedule of its name still has `next_run == expect_next`, in
    /// one atomic step: of maintenance passes racing over one tick, one
    /// advances it. Whether it applied (`false` also when it was removed).
    async fn advance_schedule(&self, schedule: &Schedule, expect_next: Timestamp) -> Result<bool>;

    // Stock (`crate::stock`): global pools of items taken once.

    /// Adds an item to a pool unless the pool already holds `max_items`
    /// (or the id is taken), in one atomic step; whether it was added.
    async fn stock_add(&self, pool: &str, id: &str, body: &str, max_items: usize) -> Result<bool>;

    /// Every item of a pool, by id.
    async fn stock_items(&self, pool: &str) -> Result<Vec<crate::stock::StockItem>>;

    /// Holds for `holder` until `until`, in one atomic step, each of `ids`
    /// that exists and is free at `now` ([`crate::stock::StockItem::takeable_by`]);
    /// the ids it now holds.
    async fn stock_take(
        &self,
        pool: &str,
        ids: &[String],
        holder: &str,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<Vec<String>>;

    /// Of the items `holder` holds, deletes `used` and frees `released`, in
    /// one atomic step; items held by another are left alone.
    async fn stock_settle(
        &self,
        pool: &str,
        holder: &str,
        used: &[String],
        released: &[String],
    ) -> Result<()>;

    /// Deletes an item, held or not; whether it existed.
    async fn stock_remove(&self, pool: &str, id: &str) -> Result<bool>;

    /// Sets a queue's limits (`QueueLimits::default()` clears them), and
    /// starts its rate window afresh. Every claim applies them in its own
    /// atomic step: the queue's running jobs (on every worker) stay at most
    /// `max_running`, its claims per rate window at most the rate's count.
    /// Setting them wakes workers waiting for jobs; so does the end of a
    /// running job of a queue with `max_running`. Read back in
    /// [`Backend::counts`].
    async fn set_limits(&self, queue: &QueueName, limits: crate::limits::QueueLimits)
        -> Result<()>;

    /// Deletes the ended jobs of one queue with one status; refuses live ones.
    async fn purge(&self, queue: &QueueName, status: Status) -> Result<u64>;

    /// Writes a worker's record (a new one, or a heartbeat over the old); it
    /// lives until its `expires_at` unless written again.
    async fn register_worker(&self, worker: &WorkerRecord) -> Result<()>;
    /// Deletes a worker's record, as a worker does when it stops; unknown
    /// names are not an error.
    async fn remove_worker(&self, name: &str) -> Result<()>;
    /// Workers whose record has not expired.
    async fn workers(&self, now: Timestamp) -> Result<Vec<WorkerRecord>>;

    /// Events after the given cursor (all retained events when `None`),
    /// oldest first.
    async fn events_after(&self, cursor: Option<&str>, limit: usize) -> Result<Vec<Event>>;

    /// The cursor of the newest event, to follow only what happens next.
    async fn last_event_id(&self) -> Result<Option<String>>;

    /// Waits until jobs may have become ready in these queues, or `max_wait`
    /// passes. Spurious wake-ups are allowed; missed ones are not (beyond
    /// `max_wait`). `claimed_at` is when the caller's last claim on these
    /// queues started (or now, if there was none): jobs that came after it
    /// may be ones that claim missed, so the wait returns at once. Taking
    /// it from the caller, as `wait_for_events` takes a cursor, makes a
    /// wake-up impossible to lose between the claim and this wait.
    async fn wait_for_jobs(
        &self,
        queues: &[QueueName],
        claimed_at: std::time::Instant,
        max_wait: Duration,
    ) -> Result<()>;

    /// Waits until events after the cursor `after` (any event when `None`)
    /// may exist, or `max_wait` passes. Taking the caller's cursor makes a
    /// wake-up impossible to lose between the caller's read and this wait.
    async fn wait_for_events(&self, after: Option<&str>, max_wait: Duration) -> Result<()>;
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::job::MAX_PROGRESS_DETAIL_BYTES;

    fn update(message: &str, detail: Option<serde_json::Value>) -> ProgressUpdate {
        ProgressUpdate {
            lease: LeaseRef {
                id: JobId::random(),
                token: LeaseToken(7),
            },
            progress: 0.5,
            message: Some(message.to_owned()),
            detail,
        }
    }

    #[test]
    fn a_progress_update_is_kept_without_nuls_and_with_a_small_object_only() {
        let fine = update("step\0 3", Some(json!({"step": 3})));
        let kept = fine.checked();
        assert_eq!(kept.message.as_deref(), Some("step 3"));
        assert_eq!(kept.detail, Some(json!({"step": 3})));

        let large = json!({ "text": "x".repeat(MAX_PROGRESS_DETAIL_BYTES) });
        for detail in [json!([1, 2]), json!("figures"), large] {
            let kept = update("step 3", Some(detail.clone())).checked();
            assert_eq!(kept.detail, None, "{detail}");
            assert_eq!(kept.message.as_deref(), Some("step 3"));
        }
        // The largest object kept: its compact JSON at the limit.
        let room = MAX_PROGRESS_DETAIL_BYTES - r#"{"t":""}"#.len();
        let at_limit = json!({ "t": "x".repeat(room) });
        assert_eq!(at_limit.to_string().len(), MAX_PROGRESS_DETAIL_BYTES);
        assert!(update("", Some(at_limit)).checked().detail.is_some());
    }
}
