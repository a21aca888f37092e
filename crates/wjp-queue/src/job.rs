//! The job model: what a job is, independent of where it is stored.
//!
//! A [`Job`] is an immutable specification (id, kind, queue, payload, limits)
//! plus a mutable [`JobState`]. Only the state machine in [`crate::state`]
//! produces new states; backends store them.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::error::QueueError;

/// The length of a generated job id ([`JobId::random`]): 20 random digits
/// of base 62 and 2 that name its run.
pub const RANDOM_ID_LEN: usize = 22;

/// How many ids [`JobId::random`] makes in a row with the same last two
/// digits. A backend may group what it stores by an id's end (the Redis
/// backend's record hashes, see `backend/redis/mod.rs`): jobs enqueued
/// together are then claimed and ended together with one command per
/// group rather than one per job. Redis searches a compact hash from its
/// start for every field it reads and shifts it for every field it
/// deletes, so a run's commands cost about the square of its length: 16
/// cost Redis about 0.9k fewer instructions per drained no-op job than 32
/// and 1.5k fewer per enqueued one, for 3 bytes more memory per queued job
/// (more hashes; BENCHMARKS.md, Redis memory per queued job).
pub(crate) const ID_RUN: u64 = 16;

/// The digits of base 62 (`0-9A-Za-z`), in order.
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `n` as `out.len()` digits of base 62, leading zeros kept, the digits
/// of `n` past them dropped.
fn base62_into(mut n: u128, out: &mut [u8]) {
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
}

/// A generated id: `random` as 20 digits of base 62 (62^20 > 2^119, so
/// every 119-bit number has 20), then the run number `run` as 2 (its
/// value modulo 62^2).
fn base62_id(random: u128, run: u64) -> String {
    let mut out = [b'0'; RANDOM_ID_LEN];
    let (body, tail) = out.split_at_mut(RANDOM_ID_LEN - 2);
    base62_into(random >> 9, body);
    base62_into(u128::from(run), tail);
    out.iter().map(|&b| char::from(b)).collect()
}

/// The run of the next id this process makes (see [`ID_RUN`]): counted
/// from a random start, so that processes enqueueing at once seldom share
/// runs.
fn next_run() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;
    static START: OnceLock<u64> = OnceLock::new();
    static MADE: AtomicU64 = AtomicU64::new(0);
    let start = *START.get_or_init(|| rand::random::<u64>() % (62 * 62));
    start + MADE.fetch_add(1, Ordering::Relaxed) / ID_RUN
}

/// Longest client-given job id we accept; long enough for any UUID or
/// hash-based id, short enough to keep keys and index entries small.
pub const MAX_JOB_ID_LEN: usize = 128;

/// Largest progress detail (its compact JSON), bytes: figures for a
/// program, not a second result. A larger one is dropped, with a warning.
pub const MAX_PROGRESS_DETAIL_BYTES: usize = 2048;

/// A job's identity: 22 letters and digits, mostly random, by default, or
/// an id the client chose (which makes enqueueing idempotent).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct JobId(String);

impl JobId {
    /// A fresh id, for requests that name no id: 119 random bits as 20
    /// base-62 digits, then 2 it shares with the other ids of its run
    /// ([`ID_RUN`] ids this process makes in a row). About as unguessable
    /// as a version 4 UUID (which has 122 random bits) in 14 bytes less,
    /// and an id is stored in a job's key, its index entries and its audit
    /// and event lines (see BENCHMARKS.md, Redis memory per queued job).
    /// Only letters and digits: an id never starts with `-` (a command line
    /// would take it for a flag) and needs no escaping anywhere.
    pub fn random() -> Self {
        JobId(base62_id(rand::random::<u128>(), next_run()))
    }

    /// Accepts 1 to 128 characters of `[A-Za-z0-9_.:-]`: safe in file names,
    /// URLs, SQL and Redis keys without escaping.
    pub fn parse(text: &str) -> Result<Self, QueueError> {
        let valid_chars = text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-'));
        if text.is_empty() || text.len() > MAX_JOB_ID_LEN || !valid_chars {
            return Err(QueueError::InvalidJobId(text.chars().take(200).collect()));
        }
        Ok(JobId(text.to_owned()))
    }

    /// The id as text, as stored and shown.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for JobId {
    type Error = QueueError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        JobId::parse(&value)
    }
}

