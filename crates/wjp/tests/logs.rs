//! What an operator reads: one line per job end, no escape codes in a
//! file, and JSON lines for log shippers.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use crate::support::{wait_exit, Env};

const LIMIT: Duration = Duration::from_secs(60);

/// Three jobs, one of each ending: failed for good, failed and retried,
/// completed. Returns their ids in that order.
fn submit_three(env: &Env) -> [String; 3] {
    let failing = env.submit(&[
        "fail",
        "--max-attempts",
        "1",
        "--payload",
        r#"{"message": "nozzle clogged"}"#,
    ]);
    let retried = env.submit(&[
        "fail",
        "--max-attempts",
        "2",
        "--payload",
        r#"{"message": "abrasive feed stalled", "succeed_on_attempt": 2}"#,
    ]);
    let completing = env.submit(&["sleep", "--payload", r#"{"seconds": 0}"#]);
    [failing, retried, completing]
}

/// Runs `wjp [GLOBAL] worker --burst` at INFO with its log in a file (not
/// a terminal) and returns the log.
fn burst_log(env: &Env, global: &[&str]) -> String {
    let path = env.dir.path().join("burst.log");
    let file = std::fs::File::create(&path).expect("log file");
    let mut child = env
        .command()
        .env("RUST_LOG", "info")
        .env_remove("NO_COLOR")
        .args(global)
        .args(["worker", "--burst"])
        .stdout(Stdio::null())
        .stderr(file)
        .spawn()
        .expect("start the worker");
    let status = wait_exit(&mut child, LIMIT);
    let log = std::fs::read_to_string(&path).expect("read the log");
    assert!(status.success(), "the worker failed: {log}");
    log
}

#[test]
fn each_job_end_is_one_line_in_plain_text_when_the_log_is_a_file() {
    let env = Env::new();
    let [failing, retried, completing] = submit_three(&env);
    let log = burst_log(&env, &[]);
    assert!(!log.contains("\x1b["), "escape codes in a file: {log:?}");
    let about = |id: &str| -> Vec<&str> { log.lines().filter(|l| l.contains(id)).collect() };

    let lines = about(&failing);
    assert_eq!(lines.len(), 1, "one line for the failed job: {log}");
    let line = lines[0];
    for part in [
        " WARN ",
        "fail",
        "default",
        "handler_error",
        "nozzle clogged",
        "attempt 1 of 1",
    ] {
        assert!(line.contains(part), "{part:?} missing from {line:?}");
    }

    // The first attempt of the retried job says so; its second (if this
    // burst ran it) completes.
    let lines = about(&retried);
    let retry: Vec<&&str> = lines
        .iter()
        .filter(|l| l.contains("will be retried"))
        .collect();
    assert_eq!(retry.len(), 1, "one retry line: {log}");
    assert!(
        retry[0].contains(" WARN ") && retry[0].contains("attempt 1 of 2"),
        "{retry:?}"
    );
    assert!(
        lines.iter().all(|l| !l.contains("failed on attempt 2")),
        "{log}"
    );

    let lines = about(&completing);
    assert_eq!(lines.len(), 1, "one line for the completed job: {log}");
    assert!(
        lines[0].contains(" INFO ") && lines[0].contains("completed") && lines[0].contains("sleep"),
        "{lines:?}"
    );
}

#[test]
fn json_logs_are_one_object_a_line_with_the_same_fields() {
    let env = Env::new();
    let [failing, _retried, completing] = submit_three(&env);
    let log = burst_log(&env, &["--log-format", "json"]);
    let lines: Vec<Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}")))
        .collect();
    assert!(!lines.is_empty(), "no log at all");
    let about = |id: &str| -> Vec<&Value> {
        lines
            .iter()
            .filter(|l| l["fields"]["job"].as_str() == Some(id))
            .collect()
    };

    let failed = about(&failing);
    assert_eq!(failed.len(), 1, "{log}");
    let f = &failed[0];
    assert_eq!(f["level"], "WARN", "{f}");
    assert_eq!(f["fields"]["kind"], "fail", "{f}");
    assert_eq!(f["fields"]["queue"], "default", "{f}");
    assert_eq!(f["fields"]["attempt"], 1, "{f}");
    assert_eq!(f["fields"]["max_attempts"], 1, "{f}");
    assert_eq!(f["fields"]["error_kind"], "handler_error", "{f}");
    assert_eq!(f["fields"]["error"], "nozzle clogged", "{f}");

    let done = about(&completing);
    assert_eq!(done.len(), 1, "{log}");
    assert_eq!(done[0]["level"], "INFO", "{}", done[0]);
    assert_eq!(done[0]["fields"]["kind"], "sleep", "{}", done[0]);
}

#[test]
fn an_unknown_log_format_is_refused_naming_the_choices() {
    let env = Env::new();
    let err = env.fails(&["--log-format", "xml", "info"]);
    assert!(
        err.contains("xml") && err.contains("text") && err.contains("json"),
        "{err}"
    );
}

/// A Redis outage seen by `wjp api` from its HTTP side and its in-process
/// workers alike is one line when it starts and one when it ends, however
/// many calls fail meanwhile.
#[test]
fn a_store_outage_is_one_line_when_it_goes_and_one_when_it_is_back() {
    let mut env = Env::redis();
    let api = env.spawn_api_logging(&["--workers", "default=1"], "info");
    api.wait_until("the worker registered", || {
        api.get("/workers").json()["workers"]
            .as_array()
            .is_some_and(|w| w.len() == 1)
    });
    let log = env.dir.path().join("api.log");
    let read = || std::fs::read_to_string(&log).unwrap_or_default();
    let count = |text: &str, what: &str| text.lines().filter(|l| l.contains(what)).count();

    env.redis.as_mut().unwrap().kill();
    // For two seconds the HTTP side fails (asked for metrics every 100 ms)
    // and so do the workers' heartbeats and claims (every second or less):
    // without one tracker for both, each side would log the outage.
    for _ in 0..20 {
        api.get("/metrics");
        std::thread::sleep(Duration::from_millis(100));
    }
    api.wait_until("the outage to be logged", || {
        count(&read(), "cannot reach the queue store") >= 1
    });
    env.redis.as_mut().unwrap().restart();
    // Bounded: the clients reconnect with a backoff of a few seconds.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while count(&read(), "reached the queue store again") == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no recovery logged: {}",
            read()
        );
        api.get("/metrics");
        std::thread::sleep(Duration::from_millis(200));
    }
    let text = read();
    assert_eq!(
        count(&text, "cannot reach the queue store"),
        1,
        "one line for the outage: {text}"
    );
    assert_eq!(count(&text, "reached the queue store again"), 1, "{text}");
}

/// `wjp api` on a port another program holds: the one thing said is
/// that, naming the address, and the command fails; nothing it started
/// in the meantime complains of being stopped.
#[test]
fn a_port_in_use_is_the_only_thing_the_api_says() {
    let env = Env::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    for _ in 0..3 {
        let out = env.run_within(
            &["api", "--host", "127.0.0.1", "--port", &port],
            LIMIT,
            "wjp api on a port in use",
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{stderr}");
        assert!(
            stderr.contains(&format!("127.0.0.1:{port}")) && stderr.contains("in use"),
            "{stderr}"
        );
        assert!(
            !stderr.contains("WARN") && !stderr.contains("cannot reach"),
            "{stderr}"
        );
    }
}
