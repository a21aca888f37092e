//! [`Outage`]: what a process says while its queue store is unreachable.
//!
//! Workers renew leases every second, claim every half second, and the API
//! retries event streams every second; each of those calls fails while
//! Redis is down. Logged one line a failure, an outage of an hour buries
//! the log under ten thousand identical lines. An `Outage` is shared by
//! every call site of a process that talks to the store and logs:
//! - one WARN when the first call fails ("cannot reach the queue store"),
//! - at most one WARN summary a minute while it stays down ("still cannot
//!   reach ...: M failures in the last minute, last error ..."),
//! - one INFO when a call succeeds again ("reached the queue store again
//!   after N s, M failures").
//!
//! The decision ([`Outage::failure_at`], [`Outage::success_at`]) is a pure
//! function of the instants it is given, so it is tested without a clock;
//! [`Outage::failed`] and [`Outage::succeeded`] use the real clock and log.

use std::fmt::Display;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The longest silence while the store stays down.
pub const SUMMARY_INTERVAL: Duration = Duration::from_secs(60);

/// Tracks whether the queue store answers, for the log. Cheap to share
/// behind an `Arc`; every method takes `&self`.
#[derive(Debug, Default)]
pub struct Outage {
    state: Mutex<State>,
    /// Whether `state.down` is `Some`, readable without the lock: a success
    /// is reported on every claim and heartbeat, and while the store answers
    /// it must cost no more than this load.
    down: AtomicBool,
}

#[derive(Debug, Default)]
struct State {
    /// `Some` while the store is down.
    down: Option<Down>,
}

#[derive(Debug)]
struct Down {
    since: Instant,
    /// Failures since the outage began.
    failures: u64,
    /// Failures since the last line logged about this outage.
    unreported: u64,
    last_report: Instant,
    last_error: String,
}

/// A line to log, decided by [`Outage::failure_at`] or
/// [`Outage::success_at`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// The first failure after the store answered.
    Down {
        /// What the failing call was doing.
        during: &'static str,
        /// Its error.
        error: String,
    },
    /// The store is still down, a summary interval after the last line.
    StillDown {
        /// Failures since the last line.
        failures: u64,
        /// The latest failure's error.
        last_error: String,
    },
    /// A call succeeded after an outage.
    Recovered {
        /// How long the store was unreachable.
        after: Duration,
        /// Failures during the outage.
        failures: u64,
    },
}

impl Outage {
    /// A tracker that believes the store answers.
    pub fn new() -> Self {
        Outage::default()
    }

    /// Whether the last call failed.
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }

    /// Records a failed call (`during` says what it was doing) and logs
    /// what there is to log.
    pub fn failed(&self, during: &'static str, error: &dyn Display) {
        if let Some(notice) = self.failure_at(Instant::now(), during, error) {
            notice.log();
        }
    }

    /// Records a successful call and logs a recovery.
    pub fn succeeded(&self) {
        if let Some(notice) = self.success_at(Instant::now()) {
            notice.log();
        }
    }

    /// Records a failure at `now`; returns the line to log, if any.
    pub fn failure_at(
        &self,
        now: Instant,
        during: &'static str,
        error: &dyn Display,
    ) -> Option<Notice> {
        let error = error.to_string();
        let mut state = self.lock();
        let Some(down) = state.down.as_mut() else {
            self.down.store(true, Ordering::Release);
            state.down = Some(Down {
                since: now,
                failures: 1,
                unreported: 0,
                last_report: now,
                last_error: error.clone(),
            });
            return Some(Notice::Down { during, error });
        };
        down.failures += 1;
        down.unreported += 1;
        down.last_error = error;
        if now.saturating_duration_since(down.last_report) < SUMMARY_INTERVAL {
            return None;
        }
        let failures = std::mem::take(&mut down.unreported);
        down.last_report = now;
        Some(Notice::StillDown {
            failures,
            last_error: down.last_error.clone(),
        })
    }

    /// Records a success at `now`; returns the recovery line when the
    /// store was down.
    pub fn success_at(&self, now: Instant) -> Option<Notice> {
        if !self.down.load(Ordering::Acquire) {
            return None;
        }
        let down = {
            let mut state = self.lock();
            self.down.store(false, Ordering::Release);
            state.down.take()?
        };
        Some(Notice::Recovered {
            after: now.saturating_duration_since(down.since),
            failures: down.failures,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is a few counters, valid after any panic: keep going.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Notice {
    /// Logs the line: WARN while down, INFO on recovery.
    pub fn log(&self) {
        match self {
            Notice::Down { during, error } => tracing::warn!(
                during,
                error = %error,
                "cannot reach the queue store: {error}"
            ),
            Notice::StillDown {
                failures,
                last_error,
            } => tracing::warn!(
                failures,
                error = %last_error,
                "still cannot reach the queue store: {failures} failures in the last minute, \
                 last error: {last_error}"
            ),
            Notice::Recovered { after, failures } => tracing::info!(
                down_secs = after.as_secs(),
                failures,
                "reached the queue store again after {} s, {failures} failures",
                after.as_secs()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn an_outage_is_one_line_then_a_summary_a_minute_then_one_recovery_line() {
        let outage = Outage::new();
        let t0 = Instant::now();
        assert_eq!(outage.success_at(t0), None, "no outage, nothing to say");
        assert_eq!(
            outage.failure_at(t0, "claim", &"connection refused"),
            Some(Notice::Down {
                during: "claim",
                error: "connection refused".into()
            })
        );
        assert!(outage.is_down());
        // A failure every second for the rest of the minute: silence.
        for s in 1..60 {
            assert_eq!(
                outage.failure_at(t0 + secs(s), "heartbeat", &"connection refused"),
                None,
                "second {s}"
            );
        }
        assert_eq!(
            outage.failure_at(t0 + secs(60), "heartbeat", &"timed out"),
            Some(Notice::StillDown {
                failures: 60,
                last_error: "timed out".into()
            })
        );
        // The next summary counts only what came after the last one.
        for s in 61..120 {
            assert_eq!(outage.failure_at(t0 + secs(s), "claim", &"x"), None);
        }
        assert_eq!(
            outage.failure_at(t0 + secs(120), "claim", &"refused"),
            Some(Notice::StillDown {
                failures: 60,
                last_error: "refused".into()
            })
        );
        assert_eq!(
            outage.success_at(t0 + secs(125)),
            Some(Notice::Recovered {
                after: secs(125),
                failures: 121
            })
        );
        assert!(!outage.is_down());
        assert_eq!(outage.success_at(t0 + secs(126)), None, "said once");
    }

    #[test]
    fn a_new_outage_after_a_recovery_is_announced_again() {
        let outage = Outage::new();
        let t0 = Instant::now();
        assert!(outage.failure_at(t0, "claim", &"down").is_some());
        assert!(outage.success_at(t0 + secs(3)).is_some());
        assert_eq!(
            outage.failure_at(t0 + secs(4), "renew", &"down again"),
            Some(Notice::Down {
                during: "renew",
                error: "down again".into()
            })
        );
        assert_eq!(
            outage.success_at(t0 + secs(6)),
            Some(Notice::Recovered {
                after: secs(2),
                failures: 1
            })
        );
    }

    #[test]
    fn sparse_failures_are_summarised_when_a_minute_has_passed() {
        let outage = Outage::new();
        let t0 = Instant::now();
        assert!(outage.failure_at(t0, "claim", &"down").is_some());
        assert_eq!(
            outage.failure_at(t0 + secs(61), "claim", &"down"),
            Some(Notice::StillDown {
                failures: 1,
                last_error: "down".into()
            })
        );
    }
}
