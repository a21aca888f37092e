//! Schedules: one job per tick however many maintenance passes race, one
//! job for the latest missed tick after downtime (or none), and nothing
//! once removed. Ticks are driven with `maintain_at` and explicit times,
//! so no test depends on when a pass happens to run.

use std::sync::Arc;

use serde_json::json;
use tokio::sync::Barrier;
use wjp_queue::backend::JobQuery;
use wjp_queue::{JobId, Kind, Queue, ScheduleRequest, Status, Timestamp};

use super::{builtin_handlers, catalog, fast_config, start_worker, wait_for_status, Store};

fn every(name: &str, seconds: f64) -> ScheduleRequest {
    ScheduleRequest {
        name: name.into(),
        kind: "noop".into(),
        payload: json!({"from": name}),
        every: Some(seconds),
        ..ScheduleRequest::default()
    }
}

fn tick_id(name: &str, tick: Timestamp) -> JobId {
    JobId::parse(&format!("sched:{name}:{}", tick.millis())).unwrap()
}

/// The ids of every noop job, sorted.
async fn noop_jobs(queue: &Queue) -> Vec<String> {
    let page = queue
        .list(JobQuery {
            kind: Some(Kind::parse("noop").unwrap()),
            limit: 1000,
            ..JobQuery::default()
        })
        .await
        .unwrap();
    let mut ids: Vec<String> = page.jobs.iter().map(|j| j.id.to_string()).collect();
    ids.sort();
    ids
}

/// Three workers' maintenance passes (each its own connection, as in
/// three processes) all find the same ticks due at once: each tick makes
/// one job, and `next_run` moves past it once.
pub async fn racing_maintenance_passes_make_one_job_per_tick(store: &dyn Store) {
    let mut queues = Vec::new();
    for _ in 0..3 {
        queues.push(Queue::new(store.connect().await, catalog()));
    }
    let added = queues[0].add_schedule(every("race", 1.0)).await.unwrap();
    assert_eq!(added.queue, "default", "noop's own queue");
    let first = added.next_run;
    let mut made = 0;
    for k in 0..4_i64 {
        // A pass at the tick, or up to 900 ms after it.
        let now = Timestamp(first.millis() + k * 1000 + k * 300 % 1000);
        let barrier = Arc::new(Barrier::new(queues.len()));
        let passes: Vec<_> = queues
            .iter()
            .map(|q| {
                let (q, barrier) = (q.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    q.maintain_at(now).await.unwrap()
                })
            })
            .collect();
        for pass in passes {
            made += pass.await.unwrap().scheduled;
        }
    }
    assert_eq!(made, 4, "one job made per tick, by one of the passes");
    let expected: Vec<String> = (0..4)
        .map(|k| tick_id("race", Timestamp(first.millis() + k * 1000)).to_string())
        .collect();
    assert_eq!(noop_jobs(&queues[1]).await, expected);
    let job = queues[2]
        .job(&tick_id("race", first))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.payload, json!({"from": "race"}));
    let stored = queues[0].schedules().await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].next_run, Timestamp(first.millis() + 4000));
    assert_eq!(stored[0].last_job.as_deref(), Some(expected[3].as_str()));
    // The guard itself: an advance from a next_run that has moved on is
    // refused, one from the stored value applies.
    let mut moved = stored[0].clone();
    moved.next_run = Timestamp(first.millis() + 9000);
    let backend = queues[0].backend();
    assert!(!backend.advance_schedule(&moved, first).await.unwrap());
    assert!(backend
        .advance_schedule(&moved, stored[0].next_run)
        .await
        .unwrap());
    assert!(!backend
        .advance_schedule(&moved, stored[0].next_run)
        .await
        .unwrap());
    moved.next_run = stored[0].next_run;
    assert!(backend
        .advance_schedule(&moved, Timestamp(first.millis() + 9000))
        .await
        .unwrap());
    // A pass before the next tick makes nothing.
    let early = queues[1]
        .maintain_at(Timestamp(first.millis() + 3999))
        .await
        .unwrap();
    assert_eq!(early.scheduled, 0);
}

/// After downtime the latest missed tick runs once, not every tick missed;
/// with `skip_missed` it makes no job, and the next tick on time does.
pub async fn a_missed_tick_runs_once_or_is_skipped(store: &dyn Store) {
    let queue = Queue::new(store.connect().await, catalog());
    let hour = 3_600_000;
    let catch_up = queue.add_schedule(every("hourly", 3600.0)).await.unwrap();
    // Five hours and a half of downtime after each one's first tick.
    let back = |s: &wjp_queue::Schedule| Timestamp(s.next_run.millis() + 5 * hour + hour / 2);
    let report = queue.maintain_at(back(&catch_up)).await.unwrap();
    assert_eq!(report.scheduled, 1);
    let latest = Timestamp(catch_up.next_run.millis() + 5 * hour);
    assert_eq!(
        noop_jobs(&queue).await,
        [tick_id("hourly", latest).to_string()]
    );
    assert_eq!(
        queue.maintain_at(back(&catch_up)).await.unwrap().scheduled,
        0,
        "the missed ticks ran once"
    );

    // The other schedule out of the way, the counts below are this one's.
    assert!(queue.remove_schedule("hourly").await.unwrap());
    let skip = queue
        .add_schedule(ScheduleRequest {
            skip_missed: true,
            ..every("hourly_skip", 3600.0)
        })
        .await
        .unwrap();
    let report = queue.maintain_at(back(&skip)).await.unwrap();
    assert_eq!(report.scheduled, 0, "a missed tick is skipped");
    let stored = queue.schedules().await.unwrap();
    let skipped = stored.iter().find(|s| s.name == "hourly_skip").unwrap();
    assert_eq!(
        skipped.next_run,
        Timestamp(skip.next_run.millis() + 6 * hour)
    );
    assert_eq!(skipped.last_job, None);
    let on_time = Timestamp(skipped.next_run.millis() + 500);
    assert_eq!(queue.maintain_at(on_time).await.unwrap().scheduled, 1);
    assert!(queue
        .job(&tick_id("hourly_skip", skipped.next_run))
        .await
        .unwrap()
        .is_some());
}

