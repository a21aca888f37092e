//! Upkeep and the small things: the sweep of expired jobs and old events,
//! purges, queue counts, and worker records.

use redis::Value;

use super::events::StreamPos;
use super::keys::{group_state_key, index_keys, ready_late_key, worker_key, LAYOUT, WORKERS_KEY};
use super::library::Call;
use super::reply::{array, corrupt, int, text};
use super::{RedisBackend, EVENTS_MAX_AGE};
use crate::backend::{QueueCounts, WorkerRecord};
use crate::error::{QueueError, Result};
use crate::job::{QueueName, Status, Timestamp};
use crate::limits::{rate_window, QueueLimits, Rate, RatePeriod};

impl RedisBackend {
    /// Sweeps every queue (see [`Backend::delete_expired`](crate::backend::Backend::delete_expired)).
    pub(super) async fn sweep(&self, now: Timestamp) -> Result<u64> {
        let min_event = StreamPos((now.0 - EVENTS_MAX_AGE.as_millis() as i64).max(0) as u64, 0);
        let mut deleted = 0u64;
        for q in self.known_queues(false).await? {
            // Bounded rounds: a huge backlog is worked off over several passes.
            for _ in 0..20 {
                let mut call = Call::new(&self.shared.functions.sweep, &q, &[]);
                call.arg(now.0).arg(1000).arg(min_event.to_string());
                let mut pipe = redis::pipe();
                pipe.add_command(call.cmd);
                let reply = array(self.run(&pipe).await?.remove(0))?;
                deleted += int(&reply[0])? as u64;
                if int(&reply[1])? < 1000 {
                    break;
                }
            }
        }
        let mut cmd = redis::cmd("ZREMRANGEBYSCORE");
        cmd.arg(WORKERS_KEY).arg("-inf").arg(now.0);
        self.query(cmd).await?;
        Ok(deleted)
    }

    /// Index sizes: ended jobs whose record expired count until the next
    /// maintenance pass (every second in a running worker) sweeps them.
    pub(super) async fn queue_counts(&self, queues: &[QueueName]) -> Result<Vec<QueueCounts>> {
        if queues.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for q in queues {
            let keys = index_keys(q.as_str());
            // In Status::ALL's order; running jobs are the lease hash's
            // entries. Then whether the queue is paused.
            for (command, key) in [
                ("HLEN", &keys[15]),
                ("ZCARD", &keys[1]),
                ("ZCARD", &keys[0]),
                ("HLEN", &keys[2]),
                ("ZCARD", &keys[5]),
                ("ZCARD", &keys[6]),
                ("ZCARD", &keys[7]),
                ("EXISTS", &keys[12]),
            ] {
                pipe.cmd(command).arg(key);
            }
            pipe.cmd("HMGET").arg(&keys[14]).arg(&[
                "max_running",
                "rate",
                "per",
                "start",
                "claims",
                "per_group",
            ]);
            // Queued jobs of fairness groups wait in their groups' indexes.
            pipe.cmd("HGET")
                .arg(group_state_key(q.as_str()))
                .arg("ready");
            // Plain queued jobs that came in claim order are in a list,
            // or in the late list (common.lua, Ready jobs).
            pipe.cmd("LLEN").arg(&keys[19]);
            pipe.cmd("LLEN").arg(ready_late_key(q.as_str()));
        }
        let replies = self.run(&pipe).await?;
        queues
            .iter()
            .zip(replies.chunks(12))
            .map(|(q, n)| {
                let mut counts = QueueCounts {
                    name: q.to_string(),
                    ..QueueCounts::default()
                };
                for (status, n) in Status::ALL.into_iter().zip(n) {
                    counts.add(status, int(n)? as u64);
                }
                counts.paused = n.get(7).map(int).transpose()? == Some(1);
                for listed in [10, 11] {
                    counts.add(
                        Status::Queued,
                        n.get(listed).map(int).transpose()?.unwrap_or(0) as u64,
                    );
                }
                if let Some(Value::BulkString(grouped)) = n.get(9) {
                    let grouped = String::from_utf8_lossy(grouped).parse::<i64>().unwrap_or(0);
                    counts.add(Status::Queued, grouped.max(0) as u64);
                }
                if let Some(limits) = n.get(8) {
                    (counts.limits, counts.rate_claims) = stored_limits(limits, Timestamp::now())?;
                }
                Ok(counts)
            })
            .collect()
    }

    /// Pauses or resumes a queue (`pause.lua`); whether that changed
    /// anything.
    pub(super) async fn pause_queue(&self, queue: &QueueName, paused: bool) -> Result<bool> {
        let mut call = Call::new(&self.shared.functions.pause, queue.as_str(), &[]);
        call.arg(if paused { "1" } else { "0" });
        let mut pipe = redis::pipe();
        pipe.add_command(call.cmd);
        let reply = self.run(&pipe).await?;
        Ok(reply.first().map(int).transpose()? == Some(1))
    }

