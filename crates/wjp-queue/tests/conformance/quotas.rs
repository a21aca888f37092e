//! Quotas: what a client may store. Small limits, so the tests reach them.

use std::time::Duration;

use serde_json::{json, Value};
use wjp_queue::catalog::{Quotas, WaitingQuota};
use wjp_queue::{state, ErrorKind, JobError, JobRequest, Queue, QueueError, Status, Timestamp};

use super::{catalog, claim, enqueue_id, request, Store};

/// Jobs per queue, payload bytes per queue, payload bytes per job.
async fn queue_with(store: &dyn Store, jobs: u64, bytes: u64, payload: u64) -> Queue {
    let mut catalog = catalog();
    catalog.quotas = Quotas {
        max_waiting_jobs: jobs,
        max_waiting_payload_bytes: bytes,
        max_payload_bytes: payload,
        ..Quotas::default()
    };
    Queue::new(store.connect().await, catalog)
}

/// A payload of exactly `bytes` bytes as compact JSON (a string).
fn payload_of(bytes: usize) -> Value {
    let payload = json!("x".repeat(bytes - 2));
    assert_eq!(serde_json::to_string(&payload).unwrap().len(), bytes);
    payload
}

fn in_queue(kind: &str, payload: Value, queue: &str) -> JobRequest {
    JobRequest {
        queue: Some(queue.into()),
        ..request(kind, payload)
    }
}

/// The error inside a batch's refusal, and the position it names.
fn refused_job(err: QueueError) -> (usize, QueueError) {
    match err {
        QueueError::InBatch { position, error } => (position, *error),
        other => panic!("expected a refusal naming a job of the batch, got {other}"),
    }
}

/// The figures of a `queue_full` refusal: quota, current, adding, limit.
fn full(err: &QueueError) -> (WaitingQuota, u64, u64, u64) {
    match err {
        QueueError::QueueFull {
            quota,
            current,
            adding,
            limit,
            ..
        } => (*quota, *current, *adding, *limit),
        other => panic!("expected queue_full, got {other}"),
    }
}

/// The payload bytes a queue holds waiting, as the engine counts them: a
/// job larger than a tiny limit is refused, naming the figure.
pub async fn waiting_bytes(queue: &Queue, name: &str) -> u64 {
    let mut catalog = catalog();
    catalog.quotas = Quotas {
        max_waiting_jobs: u64::MAX,
        max_waiting_payload_bytes: 10,
        ..Quotas::default()
    };
    let probe = Queue::new(queue.backend().clone(), catalog);
    let err = probe
        .enqueue(in_queue("noop", payload_of(11), name))
        .await
        .unwrap_err();
    let (quota, current, adding, limit) = full(&err);
    assert_eq!((quota, adding, limit), (WaitingQuota::PayloadBytes, 11, 10));
    current
}

pub async fn a_full_queue_refuses_jobs_until_a_claim_makes_room(store: &dyn Store) {
    let queue = queue_with(store, 3, 1 << 20, 1 << 20).await;
    enqueue_id(&queue, request("noop", json!(1))).await;
    enqueue_id(&queue, request("noop", json!(2))).await;
    // Scheduled jobs wait too.
    let delayed = JobRequest {
        delay: Some(60.0),
        ..request("noop", json!(3))
    };
    assert_eq!(
        queue.enqueue(delayed).await.unwrap().job.status(),
        Status::Scheduled
    );
    let err = queue.enqueue(request("noop", json!(4))).await.unwrap_err();
    assert_eq!(err.code(), "queue_full");
    assert!(err.is_client_error());
    assert_eq!(full(&err), (WaitingQuota::Jobs, 3, 1, 3));
    let text = err.to_string();
    for says in [
        "\"default\"",
        "3 waiting jobs",
        "max_waiting_jobs",
        "--max-waiting-jobs",
    ] {
        assert!(text.contains(says), "{says:?} not in {text}");
    }
    assert_eq!(queue.queue_length("default").await.unwrap(), 3);
    // Other queues have their own room.
    enqueue_id(&queue, in_queue("noop", json!(5), "gcode")).await;

    // A running job no longer waits: its room is free again, once.
    assert_eq!(
        claim(&queue, &["default"], 1, Duration::from_secs(30))
            .await
            .len(),
        1
    );
    enqueue_id(&queue, request("noop", json!(6))).await;
    let err = queue.enqueue(request("noop", json!(7))).await.unwrap_err();
    assert_eq!(err.code(), "queue_full");
    assert_eq!(queue.queue_length("default").await.unwrap(), 3);
}

