//! A job task: runs one job's handler and records its outcome.
//!
//! The handler runs on a blocking-pool thread (or inline, for handlers
//! registered so), and the task waits for whichever comes first: its
//! return, the job's timeout (the watchdog), or an interruption (cancel,
//! lost lease, shutdown). The outcome goes to the recorder.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{oneshot, OwnedSemaphorePermit};

use super::handler::{
    panic_error, panic_message, timeout_error, HandlerError, JobContext, ParentResult, Placement,
    Registered,
};
use super::recorder::Recorded;
use super::running::{Interrupt, JobSignals};
use super::Shared;
use crate::job::{ErrorKind, Job, JobError, Status, Timestamp};
use crate::state::{self, Transition};

/// Everything one job task needs.
pub(super) struct JobRun {
    job: Job,
    signals: Arc<JobSignals>,
    worker: Arc<Shared>,
}

/// What the handler thread sends back: its return, or the panic message.
type HandlerReturn = std::result::Result<std::result::Result<Value, HandlerError>, String>;

/// How a job's run ended, as the job task saw it.
enum Ending {
    Returned(std::result::Result<Value, HandlerError>),
    Panicked(String),
    TimedOut,
    Interrupted,
}

impl Ending {
    fn of(result: std::result::Result<HandlerReturn, oneshot::error::RecvError>) -> Ending {
        match result {
            Ok(Ok(returned)) => Ending::Returned(returned),
            Ok(Err(panic)) => Ending::Panicked(panic),
            Err(_) => Ending::Panicked("the handler thread vanished".into()),
        }
    }

    /// Whether the handler is done; otherwise it may still be running.
    fn handler_returned(&self) -> bool {
        matches!(self, Ending::Returned(_) | Ending::Panicked(_))
    }
}

/// A run's ending, and where the return of a handler thread still running
/// will arrive.
struct HandlerRun {
    ending: Ending,
    thread_return: Option<oneshot::Receiver<HandlerReturn>>,
}

impl JobRun {
    pub(super) fn new(job: Job, signals: Arc<JobSignals>, worker: Arc<Shared>) -> Self {
        JobRun {
            job,
            signals,
            worker,
        }
    }

    pub(super) fn signals(&self) -> &JobSignals {
        &self.signals
    }

    /// Runs the job and records its outcome. `slot` is its place among the
    /// worker's `concurrency`: freed as soon as the handler is done, since
    /// recording is the recorder's work and holding the slot through it
    /// would idle the worker for a round trip per job. A handler that has
    /// not returned keeps its slot until it does, or the worker restarts.
    /// A job claimed ahead and handed back unstarted has no slot.
    pub(super) async fn execute(self, slot: Option<OwnedSemaphorePermit>) {
        let HandlerRun {
            ending,
            thread_return,
        } = if self.signals.interruption() != Interrupt::None {
            // Cancelled, taken over or shut down while it waited for a slot
            // (claimed ahead): it never starts.
            HandlerRun {
                ending: Ending::Interrupted,
                thread_return: None,
            }
        } else {
            let Some(registered) = self.worker.handlers.registered(&self.job.kind) else {
                self.record(self.no_handler()).await;
                return;
            };
            self.run_handler(registered).await
        };
        let handler_returned = ending.handler_returned();
        // Tell a handler that is still going to stop (it may not listen).
        self.signals.ask_to_stop();
        let transition = next_state(
            &self.job,
            ending,
            self.signals.interruption(),
            Timestamp::now(),
        );
        let kept_slot = if handler_returned {
            drop(slot);
            None
        } else {
            slot
        };
        if let Some(transition) = transition {
            self.record(transition).await;
        } else {
            tracing::warn!(
                kind = %self.job.kind,
                queue = %self.job.queue,
                job = %self.job.id,
                attempt = self.job.state.attempt,
                "job {} ({}): lease lost to maintenance; this attempt's outcome is discarded",
                self.job.id,
                self.job.kind,
            );
            self.forget();
        }
        if let (false, Some(thread_return)) = (handler_returned, thread_return) {
            self.await_stuck_handler(thread_return).await;
        }
        drop(kept_slot);
    }

