//! The worker runtime: claims jobs, runs their handlers, records outcomes.
//!
//! # How it runs
//! One worker is a set of tokio tasks around a semaphore of `concurrency`
//! permits:
//! - the **claimer** takes as many ready jobs as there are free permits, in
//!   one backend call, and starts a job task for each;
//! - each **job task** runs the handler on a blocking-pool thread (handlers
//!   are synchronous and may be CPU-heavy: they never stall the runtime) and
//!   waits for whichever comes first: the handler's return, the job's
//!   timeout, or an interruption (cancel, lost lease, shutdown); its permit
//!   is freed when the handler returns, before the outcome is written (a
//!   handler that does not return keeps it);
//! - the **recorder** writes outcomes in batches (one transaction for all
//!   that finished meanwhile);
//! - the **heartbeat** renews every held lease, registers the worker, learns
//!   of cancellations and lost leases, flushes progress, and runs queue
//!   maintenance (promotion, lease reaping, TTL expiry) on a fixed interval.
//!
//! # Timeouts of handlers that never yield
//! A thread cannot be killed safely, so a timeout is enforced by a
//! watchdog: when the deadline passes, the job is failed with `timeout` at
//! once, whatever the handler is doing, and the handler is asked to stop.
//! If it has not returned `stuck_grace` later, the thread is declared stuck:
//! the worker stops claiming, lets its other jobs finish, and returns
//! [`WorkerExit::RestartNeeded`]. The `wjp worker` command then replaces its
//! own process (exec), which ends the stuck thread. Cancelling a running
//! job works the same way.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, Notify, OwnedSemaphorePermit, Semaphore};

use crate::backend::{ClaimRequest, LeaseRef, LeaseState, ProgressUpdate, WorkerRecord};
use crate::error::{QueueError, Result};
use crate::job::{ErrorKind, Job, JobError, JobId, Kind, QueueName, Timestamp};
use crate::queue::Queue;
use crate::state::{self, Transition};

/// Why a handler did not return a result.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HandlerError {
    #[error("{0}")]
    Failed(String),
    /// The payload is wrong; retrying cannot help.
    #[error("invalid payload: {0}")]
    InvalidPayload(String),
    /// The handler saw that its job was cancelled and stopped.
    #[error("cancelled")]
    Cancelled,
    /// The handler's code panicked somewhere the worker could not catch it
    /// (a handler that runs its work in a child process reports it so).
    #[error("the handler panicked: {0}")]
    Panicked(String),
}

impl HandlerError {
    /// The error recorded on the job.
    pub fn into_job_error(self) -> JobError {
        match self {
            HandlerError::Failed(m) => JobError::new(ErrorKind::HandlerError, m),
            HandlerError::InvalidPayload(m) => JobError::new(ErrorKind::InvalidPayload, m),
            HandlerError::Cancelled => JobError::new(ErrorKind::Cancelled, "cancelled"),
            HandlerError::Panicked(m) => {
                JobError::new(ErrorKind::Panic, format!("the handler panicked: {m}"))
            }
        }
    }
}

/// A job kind's implementation. Handlers run on their own thread and may
/// block; long ones should call [`JobContext::progress`] and check
/// [`JobContext::is_cancelled`] now and then.
pub trait Handler: Send + Sync + 'static {
    fn run(&self, ctx: &JobContext) -> std::result::Result<Value, HandlerError>;
}

impl<F> Handler for F
where
    F: Fn(&JobContext) -> std::result::Result<Value, HandlerError> + Send + Sync + 'static,
{
    fn run(&self, ctx: &JobContext) -> std::result::Result<Value, HandlerError> {
        self(ctx)
    }
}

/// Where a handler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Placement {
    /// On a blocking-pool thread, under the timeout watchdog: the default,
    /// and the only safe choice for anything that may take a while.
    Thread,
    /// On the async runtime, in the job's own task: no thread hand-off
    /// (two context switches per job, most of a trivial job's cost), but
    /// also no timeout and no cancellation while it runs.
    Inline,
}

#[derive(Clone)]
struct Registered {
    handler: Arc<dyn Handler>,
    placement: Placement,
}

/// Handlers by job kind.
#[derive(Clone, Default)]
pub struct Handlers {
    map: HashMap<Kind, Registered>,
}

impl Handlers {
    pub fn new() -> Self {
        Handlers::default()
    }

    pub fn add(&mut self, kind: &str, handler: impl Handler) -> Result<&mut Self> {
        self.insert(kind, handler, Placement::Thread)
    }