impl From<JobId> for String {
    fn from(id: JobId) -> String {
        id.0
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Declares a validated lowercase name type (job kinds, queue names).
macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Accepts 1 to 64 characters of `[a-z0-9_]`.
            pub fn parse(text: &str) -> Result<Self, QueueError> {
                let valid = !text.is_empty()
                    && text.len() <= 64
                    && text
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
                if valid {
                    Ok($name(text.to_owned()))
                } else {
                    Err(QueueError::InvalidName {
                        what: $what,
                        name: text.chars().take(100).collect(),
                    })
                }
            }

            /// The name as text, as stored and shown.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = QueueError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                $name::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(name: $name) -> String {
                name.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

name_type!(
    /// What a job does (`analyze_dxf`, `noop`, ...); workers dispatch on it.
    Kind,
    "job kind"
);
name_type!(
    /// A named queue (`default`, `analysis`, ...).
    QueueName,
    "queue name"
);

impl QueueName {
    /// The queue every catalog has ([`crate::catalog::DEFAULT_QUEUE`]).
    pub fn default_queue() -> QueueName {
        QueueName(crate::catalog::DEFAULT_QUEUE.to_owned())
    }
}

/// Where a job is in its life. See [`crate::state`] for the allowed moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Waiting for its parents (`after`) to end; it runs once every one
    /// has completed (or, with `run_anyway`, ended).
    Waiting,
    /// Waiting for its run-at time (delayed job, or a retry after backoff).
    Scheduled,
    /// Ready to run; the next free worker of its queue takes it.
    Queued,
    /// A worker holds a lease on it and runs its handler.
    Running,
    /// The handler returned a result; kept for the job's result TTL.
    Completed,
    /// The last attempt failed; kept in the failed registry for the job's
    /// failure TTL.
    Failed,
    /// Someone cancelled it; kept for the job's failure TTL, as a failed
    /// job is.
    Cancelled,
}

impl Status {
    /// Every status, in the order of a job's life.
    pub const ALL: [Status; 7] = [
        Status::Waiting,
        Status::Scheduled,
        Status::Queued,
        Status::Running,
        Status::Completed,
        Status::Failed,
        Status::Cancelled,
    ];

    /// The stable snake_case word used in storage, the API and events.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Waiting => "waiting",
            Status::Scheduled => "scheduled",
            Status::Queued => "queued",
            Status::Running => "running",
            Status::Completed => "completed",
            Status::Failed => "failed",
            Status::Cancelled => "cancelled",
        }
    }

    /// A terminal job never runs again unless someone retries it by hand.
    pub fn is_terminal(self) -> bool {
        matches!(self, Status::Completed | Status::Failed | Status::Cancelled)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = QueueError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| QueueError::UnknownStatus {
                name: text.chars().take(100).collect(),
            })
    }
}

/// Why a job failed, as a stable machine-readable word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The handler ran past the job's timeout.
    Timeout,
    /// Someone cancelled the job.
    Cancelled,
    /// The handler returned an error.
    HandlerError,
    /// The handler rejected its payload; retrying cannot help.
    InvalidPayload,
    /// The handler panicked.
    Panic,
    /// The worker holding the job stopped renewing its lease (it died or hung)
    /// and the job had no attempts left.
    LostLease,
    /// No worker of this deployment has a handler for the job's kind.
    NoHandler,
    /// A parent the job waited for failed or was cancelled, so the job
    /// never ran.
    DependencyFailed,
    /// A file the job reads is not where its payload says (not uploaded,
    /// or deleted since); retrying cannot help until someone puts it there.
    MissingInput,
}

impl ErrorKind {
    /// The stable snake_case word used in storage, the API and events.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Timeout => "timeout",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::HandlerError => "handler_error",
            ErrorKind::InvalidPayload => "invalid_payload",
            ErrorKind::Panic => "panic",
            ErrorKind::LostLease => "lost_lease",
            ErrorKind::NoHandler => "no_handler",
            ErrorKind::DependencyFailed => "dependency_failed",
            ErrorKind::MissingInput => "missing_input",
        }
    }

    /// Whether another attempt could succeed where this one failed.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::Timeout | ErrorKind::HandlerError | ErrorKind::Panic | ErrorKind::LostLease
        )
    }
}

impl FromStr for ErrorKind {
    type Err = QueueError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        serde_json::from_value(Value::String(text.to_owned())).map_err(|_| {
            QueueError::InvalidName {
                what: "error kind",
                name: text.chars().take(100).collect(),
            }
        })
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a job's attempt failed: a stable kind for programs and a message for
/// people.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobError {
    /// The class of failure; decides whether the job may be retried.
    pub kind: ErrorKind,
    /// What went wrong, in words (the handler's error, the panic message, ...).
    pub message: String,
}

