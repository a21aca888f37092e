//! Shop handlers run in a child process each: `wjp run-job`, the same
//! program, fed the job on its standard input.
//!
//! Why: a thread cannot be stopped from outside, and a drawing can ask for
//! more memory or time than any check can foresee (blocks that expand to
//! billions of entities, pictures of noise). A process can be stopped, and
//! limited. So the parent (a worker slot or a synchronous API request)
//! - starts the child with a memory budget (the child limits its own data
//!   segment before it reads anything: an allocation past the budget fails
//!   and ends the child, not the service);
//! - forwards the child's progress to the job;
//! - kills the child as soon as the job is cancelled, times out, or its
//!   request was dropped, so a runaway job stops using the CPU at once,
//!   in `wjp api` as in `wjp worker`. A kind whose search can stop with
//!   its best answer so far (`nest`) is first asked to stop (a `stop` line
//!   on its standard input) and given [`STOP_GRACE`] to answer: a
//!   cancelled job keeps that answer as its result.
//!
//! The child ends by itself when its parent goes away (its standard input
//! closes), so no orphan keeps running after a crash of the service.
//!
//! Files: the parent makes a private working directory for the child (under
//! the data directory's `work/`) and deletes it when the child is gone,
//! whatever ended it; the child copies its inputs there from the artefact
//! store, and writes its outputs to the store.
//!
//! The protocol is JSON lines. In: one line `{"id", "payload", "remnants"}`
//! (the remnants the parent took for a nest, [`crate::remnants`]), then
//! perhaps `stop`. Out:
//! `{"progress": f, "message": m}` lines, then one `{"result": v}` or
//! `{"error": {"kind", "message"}}`.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use wjp_queue::worker::Handler;
use wjp_queue::{HandlerError, JobContext};

use crate::domain::{RemnantSheet, Shop, Task};
use crate::kinds;
use crate::remnants::Held;
use crate::shop_config::ShopConfig;

/// How often the parent looks at its job's cancel flag while the child
/// works: the longest a cancelled or timed-out child runs on.
const POLL: Duration = Duration::from_millis(20);

/// How long a child asked to stop has to answer with what it has. Within
/// the worker's stuck grace (2 s by default), which bounds how long the
/// engine waits for a cancelled handler's answer.
const STOP_GRACE: Duration = Duration::from_millis(1500);

/// The line that asks a child to stop with what it has.
const STOP_LINE: &str = "stop";

/// Set in the child when its parent asks it to stop.
static STOP_ASKED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// How much of the child's error output is kept for the job's error.
const STDERR_KEPT: usize = 4096;

/// The message Rust's allocator prints before it aborts the process.
const ALLOCATION_FAILED: &str = "memory allocation of";

/// A shop kind's handler, as the engine sees it: runs the job in a child.
pub struct InChild {
    pub kind: &'static str,
    pub exe: PathBuf,
    pub data_dir: PathBuf,
    /// The artefact store the child opens (the data directory's folders
    /// when `None`).
    pub storage_url: Option<String>,
    pub memory_budget_mb: u64,
    /// Cores the job may use (a nest's searches side by side).
    pub job_threads: u32,
    /// The shop's figures the parent loaded; the child reads the same file.
    pub shop_config: Option<PathBuf>,
    /// The remnant inventory nests use first (for `nest` only).
    pub remnants: Option<wjp_api::remnants::Inventory>,
    /// Whether the kind stops with its best answer so far when asked.
    pub stops_with_best: bool,
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    id: String,
    payload: Value,
    #[serde(default)]
    remnants: Vec<RemnantSheet>,
    /// How long the job may still run when its process starts (`None`: no
    /// timeout).
    #[serde(default)]
    time_left_ms: Option<u64>,
    /// Cores the job may use.
    #[serde(default = "one_thread")]
    job_threads: u32,
}

fn one_thread() -> u32 {
    1
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Report {
    Progress {
        progress: f64,
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<Value>,
    },
    Result(Value),
    Error {
        kind: ErrorWord,
        message: String,
    },
}

/// How a handler's error crosses the process boundary.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ErrorWord {
    Failed,
    InvalidPayload,
    MissingInput,
    Cancelled,
    Panicked,
}

