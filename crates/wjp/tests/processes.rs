//! Worker processes under faults: killed, timed out, stopped, cancelled;
//! on every backend.

use std::time::Duration;

use crate::support::{queue_counts, signal, status_of, wait_exit, Env};

const LIMIT: Duration = Duration::from_secs(60);

macro_rules! process_suite {
    ($env:expr) => {
        #[test]
        fn a_worker_killed_mid_job_loses_nothing_the_job_runs_again_and_completes_once() {
            $crate::processes::a_worker_killed_mid_job_loses_nothing_the_job_runs_again_and_completes_once(&$env);
        }
        #[test]
        fn a_handler_that_never_yields_is_timed_out_and_the_worker_replaces_itself() {
            $crate::processes::a_handler_that_never_yields_is_timed_out_and_the_worker_replaces_itself(&$env);
        }
        #[test]
        fn sigterm_lets_running_jobs_finish_within_the_grace_period() {
            $crate::processes::sigterm_lets_running_jobs_finish_within_the_grace_period(&$env);
        }
        #[test]
        fn sigterm_hands_back_jobs_that_outlast_the_grace_period() {
            $crate::processes::sigterm_hands_back_jobs_that_outlast_the_grace_period(&$env);
        }
        #[test]
        fn cancelling_a_job_running_in_another_process_stops_it() {
            $crate::processes::cancelling_a_job_running_in_another_process_stops_it(&$env);
        }
        #[test]
        fn two_worker_processes_share_the_database_and_drain_it() {
            $crate::processes::two_worker_processes_share_the_database_and_drain_it(&$env);
        }
        #[test]
        fn a_job_that_kills_every_worker_it_touches_fails_after_its_stall_budget() {
            $crate::processes::a_job_that_kills_every_worker_it_touches_fails_after_its_stall_budget(&$env);
        }
        #[test]
        fn a_worker_takes_its_queues_strictly_in_the_order_given() {
            $crate::processes::a_worker_takes_its_queues_strictly_in_the_order_given(&$env);
        }
    };
}

mod sqlite {
    use crate::support::Env;
    process_suite!(Env::new());
}

mod redis {
    use crate::support::Env;
    process_suite!(Env::redis());
}

