//! The audit log: every job's life, kept long after its record expired.
//!
//! A job's record lives for its result or failure TTL (an hour, a week);
//! a shop must still be able to say months later who asked for a job,
//! with what options, and what became of each of its attempts. The audit
//! log keeps that, compactly: one [`AuditEntry`] per step of a job's life
//! that matters to people (submitted; each attempt's end, with its worker
//! and outcome; a cancel; a retry by hand), not per state change
//! (claims, promotions and progress leave none).
//!
//! **Written in the same atomic step as the change it records**: the
//! backend stores the entry in the transaction (SQLite) or the function
//! call (Redis) that applies the transition or inserts the job, and only
//! if it applied. So the log has no gap in normal operation, and holds no
//! entry for a change that did not happen (a refused guard, a job that
//! already existed). The entry's text is made here, once for both
//! backends ([`AuditEntry::to_line`]; [`submission_line`] and
//! [`transition_line`] for a log per queue, without time and queue);
//! backends store it and never take it apart on the write path.
//!
//! Why not fold the event stream instead: events carry neither the worker
//! nor the error message nor who submitted the job, and they are capped
//! (20,000 stream entries per queue on Redis): a folder that falls behind
//! under load loses entries without a trace. Written beside the
//! transition, an entry costs its bytes and no extra round trip.
//!
//! **Bounded**: entries older than [`AuditRetention::max_age`] (90 days by
//! default) go, and so do the oldest beyond [`AuditRetention::max_entries`]
//! (SQLite: rows; Redis: stream entries per queue, each holding the lines
//! of one call). Each entry is bounded too: messages, origins and options
//! are cut to fixed sizes, and options hold only a payload's top-level
//! scalars, with names that look secret left out.

use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{QueueError, Result};
use crate::job::{ErrorKind, Job, JobId, Kind, QueueName, Status, Timestamp};
use crate::state::Transition;

/// How long entries are kept by default: 90 days.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(90 * 24 * 3600);
/// How many entries are kept at most by default (SQLite: in all; Redis:
/// per queue).
pub const DEFAULT_MAX_ENTRIES: u64 = 2_000_000;
/// Longest error message kept, in characters.
pub const MAX_MESSAGE_CHARS: usize = 500;
/// Longest origin kept, in characters.
pub const MAX_ORIGIN_CHARS: usize = 120;
/// Largest options kept, as JSON text.
pub const MAX_OPTIONS_BYTES: usize = 1024;
/// Longest text option kept, in characters.
const MAX_OPTION_CHARS: usize = 120;
/// Most entries one page of the history holds.
pub const MAX_PAGE: usize = 1000;
/// Most entries one query looks at before it stops and says where to go
/// on (`AuditPage::next_until`): a search that matches nothing costs a
/// bounded read, not the whole log.
pub const SCAN_BUDGET: usize = 100_000;

/// How long the audit log keeps entries, and how many at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditRetention {
    /// Entries older than this are deleted by maintenance.
    pub max_age: Duration,
    /// The oldest entries beyond this many are deleted by maintenance.
    pub max_entries: u64,
}

impl Default for AuditRetention {
    fn default() -> Self {
        AuditRetention {
            max_age: DEFAULT_MAX_AGE,
            max_entries: DEFAULT_MAX_ENTRIES,
        }
    }
}

/// What happened to a job at one step of its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// It was enqueued.
    Submitted,
    /// An attempt completed.
    Completed,
    /// An attempt failed and the job failed for good.
    Failed,
    /// An attempt failed and another one is scheduled.
    Retrying,
    /// Its worker stopped renewing the lease: the attempt runs again.
    Stalled,
    /// A worker shutting down gave it back before it finished.
    HandedBack,
    /// It was cancelled, waiting or running.
    Cancelled,
    /// Someone ran a failed or cancelled job again.
    Retried,
}

impl Outcome {
    /// Every outcome, in the order of a job's life.
    pub const ALL: [Outcome; 8] = [
        Outcome::Submitted,
        Outcome::Completed,
        Outcome::Failed,
        Outcome::Retrying,
        Outcome::Stalled,
        Outcome::HandedBack,
        Outcome::Cancelled,
        Outcome::Retried,
    ];

