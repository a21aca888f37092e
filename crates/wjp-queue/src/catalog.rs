//! Which queues exist, which job kinds a program registered, and the defaults
//! each kind gets. The engine knows no queue but `default` and no kind but
//! its own built-in test kinds; programs (the `wjp` binary) hand it theirs.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::error::{QueueError, Result};
use crate::job::{Kind, QueueName};

/// The queue the engine's own kinds run on; every catalog has it.
pub const DEFAULT_QUEUE: &str = "default";

/// What a job gets when neither its request nor its kind says otherwise.
#[derive(Debug, Clone, PartialEq)]
pub struct Defaults {
    /// How long a handler may run, for kinds registered without a timeout
    /// of their own.
    pub timeout: Duration,
    /// How long a completed job's record and result are kept.
    pub result_ttl: Duration,
    /// How long failed and cancelled jobs stay in the failed registry. Python RQ
    /// kept them a year, which grew Redis without bound; a week is enough to
    /// look into a failure.
    pub failure_ttl: Duration,
    /// How many times a job may run in all (first run included), for kinds
    /// registered from now on.
    pub max_attempts: u32,
    /// How many times a job is put back when its worker dies under it,
    /// apart from its attempts, for kinds registered from now on. Workers
    /// die for reasons of their own (an OOM kill, a redeploy, a reboot):
    /// the job did nothing wrong, and must not fail for it.
    pub max_stalls: u32,
    /// The wait before the first retry; doubled for each further one.
    pub backoff: Duration,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            timeout: Duration::from_secs(300),
            result_ttl: Duration::from_secs(3600),
            failure_ttl: Duration::from_secs(7 * 24 * 3600),
            max_attempts: 1,
            max_stalls: 2,
            backoff: Duration::from_secs(10),
        }
    }
}

/// How much a client may store. Without these, 100 jobs of 4 MiB delayed
/// by a year grew the data folder by 684 MB, kept for that year.
///
/// The payload and delay limits are checked per request (`state::new_job`);
/// the waiting limits by the backend, in the same atomic step that stores
/// the jobs (a transaction, one Lua function call), so concurrent enqueuers
/// cannot pass them together. *Waiting* means queued, scheduled, or
/// waiting for parents: jobs a worker has not taken yet. Jobs already admitted that come back to wait
/// (a retry after a failure, by hand or after a backoff; a lease taken
/// back) are never refused, but count towards the figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Quotas {
    /// Waiting jobs per queue (`--max-waiting-jobs`).
    pub max_waiting_jobs: u64,
    /// Payload bytes (as compact JSON) of the waiting jobs of a queue, all
    /// together (`--max-waiting-payload-mb`).
    pub max_waiting_payload_bytes: u64,
    /// Payload bytes of one job, as compact JSON (`--max-payload-mb`).
    pub max_payload_bytes: u64,
    /// Longest delay before a job runs (`--max-delay-days`).
    pub max_delay: Duration,
    /// Most parents one job may wait for (`--max-parents`).
    pub max_parents: usize,
    /// Most jobs one flow may hold (`--max-flow-jobs`).
    pub max_flow_jobs: usize,
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            max_waiting_jobs: 100_000,
            max_waiting_payload_bytes: 256 * 1024 * 1024,
            max_payload_bytes: crate::state::MAX_PAYLOAD_BYTES as u64,
            max_delay: Duration::from_secs(30 * 24 * 3600),
            max_parents: 100,
            max_flow_jobs: 1000,
        }
    }
}

/// One of the limits on what a queue holds waiting, as named in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitingQuota {
    /// The number of waiting jobs ([`Quotas::max_waiting_jobs`]).
    Jobs,
    /// The payload bytes of the waiting jobs
    /// ([`Quotas::max_waiting_payload_bytes`]).
    PayloadBytes,
}

impl WaitingQuota {
    /// The field of [`Quotas`] that sets it.
    pub fn field(self) -> &'static str {
        match self {
            WaitingQuota::Jobs => "max_waiting_jobs",
            WaitingQuota::PayloadBytes => "max_waiting_payload_bytes",
        }
    }

    /// The command-line flag that sets it.
    pub fn flag(self) -> &'static str {
        match self {
            WaitingQuota::Jobs => "--max-waiting-jobs",
            WaitingQuota::PayloadBytes => "--max-waiting-payload-mb",
        }
    }
}

