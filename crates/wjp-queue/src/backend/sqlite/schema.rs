//! The tables and indexes, and the migration that creates or checks them
//! (filling `queue_usage` when it is new in a database that holds jobs).

use rusqlite::Connection;

use super::connection::{retry_busy, storage};
use crate::error::{QueueError, Result};

/// Schema version in `PRAGMA user_version`: 2 added the stall columns, 3
/// the unique key, 4 the client's reference, 5 dependencies (`parents`,
/// `run_anyway`, the `job_parents` edges), 6 the audit log (`audit.rs`), 7
/// fairness groups (`grp`, `group_turns`, `queue_limits.per_group_max_running`).
const SCHEMA_VERSION: i64 = 8;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    queue TEXT NOT NULL,
    payload TEXT NOT NULL,
    priority INTEGER NOT NULL,
    max_attempts INTEGER NOT NULL,
    timeout_ms INTEGER NOT NULL,
    result_ttl_ms INTEGER NOT NULL,
    failure_ttl_ms INTEGER NOT NULL,
    backoff_ms INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    status TEXT NOT NULL,
    progress REAL,
    progress_message TEXT,
    result TEXT,
    error_kind TEXT,
    error_message TEXT,
    attempt INTEGER NOT NULL,
    run_at INTEGER NOT NULL,
    enqueued_at INTEGER,
    started_at INTEGER,
    completed_at INTEGER,
    expires_at INTEGER,
    worker TEXT,
    lease_token INTEGER,
    lease_expires_at INTEGER,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    max_stalls INTEGER NOT NULL DEFAULT 2,
    stalls INTEGER NOT NULL DEFAULT 0,
    unique_key TEXT,
    unique_until INTEGER,
    reference TEXT,
    parents TEXT,
    run_anyway INTEGER NOT NULL DEFAULT 0,
    grp TEXT NOT NULL DEFAULT '',
    progress_detail TEXT
);
CREATE INDEX IF NOT EXISTS jobs_ready ON jobs(queue, priority DESC, run_at, seq)
    WHERE status IN ('queued', 'scheduled');
CREATE INDEX IF NOT EXISTS jobs_group_ready ON jobs(queue, grp, priority DESC, run_at, seq)
    WHERE status IN ('queued', 'scheduled') AND grp != '';
CREATE INDEX IF NOT EXISTS jobs_group_running ON jobs(queue, grp)
    WHERE status = 'running' AND grp != '';
