//! The worker runtime: claims jobs, runs their handlers, records outcomes.
//!
//! # How it runs
//! One worker is a set of tokio tasks around a semaphore of `concurrency`
//! permits (its slots):
//! - the **claimer** (`claimer.rs`) takes as many ready jobs as there are
//!   free permits, in one backend call, and starts a job task for each;
//!   while recent jobs were short (`pace.rs`) it claims ahead of its free
//!   slots, so the next jobs are at hand when slots free;
//! - each **job task** (`job_task.rs`) runs the handler on a blocking-pool
//!   thread (handlers are synchronous and may be CPU-heavy: they never
//!   stall the runtime) and waits for whichever comes first: the handler's
//!   return, the job's timeout, or an interruption (cancel, lost lease,
//!   shutdown); its permit is freed when the handler returns, before the
//!   outcome is written (a handler that does not return keeps it);
//! - the **recorder** (`recorder.rs`) writes outcomes in batches (one
//!   transaction for all that finished meanwhile);
//! - the **heartbeat** (`heartbeat.rs`) renews every held lease, registers
//!   the worker, learns of cancellations and lost leases, flushes progress,
//!   and runs queue maintenance (promotion, lease reaping, TTL expiry) on a
//!   fixed interval.
//!
//! A claimed job is in the running set (`running.rs`) from its claim until
//! its outcome is written: the heartbeat renews its lease all that time,
//! and interrupts it through its signals. `handler.rs` holds what programs
//! register and what a handler sees; [`run_inline`] runs a handler at once,
//! without the queue.
//!
//! [`Worker::run`] starts the recorder and the heartbeat, runs the claimer
//! until the shutdown signal, a stuck handler, or (burst mode) empty
//! queues, drains (jobs claimed but not started go back to the queue;
//! running ones may finish within the grace period, and the rest go back
//! too), and then stops the recorder and the heartbeat.
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

mod claimer;
mod handler;
mod heartbeat;
mod inline;
mod job_task;
mod order;
mod pace;
mod recorder;
mod running;

use std::future::Future;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

pub use handler::{Handler, HandlerError, Handlers, JobContext, ParentResult};
pub use inline::run_inline;
pub use order::QueueOrder;

use crate::error::{QueueError, Result};
use crate::job::{QueueName, Timestamp};
use crate::outage::Outage;
use crate::queue::Queue;
use claimer::Claimer;
use heartbeat::{Heartbeat, Identity};
use pace::Pace;
use recorder::Recorder;
use running::RunningJobs;

/// How a worker runs: its identity, its queues, its slots and its timings.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The worker's name in its record and on the jobs it runs; live
    /// workers need different names.
    pub name: String,
    /// The queues it claims from, at least one, ranked by `order`.
    pub queues: Vec<QueueName>,
    /// How the queues rank: strictly in their order unless weighted.
    pub order: QueueOrder,
    /// The most jobs it runs at once (1 to 1024).
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
    /// What a stuck handler thread leads to: with `true`, the worker stops
    /// claiming, lets its other jobs finish and returns
    /// [`WorkerExit::RestartNeeded`], so that its program can replace the
    /// process (the only way to end the thread). A program that cannot
    /// replace itself (one serving HTTP beside its workers) sets `false`:
    /// the thread is abandoned to run on, its slot goes to the next job, and
    /// the worker's other slots never pause.
    pub restart_when_stuck: bool,
    /// Longest idle wait between two looks for work.
    pub idle_wait: Duration,
}

