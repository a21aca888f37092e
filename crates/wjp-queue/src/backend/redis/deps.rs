//! Dependencies across queues: registering a dependant with its parents
//! (`link.lua`, on each parent's queue), storing it in its first state
//! (`state::settle_new`), and delivering parents' ends from their queues'
//! outboxes to dependants (`settle.lua`, on each dependant's queue).
//!
//! A parent and its dependant may live in different queues, hence in
//! different hash tags, which no one function call may touch together.
//! So the end of a parent records, in the call that ends it, that its
//! dependants must hear of it (its queue's outbox, see `parent_ended` in
//! `common.lua`), and the process that ended it delivers that end at once
//! (its call's reply says it moved a parent), with one guarded call per
//! dependant's queue ([`RedisBackend::settle_all`]); maintenance delivers
//! whatever that missed. A delivery is
//! idempotent: the dependant's entry in its queue's `pending` hash names
//! the parents it still waits for, and a delivery applies only while the
//! entry is what the deliverer read, and removes the parent from it.
//!
//! Order of a submit: link first, then store. A link made for a
//! dependant that is never stored (its submitter died between the two)
//! is delivered to nobody; the outbox drops such members after
//! [`MISSING_GRACE`]. A link always exists before its dependant, so no
//! end is missed: the end either finds the link, or the link finds the
//! end.

use std::collections::BTreeMap;
use std::time::Duration;

use redis::Value;

use super::body;
use super::keys::{dependants_key, index_keys};
use super::library::Call;
use super::record::{job_from_value, ArgWriter, SettleArg};
use super::reply::{array, int, text};
use super::RedisBackend;
use crate::backend::{refused_at, Inserted};
use crate::catalog::Quotas;
use crate::error::{QueueError, Result};
use crate::job::{Job, JobId, Status, Timestamp};
use crate::state::json_len;
use crate::state::{self, ParentEnd};

/// How long an outbox keeps a member whose dependant does not exist: the
/// time between a link and the store of its dependant is a round trip, so
/// a member still missing after this never will be stored.
const MISSING_GRACE: Duration = Duration::from_secs(300);
/// Outbox entries, and members of each, one delivery pass takes at most.
const DELIVERY_BATCH: usize = 200;
/// Rounds of delivery per pass: a dependant cancelled by a delivery is an
/// ended parent too, delivered in the next round.
const DELIVERY_ROUNDS: usize = 8;
/// How often a guarded step read afresh may find its guard changed before
/// the caller is told to try later.
const GUARD_TRIES: usize = 5;

/// What became of one delivery.
enum Delivery {
    /// Applied, or nothing was left to do (the dependant no longer waits,
    /// or no longer for this parent).
    Done(bool),
    /// No such dependant (yet, or ever).
    Missing,
}