pub async fn the_payload_bytes_a_queue_holds_waiting_are_capped(store: &dyn Store) {
    let queue = queue_with(store, 100, 1000, 2000).await;
    let a = enqueue_id(&queue, request("noop", payload_of(400))).await;
    enqueue_id(&queue, request("noop", payload_of(400))).await;
    assert_eq!(waiting_bytes(&queue, "default").await, 800);
    let err = queue
        .enqueue(request("noop", payload_of(201)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "queue_full");
    assert_eq!(full(&err), (WaitingQuota::PayloadBytes, 800, 201, 1000));
    let text = err.to_string();
    for says in [
        "\"default\"",
        "800",
        "201",
        "1000",
        "--max-waiting-payload-mb",
    ] {
        assert!(text.contains(says), "{says:?} not in {text}");
    }
    // What still fits goes in.
    let c = enqueue_id(&queue, request("noop", payload_of(200))).await;
    assert_eq!(waiting_bytes(&queue, "default").await, 1000);
    enqueue_id(&queue, in_queue("noop", payload_of(900), "gcode")).await;

    // Every way out of waiting gives the bytes back: a claim, a cancel, a
    // purge.
    let taken = claim(&queue, &["default"], 1, Duration::from_secs(30)).await;
    assert_eq!(taken[0].id, a);
    assert_eq!(waiting_bytes(&queue, "default").await, 600);
    queue.cancel(&c).await.unwrap();
    assert_eq!(waiting_bytes(&queue, "default").await, 400);
    let delayed = JobRequest {
        delay: Some(60.0),
        ..request("noop", payload_of(100))
    };
    enqueue_id(&queue, delayed).await;
    assert_eq!(waiting_bytes(&queue, "default").await, 500);
    assert_eq!(queue.purge("default", Status::Queued).await.unwrap(), 1);
    assert_eq!(waiting_bytes(&queue, "default").await, 100);
    assert_eq!(queue.purge("default", Status::Scheduled).await.unwrap(), 1);
    assert_eq!(waiting_bytes(&queue, "default").await, 0);
    assert_eq!(waiting_bytes(&queue, "gcode").await, 900);
    // A job too large for the queue's room even when it is empty.
    let err = queue
        .enqueue(request("noop", payload_of(1001)))
        .await
        .unwrap_err();
    assert_eq!(full(&err), (WaitingQuota::PayloadBytes, 0, 1001, 1000));
}

pub async fn an_existing_id_is_not_counted_twice(store: &dyn Store) {
    let queue = queue_with(store, 2, 1000, 1000).await;
    let with_id = |id: &str| JobRequest {
        job_id: Some(id.into()),
        ..request("noop", payload_of(10))
    };
    assert!(queue.enqueue(with_id("a")).await.unwrap().created);
    assert!(queue.enqueue(with_id("b")).await.unwrap().created);
    // The queue is full, but these are the jobs it holds.
    let again = queue.enqueue(with_id("a")).await.unwrap();
    assert!(!again.created);
    let both = queue
        .enqueue_batch(vec![with_id("b"), with_id("a"), with_id("b")])
        .await
        .unwrap();
    assert!(both.iter().all(|e| !e.created));
    assert_eq!(waiting_bytes(&queue, "default").await, 20);
    let (position, err) = refused_job(
        queue
            .enqueue_batch(vec![with_id("a"), with_id("c")])
            .await
            .unwrap_err(),
    );
    assert_eq!(position, 2);
    assert_eq!(full(&err), (WaitingQuota::Jobs, 2, 1, 2));
    assert_eq!(queue.queue_length("default").await.unwrap(), 2);
    // A job running or done under an id is returned too, and does not wait.
    claim(&queue, &["default"], 1, Duration::from_secs(30)).await;
    assert!(!queue.enqueue(with_id("a")).await.unwrap().created);
    assert!(queue.enqueue(with_id("c")).await.unwrap().created);
    assert_eq!(waiting_bytes(&queue, "default").await, 20);
}

pub async fn a_batch_over_a_quota_is_refused_whole(store: &dyn Store) {
    let queue = queue_with(store, 3, 1 << 20, 1 << 20).await;
    enqueue_id(&queue, request("noop", json!(0))).await;
    let batch: Vec<_> = (1..=3).map(|i| request("noop", json!(i))).collect();
    let (position, err) = refused_job(queue.enqueue_batch(batch).await.unwrap_err());
    assert_eq!(position, 3, "the job that would pass the limit");
    assert_eq!(err.code(), "queue_full");
    assert_eq!(full(&err), (WaitingQuota::Jobs, 3, 1, 3));
    assert_eq!(queue.queue_length("default").await.unwrap(), 1);

    // Several queues: one without room refuses the lot.
    let batch = vec![
        in_queue("noop", json!("fits"), "gcode"),
        request("noop", json!(1)),
        request("noop", json!(2)),
        request("noop", json!(3)),
        in_queue("noop", json!("fits too"), "nesting"),
    ];
    let (position, err) = refused_job(queue.enqueue_batch(batch).await.unwrap_err());
    assert_eq!(position, 4);
    assert_eq!(err.code(), "queue_full");
    let counts = queue.counts().await.unwrap();
    assert_eq!(
        counts.iter().map(|c| c.queued).sum::<u64>(),
        1,
        "{counts:?}"
    );

    // More jobs than one write takes at once (Redis writes 500 per call).
    let queue = queue_with(store, 700, 1 << 20, 1 << 20).await;
    let many = |n: usize| (0..n).map(|i| request("noop", json!(i))).collect();
    let (position, err) = refused_job(queue.enqueue_batch(many(700)).await.unwrap_err());
    assert_eq!((position, err.code()), (700, "queue_full"));
    assert_eq!(queue.queue_length("default").await.unwrap(), 1);
    assert_eq!(queue.enqueue_batch(many(699)).await.unwrap().len(), 699);
    assert_eq!(queue.queue_length("default").await.unwrap(), 700);
}

pub async fn jobs_already_admitted_come_back_to_wait_whatever_the_quota(store: &dyn Store) {
    let queue = queue_with(store, 1, 100, 100).await;
    let retried = JobRequest {
        max_attempts: Some(2),
        backoff: Some(60.0),
        ..request("noop", payload_of(30))
    };
    let retried = enqueue_id(&queue, retried).await;
    let failing = claim(&queue, &["default"], 1, Duration::from_secs(30))
        .await
        .remove(0);
    assert_eq!(failing.id, retried);
    let once = enqueue_id(&queue, request("noop", payload_of(20))).await;
    let once = claim(&queue, &["default"], 1, Duration::from_secs(30))
        .await
        .into_iter()
        .find(|j| j.id == once)
        .unwrap();
    queue
        .backend()
        .apply(vec![state::fail(
            &once,
            JobError::new(ErrorKind::HandlerError, "no"),
            Timestamp::now(),
        )])
        .await
        .unwrap();
    // The queue is full again.
    enqueue_id(&queue, request("noop", payload_of(40))).await;
    assert_eq!(
        queue
            .enqueue(request("noop", json!(1)))
            .await
            .unwrap_err()
            .code(),
        "queue_full"
    );

    // A failure with attempts left waits out its backoff: not refused.
    let t = state::fail(
        &failing,
        JobError::new(ErrorKind::HandlerError, "try again"),
        Timestamp::now(),
    );
    assert_eq!(t.job.status(), Status::Scheduled);
    assert_eq!(queue.backend().apply(vec![t]).await.unwrap(), [true]);
    // Nor is a retry by hand.
    let again = queue.retry(&once.id).await.unwrap();
    assert_eq!(again.status(), Status::Queued);
    // Both count.
    assert_eq!(queue.queue_length("default").await.unwrap(), 3);
    let err = queue.enqueue(request("noop", json!(1))).await.unwrap_err();
    assert_eq!(full(&err), (WaitingQuota::Jobs, 3, 1, 1));
    assert_eq!(waiting_bytes(&queue, "default").await, 30 + 20 + 40);
    // A scheduled job that comes due still waits, with the same bytes.
    let backend = queue.backend();
    let due = backend.due_scheduled(Timestamp::now(), 10).await.unwrap();
    assert!(due.is_empty(), "the backoff has not passed");
    let late = Timestamp(Timestamp::now().0 + 120_000);
    let due = backend.due_scheduled(late, 10).await.unwrap();
    assert_eq!(due.len(), 1);
    let promoted = state::promote(&due[0], late);
    assert_eq!(backend.apply(vec![promoted]).await.unwrap(), [true]);
    assert_eq!(waiting_bytes(&queue, "default").await, 90);
    assert_eq!(queue.queue_length("default").await.unwrap(), 3);
}

pub async fn delays_past_the_longest_allowed_are_refused(store: &dyn Store) {
    let mut catalog = catalog();
    catalog.quotas.max_delay = Duration::from_secs(3600);
    let queue = Queue::new(store.connect().await, catalog);
    let delayed = |seconds: f64| JobRequest {
        delay: Some(seconds),
        ..request("noop", json!({}))
    };
    let job = queue.enqueue(delayed(3600.0)).await.unwrap().job;
    assert_eq!(job.status(), Status::Scheduled);
    let err = queue.enqueue(delayed(3601.0)).await.unwrap_err();
    assert_eq!(err.code(), "invalid_request");
    assert!(err.is_client_error());
    let text = err.to_string();
    for says in ["3601 s", "3600 s", "max_delay", "--max-delay-days"] {
        assert!(text.contains(says), "{says:?} not in {text}");
    }
    // The default is 30 days, where a year used to pass.
    let queue = Queue::new(store.connect().await, super::catalog());
    assert!(queue.enqueue(delayed(30.0 * 86_400.0)).await.is_ok());
    let err = queue.enqueue(delayed(31.0 * 86_400.0)).await.unwrap_err();
    assert_eq!(err.code(), "invalid_request");
    assert_eq!(queue.queue_length("default").await.unwrap(), 2);
}

pub async fn payloads_past_the_largest_allowed_are_refused(store: &dyn Store) {
    let queue = queue_with(store, 100, 1 << 20, 100).await;
    enqueue_id(&queue, request("noop", payload_of(100))).await;
    let err = queue
        .enqueue(request("noop", payload_of(101)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "payload_too_large");
    assert!(err.is_client_error());
    let text = err.to_string();
    for says in ["101 bytes", "100", "max_payload_bytes", "--max-payload-mb"] {
        assert!(text.contains(says), "{says:?} not in {text}");
    }
    let (position, err) = refused_job(
        queue
            .enqueue_batch(vec![
                request("noop", json!(1)),
                request("noop", payload_of(101)),
            ])
            .await
            .unwrap_err(),
    );
    assert_eq!((position, err.code()), (2, "payload_too_large"));
    assert_eq!(queue.queue_length("default").await.unwrap(), 1);
}
