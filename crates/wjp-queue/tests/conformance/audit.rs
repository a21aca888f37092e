//! The audit log: every step of a job's life that people look for, written
//! with the change itself, found by job, reference, kind, queue and
//! outcome after the job's record is gone, paged without gaps, and trimmed
//! by age and count.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::json;
use wjp_queue::audit::{AuditQuery, AuditRetention, Outcome};
use wjp_queue::state;
use wjp_queue::{ErrorKind, JobError, JobId, Kind, Queue, QueueName, Timestamp};

use super::{claim, queue_on, request, Store};

/// Every entry of the query's range, paging `page` at a time, oldest
/// first.
async fn all_entries(
    queue: &Queue,
    mut query: AuditQuery,
    page: usize,
) -> Vec<wjp_queue::AuditEntry> {
    query.limit = page;
    let mut out = Vec::new();
    for _ in 0..1000 {
        let found = queue.history(&query).await.unwrap();
        out.extend(found.entries);
        match found.next_until {
            Some(until) => query.until = Some(until),
            None => {
                out.reverse();
                return out;
            }
        }
    }
    panic!("the history did not end within 1000 pages");
}

fn of_job(id: &JobId) -> AuditQuery {
    AuditQuery {
        job: Some(id.clone()),
        limit: 100,
        ..AuditQuery::default()
    }
}

pub async fn the_audit_log_records_each_step_of_a_jobs_life(store: &dyn Store) {
    let queue = queue_on(store).await;
    let mut r = request(
        "noop",
        json!({"file": "uploads/plate.dxf", "password": "hunter2", "parts": [1, 2, 3]}),
    );
    r.max_attempts = Some(2);
    r.backoff = Some(0.0);
    r.reference = Some("PO-4711".into());
    r.origin = Some("key 1a2b3c4d from 192.0.2.7".into());
    r.job_id = Some("audited".into());
    let id = queue.enqueue(r.clone()).await.unwrap().job.id;
    // The same id again returns the stored job: no second submission.
    assert!(!queue.enqueue(r).await.unwrap().created);

    let first = claim(&queue, &["default"], 1, Duration::from_secs(30)).await;
    let failed = state::fail(
        &first[0],
        JobError::new(ErrorKind::HandlerError, "the drawing has no closed contour"),
        Timestamp::now(),
    );
    assert_eq!(
        queue.backend().apply(vec![failed]).await.unwrap(),
        vec![true]
    );
    let second = claim(&queue, &["default"], 1, Duration::from_secs(30)).await;
    assert_eq!(second.len(), 1, "the retry is due at once");
    let done = state::complete(&second[0], json!({"ok": true}), Timestamp::now());
    // A stale end (the first attempt's lease) is refused and leaves no entry.
    let stale = state::complete(&first[0], json!({"late": true}), Timestamp::now());
    assert_eq!(
        queue.backend().apply(vec![done, stale]).await.unwrap(),
        vec![true, false]
    );

    let life = all_entries(&queue, of_job(&id), 100).await;
    let outcomes: Vec<Outcome> = life.iter().map(|e| e.outcome).collect();
    assert_eq!(
        outcomes,
        [Outcome::Submitted, Outcome::Retrying, Outcome::Completed]
    );
    let submitted = &life[0];
    assert_eq!(
        submitted.origin.as_deref(),
        Some("key 1a2b3c4d from 192.0.2.7")
    );
    assert_eq!(submitted.reference.as_deref(), Some("PO-4711"));
    assert_eq!(
        submitted.options,
        Some(json!({"file": "uploads/plate.dxf", "parts": "[3 items]"})),
        "secrets and bulk stay out of the log"
    );
    let retrying = &life[1];
    assert_eq!(retrying.attempt, 1);
    assert_eq!(retrying.worker.as_deref(), Some("test-claimer"));
    assert_eq!(retrying.error_kind, Some(ErrorKind::HandlerError));
    assert_eq!(
        retrying.message.as_deref(),
        Some("the drawing has no closed contour")
    );
    assert!(retrying.started_at.is_some());
    let completed = &life[2];
    assert_eq!((completed.attempt, completed.message.clone()), (2, None));

    // A cancel before any run, and a retry by hand.
    let waiting = queue.enqueue(request("noop", json!({}))).await.unwrap().job;
    queue.cancel(&waiting.id).await.unwrap();
    queue.retry(&waiting.id).await.unwrap();
    let life = all_entries(&queue, of_job(&waiting.id), 100).await;
    let outcomes: Vec<Outcome> = life.iter().map(|e| e.outcome).collect();
    assert_eq!(
        outcomes,
        [Outcome::Submitted, Outcome::Cancelled, Outcome::Retried]
    );
    assert_eq!(life[1].error_kind, Some(ErrorKind::Cancelled));
    assert_eq!(life[0].origin, None, "no origin given, none invented");
}

