//! Worker records: one row per worker, its body the record as JSON,
//! replaced at every heartbeat and stale after its expiry.

use rusqlite::{params, Connection};

use super::connection::storage;
use crate::backend::WorkerRecord;
use crate::error::{QueueError, Result};
use crate::job::Timestamp;

/// Stores a worker's record, replacing the one it had.
pub(super) fn register(tx: &Connection, name: &str, body: &str, expires_at: i64) -> Result<()> {
    tx.execute(
        "INSERT INTO workers (name, body, expires_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT (name) DO UPDATE SET body = ?2, expires_at = ?3",
        params![name, body, expires_at],
    )
    .map_err(storage)?;
    Ok(())
}

/// Deletes a worker's record.
pub(super) fn remove(tx: &Connection, name: &str) -> Result<()> {
    tx.execute("DELETE FROM workers WHERE name = ?1", params![name])
        .map_err(storage)?;
    Ok(())
}

/// The records not expired at `now`, by name.
pub(super) fn live(conn: &Connection, now: Timestamp) -> Result<Vec<WorkerRecord>> {
    let mut stmt = conn
        .prepare_cached("SELECT body FROM workers WHERE expires_at > ?1 ORDER BY name")
        .map_err(storage)?;
    let rows = stmt
        .query_map(params![now.0], |r| r.get::<_, String>(0))
        .map_err(storage)?;
    rows.map(|row| {
        let body = row.map_err(storage)?;
        serde_json::from_str(&body).map_err(|e| QueueError::Corrupt(e.to_string()))
    })
    .collect()
}