    /// The stable snake_case word used in storage, the API and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Submitted => "submitted",
            Outcome::Completed => "completed",
            Outcome::Failed => "failed",
            Outcome::Retrying => "retrying",
            Outcome::Stalled => "stalled",
            Outcome::HandedBack => "handed_back",
            Outcome::Cancelled => "cancelled",
            Outcome::Retried => "retried",
        }
    }
}

impl FromStr for Outcome {
    type Err = QueueError;
    fn from_str(text: &str) -> Result<Self> {
        Outcome::ALL
            .into_iter()
            .find(|o| o.as_str() == text)
            .ok_or_else(|| {
                let known: Vec<&str> = Outcome::ALL.iter().map(|o| o.as_str()).collect();
                QueueError::InvalidRequest(format!(
                    "outcome {:?} is unknown; use one of {}",
                    text.chars().take(50).collect::<String>(),
                    known.join(", ")
                ))
            })
    }
}

/// One step of one job's life, as the audit log keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When it happened.
    pub at: Timestamp,
    /// The job.
    pub job_id: JobId,
    /// Its queue.
    pub queue: QueueName,
    /// Its kind.
    pub kind: Kind,
    /// What happened.
    pub outcome: Outcome,
    /// The client's reference of the job, if it had one.
    pub reference: Option<String>,
    /// The attempt that ended (0 for a submission or a cancel before any
    /// run).
    pub attempt: u32,
    /// The worker that ran the attempt.
    pub worker: Option<String>,
    /// When the attempt started.
    pub started_at: Option<Timestamp>,
    /// Why the attempt failed (or the job was cancelled).
    pub error_kind: Option<ErrorKind>,
    /// The error in words, cut to [`MAX_MESSAGE_CHARS`].
    pub message: Option<String>,
    /// The job's stalls so far.
    pub stalls: u32,
    /// Who submitted the job (an API key's fingerprint, a client address,
    /// `cli`, a schedule): only on submissions.
    pub origin: Option<String>,
    /// The payload's top-level options (see the module doc): only on
    /// submissions.
    pub options: Option<Value>,
}

/// An entry as stored: short names and times in milliseconds, so that an
/// entry costs about 120 bytes on the hot path. Where the entry's place
/// says its time and queue (a queue's own stream on Redis, whose entry ids
/// are times), the line leaves them out ([`AuditEntry::to_stream_line`]).
#[derive(Serialize, Deserialize)]
struct Line {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    t: Option<i64>,
    j: JobId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    q: Option<QueueName>,
    k: Kind,
    /// Left out for a submission, the line every job has: 16 bytes of every
    /// queued job's (Redis memory per queued job, BENCHMARKS.md).
    #[serde(default = "submitted", skip_serializing_if = "is_submitted")]
    o: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    r: Option<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    a: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    w: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    s: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    e: Option<ErrorKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    m: Option<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    n: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    p: Option<Value>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn submitted() -> Outcome {
    Outcome::Submitted
}

fn is_submitted(o: &Outcome) -> bool {
    *o == Outcome::Submitted
}

impl AuditEntry {
    /// The entry as one line of compact JSON (never holding a newline).
    pub fn to_line(&self) -> String {
        self.line(true)
    }

    /// The entry as a line for a log of its queue alone that stamps each
    /// entry with its time (a Redis stream): [`AuditEntry::to_line`]
    /// without the time and the queue, about 37 bytes less.
    pub fn to_stream_line(&self) -> String {
        self.line(false)
    }

    fn line(&self, with_time_and_queue: bool) -> String {
        let line = Line {
            t: with_time_and_queue.then_some(self.at.0),
            j: self.job_id.clone(),
            q: with_time_and_queue.then(|| self.queue.clone()),
            k: self.kind.clone(),
            o: self.outcome,
            r: self.reference.clone(),
            a: self.attempt,
            w: self.worker.clone(),
            s: self.started_at.map(|t| t.0),
            e: self.error_kind,
            m: self.message.clone(),
            n: self.stalls,
            by: self.origin.clone(),
            p: self.options.clone(),
        };
        // serde_json escapes control characters inside strings: the line
        // never holds a raw newline. Serialising these types cannot fail.
        serde_json::to_string(&line).unwrap_or_default()
    }

