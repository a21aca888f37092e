//! Dependencies: the `job_parents` edges (one row per parent a waiting job
//! still waits for), written when a dependant is stored and consumed when
//! its parents end, in the same transaction as the end.
//!
//! **Invariant**: an edge exists only while its child is `waiting` and its
//! parent has not ended. A parent's end deletes its edges and applies
//! [`state::parent_ended`] to each child; a child that leaves `waiting`
//! any other way (a cancel) takes its edges with it; a purge of waiting
//! parents ends their dependants as if the parents had failed. So no edge
//! outlives the jobs it joins.

use rusqlite::{params, Connection};

use super::connection::storage;
use super::quotas::UsageChange;
use super::rows::{apply_transition, get_live};
use crate::error::Result;
use crate::job::{Job, JobId, Status, Timestamp};
use crate::state::{self, ParentEnd};

/// A new job's first state from its parents as stored now (see
/// [`state::settle_new`]), with an edge for each parent still to end.
/// Parents stored earlier in the same write count (a flow's nodes).
pub(super) fn settle_new_job(tx: &Connection, job: Job, now: Timestamp) -> Result<Job> {
    if job.after.is_empty() {
        return Ok(job);
    }
    let parents = job
        .after
        .iter()
        .map(|parent| {
            Ok((
                parent.clone(),
                get_live(tx, parent, now)?.map(|p| p.status()),
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    let (job, live) = state::settle_new(job, &parents, now)?;
    let mut insert = tx
        .prepare_cached("INSERT OR IGNORE INTO job_parents (parent, child) VALUES (?1, ?2)")
        .map_err(storage)?;
    for parent in live {
        insert
            .execute(params![parent.as_str(), job.id.as_str()])
            .map_err(storage)?;
    }
    Ok(job)
}

/// Whether any job waits for a parent: looked at once per write, so the
/// ends of jobs in a store without dependencies cost nothing more.
pub(super) struct EdgesExist(Option<bool>);

impl EdgesExist {
    pub(super) fn unknown() -> Self {
        EdgesExist(None)
    }

    fn get(&mut self, tx: &Connection) -> Result<bool> {
        if let Some(known) = self.0 {
            return Ok(known);
        }
        let exist: bool = tx
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM job_parents)")
            .and_then(|mut stmt| stmt.query_row([], |r| r.get(0)))
            .map_err(storage)?;
        self.0 = Some(exist);
        Ok(exist)
    }
}

/// What a write must do after a transition applied: a job that ended
/// settles its dependants; a job that left `waiting` without its parents
/// ending (a cancel) drops its edges.
pub(super) fn after_transition(
    tx: &Connection,
    before: Status,
    job: &Job,
    edges: &mut EdgesExist,
    usage: &mut UsageChange,
    now: Timestamp,
) -> Result<()> {
    let Some(end) = ParentEnd::of(job.status()).filter(|_| before != job.status()) else {
        return Ok(());
    };
    if !edges.get(tx)? {
        return Ok(());
    }
    if before == Status::Waiting {
        tx.prepare_cached("DELETE FROM job_parents WHERE child = ?1")
            .and_then(|mut stmt| stmt.execute([job.id.as_str()]))
            .map_err(storage)?;
    }
    settle_dependants(tx, vec![(job.id.clone(), end)], usage, now)
}

/// Applies the ends of `ended` parents to their dependants, and the ends
/// of dependants that this cancels to theirs, down the whole graph (a
/// work list, not recursion: a chain may be long).
pub(super) fn settle_dependants(
    tx: &Connection,
    mut ended: Vec<(JobId, ParentEnd)>,
    usage: &mut UsageChange,
    now: Timestamp,
) -> Result<()> {
    while let Some((parent, end)) = ended.pop() {
        let children: Vec<String> = {
            let mut stmt = tx
                .prepare_cached("DELETE FROM job_parents WHERE parent = ?1 RETURNING child")
                .map_err(storage)?;
            let rows = stmt
                .query_map([parent.as_str()], |r| r.get(0))
                .map_err(storage)?;
            rows.collect::<rusqlite::Result<_>>().map_err(storage)?
        };
        for child in children {
            let Ok(child_id) = JobId::parse(&child) else {
                continue;
            };
            let Some(job) = get_live(tx, &child_id, now)? else {
                continue;
            };
            let left: i64 = tx
                .prepare_cached("SELECT COUNT(*) FROM job_parents WHERE child = ?1")
                .and_then(|mut stmt| stmt.query_row([child.as_str()], |r| r.get(0)))
                .map_err(storage)?;
            let Some(t) = state::parent_ended(&job, &parent, end, left.max(0) as usize, now) else {
                continue;
            };
            if apply_transition(tx, &t)? {
                usage.add_transition(tx, &t)?;
                if t.job.status() != Status::Waiting {
                    tx.prepare_cached("DELETE FROM job_parents WHERE child = ?1")
                        .and_then(|mut stmt| stmt.execute([child.as_str()]))
                        .map_err(storage)?;
                }
                if let Some(end) = ParentEnd::of(t.job.status()) {
                    ended.push((t.job.id.clone(), end));
                }
            }
        }
    }
    Ok(())
}

/// The jobs of `queue` in `status` that some job waits for: a purge of
/// them ends their dependants as if they had failed ([`ParentEnd::Gone`]).
pub(super) fn purged_parents(tx: &Connection, queue: &str, status: Status) -> Result<Vec<JobId>> {
    let mut stmt = tx
        .prepare_cached(
            "SELECT DISTINCT p.parent FROM job_parents p JOIN jobs j ON j.id = p.parent \
             WHERE j.queue = ?1 AND j.status = ?2",
        )
        .map_err(storage)?;
    let rows = stmt
        .query_map(params![queue, status.as_str()], |r| r.get::<_, String>(0))
        .map_err(storage)?;
    let ids = rows
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(storage)?;
    Ok(ids
        .into_iter()
        .filter_map(|id| JobId::parse(&id).ok())
        .collect())
}
