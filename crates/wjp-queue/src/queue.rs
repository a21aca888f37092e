//! [`Queue`]: the engine's public API. The CLI and the HTTP API use this and
//! nothing underneath it.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::audit::{AuditPage, AuditQuery};
use crate::backend::{
    Backend, BackendInfo, Inserted, JobPage, JobQuery, Maintenance, QueueCounts, WorkerRecord,
};
use crate::catalog::Catalog;
use crate::error::{QueueError, Result};
use crate::event::Event;
use crate::job::{Job, JobId, JobRequest, QueueName, Status, Timestamp};
use crate::schedule::{self, Schedule, ScheduleRequest, Timing};
use crate::state;
use crate::stock::{self, StockItem};

/// How many jobs one maintenance pass moves at most per kind of work, so a
/// backlog is worked off in bounded steps.
const MAINTENANCE_BATCH: usize = 1000;

/// Logs a job taken back from a worker that stopped renewing its lease:
/// it runs again, it failed with `lost_lease` (attempts used up), or it
/// was being cancelled and is now cancelled.
fn log_taken_back(job: &Job, next: Status) {
    let worker = job.state.worker.as_deref().unwrap_or("?");
    let (attempt, max) = (job.state.attempt, job.max_attempts);
    let what = match next {
        Status::Queued => "the job is queued to run again",
        Status::Cancelled => "the job was being cancelled and is now cancelled",
        _ => "that was its last attempt: the job failed (lost_lease)",
    };
    tracing::warn!(
        kind = %job.kind,
        queue = %job.queue,
        job = %job.id,
        worker,
        attempt,
        max_attempts = max,
        status = %next,
        "job {} ({} on {}) taken back: worker {worker} stopped renewing its lease during \
         attempt {attempt} of {max}; {what}",
        job.id,
        job.kind,
        job.queue,
    );
}

/// The outcome of an enqueue.
#[derive(Debug, Clone, PartialEq)]
pub struct Enqueued {
    /// The job as stored: the new one, or the existing one with the same id
    /// (or holding the same unique key).
    pub job: Job,
    /// `false` when a job with the requested id already existed, or a job
    /// of the queue held the requested unique key, and was returned instead
    /// of creating a duplicate.
    pub created: bool,
}

/// What a cancel did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelOutcome {
    /// The job had not started; it is cancelled.
    Cancelled,
    /// The job is running; its worker has been told to stop it.
    Requested,
    /// The job had already ended; nothing changed.
    AlreadyEnded(Status),
}

/// A snapshot of the whole system for `wjp info` and the dashboard.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SystemInfo {
    /// Which backend is in use and where its data lives.
    pub backend: BackendInfo,
    /// Job counts by status for every configured queue.
    pub queues: Vec<QueueCounts>,
    /// The workers whose records have not expired.
    pub workers: Vec<WorkerRecord>,
}

/// How often a process trims the audit log (in its maintenance passes).
const AUDIT_TRIM_EVERY_MS: i64 = 60_000;

/// A handle on the queue system. Cheap to clone; share it freely.
#[derive(Clone)]
pub struct Queue {
    backend: Arc<dyn Backend>,
    catalog: Arc<Catalog>,
    /// When this handle's maintenance last trimmed the audit log (ms).
    audit_trimmed_at: Arc<AtomicI64>,
}

impl Queue {
    /// A queue system on `backend` that accepts the queues and kinds of
    /// `catalog`, under its defaults and quotas.
    pub fn new(backend: Arc<dyn Backend>, catalog: Catalog) -> Self {
        Queue {
            backend,
            catalog: Arc::new(catalog),
            audit_trimmed_at: Arc::new(AtomicI64::new(i64::MIN)),
        }
    }

    /// The storage driver underneath. The engine's own parts use it; the
    /// conformance tests reach it through the `testing` feature, to put a
    /// backend in states no public call makes. Programs use `Queue` only.
    #[cfg(not(feature = "testing"))]
    pub(crate) fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    /// The storage driver underneath, for the engine's conformance tests.
    #[cfg(feature = "testing")]
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    /// Which backend this is and where (for `wjp info`, `/queues`, health).
    pub fn backend_info(&self) -> crate::backend::BackendInfo {
        self.backend.info()
    }

