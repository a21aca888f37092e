//! A real Redis Cluster for tests: `primaries` redis-servers in cluster mode,
//! each on a free port of its own (see `redis_server.rs`), the 16,384 slots
//! shared out evenly, joined with `CLUSTER MEET`, and ready once every node
//! says `cluster_state:ok`. Stopped when dropped.

use std::time::{Duration, Instant};

use super::redis_server::RedisServer;

/// The cluster's slots.
const SLOTS: u16 = 16_384;

pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts a cluster of `primaries` nodes; `extra` are more arguments
    /// for every `redis-server`.
    pub fn start(primaries: usize, extra: &[&str]) -> RedisCluster {
        let mut args = vec![
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            // Short, so a node that is killed is noticed soon.
            "--cluster-node-timeout",
            "1000",
        ];
        args.extend_from_slice(extra);
        let nodes: Vec<RedisServer> = (0..primaries).map(|_| RedisServer::start(&args)).collect();
        let share = SLOTS / primaries as u16;
        for (i, node) in nodes.iter().enumerate() {
            let first = i as u16 * share;
            let last = if i + 1 == primaries {
                SLOTS - 1
            } else {
                first + share - 1
            };
            let mut c = node.connection(0);
            redis::cmd("CLUSTER")
                .arg("ADDSLOTSRANGE")
                .arg(first)
                .arg(last)
                .query::<()>(&mut c)
                .expect("CLUSTER ADDSLOTSRANGE");
        }
        let mut first = nodes[0].connection(0);
        for node in &nodes[1..] {
            redis::cmd("CLUSTER")
                .arg("MEET")
                .arg("127.0.0.1")
                .arg(node.port())
                .query::<()>(&mut first)
                .expect("CLUSTER MEET");
        }
        let cluster = RedisCluster { nodes };
        cluster.wait_ok(Duration::from_secs(30));
        cluster
    }

    /// Waits until every running node knows every node and all slots.
    pub fn wait_ok(&self, limit: Duration) {
        let started = Instant::now();
        loop {
            let ok = self.nodes.iter().all(|node| {
                let info = redis::Client::open(node.url(0))
                    .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(200)))
                    .and_then(|mut c| redis::cmd("CLUSTER").arg("INFO").query::<String>(&mut c))
                    .unwrap_or_default();
                info.contains("cluster_state:ok")
                    && info.contains(&format!("cluster_known_nodes:{}", self.nodes.len()))
            });
            if ok {
                return;
            }
            assert!(
                started.elapsed() < limit,
                "the test Redis Cluster did not become ready"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The URLs of every node, as a client is given them.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.url(0)).collect()
    }
}
