//! The binary on a real Redis Cluster of three primaries: jobs of every
//! queue run wherever their queue's slot lives, `wjp info` names the
//! primaries, and a benchmark leaves nothing behind on any node.

use std::time::Duration;

use serde_json::Value;

use crate::support::{status_of, Env};

const LIMIT: Duration = Duration::from_secs(120);

/// Every key on every node of the env's cluster.
fn cluster_keys(env: &Env) -> Vec<String> {
    let cluster = env.cluster.as_ref().expect("a cluster env");
    let mut keys = Vec::new();
    for node in &cluster.nodes {
        let mut conn = node.connection(0);
        let found: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut conn).unwrap();
        keys.extend(found);
    }
    keys.sort();
    keys
}

#[test]
fn jobs_of_every_queue_run_on_a_cluster_and_info_names_its_primaries() {
    let env = Env::redis_cluster();
    let queues = ["default", "analysis", "conversion", "nesting", "gcode"];
    let mut ids = Vec::new();
    for (i, queue) in queues.iter().cycle().take(25).enumerate() {
        let payload = format!(r#"{{"i": {i}}}"#);
        ids.push(env.submit(&["noop", "--queue", queue, "--payload", &payload]));
    }
    // The queues' slots are spread over the primaries.
    let nodes_holding_jobs = env
        .cluster
        .as_ref()
        .unwrap()
        .nodes
        .iter()
        .filter(|node| {
            let mut conn = node.connection(0);
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg("wjp:{*}:ready*")
                .query(&mut conn)
                .unwrap();
            !keys.is_empty()
        })
        .count();
    assert!(
        nodes_holding_jobs >= 2,
        "the five queues all landed on one primary"
    );

    let out = env.run_within(
        &[
            "worker",
            "--burst",
            "--name",
            "w-cluster",
            "--queues",
            &queues.join(","),
        ],
        LIMIT,
        "a burst worker on a cluster",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for id in &ids {
        assert_eq!(status_of(&env.job(id)), "completed", "job {id}");
    }

    let info = env.ok(&["info"]);
    assert!(
        info.contains("redis at cluster redis://127.0.0.1:"),
        "{info}"
    );
    let primaries = info
        .lines()
        .find_map(|l| l.strip_prefix("primaries "))
        .unwrap_or_else(|| panic!("no primaries line: {info}"));
    assert_eq!(primaries.split(", ").count(), 3, "{info}");
    let json: Value = serde_json::from_str(&env.ok(&["info", "--json"])).unwrap();
    let completed: u64 = json["queues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["completed"].as_u64().unwrap())
        .sum();
    assert_eq!(completed, 25, "{json}");
}

#[test]
fn a_bench_on_a_cluster_deletes_its_queue_from_every_node() {
    let env = Env::redis_cluster();
    env.submit(&["sleep", "--payload", r#"{"seconds": 1}"#]);
    let before = cluster_keys(&env);
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
            "--json",
        ],
        LIMIT,
        "a short bench on a cluster",
    );
    assert!(
        out.status.success(),
        "bench failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    assert!(
        report["memory_bytes_per_queued_job"].as_f64().unwrap() > 0.0,
        "{report}"
    );
    let mut after = cluster_keys(&env);
    // A maintenance pass marks a quota recount with a key that lives a minute.
    after.retain(|k| !k.ends_with(":waiting_bytes:recounted"));
    let leftover: Vec<&String> = after.iter().filter(|k| k.contains("bench_")).collect();
    assert!(leftover.is_empty(), "the bench left {leftover:?}");
    let mut before = before;
    before.retain(|k| !k.ends_with(":waiting_bytes:recounted"));
    assert_eq!(after, before);
}
