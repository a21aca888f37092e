//! The claimer: the worker's main loop. It claims ready jobs for the free
//! slots (and, while jobs are short, ahead of them: see [`Pace`]), starts a
//! job task for each as slots free, waits for work when the queues are
//! empty, and at the end hands back what it claimed but did not start.
//!
//! [`Pace`]: super::pace::Pace

use std::collections::VecDeque;
use std::future::Future;
use std::ops::ControlFlow;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};

use super::job_task::JobRun;
use super::running::{Interrupt, JobSignals, RunningJob};
use super::{Shared, WorkerExit};
use crate::backend::{ClaimRequest, LeaseRef};
use crate::error::{QueueError, Result};
use crate::job::{Job, Timestamp};
use crate::queue::Queue;

/// A claim sent to the backend and not yet answered.
type ClaimCall = JoinHandle<Result<Vec<Job>>>;

pub(super) struct Claimer {
    queue: Queue,
    worker: Arc<Shared>,
    /// The worker's `concurrency` slots; a job holds one while its handler
    /// runs.
    slots: Arc<Semaphore>,
    job_tasks: JoinSet<()>,
    /// Jobs claimed and waiting for a slot (see `Pace`).
    claimed_ahead: VecDeque<JobRun>,
    /// The claim in flight.
    claiming: Option<ClaimCall>,
    /// Whether the last claim found the queues empty.
    queues_empty: bool,
    /// When the last claim started: the wait for jobs after a claim that
    /// found none returns at once for jobs that came since.
    last_claim_at: Instant,
    /// Burst mode: whether a maintenance pass ran, with nothing running,
    /// since the last claim that found jobs. The claim after that pass
    /// decides: nothing found, and the worker stops. (Ends of this
    /// worker's jobs, or another pass, may have made jobs ready: the
    /// dependants of a completed job.)
    burst_maintained: bool,
}

impl Claimer {
    pub(super) fn new(queue: Queue, worker: Arc<Shared>) -> Self {
        Claimer {
            queue,
            slots: Arc::new(Semaphore::new(worker.config.concurrency)),
            worker,
            job_tasks: JoinSet::new(),
            claimed_ahead: VecDeque::new(),
            claiming: None,
            queues_empty: false,
            last_claim_at: Instant::now(),
            burst_maintained: false,
        }
    }

    /// Claims and starts jobs until the shutdown signal, a stuck handler,
    /// or (burst mode) empty queues.
    pub(super) async fn run_until_stopped<S: Future<Output = ()>>(
        &mut self,
        shutdown: &mut Pin<&mut S>,
    ) -> WorkerExit {
        loop {
            if self.worker.restart_needed.load(Ordering::SeqCst) {
                return WorkerExit::RestartNeeded;
            }
            self.claim_for_room().await;
            self.start_claimed_ahead();
            while self.job_tasks.try_join_next().is_some() {}
            let step = if self.idle() {
                self.wait_for_jobs(shutdown).await
            } else {
                self.await_claim_or_slot(shutdown).await
            };
            if let ControlFlow::Break(exit) = step {
                return exit;
            }
        }
    }

    /// Sends a claim for as many jobs as there is room for, unless a claim
    /// is in flight or the last one found the queues empty.
    async fn claim_for_room(&mut self) {
        if self.claiming.is_some() || self.queues_empty {
            return;
        }
        let config = &self.worker.config;
        let room = (self.slots.available_permits()
            + self.worker.pace.claim_ahead(config.concurrency))
        .saturating_sub(self.claimed_ahead.len());
        if room == 0 {
            return;
        }
        let request = ClaimRequest {
            queues: config.order.arrange(&config.queues),
            worker: config.name.clone(),
            max: room,
            lease: config.lease,
            now: Timestamp::now(),
        };
        self.last_claim_at = Instant::now();
        let queue = self.queue.clone();
        self.claiming = Some(tokio::spawn(async move {
            queue.backend().claim(&request).await
        }));
        // Let the claim reach the server before the jobs below
        // run: on a one-thread runtime tasks run in the order
        // they were woken, and a connection woken after a batch
        // of job tasks would send the claim only once they had
        // all run, leaving the server idle meanwhile.
        tokio::task::yield_now().await;
    }

    /// Starts jobs claimed ahead into the free slots.
    fn start_claimed_ahead(&mut self) {
        while !self.claimed_ahead.is_empty() {
            let Ok(slot) = self.slots.clone().try_acquire_owned() else {
                break;
            };
            if let Some(run) = self.claimed_ahead.pop_front() {
                self.job_tasks.spawn(run.execute(Some(slot)));
            }
        }
    }

    /// No claim in flight, none waiting for a slot, and the last claim
    /// found nothing.
    fn idle(&self) -> bool {
        self.claiming.is_none() && self.queues_empty && self.claimed_ahead.is_empty()
    }