    /// The queues, kinds, defaults and quotas this queue was built with.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Enqueues one job (the old `enqueue_job`). With a client-given id that
    /// exists and is waiting, running or completed, that job is returned.
    pub async fn enqueue(&self, request: JobRequest) -> Result<Enqueued> {
        let mut out = self.enqueue_batch(vec![request]).await?;
        out.pop()
            .ok_or_else(|| QueueError::Storage("backend returned no job for an insert".into()))
    }

    /// Enqueues many jobs in one atomic step. Every request is checked first:
    /// one bad request refuses the whole batch, naming its position. So is a
    /// batch that would take a queue past its waiting quotas
    /// (`Catalog::quotas`; `queue_full`), in the step that stores it.
    pub async fn enqueue_batch(&self, requests: Vec<JobRequest>) -> Result<Vec<Enqueued>> {
        let now = Timestamp::now();
        let mut jobs = Vec::with_capacity(requests.len());
        let origins: Vec<String> = requests
            .iter()
            .map(|r| r.origin.clone().unwrap_or_default())
            .collect();
        let single = requests.len() == 1;
        for (i, request) in requests.into_iter().enumerate() {
            match state::new_job(request, &self.catalog, now) {
                Ok(job) => jobs.push(job),
                Err(e) if single => return Err(e),
                Err(e) => {
                    return Err(QueueError::InBatch {
                        position: i + 1,
                        error: Box::new(e),
                    })
                }
            }
        }
        let inserted = self
            .backend
            .insert_recorded(jobs, &self.catalog.quotas, origins)
            .await?;
        Ok(inserted
            .into_iter()
            .map(|i| match i {
                Inserted::New(job) => Enqueued { job, created: true },
                Inserted::Existing(job) => Enqueued {
                    job,
                    created: false,
                },
            })
            .collect())
    }

    /// Submits a flow: a graph of jobs whose `after` name other nodes of
    /// the flow (see [`crate::flow`]). The whole flow is checked first
    /// (size, names, references, cycles, and each job as any enqueue
    /// checks it), then stored as one batch, parents first. The jobs come
    /// back in the order of the request's nodes.
    pub async fn submit_flow(&self, request: crate::FlowRequest) -> Result<Vec<crate::FlowJob>> {
        let order = crate::flow::order(&request, self.catalog.quotas.max_flow_jobs)?;
        let now = Timestamp::now();
        // Every node's job id first: children name their parents by it.
        let mut ids = Vec::with_capacity(request.jobs.len());
        for node in &request.jobs {
            ids.push(match &node.job.job_id {
                Some(id) => crate::JobId::parse(id)?.to_string(),
                None => crate::JobId::random().to_string(),
            });
        }
        let mut distinct = std::collections::HashSet::with_capacity(ids.len());
        if let Some(i) = ids.iter().position(|id| !distinct.insert(id.as_str())) {
            return Err(QueueError::InvalidFlow(format!(
                "node {:?} has the job_id of another node",
                request.jobs[i].name
            )));
        }
        let names: std::collections::HashMap<&str, usize> = request
            .jobs
            .iter()
            .enumerate()
            .map(|(i, node)| (node.name.as_str(), i))
            .collect();
        let mut jobs = Vec::with_capacity(order.len());
        // Who submitted each job, in the order they are stored, for the
        // audit log (as `enqueue_batch` records them).
        let origins: Vec<String> = order
            .iter()
            .map(|&i| request.jobs[i].job.origin.clone().unwrap_or_default())
            .collect();
        for &i in &order {
            let node = &request.jobs[i];
            let mut job = node.job.clone();
            job.job_id = Some(ids[i].clone());
            job.after = node
                .job
                .after
                .iter()
                .map(|name| match names.get(name.as_str()) {
                    Some(p) => ids[*p].clone(),
                    // A stored job's id (see `FlowNode`).
                    None => name.clone(),
                })
                .collect();
            let made = state::new_job(job, &self.catalog, now)
                .map_err(|e| QueueError::InvalidFlow(format!("node {:?}: {e}", node.name)))?;
            jobs.push(made);
        }
        let inserted = self
            .backend
            .insert_recorded(jobs, &self.catalog.quotas, origins)
            .await
            .map_err(|e| match e {
                QueueError::InBatch { error, .. }
                    if matches!(*error, QueueError::QueueFull { .. }) =>
                {
                    *error
                }
                QueueError::InBatch { position, error } => match order.get(position - 1) {
                    Some(&i) => {
                        QueueError::InvalidFlow(format!("node {:?}: {error}", request.jobs[i].name))
                    }
                    None => *error,
                },
                // A flow of one node: its refusal is not in a batch.
                e if order.len() == 1
                    && e.is_client_error()
                    && !matches!(e, QueueError::QueueFull { .. }) =>
                {
                    QueueError::InvalidFlow(format!("node {:?}: {e}", request.jobs[order[0]].name))
                }
                e => e,
            })?;
        let mut out: Vec<Option<crate::FlowJob>> = vec![None; request.jobs.len()];
        for (&i, stored) in order.iter().zip(inserted) {
            let (job, created) = match stored {
                Inserted::New(job) => (job, true),
                Inserted::Existing(job) => (job, false),
            };
            out[i] = Some(crate::FlowJob {
                name: request.jobs[i].name.clone(),
                job,
                created,
            });
        }
        out.into_iter()
            .map(|o| {
                o.ok_or_else(|| QueueError::Storage("backend returned no job for a node".into()))
            })
            .collect()
    }