/// Downtime as the store shows it: a schedule whose next_run is hours in
/// the past (written straight to the backend) makes one job at the next
/// real pass, for its latest missed tick.
pub async fn a_schedule_left_behind_catches_up_once(store: &dyn Store) {
    let queue = Queue::new(store.connect().await, catalog());
    let hour = 3_600_000;
    let mut behind = queue.add_schedule(every("behind", 3600.0)).await.unwrap();
    behind.next_run = Timestamp(Timestamp::now().millis() - 2 * hour - hour / 2);
    assert!(
        !queue.backend().put_schedule(&behind).await.unwrap(),
        "replaced"
    );
    let report = queue.maintain().await.unwrap();
    assert_eq!(report.scheduled, 1);
    let latest = Timestamp(behind.next_run.millis() + 2 * hour);
    assert_eq!(
        noop_jobs(&queue).await,
        [tick_id("behind", latest).to_string()]
    );
    let stored = queue.schedules().await.unwrap();
    assert_eq!(stored[0].next_run, Timestamp(latest.millis() + hour));
    assert_eq!(queue.maintain().await.unwrap().scheduled, 0);
}

/// A removed schedule makes no more jobs; removing it again says so.
pub async fn a_removed_schedule_makes_no_more_jobs(store: &dyn Store) {
    let queue = Queue::new(store.connect().await, catalog());
    let added = queue.add_schedule(every("gone", 1.0)).await.unwrap();
    assert!(queue.remove_schedule("gone").await.unwrap());
    assert!(!queue.remove_schedule("gone").await.unwrap());
    assert!(queue.schedules().await.unwrap().is_empty());
    let later = Timestamp(added.next_run.millis() + 10_000);
    assert_eq!(queue.maintain_at(later).await.unwrap().scheduled, 0);
    assert!(noop_jobs(&queue).await.is_empty());
}

/// Everything is checked when a schedule is added; adding a name again
/// replaces the schedule.
pub async fn a_schedule_is_checked_when_added(store: &dyn Store) {
    let queue = Queue::new(store.connect().await, catalog());
    let code = |r: ScheduleRequest| {
        let queue = queue.clone();
        async move { queue.add_schedule(r).await.unwrap_err().code() }
    };
    assert_eq!(
        code(ScheduleRequest {
            kind: "nope".into(),
            ..every("a", 1.0)
        })
        .await,
        "unknown_kind"
    );
    assert_eq!(
        code(ScheduleRequest {
            queue: Some("cutting".into()),
            ..every("a", 1.0)
        })
        .await,
        "unknown_queue"
    );
    assert_eq!(code(every("Bad Name", 1.0)).await, "invalid_name");
    assert_eq!(code(every("a", 0.1)).await, "invalid_request");
    assert_eq!(
        code(ScheduleRequest {
            every: None,
            cron: Some("0 0 25 * * *".into()),
            ..every("a", 1.0)
        })
        .await,
        "invalid_request"
    );
    assert!(
        queue.schedules().await.unwrap().is_empty(),
        "nothing stored"
    );

    let cron = queue
        .add_schedule(ScheduleRequest {
            every: None,
            cron: Some("0 30 6 * * MON-FRI".into()),
            timezone: Some("Europe/Berlin".into()),
            queue: Some("analysis".into()),
            ..every("morning", 1.0)
        })
        .await
        .unwrap();
    assert_eq!(cron.queue, "analysis");
    assert!(cron.next_run > Timestamp::now());
    queue.add_schedule(every("morning", 60.0)).await.unwrap();
    let stored = queue.schedules().await.unwrap();
    assert_eq!(stored.len(), 1, "replaced, not added");
    assert_eq!(stored[0].queue, "default");
}

/// A running worker's own maintenance makes a 1 s schedule's jobs, and
/// runs them. Waits are hang guards only.
pub async fn a_worker_runs_the_jobs_of_a_schedule(store: &dyn Store) {
    let queue = Queue::new(store.connect().await, catalog());
    let added = queue.add_schedule(every("tick", 1.0)).await.unwrap();
    let worker = start_worker(
        &queue,
        builtin_handlers(),
        fast_config("w-sched", &["default"]),
    );
    let first = tick_id("tick", added.next_run);
    let second = tick_id("tick", Timestamp(added.next_run.millis() + 1000));
    let done = wait_for_status(&queue, &first, Status::Completed).await;
    assert_eq!(done.payload, json!({"from": "tick"}));
    wait_for_status(&queue, &second, Status::Completed).await;
    queue.remove_schedule("tick").await.unwrap();
    worker.stop().await;
}
