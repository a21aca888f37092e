//! The backend conformance suite: what every backend must do, tested through
//! the public [`Queue`] and [`Worker`] API only. A backend module provides a
//! [`Store`] and invokes `conformance_suite!` with an expression that builds
//! one; each test gets a fresh store.
//!
//! Waits are bounded to keep a broken backend from hanging CI; they are
//! generous limits on a hang, not speed targets.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::{json, Value};
use tokio::sync::oneshot;
use wjp_queue::backend::{Backend, ClaimRequest, JobQuery};
use wjp_queue::state;
use wjp_queue::{
    builtin, CancelOutcome, Catalog, ErrorKind, Handlers, Job, JobError, JobId, JobRequest, Kind,
    Queue, QueueName, Status, Timestamp, Worker, WorkerConfig, WorkerExit,
};

mod audit;
mod deps;
mod groups;
mod limits;
mod quotas;
pub use audit::*;
pub use deps::*;
pub use groups::*;
pub use limits::*;
pub use quotas::*;
mod schedules;
pub use schedules::*;
mod stock;
pub use stock::*;

/// A place jobs are stored, which several handles can connect to, as
/// several processes would.
#[async_trait]
pub trait Store: Send + Sync {
    async fn connect(&self) -> Arc<dyn Backend>;
}

pub fn catalog() -> Catalog {
    let mut catalog =
        Catalog::new(&["default", "analysis", "conversion", "nesting", "gcode"]).unwrap();
    builtin::register(&mut catalog).unwrap();
    catalog.register("record", "analysis", None).unwrap();
    catalog
}

pub async fn queue_on(store: &dyn Store) -> Queue {
    Queue::new(store.connect().await, catalog())
}

fn q(name: &str) -> QueueName {
    QueueName::parse(name).unwrap()
}

pub fn request(kind: &str, payload: Value) -> JobRequest {
    JobRequest::new(kind, payload)
}

/// A worker running in the background until `stop` is sent.
pub struct RunningWorker {
    stop: Option<oneshot::Sender<()>>,
    handle: tokio::task::JoinHandle<wjp_queue::error::Result<WorkerExit>>,
}

impl RunningWorker {
    pub async fn stop(mut self) -> WorkerExit {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.handle.await.unwrap().unwrap()
    }

    pub async fn finish(self) -> WorkerExit {
        tokio::time::timeout(Duration::from_secs(60), self.handle)
            .await
            .expect("worker did not finish within 60 s")
            .unwrap()
            .unwrap()
    }
}

pub fn fast_config(name: &str, queues: &[&str]) -> WorkerConfig {
    let mut config = WorkerConfig::new(name, queues.iter().map(|n| q(n)).collect());
    config.concurrency = 4;
    config.lease = Duration::from_secs(5);
    config.heartbeat = Duration::from_millis(100);
    config.maintenance = Duration::from_millis(100);
    config.shutdown_grace = Duration::from_secs(10);
    config.stuck_grace = Duration::from_millis(300);
    config.idle_wait = Duration::from_millis(50);
    config
}

pub fn builtin_handlers() -> Handlers {
    let mut handlers = Handlers::new();
    builtin::add_handlers(&mut handlers).unwrap();
    handlers
}

pub fn start_worker(queue: &Queue, handlers: Handlers, config: WorkerConfig) -> RunningWorker {
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let worker = Worker::new(queue.clone(), handlers, config).unwrap();
    let handle = tokio::spawn(worker.run(async move {
        let _ = stop_rx.await;
    }));
    RunningWorker {
        stop: Some(stop_tx),
        handle,
    }
}

