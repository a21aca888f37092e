//! The conformance suite against the embedded SQLite backend, plus checks
//! that only make sense for a file.

use std::sync::Arc;

use async_trait::async_trait;
use wjp_queue::backend::sqlite::{SqliteBackend, SqliteOptions};
use wjp_queue::backend::Backend;

use std::time::Duration;

use serde_json::json;
use wjp_queue::Status;

use crate::conformance::{claim, queue_on, request, waiting_bytes, Store};

pub struct SqliteStore {
    dir: tempfile::TempDir,
}

impl SqliteStore {
    pub async fn new() -> Self {
        SqliteStore {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn connect(&self) -> Arc<dyn Backend> {
        Arc::new(
            SqliteBackend::open_dir(self.dir.path(), SqliteOptions::default())
                .expect("open sqlite backend"),
        )
    }
}

conformance_suite!(SqliteStore::new().await);

#[tokio::test]
async fn the_database_is_a_wal_file_with_its_pragmas_read_back() {
    let store = SqliteStore::new().await;
    let backend = store.connect().await;
    let info = backend.info();
    assert_eq!(info.name, "sqlite");
    assert_eq!(info.details["journal_mode"], "wal");
    assert!(store.dir.path().join("wjp.db").exists());
    assert!(info.location.ends_with("wjp.db"), "{}", info.location);
}

#[tokio::test]
async fn a_directory_that_cannot_be_created_gives_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let err = SqliteBackend::open_dir(&file.join("data"), SqliteOptions::default())
        .err()
        .expect("must fail");
    assert_eq!(err.code(), "backend_unavailable");
    assert!(err.to_string().contains("not-a-dir"), "{err}");
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("wjp.db"), vec![0x42u8; 8192]).unwrap();
    let err = SqliteBackend::open_dir(dir.path(), SqliteOptions::default())
        .err()
        .expect("must fail");
    assert!(err.to_string().contains("not a database"), "{err}");
}

/// A database made by a version without the usage table gets it when
/// opened, counted from its jobs, and kept from then on; a count that a
/// writer did not keep (an earlier version, a hand edit) is set right by
/// maintenance.
#[tokio::test]
async fn waiting_usage_is_counted_from_the_jobs_when_it_is_missing_or_wrong() {
    let store = SqliteStore::new().await;
    let queue = queue_on(&store).await;
    // 10 bytes of JSON each in `default`, 4 in `gcode`; a running job
    // does not wait.
    for _ in 0..3 {
        queue
            .enqueue(request("noop", json!("12345678")))
            .await
            .unwrap();
    }
    let gcode = wjp_queue::JobRequest {
        queue: Some("gcode".into()),
        ..request("noop", json!("ab"))
    };
    queue.enqueue(gcode).await.unwrap();
    claim(&queue, &["default"], 1, Duration::from_secs(30)).await;
    drop(queue);

    let file = store.dir.path().join("wjp.db");
    let edit = |sql: &str| {
        rusqlite::Connection::open(&file)
            .unwrap()
            .execute_batch(sql)
            .unwrap()
    };
    // As an earlier version left it.
    edit("DROP TABLE queue_usage");
    let queue = queue_on(&store).await;
    assert_eq!(waiting_bytes(&queue, "default").await, 20);
    assert_eq!(waiting_bytes(&queue, "gcode").await, 4);
    claim(&queue, &["default"], 1, Duration::from_secs(30)).await;
    assert_eq!(waiting_bytes(&queue, "default").await, 10);
    assert_eq!(queue.purge("gcode", Status::Queued).await.unwrap(), 1);
    assert_eq!(waiting_bytes(&queue, "gcode").await, 0);

    // Written by a writer that did not keep it.
    edit(
        "UPDATE queue_usage SET waiting_jobs = 50, waiting_bytes = 9999 WHERE queue = 'default'; \
         INSERT INTO queue_usage VALUES ('nesting', 7, 70)",
    );
    assert_eq!(waiting_bytes(&queue, "default").await, 9999);
    queue.maintain().await.unwrap();
    assert_eq!(waiting_bytes(&queue, "default").await, 10);
    assert_eq!(waiting_bytes(&queue, "nesting").await, 0);
    // The count too: one waiting job, so room for exactly one more of two.
    let mut two = crate::conformance::catalog();
    two.quotas.max_waiting_jobs = 2;
    let two = wjp_queue::Queue::new(queue.backend().clone(), two);
    two.enqueue(request("noop", json!(1))).await.unwrap();
    let err = two.enqueue(request("noop", json!(2))).await.unwrap_err();
    assert_eq!(err.code(), "queue_full");
}

