//! The event log: one row per event, its id the cursor followers keep.

use rusqlite::{params, Connection};

use super::connection::storage;
use crate::error::{QueueError, Result};
use crate::event::Event;

/// Appends an event, in the write that caused it.
pub(super) fn append_event(tx: &Connection, event: &Event) -> Result<()> {
    let body = serde_json::to_string(event).map_err(|e| QueueError::Storage(e.to_string()))?;
    tx.prepare_cached("INSERT INTO events (body, at) VALUES (?1, ?2)")
        .map_err(storage)?
        .execute(params![body, event.at.0])
        .map_err(storage)?;
    Ok(())
}

/// A cursor as an event id.
pub(super) fn parse_event_id(cursor: &str) -> Result<i64> {
    cursor
        .parse::<i64>()
        .map_err(|_| QueueError::InvalidRequest(format!("invalid event id {cursor:?}")))
}

/// Up to `limit` events after the id `after`, oldest first.
pub(super) fn events_after(conn: &Connection, after: i64, limit: usize) -> Result<Vec<Event>> {
    let mut stmt = conn
        .prepare_cached("SELECT id, body FROM events WHERE id > ?1 ORDER BY id LIMIT ?2")
        .map_err(storage)?;
    let rows = stmt
        .query_map(params![after, limit as i64], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })
        .map_err(storage)?;
    rows.map(|row| {
        let (id, body) = row.map_err(storage)?;
        let mut event: Event =
            serde_json::from_str(&body).map_err(|e| QueueError::Corrupt(e.to_string()))?;
        event.id = id.to_string();
        Ok(event)
    })
    .collect()
}

/// The id of the newest event, if any is kept.
pub(super) fn newest_event_id(conn: &Connection) -> Result<Option<i64>> {
    conn.prepare_cached("SELECT MAX(id) FROM events")
        .and_then(|mut stmt| stmt.query_row([], |r| r.get(0)))
        .map_err(storage)
}
