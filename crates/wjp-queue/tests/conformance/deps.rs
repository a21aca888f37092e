//! Dependencies and flows: jobs that wait for parents in other queues,
//! the cascade of `dependency_failed`, `run_anyway`, flows stored whole,
//! and the races of parents ending while dependants are submitted.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::Barrier;
use wjp_queue::{
    state, ErrorKind, FlowNode, FlowRequest, Handlers, Job, JobError, JobId, JobRequest, Queue,
    Status, Timestamp, WaitReason,
};

use super::{builtin_handlers, claim, fast_config, queue_on, request, start_worker, Store};

fn in_queue(kind: &str, queue: &str, after: &[&JobId]) -> JobRequest {
    let mut r = request(kind, json!({"q": queue}));
    r.queue = Some(queue.into());
    r.after = after.iter().map(|id| id.to_string()).collect();
    r
}

async fn enqueue(queue: &Queue, r: JobRequest) -> Job {
    queue.enqueue(r).await.unwrap().job
}

/// Claims the one job waiting in `queue_name` (it must be `id`) and ends
/// it: completed with `result`, or failed for good.
async fn end(queue: &Queue, queue_name: &str, id: &JobId, result: Result<Value, ()>) {
    let taken = claim(queue, &[queue_name], 1, Duration::from_secs(60)).await;
    assert_eq!(taken.len(), 1, "one job to take in {queue_name}");
    assert_eq!(&taken[0].id, id);
    let now = Timestamp::now();
    let t = match result {
        Ok(value) => state::complete(&taken[0], value, now),
        Err(()) => state::fail(
            &taken[0],
            JobError::new(ErrorKind::InvalidPayload, "bad drawing"),
            now,
        ),
    };
    assert_eq!(queue.backend().apply(vec![t]).await.unwrap(), [true]);
}

/// The job once maintenance has settled what a parent's end left to do
/// (a backend may deliver ends across queues there), polled until it has
/// `status`.
async fn settled(queue: &Queue, id: &JobId, status: Status) -> Job {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        queue.maintain().await.unwrap();
        let job = queue.job(id).await.unwrap().expect("job exists");
        if job.status() == status {
            return job;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "job {id} did not become {status} within 20 s: {job:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn waiting_count(queue: &Queue) -> u64 {
    queue
        .counts()
        .await
        .unwrap()
        .iter()
        .map(|c| c.waiting)
        .sum()
}

pub async fn a_dependant_waits_until_every_parent_in_other_queues_completed(store: &dyn Store) {
    let queue = queue_on(store).await;
    let before = queue.last_event_id().await.unwrap();
    let a = enqueue(&queue, in_queue("noop", "analysis", &[])).await.id;
    let b = enqueue(&queue, in_queue("noop", "nesting", &[])).await.id;
    let child = enqueue(&queue, in_queue("noop", "gcode", &[&a, &b, &a])).await;
    assert_eq!(child.status(), Status::Waiting);
    assert_eq!(
        child.after,
        [a.clone(), b.clone()],
        "a parent named twice counts once"
    );
    assert_eq!(waiting_count(&queue).await, 1);
    assert!(claim(&queue, &["gcode"], 10, Duration::from_secs(60))
        .await
        .is_empty());
    let why = queue.why_waiting(&child).await.unwrap();
    assert_eq!(
        why,
        Some(WaitReason::Parents {
            waiting_for: vec![a.to_string(), b.to_string()]
        })
    );

    end(&queue, "analysis", &a, Ok(json!({"sheets": 2}))).await;
    queue.maintain().await.unwrap();
    let still = queue.job(&child.id).await.unwrap().unwrap();
    assert_eq!(still.status(), Status::Waiting, "b has not ended yet");
    let why = queue.why_waiting(&still).await.unwrap().unwrap();
    assert_eq!(why.describe(), format!("waiting for parent {b}"));

    end(&queue, "nesting", &b, Ok(json!(2))).await;
    let released = settled(&queue, &child.id, Status::Queued).await;
    assert!(released.state.error.is_none());
    let events = queue.events_after(before.as_deref(), 1000).await.unwrap();
    let of_child: Vec<Status> = events
        .iter()
        .filter(|e| e.job_id == child.id)
        .map(|e| e.status)
        .collect();
    assert_eq!(of_child, [Status::Waiting, Status::Queued], "{events:#?}");
    assert_eq!(waiting_count(&queue).await, 0);
    let taken = claim(&queue, &["gcode"], 10, Duration::from_secs(60)).await;
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].id, child.id);
}

