//! What tools outside the queue's life ask of the server: deleting a
//! throwaway queue whole (a benchmark's), and the memory the server uses.
//! Both know the key layout, so they live here rather than in their callers.

use redis::Value;

use super::keys::{key_prefix, QUEUES_KEY};
use super::link::Link;
use super::reply::{array, int, text};
use super::RedisBackend;
use crate::error::Result;
use crate::job::QueueName;

/// Keys looked at per round of a deletion.
const ROUND: usize = 1_000;

impl RedisBackend {
    /// Deletes every key of `queue` (its jobs, indexes, events, settings)
    /// and its name from the known queues. For throwaway queues such as a
    /// benchmark's: the jobs go without events or checks. Returns how many
    /// keys went.
    pub async fn delete_queue(&self, queue: &QueueName) -> Result<u64> {
        let prefix = key_prefix(queue.as_str());
        let mut deleted = 0u64;
        loop {
            let keys = self.queue_keys(&prefix).await?;
            if keys.is_empty() {
                break;
            }
            let mut unlink = redis::cmd("UNLINK");
            unlink.arg(&keys);
            deleted += int(&self.query(unlink).await?)? as u64;
            if keys.len() < ROUND && !self.shared.link.is_cluster() {
                break;
            }
        }
        let mut forget = redis::cmd("SREM");
        forget.arg(QUEUES_KEY).arg(queue.as_str());
        self.query(forget).await?;
        Ok(deleted)
    }

    /// Up to a round of keys that start with `prefix` (a queue's, so all in
    /// one cluster slot): by `SCAN` on one server, from the slot's own list
    /// on a cluster (`CLUSTER GETKEYSINSLOT`, on the node that holds it).
    async fn queue_keys(&self, prefix: &str) -> Result<Vec<String>> {
        let pattern = format!("{prefix}*");
        if !self.shared.link.is_cluster() {
            let mut keys = Vec::new();
            let mut cursor = 0u64;
            loop {
                let mut scan = redis::cmd("SCAN");
                scan.arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(ROUND);
                let reply = array(self.query(scan).await?)?;
                let [next, found] = <[Value; 2]>::try_from(reply)
                    .map_err(|_| super::reply::corrupt("malformed SCAN reply"))?;
                cursor = text(&next)?.parse().unwrap_or(0);
                for key in array(found)? {
                    keys.push(text(&key)?);
                }
                if cursor == 0 || keys.len() >= ROUND {
                    return Ok(keys);
                }
            }
        }
        let mut slot = redis::cmd("CLUSTER");
        slot.arg("KEYSLOT").arg(&pattern);
        let slot = int(&self.query(slot).await?)?;
        let mut list = redis::cmd("CLUSTER");
        list.arg("GETKEYSINSLOT").arg(slot).arg(ROUND);
        let reply = self.shared.link.on_node_of(&pattern, list).await;
        let reply = reply.map_err(|e| self.storage_err(e))?;
        let mut keys = Vec::new();
        for key in array(reply)? {
            let key = text(&key)?;
            // Other keys may share the slot: only the queue's go.
            if key.starts_with(prefix) {
                keys.push(key);
            }
        }
        Ok(keys)
    }

    /// Bytes the server uses for data (`used_memory`), summed over every
    /// primary of a cluster.
    pub async fn used_memory(&self) -> Result<u64> {
        let mut info = redis::cmd("INFO");
        info.arg("memory");
        let replies = match self.query(info).await? {
            Value::Map(nodes) => nodes.into_iter().map(|(_, v)| v).collect(),
            one => vec![one],
        };
        let mut total = 0;
        for reply in replies {
            total += text(&reply)?
                .lines()
                .find_map(|l| l.strip_prefix("used_memory:"))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(0);
        }
        Ok(total)
    }
}

impl Link {
    /// Whether this is a cluster.
    pub(super) fn is_cluster(&self) -> bool {
        matches!(self, Link::Cluster { .. })
    }
}
