//! Enqueueing: ids already stored in another queue, the quota check, and
//! the writes (`insert.lua`, one call per queue and up to `SCRIPT_BATCH`
//! jobs, all in one pipeline).

use std::collections::BTreeMap;

use redis::Value;

use super::audit::call_lines;
use super::body;
use super::keys::QUEUES_KEY;
use super::library::Call;
use super::quotas::quota_refusal;
use super::record::{job_from_value, ArgWriter, InsertArg};
use super::reply::{array, int, text};
use super::{RedisBackend, SCRIPT_BATCH};
use crate::audit::submission_line;
use crate::backend::Inserted;
use crate::catalog::Quotas;
use crate::error::{QueueError, Result};
use crate::job::{Job, Timestamp};

/// A job of the batch whose id is stored in another queue.
struct StoredElsewhere {
    /// The job's index in the batch.
    index: usize,
    /// The queue that holds the id.
    queue: String,
}

/// The quota limits the write calls check themselves, as `insert.lua`
/// takes them: empty for none (no limit, or checked before the writes).
pub(super) struct WriteLimits {
    max_jobs: String,
    max_bytes: String,
}

impl RedisBackend {
    /// Inserts a batch (see [`Backend::insert_within`](crate::backend::Backend::insert_within)).
    pub(super) async fn insert_jobs(
        &self,
        jobs: Vec<Job>,
        quotas: &Quotas,
        origins: &[String],
    ) -> Result<Vec<Inserted>> {
        if jobs.iter().any(|job| !job.after.is_empty()) {
            return self.insert_dependants(jobs, quotas, origins).await;
        }
        self.insert_batch(jobs, quotas, &[], origins).await
    }

