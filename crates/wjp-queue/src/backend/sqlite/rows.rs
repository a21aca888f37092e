//! Jobs as rows: reading a row into a job, a job's state as SQL values,
//! inserting a job and writing a transition under its guard.

use rusqlite::types::Value as SqlValue;
use rusqlite::{params, Connection, Row};

use super::connection::storage;
use super::events::append_event;
use crate::error::{QueueError, Result};
use crate::event::Event;
use crate::job::{
    ErrorKind, Job, JobError, JobId, JobState, Kind, LeaseToken, QueueName, Timestamp,
};
use crate::state::Transition;

/// The columns [`row_to_job`] reads, in its order.
const JOB_COLUMNS: &str = "id, kind, queue, payload, priority, max_attempts, timeout_ms, \
    result_ttl_ms, failure_ttl_ms, backoff_ms, created_at, status, progress, progress_message, \
    result, error_kind, error_message, attempt, run_at, enqueued_at, started_at, completed_at, \
    expires_at, worker, lease_token, lease_expires_at, cancel_requested, seq, max_stalls, stalls, unique_key, unique_until, reference, parents, run_anyway, grp, progress_detail";

/// The mutable columns, in the order [`state_values`] gives them.
const STATE_COLUMNS: [&str; 18] = [
    "status",
    "progress",
    "progress_message",
    "progress_detail",
    "result",
    "error_kind",
    "error_message",
    "attempt",
    "run_at",
    "enqueued_at",
    "started_at",
    "completed_at",
    "expires_at",
    "worker",
    "lease_token",
    "lease_expires_at",
    "cancel_requested",
    "stalls",
];

/// A job as read, with what its row holds besides.
pub(super) struct StoredJob {
    pub(super) job: Job,
    /// For cursors and claim order.
    pub(super) seq: i64,
    /// The bytes of the payload's JSON text, as `queue_usage` counts them.
    pub(super) payload_bytes: u64,
}

/// A JSON value as the text stored in a column.
pub(super) fn to_json_text(value: &serde_json::Value) -> String {
    value.to_string()
}

fn corrupt(what: &str, err: impl std::fmt::Display) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Text,
        format!("{what}: {err}").into(),
    )
}

fn ts(value: Option<i64>) -> Option<Timestamp> {
    value.map(Timestamp)
}

/// Reads a row selected with [`JOB_COLUMNS`].
fn row_to_job(row: &Row<'_>) -> rusqlite::Result<StoredJob> {
    let payload_text: Option<String> = row.get(3)?;
    let payload_bytes = payload_text.as_ref().map_or(0, |text| text.len() as u64);
    let payload = match payload_text {
        Some(text) => serde_json::from_str(&text).map_err(|e| corrupt("payload", e))?,
        None => serde_json::Value::Null,
    };
    let id: String = row.get(0)?;
    let error = read_error(row)?;
    let job = Job {
        id: JobId::parse(&id).map_err(|e| corrupt("job id", e))?,
        kind: Kind::parse(&row.get::<_, String>(1)?).map_err(|e| corrupt("kind", e))?,
        queue: QueueName::parse(&row.get::<_, String>(2)?).map_err(|e| corrupt("queue", e))?,
        payload,
        priority: row.get(4)?,
        max_attempts: row.get(5)?,
        max_stalls: row.get(28)?,
        timeout_ms: row.get::<_, i64>(6)? as u64,
        result_ttl_ms: row.get::<_, i64>(7)? as u64,
        failure_ttl_ms: row.get::<_, i64>(8)? as u64,
        backoff_ms: row.get::<_, i64>(9)? as u64,
        created_at: Timestamp(row.get(10)?),
        unique_key: row.get(30)?,
        unique_until: ts(row.get(31)?),
        reference: row.get(32)?,
        after: read_parents(row)?,
        run_anyway: row.get::<_, i64>(34)? != 0,
        group: Some(row.get::<_, String>(35)?).filter(|g| !g.is_empty()),
        state: read_state(row, error)?,
    };
    Ok(StoredJob {
        job,
        seq: row.get(27)?,
        payload_bytes,
    })
}

