//! The job state machine, written once for every backend.
//!
//! ```text
//!              delay > 0                      run_at reached
//!  enqueue ──────────────► scheduled ─────────────────────────┐
//!     │                        │ cancel                        ▼
//!     └───────────────────────►│──────────────────────────► queued ◄──── retry (by hand)
//!                              ▼                               │ claim       ▲
//!                          cancelled ◄── cancel ── running ◄───┘             │
//!                                                   │  │  │                  │
//!              completed ◄── handler returns Ok ────┘  │  └── lease expired, │
//!                                                      │      stalls left ───┘ (queued,
//!                                                      │      same attempt again)
//!   failed ◄── error, no attempts left (or not retryable); lease expired, no stalls left
//!   scheduled ◄── error, attempts left (run_at = now + backoff)
//!
//!                every parent completed (or ended, with run_anyway)
//!  enqueue ──► waiting ─────────────────────────────────────► queued (scheduled
//!  (after)        │                                            while a delay runs)
//!                 └── a parent failed or was cancelled, or cancel ──► cancelled
//!                     (error kind dependency_failed)
//! ```
//!
//! A running job that is cancelled ends `cancelled`, keeping the result its
//! handler answered on its way out if it gave one ([`cancelled_with_result`]:
//! an anytime search's best so far).
//!
//! A job made with `after` waits for its parents ([`settle_new`] decides
//! its first state from theirs, as the insert finds them). When a parent
//! ends, the backend applies [`parent_ended`] to each of its waiting
//! dependants in the same atomic step as the parent's end (SQLite), or in
//! a guarded step that follows it (Redis, whose queues live apart; see
//! ARCHITECTURE.md). A cancelled dependant is itself an ended parent: the
//! cascade goes on down the graph.
//!
//! Attempts and stalls are counted apart. An attempt is spent when the
//! handler fails (an error, a panic, a timeout); a stall when the worker
//! holding the job stops renewing its lease, which is what a worker killed
//! by the kernel, a redeploy or a reboot looks like from outside. Such a job
//! did nothing wrong, so it runs the same attempt again, up to
//! [`Job::max_stalls`] times; past that it fails with `lost_lease`, so a
//! job that kills every worker it touches stops somewhere.
//!
//! Every function here is pure: it takes the job as last read and returns the
//! job as it must become. A backend applies the result as a [`Transition`]:
//! atomically, and only if the stored job still matches [`Expect`] (same
//! status and, for a running job, the same lease token). That guard is what
//! makes concurrent workers, reapers and cancellers safe.

use std::time::Duration;

use serde_json::Value;

use crate::catalog::Catalog;
use crate::error::{QueueError, Result};
use crate::job::{
    ErrorKind, Job, JobError, JobId, JobRequest, JobState, LeaseToken, Status, Timestamp,
};

/// Largest payload accepted by default, as JSON text (`Quotas::max_payload_bytes`).
/// Jobs carry file paths and parameters, not files.
pub const MAX_PAYLOAD_BYTES: usize = 4 * 1024 * 1024;
/// Longest delay, TTL or timeout accepted: one year.
pub(crate) const MAX_SECONDS: f64 = 366.0 * 24.0 * 3600.0;
/// Longest wait between two retries.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// Most attempts any job may have, whatever a kind's caps say.
pub const MAX_ATTEMPTS: u32 = 100;
/// Most stalls any job may survive, whatever a kind's caps say.
pub const MAX_STALLS: u32 = 100;

/// What the stored job must still look like for a transition to apply.
#[derive(Debug, Clone, PartialEq)]
pub struct Expect {
    /// The status the job had when the transition was computed.
    pub status: Status,
    /// For a running job: the lease of the worker making the change.
    pub lease_token: Option<LeaseToken>,
}

/// A guarded change of one job: `job` is the whole job as it must become.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// The job after the change, to store whole.
    pub job: Job,
    /// The guard: the change applies only if the stored job still matches.
    pub expect: Expect,
}

impl Transition {
    fn from(current: &Job, next: JobState) -> Transition {
        Transition {
            expect: Expect {
                status: current.state.status,
                lease_token: current.state.lease_token,
            },
            job: Job {
                state: next,
                ..current.clone()
            },
        }
    }
}