    /// A job by id (the old `get_job_status`); `None` if unknown or expired.
    pub async fn job(&self, id: &JobId) -> Result<Option<Job>> {
        self.backend.get(id).await
    }

    /// Cancels a job: a waiting one at once, a running one by telling its
    /// worker to stop it (it ends `cancelled` within a few seconds).
    pub async fn cancel(&self, id: &JobId) -> Result<CancelOutcome> {
        // The job may change between reading and writing (a worker claims
        // it, say): retry on a lost race, a few times at most.
        for _ in 0..5 {
            let job = self
                .backend
                .get(id)
                .await?
                .ok_or_else(|| QueueError::NotFound(id.clone()))?;
            match job.status() {
                Status::Waiting | Status::Queued | Status::Scheduled => {
                    let t = state::cancel_waiting(&job, Timestamp::now())?;
                    if self.backend.apply(vec![t]).await?.first() == Some(&true) {
                        return Ok(CancelOutcome::Cancelled);
                    }
                }
                Status::Running => {
                    if self.backend.request_cancel(id).await? {
                        return Ok(CancelOutcome::Requested);
                    }
                }
                ended => return Ok(CancelOutcome::AlreadyEnded(ended)),
            }
        }
        Err(QueueError::Unavailable(format!(
            "job {id} kept changing while being cancelled; try again"
        )))
    }

    /// Runs a failed or cancelled job again, with all its attempts.
    pub async fn retry(&self, id: &JobId) -> Result<Job> {
        let job = self
            .backend
            .get(id)
            .await?
            .ok_or_else(|| QueueError::NotFound(id.clone()))?;
        let t = state::retry(&job, Timestamp::now())?;
        let next = t.job.clone();
        if self.backend.apply(vec![t]).await?.first() == Some(&true) {
            Ok(next)
        } else {
            Err(QueueError::InvalidTransition {
                id: id.clone(),
                status: job.status(),
                action: "retry (it changed meanwhile)",
            })
        }
    }

    /// Runs again every failed job of `queue` (at most `limit`, newest
    /// first, in guarded batches): what an operator does once the cause of
    /// a run of failures is fixed. The number of jobs queued again; a job
    /// that changed meanwhile (retried by someone else, expired) is left.
    pub async fn retry_failed(&self, queue: &str, limit: usize) -> Result<u64> {
        let now = Timestamp::now();
        let failed = self.failed_jobs(Some(queue), limit).await?;
        let transitions: Vec<_> = failed
            .iter()
            .filter_map(|job| state::retry(job, now).ok())
            .collect();
        let applied = self.backend.apply(transitions).await?;
        Ok(applied.iter().filter(|a| **a).count() as u64)
    }

