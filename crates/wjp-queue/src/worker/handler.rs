//! What a program registers for its job kinds, and what a handler sees of
//! its job: [`Handler`], [`Handlers`], [`HandlerError`], [`JobContext`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::running::{JobSignals, Progress};
use crate::error::Result;
use crate::job::{ErrorKind, Job, JobError, Kind};

/// Why a handler did not return a result.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HandlerError {
    /// The work failed; the job is retried if it has attempts left.
    #[error("{0}")]
    Failed(String),
    /// The payload is wrong; retrying cannot help.
    #[error("invalid payload: {0}")]
    InvalidPayload(String),
    /// A file the payload names is not there; retrying cannot help.
    #[error("missing input: {0}")]
    MissingInput(String),
    /// The handler saw that its job was cancelled and stopped.
    #[error("cancelled")]
    Cancelled,
    /// The handler saw that its job was cancelled and stopped with what it
    /// had so far (the best answer of an anytime search): the job ends
    /// `cancelled` and keeps this as its result.
    #[error("cancelled, with the result so far")]
    CancelledWithResult(Value),
    /// The handler's code panicked somewhere the worker could not catch it
    /// (a handler that runs its work in a child process reports it so).
    #[error("the handler panicked: {0}")]
    Panicked(String),
}

impl HandlerError {
    /// The error recorded on the job.
    pub fn into_job_error(self) -> JobError {
        match self {
            HandlerError::Failed(m) => JobError::new(ErrorKind::HandlerError, m),
            HandlerError::InvalidPayload(m) => JobError::new(ErrorKind::InvalidPayload, m),
            HandlerError::MissingInput(m) => JobError::new(ErrorKind::MissingInput, m),
            HandlerError::Cancelled | HandlerError::CancelledWithResult(_) => {
                JobError::new(ErrorKind::Cancelled, "cancelled")
            }
            HandlerError::Panicked(m) => panic_error(&m),
        }
    }
}

/// The error recorded for a handler that panicked.
pub(super) fn panic_error(message: &str) -> JobError {
    JobError::new(ErrorKind::Panic, format!("the handler panicked: {message}"))
}

/// The error recorded for a handler that ran past its timeout.
pub(super) fn timeout_error(timeout_seconds: f64) -> JobError {
    JobError::new(
        ErrorKind::Timeout,
        format!("ran longer than its timeout of {timeout_seconds:.1} s"),
    )
}

/// The text of a caught panic.
pub(super) fn panic_message(panic: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-text payload".into()
    }
}

/// A job kind's implementation. Handlers run on their own thread and may
/// block; long ones should call [`JobContext::progress`] and check
/// [`JobContext::is_cancelled`] now and then.
pub trait Handler: Send + Sync + 'static {
    /// Does the job's work; the value returned becomes the job's result.
    fn run(&self, ctx: &JobContext) -> std::result::Result<Value, HandlerError>;
}

impl<F> Handler for F
where
    F: Fn(&JobContext) -> std::result::Result<Value, HandlerError> + Send + Sync + 'static,
{
    fn run(&self, ctx: &JobContext) -> std::result::Result<Value, HandlerError> {
        self(ctx)
    }
}

/// Where a handler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Placement {
    /// On a blocking-pool thread, under the timeout watchdog: the default,
    /// and the only safe choice for anything that may take a while.
    Thread,
    /// On the async runtime, in the job's own task: no thread hand-off
    /// (two context switches per job, most of a trivial job's cost), but
    /// also no timeout and no cancellation while it runs.
    Inline,
}

/// A handler and where it runs.
#[derive(Clone)]
pub(super) struct Registered {
    pub(super) handler: Arc<dyn Handler>,
    pub(super) placement: Placement,
}

/// Handlers by job kind.
#[derive(Clone, Default)]
pub struct Handlers {
    map: HashMap<Kind, Registered>,
}

impl Handlers {
    /// No handlers yet.
    pub fn new() -> Self {
        Handlers::default()
    }

    /// Adds the handler of `kind`, run on a blocking-pool thread under its
    /// job's timeout; replaces any handler the kind had, and refuses a
    /// malformed kind name.
    pub fn add(&mut self, kind: &str, handler: impl Handler) -> Result<&mut Self> {
        self.insert(kind, handler, Placement::Thread)
    }

    /// Adds a handler that returns within microseconds and never blocks
    /// (no I/O, no locks held by others, no unbounded loops). It runs
    /// inline on the async runtime: a job's timeout cannot interrupt it,
    /// and a slow one stalls every other job of the worker. Anything else
    /// belongs in [`Handlers::add`].
    pub fn add_inline(&mut self, kind: &str, handler: impl Handler) -> Result<&mut Self> {
        self.insert(kind, handler, Placement::Inline)
    }

