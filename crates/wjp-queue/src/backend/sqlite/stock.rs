//! Stock (`crate::stock`): one row per item, its hold in two columns. Every
//! write runs in the writer's transaction, so a take reads and holds each
//! item in one atomic step.

use rusqlite::{Connection, OptionalExtension};

use super::connection::storage;
use crate::error::Result;
use crate::job::Timestamp;
use crate::stock::StockItem;

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS stock (
    pool TEXT NOT NULL,
    id TEXT NOT NULL,
    body TEXT NOT NULL,
    holder TEXT,
    held_until INTEGER,
    PRIMARY KEY (pool, id)
) WITHOUT ROWID;
";

/// Adds an item unless the pool is full or the id is taken.
pub(super) fn add(
    tx: &Connection,
    pool: &str,
    id: &str,
    body: &str,
    max_items: usize,
) -> Result<bool> {
    let count: i64 = tx
        .query_row("SELECT COUNT(*) FROM stock WHERE pool = ?1", [pool], |r| {
            r.get(0)
        })
        .map_err(storage)?;
    if count as usize >= max_items {
        return Ok(false);
    }
    let n = tx
        .execute(
            "INSERT OR IGNORE INTO stock (pool, id, body) VALUES (?1, ?2, ?3)",
            rusqlite::params![pool, id, body],
        )
        .map_err(storage)?;
    Ok(n == 1)
}

/// Every item of a pool, by id.
pub(super) fn items(conn: &Connection, pool: &str) -> Result<Vec<StockItem>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT id, body, holder, held_until FROM stock WHERE pool = ?1 ORDER BY id",
        )
        .map_err(storage)?;
    stmt.query_map([pool], |r| {
        Ok(StockItem {
            id: r.get(0)?,
            body: r.get(1)?,
            holder: r.get(2)?,
            held_until: r.get::<_, Option<i64>>(3)?.map(Timestamp),
        })
    })
    .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
    .map_err(storage)
}

/// Holds each free item of `ids` for `holder`; the ids held.
pub(super) fn take(
    tx: &Connection,
    pool: &str,
    ids: &[String],
    holder: &str,
    until: Timestamp,
    now: Timestamp,
) -> Result<Vec<String>> {
    let mut taken = Vec::new();
    for id in ids {
        let n = tx
            .execute(
                "UPDATE stock SET holder = ?3, held_until = ?4 WHERE pool = ?1 AND id = ?2 \
                 AND (holder IS NULL OR holder = ?3 OR held_until <= ?5)",
                rusqlite::params![pool, id, holder, until.millis(), now.millis()],
            )
            .map_err(storage)?;
        if n == 1 && !taken.contains(id) {
            taken.push(id.clone());
        }
    }
    Ok(taken)
}

/// Deletes `used` and frees `released`, of the items `holder` holds.
pub(super) fn settle(
    tx: &Connection,
    pool: &str,
    holder: &str,
    used: &[String],
    released: &[String],
) -> Result<()> {
    for id in used {
        tx.execute(
            "DELETE FROM stock WHERE pool = ?1 AND id = ?2 AND holder = ?3",
            rusqlite::params![pool, id, holder],
        )
        .map_err(storage)?;
    }
    for id in released {
        tx.execute(
            "UPDATE stock SET holder = NULL, held_until = NULL \
             WHERE pool = ?1 AND id = ?2 AND holder = ?3",
            rusqlite::params![pool, id, holder],
        )
        .map_err(storage)?;
    }
    Ok(())
}

/// Deletes an item; whether it existed.
pub(super) fn remove(tx: &Connection, pool: &str, id: &str) -> Result<bool> {
    let existed = tx
        .query_row(
            "DELETE FROM stock WHERE pool = ?1 AND id = ?2 RETURNING 1",
            [pool, id],
            |r| r.get::<_, i64>(0),
        )
        .optional()
        .map_err(storage)?;
    Ok(existed.is_some())
}