fn seconds_to_ms(field: &str, seconds: Option<f64>, default: Duration) -> Result<u64> {
    match seconds {
        None => Ok(default.as_millis() as u64),
        Some(s) if s.is_finite() && (0.0..=MAX_SECONDS).contains(&s) => Ok((s * 1000.0) as u64),
        Some(s) => Err(QueueError::InvalidRequest(format!(
            "{field} must be between 0 and {MAX_SECONDS} seconds, got {s}"
        ))),
    }
}

/// Turns a client's request into a new job, filling defaults from the kind.
pub fn new_job(request: JobRequest, catalog: &Catalog, now: Timestamp) -> Result<Job> {
    let spec = catalog.kind(&request.kind)?;
    let queue = match &request.queue {
        Some(name) => catalog.queue(name)?,
        None => spec.queue.clone(),
    };
    let id = match &request.job_id {
        Some(id) => JobId::parse(id)?,
        None => JobId::random(),
    };
    catalog.quotas.check_payload(json_len(&request.payload))?;
    let max_attempts = request.max_attempts.unwrap_or(spec.max_attempts);
    let attempts_cap = spec.caps.max_attempts.min(MAX_ATTEMPTS);
    if !(1..=attempts_cap).contains(&max_attempts) {
        return Err(QueueError::InvalidRequest(format!(
            "max_attempts must be between 1 and {attempts_cap} for {} jobs, got {max_attempts}",
            spec.kind
        )));
    }
    let max_stalls = request.max_stalls.unwrap_or(spec.max_stalls);
    let stalls_cap = spec.caps.max_stalls.min(MAX_STALLS);
    if max_stalls > stalls_cap {
        return Err(QueueError::InvalidRequest(format!(
            "max_stalls must be between 0 and {stalls_cap} for {} jobs, got {max_stalls}",
            spec.kind
        )));
    }
    let timeout_ms = seconds_to_ms("timeout", request.timeout, spec.timeout)?;
    if timeout_ms == 0 {
        return Err(QueueError::InvalidRequest(
            "timeout must be more than 0 seconds".into(),
        ));
    }
    if timeout_ms > spec.caps.max_timeout.as_millis() as u64 {
        return Err(QueueError::InvalidRequest(format!(
            "timeout of {} jobs is at most {} seconds on this server, got {}",
            spec.kind,
            spec.caps.max_timeout.as_secs(),
            timeout_ms as f64 / 1000.0
        )));
    }
    let (unique_key, unique_until) = unique_of(&request, now)?;
    let reference = reference_of(&request)?;
    let group = match &request.group {
        Some(name) => Some(check_group(name)?.to_string()),
        None => None,
    };
    let after = parents_of(&request, &id, catalog.quotas.max_parents)?;
    let run_anyway = request.run_anyway;
    let payload = match &spec.check {
        Some(gate) => gate.check(
            request.payload,
            crate::catalog::Admission {
                parents: after.len(),
            },
        )?,
        None => request.payload,
    };
    let delay_ms = seconds_to_ms("delay", request.delay, Duration::ZERO)?;
    catalog.quotas.check_delay(delay_ms)?;
    let defaults = &catalog.defaults;
    let run_at = now.plus_millis(delay_ms);
    let status = if !after.is_empty() {
        Status::Waiting
    } else if delay_ms > 0 {
        Status::Scheduled
    } else {
        Status::Queued
    };
    Ok(Job {
        id,
        kind: spec.kind.clone(),
        queue,
        payload,
        priority: request.priority.unwrap_or(0),
        max_attempts,
        max_stalls,
        timeout_ms,
        result_ttl_ms: seconds_to_ms("result_ttl", request.result_ttl, defaults.result_ttl)?,
        failure_ttl_ms: seconds_to_ms("failure_ttl", request.failure_ttl, defaults.failure_ttl)?,
        backoff_ms: seconds_to_ms("backoff", request.backoff, defaults.backoff)?,
        created_at: now,
        reference,
        unique_key,
        unique_until,
        group,
        after,
        run_anyway,
        state: JobState {
            status,
            progress: None,
            progress_message: None,
            progress_detail: None,
            result: None,
            error: None,
            attempt: 0,
            stalls: 0,
            run_at,
            enqueued_at: (status == Status::Queued).then_some(now),
            started_at: None,
            completed_at: None,
            expires_at: None,
            worker: None,
            lease_token: None,
            lease_expires_at: None,
            cancel_requested: false,
        },
    })
}

