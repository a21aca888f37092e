//! Claiming: a read-only look for ready jobs, then one write that takes
//! the best of them under fresh leases.

use std::sync::atomic::Ordering;

use rusqlite::types::Value as SqlValue;
use rusqlite::{params, Connection};

use super::connection::storage;
use super::quotas::UsageChange;
use super::rows::{apply_transition, select_jobs, StoredJob};
use super::SqliteBackend;
use crate::backend::ClaimRequest;
use crate::error::Result;
use crate::job::{Job, Timestamp};
use crate::state;

impl SqliteBackend {
    /// Takes up to `request.max` ready jobs of the request's queues.
    pub(super) async fn claim_ready(&self, request: &ClaimRequest) -> Result<Vec<Job>> {
        if request.max == 0 || request.queues.is_empty() {
            return Ok(Vec::new());
        }
        if !self.may_have_ready(request).await? {
            return Ok(Vec::new());
        }
        let request = request.clone();
        let max = request.max;
        let claimed = self.write(move |tx| take_ready(tx, &request)).await?;
        self.shared
            .busy
            .store(claimed.len() == max, Ordering::Relaxed);
        Ok(claimed)
    }

    /// Looks before taking the write lock: an idle worker must not hold up
    /// writers in other processes. After a claim that filled its batch the
    /// look is skipped, as ready jobs then almost surely exist.
    async fn may_have_ready(&self, request: &ClaimRequest) -> Result<bool> {
        if self.shared.busy.load(Ordering::Relaxed) {
            return Ok(true);
        }
        let queues: Vec<String> = request.queues.iter().map(|q| q.to_string()).collect();
        let now = request.now;
        self.read(move |conn| any_ready(conn, &queues, now)).await
    }
}

/// Whether any job of these queues may be claimed now.
pub(super) fn any_ready(conn: &Connection, queues: &[String], now: Timestamp) -> Result<bool> {
    let sql = format!(
        "SELECT EXISTS (SELECT 1 FROM jobs WHERE queue IN ({}) \
         AND status IN ('queued', 'scheduled') AND run_at <= ? \
         AND queue NOT IN (SELECT queue FROM paused_queues))",
        queue_placeholders(queues.len())
    );
    let mut values: Vec<SqlValue> = queues.iter().map(|q| SqlValue::Text(q.clone())).collect();
    values.push(SqlValue::Integer(now.0));
    conn.prepare_cached(&sql)
        .and_then(|mut stmt| stmt.query_row(rusqlite::params_from_iter(values), |r| r.get(0)))
        .map_err(storage)
}

fn queue_placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// The claim's write: the best ready jobs, each moved to running under a
/// lease, and the queues' waiting usage lowered by them.
fn take_ready(tx: &Connection, request: &ClaimRequest) -> Result<Vec<Job>> {
    let candidates = best_candidates(tx, request)?;
    let mut claimed = Vec::new();
    let mut usage = UsageChange::default();
    for c in candidates {
        let t = state::claim(&c.job, &request.worker, request.lease, request.now);
        if apply_transition(tx, &t)? {
            usage.add(&c.job.queue, -1, -(c.payload_bytes as i64));
            claimed.push(t.job);
        }
    }
    usage.write(tx)?;
    Ok(claimed)
}

/// The best ready jobs of the first queue, then of the next while room is
/// left (queues rank strictly in the request's order): each per-queue
/// scan walks the ready index in claim order.
fn best_candidates(tx: &Connection, request: &ClaimRequest) -> Result<Vec<StoredJob>> {
    let mut candidates = Vec::new();
    for queue in &request.queues {
        let room = request.max - candidates.len();
        if room == 0 {
            break;
        }
        if is_paused(tx, queue.as_str())? {
            continue;
        }
        candidates.extend(select_jobs(
            tx,
            "queue = ?1 AND status IN ('queued', 'scheduled') AND run_at <= ?2 \
                     ORDER BY priority DESC, run_at, seq LIMIT ?3",
            params![queue.as_str(), request.now.0, room as i64],
        )?);
    }
    Ok(candidates)
}

/// Whether `queue` is paused (read in the claim's transaction, so a pause
/// committed before it is always seen).
pub(super) fn is_paused(tx: &Connection, queue: &str) -> Result<bool> {
    tx.prepare_cached("SELECT EXISTS (SELECT 1 FROM paused_queues WHERE queue = ?1)")
        .and_then(|mut stmt| stmt.query_row([queue], |r| r.get(0)))
        .map_err(storage)
}

/// Pauses or resumes `queue`; whether that changed anything.
pub(super) fn set_paused(tx: &Connection, queue: &str, paused: bool) -> Result<bool> {
    let sql = if paused {
        "INSERT OR IGNORE INTO paused_queues (queue) VALUES (?1)"
    } else {
        "DELETE FROM paused_queues WHERE queue = ?1"
    };
    let changed = tx
        .prepare_cached(sql)
        .and_then(|mut stmt| stmt.execute([queue]))
        .map_err(storage)?;
    Ok(changed > 0)
}
