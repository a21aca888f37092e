//! Group commit for enqueues: requests that arrive while a write is under
//! way go to the backend together, in one `enqueue_batch` (one transaction
//! or one round trip), instead of one commit each.
//!
//! Each request is checked on its own first, so a bad one is refused alone
//! and never takes its batch-mates down with it. One task owns the loop;
//! it ends when the last [`Enqueuer`] handle is dropped.

use tokio::sync::{mpsc, oneshot};
use wjp_queue::{Enqueued, JobRequest, Queue, QueueError, Timestamp};

/// Requests written in one batch at most.
const MAX_BATCH: usize = 256;

type Reply = oneshot::Sender<Result<Enqueued, QueueError>>;

#[derive(Clone)]
pub struct Enqueuer {
    queue: Queue,
    tx: mpsc::Sender<(JobRequest, Reply)>,
}

impl Enqueuer {
    /// Starts the loop; call within a Tokio runtime.
    pub fn start(queue: Queue) -> Enqueuer {
        let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(run(queue.clone(), rx));
        Enqueuer { queue, tx }
    }

    /// Enqueues a request, recorded in the audit log as submitted by the
    /// origin of the HTTP request being handled (see `origin.rs`) unless
    /// it names its own.
    pub async fn enqueue(&self, mut request: JobRequest) -> Result<Enqueued, QueueError> {
        if request.origin.is_none() {
            request.origin = crate::origin::current();
        }
        // Refuse a bad request here, alone.
        wjp_queue::state::new_job(request.clone(), self.queue.catalog(), Timestamp::now())?;
        // A dependant is stored alone: its parents are looked up as it is
        // stored, and one that names no job must not refuse its batch-mates.
        if !request.after.is_empty() {
            return self.queue.enqueue(request).await;
        }
        let (reply, answer) = oneshot::channel();
        if self.tx.send((request.clone(), reply)).await.is_err() {
            return self.queue.enqueue(request).await;
        }
        match answer.await {
            Ok(result) => result,
            // The loop is gone (runtime shutting down): write it directly.
            Err(_) => self.queue.enqueue(request).await,
        }
    }
}

async fn run(queue: Queue, mut rx: mpsc::Receiver<(JobRequest, Reply)>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let (requests, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
        match queue.enqueue_batch(requests.clone()).await {
            Ok(done) if done.len() == replies.len() => {
                for (reply, enqueued) in replies.into_iter().zip(done) {
                    let _ = reply.send(Ok(enqueued));
                }
            }
            Err(e) if !e.is_client_error() => {
                for reply in replies {
                    let _ = reply.send(Err(same_error(&e)));
                }
            }
            // Checked one by one before, so this is rare (the catalog or
            // the clock moved): give each its own answer.
            _ => {
                for (request, reply) in requests.into_iter().zip(replies) {
                    let _ = reply.send(queue.enqueue(request).await);
                }
            }
        }
    }
}

/// A backend error, once for each waiting request.
fn same_error(e: &QueueError) -> QueueError {
    match e {
        QueueError::Unavailable(m) => QueueError::Unavailable(m.clone()),
        QueueError::Corrupt(m) => QueueError::Corrupt(m.clone()),
        QueueError::Storage(m) => QueueError::Storage(m.clone()),
        other => QueueError::Storage(other.to_string()),
    }
}
