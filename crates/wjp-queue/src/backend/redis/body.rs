//! A job's body as Redis stores it: the job as compact JSON, short field
//! names and times as integer milliseconds, about half the size of the
//! job's public JSON (`Job`'s own serde form, which the API and the SQLite
//! backend use).
//!
//! Every body passes through Lua twice per run (returned by a claim,
//! written by the completion), and Redis's Lua hashes every byte of every
//! string it receives; the worker parses and writes every body once per run
//! too. With the public form, both sides spent more time on bodies than on
//! anything else: a third of a worker's CPU went to serde (a `flatten`ed
//! state read through serde's buffering, timestamps formatted and parsed as
//! RFC 3339 text). See BENCHMARKS.md.
//!
//! A waiting job's body begins with its payload's size (`pl`, the bytes of
//! its compact JSON), where the scripts find it without parsing the body:
//! they keep each queue's waiting payload bytes from it (see `mod.rs`,
//! Quotas). A grouped job's fairness group (`g`) follows it, before any
//! other field, where the scripts find it the same way (`group_in` in
//! common.lua): a client's payload, later in the body, cannot pose as it.
//!
//! A body holds nothing that its key or its header says already: the id and
//! the queue are in the key (`wjp:{queue}:job:<id>`); the kind, the creation
//! time (the list score's milliseconds) and an ended job's expiry are in the
//! header ([`FromHeader`]); and what a fresh queued job would hold anyway is
//! left out (status `queued`, attempt 0, an enqueue time equal to the
//! creation time). The start and end times are kept as milliseconds after
//! the creation time. For a queued no-op job that is 128 bytes less, most of
//! its body, in Redis's memory and through Lua on every claim; the last 29
//! (kind and creation time) took its record below an allocator size class
//! (96 bytes of value instead of 128), and with its status, expiry and a
//! progress of 1, a retained one's (a value of 145 bytes in 160 instead of
//! 218 in 224); the times after the creation time took it to 128 (a
//! value of about 116 bytes). Bodies written before are still read: one with
//! `id` and `q` is told apart by its `id`, which matters for one field only
//! (an absent enqueue time meant none there, the creation time now); one
//! with `k`, `c`, `x`, `st` or `ca` is read by them.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::catalog::Defaults;
use crate::error::{QueueError, Result};
use crate::job::{Job, JobError, JobId, JobState, Kind, QueueName, Status, Timestamp};
use crate::state::json_len;

