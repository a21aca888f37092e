//! Events: every state change and progress update of a job, in order.
//!
//! Backends write an event in the same atomic step as the change it reports,
//! so a follower never sees a change without its event or the reverse.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::job::{ErrorKind, Job, JobId, Kind, QueueName, Status, Timestamp};

/// One change of one job (a transition or a progress update), as the job
/// was right after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Opaque, increasing cursor: resume a stream after it.
    pub id: String,
    /// The job that changed.
    pub job_id: JobId,
    /// Its queue.
    pub queue: QueueName,
    /// Its kind.
    pub kind: Kind,
    /// Its status after the change.
    pub status: Status,
    /// Its attempt number after the change (0 before its first run).
    pub attempt: u32,
    /// Its progress, 0 to 1, when it has any.
    pub progress: Option<f64>,
    /// The progress message, or a word on the change (such as `cancel requested`).
    pub message: Option<String>,
    /// The figures the handler gave with its progress (see
    /// [`JobState::progress_detail`](crate::job::JobState::progress_detail)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<Value>,
    /// Why its last attempt failed, when it did.
    pub error_kind: Option<ErrorKind>,
    /// When the change happened.
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
            detail: job.state.progress_detail.clone(),
            error_kind: job.state.error.as_ref().map(|e| e.kind),
            at,
        }
    }
}
