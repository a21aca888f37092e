#![warn(missing_docs)]

//! # wjp-queue: the job queue engine
//!
//! A durable job queue with named queues, priorities, delayed jobs, retries
//! with backoff, timeouts, leases, cancellation, progress and events. It
//! knows nothing of DXF, waterjets or HTTP.
//!
//! ## How it fits together
//! - [`job`]: what a job is. [`state`]: the one state machine, as pure
//!   functions from a job to its next state.
//! - [`backend`]: storage drivers that apply the state machine's
//!   transitions atomically under a guard ([`backend::sqlite`] embedded;
//!   Redis for many machines).
//! - [`Queue`]: the public API (enqueue, status, cancel, retry, counts,
//!   failed registry, events, maintenance). Everything else uses this.
//! - [`worker`]: the runtime that claims jobs and runs registered handlers
//!   under leases, timeouts and cancellation.
//! - [`audit`]: the audit log, every job's life kept long after its
//!   record expired, written in the step that makes each change.
//! - [`schedule`]: jobs made on a timetable, one per tick however many
//!   workers run maintenance.
//! - [`Outage`]: one log line when the store stops answering, a summary a
//!   minute while it stays down, one line when it answers again.
//!
//! ```no_run
//! # async fn demo() -> Result<(), wjp_queue::QueueError> {
//! use std::sync::Arc;
//! use wjp_queue::{backend::sqlite::{SqliteBackend, SqliteOptions}, Catalog, JobRequest, Queue};
//!
//! let backend = SqliteBackend::open_dir("wjp-data".as_ref(), SqliteOptions::default())?;
//! let mut catalog = Catalog::new(&["default", "analysis"])?;
//! wjp_queue::builtin::register(&mut catalog)?;
//! let queue = Queue::new(Arc::new(backend), catalog);
//! let job = queue.enqueue(JobRequest::new("noop", serde_json::json!({"x": 1}))).await?.job;
//! println!("{} is {}", job.id, job.status());
//! # Ok(()) }
//! ```

pub mod audit;
pub mod backend;
pub mod builtin;
pub mod catalog;
pub mod error;
pub mod event;
pub mod flow;
pub mod job;
pub mod limits;
pub mod outage;
pub mod queue;
pub mod schedule;
pub mod state;
pub mod stock;
pub mod suggest;
pub mod waiting;
pub mod worker;

pub use audit::{AuditEntry, AuditPage, AuditQuery, AuditRetention, Outcome};
pub use catalog::{Catalog, Quotas};
pub use error::QueueError;
pub use event::Event;
pub use flow::{FlowJob, FlowNode, FlowRequest};
pub use job::{
    ErrorKind, Job, JobError, JobId, JobRequest, Kind, QueueName, Status, Timestamp, RANDOM_ID_LEN,
};
pub use limits::{QueueLimits, Rate, RatePeriod};
pub use outage::Outage;
pub use queue::{CancelOutcome, Enqueued, Queue, SystemInfo};
pub use schedule::{Schedule, ScheduleRequest};
pub use stock::StockItem;
pub use waiting::WaitReason;
pub use worker::{
    run_inline, HandlerError, Handlers, JobContext, ParentResult, QueueOrder, Worker, WorkerConfig,
    WorkerExit,
};
