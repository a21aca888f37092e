//! Reads for operators: pages of jobs and counts by status.

use rusqlite::Connection;

use super::connection::storage;
use super::rows::select_jobs;
use crate::backend::{JobPage, JobQuery, QueueCounts};
use crate::error::{QueueError, Result};
use crate::job::{QueueName, Status, Timestamp};

/// Largest page a listing returns.
const PAGE_MAX: usize = 1000;

/// One page of the jobs matching `query`, newest first.
pub(super) fn list_page(conn: &Connection, query: &JobQuery) -> Result<JobPage> {
    let before = match &query.cursor {
        Some(c) => c
            .parse::<i64>()
            .map_err(|_| QueueError::InvalidRequest(format!("invalid cursor {c:?}")))?,
        None => i64::MAX,
    };
    let limit = query.limit.clamp(1, PAGE_MAX);
    // Only the filters given appear in the SQL, so SQLite can walk
    // the matching index in `seq` order instead of scanning history.
    let mut sql = String::from("seq < ?1 AND (expires_at IS NULL OR expires_at > ?2)");
    let mut values: Vec<rusqlite::types::Value> = vec![before.into(), Timestamp::now().0.into()];
    if let Some(queue) = &query.queue {
        values.push(queue.to_string().into());
        sql += &format!(" AND queue = ?{}", values.len());
    }
    if let Some(status) = query.status {
        values.push(status.as_str().to_owned().into());
        sql += &format!(" AND status = ?{}", values.len());
    }
    if let Some(kind) = &query.kind {
        values.push(kind.to_string().into());
        sql += &format!(" AND kind = ?{}", values.len());
    }
    // One more than the page: whether it is there says if a next page is.
    values.push((limit as i64 + 1).into());
    sql += &format!(" ORDER BY seq DESC LIMIT ?{}", values.len());
    let jobs = select_jobs(conn, &sql, rusqlite::params_from_iter(values))?;
    let more = jobs.len() > limit;
    let jobs: Vec<_> = jobs.into_iter().take(limit).collect();
    let next_cursor = if more {
        jobs.last().map(|stored| stored.seq.to_string())
    } else {
        None
    };
    Ok(JobPage {
        jobs: jobs.into_iter().map(|stored| stored.job).collect(),
        next_cursor,
    })
}

/// Each queue's jobs by status, zeros included.
pub(super) fn counts(conn: &Connection, queues: &[QueueName]) -> Result<Vec<QueueCounts>> {
    // All rows by (queue, status) from the covering index, minus the
    // few that expired but await the next sweep (from the expiry
    // index): exact, without reading the rows themselves.
    let now = Timestamp::now();
    let mut all = conn
        .prepare_cached("SELECT status, COUNT(*) FROM jobs WHERE queue = ?1 GROUP BY status")
        .map_err(storage)?;
    let mut expired = conn
        .prepare_cached(
            "SELECT status, COUNT(*) FROM jobs WHERE expires_at <= ?1 AND queue = ?2 \
             GROUP BY status",
        )
        .map_err(storage)?;
    queues
        .iter()
        .map(|queue| {
            let mut counts = QueueCounts {
                name: queue.to_string(),
                ..QueueCounts::default()
            };
            for (status, n) in status_counts(&mut all, &[&queue.as_str()])? {
                counts.add(status, n);
            }
            for (status, n) in status_counts(&mut expired, &[&now.0, &queue.as_str()])? {
                let count = counts.get_mut(status);
                *count = count.saturating_sub(n);
            }
            counts.paused = super::claim::is_paused(conn, queue.as_str())?;
            (counts.limits, counts.rate_claims) =
                super::claim::limits_of(conn, queue.as_str(), now)?;
            Ok(counts)
        })
        .collect()
}

/// The rows of a `SELECT status, COUNT(*)` statement.
fn status_counts(
    stmt: &mut rusqlite::CachedStatement<'_>,
    params: &[&dyn rusqlite::ToSql],
) -> Result<Vec<(Status, u64)>> {
    let rows = stmt
        .query_map(params, |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })
        .map_err(storage)?;
    rows.map(|row| {
        let (status, n) = row.map_err(storage)?;
        Ok((status.parse::<Status>()?, n as u64))
    })
    .collect()
}