    /// An entry from a stored line.
    pub fn from_line(text: &str) -> Result<AuditEntry> {
        let l = Line::parse(text)?;
        let (Some(at), Some(queue)) = (l.t, l.q.clone()) else {
            return Err(QueueError::Corrupt(format!(
                "audit entry without its time or queue: {}",
                text.chars().take(200).collect::<String>()
            )));
        };
        Ok(l.into_entry(Timestamp(at), queue))
    }

    /// An entry from a line of `queue`'s own log, stamped `at` by it
    /// ([`AuditEntry::to_stream_line`]; a whole line is read alike, its
    /// place taken over its own time and queue).
    pub fn from_stream_line(text: &str, queue: &QueueName, at: Timestamp) -> Result<AuditEntry> {
        Ok(Line::parse(text)?.into_entry(at, queue.clone()))
    }
}

impl Line {
    fn parse(text: &str) -> Result<Line> {
        serde_json::from_str(text).map_err(|e| QueueError::Corrupt(format!("audit entry: {e}")))
    }

    fn into_entry(self, at: Timestamp, queue: QueueName) -> AuditEntry {
        let l = self;
        AuditEntry {
            at,
            job_id: l.j,
            queue,
            kind: l.k,
            outcome: l.o,
            reference: l.r,
            attempt: l.a,
            worker: l.w,
            started_at: l.s.map(Timestamp),
            error_kind: l.e,
            message: l.m,
            stalls: l.n,
            origin: l.by,
            options: l.p,
        }
    }
}

impl AuditEntry {
    fn of_job(job: &Job, outcome: Outcome, at: Timestamp) -> AuditEntry {
        AuditEntry {
            at,
            job_id: job.id.clone(),
            queue: job.queue.clone(),
            kind: job.kind.clone(),
            outcome,
            reference: job.reference.clone(),
            attempt: 0,
            worker: None,
            started_at: None,
            error_kind: None,
            message: None,
            stalls: job.state.stalls,
            origin: None,
            options: None,
        }
    }
}

/// The entry of a new job: who submitted it (`origin`, `""` when not
/// known) and its options.
pub fn submission_entry(job: &Job, origin: &str, at: Timestamp) -> AuditEntry {
    let mut entry = AuditEntry::of_job(job, Outcome::Submitted, at);
    entry.origin = clean_origin(origin);
    entry.options = options_of(&job.payload);
    entry
}

/// [`submission_entry`] as a line of its queue's stream
/// ([`AuditEntry::to_stream_line`]).
pub fn submission_line(job: &Job, origin: &str, at: Timestamp) -> String {
    submission_entry(job, origin, at).to_stream_line()
}

/// The entry a transition leaves, if it is a step people look for (see
/// the module doc); `None` for claims, promotions and the like.
pub fn transition_entry(t: &Transition, at: Timestamp) -> Option<AuditEntry> {
    let to = t.job.state.status;
    let error = t.job.state.error.as_ref();
    let (outcome, ran) = match (t.expect.status, to) {
        (Status::Running, Status::Completed) => (Outcome::Completed, true),
        (Status::Running, Status::Failed) => (Outcome::Failed, true),
        (Status::Running, Status::Cancelled) => (Outcome::Cancelled, true),
        (Status::Running, Status::Scheduled) => (Outcome::Retrying, true),
        (Status::Running, Status::Queued)
            if error.is_some_and(|e| e.kind == ErrorKind::LostLease) =>
        {
            (Outcome::Stalled, true)
        }
        (Status::Running, Status::Queued) => (Outcome::HandedBack, true),
        (from, Status::Cancelled) if from != Status::Cancelled => (Outcome::Cancelled, false),
        (Status::Failed | Status::Cancelled, to) if !to.is_terminal() && to != Status::Running => {
            (Outcome::Retried, false)
        }
        _ => return None,
    };
    let mut entry = AuditEntry::of_job(&t.job, outcome, at);
    if ran {
        // A stall or a hand-back gives the attempt back: it was one more.
        let given_back = matches!(outcome, Outcome::Stalled | Outcome::HandedBack);
        entry.attempt = t.job.state.attempt + u32::from(given_back);
        entry.worker = t.job.state.worker.clone();
        entry.started_at = t.job.state.started_at;
    } else {
        entry.attempt = t.job.state.attempt;
    }
    if outcome != Outcome::Completed && outcome != Outcome::Retried {
        if let Some(e) = error {
            entry.error_kind = Some(e.kind);
            entry.message = Some(cut(&e.message, MAX_MESSAGE_CHARS));
        }
    }
    Some(entry)
}

/// [`transition_entry`] as a line of its queue's stream
/// ([`AuditEntry::to_stream_line`]).
pub fn transition_line(t: &Transition, at: Timestamp) -> Option<String> {
    transition_entry(t, at).map(|e| e.to_stream_line())
}

/// `text` cut to `max` characters (an ellipsis marks the cut).
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// An origin as kept: control characters dropped, cut; `None` when empty.
fn clean_origin(origin: &str) -> Option<String> {
    let clean: String = origin.chars().filter(|c| !c.is_control()).collect();
    let clean = clean.trim();
    (!clean.is_empty()).then(|| cut(clean, MAX_ORIGIN_CHARS))
}

/// Whether an option's name says it holds a secret; such options are not
/// kept.
fn looks_secret(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [
        "password",
        "secret",
        "token",
        "api_key",
        "apikey",
        "credential",
        "private",
    ]
    .iter()
    .any(|word| name.contains(word))
}

/// The options of a payload as the log keeps them: its top-level fields,
/// text cut, lists and objects counted instead of copied, secrets left
/// out, at most [`MAX_OPTIONS_BYTES`] of JSON. `None` when there are none.
pub fn options_of(payload: &Value) -> Option<Value> {
    let Value::Object(fields) = payload else {
        return None;
    };
    let mut kept = Map::new();
    let mut size = 2;
    for (name, value) in fields {
        if looks_secret(name) {
            continue;
        }
        let value = match value {
            Value::Null => continue,
            Value::String(text) => Value::String(cut(text, MAX_OPTION_CHARS)),
            Value::Array(items) => Value::String(format!("[{} items]", items.len())),
            Value::Object(inner) => Value::String(format!("{{{} fields}}", inner.len())),
            scalar => scalar.clone(),
        };
        let name = cut(name, 64);
        let cost = name.len() + value.to_string().len() + 4;
        if size + cost > MAX_OPTIONS_BYTES {
            kept.insert("…".into(), Value::String("more options not kept".into()));
            break;
        }
        size += cost;
        kept.insert(name, value);
    }
    (!kept.is_empty()).then_some(Value::Object(kept))
}

/// What to look for in the audit log. Times are a half-open range,
/// `since <= at < until`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditQuery {
    /// Entries at or after this time.
    pub since: Option<Timestamp>,
    /// Entries before this time (the `next_until` of the page before).
    pub until: Option<Timestamp>,
    /// Only this queue's entries.
    pub queue: Option<QueueName>,
    /// Only entries of jobs of this kind.
    pub kind: Option<Kind>,
    /// Only this job's entries.
    pub job: Option<JobId>,
    /// Only entries whose job's reference holds this text (any case).
    pub reference: Option<String>,
    /// Only entries with this outcome.
    pub outcome: Option<Outcome>,
    /// The most entries of a page (1 to [`MAX_PAGE`]).
    pub limit: usize,
}

