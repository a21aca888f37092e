//! Events: every state change and progress update of a job, in order.
//!
//! Backends write an event in the same atomic step as the change it reports,
//! so a follower never sees a change without its event or the reverse.

use serde::{Deserialize, Serialize};

use crate::job::{ErrorKind, Job, JobId, Kind, QueueName, Status, Timestamp};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Opaque, increasing cursor: resume a stream after it.
    pub id: String,
    pub job_id: JobId,
    pub queue: QueueName,
    pub kind: Kind,
    pub status: Status,
    pub attempt: u32,
    pub progress: Option<f64>,
    /// The progress message, or a word on the change (such as `cancel requested`).
    pub message: Option<String>,
    pub error_kind: Option<ErrorKind>,
    pub at: Timestamp,
}

impl Event {
    /// The event that reports `job` as it is now; the backend assigns the id.
    pub fn of(job: &Job, at: Timestamp) -> Event {
        Event {
            id: String::new(),
            job_id: job.id.clone(),
            queue: job.queue.clone(),
            kind: job.kind.clone(),
            status: job.state.status,
            attempt: job.state.attempt,
            progress: job.state.progress,
            message: job.state.progress_message.clone(),
            error_kind: job.state.error.as_ref().map(|e| e.kind),
            at,
        }
    }
}
