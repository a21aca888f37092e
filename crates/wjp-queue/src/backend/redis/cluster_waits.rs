//! Waiting on a Redis Cluster. One `XREAD` cannot block on streams of
//! different slots, and a blocked connection to a node holds up every other
//! command sent to that node on it. So each watched stream gets a follower
//! task of its own, with a cluster connection of its own (no response
//! timeout): it blocks on that one stream, wherever its slot lives now
//! (the cluster client follows redirects and failovers), and bumps the same
//! counters as the one-server watcher (`waits.rs`). A supervisor starts a
//! follower for each stream that becomes wanted and stops those no longer
//! wanted. The price is connections: a process watching a dozen streams on a
//! three-primary cluster holds three dozen idle ones.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::cluster::{ClusterClient, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::link::{Link, CONNECT_TIMEOUT};
use super::waits::{read_reply_tops, signal, stream_tops, Interest, Signals, BLOCK};

/// Watches the streams `interest` names, one follower per stream, until the
/// backend is dropped.
pub(super) async fn watch_cluster_streams(
    client: ClusterClient,
    link: Link,
    interest: Arc<Interest>,
    tx: watch::Sender<Signals>,
) {
    let mut followers: HashMap<String, JoinHandle<()>> = HashMap::new();
    loop {
        if tx.is_closed() {
            break;
        }
        let events = interest.events.load(Ordering::SeqCst);
        match stream_tops(&link, interest.wake_queues(), events).await {
            Ok((queues, tops)) => {
                followers.retain(|key, task| {
                    let wanted = tops.contains_key(key) && !task.is_finished();
                    if !wanted {
                        task.abort();
                    }
                    wanted
                });
                start_followers(&client, &tx, &queues, tops, &mut followers);
            }
            Err(e) => tracing::debug!(error = %e, "reading Redis Cluster streams failed; retrying"),
        }
        // New queues appear, and interest grows: look again now and then.
        tokio::select! {
            _ = tokio::time::sleep(BLOCK) => {}
            _ = interest.grew.notified() => {}
            _ = tx.closed() => break,
        }
    }
    for task in followers.into_values() {
        task.abort();
    }
}

/// Starts a follower for each stream of `tops` that has none, from its top
/// now. A waiter may have looked before the stream was watched, so a
/// stream's first watch counts as a change.
fn start_followers(
    client: &ClusterClient,
    tx: &watch::Sender<Signals>,
    queues: &[String],
    tops: BTreeMap<String, String>,
    followers: &mut HashMap<String, JoinHandle<()>>,
) {
    for (key, top) in tops {
        if followers.contains_key(&key) {
            continue;
        }
        signal(tx, queues, std::iter::once(&key));
        let follower = Follower {
            client: client.clone(),
            key: key.clone(),
            last: top,
            queues: queues.to_vec(),
            tx: tx.clone(),
        };
        followers.insert(key, tokio::spawn(follower.run()));
    }
}

/// One stream, followed.
struct Follower {
    client: ClusterClient,
    key: String,
    /// The last entry id seen.
    last: String,
    /// The watched queues, to name signals by.
    queues: Vec<String>,
    tx: watch::Sender<Signals>,
}

impl Follower {
    async fn run(mut self) {
        let mut conn: Option<ClusterConnection> = None;
        let mut burst_start = Instant::now();
        let mut burst = 0u32;
        loop {
            if self.tx.is_closed() {
                return;
            }
            let mut c = match conn.take() {
                Some(c) => c,
                None => match self.connect().await {
                    Some(c) => c,
                    None => continue,
                },
            };
            match self.read(&mut c).await {
                Ok(Value::Nil) => {}
                Ok(reply) => {
                    if let Some((_, top)) = read_reply_tops(reply).pop() {
                        self.last = top;
                        signal(&self.tx, &self.queues, std::iter::once(&self.key));
                    }
                    // Under load entries come all the time: rather than walk
                    // them one by one, rest a millisecond and skip to the top.
                    if burst_start.elapsed() > Duration::from_millis(10) {
                        burst_start = Instant::now();
                        burst = 0;
                    }
                    burst += 1;
                    if burst > 8 {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                        self.skip_to_top(&mut c).await;
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, stream = %self.key, "blocking read on Redis Cluster failed; reconnecting");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    continue;
                }
            }
            conn = Some(c);
        }
    }

    /// A cluster connection of its own, without a response timeout (its
    /// reads block); `None` after a pause when no node answers.
    async fn connect(&self) -> Option<ClusterConnection> {
        let config = ClusterConfig::new().set_connection_timeout(CONNECT_TIMEOUT);
        match self.client.get_async_connection_with_config(config).await {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::debug!(error = %e, "cannot connect to Redis Cluster to wait; retrying");
                tokio::time::sleep(Duration::from_millis(250)).await;
                None
            }
        }
    }

    /// One `XREAD` past the last id seen, blocking up to `BLOCK`, and
    /// bounded all the same: a connection that died silently must not hang.
    async fn read(&self, c: &mut ClusterConnection) -> redis::RedisResult<Value> {
        let mut read = redis::cmd("XREAD");
        read.arg("COUNT")
            .arg(1)
            .arg("BLOCK")
            .arg(BLOCK.as_millis() as u64)
            .arg("STREAMS")
            .arg(&self.key)
            .arg(&self.last);
        tokio::select! {
            reply = tokio::time::timeout(BLOCK * 3, read.query_async::<Value>(c)) => match reply {
                Ok(reply) => reply,
                Err(_) => Err(redis::RedisError::from((redis::ErrorKind::Io, "blocking read hung"))),
            },
            // The backend is gone: nothing to wake.
            _ = self.tx.closed() => Ok(Value::Nil),
        }
    }

    /// Moves the last id seen to the stream's newest entry, and signals
    /// when that is further than the last read went: an entry may have come
    /// in between.
    async fn skip_to_top(&mut self, c: &mut ClusterConnection) {
        let mut top = redis::cmd("XREVRANGE");
        top.arg(&self.key).arg("+").arg("-").arg("COUNT").arg(1);
        if let Ok(reply) = top.query_async::<Value>(c).await {
            if let Some(id) = super::events::stream_entries(reply)
                .ok()
                .and_then(|e| e.first().map(|(id, _)| id.to_string()))
            {
                if id != self.last {
                    self.last = id;
                    signal(&self.tx, &self.queues, std::iter::once(&self.key));
                }
            }
        }
    }
}
