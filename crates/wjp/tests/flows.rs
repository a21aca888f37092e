//! Dependencies and flows through the real binary: `wjp submit --after`,
//! `--run-anyway` and `--flow`, `wjp status` and `wjp info`, and a burst
//! worker draining a graph, on both backends.

use serde_json::{json, Value};

use crate::support::{queue_counts, status_of, Env};

/// `submit --after`, `--run-anyway` and `--flow` on one backend: jobs wait
/// for their parents, say so, and a burst worker drains the whole graph.
fn dependencies_and_flows_on(env: &Env) {
    let parent = env.submit(&["noop", "--queue", "analysis", "--payload", "1"]);
    let child = env.submit(&["noop", "--queue", "nesting", "--after", &parent]);
    let job = env.job(&child);
    assert_eq!(status_of(&job), "waiting");
    assert_eq!(job["after"], json!([parent]));
    assert_eq!(job["waiting"]["detail"]["reason"], "parents", "{job}");
    let text = env.ok(&["status", &child]);
    assert!(text.contains("status    waiting"), "{text}");
    assert!(
        text.contains(&format!("waiting   waiting for parent {parent}")),
        "{text}"
    );
    let info = env.ok(&["info"]);
    assert!(info.contains("waiting"), "{info}");
    let counts: Value = serde_json::from_str(&env.ok(&["info", "--json"])).unwrap();
    assert_eq!(queue_counts(&counts, "nesting")["waiting"], 1);

    let failing = env.submit(&["fail", "--queue", "analysis", "--max-attempts", "1"]);
    let doomed = env.submit(&[
        "noop",
        "--queue",
        "gcode",
        "--after",
        &format!("{parent},{failing}"),
    ]);
    let anyway = env.submit(&["noop", "--after", &failing, "--run-anyway"]);

    let stderr = env.fails(&["submit", "noop", "--after", "no-such-job"]);
    assert!(stderr.contains("no-such-job"), "{stderr}");
    let stderr = env.fails(&["submit", "noop", "--run-anyway"]);
    assert!(stderr.contains("--after"), "{stderr}");

    let flow = env.write(
        "flow.json",
        &json!({"jobs": [
            {"name": "report", "kind": "noop", "queue": "gcode", "after": ["nest"]},
            {"name": "nest", "kind": "noop", "queue": "nesting", "after": ["part", child]},
            {"name": "part", "kind": "noop", "queue": "conversion", "payload": {"p": 1}},
        ]})
        .to_string(),
    );
    let out = env.ok(&["submit", "--flow", flow.to_str().unwrap()]);
    let lines: Vec<Vec<&str>> = out.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert_eq!((lines[0][0], lines[0][2]), ("report", "waiting"));
    assert_eq!((lines[2][0], lines[2][2]), ("part", "queued"));
    let cycle = env.write(
        "cycle.json",
        r#"{"jobs": [{"name": "a", "kind": "noop", "after": ["b"]}, {"name": "b", "kind": "noop", "after": ["a"]}]}"#,
    );
    let stderr = env.fails(&["submit", "--flow", cycle.to_str().unwrap()]);
    assert!(stderr.contains("cycle"), "{stderr}");

    env.ok(&["worker", "--burst", "--name", "w-deps"]);
    let backend = if env.redis.is_some() {
        "redis"
    } else {
        "sqlite"
    };
    let job = env.job(&child);
    assert_eq!(status_of(&job), "completed", "{backend}: {job:#}");
    let doomed = env.job(&doomed);
    assert_eq!(status_of(&doomed), "cancelled");
    assert_eq!(doomed["error"]["kind"], "dependency_failed");
    assert_eq!(status_of(&env.job(&anyway)), "completed");
    let report = env.job(lines[0][1]);
    assert_eq!(status_of(&report), "completed", "{report}");
}

#[test]
fn dependencies_and_flows_from_the_command_line() {
    dependencies_and_flows_on(&Env::new());
    dependencies_and_flows_on(&Env::redis());
}

/// The jobs of a flow are recorded as submitted by whoever sent it, as a
/// single job is: the client's address over HTTP, `cli` from the command
/// line.
#[test]
fn a_flows_jobs_name_who_submitted_them() {
    let env = Env::new();
    let flow = json!({"jobs": [
        {"name": "first", "kind": "noop"},
        {"name": "second", "kind": "noop", "after": ["first"]},
    ]});
    let path = env.write("flow.json", &flow.to_string());
    env.ok(&["submit", "--flow", path.to_str().unwrap()]);
    let api = env.spawn_api(&["--no-workers", "--enable-test-kinds"]);
    let answer = api.post_json("/jobs", &json!({"kind": "noop", "reference": "single"}));
    assert_eq!(answer.status, 201, "{}", answer.text());
    let answer = api.post_json("/flows", &flow);
    assert_eq!(answer.status, 201, "{}", answer.text());

    let entries: Vec<Value> = env
        .ok(&["history", "--json"])
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(entries.len(), 5, "{entries:#?}");
    let by = |said: fn(&str) -> bool| {
        entries
            .iter()
            .filter(|e| said(e["origin"].as_str().unwrap_or_default()))
            .count()
    };
    assert_eq!(by(|o| o == "client 127.0.0.1"), 3, "{entries:#?}");
    assert_eq!(
        by(|o| o == "cli" || o.starts_with("cli ")),
        2,
        "{entries:#?}"
    );
    let text = env.ok(&["history"]);
    assert_eq!(text.matches("by client 127.0.0.1").count(), 3, "{text}");
}