/// The parents a row names (JSON list of ids in `parents`; none when null).
fn read_parents(row: &Row<'_>) -> rusqlite::Result<Vec<JobId>> {
    match row.get::<_, Option<String>>(33)? {
        Some(text) => serde_json::from_str(&text).map_err(|e| corrupt("parents", e)),
        None => Ok(Vec::new()),
    }
}

/// The error columns (kind, message) of a row; none without a kind.
fn read_error(row: &Row<'_>) -> rusqlite::Result<Option<JobError>> {
    Ok(
        match (
            row.get::<_, Option<String>>(15)?,
            row.get::<_, Option<String>>(16)?,
        ) {
            (Some(kind), message) => Some(JobError {
                kind: kind
                    .parse::<ErrorKind>()
                    .map_err(|e| corrupt("error kind", e))?,
                message: message.unwrap_or_default(),
            }),
            _ => None,
        },
    )
}

/// The state columns of a row, with its error already read.
fn read_state(row: &Row<'_>, error: Option<JobError>) -> rusqlite::Result<JobState> {
    Ok(JobState {
        status: row
            .get::<_, String>(11)?
            .parse()
            .map_err(|e| corrupt("status", e))?,
        progress: row.get(12)?,
        progress_message: row.get(13)?,
        progress_detail: read_json(row, 36, "progress detail")?,
        result: read_json(row, 14, "result")?,
        error,
        attempt: row.get(17)?,
        run_at: Timestamp(row.get(18)?),
        enqueued_at: ts(row.get(19)?),
        started_at: ts(row.get(20)?),
        completed_at: ts(row.get(21)?),
        expires_at: ts(row.get(22)?),
        worker: row.get(23)?,
        lease_token: row.get::<_, Option<i64>>(24)?.map(|t| LeaseToken(t as u64)),
        lease_expires_at: ts(row.get(25)?),
        cancel_requested: row.get::<_, i64>(26)? != 0,
        stalls: row.get(29)?,
    })
}

/// A column holding JSON text or null.
fn read_json(row: &Row<'_>, idx: usize, what: &str) -> rusqlite::Result<Option<serde_json::Value>> {
    match row.get::<_, Option<String>>(idx)? {
        Some(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| corrupt(what, e)),
        None => Ok(None),
    }
}