    /// Inserts a batch; `pending[i]`, when given, is the i-th job's
    /// parents still to end, space-separated (see `deps.rs`), and
    /// `origins[i]` who submitted it (for the audit log).
    pub(super) async fn insert_batch(
        &self,
        jobs: Vec<Job>,
        quotas: &Quotas,
        pending: &[String],
        origins: &[String],
    ) -> Result<Vec<Inserted>> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let now = Timestamp::now();
        let mut out: Vec<Option<Inserted>> = vec![None; jobs.len()];
        // An id is one job across all queues: a job enqueued under an id
        // that lives in another queue is that job (or replaces it when it
        // failed or was cancelled).
        let elsewhere = self.stored_elsewhere(&jobs).await?;
        let mut bodies = jobs
            .iter()
            .map(body::encode)
            .collect::<Result<Vec<String>>>()?;
        let sizes: Vec<u64> = bodies.iter().map(|b| body::payload_bytes_of(b)).collect();
        let limits = self
            .limits_of_writes(&jobs, &sizes, quotas, !elsewhere.is_empty())
            .await?;
        self.forget_elsewhere(&jobs, elsewhere, &mut out).await?;
        self.write_jobs(
            &jobs,
            &mut bodies,
            &sizes,
            &limits,
            now,
            pending,
            origins,
            &mut out,
        )
        .await?;
        out.into_iter()
            .map(|o| o.ok_or_else(|| QueueError::Storage("Redis returned no insert result".into())))
            .collect()
    }

    /// The jobs of the batch whose id is stored in another known queue. One
    /// call of `exists.lua` per other queue (its keys share a slot), which
    /// counts the ids stored there; only when it counts a hit, each id of
    /// it is looked at.
    async fn stored_elsewhere(&self, jobs: &[Job]) -> Result<Vec<StoredElsewhere>> {
        let queues = self.known_queues(false).await?;
        let groups: Vec<(&String, Vec<usize>)> = queues
            .iter()
            .map(|q| {
                let ids: Vec<usize> = (0..jobs.len())
                    .filter(|i| jobs[*i].queue.as_str() != q.as_str())
                    .collect();
                (q, ids)
            })
            .filter(|(_, ids)| !ids.is_empty())
            .collect();
        if groups.is_empty() {
            return Ok(Vec::new());
        }
        let exists = |q: &str, ids: &[usize]| {
            let ids: Vec<&str> = ids.iter().map(|i| jobs[*i].id.as_str()).collect();
            Call::new(&self.shared.functions.exists, q, &ids).cmd
        };
        let mut pipe = redis::pipe();
        for (q, ids) in &groups {
            pipe.add_command(exists(q, ids));
        }
        let mut candidates = Vec::new();
        let mut pipe_each = redis::pipe();
        for ((q, ids), hits) in groups.iter().zip(self.run(&pipe).await?) {
            if int(&hits)? > 0 {
                for i in ids {
                    pipe_each.add_command(exists(q, &[*i]));
                    candidates.push(StoredElsewhere {
                        index: *i,
                        queue: (*q).clone(),
                    });
                }
            }
        }
        if candidates.is_empty() {
            return Ok(candidates);
        }
        let found = self.run(&pipe_each).await?;
        let mut stored = Vec::new();
        for (candidate, exists) in candidates.into_iter().zip(found) {
            if int(&exists)? == 1 {
                stored.push(candidate);
            }
        }
        Ok(stored)
    }

    /// Decides where the quotas are checked. One call writes a queue's
    /// jobs when they are few and none needs a look in another queue: it
    /// checks the quotas itself. Otherwise every queue is checked here
    /// first (refusing the batch), and the writes check nothing more (see
    /// the module's doc, Quotas).
    pub(super) async fn limits_of_writes(
        &self,
        jobs: &[Job],
        sizes: &[u64],
        quotas: &Quotas,
        any_elsewhere: bool,
    ) -> Result<WriteLimits> {
        let limited =
            quotas.max_waiting_jobs != u64::MAX || quotas.max_waiting_payload_bytes != u64::MAX;
        let mut by_queue: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, job) in jobs.iter().enumerate() {
            by_queue.entry(job.queue.as_str()).or_default().push(i);
        }
        let calls: usize = by_queue
            .values()
            .map(|ix| ix.len().div_ceil(SCRIPT_BATCH))
            .sum();
        let checked_first = limited && (calls > 1 || any_elsewhere);
        if checked_first {
            self.check_quotas(jobs, sizes, &by_queue, quotas).await?;
        }
        let limit = |max: u64| {
            if limited && !checked_first && max != u64::MAX {
                max.to_string()
            } else {
                String::new()
            }
        };
        Ok(WriteLimits {
            max_jobs: limit(quotas.max_waiting_jobs),
            max_bytes: limit(quotas.max_waiting_payload_bytes),
        })
    }

    /// Deletes the failed or cancelled jobs stored elsewhere under the
    /// batch's ids (`forget.lua`), so the ids can be enqueued here; a job
    /// stored elsewhere in another status is the answer for its id.
    async fn forget_elsewhere(
        &self,
        jobs: &[Job],
        elsewhere: Vec<StoredElsewhere>,
        out: &mut [Option<Inserted>],
    ) -> Result<()> {
        if elsewhere.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for stored in &elsewhere {
            let id = jobs[stored.index].id.as_str();
            let mut call = Call::new(&self.shared.functions.forget, &stored.queue, &[id]);
            call.arg(id);
            pipe.add_command(call.cmd);
        }
        for (stored, reply) in elsewhere.into_iter().zip(self.run(&pipe).await?) {
            if !matches!(reply, Value::Int(_)) {
                out[stored.index] = Some(Inserted::Existing(job_from_value(&text(&reply)?)?));
            }
        }
        Ok(())
    }

    /// Writes the jobs not answered yet (`insert.lua`): one call per queue
    /// and up to `SCRIPT_BATCH` jobs, in one pipeline with the `SADD` that
    /// names their queues. Each call records its new jobs' submissions,
    /// by `origins[i]`, in the audit log.
    #[allow(clippy::too_many_arguments)]
    async fn write_jobs(
        &self,
        jobs: &[Job],
        bodies: &mut [String],
        sizes: &[u64],
        limits: &WriteLimits,
        now: Timestamp,
        pending: &[String],
        origins: &[String],
        out: &mut [Option<Inserted>],
    ) -> Result<()> {
        let mut by_queue: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, job) in jobs.iter().enumerate() {
            if out[i].is_none() {
                by_queue.entry(job.queue.as_str()).or_default().push(i);
            }
        }
        let mut pipe = redis::pipe();
        pipe.cmd("SADD")
            .arg(QUEUES_KEY)
            .arg(by_queue.keys().collect::<Vec<_>>());
        let mut chunks = Vec::new();
        for (queue, indexes) in &by_queue {
            for chunk in indexes.chunks(SCRIPT_BATCH) {
                let ids: Vec<&str> = chunk.iter().map(|i| jobs[*i].id.as_str()).collect();
                let mut call = Call::new(&self.shared.functions.insert, queue, &ids);
                call.arg(now.0)
                    .arg(&limits.max_jobs)
                    .arg(&limits.max_bytes)
                    .arg(chunk.iter().map(|i| sizes[*i]).sum::<u64>());
                for i in chunk {
                    let job = &jobs[*i];
                    ArgWriter::<InsertArg>::new(&mut call.cmd)
                        .put(InsertArg::Id, job.id.as_str())
                        .put(InsertArg::Status, job.status().as_str())
                        .put(InsertArg::Body, std::mem::take(&mut bodies[*i]))
                        .put(InsertArg::Priority, job.priority)
                        .put(InsertArg::RunAt, job.state.run_at.0)
                        .put(InsertArg::CreatedAt, job.created_at.0)
                        .put(InsertArg::Kind, job.kind.as_str())
                        .put(InsertArg::Unique, job.unique_key.as_deref().unwrap_or(""))
                        .put(
                            InsertArg::UniqueUntil,
                            job.unique_until
                                .map(|t| t.0.to_string())
                                .unwrap_or_default(),
                        )
                        .put(
                            InsertArg::Pending,
                            pending.get(*i).map_or("", String::as_str),
                        )
                        .put(
                            InsertArg::ExpiresAt,
                            job.state
                                .expires_at
                                .map(|t| t.0.to_string())
                                .unwrap_or_default(),
                        );
                }
                call.arg(call_lines(chunk.iter().map(|i| {
                    let origin = origins.get(*i).map_or("", String::as_str);
                    Some(submission_line(&jobs[*i], origin, now))
                })));
                pipe.add_command(call.cmd);
                chunks.push(chunk);
            }
        }
        if chunks.is_empty() {
            return Ok(());
        }
        // The first reply is the SADD's.
        let replies = self.run(&pipe).await?;
        for (chunk, reply) in chunks.into_iter().zip(replies.into_iter().skip(1)) {
            let items = array(reply)?;
            if let Some((at, error)) = quota_refusal(&jobs[chunk[0]].queue, &items)? {
                let index = chunk.get(at).copied().unwrap_or(chunk[0]);
                return Err(crate::backend::refused_at(index, jobs.len(), error));
            }
            for (i, item) in chunk.iter().zip(items) {
                out[*i] = Some(match item {
                    Value::Int(_) => Inserted::New(jobs[*i].clone()),
                    stored => Inserted::Existing(job_from_value(&text(&stored)?)?),
                });
            }
        }
        self.note_queues(by_queue.keys().copied());
        Ok(())
    }
}
