//! Why a waiting job has not started: what an operator asks first when a
//! job sits in `queued` or `scheduled`.

use serde::Serialize;

use crate::backend::{QueueCounts, WorkerRecord};
use crate::job::{Job, Status, Timestamp};
use crate::limits::Rate;

/// Why a job that waits (queued or scheduled) has not started, as far as
/// the live workers' records tell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum WaitReason {
    /// It waits for parents (`after`) that have not ended yet.
    Parents {
        /// The parents still to end, in the order the job names them.
        waiting_for: Vec<String>,
    },
    /// Its queue is paused: no worker claims from it until it is resumed.
    Paused {
        /// The job's queue.
        queue: String,
    },
    /// Its queue already runs as many jobs as its limit allows, across
    /// every worker.
    LimitedRunning {
        /// The job's queue.
        queue: String,
        /// The queue's limit of jobs running at once.
        max_running: u32,
    },
    /// Its fairness group already runs as many jobs as its queue lets one
    /// group run at once.
    GroupLimited {
        /// The job's queue.
        queue: String,
        /// The job's group.
        group: String,
        /// The queue's limit of one group's jobs running at once.
        per_group_max_running: u32,
    },
    /// Its queue's claims in the current window reached its rate limit.
    RateLimited {
        /// The job's queue.
        queue: String,
        /// The queue's rate limit.
        rate: Rate,
    },
    /// Its time has not come: a delay asked for, or a retry's backoff.
    Scheduled {
        /// When it may run.
        until: Timestamp,
    },
    /// No live worker claims from its queue: it waits until one starts.
    NoWorker {
        /// The job's queue.
        queue: String,
    },
    /// Every slot of the live workers of its queue is taken.
    WorkersBusy {
        /// The job's queue.
        queue: String,
        /// The live workers that claim from it.
        workers: usize,
        /// Their slots, all in use.
        slots: usize,
    },
    /// Workers of its queue have free slots: it is taken at their next
    /// claim, unless queues they serve before it keep them busy.
    Ready {
        /// The job's queue.
        queue: String,
        /// Free slots of the workers that claim from it.
        free_slots: usize,
    },
}

impl WaitReason {
    /// One line for people.
    pub fn describe(&self) -> String {
        match self {
            WaitReason::Parents { waiting_for } => {
                const SHOWN: usize = 10;
                let mut list = waiting_for
                    .iter()
                    .take(SHOWN)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ");
                if waiting_for.len() > SHOWN {
                    list.push_str(&format!(" and {} more", waiting_for.len() - SHOWN));
                }
                let s = if waiting_for.len() == 1 { "" } else { "s" };
                format!("waiting for parent{s} {list}")
            }
            WaitReason::Paused { queue } => {
                format!("queue {queue} is paused; `wjp queue resume {queue}` resumes it")
            }
            WaitReason::LimitedRunning { queue, max_running } => format!(
                "queue {queue} runs its limit of {max_running} jobs at once; \
                 `wjp queue limit {queue} --clear` lifts it"
            ),
            WaitReason::GroupLimited {
                queue,
                group,
                per_group_max_running,
            } => format!(
                "group {group} runs its limit of {per_group_max_running} jobs at once in queue \
                 {queue}; other groups' jobs go first, and `wjp queue limit {queue} --clear` \
                 lifts it"
            ),
            WaitReason::RateLimited { queue, rate } => format!(
                "queue {queue} reached its rate limit of {rate}; the next window lets more through"
            ),
            WaitReason::Scheduled { until } => {
                format!("scheduled: it may run from {}", until.to_rfc3339())
            }
            WaitReason::NoWorker { queue } => {
                format!("no live worker serves queue {queue}; start one with --queues {queue}")
            }
            WaitReason::WorkersBusy {
                queue,
                workers,
                slots,
            } => format!(
                "waiting for a free worker of queue {queue}: all {slots} slots of its {workers} \
                 worker{} are busy",
                if *workers == 1 { "" } else { "s" }
            ),
            WaitReason::Ready { queue, free_slots } => format!(
                "ready: workers of queue {queue} have {free_slots} free slot{} and take it next \
                 (unless queues they serve first keep them busy)",
                if *free_slots == 1 { "" } else { "s" }
            ),
        }
    }
}