/// A batch's submissions differ only in their ids; when the first job of
/// a batch exists already (no new submission), the others are still
/// logged whole: on Redis they travel as repeats of the first job's line,
/// which the function leaves out (`keep_audit`).
pub async fn a_batch_logs_each_new_job_whole_when_its_first_existed(store: &dyn Store) {
    let queue = queue_on(store).await;
    let mut r = request("noop", json!({"file": "uploads/a.dxf", "parts": [1, 2]}));
    r.origin = Some("key 5e6f from 192.0.2.8".into());
    r.job_id = Some("batch-1".into());
    assert!(queue.enqueue(r.clone()).await.unwrap().created);
    let batch = (1..=4)
        .map(|i| {
            let mut r = r.clone();
            r.job_id = Some(format!("batch-{i}"));
            r
        })
        .collect();
    let created: Vec<bool> = queue
        .enqueue_batch(batch)
        .await
        .unwrap()
        .iter()
        .map(|e| e.created)
        .collect();
    assert_eq!(created, [false, true, true, true]);
    for i in 1..=4 {
        let id = JobId::parse(&format!("batch-{i}")).unwrap();
        let life = all_entries(&queue, of_job(&id), 100).await;
        assert_eq!(life.len(), 1, "one submission of {id}: {life:?}");
        let entry = &life[0];
        assert_eq!(entry.job_id, id);
        assert_eq!(entry.outcome, Outcome::Submitted);
        assert_eq!(entry.kind.as_str(), "noop");
        assert_eq!(entry.origin.as_deref(), Some("key 5e6f from 192.0.2.8"));
        assert_eq!(
            entry.options,
            Some(json!({"file": "uploads/a.dxf", "parts": "[2 items]"}))
        );
    }
    let every = all_entries(&queue, AuditQuery::default(), 2).await;
    assert_eq!(every.len(), 4, "no line lost or doubled: {every:?}");
}

/// A batch whose payloads differ in a number or a file name: each job's
/// submission keeps its own options, also when jobs of the batch existed
/// already and their lines are left out (on Redis, the others travel as
/// partial repeats of a line that may be left out: `keep_audit` writes
/// them whole with their own options).
pub async fn a_batch_of_differing_payloads_logs_each_jobs_own_options(store: &dyn Store) {
    let queue = queue_on(store).await;
    let payload = |i: usize| json!({"file": format!("uploads/part-{i}.dxf"), "quantity": i * 7});
    let request_of = |i: usize| {
        let mut r = request("noop", payload(i));
        r.origin = Some("key 5e6f from 192.0.2.8".into());
        r.job_id = Some(format!("mixed-{i}"));
        r
    };
    for existing in [1, 4] {
        assert!(queue.enqueue(request_of(existing)).await.unwrap().created);
    }
    let created: Vec<bool> = queue
        .enqueue_batch((1..=6).map(request_of).collect())
        .await
        .unwrap()
        .iter()
        .map(|e| e.created)
        .collect();
    assert_eq!(created, [false, true, true, false, true, true]);
    for i in 1..=6 {
        let id = JobId::parse(&format!("mixed-{i}")).unwrap();
        let life = all_entries(&queue, of_job(&id), 100).await;
        assert_eq!(life.len(), 1, "one submission of {id}: {life:?}");
        assert_eq!(life[0].job_id, id);
        assert_eq!(life[0].options, Some(payload(i)), "the options of {id}");
        assert_eq!(life[0].origin.as_deref(), Some("key 5e6f from 192.0.2.8"));
    }
    let every = all_entries(&queue, AuditQuery::default(), 3).await;
    assert_eq!(every.len(), 6, "no line lost or doubled: {every:?}");
}

