//! What maintenance reads and deletes: expired leases, due scheduled jobs,
//! and the sweep of expired jobs, stale workers and old events.

use std::time::Duration;

use rusqlite::{params, Connection};

use super::connection::storage;
use super::rows::select_jobs;
use crate::error::Result;
use crate::job::{Job, Timestamp};

/// Events kept for followers; older ones are pruned by maintenance.
const EVENTS_KEPT: i64 = 100_000;
const EVENTS_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// Running jobs whose lease expired before `now`.
pub(super) fn expired_leases(conn: &Connection, now: Timestamp, limit: usize) -> Result<Vec<Job>> {
    jobs_due(
        conn,
        "status = 'running' AND lease_expires_at < ?1",
        now,
        limit,
    )
}

/// Scheduled jobs whose run-at time has come, earliest first.
pub(super) fn due_scheduled(conn: &Connection, now: Timestamp, limit: usize) -> Result<Vec<Job>> {
    jobs_due(
        conn,
        "status = 'scheduled' AND run_at <= ?1 ORDER BY run_at",
        now,
        limit,
    )
}

/// At most `limit` jobs matching `condition`, whose `?1` is `now`.
fn jobs_due(conn: &Connection, condition: &str, now: Timestamp, limit: usize) -> Result<Vec<Job>> {
    Ok(select_jobs(
        conn,
        &format!("{condition} LIMIT ?2"),
        params![now.0, limit as i64],
    )?
    .into_iter()
    .map(|stored| stored.job)
    .collect())
}

/// Deletes jobs past their expiry, stale workers and the events beyond
/// what is kept; the number of jobs deleted.
pub(super) fn sweep_expired(tx: &Connection, now: Timestamp) -> Result<u64> {
    let jobs = tx
        .execute(
            "DELETE FROM jobs WHERE expires_at IS NOT NULL AND expires_at <= ?1",
            params![now.0],
        )
        .map_err(storage)?;
    tx.execute("DELETE FROM workers WHERE expires_at <= ?1", params![now.0])
        .map_err(storage)?;
    prune_events(tx, now)?;
    Ok(jobs as u64)
}

/// Keeps the newest [`EVENTS_KEPT`] events younger than [`EVENTS_MAX_AGE`].
fn prune_events(tx: &Connection, now: Timestamp) -> Result<()> {
    // Events are in id order and time order alike: cut both ways
    // from the low end, through the primary key, without a scan.
    tx.execute(
        "DELETE FROM events WHERE id <= (SELECT MAX(id) FROM events) - ?1",
        params![EVENTS_KEPT],
    )
    .map_err(storage)?;
    tx.execute(
        "DELETE FROM events WHERE id < COALESCE(\
         (SELECT id FROM events WHERE at >= ?1 ORDER BY id LIMIT 1), \
         (SELECT MAX(id) + 1 FROM events))",
        params![now.0 - EVENTS_MAX_AGE.as_millis() as i64],
    )
    .map_err(storage)?;
    Ok(())
}
