//! The conformance suite against a real `redis-server`, plus what only a
//! server can do: restart under a running worker, expire every key,
//! authenticate.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::json;
use wjp_queue::backend::redis::RedisBackend;
use wjp_queue::backend::{Backend, ClaimRequest, JobQuery};
use wjp_queue::{state, JobId, QueueName, Status, Timestamp};

use crate::conformance::{
    builtin_handlers, claim, enqueue_id, enqueue_ids, fast_config, queue_on, request, start_worker,
    wait_for_job, waiting_bytes, Store,
};
use crate::redis_server::{
    earlier_header, ready_key_in, store_record_as_key, stored_record, RedisServer,
};

pub struct RedisStore {
    server: RedisServer,
}

impl RedisStore {
    pub async fn new() -> Self {
        RedisStore {
            server: RedisServer::start(&[]),
        }
    }
}

#[async_trait]
impl Store for RedisStore {
    async fn connect(&self) -> Arc<dyn Backend> {
        Arc::new(
            RedisBackend::connect(&self.server.url(0))
                .await
                .expect("connect to the test redis-server"),
        )
    }
}

conformance_suite!(RedisStore::new().await);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redis_restart_under_a_running_worker_loses_nothing() {
    // fsync on every write: a SIGKILL loses nothing acknowledged.
    let store = RedisStore {
        server: RedisServer::start(&["--appendfsync", "always"]),
    };
    let queue = queue_on(&store).await;
    let mut before = Vec::new();
    for i in 0..40 {
        let mut r = request("sleep", json!({"seconds": 0.05}));
        r.job_id = Some(format!("before-{i}"));
        before.push(queue.enqueue(r).await.unwrap().job.id);
    }
    let worker = start_worker(
        &queue,
        builtin_handlers(),
        fast_config("w-restart", &["default"]),
    );
    wait_for_job(&queue, &before[0], Duration::from_secs(20), |j| {
        j.status() == Status::Completed
    })
    .await;

    let done = queue.counts().await.unwrap()[0].completed;
    assert!(done < 40, "the worker is still busy when Redis goes down");
    let mut server = store.server;
    server.kill();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!queue.is_available().await, "Redis is down");
    server.restart();
    let store = RedisStore { server };

    // The same handles carry on: the API enqueues, the worker finishes.
    let mut after = Vec::new();
    for i in 0..20 {
        let r = request("noop", json!(i));
        after.push(queue.enqueue(r).await.unwrap().job.id);
    }
    for id in before.iter().chain(&after) {
        let job = wait_for_job(&queue, id, Duration::from_secs(60), |j| {
            j.status().is_terminal()
        })
        .await;
        assert_eq!(job.status(), Status::Completed, "{job:#?}");
    }
    worker.stop().await;
    let counts = &queue.counts().await.unwrap()[0];
    assert_eq!(counts.completed, 60, "{counts:?}");
    assert_eq!(counts.queued + counts.running + counts.scheduled, 0);
    drop(store);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_and_waits_resume_after_a_redis_restart() {
    // fsync on every write: with the default (every second) a busy disk
    // lets Redis postpone its AOF write by up to two seconds, and the
    // SIGKILL below lost the job it had acknowledged.
    let store = RedisStore {
        server: RedisServer::start(&["--appendfsync", "always"]),
    };
    let queue = queue_on(&store).await;
    let first = queue
        .enqueue(request("noop", json!(1)))
        .await
        .unwrap()
        .job
        .id;
    let cursor = queue.last_event_id().await.unwrap();
    assert!(cursor.is_some());
    // A long outage: the connection manager gives up its quick retries,
    // and must still come back when the server does.
    let mut server = store.server;
    server.kill();
    for _ in 0..3 {
        let err = queue.backend().ping().await.unwrap_err();
        assert_eq!(err.code(), "backend_unavailable");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    server.restart();
    let store = RedisStore { server };
    // The connection comes back by itself: the first command after the
    // restart may still meet the old refusal (the reconnect is made by
    // that command), a later one must not.
    let back = tokio::time::Instant::now() + Duration::from_secs(30);
    while !queue.is_available().await {
        assert!(
            tokio::time::Instant::now() < back,
            "Redis did not come back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let worker = start_worker(
        &queue,
        builtin_handlers(),
        fast_config("w-events", &["default"]),
    );
    wait_for_job(&queue, &first, Duration::from_secs(30), |j| {
        j.status() == Status::Completed
    })
    .await;
    let events = queue
        .next_events(cursor.as_deref(), 100, Duration::from_secs(5))
        .await
        .unwrap();
    let statuses: Vec<Status> = events.iter().map(|e| e.status).collect();
    assert_eq!(statuses, [Status::Running, Status::Completed]);
    worker.stop().await;
    drop(store);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_key_lives_forever() {
    let store = RedisStore::new().await;
    let queue = queue_on(&store).await;
    let mut ids = Vec::new();
    for (kind, payload) in [
        ("noop", json!(1)),
        ("fail", json!({"message": "x"})),
        ("sleep", json!({"seconds": 0.2})),
        ("noop", json!(2)),
    ] {
        let mut r = request(kind, payload);
        r.result_ttl = Some(0.3);
        r.failure_ttl = Some(0.3);
        r.max_attempts = Some(1);
        ids.push(queue.enqueue(r).await.unwrap().job.id);
    }
    let mut r = request("noop", json!({}));
    r.result_ttl = Some(0.3);
    r.failure_ttl = Some(0.3);
    r.queue = Some("gcode".into());
    let cancelled = queue.enqueue(r).await.unwrap().job.id;
    queue.cancel(&cancelled).await.unwrap();
    let mut config = fast_config("w-ttl", &["default"]);
    config.burst = true;
    start_worker(&queue, builtin_handlers(), config)
        .finish()
        .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    queue.maintain().await.unwrap();
    for id in ids.iter().chain([&cancelled]) {
        assert!(queue.job(id).await.unwrap().is_none(), "{id} expired");
    }

    let mut conn = store.server.connection(0);
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut conn).unwrap();
    let mut bounded = HashSet::new();
    for key in &keys {
        let ttl: i64 = redis::cmd("PTTL").arg(key).query(&mut conn).unwrap();
        if ttl > 0 {
            continue;
        }
        let kind: String = redis::cmd("TYPE").arg(key).query(&mut conn).unwrap();
        let ok = match kind.as_str() {
            // Capped streams: events (MAXLEN ~ and aged out) and wake-ups.
            "stream" if key.ends_with(":events") || key.ends_with(":wake") => {
                let len: u64 = redis::cmd("XLEN").arg(key).query(&mut conn).unwrap();
                len <= 200
            }
            // The audit log: trimmed by maintenance to the catalog's
            // retention (age and entries; conformance `audit.rs`).
            "stream" if key.ends_with(":audit") => {
                let len: u64 = redis::cmd("XLEN").arg(key).query(&mut conn).unwrap();
                len <= 200
            }
            // One counter per queue.
            "string" if key.ends_with(":seq") => true,
            // The queue names.
            "set" if key == "wjp:queues" => true,
            // The layout of the keys: one per server.
            "string" if key == "wjp:layout" => true,
            _ => false,
        };
        assert!(
            ok,
            "{key} ({kind}) has no TTL and is not a bounded structure"
        );
        bounded.insert(key.clone());
    }
    assert!(
        keys.iter().all(|k| !k.contains(":job:")),
        "no job record is left: {keys:?}"
    );
    assert!(bounded.contains("wjp:queues"), "{keys:?}");
}

/// The event stream keeps about its cap of events whatever the calls'
/// sizes: 30,000 jobs enqueued 500 a call would keep all 30,000 events
/// under a cap of 20,000 entries.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_event_stream_keeps_about_its_cap_of_events_whatever_the_batch_size() {
    let store = RedisStore::new().await;
    let queue = queue_on(&store).await;
    for call in 0..60 {
        let batch = (0..500)
            .map(|i| request("noop", json!(call * 500 + i)))
            .collect();
        queue.enqueue_batch(batch).await.unwrap();
    }
    let mut conn = store.server.connection(0);
    let entries: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg("wjp:{default}:events")
        .arg("-")
        .arg("+")
        .query(&mut conn)
        .unwrap();
    let events: usize = entries
        .iter()
        .flat_map(|(_, fields)| fields.iter())
        .filter(|(field, _)| field == "e")
        .map(|(_, lines)| lines.lines().count())
        .sum();
    assert!(
        (19_000..=21_000).contains(&events),
        "{events} events in {} entries",
        entries.len()
    );
}

/// A graph whose parents fail, complete and are cancelled, across queues:
/// once its jobs expired, no key of the dependencies is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dependencies_leave_no_key_behind() {
    let store = RedisStore::new().await;
    let queue = queue_on(&store).await;
    let short = |kind: &str, payload: serde_json::Value, queue: &str, after: &[&JobId]| {
        let mut r = request(kind, payload);
        r.queue = Some(queue.into());
        r.result_ttl = Some(0.3);
        r.failure_ttl = Some(0.3);
        r.max_attempts = Some(1);
        r.after = after.iter().map(|id| id.to_string()).collect();
        r
    };
    let failing = queue
        .enqueue(short("fail", json!({"message": "x"}), "analysis", &[]))
        .await
        .unwrap()
        .job
        .id;
    let fine = queue
        .enqueue(short("noop", json!(1), "analysis", &[]))
        .await
        .unwrap()
        .job
        .id;
    let doomed = queue
        .enqueue(short("noop", json!(2), "nesting", &[&failing, &fine]))
        .await
        .unwrap()
        .job
        .id;
    let below = queue
        .enqueue(short("noop", json!(3), "gcode", &[&doomed]))
        .await
        .unwrap()
        .job
        .id;
    let released = queue
        .enqueue(short("noop", json!(4), "default", &[&fine]))
        .await
        .unwrap()
        .job
        .id;
    let dropped = queue
        .enqueue(short("noop", json!(5), "conversion", &[&fine]))
        .await
        .unwrap()
        .job
        .id;
    queue.cancel(&dropped).await.unwrap();
    let mut config = fast_config("w-deps", &["analysis", "nesting", "gcode", "default"]);
    config.burst = true;
    start_worker(&queue, builtin_handlers(), config)
        .finish()
        .await;
    for (id, status) in [
        (&doomed, Status::Cancelled),
        (&below, Status::Cancelled),
        (&released, Status::Completed),
    ] {
        let job = wait_for_job(&queue, id, Duration::from_secs(20), |j| {
            j.status() == status
        })
        .await;
        assert_eq!(job.status(), status);
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    queue.maintain().await.unwrap();
    let mut conn = store.server.connection(0);
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut conn).unwrap();
    let left: Vec<&String> = keys
        .iter()
        .filter(|k| {
            k.contains(":job:")
                || k.ends_with(":pending")
                || k.contains(":dependants")
                || k.ends_with(":outbox")
        })
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// The process that ends a parent delivers its end to dependants in other
/// queues at once, without waiting for a maintenance pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_end_reaches_dependants_in_other_queues_without_maintenance() {
    let store = RedisStore::new().await;
    let queue = queue_on(&store).await;
    let mut parent = request("noop", json!(1));
    parent.queue = Some("analysis".into());
    let parent = queue.enqueue(parent).await.unwrap().job.id;
    let mut child = request("noop", json!(2));
    child.queue = Some("nesting".into());
    child.after = vec![parent.to_string()];
    let child = queue.enqueue(child).await.unwrap().job.id;
    let taken = claim(&queue, &["analysis"], 1, Duration::from_secs(60)).await;
    let t = state::complete(&taken[0], json!(1), Timestamp::now());
    assert_eq!(queue.backend().apply(vec![t]).await.unwrap(), [true]);
    let job = queue.job(&child).await.unwrap().unwrap();
    assert_eq!(
        job.status(),
        Status::Queued,
        "released by the end's own process"
    );
}