    /// Jobs waiting in a queue, ready or scheduled (the old `get_queue_length`).
    pub async fn queue_length(&self, queue: &str) -> Result<u64> {
        let queue = self.catalog.queue(queue)?;
        let counts = self.backend.counts(std::slice::from_ref(&queue)).await?;
        Ok(counts.first().map_or(0, |c| c.queued + c.scheduled))
    }

    /// The failed registry, newest first (the old `get_failed_jobs`).
    pub async fn failed_jobs(&self, queue: Option<&str>, limit: usize) -> Result<Vec<Job>> {
        let queue = queue.map(|q| self.catalog.queue(q)).transpose()?;
        Ok(self
            .list(JobQuery {
                queue,
                status: Some(Status::Failed),
                kind: None,
                limit,
                cursor: None,
            })
            .await?
            .jobs)
    }

    /// Whether the backend answers (the old `is_redis_available`).
    pub async fn is_available(&self) -> bool {
        matches!(
            tokio::time::timeout(Duration::from_secs(2), self.backend.ping()).await,
            Ok(Ok(()))
        )
    }

    /// One page of jobs matching `query`, newest first; pass the page's
    /// `next_cursor` back in the query for the next one.
    pub async fn list(&self, query: JobQuery) -> Result<JobPage> {
        self.backend.list(&query).await
    }

    /// Job counts by status for every configured queue, in catalog order.
    pub async fn counts(&self) -> Result<Vec<QueueCounts>> {
        self.backend.counts(self.catalog.queues()).await
    }

    /// The workers whose last heartbeat has not expired.
    pub async fn workers(&self) -> Result<Vec<WorkerRecord>> {
        self.backend.workers(Timestamp::now()).await
    }

    /// Why `job` waits, from its queue's state and the live workers'
    /// records; `None` when it does not wait. A snapshot: workers come and
    /// go.
    pub async fn why_waiting(&self, job: &Job) -> Result<Option<crate::WaitReason>> {
        if job.status() == Status::Waiting {
            let mut waiting_for = Vec::new();
            for parent in &job.after {
                let ended = self
                    .backend
                    .get(parent)
                    .await?
                    .is_none_or(|p| p.status().is_terminal());
                if !ended {
                    waiting_for.push(parent.to_string());
                }
            }
            return Ok(Some(crate::WaitReason::Parents { waiting_for }));
        }
        if !matches!(job.status(), Status::Queued | Status::Scheduled) {
            return Ok(None);
        }
        let now = Timestamp::now();
        let counts = self
            .backend
            .counts(std::slice::from_ref(&job.queue))
            .await?;
        let workers = self.backend.workers(now).await?;
        let capped = counts
            .first()
            .is_some_and(|q| q.limits.per_group_max_running.is_some());
        let group_running = match (&job.group, capped) {
            (Some(group), true) => Some(self.running_in_group(&job.queue, group).await?),
            _ => None,
        };
        Ok(crate::waiting::why_waiting(
            job,
            counts.first(),
            group_running,
            &workers,
            now,
        ))
    }

    /// How many jobs of `group` run in `queue` now (the running jobs are
    /// few: at most the workers' slots).
    async fn running_in_group(&self, queue: &QueueName, group: &str) -> Result<u64> {
        let mut query = crate::backend::JobQuery {
            queue: Some(queue.clone()),
            status: Some(Status::Running),
            kind: None,
            limit: 500,
            cursor: None,
        };
        let mut n = 0;
        loop {
            let page = self.backend.list(&query).await?;
            n += page
                .jobs
                .iter()
                .filter(|j| j.group.as_deref() == Some(group))
                .count() as u64;
            match page.next_cursor {
                Some(cursor) => query.cursor = Some(cursor),
                None => return Ok(n),
            }
        }
    }

    /// Sets a queue's limits: at most `max_running` of its jobs running at
    /// once, across every worker on every machine, and at most `rate`
    /// claims of them per second or minute. Both are applied in each
    /// claim's own atomic step; jobs over them stay queued.
    /// `QueueLimits::default()` clears them.
    pub async fn set_limits(&self, queue: &str, limits: crate::QueueLimits) -> Result<()> {
        let queue = self.catalog.queue(queue)?;
        limits.check()?;
        self.backend.set_limits(&queue, limits).await
    }

