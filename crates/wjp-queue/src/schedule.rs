//! Schedules: a job made on a timetable (a cron expression with seconds in
//! a time zone, or a fixed interval), by whichever worker's maintenance
//! pass sees a tick due first.
//!
//! # Exactly one job per tick
//! Every worker runs [`crate::Queue::maintain`] each second, so several
//! passes see the same tick due at once. Each of them:
//! 1. reads the schedules whose `next_run` has come;
//! 2. computes here, purely, what the tick is ([`due`]): the latest tick at
//!    or before now (missed ticks are not run one by one after downtime:
//!    only the latest runs, or none with `skip_missed`), and the next one;
//! 3. enqueues the tick's job under an id made from the schedule and the
//!    tick ([`tick_job_id`]): an enqueue of an id that exists returns that
//!    job instead of storing a second (see [`crate::state::id_is_reusable`]);
//! 4. advances `next_run` with a write guarded by the `next_run` it read
//!    ([`crate::backend::Backend::advance_schedule`]): one pass wins, the
//!    others find the guard moved and do nothing more.
//!
//! A pass that stops between 3 and 4 leaves the tick due; the next pass
//! enqueues the same id and gets the job already made. The one case the
//! id cannot cover: a tick's job that failed or was cancelled (its id is
//! then reusable) within the instant between a slow pass reading the
//! schedule and enqueueing.

use std::str::FromStr;

use chrono::{TimeZone, Utc};
use croner::parser::{CronParser, Seconds};
use croner::Cron;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{QueueError, Result};
use crate::job::{JobRequest, Timestamp};

/// A tick found more than this late is *missed* (the workers were down):
/// with `skip_missed` it makes no job.
pub const MISSED_AFTER_MS: i64 = 60_000;

/// The most schedules a system holds: each is read by every maintenance
/// pass of every worker, every second.
pub const MAX_SCHEDULES: usize = 1000;

/// The shortest interval of an `every` schedule.
pub const MIN_EVERY_MS: u64 = 1_000;

/// The longest interval of an `every` schedule (a year).
pub const MAX_EVERY_MS: u64 = 366 * 24 * 3_600_000;

/// What a client asks for when it adds a schedule.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleRequest {
    /// The schedule's name: 1 to 64 characters of `[a-z0-9_]`.
    pub name: String,
    /// The kind of the jobs it makes.
    pub kind: String,
    /// The payload of every job it makes.
    #[serde(default)]
    pub payload: Value,
    /// The queue of its jobs; the kind's own queue when `None`.
    #[serde(default)]
    pub queue: Option<String>,
    /// A cron expression with seconds: `SEC MIN HOUR DOM MON DOW`.
    #[serde(default)]
    pub cron: Option<String>,
    /// Seconds between ticks (instead of `cron`), at least 1.
    #[serde(default)]
    pub every: Option<f64>,
    /// The IANA time zone a cron expression is read in; UTC when `None`.
    #[serde(default)]
    pub timezone: Option<String>,
    /// Make no job for a tick found more than a minute late (after
    /// downtime) instead of one for the latest missed tick.
    #[serde(default)]
    pub skip_missed: bool,
}

/// When a schedule ticks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Timing {
    /// At the times a cron expression (with seconds) matches in a time zone.
    Cron {
        /// `SEC MIN HOUR DOM MON DOW`.
        expr: String,
        /// An IANA time zone name.
        timezone: String,
    },
    /// Every `ms` milliseconds from when the schedule was added.
    Every {
        /// The interval in milliseconds.
        ms: u64,
    },
}

/// A stored schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// Its name, unique among schedules.
    pub name: String,
    /// The kind of its jobs.
    pub kind: String,
    /// The queue of its jobs (resolved when it was added).
    pub queue: String,
    /// The payload of its jobs.
    pub payload: Value,
    /// When it ticks.
    pub timing: Timing,
    /// Whether a tick found more than a minute late makes no job.
    pub skip_missed: bool,
    /// Its next tick.
    pub next_run: Timestamp,
    /// The id of the last job it made.
    pub last_job: Option<String>,
}

/// What a maintenance pass does with a schedule whose time has come.
#[derive(Debug, Clone, PartialEq)]
pub struct Due {
    /// The tick to make a job for; `None` when the tick was missed and the
    /// schedule skips missed ticks.
    pub tick: Option<Timestamp>,
    /// The tick after it: the schedule's new `next_run`.
    pub next: Timestamp,
}

/// Checks a schedule's name: 1 to 64 characters of `[a-z0-9_]`, so that
/// its jobs' ids (`sched:<name>:<ms>`) are valid.
pub fn check_name(name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(QueueError::InvalidName {
            what: "schedule name",
            name: name.chars().take(100).collect(),
        })
    }
}