/// A request's parents, checked: valid ids, at most `max`, none the job
/// itself; a parent named twice counts once.
fn parents_of(request: &JobRequest, id: &JobId, max: usize) -> Result<Vec<JobId>> {
    if request.run_anyway && request.after.is_empty() {
        return Err(QueueError::InvalidRequest(
            "run_anyway needs `after`: the parents to wait for".into(),
        ));
    }
    if request.after.len() > max {
        return Err(QueueError::InvalidRequest(format!(
            "`after` names {} jobs; a job may wait for at most {max} on this server \
             (--max-parents)",
            request.after.len()
        )));
    }
    let mut parents: Vec<JobId> = Vec::with_capacity(request.after.len());
    for text in &request.after {
        let parent = JobId::parse(text)?;
        if &parent == id {
            return Err(QueueError::InvalidRequest(format!(
                "job {id} cannot wait for itself (`after` names its own id)"
            )));
        }
        if !parents.contains(&parent) {
            parents.push(parent);
        }
    }
    Ok(parents)
}

/// How a parent ended, as its dependants learn it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParentEnd {
    /// It completed: one fewer to wait for.
    Completed,
    /// It failed for good, or was cancelled (`status` says which).
    Failed(Status),
    /// Its record is gone (purged, or expired before its dependant was
    /// stored): how it ended is unknown, so it counts as failed.
    Gone,
}

impl ParentEnd {
    /// The end of a parent in `status`; `None` while it has not ended.
    pub fn of(status: Status) -> Option<ParentEnd> {
        match status {
            Status::Completed => Some(ParentEnd::Completed),
            Status::Failed | Status::Cancelled => Some(ParentEnd::Failed(status)),
            _ => None,
        }
    }
}

/// A new dependant's first state, from its parents as its insert finds
/// them (`None`: no such job): still waiting for the parents that have
/// not ended (returned, to remember), released when none is left, or
/// cancelled with `dependency_failed` when one already failed (unless it
/// runs anyway). A parent that does not exist refuses the job.
pub fn settle_new(
    job: Job,
    parents: &[(JobId, Option<Status>)],
    now: Timestamp,
) -> Result<(Job, Vec<JobId>)> {
    if let Some((parent, _)) = parents.iter().find(|(_, status)| status.is_none()) {
        return Err(QueueError::UnknownParent {
            parent: parent.clone(),
        });
    }
    let live: Vec<JobId> = parents
        .iter()
        .filter(|(_, status)| status.is_some_and(|s| ParentEnd::of(s).is_none()))
        .map(|(id, _)| id.clone())
        .collect();
    // Failures first: one cancels the job whatever the others did.
    let mut ended: Vec<(&JobId, ParentEnd)> = parents
        .iter()
        .filter_map(|(id, status)| status.and_then(ParentEnd::of).map(|end| (id, end)))
        .collect();
    ended.sort_by_key(|(_, end)| *end == ParentEnd::Completed);
    let mut job = job;
    for (parent, end) in ended {
        if let Some(t) = parent_ended(&job, parent, end, live.len(), now) {
            job = t.job;
        }
        if job.status() != Status::Waiting {
            return Ok((job, Vec::new()));
        }
    }
    if live.is_empty() && job.status() == Status::Waiting {
        job = release(&job, now).job;
    }
    Ok((job, live))
}

/// What becomes of a waiting dependant when its parent `parent` ends as
/// `end`, with `left` of its parents still to end (this one not counted):
/// cancelled with `dependency_failed` when the parent did not complete
/// and the job does not run anyway; released when none is left; else
/// nothing (`None`), as for a job no longer waiting.
pub fn parent_ended(
    child: &Job,
    parent: &JobId,
    end: ParentEnd,
    left: usize,
    now: Timestamp,
) -> Option<Transition> {
    if child.status() != Status::Waiting {
        return None;
    }
    let failed = match end {
        ParentEnd::Completed => None,
        ParentEnd::Failed(status) => Some(format!("parent {parent} {status}")),
        ParentEnd::Gone => Some(format!("parent {parent} is gone (purged or expired)")),
    };
    match failed {
        Some(why) if !child.run_anyway => {
            let mut next = finished(child, Status::Cancelled, child.failure_ttl_ms, now);
            next.error = Some(JobError::new(
                ErrorKind::DependencyFailed,
                format!("{why}, so this job never ran"),
            ));
            Some(Transition::from(child, next))
        }
        _ if left == 0 => Some(release(child, now)),
        _ => None,
    }
}