/// Polls `job` until `done` holds, for at most `limit`.
pub async fn wait_for_job(
    queue: &Queue,
    id: &JobId,
    limit: Duration,
    done: impl Fn(&Job) -> bool,
) -> Job {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let job = queue.job(id).await.unwrap();
        if let Some(job) = &job {
            if done(job) {
                return job.clone();
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "job {id} did not reach the expected state within {limit:?}; last seen: {job:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Enqueues one job and returns its id.
pub async fn enqueue_id(queue: &Queue, request: JobRequest) -> JobId {
    queue.enqueue(request).await.unwrap().job.id
}

/// Enqueues a batch and returns the ids, in order.
pub async fn enqueue_ids(queue: &Queue, requests: Vec<JobRequest>) -> Vec<JobId> {
    let enqueued = queue.enqueue_batch(requests).await.unwrap();
    enqueued.into_iter().map(|e| e.job.id).collect()
}

/// Polls the job until it has `status` (at most 20 s).
pub async fn wait_for_status(queue: &Queue, id: &JobId, status: Status) -> Job {
    wait_for_job(queue, id, Duration::from_secs(20), |j| j.status() == status).await
}

pub async fn claim(queue: &Queue, queues: &[&str], max: usize, lease: Duration) -> Vec<Job> {
    queue
        .backend()
        .claim(&ClaimRequest {
            queues: queues.iter().map(|n| q(n)).collect(),
            worker: "test-claimer".into(),
            max,
            lease,
            now: Timestamp::now(),
        })
        .await
        .unwrap()
}

/// Claims the best job of `default` under a lease that then runs out, and
/// has maintenance take it back; returns the job as its claimer holds it.
async fn claim_and_lose_lease(queue: &Queue) -> Job {
    let stale = claim(queue, &["default"], 1, Duration::from_millis(200))
        .await
        .remove(0);
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(queue.maintain().await.unwrap().requeued_lost, 1);
    stale
}

macro_rules! conformance_suite {
    ($store:expr) => {
        conformance_suite!(@tests $store;
            a_job_moves_from_queued_to_running_to_completed_with_events,
            claims_take_the_highest_priority_then_the_oldest,
            claim_order_holds_for_jobs_arriving_out_of_order,
            claims_take_queues_strictly_in_the_given_order,
            one_claim_of_mixed_jobs_gives_each_its_own_kind_and_attempt,
            delayed_jobs_wait_for_their_time,
            a_due_delayed_job_is_claimed_in_its_place_before_promotion,
            failures_are_retried_with_a_doubling_backoff,
            completed_results_expire_after_their_ttl,
            an_old_expiry_never_removes_a_later_job_under_the_same_id,
            jobs_ended_in_one_batch_expire_together,
            failed_jobs_stay_in_the_failed_registry_until_their_ttl,
            a_client_given_id_is_idempotent,
            a_batch_with_a_bad_request_stores_nothing,
            cancelling_a_queued_job_stops_it_from_running,
            cancelling_a_running_job_stops_it,
            a_handler_that_never_yields_is_timed_out,
            an_abandoned_stuck_handler_does_not_pause_its_worker,
            a_paused_queue_takes_jobs_but_gives_none_until_resumed,
            a_unique_key_returns_the_job_that_holds_it,
            the_failed_jobs_of_a_queue_are_retried_together,
            an_expired_lease_is_taken_back_and_the_old_worker_cannot_overwrite,
            a_job_past_its_stall_budget_fails_with_lost_lease,
            a_job_running_again_shows_no_error_of_the_last_attempt,
            a_batch_of_outcomes_records_and_publishes_only_those_that_apply,
            a_stale_end_leading_a_batch_is_refused_alone,
            two_workers_racing_complete_every_job_exactly_once,
            jobs_survive_a_restart_of_everything,
            shutdown_hands_running_jobs_back,
            a_worker_of_short_jobs_hands_back_the_jobs_it_claimed_ahead,
            a_worker_of_long_jobs_claims_only_what_it_can_start,
            jobs_enqueued_one_after_another_never_wait_out_the_idle_wait,
            a_wait_after_an_empty_claim_sees_a_job_enqueued_since,
            panics_and_missing_handlers_fail_the_job_and_the_worker_carries_on,
            progress_is_recorded_and_published,
            retrying_a_failed_job_runs_it_again,
            counts_listing_and_purge,
            a_listing_of_every_status_shows_each_job_once_newest_first,
            a_listing_pages_through_jobs_of_every_index,
            a_listing_of_a_large_batch_pages_through_each_job_once,
            unknown_kinds_queues_and_bad_values_are_refused,
            events_can_be_followed_from_a_cursor,
            a_full_queue_refuses_jobs_until_a_claim_makes_room,
            the_payload_bytes_a_queue_holds_waiting_are_capped,
            an_existing_id_is_not_counted_twice,
            a_batch_over_a_quota_is_refused_whole,
            jobs_already_admitted_come_back_to_wait_whatever_the_quota,
            delays_past_the_longest_allowed_are_refused,
            payloads_past_the_largest_allowed_are_refused,
            racing_maintenance_passes_make_one_job_per_tick,
            a_missed_tick_runs_once_or_is_skipped,
            a_schedule_left_behind_catches_up_once,
            a_removed_schedule_makes_no_more_jobs,
            a_schedule_is_checked_when_added,
            a_worker_runs_the_jobs_of_a_schedule,
            racing_claimers_never_run_more_than_max_running,
            the_end_of_a_running_job_wakes_workers_held_by_max_running,
            a_rate_lets_exactly_its_count_through_in_one_window,
            a_dependant_waits_until_every_parent_in_other_queues_completed,
            a_failed_parent_cancels_its_dependants_down_the_graph,
            parents_that_ended_before_the_dependant_count_as_they_ended,
            a_cancelled_or_purged_job_leaves_no_dependency_behind,
            a_flow_runs_in_order_and_children_read_their_parents_results,
            a_bad_flow_is_refused_whole_naming_the_node,
            parents_completing_while_dependants_are_submitted_release_them_all,
            a_flow_submitted_while_its_parent_ends_is_settled_whole,
            two_workers_run_a_graph_once_each_and_in_order,
            the_audit_log_records_each_step_of_a_jobs_life,
            a_batch_logs_each_new_job_whole_when_its_first_existed,
            a_batch_of_differing_payloads_logs_each_jobs_own_options,
            the_history_outlives_the_jobs_record,
            the_history_is_filtered_and_paged_without_gaps,
            the_audit_log_is_trimmed_by_age_and_count,
            racing_holders_take_each_stock_item_once,
            a_stock_hold_runs_out_and_only_its_holder_settles,
            a_cancelled_handler_keeps_the_result_it_answers,
            claims_take_the_groups_of_a_queue_in_turns,
            priority_and_order_hold_within_each_group,
            jobs_becoming_ready_join_their_groups_turns,
            a_group_at_its_cap_waits_while_others_go_on,
            racing_submitters_and_claimers_keep_turns_and_caps,
            the_end_of_a_groups_job_wakes_workers_held_by_its_cap,
        );
    };
    (@tests $store:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let store = $store;
                $crate::conformance::$name(&store).await;
            }
        )*
    };
}

pub async fn a_job_moves_from_queued_to_running_to_completed_with_events(store: &dyn Store) {
    let queue = queue_on(store).await;
    let before = queue.last_event_id().await.unwrap();
    let job = queue
        .enqueue(request("noop", json!({"x": 1})))
        .await
        .unwrap();
    assert!(job.created);
    let job = job.job;
    assert_eq!(job.status(), Status::Queued);
    assert_eq!(job.queue.as_str(), "default");
    assert_eq!(job.timeout_ms, 300_000);
    assert_eq!(job.result_ttl_ms, 3_600_000);
    assert_eq!(job.state.attempt, 0);

    let claimed = claim(&queue, &["default"], 10, Duration::from_secs(30)).await;
    assert_eq!(claimed.len(), 1);
    let running = &claimed[0];
    assert_eq!(running.status(), Status::Running);
    assert_eq!(running.state.attempt, 1);
    assert!(running.state.lease_token.is_some());
    assert_eq!(running.state.worker.as_deref(), Some("test-claimer"));
    let stored = queue.job(&job.id).await.unwrap().unwrap();
    assert_eq!(stored.status(), Status::Running);
    assert!(stored.state.started_at.is_some());

    let t = state::complete(running, json!({"ok": true}), Timestamp::now());
    assert_eq!(queue.backend().apply(vec![t]).await.unwrap(), vec![true]);
    let done = queue.job(&job.id).await.unwrap().unwrap();
    assert_eq!(done.status(), Status::Completed);
    assert_eq!(done.state.result, Some(json!({"ok": true})));
    assert_eq!(done.state.progress, Some(1.0));
    assert!(done.state.completed_at.is_some());
    assert!(done.state.expires_at.is_some());

    let events = queue.events_after(before.as_deref(), 100).await.unwrap();
    let statuses: Vec<Status> = events
        .iter()
        .filter(|e| e.job_id == job.id)
        .map(|e| e.status)
        .collect();
    assert_eq!(
        statuses,
        vec![Status::Queued, Status::Running, Status::Completed]
    );
}

pub async fn claims_take_the_highest_priority_then_the_oldest(store: &dyn Store) {
    let queue = queue_on(store).await;
    let mut ids = HashMap::new();
    for (name, priority) in [
        ("low-1", 0),
        ("high", 5),
        ("mid", 1),
        ("low-2", 0),
        ("neg", -3),
    ] {
        let mut r = request("noop", json!({}));
        r.priority = Some(priority);
        r.job_id = Some(name.into());
        ids.insert(name, queue.enqueue(r).await.unwrap().job.id);
        // Distinct enqueue times, so "oldest" is well defined.
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    let mut order = Vec::new();
    for _ in 0..5 {
        let claimed = claim(&queue, &["default"], 1, Duration::from_secs(30)).await;
        assert_eq!(claimed.len(), 1);
        order.push(claimed[0].id.to_string());
    }
    assert_eq!(order, ["high", "mid", "low-1", "low-2", "neg"]);
    assert!(claim(&queue, &["default"], 1, Duration::from_secs(30))
        .await
        .is_empty());
}

/// Jobs arriving in claim order and out of it (a higher priority, then a
/// lower one, then more of the usual), one cancelled from the middle:
/// claims of one job and of many take them in claim order, and the counts
/// agree; a purge takes every queued job, wherever it waits. (On Redis the
/// jobs that arrive in claim order wait in a list, the others in a sorted
/// set: `common.lua`, Ready jobs.)
pub async fn claim_order_holds_for_jobs_arriving_out_of_order(store: &dyn Store) {
    let queue = queue_on(store).await;
    let mut ids = HashMap::new();
    for (name, priority) in [
        ("a1", 0),
        ("a2", 0),
        ("a3", 0),
        ("high", 5),
        ("a4", 0),
        ("low", -2),
        ("a5", 0),
        ("a6", 0),
    ] {
        let mut r = request("noop", json!({}));
        r.priority = Some(priority);
        r.job_id = Some(name.into());
        ids.insert(name, queue.enqueue(r).await.unwrap().job.id);
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    queue.cancel(&ids["a2"]).await.unwrap();
    assert_eq!(queue.counts().await.unwrap()[0].queued, 7);
    let mut order = Vec::new();
    for max in [2, 1, 10] {
        let claimed = claim(&queue, &["default"], max, Duration::from_secs(30)).await;
        order.push(claimed.iter().map(|j| j.id.to_string()).collect::<Vec<_>>());
    }
    assert_eq!(
        order,
        [
            vec!["high", "a1"],
            vec!["a3"],
            vec!["a4", "a5", "a6", "low"]
        ]
    );
    assert_eq!(queue.counts().await.unwrap()[0].queued, 0);

    for (name, priority) in [("b1", 0), ("b2", 0), ("b-high", 5), ("b3", 0)] {
        let mut r = request("noop", json!({}));
        r.priority = Some(priority);
        r.job_id = Some(name.into());
        queue.enqueue(r).await.unwrap();
    }
    assert_eq!(queue.counts().await.unwrap()[0].queued, 4);
    assert_eq!(queue.purge("default", Status::Queued).await.unwrap(), 4);
    assert_eq!(queue.counts().await.unwrap()[0].queued, 0);
    assert!(claim(&queue, &["default"], 10, Duration::from_secs(30))
        .await
        .is_empty());
}

/// One claim of jobs of several kinds and attempts: each runs, is stored
/// and is published with its own kind and attempt.
pub async fn one_claim_of_mixed_jobs_gives_each_its_own_kind_and_attempt(store: &dyn Store) {
    let queue = queue_on(store).await;
    let mut r = request("noop", json!({}));
    r.max_attempts = Some(3);
    r.backoff = Some(0.0);
    r.job_id = Some("again".into());
    queue.enqueue(r).await.unwrap();
    let first = claim(&queue, &["default"], 1, Duration::from_secs(30)).await;
    let failed = state::fail(
        &first[0],
        JobError::new(ErrorKind::HandlerError, "x"),
        Timestamp::now(),
    );
    assert_eq!(queue.backend().apply(vec![failed]).await.unwrap(), [true]);
    for (id, kind) in [
        ("n1", "noop"),
        ("s1", "sleep"),
        ("n2", "noop"),
        ("n3", "noop"),
    ] {
        let mut r = request(kind, json!({}));
        r.job_id = Some(id.into());
        queue.enqueue(r).await.unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let cursor = queue.last_event_id().await.unwrap();
    let claimed = claim(&queue, &["default"], 10, Duration::from_secs(30)).await;
    // (id, kind, attempt) of each job
    let expected: Vec<(String, String, u32)> = [
        ("again", "noop", 2),
        ("n1", "noop", 1),
        ("s1", "sleep", 1),
        ("n2", "noop", 1),
        ("n3", "noop", 1),
    ]
    .iter()
    .map(|&(id, kind, attempt)| (id.to_string(), kind.to_string(), attempt))
    .collect();
    let of = |id: &JobId, kind: &Kind, attempt: u32| (id.to_string(), kind.to_string(), attempt);
    let got: Vec<_> = claimed
        .iter()
        .map(|j| of(&j.id, &j.kind, j.state.attempt))
        .collect();
    assert_eq!(got, expected);
    let mut stored = Vec::new();
    for job in &claimed {
        let job = queue.job(&job.id).await.unwrap().unwrap();
        assert_eq!(job.status(), Status::Running);
        stored.push(of(&job.id, &job.kind, job.state.attempt));
    }
    assert_eq!(stored, expected);
    let events = queue.events_after(cursor.as_deref(), 100).await.unwrap();
    assert!(events.iter().all(|e| e.status == Status::Running));
    let published: Vec<_> = events
        .iter()
        .map(|e| of(&e.job_id, &e.kind, e.attempt))
        .collect();
    assert_eq!(published, expected);
}

pub async fn claims_take_queues_strictly_in_the_given_order(store: &dyn Store) {
    let queue = queue_on(store).await;
    for (id, q, priority) in [
        ("a", "default", 1),
        ("b", "analysis", 9),
        ("c", "gcode", 5),
        ("d", "analysis", 0),
    ] {
        let mut r = request("noop", json!({}));
        r.queue = Some(q.into());
        r.priority = Some(priority);
        r.job_id = Some(id.into());
        queue.enqueue(r).await.unwrap();
    }
    let ids = |jobs: Vec<Job>| jobs.iter().map(|j| j.id.to_string()).collect::<Vec<_>>();
    let first = claim(&queue, &["default", "analysis"], 2, Duration::from_secs(30)).await;
    assert_eq!(
        ids(first),
        ["a", "b"],
        "default comes first although b outranks a; then the best of analysis"
    );
    let rest = claim(
        &queue,
        &["analysis", "default"],
        10,
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(ids(rest), ["d"], "gcode is not listened to");
}

pub async fn delayed_jobs_wait_for_their_time(store: &dyn Store) {
    let queue = queue_on(store).await;
    let mut r = request("noop", json!({}));
    r.delay = Some(0.4);
    let job = queue.enqueue(r).await.unwrap().job;
    assert_eq!(job.status(), Status::Scheduled);
    assert!(job.state.run_at > job.created_at);
    assert!(claim(&queue, &["default"], 5, Duration::from_secs(30))
        .await
        .is_empty());
    assert_eq!(queue.queue_length("default").await.unwrap(), 1);

    tokio::time::sleep(Duration::from_millis(450)).await;
    let report = queue.maintain().await.unwrap();
    assert_eq!(report.promoted, 1);
    assert_eq!(
        queue.job(&job.id).await.unwrap().unwrap().status(),
        Status::Queued
    );
    assert_eq!(
        claim(&queue, &["default"], 5, Duration::from_secs(30))
            .await
            .len(),
        1
    );
}

/// A delayed job that is due but not yet promoted competes with the queued
/// ones by run-at time; jobs it outranks in one claim stay claimable.
pub async fn a_due_delayed_job_is_claimed_in_its_place_before_promotion(store: &dyn Store) {
    let queue = queue_on(store).await;
    let mut r = request("noop", json!({}));
    r.delay = Some(0.1);
    r.job_id = Some("delayed".into());
    queue.enqueue(r).await.unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    for name in ["later-1", "later-2"] {
        let mut r = request("noop", json!({}));
        r.job_id = Some(name.into());
        queue.enqueue(r).await.unwrap();
    }
    let ids = |jobs: Vec<Job>| jobs.iter().map(|j| j.id.to_string()).collect::<Vec<_>>();
    let first = claim(&queue, &["default"], 1, Duration::from_secs(30)).await;
    assert_eq!(ids(first), ["delayed"], "its run-at is the earliest");
    let rest = claim(&queue, &["default"], 5, Duration::from_secs(30)).await;
    assert_eq!(ids(rest), ["later-1", "later-2"]);
    assert!(claim(&queue, &["default"], 5, Duration::from_secs(30))
        .await
        .is_empty());
}

pub async fn failures_are_retried_with_a_doubling_backoff(store: &dyn Store) {
    let queue = queue_on(store).await;
    let mut r = request("fail", json!({"succeed_on_attempt": 3}));
    r.max_attempts = Some(3);
    r.backoff = Some(0.2);
    let id = queue.enqueue(r).await.unwrap().job.id;

    let first = claim(&queue, &["default"], 1, Duration::from_secs(30))
        .await
        .remove(0);
    let failed_at = Timestamp::now();
    let t = state::fail(
        &first,
        wjp_queue::JobError::new(ErrorKind::HandlerError, "boom"),
        failed_at,
    );
    assert!(queue.backend().apply(vec![t]).await.unwrap()[0]);
    let waiting = queue.job(&id).await.unwrap().unwrap();
    assert_eq!(waiting.status(), Status::Scheduled);
    assert_eq!(waiting.state.run_at, failed_at.plus_millis(200));
    assert_eq!(waiting.state.error.as_ref().unwrap().message, "boom");

    // The worker does the rest: attempt 2 fails, attempt 3 succeeds.
    let worker = start_worker(
        &queue,
        builtin_handlers(),
        fast_config("w-retry", &["default"]),
    );
    let done = wait_for_job(&queue, &id, Duration::from_secs(30), |j| {
        j.status().is_terminal()
    })
    .await;
    worker.stop().await;
    assert_eq!(done.status(), Status::Completed, "{done:#?}");
    assert_eq!(done.state.attempt, 3);
    assert_eq!(done.state.result, Some(json!({"succeeded_on_attempt": 3})));
}

pub async fn completed_results_expire_after_their_ttl(store: &dyn Store) {
    let queue = queue_on(store).await;
    let mut r = request("noop", json!(7));
    r.result_ttl = Some(0.3);
    let id = queue.enqueue(r).await.unwrap().job.id;
    let job = claim(&queue, &["default"], 1, Duration::from_secs(30))
        .await
        .remove(0);
    queue
        .backend()
        .apply(vec![state::complete(&job, json!(7), Timestamp::now())])
        .await
        .unwrap();
    assert!(queue.job(&id).await.unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert!(
        queue.job(&id).await.unwrap().is_none(),
        "expired results are gone"
    );
    // Gone from the listings too, before any maintenance pass.
    let completed = JobQuery {
        status: Some(Status::Completed),
        limit: 10,
        ..JobQuery::default()
    };
    assert!(queue.list(completed).await.unwrap().jobs.is_empty());
    let report = queue.maintain().await.unwrap();
    assert_eq!(report.expired_deleted, 1);
    assert_eq!(queue.counts().await.unwrap()[0].completed, 0);
}

pub async fn an_old_expiry_never_removes_a_later_job_under_the_same_id(store: &dyn Store) {
    let queue = queue_on(store).await;
    let lease = Duration::from_secs(30);
    // Fails with a short TTL, is retried, and completes with a long one
    // before the first expiry comes.
    let mut r = request("noop", json!(1));
    r.job_id = Some("retried".into());
    r.failure_ttl = Some(0.3);
    let retried = queue.enqueue(r).await.unwrap().job.id;
    let job = claim(&queue, &["default"], 1, lease).await.remove(0);
    let error = JobError::new(ErrorKind::HandlerError, "first run");
    let failed = state::fail(&job, error, Timestamp::now());
    assert_eq!(queue.backend().apply(vec![failed]).await.unwrap(), [true]);
    queue.retry(&retried).await.unwrap();
    let job = claim(&queue, &["default"], 1, lease).await.remove(0);
    let done = state::complete(&job, json!("second run"), Timestamp::now());
    assert_eq!(queue.backend().apply(vec![done]).await.unwrap(), [true]);
    // Completes with a short TTL, expires, and its id is enqueued afresh.
    let mut r = request("noop", json!(2));
    r.job_id = Some("reused".into());
    r.result_ttl = Some(0.3);
    let reused = queue.enqueue(r.clone()).await.unwrap().job.id;
    let job = claim(&queue, &["default"], 1, lease).await.remove(0);
    let done = state::complete(&job, json!("first"), Timestamp::now());
    assert_eq!(queue.backend().apply(vec![done]).await.unwrap(), [true]);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(queue.enqueue(r).await.unwrap().created);

    // Neither is an expired job now: one ended again, one is new.
    let report = queue.maintain().await.unwrap();
    assert_eq!(report.expired_deleted, 0, "{report:?}");
    let kept = queue.job(&retried).await.unwrap().unwrap();
    assert_eq!(kept.status(), Status::Completed);
    assert_eq!(kept.state.result, Some(json!("second run")));
    assert_eq!(
        queue.job(&reused).await.unwrap().unwrap().status(),
        Status::Queued
    );
    let counts = &queue.counts().await.unwrap()[0];
    assert_eq!((counts.queued, counts.completed, counts.failed), (1, 1, 0));
}

/// Jobs that end together expire together, except one that ended again
/// since with a longer TTL.
pub async fn jobs_ended_in_one_batch_expire_together(store: &dyn Store) {
    let queue = queue_on(store).await;
    let lease = Duration::from_secs(30);
    for _ in 0..3 {
        let mut r = request("noop", json!({}));
        r.failure_ttl = Some(0.3);
        queue.enqueue(r).await.unwrap();
    }
    let running = claim(&queue, &["default"], 3, lease).await;
    assert_eq!(running.len(), 3);
    let at = Timestamp::now();
    let failed = running
        .iter()
        .map(|job| state::fail(job, JobError::new(ErrorKind::HandlerError, "x"), at))
        .collect();
    assert_eq!(
        queue.backend().apply(failed).await.unwrap(),
        [true, true, true]
    );
    // The first runs again and completes, kept for an hour.
    queue.retry(&running[0].id).await.unwrap();
    let again = claim(&queue, &["default"], 1, lease).await.remove(0);
    assert_eq!(again.id, running[0].id);
    let done = state::complete(&again, json!("again"), Timestamp::now());
    assert_eq!(queue.backend().apply(vec![done]).await.unwrap(), [true]);
    tokio::time::sleep(Duration::from_millis(400)).await;

    let report = queue.maintain().await.unwrap();
    assert_eq!(report.expired_deleted, 2, "{report:?}");
    for job in &running[1..] {
        assert!(queue.job(&job.id).await.unwrap().is_none());
    }
    let kept = queue.job(&running[0].id).await.unwrap().unwrap();
    assert_eq!(kept.state.result, Some(json!("again")));
    let counts = &queue.counts().await.unwrap()[0];
    assert_eq!((counts.completed, counts.failed), (1, 0));
    // Nothing is counted twice.
    assert_eq!(queue.maintain().await.unwrap().expired_deleted, 0);
}

pub async fn failed_jobs_stay_in_the_failed_registry_until_their_ttl(store: &dyn Store) {
    let queue = queue_on(store).await;
    let mut keep = request("fail", json!({"message": "kept"}));
    keep.failure_ttl = Some(3600.0);
    let mut short = request("fail", json!({"message": "short"}));
    short.failure_ttl = Some(0.5);
    let kept = queue.enqueue(keep).await.unwrap().job.id;
    let gone = queue.enqueue(short).await.unwrap().job.id;
    let worker = start_worker(
        &queue,
        builtin_handlers(),
        fast_config("w-fail", &["default"]),
    );
    for id in [&kept, &gone] {
        wait_for_job(&queue, id, Duration::from_secs(30), |j| {
            j.status() == Status::Failed
        })
        .await;
    }
    worker.stop().await;
    let failed = queue.failed_jobs(Some("default"), 10).await.unwrap();
    assert_eq!(failed.len(), 2);
    let job = queue.job(&kept).await.unwrap().unwrap();
    let error = job.state.error.unwrap();
    assert_eq!(
        (error.kind, error.message.as_str()),
        (ErrorKind::HandlerError, "kept")
    );

    tokio::time::sleep(Duration::from_millis(600)).await;
    queue.maintain().await.unwrap();
    let failed: Vec<_> = queue
        .failed_jobs(None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(failed, vec![kept]);
}

pub async fn a_client_given_id_is_idempotent(store: &dyn Store) {
    let queue = queue_on(store).await;
    let mut r = request("noop", json!({"n": 1}));
    r.job_id = Some("quote-42".into());
    let first = queue.enqueue(r.clone()).await.unwrap();
    assert!(first.created);
    let mut again = r.clone();
    again.payload = json!({"n": 2});
    let second = queue.enqueue(again.clone()).await.unwrap();
    assert!(!second.created);
    assert_eq!(
        second.job.payload,
        json!({"n": 1}),
        "the existing job is returned"
    );
    assert_eq!(queue.counts().await.unwrap()[0].queued, 1);

    // Still the same job once it runs and once it completes.
    let job = claim(&queue, &["default"], 1, Duration::from_secs(30))
        .await
        .remove(0);
    assert!(!queue.enqueue(again.clone()).await.unwrap().created);
    queue
        .backend()
        .apply(vec![state::complete(&job, json!(1), Timestamp::now())])
        .await
        .unwrap();
    let third = queue.enqueue(again.clone()).await.unwrap();
    assert!(!third.created);
    assert_eq!(third.job.status(), Status::Completed);

    // A cancelled job's id may be used afresh.
    let mut other = request("noop", json!({}));
    other.job_id = Some("quote-43".into());
    let id = queue.enqueue(other.clone()).await.unwrap().job.id;
    queue.cancel(&id).await.unwrap();
    let fresh = queue.enqueue(other).await.unwrap();
    assert!(fresh.created);
    assert_eq!(fresh.job.status(), Status::Queued);
}

pub async fn a_batch_with_a_bad_request_stores_nothing(store: &dyn Store) {
    let queue = queue_on(store).await;
    let good = request("noop", json!({}));
    let bad = request("no_such_kind", json!({}));
    let err = queue
        .enqueue_batch(vec![good.clone(), good.clone(), bad])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("job 3 of the batch"), "{err}");
    assert_eq!(err.code(), "unknown_kind");
    assert_eq!(queue.counts().await.unwrap()[0].queued, 0);
    let ok = queue.enqueue_batch(vec![good.clone(); 50]).await.unwrap();
    assert_eq!(ok.len(), 50);
    assert_eq!(queue.queue_length("default").await.unwrap(), 50);
}

pub async fn cancelling_a_queued_job_stops_it_from_running(store: &dyn Store) {
    let queue = queue_on(store).await;
    let id = enqueue_id(&queue, request("noop", json!({}))).await;
    assert_eq!(queue.cancel(&id).await.unwrap(), CancelOutcome::Cancelled);
    let job = queue.job(&id).await.unwrap().unwrap();
    assert_eq!(job.status(), Status::Cancelled);
    assert_eq!(job.state.error.unwrap().kind, ErrorKind::Cancelled);
    assert!(claim(&queue, &["default"], 1, Duration::from_secs(30))
        .await
        .is_empty());
    assert_eq!(
        queue.cancel(&id).await.unwrap(),
        CancelOutcome::AlreadyEnded(Status::Cancelled)
    );
    let missing = JobId::parse("nope").unwrap();
    assert_eq!(
        queue.cancel(&missing).await.unwrap_err().code(),
        "job_not_found"
    );
}

pub async fn cancelling_a_running_job_stops_it(store: &dyn Store) {
    let queue = queue_on(store).await;
    let id = enqueue_id(&queue, request("sleep", json!({"seconds": 60}))).await;
    let worker = start_worker(
        &queue,
        builtin_handlers(),
        fast_config("w-cancel", &["default"]),
    );
    wait_for_status(&queue, &id, Status::Running).await;
    assert_eq!(queue.cancel(&id).await.unwrap(), CancelOutcome::Requested);
    let job = wait_for_job(&queue, &id, Duration::from_secs(20), |j| {
        j.status().is_terminal()
    })
    .await;
    assert_eq!(job.status(), Status::Cancelled);
    assert_eq!(job.state.error.unwrap().kind, ErrorKind::Cancelled);
    // The worker is still healthy: the cooperative handler stopped by itself.
    let next = enqueue_id(&queue, request("noop", json!(1))).await;
    wait_for_status(&queue, &next, Status::Completed).await;
    assert_eq!(worker.stop().await, WorkerExit::Shutdown);
}

pub async fn a_handler_that_never_yields_is_timed_out(store: &dyn Store) {
    let queue = queue_on(store).await;
    let mut r = request("spin", json!({"seconds": 4}));
    r.timeout = Some(0.5);
    let id = queue.enqueue(r).await.unwrap().job.id;
    let healthy = enqueue_id(&queue, request("noop", json!(2))).await;
    let mut config = fast_config("w-spin", &["default"]);
    config.concurrency = 2;
    let worker = start_worker(&queue, builtin_handlers(), config);
    let job = wait_for_job(&queue, &id, Duration::from_secs(20), |j| {
        j.status().is_terminal()
    })
    .await;
    assert_eq!(job.status(), Status::Failed);
    let error = job.state.error.unwrap();
    assert_eq!(error.kind, ErrorKind::Timeout);
    assert!(error.message.contains("0.5 s"), "{}", error.message);
    // The thread cannot be stopped, so the worker asks to be replaced, after
    // finishing its healthy work.
    assert_eq!(worker.finish().await, WorkerExit::RestartNeeded);
    let healthy = queue.job(&healthy).await.unwrap().unwrap();
    assert_eq!(healthy.status(), Status::Completed);
}

/// A worker that cannot replace its process (`restart_when_stuck` off)
/// abandons a handler thread that will not stop: the slot goes to the next
/// job at once, while the thread is still blocked.
pub async fn an_abandoned_stuck_handler_does_not_pause_its_worker(store: &dyn Store) {
    let queue = queue_on(store).await;
    let (release, blocked) = std::sync::mpsc::channel::<()>();
    let blocked = Arc::new(Mutex::new(blocked));
    let mut handlers = builtin_handlers();
    handlers
        .add("record", move |_: &wjp_queue::JobContext| {
            // Deaf to its timeout: blocks until the test lets it go.
            let _ = blocked.lock().unwrap().recv();
            Ok(json!("released"))
        })
        .unwrap();
    let mut r = request("record", json!({}));
    r.timeout = Some(0.3);
    let stubborn = enqueue_id(&queue, r).await;
    let mut config = fast_config("w-abandon", &["analysis", "default"]);
    config.concurrency = 1;
    config.restart_when_stuck = false;
    let worker = start_worker(&queue, handlers, config);
    let job = wait_for_status(&queue, &stubborn, Status::Failed).await;
    assert_eq!(job.state.error.unwrap().kind, ErrorKind::Timeout);
    // Its one slot is free again although the handler has not returned.
    let next = enqueue_id(&queue, request("noop", json!(1))).await;
    wait_for_status(&queue, &next, Status::Completed).await;
    release.send(()).unwrap();
    assert_eq!(worker.stop().await, WorkerExit::Shutdown);
}

/// A paused queue takes jobs and lets its running jobs end, but no claim
/// takes from it; resuming it wakes a worker waiting for its jobs.
pub async fn a_paused_queue_takes_jobs_but_gives_none_until_resumed(store: &dyn Store) {
    let queue = queue_on(store).await;
    let in_queue = |q: &str, id: &str| {
        let mut r = request("noop", json!(id));
        r.queue = Some(q.into());
        r.job_id = Some(id.into());
        r
    };
    queue
        .enqueue(in_queue("analysis", "running"))
        .await
        .unwrap();
    let running = claim(&queue, &["analysis"], 1, Duration::from_secs(30)).await;
    assert_eq!(running.len(), 1);

    assert!(queue.pause("analysis").await.unwrap());
    assert!(!queue.pause("analysis").await.unwrap(), "already paused");
    assert_eq!(
        queue.pause("cutting").await.unwrap_err().code(),
        "unknown_queue"
    );
    let held = queue
        .enqueue(in_queue("analysis", "held"))
        .await
        .unwrap()
        .job;
    queue.enqueue(in_queue("default", "free")).await.unwrap();
    let claimed = claim(
        &queue,
        &["analysis", "default"],
        10,
        Duration::from_secs(30),
    )
    .await;
    let ids: Vec<String> = claimed.iter().map(|j| j.id.to_string()).collect();
    assert_eq!(ids, ["free"], "nothing from the paused queue");
    let counts = queue.counts().await.unwrap();
    let paused: Vec<&str> = counts
        .iter()
        .filter(|c| c.paused)
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(paused, ["analysis"]);
    assert!(matches!(
        queue.why_waiting(&held).await.unwrap(),
        Some(wjp_queue::WaitReason::Paused { .. })
    ));
    // A job already running ends as usual.
    let done = state::complete(&running[0], json!("done"), Timestamp::now());
    assert_eq!(queue.backend().apply(vec![done]).await.unwrap(), [true]);

    // A worker of the paused queue waits; resuming lets it take the job.
    let worker = start_worker(
        &queue,
        builtin_handlers(),
        fast_config("w-paused", &["analysis"]),
    );
    assert!(queue.resume("analysis").await.unwrap());
    assert!(!queue.resume("analysis").await.unwrap(), "already running");
    wait_for_status(&queue, &held.id, Status::Completed).await;
    assert!(queue.counts().await.unwrap().iter().all(|c| !c.paused));
    worker.stop().await;
}

/// A unique key holds while its job waits or runs, and with `unique_for`
/// until that long after the job was made; then a new job may take it.
/// Keys are per queue, and a batch is held by its own first job.
pub async fn a_unique_key_returns_the_job_that_holds_it(store: &dyn Store) {
    let queue = queue_on(store).await;
    let unique = |key: &str, unique_for: Option<f64>| {
        let mut r = request("noop", json!(key));
        r.unique_key = Some(key.into());
        r.unique_for = unique_for;
        r
    };
    let mut with_reference = unique("drawing-7", None);
    with_reference.reference = Some("order 17".into());
    let first = queue.enqueue(with_reference).await.unwrap();
    assert!(first.created);
    let stored = queue.job(&first.job.id).await.unwrap().unwrap();
    assert_eq!(
        stored.reference.as_deref(),
        Some("order 17"),
        "kept as given"
    );
    let again = queue.enqueue(unique("drawing-7", None)).await.unwrap();
    assert!(!again.created);
    assert_eq!(again.job.id, first.job.id);
    let mut elsewhere = unique("drawing-7", None);
    elsewhere.queue = Some("analysis".into());
    assert!(
        queue.enqueue(elsewhere).await.unwrap().created,
        "keys are per queue"
    );
    let batch = queue
        .enqueue_batch(vec![unique("drawing-8", None), unique("drawing-8", None)])
        .await
        .unwrap();
    assert!(batch[0].created && !batch[1].created);
    assert_eq!(batch[0].job.id, batch[1].job.id);

    // While it runs it still holds the key; once it ended, it does not.
    let running = claim(&queue, &["default"], 1, Duration::from_secs(30)).await;
    assert_eq!(running[0].id, first.job.id);
    let during = queue.enqueue(unique("drawing-7", None)).await.unwrap();
    assert_eq!((during.created, &during.job.id), (false, &first.job.id));
    let done = state::complete(&running[0], json!("done"), Timestamp::now());
    assert_eq!(queue.backend().apply(vec![done]).await.unwrap(), [true]);
    let after = queue.enqueue(unique("drawing-7", None)).await.unwrap();
    assert!(after.created, "an ended job without a window frees its key");
    assert_ne!(after.job.id, first.job.id);

    // With a window, an ended job keeps its key until the window closes.
    let windowed = queue
        .enqueue(unique("drawing-9", Some(3600.0)))
        .await
        .unwrap();
    let taken = claim(&queue, &["default"], 10, Duration::from_secs(30)).await;
    let job = taken.iter().find(|j| j.id == windowed.job.id).unwrap();
    let done = state::complete(job, json!("done"), Timestamp::now());
    assert_eq!(queue.backend().apply(vec![done]).await.unwrap(), [true]);
    let held = queue.enqueue(unique("drawing-9", None)).await.unwrap();
    assert_eq!((held.created, &held.job.id), (false, &windowed.job.id));
    assert_eq!(held.job.status(), Status::Completed);

    let mut bad = request("noop", json!(1));
    bad.unique_for = Some(10.0);
    assert_eq!(
        queue.enqueue(bad).await.unwrap_err().code(),
        "invalid_request"
    );
    // The sweep keeps the keys that still hold.
    queue.maintain().await.unwrap();
    assert!(
        !queue
            .enqueue(unique("drawing-9", None))
            .await
            .unwrap()
            .created
    );
}

/// Every failed job of a queue runs again in one call; other queues' and
/// other statuses' jobs are left alone.
pub async fn the_failed_jobs_of_a_queue_are_retried_together(store: &dyn Store) {
    let queue = queue_on(store).await;
    let mut ids = Vec::new();
    for q in ["default", "default", "default", "analysis"] {
        let mut r = request("noop", json!(q));
        r.queue = Some(q.into());
        ids.push(enqueue_id(&queue, r).await);
    }
    let running = claim(
        &queue,
        &["default", "analysis"],
        10,
        Duration::from_secs(30),
    )
    .await;
    let failed = running
        .iter()
        .map(|j| {
            state::fail(
                j,
                JobError::new(ErrorKind::HandlerError, "nozzle clogged"),
                Timestamp::now(),
            )
        })
        .collect();
    queue.backend().apply(failed).await.unwrap();
    assert_eq!(queue.retry_failed("default", 100).await.unwrap(), 3);
    for id in &ids[..3] {
        let job = queue.job(id).await.unwrap().unwrap();
        assert_eq!(
            (job.status(), job.state.error.is_none()),
            (Status::Queued, true)
        );
    }
    let other = queue.job(&ids[3]).await.unwrap().unwrap();
    assert_eq!(
        other.status(),
        Status::Failed,
        "another queue's job stays failed"
    );
    assert_eq!(queue.retry_failed("default", 100).await.unwrap(), 0);
    assert_eq!(
        queue.retry_failed("cutting", 100).await.unwrap_err().code(),
        "unknown_queue"
    );
}

pub async fn an_expired_lease_is_taken_back_and_the_old_worker_cannot_overwrite(store: &dyn Store) {
    let queue = queue_on(store).await;
    let mut r = request("noop", json!({}));
    r.max_attempts = Some(3);
    let id = queue.enqueue(r).await.unwrap().job.id;
    let stale = claim_and_lose_lease(&queue).await;
    let requeued = queue.job(&id).await.unwrap().unwrap();
    assert_eq!(requeued.status(), Status::Queued);
    assert_eq!(requeued.state.stalls, 1);
    assert_eq!(requeued.state.error.unwrap().kind, ErrorKind::LostLease);

    let owner = claim(&queue, &["default"], 1, Duration::from_secs(30))
        .await
        .remove(0);
    assert_eq!(owner.state.attempt, 1, "a stall spends no attempt");
    assert!(owner.state.error.is_none());
    // The first worker wakes up and tries to record its result: refused.
    let late = state::complete(&stale, json!("stale"), Timestamp::now());
    assert_eq!(
        queue.backend().apply(vec![late]).await.unwrap(),
        vec![false]
    );
    let renewal = queue
        .backend()
        .renew_leases(
            &[wjp_queue::backend::LeaseRef {
                id: stale.id.clone(),
                token: stale.state.lease_token.unwrap(),
            }],
            Timestamp::now().plus_millis(10_000),
        )
        .await
        .unwrap();
    assert_eq!(renewal, vec![wjp_queue::backend::LeaseState::Lost]);
    let fresh = state::complete(&owner, json!("owner"), Timestamp::now());
    assert_eq!(
        queue.backend().apply(vec![fresh]).await.unwrap(),
        vec![true]
    );
    let job = queue.job(&id).await.unwrap().unwrap();
    assert_eq!(job.state.result, Some(json!("owner")));
}

pub async fn a_job_past_its_stall_budget_fails_with_lost_lease(store: &dyn Store) {
    let queue = queue_on(store).await;
    let mut r = request("noop", json!({}));
    r.max_stalls = Some(1);
    r.max_attempts = Some(3);
    let id = enqueue_id(&queue, r).await;
    claim_and_lose_lease(&queue).await;
    let requeued = queue.job(&id).await.unwrap().unwrap();
    assert_eq!(
        (
            requeued.status(),
            requeued.state.stalls,
            requeued.state.attempt
        ),
        (Status::Queued, 1, 0)
    );
    claim(&queue, &["default"], 1, Duration::from_millis(100)).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(queue.maintain().await.unwrap().failed_lost, 1);
    let job = queue.job(&id).await.unwrap().unwrap();
    assert_eq!(job.status(), Status::Failed, "attempts left do not matter");
    assert_eq!(job.state.stalls, 2);
    assert_eq!(job.state.error.unwrap().kind, ErrorKind::LostLease);
}

pub async fn a_job_running_again_shows_no_error_of_the_last_attempt(store: &dyn Store) {
    let queue = queue_on(store).await;
    let mut r = request("noop", json!({}));
    r.max_attempts = Some(3);
    r.backoff = Some(0.0);
    let id = enqueue_id(&queue, r).await;
    let first = claim(&queue, &["default"], 1, Duration::from_secs(30)).await;
    let failed = state::fail(
        &first[0],
        JobError::new(ErrorKind::HandlerError, "first attempt broke"),
        Timestamp::now(),
    );
    assert_eq!(queue.backend().apply(vec![failed]).await.unwrap(), [true]);
    let waiting = queue.job(&id).await.unwrap().unwrap();
    assert_eq!(
        waiting.state.error.map(|e| e.kind),
        Some(ErrorKind::HandlerError),
        "while the retry waits, its cause shows"
    );
    let again = claim(&queue, &["default"], 1, Duration::from_secs(30)).await;
    assert_eq!(again.len(), 1);
    let running = queue.job(&id).await.unwrap().unwrap();
    assert_eq!(
        (running.status(), running.state.attempt),
        (Status::Running, 2)
    );
    assert!(running.state.error.is_none(), "{:?}", running.state.error);
    let listed = queue
        .list(JobQuery {
            status: Some(Status::Running),
            limit: 10,
            ..JobQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.jobs.len(), 1);
    assert!(listed.jobs[0].state.error.is_none());
}

pub async fn a_batch_of_outcomes_records_and_publishes_only_those_that_apply(store: &dyn Store) {
    let queue = queue_on(store).await;
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(enqueue_id(&queue, request("noop", json!({}))).await);
    }
    let running = claim(&queue, &["default"], 4, Duration::from_secs(30)).await;
    assert_eq!(running.len(), 4);
    // The first and third jobs end first, so their second outcomes in the
    // batch are stale (and the refused first one leads the batch).
    let early: Vec<_> = [0, 2]
        .iter()
        .map(|&i| state::complete(&running[i], json!("first"), Timestamp::now()))
        .collect();
    assert_eq!(queue.backend().apply(early).await.unwrap(), [true, true]);
    let cursor = queue.last_event_id().await.unwrap();
    let batch = running
        .iter()
        .map(|job| {
            state::fail(
                job,
                JobError::new(ErrorKind::HandlerError, "x"),
                Timestamp::now(),
            )
        })
        .collect();
    assert_eq!(
        queue.backend().apply(batch).await.unwrap(),
        [false, true, false, true]
    );
    let events = queue.events_after(cursor.as_deref(), 100).await.unwrap();
    let ended: Vec<(&JobId, Status, u32, Option<ErrorKind>)> = events
        .iter()
        .map(|e| (&e.job_id, e.status, e.attempt, e.error_kind))
        .collect();
    let failed = |i: usize| {
        (
            &running[i].id,
            Status::Failed,
            1,
            Some(ErrorKind::HandlerError),
        )
    };
    assert_eq!(ended, [failed(1), failed(3)]);
    for i in [0, 2] {
        let early = queue.job(&running[i].id).await.unwrap().unwrap();
        assert_eq!(early.status(), Status::Completed);
        assert_eq!(early.state.result, Some(json!("first")));
    }
}

/// As above, with the refused end first in the batch: its lease was lost
/// and another host runs the job now. The ends that apply are published
/// with their own fields.
pub async fn a_stale_end_leading_a_batch_is_refused_alone(store: &dyn Store) {
    let queue = queue_on(store).await;
    let mut r = request("noop", json!({}));
    r.max_attempts = Some(3);
    let lost = enqueue_id(&queue, r).await;
    let stale = claim(&queue, &["default"], 1, Duration::from_millis(200))
        .await
        .remove(0);
    for _ in 0..2 {
        enqueue_id(&queue, request("noop", json!({}))).await;
    }
    let running = claim(&queue, &["default"], 2, Duration::from_secs(30)).await;
    assert_eq!(running.len(), 2);
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(queue.maintain().await.unwrap().requeued_lost, 1);
    // Another worker host takes the lost job.
    let other_host = queue_on(store).await;
    let owner = claim(&other_host, &["default"], 1, Duration::from_secs(30))
        .await
        .remove(0);
    assert_eq!(
        (&owner.id, owner.state.attempt, owner.state.stalls),
        (&lost, 1, 1)
    );
    let cursor = queue.last_event_id().await.unwrap();
    let batch = [&stale, &running[0], &running[1]]
        .iter()
        .map(|job| state::complete(job, json!("done"), Timestamp::now()))
        .collect();
    assert_eq!(
        queue.backend().apply(batch).await.unwrap(),
        [false, true, true]
    );
    let events = queue.events_after(cursor.as_deref(), 100).await.unwrap();
    let ended: Vec<(&JobId, Status, u32, Option<f64>)> = events
        .iter()
        .map(|e| (&e.job_id, e.status, e.attempt, e.progress))
        .collect();
    let completed = |i: usize| (&running[i].id, Status::Completed, 1, Some(1.0));
    assert_eq!(ended, [completed(0), completed(1)]);
    let owned = queue.job(&lost).await.unwrap().unwrap();
    assert_eq!(owned.status(), Status::Running);
    assert_eq!(owned.state.lease_token, owner.state.lease_token);
}

/// How many times each job ran, by id.
pub type Runs = Arc<Mutex<HashMap<String, usize>>>;

/// Handlers whose `record` kind counts each run of a job in `runs`, each
/// run taking `time`, and returns the job's id.
pub fn recording_handlers(runs: &Runs, time: Duration) -> Handlers {
    let runs = runs.clone();
    let mut handlers = Handlers::new();
    handlers
        .add("record", move |ctx: &wjp_queue::JobContext| {
            if !time.is_zero() {
                std::thread::sleep(time);
            }
            *runs
                .lock()
                .unwrap()
                .entry(ctx.job().id.to_string())
                .or_default() += 1;
            Ok(json!(ctx.job().id.to_string()))
        })
        .unwrap();
    handlers
}

pub async fn two_workers_racing_complete_every_job_exactly_once(store: &dyn Store) {
    const JOBS: usize = 1000;
    let runs: Runs = Arc::default();
    let make_handlers = || recording_handlers(&runs, Duration::ZERO);
    let producer = queue_on(store).await;
    let requests: Vec<_> = (0..JOBS).map(|i| request("record", json!(i))).collect();
    let ids = enqueue_ids(&producer, requests).await;
    // Two handles on the store, as two processes would have.
    let a = queue_on(store).await;
    let b = queue_on(store).await;
    let mut ca = fast_config("racer-a", &["analysis"]);
    ca.burst = true;
    let mut cb = fast_config("racer-b", &["analysis"]);
    cb.burst = true;
    let wa = start_worker(&a, make_handlers(), ca);
    let wb = start_worker(&b, make_handlers(), cb);
    assert_eq!(wa.finish().await, WorkerExit::Drained);
    assert_eq!(wb.finish().await, WorkerExit::Drained);

    {
        let runs = runs.lock().unwrap();
        assert_eq!(runs.len(), JOBS);
        assert!(runs.values().all(|n| *n == 1), "some job ran twice");
    }
    for id in &ids {
        let job = producer.job(id).await.unwrap().unwrap();
        assert_eq!(job.status(), Status::Completed);
        assert_eq!(job.state.result, Some(json!(id.to_string())));
    }
    let counts = &producer.counts().await.unwrap()[1];
    assert_eq!(
        (counts.name.as_str(), counts.completed),
        ("analysis", JOBS as u64)
    );
}

pub async fn jobs_survive_a_restart_of_everything(store: &dyn Store) {
    let ids: Vec<JobId> = {
        let queue = queue_on(store).await;
        let requests: Vec<_> = (0..100).map(|i| request("noop", json!(i))).collect();
        enqueue_ids(&queue, requests).await
    };
    // Everything from before is dropped; a new handle finds the jobs.
    let queue = queue_on(store).await;
    assert_eq!(queue.queue_length("default").await.unwrap(), 100);
    let mut config = fast_config("w-restart", &["default"]);
    config.burst = true;
    start_worker(&queue, builtin_handlers(), config)
        .finish()
        .await;
    for (i, id) in ids.iter().enumerate() {
        let job = queue.job(id).await.unwrap().unwrap();
        assert_eq!(job.state.result, Some(json!(i)));
    }
}

pub async fn shutdown_hands_running_jobs_back(store: &dyn Store) {
    let queue = queue_on(store).await;
    let id = enqueue_id(&queue, request("spin", json!({"seconds": 3}))).await;
    let mut config = fast_config("w-shutdown", &["default"]);
    config.shutdown_grace = Duration::from_millis(200);
    let worker = start_worker(&queue, builtin_handlers(), config);
    wait_for_status(&queue, &id, Status::Running).await;
    assert_eq!(worker.stop().await, WorkerExit::Shutdown);
    let job = queue.job(&id).await.unwrap().unwrap();
    assert_eq!(job.status(), Status::Queued, "{job:#?}");
    assert_eq!(job.state.attempt, 0, "a handed-back attempt does not count");
    assert!(
        queue.workers().await.unwrap().is_empty(),
        "the worker deregistered"
    );
}

/// Short jobs are claimed before a slot is free for them (see the worker's
/// `Pace`); the ones not started when the worker stops go back unharmed.
pub async fn a_worker_of_short_jobs_hands_back_the_jobs_it_claimed_ahead(store: &dyn Store) {
    let queue = queue_on(store).await;
    let total: u64 = 3000;
    let requests = (0..total).map(|i| request("noop", json!(i))).collect();
    queue.enqueue_batch(requests).await.unwrap();
    let worker = start_worker(
        &queue,
        builtin_handlers(),
        fast_config("w-ahead", &["default"]),
    );
    let counts = loop {
        let counts = queue.counts().await.unwrap()[0].clone();
        if counts.completed >= 200 {
            break counts;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    assert!(
        counts.queued > 0,
        "the worker stops before the queue is empty"
    );
    assert_eq!(worker.stop().await, WorkerExit::Shutdown);
    let counts = queue.counts().await.unwrap()[0].clone();
    assert_eq!(counts.running, 0, "{counts:?}");
    assert_eq!(counts.completed + counts.queued, total, "{counts:?}");
    assert_eq!(counts.failed + counts.cancelled, 0, "{counts:?}");
}

/// A job claimed ahead would wait for a slot while other workers idle: a
/// worker whose jobs take a while claims a job only when a slot is free, so
/// each job is claimed (its `started_at`) after the one before it ended.
/// (Counting `running` would not tell: a claim may reach the store just
/// before the completion that freed its slot.)
pub async fn a_worker_of_long_jobs_claims_only_what_it_can_start(store: &dyn Store) {
    let queue = queue_on(store).await;
    let requests = (0..4)
        .map(|_| request("sleep", json!({"seconds": 0.1})))
        .collect();
    let ids = enqueue_ids(&queue, requests).await;
    let mut config = fast_config("w-long", &["default"]);
    config.concurrency = 1;
    config.burst = true;
    let worker = start_worker(&queue, builtin_handlers(), config);
    assert_eq!(worker.finish().await, WorkerExit::Drained);
    let mut jobs = Vec::new();
    for id in &ids {
        let job = queue.job(id).await.unwrap().unwrap();
        assert_eq!(job.status(), Status::Completed, "{job:?}");
        jobs.push(job);
    }
    jobs.sort_by_key(|j| j.state.started_at);
    for pair in jobs.windows(2) {
        assert!(
            pair[1].state.started_at >= pair[0].state.completed_at,
            "claimed at {:?}, before the job before it ended at {:?}",
            pair[1].state.started_at,
            pair[0].state.completed_at
        );
    }
}

/// A wait for jobs that follows a claim which found none returns at once
/// for a job enqueued after that claim started, wherever the claim ran
/// (here in another task, as a worker's claims run). The first wait starts
/// the backend's watch on the queue; the pause lets it see the job's
/// wake-up before the wait looks, the case a wait could miss. (The minute
/// is a bound on a hang; the wait asked for is ten.)
pub async fn a_wait_after_an_empty_claim_sees_a_job_enqueued_since(store: &dyn Store) {
    let queue = queue_on(store).await;
    let queues = [q("default")];
    let backend = queue.backend();
    let short = Duration::from_millis(100);
    backend
        .wait_for_jobs(&queues, Instant::now(), short)
        .await
        .unwrap();
    let claimed_at = Instant::now();
    let claimer = queue.clone();
    let found =
        tokio::spawn(
            async move { claim(&claimer, &["default"], 10, Duration::from_secs(30)).await },
        );
    assert!(found.await.unwrap().is_empty());
    enqueue_id(&queue, request("noop", json!({}))).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let wait = backend.wait_for_jobs(&queues, claimed_at, Duration::from_secs(600));
    tokio::time::timeout(Duration::from_secs(60), wait)
        .await
        .expect("the wait missed a job enqueued after the claim")
        .unwrap();
}

/// A job enqueued while a worker's claim finds the queue empty must not
/// wait out the worker's idle wait. Jobs come one at a time, each as soon as
/// the one before is seen completed, so some arrive just as the worker,
/// having found nothing, goes to wait. (The minute is a bound on a hang;
/// the idle wait is ten.)
pub async fn jobs_enqueued_one_after_another_never_wait_out_the_idle_wait(store: &dyn Store) {
    let queue = queue_on(store).await;
    let mut config = fast_config("w-one-by-one", &["default"]);
    config.idle_wait = Duration::from_secs(600);
    let worker = start_worker(&queue, builtin_handlers(), config);
    let mut cursor = queue.last_event_id().await.unwrap();
    for i in 0..1500 {
        let id = enqueue_id(&queue, request("noop", json!(i))).await;
        loop {
            let events = queue
                .next_events(cursor.as_deref(), 1000, Duration::from_secs(60))
                .await
                .unwrap();
            assert!(!events.is_empty(), "job {i} was not done within a minute");
            cursor = events.last().map(|e| e.id.clone());
            if events
                .iter()
                .any(|e| e.job_id == id && e.status == Status::Completed)
            {
                break;
            }
        }
    }
    worker.stop().await;
}

pub async fn panics_and_missing_handlers_fail_the_job_and_the_worker_carries_on(store: &dyn Store) {
    let queue = queue_on(store).await;
    let panicking = enqueue_id(
        &queue,
        request("fail", json!({"panic": true, "message": "bad arc"})),
    )
    .await;
    let mut r = request("record", json!({}));
    r.queue = Some("default".into());
    let unhandled = queue.enqueue(r).await.unwrap().job.id;
    let fine = enqueue_id(&queue, request("noop", json!("ok"))).await;
    // A handler that runs inline, on the worker's own runtime, is caught
    // the same way.
    let inline = enqueue_id(&queue, request("spin", json!({}))).await;
    let mut handlers = builtin_handlers();
    handlers
        .add_inline(
            "spin",
            |_: &wjp_queue::JobContext| -> Result<Value, wjp_queue::HandlerError> {
                panic!("inline arc")
            },
        )
        .unwrap();
    let mut config = fast_config("w-panic", &["default"]);
    config.burst = true;
    assert_eq!(
        start_worker(&queue, handlers, config).finish().await,
        WorkerExit::Drained
    );
    let error = queue
        .job(&inline)
        .await
        .unwrap()
        .unwrap()
        .state
        .error
        .unwrap();
    assert_eq!(error.kind, ErrorKind::Panic);
    assert!(error.message.contains("inline arc"), "{}", error.message);
    let job = queue.job(&panicking).await.unwrap().unwrap();
    let error = job.state.error.unwrap();
    assert_eq!(error.kind, ErrorKind::Panic);
    assert!(error.message.contains("bad arc"), "{}", error.message);
    let job = queue.job(&unhandled).await.unwrap().unwrap();
    assert_eq!(job.state.error.unwrap().kind, ErrorKind::NoHandler);
    let job = queue.job(&fine).await.unwrap().unwrap();
    assert_eq!(job.state.result, Some(json!("ok")));
}

pub async fn progress_is_recorded_and_published(store: &dyn Store) {
    let queue = queue_on(store).await;
    let cursor = queue.last_event_id().await.unwrap();
    let id = enqueue_id(&queue, request("sleep", json!({"seconds": 1.5}))).await;
    let worker = start_worker(
        &queue,
        builtin_handlers(),
        fast_config("w-progress", &["default"]),
    );
    let midway = wait_for_job(&queue, &id, Duration::from_secs(20), |j| {
        j.state.progress.is_some_and(|p| p > 0.0 && p < 1.0)
    })
    .await;
    let message = midway.state.progress_message.clone().unwrap_or_default();
    assert!(message.contains("of 10 steps"), "{message}");
    // The figures beside the message agree with it.
    let detail = midway
        .state
        .progress_detail
        .clone()
        .expect("a progress detail");
    assert_eq!(detail["steps"], 10, "{detail}");
    let step = detail["step"].as_u64().expect("a step");
    assert!(
        message.starts_with(&format!("slept {step} of")),
        "{message} / {detail}"
    );
    // A run's figures go with the run: the result tells the rest.
    let done = wait_for_status(&queue, &id, Status::Completed).await;
    assert_eq!(done.state.progress_detail, None);
    worker.stop().await;
    let events = queue.events_after(cursor.as_deref(), 1000).await.unwrap();
    let running: Vec<&wjp_queue::Event> = events
        .iter()
        .filter(|e| e.job_id == id && e.status == Status::Running)
        .filter(|e| e.progress.is_some_and(|p| p > 0.0))
        .collect();
    let progress: Vec<f64> = running.iter().filter_map(|e| e.progress).collect();
    assert!(progress.len() >= 3, "progress events: {progress:?}");
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "{progress:?}");
    for e in &running {
        let step = e.detail.as_ref().and_then(|d| d["step"].as_f64());
        assert_eq!(step.map(|s| s / 10.0), e.progress, "{e:?}");
    }
    assert_eq!(
        events.last().filter(|e| e.job_id == id).map(|e| e.status),
        Some(Status::Completed)
    );
}

pub async fn retrying_a_failed_job_runs_it_again(store: &dyn Store) {
    let queue = queue_on(store).await;
    let id = enqueue_id(&queue, request("fail", json!({"succeed_on_attempt": 2}))).await;
    let mut config = fast_config("w-manual-retry", &["default"]);
    config.burst = true;
    start_worker(&queue, builtin_handlers(), config.clone())
        .finish()
        .await;
    assert_eq!(
        queue.job(&id).await.unwrap().unwrap().status(),
        Status::Failed
    );
    let err = queue
        .retry(&JobId::parse("missing").unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "job_not_found");
    let again = queue.retry(&id).await.unwrap();
    assert_eq!(again.status(), Status::Queued);
    assert_eq!(again.state.attempt, 0);
    start_worker(&queue, builtin_handlers(), config)
        .finish()
        .await;
    let job = queue.job(&id).await.unwrap().unwrap();
    // Attempts restart from zero, so the retried run is attempt 1 and fails
    // again: the handler succeeds only from attempt 2.
    assert_eq!(job.status(), Status::Failed);
    assert_eq!(job.state.attempt, 1);
    assert_eq!(queue.retry(&id).await.unwrap().status(), Status::Queued);
    let done = enqueue_id(&queue, request("noop", json!({}))).await;
    claim(&queue, &["default"], 10, Duration::from_secs(30)).await;
    let err = queue.retry(&done).await.unwrap_err();
    assert_eq!(err.code(), "invalid_transition");
}

pub async fn counts_listing_and_purge(store: &dyn Store) {
    let queue = queue_on(store).await;
    for i in 0..25 {
        let mut r = request("noop", json!(i));
        if i % 5 == 0 {
            r.queue = Some("nesting".into());
        }
        queue.enqueue(r).await.unwrap();
    }
    let counts = queue.counts().await.unwrap();
    let names: Vec<_> = counts.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        ["default", "analysis", "conversion", "nesting", "gcode"]
    );
    assert_eq!((counts[0].queued, counts[3].queued), (20, 5));

    // Newest first, in pages.
    let seen = listed_payloads(&queue, Some(Status::Queued), 7).await;
    let expected: Vec<i64> = (0..25).rev().filter(|i| i % 5 != 0).collect();
    assert_eq!(seen, expected);

    // By kind, across queues.
    let sleeper = enqueue_id(&queue, request("sleep", json!({"seconds": 1}))).await;
    let by_kind = |kind: &str| JobQuery {
        kind: Some(Kind::parse(kind).unwrap()),
        limit: 100,
        ..JobQuery::default()
    };
    let sleeps = queue.list(by_kind("sleep")).await.unwrap().jobs;
    assert_eq!(sleeps.iter().map(|j| &j.id).collect::<Vec<_>>(), [&sleeper]);
    let noops = queue.list(by_kind("noop")).await.unwrap().jobs;
    assert_eq!(noops.len(), 25);
    assert!(noops.iter().all(|j| j.kind.as_str() == "noop"));
    assert!(queue.list(by_kind("fail")).await.unwrap().jobs.is_empty());

    assert_eq!(queue.purge("nesting", Status::Queued).await.unwrap(), 5);
    assert_eq!(queue.queue_length("nesting").await.unwrap(), 0);
    assert_eq!(
        queue
            .purge("default", Status::Running)
            .await
            .unwrap_err()
            .code(),
        "invalid_request"
    );
    assert_eq!(
        queue
            .purge("cutting", Status::Queued)
            .await
            .unwrap_err()
            .code(),
        "unknown_queue"
    );
}

/// Jobs that wait, run and ended, listed together: newest first, each once,
/// page after page (a backend may keep them in several indexes).
pub async fn a_listing_of_every_status_shows_each_job_once_newest_first(store: &dyn Store) {
    let queue = queue_on(store).await;
    // The first six end: noops complete, fails fail.
    let mut ended = Vec::new();
    for i in 0..6 {
        let kind = if i % 2 == 0 { "noop" } else { "fail" };
        ended.push(enqueue_id(&queue, request(kind, json!(i))).await);
    }
    let worker = start_worker(
        &queue,
        builtin_handlers(),
        fast_config("w-list", &["default"]),
    );
    for (i, id) in ended.iter().enumerate() {
        let status = if i % 2 == 0 {
            Status::Completed
        } else {
            Status::Failed
        };
        wait_for_status(&queue, id, status).await;
    }
    worker.stop().await;
    // Then one runs, one is cancelled, the rest wait.
    let mut later = Vec::new();
    for i in 6..12 {
        later.push(enqueue_id(&queue, request("noop", json!(i))).await);
    }
    queue.cancel(&later[2]).await.unwrap();
    let running = claim(&queue, &["default"], 1, Duration::from_secs(60)).await;
    assert_eq!(running.len(), 1);

    let listed = listed_jobs(&queue, None, 5).await;
    let seen: Vec<i64> = listed.iter().map(|j| j.payload.as_i64().unwrap()).collect();
    let statuses: Vec<Status> = listed.iter().map(Job::status).collect();
    assert_eq!(seen, (0..12).rev().collect::<Vec<i64>>());
    for status in [
        Status::Queued,
        Status::Running,
        Status::Completed,
        Status::Failed,
        Status::Cancelled,
    ] {
        assert!(statuses.contains(&status), "{status:?} in {statuses:?}");
    }
}

/// The jobs of a listing of `default` (of one status, or of every one),
/// read page after page, `limit` jobs a page.
pub async fn listed_jobs(queue: &Queue, status: Option<Status>, limit: usize) -> Vec<Job> {
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = queue
            .list(JobQuery {
                queue: Some(q("default")),
                status,
                kind: None,
                limit,
                cursor,
            })
            .await
            .unwrap();
        seen.extend(page.jobs);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return seen,
        }
    }
}

/// The payloads of [`listed_jobs`].
pub async fn listed_payloads(queue: &Queue, status: Option<Status>, limit: usize) -> Vec<i64> {
    let jobs = listed_jobs(queue, status, limit).await;
    jobs.iter().map(|j| j.payload.as_i64().unwrap()).collect()
}

/// A batch of more than a thousand jobs made at one instant, listed in
/// pages that end anywhere among them: each job once, on every page
/// size, the batch's jobs newest first as a whole. (Redis orders a listing
/// by creation time and three digits of the sequence: such a batch's jobs
/// share scores, and a cursor of the score alone lost those left on it.)
pub async fn a_listing_of_a_large_batch_pages_through_each_job_once(store: &dyn Store) {
    let queue = queue_on(store).await;
    let jobs = 2_500;
    let requests = (0..jobs).map(|i| request("noop", json!(i))).collect();
    queue.enqueue_batch(requests).await.unwrap();
    for limit in [7, 100, 1000] {
        let mut seen = listed_payloads(&queue, Some(Status::Queued), limit).await;
        assert_eq!(seen.len(), jobs as usize, "pages of {limit}: each job once");
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen, (0..jobs).collect::<Vec<i64>>(), "pages of {limit}");
    }
    let claimed = claim(&queue, &["default"], 3, Duration::from_secs(60)).await;
    assert_eq!(claimed.len(), 3);
    let mut seen = listed_payloads(&queue, None, 250).await;
    seen.sort_unstable();
    assert_eq!(
        seen,
        (0..jobs).collect::<Vec<i64>>(),
        "every status, pages of 250"
    );
}

/// Jobs queued at the default priority and at others, delayed, running
/// (claimed from either kind of queued job), completed and cancelled,
/// listed in small pages: each once, newest first, whatever index a
/// backend keeps it in and whichever index the page boundaries fall in.
pub async fn a_listing_pages_through_jobs_of_every_index(store: &dyn Store) {
    let queue = queue_on(store).await;
    let with = |i: i64, priority: i32, delay: Option<f64>| {
        let mut r = request("noop", json!(i));
        r.priority = Some(priority);
        r.delay = delay;
        r
    };
    let complete = |job: &Job| state::complete(job, json!("done"), Timestamp::now());
    enqueue_id(&queue, with(0, 0, None)).await;
    enqueue_id(&queue, with(1, 3, None)).await;
    let running = claim(&queue, &["default"], 2, Duration::from_secs(60)).await;
    let claimed: Vec<i64> = running
        .iter()
        .map(|j| j.payload.as_i64().unwrap())
        .collect();
    assert_eq!(claimed, [1, 0]);
    let done = queue.backend().apply(vec![complete(&running[0])]).await;
    assert_eq!(done.unwrap(), [true]);
    enqueue_id(&queue, with(2, 0, Some(3600.0))).await;
    let cancelled = enqueue_id(&queue, with(3, 0, None)).await;
    enqueue_id(&queue, with(4, 0, None)).await;
    queue.cancel(&cancelled).await.unwrap();
    enqueue_id(&queue, with(5, -1, None)).await;
    enqueue_id(&queue, with(6, 0, None)).await;
    let next = claim(&queue, &["default"], 1, Duration::from_secs(60)).await;
    assert_eq!(next[0].payload, json!(4));
    let done = queue.backend().apply(vec![complete(&next[0])]).await;
    assert_eq!(done.unwrap(), [true]);
    enqueue_id(&queue, with(7, 0, None)).await;
    enqueue_id(&queue, with(8, 2, None)).await;
    enqueue_id(&queue, with(9, 0, None)).await;

    for limit in [1, 2, 3] {
        assert_eq!(
            listed_payloads(&queue, None, limit).await,
            (0..10).rev().collect::<Vec<i64>>(),
            "pages of {limit}"
        );
    }
    for (status, payloads) in [
        (Status::Queued, vec![9, 8, 7, 6, 5]),
        (Status::Running, vec![0]),
        (Status::Scheduled, vec![2]),
        (Status::Completed, vec![4, 1]),
        (Status::Cancelled, vec![3]),
    ] {
        for limit in [1, 2] {
            let listed = listed_payloads(&queue, Some(status), limit).await;
            assert_eq!(listed, payloads, "{status:?} in pages of {limit}");
        }
    }
}

pub async fn unknown_kinds_queues_and_bad_values_are_refused(store: &dyn Store) {
    let queue = queue_on(store).await;
    let cases: Vec<(JobRequest, &str)> = vec![
        (request("unknown_kind", json!({})), "unknown_kind"),
        (
            JobRequest {
                queue: Some("cutting".into()),
                ..request("noop", json!({}))
            },
            "unknown_queue",
        ),
        (
            JobRequest {
                job_id: Some("../../etc/passwd".into()),
                ..request("noop", json!({}))
            },
            "invalid_job_id",
        ),
        (
            JobRequest {
                timeout: Some(f64::NAN),
                ..request("noop", json!({}))
            },
            "invalid_request",
        ),
        (
            JobRequest {
                delay: Some(-1.0),
                ..request("noop", json!({}))
            },
            "invalid_request",
        ),
        (
            JobRequest {
                max_attempts: Some(0),
                ..request("noop", json!({}))
            },
            "invalid_request",
        ),
        (
            request("noop", json!("x".repeat(state::MAX_PAYLOAD_BYTES + 1))),
            "payload_too_large",
        ),
    ];
    for (r, code) in cases {
        let err = queue.enqueue(r.clone()).await.unwrap_err();
        assert_eq!(err.code(), code, "{r:?} gave {err}");
    }
    assert_eq!(
        queue
            .counts()
            .await
            .unwrap()
            .iter()
            .map(|c| c.queued)
            .sum::<u64>(),
        0
    );
}

pub async fn events_can_be_followed_from_a_cursor(store: &dyn Store) {
    let queue = queue_on(store).await;
    let start = queue.last_event_id().await.unwrap();
    let follower = queue.clone();
    let seen = Arc::new(AtomicUsize::new(0));
    let seen_by_follower = seen.clone();
    let follow = tokio::spawn(async move {
        let mut cursor = start;
        let mut ids = Vec::new();
        while ids.len() < 5 {
            let events = follower
                .next_events(cursor.as_deref(), 100, Duration::from_secs(10))
                .await
                .unwrap();
            assert!(!events.is_empty(), "no event within 10 s");
            for e in &events {
                ids.push(e.job_id.to_string());
                seen_by_follower.fetch_add(1, Ordering::SeqCst);
            }
            cursor = events.last().map(|e| e.id.clone());
        }
        ids
    });
    let mut expected = Vec::new();
    for i in 0..5 {
        let mut r = request("noop", json!(i));
        r.job_id = Some(format!("follow-{i}"));
        expected.push(queue.enqueue(r).await.unwrap().job.id.to_string());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ids = tokio::time::timeout(Duration::from_secs(30), follow)
        .await
        .expect("follower finished")
        .unwrap();
    assert_eq!(ids, expected);
    assert_eq!(seen.load(Ordering::SeqCst), 5);
}
