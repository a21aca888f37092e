//! Fairness groups: claims take a queue's groups in turns, keep priority
//! and order within each, cap the jobs one group runs at once, and hold
//! both when claimers and submitters race.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::Barrier;
use wjp_queue::{state, Job, JobRequest, QueueLimits, Status, Timestamp, WaitReason};

use super::{claim, enqueue_ids, queue_on, request, Store};

fn grouped(n: i64, group: Option<&str>) -> JobRequest {
    let mut r = request("noop", json!({ "n": n }));
    r.queue = Some("analysis".into());
    r.group = group.map(str::to_string);
    r
}

fn group_of(job: &Job) -> &str {
    job.group.as_deref().unwrap_or("-")
}

fn capped(n: u32) -> QueueLimits {
    QueueLimits {
        per_group_max_running: Some(n),
        ..QueueLimits::default()
    }
}

/// One customer's big order cannot starve another's small one, nor the
/// jobs without a group: claims one at a time, and one batch claim, take
/// the groups in turns; within a group, the order is the queue's.
pub async fn claims_take_the_groups_of_a_queue_in_turns(store: &dyn Store) {
    let queue = queue_on(store).await;
    let mut requests: Vec<JobRequest> = (0..20).map(|i| grouped(i, Some("big"))).collect();
    requests.extend((20..22).map(|i| grouped(i, Some("small"))));
    requests.extend((22..24).map(|i| grouped(i, None)));
    enqueue_ids(&queue, requests).await;
    let counts = queue.counts().await.unwrap();
    let analysis = counts.iter().find(|c| c.name == "analysis").unwrap();
    assert_eq!(analysis.queued, 24, "grouped jobs count as queued");

    let mut order = Vec::new();
    for _ in 0..6 {
        let one = claim(&queue, &["analysis"], 1, Duration::from_secs(60)).await;
        assert_eq!(one.len(), 1);
        order.push(one[0].clone());
    }
    let groups: Vec<&str> = order.iter().map(group_of).collect();
    // Each round serves every group with jobs once.
    for round in groups.chunks(3) {
        let distinct: HashSet<&&str> = round.iter().collect();
        assert_eq!(
            distinct.len(),
            3,
            "one round takes each group once: {groups:?}"
        );
    }
    // Within a group, first enqueued first.
    let big: Vec<i64> = order
        .iter()
        .filter(|j| group_of(j) == "big")
        .map(|j| j.payload["n"].as_i64().unwrap())
        .collect();
    assert_eq!(big, [0, 1]);

    // The small order and the ungrouped jobs are done: the rest is big's,
    // taken in order by one batch claim.
    let rest = claim(&queue, &["analysis"], 100, Duration::from_secs(60)).await;
    let ns: Vec<i64> = rest
        .iter()
        .map(|j| j.payload["n"].as_i64().unwrap())
        .collect();
    assert_eq!(ns, (2..20).collect::<Vec<_>>());

    // A batch claim interleaves as single claims do.
    let mut requests: Vec<JobRequest> = (0..10).map(|i| grouped(i, Some("a"))).collect();
    requests.extend((10..20).map(|i| grouped(i, Some("b"))));
    requests.extend((20..30).map(|i| grouped(i, Some("c"))));
    enqueue_ids(&queue, requests).await;
    let batch = claim(&queue, &["analysis"], 9, Duration::from_secs(60)).await;
    let per_group = batch.iter().fold(HashMap::new(), |mut m, j| {
        *m.entry(group_of(j).to_string()).or_insert(0) += 1;
        m
    });
    assert_eq!(per_group.len(), 3, "{per_group:?}");
    assert!(per_group.values().all(|n| *n == 3), "{per_group:?}");
    let firsts: HashSet<&str> = batch[..3].iter().map(group_of).collect();
    assert_eq!(
        firsts.len(),
        3,
        "the first three of a batch are of three groups"
    );
}

