//! Per-queue limits: running jobs at once and claims per window, held
//! across claimers that race, as workers on several machines would.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::Barrier;
use wjp_queue::{state, JobId, Queue, QueueLimits, Rate, Status, Timestamp, WaitReason};

use super::{
    builtin_handlers, claim, enqueue_ids, fast_config, queue_on, request, start_worker,
    wait_for_job, Store,
};

fn in_queue(kind: &str, payload: serde_json::Value, queue: &str) -> wjp_queue::JobRequest {
    let mut r = request(kind, payload);
    r.queue = Some(queue.into());
    r
}

/// `claimers` handles of their own (separate connections, as separate
/// processes have) claim from `queues` together, each until a claim gives
/// nothing; every job they took.
pub(super) async fn race_claims(
    store: &dyn Store,
    claimers: usize,
    queues: &'static [&'static str],
    max: usize,
) -> Vec<wjp_queue::Job> {
    let barrier = Arc::new(Barrier::new(claimers));
    let mut tasks = Vec::new();
    for _ in 0..claimers {
        let queue = queue_on(store).await;
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let mut taken = Vec::new();
            loop {
                let jobs = claim(&queue, queues, max, Duration::from_secs(60)).await;
                if jobs.is_empty() {
                    return taken;
                }
                taken.extend(jobs);
            }
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        let taken = tokio::time::timeout(Duration::from_secs(60), t)
            .await
            .expect("claimers did not finish within 60 s")
            .unwrap();
        all.extend(taken);
    }
    all
}

async fn counts_of(queue: &Queue, name: &str) -> wjp_queue::backend::QueueCounts {
    queue
        .counts()
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.name == name)
        .unwrap()
}

/// Claimers racing on one queue never hold more than its `max_running`
/// together; an end frees one place; other queues of the same claim are
/// not held back; clearing the limit lets the rest through.
pub async fn racing_claimers_never_run_more_than_max_running(store: &dyn Store) {
    let queue = queue_on(store).await;
    let limited = |n: u32| QueueLimits {
        max_running: Some(n),
        ..QueueLimits::default()
    };
    assert_eq!(
        queue
            .set_limits("cutting", limited(1))
            .await
            .unwrap_err()
            .code(),
        "unknown_queue"
    );
    assert_eq!(
        queue
            .set_limits("analysis", limited(0))
            .await
            .unwrap_err()
            .code(),
        "invalid_request"
    );
    queue.set_limits("analysis", limited(3)).await.unwrap();
    let requests = (0..20)
        .map(|i| in_queue("noop", json!(i), "analysis"))
        .collect();
    let ids = enqueue_ids(&queue, requests).await;

    let taken = race_claims(store, 8, &["analysis"], 2).await;
    assert_eq!(taken.len(), 3, "8 racing claimers, max_running 3");
    let counts = counts_of(&queue, "analysis").await;
    assert_eq!((counts.running, counts.queued), (3, 17));
    assert_eq!(counts.limits, limited(3));
    let waiting = queue.job(&ids[19]).await.unwrap().unwrap();
    assert_eq!(
        queue.why_waiting(&waiting).await.unwrap(),
        Some(WaitReason::LimitedRunning {
            queue: "analysis".into(),
            max_running: 3
        })
    );

    // One end frees one place; a claim of two queues still fills up from
    // the other.
    let done = state::complete(&taken[0], json!("done"), Timestamp::now());
    assert_eq!(queue.backend().apply(vec![done]).await.unwrap(), [true]);
    enqueue_ids(
        &queue,
        (0..2)
            .map(|i| in_queue("noop", json!(i), "default"))
            .collect(),
    )
    .await;
    let next = claim(
        &queue,
        &["analysis", "default"],
        10,
        Duration::from_secs(60),
    )
    .await;
    let per_queue: Vec<&str> = next.iter().map(|j| j.queue.as_str()).collect();
    assert_eq!(per_queue, ["analysis", "default", "default"]);

    // Cleared: the rest go at once.
    queue
        .set_limits("analysis", QueueLimits::default())
        .await
        .unwrap();
    assert_eq!(queue.limits().await.unwrap()[1].1, QueueLimits::default());
    let rest = claim(&queue, &["analysis"], 100, Duration::from_secs(60)).await;
    assert_eq!(rest.len(), 16);
}

