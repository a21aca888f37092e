//! Reading jobs: by id (from whichever queue holds it), listing, and the
//! jobs the reaper and the scheduler look at, all through `read.lua` or
//! `list.lua`, which merge a running job's lease into its header.

use redis::{Cmd, Value};

use super::keys::key_prefix;
use super::library::Call;
use super::record::{job_from_value, lease_until};
use super::reply::{array, corrupt, hash, text};
use super::{RedisBackend, LIST_SCAN};
use crate::backend::{JobPage, JobQuery};
use crate::error::{QueueError, Result};
use crate::job::{Job, JobId, Kind, Status, Timestamp};

/// A job's record as read, and the queue that holds it.
pub(super) struct Stored {
    /// The queue's name.
    pub(super) queue: String,
    /// The record as readers see it (see `view` in `common.lua`).
    pub(super) record: String,
}

/// Job ids found in one queue.
struct Found {
    queue: String,
    ids: Vec<String>,
}

impl RedisBackend {
    /// A job by id (see [`Backend::get`](crate::backend::Backend::get)).
    pub(super) async fn get_job(&self, id: &JobId) -> Result<Option<Job>> {
        let Some(stored) = self.find_stored(id).await? else {
            return Ok(None);
        };
        let job = job_from_value(&stored.record)?;
        if job.state.expires_at.is_some_and(|t| t <= Timestamp::now()) {
            return Ok(None);
        }
        Ok(Some(job))
    }

    /// A page of jobs (see [`Backend::list`](crate::backend::Backend::list)).
    pub(super) async fn list_jobs(&self, query: &JobQuery) -> Result<JobPage> {
        let limit = query.limit.clamp(1, 1000);
        let bound = match &query.cursor {
            Some(c) => Position::parse(c)
                .ok_or_else(|| QueueError::InvalidRequest(format!("invalid cursor {c:?}")))?
                .bound(),
            None => "+inf".into(),
        };
        let queues = match &query.queue {
            Some(q) => vec![q.to_string()],
            None => self.known_queues(false).await?,
        };
        if queues.is_empty() {
            return Ok(JobPage {
                jobs: Vec::new(),
                next_cursor: None,
            });
        }
        let mut pipe = redis::pipe();
        for q in &queues {
            let mut call = Call::new(&self.shared.functions.list, q, &[]);
            call.arg(&bound)
                .arg(query.status.map_or("", Status::as_str))
                .arg(limit + 1)
                .arg(LIST_SCAN)
                .arg(query.kind.as_ref().map_or("", Kind::as_str));
            pipe.add_command(call.cmd);
        }
        let now = Timestamp::now();
        let mut found: Vec<(Position, Job)> = Vec::new();
        // Below the highest point where some queue stopped looking, the
        // merge is incomplete: only what lies above it is certain.
        let mut cutoff: Option<Position> = None;
        for reply in self.run(&pipe).await? {
            let mut items = array(reply)?.into_iter();
            let resume = text(&items.next().unwrap_or(Value::Nil)).unwrap_or_default();
            if !resume.is_empty() {
                let at = Position::parse(&resume).ok_or_else(|| corrupt(&resume))?;
                cutoff = Some(cutoff.map_or(at.clone(), |c| c.max(at)));
            }
            while let (Some(score), Some(h)) = (items.next(), items.next()) {
                let score: i64 = text(&score)?.parse().map_err(corrupt)?;
                let job = job_from_value(&text(&h)?)?;
                if job.state.expires_at.is_some_and(|t| t <= now) {
                    continue;
                }
                let at = Position {
                    score,
                    id: Some(job.id.to_string()),
                };
                found.push((at, job));
            }
        }
        found.retain(|(at, _)| cutoff.as_ref().is_none_or(|c| at >= c));
        found.sort_by(|(a, _), (b, _)| b.cmp(a));
        let next_cursor = if found.len() > limit {
            found.truncate(limit);
            found.last().map(|(at, _)| at.to_string())
        } else {
            cutoff.map(|c| match found.last() {
                Some((last, _)) if *last < c => last.to_string(),
                _ => c.to_string(),
            })
        };
        Ok(JobPage {
            jobs: found.into_iter().map(|(_, job)| job).collect(),
            next_cursor,
        })
    }