    /// Every queue's limits, in the catalog's order (queues without any
    /// included).
    pub async fn limits(&self) -> Result<Vec<(String, crate::QueueLimits)>> {
        Ok(self
            .counts()
            .await?
            .into_iter()
            .map(|c| (c.name, c.limits))
            .collect())
    }

    /// Pauses a queue: it still takes jobs, and its running jobs go on,
    /// but no worker claims from it until [`Queue::resume`]. Whether it was
    /// running before.
    pub async fn pause(&self, queue: &str) -> Result<bool> {
        let queue = self.catalog.queue(queue)?;
        self.backend.set_paused(&queue, true).await
    }

    /// Resumes a paused queue; its ready jobs are claimed at once. Whether
    /// it was paused before.
    pub async fn resume(&self, queue: &str) -> Result<bool> {
        let queue = self.catalog.queue(queue)?;
        self.backend.set_paused(&queue, false).await
    }

    /// The backend, the counts of every queue and the live workers, in one
    /// snapshot (three backend calls, not one atomic read).
    pub async fn info(&self) -> Result<SystemInfo> {
        Ok(SystemInfo {
            backend: self.backend.info(),
            queues: self.counts().await?,
            workers: self.workers().await?,
        })
    }

    /// Deletes the jobs of a queue in a status. Running jobs belong to their
    /// workers and cannot be purged.
    pub async fn purge(&self, queue: &str, status: Status) -> Result<u64> {
        let queue = self.catalog.queue(queue)?;
        if status == Status::Running {
            return Err(QueueError::InvalidRequest(
                "running jobs cannot be purged; cancel them instead".into(),
            ));
        }
        if status == Status::Waiting {
            return Err(QueueError::InvalidRequest(
                "jobs waiting for their parents cannot be purged; cancel them instead".into(),
            ));
        }
        self.backend.purge(&queue, status).await
    }

    /// Events after `cursor` (the oldest retained when `None`).
    pub async fn events_after(&self, cursor: Option<&str>, limit: usize) -> Result<Vec<Event>> {
        self.backend.events_after(cursor, limit).await
    }

    /// The id of the newest event: follow from here to see only new events.
    pub async fn last_event_id(&self) -> Result<Option<String>> {
        self.backend.last_event_id().await
    }

    /// Waits for the next events after `cursor`, up to `max_wait`; returns
    /// an empty list when none came.
    pub async fn next_events(
        &self,
        cursor: Option<&str>,
        limit: usize,
        max_wait: Duration,
    ) -> Result<Vec<Event>> {
        let deadline = tokio::time::Instant::now() + max_wait;
        loop {
            let events = self.backend.events_after(cursor, limit).await?;
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if !events.is_empty() || left.is_zero() {
                return Ok(events);
            }
            self.backend.wait_for_events(cursor, left).await?;
        }
    }

    /// Moves time-driven transitions along: promotes due scheduled jobs,
    /// takes back jobs whose worker stopped renewing its lease, deletes
    /// records past their TTL, and makes the jobs of schedules whose tick
    /// has come. Every worker runs this on a fixed interval;
    /// running it from several processes at once is safe (guarded writes).
    pub async fn maintain(&self) -> Result<Maintenance> {
        self.maintain_at(Timestamp::now()).await
    }

