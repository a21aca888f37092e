//! The link to Redis that commands go over: one server, or the nodes of a
//! Redis Cluster.
//!
//! Every script touches the keys of one queue, which share the queue's hash
//! tag and so one cluster slot: a script runs on the node that holds its
//! queue, and the cluster client follows `MOVED` and `ASK` redirects and
//! failovers by itself. What a cluster cannot take is a pipeline whose
//! commands live in different slots, which the backend sends all the time
//! (a claim over several queues, a read of an id in every queue). So on a
//! cluster a pipeline is cut into one pipeline per slot, sent at once and
//! joined back in order. Commands of one slot keep their order; commands of
//! different slots never depended on each other's order, since each touches
//! other keys. A command that belongs to no one slot (`FUNCTION LOAD`,
//! `INFO`, `PING`) goes alone, and the cluster client sends it to every
//! primary.

use std::time::Duration;

use futures_util::future::try_join_all;
use redis::aio::ConnectionManager;
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::{Arg, Client, Cmd, Pipeline, RedisResult, Value};

/// How long a command may take before the link calls it failed, and how
/// long a connection may take to open.
pub(super) const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// One server (with the client that opens the blocking connections of
/// waits), or a cluster (the same).
// One link per backend, kept behind its `Arc`: the variants' sizes differ
// but nothing moves links around.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
pub(super) enum Link {
    Server {
        client: Client,
        conn: ConnectionManager,
    },
    Cluster {
        client: ClusterClient,
        conn: ClusterConnection,
    },
}

impl Link {
    /// Sends a pipeline: one round trip to one server; on a cluster, one per
    /// slot, at once. The replies come in the pipeline's order. Pipelines
    /// sent here have no ignored commands (their replies could not be told
    /// apart once cut up).
    pub(super) async fn pipeline(&self, pipe: &Pipeline) -> RedisResult<Vec<Value>> {
        match self {
            Link::Server { conn, .. } => pipe.query_async(&mut conn.clone()).await,
            Link::Cluster { conn, .. } => by_slot(conn, pipe).await,
        }
    }
}

impl Link {
    /// Sends `cmd` to the server, or on a cluster to the primary that holds
    /// `key`'s slot (for commands about a slot that name no key).
    pub(super) async fn on_node_of(&self, key: &str, cmd: Cmd) -> RedisResult<Value> {
        match self {
            Link::Server { conn, .. } => cmd.query_async(&mut conn.clone()).await,
            Link::Cluster { conn, .. } => {
                let route = Route::with_key(key, SlotAddr::Master);
                conn.clone()
                    .route_command(
                        cmd,
                        RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(route)),
                    )
                    .await
            }
        }
    }
}

/// A cluster client for the nodes of `urls` (some of a cluster's nodes is
/// enough; the client learns the rest). Retries are few and short: a
/// command that cannot reach its slot fails within seconds as
/// `backend_unavailable`, and the caller's own retries take over (a worker
/// keeps its jobs and tries again), rather than hanging for minutes.
pub(super) fn cluster_client(urls: &[String]) -> RedisResult<ClusterClient> {
    ClusterClientBuilder::new(urls.to_vec())
        .retries(6)
        .min_retry_wait(50)
        .max_retry_wait(1_000)
        .connection_timeout(CONNECT_TIMEOUT)
        .response_timeout(RESPONSE_TIMEOUT)
        .build()
}