pub async fn a_failed_parent_cancels_its_dependants_down_the_graph(store: &dyn Store) {
    let queue = queue_on(store).await;
    let parent = enqueue(&queue, in_queue("noop", "analysis", &[])).await.id;
    let child = enqueue(&queue, in_queue("noop", "nesting", &[&parent]))
        .await
        .id;
    let grandchild = enqueue(&queue, in_queue("noop", "gcode", &[&child]))
        .await
        .id;
    let mut anyway = in_queue("noop", "default", &[&parent]);
    anyway.run_anyway = true;
    let anyway = enqueue(&queue, anyway).await.id;
    let mut late_anyway = in_queue("noop", "default", &[&child]);
    late_anyway.run_anyway = true;
    let late_anyway = enqueue(&queue, late_anyway).await.id;

    end(&queue, "analysis", &parent, Err(())).await;
    let child = settled(&queue, &child, Status::Cancelled).await;
    let error = child.state.error.unwrap();
    assert_eq!(error.kind, ErrorKind::DependencyFailed);
    assert!(error.message.contains(parent.as_str()), "{}", error.message);
    let grandchild = settled(&queue, &grandchild, Status::Cancelled).await;
    assert_eq!(
        grandchild.state.error.unwrap().kind,
        ErrorKind::DependencyFailed
    );
    settled(&queue, &anyway, Status::Queued).await;
    // Its parent never ran but ended (cancelled): it runs anyway.
    settled(&queue, &late_anyway, Status::Queued).await;
    assert_eq!(waiting_count(&queue).await, 0);
}

pub async fn parents_that_ended_before_the_dependant_count_as_they_ended(store: &dyn Store) {
    let queue = queue_on(store).await;
    let done = enqueue(&queue, in_queue("noop", "analysis", &[])).await.id;
    end(&queue, "analysis", &done, Ok(json!(1))).await;
    let failed = enqueue(&queue, in_queue("noop", "analysis", &[])).await.id;
    end(&queue, "analysis", &failed, Err(())).await;

    let after_done = enqueue(&queue, in_queue("noop", "nesting", &[&done])).await;
    assert_eq!(after_done.status(), Status::Queued);
    let after_failed = enqueue(&queue, in_queue("noop", "nesting", &[&done, &failed])).await;
    assert_eq!(after_failed.status(), Status::Cancelled);
    assert_eq!(
        after_failed.state.error.as_ref().unwrap().kind,
        ErrorKind::DependencyFailed
    );
    let stored = queue.job(&after_failed.id).await.unwrap().unwrap();
    assert_eq!(
        stored.status(),
        Status::Cancelled,
        "stored as it was returned"
    );
    let mut anyway = in_queue("noop", "nesting", &[&failed]);
    anyway.run_anyway = true;
    assert_eq!(enqueue(&queue, anyway).await.status(), Status::Queued);

    let ghost = JobId::parse("no-such-job").unwrap();
    let e = queue
        .enqueue(in_queue("noop", "nesting", &[&ghost]))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "unknown_parent");
    assert!(e.to_string().contains("no-such-job"), "{e}");
    let mut own = in_queue("noop", "nesting", &[&ghost]);
    own.job_id = Some("no-such-job".into());
    assert_eq!(
        queue.enqueue(own).await.unwrap_err().code(),
        "invalid_request"
    );
    let mut many = in_queue("noop", "nesting", &[]);
    many.after = (0..101).map(|i| format!("p{i}")).collect();
    let e = queue.enqueue(many).await.unwrap_err();
    assert!(e.to_string().contains("at most 100"), "{e}");
    let mut lonely = in_queue("noop", "nesting", &[]);
    lonely.run_anyway = true;
    assert_eq!(
        queue.enqueue(lonely).await.unwrap_err().code(),
        "invalid_request"
    );
}