/// A waiting dependant whose parents have all ended joins its queue, or
/// waits out what is left of its delay.
pub fn release(job: &Job, now: Timestamp) -> Transition {
    let mut next = job.state.clone();
    if job.state.run_at > now {
        next.status = Status::Scheduled;
    } else {
        next.status = Status::Queued;
        next.run_at = now;
        next.enqueued_at = Some(now);
    }
    Transition::from(job, next)
}

/// Longest fairness group name, in characters.
pub const MAX_GROUP_CHARS: usize = 64;

/// Checks a fairness group's name: 1 to [`MAX_GROUP_CHARS`] ASCII letters,
/// digits and `.`, `_`, `-`, `:`, `@`. The name becomes part of storage
/// keys (a Redis key per group), so it holds nothing that could end a key
/// or a field: no space, separator, brace or control character.
pub fn check_group(name: &str) -> Result<&str> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '@');
    if name.is_empty() || name.len() > MAX_GROUP_CHARS || !name.chars().all(allowed) {
        let shown: String = name.chars().take(40).collect();
        return Err(QueueError::InvalidRequest(format!(
            "group {shown:?} is not a group name: write 1 to {MAX_GROUP_CHARS} ASCII letters, \
             digits or . _ - : @ (a customer's or an order's short name)"
        )));
    }
    Ok(name)
}

/// Longest reference, in characters.
pub const MAX_REFERENCE_CHARS: usize = 200;

/// A request's reference, checked.
fn reference_of(request: &JobRequest) -> Result<Option<String>> {
    match &request.reference {
        Some(r)
            if r.is_empty()
                || r.chars().count() > MAX_REFERENCE_CHARS
                || r.chars().any(char::is_control) =>
        {
            Err(QueueError::InvalidRequest(format!(
                "reference must be 1 to {MAX_REFERENCE_CHARS} characters, none of them \
                 control characters"
            )))
        }
        r => Ok(r.clone()),
    }
}

/// Longest unique key, in characters.
pub const MAX_UNIQUE_KEY_CHARS: usize = 256;

/// A request's unique key and the end of its window, checked.
fn unique_of(request: &JobRequest, now: Timestamp) -> Result<(Option<String>, Option<Timestamp>)> {
    let Some(key) = &request.unique_key else {
        if request.unique_for.is_some() {
            return Err(QueueError::InvalidRequest(
                "unique_for needs a unique_key".into(),
            ));
        }
        return Ok((None, None));
    };
    if key.is_empty()
        || key.chars().count() > MAX_UNIQUE_KEY_CHARS
        || key.chars().any(char::is_control)
    {
        return Err(QueueError::InvalidRequest(format!(
            "unique_key must be 1 to {MAX_UNIQUE_KEY_CHARS} characters, none of them control \
             characters"
        )));
    }
    let until = match request.unique_for {
        Some(_) => Some(now.plus_millis(seconds_to_ms(
            "unique_for",
            request.unique_for,
            Duration::ZERO,
        )?)),
        None => None,
    };
    Ok((Some(key.clone()), until))
}

/// Whether `existing`, a job of the queue with the same unique key as a new
/// request, still holds the key at `now`: it waits or runs, or its
/// `unique_until` has not passed. If so, the enqueue returns it instead of
/// making a new job.
pub fn holds_unique_key(existing: &Job, now: Timestamp) -> bool {
    matches!(
        existing.status(),
        Status::Waiting | Status::Queued | Status::Scheduled | Status::Running
    ) || existing.unique_until.is_some_and(|until| now < until)
}

/// Whether enqueueing a new job under an existing job's id replaces it.
/// A job that is waiting, running or done is returned instead of duplicated;
/// a failed or cancelled one may be submitted afresh.
pub fn id_is_reusable(existing: &Job) -> bool {
    matches!(existing.status(), Status::Failed | Status::Cancelled)
}