/// A file of schema version 1 (before stalls were counted and unique keys
/// kept) is migrated when opened: its jobs keep their data, get the default
/// stall budget and no unique key.
/// Stores a `noop` job through `queue`, closes it, and rewrites the
/// database with `sql` as an older version would have left it; the job's
/// id and the file.
async fn stored_then_made_older(
    store: &SqliteStore,
    queue: wjp_queue::Queue,
    sql: &str,
) -> (wjp_queue::JobId, std::path::PathBuf) {
    let id = queue
        .enqueue(request("noop", json!("kept")))
        .await
        .unwrap()
        .job
        .id;
    drop(queue);
    let file = store.dir.path().join("wjp.db");
    let conn = rusqlite::Connection::open(&file).unwrap();
    conn.execute_batch(sql).unwrap();
    (id, file)
}

/// A file of version 6 (before fairness groups and progress details) keeps
/// its jobs and its queue limits, and gets the group column, table and
/// per-group cap, and the progress detail column.
#[tokio::test]
async fn a_version_6_file_gets_groups_and_keeps_its_limits() {
    let store = SqliteStore::new().await;
    let queue = queue_on(&store).await;
    let limits = wjp_queue::QueueLimits {
        max_running: Some(3),
        ..wjp_queue::QueueLimits::default()
    };
    queue.set_limits("default", limits).await.unwrap();
    let (id, _) = stored_then_made_older(
        &store,
        queue,
        "DROP INDEX jobs_group_ready; DROP INDEX jobs_group_running; \
         ALTER TABLE jobs DROP COLUMN grp; DROP TABLE group_turns; \
         ALTER TABLE queue_limits DROP COLUMN per_group_max_running; \
         ALTER TABLE jobs DROP COLUMN progress_detail; \
         PRAGMA user_version = 6",
    )
    .await;

    let queue = queue_on(&store).await;
    assert_eq!(queue.job(&id).await.unwrap().unwrap().group, None);
    assert_eq!(
        queue.limits().await.unwrap()[0],
        ("default".to_string(), limits)
    );
    let capped = wjp_queue::QueueLimits {
        per_group_max_running: Some(1),
        ..limits
    };
    queue.set_limits("default", capped).await.unwrap();
    let mut grouped = request("noop", json!("new"));
    grouped.group = Some("order-17".into());
    queue.enqueue(grouped).await.unwrap();
    let claimed = claim(&queue, &["default"], 10, Duration::from_secs(60)).await;
    assert_eq!(claimed.len(), 2, "one job of the group, one without");
}

#[tokio::test]
async fn a_version_1_file_gets_the_stall_and_unique_columns() {
    let store = SqliteStore::new().await;
    let queue = queue_on(&store).await;
    // As version 1 left it.
    let (id, file) = stored_then_made_older(
        &store,
        queue,
        "DROP INDEX jobs_unique; ALTER TABLE jobs DROP COLUMN unique_key; \
         ALTER TABLE jobs DROP COLUMN reference; \
         ALTER TABLE jobs DROP COLUMN unique_until; \
         ALTER TABLE jobs DROP COLUMN max_stalls; ALTER TABLE jobs DROP COLUMN stalls; \
         ALTER TABLE jobs DROP COLUMN parents; ALTER TABLE jobs DROP COLUMN run_anyway; \
         DROP INDEX jobs_group_ready; DROP INDEX jobs_group_running; \
         ALTER TABLE jobs DROP COLUMN grp; DROP TABLE group_turns; DROP TABLE queue_limits; \
         ALTER TABLE jobs DROP COLUMN progress_detail; \
         PRAGMA user_version = 1",
    )
    .await;

    let queue = queue_on(&store).await;
    let job = queue.job(&id).await.unwrap().unwrap();
    assert_eq!(job.payload, json!("kept"));
    assert_eq!((job.max_stalls, job.state.stalls), (2, 0));
    assert_eq!((job.unique_key, job.reference), (None, None));
    let version: i64 = rusqlite::Connection::open(&file)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 8);
    assert_eq!(job.group, None);
    // The audit log is there, and records from now on.
    queue.cancel(&id).await.unwrap();
    queue.retry(&id).await.unwrap();
    let history = queue
        .history(&wjp_queue::AuditQuery {
            job: Some(id.clone()),
            limit: 10,
            ..wjp_queue::AuditQuery::default()
        })
        .await
        .unwrap();
    let newest: Vec<wjp_queue::Outcome> = history.entries[..2].iter().map(|e| e.outcome).collect();
    assert_eq!(
        newest,
        [wjp_queue::Outcome::Retried, wjp_queue::Outcome::Cancelled]
    );
    // Stalls are counted on the migrated job.
    claim(&queue, &["default"], 1, Duration::from_millis(100)).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(queue.maintain().await.unwrap().requeued_lost, 1);
    assert_eq!(queue.job(&id).await.unwrap().unwrap().state.stalls, 1);
}

