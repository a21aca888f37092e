//! Opening a connection with its pragmas read back, telling busy errors
//! from others, and the pool of reader connections.

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

use super::{SqliteBackend, SqliteOptions, Synchronous};
use crate::error::{QueueError, Result};

/// How long a connection waits for another process's write lock before it
/// reports the database as busy.
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// A SQLite error as a queue error: a busy database is unavailable for
/// now (worth a retry), anything else is a storage failure.
pub(super) fn storage(err: rusqlite::Error) -> QueueError {
    if is_busy(&err) {
        return QueueError::Unavailable(format!("database is busy: {err}"));
    }
    QueueError::Storage(err.to_string())
}

fn is_busy(err: &rusqlite::Error) -> bool {
    matches!(
        err.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// Runs `f` again while SQLite answers busy, for up to `BUSY_TIMEOUT` in
/// all. Some lock waits never reach the busy handler: switching a new file
/// to WAL, and a read that must turn into a write after another process
/// wrote (WAL's stale snapshot). Both happen when several processes (an
/// API and its workers, started together) open a fresh database at once.
pub(super) fn retry_busy<T>(mut f: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match f() {
            Err(e) if is_busy(&e) && std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

/// A connection just opened, with the journal mode SQLite reported.
pub(super) struct Opened {
    pub(super) conn: Connection,
    pub(super) journal_mode: String,
}

/// Opens a connection in WAL mode with the busy timeout and the
/// synchronous level asked for, and checks that every setting took.
pub(super) fn open_connection(path: &Path, options: &SqliteOptions) -> Result<Opened> {
    let conn = Connection::open(path).map_err(|e| {
        QueueError::Unavailable(format!("cannot open database {}: {e}", path.display()))
    })?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(storage)?;
    let journal: String =
        retry_busy(|| conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)))
            .map_err(storage)?;
    let sync = match options.synchronous {
        Synchronous::Normal => 1,
        Synchronous::Full => 2,
    };
    // No memory-mapped I/O: a queue's file grows all the time, and SQLite
    // remaps a growing file at the start of every read (measured: slower
    // than plain reads). The default page cache is kept for the same reason:
    // a large one costs a scan at every commit and every invalidation.
    conn.execute_batch(&format!("PRAGMA synchronous = {sync}"))
        .map_err(storage)?;
    check_settings(&conn, path, &journal, sync)?;
    Ok(Opened {
        conn,
        journal_mode: journal,
    })
}

/// Reads the settings back: SQLite silently ignores a pragma it does not
/// know or cannot apply (a WAL database on a network file system, say).
fn check_settings(conn: &Connection, path: &Path, journal: &str, sync: i64) -> Result<()> {
    let sync_now: i64 = conn
        .query_row("PRAGMA synchronous", [], |r| r.get(0))
        .map_err(storage)?;
    let busy_now: i64 = conn
        .query_row("PRAGMA busy_timeout", [], |r| r.get(0))
        .map_err(storage)?;
    if !journal.eq_ignore_ascii_case("wal") {
        return Err(QueueError::Unavailable(format!(
            "{} could not be put in WAL mode (journal_mode is {journal}); \
             is it on a network file system?",
            path.display()
        )));
    }
    if sync_now != sync || busy_now != BUSY_TIMEOUT.as_millis() as i64 {
        return Err(QueueError::Unavailable(format!(
            "{}: pragmas did not take (synchronous={sync_now}, busy_timeout={busy_now})",
            path.display()
        )));
    }
    Ok(())
}

impl SqliteBackend {
    /// Runs `f` on a reader connection on the blocking pool.
    pub(super) async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || {
            let pooled = shared
                .readers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop();
            let conn = match pooled {
                Some(conn) => conn,
                None => open_connection(&shared.path, &shared.options)?.conn,
            };
            let out = f(&conn);
            let mut readers = shared.readers.lock().unwrap_or_else(|p| p.into_inner());
            if readers.len() < shared.options.readers {
                readers.push(conn);
            }
            out
        })
        .await
        .map_err(|e| QueueError::Storage(format!("database task failed: {e}")))?
    }
}