    /// [`Queue::maintain`] with the clock given: time-driven transitions
    /// and schedule ticks as they stand at `now` (for tests and tools that
    /// must not depend on when a pass happens to run).
    pub async fn maintain_at(&self, now: Timestamp) -> Result<Maintenance> {
        let mut report = Maintenance::default();

        let due = self.backend.due_scheduled(now, MAINTENANCE_BATCH).await?;
        let applied = self
            .backend
            .apply(due.iter().map(|job| state::promote(job, now)).collect())
            .await?;
        report.promoted = applied.iter().filter(|a| **a).count() as u64;

        let lost = self.backend.expired_leases(now, MAINTENANCE_BATCH).await?;
        let transitions: Vec<_> = lost
            .iter()
            .map(|job| state::lease_expired(job, now))
            .collect();
        let outcomes: Vec<Status> = transitions.iter().map(|t| t.job.status()).collect();
        let applied = self.backend.apply(transitions).await?;
        for ((job, status), applied) in lost.iter().zip(outcomes).zip(applied) {
            // Only the pass whose write landed logs: several workers run
            // maintenance at once, and each job is taken back once.
            if !applied {
                continue;
            }
            if status == Status::Queued {
                report.requeued_lost += 1;
            } else {
                report.failed_lost += 1;
            }
            log_taken_back(job, status);
        }
        report.dependants_settled = self.backend.settle_dependants(now).await?;
        report.expired_deleted = self.backend.delete_expired(now).await?;
        self.trim_audit_when_due(now).await?;
        // Last, so a schedule's trouble never holds up the jobs' upkeep.
        report.scheduled = self.run_schedules(now).await?;
        Ok(report)
    }

    /// Adds a schedule, or replaces the one of the same name (its next
    /// tick counted afresh from now). Everything is checked first: the
    /// name, the timing, and the job it would make, through the same check
    /// as every enqueue (kind, queue, payload, caps); and a new name only
    /// while fewer than [`schedule::MAX_SCHEDULES`] exist.
    pub async fn add_schedule(&self, request: ScheduleRequest) -> Result<Schedule> {
        schedule::check_name(&request.name)?;
        let timing = Timing::from_request(&request)?;
        let now = Timestamp::now();
        let mut dry_run = JobRequest::new(&request.kind, request.payload.clone());
        dry_run.queue = request.queue.clone();
        dry_run.job_id = Some(schedule::tick_job_id(&request.name, now));
        let job = state::new_job(dry_run, &self.catalog, now)?;
        let existing = self.backend.schedules().await?;
        if existing.len() >= schedule::MAX_SCHEDULES
            && !existing.iter().any(|s| s.name == request.name)
        {
            return Err(QueueError::InvalidRequest(format!(
                "there are already {} schedules, the most a system holds; remove one first \
                 (`wjp schedule list` shows them)",
                existing.len()
            )));
        }
        let schedule = Schedule {
            name: request.name,
            kind: job.kind.to_string(),
            queue: job.queue.to_string(),
            payload: request.payload,
            next_run: timing.next_after(now)?,
            timing,
            skip_missed: request.skip_missed,
            last_job: None,
        };
        self.backend.put_schedule(&schedule).await?;
        Ok(schedule)
    }

    /// Every schedule, by name.
    pub async fn schedules(&self) -> Result<Vec<Schedule>> {
        self.backend.schedules().await
    }

    /// Removes a schedule: it makes no more jobs (those it made stay).
    /// Whether it existed.
    pub async fn remove_schedule(&self, name: &str) -> Result<bool> {
        schedule::check_name(name)?;
        self.backend.remove_schedule(name).await
    }

    /// Adds an item to a stock pool ([`crate::stock`]) unless the pool holds
    /// `max_items` already or the id is taken; whether it was added.
    pub async fn stock_add(
        &self,
        pool: &str,
        id: &str,
        body: &str,
        max_items: usize,
    ) -> Result<bool> {
        stock::check_name("pool", pool)?;
        stock::check_name("item", id)?;
        stock::check_body(body)?;
        self.backend.stock_add(pool, id, body, max_items).await
    }

    /// Every item of a stock pool, by id, with its hold if any.
    pub async fn stock(&self, pool: &str) -> Result<Vec<StockItem>> {
        stock::check_name("pool", pool)?;
        self.backend.stock_items(pool).await
    }

    /// Takes for `holder`, for `hold`, each of `ids` that is free, in one
    /// atomic step: of callers asking for the same item at once, on any
    /// machine, one gets it. The ids taken.
    pub async fn stock_take(
        &self,
        pool: &str,
        ids: &[String],
        holder: &str,
        hold: Duration,
    ) -> Result<Vec<String>> {
        stock::check_name("pool", pool)?;
        stock::check_ids(ids)?;
        stock::check_holder(holder)?;
        let now = Timestamp::now();
        let until = now.plus_millis(u64::try_from(hold.as_millis()).unwrap_or(u64::MAX));
        self.backend.stock_take(pool, ids, holder, until, now).await
    }