impl Quotas {
    /// No limit at all: for tools and tests that store jobs directly.
    pub fn unlimited() -> Self {
        Quotas {
            max_waiting_jobs: u64::MAX,
            max_waiting_payload_bytes: u64::MAX,
            max_payload_bytes: u64::MAX,
            max_delay: Duration::MAX,
            max_parents: usize::MAX,
            max_flow_jobs: usize::MAX,
        }
    }

    /// Refuses a payload of `bytes` (compact JSON) larger than one job may carry.
    pub fn check_payload(&self, bytes: u64) -> Result<()> {
        if bytes > self.max_payload_bytes {
            return Err(QueueError::PayloadTooLarge {
                bytes,
                limit: self.max_payload_bytes,
            });
        }
        Ok(())
    }

    /// Refuses a delay longer than [`Quotas::max_delay`].
    pub fn check_delay(&self, delay_ms: u64) -> Result<()> {
        let limit = self.max_delay.as_millis().min(u64::MAX as u128) as u64;
        if delay_ms > limit {
            const DAY_MS: u64 = 86_400_000;
            let days = if limit.is_multiple_of(DAY_MS) {
                format!("{}", limit / DAY_MS)
            } else {
                format!("{:.2}", limit as f64 / DAY_MS as f64)
            };
            return Err(QueueError::InvalidRequest(format!(
                "a delay of {} s is longer than the longest allowed, {} s ({days} days, \
                 max_delay); enqueue the job closer to its time, or raise the limit \
                 (--max-delay-days)",
                delay_ms / 1000,
                limit / 1000,
            )));
        }
        Ok(())
    }

    /// Whether one more job with `payload_bytes` of payload fits a queue
    /// that holds `waiting_jobs` waiting jobs with `waiting_bytes` of
    /// payload; if not, the error names the quota it would pass.
    pub fn admit(
        &self,
        queue: &str,
        waiting_jobs: u64,
        waiting_bytes: u64,
        payload_bytes: u64,
    ) -> Result<()> {
        let over = |quota, current, adding, limit| QueueError::QueueFull {
            queue: queue.to_owned(),
            quota,
            current,
            adding,
            limit,
        };
        if waiting_jobs.saturating_add(1) > self.max_waiting_jobs {
            return Err(over(
                WaitingQuota::Jobs,
                waiting_jobs,
                1,
                self.max_waiting_jobs,
            ));
        }
        if waiting_bytes.saturating_add(payload_bytes) > self.max_waiting_payload_bytes {
            return Err(over(
                WaitingQuota::PayloadBytes,
                waiting_bytes,
                payload_bytes,
                self.max_waiting_payload_bytes,
            ));
        }
        Ok(())
    }
}

/// What a registered kind gets unless the request says otherwise, and the
/// most a request may ask of it.
#[derive(Debug, Clone, PartialEq)]
pub struct KindSpec {
    /// The kind this describes.
    pub kind: Kind,
    /// The queue its jobs go to when a request names none.
    pub queue: QueueName,
    /// How long its handler may run when a request sets no timeout.
    pub timeout: Duration,
    /// How many times its jobs may run in all when a request does not say.
    pub max_attempts: u32,
    /// How many stalls its jobs survive when a request does not say.
    pub max_stalls: u32,
    /// The server's caps: a request asking for more is refused.
    pub caps: KindCaps,
    /// The program's check of this kind's payloads, if it registered one.
    pub check: Option<PayloadGate>,
}

/// The most a request may ask of a kind. A client cannot raise them: they
/// are the program's, set when it registers the kind.
#[derive(Debug, Clone, PartialEq)]
pub struct KindCaps {
    /// Longest timeout a request may set.
    pub max_timeout: Duration,
    /// Most attempts a request may set.
    pub max_attempts: u32,
    /// Most stalls a request may let a job survive.
    pub max_stalls: u32,
}

impl Default for KindCaps {
    fn default() -> Self {
        KindCaps {
            max_timeout: Duration::from_secs(crate::state::MAX_SECONDS as u64),
            max_attempts: crate::state::MAX_ATTEMPTS,
            max_stalls: crate::state::MAX_STALLS,
        }
    }
}

/// What a [`PayloadCheck`] knows of the job besides its payload: a
/// payload may only make sense for a job that waits for others (one that
/// reads its parents' results).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Admission {
    /// How many jobs the job waits for (`after`).
    pub parents: usize,
}