impl RedisBackend {
    /// Inserts a batch with dependants in it: the batch's quotas checked
    /// first, then job by job in the batch's order (parents before
    /// children, as a flow comes): each dependant linked to its parents,
    /// then stored in the first state its parents give it.
    pub(super) async fn insert_dependants(
        &self,
        jobs: Vec<Job>,
        quotas: &Quotas,
        origins: &[String],
    ) -> Result<Vec<Inserted>> {
        let n = jobs.len();
        // One job: its own call checks the quotas, atomically. Several:
        // checked for all first, as any batch of several calls is.
        let per_job = if n == 1 {
            quotas.clone()
        } else {
            let sizes: Vec<u64> = jobs.iter().map(|j| json_len(&j.payload)).collect();
            self.limits_of_writes(&jobs, &sizes, quotas, true).await?;
            Quotas::unlimited()
        };
        // Parents from outside the batch must exist before any of it is
        // stored: a batch with a dangling reference is refused whole (as far
        // as a look before the writes can tell: the writes are several
        // calls, see ARCHITECTURE.md).
        let in_batch: std::collections::HashSet<&JobId> = jobs.iter().map(|j| &j.id).collect();
        for (index, job) in jobs.iter().enumerate() {
            for parent in job.after.iter().filter(|p| !in_batch.contains(p)) {
                if self.find_stored(parent).await?.is_none() {
                    let e = QueueError::UnknownParent {
                        parent: parent.clone(),
                    };
                    return Err(refused_at(index, n, e));
                }
            }
        }
        let mut out = Vec::with_capacity(n);
        for (index, job) in jobs.into_iter().enumerate() {
            let mut pending = String::new();
            let job = if job.after.is_empty() {
                job
            } else {
                let parents = self
                    .link_parents(&job)
                    .await
                    .map_err(|e| refused_at(index, n, e))?;
                let (job, live) = state::settle_new(job, &parents, Timestamp::now())
                    .map_err(|e| refused_at(index, n, e))?;
                pending = live.iter().map(JobId::as_str).collect::<Vec<_>>().join(" ");
                job
            };
            let origin = origins.get(index).cloned().unwrap_or_default();
            let stored = self
                .insert_batch(
                    vec![job],
                    &per_job,
                    std::slice::from_ref(&pending),
                    std::slice::from_ref(&origin),
                )
                .await
                .map_err(|e| refused_at(index, n, e))?;
            out.extend(stored);
        }
        Ok(out)
    }

    /// Registers `job` with each of its parents (`link.lua`), and how
    /// each stands: `None` for no such job, a status that has not ended
    /// for one that now knows of the dependant, or how it ended.
    async fn link_parents(&self, job: &Job) -> Result<Vec<(JobId, Option<Status>)>> {
        let mut found: BTreeMap<String, Vec<&JobId>> = BTreeMap::new();
        let mut answers: Vec<(JobId, Option<Status>)> = Vec::new();
        for parent in &job.after {
            match self.find_stored(parent).await? {
                Some(stored) => found.entry(stored.queue).or_default().push(parent),
                None => answers.push((parent.clone(), None)),
            }
        }
        let dependant = format!("{}/{}", job.queue, job.id);
        for (queue, parents) in found {
            let mut tries = 0;
            loop {
                tries += 1;
                let ids: Vec<&str> = parents.iter().map(|p| p.as_str()).collect();
                let mut call = Call::new(&self.shared.functions.link, &queue, &ids);
                call.arg(&dependant);
                for id in &ids {
                    call.arg(*id);
                }
                let mut pipe = redis::pipe();
                pipe.add_command(call.cmd);
                let reply = self.run(&pipe).await?.pop().unwrap_or(Value::Nil);
                let states = array(reply)?.iter().map(text).collect::<Result<Vec<_>>>()?;
                if states.iter().any(|s| s == "busy") && tries < GUARD_TRIES {
                    // An earlier end of a parent (since retried) is not
                    // delivered yet: deliver it, then link.
                    self.settle_all(Timestamp::now()).await?;
                    continue;
                }
                for (parent, state) in parents.iter().zip(states) {
                    let status = match state.as_str() {
                        "gone" => None,
                        // Registered: it has not ended.
                        "live" => Some(Status::Running),
                        "busy" => {
                            return Err(QueueError::Unavailable(format!(
                                "parent {parent} is being settled; try again"
                            )))
                        }
                        ended => Some(ended.parse::<Status>()?),
                    };
                    answers.push(((*parent).clone(), status));
                }
                break;
            }
        }
        // In the job's order, as `settle_new` reads them.
        answers.sort_by_key(|(id, _)| job.after.iter().position(|p| p == id));
        Ok(answers)
    }