CREATE TABLE IF NOT EXISTS group_turns (
    queue TEXT NOT NULL,
    grp TEXT NOT NULL,
    turn INTEGER NOT NULL,
    PRIMARY KEY (queue, grp)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS group_turns_by_turn ON group_turns(queue, turn, grp);
CREATE INDEX IF NOT EXISTS jobs_leases ON jobs(lease_expires_at) WHERE status = 'running';
CREATE INDEX IF NOT EXISTS jobs_scheduled ON jobs(run_at) WHERE status = 'scheduled';
CREATE INDEX IF NOT EXISTS jobs_expiry ON jobs(expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS jobs_by_queue_status ON jobs(queue, status, seq);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs(status, seq);
CREATE INDEX IF NOT EXISTS jobs_by_kind ON jobs(kind, seq);
CREATE INDEX IF NOT EXISTS jobs_unique ON jobs(queue, unique_key, seq)
    WHERE unique_key IS NOT NULL;
CREATE TABLE IF NOT EXISTS job_parents (
    parent TEXT NOT NULL,
    child TEXT NOT NULL,
    PRIMARY KEY (parent, child)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS job_parents_child ON job_parents(child);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    body TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS workers (
    name TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS paused_queues (
    queue TEXT PRIMARY KEY
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS schedules (
    name TEXT PRIMARY KEY,
    next_run INTEGER NOT NULL,
    body TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS queue_limits (
    queue TEXT PRIMARY KEY,
    max_running INTEGER,
    rate_count INTEGER,
    rate_period_ms INTEGER,
    window_start INTEGER NOT NULL DEFAULT 0,
    window_claims INTEGER NOT NULL DEFAULT 0,
    per_group_max_running INTEGER
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS queue_usage (
    queue TEXT PRIMARY KEY,
    waiting_jobs INTEGER NOT NULL,
    waiting_bytes INTEGER NOT NULL
) WITHOUT ROWID;
";

/// Fills `queue_usage` from the jobs, when it is created in a database
/// that already holds some (made by a version without it).
const COUNT_USAGE: &str = "
INSERT INTO queue_usage (queue, waiting_jobs, waiting_bytes)
SELECT queue, COUNT(*), SUM(octet_length(payload)) FROM jobs
WHERE status IN ('waiting', 'queued', 'scheduled') GROUP BY queue;
";

/// Creates or checks the schema in one `BEGIN IMMEDIATE` transaction: it
/// takes the write lock before reading the version, so processes opening
/// the same fresh file take turns instead of colliding mid-way.
pub(super) fn migrate(conn: &Connection) -> Result<()> {
    let version = retry_busy(|| {
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let outcome = conn
            .query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))
            .and_then(|version| {
                if version <= SCHEMA_VERSION {
                    create_schema(conn, version)?;
                }
                Ok(version)
            });
        match outcome {
            Ok(version) => conn.execute_batch("COMMIT").map(|()| version),
            Err(e) => {
                // The error is what matters; a failed rollback adds nothing.
                let _ = conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    })
    .map_err(storage)?;
    if version > SCHEMA_VERSION {
        return Err(QueueError::Unavailable(format!(
            "the database has schema version {version}, newer than this wjp \
             understands ({SCHEMA_VERSION}); upgrade wjp"
        )));
    }
    Ok(())
}

/// Columns added after version 1, with the version that added them: a
/// file of an earlier version gets them, each job its default (jobs stored
/// before stalls were counted have stalled 0 times, with the default
/// budget).
const ADDED_COLUMNS: [(i64, &str); 9] = [
    (
        2,
        "ALTER TABLE jobs ADD COLUMN max_stalls INTEGER NOT NULL DEFAULT 2",
    ),
    (
        2,
        "ALTER TABLE jobs ADD COLUMN stalls INTEGER NOT NULL DEFAULT 0",
    ),
    (3, "ALTER TABLE jobs ADD COLUMN unique_key TEXT"),
    (3, "ALTER TABLE jobs ADD COLUMN unique_until INTEGER"),
    (4, "ALTER TABLE jobs ADD COLUMN reference TEXT"),
    (5, "ALTER TABLE jobs ADD COLUMN parents TEXT"),
    (
        5,
        "ALTER TABLE jobs ADD COLUMN run_anyway INTEGER NOT NULL DEFAULT 0",
    ),
    (
        7,
        "ALTER TABLE jobs ADD COLUMN grp TEXT NOT NULL DEFAULT ''",
    ),
    (8, "ALTER TABLE jobs ADD COLUMN progress_detail TEXT"),
];

/// Creates whatever of the schema is missing, inside the migration's
/// transaction: the columns a file of version `version` lacks (0: a new
/// file), and `queue_usage` counted from the jobs if it is new.
fn create_schema(conn: &Connection, version: i64) -> rusqlite::Result<()> {
    let had_usage: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'queue_usage')",
        [],
        |r| r.get(0),
    )?;
    let had_jobs: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'jobs')",
        [],
        |r| r.get(0),
    )?;
    if had_jobs {
        for (added_in, sql) in ADDED_COLUMNS {
            if version < added_in {
                conn.execute_batch(sql)?;
            }
        }
    }
    // `queue_limits` came after the first version: a file may have it
    // without the per-group column, or lack it (then SCHEMA makes it whole).
    let had_limits: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'queue_limits')",
        [],
        |r| r.get(0),
    )?;
    if had_limits && version < 7 {
        conn.execute_batch("ALTER TABLE queue_limits ADD COLUMN per_group_max_running INTEGER")?;
    }
    conn.execute_batch(SCHEMA)?;
    conn.execute_batch(super::audit::SCHEMA)?;
    conn.execute_batch(super::stock::SCHEMA)?;
    if !had_usage {
        conn.execute_batch(COUNT_USAGE)?;
    }
    conn.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))
}