/// Whether a job may be claimed now.
pub fn is_ready(job: &Job, now: Timestamp) -> bool {
    matches!(job.status(), Status::Queued | Status::Scheduled) && job.state.run_at <= now
}

/// A worker takes the job: it starts a new attempt under a fresh lease.
pub fn claim(job: &Job, worker: &str, lease: Duration, now: Timestamp) -> Transition {
    let mut next = job.state.clone();
    next.status = Status::Running;
    next.attempt = job.state.attempt + 1;
    next.started_at = Some(now);
    next.completed_at = None;
    next.enqueued_at = next.enqueued_at.or(Some(job.state.run_at));
    next.worker = Some(worker.to_owned());
    next.lease_token = Some(LeaseToken::random());
    next.lease_expires_at = Some(now.plus_millis(lease.as_millis() as u64));
    next.progress = Some(0.0);
    next.progress_message = None;
    next.progress_detail = None;
    next.error = None;
    next.cancel_requested = false;
    Transition::from(job, next)
}

fn finished(job: &Job, status: Status, ttl_ms: u64, now: Timestamp) -> JobState {
    let mut next = job.state.clone();
    next.status = status;
    next.completed_at = Some(now);
    next.expires_at = Some(now.plus_millis(ttl_ms));
    next.lease_token = None;
    next.lease_expires_at = None;
    next.cancel_requested = false;
    // Figures of a run in progress; an ended job's result tells the rest
    // (and whichever copy ends it, the worker's or the sweep's, agrees).
    next.progress_detail = None;
    next
}

/// The handler returned a result.
pub fn complete(job: &Job, result: Value, now: Timestamp) -> Transition {
    let mut next = finished(job, Status::Completed, job.result_ttl_ms, now);
    next.result = Some(result);
    next.error = None;
    next.progress = Some(1.0);
    Transition::from(job, next)
}

/// How long to wait before attempt `attempt + 1`: the job's backoff, doubled
/// for every attempt already made after the first, capped at an hour.
pub fn backoff_delay(job: &Job) -> Duration {
    let doublings = job.state.attempt.saturating_sub(1).min(20);
    let delay = job.backoff_ms.saturating_mul(1u64 << doublings);
    Duration::from_millis(delay).min(MAX_BACKOFF)
}

/// The attempt failed. With attempts left and a retryable error, the job is
/// scheduled again after its backoff; otherwise it joins the failed registry.
pub fn fail(job: &Job, error: JobError, now: Timestamp) -> Transition {
    let retry = error.kind.is_retryable() && job.state.attempt < job.max_attempts;
    let next = if retry {
        let mut next = job.state.clone();
        next.status = Status::Scheduled;
        next.run_at = now.plus_millis(backoff_delay(job).as_millis() as u64);
        next.enqueued_at = None;
        next.lease_token = None;
        next.lease_expires_at = None;
        next.cancel_requested = false;
        next.error = Some(error);
        next
    } else {
        let mut next = finished(job, Status::Failed, job.failure_ttl_ms, now);
        next.error = Some(error);
        next
    };
    Transition::from(job, next)
}

/// A waiting job (waiting for parents, queued or scheduled) is cancelled
/// before it runs.
pub fn cancel_waiting(job: &Job, now: Timestamp) -> Result<Transition> {
    if !matches!(
        job.status(),
        Status::Waiting | Status::Queued | Status::Scheduled
    ) {
        return Err(QueueError::InvalidTransition {
            id: job.id.clone(),
            status: job.status(),
            action: "cancel",
        });
    }
    let mut next = finished(job, Status::Cancelled, job.failure_ttl_ms, now);
    next.error = Some(JobError::new(
        ErrorKind::Cancelled,
        "cancelled before it ran",
    ));
    Ok(Transition::from(job, next))
}

/// The worker stopped a running job because it was cancelled.
pub fn cancelled_while_running(job: &Job, now: Timestamp) -> Transition {
    cancelled_with_result(job, None, now)
}

/// The worker stopped a running job because it was cancelled, and its
/// handler answered with what it had so far: the job ends `cancelled` and
/// keeps that result (kept as long as a failure is).
pub fn cancelled_with_result(job: &Job, result: Option<Value>, now: Timestamp) -> Transition {
    let mut next = finished(job, Status::Cancelled, job.failure_ttl_ms, now);
    next.error = Some(JobError::new(
        ErrorKind::Cancelled,
        "cancelled while running",
    ));
    next.result = result;
    Transition::from(job, next)
}