    /// Of the items `holder` holds, deletes `used` and gives `released`
    /// back, in one atomic step.
    pub async fn stock_settle(
        &self,
        pool: &str,
        holder: &str,
        used: &[String],
        released: &[String],
    ) -> Result<()> {
        stock::check_name("pool", pool)?;
        stock::check_ids(used)?;
        stock::check_ids(released)?;
        stock::check_holder(holder)?;
        self.backend
            .stock_settle(pool, holder, used, released)
            .await
    }

    /// Deletes an item of a stock pool, held or not; whether it existed.
    pub async fn stock_remove(&self, pool: &str, id: &str) -> Result<bool> {
        stock::check_name("pool", pool)?;
        stock::check_name("item", id)?;
        self.backend.stock_remove(pool, id).await
    }

    /// Makes the jobs of the schedules whose tick has come at `now`, one
    /// per tick however many passes run at once (see [`crate::schedule`]);
    /// how many this pass made.
    async fn run_schedules(&self, now: Timestamp) -> Result<u64> {
        let mut made = 0;
        for current in self.backend.schedules().await? {
            let due = match schedule::due(&current, now) {
                Ok(Some(due)) => due,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(schedule = %current.name, "schedule {} cannot tick: {e}", current.name);
                    continue;
                }
            };
            let mut advanced = current.clone();
            advanced.next_run = due.next;
            if let Some(tick) = due.tick {
                let mut request = schedule::tick_request(&current, tick);
                request.origin = Some(format!("schedule {}", current.name));
                match self.enqueue(request).await {
                    Ok(enqueued) => {
                        made += u64::from(enqueued.created);
                        advanced.last_job = Some(enqueued.job.id.to_string());
                    }
                    // The store or the queue's room: try the tick again on
                    // the next pass.
                    Err(e @ (QueueError::Unavailable(_) | QueueError::Storage(_))) => {
                        return Err(e)
                    }
                    Err(e @ QueueError::QueueFull { .. }) => {
                        tracing::warn!(schedule = %current.name, "schedule {} waits: {e}", current.name);
                        continue;
                    }
                    // The catalog changed under the schedule: this tick
                    // cannot be made; say so and go on to the next.
                    Err(e) => {
                        tracing::warn!(schedule = %current.name, "schedule {} skipped a tick: {e}", current.name);
                    }
                }
            } else {
                tracing::info!(schedule = %current.name, "schedule {} skipped a missed tick", current.name);
            }
            self.backend
                .advance_schedule(&advanced, current.next_run)
                .await?;
        }
        Ok(made)
    }

    /// Trims the audit log to the catalog's retention, once a minute per
    /// handle at most: its age limit moves slowly, and its count limit is
    /// a bound, not a figure to hold to the entry.
    async fn trim_audit_when_due(&self, now: Timestamp) -> Result<()> {
        let last = self.audit_trimmed_at.load(Ordering::Relaxed);
        if now.0.saturating_sub(last) < AUDIT_TRIM_EVERY_MS {
            return Ok(());
        }
        self.audit_trimmed_at.store(now.0, Ordering::Relaxed);
        self.backend.trim_audit(now, &self.catalog.history).await?;
        Ok(())
    }

    /// One page of the audit log, newest first (see [`crate::audit`]): the
    /// life of jobs, kept after their records expired.
    pub async fn history(&self, query: &AuditQuery) -> Result<AuditPage> {
        query.check()?;
        self.backend.audit_entries(query).await
    }

    /// Deletes a queue's audit entries (`wjp bench` deletes what it made).
    pub async fn forget_history(&self, queue: &str) -> Result<()> {
        let queue = self.catalog.queue(queue)?;
        self.backend.forget_audit(&queue).await
    }

    /// Validates a queue list such as `analysis,conversion`.
    pub fn parse_queues(&self, list: &str) -> Result<Vec<QueueName>> {
        self.catalog.parse_queue_list(list)
    }
}