/// The stored fields of a [`Job`], borrowed when written and owned when read.
/// `payload_bytes` (when there is one) comes first, where the scripts find
/// it.
#[derive(Serialize, Deserialize)]
struct Record<'a> {
    /// Only in bodies of waiting jobs, first (see the top of this file).
    #[serde(rename = "pl", default, skip_serializing_if = "Option::is_none")]
    payload_bytes: Option<u64>,
    /// The fairness group, right after `pl` (see the top of this file).
    #[serde(rename = "g", default, skip_serializing_if = "Option::is_none")]
    group: Option<Cow<'a, str>>,
    /// Only in bodies written before the kind was left to the header.
    #[serde(rename = "k", default, skip_serializing_if = "Option::is_none")]
    kind: Option<Cow<'a, str>>,
    /// Only in bodies written before ids and queues were left to the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<Cow<'a, str>>,
    #[serde(rename = "q", default, skip_serializing_if = "Option::is_none")]
    queue: Option<Cow<'a, str>>,
    #[serde(rename = "p")]
    payload: Cow<'a, Value>,
    #[serde(rename = "pr", default, skip_serializing_if = "is_zero")]
    priority: i32,
    // The engine's defaults are left out: most jobs have them, and every
    // byte of a body costs Redis twice per run (see the top of this file).
    #[serde(rename = "ma", default = "default_max_attempts")]
    #[serde(skip_serializing_if = "is_default_max_attempts")]
    max_attempts: u32,
    #[serde(rename = "ms", default = "default_max_stalls")]
    #[serde(skip_serializing_if = "is_default_max_stalls")]
    max_stalls: u32,
    #[serde(rename = "to", default = "default_timeout_ms")]
    #[serde(skip_serializing_if = "is_default_timeout_ms")]
    timeout_ms: u64,
    #[serde(rename = "rt", default = "default_result_ttl_ms")]
    #[serde(skip_serializing_if = "is_default_result_ttl_ms")]
    result_ttl_ms: u64,
    #[serde(rename = "ft", default = "default_failure_ttl_ms")]
    #[serde(skip_serializing_if = "is_default_failure_ttl_ms")]
    failure_ttl_ms: u64,
    #[serde(rename = "bo", default = "default_backoff_ms")]
    #[serde(skip_serializing_if = "is_default_backoff_ms")]
    backoff_ms: u64,
    /// Only in bodies written before the creation time was left to the
    /// header.
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    created_at: Option<i64>,
    #[serde(rename = "rf", default, skip_serializing_if = "Option::is_none")]
    reference: Option<Cow<'a, str>>,
    #[serde(rename = "uk", default, skip_serializing_if = "Option::is_none")]
    unique_key: Option<Cow<'a, str>>,
    #[serde(rename = "uu", default, skip_serializing_if = "Option::is_none")]
    unique_until: Option<i64>,
    #[serde(rename = "af", default, skip_serializing_if = "<[_]>::is_empty")]
    after: Cow<'a, [JobId]>,
    #[serde(rename = "ay", default, skip_serializing_if = "is_false")]
    run_anyway: bool,
    /// Left out for `queued`, the status of most stored jobs, and for an
    /// ended status, which the header says.
    #[serde(rename = "s", default, skip_serializing_if = "Option::is_none")]
    status: Option<Status>,
    /// Left out when unset, and for a completed job when it is 1, as every
    /// completion sets it; `null` for a completed job without one.
    #[serde(rename = "pg", default, skip_serializing_if = "Option::is_none")]
    #[serde(deserialize_with = "present")]
    progress: Option<Option<f64>>,
    #[serde(rename = "pm", default, skip_serializing_if = "Option::is_none")]
    progress_message: Option<Cow<'a, str>>,
    #[serde(rename = "pd", default, skip_serializing_if = "Option::is_none")]
    progress_detail: Option<Cow<'a, Value>>,
    #[serde(rename = "r", default, skip_serializing_if = "Option::is_none")]
    result: Option<Cow<'a, Value>>,
    #[serde(rename = "e", default, skip_serializing_if = "Option::is_none")]
    error: Option<Cow<'a, JobError>>,
    #[serde(rename = "a", default, skip_serializing_if = "is_zero_u32")]
    attempt: u32,
    #[serde(rename = "sl", default, skip_serializing_if = "is_zero_u32")]
    stalls: u32,
    /// Left out when it is the creation time, as for every job enqueued to
    /// run now.
    #[serde(rename = "ra", default, skip_serializing_if = "Option::is_none")]
    run_at: Option<i64>,
    /// Left out when it is the creation time (as for every job enqueued to
    /// run now); `null` for none. In a body with an `id` (the earlier
    /// form), left out meant none.
    #[serde(rename = "eq", default, skip_serializing_if = "Option::is_none")]
    #[serde(deserialize_with = "present")]
    enqueued_at: Option<Option<i64>>,
    /// When the job started and ended, in milliseconds after its creation
    /// (the header's): 11 and 12 bytes less than the times themselves,
    /// which take a no-op job's ended record below an allocator size class.
    #[serde(rename = "sa", default, skip_serializing_if = "Option::is_none")]
    started_after: Option<i64>,
    #[serde(rename = "ea", default, skip_serializing_if = "Option::is_none")]
    ended_after: Option<i64>,
    /// Only in bodies written before the times were kept after the
    /// creation time.
    #[serde(rename = "st", default, skip_serializing_if = "Option::is_none")]
    started_at: Option<i64>,
    #[serde(rename = "ca", default, skip_serializing_if = "Option::is_none")]
    completed_at: Option<i64>,
    /// Left out of an ended job's body: its header ends with it.
    #[serde(rename = "x", default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<i64>,
    #[serde(rename = "w", default, skip_serializing_if = "Option::is_none")]
    worker: Option<Cow<'a, str>>,
    #[serde(rename = "le", default, skip_serializing_if = "Option::is_none")]
    lease_expires_at: Option<i64>,
    #[serde(rename = "cr", default, skip_serializing_if = "is_false")]
    cancel_requested: bool,
}