#[tokio::test]
async fn a_password_is_used_but_never_shown() {
    let server = RedisServer::start(&["--requirepass", "s3cret"]);
    let url = format!("redis://:s3cret@127.0.0.1:{}/1", server.port());
    let backend = RedisBackend::connect(&url).await.unwrap();
    backend.ping().await.unwrap();
    let info = backend.info();
    assert_eq!(info.name, "redis");
    assert!(!info.location.contains("s3cret"), "{}", info.location);
    assert!(
        info.location.ends_with(&format!(":{}/1", server.port())),
        "{}",
        info.location
    );
    assert!(info.details.contains_key("server_version"), "{info:?}");

    let wrong = format!("redis://:nope@127.0.0.1:{}/1", server.port());
    let err = RedisBackend::connect(&wrong)
        .await
        .err()
        .expect("wrong password");
    assert!(!err.to_string().contains("nope"), "{err}");
    assert!(
        err.is_client_error(),
        "a wrong password is a configuration error: {err}"
    );
}

#[tokio::test]
async fn an_unreachable_server_is_reported_and_a_lazy_backend_waits_for_it() {
    let port = {
        let server = RedisServer::start(&[]);
        server.port()
    };
    let url = format!("redis://127.0.0.1:{port}/0");
    let err = RedisBackend::connect(&url)
        .await
        .err()
        .expect("nothing listens");
    assert_eq!(err.code(), "backend_unavailable", "{err}");
    let lazy = RedisBackend::connect_lazy(&url).unwrap();
    assert_eq!(lazy.ping().await.unwrap_err().code(), "backend_unavailable");
}

/// A server without functions (older than Redis 7; here, one that renamed
/// them away) reached by a lazily connected backend, which skips the version
/// check: its errors say what wjp needs.
#[tokio::test]
async fn a_server_without_functions_is_named_in_the_error() {
    let server = RedisServer::start(&[
        "--rename-command",
        "FCALL",
        "",
        "--rename-command",
        "FUNCTION",
        "",
    ]);
    let url = format!("redis://127.0.0.1:{}/0", server.port());
    let lazy = RedisBackend::connect_lazy(&url).unwrap();
    let err = lazy.claim(&claim_default(1)).await.unwrap_err();
    assert_eq!(err.code(), "backend_error", "{err}");
    assert!(
        err.to_string().contains("needs Redis 7.0 or later"),
        "{err}"
    );
}

#[tokio::test]
async fn functions_flushed_from_the_server_are_loaded_again() {
    let store = RedisStore::new().await;
    let queue = queue_on(&store).await;
    let mut conn = store.server.connection(0);
    let mut flush = || {
        let _: () = redis::cmd("FUNCTION")
            .arg("FLUSH")
            .query(&mut conn)
            .unwrap();
    };
    flush();
    let id = enqueue_id(&queue, request("noop", json!({}))).await;
    flush();
    assert_eq!(
        queue.cancel(&id).await.unwrap(),
        wjp_queue::CancelOutcome::Cancelled
    );
    let missing = JobId::parse("missing").unwrap();
    assert!(queue.job(&missing).await.unwrap().is_none());
}

/// A server past `maxmemory` refuses writes; the API must still show jobs
/// (an operator looks at them to see what is wrong), and say why a write
/// was refused.
#[tokio::test]
async fn a_server_out_of_memory_refuses_writes_and_still_answers_reads() {
    let store = RedisStore::new().await;
    let queue = queue_on(&store).await;
    let id = enqueue_id(&queue, request("noop", json!({}))).await;
    let mut conn = store.server.connection(0);
    let set_maxmemory = |conn: &mut redis::Connection, bytes: &str| {
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg("maxmemory")
            .arg(bytes)
            .query(conn)
            .unwrap();
    };
    set_maxmemory(&mut conn, "1");
    let refused = queue.enqueue(request("noop", json!({}))).await.unwrap_err();
    assert!(refused.to_string().contains("OOM"), "{refused}");
    let job = queue.job(&id).await.unwrap().unwrap();
    assert_eq!(job.status(), Status::Queued);
    let page = queue
        .list(wjp_queue::backend::JobQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.jobs.len(), 1, "{page:?}");
    set_maxmemory(&mut conn, "0");
    queue.enqueue(request("noop", json!({}))).await.unwrap();
}