    /// Sets or clears a queue's limits (`limits.lua`).
    pub(super) async fn put_limits(&self, queue: &QueueName, limits: QueueLimits) -> Result<()> {
        let mut call = Call::new(&self.shared.functions.limits, queue.as_str(), &[]);
        call.arg(
            limits
                .max_running
                .map(|n| n.to_string())
                .unwrap_or_default(),
        )
        .arg(limits.rate.map(|r| r.count.to_string()).unwrap_or_default())
        .arg(
            limits
                .rate
                .map(|r| r.per.millis().to_string())
                .unwrap_or_default(),
        )
        .arg(
            limits
                .per_group_max_running
                .map(|n| n.to_string())
                .unwrap_or_default(),
        );
        let mut pipe = redis::pipe();
        pipe.add_command(call.cmd);
        self.run(&pipe).await?;
        Ok(())
    }

    /// Deletes a queue's jobs in one waiting or ended status.
    pub(super) async fn purge_jobs(&self, queue: &QueueName, status: Status) -> Result<u64> {
        if status == Status::Running {
            return Err(QueueError::InvalidRequest(
                "running jobs cannot be purged; cancel them instead".into(),
            ));
        }
        let mut deleted = 0u64;
        loop {
            let mut call = Call::new(&self.shared.functions.purge, queue.as_str(), &[]);
            call.arg(status.as_str()).arg(1000);
            let mut pipe = redis::pipe();
            pipe.add_command(call.cmd);
            let reply = array(self.run(&pipe).await?.remove(0))?;
            deleted += int(&reply[0])? as u64;
            if int(&reply[1])? < 1000 {
                return Ok(deleted);
            }
        }
    }

    /// Writes a worker's record, which expires by itself.
    pub(super) async fn put_worker(&self, worker: &WorkerRecord) -> Result<()> {
        // With the layout this version writes: a later version that changes
        // it waits until this worker is stopped (`refuse_older_workers`).
        let mut body =
            serde_json::to_value(worker).map_err(|e| QueueError::Storage(e.to_string()))?;
        if let Some(fields) = body.as_object_mut() {
            fields.insert("layout".into(), LAYOUT.into());
        }
        let body = body.to_string();
        let mut pipe = redis::pipe();
        pipe.cmd("SET")
            .arg(worker_key(&worker.name))
            .arg(body)
            .arg("PXAT")
            .arg(worker.expires_at.0);
        pipe.cmd("ZADD")
            .arg(WORKERS_KEY)
            .arg(worker.expires_at.0)
            .arg(&worker.name);
        self.run(&pipe).await?;
        Ok(())
    }

    /// Deletes a worker's record.
    pub(super) async fn delete_worker(&self, name: &str) -> Result<()> {
        let mut pipe = redis::pipe();
        pipe.cmd("DEL").arg(worker_key(name));
        pipe.cmd("ZREM").arg(WORKERS_KEY).arg(name);
        self.run(&pipe).await?;
        Ok(())
    }

    /// The workers whose records have not expired, by name.
    pub(super) async fn live_workers(&self, now: Timestamp) -> Result<Vec<WorkerRecord>> {
        let mut workers = Vec::new();
        for (_, body) in self.live_worker_records(now).await? {
            let record: WorkerRecord = serde_json::from_str(&body).map_err(corrupt)?;
            if record.expires_at > now {
                workers.push(record);
            }
        }
        workers.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(workers)
    }

    /// The names and stored records (JSON text) of the workers the index
    /// lists as live at `now`.
    pub(super) async fn live_worker_records(
        &self,
        now: Timestamp,
    ) -> Result<Vec<(String, String)>> {
        let mut cmd = redis::cmd("ZRANGEBYSCORE");
        cmd.arg(WORKERS_KEY).arg(format!("({}", now.0)).arg("+inf");
        let names = array(self.query(cmd).await?)?
            .iter()
            .map(text)
            .collect::<Result<Vec<_>>>()?;
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for name in &names {
            pipe.cmd("GET").arg(worker_key(name));
        }
        let mut records = Vec::new();
        for (name, body) in names.into_iter().zip(self.run(&pipe).await?) {
            if body != Value::Nil {
                records.push((name, text(&body)?));
            }
        }
        Ok(records)
    }
}

/// A queue's limits from the `HMGET` of its limits hash (max_running, rate,
/// per, start, claims, per_group), and the claims in its rate window at `now` (this
/// process's clock: near a window's end, a reading only).
fn stored_limits(reply: &Value, now: Timestamp) -> Result<(QueueLimits, u64)> {
    let fields = match reply {
        Value::Array(items) => items
            .iter()
            .map(|v| match v {
                Value::Nil => Ok(None),
                v => text(v).map(|t| t.parse::<i64>().ok()),
            })
            .collect::<Result<Vec<_>>>()?,
        _ => return Ok((QueueLimits::default(), 0)),
    };
    let field = |i: usize| fields.get(i).copied().flatten();
    let rate = field(1)
        .zip(field(2).and_then(RatePeriod::from_millis))
        .map(|(count, per)| Rate {
            count: count.clamp(0, i64::from(u32::MAX)) as u32,
            per,
        });
    let count_of = |n: i64| n.clamp(0, i64::from(u32::MAX)) as u32;
    let limits = QueueLimits {
        max_running: field(0).map(count_of),
        rate,
        per_group_max_running: field(5).map(count_of),
    };
    let used = match rate {
        Some(rate) => {
            let (_, _, claims) =
                rate_window(rate, field(3).unwrap_or(0), field(4).unwrap_or(0), now.0);
            claims.max(0) as u64
        }
        None => 0,
    };
    Ok((limits, used))
}
