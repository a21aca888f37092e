//! Schedules: one hash, `wjp:schedules`, from a schedule's name to
//! `<next_run ms>\n<schedule as JSON>`. Schedules are global, not a
//! queue's, so they live outside every queue's hash tag; each command
//! touches this one key (one Cluster slot). The guarded advance is a short
//! `EVAL` of its own rather than a function of the library, whose
//! functions all take a queue's keys.

use redis::Value;

use super::reply::{array, corrupt, int, text};
use super::RedisBackend;
use crate::error::{QueueError, Result};
use crate::job::Timestamp;
use crate::schedule::Schedule;

/// The hash of every schedule.
const SCHEDULES_KEY: &str = "wjp:schedules";

/// Sets ARGV[1]'s entry to ARGV[3] if its `next_run` is still ARGV[2]; 1
/// if it did, else 0 (also when the schedule is gone).
const ADVANCE: &str = r"
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then return 0 end
local nl = string.find(cur, '\n', 1, true)
if not nl or string.sub(cur, 1, nl - 1) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
";

fn entry(schedule: &Schedule) -> Result<String> {
    let json = serde_json::to_string(schedule).map_err(|e| QueueError::Storage(e.to_string()))?;
    Ok(format!("{}\n{json}", schedule.next_run.millis()))
}

fn parse(value: &Value) -> Result<Schedule> {
    let entry = text(value)?;
    let (_, json) = entry
        .split_once('\n')
        .ok_or_else(|| corrupt("schedule entry without a next_run line"))?;
    serde_json::from_str(json).map_err(|e| corrupt(format!("schedule: {e}")))
}

impl RedisBackend {
    /// Stores a schedule; whether it is new.
    pub(super) async fn put_schedule_entry(&self, schedule: &Schedule) -> Result<bool> {
        let mut cmd = redis::cmd("HSET");
        cmd.arg(SCHEDULES_KEY)
            .arg(&schedule.name)
            .arg(entry(schedule)?);
        Ok(int(&self.query(cmd).await?)? == 1)
    }

    /// Deletes a schedule; whether it existed.
    pub(super) async fn remove_schedule_entry(&self, name: &str) -> Result<bool> {
        let mut cmd = redis::cmd("HDEL");
        cmd.arg(SCHEDULES_KEY).arg(name);
        Ok(int(&self.query(cmd).await?)? == 1)
    }

    /// Every schedule, by name.
    pub(super) async fn schedule_entries(&self) -> Result<Vec<Schedule>> {
        let mut cmd = redis::cmd("HVALS");
        cmd.arg(SCHEDULES_KEY);
        let mut all = array(self.query(cmd).await?)?
            .iter()
            .map(parse)
            .collect::<Result<Vec<_>>>()?;
        all.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(all)
    }

    /// Stores `schedule` if its entry's `next_run` is still `expect_next`.
    pub(super) async fn advance_schedule_entry(
        &self,
        schedule: &Schedule,
        expect_next: Timestamp,
    ) -> Result<bool> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(ADVANCE)
            .arg(1)
            .arg(SCHEDULES_KEY)
            .arg(&schedule.name)
            .arg(expect_next.millis().to_string())
            .arg(entry(schedule)?);
        Ok(int(&self.query(cmd).await?)? == 1)
    }
}
