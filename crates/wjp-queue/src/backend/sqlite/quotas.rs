//! The `queue_usage` counters behind the quotas: reading a queue's waiting
//! jobs and bytes, adding one write's change, and setting them right from
//! a recount (see the module doc of `sqlite` for the invariant).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, OptionalExtension};

use super::connection::storage;
use super::SqliteBackend;
use crate::error::{QueueError, Result};
use crate::job::{QueueName, Status};
use crate::state::Transition;

/// Each queue's waiting jobs and their payload bytes, counted from the jobs
/// (octet_length reads a value's size without its content).
const COUNT_WAITING: &str = "SELECT queue, COUNT(*), SUM(octet_length(payload)) FROM jobs \
    WHERE status IN ('waiting', 'queued', 'scheduled') GROUP BY queue";
/// How often a process counts the waiting jobs again to set `queue_usage`
/// right (see the module doc).
const RECOUNT_EVERY: Duration = Duration::from_secs(60);

/// Whether a job in this status counts as waiting.
pub(super) fn is_waiting(status: Status) -> bool {
    matches!(status, Status::Waiting | Status::Queued | Status::Scheduled)
}

/// A queue's waiting jobs and the bytes of their payloads.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct WaitingUsage {
    pub(super) jobs: u64,
    pub(super) bytes: u64,
}

/// A queue's waiting jobs and their payload bytes, from `queue_usage`.
pub(super) fn waiting_usage(conn: &Connection, queue: &QueueName) -> Result<WaitingUsage> {
    let usage: Option<(i64, i64)> = conn
        .prepare_cached("SELECT waiting_jobs, waiting_bytes FROM queue_usage WHERE queue = ?1")
        .and_then(|mut stmt| {
            stmt.query_row(params![queue.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .map_err(storage)?;
    let (jobs, bytes) = usage.unwrap_or((0, 0));
    Ok(WaitingUsage {
        jobs: jobs.max(0) as u64,
        bytes: bytes.max(0) as u64,
    })
}

/// What a write adds to one queue's row of `queue_usage`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct UsageDelta {
    jobs: i64,
    bytes: i64,
}

impl UsageDelta {
    fn is_zero(&self) -> bool {
        *self == UsageDelta::default()
    }
}

/// What one write changes in `queue_usage`, per queue: waiting jobs and
/// their payload bytes, written once at the write's end (see the module doc).
#[derive(Default)]
pub(super) struct UsageChange(HashMap<QueueName, UsageDelta>);

impl UsageChange {
    /// Adds `jobs` waiting jobs and `bytes` payload bytes (either may be
    /// negative) to `queue`.
    pub(super) fn add(&mut self, queue: &QueueName, jobs: i64, bytes: i64) {
        // Looked up before inserting, so the queue name is cloned only the
        // first time the write touches that queue.
        let change = match self.0.get_mut(queue) {
            Some(change) => change,
            None => self.0.entry(queue.clone()).or_default(),
        };
        change.jobs += jobs;
        change.bytes += bytes;
    }

    /// The change of a transition that applied: a job that starts or
    /// stops waiting (its payload's size is read from its row).
    pub(super) fn add_transition(&mut self, tx: &Connection, t: &Transition) -> Result<()> {
        let (was, is) = (is_waiting(t.expect.status), is_waiting(t.job.status()));
        if was == is {
            return Ok(());
        }
        let bytes: i64 = tx
            .prepare_cached("SELECT octet_length(payload) FROM jobs WHERE id = ?1")
            .and_then(|mut stmt| stmt.query_row(params![t.job.id.as_str()], |r| r.get(0)))
            .map_err(storage)?;
        let sign = if is { 1 } else { -1 };
        self.add(&t.job.queue, sign, sign * bytes);
        Ok(())
    }

    /// Whether it changes nothing.
    pub(super) fn is_empty(&self) -> bool {
        self.0.values().all(UsageDelta::is_zero)
    }

    /// Adds the change to `queue_usage`, one row per queue it touches.
    pub(super) fn write(self, tx: &Connection) -> Result<()> {
        for (queue, delta) in self.0 {
            if delta.is_zero() {
                continue;
            }
            tx.prepare_cached(
                "INSERT INTO queue_usage (queue, waiting_jobs, waiting_bytes) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (queue) DO UPDATE SET \
                 waiting_jobs = waiting_jobs + excluded.waiting_jobs, \
                 waiting_bytes = waiting_bytes + excluded.waiting_bytes",
            )
            .and_then(|mut stmt| stmt.execute(params![queue.as_str(), delta.jobs, delta.bytes]))
            .map_err(storage)?;
        }
        Ok(())
    }
}

/// What `queue_usage` lacks, per queue, on one snapshot: what the jobs
/// count minus what the table says (see the module doc).
fn usage_correction(conn: &Connection) -> Result<UsageChange> {
    let snapshot = conn.unchecked_transaction().map_err(storage)?;
    let mut drift = UsageChange::default();
    add_counts(
        &snapshot,
        "SELECT queue, waiting_jobs, waiting_bytes FROM queue_usage",
        -1,
        &mut drift,
    )?;
    add_counts(&snapshot, COUNT_WAITING, 1, &mut drift)?;
    snapshot.finish().map_err(storage)?;
    Ok(drift)
}

/// Adds `sign` times each row of `sql` (queue, jobs, bytes) to `drift`.
fn add_counts(conn: &Connection, sql: &str, sign: i64, drift: &mut UsageChange) -> Result<()> {
    let mut stmt = conn.prepare_cached(sql).map_err(storage)?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, Option<i64>>(2)?.unwrap_or(0),
            ))
        })
        .map_err(storage)?;
    for row in rows {
        let (queue, jobs, bytes) = row.map_err(storage)?;
        let queue = QueueName::parse(&queue).map_err(|e| QueueError::Corrupt(e.to_string()))?;
        drift.add(&queue, sign * jobs, sign * bytes);
    }
    Ok(())
}

impl SqliteBackend {
    /// Counts the waiting jobs again and sets `queue_usage` right, if this
    /// process last did so [`RECOUNT_EVERY`] ago or never.
    pub(super) async fn recount_usage_when_due(&self) -> Result<()> {
        if !self.take_recount_turn() {
            return Ok(());
        }
        let correction = self.read(usage_correction).await?;
        if !correction.is_empty() {
            tracing::info!(
                "queue usage counts were off (a hand edit, or an earlier version \
                 sharing the database); set right"
            );
            self.write(move |tx| correction.write(tx)).await?;
        }
        Ok(())
    }

    /// Whether a recount is due; if so, marks it done now.
    fn take_recount_turn(&self) -> bool {
        let mut last = self
            .shared
            .last_recount
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let due = last.is_none_or(|at| at.elapsed() >= RECOUNT_EVERY);
        if due {
            *last = Some(Instant::now());
        }
        due
    }
}