impl AuditQuery {
    /// Refuses a query that cannot be answered sensibly.
    pub fn check(&self) -> Result<()> {
        if self.limit == 0 || self.limit > MAX_PAGE {
            return Err(QueueError::InvalidRequest(format!(
                "limit must be between 1 and {MAX_PAGE}, got {}",
                self.limit
            )));
        }
        if let (Some(since), Some(until)) = (self.since, self.until) {
            if since >= until {
                return Err(QueueError::InvalidRequest(format!(
                    "since ({}) must be before until ({})",
                    since.to_rfc3339(),
                    until.to_rfc3339()
                )));
            }
        }
        if let Some(r) = &self.reference {
            if r.is_empty() || r.chars().count() > crate::state::MAX_REFERENCE_CHARS {
                return Err(QueueError::InvalidRequest(format!(
                    "reference must be 1 to {} characters",
                    crate::state::MAX_REFERENCE_CHARS
                )));
            }
        }
        Ok(())
    }

    /// Whether `entry` is one this query looks for (its time aside).
    pub fn matches(&self, entry: &AuditEntry) -> bool {
        self.queue.as_ref().is_none_or(|q| *q == entry.queue)
            && self.kind.as_ref().is_none_or(|k| *k == entry.kind)
            && self.job.as_ref().is_none_or(|j| *j == entry.job_id)
            && self.outcome.is_none_or(|o| o == entry.outcome)
            && self.reference.as_ref().is_none_or(|wanted| {
                entry
                    .reference
                    .as_ref()
                    .is_some_and(|r| r.to_lowercase().contains(&wanted.to_lowercase()))
            })
    }
}