    /// Delivers the ends waiting in every queue's outbox to their
    /// dependants, a few rounds (a cancelled dependant's own end is
    /// delivered in the next); how many dependants changed.
    pub(super) async fn settle_all(&self, now: Timestamp) -> Result<u64> {
        let mut changed = 0;
        for _ in 0..DELIVERY_ROUNDS {
            // Which outboxes hold anything: one round trip for all queues,
            // so a pass over queues without dependencies costs that alone.
            let queues = self.known_queues(false).await?;
            if queues.is_empty() {
                break;
            }
            let mut pipe = redis::pipe();
            for queue in &queues {
                pipe.cmd("EXISTS").arg(&index_keys(queue)[17]);
            }
            let mut delivered_any = false;
            for (queue, exists) in queues.iter().zip(self.run(&pipe).await?) {
                if int(&exists)? == 0 {
                    continue;
                }
                let (n, any) = self.deliver_outbox(queue, now).await?;
                changed += n;
                delivered_any |= any;
            }
            if !delivered_any {
                break;
            }
        }
        Ok(changed)
    }

    /// Delivers one queue's outbox: for each ended parent, its end to each
    /// of its dependants; an entry goes once its set is empty. How many
    /// dependants changed, and whether there was anything to deliver.
    async fn deliver_outbox(&self, queue: &str, now: Timestamp) -> Result<(u64, bool)> {
        let outbox = &index_keys(queue)[17];
        let mut pipe = redis::pipe();
        pipe.cmd("HSCAN")
            .arg(outbox)
            .arg(0)
            .arg("COUNT")
            .arg(DELIVERY_BATCH);
        let reply = self.run(&pipe).await?.pop().unwrap_or(Value::Nil);
        let scan = array(reply)?;
        let entries = match scan.into_iter().nth(1) {
            Some(list) => array(list)?,
            None => return Ok((0, false)),
        };
        if entries.is_empty() {
            return Ok((0, false));
        }
        let mut changed = 0;
        for pair in entries.chunks(2) {
            let [parent, value] = pair else { continue };
            let (parent, value) = (text(parent)?, text(value)?);
            let (status, ended_ms) = value.split_once('|').unwrap_or((value.as_str(), "0"));
            let end = match status {
                "gone" => ParentEnd::Gone,
                other => match other.parse::<Status>().ok().and_then(ParentEnd::of) {
                    Some(end) => end,
                    None => ParentEnd::Gone,
                },
            };
            let ended_at = Timestamp(ended_ms.parse().unwrap_or(0));
            let Ok(parent_id) = JobId::parse(&parent) else {
                continue;
            };
            let set = dependants_key(queue, &parent);
            let mut pipe = redis::pipe();
            pipe.cmd("SSCAN")
                .arg(&set)
                .arg(0)
                .arg("COUNT")
                .arg(DELIVERY_BATCH);
            let reply = self.run(&pipe).await?.pop().unwrap_or(Value::Nil);
            let members = match array(reply)?.into_iter().nth(1) {
                Some(list) => array(list)?,
                None => Vec::new(),
            };
            let mut done = Vec::new();
            for member in &members {
                let member = text(member)?;
                let Some((child_queue, child)) = member.split_once('/') else {
                    done.push(member);
                    continue;
                };
                let Ok(child_id) = JobId::parse(child) else {
                    done.push(member);
                    continue;
                };
                match self
                    .deliver(child_queue, &child_id, &parent_id, end, now)
                    .await?
                {
                    Delivery::Done(applied) => {
                        changed += u64::from(applied);
                        done.push(member);
                    }
                    Delivery::Missing => {
                        let grace = MISSING_GRACE.as_millis() as u64;
                        if ended_at.plus_millis(grace) <= now {
                            done.push(member);
                        }
                    }
                }
            }
            let mut pipe = redis::pipe();
            if !done.is_empty() {
                pipe.cmd("SREM").arg(&set).arg(&done);
            }
            pipe.cmd("EXISTS").arg(&set);
            let left = int(&self.run(&pipe).await?.pop().unwrap_or(Value::Int(1)))?;
            if left == 0 {
                // No member can join an ended parent's set (a link sees the
                // end, or `busy` while this entry exists), so it is done.
                let mut pipe = redis::pipe();
                pipe.cmd("HDEL").arg(outbox).arg(&parent);
                self.run(&pipe).await?;
            }
        }
        Ok((changed, true))
    }