pub async fn a_cancelled_or_purged_job_leaves_no_dependency_behind(store: &dyn Store) {
    let queue = queue_on(store).await;
    let parent = enqueue(&queue, in_queue("noop", "analysis", &[])).await.id;
    let child = enqueue(&queue, in_queue("noop", "nesting", &[&parent]))
        .await
        .id;
    assert_eq!(
        queue.cancel(&child).await.unwrap(),
        wjp_queue::CancelOutcome::Cancelled
    );
    assert_eq!(waiting_count(&queue).await, 0);
    end(&queue, "analysis", &parent, Ok(json!(1))).await;
    queue.maintain().await.unwrap();
    let child = queue.job(&child).await.unwrap().unwrap();
    assert_eq!(child.status(), Status::Cancelled, "a cancel is final");
    assert_eq!(child.state.error.unwrap().kind, ErrorKind::Cancelled);

    // A waiting parent purged: its dependants cannot wait for it.
    let parent = enqueue(&queue, in_queue("noop", "analysis", &[])).await.id;
    let child = enqueue(&queue, in_queue("noop", "nesting", &[&parent]))
        .await
        .id;
    assert_eq!(
        queue
            .purge("nesting", Status::Waiting)
            .await
            .unwrap_err()
            .code(),
        "invalid_request"
    );
    assert_eq!(queue.purge("analysis", Status::Queued).await.unwrap(), 1);
    let child = settled(&queue, &child, Status::Cancelled).await;
    assert_eq!(child.state.error.unwrap().kind, ErrorKind::DependencyFailed);
    assert_eq!(waiting_count(&queue).await, 0);
}

fn node(name: &str, kind: &str, queue: &str, after: &[&str]) -> FlowNode {
    let mut job = request(kind, json!({"node": name}));
    job.queue = Some(queue.into());
    job.after = after.iter().map(|s| s.to_string()).collect();
    FlowNode {
        name: name.into(),
        job,
    }
}

/// A flow of three steps across queues runs in order, and each step's
/// handler reads its parents' results.
pub async fn a_flow_runs_in_order_and_children_read_their_parents_results(store: &dyn Store) {
    let queue = queue_on(store).await;
    let flow = FlowRequest {
        jobs: vec![
            node("gcode-1", "record", "analysis", &["nest"]),
            node("nest", "noop", "nesting", &["part-a", "part-b"]),
            node("part-a", "noop", "conversion", &[]),
            node("part-b", "noop", "conversion", &[]),
        ],
    };
    let jobs = queue.submit_flow(flow).await.unwrap();
    let names: Vec<&str> = jobs.iter().map(|j| j.name.as_str()).collect();
    assert_eq!(
        names,
        ["gcode-1", "nest", "part-a", "part-b"],
        "request order"
    );
    let statuses: Vec<Status> = jobs.iter().map(|j| j.job.status()).collect();
    assert_eq!(
        statuses,
        [
            Status::Waiting,
            Status::Waiting,
            Status::Queued,
            Status::Queued
        ]
    );
    assert!(jobs.iter().all(|j| j.created));
    let nest_id = jobs[1].job.id.clone();
    assert_eq!(jobs[0].job.after, std::slice::from_ref(&nest_id));

    let mut handlers: Handlers = builtin_handlers();
    handlers
        .add("record", |ctx: &wjp_queue::JobContext| {
            Ok(serde_json::to_value(ctx.parent_results()).unwrap())
        })
        .unwrap();
    let worker = start_worker(
        &queue,
        handlers,
        fast_config("w-flow", &["analysis", "nesting", "conversion"]),
    );
    let last = settled(&queue, &jobs[0].job.id, Status::Completed).await;
    worker.stop().await;
    let parents = last.state.result.unwrap();
    assert_eq!(parents[0]["id"], json!(nest_id.as_str()));
    assert_eq!(parents[0]["status"], json!("completed"));
    assert_eq!(parents[0]["result"], json!({"node": "nest"}));
    let nest = queue.job(&nest_id).await.unwrap().unwrap();
    let first_part = queue.job(&jobs[2].job.id).await.unwrap().unwrap();
    assert!(nest.state.started_at >= first_part.state.completed_at);
}

