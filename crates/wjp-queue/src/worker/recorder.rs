//! The recorder: one task that writes the outcomes of a worker's jobs in
//! batches, one backend call for all that finished meanwhile.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::outage::Outage;
use crate::queue::Queue;
use crate::state::Transition;

/// A job's outcome on its way to the recorder, with the way back for
/// whether it was written.
struct Outcome {
    transition: Transition,
    written: oneshot::Sender<bool>,
}

/// What became of an outcome handed to the recorder.
pub(super) enum Recorded {
    Written,
    /// The job changed under this worker (its lease was taken over, or its
    /// record is gone): the backend refused the write.
    Refused,
    /// The recorder gave up (the backend stayed unreachable).
    Failed,
    /// The recorder had stopped; nothing was sent.
    NotSent,
}

/// The job tasks' way to the recorder. The recorder ends once every
/// `Recorder` is dropped and it has written what it was sent.
pub(super) struct Recorder {
    outcomes: mpsc::UnboundedSender<Outcome>,
}

impl Recorder {
    /// Starts the recorder's task.
    pub(super) fn start(queue: Queue, outage: Arc<Outage>) -> (Recorder, JoinHandle<()>) {
        let (outcomes, received) = mpsc::unbounded_channel::<Outcome>();
        let task = tokio::spawn(record_outcomes(queue, outage, received));
        (Recorder { outcomes }, task)
    }

    /// Hands a transition to the recorder and waits until it is written.
    pub(super) async fn write(&self, transition: Transition) -> Recorded {
        let (written_tx, written_rx) = oneshot::channel();
        let outcome = Outcome {
            transition,
            written: written_tx,
        };
        if self.outcomes.send(outcome).is_err() {
            return Recorded::NotSent;
        }
        match written_rx.await {
            Ok(true) => Recorded::Written,
            Ok(false) => Recorded::Refused,
            Err(_) => Recorded::Failed,
        }
    }
}

/// Writes outcomes in batches. A write that fails (backend unreachable) is
/// retried for up to a minute; after that the leases lapse and the jobs run
/// again elsewhere, so nothing is lost, only repeated.
async fn record_outcomes(
    queue: Queue,
    outage: Arc<Outage>,
    mut rx: mpsc::UnboundedReceiver<Outcome>,
) {
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
        match apply_with_retries(&queue, &outage, transitions).await {
            Some(applied) => {
                for (outcome, ok) in batch.into_iter().zip(applied) {
                    let _ = outcome.written.send(ok);
                }
            }
            None => drop(batch),
        }
    }
}

/// Applies a batch of transitions, retrying with growing pauses for up to a
/// minute; `None` if it never succeeded.
async fn apply_with_retries(
    queue: &Queue,
    outage: &Outage,
    transitions: Vec<Transition>,
) -> Option<Vec<bool>> {
    let mut delay = Duration::from_millis(50);
    let started = tokio::time::Instant::now();
    loop {
        match queue.backend().apply(transitions.clone()).await {
            Ok(applied) => {
                outage.succeeded();
                break Some(applied);
            }
            Err(e) if started.elapsed() < Duration::from_secs(60) => {
                outage.failed("recording outcomes", &e);
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
            Err(e) => {
                tracing::error!(error = %e, jobs = transitions.len(), "giving up recording outcomes");
                break None;
            }
        }
    }
}