impl JobError {
    /// An error of `kind` with a message for people.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        JobError {
            kind,
            message: message.into(),
        }
    }
}

/// Milliseconds since the Unix epoch, shown as RFC 3339 (ISO 8601) text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The current wall-clock time of this machine.
    pub fn now() -> Self {
        Timestamp(Utc::now().timestamp_millis())
    }

    /// Milliseconds since the Unix epoch.
    pub fn millis(self) -> i64 {
        self.0
    }

    /// This time `ms` milliseconds later, saturating instead of overflowing.
    pub fn plus_millis(self, ms: u64) -> Self {
        Timestamp(self.0.saturating_add(i64::try_from(ms).unwrap_or(i64::MAX)))
    }

    /// RFC 3339 text in UTC with milliseconds (`2023-11-14T22:13:20.123Z`);
    /// the bare number for times chrono cannot represent.
    pub fn to_rfc3339(self) -> String {
        match Utc.timestamp_millis_opt(self.0).single() {
            Some(t) => t.to_rfc3339_opts(SecondsFormat::Millis, true),
            None => self.0.to_string(),
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| Timestamp(t.timestamp_millis()))
            .map_err(serde::de::Error::custom)
    }
}

/// The secret a worker holds while it runs a job. Every write the worker makes
/// to the job must present it, so a worker whose lease expired and was taken
/// over cannot overwrite the new owner's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LeaseToken(pub u64);

impl LeaseToken {
    /// A fresh random token, never zero; each claim gets its own.
    pub fn random() -> Self {
        // Zero is never handed out, so it can't collide with a default value.
        LeaseToken(rand::random::<u64>() | 1)
    }
}

impl fmt::Display for LeaseToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// What a client asks for; [`crate::Queue::enqueue`] fills the gaps from the
/// kind's defaults and turns it into a [`Job`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobRequest {
    /// The kind of job: a name the program registered in its
    /// [`crate::Catalog`].
    pub kind: String,
    /// The handler's input, as JSON; `null` when missing. Checked against
    /// the kind's payload check and [`crate::Quotas::max_payload_bytes`].
    #[serde(default)]
    pub payload: Value,
    /// The queue to put the job on; the kind's own queue when `None`.
    #[serde(default)]
    pub queue: Option<String>,
    /// Higher runs first; 0 when `None`.
    #[serde(default)]
    pub priority: Option<i32>,
    /// Seconds to wait before the job may run.
    #[serde(default)]
    pub delay: Option<f64>,
    /// Seconds the handler may run before it is stopped.
    #[serde(default)]
    pub timeout: Option<f64>,
    /// How many times the job may run in all (first run included); the
    /// kind's default when `None`, at most the kind's cap.
    #[serde(default)]
    pub max_attempts: Option<u32>,
    /// How many times the job may be put back after its worker died under
    /// it (a stall), apart from its attempts; the kind's default when
    /// `None`, at most the kind's cap.
    #[serde(default)]
    pub max_stalls: Option<u32>,
    /// A free text of the client's own (a customer, an order, a drawing
    /// number), kept with the job and shown beside it; 1 to 200 characters.
    #[serde(default)]
    pub reference: Option<String>,
    /// A key of the client's choosing that keeps the job unique in its
    /// queue: while a job with this key waits or runs (and, with
    /// `unique_for`, until that many seconds after it was made), enqueueing
    /// another returns that job instead (see [`crate::state::holds_unique_key`]).
    #[serde(default)]
    pub unique_key: Option<String>,
    /// Seconds from the job's creation during which its `unique_key` holds
    /// even after it ended; only with `unique_key`.
    #[serde(default)]
    pub unique_for: Option<f64>,
    /// The fairness group the job belongs to in its queue (a customer, an
    /// order): claims take the queue's groups in turn, so one group's many
    /// jobs cannot starve another's few (see [`crate::state::check_group`]
    /// for the names allowed).
    #[serde(default)]
    pub group: Option<String>,
    /// An id of the client's choosing, which makes the enqueue idempotent
    /// (see [`crate::state::id_is_reusable`]); a random id ([`JobId::random`]) when `None`.
    #[serde(default)]
    pub job_id: Option<String>,
    /// Seconds a completed job's result is kept.
    #[serde(default)]
    pub result_ttl: Option<f64>,
    /// Seconds a failed or cancelled job is kept in the failed registry.
    #[serde(default)]
    pub failure_ttl: Option<f64>,
    /// Seconds before the first retry; each further retry waits twice as long.
    #[serde(default)]
    pub backoff: Option<f64>,
    /// Ids of the jobs this one waits for: it stays `waiting` until every
    /// one has completed, and is cancelled with `dependency_failed` when
    /// one fails or is cancelled (unless `run_anyway`). At most
    /// [`crate::Quotas::max_parents`].
    #[serde(default)]
    pub after: Vec<String>,
    /// Runs once every parent has ended, whether it completed or not.
    #[serde(default)]
    pub run_anyway: bool,
    /// Who asks for the job, as the audit log records it (an API key's
    /// fingerprint, a client address, `cli`): set by the program that
    /// took the request, never read from a client's JSON.
    #[serde(skip)]
    pub origin: Option<String>,
}