    fn insert(
        &mut self,
        kind: &str,
        handler: impl Handler,
        placement: Placement,
    ) -> Result<&mut Self> {
        let registered = Registered {
            handler: Arc::new(handler),
            placement,
        };
        self.map.insert(Kind::parse(kind)?, registered);
        Ok(self)
    }

    /// The handler of `kind`, if one was added.
    pub fn get(&self, kind: &Kind) -> Option<Arc<dyn Handler>> {
        self.map.get(kind).map(|r| r.handler.clone())
    }

    pub(super) fn registered(&self, kind: &Kind) -> Option<&Registered> {
        self.map.get(kind)
    }

    /// The kinds that have a handler, in no particular order.
    pub fn kinds(&self) -> impl Iterator<Item = &Kind> {
        self.map.keys()
    }
}

/// What a job's handler learns of one of its parents (`after`), read
/// when its attempt starts.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ParentResult {
    /// The parent's id.
    pub id: crate::job::JobId,
    /// Its status then; `None` when its record is gone (its result TTL
    /// passed before this job ran).
    pub status: Option<crate::job::Status>,
    /// What it returned, if it completed and its result is still kept.
    pub result: Option<Value>,
}

/// What a handler sees of its job, and how it talks back.
pub struct JobContext {
    job: Job,
    signals: Arc<JobSignals>,
    parents: Vec<ParentResult>,
}

impl JobContext {
    pub(super) fn new(job: Job, signals: Arc<JobSignals>) -> Self {
        JobContext {
            job,
            signals,
            parents: Vec::new(),
        }
    }

    pub(super) fn with_parents(mut self, parents: Vec<ParentResult>) -> Self {
        self.parents = parents;
        self
    }

    /// The results of the jobs this one waited for (`after`), in the order
    /// it names them; empty for a job without parents. A job that runs
    /// anyway sees its failed parents too, without a result.
    pub fn parent_results(&self) -> &[ParentResult] {
        &self.parents
    }

    /// The job being run, as it was claimed (this attempt's number, its
    /// payload and limits).
    pub fn job(&self) -> &Job {
        &self.job
    }

    /// The payload as a typed value; an error names what does not fit.
    pub fn parse_payload<T: DeserializeOwned>(&self) -> std::result::Result<T, HandlerError> {
        serde_json::from_value(self.job.payload.clone())
            .map_err(|e| HandlerError::InvalidPayload(e.to_string()))
    }

    /// Whether the job was cancelled, timed out, or its worker is shutting
    /// down: the handler should stop soon.
    pub fn is_cancelled(&self) -> bool {
        self.signals.stop_requested()
    }

    /// [`HandlerError::Cancelled`] once the handler should stop (see
    /// [`JobContext::is_cancelled`]), for use with `?` in a loop.
    pub fn check_cancelled(&self) -> std::result::Result<(), HandlerError> {
        if self.is_cancelled() {
            Err(HandlerError::Cancelled)
        } else {
            Ok(())
        }
    }

    /// Reports progress (clamped to 0..1). Cheap: the worker writes only the
    /// latest report, a few times a second.
    pub fn progress(&self, fraction: f64, message: impl Into<String>) {
        self.report(fraction, message.into(), None);
    }

    /// Reports progress with figures for programs (`detail`, a JSON object:
    /// a nest's best layout so far), which the job's record and its
    /// progress events carry beside the message. A detail that is not an
    /// object, or larger than [`MAX_PROGRESS_DETAIL_BYTES`](crate::job::MAX_PROGRESS_DETAIL_BYTES), is left out
    /// (the message still goes), with a warning.
    pub fn progress_with_detail(&self, fraction: f64, message: impl Into<String>, detail: Value) {
        self.report(fraction, message.into(), Some(detail));
    }

    fn report(&self, fraction: f64, message: String, detail: Option<Value>) {
        let fraction = if fraction.is_finite() {
            fraction.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self.signals.report_progress(Progress {
            fraction,
            message,
            detail,
        });
    }

    /// Sleeps, waking early with [`HandlerError::Cancelled`] if the job is
    /// cancelled.
    pub fn sleep(&self, duration: Duration) -> std::result::Result<(), HandlerError> {
        let deadline = std::time::Instant::now() + duration;
        loop {
            self.check_cancelled()?;
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            std::thread::sleep(left.min(Duration::from_millis(20)));
        }
    }
}
