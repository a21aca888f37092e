//! Writes to stored jobs after their insert: transitions, lease renewals,
//! progress, cancel requests and purges.

use rusqlite::{params, Connection, OptionalExtension};

use super::connection::storage;
use super::deps;
use super::events::append_event;
use super::quotas::{is_waiting, UsageChange};
use super::rows::{apply_transition, get_live, to_json_text};
use crate::backend::{LeaseRef, LeaseState, ProgressUpdate};
use crate::error::Result;
use crate::event::Event;
use crate::job::{JobId, QueueName, Status, Timestamp};
use crate::state::Transition;

/// Applies each transition whose guard holds, with its audit entry
/// (`audit[i]`, made before the write) if it has one; `true` for each
/// that did.
pub(super) fn apply_all(
    tx: &Connection,
    transitions: &[Transition],
    audit: &[Option<super::audit::Prepared>],
) -> Result<Vec<bool>> {
    let mut usage = UsageChange::default();
    let mut applied = Vec::with_capacity(transitions.len());
    let now = Timestamp::now();
    let mut edges = deps::EdgesExist::unknown();
    for (i, t) in transitions.iter().enumerate() {
        let done = apply_transition(tx, t)?;
        if done {
            usage.add_transition(tx, t)?;
            if let Some(Some(entry)) = audit.get(i) {
                super::audit::append(tx, entry)?;
            }
            deps::after_transition(tx, t.expect.status, &t.job, &mut edges, &mut usage, now)?;
        }
        applied.push(done);
    }
    usage.write(tx)?;
    Ok(applied)
}

/// Extends each lease still held until `until`, and says whether its job
/// has been asked to cancel.
pub(super) fn renew(
    tx: &Connection,
    leases: &[LeaseRef],
    until: Timestamp,
) -> Result<Vec<LeaseState>> {
    let mut stmt = tx
        .prepare_cached(
            "UPDATE jobs SET lease_expires_at = ?1 \
             WHERE id = ?2 AND status = 'running' AND lease_token = ?3 \
             RETURNING cancel_requested",
        )
        .map_err(storage)?;
    leases
        .iter()
        .map(|lease| {
            let cancel: Option<i64> = stmt
                .query_row(
                    params![until.0, lease.id.as_str(), lease.token.0 as i64],
                    |r| r.get(0),
                )
                .optional()
                .map_err(storage)?;
            Ok(match cancel {
                Some(flag) => LeaseState::Held {
                    cancel_requested: flag != 0,
                },
                None => LeaseState::Lost,
            })
        })
        .collect()
}

/// Records the progress of each job whose lease is still held, with an
/// event.
pub(super) fn set_progress(tx: &Connection, updates: Vec<ProgressUpdate>) -> Result<()> {
    let now = Timestamp::now();
    for update in updates {
        let changed = tx
            .prepare_cached(
                "UPDATE jobs SET progress = ?1, progress_message = ?2, progress_detail = ?3 \
                 WHERE id = ?4 AND status = 'running' AND lease_token = ?5",
            )
            .map_err(storage)?
            .execute(params![
                update.progress,
                update.message,
                update.detail.as_ref().map(to_json_text),
                update.lease.id.as_str(),
                update.lease.token.0 as i64
            ])
            .map_err(storage)?;
        if changed == 1 {
            if let Some(job) = get_live(tx, &update.lease.id, now)? {
                append_event(tx, &Event::of(&job, now))?;
            }
        }
    }
    Ok(())
}

/// Flags a running job as cancelled, with an event; `false` if it is not
/// running.
pub(super) fn request_cancel(tx: &Connection, id: &JobId) -> Result<bool> {
    let changed = tx
        .execute(
            "UPDATE jobs SET cancel_requested = 1 WHERE id = ?1 AND status = 'running'",
            params![id.as_str()],
        )
        .map_err(storage)?;
    if changed == 1 {
        let now = Timestamp::now();
        if let Some(job) = get_live(tx, id, now)? {
            let mut event = Event::of(&job, now);
            event.message = Some("cancel requested".into());
            // A word on the change, as on Redis: not the run's figures.
            event.detail = None;
            append_event(tx, &event)?;
        }
    }
    Ok(changed == 1)
}

/// Deletes the jobs of one queue in one status; waiting ones leave the
/// queue's usage with them, and their dependants are cancelled as if they
/// had failed.
pub(super) fn purge(tx: &Connection, queue: &QueueName, status: Status) -> Result<u64> {
    if is_waiting(status) {
        let gone = deps::purged_parents(tx, queue.as_str(), status)?;
        if !gone.is_empty() {
            let mut usage = UsageChange::default();
            let ended = gone
                .into_iter()
                .map(|id| (id, crate::state::ParentEnd::Gone))
                .collect();
            deps::settle_dependants(tx, ended, &mut usage, Timestamp::now())?;
            usage.write(tx)?;
        }
        let (jobs, bytes): (i64, Option<i64>) = tx
            .query_row(
                "SELECT COUNT(*), SUM(octet_length(payload)) FROM jobs \
                 WHERE queue = ?1 AND status = ?2",
                params![queue.as_str(), status.as_str()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(storage)?;
        let mut usage = UsageChange::default();
        usage.add(queue, -jobs, -bytes.unwrap_or(0));
        usage.write(tx)?;
    }
    let n = tx
        .execute(
            "DELETE FROM jobs WHERE queue = ?1 AND status = ?2",
            params![queue.as_str(), status.as_str()],
        )
        .map_err(storage)?;
    Ok(n as u64)
}