/// The jobs matching `where_clause` (which may end in `ORDER BY` and
/// `LIMIT`), as stored.
pub(super) fn select_jobs(
    conn: &Connection,
    where_clause: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<StoredJob>> {
    let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE {where_clause}");
    let mut stmt = conn.prepare_cached(&sql).map_err(storage)?;
    let rows = stmt.query_map(params, row_to_job).map_err(storage)?;
    rows.collect::<rusqlite::Result<Vec<_>>>()
        .map_err(|e| QueueError::Corrupt(e.to_string()))
}

/// A job by id, unless its record expired.
pub(super) fn get_live(conn: &Connection, id: &JobId, now: Timestamp) -> Result<Option<Job>> {
    Ok(select_jobs(
        conn,
        "id = ?1 AND (expires_at IS NULL OR expires_at > ?2)",
        params![id.as_str(), now.0],
    )?
    .pop()
    .map(|stored| stored.job))
}

/// A job state as SQL values, in [`STATE_COLUMNS`] order: the one mapping
/// used by inserts and updates alike.
fn state_values(s: &JobState) -> Vec<SqlValue> {
    let time = |t: Option<Timestamp>| t.map_or(SqlValue::Null, |t| SqlValue::Integer(t.0));
    let text = |t: Option<&str>| t.map_or(SqlValue::Null, |t| SqlValue::Text(t.to_owned()));
    vec![
        SqlValue::Text(s.status.as_str().to_owned()),
        s.progress.map_or(SqlValue::Null, SqlValue::Real),
        text(s.progress_message.as_deref()),
        s.progress_detail
            .as_ref()
            .map_or(SqlValue::Null, |d| SqlValue::Text(to_json_text(d))),
        s.result
            .as_ref()
            .map_or(SqlValue::Null, |r| SqlValue::Text(to_json_text(r))),
        text(s.error.as_ref().map(|e| e.kind.as_str())),
        text(s.error.as_ref().map(|e| e.message.as_str())),
        SqlValue::Integer(s.attempt.into()),
        SqlValue::Integer(s.run_at.0),
        time(s.enqueued_at),
        time(s.started_at),
        time(s.completed_at),
        time(s.expires_at),
        text(s.worker.as_deref()),
        s.lease_token
            .map_or(SqlValue::Null, |t| SqlValue::Integer(t.0 as i64)),
        time(s.lease_expires_at),
        SqlValue::Integer(s.cancel_requested.into()),
        SqlValue::Integer(s.stalls.into()),
    ]
}

/// Stores a new job; `payload` is its payload as JSON text.
pub(super) fn insert_job(tx: &Connection, job: &Job, payload: String) -> Result<()> {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let sql = SQL.get_or_init(|| {
        let columns = "id, kind, queue, payload, priority, max_attempts, timeout_ms, \
                       result_ttl_ms, failure_ttl_ms, backoff_ms, created_at, max_stalls, \
                       unique_key, unique_until, reference, parents, run_anyway, grp, "
            .to_owned()
            + &STATE_COLUMNS.join(", ");
        let n = 18 + STATE_COLUMNS.len();
        let marks: Vec<String> = (1..=n).map(|i| format!("?{i}")).collect();
        format!("INSERT INTO jobs ({columns}) VALUES ({})", marks.join(", "))
    });
    let mut values = vec![
        SqlValue::Text(job.id.to_string()),
        SqlValue::Text(job.kind.to_string()),
        SqlValue::Text(job.queue.to_string()),
        SqlValue::Text(payload),
        SqlValue::Integer(job.priority.into()),
        SqlValue::Integer(job.max_attempts.into()),
        SqlValue::Integer(job.timeout_ms as i64),
        SqlValue::Integer(job.result_ttl_ms as i64),
        SqlValue::Integer(job.failure_ttl_ms as i64),
        SqlValue::Integer(job.backoff_ms as i64),
        SqlValue::Integer(job.created_at.0),
        SqlValue::Integer(job.max_stalls.into()),
        job.unique_key
            .as_ref()
            .map_or(SqlValue::Null, |k| SqlValue::Text(k.clone())),
        job.unique_until
            .map_or(SqlValue::Null, |t| SqlValue::Integer(t.0)),
        job.reference
            .as_ref()
            .map_or(SqlValue::Null, |r| SqlValue::Text(r.clone())),
        if job.after.is_empty() {
            SqlValue::Null
        } else {
            SqlValue::Text(serde_json::to_string(&job.after).map_err(|e| {
                QueueError::Storage(format!("cannot encode the parents of {}: {e}", job.id))
            })?)
        },
        SqlValue::Integer(job.run_anyway.into()),
        SqlValue::Text(job.group.clone().unwrap_or_default()),
    ];
    values.extend(state_values(&job.state));
    tx.prepare_cached(sql)
        .map_err(storage)?
        .execute(rusqlite::params_from_iter(values))
        .map_err(storage)?;
    Ok(())
}

/// Writes a transition's new state if the guard holds, with its event;
/// `true` if it did.
pub(super) fn apply_transition(tx: &Connection, t: &Transition) -> Result<bool> {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let sql = SQL.get_or_init(|| {
        let n = STATE_COLUMNS.len();
        let set: Vec<String> = STATE_COLUMNS
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c} = ?{}", i + 1))
            .collect();
        format!(
            "UPDATE jobs SET {} WHERE id = ?{} AND status = ?{} AND lease_token IS ?{}",
            set.join(", "),
            n + 1,
            n + 2,
            n + 3
        )
    });
    let mut values = state_values(&t.job.state);
    values.push(SqlValue::Text(t.job.id.to_string()));
    values.push(SqlValue::Text(t.expect.status.as_str().to_owned()));
    values.push(
        t.expect
            .lease_token
            .map_or(SqlValue::Null, |t| SqlValue::Integer(t.0 as i64)),
    );
    let changed = tx
        .prepare_cached(sql)
        .map_err(storage)?
        .execute(rusqlite::params_from_iter(values))
        .map_err(storage)?;
    if changed == 1 {
        append_event(tx, &Event::of(&t.job, Timestamp::now()))?;
        super::groups::note_waiting(tx, &t.job)?;
    }
    Ok(changed == 1)
}
