//! Chaos: many jobs through several worker processes while a driver kills
//! workers with SIGKILL at random moments and (on Redis) restarts the server
//! mid-run. At the end every job is completed (or failed with a recorded
//! reason after its attempts), none is lost, none stays running.
//!
//! CI runs a short version. `scripts/chaos.sh` runs a long one by setting
//! `WJP_CHAOS_JOBS`, `WJP_CHAOS_WORKERS` and `WJP_CHAOS_REDIS_RESTARTS`.

use std::process::Child;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{queue_counts, signal, wait_exit, Env, RedisServer};

struct Plan {
    jobs: usize,
    workers: usize,
    redis_restarts: usize,
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn plan() -> Plan {
    Plan {
        jobs: env_number("WJP_CHAOS_JOBS", 600),
        workers: env_number("WJP_CHAOS_WORKERS", 3),
        redis_restarts: env_number("WJP_CHAOS_REDIS_RESTARTS", 1),
    }
}

/// A small deterministic generator: the same run every time for a seed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % bound
    }
}

fn counts(env: &Env) -> Value {
    let info: Value = serde_json::from_str(&env.ok(&["info", "--json"])).expect("info JSON");
    queue_counts(&info, "default").clone()
}

fn spawn(env: &Env, name: &str) -> Child {
    env.spawn_worker(&["--name", name, "--lease-secs", "1", "--concurrency", "4"])
}

fn run(env: &mut Env, plan: Plan) {
    let lines: String = (0..plan.jobs)
        .map(|i| {
            let seconds = 0.005 + (i % 5) as f64 * 0.005;
            format!(
                "{{\"kind\": \"sleep\", \"payload\": {{\"seconds\": {seconds}}}, \
                 \"job_id\": \"chaos-{i}\", \"max_attempts\": 20}}\n"
            )
        })
        .collect();
    let batch = env.write("chaos.jsonl", &lines);
    env.ok(&["submit", "--batch", batch.to_str().unwrap()]);

    let started = Instant::now();
    let mut rng = Lcg(0x5eed);
    let mut generation = 0;
    let mut workers: Vec<Child> = (0..plan.workers)
        .map(|i| spawn(env, &format!("chaos-w{i}-0")))
        .collect();
    let (mut kills, mut restarts) = (0, 0);
    let deadline = started + Duration::from_secs(600);
    loop {
        std::thread::sleep(Duration::from_millis(100 + rng.next(400)));
        let c = counts(env);
        let done = c["completed"].as_u64().unwrap() + c["failed"].as_u64().unwrap();
        if done as usize >= plan.jobs {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "chaos run did not finish in 10 minutes: {c}"
        );
        // Kill a random worker mid-job and start a fresh one in its place.
        let victim = rng.next(workers.len() as u64) as usize;
        signal(&workers[victim], "KILL");
        wait_exit(&mut workers[victim], Duration::from_secs(30));
        kills += 1;
        generation += 1;
        workers[victim] = spawn(env, &format!("chaos-w{victim}-{generation}"));
        // Restart Redis once a share of the work is done.
        if let Some(redis) = env.redis.as_mut() {
            let due = (restarts + 1) * plan.jobs / (plan.redis_restarts + 1);
            if restarts < plan.redis_restarts && done as usize >= due {
                redis.restart();
                restarts += 1;
            }
        }
    }
    for worker in &workers {
        signal(worker, "TERM");
    }
    for worker in &mut workers {
        wait_exit(worker, Duration::from_secs(60));
    }

    let c = counts(env);
    let (completed, failed) = (
        c["completed"].as_u64().unwrap(),
        c["failed"].as_u64().unwrap(),
    );
    assert_eq!(completed + failed, plan.jobs as u64, "jobs lost: {c}");
    for status in ["queued", "running", "scheduled", "cancelled"] {
        assert_eq!(c[status], 0, "{status} jobs left: {c}");
    }
    let mut reran = 0;
    for i in 0..plan.jobs {
        let job = env.job(&format!("chaos-{i}"));
        match job["status"].as_str() {
            Some("completed") => {
                let seconds = job["payload"]["seconds"].as_f64().unwrap();
                assert_eq!(job["result"]["slept_seconds"].as_f64(), Some(seconds));
                if job["attempt"].as_u64() > Some(1) {
                    reran += 1;
                }
            }
            Some("failed") => assert!(job["error"]["kind"].is_string(), "{job:#}"),
            other => panic!("chaos-{i} ended {other:?}"),
        }
    }
    println!(
        "chaos: backend={} jobs={} workers={} kills={kills} redis_restarts={restarts} \
         completed={completed} failed={failed} rerun_after_kill={reran} lost=0 seconds={:.1}",
        if env.redis.is_some() {
            "redis"
        } else {
            "sqlite"
        },
        plan.jobs,
        plan.workers,
        started.elapsed().as_secs_f64()
    );
    assert!(kills > 0, "the driver never killed a worker");
}

#[test]
fn chaos_on_sqlite_loses_nothing() {
    run(&mut Env::new(), plan());
}

#[test]
fn chaos_on_redis_with_restarts_loses_nothing() {
    // Every write reaches the append-only file before it is acknowledged, so
    // even a SIGKILL of the server loses nothing that was acknowledged.
    let mut env = Env {
        redis: Some(RedisServer::start(&["--appendfsync", "always"])),
        ..Env::new()
    };
    let jobs = plan().jobs;
    run(&mut env, plan());
    // Every per-job key expires: what lives without a TTL is a fixed set of
    // per-queue structures, not something that grows with the jobs. An ended
    // job's record written by the completion path has no TTL: its header
    // ends with its expiry, and the queue's expiry index names it there, for
    // the sweep to delete it.
    let mut conn = env.redis.as_ref().unwrap().connection(0);
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut conn).unwrap();
    let forever: Vec<&String> = keys
        .iter()
        .filter(|k| {
            redis::cmd("PTTL").arg(k).query::<i64>(&mut conn).unwrap() == -1
                && !swept_at_its_expiry(&mut conn, k)
        })
        .collect();
    assert!(
        forever.len() < 50 && forever.len() < jobs,
        "{} of {} keys have no TTL: {forever:?}",
        forever.len(),
        keys.len()
    );
}

/// Whether `key` is an ended job's record whose header ends with its expiry,
/// and its queue's expiry index names the job at that expiry.
fn swept_at_its_expiry(conn: &mut redis::Connection, key: &str) -> bool {
    let Some((prefix, id)) = key.split_once(":job:") else {
        return false;
    };
    let Ok(record) = redis::cmd("GET").arg(key).query::<String>(conn) else {
        return false;
    };
    let header = record.split('\n').next().unwrap_or_default();
    // A stored status is a letter (earlier layouts wrote the word).
    let status = header.split('|').next().unwrap_or_default();
    let ended = ["c", "f", "x", "completed", "failed", "cancelled"].contains(&status);
    let expiry = header
        .rsplit('|')
        .next()
        .and_then(|e| e.parse::<i64>().ok());
    let (true, Some(expires)) = (ended, expiry) else {
        return false;
    };
    let entries: Vec<String> = redis::cmd("ZRANGEBYSCORE")
        .arg(format!("{prefix}:expiry"))
        .arg(expires)
        .arg(expires)
        .query(conn)
        .unwrap();
    entries
        .iter()
        .any(|e| e.split(' ').any(|named| named == id))
}
