//! How long a worker's jobs have lately taken: [`Pace`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How long this worker's jobs have lately taken, to decide whether it may
/// claim jobs before it has slots for them.
///
/// A worker that claims only for free slots leaves the server idle while it
/// runs what it claimed, and itself idle while the server answers the next
/// claim: with jobs of microseconds, half of each is waiting. Claiming up
/// to `concurrency` more jobs keeps a claim in flight while the last one's
/// jobs run. It is fair only while jobs are short: a job claimed ahead
/// waits here, shown as running, until a slot frees; other workers cannot
/// take it. So a worker claims ahead only while the slowest of its recent
/// jobs ran under [`Pace::SHORT`] (less than a claim's round trip under
/// load), and stops at the first longer one.
#[derive(Default)]
pub(super) struct Pace {
    /// The slowest recent run in µs, plus one, decaying by an eighth per
    /// job; 0 until a job has run.
    slowest_micros: AtomicU64,
}

impl Pace {
    const SHORT: Duration = Duration::from_millis(1);

    pub(super) fn record(&self, run: Duration) {
        let sample = u64::try_from(run.as_micros()).unwrap_or(u64::MAX - 1) + 1;
        let _ = self
            .slowest_micros
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
                Some(if old == 0 {
                    sample
                } else {
                    sample.max(old - old / 8)
                })
            });
    }

    /// How many jobs the worker may hold beyond its free slots.
    pub(super) fn claim_ahead(&self, concurrency: usize) -> usize {
        let slowest = self.slowest_micros.load(Ordering::Relaxed);
        if slowest != 0 && slowest <= Self::SHORT.as_micros() as u64 {
            concurrency
        } else {
            0
        }
    }
}
