//! Which queues exist, which job kinds a program registered, and the defaults
//! each kind gets. The engine knows no kind by name except its own built-in
//! test kinds; programs (the `wjp` binary) register theirs.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::error::{QueueError, Result};
use crate::job::{Kind, QueueName};

/// The queues of a waterjet shop, in the order `wjp info` lists them.
pub const STANDARD_QUEUES: [&str; 5] = ["default", "analysis", "conversion", "nesting", "gcode"];

#[derive(Debug, Clone, PartialEq)]
pub struct Defaults {
    pub timeout: Duration,
    pub result_ttl: Duration,
    /// How long failed and cancelled jobs stay in the failed registry. Python RQ
    /// kept them a year, which grew Redis without bound; a week is enough to
    /// look into a failure.
    pub failure_ttl: Duration,
    pub max_attempts: u32,
    pub backoff: Duration,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            timeout: Duration::from_secs(300),
            result_ttl: Duration::from_secs(3600),
            failure_ttl: Duration::from_secs(7 * 24 * 3600),
            max_attempts: 1,
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
/// cannot pass them together. *Waiting* means queued or scheduled: jobs a
/// worker has not taken yet. Jobs already admitted that come back to wait
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
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            max_waiting_jobs: 100_000,
            max_waiting_payload_bytes: 256 * 1024 * 1024,
            max_payload_bytes: crate::state::MAX_PAYLOAD_BYTES as u64,
            max_delay: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

/// One of the limits on what a queue holds waiting, as named in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitingQuota {
    Jobs,
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

/// What a registered kind gets unless the request says otherwise.
#[derive(Debug, Clone, PartialEq)]
pub struct KindSpec {
    pub kind: Kind,
    pub queue: QueueName,
    pub timeout: Duration,
    pub max_attempts: u32,
}

#[derive(Debug, Clone)]
pub struct Catalog {
    queues: Vec<QueueName>,
    kinds: BTreeMap<Kind, KindSpec>,
    pub defaults: Defaults,
    pub quotas: Quotas,
}

impl Default for Catalog {
    fn default() -> Self {
        Catalog::standard()
    }
}

impl Catalog {
    /// The five standard queues and no kinds.
    pub fn standard() -> Self {
        Catalog {
            queues: STANDARD_QUEUES
                .iter()
                .map(|q| QueueName::parse(q).expect("standard queue names are valid"))
                .collect(),
            kinds: BTreeMap::new(),
            defaults: Defaults::default(),
            quotas: Quotas::default(),
        }
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
        };
        self.kinds.insert(kind, spec);
        Ok(self)
    }

    pub fn queues(&self) -> &[QueueName] {
        &self.queues
    }

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

    pub fn kind(&self, name: &str) -> Result<&KindSpec> {
        self.kinds
            .iter()
            .find(|(k, _)| k.as_str() == name)
            .map(|(_, spec)| spec)
            .ok_or_else(|| QueueError::UnknownKind {
                kind: name.chars().take(100).collect(),
                known: self
                    .kinds
                    .keys()
                    .map(Kind::as_str)
                    .collect::<Vec<_>>()
                    .join(", "),
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
        let catalog = Catalog::standard();
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