impl From<HandlerError> for Report {
    fn from(e: HandlerError) -> Self {
        let (kind, message) = match e {
            HandlerError::Failed(m) => (ErrorWord::Failed, m),
            HandlerError::InvalidPayload(m) => (ErrorWord::InvalidPayload, m),
            HandlerError::MissingInput(m) => (ErrorWord::MissingInput, m),
            HandlerError::Cancelled => (ErrorWord::Cancelled, String::new()),
            HandlerError::Panicked(m) => (ErrorWord::Panicked, m),
            // The answer so far is an answer: the parent knows it asked.
            HandlerError::CancelledWithResult(value) => return Report::Result(value),
        };
        Report::Error { kind, message }
    }
}

impl Report {
    fn into_outcome(self) -> Option<Result<Value, HandlerError>> {
        match self {
            Report::Progress { .. } => None,
            Report::Result(value) => Some(Ok(value)),
            Report::Error { kind, message } => Some(Err(match kind {
                ErrorWord::Failed => HandlerError::Failed(message),
                ErrorWord::InvalidPayload => HandlerError::InvalidPayload(message),
                ErrorWord::MissingInput => HandlerError::MissingInput(message),
                ErrorWord::Cancelled => HandlerError::Cancelled,
                ErrorWord::Panicked => HandlerError::Panicked(message),
            })),
        }
    }
}

impl Handler for InChild {
    fn run(&self, ctx: &JobContext) -> Result<Value, HandlerError> {
        let held = self
            .remnants
            .as_ref()
            .and_then(|inventory| crate::remnants::Held::take(inventory, ctx.job()));
        let sheets = held.as_ref().map(Held::sheets).unwrap_or_default();
        let mut outcome = self.run_child(ctx, sheets);
        if let Some(held) = held {
            held.settle(&mut outcome);
        }
        outcome
    }
}

impl InChild {
    fn run_child(
        &self,
        ctx: &JobContext,
        remnants: Vec<RemnantSheet>,
    ) -> Result<Value, HandlerError> {
        let started = Instant::now();
        let failed = |what: &str, e: std::io::Error| {
            HandlerError::Failed(format!("cannot {what} the job's process: {e}"))
        };
        // Deleted when this function returns, after the child was reaped
        // (`child` below is declared later, so it is dropped first).
        let work = make_work_dir(&self.data_dir).map_err(|e| failed("prepare", e))?;
        let mut command = Command::new(&self.exe);
        command
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(["run-job", "--kind", self.kind, "--memory-budget-mb"])
            .arg(self.memory_budget_mb.to_string())
            .arg("--work-dir")
            .arg(work.path());
        match &self.storage_url {
            Some(url) => command.arg("--storage-url").arg(url),
            // Never a WJP_STORAGE_URL of the environment the flags overrode.
            None => command.env_remove("WJP_STORAGE_URL"),
        };
        // Always said, even "none": the child must not find a file of its
        // own (WJP_CONFIG, a wjp.toml made since) that the parent did not.
        match &self.shop_config {
            Some(path) => command.arg("--shop-config").arg(path),
            None => command.arg("--no-shop-config"),
        };
        let child = command
            // mimalloc commits its first arena (1 GiB) up front by default,
            // which a data-segment budget counts in full: commit on use.
            .env("MIMALLOC_ARENA_EAGER_COMMIT", "0")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| failed("start", e))?;
        // From here on the child is killed on every way out.
        let mut child = KillOnDrop(child);
        let (Some(mut stdin), Some(stdout), Some(mut stderr)) = (
            child.0.stdin.take(),
            child.0.stdout.take(),
            child.0.stderr.take(),
        ) else {
            return Err(HandlerError::Failed(
                "the job's process has no pipes".into(),
            ));
        };
        let payload =
            crate::domain::sheet_from_parents(self.kind, &ctx.job().payload, ctx.parent_results())?;
        let timeout = Duration::from_millis(ctx.job().timeout_ms);
        let envelope = Envelope {
            id: ctx.job().id.to_string(),
            payload,
            remnants,
            time_left_ms: Some(
                u64::try_from(timeout.saturating_sub(started.elapsed()).as_millis())
                    .unwrap_or(u64::MAX),
            ),
            job_threads: self.job_threads,
        };
        let line = serde_json::to_string(&envelope)
            .map_err(|e| HandlerError::Failed(format!("cannot encode the job: {e}")))?;
        writeln!(stdin, "{line}").map_err(|e| failed("feed", e))?;
        // stdin stays open: its end tells the child that its parent is gone.