/// The slot a command goes to, when it has exactly one: that of its keys,
/// found where the commands the backend sends keep them. A command without
/// keys, or whose keys lie in several slots, has none.
fn route_of(cmd: &Cmd) -> Option<Route> {
    let args: Vec<&[u8]> = cmd
        .args_iter()
        .filter_map(|a| match a {
            Arg::Simple(bytes) => Some(bytes),
            _ => None,
        })
        .collect();
    let name = args.first()?.to_ascii_uppercase();
    let keys: &[&[u8]] = match name.as_slice() {
        // FCALL function numkeys key...
        b"FCALL" | b"FCALL_RO" | b"EVAL" | b"EVALSHA" => {
            let count: usize = std::str::from_utf8(args.get(2)?).ok()?.parse().ok()?;
            args.get(3..3 + count)?
        }
        // XREAD [COUNT n] [BLOCK ms] STREAMS key... id...
        b"XREAD" => {
            let at = args
                .iter()
                .position(|a| a.eq_ignore_ascii_case(b"STREAMS"))?;
            let streams = &args[at + 1..];
            &streams[..streams.len() / 2]
        }
        b"DEL" | b"EXISTS" | b"UNLINK" | b"MGET" | b"TOUCH" => &args[1..],
        b"FUNCTION" | b"INFO" | b"PING" | b"TIME" | b"SCRIPT" | b"CLUSTER" => return None,
        _ => args.get(1..2)?,
    };
    let route = Route::with_key(keys.first()?, SlotAddr::Master);
    keys.iter()
        .all(|k| Route::with_key(k, SlotAddr::Master) == route)
        .then_some(route)
}

/// One part of a cut pipeline: its slot (none for a command the client
/// routes by itself), its commands, and their places in the whole.
struct Part {
    route: Option<Route>,
    pipe: Pipeline,
    places: Vec<usize>,
}

/// Sends `pipe` to a cluster as one pipeline per slot, at once.
async fn by_slot(conn: &ClusterConnection, pipe: &Pipeline) -> RedisResult<Vec<Value>> {
    let mut parts: Vec<Part> = Vec::new();
    for (place, cmd) in pipe.cmd_iter().enumerate() {
        let route = route_of(cmd);
        let existing = route.and_then(|r| parts.iter().position(|p| p.route == Some(r)));
        match existing {
            Some(i) => {
                parts[i].pipe.add_command(cmd.clone());
                parts[i].places.push(place);
            }
            None => {
                let mut part = redis::pipe();
                part.add_command(cmd.clone());
                parts.push(Part {
                    route,
                    pipe: part,
                    places: vec![place],
                });
            }
        }
    }
    let replies = try_join_all(parts.iter().map(|part| {
        let mut conn = conn.clone();
        async move {
            match (&part.route, part.pipe.cmd_iter().next()) {
                // Alone, so the client may send it to several nodes and
                // merge their answers.
                (None, Some(cmd)) => cmd.query_async::<Value>(&mut conn).await.map(|v| vec![v]),
                _ => part.pipe.query_async::<Vec<Value>>(&mut conn).await,
            }
        }
    }))
    .await?;
    let mut ordered: Vec<Option<Value>> = vec![None; pipe.len()];
    for (part, values) in parts.iter().zip(replies) {
        for (place, value) in part.places.iter().zip(values) {
            ordered[*place] = Some(value);
        }
    }
    Ok(ordered
        .into_iter()
        .map(|v| v.unwrap_or(Value::Nil))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_of_one_queue_share_a_route_and_other_queues_do_not() {
        let get = |key: &str| {
            let mut cmd = redis::cmd("GET");
            cmd.arg(key);
            route_of(&cmd)
        };
        assert!(get("wjp:{analysis}:ready").is_some());
        assert_eq!(get("wjp:{analysis}:ready"), get("wjp:{analysis}:job:abc"));
        assert_ne!(get("wjp:{analysis}:ready"), get("wjp:{gcode}:ready"));
        let mut load = redis::cmd("FUNCTION");
        load.arg("LOAD").arg("#!lua name=x\n");
        assert_eq!(route_of(&load), None, "a library goes to every primary");
        let mut fcall = redis::cmd("FCALL");
        fcall
            .arg("wjp_claim")
            .arg(2)
            .arg("wjp:{gcode}:ready")
            .arg("wjp:{gcode}:job:1")
            .arg("wjp:{other}:x");
        assert_eq!(route_of(&fcall), get("wjp:{gcode}:leases"));
        let mut exists = redis::cmd("EXISTS");
        exists.arg("wjp:{a}:job:1").arg("wjp:{b}:job:1");
        assert_eq!(
            route_of(&exists),
            None,
            "keys of two slots: the client splits it"
        );
    }
}
