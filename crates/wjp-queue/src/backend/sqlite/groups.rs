//! Fairness groups: a queue whose waiting jobs carry groups is claimed in
//! turns, one job of each group with a due job at a time, least recently
//! served group first; jobs without a group take their turns as one group
//! of their own (`''`).
//!
//! `group_turns` holds a row per group of the queue that may have waiting
//! (queued or scheduled) jobs, with the turn it was last served in (a
//! newcomer gets the next turn, so it joins the end of the round). A row
//! is written when a grouped job starts waiting (`note_waiting`, called by
//! the insert and by every transition), and dropped by a claim that finds
//! the group without waiting jobs. A queue with no row is claimed as
//! before, by the plain ready index: the plain path pays one indexed
//! `EXISTS` per claim.
//!
//! Order within a group is the queue's: highest priority, then earliest
//! run-at, then first enqueued (`jobs_group_ready`). A queue's
//! `per_group_max_running` skips a group whose running jobs reach it.

use std::collections::{HashMap, VecDeque};

use rusqlite::{params, Connection};

use super::connection::storage;
use super::rows::{select_jobs, StoredJob};
use crate::error::Result;
use crate::job::{Job, Status, Timestamp};

/// The turn key of jobs without a group.
const UNGROUPED: &str = "";

/// Gives a grouped job that now waits (queued or scheduled) its group's
/// place in the queue's turns, if the group has none.
pub(super) fn note_waiting(tx: &Connection, job: &Job) -> Result<()> {
    let Some(group) = &job.group else {
        return Ok(());
    };
    if !matches!(job.status(), Status::Queued | Status::Scheduled) {
        return Ok(());
    }
    tx.prepare_cached(
        "INSERT OR IGNORE INTO group_turns (queue, grp, turn) \
         SELECT ?1, ?2, COALESCE(MAX(turn), 0) + 1 FROM group_turns WHERE queue = ?1",
    )
    .and_then(|mut stmt| stmt.execute(params![job.queue.as_str(), group]))
    .map_err(storage)?;
    Ok(())
}

/// Whether `queue` is claimed in turns (it has a group's row).
pub(super) fn in_turns(conn: &Connection, queue: &str) -> Result<bool> {
    conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM group_turns WHERE queue = ?1)")
        .and_then(|mut stmt| stmt.query_row([queue], |r| r.get(0)))
        .map_err(storage)
}

/// What a claim takes in turns: the jobs in claim order, and what it
/// leaves of the turns (see [`Rotation::write`]).
pub(super) struct Rotation {
    queue: String,
    pub(super) jobs: Vec<StoredJob>,
    /// Each served group with the turn it was served in last.
    served: Vec<(String, i64)>,
    /// Groups found without a due job, to drop if they wait for nothing.
    idle: Vec<String>,
    /// Whether jobs without a group have no row yet.
    ungrouped_missing: bool,
}

/// Up to `room` due jobs of `queue`, taken in turns (see the module doc),
/// none of a group with `cap` running jobs. Only reads: `Rotation::write`
/// records the turns in the claim's transaction.
pub(super) fn rotation(
    conn: &Connection,
    queue: &str,
    room: usize,
    now: Timestamp,
    cap: Option<u32>,
) -> Result<Rotation> {
    // The round is read a chunk at a time, oldest turn first (a claim
    // rarely needs more groups than it has room for); served groups come
    // back after it with newer turns.
    let chunk = room.max(16);
    let mut round = RoundReader {
        queue,
        chunk,
        offset: 0,
        done: false,
    };
    let mut ring: VecDeque<String> = round.next_chunk(conn)?;
    let mut last_turn: i64 = conn
        .prepare_cached("SELECT COALESCE(MAX(turn), 0) FROM group_turns WHERE queue = ?1")
        .and_then(|mut stmt| stmt.query_row([queue], |r| r.get(0)))
        .map_err(storage)?;
    let ungrouped_row: bool = conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM group_turns WHERE queue = ?1 AND grp = '')")
        .and_then(|mut stmt| stmt.query_row([queue], |r| r.get(0)))
        .map_err(storage)?;
    let ungrouped_missing = !ungrouped_row;
    // Without a row yet, the jobs without a group come after the round.
    let mut ungrouped_pending = ungrouped_missing;
    // Served groups, to come back once the round is read.
    let mut again: VecDeque<String> = VecDeque::new();
    let mut rotation = Rotation {
        queue: queue.to_string(),
        jobs: Vec::new(),
        served: Vec::new(),
        idle: Vec::new(),
        ungrouped_missing,
    };
    let mut taken: HashMap<String, usize> = HashMap::new();
    let mut running: HashMap<String, u64> = HashMap::new();
    while rotation.jobs.len() < room {
        if ring.is_empty() && !round.done {
            ring = round.next_chunk(conn)?;
        }
        let next = match ring.pop_front() {
            Some(group) => Some(group),
            None if ungrouped_pending => {
                ungrouped_pending = false;
                Some(UNGROUPED.to_string())
            }
            None => again.pop_front(),
        };
        let Some(group) = next else { break };
        let already = taken.get(&group).copied().unwrap_or(0);
        let mut want = 1;
        if ring.is_empty() && round.done && !ungrouped_pending && again.is_empty() {
            // The last group with jobs: the rest of the room at once.
            want = room - rotation.jobs.len();
        }
        if let (Some(cap), false) = (cap, group == UNGROUPED) {
            let n = match running.get(&group) {
                Some(n) => *n,
                None => {
                    let n = running_in(conn, queue, &group)?;
                    running.insert(group.clone(), n);
                    n
                }
            };
            let left = u64::from(cap).saturating_sub(n + already as u64);
            want = want.min(left as usize);
            if want == 0 {
                continue;
            }
        }
        let jobs = due_of(conn, queue, &group, now, want, already)?;
        if jobs.is_empty() {
            if already == 0 {
                rotation.idle.push(group);
            }
            continue;
        }
        let got = jobs.len();
        rotation.jobs.extend(jobs);
        taken.insert(group.clone(), already + got);
        last_turn += 1;
        match rotation.served.iter_mut().find(|(g, _)| *g == group) {
            Some(entry) => entry.1 = last_turn,
            None => rotation.served.push((group.clone(), last_turn)),
        }
        if got == want {
            again.push_back(group);
        }
    }
    Ok(rotation)
}