/// The id of the job a schedule makes for a tick: the same for every
/// worker that makes it.
pub fn tick_job_id(name: &str, tick: Timestamp) -> String {
    format!("sched:{name}:{}", tick.millis())
}

/// The job request a schedule makes for `tick`.
pub fn tick_request(schedule: &Schedule, tick: Timestamp) -> JobRequest {
    let mut request = JobRequest::new(&schedule.kind, schedule.payload.clone());
    request.queue = Some(schedule.queue.clone());
    request.job_id = Some(tick_job_id(&schedule.name, tick));
    request
}

fn invalid(message: String) -> QueueError {
    QueueError::InvalidRequest(message)
}

fn parse_cron(expr: &str) -> Result<Cron> {
    if expr.split_whitespace().count() != 6 {
        return Err(invalid(format!(
            "cron expression {expr:?} needs six fields: SEC MIN HOUR DOM MON DOW \
             (for example \"0 30 6 * * MON-FRI\")"
        )));
    }
    CronParser::builder()
        .seconds(Seconds::Required)
        .build()
        .parse(expr)
        .map_err(|e| invalid(format!("cron expression {expr:?} is not valid: {e}")))
}

fn parse_timezone(name: &str) -> Result<chrono_tz::Tz> {
    chrono_tz::Tz::from_str(name).map_err(|_| {
        invalid(format!(
            "time zone {name:?} is unknown; use an IANA name such as \"Europe/Berlin\" or \"UTC\""
        ))
    })
}

impl Timing {
    /// The timing a request asks for, checked: exactly one of `cron` and
    /// `every`, a valid expression and time zone, an interval in range.
    pub fn from_request(request: &ScheduleRequest) -> Result<Timing> {
        match (&request.cron, request.every) {
            (Some(expr), None) => {
                let timezone = request.timezone.clone().unwrap_or_else(|| "UTC".into());
                parse_cron(expr)?;
                parse_timezone(&timezone)?;
                Ok(Timing::Cron {
                    expr: expr.trim().to_owned(),
                    timezone,
                })
            }
            (None, Some(seconds)) => {
                if request.timezone.is_some() {
                    return Err(invalid(
                        "timezone applies to cron schedules only, not to every".into(),
                    ));
                }
                let ms = seconds * 1000.0;
                if !ms.is_finite() || ms < MIN_EVERY_MS as f64 || ms > MAX_EVERY_MS as f64 {
                    return Err(invalid(format!(
                        "every must be from {} to {} seconds, not {seconds}",
                        MIN_EVERY_MS / 1000,
                        MAX_EVERY_MS / 1000
                    )));
                }
                Ok(Timing::Every { ms: ms as u64 })
            }
            (Some(_), Some(_)) => Err(invalid("give either cron or every, not both".into())),
            (None, None) => Err(invalid(
                "a schedule needs cron (\"SEC MIN HOUR DOM MON DOW\") or every (seconds)".into(),
            )),
        }
    }

    /// The first tick strictly after `t`.
    pub fn next_after(&self, t: Timestamp) -> Result<Timestamp> {
        match self {
            Timing::Every { ms } => Ok(t.plus_millis(*ms)),
            Timing::Cron { expr, timezone } => {
                let (cron, tz) = (parse_cron(expr)?, parse_timezone(timezone)?);
                let at = zoned(t, tz)?;
                cron.find_next_occurrence(&at, false)
                    .map(|n| Timestamp(n.timestamp_millis()))
                    .map_err(|e| invalid(format!("cron expression {expr:?} has no next time: {e}")))
            }
        }
    }

    /// The latest tick at or before `now`, counting from `first`, a tick at
    /// or before `now`.
    fn latest_at_or_before(&self, first: Timestamp, now: Timestamp) -> Result<Timestamp> {
        match self {
            Timing::Every { ms } => {
                let step = i64::try_from(*ms).unwrap_or(i64::MAX).max(1);
                let behind = now.millis().saturating_sub(first.millis()).max(0);
                Ok(Timestamp(first.millis() + behind / step * step))
            }
            Timing::Cron { expr, timezone } => {
                let (cron, tz) = (parse_cron(expr)?, parse_timezone(timezone)?);
                let at = zoned(now, tz)?;
                let latest = cron
                    .find_previous_occurrence(&at, true)
                    .map(|p| Timestamp(p.timestamp_millis()))
                    .unwrap_or(first);
                Ok(latest.max(first))
            }
        }
    }
}