    /// Adds a handler that returns within microseconds and never blocks
    /// (no I/O, no locks held by others, no unbounded loops). It runs
    /// inline on the async runtime: a job's timeout cannot interrupt it,
    /// and a slow one stalls every other job of the worker. Anything else
    /// belongs in [`Handlers::add`].
    pub fn add_inline(&mut self, kind: &str, handler: impl Handler) -> Result<&mut Self> {
        self.insert(kind, handler, Placement::Inline)
    }

    fn insert(
        &mut self,
        kind: &str,
        handler: impl Handler,
        placement: Placement,
    ) -> Result<&mut Self> {
        let registered = Registered {
            handler: Arc::new(handler),
            placement,
        };
        self.map.insert(Kind::parse(kind)?, registered);
        Ok(self)
    }

    pub fn get(&self, kind: &Kind) -> Option<Arc<dyn Handler>> {
        self.map.get(kind).map(|r| r.handler.clone())
    }

    fn get_registered(&self, kind: &Kind) -> Option<Registered> {
        self.map.get(kind).cloned()
    }

    pub fn kinds(&self) -> impl Iterator<Item = &Kind> {
        self.map.keys()
    }
}

/// What a handler sees of its job, and how it talks back.
pub struct JobContext {
    job: Job,
    stop: Arc<AtomicBool>,
    progress: ProgressSlot,
}

impl JobContext {
    pub fn job(&self) -> &Job {
        &self.job
    }

    /// The payload as a typed value; an error names what does not fit.
    pub fn parse_payload<T: DeserializeOwned>(&self) -> std::result::Result<T, HandlerError> {
        serde_json::from_value(self.job.payload.clone())
            .map_err(|e| HandlerError::InvalidPayload(e.to_string()))
    }

    /// Whether the job was cancelled, timed out, or its worker is shutting
    /// down: the handler should stop soon.
    pub fn is_cancelled(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    pub fn check_cancelled(&self) -> std::result::Result<(), HandlerError> {
        if self.is_cancelled() {
            Err(HandlerError::Cancelled)
        } else {
            Ok(())
        }
    }

    /// Reports progress (clamped to 0..1). Cheap: the worker writes only the
    /// latest report, a few times a second.
    pub fn progress(&self, fraction: f64, message: impl Into<String>) {
        let fraction = if fraction.is_finite() {
            fraction.clamp(0.0, 1.0)
        } else {
            0.0
        };
        *self.progress.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((fraction, Some(message.into())));
    }

    /// Sleeps, waking early with [`HandlerError::Cancelled`] if the job is
    /// cancelled.
    pub fn sleep(&self, duration: Duration) -> std::result::Result<(), HandlerError> {
        let deadline = std::time::Instant::now() + duration;
        loop {
            self.check_cancelled()?;
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            std::thread::sleep(left.min(Duration::from_millis(20)));
        }
    }
}

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub name: String,
    pub queues: Vec<QueueName>,
    pub concurrency: usize,
    /// Exit when no job is ready and none is running.
    pub burst: bool,
    /// How long a claim holds a job without renewal.
    pub lease: Duration,
    /// How often leases are renewed and cancellations picked up.
    pub heartbeat: Duration,
    /// How often queue maintenance runs.
    pub maintenance: Duration,
    /// On shutdown, how long running jobs may take to finish before they are
    /// handed back to the queue.
    pub shutdown_grace: Duration,
    /// How long a timed-out or cancelled handler may take to return before
    /// its thread is declared stuck.
    pub stuck_grace: Duration,
    /// Longest idle wait between two looks for work.
    pub idle_wait: Duration,
}

impl WorkerConfig {
    pub fn new(name: impl Into<String>, queues: Vec<QueueName>) -> Self {
        WorkerConfig {
            name: name.into(),
            queues,
            concurrency: std::thread::available_parallelism().map_or(2, |n| n.get()),
            burst: false,
            lease: Duration::from_secs(30),
            heartbeat: Duration::from_secs(1),
            maintenance: Duration::from_secs(1),
            shutdown_grace: Duration::from_secs(30),
            stuck_grace: Duration::from_secs(2),
            idle_wait: Duration::from_millis(500),
        }
    }
}

/// Why [`Worker::run`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerExit {
    /// Burst mode: nothing left to do.
    Drained,
    /// The shutdown signal came; running jobs finished or were handed back.
    Shutdown,
    /// A handler thread would not stop after a timeout or cancel. The
    /// process must be replaced to end it (see the module docs).
    RestartNeeded,
}