impl JobRequest {
    /// A request for a job of `kind` with `payload`, leaving every other
    /// choice to the kind's defaults.
    pub fn new(kind: impl Into<String>, payload: Value) -> Self {
        JobRequest {
            kind: kind.into(),
            payload,
            ..JobRequest::default()
        }
    }
}

/// The parts of a job that change as it moves through its life.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobState {
    /// Where the job is in its life.
    pub status: Status,
    /// 0..1 while running; 1 once completed.
    pub progress: Option<f64>,
    /// What the handler last said it was doing.
    pub progress_message: Option<String>,
    /// The figures the handler gave with its last progress, for programs
    /// (a nest's best layout so far: `{"placed", "sheets", "utilization"}`):
    /// a JSON object of at most [`MAX_PROGRESS_DETAIL_BYTES`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress_detail: Option<Value>,
    /// What the handler returned, once completed.
    pub result: Option<Value>,
    /// Why the last attempt failed; kept while a retry waits, so the cause
    /// shows, and cleared when the next attempt starts.
    pub error: Option<JobError>,
    /// Which attempt runs or ran last (1 on the first run). A stall does
    /// not spend one: the attempt a dead worker held runs again.
    pub attempt: u32,
    /// How many times the job was put back because its worker stopped
    /// renewing the lease (it died, or its machine did) before it ended.
    #[serde(default)]
    pub stalls: u32,
    /// When the job may run next (its delay, or its retry backoff).
    pub run_at: Timestamp,
    /// When the job last entered the queue.
    pub enqueued_at: Option<Timestamp>,
    /// When the current (or last) attempt started.
    pub started_at: Option<Timestamp>,
    /// When the job ended: completed, failed or cancelled.
    pub completed_at: Option<Timestamp>,
    /// When the record is deleted (completed: result TTL; failed or cancelled:
    /// failure TTL). `None` while the job is live.
    pub expires_at: Option<Timestamp>,
    /// The worker running (or that last ran) the job.
    pub worker: Option<String>,
    /// The running worker's secret. Left out of the job's JSON, so it cannot
    /// leak through the API; backends store it beside the record.
    #[serde(skip)]
    pub lease_token: Option<LeaseToken>,
    /// When the running worker's lease ends unless it renews it; after
    /// that, maintenance takes the job back.
    pub lease_expires_at: Option<Timestamp>,
    /// Set when a running job is cancelled; the worker stops the handler.
    pub cancel_requested: bool,
}

/// A job: its immutable specification and its current state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// The job's identity, unique in the store.
    pub id: JobId,
    /// What the job does; picks its handler.
    pub kind: Kind,
    /// The queue it waits in.
    pub queue: QueueName,
    /// The handler's input, as checked and stored at enqueue.
    pub payload: Value,
    /// Higher runs first.
    pub priority: i32,
    /// How many times the job may run in all, first run included (1 to
    /// [`crate::state::MAX_ATTEMPTS`]).
    pub max_attempts: u32,
    /// How many stalls the job survives (see [`JobState::stalls`]); the
    /// next one fails it with `lost_lease`, so a job that kills every
    /// worker it touches stops somewhere.
    #[serde(default = "default_max_stalls")]
    pub max_stalls: u32,
    /// Milliseconds one attempt's handler may run before it is stopped and
    /// the attempt fails with `timeout`.
    pub timeout_ms: u64,
    /// Milliseconds a completed job's record and result are kept.
    pub result_ttl_ms: u64,
    /// Milliseconds a failed or cancelled job is kept in the failed registry.
    pub failure_ttl_ms: u64,
    /// Milliseconds before the first retry; doubled for each further one
    /// (see [`crate::state::backoff_delay`]).
    pub backoff_ms: u64,
    /// When the job was made from its request; a retry keeps it.
    pub created_at: Timestamp,
    /// The client's reference (see [`JobRequest::reference`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The key that keeps the job unique in its queue, if any (see
    /// [`JobRequest::unique_key`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unique_key: Option<String>,
    /// Until when the key holds once the job has ended (`unique_for`
    /// after creation); `None`: only while it waits or runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unique_until: Option<Timestamp>,
    /// Its fairness group in its queue, if any (see [`JobRequest::group`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The jobs it waits for (see [`JobRequest::after`]); empty for most.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<JobId>,
    /// Whether it runs once its parents ended however they ended (see
    /// [`JobRequest::run_anyway`]).
    #[serde(default, skip_serializing_if = "is_false")]
    pub run_anyway: bool,
    /// Where the job is in its life; changed only through [`crate::state`].
    #[serde(flatten)]
    pub state: JobState,
}

