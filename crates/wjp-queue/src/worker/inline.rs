//! [`run_inline`]: a job's handler run at once, without the queue.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::handler::{panic_error, panic_message, timeout_error, Handlers, JobContext};
use super::running::JobSignals;
use crate::error::{QueueError, Result};
use crate::job::{ErrorKind, JobError, JobRequest, Timestamp};
use crate::queue::Queue;
use crate::state;

/// Runs a job's handler at once, in this process, without storing anything:
/// for synchronous API requests, and for keeping clients served while the
/// backend is unreachable. The request is checked against the catalog as
/// an enqueue would be; the handler runs on the blocking pool, under the
/// job's timeout, with panics caught. Dropping the returned future (the
/// client went away) tells the handler to stop, as a cancel would.
pub async fn run_inline(
    queue: &Queue,
    handlers: &Handlers,
    request: JobRequest,
) -> Result<std::result::Result<Value, JobError>> {
    let mut job = state::new_job(request, queue.catalog(), Timestamp::now())?;
    let handler = handlers
        .get(&job.kind)
        .ok_or_else(|| QueueError::UnknownKind {
            kind: job.kind.to_string(),
            known: handlers
                .kinds()
                .map(|k| k.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    job.state.attempt = 1;
    let timeout = Duration::from_millis(job.timeout_ms);
    let signals = Arc::new(JobSignals::new());
    let _stop_when_dropped = StopOnDrop(signals.clone());
    let ctx = JobContext::new(job, signals.clone());
    let run = tokio::task::spawn_blocking(move || {
        std::panic::catch_unwind(AssertUnwindSafe(|| handler.run(&ctx))).map_err(panic_message)
    });
    let outcome = match tokio::time::timeout(timeout, run).await {
        Err(_) => {
            signals.ask_to_stop();
            Err(timeout_error(timeout.as_secs_f64()))
        }
        Ok(Err(join)) => Err(JobError::new(ErrorKind::Panic, join.to_string())),
        Ok(Ok(Err(panic))) => Err(panic_error(&panic)),
        Ok(Ok(Ok(Ok(value)))) => Ok(value),
        Ok(Ok(Ok(Err(e)))) => Err(e.into_job_error()),
    };
    Ok(outcome)
}

/// Tells an inline handler to stop when its caller stops waiting for it:
/// the work of a request nobody waits for is wasted, and may be large.
struct StopOnDrop(Arc<JobSignals>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.ask_to_stop();
    }
}