        let (reports, received) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if reports.send(line).is_err() {
                    break;
                }
            }
        });
        let errors = std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = (&mut stderr).take(1 << 20).read_to_end(&mut text);
            let start = text.len().saturating_sub(STDERR_KEPT);
            String::from_utf8_lossy(&text[start..]).into_owned()
        });

        let mut outcome = None;
        loop {
            if ctx.is_cancelled() {
                // Cancelled, timed out, or nobody waits any more: the
                // engine records which. A job of the queue cancelled before
                // its timeout keeps the best answer so far of a child that
                // can give one; otherwise (a timeout, or a synchronous
                // request whose client left: no record keeps an answer) the
                // child only has to stop now.
                let timed_out = started.elapsed() >= Duration::from_millis(ctx.job().timeout_ms);
                let recorded = ctx.job().state.lease_token.is_some();
                if self.stops_with_best && recorded && !timed_out {
                    return Err(ask_to_stop(&mut stdin, &received));
                }
                return Err(HandlerError::Cancelled);
            }
            match received.recv_timeout(POLL) {
                Ok(line) => match serde_json::from_str::<Report>(&line) {
                    Ok(Report::Progress {
                        progress,
                        message,
                        detail: None,
                    }) => ctx.progress(progress, message),
                    Ok(Report::Progress {
                        progress,
                        message,
                        detail: Some(detail),
                    }) => ctx.progress_with_detail(progress, message, detail),
                    Ok(report) => outcome = report.into_outcome(),
                    Err(e) => {
                        return Err(HandlerError::Failed(format!(
                            "the job's process answered something unreadable: {e}"
                        )))
                    }
                },
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        drop(stdin);
        let status = child.0.wait().map_err(|e| failed("wait for", e))?;
        if let Some(outcome) = outcome {
            return outcome;
        }
        let stderr = errors.join().unwrap_or_default();
        if stderr.contains(ALLOCATION_FAILED) {
            return Err(HandlerError::InvalidPayload(format!(
                "the job needed more memory than the budget of {} MB a job may use \
                 (--job-memory-mb); the input is too large or too complex for this server",
                self.memory_budget_mb
            )));
        }
        Err(HandlerError::Failed(format!(
            "the job's process ended without an answer ({status}){}",
            if stderr.trim().is_empty() {
                String::new()
            } else {
                format!(": {}", stderr.trim())
            }
        )))
    }
}

/// Asks the child to stop and waits up to [`STOP_GRACE`] for its answer:
/// the result it gives then is kept on the cancelled job.
fn ask_to_stop(stdin: &mut impl Write, received: &mpsc::Receiver<String>) -> HandlerError {
    if writeln!(stdin, "{STOP_LINE}")
        .and_then(|()| stdin.flush())
        .is_err()
    {
        return HandlerError::Cancelled;
    }
    let deadline = Instant::now() + STOP_GRACE;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let Ok(line) = received.recv_timeout(left) else {
            break;
        };
        match serde_json::from_str::<Report>(&line) {
            Ok(Report::Progress { .. }) => continue,
            Ok(Report::Result(value)) => return HandlerError::CancelledWithResult(value),
            _ => break,
        }
    }
    HandlerError::Cancelled
}

/// A private directory for one job's files, under `<data dir>/work/`.
fn make_work_dir(data_dir: &std::path::Path) -> std::io::Result<tempfile::TempDir> {
    let parent = data_dir.join("work");
    std::fs::create_dir_all(&parent)?;
    tempfile::Builder::new().prefix("job-").tempdir_in(parent)
}

/// Kills and reaps the child when the handler returns, whatever the way.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// `wjp run-job`: the child's side. Limits its own memory, reads the job,
/// runs the kind's handler with panics caught, and reports on stdout.
pub fn serve(job: &JobProcess<'_>) -> ExitCode {
    let report = run_job(job);
    let mut out = std::io::stdout().lock();
    match serde_json::to_string(&report) {
        Ok(line) if writeln!(out, "{line}").and_then(|()| out.flush()).is_ok() => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    }
}

/// What `wjp run-job` is told.
pub struct JobProcess<'a> {
    pub kind: &'a str,
    pub data_dir: &'a std::path::Path,
    pub storage_url: Option<&'a str>,
    /// The private directory the parent made for this job's files.
    pub work_dir: &'a std::path::Path,
    pub memory_budget_mb: u64,
    pub shop_config: Option<&'a std::path::Path>,
}