impl WorkerConfig {
    /// A worker of `name` on `queues` with one slot per CPU, a 30 s lease
    /// renewed every second, and a 30 s shutdown grace.
    pub fn new(name: impl Into<String>, queues: Vec<QueueName>) -> Self {
        WorkerConfig {
            name: name.into(),
            queues,
            order: QueueOrder::Strict,
            concurrency: std::thread::available_parallelism().map_or(2, |n| n.get()),
            burst: false,
            lease: Duration::from_secs(30),
            heartbeat: Duration::from_secs(1),
            maintenance: Duration::from_secs(1),
            shutdown_grace: Duration::from_secs(30),
            stuck_grace: Duration::from_secs(2),
            restart_when_stuck: true,
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

/// What the claimer and every job task of one worker share. The heartbeat
/// gets only the config and the running set: this holds the recorder's
/// inbox, and the recorder ends once the last holder is gone.
struct Shared {
    config: Arc<WorkerConfig>,
    handlers: Handlers,
    running: RunningJobs,
    recorder: Recorder,
    /// Set by a job task whose handler would not stop.
    restart_needed: AtomicBool,
    pace: Pace,
    /// Where the claimer reports the store's failures and recoveries.
    outage: Arc<Outage>,
    /// The queue, for what a job task reads besides its job (the results
    /// of its parents).
    queue: Queue,
}

/// A worker process's runtime.
pub struct Worker {
    queue: Queue,
    handlers: Handlers,
    config: WorkerConfig,
    /// Whether the store answers, shared by the parts that call it, so an
    /// outage is logged once, not once per failed call.
    outage: Arc<Outage>,
}

/// A worker whose background tasks run, and whose claimer is ready.
struct Started {
    queue: Queue,
    config: Arc<WorkerConfig>,
    claimer: Claimer,
    recording: JoinHandle<()>,
    heartbeat: Heartbeat,
}

impl Worker {
    /// A worker that runs `handlers` for jobs of `queue`. Refuses, with
    /// [`QueueError::InvalidRequest`], a config that cannot work: no queue,
    /// weights that do not match the queues, a concurrency out of range, or a lease not above twice the heartbeat.
    pub fn new(queue: Queue, handlers: Handlers, config: WorkerConfig) -> Result<Self> {
        if config.queues.is_empty() {
            return Err(QueueError::InvalidRequest(
                "a worker needs at least one queue".into(),
            ));
        }
        if let QueueOrder::Weighted(weights) = &config.order {
            if weights.len() != config.queues.len() || weights.contains(&0) {
                return Err(QueueError::InvalidRequest(format!(
                    "weighted queues need one weight of at least 1 per queue: {} queues, \
                     weights {weights:?}",
                    config.queues.len()
                )));
            }
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
            outage: Arc::new(Outage::new()),
        })
    }

    /// Reports the store's outages through `outage`, shared with the rest
    /// of the process (the API, other workers), so that one outage is one
    /// line however many parts notice it. By default a worker has its own.
    pub fn share_outage(mut self, outage: Arc<Outage>) -> Self {
        self.outage = outage;
        self
    }

    /// Runs until drained (burst), shut down, or a restart is needed.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<WorkerExit> {
        let mut worker = self.start().await?;
        let mut shutdown = std::pin::pin!(shutdown);
        let exit = worker.claimer.run_until_stopped(&mut shutdown).await;
        worker.claimer.drain(exit).await;
        worker.stop(exit).await;
        Ok(exit)
    }

    /// Makes sure the name is free, then starts the recorder and the
    /// heartbeat.
    async fn start(self) -> Result<Started> {
        let Worker {
            queue,
            handlers,
            config,
            outage,
        } = self;
        let config = Arc::new(config);
        let identity = Identity {
            started_at: Timestamp::now(),
            host: hostname(),
        };
        refuse_duplicate_name(&queue, &config, &identity.host).await?;

        let running = RunningJobs::default();
        let (recorder, recording) = Recorder::start(queue.clone(), outage.clone());
        let heartbeat = Heartbeat::start(
            queue.clone(),
            config.clone(),
            running.clone(),
            identity,
            outage.clone(),
        );
        tracing::info!(
            worker = %config.name,
            queues = ?config.queues.iter().map(|q| q.as_str()).collect::<Vec<_>>(),
            concurrency = config.concurrency,
            burst = config.burst,
            "worker started"
        );
        let shared = Shared {
            config: config.clone(),
            handlers,
            running,
            recorder,
            restart_needed: AtomicBool::new(false),
            pace: Pace::default(),
            outage,
            queue: queue.clone(),
        };
        Ok(Started {
            claimer: Claimer::new(queue.clone(), Arc::new(shared)),
            queue,
            config,
            recording,
            heartbeat,
        })
    }
}

impl Started {
    /// After the drain: waits for the recorder to write the last outcomes,
    /// stops the heartbeat and removes the worker's record.
    async fn stop(self, exit: WorkerExit) {
        let Started {
            queue,
            config,
            claimer,
            recording,
            heartbeat,
        } = self;
        // The claimer holds the last way to the recorder (every job task
        // has ended), so the recorder ends once it has written the rest.
        drop(claimer);
        let _ = recording.await;
        heartbeat.stop().await;
        if let Err(e) = queue.backend().remove_worker(&config.name).await {
            tracing::warn!(error = %e, "could not remove the worker record; it will expire");
        }
        tracing::info!(worker = %config.name, ?exit, "worker stopped");
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