    /// Tells one dependant that `parent` ended as `end` (`settle.lua`),
    /// reading it afresh while its pending entry changes under the call.
    async fn deliver(
        &self,
        queue: &str,
        child: &JobId,
        parent: &JobId,
        end: ParentEnd,
        now: Timestamp,
    ) -> Result<Delivery> {
        let pending_key = &index_keys(queue)[15];
        for _ in 0..GUARD_TRIES {
            let mut pipe = redis::pipe();
            pipe.add_command(self.read_call(queue, &[child.as_str()]));
            pipe.cmd("HGET").arg(pending_key).arg(child.as_str());
            let mut replies = self.run(&pipe).await?.into_iter();
            let record = replies
                .next()
                .map(array)
                .transpose()?
                .and_then(|r| r.into_iter().next().filter(|v| *v != Value::Nil));
            let Some(record) = record else {
                return Ok(Delivery::Missing);
            };
            let pending = match replies.next() {
                Some(Value::Nil) | None => return Ok(Delivery::Done(false)),
                Some(v) => text(&v)?,
            };
            let waits_for: Vec<&str> = pending.split(' ').filter(|p| !p.is_empty()).collect();
            if !waits_for.contains(&parent.as_str()) {
                return Ok(Delivery::Done(false));
            }
            let job = job_from_value(&text(&record)?)?;
            let left = waits_for.len() - 1;
            let next = state::parent_ended(&job, parent, end, left, now);
            let mut call = Call::new(&self.shared.functions.settle, queue, &[child.as_str()]);
            {
                let mut args = ArgWriter::<SettleArg>::new(&mut call.cmd);
                args.put(SettleArg::Id, child.as_str())
                    .put(SettleArg::Parent, parent.as_str())
                    .put(SettleArg::Expect, pending.as_str());
                match &next {
                    Some(t) => {
                        let s = &t.job.state;
                        let waiting = matches!(s.status, Status::Queued | Status::Scheduled);
                        args.put(SettleArg::Status, s.status.as_str())
                            .put(SettleArg::Body, body::encode(&t.job)?)
                            .put(
                                SettleArg::ErrorKind,
                                s.error.as_ref().map_or("", |e| e.kind.as_str()),
                            )
                            .put(
                                SettleArg::Priority,
                                if waiting {
                                    t.job.priority.to_string()
                                } else {
                                    String::new()
                                },
                            )
                            .put(
                                SettleArg::RunAt,
                                if waiting {
                                    s.run_at.0.to_string()
                                } else {
                                    String::new()
                                },
                            )
                            .put(
                                SettleArg::ExpiresAt,
                                s.expires_at.map(|t| t.0.to_string()).unwrap_or_default(),
                            )
                            .put(SettleArg::At, now.0);
                    }
                    None => {
                        args.put(SettleArg::Status, "")
                            .put(SettleArg::Body, "")
                            .put(SettleArg::ErrorKind, "")
                            .put(SettleArg::Priority, "")
                            .put(SettleArg::RunAt, "")
                            .put(SettleArg::ExpiresAt, "")
                            .put(SettleArg::At, now.0);
                    }
                }
            }
            let mut pipe = redis::pipe();
            pipe.add_command(call.cmd);
            let reply = self.run(&pipe).await?.pop().unwrap_or(Value::Nil);
            let outcome = array(reply)?.first().map(int).transpose()?.unwrap_or(0);
            match outcome {
                1 => return Ok(Delivery::Done(next.is_some())),
                2 => return Ok(Delivery::Done(false)),
                _ => continue,
            }
        }
        Err(QueueError::Unavailable(format!(
            "job {child} kept changing while its parent {parent}'s end was delivered"
        )))
    }
}