/// Why `job` waits, judged from its queue's counts (whether it is paused,
/// its limits), from how many jobs of its group run (`group_running`, when
/// the queue caps groups and the job has one) and from the live `workers`
/// at `now`; `None` when it does not wait (running or ended).
pub fn why_waiting(
    job: &Job,
    queue: Option<&QueueCounts>,
    group_running: Option<u64>,
    workers: &[WorkerRecord],
    now: Timestamp,
) -> Option<WaitReason> {
    let paused = queue.is_some_and(|q| q.paused);
    if !matches!(job.status(), Status::Queued | Status::Scheduled) {
        return None;
    }
    if paused {
        return Some(WaitReason::Paused {
            queue: job.queue.to_string(),
        });
    }
    if job.state.run_at > now {
        return Some(WaitReason::Scheduled {
            until: job.state.run_at,
        });
    }
    if let Some(q) = queue {
        if let Some(max_running) = q.limits.max_running {
            if q.running >= u64::from(max_running) {
                return Some(WaitReason::LimitedRunning {
                    queue: q.name.clone(),
                    max_running,
                });
            }
        }
        if let (Some(cap), Some(group), Some(running)) =
            (q.limits.per_group_max_running, &job.group, group_running)
        {
            if running >= u64::from(cap) {
                return Some(WaitReason::GroupLimited {
                    queue: q.name.clone(),
                    group: group.clone(),
                    per_group_max_running: cap,
                });
            }
        }
        if let Some(rate) = q.limits.rate {
            if q.rate_claims >= u64::from(rate.count) {
                return Some(WaitReason::RateLimited {
                    queue: q.name.clone(),
                    rate,
                });
            }
        }
    }
    let queue = job.queue.to_string();
    let serving: Vec<&WorkerRecord> = workers
        .iter()
        .filter(|w| w.expires_at > now && w.queues.contains(&queue))
        .collect();
    if serving.is_empty() {
        return Some(WaitReason::NoWorker { queue });
    }
    let slots: usize = serving.iter().map(|w| w.concurrency).sum();
    let busy: usize = serving
        .iter()
        .map(|w| w.current_jobs.len().min(w.concurrency))
        .sum();
    if busy >= slots {
        return Some(WaitReason::WorkersBusy {
            queue,
            workers: serving.len(),
            slots,
        });
    }
    Some(WaitReason::Ready {
        queue,
        free_slots: slots - busy,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use crate::job::JobRequest;
    use serde_json::json;

    fn waiting_job(delay: Option<f64>) -> Job {
        let mut catalog = Catalog::new(&["analysis"]).unwrap();
        catalog.register("noop", "analysis", None).unwrap();
        let mut request = JobRequest::new("noop", json!({}));
        request.delay = delay;
        crate::state::new_job(request, &catalog, Timestamp(1_000)).unwrap()
    }

    fn worker(queues: &[&str], concurrency: usize, running: usize) -> WorkerRecord {
        WorkerRecord {
            name: "w".into(),
            host: "h".into(),
            pid: 1,
            queues: queues.iter().map(|q| q.to_string()).collect(),
            concurrency,
            started_at: Timestamp(0),
            heartbeat_at: Timestamp(1_000),
            current_jobs: (0..running).map(|i| format!("j{i}")).collect(),
            expires_at: Timestamp(60_000),
        }
    }

    #[test]
    fn each_reason_follows_from_the_job_and_the_workers() {
        let now = Timestamp(2_000);
        let later = waiting_job(Some(10.0));
        assert_eq!(
            why_waiting(&later, None, None, &[], now),
            Some(WaitReason::Scheduled {
                until: Timestamp(11_000)
            })
        );
        let job = waiting_job(None);
        let other_queue = worker(&["default"], 4, 0);
        assert!(matches!(
            why_waiting(&job, None, None, std::slice::from_ref(&other_queue), now),
            Some(WaitReason::NoWorker { .. })
        ));
        let full = worker(&["analysis", "default"], 2, 2);
        assert_eq!(
            why_waiting(&job, None, None, &[full.clone(), other_queue], now),
            Some(WaitReason::WorkersBusy {
                queue: "analysis".into(),
                workers: 1,
                slots: 2
            })
        );
        let free = worker(&["analysis"], 3, 1);
        assert_eq!(
            why_waiting(&job, None, None, &[full.clone(), free], now),
            Some(WaitReason::Ready {
                queue: "analysis".into(),
                free_slots: 2
            })
        );
        let stale = WorkerRecord {
            expires_at: Timestamp(1_500),
            ..worker(&["analysis"], 4, 0)
        };
        assert!(matches!(
            why_waiting(&job, None, None, &[stale], now),
            Some(WaitReason::NoWorker { .. })
        ));
        let mut counts = QueueCounts {
            name: "analysis".into(),
            paused: true,
            running: 2,
            ..QueueCounts::default()
        };
        assert_eq!(
            why_waiting(&job, Some(&counts), None, std::slice::from_ref(&full), now),
            Some(WaitReason::Paused {
                queue: "analysis".into()
            })
        );
        counts.paused = false;
        counts.limits.max_running = Some(2);
        assert_eq!(
            why_waiting(&job, Some(&counts), None, std::slice::from_ref(&full), now),
            Some(WaitReason::LimitedRunning {
                queue: "analysis".into(),
                max_running: 2
            })
        );
        counts.limits.max_running = Some(3);
        let rate = Rate {
            count: 5,
            per: crate::limits::RatePeriod::Second,
        };
        counts.limits.rate = Some(rate);
        counts.rate_claims = 5;
        assert_eq!(
            why_waiting(&job, Some(&counts), None, &[full], now),
            Some(WaitReason::RateLimited {
                queue: "analysis".into(),
                rate
            })
        );
    }
}
