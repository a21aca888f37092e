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

impl RedisCluster {
    /// The node's id in the cluster.
    fn node_id(&self, node: usize) -> String {
        let mut c = self.nodes[node].connection(0);
        redis::cmd("CLUSTER")
            .arg("MYID")
            .query(&mut c)
            .expect("CLUSTER MYID")
    }

    /// The node that holds `key`'s slot now, and the slot.
    pub fn owner_of(&self, key: &str) -> (usize, u16) {
        let mut c = self.nodes[0].connection(0);
        let slot: u16 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(key)
            .query(&mut c)
            .expect("CLUSTER KEYSLOT");
        for (i, node) in self.nodes.iter().enumerate() {
            let mut c = node.connection(0);
            let nodes: String = redis::cmd("CLUSTER")
                .arg("NODES")
                .query(&mut c)
                .expect("CLUSTER NODES");
            // The node's own line ends with the slot ranges it serves.
            let serves = nodes
                .lines()
                .find(|l| l.contains("myself"))
                .is_some_and(|l| {
                    l.split_whitespace().skip(8).any(|range| {
                        let (a, b) = range.split_once('-').unwrap_or((range, range));
                        match (a.parse::<u16>(), b.parse::<u16>()) {
                            (Ok(a), Ok(b)) => (a..=b).contains(&slot),
                            _ => false,
                        }
                    })
                });
            if serves {
                return (i, slot);
            }
        }
        panic!("no node holds slot {slot}");
    }

    /// Moves `slot` from node `from` to node `to` while clients use it, as
    /// a resharding does: the slot is marked migrating and importing, its
    /// keys are moved a few at a time (clients meanwhile get `ASK`
    /// redirects, or `TRYAGAIN` for commands on several keys), and then
    /// every node is told the new owner.
    pub fn move_slot(&self, slot: u16, from: usize, to: usize) {
        let (from_id, to_id) = (self.node_id(from), self.node_id(to));
        let mut src = self.nodes[from].connection(0);
        let mut dst = self.nodes[to].connection(0);
        redis::cmd("CLUSTER")
            .arg("SETSLOT")
            .arg(slot)
            .arg("IMPORTING")
            .arg(&from_id)
            .query::<()>(&mut dst)
            .expect("SETSLOT IMPORTING");
        redis::cmd("CLUSTER")
            .arg("SETSLOT")
            .arg(slot)
            .arg("MIGRATING")
            .arg(&to_id)
            .query::<()>(&mut src)
            .expect("SETSLOT MIGRATING");
        loop {
            let keys: Vec<String> = redis::cmd("CLUSTER")
                .arg("GETKEYSINSLOT")
                .arg(slot)
                .arg(10)
                .query(&mut src)
                .expect("GETKEYSINSLOT");
            if keys.is_empty() {
                break;
            }
            redis::cmd("MIGRATE")
                .arg("127.0.0.1")
                .arg(self.nodes[to].port())
                .arg("")
                .arg(0)
                .arg(5000)
                .arg("KEYS")
                .arg(&keys)
                .query::<()>(&mut src)
                .expect("MIGRATE");
            // Slowly, so that clients run into the slot half moved.
            std::thread::sleep(Duration::from_millis(5));
        }
        for node in &self.nodes {
            let mut c = node.connection(0);
            redis::cmd("CLUSTER")
                .arg("SETSLOT")
                .arg(slot)
                .arg("NODE")
                .arg(&to_id)
                .query::<()>(&mut c)
                .expect("SETSLOT NODE");
        }
    }
}