/// The worker holding the job stopped renewing its lease (it died or hung).
/// The job goes back to the queue to run the same attempt again, or fails
/// with `lost_lease` when it has no stalls left (see the top of this file).
pub fn lease_expired(job: &Job, now: Timestamp) -> Transition {
    if job.state.cancel_requested {
        return cancelled_while_running(job, now);
    }
    let worker = job.state.worker.as_deref().unwrap_or("unknown worker");
    let stalls = job.state.stalls + 1;
    if stalls <= job.max_stalls {
        let mut next = job.state.clone();
        next.status = Status::Queued;
        next.attempt = job.state.attempt.saturating_sub(1);
        next.stalls = stalls;
        next.run_at = now;
        next.enqueued_at = Some(now);
        next.lease_token = None;
        next.lease_expires_at = None;
        next.progress = None;
        next.progress_message = None;
        next.progress_detail = None;
        // Why it waits again shows until the attempt starts over.
        next.error = Some(JobError::new(
            ErrorKind::LostLease,
            format!(
                "worker {worker} stopped renewing its lease during attempt {}; \
                 put back to run again (stall {stalls} of {})",
                job.state.attempt, job.max_stalls
            ),
        ));
        Transition::from(job, next)
    } else {
        let mut next = finished(job, Status::Failed, job.failure_ttl_ms, now);
        next.stalls = stalls;
        next.error = Some(JobError::new(
            ErrorKind::LostLease,
            format!(
                "worker {worker} stopped renewing its lease during attempt {}, \
                 and the job had stalled {} times before (max_stalls {})",
                job.state.attempt, job.state.stalls, job.max_stalls
            ),
        ));
        Transition::from(job, next)
    }
}

/// A worker shutting down gives back a job it could not finish in time. The
/// attempt does not count: the job did nothing wrong.
pub fn hand_back(job: &Job, now: Timestamp) -> Transition {
    let mut next = job.state.clone();
    next.status = Status::Queued;
    next.attempt = job.state.attempt.saturating_sub(1);
    next.run_at = now;
    next.enqueued_at = Some(now);
    next.lease_token = None;
    next.lease_expires_at = None;
    next.progress = None;
    next.progress_message = None;
    next.progress_detail = None;
    Transition::from(job, next)
}

/// Someone asks for a failed or cancelled job to run again: it starts over
/// with all its attempts and stalls, and no error until its new run ends.
pub fn retry(job: &Job, now: Timestamp) -> Result<Transition> {
    if !matches!(job.status(), Status::Failed | Status::Cancelled) {
        return Err(QueueError::InvalidTransition {
            id: job.id.clone(),
            status: job.status(),
            action: "retry",
        });
    }
    let mut next = job.state.clone();
    next.status = Status::Queued;
    next.attempt = 0;
    next.stalls = 0;
    next.run_at = now;
    next.enqueued_at = Some(now);
    next.completed_at = None;
    next.expires_at = None;
    next.result = None;
    next.error = None;
    next.progress = None;
    next.progress_message = None;
    next.progress_detail = None;
    next.cancel_requested = false;
    Ok(Transition::from(job, next))
}

/// A scheduled job whose time has come joins its queue.
pub fn promote(job: &Job, now: Timestamp) -> Transition {
    let mut next = job.state.clone();
    next.status = Status::Queued;
    next.enqueued_at = Some(now);
    Transition::from(job, next)
}

