//! Claiming: a read-only look for ready jobs, then one write that takes
//! the best of them under fresh leases.

use std::sync::atomic::Ordering;

use rusqlite::{params, Connection, OptionalExtension};

use super::connection::storage;
use super::groups;
use super::quotas::UsageChange;
use super::rows::{apply_transition, select_jobs, StoredJob};
use super::SqliteBackend;
use crate::backend::ClaimRequest;
use crate::error::Result;
use crate::job::{Job, Timestamp};
use crate::limits::{rate_window, QueueLimits, Rate, RatePeriod};
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

/// Whether any job of these queues may be claimed now: ready, in a queue
/// neither paused nor at one of its limits.
pub(super) fn any_ready(conn: &Connection, queues: &[String], now: Timestamp) -> Result<bool> {
    let mut ready = conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM jobs WHERE queue = ?1 \
             AND status IN ('queued', 'scheduled') AND run_at <= ?2)",
        )
        .map_err(storage)?;
    for queue in queues {
        if is_paused(conn, queue)? {
            continue;
        }
        let limited = limit_room(conn, queue, now)?;
        if limited.left == Some(0) {
            continue;
        }
        if limited.per_group.is_some() && groups::in_turns(conn, queue)? {
            // Ready jobs may all be of groups at their cap.
            if !groups::rotation(conn, queue, 1, now, limited.per_group)?
                .jobs
                .is_empty()
            {
                return Ok(true);
            }
            continue;
        }
        let exists: bool = ready
            .query_row(params![queue, now.0], |r| r.get(0))
            .map_err(storage)?;
        if exists {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The claim's write: the best ready jobs, each moved to running under a
/// lease, and the queues' waiting usage lowered by them.
fn take_ready(tx: &Connection, request: &ClaimRequest) -> Result<Vec<Job>> {
    let (candidates, mut windows) = best_candidates(tx, request)?;
    let mut claimed = Vec::new();
    let mut usage = UsageChange::default();
    for c in candidates {
        let t = state::claim(&c.job, &request.worker, request.lease, request.now);
        if apply_transition(tx, &t)? {
            usage.add(&c.job.queue, -1, -(c.payload_bytes as i64));
            if let Some(w) = windows.iter_mut().find(|w| w.queue == c.job.queue.as_str()) {
                w.claims += 1;
            }
            claimed.push(t.job);
        }
    }
    usage.write(tx)?;
    for w in windows {
        tx.prepare_cached(
            "UPDATE queue_limits SET window_start = ?2, window_claims = ?3 WHERE queue = ?1",
        )
        .and_then(|mut stmt| stmt.execute(params![w.queue, w.start, w.claims]))
        .map_err(storage)?;
    }
    Ok(claimed)
}

/// The best ready jobs of the first queue, then of the next while room is
/// left (queues rank strictly in the request's order): each per-queue
/// scan walks the ready index in claim order. A queue's limits cut its
/// share; the rate windows of the queues looked at come back, to count the
/// claims in.
fn best_candidates(
    tx: &Connection,
    request: &ClaimRequest,
) -> Result<(Vec<StoredJob>, Vec<RateWindow>)> {
    let mut candidates = Vec::new();
    let mut windows = Vec::new();
    for queue in &request.queues {
        let mut room = request.max - candidates.len();
        if room == 0 {
            break;
        }
        if is_paused(tx, queue.as_str())? {
            continue;
        }
        let limited = limit_room(tx, queue.as_str(), request.now)?;
        if let Some(window) = limited.window {
            windows.push(window);
        }
        if let Some(left) = limited.left {
            room = room.min(left as usize);
            if room == 0 {
                continue;
            }
        }
        if groups::in_turns(tx, queue.as_str())? {
            let rotation =
                groups::rotation(tx, queue.as_str(), room, request.now, limited.per_group)?;
            rotation.write(tx)?;
            candidates.extend(rotation.jobs);
            continue;
        }
        candidates.extend(select_jobs(
            tx,
            "queue = ?1 AND status IN ('queued', 'scheduled') AND run_at <= ?2 \
                     ORDER BY priority DESC, run_at, seq LIMIT ?3",
            params![queue.as_str(), request.now.0, room as i64],
        )?);
    }
    Ok((candidates, windows))
}

/// A queue's rate window as a claim leaves it: when it started (ms) and
/// the claims counted in it.
pub(super) struct RateWindow {
    queue: String,
    start: i64,
    claims: i64,
}

/// What a queue's limits let a claim at `now` take.
pub(super) struct LimitRoom {
    /// How many jobs at most; `None` without limits.
    pub(super) left: Option<u64>,
    /// The rate window at `now`, if the queue has a rate.
    window: Option<RateWindow>,
    /// The most jobs of one group running at once, if limited.
    pub(super) per_group: Option<u32>,
}

/// A queue's stored limits and rate window (`None` without limits).
fn stored_limits(conn: &Connection, queue: &str) -> Result<Option<(QueueLimits, i64, i64)>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT max_running, rate_count, rate_period_ms, window_start, window_claims, \
             per_group_max_running FROM queue_limits WHERE queue = ?1",
        )
        .map_err(storage)?;
    let row = stmt
        .query_row([queue], |r| {
            Ok((
                r.get::<_, Option<i64>>(0)?,
                r.get::<_, Option<i64>>(1)?,
                r.get::<_, Option<i64>>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, Option<i64>>(5)?,
            ))
        })
        .optional()
        .map_err(storage)?;
    let count_of = |n: i64| n.clamp(0, i64::from(u32::MAX)) as u32;
    Ok(
        row.map(|(max_running, count, period, start, claims, per_group)| {
            let rate = count
                .zip(period.and_then(RatePeriod::from_millis))
                .map(|(count, per)| Rate {
                    count: count.clamp(0, i64::from(u32::MAX)) as u32,
                    per,
                });
            let limits = QueueLimits {
                max_running: max_running.map(count_of),
                rate,
                per_group_max_running: per_group.map(count_of),
            };
            (limits, start, claims)
        }),
    )
}