    /// The job fails at once: this worker has no handler for its kind.
    fn no_handler(&self) -> Transition {
        let error = JobError::new(
            ErrorKind::NoHandler,
            format!(
                "worker {} has no handler for kind {}",
                self.worker.config.name, self.job.kind
            ),
        );
        state::fail(&self.job, error, Timestamp::now())
    }

    /// Runs the handler where it was registered to run, with panics caught.
    async fn run_handler(&self, registered: &Registered) -> HandlerRun {
        let handler = registered.handler.clone();
        let parents = match self.parent_results().await {
            Ok(parents) => parents,
            // The store did not answer: this attempt fails, and is retried.
            Err(e) => {
                return HandlerRun {
                    ending: Ending::Returned(Err(HandlerError::Failed(format!(
                        "cannot read the results of the job's parents: {e}"
                    )))),
                    thread_return: None,
                }
            }
        };
        let ctx = JobContext::new(self.job.clone(), self.signals.clone()).with_parents(parents);
        let run = move || {
            std::panic::catch_unwind(AssertUnwindSafe(|| handler.run(&ctx))).map_err(panic_message)
        };
        let started = std::time::Instant::now();
        let handler_run = match registered.placement {
            Placement::Inline => HandlerRun {
                ending: Ending::of(Ok(run())),
                thread_return: None,
            },
            Placement::Thread => self.run_on_thread(run).await,
        };
        self.worker.pace.record(started.elapsed());
        handler_run
    }

    /// The results of the job's parents, read now (none for most jobs).
    async fn parent_results(&self) -> crate::error::Result<Vec<ParentResult>> {
        let mut parents = Vec::with_capacity(self.job.after.len());
        for id in &self.job.after {
            let parent = self.worker.queue.job(id).await?;
            parents.push(ParentResult {
                id: id.clone(),
                status: parent.as_ref().map(Job::status),
                result: parent.and_then(|p| p.state.result),
            });
        }
        Ok(parents)
    }

    /// Hands the handler to a blocking-pool thread and waits for its
    /// return, the job's deadline, or an interruption.
    async fn run_on_thread(
        &self,
        run: impl FnOnce() -> HandlerReturn + Send + 'static,
    ) -> HandlerRun {
        let (done_tx, mut done_rx) = oneshot::channel::<HandlerReturn>();
        tokio::task::spawn_blocking(move || {
            let _ = done_tx.send(run());
        });
        let deadline = tokio::time::Instant::now() + Duration::from_millis(self.job.timeout_ms);
        let ending = tokio::select! {
            result = &mut done_rx => Ending::of(result),
            _ = tokio::time::sleep_until(deadline) => Ending::TimedOut,
            _ = self.signals.interrupted() => Ending::Interrupted,
        };
        if matches!(ending, Ending::Interrupted) && self.signals.interruption() == Interrupt::Cancel
        {
            // A cancelled handler may answer with what it has so far (an
            // anytime search's best layout): it gets the stuck grace to do
            // so, and whatever it returns then ends the job `cancelled`.
            if let Ok(returned) =
                tokio::time::timeout(self.worker.config.stuck_grace, &mut done_rx).await
            {
                let ending = match Ending::of(returned) {
                    Ending::Returned(Ok(value)) => {
                        Ending::Returned(Err(HandlerError::CancelledWithResult(value)))
                    }
                    other => other,
                };
                return HandlerRun {
                    ending,
                    thread_return: None,
                };
            }
        }
        HandlerRun {
            ending,
            thread_return: Some(done_rx),
        }
    }

    /// After a timeout or interruption, gives the handler `stuck_grace` to
    /// return; if it does not, asks for the process to be replaced, or
    /// abandons the thread (`restart_when_stuck`).
    async fn await_stuck_handler(&self, thread_return: oneshot::Receiver<HandlerReturn>) {
        let stuck_grace = self.worker.config.stuck_grace;
        if tokio::time::timeout(stuck_grace, thread_return)
            .await
            .is_err()
        {
            if self.worker.config.restart_when_stuck {
                tracing::error!(
                    job = %self.job.id,
                    kind = %self.job.kind,
                    "the handler did not stop {:?} after being told to; restarting the worker",
                    stuck_grace
                );
                self.worker.restart_needed.store(true, Ordering::SeqCst);
            } else {
                tracing::error!(
                    job = %self.job.id,
                    kind = %self.job.kind,
                    "the handler did not stop {:?} after being told to; its thread is \
                     abandoned and its slot goes to the next job",
                    stuck_grace
                );
            }
        }
    }