/// One page of the audit log, newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditPage {
    /// The entries found, newest first.
    pub entries: Vec<AuditEntry>,
    /// Where to go on: pass as [`AuditQuery::until`] for the next page.
    /// `None` when the range holds nothing more.
    pub next_until: Option<Timestamp>,
}

/// Builds a page from entries read newest first, as a backend scans them:
/// feed every entry it reads to [`PageBuilder::push`] (with the entry
/// itself only when it matches the query) until that says stop. A page
/// never ends inside a millisecond, so the next page, which starts before
/// `next_until`, misses nothing.
pub(crate) struct PageBuilder {
    limit: usize,
    page: AuditPage,
    scanned: usize,
    /// Once full (or out of budget): the millisecond being finished.
    closing: Option<Timestamp>,
}

impl PageBuilder {
    pub(crate) fn new(query: &AuditQuery) -> Self {
        PageBuilder {
            limit: query.limit,
            page: AuditPage::default(),
            scanned: 0,
            closing: None,
        }
    }

    /// Takes the next older entry, read at `at`; `false` when the page is
    /// done (the entry was not taken: it is older than the page's last
    /// millisecond).
    pub(crate) fn push(&mut self, at: Timestamp, matching: Option<AuditEntry>) -> bool {
        if let Some(closing) = self.closing {
            if at < closing {
                self.page.next_until = Some(closing);
                return false;
            }
        }
        self.scanned += 1;
        if let Some(entry) = matching {
            self.page.entries.push(entry);
        }
        if self.closing.is_none()
            && (self.page.entries.len() >= self.limit || self.scanned >= SCAN_BUDGET)
        {
            self.closing = Some(at);
        }
        true
    }