/// Why a running job is being interrupted.
const INTERRUPT_NONE: u8 = 0;
const INTERRUPT_CANCEL: u8 = 1;
const INTERRUPT_LOST: u8 = 2;
const INTERRUPT_SHUTDOWN: u8 = 3;

struct RunningJob {
    lease: LeaseRef,
    stop: Arc<AtomicBool>,
    interrupt: Arc<AtomicU8>,
    wake: Arc<Notify>,
    progress: ProgressSlot,
}

impl RunningJob {
    fn interrupt(&self, why: u8) {
        // The first reason wins: a job cancelled and then lost stays cancelled.
        let _ = self.interrupt.compare_exchange(
            INTERRUPT_NONE,
            why,
            Ordering::SeqCst,
            Ordering::SeqCst,
        );
        self.stop.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }
}

/// The latest progress a handler reported, taken by the next flush.
type ProgressSlot = Arc<Mutex<Option<(f64, Option<String>)>>>;

type RunningMap = Arc<Mutex<HashMap<JobId, RunningJob>>>;

/// A claim sent to the backend and not yet answered.
type ClaimCall = tokio::task::JoinHandle<Result<Vec<Job>>>;

/// How long this worker's jobs have lately taken, to decide whether it may
/// claim jobs before it has slots for them.
///
/// A worker that claims only for free slots leaves the server idle while it
/// runs what it claimed, and itself idle while the server answers the next
/// claim: with jobs of microseconds, half of each is waiting. Claiming up
/// to `concurrency` more jobs keeps a claim in flight while the last one's
/// jobs run. It is fair only while jobs are short: a job claimed ahead
/// waits here, shown as running, until a slot frees; other workers cannot
/// take it. So a worker claims ahead only while the slowest of its recent
/// jobs ran under [`Pace::SHORT`] (less than a claim's round trip under
/// load), and stops at the first longer one.
#[derive(Default)]
struct Pace {
    /// The slowest recent run in µs, plus one, decaying by an eighth per
    /// job; 0 until a job has run.
    slowest_micros: std::sync::atomic::AtomicU64,
}

impl Pace {
    const SHORT: Duration = Duration::from_millis(1);

    fn record(&self, run: Duration) {
        let sample = u64::try_from(run.as_micros()).unwrap_or(u64::MAX - 1) + 1;
        let _ = self
            .slowest_micros
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
                Some(if old == 0 {
                    sample
                } else {
                    sample.max(old - old / 8)
                })
            });
    }

    /// How many jobs the worker may hold beyond its free slots.
    fn claim_ahead(&self, concurrency: usize) -> usize {
        let slowest = self.slowest_micros.load(Ordering::Relaxed);
        if slowest != 0 && slowest <= Self::SHORT.as_micros() as u64 {
            concurrency
        } else {
            0
        }
    }
}

struct Outcome {
    transition: Transition,
    written: oneshot::Sender<bool>,
}

/// A worker process's runtime.
pub struct Worker {
    queue: Queue,
    handlers: Handlers,
    config: WorkerConfig,
}

impl Worker {
    pub fn new(queue: Queue, handlers: Handlers, config: WorkerConfig) -> Result<Self> {
        if config.queues.is_empty() {
            return Err(QueueError::InvalidRequest(
                "a worker needs at least one queue".into(),
            ));
        }
        if config.concurrency == 0 || config.concurrency > 1024 {
            return Err(QueueError::InvalidRequest(format!(
                "concurrency must be between 1 and 1024, got {}",
                config.concurrency
            )));
        }
        if config.heartbeat * 2 >= config.lease {
            return Err(QueueError::InvalidRequest(format!(
                "the lease ({:?}) must be more than twice the heartbeat ({:?})",
                config.lease, config.heartbeat
            )));
        }
        Ok(Worker {
            queue,
            handlers,
            config,
        })
    }

    /// Runs until drained (burst), shut down, or a restart is needed.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<WorkerExit> {
        let Worker {
            queue,
            handlers,
            config,
        } = self;
        let config = Arc::new(config);
        let started_at = Timestamp::now();
        let host = hostname();
        refuse_duplicate_name(&queue, &config, &host).await?;