pub async fn a_bad_flow_is_refused_whole_naming_the_node(store: &dyn Store) {
    let queue = queue_on(store).await;
    let jobs_stored = |queue: Queue| async move {
        queue
            .counts()
            .await
            .unwrap()
            .iter()
            .map(|c| c.waiting + c.queued)
            .sum::<u64>()
    };
    let cycle = FlowRequest {
        jobs: vec![
            node("root", "noop", "analysis", &[]),
            node("x", "noop", "nesting", &["root", "z"]),
            node("y", "noop", "nesting", &["x"]),
            node("z", "noop", "gcode", &["y"]),
        ],
    };
    let e = queue.submit_flow(cycle).await.unwrap_err();
    assert_eq!(e.code(), "invalid_flow");
    assert!(e.to_string().contains("cycle"), "{e}");
    let unknown = FlowRequest {
        jobs: vec![
            node("root", "noop", "analysis", &[]),
            node("child", "noop", "nesting", &["root", "ghost"]),
        ],
    };
    let e = queue.submit_flow(unknown).await.unwrap_err();
    assert!(
        e.to_string().contains("\"child\"") && e.to_string().contains("ghost"),
        "{e}"
    );
    let bad_kind = FlowRequest {
        jobs: vec![
            node("root", "noop", "analysis", &[]),
            node("child", "no_such_kind", "nesting", &["root"]),
        ],
    };
    let e = queue.submit_flow(bad_kind).await.unwrap_err();
    assert!(e.to_string().contains("\"child\""), "{e}");
    assert_eq!(jobs_stored(queue.clone()).await, 0, "nothing stored");

    // A node may wait for a job stored before the flow, by id.
    let before = enqueue(&queue, in_queue("noop", "analysis", &[])).await.id;
    let flow = FlowRequest {
        jobs: vec![node("after-it", "noop", "nesting", &[before.as_str()])],
    };
    let jobs = queue.submit_flow(flow).await.unwrap();
    assert_eq!(jobs[0].job.status(), Status::Waiting);
    assert_eq!(jobs[0].job.after, [before]);
}

/// Parents complete while dependants of them are submitted from many
/// tasks at once: however the two interleave, every dependant is
/// released, none left waiting.
pub async fn parents_completing_while_dependants_are_submitted_release_them_all(store: &dyn Store) {
    const SUBMITTERS: usize = 8;
    const EACH: usize = 5;
    let queue = queue_on(store).await;
    let mut parents = Vec::new();
    for _ in 0..4 {
        parents.push(enqueue(&queue, in_queue("noop", "analysis", &[])).await.id);
    }
    let taken = claim(&queue, &["analysis"], 4, Duration::from_secs(60)).await;
    assert_eq!(taken.len(), 4);
    let barrier = Arc::new(Barrier::new(SUBMITTERS + 1));
    let mut tasks = Vec::new();
    for s in 0..SUBMITTERS {
        let queue = queue_on(store).await;
        let barrier = barrier.clone();
        let parent = parents[s % parents.len()].clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let mut ids = Vec::new();
            for _ in 0..EACH {
                let child = queue
                    .enqueue(in_queue("noop", "nesting", &[&parent]))
                    .await
                    .unwrap();
                ids.push(child.job.id);
            }
            ids
        }));
    }
    let finisher = {
        let queue = queue_on(store).await;
        let barrier = barrier.clone();
        tokio::spawn(async move {
            barrier.wait().await;
            for job in taken {
                let t = state::complete(&job, json!(1), Timestamp::now());
                assert_eq!(queue.backend().apply(vec![t]).await.unwrap(), [true]);
                tokio::task::yield_now().await;
            }
        })
    };
    let mut children = Vec::new();
    for t in tasks {
        children.extend(t.await.unwrap());
    }
    finisher.await.unwrap();
    for child in &children {
        settled(&queue, child, Status::Queued).await;
    }
    assert_eq!(waiting_count(&queue).await, 0);
    let taken = claim(
        &queue,
        &["nesting"],
        SUBMITTERS * EACH + 1,
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(taken.len(), SUBMITTERS * EACH);
}