    /// The page, when the scan ran out of entries.
    pub(crate) fn finish(self) -> AuditPage {
        self.page
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use crate::job::{JobError, JobRequest};
    use crate::state;
    use serde_json::json;

    fn job() -> Job {
        let mut catalog = Catalog::default();
        catalog.register("noop", "default", None).unwrap();
        let mut request = JobRequest::new(
            "noop",
            json!({"file": "uploads/a.dxf", "api_token": "x", "parts": [1, 2], "n": 3}),
        );
        request.reference = Some("Order 7".into());
        request.max_attempts = Some(2);
        state::new_job(request, &catalog, Timestamp(1_000)).unwrap()
    }

    #[test]
    fn options_keep_scalars_and_drop_secrets() {
        let options = options_of(&job().payload).unwrap();
        assert_eq!(
            options,
            json!({"file": "uploads/a.dxf", "parts": "[2 items]", "n": 3})
        );
        let huge = json!({ "a": "x".repeat(10_000), "b": "y".repeat(10_000) });
        let kept = options_of(&huge).unwrap().to_string();
        assert!(kept.len() <= MAX_OPTIONS_BYTES + 64, "{}", kept.len());
    }

    #[test]
    fn lines_round_trip_without_newlines() {
        let j = job();
        let mut entry = submission_entry(&j, "key 1a2b\nfrom 10.0.0.1", Timestamp(5));
        entry.message = Some("a\nb".into());
        let line = entry.to_line();
        assert!(!line.contains('\n'));
        assert_eq!(AuditEntry::from_line(&line).unwrap(), entry);
        assert_eq!(entry.origin.as_deref(), Some("key 1a2bfrom 10.0.0.1"));
    }

    #[test]
    fn a_stream_line_leaves_time_and_queue_to_its_place() {
        let entry = submission_entry(&job(), "cli", Timestamp(5));
        let line = entry.to_stream_line();
        assert!(
            !line.contains(r#""t":"#) && !line.contains(r#""q":"#),
            "{line}"
        );
        // A submission, every job's first line, leaves its outcome out; a
        // line that names it (as written before) reads alike.
        assert!(!line.contains(r#""o":"#), "{line}");
        let named = line.replacen('{', r#"{"o":"submitted","#, 1);
        assert_eq!(
            AuditEntry::from_stream_line(&named, &entry.queue, entry.at).unwrap(),
            entry
        );
        assert_eq!(
            AuditEntry::from_stream_line(&line, &entry.queue, entry.at).unwrap(),
            entry
        );
        // A whole line (as stored before) reads alike in a stream.
        assert_eq!(
            AuditEntry::from_stream_line(&entry.to_line(), &entry.queue, entry.at).unwrap(),
            entry
        );
        // Where nothing else says them, a line without them is refused.
        let e = AuditEntry::from_line(&line).unwrap_err().to_string();
        assert!(e.contains("without its time or queue"), "{e}");
    }

    #[test]
    fn each_end_of_an_attempt_has_its_outcome_and_a_claim_has_none() {
        let j = job();
        let claim = state::claim(&j, "w1", Duration::from_secs(30), Timestamp(2_000));
        assert!(transition_entry(&claim, Timestamp(2_000)).is_none());
        let running = claim.job;
        let retry = state::fail(
            &running,
            JobError::new(ErrorKind::HandlerError, "boom"),
            Timestamp(3_000),
        );
        let e = transition_entry(&retry, Timestamp(3_000)).unwrap();
        assert_eq!(e.outcome, Outcome::Retrying);
        assert_eq!((e.attempt, e.worker.as_deref()), (1, Some("w1")));
        assert_eq!(e.message.as_deref(), Some("boom"));
        let stall = state::lease_expired(&running, Timestamp(40_000));
        let e = transition_entry(&stall, Timestamp(40_000)).unwrap();
        assert_eq!((e.outcome, e.attempt), (Outcome::Stalled, 1));
        let done = state::complete(&running, json!(1), Timestamp(4_000));
        let e = transition_entry(&done, Timestamp(4_000)).unwrap();
        assert_eq!((e.outcome, e.message), (Outcome::Completed, None));
        let cancelled = state::cancel_waiting(&j, Timestamp(5_000)).unwrap();
        let e = transition_entry(&cancelled, Timestamp(5_000)).unwrap();
        assert_eq!((e.outcome, e.worker), (Outcome::Cancelled, None));
        let again = state::retry(&cancelled.job, Timestamp(6_000)).unwrap();
        assert_eq!(
            transition_entry(&again, Timestamp(6_000)).unwrap().outcome,
            Outcome::Retried
        );
        let promoted = state::promote(&j, Timestamp(7_000));
        assert!(transition_entry(&promoted, Timestamp(7_000)).is_none());
    }

    #[test]
    fn a_page_ends_only_between_milliseconds() {
        let j = job();
        let query = AuditQuery {
            limit: 2,
            ..AuditQuery::default()
        };
        let mut page = PageBuilder::new(&query);
        for at in [9, 8, 8, 8, 7] {
            let entry = submission_entry(&j, "", Timestamp(at));
            if !page.push(entry.at, Some(entry)) {
                break;
            }
        }
        let page = page.finish();
        assert_eq!(page.entries.len(), 4);
        assert_eq!(page.next_until, Some(Timestamp(8)));
    }
}