        let running: RunningMap = Arc::new(Mutex::new(HashMap::new()));
        let permits = Arc::new(Semaphore::new(config.concurrency));
        let restart_needed = Arc::new(AtomicBool::new(false));
        let (outcome_tx, outcome_rx) = mpsc::unbounded_channel::<Outcome>();

        let recorder = tokio::spawn(record_outcomes(queue.clone(), outcome_rx));
        let heartbeat_stop = Arc::new(Notify::new());
        let heartbeat = tokio::spawn(heartbeat_loop(
            queue.clone(),
            config.clone(),
            running.clone(),
            started_at,
            host.clone(),
            heartbeat_stop.clone(),
        ));
        tracing::info!(
            worker = %config.name,
            queues = ?config.queues.iter().map(|q| q.as_str()).collect::<Vec<_>>(),
            concurrency = config.concurrency,
            burst = config.burst,
            "worker started"
        );

        let mut shutdown = std::pin::pin!(shutdown);
        let mut job_tasks = tokio::task::JoinSet::new();
        let pace = Arc::new(Pace::default());
        let prepare = |job: Job| -> Option<JobRun> {
            // A backend returns jobs under a lease; one that breaks that
            // promise is reported, not obeyed.
            let Some(token) = job.state.lease_token else {
                tracing::error!(
                    job = %job.id,
                    "the backend returned a claimed job without a lease; it is left to lease expiry"
                );
                return None;
            };
            let entry = RunningJob {
                lease: LeaseRef {
                    id: job.id.clone(),
                    token,
                },
                stop: Arc::new(AtomicBool::new(false)),
                interrupt: Arc::new(AtomicU8::new(INTERRUPT_NONE)),
                wake: Arc::new(Notify::new()),
                progress: Arc::new(Mutex::new(None)),
            };
            let run = JobRun {
                stop: entry.stop.clone(),
                interrupt: entry.interrupt.clone(),
                wake: entry.wake.clone(),
                progress: entry.progress.clone(),
                handler: handlers.get_registered(&job.kind),
                job,
                config: config.clone(),
                outcomes: outcome_tx.clone(),
                running: running.clone(),
                restart_needed: restart_needed.clone(),
                pace: pace.clone(),
            };
            // In the running set from the claim on: the heartbeat renews its
            // lease and hears of its cancellation even before it starts.
            running
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(entry.lease.id.clone(), entry);
            Some(run)
        };
        // Jobs claimed and waiting for a slot (see `Pace`), the claim in
        // flight, and whether the last claim found the queues empty.
        let mut claimed_ahead: VecDeque<JobRun> = VecDeque::new();
        let mut claiming: Option<ClaimCall> = None;
        let mut queues_empty = false;
        // When the last claim started: the wait for jobs after a claim that
        // found none returns at once for jobs that came since.
        let mut last_claim_at = std::time::Instant::now();
        let exit = loop {
            if restart_needed.load(Ordering::SeqCst) {
                break WorkerExit::RestartNeeded;
            }
            if claiming.is_none() && !queues_empty {
                let room = (permits.available_permits() + pace.claim_ahead(config.concurrency))
                    .saturating_sub(claimed_ahead.len());
                if room > 0 {
                    let request = ClaimRequest {
                        queues: config.queues.clone(),
                        worker: config.name.clone(),
                        max: room,
                        lease: config.lease,
                        now: Timestamp::now(),
                    };
                    last_claim_at = std::time::Instant::now();
                    let queue = queue.clone();
                    claiming = Some(tokio::spawn(async move {
                        queue.backend().claim(&request).await
                    }));
                    // Let the claim reach the server before the jobs below
                    // run: on a one-thread runtime tasks run in the order
                    // they were woken, and a connection woken after a batch
                    // of job tasks would send the claim only once they had
                    // all run, leaving the server idle meanwhile.
                    tokio::task::yield_now().await;
                }
            }
            while !claimed_ahead.is_empty() {
                let Ok(slot) = permits.clone().try_acquire_owned() else {
                    break;
                };
                if let Some(run) = claimed_ahead.pop_front() {
                    job_tasks.spawn(run.execute(Some(slot)));
                }
            }
            while job_tasks.try_join_next().is_some() {}
            if claiming.is_none() && queues_empty && claimed_ahead.is_empty() {
                queues_empty = false;
                if config.burst && running.lock().unwrap_or_else(|p| p.into_inner()).is_empty() {
                    // Before calling the queues empty, move time along: due
                    // jobs and jobs of dead workers may be waiting for it.
                    match queue.maintain().await {
                        Ok(m) if m.promoted + m.requeued_lost > 0 => continue,
                        Ok(_) => break WorkerExit::Drained,
                        Err(e) => tracing::warn!(error = %e, "queue maintenance failed"),
                    }
                }
                tokio::select! {
                    r = queue.backend().wait_for_jobs(&config.queues, last_claim_at, config.idle_wait) => {
                        if let Err(e) = r {
                            tracing::warn!(error = %e, "waiting for jobs failed");
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                    }
                    _ = &mut shutdown => break WorkerExit::Shutdown,
                }
                continue;
            }
            tokio::select! {
                claimed = async {
                    match claiming.as_mut() {
                        Some(call) => call.await,
                        None => std::future::pending().await,
                    }
                }, if claiming.is_some() => {
                    claiming = None;
                    match claimed.unwrap_or_else(|e| Err(QueueError::Storage(format!("the claim task ended: {e}")))) {
                        Ok(jobs) => {
                            queues_empty = jobs.is_empty();
                            claimed_ahead.extend(jobs.into_iter().filter_map(prepare));
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "claiming failed; retrying shortly");
                            tokio::select! {
                                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                                _ = &mut shutdown => break WorkerExit::Shutdown,
                            }
                        }
                    }
                }
                // A slot freed: go round to fill it.
                permit = permits.clone().acquire_owned(), if claiming.is_none() || !claimed_ahead.is_empty() => {
                    // Only a closed semaphore refuses, and nothing closes
                    // this one; should that change, stop taking work rather
                    // than panic with jobs running.
                    if permit.is_err() {
                        break WorkerExit::Shutdown;
                    }
                }
                _ = &mut shutdown => break WorkerExit::Shutdown,
            }
        };