/// Each engine default (`Defaults::default()`) as a serde default, and the
/// test that leaves it out.
macro_rules! engine_defaults {
    ($($value:ident, $test:ident: $ty:ty = $read:expr;)*) => {$(
        fn $value() -> $ty {
            let read: fn(&Defaults) -> $ty = $read;
            read(&Defaults::default())
        }
        fn $test(v: &$ty) -> bool {
            *v == $value()
        }
    )*};
}
engine_defaults! {
    default_max_attempts, is_default_max_attempts: u32 = |d| d.max_attempts;
    default_max_stalls, is_default_max_stalls: u32 = |d| d.max_stalls;
    default_timeout_ms, is_default_timeout_ms: u64 = |d| millis_of(d.timeout);
    default_result_ttl_ms, is_default_result_ttl_ms: u64 = |d| millis_of(d.result_ttl);
    default_failure_ttl_ms, is_default_failure_ttl_ms: u64 = |d| millis_of(d.failure_ttl);
    default_backoff_ms, is_default_backoff_ms: u64 = |d| millis_of(d.backoff);
}

fn millis_of(d: std::time::Duration) -> u64 {
    d.as_millis() as u64
}

fn is_zero(n: &i32) -> bool {
    *n == 0
}

fn is_zero_u32(n: &u32) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A field that is there, `null` or not: `Some(None)` for `null`, where a
/// plain `Option` would not tell it from a field left out.
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> std::result::Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// The progress every completion sets (`state::complete`).
const COMPLETED_PROGRESS: f64 = 1.0;

fn millis(t: Option<Timestamp>) -> Option<i64> {
    t.map(|t| t.0)
}

/// The body to store for `job`. The lease token is not part of it: the
/// job's header and lease entry carry it.
pub(super) fn encode(job: &Job) -> Result<String> {
    let s = &job.state;
    let waiting = matches!(
        s.status,
        Status::Waiting | Status::Queued | Status::Scheduled
    );
    let record = Record {
        payload_bytes: waiting.then(|| json_len(&job.payload)),
        group: job.group.as_deref().map(Cow::Borrowed),
        kind: None,
        id: None,
        queue: None,
        payload: Cow::Borrowed(&job.payload),
        priority: job.priority,
        max_attempts: job.max_attempts,
        max_stalls: job.max_stalls,
        timeout_ms: job.timeout_ms,
        result_ttl_ms: job.result_ttl_ms,
        failure_ttl_ms: job.failure_ttl_ms,
        backoff_ms: job.backoff_ms,
        created_at: None,
        reference: job.reference.as_deref().map(Cow::Borrowed),
        unique_key: job.unique_key.as_deref().map(Cow::Borrowed),
        unique_until: millis(job.unique_until),
        after: Cow::Borrowed(&job.after),
        run_anyway: job.run_anyway,
        status: (s.status != Status::Queued && !s.status.is_terminal()).then_some(s.status),
        progress: match (s.status, s.progress) {
            (Status::Completed, Some(p)) if p == COMPLETED_PROGRESS => None,
            (Status::Completed, p) => Some(p),
            (_, p) => p.map(Some),
        },
        progress_message: s.progress_message.as_deref().map(Cow::Borrowed),
        progress_detail: s.progress_detail.as_ref().map(Cow::Borrowed),
        result: s.result.as_ref().map(Cow::Borrowed),
        error: s.error.as_ref().map(Cow::Borrowed),
        attempt: s.attempt,
        stalls: s.stalls,
        run_at: (s.run_at != job.created_at).then_some(s.run_at.0),
        enqueued_at: (s.enqueued_at != Some(job.created_at)).then(|| millis(s.enqueued_at)),
        started_after: s.started_at.map(|t| t.0.saturating_sub(job.created_at.0)),
        ended_after: s.completed_at.map(|t| t.0.saturating_sub(job.created_at.0)),
        started_at: None,
        completed_at: None,
        expires_at: millis(s.expires_at).filter(|_| !s.status.is_terminal()),
        worker: s.worker.as_deref().map(Cow::Borrowed),
        lease_expires_at: millis(s.lease_expires_at),
        cancel_requested: s.cancel_requested,
    };
    serde_json::to_string(&record).map_err(|e| QueueError::Storage(e.to_string()))
}

/// The payload size a body begins with (a waiting job's, see the top of
/// this file), or 0 for a body without one. As `common.lua` reads it.
pub(super) fn payload_bytes_of(body: &str) -> u64 {
    let Some(rest) = body.strip_prefix(r#"{"pl":"#) else {
        return 0;
    };
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().unwrap_or(0)
}