/// A program's check of the payloads of one kind, run whenever a job of
/// that kind is made from a request (every enqueue, every inline run),
/// before anything is stored. It may refuse the payload, or return it
/// changed (for instance with client-given paths made canonical). The
/// engine knows nothing of what it checks.
pub trait PayloadCheck: Send + Sync + 'static {
    /// The payload to store (as given, or changed), or why it is refused.
    fn check(
        &self,
        payload: Value,
        admission: Admission,
    ) -> std::result::Result<Value, PayloadRefusal>;
}

impl<F> PayloadCheck for F
where
    F: Fn(Value, Admission) -> std::result::Result<Value, PayloadRefusal> + Send + Sync + 'static,
{
    fn check(
        &self,
        payload: Value,
        admission: Admission,
    ) -> std::result::Result<Value, PayloadRefusal> {
        self(payload, admission)
    }
}

/// Why a [`PayloadCheck`] refused a payload: a stable code, the field at
/// fault, and a message that names the field and says what to send
/// instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PayloadRefusal {
    /// A stable machine-readable name the program chose; it becomes the
    /// [`QueueError::code`] of the refusal, so clients can act on it.
    pub code: &'static str,
    /// The payload field at fault, as the program names it for messages
    /// (`files[2].dxf_path`), or `payload` for the whole of it.
    pub field: String,
    /// What is wrong and what to send instead, for people.
    pub message: String,
    /// The payload names something that does not exist (a missing file),
    /// as opposed to something it may not name.
    pub not_found: bool,
}

impl PayloadRefusal {
    /// A refusal of something the payload may not name (`not_found` false).
    pub fn new(code: &'static str, field: impl Into<String>, message: impl Into<String>) -> Self {
        PayloadRefusal {
            code,
            field: field.into(),
            message: message.into(),
            not_found: false,
        }
    }
}

/// A registered [`PayloadCheck`]; equal only to itself.
#[derive(Clone)]
pub struct PayloadGate(Arc<dyn PayloadCheck>);

impl PayloadGate {
    /// Runs the registered check on a payload.
    pub fn check(
        &self,
        payload: Value,
        admission: Admission,
    ) -> std::result::Result<Value, PayloadRefusal> {
        self.0.check(payload, admission)
    }
}

impl std::fmt::Debug for PayloadGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PayloadGate")
    }
}

impl PartialEq for PayloadGate {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// A program's queues and job kinds, with the defaults and quotas every job
/// is made under. Built once at startup and handed to [`crate::Queue::new`].
#[derive(Debug, Clone)]
pub struct Catalog {
    queues: Vec<QueueName>,
    kinds: BTreeMap<Kind, KindSpec>,
    /// What kinds and jobs get when they do not say otherwise; set before
    /// registering kinds, which copy the timeout and attempts.
    pub defaults: Defaults,
    /// How much clients may store.
    pub quotas: Quotas,
    /// How long the audit log keeps its entries, and how many.
    pub history: crate::audit::AuditRetention,
}

impl Default for Catalog {
    /// The `default` queue alone, and no kinds.
    fn default() -> Self {
        Catalog {
            queues: vec![QueueName::default_queue()],
            kinds: BTreeMap::new(),
            defaults: Defaults::default(),
            quotas: Quotas::default(),
            history: crate::audit::AuditRetention::default(),
        }
    }
}

impl Catalog {
    /// A program's queues, in the order it lists them, and no kinds.
    /// `default` is added last when missing: the engine's own kinds run on
    /// it. The order is the one workers serve the queues in when told no
    /// other (see [`crate::WorkerConfig::queues`]).
    pub fn new(queues: &[&str]) -> Result<Self> {
        let mut catalog = Catalog {
            queues: Vec::new(),
            ..Catalog::default()
        };
        for name in queues {
            let queue = QueueName::parse(name)?;
            if !catalog.queues.contains(&queue) {
                catalog.queues.push(queue);
            }
        }
        let default = QueueName::default_queue();
        if !catalog.queues.contains(&default) {
            catalog.queues.push(default);
        }
        Ok(catalog)
    }

