//! Per-queue limits: how many of a queue's jobs may run at once, across
//! every worker on every machine, and how many claims of it a second or a
//! minute lets through. Both are stored in the backend and applied in the
//! claim's own atomic step (see `backend/`), so concurrent workers can
//! never pass them together. Jobs over a limit simply stay queued.
//!
//! The rate is counted in fixed windows of its period laid end to end from
//! the first claim after the limit was set: at most `count` claims in each
//! window. A window that passed without claims is skipped, not carried
//! over, so over a long drain the claims hold the rate exactly; within one
//! period-long span that straddles two windows, up to twice `count` may be
//! claimed.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{QueueError, Result};

/// A queue's limits; `QueueLimits::default()` has none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueLimits {
    /// At most this many of the queue's jobs run at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_running: Option<u32>,
    /// At most this many claims of the queue's jobs per period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<Rate>,
    /// At most this many jobs of one fairness group (see
    /// [`crate::JobRequest::group`]) run at once; jobs without a group are
    /// not held by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_group_max_running: Option<u32>,
}

impl QueueLimits {
    /// Whether no limit is set.
    pub fn is_none(&self) -> bool {
        self.max_running.is_none() && self.rate.is_none() && self.per_group_max_running.is_none()
    }

    /// Refuses a `max_running` of 0 (pausing is [`crate::Queue::pause`]).
    pub fn check(&self) -> Result<()> {
        if self.max_running == Some(0) {
            return Err(QueueError::InvalidRequest(
                "max_running must be at least 1 (to hold every job, pause the queue)".into(),
            ));
        }
        if self.per_group_max_running == Some(0) {
            return Err(QueueError::InvalidRequest(
                "per_group_max_running must be at least 1".into(),
            ));
        }
        Ok(())
    }

    /// One line for people: `max 2 running, 10/s`, or `none`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(n) = self.max_running {
            parts.push(format!("max {n} running"));
        }
        if let Some(rate) = self.rate {
            parts.push(rate.to_string());
        }
        if let Some(n) = self.per_group_max_running {
            parts.push(format!("max {n} running per group"));
        }
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join(", ")
        }
    }
}

/// The period of a [`Rate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RatePeriod {
    /// One second (`N/s`).
    Second,
    /// One minute (`N/m`).
    Minute,
}

impl RatePeriod {
    /// Its length in milliseconds.
    pub fn millis(self) -> i64 {
        match self {
            RatePeriod::Second => 1_000,
            RatePeriod::Minute => 60_000,
        }
    }

    /// The period of a length in milliseconds, as stored.
    pub fn from_millis(ms: i64) -> Option<RatePeriod> {
        match ms {
            1_000 => Some(RatePeriod::Second),
            60_000 => Some(RatePeriod::Minute),
            _ => None,
        }
    }
}

/// At most `count` claims per `per`; written `N/s` or `N/m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Claims allowed per period (at least 1).
    pub count: u32,
    /// The period.
    pub per: RatePeriod,
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.per {
            RatePeriod::Second => "s",
            RatePeriod::Minute => "m",
        };
        write!(f, "{}/{unit}", self.count)
    }
}

impl FromStr for Rate {
    type Err = QueueError;

    fn from_str(s: &str) -> Result<Rate> {
        let bad = || {
            QueueError::InvalidRequest(format!(
                "invalid rate {:?}: write N/s or N/m with N from 1 to 1000000",
                s.chars().take(40).collect::<String>()
            ))
        };
        let (n, unit) = s.trim().split_once('/').ok_or_else(bad)?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        let per = match unit.trim() {
            "s" | "sec" | "second" => RatePeriod::Second,
            "m" | "min" | "minute" => RatePeriod::Minute,
            _ => return Err(bad()),
        };
        if !(1..=1_000_000).contains(&count) {
            return Err(bad());
        }
        Ok(Rate { count, per })
    }
}

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Rate, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// How many claims the rate window lets through now, and the window as it
/// stands at `now` (a window that passed is moved to the one `now` is in,
/// its claims back to 0). `start` 0 means no window yet: it starts at `now`.
pub(crate) fn rate_window(rate: Rate, start: i64, claims: i64, now: i64) -> (u64, i64, i64) {
    let per = rate.per.millis();
    let (start, claims) = if start <= 0 {
        (now, 0)
    } else if now >= start + per {
        (now - (now - start) % per, 0)
    } else {
        (start, claims)
    };
    let left = (i64::from(rate.count) - claims).max(0) as u64;
    (left, start, claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_read_and_print() {
        let r: Rate = "10/s".parse().unwrap();
        assert_eq!(
            r,
            Rate {
                count: 10,
                per: RatePeriod::Second
            }
        );
        assert_eq!("3/m".parse::<Rate>().unwrap().to_string(), "3/m");
        for bad in ["", "10", "0/s", "x/s", "5/h", "-1/s", "2000000/s"] {
            assert!(bad.parse::<Rate>().is_err(), "{bad}");
        }
        let json = serde_json::to_string(&QueueLimits {
            max_running: Some(2),
            rate: Some(r),
            per_group_max_running: None,
        })
        .unwrap();
        assert_eq!(json, r#"{"max_running":2,"rate":"10/s"}"#);
        assert_eq!(
            serde_json::from_str::<QueueLimits>("{}").unwrap(),
            QueueLimits::default()
        );
    }

    #[test]
    fn windows_lie_end_to_end() {
        let r = Rate {
            count: 3,
            per: RatePeriod::Second,
        };
        assert_eq!(rate_window(r, 0, 0, 5_000), (3, 5_000, 0));
        assert_eq!(rate_window(r, 5_000, 3, 5_999), (0, 5_000, 3));
        assert_eq!(rate_window(r, 5_000, 3, 6_000), (3, 6_000, 0));
        // A late claim still belongs to the window its time falls in.
        assert_eq!(rate_window(r, 5_000, 2, 8_400), (3, 8_000, 0));
    }
}