fn zoned(t: Timestamp, tz: chrono_tz::Tz) -> Result<chrono::DateTime<chrono_tz::Tz>> {
    Utc.timestamp_millis_opt(t.millis())
        .single()
        .map(|u| u.with_timezone(&tz))
        .ok_or_else(|| invalid(format!("time {} is out of range", t.millis())))
}

/// What a maintenance pass at `now` does with `schedule`; `None` when its
/// next tick has not come.
pub fn due(schedule: &Schedule, now: Timestamp) -> Result<Option<Due>> {
    if schedule.next_run > now {
        return Ok(None);
    }
    let latest = schedule
        .timing
        .latest_at_or_before(schedule.next_run, now)?;
    let next = schedule.timing.next_after(latest)?;
    let next = if next <= now {
        schedule.timing.next_after(now)?
    } else {
        next
    };
    let missed = now.millis() - latest.millis() > MISSED_AFTER_MS;
    Ok(Some(Due {
        tick: (!(missed && schedule.skip_missed)).then_some(latest),
        next,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every(ms: u64, next_run: i64, skip_missed: bool) -> Schedule {
        Schedule {
            name: "s".into(),
            kind: "noop".into(),
            queue: "default".into(),
            payload: Value::Null,
            timing: Timing::Every { ms },
            skip_missed,
            next_run: Timestamp(next_run),
            last_job: None,
        }
    }

    #[test]
    fn a_late_tick_runs_once_as_the_latest_missed_one() {
        let s = every(1_000, 10_000, false);
        assert_eq!(due(&s, Timestamp(9_999)).unwrap(), None);
        let on_time = due(&s, Timestamp(10_400)).unwrap().unwrap();
        assert_eq!(on_time.tick, Some(Timestamp(10_000)));
        assert_eq!(on_time.next, Timestamp(11_000));
        let after_downtime = due(&s, Timestamp(3_610_500)).unwrap().unwrap();
        assert_eq!(after_downtime.tick, Some(Timestamp(3_610_000)));
        assert_eq!(after_downtime.next, Timestamp(3_611_000));
    }

    #[test]
    fn skip_missed_skips_only_late_ticks() {
        let s = every(3_600_000, 0, true);
        assert_eq!(
            due(&s, Timestamp(500)).unwrap().unwrap().tick,
            Some(Timestamp(0))
        );
        let late = due(&s, Timestamp(1_800_000)).unwrap().unwrap();
        assert_eq!(late.tick, None);
        assert_eq!(late.next, Timestamp(3_600_000));
    }

    #[test]
    fn cron_ticks_in_the_schedule_time_zone() {
        let request = ScheduleRequest {
            cron: Some("0 30 6 * * *".into()),
            timezone: Some("Europe/Berlin".into()),
            ..ScheduleRequest::default()
        };
        let timing = Timing::from_request(&request).unwrap();
        // 2026-01-15T00:00:00Z; 06:30 in Berlin (UTC+1) is 05:30Z.
        let midnight = Timestamp(1_768_435_200_000);
        let next = timing.next_after(midnight).unwrap();
        assert_eq!(next.to_rfc3339(), "2026-01-15T05:30:00.000Z");
        let mut s = every(1, next.millis(), false);
        s.timing = timing;
        let two_days_later = Timestamp(next.millis() + 2 * 86_400_000 + 5_000);
        let d = due(&s, two_days_later).unwrap().unwrap();
        assert_eq!(
            d.tick.map(|t| t.to_rfc3339()).as_deref(),
            Some("2026-01-17T05:30:00.000Z")
        );
        assert_eq!(d.next.to_rfc3339(), "2026-01-18T05:30:00.000Z");
    }

    #[test]
    fn bad_timings_are_refused_with_the_reason() {
        let bad = |r: ScheduleRequest| Timing::from_request(&r).unwrap_err().to_string();
        let cron = |c: &str| ScheduleRequest {
            cron: Some(c.into()),
            ..ScheduleRequest::default()
        };
        assert!(bad(cron("*/5 * * * *")).contains("six fields"));
        assert!(bad(cron("0 61 * * * *")).contains("not valid"));
        assert!(bad(ScheduleRequest {
            timezone: Some("Mars/Olympus".into()),
            ..cron("0 0 * * * *")
        })
        .contains("time zone"));
        assert!(bad(ScheduleRequest {
            every: Some(0.5),
            ..ScheduleRequest::default()
        })
        .contains("every must be"));
        assert!(bad(ScheduleRequest::default()).contains("needs cron"));
        assert!(check_name("nightly_report_2").is_ok());
        assert!(check_name("Nightly").is_err());
        assert!(check_name("").is_err());
    }
}