/// How many of `queue`'s jobs its limits let a claim at `now` take: its
/// running jobs counted, and its rate window moved to `now`'s.
pub(super) fn limit_room(conn: &Connection, queue: &str, now: Timestamp) -> Result<LimitRoom> {
    let Some((limits, start, claims)) = stored_limits(conn, queue)? else {
        return Ok(LimitRoom {
            left: None,
            window: None,
            per_group: None,
        });
    };
    let mut left = None;
    if let Some(max) = limits.max_running {
        let running = running_jobs(conn, queue)?;
        left = Some(u64::from(max).saturating_sub(running));
    }
    let mut window = None;
    if let Some(rate) = limits.rate {
        let (allowed, start, claims) = rate_window(rate, start, claims, now.0);
        left = Some(left.map_or(allowed, |l: u64| l.min(allowed)));
        window = Some(RateWindow {
            queue: queue.to_string(),
            start,
            claims,
        });
    }
    Ok(LimitRoom {
        left,
        window,
        per_group: limits.per_group_max_running,
    })
}

fn running_jobs(conn: &Connection, queue: &str) -> Result<u64> {
    conn.prepare_cached("SELECT COUNT(*) FROM jobs WHERE queue = ?1 AND status = 'running'")
        .and_then(|mut stmt| stmt.query_row([queue], |r| r.get::<_, i64>(0)))
        .map(|n| n.max(0) as u64)
        .map_err(storage)
}

/// A queue's limits and the claims in its current rate window at `now`.
pub(super) fn limits_of(
    conn: &Connection,
    queue: &str,
    now: Timestamp,
) -> Result<(QueueLimits, u64)> {
    let Some((limits, start, claims)) = stored_limits(conn, queue)? else {
        return Ok((QueueLimits::default(), 0));
    };
    let used = match limits.rate {
        Some(rate) => rate_window(rate, start, claims, now.0).2.max(0) as u64,
        None => 0,
    };
    Ok((limits, used))
}

/// Sets (or, with none, clears) `queue`'s limits; its rate window starts
/// afresh.
pub(super) fn set_limits(tx: &Connection, queue: &str, limits: QueueLimits) -> Result<()> {
    if limits.is_none() {
        tx.prepare_cached("DELETE FROM queue_limits WHERE queue = ?1")
            .and_then(|mut stmt| stmt.execute([queue]))
            .map_err(storage)?;
        return Ok(());
    }
    tx.prepare_cached(
        "INSERT OR REPLACE INTO queue_limits \
         (queue, max_running, rate_count, rate_period_ms, window_start, window_claims, \
          per_group_max_running) VALUES (?1, ?2, ?3, ?4, 0, 0, ?5)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            queue,
            limits.max_running.map(i64::from),
            limits.rate.map(|r| i64::from(r.count)),
            limits.rate.map(|r| r.per.millis()),
            limits.per_group_max_running.map(i64::from),
        ])
    })
    .map_err(storage)?;
    Ok(())
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
