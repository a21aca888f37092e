//! Waiting without a server: look at the data, then sleep until this
//! process commits or a short poll interval passes (see the module doc of
//! `sqlite`).

use std::time::Duration;

use rusqlite::Connection;

use super::SqliteBackend;
use crate::error::Result;

/// The first poll interval, doubled after each look that found nothing.
const POLL_FIRST: Duration = Duration::from_millis(1);
/// The longest poll interval: how late another process's commit is seen.
const POLL_MAX: Duration = Duration::from_millis(20);

impl SqliteBackend {
    /// Waits until `check` holds (it reads the data), this process commits,
    /// or `max_wait` passes; between looks it sleeps a poll interval that
    /// grows from 1 ms to 20 ms while nothing happens.
    pub(super) async fn wait_until<F>(&self, max_wait: Duration, check: F) -> Result<()>
    where
        F: Fn(&Connection) -> Result<bool> + Clone + Send + 'static,
    {
        let deadline = tokio::time::Instant::now() + max_wait;
        let mut poll = POLL_FIRST;
        loop {
            // Registered before the look: a commit after it wakes us.
            let notified = self.shared.changed.notified();
            if self.read(check.clone()).await? {
                return Ok(());
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep(poll.min(left)) => {}
            }
            poll = (poll * 2).min(POLL_MAX);
        }
    }
}