#[tokio::test]
async fn a_job_id_is_one_job_across_queues() {
    let store = RedisStore::new().await;
    let queue = queue_on(&store).await;
    let mut first = request("noop", json!(1));
    first.job_id = Some("order-7".into());
    assert!(queue.enqueue(first.clone()).await.unwrap().created);
    let mut elsewhere = request("noop", json!(2));
    elsewhere.job_id = Some("order-7".into());
    elsewhere.queue = Some("gcode".into());
    let again = queue.enqueue(elsewhere.clone()).await.unwrap();
    assert!(!again.created);
    assert_eq!(again.job.queue.as_str(), "default");

    // Once cancelled, the id may be used afresh, in another queue too.
    queue.cancel(&again.job.id).await.unwrap();
    let fresh = queue.enqueue(elsewhere).await.unwrap();
    assert!(fresh.created);
    let stored = queue.job(&fresh.job.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.queue.as_str(), stored.payload.clone()),
        ("gcode", json!(2))
    );
    let counts = queue.counts().await.unwrap();
    assert_eq!(counts[0].cancelled + counts[0].queued, 0, "{counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_worker_wakes_as_soon_as_a_job_comes() {
    let store = RedisStore::new().await;
    let queue = queue_on(&store).await;
    let mut config = fast_config("w-idle", &["gcode"]);
    // An idle worker looks again on its own only after this long: a job
    // done well before it was woken by Redis. (The wait below is a bound
    // on a hang, not a measure of speed.)
    config.idle_wait = Duration::from_secs(600);
    let worker = start_worker(&queue, builtin_handlers(), config);
    tokio::time::sleep(Duration::from_millis(300)).await;
    for i in 0..3 {
        let mut r = request("noop", json!(i));
        r.queue = Some("gcode".into());
        let id = queue.enqueue(r).await.unwrap().job.id;
        wait_for_job(&queue, &id, Duration::from_secs(60), |j| {
            j.status() == Status::Completed
        })
        .await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    worker.stop().await;
}

#[tokio::test]
async fn rediss_with_a_password_works_and_hides_the_password() {
    let server = RedisServer::start_tls("t0ps3cret");
    let ca = std::fs::read(RedisServer::tls_certificate()).unwrap();
    let url = format!("rediss://:t0ps3cret@localhost:{}/0", server.port());
    // Not signed by a public authority: refused unless trusted.
    assert!(RedisBackend::connect(&url).await.is_err());
    let backend: Arc<dyn Backend> = Arc::new(
        RedisBackend::connect_trusting(&url, ca.clone())
            .await
            .unwrap(),
    );
    let info = backend.info();
    assert_eq!(
        info.location,
        format!("rediss://localhost:{}/0", server.port())
    );
    let queue = wjp_queue::Queue::new(backend, crate::conformance::catalog());
    let job = queue.enqueue(request("noop", json!(1))).await.unwrap().job;
    assert_eq!(
        queue.job(&job.id).await.unwrap().unwrap().status(),
        Status::Queued
    );

    // Plain text to a TLS port, or a wrong password: refused, clearly.
    let plain = format!("redis://:t0ps3cret@localhost:{}/0", server.port());
    assert!(RedisBackend::connect(&plain).await.is_err());
    let wrong = format!("rediss://:nope@localhost:{}/0", server.port());
    let err = RedisBackend::connect_trusting(&wrong, ca)
        .await
        .err()
        .expect("wrong password");
    assert!(!err.to_string().contains("nope"), "{err}");
}

/// Lua compares strings by the server's collation (Redis takes
/// LC_COLLATE from its environment), and under en_US.UTF-8 that is not
/// byte order: it puts 'a' before 'B' and passes over punctuation, all of
/// which appear among the digits of ready keys. Jobs that became due while
/// waiting, claimed in one call (which sorts them in Lua), still come by
/// priority, then in the order they were due.
#[tokio::test]
async fn claim_order_does_not_follow_the_servers_locale() {
    let locales = tempfile::tempdir().unwrap();
    let made = std::process::Command::new("localedef")
        .args(["-i", "en_US", "-f", "UTF-8"])
        .arg(locales.path().join("en_US.UTF-8"))
        .status();
    assert!(
        made.is_ok_and(|s| s.success()),
        "localedef could not make en_US.UTF-8 (its sources are in Debian's `locales` package)"
    );
    let locpath = locales.path().display().to_string();
    let store = RedisStore {
        server: RedisServer::start_with_env(
            &[],
            &[("LOCPATH", &locpath), ("LC_ALL", "en_US.UTF-8")],
        ),
    };
    // The hazard is real on this server: its Lua does not compare bytes.
    let mut conn = store.server.connection(0);
    let collated: i64 = redis::cmd("EVAL")
        .arg("if 'a' < 'B' then return 1 else return 0 end")
        .arg(0)
        .query(&mut conn)
        .unwrap();
    assert_eq!(collated, 1, "the server should collate by en_US.UTF-8");

    let queue = queue_on(&store).await;
    // Due one after another, a millisecond or more apart (the last digits
    // of their run-at times run through '0'..'o'), at three priorities.
    let mut expected = Vec::new();
    for i in 0..40 {
        let mut r = request("noop", json!(i));
        r.priority = Some([0, 7, -7][i % 3]);
        r.delay = Some(0.3 + i as f64 * 0.002);
        expected.push((-[0, 7, -7][i % 3], enqueue_id(&queue, r).await));
    }
    // The highest priority first, then the order they were due.
    expected.sort_by_key(|(p, _)| *p);
    let expected: Vec<JobId> = expected.into_iter().map(|(_, id)| id).collect();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let claimed = claim(&queue, &["default"], 100, Duration::from_secs(30)).await;
    let order: Vec<JobId> = claimed.into_iter().map(|j| j.id).collect();
    assert_eq!(order, expected);
}

/// Records as the layout before this one wrote them (the header as now,
/// the body with its kind and creation time, and, ended, its status,
/// expiry and a progress of 1) are read as they were, claimed and ended
/// by this version: a server keeps its jobs across the upgrade.
#[tokio::test]
async fn records_of_layout_2_are_read_claimed_and_ended() {
    let store = RedisStore::new().await;
    let queue = queue_on(&store).await;
    let mut conn = store.server.connection(0);
    let ids = enqueue_ids(
        &queue,
        vec![
            request("noop", json!("ended")),
            request("noop", json!("waits")),
        ],
    )
    .await;
    let ended = claim(&queue, &["default"], 1, Duration::from_secs(30)).await;
    let done = state::complete(&ended[0], json!("done"), Timestamp::now());
    assert_eq!(queue.backend().apply(vec![done]).await.unwrap(), [true]);
    let before = stored_jobs(&queue, &ids).await;
    // The bodies as layout 2 had them: the fields this one leaves to the
    // header written into the body again.
    for job in &before {
        let id = job.id.as_str();
        let record = stored_record(&mut conn, "default", id).unwrap();
        let (header, body) = record.split_once('\n').unwrap();
        let mut earlier = format!(r#"{{"k":"noop","c":{},"#, job.created_at.0);
        if job.state.status == Status::Completed {
            let expires = job.state.expires_at.unwrap().0;
            earlier += &format!(r#""s":"completed","x":{expires},"pg":1,"#);
        }
        let earlier = body.replacen('{', &earlier, 1);
        assert!(earlier.len() > body.len(), "{earlier}");
        let header = earlier_header(header);
        store_record_as_key(&mut conn, "default", id, &format!("{header}\n{earlier}"));
    }
    set_layout(&mut conn, "2");

    let queue = queue_on(&store).await;
    for job in &before {
        assert_eq!(&queue.job(&job.id).await.unwrap().unwrap(), job);
    }
    let claimed = claim(&queue, &["default"], 10, Duration::from_secs(30)).await;
    assert_eq!(claimed.len(), 1);
    assert_eq!(
        (&claimed[0].id, &claimed[0].payload),
        (&ids[1], &json!("waits"))
    );
    assert_eq!(claimed[0].created_at, before[1].created_at);
    let done = state::complete(&claimed[0], json!("done too"), Timestamp::now());
    assert_eq!(queue.backend().apply(vec![done]).await.unwrap(), [true]);
    let job = queue.job(&ids[1]).await.unwrap().unwrap();
    assert_eq!(
        (job.status(), job.state.result),
        (Status::Completed, Some(json!("done too")))
    );
}

/// The jobs of these ids as the queue reads them, in order.
async fn stored_jobs(queue: &wjp_queue::Queue, ids: &[JobId]) -> Vec<wjp_queue::Job> {
    let mut jobs = Vec::new();
    for id in ids {
        jobs.push(queue.job(id).await.unwrap().unwrap());
    }
    jobs
}

/// The keys of `default` that match `pattern` after its prefix.
fn default_keys(conn: &mut redis::Connection, pattern: &str) -> Vec<String> {
    redis::cmd("KEYS")
        .arg(format!("wjp:{{default}}:{pattern}"))
        .query(conn)
        .unwrap()
}

/// A waiting job's record of at most 64 bytes is a field of its queue's
/// record hash, its status a letter and its plain ready key left out; a
/// larger one (a long payload; a priority, whose ready key is written) is
/// a key of its own.
/// An ended job's record is a key of its own, out of the hash; once no
/// job waits, no record hash is left.
#[tokio::test]
async fn small_waiting_records_are_packed_and_ended_ones_are_keys() {
    let store = RedisStore::new().await;
    let queue = queue_on(&store).await;
    let mut conn = store.server.connection(0);
    let mut small = request("noop", json!(1));
    small.job_id = Some("order-1".into());
    let mut urgent = request("noop", json!(2));
    urgent.job_id = Some("order-2".into());
    urgent.priority = Some(5);
    let mut large = request("noop", json!("x".repeat(200)));
    large.job_id = Some("order-3".into());
    for r in [small, urgent, large] {
        queue.enqueue(r).await.unwrap();
    }
    let packed = |conn: &mut redis::Connection, id: &str| -> Option<String> {
        let tail = &id[id.len() - 2..];
        redis::cmd("HGET")
            .arg(format!("wjp:{{default}}:r:{tail}"))
            .arg(id)
            .query(conn)
            .unwrap()
    };
    let small = packed(&mut conn, "order-1").expect("a small record is packed");
    assert!(small.len() <= 64, "{small}");
    let header = small.split_once('\n').unwrap().0;
    assert!(
        header.starts_with("q||0|noop||") && header.ends_with('|'),
        "{header}"
    );
    // A priority writes the ready key (21 bytes), which takes this one
    // past 64.
    assert_eq!(packed(&mut conn, "order-2"), None);
    let urgent = stored_record(&mut conn, "default", "order-2").unwrap();
    let urgent_header = urgent.split_once('\n').unwrap().0;
    assert_eq!(
        urgent_header.rsplit('|').next().unwrap().len(),
        21,
        "{urgent}"
    );
    assert_eq!(packed(&mut conn, "order-3"), None);
    let mut own = default_keys(&mut conn, "job:*");
    own.sort();
    assert_eq!(
        own,
        ["wjp:{default}:job:order-2", "wjp:{default}:job:order-3"]
    );
    assert_eq!(
        claimed_ids(&queue, 1).await,
        ["order-2"],
        "the priority first"
    );

    // Read back as they were written, through every place.
    let order_ids = ["order-1", "order-2", "order-3"].map(|id| JobId::parse(id).unwrap());
    let read: Vec<String> = stored_jobs(&queue, &order_ids)
        .await
        .iter()
        .map(|job| format!("{} {}", job.id, job.payload))
        .collect();
    assert_eq!(
        read,
        [
            "order-1 1",
            "order-2 2",
            &format!("order-3 \"{}\"", "x".repeat(200))
        ]
    );
    let mut listed = listed_ids(&queue, Some(Status::Queued), 10).await;
    listed.sort();
    assert_eq!(listed, ["order-1", "order-3"]);

    // Ended: keys of their own, out of the hashes.
    queue
        .cancel(&JobId::parse("order-1").unwrap())
        .await
        .unwrap();
    for job in claim(&queue, &["default"], 10, Duration::from_secs(30)).await {
        let done = state::complete(&job, json!("done"), Timestamp::now());
        assert_eq!(queue.backend().apply(vec![done]).await.unwrap(), [true]);
    }
    let running = JobId::parse("order-2").unwrap();
    let job = queue.job(&running).await.unwrap().unwrap();
    let done = state::complete(&job, json!("done"), Timestamp::now());
    assert_eq!(queue.backend().apply(vec![done]).await.unwrap(), [true]);
    assert_eq!(default_keys(&mut conn, "r:*"), Vec::<String>::new());
    let mut ended = default_keys(&mut conn, "job:*");
    ended.sort();
    assert_eq!(
        ended,
        [
            "wjp:{default}:job:order-1",
            "wjp:{default}:job:order-2",
            "wjp:{default}:job:order-3"
        ]
    );
    let cancelled = stored_record(&mut conn, "default", "order-1").unwrap();
    assert!(cancelled.starts_with("x||0|noop|cancelled|"), "{cancelled}");
    let ttl: i64 = redis::cmd("PTTL")
        .arg("wjp:{default}:job:order-1")
        .query(&mut conn)
        .unwrap();
    assert!(ttl > 0, "a cancelled record expires: {ttl}");
    let statuses: Vec<Status> = stored_jobs(&queue, &order_ids)
        .await
        .iter()
        .map(|job| job.status())
        .collect();
    assert_eq!(
        statuses,
        [Status::Cancelled, Status::Completed, Status::Completed]
    );
}

/// A claim looks first where its queue's last claimed record was (a key
/// or a record hash) and finds each job in the other place too, within a
/// call and from call to call; ends leave no packed record behind.
#[tokio::test]
async fn claims_find_packed_and_keyed_records_in_any_mix() {
    let store = RedisStore::new().await;
    let queue = queue_on(&store).await;
    let mut conn = store.server.connection(0);
    let sizes = [200, 1, 1, 200, 200, 1, 1, 200, 1, 200, 200, 1];
    let requests = sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            let mut r = request("noop", json!("x".repeat(n)));
            r.job_id = Some(format!("mix-{i:02}"));
            r
        })
        .collect();
    let ids = enqueue_ids(&queue, requests).await;
    assert_eq!(default_keys(&mut conn, "job:*").len(), 6, "the large ones");
    // One at a time for the first six (each call starts from the last
    // call's guess), then the rest in one call.
    let mut claimed = Vec::new();
    for _ in 0..6 {
        claimed.extend(claim(&queue, &["default"], 1, Duration::from_secs(30)).await);
    }
    claimed.extend(claim(&queue, &["default"], 10, Duration::from_secs(30)).await);
    let order: Vec<&str> = claimed.iter().map(|j| j.id.as_str()).collect();
    let expected: Vec<&str> = ids.iter().map(JobId::as_str).collect();
    assert_eq!(order, expected);
    for (job, &n) in claimed.iter().zip(&sizes) {
        assert_eq!(job.payload, json!("x".repeat(n)), "{}", job.id);
    }
    let ends: Vec<_> = claimed
        .iter()
        .map(|job| state::complete(job, json!("done"), Timestamp::now()))
        .collect();
    assert_eq!(queue.backend().apply(ends).await.unwrap(), [true; 12]);
    assert_eq!(default_keys(&mut conn, "r:*"), Vec::<String>::new());
    assert_eq!(default_keys(&mut conn, "job:*").len(), 12);
    let statuses: Vec<Status> = stored_jobs(&queue, &ids)
        .await
        .iter()
        .map(|job| job.status())
        .collect();
    assert_eq!(statuses, [Status::Completed; 12]);
}

/// Calls of the record hashes' commands (`HGET`, `HMGET`, `HSET`,
/// `HSETNX`, `HDEL`) since the server's counters were last reset.
fn record_hash_calls(conn: &mut redis::Connection) -> u64 {
    let info: String = redis::cmd("INFO").arg("commandstats").query(conn).unwrap();
    let calls = |command: &str| -> u64 {
        let line = format!("cmdstat_{command}:calls=");
        info.lines()
            .find_map(|l| l.strip_prefix(&line))
            .map_or(0, |rest| rest.split(',').next().unwrap().parse().unwrap())
    };
    ["hget", "hmget", "hset", "hsetnx", "hdel"]
        .into_iter()
        .map(calls)
        .sum()
}

/// The records of jobs whose ids share their end (as generated ids made in
/// a row do) are read and deleted with one command per record hash, not
/// per job; the same id twice in one call is stored once, in one place,
/// whichever of its records is the one that could be packed.
#[tokio::test]
async fn a_calls_records_are_handled_one_command_per_hash() {
    let store = RedisStore::new().await;
    let queue = queue_on(&store).await;
    let mut conn = store.server.connection(0);
    let requests = (0..60)
        .map(|i| {
            let mut r = request("noop", json!(i));
            r.job_id = Some(format!("run-{i:02}-{}", if i < 40 { "zz" } else { "yy" }));
            r
        })
        .collect();
    let reset = |conn: &mut redis::Connection| {
        let () = redis::cmd("CONFIG").arg("RESETSTAT").query(conn).unwrap();
    };
    let ids = enqueue_ids(&queue, requests).await;
    let fields: usize = redis::cmd("HLEN")
        .arg("wjp:{default}:r:zz")
        .query(&mut conn)
        .unwrap();
    assert_eq!(fields, 40);

    reset(&mut conn);
    let claimed = claim(&queue, &["default"], 60, Duration::from_secs(30)).await;
    let order: Vec<&JobId> = claimed.iter().map(|j| &j.id).collect();
    assert_eq!(order, ids.iter().collect::<Vec<_>>());
    let ends: Vec<_> = claimed
        .iter()
        .map(|job| state::complete(job, json!("done"), Timestamp::now()))
        .collect();
    assert_eq!(queue.backend().apply(ends).await.unwrap(), [true; 60]);
    let drain_calls = record_hash_calls(&mut conn);
    // One command per hash (two hashes) in the claim and in the end, and
    // a few for the queue's own hashes (leases, limits): per job it would
    // be 120.
    assert!(drain_calls <= 10, "claim and end: {drain_calls} calls");
    assert_eq!(default_keys(&mut conn, "r:*"), Vec::<String>::new());

    // The same id twice in a call: the first is stored (a key, as its
    // record is too large to pack), the second is that job.
    let mut large = request("noop", json!("x".repeat(200)));
    large.job_id = Some("twice-zz".into());
    let mut small = request("noop", json!(1));
    small.job_id = Some("twice-zz".into());
    let enqueued = queue.enqueue_batch(vec![large, small]).await.unwrap();
    assert!(enqueued[0].created && !enqueued[1].created);
    assert_eq!(enqueued[1].job.payload, json!("x".repeat(200)));
    assert_eq!(default_keys(&mut conn, "r:*"), Vec::<String>::new());
    let job = queue.job(&enqueued[0].job.id).await.unwrap().unwrap();
    assert_eq!(job.payload, json!("x".repeat(200)));
    // The other way round: the first packed, the second that job.
    let mut small = request("noop", json!(2));
    small.job_id = Some("again-zz".into());
    let mut large = request("noop", json!("y".repeat(200)));
    large.job_id = Some("again-zz".into());
    let enqueued = queue.enqueue_batch(vec![small, large]).await.unwrap();
    assert!(enqueued[0].created && !enqueued[1].created);
    assert_eq!(enqueued[1].job.payload, json!(2));
    assert_eq!(
        default_keys(&mut conn, "job:again-zz"),
        Vec::<String>::new()
    );
    assert!(stored_record(&mut conn, "default", "again-zz").is_some());
}

/// Records of layout 7 (keys of their own, statuses as words, every ready
/// key written) are read, kept from a second enqueue, cancelled, claimed
/// in order and retried by this version, which marks the server 8 without
/// rewriting them; a record it writes again is in one place only.
#[tokio::test]
async fn records_of_layout_7_are_read_claimed_and_rewritten_in_one_place() {
    let store = RedisStore::new().await;
    let queue = queue_on(&store).await;
    let mut conn = store.server.connection(0);
    let mut requests = Vec::new();
    for (i, priority) in [0, 3, 0, 0].into_iter().enumerate() {
        let mut r = request("noop", json!(i));
        r.job_id = Some(format!("old-{i}"));
        r.priority = Some(priority);
        r.max_attempts = Some(3);
        requests.push(r);
    }
    let ids = enqueue_ids(&queue, requests).await;
    let before = stored_jobs(&queue, &ids).await;
    for id in &ids {
        let record = stored_record(&mut conn, "default", id.as_str()).unwrap();
        let (header, body) = record.split_once('\n').unwrap();
        let earlier = format!("{}\n{body}", earlier_header(header));
        assert!(earlier.starts_with("queued||0|noop||"), "{earlier}");
        store_record_as_key(&mut conn, "default", id.as_str(), &earlier);
    }
    assert_eq!(default_keys(&mut conn, "r:*"), Vec::<String>::new());
    set_layout(&mut conn, "7");

    let queue = queue_on(&store).await;
    assert_eq!(layout(&mut conn), "8");
    for job in &before {
        assert_eq!(&queue.job(&job.id).await.unwrap().unwrap(), job);
    }
    let mut again = request("noop", json!("again"));
    again.job_id = Some("old-0".into());
    assert!(!queue.enqueue(again).await.unwrap().created);
    queue.cancel(&ids[2]).await.unwrap();
    assert_eq!(claimed_ids(&queue, 1).await, ["old-1"]);
    // A retry writes the record again, in one place: its error makes it
    // too large to pack, so the key.
    let job = queue.job(&ids[1]).await.unwrap().unwrap();
    let retried = state::fail(
        &job,
        wjp_queue::JobError::new(wjp_queue::ErrorKind::HandlerError, "again"),
        Timestamp::now(),
    );
    assert_eq!(queue.backend().apply(vec![retried]).await.unwrap(), [true]);
    let job = queue.job(&ids[1]).await.unwrap().unwrap();
    assert!(!job.status().is_terminal(), "retried: {:?}", job.status());
    let record = stored_record(&mut conn, "default", "old-1").unwrap();
    assert!(record.len() > 64 && record.contains("again"), "{record}");
    let in_hash: bool = redis::cmd("HEXISTS")
        .arg("wjp:{default}:r:-1")
        .arg("old-1")
        .query(&mut conn)
        .unwrap();
    assert!(!in_hash);
    let queued = usize::from(job.status() == Status::Queued);
    assert_eq!(claimed_ids(&queue, 10).await.len(), 2 + queued);
}

/// Claims up to `max` jobs of `default` and gives their ids in order.
async fn claimed_ids(queue: &wjp_queue::Queue, max: usize) -> Vec<String> {
    claim(queue, &["default"], max, Duration::from_secs(30))
        .await
        .iter()
        .map(|j| j.id.to_string())
        .collect()
}

/// Enqueues a `noop` job with this id and priority.
async fn enqueue_with_priority(queue: &wjp_queue::Queue, id: &str, priority: i32) {
    let mut r = request("noop", json!({}));
    r.priority = Some(priority);
    r.job_id = Some(id.into());
    queue.enqueue(r).await.unwrap();
}

/// The ready key in the header of a job's record of `default`.
fn ready_key_of(conn: &mut redis::Connection, id: &str) -> String {
    let record = stored_record(conn, "default", id).unwrap();
    ready_key_in(record.split_once('\n').unwrap().0)
}

/// The entries of one of `default`'s ready lists: job ids, in claim order
/// (their records' ready keys ascend).
fn list_ids(conn: &mut redis::Connection, list: &str) -> Vec<String> {
    let ids: Vec<String> = redis::cmd("LRANGE")
        .arg(format!("wjp:{{default}}:{list}"))
        .arg(0)
        .arg(-1)
        .query(conn)
        .unwrap();
    assert!(ids.iter().all(|id| !id.contains('|')), "ids alone: {ids:?}");
    let keys: Vec<String> = ids.iter().map(|id| ready_key_of(conn, id)).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(sorted, keys, "{list} is in claim order");
    ids
}

/// The ids of a queue's ready list and ready set, each in its order.
fn ready_ids(conn: &mut redis::Connection) -> (Vec<String>, Vec<String>) {
    let set: Vec<String> = redis::cmd("ZRANGE")
        .arg("wjp:{default}:ready")
        .arg(0)
        .arg(-1)
        .query(conn)
        .unwrap();
    let set = set
        .iter()
        .map(|m| m.split_once('|').expect("a ready member").1.to_owned())
        .collect();
    (list_ids(conn, "ready_list"), set)
}

/// Queued jobs of the default priority that arrive in claim order wait in
/// the ready list (a third of a sorted-set entry's memory), the others in
/// the ready set, also within one call of mixed priorities; a job of a low
/// priority does not send the jobs after it to the set; cancels near
/// either end of the list take out just their job; claims take the two
/// merged in claim order.
#[tokio::test]
async fn default_priority_jobs_wait_in_the_ready_list_in_claim_order() {
    let store = RedisStore::new().await;
    let queue = queue_on(&store).await;
    let priority = |i: usize| match i % 5 {
        1 => -2,
        3 => 4,
        _ => 0,
    };
    let name = |i: usize| format!("j{i:02}");
    let batch = (0..20)
        .map(|i| {
            let mut r = request("noop", json!({ "i": i }));
            r.priority = Some(priority(i));
            r.job_id = Some(name(i));
            r
        })
        .collect();
    queue.enqueue_batch(batch).await.unwrap();
    for i in 20..25 {
        enqueue_with_priority(&queue, &name(i), 0).await;
    }
    let mut conn = store.server.connection(0);
    let (list, set) = ready_ids(&mut conn);
    // The batch's jobs of priority 0, then the five enqueued one by one.
    let default: Vec<String> = (0..20)
        .filter(|i| priority(*i) == 0)
        .chain(20..25)
        .map(name)
        .collect();
    assert_eq!(list, default);
    let others = |p: i32| (0..20).filter(move |i| priority(*i) == p).map(name);
    assert_eq!(set, others(4).chain(others(-2)).collect::<Vec<_>>());

    for id in ["j00", "j23"] {
        queue.cancel(&JobId::parse(id).unwrap()).await.unwrap();
    }
    let (list, _) = ready_ids(&mut conn);
    let left: Vec<String> = default
        .iter()
        .filter(|id| *id != "j00" && *id != "j23")
        .cloned()
        .collect();
    assert_eq!(list, left);
    assert_eq!(queue.counts().await.unwrap()[0].queued, 23);

    let claimed = claimed_ids(&queue, 50).await;
    let expected: Vec<String> = others(4).chain(left).chain(others(-2)).collect();
    assert_eq!(claimed, expected);

    // Every job of the set before every job of the list, and the other way
    // round: one claim takes both in order.
    for (id, p) in [("d1", 0), ("h1", 4), ("d2", 0), ("h2", 4), ("d3", 0)] {
        enqueue_with_priority(&queue, id, p).await;
    }
    let claimed = claimed_ids(&queue, 4).await;
    assert_eq!(claimed, ["h1", "h2", "d1", "d2"]);
    enqueue_with_priority(&queue, "l1", -1).await;
    let claimed = claimed_ids(&queue, 4).await;
    assert_eq!(claimed, ["d3", "l1"]);
}

/// A job stamped earlier than the ready list's tail (another producer's
/// clock, a batch that took longer to arrive) joins the late list (its
/// list score is below the tail's), not the set, and is claimed after the
/// tail: among due jobs of one priority, arrival decides where the stamps
/// disagree with it.
#[tokio::test]
async fn a_job_stamped_before_the_lists_tail_joins_the_list_after_it() {
    let store = RedisStore::new().await;
    let queue = queue_on(&store).await;
    let stamped = |id: &str, at: Timestamp| {
        let mut r = request("noop", json!({}));
        r.job_id = Some(id.into());
        state::new_job(r, queue.catalog(), at).unwrap()
    };
    let now = Timestamp::now();
    let earlier = Timestamp(now.0 - 5_000);
    queue
        .backend()
        .insert(vec![stamped("late-stamp", now)])
        .await
        .unwrap();
    queue
        .backend()
        .insert(vec![
            stamped("early-1", earlier),
            stamped("early-2", earlier),
        ])
        .await
        .unwrap();
    let mut conn = store.server.connection(0);
    let (list, set) = ready_ids(&mut conn);
    assert_eq!(list, ["late-stamp"]);
    assert_eq!(late_ids(&mut conn), ["early-1", "early-2"]);
    assert!(set.is_empty(), "{set:?}");
    let listed = listed_ids(&queue, Some(Status::Queued), 1).await;
    assert_eq!(listed, ["late-stamp", "early-2", "early-1"]);
    // The jobs keep their own run-at.
    let early = queue
        .job(&JobId::parse("early-1").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(early.state.run_at, earlier);
    let claimed = claimed_ids(&queue, 10).await;
    assert_eq!(claimed, ["late-stamp", "early-1", "early-2"]);
}

/// The ids `all` holds, and what the key costs (`MEMORY USAGE`; 0 when
/// there is no key).
fn all_entries(conn: &mut redis::Connection) -> (Vec<String>, u64) {
    let ids: Vec<String> = redis::cmd("ZRANGE")
        .arg("wjp:{default}:all")
        .arg(0)
        .arg(-1)
        .query(conn)
        .unwrap();
    let bytes: Option<u64> = redis::cmd("MEMORY")
        .arg("USAGE")
        .arg("wjp:{default}:all")
        .arg("SAMPLES")
        .arg(0)
        .query(conn)
        .unwrap();
    (ids, bytes.unwrap_or(0))
}

/// The ids of a queue's late list, in its order.
fn late_ids(conn: &mut redis::Connection) -> Vec<String> {
    list_ids(conn, "ready_late")
}

/// The ids a listing of `default` gives, page after page.
async fn listed_ids(queue: &wjp_queue::Queue, status: Option<Status>, limit: usize) -> Vec<String> {
    let jobs = crate::conformance::listed_jobs(queue, status, limit).await;
    jobs.iter().map(|j| j.id.to_string()).collect()
}

/// A queued job of the ready list is listed from the list: it has no entry
/// in `all` (about 130 bytes), nor once a claim takes it; jobs of the
/// ready set and delayed ones have theirs while they wait, and the claim
/// takes it out (their end then has nothing to remove from `all`).
#[tokio::test]
async fn a_job_of_the_ready_list_has_no_entry_in_all() {
    let store = RedisStore::new().await;
    let queue = queue_on(&store).await;
    let mut conn = store.server.connection(0);
    for (id, priority) in [("l1", 0), ("h1", 5), ("l2", 0), ("l3", 0)] {
        enqueue_with_priority(&queue, id, priority).await;
    }
    let mut r = request("noop", json!({}));
    r.job_id = Some("later".into());
    r.delay = Some(3600.0);
    queue.enqueue(r).await.unwrap();
    let (list, set) = ready_ids(&mut conn);
    assert_eq!(
        (list, set),
        (
            vec!["l1".into(), "l2".into(), "l3".into()],
            vec!["h1".into()]
        )
    );
    let (mut ids, bytes) = all_entries(&mut conn);
    ids.sort();
    assert_eq!(ids, ["h1", "later"]);
    assert!(bytes > 0);
    assert_eq!(
        listed_ids(&queue, None, 2).await,
        ["later", "l3", "l2", "h1", "l1"]
    );

    let running = claim(&queue, &["default"], 2, Duration::from_secs(60)).await;
    let claimed: Vec<&str> = running.iter().map(|j| j.id.as_str()).collect();
    assert_eq!(claimed, ["h1", "l1"]);
    let (mut ids, _) = all_entries(&mut conn);
    ids.sort();
    assert_eq!(ids, ["later"], "the claim took h1's entry out");
    assert_eq!(
        listed_ids(&queue, Some(Status::Running), 1).await,
        ["h1", "l1"]
    );
    assert_eq!(
        listed_ids(&queue, Some(Status::Queued), 1).await,
        ["l3", "l2"]
    );
    assert_eq!(
        listed_ids(&queue, None, 3).await,
        ["later", "l3", "l2", "h1", "l1"]
    );

    let ends = running
        .iter()
        .map(|j| state::complete(j, json!("done"), Timestamp::now()))
        .collect();
    assert_eq!(queue.backend().apply(ends).await.unwrap(), [true, true]);
    assert_eq!(all_entries(&mut conn).0, ["later"]);
    assert_eq!(
        listed_ids(&queue, None, 2).await,
        ["later", "l3", "l2", "h1", "l1"]
    );
    assert!(listed_ids(&queue, Some(Status::Running), 2)
        .await
        .is_empty());
}

/// A job whose list score is not above the ready list's tail waits in the
/// late list with an `all` entry: the jobs of a batch past an enqueue
/// sequence that ends in 000 (they share their creation time, and the
/// score ends in the sequence's last three digits), and a job retried
/// with its old score. Listings keep the list-score order, claims the
/// claim order.
#[tokio::test]
async fn jobs_listed_out_of_their_claim_order_wait_in_the_late_list() {
    let store = RedisStore::new().await;
    let queue = queue_on(&store).await;
    let mut conn = store.server.connection(0);
    let _: () = redis::cmd("SET")
        .arg("wjp:{default}:seq")
        .arg(995)
        .query(&mut conn)
        .unwrap();
    let batch = (0..10)
        .map(|i| {
            let mut r = request("noop", json!(i));
            r.job_id = Some(format!("b{i}"));
            r
        })
        .collect();
    queue.enqueue_batch(batch).await.unwrap();
    let name = |i: usize| format!("b{i}");
    let (list, set) = ready_ids(&mut conn);
    assert_eq!(list, (0..4).map(name).collect::<Vec<_>>());
    assert!(set.is_empty(), "{set:?}");
    assert_eq!(late_ids(&mut conn), (4..10).map(name).collect::<Vec<_>>());
    let (mut ids, _) = all_entries(&mut conn);
    ids.sort();
    assert_eq!(ids, (4..10).map(name).collect::<Vec<_>>());
    // Sequences 996..999 end the scores of b0..b3, 1000..1005 those of b4..b9.
    let by_score: Vec<String> = [3, 2, 1, 0, 9, 8, 7, 6, 5, 4]
        .into_iter()
        .map(name)
        .collect();
    for limit in [1, 3, 4] {
        assert_eq!(
            listed_ids(&queue, Some(Status::Queued), limit).await,
            by_score
        );
        assert_eq!(listed_ids(&queue, None, limit).await, by_score);
    }
    assert_eq!(queue.counts().await.unwrap()[0].queued, 10);
    assert_eq!(claimed_ids(&queue, 3).await, ["b0", "b1", "b2"]);

    // A failed job retried comes back with its score, below the tail's.
    // (The pauses keep the run-ats of the steps apart: claim order then
    // does not hang on the enqueue sequences.)
    tokio::time::sleep(Duration::from_millis(5)).await;
    let mut r = request("noop", json!(10));
    r.job_id = Some("fresh".into());
    queue.enqueue(r).await.unwrap();
    let running = claim(&queue, &["default"], 1, Duration::from_secs(60)).await;
    assert_eq!(running[0].id.as_str(), "b3");
    let failed = state::fail(
        &running[0],
        wjp_queue::JobError::new(wjp_queue::ErrorKind::InvalidPayload, "no"),
        Timestamp::now(),
    );
    assert_eq!(queue.backend().apply(vec![failed]).await.unwrap(), [true]);
    tokio::time::sleep(Duration::from_millis(5)).await;
    queue.retry(&JobId::parse("b3").unwrap()).await.unwrap();
    assert_eq!(ready_ids(&mut conn).0, ["fresh"]);
    assert_eq!(
        late_ids(&mut conn),
        ["b4", "b5", "b6", "b7", "b8", "b9", "b3"]
    );
    assert!(all_entries(&mut conn).0.contains(&"b3".to_string()));
    let queued = listed_ids(&queue, Some(Status::Queued), 2).await;
    assert_eq!(queued, ["fresh", "b3", "b9", "b8", "b7", "b6", "b5", "b4"]);
    let everything: Vec<String> = ["fresh", "b3", "b2", "b1", "b0"]
        .into_iter()
        .map(String::from)
        .chain([9, 8, 7, 6, 5, 4].into_iter().map(name))
        .collect();
    assert_eq!(listed_ids(&queue, None, 2).await, everything);
    let running = claim(&queue, &["default"], 20, Duration::from_secs(30)).await;
    let order: Vec<&str> = running.iter().map(|j| j.id.as_str()).collect();
    assert_eq!(order, ["b4", "b5", "b6", "b7", "b8", "b9", "fresh", "b3"]);
    // The late list's jobs leave `all` with their claim (their ends then
    // remove nothing from it), and are listed once, as running (with b0,
    // b1 and b2, claimed before).
    assert_eq!(all_entries(&mut conn).0, Vec::<String>::new());
    assert_eq!(listed_ids(&queue, None, 4).await, everything);
    let mut running_now = listed_ids(&queue, Some(Status::Running), 3).await;
    running_now.sort();
    let mut expected = everything.clone();
    expected.sort();
    assert_eq!(running_now, expected);
    let ends = running
        .iter()
        .map(|j| state::complete(j, json!("done"), Timestamp::now()))
        .collect();
    assert_eq!(queue.backend().apply(ends).await.unwrap(), [true; 8]);
    assert_eq!(listed_ids(&queue, None, 4).await, everything);
    let completed = listed_ids(&queue, Some(Status::Completed), 4).await;
    assert_eq!(completed.len(), 8, "{completed:?}");
    assert!(all_entries(&mut conn).0.is_empty());
}

/// Promotions and releases bring jobs back with the list score they were
/// created with: one whose score is above the ready list's tail joins the
/// list and leaves `all`; one whose score is not joins the late list and
/// keeps its `all` entry. Each is listed once, newest first.
#[tokio::test]
async fn promoted_and_released_jobs_join_the_list_only_in_list_score_order() {
    let store = RedisStore::new().await;
    let queue = queue_on(&store).await;
    let mut conn = store.server.connection(0);
    let job = |id: &str, delay: Option<f64>, after: &[&str]| {
        let mut r = request("noop", json!({}));
        r.job_id = Some(id.into());
        r.delay = delay;
        r.after = after.iter().map(|a| a.to_string()).collect();
        r
    };
    queue
        .enqueue(job("early-delayed", Some(0.05), &[]))
        .await
        .unwrap();
    queue.enqueue(job("parent", None, &[])).await.unwrap();
    queue
        .enqueue(job("child", None, &["parent"]))
        .await
        .unwrap();
    queue
        .enqueue(job("late-delayed", Some(0.05), &[]))
        .await
        .unwrap();
    let (mut ids, _) = all_entries(&mut conn);
    ids.sort();
    assert_eq!(ids, ["child", "early-delayed", "late-delayed"]);

    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(queue.maintain().await.unwrap().promoted, 2);
    assert_eq!(ready_ids(&mut conn).0, ["parent", "late-delayed"]);
    assert_eq!(late_ids(&mut conn), ["early-delayed"]);
    let running = claim(&queue, &["default"], 1, Duration::from_secs(60)).await;
    assert_eq!(running[0].id.as_str(), "parent");
    let done = state::complete(&running[0], json!("done"), Timestamp::now());
    assert_eq!(queue.backend().apply(vec![done]).await.unwrap(), [true]);
    let child = JobId::parse("child").unwrap();
    queue.maintain().await.unwrap();
    wait_for_job(&queue, &child, Duration::from_secs(5), |j| {
        j.status() == Status::Queued
    })
    .await;

    assert_eq!(ready_ids(&mut conn).0, ["late-delayed"]);
    assert_eq!(late_ids(&mut conn), ["early-delayed", "child"]);
    let (mut ids, _) = all_entries(&mut conn);
    ids.sort();
    assert_eq!(ids, ["child", "early-delayed"]);
    let newest_first = ["late-delayed", "child", "parent", "early-delayed"];
    for limit in [1, 2] {
        assert_eq!(listed_ids(&queue, None, limit).await, newest_first);
        let queued = listed_ids(&queue, Some(Status::Queued), limit).await;
        assert_eq!(queued, ["late-delayed", "child", "early-delayed"]);
    }
    assert_eq!(
        claimed_ids(&queue, 10).await,
        ["early-delayed", "late-delayed", "child"]
    );
}

/// Queued jobs the earlier layout put in the ready list have an `all`
/// entry too: they are listed once, before and among the jobs this layout
/// lists from the list, in pages whose bounds fall anywhere in it, also
/// once claims have taken its head.
#[tokio::test]
async fn list_jobs_of_the_earlier_layout_are_listed_once() {
    let store = RedisStore::new().await;
    let queue = queue_on(&store).await;
    let mut conn = store.server.connection(0);
    let requests = |from: usize, to: usize| -> Vec<wjp_queue::JobRequest> {
        (from..to)
            .map(|i| {
                let mut r = request("noop", json!(i));
                r.job_id = Some(format!("j{i:03}"));
                r.priority = Some(if i % 10 == 7 { 1 } else { 0 });
                r
            })
            .collect()
    };
    queue.enqueue_batch(requests(0, 40)).await.unwrap();
    // As layout 4 listed them: every queued job in `all`, by its score.
    let list: Vec<String> = redis::cmd("LRANGE")
        .arg("wjp:{default}:ready_list")
        .arg(0)
        .arg(-1)
        .query(&mut conn)
        .unwrap();
    for id in &list {
        let job = queue
            .job(&JobId::parse(id).unwrap())
            .await
            .unwrap()
            .unwrap();
        let score = job.created_at.0 * 1000 + job.payload.as_i64().unwrap() + 1;
        let _: () = redis::cmd("ZADD")
            .arg("wjp:{default}:all")
            .arg(score)
            .arg(id)
            .query(&mut conn)
            .unwrap();
    }
    for i in 40..300 {
        queue.enqueue_batch(requests(i, i + 1)).await.unwrap();
    }
    let newest_first =
        |from: usize| -> Vec<String> { (from..300).rev().map(|i| format!("j{i:03}")).collect() };
    for limit in [1, 7, 50] {
        assert_eq!(
            listed_ids(&queue, Some(Status::Queued), limit).await,
            newest_first(0)
        );
        assert_eq!(listed_ids(&queue, None, limit).await, newest_first(0));
    }
    // Claims take the high-priority jobs first, then the list from its head.
    let claimed = claimed_ids(&queue, 60).await;
    assert_eq!(claimed.len(), 60);
    let queued: Vec<String> = newest_first(0)
        .into_iter()
        .filter(|id| !claimed.contains(id))
        .collect();
    for limit in [3, 13] {
        assert_eq!(
            listed_ids(&queue, Some(Status::Queued), limit).await,
            queued
        );
        assert_eq!(listed_ids(&queue, None, limit).await, newest_first(0));
    }
}

/// Rewrites one of `default`'s ready lists as layouts 4 to 6 kept it: each
/// entry `<ready key>|<id>`, the key from the job's record.
fn as_earlier_layout(conn: &mut redis::Connection, list: &str) {
    let key = format!("wjp:{{default}}:{list}");
    let ids: Vec<String> = redis::cmd("LRANGE")
        .arg(&key)
        .arg(0)
        .arg(-1)
        .query(conn)
        .unwrap();
    let members: Vec<String> = ids
        .iter()
        .map(|id| format!("{}|{id}", ready_key_of(conn, id)))
        .collect();
    let _: () = redis::cmd("DEL").arg(&key).query(conn).unwrap();
    let _: () = redis::cmd("RPUSH")
        .arg(&key)
        .arg(&members)
        .query(conn)
        .unwrap();
    let stored: Vec<String> = redis::cmd("LRANGE")
        .arg(&key)
        .arg(0)
        .arg(-1)
        .query(conn)
        .unwrap();
    assert_eq!(stored, members);
    assert!(members
        .iter()
        .all(|m| m.len() == 22 + m.split_once('|').unwrap().1.len()));
}

/// Ready lists that layout 6 wrote (entries `<ready key>|<id>`) are
/// rewritten to ids, in their order, when this version marks the server,
/// once however many times it connects: their jobs are then listed once,
/// cancelled from a list's middle, and claimed in claim order merged with
/// the set's and with jobs enqueued after the upgrade.
#[tokio::test]
async fn ready_lists_of_layout_6_are_rewritten_to_ids_and_their_jobs_claimed() {
    let store = RedisStore::new().await;
    let queue = queue_on(&store).await;
    let mut conn = store.server.connection(0);
    for (id, priority) in [
        ("l0", 0),
        ("l1", 0),
        ("l2", 0),
        ("h1", 5),
        ("l3", 0),
        ("l4", 0),
        ("l5", 0),
    ] {
        enqueue_with_priority(&queue, id, priority).await;
    }
    // Stamped before the list's tail: the late list.
    let earlier = Timestamp(Timestamp::now().0 - 5_000);
    let stamped = |id: &str| {
        let mut r = request("noop", json!({}));
        r.job_id = Some(id.into());
        state::new_job(r, queue.catalog(), earlier).unwrap()
    };
    queue
        .backend()
        .insert(vec![stamped("early-1"), stamped("early-2")])
        .await
        .unwrap();
    let list: Vec<String> = ["l0", "l1", "l2", "l3", "l4", "l5"]
        .map(String::from)
        .into();
    assert_eq!(ready_ids(&mut conn), (list.clone(), vec!["h1".to_string()]));
    assert_eq!(late_ids(&mut conn), ["early-1", "early-2"]);
    as_earlier_layout(&mut conn, "ready_list");
    as_earlier_layout(&mut conn, "ready_late");
    set_layout(&mut conn, "6");

    let queue = queue_on(&store).await;
    assert_eq!(layout(&mut conn), "8");
    assert_eq!(ready_ids(&mut conn), (list.clone(), vec!["h1".to_string()]));
    assert_eq!(late_ids(&mut conn), ["early-1", "early-2"]);
    // Rewriting lists that hold ids changes nothing.
    set_layout(&mut conn, "6");
    let queue = {
        drop(queue);
        queue_on(&store).await
    };
    assert_eq!(layout(&mut conn), "8");
    assert_eq!(ready_ids(&mut conn).0, list);
    assert_eq!(late_ids(&mut conn), ["early-1", "early-2"]);

    let newest_first = [
        "l5", "l4", "l3", "h1", "l2", "l1", "l0", "early-2", "early-1",
    ];
    for limit in [1, 4] {
        assert_eq!(listed_ids(&queue, None, limit).await, newest_first);
        assert_eq!(
            listed_ids(&queue, Some(Status::Queued), limit).await,
            newest_first
        );
    }
    queue.cancel(&JobId::parse("l2").unwrap()).await.unwrap();
    enqueue_with_priority(&queue, "l6", 0).await;
    assert_eq!(ready_ids(&mut conn).0, ["l0", "l1", "l3", "l4", "l5", "l6"]);
    assert_eq!(queue.counts().await.unwrap()[0].queued, 9);
    assert_eq!(claimed_ids(&queue, 4).await, ["h1", "l0", "l1", "l3"]);
    assert_eq!(
        claimed_ids(&queue, 10).await,
        ["l4", "l5", "early-1", "early-2", "l6"]
    );
}

/// Registers a live worker "w-old" on "press-2" as a version of layout 2
/// did (its record names no layout); returns the record.
fn register_older_worker(conn: &mut redis::Connection) -> serde_json::Value {
    let until = Timestamp::now().0 + 60_000;
    let older = json!({"name": "w-old", "host": "press-2", "pid": 7, "queues": ["default"],
                       "concurrency": 1, "started_at": 0, "heartbeat_at": 0,
                       "current_jobs": [], "expires_at": until});
    let _: () = redis::pipe()
        .cmd("SET")
        .arg("wjp:worker:w-old")
        .arg(older.to_string())
        .cmd("ZADD")
        .arg("wjp:workers")
        .arg(until)
        .arg("w-old")
        .query(conn)
        .unwrap();
    older
}

/// A lazy connection (the API's) checks the layout at its first contact
/// with the server, before it loads its functions: while a worker of the
/// earlier layout runs, every call is refused, naming it; once it is gone,
/// calls go through and the server is marked.
#[tokio::test]
async fn a_lazy_connection_checks_the_layout_at_its_first_contact() {
    let server = RedisServer::start(&[]);
    let mut conn = server.connection(0);
    set_layout(&mut conn, "2");
    register_older_worker(&mut conn);
    let backend = RedisBackend::connect_lazy(&server.url(0)).unwrap();
    for _ in 0..2 {
        let err = backend
            .claim(&claim_default(1))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("w-old on press-2"), "{err}");
    }
    let _: () = redis::pipe()
        .cmd("DEL")
        .arg("wjp:worker:w-old")
        .cmd("ZREM")
        .arg("wjp:workers")
        .arg("w-old")
        .query(&mut conn)
        .unwrap();
    assert!(backend.claim(&claim_default(1)).await.unwrap().is_empty());
    assert_eq!(layout(&mut conn), "8");
}

/// A claim of up to `max` jobs of the default queue by worker "claimer".
fn claim_default(max: usize) -> ClaimRequest {
    ClaimRequest {
        queues: vec![QueueName::parse("default").unwrap()],
        worker: "claimer".into(),
        max,
        lease: Duration::from_secs(30),
        now: Timestamp::now(),
    }
}

/// The stored header of an ended job keeps the sequence and list score it
/// was enqueued with, whether the process that claimed it ends it (it sends
/// the whole header, from the sequence it noted at the claim) or another
/// process does (the script reads the stored header for them).
#[tokio::test]
async fn an_ended_job_keeps_its_sequence_and_list_score_whoever_ends_it() {
    let store = RedisStore::new().await;
    let queue = queue_on(&store).await;
    let ids: Vec<JobId> = {
        let mut ids = Vec::new();
        for i in 0..2 {
            ids.push(
                queue
                    .enqueue(request("noop", json!(i)))
                    .await
                    .unwrap()
                    .job
                    .id,
            );
        }
        ids
    };
    let mut conn = store.server.connection(0);
    let header = |conn: &mut redis::Connection, id: &JobId| -> String {
        let record = stored_record(conn, "default", id.as_str()).unwrap();
        record.split_once('\n').unwrap().0.to_owned()
    };
    // Fields 6 and 7 of the header: sequence and list score.
    let enqueued: Vec<(String, String)> = ids
        .iter()
        .map(|id| {
            let h = header(&mut conn, id);
            let f: Vec<&str> = h.split('|').collect();
            (f[5].to_owned(), f[6].to_owned())
        })
        .collect();

    let claimer = store.connect().await;
    let jobs = claimer.claim(&claim_default(2)).await.unwrap();
    assert_eq!(jobs.len(), 2);
    let other = store.connect().await;
    let mut expiries = Vec::new();
    for (job, ender) in jobs.iter().zip([&claimer, &other]) {
        let ended = state::complete(job, json!("done"), Timestamp::now());
        expiries.push(ended.job.state.expires_at.unwrap().0);
        assert_eq!(ender.apply(vec![ended]).await.unwrap(), [true]);
    }

    // The last field of an ended job's header is its expiry.
    for ((id, (seq, score)), expires) in ids.iter().zip(enqueued).zip(expiries) {
        assert_eq!(
            header(&mut conn, id),
            format!("c||1|noop||{seq}|{score}|{expires}"),
            "{id}"
        );
        // Listed by the index of its status, no longer by `all`, which
        // lists the jobs that wait or run.
        for (index, listed) in [("completed", Some(score)), ("all", None)] {
            let z: Option<String> = redis::cmd("ZSCORE")
                .arg(format!("wjp:{{default}}:{index}"))
                .arg(id.as_str())
                .query(&mut conn)
                .unwrap();
            assert_eq!(z, listed, "{id} in {index}");
        }
    }
}

/// Times the server has run `XREAD` (only the watchers of waiting backends
/// send it).
fn xread_calls(conn: &mut redis::Connection) -> u64 {
    let stats: String = redis::cmd("INFO").arg("commandstats").query(conn).unwrap();
    stats
        .lines()
        .find_map(|l| l.strip_prefix("cmdstat_xread:calls="))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |n| n.parse().unwrap())
}

