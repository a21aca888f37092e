//! Inserting a batch of new jobs: the id reuse rules, the quota check and
//! the rows, in one write.

use std::collections::hash_map::{Entry, HashMap};

use rusqlite::{params, Connection};

use super::connection::storage;
use super::deps;
use super::events::append_event;
use super::quotas::{is_waiting, waiting_usage, UsageChange, WaitingUsage};
use super::rows::{insert_job, select_jobs, to_json_text, StoredJob};
use crate::backend::{refused_at, Inserted};
use crate::catalog::Quotas;
use crate::error::Result;
use crate::event::Event;
use crate::job::{Job, QueueName, Timestamp};
use crate::state;

/// What a new job's id finds among the stored jobs.
enum IdUse {
    /// No job has it.
    Free,
    /// A job has it that may be replaced (ended and reusable, or expired).
    Replaces,
    /// A live job has it and keeps it.
    Taken(Box<Job>),
}

/// Stores `jobs` in order, unless one would take its queue past `quotas`:
/// then the error names it and the write stores nothing. Each job stored
/// gets its audit entry, `audit[i]` (made before the write).
pub(super) fn insert_batch(
    tx: &Connection,
    jobs: Vec<Job>,
    quotas: &Quotas,
    audit: &[super::audit::Prepared],
) -> Result<Vec<Inserted>> {
    let now = Timestamp::now();
    let batch_len = jobs.len();
    // Per queue of the batch: its waiting jobs and payload bytes, as
    // stored and then with the batch's new jobs ahead of this one.
    let mut usage: HashMap<QueueName, WaitingUsage> = HashMap::new();
    let mut change = UsageChange::default();
    let mut out = Vec::with_capacity(batch_len);
    for (index, job) in jobs.into_iter().enumerate() {
        let replaces = match id_use(tx, &job, now)? {
            IdUse::Taken(existing) => {
                out.push(Inserted::Existing(*existing));
                continue;
            }
            IdUse::Free => false,
            IdUse::Replaces => true,
        };
        if let Some(holder) = unique_holder(tx, &job, now)? {
            out.push(Inserted::Existing(holder));
            continue;
        }
        let job =
            deps::settle_new_job(tx, job, now).map_err(|e| refused_at(index, batch_len, e))?;
        let payload = to_json_text(&job.payload);
        let payload_len = payload.len() as u64;
        if is_waiting(job.status()) {
            let waiting = match usage.entry(job.queue.clone()) {
                Entry::Occupied(seen) => seen.into_mut(),
                Entry::Vacant(first) => first.insert(waiting_usage(tx, &job.queue)?),
            };
            quotas
                .admit(job.queue.as_str(), waiting.jobs, waiting.bytes, payload_len)
                .map_err(|e| refused_at(index, batch_len, e))?;
            waiting.jobs += 1;
            waiting.bytes += payload_len;
        }
        if replaces {
            // Failed or cancelled, or expired: not waiting.
            tx.execute("DELETE FROM jobs WHERE id = ?1", params![job.id.as_str()])
                .map_err(storage)?;
        }
        if is_waiting(job.status()) {
            change.add(&job.queue, 1, payload_len as i64);
        }
        insert_job(tx, &job, payload)?;
        super::groups::note_waiting(tx, &job)?;
        append_event(tx, &Event::of(&job, now))?;
        if let Some(entry) = audit.get(index) {
            super::audit::append(tx, entry)?;
        }
        out.push(Inserted::New(job));
    }
    change.write(tx)?;
    Ok(out)
}

/// Whether `job`'s id is free, held by a job it may replace, or taken.
fn id_use(tx: &Connection, job: &Job, now: Timestamp) -> Result<IdUse> {
    // A stored job under this id, live or expired-but-not-yet-swept.
    let existing = select_jobs(tx, "id = ?1", params![job.id.as_str()])?.pop();
    Ok(match existing {
        Some(StoredJob { job: existing, .. }) => {
            let expired = existing.state.expires_at.is_some_and(|t| t <= now);
            if !expired && !state::id_is_reusable(&existing) {
                IdUse::Taken(Box::new(existing))
            } else {
                IdUse::Replaces
            }
        }
        None => IdUse::Free,
    })
}

/// The job of the same queue that holds `job`'s unique key at `now`, if
/// any (the newest with the key: an older one ended before it was made).
fn unique_holder(tx: &Connection, job: &Job, now: Timestamp) -> Result<Option<Job>> {
    let Some(key) = &job.unique_key else {
        return Ok(None);
    };
    let newest = select_jobs(
        tx,
        "queue = ?1 AND unique_key = ?2 AND (expires_at IS NULL OR expires_at > ?3) \
         ORDER BY seq DESC LIMIT 1",
        params![job.queue.as_str(), key, now.0],
    )?
    .pop()
    .map(|stored| stored.job);
    Ok(newest.filter(|holder| state::holds_unique_key(holder, now)))
}