/// Reads a queue's round in chunks, oldest turn first.
struct RoundReader<'a> {
    queue: &'a str,
    chunk: usize,
    offset: usize,
    done: bool,
}

impl RoundReader<'_> {
    fn next_chunk(&mut self, conn: &Connection) -> Result<VecDeque<String>> {
        let mut stmt = conn
            .prepare_cached(
                "SELECT grp FROM group_turns WHERE queue = ?1 ORDER BY turn, grp \
                 LIMIT ?2 OFFSET ?3",
            )
            .map_err(storage)?;
        let rows = stmt
            .query_map(
                params![self.queue, self.chunk as i64, self.offset as i64],
                |r| r.get::<_, String>(0),
            )
            .map_err(storage)?;
        let groups = rows
            .collect::<rusqlite::Result<VecDeque<String>>>()
            .map_err(storage)?;
        self.offset += groups.len();
        self.done = groups.len() < self.chunk;
        Ok(groups)
    }
}

impl Rotation {
    /// Records the turns the claim used, and drops the rows of groups that
    /// wait for nothing (the queue leaves turns when only the ungrouped
    /// row would be left).
    pub(super) fn write(&self, tx: &Connection) -> Result<()> {
        // Jobs without a group join the round when it starts, first (they
        // were all that was served before).
        if self.ungrouped_missing {
            tx.prepare_cached(
                "INSERT OR IGNORE INTO group_turns (queue, grp, turn) VALUES (?1, '', 0)",
            )
            .and_then(|mut stmt| stmt.execute([&self.queue]))
            .map_err(storage)?;
        }
        for (group, turn) in &self.served {
            tx.prepare_cached("UPDATE group_turns SET turn = ?3 WHERE queue = ?1 AND grp = ?2")
                .and_then(|mut stmt| stmt.execute(params![self.queue, group, turn]))
                .map_err(storage)?;
        }
        for group in &self.idle {
            if group != UNGROUPED && !waits_in(tx, &self.queue, group)? {
                tx.prepare_cached("DELETE FROM group_turns WHERE queue = ?1 AND grp = ?2")
                    .and_then(|mut stmt| stmt.execute(params![self.queue, group]))
                    .map_err(storage)?;
            }
        }
        let named: bool = tx
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM group_turns WHERE queue = ?1 AND grp != '')",
            )
            .and_then(|mut stmt| stmt.query_row([&self.queue], |r| r.get(0)))
            .map_err(storage)?;
        if !named {
            tx.prepare_cached("DELETE FROM group_turns WHERE queue = ?1")
                .and_then(|mut stmt| stmt.execute([&self.queue]))
                .map_err(storage)?;
        }
        Ok(())
    }
}

/// The best `want` due jobs of one group after the first `skip`.
fn due_of(
    conn: &Connection,
    queue: &str,
    group: &str,
    now: Timestamp,
    want: usize,
    skip: usize,
) -> Result<Vec<StoredJob>> {
    // Jobs without a group are read through the plain ready index (the
    // group index holds grouped jobs only, so the plain path does not
    // maintain it).
    let clause = if group == UNGROUPED {
        "queue = ?1 AND grp = ?2 AND status IN ('queued', 'scheduled') AND run_at <= ?3 \
         ORDER BY priority DESC, run_at, seq LIMIT ?4 OFFSET ?5"
    } else {
        "queue = ?1 AND grp = ?2 AND status IN ('queued', 'scheduled') AND run_at <= ?3 \
         AND grp != '' ORDER BY priority DESC, run_at, seq LIMIT ?4 OFFSET ?5"
    };
    select_jobs(
        conn,
        clause,
        params![queue, group, now.0, want as i64, skip as i64],
    )
}

/// How many jobs of a group run now.
fn running_in(conn: &Connection, queue: &str, group: &str) -> Result<u64> {
    conn.prepare_cached(
        "SELECT COUNT(*) FROM jobs WHERE queue = ?1 AND grp = ?2 AND status = 'running' \
         AND grp != ''",
    )
    .and_then(|mut stmt| stmt.query_row(params![queue, group], |r| r.get::<_, i64>(0)))
    .map(|n| n.max(0) as u64)
    .map_err(storage)
}

/// Whether a group has waiting (queued or scheduled) jobs, due or not.
fn waits_in(conn: &Connection, queue: &str, group: &str) -> Result<bool> {
    conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM jobs WHERE queue = ?1 AND grp = ?2 \
         AND status IN ('queued', 'scheduled') AND grp != '')",
    )
    .and_then(|mut stmt| stmt.query_row(params![queue, group], |r| r.get(0)))
    .map_err(storage)
}