/// Enqueues that reach the writer thread together commit together, each in
/// its own savepoint: a batch the quota refuses after storing its first job
/// rolls back alone, leaving no row and no event, and the usage counts
/// match what was stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writes_refused_within_a_group_commit_roll_back_alone() {
    let store = SqliteStore::new().await;
    let backend = store.connect().await;
    // Five batches of two fill ten places; the next batch's first job
    // takes the eleventh, its second is refused, and the first must go.
    let mut eleven = crate::conformance::catalog();
    eleven.quotas.max_waiting_jobs = 11;
    let queue = Arc::new(wjp_queue::Queue::new(backend.clone(), eleven));
    let enqueues: Vec<_> = (0..20)
        .map(|_| {
            let queue = queue.clone();
            let pair = vec![request("noop", json!("ab")), request("noop", json!("cd"))];
            tokio::spawn(async move { queue.enqueue_batch(pair).await })
        })
        .collect();
    let (mut admitted, mut refused) = (0, 0);
    for enqueue in enqueues {
        match enqueue.await.expect("enqueue task") {
            Ok(_) => admitted += 1,
            Err(err) => {
                assert_eq!(err.code(), "queue_full", "{err}");
                refused += 1;
            }
        }
    }
    assert_eq!((admitted, refused), (5, 15));
    assert_eq!(queue.queue_length("default").await.unwrap(), 10);
    assert_eq!(backend.events_after(None, 1000).await.unwrap().len(), 10);
    // 4 bytes of JSON each.
    assert_eq!(waiting_bytes(&queue, "default").await, 40);
}

/// A graph that ends every way leaves no edge in `job_parents`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dependencies_leave_no_edge_behind() {
    let store = SqliteStore::new().await;
    let queue = queue_on(&store).await;
    let with_after = |kind: &str, after: &[&wjp_queue::JobId]| {
        let mut r = request(kind, json!({"message": "x"}));
        r.max_attempts = Some(1);
        r.after = after.iter().map(|id| id.to_string()).collect();
        r
    };
    let failing = queue.enqueue(with_after("fail", &[])).await.unwrap().job.id;
    let fine = queue.enqueue(with_after("noop", &[])).await.unwrap().job.id;
    let doomed = queue
        .enqueue(with_after("noop", &[&failing, &fine]))
        .await
        .unwrap()
        .job
        .id;
    queue.enqueue(with_after("noop", &[&doomed])).await.unwrap();
    let dropped = queue
        .enqueue(with_after("noop", &[&fine]))
        .await
        .unwrap()
        .job
        .id;
    let edges = |store: &SqliteStore| -> i64 {
        rusqlite::Connection::open(store.dir.path().join("wjp.db"))
            .unwrap()
            .query_row("SELECT COUNT(*) FROM job_parents", [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(edges(&store), 4, "two, one and one");
    queue.cancel(&dropped).await.unwrap();
    assert_eq!(edges(&store), 3);
    let mut config = crate::conformance::fast_config("w-deps", &["default"]);
    config.burst = true;
    crate::conformance::start_worker(&queue, crate::conformance::builtin_handlers(), config)
        .finish()
        .await;
    assert_eq!(edges(&store), 0);
    assert_eq!(
        queue.job(&doomed).await.unwrap().unwrap().status(),
        Status::Cancelled
    );
}