fn is_false(value: &bool) -> bool {
    !*value
}

fn default_max_stalls() -> u32 {
    crate::catalog::Defaults::default().max_stalls
}

impl Job {
    /// The job's current status (shorthand for `state.status`).
    pub fn status(&self) -> Status {
        self.state.status
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids_refuse_unsafe_text() {
        assert!(JobId::parse("abc-123_x.y:z").is_ok());
        for bad in ["", "a b", "../etc", "x/y", "é", &"x".repeat(129)] {
            assert!(JobId::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn generated_ids_are_20_random_digits_then_2_of_their_run() {
        assert_eq!(base62_id(0, 0), "0".repeat(RANDOM_ID_LEN));
        // The lowest 9 random bits are dropped: 119 of them fill 20 digits.
        assert_eq!(base62_id(511, 0), "0".repeat(RANDOM_ID_LEN));
        assert_eq!(
            base62_id(512 * 61, 1),
            format!("{}z01", "0".repeat(RANDOM_ID_LEN - 3))
        );
        assert_eq!(base62_id(u128::MAX, 0), "wUlFeUHcE1B9u5BFOMyF00");
        assert_eq!(base62_id(0, 62 * 62 - 1), format!("{}zz", "0".repeat(20)));
        assert_eq!(base62_id(0, 62 * 62), "0".repeat(RANDOM_ID_LEN));
        let id = JobId::random();
        assert_eq!(id.as_str().len(), RANDOM_ID_LEN);
        assert!(
            id.as_str().chars().all(|c| c.is_ascii_alphanumeric()),
            "{id:?}"
        );
        assert_eq!(JobId::parse(id.as_str()).unwrap(), id);
        assert_ne!(JobId::random(), id);
    }

    #[test]
    fn ids_made_in_a_row_share_their_end_for_a_run() {
        // Other tests make ids at the same time: among 3 runs' worth made
        // here, most neighbours share their last two digits, and at least
        // two ends occur (the run moves on).
        let ids: Vec<JobId> = (0..3 * ID_RUN).map(|_| JobId::random()).collect();
        let end = |id: &JobId| id.as_str()[RANDOM_ID_LEN - 2..].to_owned();
        let shared = ids.windows(2).filter(|w| end(&w[0]) == end(&w[1])).count();
        assert!(
            shared as u64 >= 2 * ID_RUN,
            "{shared} neighbours share an end"
        );
        let ends: std::collections::HashSet<String> = ids.iter().map(end).collect();
        assert!(ends.len() >= 2, "{ends:?}");
    }

    #[test]
    fn timestamps_round_trip_as_rfc3339() {
        let t = Timestamp(1_700_000_000_123);
        let text = serde_json::to_string(&t).unwrap();
        assert_eq!(text, "\"2023-11-14T22:13:20.123Z\"");
        assert_eq!(serde_json::from_str::<Timestamp>(&text).unwrap(), t);
    }

    #[test]
    fn status_names_round_trip() {
        for s in Status::ALL {
            assert_eq!(s.as_str().parse::<Status>().unwrap(), s);
        }
        assert!("started".parse::<Status>().is_err());
    }

    #[test]
    fn a_word_that_is_not_a_status_is_answered_with_the_statuses() {
        let near = "complete".parse::<Status>().unwrap_err().to_string();
        assert_eq!(
            near,
            "\"complete\" is not a job status; did you mean \"completed\"? the statuses are \
             waiting, scheduled, queued, running, completed, failed, cancelled"
        );
        let far = "started".parse::<Status>().unwrap_err().to_string();
        assert!(
            far.starts_with("\"started\" is not a job status; the statuses are waiting,"),
            "{far}"
        );
    }
}
