//! Quotas on a queue's waiting jobs and their payload bytes: the refusal a
//! script answers with, and the check of a batch that goes in several calls
//! (`admit.lua`). The counter itself is kept by the scripts (see the
//! module's doc, Quotas).

use std::collections::BTreeMap;

use redis::Value;

use super::library::Call;
use super::reply::{array, corrupt, int, text};
use super::RedisBackend;
use crate::catalog::{Quotas, WaitingQuota};
use crate::error::{QueueError, Result};
use crate::job::{Job, QueueName};

/// A refusal from `over_quota` (`common.lua`): `{0, i, quota, current,
/// adding, limit}`, as the index (from 0) of the job refused among the
/// call's jobs and its error; `None` for any other reply.
pub(super) fn quota_refusal(
    queue: &QueueName,
    items: &[Value],
) -> Result<Option<(usize, QueueError)>> {
    let [Value::Int(0), at, quota, current, adding, limit] = items else {
        return Ok(None);
    };
    let quota = match text(quota)?.as_str() {
        "waiting_jobs" => WaitingQuota::Jobs,
        "waiting_payload_bytes" => WaitingQuota::PayloadBytes,
        other => return Err(corrupt(format!("unknown quota {other:?} in a refusal"))),
    };
    let number = |v: &Value| int(v).map(|n| n.max(0) as u64);
    let error = QueueError::QueueFull {
        queue: queue.to_string(),
        quota,
        current: number(current)?,
        adding: number(adding)?,
        limit: number(limit)?,
    };
    Ok(Some(((number(at)? as usize).saturating_sub(1), error)))
}

impl RedisBackend {
    /// Checks the jobs of every queue of a batch against its waiting quotas
    /// (`admit.lua`), for a batch written in several calls: one round trip
    /// with each queue's totals, and a second, with the jobs themselves,
    /// only for queues near a limit.
    pub(super) async fn check_quotas(
        &self,
        jobs: &[Job],
        sizes: &[u64],
        by_queue: &BTreeMap<&str, Vec<usize>>,
        quotas: &Quotas,
    ) -> Result<()> {
        let limit = |max: u64| {
            if max == u64::MAX {
                String::new()
            } else {
                max.to_string()
            }
        };
        let call = |queue: &str, indexes: &[usize], each: bool| {
            let ids: Vec<&str> = if each {
                indexes.iter().map(|i| jobs[*i].id.as_str()).collect()
            } else {
                Vec::new()
            };
            let mut call = Call::new(&self.shared.functions.admit, queue, &ids);
            call.arg(limit(quotas.max_waiting_jobs))
                .arg(limit(quotas.max_waiting_payload_bytes))
                .arg(indexes.len())
                .arg(indexes.iter().map(|i| sizes[*i]).sum::<u64>());
            if each {
                for i in indexes {
                    call.arg(jobs[*i].id.as_str()).arg(sizes[*i]);
                }
            }
            call.cmd
        };
        let mut pipe = redis::pipe();
        for (queue, indexes) in by_queue {
            pipe.add_command(call(queue, indexes, false));
        }
        let mut near = Vec::new();
        for (entry, reply) in by_queue.iter().zip(self.run(&pipe).await?) {
            match reply {
                Value::Int(1) => {}
                Value::Int(2) => near.push(entry),
                other => return Err(corrupt(format!("unexpected reply {other:?} from admit"))),
            }
        }
        if near.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for (queue, indexes) in &near {
            pipe.add_command(call(queue, indexes, true));
        }
        for ((_, indexes), reply) in near.into_iter().zip(self.run(&pipe).await?) {
            if matches!(reply, Value::Int(_)) {
                continue;
            }
            let queue = &jobs[indexes[0]].queue;
            if let Some((at, error)) = quota_refusal(queue, &array(reply)?)? {
                let index = indexes.get(at).copied().unwrap_or(indexes[0]);
                return Err(crate::backend::refused_at(index, jobs.len(), error));
            }
        }
        Ok(())
    }
}