        // Jobs claimed but not started go back to the queue (a claim still
        // in flight is awaited: its jobs are leased to this worker).
        if let Some(call) = claiming.take() {
            if let Ok(Ok(jobs)) = call.await {
                claimed_ahead.extend(jobs.into_iter().filter_map(prepare));
            }
        }
        for run in claimed_ahead.drain(..) {
            run.interrupt.store(INTERRUPT_SHUTDOWN, Ordering::SeqCst);
            job_tasks.spawn(run.execute(None));
        }

        // Let running jobs finish within the grace period (a restart waits
        // for the healthy ones too), then hand back what is left.
        let grace = match exit {
            WorkerExit::Drained => Duration::MAX,
            _ => config.shutdown_grace,
        };
        if !running.lock().unwrap_or_else(|p| p.into_inner()).is_empty() {
            tracing::info!(grace = ?config.shutdown_grace, "waiting for running jobs");
        }
        let drained = tokio::time::timeout(grace, async {
            while job_tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            for job in running.lock().unwrap_or_else(|p| p.into_inner()).values() {
                job.interrupt(INTERRUPT_SHUTDOWN);
            }
            while job_tasks.join_next().await.is_some() {}
        }
        drop(outcome_tx);
        let _ = recorder.await;
        heartbeat_stop.notify_one();
        let _ = heartbeat.await;
        if let Err(e) = queue.backend().remove_worker(&config.name).await {
            tracing::warn!(error = %e, "could not remove the worker record; it will expire");
        }
        tracing::info!(worker = %config.name, ?exit, "worker stopped");
        Ok(exit)
    }
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
        })
        .unwrap_or_else(|| "localhost".into())
}

async fn refuse_duplicate_name(queue: &Queue, config: &WorkerConfig, host: &str) -> Result<()> {
    let me = std::process::id();
    for other in queue.workers().await? {
        if other.name == config.name && !(other.host == host && other.pid == me) {
            return Err(QueueError::InvalidRequest(format!(
                "worker name {:?} is in use by pid {} on {} (last heartbeat {}); \
                 choose another --name",
                config.name,
                other.pid,
                other.host,
                other.heartbeat_at.to_rfc3339()
            )));
        }
    }
    Ok(())
}

/// Everything one job task needs.
struct JobRun {
    job: Job,
    handler: Option<Registered>,
    stop: Arc<AtomicBool>,
    interrupt: Arc<AtomicU8>,
    wake: Arc<Notify>,
    progress: ProgressSlot,
    config: Arc<WorkerConfig>,
    outcomes: mpsc::UnboundedSender<Outcome>,
    running: RunningMap,
    restart_needed: Arc<AtomicBool>,
    pace: Arc<Pace>,
}

