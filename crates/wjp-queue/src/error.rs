//! The engine's errors, each with a stable machine-readable code.

use crate::catalog::WaitingQuota;
use crate::job::{JobId, Status};

/// Everything the engine can refuse or fail at. [`QueueError::code`] gives
/// each a stable name; [`QueueError::is_client_error`] says whose fault it is.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// A client-given job id has characters or a length [`crate::JobId`]
    /// refuses; the text is cut to 200 characters.
    #[error(
        "invalid job id {0:?}: use 1 to 128 characters of letters, digits, '_', '.', ':' or '-'"
    )]
    InvalidJobId(String),

    /// A kind, queue or error-kind name is malformed.
    #[error("invalid {what} {name:?}: use 1 to 64 characters of lowercase letters, digits or '_'")]
    InvalidName {
        /// What the name was for (`job kind`, `queue name`, ...).
        what: &'static str,
        /// The name as given, cut to 100 characters.
        name: String,
    },

    /// A status filter that is a well-formed word but not a job status.
    #[error(
        "{name:?} is not a job status; {}the statuses are {}",
        crate::suggest::closest(name, Status::ALL.map(Status::as_str))
            .map(|near| format!("did you mean {near:?}? "))
            .unwrap_or_default(),
        Status::ALL.map(Status::as_str).join(", ")
    )]
    UnknownStatus {
        /// The word as given, cut to 100 characters.
        name: String,
    },

    #[error("unknown job kind {kind:?}; registered kinds: {known}")]
    /// No job kind of this name is registered in the catalog.
    UnknownKind {
        /// The kind asked for.
        kind: String,
        /// The registered kinds, comma-separated, so the caller can pick one.
        known: String,
    },

    #[error("unknown queue {queue:?}; known queues: {known}")]
    /// The queue is not one the catalog configures.
    UnknownQueue {
        /// The queue asked for.
        queue: String,
        /// The configured queues, comma-separated.
        known: String,
    },

    #[error("invalid job request: {0}")]
    /// A request's value is out of range or contradicts the server's caps
    /// or quotas; the message names the field and its bounds.
    InvalidRequest(String),

    #[error("job {0} not found (it never existed, or its record expired)")]
    /// No job has this id: it never existed, or its record passed its TTL.
    NotFound(JobId),

    #[error("job {id} is {status}; cannot {action} it")]
    /// The job's status does not allow the action (retrying a job that has
    /// not failed or been cancelled); fetch the job to see where it is.
    InvalidTransition {
        /// The job acted on.
        id: JobId,
        /// Its status when the action was refused.
        status: Status,
        /// The action refused (`retry`, `cancel`, ...).
        action: &'static str,
    },

    #[error("the queue backend is unavailable: {0}")]
    /// The backend cannot be reached or is busy (Redis down, the SQLite
    /// database locked or unopenable); the same call may succeed later.
    Unavailable(String),

    #[error("the queue backend failed: {0}")]
    /// The backend answered with an error other than unavailability.
    Storage(String),

    #[error("stored data is corrupt: {0}")]
    /// A stored record could not be read back (bad JSON, a missing field);
    /// retrying will not help, the record needs an operator's look.
    Corrupt(String),

    /// The program's check of the kind's payload refused it.
    #[error("invalid payload: {}", .0.message)]
    PayloadRefused(crate::catalog::PayloadRefusal),

    /// A queue holds as much waiting work as one of its quotas allows
    /// (`catalog::Quotas`). `current` is the figure before this job: the
    /// stored waiting jobs, and those ahead of it in its batch.
    #[error(
        "queue {queue:?} is full: {}; wait for workers to drain it, or raise the limit ({})",
        full_figures(*quota, *current, *adding, *limit),
        quota.flag()
    )]
    QueueFull {
        /// The queue that is full.
        queue: String,
        /// Which of its limits the job would pass.
        quota: WaitingQuota,
        /// Jobs or payload bytes waiting before this job.
        current: u64,
        /// What this job would add (1 job, or its payload bytes).
        adding: u64,
        /// The limit, in the quota's unit.
        limit: u64,
    },

    #[error(
        "the payload is {bytes} bytes of JSON; the limit is {limit} (max_payload_bytes): \
         pass large data as a file path, or raise the limit (--max-payload-mb)"
    )]
    /// One job's payload is larger than [`crate::Quotas::max_payload_bytes`].
    PayloadTooLarge {
        /// The payload's size as compact JSON, in bytes.
        bytes: u64,
        /// The most one payload may have, in bytes.
        limit: u64,
    },

    /// A job names a parent (`after`) that no stored job has: it never
    /// existed, or its record expired.
    #[error(
        "job {parent} named in `after` was not found (it never existed, or its record expired)"
    )]
    UnknownParent {
        /// The parent's id.
        parent: JobId,
    },

    /// A flow (a graph of jobs submitted together) is malformed; the
    /// message names the node.
    #[error("invalid flow: {0}")]
    InvalidFlow(String),

    /// One request of a batch is wrong; the batch was refused whole.
    #[error("job {position} of the batch: {error}")]
    InBatch {
        /// The refused request's place in the batch, counted from 1.
        position: usize,
        /// Why it was refused; its code is the batch error's code.
        error: Box<QueueError>,
    },
}