/// Whether some client is blocked in `XREAD` right now.
fn blocked_in_xread(conn: &mut redis::Connection) -> bool {
    let clients: String = redis::cmd("CLIENT").arg("LIST").query(conn).unwrap();
    clients.lines().any(|c| c.contains("cmd=xread"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_worker_is_woken_by_its_own_queues_only() {
    let store = RedisStore::new().await;
    let producer = queue_on(&store).await;
    let on = |queue: &str, i: usize| {
        let mut r = request("noop", json!(i));
        r.queue = Some(queue.into());
        r
    };
    // The other queue exists before the waiter starts watching.
    producer.enqueue(on("nesting", 0)).await.unwrap();

    let waiter = store.connect().await;
    let gcode = QueueName::parse("gcode").unwrap();
    // The first wait starts the watcher, whose first look at the streams
    // counts as news; the wait that matters comes after it.
    waiter
        .wait_for_jobs(
            std::slice::from_ref(&gcode),
            Instant::now(),
            Duration::from_millis(300),
        )
        .await
        .unwrap();
    let waiting = tokio::spawn(async move {
        waiter
            .wait_for_jobs(&[gcode], Instant::now(), Duration::from_secs(60))
            .await
    });
    let mut conn = store.server.connection(0);
    for _ in 0..200 {
        if blocked_in_xread(&mut conn) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(blocked_in_xread(&mut conn), "the waiter never blocked");
    let before = xread_calls(&mut conn);

    // Jobs of another queue, with all their events: none of it is the
    // waiter's business. (A watcher that woke for them would read again
    // after each.)
    for i in 1..=30 {
        producer.enqueue(on("nesting", i)).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let woken = xread_calls(&mut conn) - before;
    // A few more reads at most, when the test is slow enough for blocking
    // reads to time out and start again.
    assert!(
        woken <= 3,
        "the waiter read {woken} times for other queues' jobs"
    );
    assert!(!waiting.is_finished(), "the waiter returned without a job");

    // A job of its own queue wakes it.
    producer.enqueue(on("gcode", 0)).await.unwrap();
    tokio::time::timeout(Duration::from_secs(30), waiting)
        .await
        .expect("the waiter was not woken by a job of its queue")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_claim_of_large_jobs_stops_at_its_byte_budget_and_leaves_the_rest_ready() {
    let store = RedisStore::new().await;
    let queue = queue_on(&store).await;
    // Bodies pass through the claim script, which takes at most about a
    // megabyte of them per call: two of these do not fit in one claim.
    let pad = "x".repeat(600 * 1024);
    let mut ids = Vec::new();
    for i in 0..3 {
        let r = request("noop", json!({ "i": i, "pad": pad }));
        ids.push(queue.enqueue(r).await.unwrap().job.id);
    }
    ids.push(
        queue
            .enqueue(request("noop", json!({ "i": 3 })))
            .await
            .unwrap()
            .job
            .id,
    );

    let lease = Duration::from_secs(30);
    let mut conn = store.server.connection(0);
    let mut rounds = Vec::new();
    loop {
        let jobs = claim(&queue, &["default"], 10, lease).await;
        if jobs.is_empty() {
            break;
        }
        rounds.push(jobs.into_iter().map(|j| j.id).collect::<Vec<_>>());
        if rounds.len() == 1 {
            // The jobs left go back to the head of the ready list, where
            // they are listed from (they have no `all` entry).
            let left: Vec<String> = ids[1..].iter().map(|id| id.to_string()).collect();
            assert_eq!(ready_ids(&mut conn), (left.clone(), Vec::new()));
            assert!(all_entries(&mut conn).0.is_empty());
            let newest_first: Vec<String> = left.into_iter().rev().collect();
            assert_eq!(
                listed_ids(&queue, Some(Status::Queued), 2).await,
                newest_first
            );
        }
    }
    // One large job per claim, the last with the small one that fits
    // beside it; in enqueue order, none lost, none twice.
    assert_eq!(
        rounds,
        [
            vec![ids[0].clone()],
            vec![ids[1].clone()],
            vec![ids[2].clone(), ids[3].clone()]
        ]
    );
    for id in &ids {
        let job = queue.job(id).await.unwrap().unwrap();
        assert_eq!(job.status(), Status::Running, "{id}");
    }
}

/// The count of a queue's waiting payload bytes can drift only through
/// writers that do not keep it (a hand edit, or a process of another
/// version sharing the server): the sweep sets it right, and a waiting body
/// without a size counts nothing either way.
#[tokio::test]
async fn the_sweep_sets_a_drifted_count_of_waiting_payload_bytes_right() {
    let store = RedisStore::new().await;
    let queue = queue_on(&store).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        // 10 bytes of JSON each.
        ids.push(enqueue_id(&queue, request("noop", json!("12345678"))).await);
    }
    let counter = "wjp:{default}:waiting_bytes";
    let mut conn = store.server.connection(0);
    let read = |conn: &mut redis::Connection| -> Option<i64> {
        redis::cmd("GET").arg(counter).query(conn).unwrap()
    };
    assert_eq!(read(&mut conn), Some(30));
    let _: () = redis::cmd("SET")
        .arg(counter)
        .arg(5000)
        .query(&mut conn)
        .unwrap();
    assert_eq!(waiting_bytes(&queue, "default").await, 5000);
    queue.maintain().await.unwrap();
    assert_eq!(read(&mut conn), Some(30));

    // One record edited by hand: a body without a size.
    let record = stored_record(&mut conn, "default", ids[0].as_str()).unwrap();
    assert!(record.contains("\n{\"pl\":10,\"p\":"), "{record}");
    let edited = record.replacen("\n{\"pl\":10,", "\n{", 1);
    store_record_as_key(&mut conn, "default", ids[0].as_str(), &edited);
    // Summed again at most once a minute: as if a minute had passed.
    let _: () = redis::cmd("DEL")
        .arg(format!("{counter}:recounted"))
        .query(&mut conn)
        .unwrap();
    queue.maintain().await.unwrap();
    assert_eq!(waiting_bytes(&queue, "default").await, 20);
    let taken = claim(&queue, &["default"], 10, Duration::from_secs(30)).await;
    assert_eq!(taken.len(), 3);
    assert_eq!(taken[0].payload, json!("12345678"));
    assert_eq!(read(&mut conn), Some(0));

    // No waiting job: no waiting payload, whatever the counter said.
    let _: () = redis::cmd("SET")
        .arg(counter)
        .arg(777)
        .query(&mut conn)
        .unwrap();
    queue.maintain().await.unwrap();
    assert_eq!(read(&mut conn), None);
}

/// The layout marker on the server.
fn layout(conn: &mut redis::Connection) -> String {
    redis::cmd("GET").arg("wjp:layout").query(conn).unwrap()
}

fn set_layout(conn: &mut redis::Connection, layout: &str) {
    let _: () = redis::cmd("SET")
        .arg("wjp:layout")
        .arg(layout)
        .query(conn)
        .unwrap();
}

/// Waiting jobs of an earlier layout (ready keys of 37 decimal digits)
/// cannot be claimed by this version: it refuses the server, naming the
/// queues, rather than drop them as stale; a server it marked is not
/// refused, and one marked by another layout is.
#[tokio::test]
async fn a_server_with_waiting_jobs_of_an_earlier_layout_is_refused() {
    let server = RedisServer::start(&[]);
    let mut conn = server.connection(0);
    let earlier = "2147483647001796436921494000000000001|0bb592f4-b0e1-49be-91ea-891930d6a1e1";
    let _: () = redis::cmd("SADD")
        .arg("wjp:queues")
        .arg("default")
        .query(&mut conn)
        .unwrap();
    let _: () = redis::cmd("ZADD")
        .arg("wjp:{default}:ready")
        .arg(0)
        .arg(earlier)
        .query(&mut conn)
        .unwrap();
    let err = RedisBackend::connect(&server.url(0))
        .await
        .err()
        .expect("an earlier layout's waiting jobs are refused")
        .to_string();
    assert!(
        err.contains("earlier wjp") && err.contains("default (1)") && !err.contains("  "),
        "{err}"
    );

    // Once they are gone, the server is marked and taken.
    let _: () = redis::cmd("DEL")
        .arg("wjp:{default}:ready")
        .query(&mut conn)
        .unwrap();
    RedisBackend::connect(&server.url(0)).await.unwrap();
    assert_eq!(layout(&mut conn), "8");
    RedisBackend::connect(&server.url(0)).await.unwrap();

    // Layout 2 (bodies with their kind and creation time) is read as it is,
    // and marked as this version's, but not while a worker of that version
    // runs (its record names no layout): it would claim jobs it cannot read.
    set_layout(&mut conn, "2");
    let older = register_older_worker(&mut conn);
    let err = RedisBackend::connect(&server.url(0))
        .await
        .err()
        .expect("a running worker of layout 2 holds the server back")
        .to_string();
    assert!(
        err.contains("w-old on press-2") && err.contains("stop them") && !err.contains("  "),
        "{err}"
    );
    assert_eq!(layout(&mut conn), "2", "not marked while the worker runs");
    // A worker of this version does not hold it back.
    let mut ours = older.clone();
    ours["layout"] = json!("8");
    let _: () = redis::cmd("SET")
        .arg("wjp:worker:w-old")
        .arg(ours.to_string())
        .query(&mut conn)
        .unwrap();
    RedisBackend::connect(&server.url(0)).await.unwrap();
    assert_eq!(layout(&mut conn), "8");
    // Layouts 3 (before the ready list and audit repeats), 4 (before list
    // jobs without an `all` entry), 5 (before partial audit repeats) and
    // 6 (before lists of ids) and 7 (before packed records) likewise.
    for earlier in ["3", "4", "5", "6", "7"] {
        set_layout(&mut conn, earlier);
        RedisBackend::connect(&server.url(0)).await.unwrap();
        assert_eq!(layout(&mut conn), "8");
    }

    set_layout(&mut conn, "9");
    let err = RedisBackend::connect(&server.url(0))
        .await
        .err()
        .expect("another layout is refused")
        .to_string();
    assert!(err.contains("layout 8") && !err.contains("  "), "{err}");
}

/// The earlier layout listed ended jobs in `all` too: such an entry neither
/// shows its job twice in a listing nor outlives the job's expiry, and the
/// sweep counts the job once.
#[tokio::test]
async fn an_ended_job_listed_by_the_earlier_layout_shows_once_and_is_swept() {
    let store = RedisStore::new().await;
    let queue = queue_on(&store).await;
    let mut r = request("noop", json!(1));
    r.result_ttl = Some(0.3);
    let id = queue.enqueue(r).await.unwrap().job.id;
    let waiting = enqueue_id(&queue, request("noop", json!(2))).await;
    let backend = store.connect().await;
    let jobs = backend.claim(&claim_default(1)).await.unwrap();
    assert_eq!(jobs[0].id, id);
    let ended = state::complete(&jobs[0], json!("done"), Timestamp::now());
    assert_eq!(backend.apply(vec![ended]).await.unwrap(), [true]);
    let mut conn = store.server.connection(0);
    let score: String = redis::cmd("ZSCORE")
        .arg("wjp:{default}:completed")
        .arg(id.as_str())
        .query(&mut conn)
        .unwrap();
    let _: () = redis::cmd("ZADD")
        .arg("wjp:{default}:all")
        .arg(&score)
        .arg(id.as_str())
        .query(&mut conn)
        .unwrap();

    let listed_ids = || async {
        let page = queue
            .list(JobQuery {
                limit: 10,
                ..JobQuery::default()
            })
            .await
            .unwrap();
        page.jobs.into_iter().map(|j| j.id).collect::<Vec<JobId>>()
    };
    assert_eq!(listed_ids().await, [waiting.clone(), id.clone()]);

    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(queue.maintain().await.unwrap().expired_deleted, 1);
    let in_all: Option<String> = redis::cmd("ZSCORE")
        .arg("wjp:{default}:all")
        .arg(id.as_str())
        .query(&mut conn)
        .unwrap();
    assert_eq!(in_all, None);
    assert_eq!(listed_ids().await, [waiting]);
}
