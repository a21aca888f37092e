//! The heartbeat: one task that renews the leases of the worker's running
//! jobs, registers the worker, hears of cancellations and lost leases,
//! flushes progress, and runs queue maintenance, each on its own interval.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::running::{Interrupt, RunningJobs};
use super::WorkerConfig;
use crate::backend::{LeaseState, WorkerRecord};
use crate::error::Result;
use crate::job::Timestamp;
use crate::outage::Outage;
use crate::queue::Queue;

/// The running heartbeat task.
pub(super) struct Heartbeat {
    task: JoinHandle<()>,
    stop: Arc<Notify>,
}

/// Who the worker is, as its record tells others.
pub(super) struct Identity {
    pub(super) host: String,
    pub(super) started_at: Timestamp,
}

impl Heartbeat {
    pub(super) fn start(
        queue: Queue,
        config: Arc<WorkerConfig>,
        running: RunningJobs,
        identity: Identity,
        outage: Arc<Outage>,
    ) -> Heartbeat {
        let stop = Arc::new(Notify::new());
        let task = tokio::spawn(heartbeat_loop(
            queue,
            config,
            running,
            identity,
            outage,
            stop.clone(),
        ));
        Heartbeat { task, stop }
    }

    /// Stops the task and waits for it to end.
    pub(super) async fn stop(self) {
        self.stop.notify_one();
        let _ = self.task.await;
    }
}

async fn heartbeat_loop(
    queue: Queue,
    config: Arc<WorkerConfig>,
    running: RunningJobs,
    identity: Identity,
    outage: Arc<Outage>,
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
                match renew(&queue, &config, &running, &identity).await {
                    Ok(()) => outage.succeeded(),
                    Err(e) => {
                        outage.failed("heartbeat", &e);
                        reap_after = Some(tokio::time::Instant::now() + config.heartbeat * 2);
                    }
                }
            }
            _ = progress_tick.tick() => {
                // Only failures count here: with no progress to write, the
                // call may not reach the store at all, so its success
                // proves nothing.
                if let Err(e) = queue.backend().set_progress(running.take_progress()).await {
                    outage.failed("progress update", &e);
                }
            }
            _ = maintain.tick() => {
                if reap_after.is_some_and(|t| tokio::time::Instant::now() < t) {
                    continue;
                }
                match queue.maintain().await {
                    Ok(_) => outage.succeeded(),
                    Err(e) => outage.failed("queue maintenance", &e),
                }
            }
        }
    }
}

/// Renews the lease of every running job, interrupts those cancelled or
/// lost meanwhile, and registers the worker.
async fn renew(
    queue: &Queue,
    config: &WorkerConfig,
    running: &RunningJobs,
    identity: &Identity,
) -> Result<()> {
    let leases = running.leases();
    let now = Timestamp::now();
    let states = queue
        .backend()
        .renew_leases(&leases, now.plus_millis(config.lease.as_millis() as u64))
        .await?;
    {
        let map = running.lock();
        for (lease, lease_state) in leases.iter().zip(states) {
            let Some(job) = map.get(&lease.id) else {
                continue;
            };
            match lease_state {
                LeaseState::Held {
                    cancel_requested: true,
                } => job.signals.interrupt(Interrupt::Cancel),
                LeaseState::Held { .. } => {}
                LeaseState::Lost => job.signals.interrupt(Interrupt::LostLease),
            }
        }
    }
    let record = WorkerRecord {
        name: config.name.clone(),
        host: identity.host.clone(),
        pid: std::process::id(),
        queues: config.queues.iter().map(|q| q.to_string()).collect(),
        concurrency: config.concurrency,
        started_at: identity.started_at,
        heartbeat_at: now,
        current_jobs: leases.iter().map(|l| l.id.to_string()).collect(),
        expires_at: now.plus_millis((config.heartbeat * 5).as_millis() as u64),
    };
    queue.backend().register_worker(&record).await
}