/// With the defaults (one attempt): a stall is not a failure.
pub fn a_worker_killed_mid_job_loses_nothing_the_job_runs_again_and_completes_once(env: &Env) {
    let id = env.submit(&["sleep", "--payload", r#"{"seconds": 2}"#]);
    let mut doomed = env.spawn_worker(&["--name", "doomed", "--lease-secs", "1"]);
    env.wait_for(&id, LIMIT, |j| status_of(j) == "running");
    signal(&doomed, "KILL");
    wait_exit(&mut doomed, LIMIT);
    assert_eq!(
        status_of(&env.job(&id)),
        "running",
        "nobody has noticed yet"
    );

    let mut rescuer = env.spawn_worker(&["--name", "rescuer", "--lease-secs", "1"]);
    let job = env.wait_for(&id, LIMIT, |j| status_of(j) == "completed");
    assert_eq!(job["attempt"], 1, "the dead worker's attempt ran again");
    assert_eq!(job["stalls"], 1);
    assert_eq!(job["worker"], "rescuer");
    assert_eq!(job["error"], serde_json::Value::Null);
    signal(&rescuer, "TERM");
    assert!(wait_exit(&mut rescuer, LIMIT).success());
    // The dead worker's record expires; it is no longer listed.
    let info: serde_json::Value = serde_json::from_str(&env.ok(&["info", "--json"])).unwrap();
    assert!(info["workers"]
        .as_array()
        .unwrap()
        .iter()
        .all(|w| w["name"] != "doomed"));
}

pub fn a_handler_that_never_yields_is_timed_out_and_the_worker_replaces_itself(env: &Env) {
    let spinning = env.submit(&["spin", "--payload", r#"{"seconds": 600}"#, "--timeout", "1"]);
    let after = env.submit(&["noop", "--payload", "1", "--priority", "-1"]);
    let worker = env.spawn_worker(&["--burst", "--concurrency", "1", "--name", "spinner"]);
    let pid = worker.id();
    let mut worker = worker;
    let status = wait_exit(&mut worker, LIMIT);
    let stderr = env.worker_log_text();
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains("restarting the worker process"),
        "the stuck thread is ended by replacing the process: {stderr}"
    );
    let job = env.job(&spinning);
    assert_eq!(status_of(&job), "failed");
    assert_eq!(job["error"]["kind"], "timeout");
    // The replacement (same pid: exec) drained the rest of the queue.
    let job = env.job(&after);
    assert_eq!(status_of(&job), "completed");
    assert_eq!(job["worker"], "spinner");
    assert!(pid > 0);
}

pub fn sigterm_lets_running_jobs_finish_within_the_grace_period(env: &Env) {
    let id = env.submit(&["sleep", "--payload", r#"{"seconds": 1}"#]);
    let mut worker = env.spawn_worker(&["--name", "graceful", "--shutdown-grace-secs", "30"]);
    env.wait_for(&id, LIMIT, |j| status_of(j) == "running");
    signal(&worker, "TERM");
    assert!(wait_exit(&mut worker, LIMIT).success());
    assert_eq!(status_of(&env.job(&id)), "completed");
}

pub fn sigterm_hands_back_jobs_that_outlast_the_grace_period(env: &Env) {
    let id = env.submit(&["spin", "--payload", r#"{"seconds": 5}"#]);
    let mut worker = env.spawn_worker(&["--name", "impatient", "--shutdown-grace-secs", "0.2"]);
    env.wait_for(&id, LIMIT, |j| status_of(j) == "running");
    signal(&worker, "INT");
    assert!(wait_exit(&mut worker, LIMIT).success());
    let job = env.job(&id);
    assert_eq!(status_of(&job), "queued");
    assert_eq!(job["attempt"], 0);
}

pub fn cancelling_a_job_running_in_another_process_stops_it(env: &Env) {
    let id = env.submit(&["sleep", "--payload", r#"{"seconds": 120}"#]);
    let mut worker = env.spawn_worker(&["--name", "busy"]);
    env.wait_for(&id, LIMIT, |j| status_of(j) == "running");
    // The worker lists the job at its next heartbeat.
    let deadline = std::time::Instant::now() + LIMIT;
    loop {
        let info: serde_json::Value = serde_json::from_str(&env.ok(&["info", "--json"])).unwrap();
        let listed = info["workers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["name"] == "busy" && w["current_jobs"] == serde_json::json!([id]));
        if listed {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "worker never listed its job: {info:#}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(env.ok(&["cancel", &id]).contains("told to stop"));
    let job = env.wait_for(&id, LIMIT, |j| status_of(j) == "cancelled");
    assert_eq!(job["error"]["kind"], "cancelled");
    signal(&worker, "TERM");
    assert!(wait_exit(&mut worker, LIMIT).success());
}

pub fn two_worker_processes_share_the_database_and_drain_it(env: &Env) {
    let lines: String = (0..500)
        .map(|i| format!("{{\"kind\": \"noop\", \"payload\": {i}}}\n"))
        .collect();
    let batch = env.write("many.jsonl", &lines);
    env.ok(&["submit", "--batch", batch.to_str().unwrap()]);
    let mut a = env.spawn_worker(&["--burst", "--name", "a"]);
    let mut b = env.spawn_worker(&["--burst", "--name", "b"]);
    assert!(wait_exit(&mut a, LIMIT).success());
    assert!(wait_exit(&mut b, LIMIT).success());
    let info: serde_json::Value = serde_json::from_str(&env.ok(&["info", "--json"])).unwrap();
    let default = queue_counts(&info, "default");
    assert_eq!(default["completed"], 500);
    assert_eq!(default["queued"], 0);
    assert_eq!(default["failed"], 0);
}

/// Every worker that runs the job dies (SIGKILL, as an OOM kill would):
/// with the default budget of two stalls, the third death fails the job.
pub fn a_job_that_kills_every_worker_it_touches_fails_after_its_stall_budget(env: &Env) {
    let id = env.submit(&["sleep", "--payload", r#"{"seconds": 60}"#]);
    for (run, name) in ["first", "second", "third"].iter().enumerate() {
        let mut worker = env.spawn_worker(&["--name", name, "--lease-secs", "1"]);
        env.wait_for(&id, LIMIT, |j| {
            status_of(j) == "running" && j["worker"] == *name && j["stalls"] == run
        });
        signal(&worker, "KILL");
        wait_exit(&mut worker, LIMIT);
    }
    // Someone must notice the last lease running out: a worker with nothing
    // to run.
    let mut reaper = env.spawn_worker(&["--name", "reaper", "--lease-secs", "1"]);
    let job = env.wait_for(&id, LIMIT, |j| status_of(j) == "failed");
    signal(&reaper, "TERM");
    wait_exit(&mut reaper, LIMIT);
    assert_eq!(job["error"]["kind"], "lost_lease");
    assert_eq!(job["stalls"], 3);
    assert_eq!(job["attempt"], 1);
    let message = job["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("third"), "{message}");
}

/// `--queues analysis,default`: every ready `analysis` job goes before any
/// `default` one, although the `default` jobs are older.
pub fn a_worker_takes_its_queues_strictly_in_the_order_given(env: &Env) {
    let mut older = Vec::new();
    for _ in 0..4 {
        older.push(env.submit(&["noop", "--payload", "1"]));
    }
    let mut shop = Vec::new();
    for _ in 0..4 {
        shop.push(env.submit(&["noop", "--payload", "1", "--queue", "analysis"]));
    }
    let mut worker = env.spawn_worker(&[
        "--burst",
        "--concurrency",
        "1",
        "--queues",
        "analysis,default",
    ]);
    assert!(
        wait_exit(&mut worker, LIMIT).success(),
        "{}",
        env.worker_log_text()
    );
    let started = |ids: &[String]| -> Vec<String> {
        ids.iter()
            .map(|id| {
                let job = env.job(id);
                assert_eq!(status_of(&job), "completed", "{job:#}");
                job["started_at"].as_str().unwrap_or_default().to_owned()
            })
            .collect()
    };
    let last_shop = started(&shop).into_iter().max().unwrap_or_default();
    let first_default = started(&older).into_iter().min().unwrap_or_default();
    assert!(
        last_shop <= first_default,
        "analysis ended at {last_shop}, default began at {first_default}"
    );
    let wrong = env.fails(&["worker", "--burst", "--queues", "analysis:3,default"]);
    assert!(wrong.contains("--weighted"), "{wrong}");
}
