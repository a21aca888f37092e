//! A job's record: the one string Redis stores per job, a header of
//! `|`-separated fields that scripts read and write, a newline, and the
//! job's body (`body.rs`).

use std::time::Duration;

use super::body;
use super::reply::{corrupt, unhex};
use crate::error::Result;
use crate::job::{Job, LeaseToken, Status, Timestamp};
use crate::state;

/// Header fields of a stored job, in `common.lua`'s order.
const F_STATUS: usize = 0;
const F_TOKEN: usize = 1;
const F_WORKER: usize = 8;
const F_LEASE: usize = 9;
const F_CLAIMED: usize = 10;
const F_UNTIL: usize = 11;
const F_PROGRESS: usize = 12;
const F_MESSAGE: usize = 13;
const F_CANCEL: usize = 14;
const FIELDS: usize = 15;

fn header_field<T: std::str::FromStr>(fields: &[&str], i: usize) -> Result<Option<T>> {
    match fields[i] {
        "" => Ok(None),
        v => v
            .parse()
            .map(Some)
            .map_err(|_| corrupt(format!("job header field {i} has an invalid value {v:?}"))),
    }
}

/// Rebuilds a job from its stored form: a header line (see `common.lua`),
/// then the job's body (see `body`).
pub(super) fn job_from_value(value: &str) -> Result<Job> {
    let (header, body) = value
        .split_once('\n')
        .ok_or_else(|| corrupt("stored job without a header"))?;
    let fields: Vec<&str> = header.split('|').collect();
    if fields.len() != FIELDS {
        return Err(corrupt(format!("stored job header {header:?}")));
    }
    let mut job = body::decode(body.as_bytes())?;
    let status: Status = fields[F_STATUS].parse()?;
    if status == Status::Running && job.state.status != Status::Running {
        let worker = unhex(fields[F_WORKER])?;
        let lease: u64 = header_field(&fields, F_LEASE)?.unwrap_or(0);
        let at: i64 = header_field(&fields, F_CLAIMED)?.unwrap_or(job.state.run_at.0);
        job = state::claim(&job, &worker, Duration::from_millis(lease), Timestamp(at)).job;
    }
    job.state.status = status;
    job.state.lease_token = header_field::<u64>(&fields, F_TOKEN)?.map(LeaseToken);
    if let Some(until) = header_field::<i64>(&fields, F_UNTIL)? {
        job.state.lease_expires_at = Some(Timestamp(until));
    }
    if let Some(progress) = header_field::<f64>(&fields, F_PROGRESS)? {
        job.state.progress = Some(progress);
        job.state.progress_message = match fields[F_MESSAGE] {
            "" => None,
            m => Some(unhex(m)?),
        };
    }
    if fields[F_CANCEL] == "1" {
        job.state.cancel_requested = true;
    }
    Ok(job)
}

/// A job's list score: enqueue time in ms, then the sequence's last three
/// digits, so jobs of one millisecond keep their order (as `insert.lua`).
pub(super) fn list_score(created_at: Timestamp, seq: u64) -> i64 {
    created_at.0 * 1000 + (seq % 1000) as i64
}

/// The enqueue sequence at the end of a ready member's key (see
/// `common.lua`'s `ready_key`: 10 digits of priority, 15 of run-at, 12 of
/// sequence).
pub(super) fn sequence_of(member: &str) -> Option<u64> {
    member.get(25..37)?.parse().ok()
}