    /// Sends the outcome to the recorder and, once it is written (or not),
    /// drops the job from the running set. A written outcome is logged
    /// here, once: the write is what makes it the job's outcome.
    async fn record(&self, transition: Transition) {
        let end = End::of(&transition.job);
        match self.worker.recorder.write(transition).await {
            Recorded::Written => end.log(&self.job),
            Recorded::Refused => tracing::warn!(
                kind = %self.job.kind,
                queue = %self.job.queue,
                job = %self.job.id,
                "job {}: it changed under this worker (lease taken over or record gone); \
                 outcome discarded",
                self.job.id,
            ),
            Recorded::Failed => tracing::error!(
                kind = %self.job.kind,
                queue = %self.job.queue,
                job = %self.job.id,
                "job {}: its outcome could not be recorded; it runs again once its lease \
                 lapses",
                self.job.id,
            ),
            Recorded::NotSent => {}
        }
        self.forget();
    }

    fn forget(&self) {
        self.worker.running.remove(&self.job.id);
    }
}

/// What an attempt's outcome says, kept for its log line (the transition
/// itself goes to the recorder).
struct End {
    status: Status,
    error: Option<JobError>,
    run_at: Timestamp,
    started_at: Option<Timestamp>,
    completed_at: Option<Timestamp>,
}

impl End {
    fn of(next: &Job) -> End {
        End {
            status: next.status(),
            error: next.state.error.clone(),
            run_at: next.state.run_at,
            started_at: next.state.started_at,
            completed_at: next.state.completed_at,
        }
    }

    /// One line for the operator: INFO for completed, cancelled or handed
    /// back; WARN for failed and for a failed attempt that will be retried.
    fn log(&self, job: &Job) {
        let (attempt, max) = (job.state.attempt, job.max_attempts);
        let (error_kind, error) = match &self.error {
            Some(e) => (e.kind.as_str(), e.message.as_str()),
            None => ("", ""),
        };
        match self.status {
            Status::Completed => {
                let took_ms = match (self.started_at, self.completed_at) {
                    (Some(start), Some(end)) => end.millis() - start.millis(),
                    _ => 0,
                };
                tracing::info!(
                    kind = %job.kind,
                    queue = %job.queue,
                    job = %job.id,
                    attempt,
                    max_attempts = max,
                    took_ms,
                    "job {} ({} on {}) completed on attempt {attempt} of {max} in {took_ms} ms",
                    job.id,
                    job.kind,
                    job.queue,
                );
            }
            Status::Failed => tracing::warn!(
                kind = %job.kind,
                queue = %job.queue,
                job = %job.id,
                attempt,
                max_attempts = max,
                error_kind,
                error,
                "job {} ({} on {}) failed on attempt {attempt} of {max}: {error_kind}: {error}",
                job.id,
                job.kind,
                job.queue,
            ),
            Status::Scheduled => {
                let in_secs =
                    (self.run_at.millis() - Timestamp::now().millis()).max(0) as f64 / 1000.0;
                tracing::warn!(
                    kind = %job.kind,
                    queue = %job.queue,
                    job = %job.id,
                    attempt,
                    max_attempts = max,
                    error_kind,
                    error,
                    retry_at = %self.run_at.to_rfc3339(),
                    "job {} ({} on {}) failed on attempt {attempt} of {max}: {error_kind}: \
                     {error}; will be retried in {in_secs:.1} s (at {})",
                    job.id,
                    job.kind,
                    job.queue,
                    self.run_at.to_rfc3339(),
                );
            }
            Status::Cancelled => tracing::info!(
                kind = %job.kind,
                queue = %job.queue,
                job = %job.id,
                attempt,
                max_attempts = max,
                "job {} ({} on {}) cancelled during attempt {attempt} of {max}",
                job.id,
                job.kind,
                job.queue,
            ),
            // A running job's end never makes it wait for parents.
            Status::Waiting | Status::Queued | Status::Running => tracing::info!(
                kind = %job.kind,
                queue = %job.queue,
                job = %job.id,
                attempt,
                max_attempts = max,
                "job {} ({} on {}) handed back to the queue: this worker is stopping",
                job.id,
                job.kind,
                job.queue,
            ),
        }
    }
}

