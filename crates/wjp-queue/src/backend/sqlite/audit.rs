//! The audit log (`crate::audit`) in the table `audit`: one row per entry,
//! written in the savepoint of the insert or transition it records. The
//! entries are made (and their lines written) by the caller, before the
//! write goes to the writer thread (`Prepared`); claims, which leave no
//! entry, take no part.
//!
//! Rows are appended in `id` order; the index on `at` serves the history's
//! time ranges and the age trim. The columns beside the entry's line are
//! what queries filter on without parsing it. No index on the job or the
//! reference: each would cost every write a random B-tree insert, and a
//! query's scan is bounded anyway (`crate::audit::SCAN_BUDGET`).

use rusqlite::{params, Connection};

use super::connection::storage;
use crate::audit::{
    submission_entry, transition_entry, AuditEntry, AuditPage, AuditQuery, AuditRetention,
    PageBuilder,
};
use crate::error::Result;
use crate::job::{Job, QueueName, Timestamp};
use crate::state::Transition;

/// The table and its index (schema version 5).
pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    job_id TEXT NOT NULL,
    queue TEXT NOT NULL,
    kind TEXT NOT NULL,
    outcome TEXT NOT NULL,
    reference TEXT,
    line TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_at ON audit(at);
";

/// An entry ready for the writer: made, and its line written, before the
/// write reaches the writer thread, which SQLite's single writer makes the
/// bottleneck of every process on the file.
pub(super) struct Prepared {
    entry: AuditEntry,
    line: String,
}

impl Prepared {
    fn of(entry: AuditEntry) -> Prepared {
        let line = entry.to_line();
        Prepared { entry, line }
    }
}

/// The entries of new jobs, in their order (stored for the jobs the
/// insert stores), submitted by `origins[i]`.
pub(super) fn submissions(jobs: &[Job], origins: &[String], now: Timestamp) -> Vec<Prepared> {
    jobs.iter()
        .enumerate()
        .map(|(i, job)| {
            let origin = origins.get(i).map_or("", String::as_str);
            Prepared::of(submission_entry(job, origin, now))
        })
        .collect()
}

/// The entries of transitions, in their order (`None` where the log keeps
/// no step; stored for those that apply).
pub(super) fn transitions(transitions: &[Transition], now: Timestamp) -> Vec<Option<Prepared>> {
    transitions
        .iter()
        .map(|t| transition_entry(t, now).map(Prepared::of))
        .collect()
}

/// Stores a prepared entry, in the write of the change it records.
pub(super) fn append(tx: &Connection, prepared: &Prepared) -> Result<()> {
    let entry = &prepared.entry;
    tx.prepare_cached(
        "INSERT INTO audit (at, job_id, queue, kind, outcome, reference, line) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            entry.at.0,
            entry.job_id.as_str(),
            entry.queue.as_str(),
            entry.kind.as_str(),
            entry.outcome.as_str(),
            entry.reference,
            prepared.line,
        ])
    })
    .map_err(storage)?;
    Ok(())
}

/// One page of the log, newest first.
pub(super) fn entries(conn: &Connection, query: &AuditQuery) -> Result<AuditPage> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT at, job_id, queue, kind, outcome, reference, line FROM audit \
             WHERE at >= ?1 AND at < ?2 ORDER BY at DESC, id DESC",
        )
        .map_err(storage)?;
    let since = query.since.map_or(i64::MIN, |t| t.0);
    let until = query.until.map_or(i64::MAX, |t| t.0);
    let mut rows = stmt.query(params![since, until]).map_err(storage)?;
    let mut page = PageBuilder::new(query);
    let wanted_reference = query.reference.as_ref().map(|r| r.to_lowercase());
    while let Some(row) = rows.next().map_err(storage)? {
        let at = Timestamp(row.get(0).map_err(storage)?);
        // The columns decide; the line is parsed only for a match.
        let column = |i: usize| row.get_ref(i).ok().and_then(|v| v.as_str().ok());
        let matches = query
            .job
            .as_ref()
            .is_none_or(|j| column(1) == Some(j.as_str()))
            && query
                .queue
                .as_ref()
                .is_none_or(|q| column(2) == Some(q.as_str()))
            && query
                .kind
                .as_ref()
                .is_none_or(|k| column(3) == Some(k.as_str()))
            && query.outcome.is_none_or(|o| column(4) == Some(o.as_str()))
            && wanted_reference.as_ref().is_none_or(|wanted| {
                column(5).is_some_and(|r| r.to_lowercase().contains(wanted.as_str()))
            });
        let entry = if matches {
            let line: String = row.get(6).map_err(storage)?;
            Some(AuditEntry::from_line(&line)?)
        } else {
            None
        };
        if !page.push(at, entry) {
            break;
        }
    }
    Ok(page.finish())
}

/// Deletes entries past the retention's age and beyond its count.
pub(super) fn trim(tx: &Connection, now: Timestamp, retention: &AuditRetention) -> Result<u64> {
    let oldest_kept = now
        .0
        .saturating_sub(i64::try_from(retention.max_age.as_millis()).unwrap_or(i64::MAX));
    let aged = tx
        .execute("DELETE FROM audit WHERE at < ?1", params![oldest_kept])
        .map_err(storage)?;
    // Ids are in insert order: the newest `max_entries` are kept, through
    // the primary key, without a scan.
    let cap = i64::try_from(retention.max_entries).unwrap_or(i64::MAX);
    let over = tx
        .execute(
            "DELETE FROM audit WHERE id <= (SELECT MAX(id) FROM audit) - ?1",
            params![cap],
        )
        .map_err(storage)?;
    Ok((aged + over) as u64)
}

/// Deletes a queue's entries.
pub(super) fn forget(tx: &Connection, queue: &QueueName) -> Result<()> {
    tx.execute(
        "DELETE FROM audit WHERE queue = ?1",
        params![queue.as_str()],
    )
    .map_err(storage)?;
    Ok(())
}