fn run_job(job: &JobProcess<'_>) -> Report {
    let Some(kind) = kinds::shop_kind(job.kind) else {
        return HandlerError::Failed(format!("run-job: unknown kind {:?}", job.kind)).into();
    };
    if let Err(e) = limit_memory(job.memory_budget_mb) {
        return HandlerError::Failed(format!("cannot set the job's memory budget: {e}")).into();
    }
    let mut line = String::new();
    let stdin = std::io::stdin();
    let read = stdin.lock().read_line(&mut line);
    // The parent measured the time left just before it wrote the job.
    let child_started = Instant::now();
    if let Err(e) = read {
        return HandlerError::Failed(format!("cannot read the job: {e}")).into();
    }
    // The parent keeps our stdin open while it waits; its end means the
    // parent is gone (or gave up on us), and the work is wasted. A `stop`
    // line asks for the best answer so far.
    std::thread::spawn(|| {
        for line in std::io::stdin().lock().lines() {
            match line {
                Ok(line) if line.trim() == STOP_LINE => STOP_ASKED.store(true, Ordering::SeqCst),
                Ok(_) => {}
                Err(_) => break,
            }
        }
        std::process::exit(3);
    });
    let envelope: Envelope = match serde_json::from_str(&line) {
        Ok(envelope) => envelope,
        Err(e) => return HandlerError::Failed(format!("cannot read the job: {e}")).into(),
    };
    let figures = match job.shop_config.map(ShopConfig::load).transpose() {
        Ok(figures) => figures.unwrap_or_default(),
        Err(e) => return HandlerError::Failed(e.to_string()).into(),
    };
    let store = match wjp_store::Store::open(job.storage_url, job.data_dir) {
        Ok(store) => store,
        Err(e) => return HandlerError::Failed(e.to_string()).into(),
    };
    let mut shop = match Shop::open(store, figures) {
        Ok(shop) => shop,
        Err(e) => return HandlerError::Failed(e).into(),
    };
    // Checked again here: a payload may have reached the queue by a door
    // that did not check it (an older client, a hand-written record).
    let payload = match kinds::admit(kind, &shop.store, envelope.payload, &shop.figures.materials) {
        Ok(payload) => payload,
        Err(refusal) if refusal.not_found => {
            return HandlerError::MissingInput(refusal.to_string()).into()
        }
        Err(refusal) => return HandlerError::InvalidPayload(refusal.to_string()).into(),
    };
    let inputs = kinds::input_keys(kind, &payload);
    if let Err(e) = shop.fetch_inputs(&inputs, &job.work_dir.join("inputs")) {
        return e.into();
    }
    let progress = Progress::default();
    let task = Task {
        id: &envelope.id,
        payload: &payload,
        progress: &|fraction, message, detail| progress.report(fraction, message, detail),
        should_stop: &|| STOP_ASKED.load(Ordering::SeqCst),
        remnants: &envelope.remnants,
        job_threads: envelope.job_threads.max(1),
        deadline: envelope
            .time_left_ms
            .and_then(|ms| child_started.checked_add(Duration::from_millis(ms))),
    };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (kind.run)(&task, &shop))) {
        Ok(Ok(mut value)) => {
            if let Some(result) = value.as_object_mut() {
                result.insert("artifact_files".into(), shop.stored_files());
            }
            Report::Result(value)
        }
        Ok(Err(e)) => e.into(),
        Err(panic) => HandlerError::Panicked(
            panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".into()),
        )
        .into(),
    }
}

/// Caps the process's data segment (heap and private mappings): past it an
/// allocation fails, and Rust ends the process with a message the parent
/// recognises.
fn limit_memory(budget_mb: u64) -> std::io::Result<()> {
    let bytes = budget_mb.saturating_mul(1 << 20);
    rlimit::setrlimit(rlimit::Resource::DATA, bytes, bytes)
}

/// Progress reports, at most one every 50 ms: a handler may report far more
/// often than anyone reads.
#[derive(Default)]
struct Progress {
    last: std::sync::Mutex<Option<Instant>>,
}

impl Progress {
    fn report(&self, fraction: f64, message: &str, detail: Option<&Value>) {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_some_and(|t| t.elapsed() < Duration::from_millis(50)) {
            return;
        }
        *last = Some(Instant::now());
        let report = Report::Progress {
            progress: fraction,
            message: message.to_owned(),
            detail: detail.cloned(),
        };
        if let Ok(line) = serde_json::to_string(&report) {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}").and_then(|()| out.flush());
        }
    }
}
