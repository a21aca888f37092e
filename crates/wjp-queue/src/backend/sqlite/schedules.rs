//! Schedules: one row each, the schedule as JSON in `body` and its
//! `next_run` (milliseconds) in a column of its own, the guard of
//! [`advance`].

use rusqlite::{Connection, OptionalExtension};

use super::connection::storage;
use crate::error::{QueueError, Result};
use crate::job::Timestamp;
use crate::schedule::Schedule;

fn body(schedule: &Schedule) -> Result<String> {
    serde_json::to_string(schedule).map_err(|e| QueueError::Storage(e.to_string()))
}

/// Stores `schedule`, replacing one of its name; whether it is new.
pub(super) fn put(tx: &Connection, schedule: &Schedule) -> Result<bool> {
    let existed: Option<i64> = tx
        .query_row(
            "SELECT 1 FROM schedules WHERE name = ?1",
            [&schedule.name],
            |r| r.get(0),
        )
        .optional()
        .map_err(storage)?;
    tx.execute(
        "INSERT OR REPLACE INTO schedules (name, next_run, body) VALUES (?1, ?2, ?3)",
        rusqlite::params![schedule.name, schedule.next_run.millis(), body(schedule)?],
    )
    .map_err(storage)?;
    Ok(existed.is_none())
}

/// Deletes a schedule; whether it existed.
pub(super) fn remove(tx: &Connection, name: &str) -> Result<bool> {
    let n = tx
        .execute("DELETE FROM schedules WHERE name = ?1", [name])
        .map_err(storage)?;
    Ok(n > 0)
}

/// Every schedule, by name.
pub(super) fn all(conn: &Connection) -> Result<Vec<Schedule>> {
    let mut stmt = conn
        .prepare_cached("SELECT body FROM schedules ORDER BY name")
        .map_err(storage)?;
    let bodies = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(storage)?;
    bodies
        .iter()
        .map(|b| serde_json::from_str(b).map_err(|e| QueueError::Corrupt(format!("schedule: {e}"))))
        .collect()
}

/// Stores `schedule` if its row still has `next_run = expect_next`.
pub(super) fn advance(
    tx: &Connection,
    schedule: &Schedule,
    expect_next: Timestamp,
) -> Result<bool> {
    let n = tx
        .execute(
            "UPDATE schedules SET next_run = ?2, body = ?3 WHERE name = ?1 AND next_run = ?4",
            rusqlite::params![
                schedule.name,
                schedule.next_run.millis(),
                body(schedule)?,
                expect_next.millis()
            ],
        )
        .map_err(storage)?;
    Ok(n == 1)
}
