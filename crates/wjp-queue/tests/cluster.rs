//! The conformance suite against a real Redis Cluster of three primaries,
//! and what only a cluster can do to a queue: lose a primary mid-run.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;
use wjp_queue::backend::redis::RedisBackend;
use wjp_queue::backend::Backend;
use wjp_queue::{JobRequest, Status};

use crate::conformance::{
    claim, fast_config, queue_on, recording_handlers, request, start_worker, wait_for_job, Runs,
    Store,
};
use crate::redis_cluster::RedisCluster;
use crate::redis_server::{ready_key_in, stored_record};

pub struct ClusterStore {
    cluster: RedisCluster,
}

impl ClusterStore {
    pub async fn new() -> Self {
        ClusterStore {
            cluster: RedisCluster::start(3, &[]),
        }
    }
}

#[async_trait]
impl Store for ClusterStore {
    async fn connect(&self) -> Arc<dyn Backend> {
        Arc::new(
            RedisBackend::connect_cluster(&self.cluster.urls())
                .await
                .expect("connect to the test Redis Cluster"),
        )
    }
}

conformance_suite!(ClusterStore::new().await);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_cluster_is_named_with_its_primaries() {
    let store = ClusterStore::new().await;
    let backend = store.connect().await;
    let info = backend.info();
    assert_eq!(info.name, "redis");
    assert!(
        info.location.starts_with("cluster redis://127.0.0.1:"),
        "{}",
        info.location
    );
    let primaries = info.details["cluster_primaries"].as_array().unwrap();
    assert_eq!(primaries.len(), 3, "{:?}", info.details);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_primary_killed_mid_run_loses_no_job_and_records_each_once() {
    // Every write fsynced: a primary killed and started again has every
    // write it acknowledged.
    let mut store = ClusterStore {
        cluster: RedisCluster::start(3, &["--appendfsync", "always"]),
    };
    let queue = queue_on(&store).await;
    let queues = ["default", "analysis", "conversion", "nesting", "gcode"];
    let runs: Runs = Arc::default();
    let handlers = recording_handlers(&runs, Duration::from_millis(20));
    let mut ids = Vec::new();
    for i in 0..150 {
        let mut r: JobRequest = request("record", json!(i));
        r.queue = Some(queues[i % queues.len()].to_string());
        ids.push(queue.enqueue(r).await.unwrap().job.id);
    }
    let worker = start_worker(&queue, handlers, fast_config("w-cluster", &queues));
    wait_for_job(&queue, &ids[0], Duration::from_secs(30), |j| {
        j.status() == Status::Completed
    })
    .await;

    // The primary of the first slot goes down hard, and comes back with
    // its AOF while the worker carries on with the other primaries' queues.
    store.cluster.nodes[0].kill();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    store.cluster.nodes[0].restart();
    store.cluster.wait_ok(Duration::from_secs(30));

    for id in &ids {
        let job = wait_for_job(&queue, id, Duration::from_secs(90), |j| {
            j.status().is_terminal()
        })
        .await;
        assert_eq!(job.status(), Status::Completed, "{job:#?}");
        assert_eq!(job.state.result, Some(json!(id.to_string())));
    }
    worker.stop().await;
    let counts = queue.counts().await.unwrap();
    let completed: u64 = counts.iter().map(|c| c.completed).sum();
    assert_eq!(completed, 150, "{counts:?}");
    assert!(counts
        .iter()
        .all(|c| c.queued + c.running + c.scheduled + c.failed == 0));
    // Delivery is at least once: a job whose primary died as it ended may
    // run again, but none is lost and none has two outcomes.
    let runs = runs.lock().unwrap();
    assert_eq!(runs.len(), 150);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_queue_moved_to_another_primary_mid_run_loses_nothing() {
    let store = ClusterStore::new().await;
    let queue = queue_on(&store).await;
    let runs: Runs = Arc::default();
    let mut ids = Vec::new();
    for i in 0..300 {
        let mut r: JobRequest = request("record", json!(i));
        r.queue = Some("default".into());
        ids.push(queue.enqueue(r).await.unwrap().job.id);
    }
    let worker = start_worker(
        &queue,
        recording_handlers(&runs, Duration::from_millis(5)),
        fast_config("w-reshard", &["default"]),
    );
    wait_for_job(&queue, &ids[0], Duration::from_secs(30), |j| {
        j.status() == Status::Completed
    })
    .await;
    // The queue's slot moves, keys a few at a time, while the worker claims
    // and ends jobs in it: the client follows ASK and MOVED, and scripts
    // refused while their keys are split between two nodes are tried again.
    let done = queue.counts().await.unwrap()[0].completed;
    assert!(done < 300, "the worker is still busy when the move starts");
    let (from, slot) = store.cluster.owner_of("{default}");
    let to = (from + 1) % store.cluster.nodes.len();
    let cluster = &store.cluster;
    tokio::task::block_in_place(|| cluster.move_slot(slot, from, to));
    assert_eq!(store.cluster.owner_of("{default}").0, to);
    // Jobs enqueued after the move land on the new primary.
    for i in 300..320 {
        let mut r: JobRequest = request("record", json!(i));
        r.queue = Some("default".into());
        ids.push(queue.enqueue(r).await.unwrap().job.id);
    }
    for id in &ids {
        let job = wait_for_job(&queue, id, Duration::from_secs(90), |j| {
            j.status().is_terminal()
        })
        .await;
        assert_eq!(job.status(), Status::Completed, "{job:#?}");
    }
    worker.stop().await;
    assert_eq!(runs.lock().unwrap().len(), 320);
    let counts = &queue.counts().await.unwrap();
    let default = counts
        .iter()
        .find(|c| c.name.as_str() == "default")
        .unwrap();
    assert_eq!(default.completed, 320, "{counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_primary_that_lost_the_library_gets_it_again() {
    let store = ClusterStore::new().await;
    let queue = queue_on(&store).await;
    let (owner, _) = store.cluster.owner_of("{default}");
    let mut c = store.cluster.nodes[owner].connection(0);
    redis::cmd("FUNCTION")
        .arg("FLUSH")
        .query::<()>(&mut c)
        .unwrap();
    let job = queue.enqueue(request("noop", json!(1))).await.unwrap();
    assert!(job.created);
    let libraries: Vec<redis::Value> = redis::cmd("FUNCTION").arg("LIST").query(&mut c).unwrap();
    assert_eq!(libraries.len(), 1, "the library is back on the primary");
}

/// The ready lists of an earlier layout (`<ready key>|<id>` entries) are
/// rewritten to ids on every primary when a client of this version marks
/// the cluster: one call per queue, each sent to the primary that holds
/// the queue's slot. Their jobs are then claimed, each once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ready_lists_of_an_earlier_layout_are_rewritten_on_every_primary() {
    let store = ClusterStore::new().await;
    let queue = queue_on(&store).await;
    let names = ["default", "analysis", "conversion", "nesting", "gcode"];
    let connection_to = |key: &str| {
        let (owner, _) = store.cluster.owner_of(key);
        store.cluster.nodes[owner].connection(0)
    };
    let list_of = |name: &str| {
        let key = format!("wjp:{{{name}}}:ready_list");
        let entries: Vec<String> = redis::cmd("LRANGE")
            .arg(&key)
            .arg(0)
            .arg(-1)
            .query(&mut connection_to(&key))
            .unwrap();
        entries
    };
    let mut lists = Vec::new();
    for name in names {
        let mut ids = Vec::new();
        for i in 0..3 {
            let mut r: JobRequest = request("noop", json!(i));
            r.queue = Some(name.to_string());
            ids.push(queue.enqueue(r).await.unwrap().job.id.to_string());
        }
        assert_eq!(list_of(name), ids);
        lists.push((name, ids));
    }
    let owners: std::collections::HashSet<usize> = names
        .iter()
        .map(|name| store.cluster.owner_of(&format!("{{{name}}}")).0)
        .collect();
    assert!(owners.len() > 1, "the queues live on several primaries");

    // Written back as layouts 4 to 6 kept them, and the cluster marked 6.
    for (name, ids) in &lists {
        let key = format!("wjp:{{{name}}}:ready_list");
        let mut conn = connection_to(&key);
        let entries: Vec<String> = ids
            .iter()
            .map(|id| {
                let record = stored_record(&mut conn, name, id).unwrap();
                format!("{}|{id}", ready_key_in(record.split_once('\n').unwrap().0))
            })
            .collect();
        redis::pipe()
            .cmd("DEL")
            .arg(&key)
            .cmd("RPUSH")
            .arg(&key)
            .arg(&entries)
            .query::<()>(&mut conn)
            .unwrap();
        assert_eq!(list_of(name), entries);
    }
    redis::cmd("SET")
        .arg("wjp:layout")
        .arg("6")
        .query::<()>(&mut connection_to("wjp:layout"))
        .unwrap();

    let queue = queue_on(&store).await;
    let layout: String = redis::cmd("GET")
        .arg("wjp:layout")
        .query(&mut connection_to("wjp:layout"))
        .unwrap();
    assert_eq!(layout, "8");
    for (name, ids) in &lists {
        assert_eq!(&list_of(name), ids, "{name}'s list holds ids again");
    }
    let mut claimed = Vec::new();
    for _ in 0..3 {
        let running = claim(&queue, &names, 10, Duration::from_secs(60)).await;
        claimed.extend(running.iter().map(|j| j.id.to_string()));
    }
    claimed.sort();
    let mut all: Vec<String> = lists.into_iter().flat_map(|(_, ids)| ids).collect();
    all.sort();
    assert_eq!(claimed, all, "every job claimed once");
}