impl QueueError {
    /// A stable name for programs (HTTP error bodies, CLI exit messages).
    pub fn code(&self) -> &'static str {
        match self {
            QueueError::InvalidJobId(_) => "invalid_job_id",
            // The code a bad status had before it got its own message:
            // clients that test it keep working.
            QueueError::InvalidName { .. } | QueueError::UnknownStatus { .. } => "invalid_name",
            QueueError::UnknownKind { .. } => "unknown_kind",
            QueueError::UnknownQueue { .. } => "unknown_queue",
            QueueError::InvalidRequest(_) => "invalid_request",
            QueueError::NotFound(_) => "job_not_found",
            QueueError::InvalidTransition { .. } => "invalid_transition",
            QueueError::Unavailable(_) => "backend_unavailable",
            QueueError::Storage(_) => "backend_error",
            QueueError::Corrupt(_) => "corrupt_record",
            QueueError::PayloadRefused(refusal) => refusal.code,
            QueueError::QueueFull { .. } => "queue_full",
            QueueError::PayloadTooLarge { .. } => "payload_too_large",
            QueueError::UnknownParent { .. } => "unknown_parent",
            QueueError::InvalidFlow(_) => "invalid_flow",
            QueueError::InBatch { error, .. } => error.code(),
        }
    }

    /// Whether the caller's input was at fault (as opposed to the backend).
    pub fn is_client_error(&self) -> bool {
        match self {
            QueueError::Unavailable(_) | QueueError::Storage(_) | QueueError::Corrupt(_) => false,
            QueueError::InBatch { error, .. } => error.is_client_error(),
            _ => true,
        }
    }
}

impl From<crate::catalog::PayloadRefusal> for QueueError {
    fn from(refusal: crate::catalog::PayloadRefusal) -> Self {
        QueueError::PayloadRefused(refusal)
    }
}

fn full_figures(quota: WaitingQuota, current: u64, adding: u64, limit: u64) -> String {
    match quota {
        WaitingQuota::Jobs => format!(
            "it holds {current} waiting jobs (queued or scheduled) and its limit is {limit} ({})",
            quota.field()
        ),
        WaitingQuota::PayloadBytes => format!(
            "its waiting jobs hold {current} bytes of payload, and {adding} more would pass \
             its limit of {limit} bytes ({})",
            quota.field()
        ),
    }
}

/// The engine's result type, with [`QueueError`] as the default error.
pub type Result<T, E = QueueError> = std::result::Result<T, E>;
