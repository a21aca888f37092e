//! `wjp bench` on the shop's Redis: it works in a queue of its own and
//! leaves nothing behind, whether it ends, fails or is interrupted.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::{signal, status_of, wait_exit, Env};

const LIMIT: Duration = Duration::from_secs(180);

/// What the shop's data looks like in Redis: every lasting key, the
/// queues' list, and the shop queue's ready list and index of all jobs.
/// Keys that expire by themselves are left out: the bench's workers run
/// maintenance like any worker, and a pass marks a queue's quota recount
/// with a key that lives a minute (`waiting_bytes:recounted`). The bench's
/// own keys, expiring or not, are checked by `bench_keys`.
#[derive(Debug, PartialEq)]
struct Shop {
    keys: Vec<String>,
    queues: Vec<String>,
    ready: Vec<String>,
    all: Vec<String>,
}

fn shop(env: &Env) -> Shop {
    let mut conn = env.redis.as_ref().expect("a Redis env").connection(0);
    let mut keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut conn).unwrap();
    keys.retain(|key| {
        let ttl: i64 = redis::cmd("PTTL").arg(key).query(&mut conn).unwrap();
        ttl == -1
    });
    keys.sort();
    let mut queues: Vec<String> = redis::cmd("SMEMBERS")
        .arg("wjp:queues")
        .query(&mut conn)
        .unwrap();
    queues.sort();
    let range = |key: &str, conn: &mut redis::Connection| -> Vec<String> {
        redis::cmd("ZRANGE")
            .arg(key)
            .arg(0)
            .arg(-1)
            .query(conn)
            .unwrap()
    };
    // Queued jobs wait in the ready list, or in the ready set when they
    // came out of claim order.
    let mut ready = range("wjp:{default}:ready", &mut conn);
    let listed: Vec<String> = redis::cmd("LRANGE")
        .arg("wjp:{default}:ready_list")
        .arg(0)
        .arg(-1)
        .query(&mut conn)
        .unwrap();
    ready.extend(listed);
    Shop {
        keys,
        ready,
        all: range("wjp:{default}:all", &mut conn),
        queues,
    }
}

/// Keys of a bench run (`bench_` queues and workers) now on the server.
fn bench_keys(env: &Env) -> Vec<String> {
    let mut conn = env.redis.as_ref().expect("a Redis env").connection(0);
    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg("wjp:{bench_*")
        .query(&mut conn)
        .unwrap();
    let workers: Vec<String> = redis::cmd("KEYS")
        .arg("wjp:worker:bench_*")
        .query(&mut conn)
        .unwrap();
    keys.extend(workers);
    keys
}

/// A shop job waiting in `default` (no worker runs here), and the shop's
/// data with it.
fn shop_with_a_waiting_job(env: &Env) -> (String, Shop) {
    let id = env.submit(&["sleep", "--payload", r#"{"seconds": 1}"#]);
    let before = shop(env);
    assert_eq!(before.ready.len(), 1, "{before:?}");
    (id, before)
}

#[test]
fn a_bench_on_redis_uses_its_own_queue_and_deletes_it_at_the_end() {
    let env = Env::redis();
    let (id, before) = shop_with_a_waiting_job(&env);
    let out = env.run_within(
        &[
            "bench",
            "--jobs",
            "300",
            "--single",
            "20",
            "--batch",
            "50",
            "--latency-jobs",
            "5",
            "--processes",
            "1",
            "--concurrency",
            "8",
            "--payload-bytes",
            "200",
            "--json",
        ],
        LIMIT,
        "a short bench",
    );
    assert!(
        out.status.success(),
        "bench failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    assert_eq!(report["latency_jobs"], 5, "{report}");
    assert_eq!(report["payload_bytes"], 200, "{report}");
    // Completed jobs are kept (until their result TTL): they hold memory.
    for figure in [
        "memory_bytes_per_queued_job",
        "memory_bytes_per_completed_job",
    ] {
        assert!(report[figure].as_f64().is_some_and(|b| b > 0.0), "{report}");
    }
    assert_eq!(bench_keys(&env), Vec::<String>::new());
    assert_eq!(shop(&env), before, "the bench left something behind");
    assert_eq!(status_of(&env.job(&id)), "queued");

    // A payload past the bench's bound is refused before anything runs.
    let out = env.run(&["bench", "--payload-bytes", "70000"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("--payload-bytes") && err.contains("70000"),
        "{err}"
    );
    assert_eq!(bench_keys(&env), Vec::<String>::new());
}

/// `--groups`: a plain drain and one over many groups, both measured, and
/// the groups' keys deleted with the run's queue.
#[test]
fn a_bench_over_groups_measures_both_drains_and_leaves_nothing() {
    let env = Env::redis();
    let (id, before) = shop_with_a_waiting_job(&env);
    let out = env.run_within(
        &[
            "bench",
            "--groups",
            "40",
            "--jobs",
            "200",
            "--batch",
            "50",
            "--concurrency",
            "8",
            "--json",
        ],
        LIMIT,
        "a bench over groups",
    );
    assert!(
        out.status.success(),
        "bench failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    assert_eq!(report["groups"], 40, "{report}");
    for drain in ["plain_drain_claims_per_sec", "grouped_drain_claims_per_sec"] {
        assert!(report[drain].as_f64().unwrap() > 0.0, "{report}");
    }
    assert_eq!(bench_keys(&env), Vec::<String>::new());
    assert_eq!(shop(&env), before, "the bench left something behind");
    assert_eq!(status_of(&env.job(&id)), "queued");
}

#[test]
fn an_interrupted_bench_stops_its_workers_and_deletes_its_queue() {
    let env = Env::redis();
    let (id, before) = shop_with_a_waiting_job(&env);
    // The latency phase of a million jobs outlasts the test: the run is
    // surely under way, its workers running, when the signal comes.
    let mut bench = env
        .command()
        .args([
            "bench",
            "--jobs",
            "200",
            "--single",
            "0",
            "--latency-jobs",
            "1000000",
            "--workers",
            "1",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the bench");
    let deadline = Instant::now() + LIMIT;
    while !bench_keys(&env)
        .iter()
        .any(|k| k.starts_with("wjp:worker:"))
    {
        assert!(
            bench.try_wait().expect("try_wait").is_none(),
            "the bench ended before it was interrupted"
        );
        assert!(
            Instant::now() < deadline,
            "the bench's worker never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    signal(&bench, "INT");
    let status = wait_exit(&mut bench, LIMIT);
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut bench.stderr.take().expect("stderr"), &mut stderr)
        .expect("read stderr");
    assert!(!status.success(), "an interrupted bench reports no success");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert_eq!(bench_keys(&env), Vec::<String>::new());
    assert_eq!(shop(&env), before, "the bench left something behind");
    assert_eq!(status_of(&env.job(&id)), "queued");
}