/// What a body leaves to its record's header (see the top of this file),
/// as [`super::record::from_header`] reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FromHeader<'a> {
    /// The job's kind.
    pub(super) kind: &'a str,
    /// The status of an ended job (a record's header holds it as the body
    /// does); `None` for any other, whose body says its status (a reader's
    /// header says `running` for a job whose body says `queued`).
    pub(super) ended_status: Option<Status>,
    /// The creation time (ms): the list score's milliseconds.
    pub(super) created_at: Option<i64>,
    /// An ended job's expiry (ms), the header's last field; `None` for a
    /// job that has not ended.
    pub(super) expires_at: Option<i64>,
}

/// The job a stored body holds, stored under `id` in `queue` (as its key
/// says: see [`Identity::of_key`]), with the header it was stored with.
pub(super) fn decode(body: &[u8], identity: &Identity, header: FromHeader) -> Result<Job> {
    let corrupt = |e: serde_json::Error| QueueError::Corrupt(format!("stored job body: {e}"));
    let r: Record = serde_json::from_slice(body).map_err(corrupt)?;
    let time = |ms: Option<i64>| ms.map(Timestamp);
    let created_at = r.created_at.or(header.created_at).ok_or_else(|| {
        QueueError::Corrupt(format!(
            "stored job {} has no creation time in its body or header",
            identity.id
        ))
    })?;
    // Saturating: the numbers of a damaged record must not overflow.
    let after_creation = |ms: Option<i64>| ms.map(|ms| created_at.saturating_add(ms));
    let kind = match &r.kind {
        Some(kind) => Kind::parse(kind)?,
        None => Kind::parse(header.kind)?,
    };
    let status = r.status.or(header.ended_status).unwrap_or(Status::Queued);
    let progress = match r.progress {
        Some(stored) => stored,
        None if status == Status::Completed => Some(COMPLETED_PROGRESS),
        None => None,
    };
    let expires_at = match r.expires_at {
        Some(stored) => Some(stored),
        None if status.is_terminal() => header.expires_at,
        None => None,
    };
    let enqueued_at = match r.enqueued_at {
        Some(stored) => stored,
        None if r.id.is_some() => None,
        None => Some(created_at),
    };
    Ok(Job {
        id: JobId::parse(&identity.id)?,
        kind,
        queue: QueueName::parse(&identity.queue)?,
        payload: r.payload.into_owned(),
        priority: r.priority,
        max_attempts: r.max_attempts,
        max_stalls: r.max_stalls,
        timeout_ms: r.timeout_ms,
        result_ttl_ms: r.result_ttl_ms,
        failure_ttl_ms: r.failure_ttl_ms,
        backoff_ms: r.backoff_ms,
        created_at: Timestamp(created_at),
        reference: r.reference.map(Cow::into_owned),
        unique_key: r.unique_key.map(Cow::into_owned),
        group: r.group.map(Cow::into_owned),
        after: r.after.into_owned(),
        run_anyway: r.run_anyway,
        unique_until: time(r.unique_until),
        state: JobState {
            status,
            progress,
            progress_message: r.progress_message.map(Cow::into_owned),
            progress_detail: r.progress_detail.map(Cow::into_owned),
            result: r.result.map(Cow::into_owned),
            error: r.error.map(Cow::into_owned),
            attempt: r.attempt,
            stalls: r.stalls,
            run_at: Timestamp(r.run_at.unwrap_or(created_at)),
            enqueued_at: time(enqueued_at),
            started_at: time(r.started_at.or(after_creation(r.started_after))),
            completed_at: time(r.completed_at.or(after_creation(r.ended_after))),
            expires_at: time(expires_at),
            worker: r.worker.map(Cow::into_owned),
            lease_token: None,
            lease_expires_at: time(r.lease_expires_at),
            cancel_requested: r.cancel_requested,
        },
    })
}

/// Which job a body belongs to: what its key says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Identity {
    pub(super) queue: String,
    pub(super) id: String,
}