/// A flow that waits for a stored job is submitted while that job ends,
/// once completing and once failing: its nodes all end up released, or
/// all cancelled, never stuck.
pub async fn a_flow_submitted_while_its_parent_ends_is_settled_whole(store: &dyn Store) {
    for fails in [false, true] {
        let queue = queue_on(store).await;
        let parent = enqueue(&queue, in_queue("noop", "analysis", &[])).await.id;
        let taken = claim(&queue, &["analysis"], 1, Duration::from_secs(60)).await;
        let flow = FlowRequest {
            jobs: vec![
                node("nest", "noop", "nesting", &[parent.as_str()]),
                node("gcode", "noop", "gcode", &["nest"]),
            ],
        };
        let submitter = {
            let queue = queue_on(store).await;
            tokio::spawn(async move { queue.submit_flow(flow).await.unwrap() })
        };
        let now = Timestamp::now();
        let t = if fails {
            state::fail(
                &taken[0],
                JobError::new(ErrorKind::InvalidPayload, "x"),
                now,
            )
        } else {
            state::complete(&taken[0], json!(1), now)
        };
        queue.backend().apply(vec![t]).await.unwrap();
        let jobs = submitter.await.unwrap();
        if fails {
            settled(&queue, &jobs[0].job.id, Status::Cancelled).await;
            settled(&queue, &jobs[1].job.id, Status::Cancelled).await;
        } else {
            settled(&queue, &jobs[0].job.id, Status::Queued).await;
            let gcode = queue.job(&jobs[1].job.id).await.unwrap().unwrap();
            assert_eq!(gcode.status(), Status::Waiting, "its parent has not run");
            // Clean up for the next round: nothing of this one may wait.
            queue.cancel(&jobs[1].job.id).await.unwrap();
            queue.cancel(&jobs[0].job.id).await.unwrap();
        }
        assert_eq!(waiting_count(&queue).await, 0);
    }
}

/// Two workers on handles of their own (as two processes) run a graph: a
/// root, forty jobs that wait for it in two queues, and a join that waits
/// for all forty. Each job runs once, none before its parents completed,
/// and the join sees every parent's result.
pub async fn two_workers_run_a_graph_once_each_and_in_order(store: &dyn Store) {
    use std::collections::HashMap;
    use std::sync::Mutex;
    const MIDDLE: usize = 40;
    type Runs = Arc<Mutex<HashMap<String, (usize, Timestamp)>>>;
    let runs: Runs = Arc::default();
    let make_handlers = |runs: Runs| {
        let mut handlers = Handlers::new();
        handlers
            .add("record", move |ctx: &wjp_queue::JobContext| {
                let mut runs = runs.lock().unwrap();
                let entry = runs
                    .entry(ctx.job().id.to_string())
                    .or_insert((0, Timestamp::now()));
                entry.0 += 1;
                Ok(json!(ctx.parent_results().len()))
            })
            .unwrap();
        handlers
    };
    let node = |name: String, queue: &str, after: Vec<String>| {
        let mut job = request("record", json!({}));
        job.queue = Some(queue.into());
        job.after = after;
        FlowNode { name, job }
    };
    let mut nodes = vec![node("root".into(), "analysis", vec![])];
    let middles: Vec<String> = (0..MIDDLE).map(|i| format!("m{i}")).collect();
    for (i, name) in middles.iter().enumerate() {
        let queue = if i % 2 == 0 { "analysis" } else { "nesting" };
        nodes.push(node(name.clone(), queue, vec!["root".into()]));
    }
    nodes.push(node("join".into(), "gcode", middles.clone()));
    let producer = queue_on(store).await;
    let jobs = producer
        .submit_flow(FlowRequest { jobs: nodes })
        .await
        .unwrap();

    let queues = ["analysis", "nesting", "gcode"];
    let a = queue_on(store).await;
    let b = queue_on(store).await;
    let wa = start_worker(
        &a,
        make_handlers(runs.clone()),
        fast_config("graph-a", &queues),
    );
    let wb = start_worker(
        &b,
        make_handlers(runs.clone()),
        fast_config("graph-b", &queues),
    );
    let join = settled(&producer, &jobs[MIDDLE + 1].job.id, Status::Completed).await;
    wa.stop().await;
    wb.stop().await;
    assert_eq!(
        join.state.result,
        Some(json!(MIDDLE)),
        "the join saw every parent"
    );

    let runs: HashMap<String, (usize, Timestamp)> = runs.lock().unwrap().clone();
    assert_eq!(runs.len(), MIDDLE + 2);
    assert!(runs.values().all(|(n, _)| *n == 1), "a job ran twice");
    for j in &jobs {
        for parent in &j.job.after {
            let done = producer.job(parent).await.unwrap().unwrap();
            assert!(
                done.state.completed_at.unwrap() <= runs[j.job.id.as_str()].1,
                "{} started before its parent {parent} completed",
                j.name,
            );
        }
    }
}