/// A worker that found its queue at its limit waits for jobs as it does for
/// an empty queue; the end of a running job wakes it, long before its idle
/// wait (here longer than the test's hang guard) would.
pub async fn the_end_of_a_running_job_wakes_workers_held_by_max_running(store: &dyn Store) {
    let queue = queue_on(store).await;
    queue
        .set_limits(
            "analysis",
            QueueLimits {
                max_running: Some(1),
                rate: None,
                ..QueueLimits::default()
            },
        )
        .await
        .unwrap();
    let requests = (0..4)
        .map(|_| in_queue("sleep", json!({ "seconds": 0.05 }), "analysis"))
        .collect();
    let ids = enqueue_ids(&queue, requests).await;
    let peak = peak_running_of_a_patient_worker(&queue, &ids).await;
    assert!(peak <= 1, "running at once: {peak}");
}

/// Runs the jobs `ids` of `analysis` with one worker whose idle wait is
/// longer than the test's hang guard (so only a wake-up gets it going
/// again), and gives the most of them seen running at once.
pub(super) async fn peak_running_of_a_patient_worker(queue: &Queue, ids: &[JobId]) -> u64 {
    let mut config = fast_config("w-patient", &["analysis"]);
    config.idle_wait = Duration::from_secs(600);
    let worker = start_worker(queue, builtin_handlers(), config);
    let mut peak = 0;
    for id in ids {
        wait_for_job(queue, id, Duration::from_secs(60), |j| {
            j.status() == Status::Completed
        })
        .await;
        peak = peak.max(counts_of(queue, "analysis").await.running);
    }
    worker.stop().await;
    peak
}

/// Claimers racing on a queue with a rate get exactly its count through in
/// one window (a minute, much longer than the race takes); a job left
/// says why it waits; a per-second rate lets a worker drain the rest, one
/// window after another.
pub async fn a_rate_lets_exactly_its_count_through_in_one_window(store: &dyn Store) {
    let queue = queue_on(store).await;
    let per_minute: Rate = "3/m".parse().unwrap();
    queue
        .set_limits(
            "analysis",
            QueueLimits {
                max_running: None,
                rate: Some(per_minute),
                ..QueueLimits::default()
            },
        )
        .await
        .unwrap();
    let requests = (0..9)
        .map(|i| in_queue("noop", json!(i), "analysis"))
        .collect();
    let ids = enqueue_ids(&queue, requests).await;

    let taken = race_claims(store, 6, &["analysis"], 2).await;
    assert_eq!(taken.len(), 3, "6 racing claimers, 3 claims a minute");
    let counts = counts_of(&queue, "analysis").await;
    assert_eq!((counts.running, counts.queued), (3, 6));
    assert_eq!(counts.rate_claims, 3);
    // Ends free no claim: the rate counts claims, not running jobs.
    for job in &taken {
        let done = state::complete(job, json!("done"), Timestamp::now());
        assert_eq!(queue.backend().apply(vec![done]).await.unwrap(), [true]);
    }
    assert!(claim(&queue, &["analysis"], 10, Duration::from_secs(60))
        .await
        .is_empty());
    let waiting = queue.job(&ids[8]).await.unwrap().unwrap();
    assert_eq!(
        queue.why_waiting(&waiting).await.unwrap(),
        Some(WaitReason::RateLimited {
            queue: "analysis".into(),
            rate: per_minute
        })
    );

    // Two a second, set afresh: a worker drains the other six over three
    // windows or more, never more than two in one.
    let per_second: Rate = "2/s".parse().unwrap();
    queue
        .set_limits(
            "analysis",
            QueueLimits {
                max_running: None,
                rate: Some(per_second),
                ..QueueLimits::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(queue.limits().await.unwrap()[1].1.rate, Some(per_second));
    let worker = start_worker(
        &queue,
        builtin_handlers(),
        fast_config("w-rated", &["analysis"]),
    );
    let mut starts = Vec::new();
    for id in &ids {
        let job = wait_for_job(&queue, id, Duration::from_secs(60), |j| {
            j.status() == Status::Completed
        })
        .await;
        if !taken.iter().any(|t| &t.id == id) {
            starts.push(job.state.started_at.unwrap().0);
        }
    }
    worker.stop().await;
    starts.sort();
    assert_eq!(starts.len(), 6);
    // Two a window, windows end to end from the first claim: the 5th claim
    // is in the third window at the earliest, and any claim four after
    // another is two windows on (less 100 ms for the gap between a claim's
    // time here and its time in the store). Lower bounds: a fast machine
    // cannot break them; only claims past the rate can.
    assert!(
        starts[4] - starts[0] >= 1_900,
        "five claims at two a second need three windows: {starts:?}"
    );
    for five in starts.windows(5) {
        assert!(five[4] - five[0] >= 900, "claims past the rate: {starts:?}");
    }
}