impl Identity {
    /// The queue and id a job key names (`wjp:{queue}:job:<id>`, see
    /// `keys.rs`).
    pub(super) fn of_key(key: &str) -> Result<Identity> {
        let named = key
            .strip_prefix("wjp:{")
            .and_then(|rest| rest.split_once("}:job:"));
        match named {
            Some((queue, id)) if !queue.is_empty() && !id.is_empty() => Ok(Identity {
                queue: queue.to_owned(),
                id: id.to_owned(),
            }),
            _ => Err(QueueError::Corrupt(format!(
                "{key:?} is not a job key (wjp:{{queue}}:job:<id>)"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::job::ErrorKind;

    type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

    fn identity_of(job: &Job) -> Identity {
        Identity {
            queue: job.queue.to_string(),
            id: job.id.to_string(),
        }
    }

    /// What the header stored with `job`'s body says (see `record.rs`).
    fn header_of(job: &Job) -> FromHeader<'_> {
        FromHeader {
            kind: job.kind.as_str(),
            ended_status: Some(job.state.status).filter(|s| s.is_terminal()),
            created_at: Some(job.created_at.0),
            expires_at: job
                .state
                .expires_at
                .filter(|_| job.state.status.is_terminal())
                .map(|t| t.0),
        }
    }

    /// A header that says nothing, as for bodies that say it all.
    const NO_HEADER: FromHeader<'static> = FromHeader {
        kind: "",
        ended_status: None,
        created_at: None,
        expires_at: None,
    };

    /// Decodes `job`'s body as stored with its header.
    fn round_trip(job: &Job) -> Result<Job> {
        decode(encode(job)?.as_bytes(), &identity_of(job), header_of(job))
    }

    fn sample() -> serde_json::Result<Job> {
        let body = json!({
            "id": "0f0261f9-9e4c-4bd3-a6e1-bd2d2b05583b", "kind": "analyze_dxf",
            "queue": "analysis", "payload": {"file": "part.dxf", "sheet": [1, 2]},
            "priority": -3, "max_attempts": 4, "timeout_ms": 300000,
            "result_ttl_ms": 3600000, "failure_ttl_ms": 604800000, "backoff_ms": 10000,
            "created_at": "2026-12-03T17:48:47.849Z", "status": "failed",
            "progress": 0.5, "progress_message": "nesting – sheet 2",
            "result": {"partial": true},
            "error": {"kind": "timeout", "message": "ran longer than its timeout"},
            "attempt": 4, "run_at": "2026-12-03T17:48:47.849Z",
            "enqueued_at": "2026-12-03T17:48:47.850Z", "started_at": "2026-12-03T17:48:51.070Z",
            "completed_at": "2026-12-03T17:48:51.074Z", "expires_at": "2026-12-10T17:48:51.074Z",
            "worker": "w1@host", "lease_expires_at": "2026-12-03T17:49:51.070Z",
            "cancel_requested": true
        });
        serde_json::from_value(body)
    }

    #[test]
    fn every_field_survives_the_compact_form() -> TestResult {
        let job = sample()?;
        assert_eq!(
            job.state.error.as_ref().map(|e| e.kind),
            Some(ErrorKind::Timeout)
        );
        let body = encode(&job)?;
        assert!(body.starts_with(r#"{"p":"#), "{body}");
        assert_eq!(round_trip(&job)?, job);
        Ok(())
    }

    #[test]
    fn defaults_are_left_out_and_read_back() -> TestResult {
        // A fresh job: every optional field unset, every flag at its default.
        let job: Job = serde_json::from_value(json!({
            "id": "j1", "kind": "noop", "queue": "default", "payload": {},
            "priority": 0, "max_attempts": 1, "timeout_ms": 300000,
            "result_ttl_ms": 3600000, "failure_ttl_ms": 604800000, "backoff_ms": 10000,
            "created_at": "2026-12-03T17:48:47.849Z", "status": "queued",
            "progress": null, "progress_message": null, "result": null, "error": null,
            "attempt": 0, "run_at": "2026-12-03T17:48:47.849Z",
            "enqueued_at": "2026-12-03T17:48:47.849Z",
            "started_at": null, "completed_at": null, "expires_at": null, "worker": null,
            "lease_expires_at": null, "cancel_requested": false
        }))?;
        let body = encode(&job)?;
        let left_out = [
            "pr", "pg", "r", "e", "w", "cr", // unset
            "ma", "to", "rt", "ft", "bo", // the engine's defaults
            "ra", "eq", // the creation time
            "id", "q", // in the key
            "s", "a", // a fresh queued job's
            "k", "c", // in the header
        ];
        for left_out in left_out.map(|name| format!("\"{name}\"")) {
            assert!(!body.contains(&left_out), "{left_out} in {body}");
        }
        assert_eq!(round_trip(&job)?, job);
        let public = serde_json::to_string(&job)?;
        assert!(body.len() * 2 < public.len(), "{body} vs {public}");
        Ok(())
    }

    #[test]
    fn values_other_than_the_defaults_are_kept() -> TestResult {
        let mut job = sample()?;
        job.max_attempts = 2;
        job.timeout_ms = 1;
        job.result_ttl_ms = 2;
        job.failure_ttl_ms = 3;
        job.backoff_ms = 4;
        job.state.run_at = Timestamp(job.created_at.0 + 5);
        job.state.enqueued_at = None;
        let body = encode(&job)?;
        for kept in [
            r#""to":1,"#,
            r#""rt":2,"#,
            r#""ft":3,"#,
            r#""bo":4,"#,
            r#""ra":"#,
            r#""eq":null"#,
        ] {
            assert!(body.contains(kept), "{kept} not in {body}");
        }
        assert_eq!(round_trip(&job)?, job);
        Ok(())
    }

    /// Bodies written before ids and queues were left to the key hold
    /// both, and left out an enqueue time that was none.
    #[test]
    fn bodies_of_the_earlier_form_are_read_as_they_were_written() -> TestResult {
        let identity = Identity {
            queue: "default".into(),
            id: "0bb592f4-b0e1-49be-91ea-891930d6a1e1".into(),
        };
        let queued = r#"{"pl":9,"k":"noop","id":"0bb592f4-b0e1-49be-91ea-891930d6a1e1","q":"default","p":{"i":123},"c":1796436921494,"s":"queued","a":0,"eq":1796436921494}"#;
        let job = decode(queued.as_bytes(), &identity, NO_HEADER)?;
        assert_eq!(job.id.as_str(), identity.id);
        assert_eq!(job.queue.as_str(), "default");
        assert_eq!(job.state.enqueued_at, Some(Timestamp(1796436921494)));
        let scheduled = r#"{"pl":9,"k":"noop","id":"0bb592f4-b0e1-49be-91ea-891930d6a1e1","q":"default","p":{"i":123},"c":1796436921494,"s":"scheduled","a":0,"ra":1796436991494}"#;
        let job = decode(scheduled.as_bytes(), &identity, NO_HEADER)?;
        assert_eq!(job.state.status, Status::Scheduled);
        assert_eq!(job.state.enqueued_at, None);
        // Written again, both lose what the key and header hold, and read
        // back alike.
        let body = encode(&job)?;
        for held in [r#""id""#, r#""q""#, r#""k""#, r#""c""#] {
            assert!(!body.contains(held), "{held} in {body}");
        }
        assert_eq!(decode(body.as_bytes(), &identity, header_of(&job))?, job);
        Ok(())
    }

    /// A completed job's progress is 1 (every completion sets it): left
    /// out then, and `null` when there is none.
    #[test]
    fn a_completed_job_s_progress_is_left_out_when_it_is_one() -> TestResult {
        let mut job = sample()?;
        job.state.status = Status::Completed;
        for (progress, stored) in [
            (Some(1.0), None),
            (None, Some(r#""pg":null"#)),
            (Some(0.5), Some(r#""pg":0.5"#)),
        ] {
            job.state.progress = progress;
            let body = encode(&job)?;
            match stored {
                Some(text) => assert!(body.contains(text), "{text} not in {body}"),
                None => assert!(!body.contains(r#""pg""#), "{body}"),
            }
            assert_eq!(round_trip(&job)?, job);
        }
        // Failed at half way: kept, and read back as it was.
        job.state.status = Status::Failed;
        assert!(encode(&job)?.contains(r#""pg":0.5"#));
        assert_eq!(round_trip(&job)?, job);
        Ok(())
    }

    /// An ended job's body leaves its expiry to the header, which ends with
    /// it; one written before holds it, and its own value is read.
    #[test]
    fn an_ended_job_s_expiry_is_read_from_its_header() -> TestResult {
        let job = sample()?;
        let expiry = job.state.expires_at.map(|t| t.0);
        assert!(expiry.is_some());
        let body = encode(&job)?;
        for held in [r#""x""#, r#""s""#] {
            assert!(!body.contains(held), "{held} in {body}");
        }
        assert_eq!(round_trip(&job)?, job);
        let header = header_of(&job);
        assert_eq!(header.expires_at, expiry);
        let without = FromHeader {
            expires_at: None,
            ..header
        };
        let read = decode(body.as_bytes(), &identity_of(&job), without)?;
        assert_eq!(read.state.expires_at, None);
        let earlier = body.replacen('{', r#"{"x":1796436921494,"#, 1);
        let read = decode(earlier.as_bytes(), &identity_of(&job), header)?;
        assert_eq!(read.state.expires_at, Some(Timestamp(1796436921494)));
        Ok(())
    }

    /// Start and end are kept after the creation time; a body written
    /// before holds the times themselves, and they are read as they are.
    #[test]
    fn start_and_end_are_kept_after_the_creation_time() -> TestResult {
        let job = sample()?;
        let created = job.created_at.0;
        let body = encode(&job)?;
        let after = |t: Option<Timestamp>| t.map(|t| t.0 - created).unwrap_or(-1);
        for kept in [
            format!(r#""sa":{}"#, after(job.state.started_at)),
            format!(r#""ea":{}"#, after(job.state.completed_at)),
        ] {
            assert!(body.contains(&kept), "{kept} not in {body}");
        }
        for held in [r#""st""#, r#""ca""#] {
            assert!(!body.contains(held), "{held} in {body}");
        }
        let earlier = body
            .replace(r#""sa":3221"#, r#""st":1796436921494"#)
            .replace(r#""ea":3225"#, r#""ca":1796436921500"#);
        assert_ne!(earlier, body);
        let read = decode(earlier.as_bytes(), &identity_of(&job), header_of(&job))?;
        assert_eq!(read.state.started_at, Some(Timestamp(1796436921494)));
        assert_eq!(read.state.completed_at, Some(Timestamp(1796436921500)));
        Ok(())
    }

    #[test]
    fn a_job_key_names_its_queue_and_id() -> TestResult {
        let identity = Identity::of_key("wjp:{gcode}:job:a.b:c-1")?;
        assert_eq!(
            (identity.queue.as_str(), identity.id.as_str()),
            ("gcode", "a.b:c-1")
        );
        for bad in [
            "wjp:{gcode}:jobs:x",
            "wjp:{}:job:x",
            "wjp:{gcode}:job:",
            "job:x",
        ] {
            let e = Identity::of_key(bad).unwrap_err().to_string();
            assert!(e.contains("not a job key"), "{bad}: {e}");
        }
        Ok(())
    }

    #[test]
    fn a_waiting_job_s_body_begins_with_its_payload_bytes() -> TestResult {
        let mut job = sample()?;
        job.payload = json!({"part": "plaque – 3 mm", "holes": [1.5, 2], "note": "a \"b\""});
        let bytes = serde_json::to_string(&job.payload)?.len() as u64;
        assert_eq!(json_len(&job.payload), bytes);
        // Ended: no size (the scripts need it only while the job waits).
        assert_eq!(payload_bytes_of(&encode(&job)?), 0);
        for status in [Status::Queued, Status::Scheduled] {
            job.state.status = status;
            let body = encode(&job)?;
            assert!(
                body.starts_with(&format!(r#"{{"pl":{bytes},"p":"#)),
                "{body}"
            );
            assert_eq!(payload_bytes_of(&body), bytes);
            assert_eq!(round_trip(&job)?, job);
        }
        Ok(())
    }

    #[test]
    fn a_bad_body_is_an_error_naming_what_is_wrong() {
        for (body, says) in [
            (r#"{"k":"noop"}"#, "missing field"),
            (r#"{"p":null}"#, "no creation time"),
            (
                r#"{"k":"no op","id":"x","q":"default","p":null,"ma":1,"to":1,"rt":1,"ft":1,"bo":1,"c":0,"s":"queued","a":0,"ra":0}"#,
                "kind",
            ),
            ("not json", "stored job body"),
        ] {
            let identity = Identity {
                queue: "default".into(),
                id: "x".into(),
            };
            let e = decode(body.as_bytes(), &identity, NO_HEADER)
                .unwrap_err()
                .to_string();
            assert!(e.contains(says), "{body}: {e}");
        }
    }
}