/// A job's next state after its handler's `ending`, the job interrupted
/// for `interruption` (if at all); none when its lease was lost.
fn next_state(
    job: &Job,
    ending: Ending,
    interruption: Interrupt,
    now: Timestamp,
) -> Option<Transition> {
    match (ending, interruption) {
        // A lost lease means another worker owns the job now: whatever
        // this attempt produced is discarded.
        (_, Interrupt::LostLease) => None,
        (Ending::Interrupted, Interrupt::Shutdown) => Some(state::hand_back(job, now)),
        (Ending::Interrupted, _) | (Ending::Returned(Err(HandlerError::Cancelled)), _) => {
            Some(state::cancelled_while_running(job, now))
        }
        (Ending::Returned(Err(HandlerError::CancelledWithResult(value))), _) => {
            Some(state::cancelled_with_result(job, Some(value), now))
        }
        // A handler that returns as soon as it hears of its cancel may
        // be seen returning before the interruption is (`run_on_thread`
        // waits for whichever comes first): its answer is what it had,
        // as if it came within the grace, and the job ends cancelled.
        (Ending::Returned(Ok(value)), Interrupt::Cancel) => {
            Some(state::cancelled_with_result(job, Some(value), now))
        }
        (Ending::Returned(Ok(value)), _) => Some(state::complete(job, value, now)),
        (Ending::Returned(Err(error)), _) => Some(state::fail(job, error.into_job_error(), now)),
        (Ending::Panicked(message), _) => Some(state::fail(job, panic_error(&message), now)),
        (Ending::TimedOut, _) => Some(state::fail(
            job,
            timeout_error(job.timeout_ms as f64 / 1000.0),
            now,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use crate::job::JobRequest;
    use serde_json::json;

    fn running_job() -> Job {
        let mut catalog = Catalog::default();
        catalog.register("noop", "default", None).unwrap();
        let job = state::new_job(
            JobRequest::new("noop", json!({})),
            &catalog,
            Timestamp(1_000),
        )
        .unwrap();
        state::claim(&job, "w1", Duration::from_secs(30), Timestamp(1_000)).job
    }

    /// The handler's return and the cancel can reach the job's task in
    /// either order; either way the job ends cancelled with the answer.
    #[test]
    fn an_answer_to_a_cancel_ends_the_job_cancelled_whichever_is_seen_first() {
        let job = running_job();
        let answer = json!({"best": "finished"});
        for ending in [
            Ending::Returned(Ok(answer.clone())),
            Ending::Returned(Err(HandlerError::CancelledWithResult(answer.clone()))),
        ] {
            let next = next_state(&job, ending, Interrupt::Cancel, Timestamp(2_000)).unwrap();
            assert_eq!(next.job.status(), Status::Cancelled);
            assert_eq!(next.job.state.result, Some(answer.clone()));
            assert_eq!(
                next.job.state.error.map(|e| e.kind),
                Some(ErrorKind::Cancelled)
            );
        }
        // Without a cancel, the same return completes the job.
        let next = next_state(
            &job,
            Ending::Returned(Ok(answer.clone())),
            Interrupt::None,
            Timestamp(2_000),
        )
        .unwrap();
        assert_eq!(next.job.status(), Status::Completed);
        assert_eq!(next.job.state.result, Some(answer));
        // A lost lease discards whatever the attempt produced.
        let lost = next_state(
            &job,
            Ending::Returned(Ok(json!(1))),
            Interrupt::LostLease,
            Timestamp(2_000),
        );
        assert!(lost.is_none());
    }
}