/// The bytes of `value` as compact JSON (as `serde_json::to_string` writes
/// it), without building the text: how a payload is measured against its
/// quota, here and by the backends and the service's checks.
pub fn json_len(value: &Value) -> u64 {
    struct Count(u64);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len() as u64;
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing to a counter cannot fail, and a `Value` always serialises.
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn job(max_attempts: u32) -> Job {
        let mut catalog = Catalog::default();
        catalog.register("noop", "default", None).unwrap();
        let mut request = JobRequest::new("noop", json!({}));
        request.max_attempts = Some(max_attempts);
        request.backoff = Some(1.0);
        new_job(request, &catalog, Timestamp(1_000)).unwrap()
    }

    fn run(job: &Job, now: i64) -> Job {
        claim(job, "w1", Duration::from_secs(30), Timestamp(now)).job
    }

    #[test]
    fn a_failure_with_attempts_left_is_retried_after_a_doubling_backoff() {
        let j = run(&job(3), 1_000);
        let t = fail(
            &j,
            JobError::new(ErrorKind::HandlerError, "x"),
            Timestamp(2_000),
        );
        assert_eq!(t.job.status(), Status::Scheduled);
        assert_eq!(t.job.state.run_at, Timestamp(3_000));
        let j = run(&t.job, 3_000);
        assert_eq!(j.state.attempt, 2);
        let t = fail(&j, JobError::new(ErrorKind::Timeout, "x"), Timestamp(4_000));
        assert_eq!(t.job.state.run_at, Timestamp(6_000));
        let j = run(&t.job, 6_000);
        let t = fail(&j, JobError::new(ErrorKind::Panic, "x"), Timestamp(7_000));
        assert_eq!(t.job.status(), Status::Failed);
        assert!(t.job.state.expires_at.is_some());
    }

    #[test]
    fn an_invalid_payload_is_not_retried() {
        let j = run(&job(5), 1_000);
        let t = fail(
            &j,
            JobError::new(ErrorKind::InvalidPayload, "x"),
            Timestamp(2_000),
        );
        assert_eq!(t.job.status(), Status::Failed);
    }

    #[test]
    fn transitions_are_guarded_by_the_lease_of_the_running_attempt() {
        let j = run(&job(1), 1_000);
        let t = complete(&j, json!(1), Timestamp(2_000));
        assert_eq!(t.expect.status, Status::Running);
        assert_eq!(t.expect.lease_token, j.state.lease_token);
        assert!(t.job.state.lease_token.is_none());
    }

    #[test]
    fn a_stall_puts_the_same_attempt_back_until_the_stall_budget_is_spent() {
        let mut j = job(1);
        assert_eq!(j.max_stalls, 2);
        for stall in 1..=2 {
            let running = run(&j, 1_000);
            assert_eq!(running.state.attempt, 1);
            let t = lease_expired(&running, Timestamp(40_000));
            assert_eq!(t.job.status(), Status::Queued);
            assert_eq!(t.job.state.attempt, 0, "a stall spends no attempt");
            assert_eq!(t.job.state.stalls, stall);
            j = t.job;
        }
        let t = lease_expired(&run(&j, 80_000), Timestamp(120_000));
        assert_eq!(t.job.status(), Status::Failed);
        assert_eq!(t.job.state.stalls, 3);
        assert_eq!(t.job.state.error.unwrap().kind, ErrorKind::LostLease);
    }

    #[test]
    fn a_job_without_stall_budget_fails_on_its_first_stall() {
        let mut catalog = Catalog::default();
        catalog.register("noop", "default", None).unwrap();
        let mut request = JobRequest::new("noop", json!({}));
        request.max_stalls = Some(0);
        request.max_attempts = Some(3);
        let j = new_job(request, &catalog, Timestamp(1_000)).unwrap();
        let t = lease_expired(&run(&j, 1_000), Timestamp(40_000));
        assert_eq!(t.job.status(), Status::Failed);
    }

    #[test]
    fn a_retry_by_hand_starts_clean() {
        let j = run(&job(1), 1_000);
        let failed = fail(
            &j,
            JobError::new(ErrorKind::HandlerError, "x"),
            Timestamp(2_000),
        )
        .job;
        let again = retry(&failed, Timestamp(3_000)).unwrap().job;
        assert!(again.state.error.is_none());
        assert_eq!((again.state.attempt, again.state.stalls), (0, 0));
    }

    #[test]
    fn only_waiting_jobs_can_be_cancelled_directly_and_only_ended_ones_retried() {
        let j = job(1);
        assert!(retry(&j, Timestamp(1)).is_err());
        let running = run(&j, 1_000);
        assert!(cancel_waiting(&running, Timestamp(1)).is_err());
        let cancelled = cancel_waiting(&j, Timestamp(2_000)).unwrap().job;
        assert_eq!(cancelled.status(), Status::Cancelled);
        assert_eq!(
            retry(&cancelled, Timestamp(3_000)).unwrap().job.status(),
            Status::Queued
        );
    }
}