/// Priority holds within a group (its highest first), and a group's turn
/// takes its best job whatever the other groups' priorities.
pub async fn priority_and_order_hold_within_each_group(store: &dyn Store) {
    let queue = queue_on(store).await;
    let mut requests = Vec::new();
    for (n, priority) in [(0, 0), (1, 5), (2, 1), (3, 5)] {
        let mut r = grouped(n, Some("a"));
        r.priority = Some(priority);
        requests.push(r);
    }
    let mut urgent = grouped(4, Some("b"));
    urgent.priority = Some(9);
    requests.push(urgent);
    requests.push(grouped(5, Some("b")));
    enqueue_ids(&queue, requests).await;
    let claimed = claim(&queue, &["analysis"], 10, Duration::from_secs(60)).await;
    let of = |g: &str| -> Vec<i64> {
        claimed
            .iter()
            .filter(|j| group_of(j) == g)
            .map(|j| j.payload["n"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(of("a"), [1, 3, 2, 0]);
    assert_eq!(of("b"), [4, 5]);
    let groups: Vec<&str> = claimed.iter().map(group_of).collect();
    assert_ne!(groups[0], groups[1], "turns alternate: {groups:?}");
    assert_ne!(groups[1], groups[2], "turns alternate: {groups:?}");
}

/// A delayed job, a retry after its backoff and a dependant whose parent
/// completed enter their group's turns once they are due; a bad group name
/// is refused; a purge of queued jobs takes the groups' too.
pub async fn jobs_becoming_ready_join_their_groups_turns(store: &dyn Store) {
    let queue = queue_on(store).await;
    let mut bad = grouped(0, Some("no spaces"));
    assert_eq!(
        queue.enqueue(bad.clone()).await.unwrap_err().code(),
        "invalid_request"
    );
    bad.group = Some("x".repeat(65));
    assert_eq!(
        queue.enqueue(bad).await.unwrap_err().code(),
        "invalid_request"
    );

    let mut later = grouped(1, Some("late"));
    later.delay = Some(0.2);
    let parent = queue.enqueue(grouped(2, Some("p"))).await.unwrap().job;
    let mut child = grouped(3, Some("kid"));
    child.after = vec![parent.id.to_string()];
    let later = queue.enqueue(later).await.unwrap().job;
    let child = queue.enqueue(child).await.unwrap().job;
    assert_eq!(later.group.as_deref(), Some("late"));
    assert_eq!(
        queue
            .job(&child.id)
            .await
            .unwrap()
            .unwrap()
            .group
            .as_deref(),
        Some("kid")
    );

    let first = claim(&queue, &["analysis"], 10, Duration::from_secs(60)).await;
    assert_eq!(first.len(), 1, "only the parent is ready");
    let done = state::complete(&first[0], json!("ok"), Timestamp::now());
    assert_eq!(queue.backend().apply(vec![done]).await.unwrap(), [true]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    queue.maintain().await.unwrap();
    let next = claim(&queue, &["analysis"], 10, Duration::from_secs(60)).await;
    let mut groups: Vec<&str> = next.iter().map(group_of).collect();
    groups.sort_unstable();
    assert_eq!(groups, ["kid", "late"]);

    // A failed attempt waits out its backoff, then comes back in turn.
    let mut retried = grouped(4, Some("late"));
    retried.backoff = Some(0.1);
    retried.max_attempts = Some(3);
    let retried = queue.enqueue(retried).await.unwrap().job;
    let taken = claim(&queue, &["analysis"], 1, Duration::from_secs(60)).await;
    assert_eq!(taken[0].id, retried.id);
    let failed = state::fail(
        &taken[0],
        wjp_queue::JobError {
            kind: wjp_queue::ErrorKind::HandlerError,
            message: "again".into(),
        },
        Timestamp::now(),
    );
    assert_eq!(queue.backend().apply(vec![failed]).await.unwrap(), [true]);
    tokio::time::sleep(Duration::from_millis(200)).await;
    queue.maintain().await.unwrap();
    let again = claim(&queue, &["analysis"], 1, Duration::from_secs(60)).await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].id, retried.id);
    assert_eq!(again[0].state.attempt, 2);

    // Purge takes the queued jobs of groups too.
    enqueue_ids(
        &queue,
        vec![
            grouped(5, Some("a")),
            grouped(6, Some("b")),
            grouped(7, None),
        ],
    )
    .await;
    assert_eq!(queue.purge("analysis", Status::Queued).await.unwrap(), 3);
    assert!(claim(&queue, &["analysis"], 10, Duration::from_secs(60))
        .await
        .is_empty());
}

/// `per_group_max_running` holds across claimers that race: a group at
/// its cap is passed over (other groups and the jobs without a group go
/// on), its waiting jobs say why, and an end lets the next one through.
pub async fn a_group_at_its_cap_waits_while_others_go_on(store: &dyn Store) {
    let queue = queue_on(store).await;
    assert_eq!(
        queue
            .set_limits("analysis", capped(0))
            .await
            .unwrap_err()
            .code(),
        "invalid_request"
    );
    queue.set_limits("analysis", capped(2)).await.unwrap();
    let mut requests: Vec<JobRequest> = (0..6).map(|i| grouped(i, Some("a"))).collect();
    requests.extend((6..9).map(|i| grouped(i, Some("b"))));
    requests.extend((9..12).map(|i| grouped(i, None)));
    let ids = enqueue_ids(&queue, requests).await;

    let taken = super::limits::race_claims(store, 6, &["analysis"], 2).await;
    let mut per_group: HashMap<&str, usize> = HashMap::new();
    for j in &taken {
        *per_group.entry(group_of(j)).or_default() += 1;
    }
    assert_eq!(per_group.get("a"), Some(&2), "{per_group:?}");
    assert_eq!(per_group.get("b"), Some(&2), "{per_group:?}");
    assert_eq!(per_group.get("-"), Some(&3), "no cap without a group");
    assert_eq!(queue.limits().await.unwrap()[1].1, capped(2));

    let waiting = queue.job(&ids[5]).await.unwrap().unwrap();
    assert_eq!(
        queue.why_waiting(&waiting).await.unwrap(),
        Some(WaitReason::GroupLimited {
            queue: "analysis".into(),
            group: "a".into(),
            per_group_max_running: 2
        })
    );

    // One end of `a` lets exactly one more of `a` through.
    let a_job = taken.iter().find(|j| group_of(j) == "a").unwrap();
    let done = state::complete(a_job, json!("ok"), Timestamp::now());
    assert_eq!(queue.backend().apply(vec![done]).await.unwrap(), [true]);
    let next = claim(&queue, &["analysis"], 10, Duration::from_secs(60)).await;
    let groups: Vec<&str> = next.iter().map(group_of).collect();
    assert_eq!(groups, ["a"]);

    // A higher cap lets one more of each group through.
    queue.set_limits("analysis", capped(3)).await.unwrap();
    let next = claim(&queue, &["analysis"], 10, Duration::from_secs(60)).await;
    let mut groups: Vec<&str> = next.iter().map(group_of).collect();
    groups.sort_unstable();
    assert_eq!(groups, ["a", "b"]);

    queue
        .set_limits("analysis", QueueLimits::default())
        .await
        .unwrap();
    let rest = claim(&queue, &["analysis"], 100, Duration::from_secs(60)).await;
    assert_eq!(rest.len(), 2, "the last two of a");
}

/// Many submitters and several claimers at once, with a cap of one per
/// group: every job is claimed exactly once, and no claim ever holds two
/// jobs of one group while one of its jobs runs.
pub async fn racing_submitters_and_claimers_keep_turns_and_caps(store: &dyn Store) {
    let queue = queue_on(store).await;
    queue.set_limits("analysis", capped(1)).await.unwrap();
    const SUBMITTERS: usize = 6;
    const EACH: usize = 15;
    let barrier = Arc::new(Barrier::new(SUBMITTERS + 3));
    let mut submitters = Vec::new();
    for s in 0..SUBMITTERS {
        let queue = queue_on(store).await;
        let barrier = barrier.clone();
        submitters.push(tokio::spawn(async move {
            barrier.wait().await;
            for i in 0..EACH {
                let group = format!("g{}", (s + i) % 4);
                let n = (s * EACH + i) as i64;
                queue.enqueue(grouped(n, Some(&group))).await.unwrap();
            }
        }));
    }
    // Claimers end each job they hold before claiming again, and note
    // what ran at once per group.
    let running: Arc<std::sync::Mutex<HashMap<String, usize>>> = Arc::default();
    let mut claimers = Vec::new();
    for _ in 0..3 {
        let queue = queue_on(store).await;
        let barrier = barrier.clone();
        let running = running.clone();
        claimers.push(tokio::spawn(async move {
            barrier.wait().await;
            let mut done = Vec::new();
            let mut idle = 0;
            while idle < 40 {
                let jobs = claim(&queue, &["analysis"], 2, Duration::from_secs(60)).await;
                if jobs.is_empty() {
                    idle += 1;
                    tokio::time::sleep(Duration::from_millis(25)).await;
                    continue;
                }
                idle = 0;
                {
                    let mut running = running.lock().unwrap();
                    for j in &jobs {
                        let n = running.entry(group_of(j).to_string()).or_default();
                        *n += 1;
                        assert!(*n <= 1, "two jobs of {} ran at once", group_of(j));
                    }
                }
                tokio::task::yield_now().await;
                {
                    let mut running = running.lock().unwrap();
                    for j in &jobs {
                        *running.entry(group_of(j).to_string()).or_default() -= 1;
                    }
                }
                let ends = jobs
                    .iter()
                    .map(|j| state::complete(j, json!("ok"), Timestamp::now()))
                    .collect();
                let applied = queue.backend().apply(ends).await.unwrap();
                assert!(applied.iter().all(|a| *a));
                done.extend(jobs.into_iter().map(|j| j.id));
            }
            done
        }));
    }
    for s in submitters {
        s.await.unwrap();
    }
    let mut all = Vec::new();
    for c in claimers {
        let done = tokio::time::timeout(Duration::from_secs(60), c)
            .await
            .expect("claimers did not finish within 60 s")
            .unwrap();
        all.extend(done);
    }
    let distinct: HashSet<_> = all.iter().collect();
    assert_eq!(all.len(), SUBMITTERS * EACH, "every job claimed");
    assert_eq!(distinct.len(), all.len(), "each job claimed once");
    let counts = queue.counts().await.unwrap();
    let analysis = counts.iter().find(|c| c.name == "analysis").unwrap();
    assert_eq!((analysis.queued, analysis.running), (0, 0));
}

/// A worker held by the per-group cap waits as for an empty queue, and the
/// end of the group's running job wakes it, long before its idle wait
/// (here longer than the test's hang guard) would.
pub async fn the_end_of_a_groups_job_wakes_workers_held_by_its_cap(store: &dyn Store) {
    let queue = queue_on(store).await;
    queue.set_limits("analysis", capped(1)).await.unwrap();
    let requests = (0..4)
        .map(|_| {
            let mut r = request("sleep", json!({ "seconds": 0.05 }));
            r.queue = Some("analysis".into());
            r.group = Some("order-17".into());
            r
        })
        .collect();
    let ids = enqueue_ids(&queue, requests).await;
    let peak = super::limits::peak_running_of_a_patient_worker(&queue, &ids).await;
    assert!(peak <= 1, "running at once: {peak}");
}