    /// With nothing to do: waits until jobs may be ready (or, in burst
    /// mode with no job running, ends the run when there are none).
    async fn wait_for_jobs<S: Future<Output = ()>>(
        &mut self,
        shutdown: &mut Pin<&mut S>,
    ) -> ControlFlow<WorkerExit> {
        self.queues_empty = false;
        let config = &self.worker.config;
        if config.burst && self.worker.running.is_empty() {
            if self.burst_maintained {
                // The claim after the last pass found nothing.
                return ControlFlow::Break(WorkerExit::Drained);
            }
            // Before calling the queues empty, move time along (due jobs,
            // jobs of dead workers, dependants of ended parents), then
            // claim once more.
            match self.queue.maintain().await {
                Ok(_) => {
                    self.worker.outage.succeeded();
                    self.burst_maintained = true;
                    return ControlFlow::Continue(());
                }
                Err(e) => self.worker.outage.failed("queue maintenance", &e),
            }
        }
        tokio::select! {
            r = self.queue.backend().wait_for_jobs(&config.queues, self.last_claim_at, config.idle_wait) => {
                if let Err(e) = r {
                    self.worker.outage.failed("waiting for jobs", &e);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
            _ = shutdown => return ControlFlow::Break(WorkerExit::Shutdown),
        }
        ControlFlow::Continue(())
    }

    /// Waits for the claim in flight to answer or for a slot to free.
    async fn await_claim_or_slot<S: Future<Output = ()>>(
        &mut self,
        shutdown: &mut Pin<&mut S>,
    ) -> ControlFlow<WorkerExit> {
        let claiming = &mut self.claiming;
        tokio::select! {
            claimed = async {
                match claiming.as_mut() {
                    Some(call) => call.await,
                    None => std::future::pending().await,
                }
            }, if claiming.is_some() => {
                *claiming = None;
                let claimed = claimed.unwrap_or_else(|e| Err(QueueError::Storage(format!("the claim task ended: {e}"))));
                self.take_claimed(claimed, shutdown).await
            }
            // A slot freed: go round to fill it.
            permit = self.slots.clone().acquire_owned(), if claiming.is_none() || !self.claimed_ahead.is_empty() => {
                // Only a closed semaphore refuses, and nothing closes
                // this one; should that change, stop taking work rather
                // than panic with jobs running.
                if permit.is_err() {
                    return ControlFlow::Break(WorkerExit::Shutdown);
                }
                ControlFlow::Continue(())
            }
            _ = &mut *shutdown => ControlFlow::Break(WorkerExit::Shutdown),
        }
    }

    /// Takes the answer of a claim: its jobs wait for slots; after an
    /// error, the next claim waits a moment.
    async fn take_claimed<S: Future<Output = ()>>(
        &mut self,
        claimed: Result<Vec<Job>>,
        shutdown: &mut Pin<&mut S>,
    ) -> ControlFlow<WorkerExit> {
        match claimed {
            Ok(jobs) => {
                self.worker.outage.succeeded();
                self.queues_empty = jobs.is_empty();
                if !jobs.is_empty() {
                    self.burst_maintained = false;
                }
                self.claimed_ahead
                    .extend(jobs.into_iter().filter_map(|job| track(&self.worker, job)));
            }
            Err(e) => {
                self.worker.outage.failed("claiming jobs", &e);
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    _ = shutdown => return ControlFlow::Break(WorkerExit::Shutdown),
                }
            }
        }
        ControlFlow::Continue(())
    }

    /// After the run: jobs claimed but not started go back to the queue,
    /// running jobs may finish within the grace period, and what is left
    /// then is handed back too.
    pub(super) async fn drain(&mut self, exit: WorkerExit) {
        self.hand_back_unstarted().await;
        self.finish_running(exit).await;
    }

    /// Jobs claimed but not started go back to the queue (a claim still
    /// in flight is awaited: its jobs are leased to this worker).
    async fn hand_back_unstarted(&mut self) {
        if let Some(call) = self.claiming.take() {
            if let Ok(Ok(jobs)) = call.await {
                self.claimed_ahead
                    .extend(jobs.into_iter().filter_map(|job| track(&self.worker, job)));
            }
        }
        for run in self.claimed_ahead.drain(..) {
            run.signals().set_interruption(Interrupt::Shutdown);
            self.job_tasks.spawn(run.execute(None));
        }
    }

    /// Lets running jobs finish within the grace period (a restart waits
    /// for the healthy ones too), then hands back what is left.
    async fn finish_running(&mut self, exit: WorkerExit) {
        let config = &self.worker.config;
        let grace = match exit {
            WorkerExit::Drained => Duration::MAX,
            _ => config.shutdown_grace,
        };
        if !self.worker.running.is_empty() {
            tracing::info!(grace = ?config.shutdown_grace, "waiting for running jobs");
        }
        let job_tasks = &mut self.job_tasks;
        let drained = tokio::time::timeout(grace, async {
            while job_tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            self.worker.running.interrupt_all(Interrupt::Shutdown);
            while self.job_tasks.join_next().await.is_some() {}
        }
    }
}

/// Puts a claimed job in the running set and readies its task.
fn track(worker: &Arc<Shared>, job: Job) -> Option<JobRun> {
    // A backend returns jobs under a lease; one that breaks that
    // promise is reported, not obeyed.
    let Some(token) = job.state.lease_token else {
        tracing::error!(
            job = %job.id,
            "the backend returned a claimed job without a lease; it is left to lease expiry"
        );
        return None;
    };
    let signals = Arc::new(JobSignals::new());
    let entry = RunningJob {
        lease: LeaseRef {
            id: job.id.clone(),
            token,
        },
        signals: signals.clone(),
    };
    // In the running set from the claim on: the heartbeat renews its
    // lease and hears of its cancellation even before it starts.
    worker.running.insert(entry);
    Some(JobRun::new(job, signals, worker.clone()))
}
