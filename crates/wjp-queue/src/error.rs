//! The engine's errors, each with a stable machine-readable code.

use crate::catalog::WaitingQuota;
use crate::job::{JobId, Status};

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error(
        "invalid job id {0:?}: use 1 to 128 characters of letters, digits, '_', '.', ':' or '-'"
    )]
    InvalidJobId(String),

    #[error("invalid {what} {name:?}: use 1 to 64 characters of lowercase letters, digits or '_'")]
    InvalidName { what: &'static str, name: String },

    #[error("unknown job kind {kind:?}; registered kinds: {known}")]
    UnknownKind { kind: String, known: String },

    #[error("unknown queue {queue:?}; known queues: {known}")]
    UnknownQueue { queue: String, known: String },

    #[error("invalid job request: {0}")]
    InvalidRequest(String),

    #[error("job {0} not found (it never existed, or its record expired)")]
    NotFound(JobId),

    #[error("job {id} is {status}; cannot {action} it")]
    InvalidTransition {
        id: JobId,
        status: Status,
        action: &'static str,
    },

    #[error("the queue backend is unavailable: {0}")]
    Unavailable(String),

    #[error("the queue backend failed: {0}")]
    Storage(String),

    #[error("stored data is corrupt: {0}")]
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
        queue: String,
        quota: WaitingQuota,
        current: u64,
        adding: u64,
        limit: u64,
    },

    #[error(
        "the payload is {bytes} bytes of JSON; the limit is {limit} (max_payload_bytes): \
         pass large data as a file path, or raise the limit (--max-payload-mb)"
    )]
    PayloadTooLarge { bytes: u64, limit: u64 },

    /// One request of a batch is wrong; the batch was refused whole.
    #[error("job {position} of the batch: {error}")]
    InBatch {
        position: usize,
        error: Box<QueueError>,
    },
}

impl QueueError {
    /// A stable name for programs (HTTP error bodies, CLI exit messages).
    pub fn code(&self) -> &'static str {
        match self {
            QueueError::InvalidJobId(_) => "invalid_job_id",
            QueueError::InvalidName { .. } => "invalid_name",
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

pub type Result<T, E = QueueError> = std::result::Result<T, E>;