/// What the handler thread sends back: its return, or the panic message.
type HandlerReturn = std::result::Result<std::result::Result<Value, HandlerError>, String>;

fn ending_of(result: std::result::Result<HandlerReturn, oneshot::error::RecvError>) -> Ending {
    match result {
        Ok(Ok(returned)) => Ending::Returned(returned),
        Ok(Err(panic)) => Ending::Panicked(panic),
        Err(_) => Ending::Panicked("the handler thread vanished".into()),
    }
}

enum Ending {
    Returned(std::result::Result<Value, HandlerError>),
    Panicked(String),
    TimedOut,
    Interrupted,
}

impl JobRun {
    /// Runs the job and records its outcome. `slot` is its place among the
    /// worker's `concurrency`: freed as soon as the handler is done, since
    /// recording is the recorder's work and holding the slot through it
    /// would idle the worker for a round trip per job. A handler that has
    /// not returned keeps its slot until it does, or the worker restarts.
    /// A job claimed ahead and handed back unstarted has no slot.
    async fn execute(self, slot: Option<OwnedSemaphorePermit>) {
        let job = self.job.clone();
        let (ending, done_rx) = if self.interrupt.load(Ordering::SeqCst) != INTERRUPT_NONE {
            // Cancelled, taken over or shut down while it waited for a slot
            // (claimed ahead): it never starts.
            (Ending::Interrupted, None)
        } else {
            let Some(Registered { handler, placement }) = self.handler.clone() else {
                let error = JobError::new(
                    ErrorKind::NoHandler,
                    format!(
                        "worker {} has no handler for kind {}",
                        self.config.name, job.kind
                    ),
                );
                self.record(state::fail(&job, error, Timestamp::now()))
                    .await;
                return;
            };
            let ctx = JobContext {
                job: job.clone(),
                stop: self.stop.clone(),
                progress: self.progress.clone(),
            };
            let run = move || {
                std::panic::catch_unwind(AssertUnwindSafe(|| handler.run(&ctx)))
                    .map_err(panic_message)
            };
            let started = std::time::Instant::now();
            let (ending, done_rx) = match placement {
                Placement::Inline => (ending_of(Ok(run())), None),
                Placement::Thread => {
                    let (done_tx, mut done_rx) = oneshot::channel::<HandlerReturn>();
                    tokio::task::spawn_blocking(move || {
                        let _ = done_tx.send(run());
                    });
                    let deadline =
                        tokio::time::Instant::now() + Duration::from_millis(job.timeout_ms);
                    let ending = tokio::select! {
                        result = &mut done_rx => ending_of(result),
                        _ = tokio::time::sleep_until(deadline) => Ending::TimedOut,
                        _ = self.wake.notified() => Ending::Interrupted,
                    };
                    (ending, Some(done_rx))
                }
            };
            self.pace.record(started.elapsed());
            (ending, done_rx)
        };
        let handler_returned = matches!(ending, Ending::Returned(_) | Ending::Panicked(_));
        // Tell a handler that is still going to stop (it may not listen).
        self.stop.store(true, Ordering::SeqCst);
        let now = Timestamp::now();
        let interrupt = self.interrupt.load(Ordering::SeqCst);
        let transition = match (ending, interrupt) {
            // A lost lease means another worker owns the job now: whatever
            // this attempt produced is discarded.
            (_, INTERRUPT_LOST) => None,
            (Ending::Interrupted, INTERRUPT_SHUTDOWN) => Some(state::hand_back(&job, now)),
            (Ending::Interrupted, _) | (Ending::Returned(Err(HandlerError::Cancelled)), _) => {
                Some(state::cancelled_while_running(&job, now))
            }
            (Ending::Returned(Ok(value)), _) => Some(state::complete(&job, value, now)),
            (Ending::Returned(Err(error)), _) => {
                Some(state::fail(&job, error.into_job_error(), now))
            }
            (Ending::Panicked(message), _) => Some(state::fail(
                &job,
                JobError::new(ErrorKind::Panic, format!("the handler panicked: {message}")),
                now,
            )),
            (Ending::TimedOut, _) => Some(state::fail(
                &job,
                JobError::new(
                    ErrorKind::Timeout,
                    format!(
                        "ran longer than its timeout of {:.1} s",
                        job.timeout_ms as f64 / 1000.0
                    ),
                ),
                now,
            )),
        };
        let slot = if handler_returned {
            drop(slot);
            None
        } else {
            Some(slot)
        };
        if let Some(transition) = transition {
            self.record(transition).await;
        } else {
            tracing::warn!(job = %job.id, "lease lost; this attempt's outcome is discarded");
            self.forget();
        }
        if let (false, Some(done_rx)) = (handler_returned, done_rx) {
            self.await_stuck_handler(done_rx).await;
        }
        drop(slot);
    }