    /// Running jobs whose lease ran out before `now`, at most `limit`.
    pub(super) async fn jobs_with_expired_leases(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<Job>> {
        let found = self.expired_ids(now).await?;
        let jobs = self.read_jobs(found, limit).await?;
        // A lease renewed between the two reads is not expired.
        Ok(jobs
            .into_iter()
            .filter(|j| {
                j.status() == Status::Running && j.state.lease_expires_at.is_some_and(|t| t < now)
            })
            .collect())
    }

    /// Scheduled jobs whose time has come, at most `limit`.
    pub(super) async fn due_jobs(&self, now: Timestamp, limit: usize) -> Result<Vec<Job>> {
        let found = self.due_ids(now, limit).await?;
        self.read_jobs(found, limit).await
    }

    /// Reads a job by id from every known queue (one round trip), and once
    /// more after re-reading the queue list if it was not found.
    pub(super) async fn find_stored(&self, id: &JobId) -> Result<Option<Stored>> {
        let mut fresh = false;
        loop {
            let queues = self.known_queues(fresh).await?;
            let mut pipe = redis::pipe();
            for q in &queues {
                pipe.add_command(self.read_call(q, &[id.as_str()]));
            }
            let replies = if queues.is_empty() {
                Vec::new()
            } else {
                self.run(&pipe).await?
            };
            for (q, reply) in queues.iter().zip(replies) {
                if let Some(stored) = array(reply)?.into_iter().next() {
                    if stored != Value::Nil {
                        return Ok(Some(Stored {
                            queue: q.clone(),
                            record: text(&stored)?,
                        }));
                    }
                }
            }
            if fresh {
                return Ok(None);
            }
            fresh = true;
        }
    }

    /// A call of `read.lua`: these jobs of one queue as readers see them.
    pub(super) fn read_call(&self, queue: &str, ids: &[&str]) -> Cmd {
        let mut call = Call::new(&self.shared.functions.read, queue, ids);
        for id in ids {
            call.arg(*id);
        }
        call.cmd
    }

    /// Scheduled jobs whose run-at time has come, at most `limit` a queue.
    async fn due_ids(&self, now: Timestamp, limit: usize) -> Result<Vec<Found>> {
        let replies = self
            .ask_every_queue(|q| {
                let mut cmd = redis::cmd("ZRANGEBYSCORE");
                cmd.arg(format!("{}scheduled", key_prefix(q)))
                    .arg("-inf")
                    .arg(now.0)
                    .arg("LIMIT")
                    .arg(0)
                    .arg(limit);
                cmd
            })
            .await?;
        replies
            .into_iter()
            .map(|(queue, reply)| {
                Ok(Found {
                    queue,
                    ids: array(reply)?.iter().map(text).collect::<Result<_>>()?,
                })
            })
            .collect()
    }

    /// Running jobs whose lease ran out before `now`. The lease hash holds
    /// only running jobs (a few per worker slot), so the reaper reads it
    /// whole rather than keep a second index that every claim, renewal and
    /// completion would have to update.
    async fn expired_ids(&self, now: Timestamp) -> Result<Vec<Found>> {
        let replies = self
            .ask_every_queue(|q| {
                let mut cmd = redis::cmd("HGETALL");
                cmd.arg(format!("{}leases", key_prefix(q)));
                cmd
            })
            .await?;
        let mut found = Vec::new();
        for (q, reply) in replies {
            let mut ids = Vec::new();
            for (id, lease) in hash(reply)? {
                if lease_until(&lease).is_some_and(|u| u < now.0) {
                    ids.push(id);
                }
            }
            found.push(Found { queue: q, ids });
        }
        Ok(found)
    }

    /// Jobs by id, per queue, as readers see them; at most `limit`.
    async fn read_jobs(&self, found: Vec<Found>, limit: usize) -> Result<Vec<Job>> {
        let mut left = limit;
        let mut pipe = redis::pipe();
        for Found { queue: q, ids } in &found {
            let ids: Vec<&str> = ids.iter().take(left).map(String::as_str).collect();
            left -= ids.len();
            if !ids.is_empty() {
                pipe.add_command(self.read_call(q, &ids));
            }
        }
        if left == limit {
            return Ok(Vec::new());
        }
        let mut jobs = Vec::new();
        for reply in self.run(&pipe).await? {
            for stored in array(reply)? {
                if stored != Value::Nil {
                    jobs.push(job_from_value(&text(&stored)?)?);
                }
            }
        }
        Ok(jobs)
    }
}

/// A place in a listing, which runs by list score, newest first, and
/// among jobs of one score by id, the greatest first (as a sorted set
/// gives them): a cursor is the place of the last job of a page, and the
/// next page starts after it. Jobs of one score are common (a batch of
/// more than a thousand jobs shares a creation time, and the score keeps
/// three digits of the sequence), so the id is part of the place; a cursor
/// of the score alone (given out before) starts below the score.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Position {
    score: i64,
    /// `None` sorts below every id: the place below every job of the score.
    id: Option<String>,
}

impl Position {
    /// `SCORE:ID`, or `SCORE` (also as the scripts' `(SCORE`).
    fn parse(text: &str) -> Option<Position> {
        let text = text.strip_prefix('(').unwrap_or(text);
        let (score, id) = match text.split_once(':') {
            Some((score, id)) if !id.is_empty() => (score, Some(id.to_owned())),
            Some(_) => return None,
            None => (text, None),
        };
        Some(Position {
            score: score.parse().ok()?,
            id,
        })
    }

    /// The start of a listing after this place, as `list.lua` takes it.
    fn bound(&self) -> String {
        match self.id {
            Some(_) => self.to_string(),
            None => format!("({}", self.score),
        }
    }
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.id {
            Some(id) => write!(f, "{}:{id}", self.score),
            None => write!(f, "{}", self.score),
        }
    }
}