pub async fn the_history_outlives_the_jobs_record(store: &dyn Store) {
    let queue = queue_on(store).await;
    let mut r = request("noop", json!({}));
    r.reference = Some("Customer Smith, order 12".into());
    r.result_ttl = Some(0.05);
    let id = queue.enqueue(r).await.unwrap().job.id;
    let running = claim(&queue, &["default"], 1, Duration::from_secs(30)).await;
    let done = state::complete(&running[0], json!(1), Timestamp::now());
    queue.backend().apply(vec![done]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    queue.maintain().await.unwrap();
    assert!(
        queue.job(&id).await.unwrap().is_none(),
        "the record expired"
    );

    let found = queue
        .history(&AuditQuery {
            reference: Some("SMITH".into()),
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    let outcomes: Vec<(JobId, Outcome)> = found
        .entries
        .iter()
        .map(|e| (e.job_id.clone(), e.outcome))
        .collect();
    assert_eq!(
        outcomes,
        [(id.clone(), Outcome::Completed), (id, Outcome::Submitted)],
        "newest first"
    );
}

pub async fn the_history_is_filtered_and_paged_without_gaps(store: &dyn Store) {
    let queue = queue_on(store).await;
    let mut requests = Vec::new();
    for i in 0..30 {
        let mut r = request(if i % 3 == 0 { "record" } else { "noop" }, json!({}));
        r.reference = Some(format!("batch-{i}"));
        requests.push(r);
    }
    // One batch (one step: every entry in a few milliseconds), then one
    // at a time.
    queue.enqueue_batch(requests.split_off(15)).await.unwrap();
    for r in requests {
        queue.enqueue(r).await.unwrap();
    }
    for page in [1, 7, 1000] {
        let all = all_entries(&queue, AuditQuery::default(), page).await;
        let refs: HashSet<String> = all.iter().filter_map(|e| e.reference.clone()).collect();
        assert_eq!(all.len(), 30, "pages of {page}: every entry once");
        assert_eq!(refs.len(), 30, "pages of {page}: every entry once");
    }
    let records = all_entries(
        &queue,
        AuditQuery {
            kind: Some(Kind::parse("record").unwrap()),
            ..AuditQuery::default()
        },
        4,
    )
    .await;
    assert_eq!(records.len(), 10);
    assert!(records.iter().all(|e| e.queue.as_str() == "analysis"));
    let in_default = all_entries(
        &queue,
        AuditQuery {
            queue: Some(QueueName::parse("default").unwrap()),
            outcome: Some(Outcome::Submitted),
            ..AuditQuery::default()
        },
        100,
    )
    .await;
    assert_eq!(in_default.len(), 20);
    let none = all_entries(
        &queue,
        AuditQuery {
            outcome: Some(Outcome::Completed),
            ..AuditQuery::default()
        },
        100,
    )
    .await;
    assert!(none.is_empty());
    // A range after everything holds nothing; an empty range is refused.
    let later = Timestamp(Timestamp::now().0 + 60_000);
    let after = queue
        .history(&AuditQuery {
            since: Some(later),
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert!(after.entries.is_empty() && after.next_until.is_none());
    let backwards = AuditQuery {
        since: Some(later),
        until: Some(Timestamp(later.0 - 1)),
        limit: 10,
        ..AuditQuery::default()
    };
    assert!(queue.history(&backwards).await.is_err());
    let huge = AuditQuery {
        limit: 1_000_000,
        ..AuditQuery::default()
    };
    assert!(queue.history(&huge).await.is_err());
}

pub async fn the_audit_log_is_trimmed_by_age_and_count(store: &dyn Store) {
    let queue = queue_on(store).await;
    for _ in 0..5 {
        queue.enqueue(request("noop", json!({}))).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(5)).await;
    let middle = Timestamp::now();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let mut newer = HashSet::new();
    for _ in 0..5 {
        newer.insert(
            queue
                .enqueue(request("noop", json!({})))
                .await
                .unwrap()
                .job
                .id,
        );
    }
    let by_age = AuditRetention {
        max_age: Duration::from_secs(1),
        max_entries: 1_000,
    };
    queue
        .backend()
        .trim_audit(Timestamp(middle.0 + 1_000), &by_age)
        .await
        .unwrap();
    let kept = all_entries(&queue, AuditQuery::default(), 100).await;
    let kept_ids: HashSet<JobId> = kept.iter().map(|e| e.job_id.clone()).collect();
    assert_eq!(kept_ids, newer, "entries before the age limit went");

    let by_count = AuditRetention {
        max_age: Duration::from_secs(3600),
        max_entries: 2,
    };
    queue
        .backend()
        .trim_audit(Timestamp::now(), &by_count)
        .await
        .unwrap();
    let kept = all_entries(&queue, AuditQuery::default(), 100).await;
    assert_eq!(kept.len(), 2, "the newest two stay");
}