    /// Registers a kind routed to `queue` with the given timeout (or the
    /// default). Re-registering a kind replaces it.
    pub fn register(
        &mut self,
        kind: &str,
        queue: &str,
        timeout: Option<Duration>,
    ) -> Result<&mut Self> {
        let kind = Kind::parse(kind)?;
        let queue = self.queue(queue)?;
        let spec = KindSpec {
            kind: kind.clone(),
            queue,
            timeout: timeout.unwrap_or(self.defaults.timeout),
            max_attempts: self.defaults.max_attempts,
            max_stalls: self.defaults.max_stalls,
            caps: KindCaps::default(),
            check: None,
        };
        self.kinds.insert(kind, spec);
        Ok(self)
    }

    /// Caps what requests may ask of a registered kind. The kind's own
    /// timeout and attempts must fit under the caps.
    pub fn cap(&mut self, kind: &str, caps: KindCaps) -> Result<&mut Self> {
        let spec = self.kind_mut(kind)?;
        if spec.timeout > caps.max_timeout
            || spec.max_attempts > caps.max_attempts
            || spec.max_stalls > caps.max_stalls
        {
            return Err(QueueError::InvalidRequest(format!(
                "the caps of {kind} are below its own defaults"
            )));
        }
        spec.caps = caps;
        Ok(self)
    }

    /// Has every payload of a registered kind checked by `check` before a
    /// job is made of it.
    pub fn check_payloads(&mut self, kind: &str, check: impl PayloadCheck) -> Result<&mut Self> {
        self.kind_mut(kind)?.check = Some(PayloadGate(Arc::new(check)));
        Ok(self)
    }

    fn kind_mut(&mut self, name: &str) -> Result<&mut KindSpec> {
        let kind = Kind::parse(name)?;
        let known = self.kind_list();
        self.kinds
            .get_mut(&kind)
            .ok_or_else(|| QueueError::UnknownKind {
                kind: name.chars().take(100).collect(),
                known,
            })
    }

    fn kind_list(&self) -> String {
        self.kinds
            .keys()
            .map(Kind::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The configured queues, in the program's order (`default` last unless
    /// the program placed it).
    pub fn queues(&self) -> &[QueueName] {
        &self.queues
    }

    /// The registered kinds, in name order.
    pub fn kinds(&self) -> impl Iterator<Item = &KindSpec> {
        self.kinds.values()
    }

    /// Looks up a queue by name, refusing names that are not configured.
    pub fn queue(&self, name: &str) -> Result<QueueName> {
        self.queues
            .iter()
            .find(|q| q.as_str() == name)
            .cloned()
            .ok_or_else(|| QueueError::UnknownQueue {
                queue: name.chars().take(100).collect(),
                known: self.queue_list(),
            })
    }

    /// Parses a comma-separated list such as `analysis,conversion`.
    pub fn parse_queue_list(&self, list: &str) -> Result<Vec<QueueName>> {
        let mut queues = Vec::new();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let queue = self.queue(name)?;
            if !queues.contains(&queue) {
                queues.push(queue);
            }
        }
        if queues.is_empty() {
            return Err(QueueError::UnknownQueue {
                queue: list.to_owned(),
                known: self.queue_list(),
            });
        }
        Ok(queues)
    }

    /// Looks up a registered kind by name; an unknown one is
    /// [`QueueError::UnknownKind`], which lists the registered kinds.
    pub fn kind(&self, name: &str) -> Result<&KindSpec> {
        self.kinds
            .iter()
            .find(|(k, _)| k.as_str() == name)
            .map(|(_, spec)| spec)
            .ok_or_else(|| QueueError::UnknownKind {
                kind: name.chars().take(100).collect(),
                known: self.kind_list(),
            })
    }

    fn queue_list(&self) -> String {
        self.queues
            .iter()
            .map(QueueName::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_queues_are_named_in_the_error() {
        let catalog = Catalog::new(&["analysis", "gcode"]).unwrap();
        let names: Vec<&str> = catalog.queues().iter().map(QueueName::as_str).collect();
        assert_eq!(names, ["analysis", "gcode", DEFAULT_QUEUE]);
        let err = catalog.parse_queue_list("analysis,cutting").unwrap_err();
        assert_eq!(err.code(), "unknown_queue");
        let text = err.to_string();
        assert!(
            text.contains("\"cutting\"") && text.contains("analysis"),
            "{text}"
        );
        assert_eq!(catalog.parse_queue_list("gcode, gcode").unwrap().len(), 1);
    }
}