    /// After a timeout or interruption, gives the handler `stuck_grace` to
    /// return; if it does not, asks for the process to be replaced.
    async fn await_stuck_handler(&self, done_rx: oneshot::Receiver<HandlerReturn>) {
        if tokio::time::timeout(self.config.stuck_grace, done_rx)
            .await
            .is_err()
        {
            tracing::error!(
                job = %self.job.id,
                kind = %self.job.kind,
                "the handler did not stop {:?} after being told to; restarting the worker",
                self.config.stuck_grace
            );
            self.restart_needed.store(true, Ordering::SeqCst);
        }
    }

    async fn record(&self, transition: Transition) {
        let (written_tx, written_rx) = oneshot::channel();
        let status = transition.job.status();
        if self
            .outcomes
            .send(Outcome {
                transition,
                written: written_tx,
            })
            .is_ok()
        {
            match written_rx.await {
                Ok(true) => tracing::debug!(job = %self.job.id, %status, "recorded"),
                Ok(false) => tracing::warn!(
                    job = %self.job.id,
                    "the job changed under this worker (lease taken over or record gone); \
                     outcome discarded"
                ),
                Err(_) => tracing::error!(job = %self.job.id, "outcome could not be recorded"),
            }
        }
        self.forget();
    }

    fn forget(&self) {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.job.id);
    }
}

fn panic_message(panic: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-text payload".into()
    }
}

/// Writes outcomes in batches. A write that fails (backend unreachable) is
/// retried for up to a minute; after that the leases lapse and the jobs run
/// again elsewhere, so nothing is lost, only repeated.
async fn record_outcomes(queue: Queue, mut rx: mpsc::UnboundedReceiver<Outcome>) {
    const MAX_BATCH: usize = 512;
    while let Some(first) = rx.recv().await {
        // Let the claimer go first: the jobs whose outcomes arrive together
        // freed their slots together, and a claim sent before this batch's
        // write comes back while Redis is still writing the batch.
        tokio::task::yield_now().await;
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(outcome) => batch.push(outcome),
                Err(_) => break,
            }
        }
        let transitions: Vec<Transition> = batch.iter().map(|o| o.transition.clone()).collect();
        let mut delay = Duration::from_millis(50);
        let started = tokio::time::Instant::now();
        let applied = loop {
            match queue.backend().apply(transitions.clone()).await {
                Ok(applied) => break Some(applied),
                Err(e) if started.elapsed() < Duration::from_secs(60) => {
                    tracing::warn!(error = %e, "recording outcomes failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
                Err(e) => {
                    tracing::error!(error = %e, jobs = batch.len(), "giving up recording outcomes");
                    break None;
                }
            }
        };
        match applied {
            Some(applied) => {
                for (outcome, ok) in batch.into_iter().zip(applied) {
                    let _ = outcome.written.send(ok);
                }
            }
            None => drop(batch),
        }
    }
}

async fn heartbeat_loop(
    queue: Queue,
    config: Arc<WorkerConfig>,
    running: RunningMap,
    started_at: Timestamp,
    host: String,
    stop: Arc<Notify>,
) {
    let mut beat = tokio::time::interval(config.heartbeat);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut progress_tick = tokio::time::interval(Duration::from_millis(200));
    progress_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut maintain = tokio::time::interval(config.maintenance);
    maintain.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // While the backend was unreachable, every worker's leases may have run
    // out. Reaping waits until two heartbeats after the last failed one, so
    // that this worker and the others renewed theirs first; otherwise the
    // first pass after an outage fails healthy running jobs as lost.
    let mut reap_after: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            _ = stop.notified() => return,
            _ = beat.tick() => {
                if let Err(e) = renew(&queue, &config, &running, started_at, &host).await {
                    tracing::warn!(error = %e, "heartbeat failed");
                    reap_after = Some(tokio::time::Instant::now() + config.heartbeat * 2);
                }
            }
            _ = progress_tick.tick() => {
                if let Err(e) = flush_progress(&queue, &running).await {
                    tracing::warn!(error = %e, "progress update failed");
                }
            }
            _ = maintain.tick() => {
                if reap_after.is_some_and(|t| tokio::time::Instant::now() < t) {
                    continue;
                }
                if let Err(e) = queue.maintain().await {
                    tracing::warn!(error = %e, "queue maintenance failed");
                }
            }
        }
    }
}

async fn renew(
    queue: &Queue,
    config: &WorkerConfig,
    running: &RunningMap,
    started_at: Timestamp,
    host: &str,
) -> Result<()> {
    let leases: Vec<LeaseRef> = running
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .values()
        .map(|r| r.lease.clone())
        .collect();
    let now = Timestamp::now();
    let states = queue
        .backend()
        .renew_leases(&leases, now.plus_millis(config.lease.as_millis() as u64))
        .await?;
    {
        let map = running.lock().unwrap_or_else(|p| p.into_inner());
        for (lease, lease_state) in leases.iter().zip(states) {
            let Some(job) = map.get(&lease.id) else {
                continue;
            };
            match lease_state {
                LeaseState::Held {
                    cancel_requested: true,
                } => job.interrupt(INTERRUPT_CANCEL),
                LeaseState::Held { .. } => {}
                LeaseState::Lost => job.interrupt(INTERRUPT_LOST),
            }
        }
    }
    let record = WorkerRecord {
        name: config.name.clone(),
        host: host.to_owned(),
        pid: std::process::id(),
        queues: config.queues.iter().map(|q| q.to_string()).collect(),
        concurrency: config.concurrency,
        started_at,
        heartbeat_at: now,
        current_jobs: leases.iter().map(|l| l.id.to_string()).collect(),
        expires_at: now.plus_millis((config.heartbeat * 5).as_millis() as u64),
    };
    queue.backend().register_worker(&record).await
}

async fn flush_progress(queue: &Queue, running: &RunningMap) -> Result<()> {
    let updates: Vec<ProgressUpdate> = running
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .values()
        .filter_map(|r| {
            let (progress, message) = r
                .progress
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take()?;
            Some(ProgressUpdate {
                lease: r.lease.clone(),
                progress,
                message,
            })
        })
        .collect();
    queue.backend().set_progress(updates).await
}

/// Runs a job's handler at once, in this process, without storing anything:
/// for synchronous API requests, and for keeping clients served while the
/// backend is unreachable. The request is checked against the catalog as
/// an enqueue would be; the handler runs on the blocking pool, under the
/// job's timeout, with panics caught. Dropping the returned future (the
/// client went away) tells the handler to stop, as a cancel would.
pub async fn run_inline(
    queue: &Queue,
    handlers: &Handlers,
    request: crate::job::JobRequest,
) -> Result<std::result::Result<Value, JobError>> {
    let mut job = state::new_job(request, queue.catalog(), Timestamp::now())?;
    let handler = handlers
        .get(&job.kind)
        .ok_or_else(|| QueueError::UnknownKind {
            kind: job.kind.to_string(),
            known: handlers
                .kinds()
                .map(|k| k.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    job.state.attempt = 1;
    let timeout = Duration::from_millis(job.timeout_ms);
    let stop = Arc::new(AtomicBool::new(false));
    let _stop_when_dropped = StopOnDrop(stop.clone());
    let ctx = JobContext {
        job,
        stop: stop.clone(),
        progress: Arc::new(Mutex::new(None)),
    };
    let run = tokio::task::spawn_blocking(move || {
        std::panic::catch_unwind(AssertUnwindSafe(|| handler.run(&ctx))).map_err(panic_message)
    });
    let outcome = match tokio::time::timeout(timeout, run).await {
        Err(_) => {
            stop.store(true, Ordering::SeqCst);
            Err(JobError::new(
                ErrorKind::Timeout,
                format!(
                    "ran longer than its timeout of {:.1} s",
                    timeout.as_secs_f64()
                ),
            ))
        }
        Ok(Err(join)) => Err(JobError::new(ErrorKind::Panic, join.to_string())),
        Ok(Ok(Err(panic))) => Err(JobError::new(
            ErrorKind::Panic,
            format!("the handler panicked: {panic}"),
        )),
        Ok(Ok(Ok(Ok(value)))) => Ok(value),
        Ok(Ok(Ok(Err(e)))) => Err(e.into_job_error()),
    };
    Ok(outcome)
}

/// Tells an inline handler to stop when its caller stops waiting for it:
/// the work of a request nobody waits for is wasted, and may be large.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}
