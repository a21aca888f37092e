//! Reaching the server: URLs (built, parsed, shown without a password),
//! the connection with its timeouts, the version check, and running
//! commands with retries across reconnects and a lost function library.

use std::collections::HashMap;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterConfig;
use redis::{Client, Cmd, Pipeline, Value};

use super::keys::{
    key_prefix, ready_late_key, ready_list_key, LAYOUT, LAYOUTS_READ, LAYOUTS_RELISTED, LAYOUT_KEY,
};
use super::link::{cluster_client, Link, CONNECT_TIMEOUT, RESPONSE_TIMEOUT};
use super::record::READY_KEY_LEN;
use super::reply::text;
use super::RedisBackend;
use crate::error::{QueueError, Result};

/// The oldest Redis release wjp's functions run on (major, minor).
const OLDEST_SERVER: (u32, u32) = (7, 0);

/// The script that rewrites a queue's ready lists in this layout's form
/// (`relist_queues`).
const RELIST: &str = include_str!("lua/relist.lua");

/// Whether a server reporting `version` (`redis_version`) runs wjp's functions.
/// A version that does not parse is given the benefit of the doubt: forks
/// and builds report odd strings, and the functions will say what fails.
fn supported_server(version: &str) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u32>());
    match (parts.next(), parts.next()) {
        (Some(Ok(major)), Some(Ok(minor))) => (major, minor) >= OLDEST_SERVER,
        _ => true,
    }
}

/// A `redis://` URL from its parts (for `REDIS_HOST`, `REDIS_PORT`, `REDIS_DB`).
pub fn redis_url(host: &str, port: u16, db: u32) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("redis://[{host}]:{port}/{db}")
    } else {
        format!("redis://{host}:{port}/{db}")
    }
}

/// The URL with any password removed, fit to show and log.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            if user.is_empty() {
                host.to_owned()
            } else {
                format!("{user}@{host}")
            }
        }
        None => authority.to_owned(),
    };
    let path = match path.split_once('?') {
        Some((p, query)) => {
            let kept: Vec<&str> = query
                .split('&')
                .filter(|kv| !kv.to_ascii_lowercase().starts_with("password"))
                .collect();
            if kept.is_empty() {
                p.to_owned()
            } else {
                format!("{p}?{}", kept.join("&"))
            }
        }
        None => path.to_owned(),
    };
    format!("{scheme}://{authority}{path}")
}

/// Errors that go away by themselves: a broken connection (the manager
/// reconnects), a server loading its data after a restart.
fn is_transient(e: &redis::RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_refusal()
        || e.is_timeout()
        || e.is_connection_dropped()
        || matches!(
            e.kind(),
            redis::ErrorKind::Io
                | redis::ErrorKind::Server(redis::ServerErrorKind::BusyLoading)
                | redis::ErrorKind::Server(redis::ServerErrorKind::TryAgain)
                // A cluster whose slot has no primary for now (a failover
                // under way, a node restarting).
                | redis::ErrorKind::Server(redis::ServerErrorKind::ClusterDown)
                | redis::ErrorKind::Server(redis::ServerErrorKind::MasterDown)
        )
}

/// Whether the server answered, to the command or to any command of a
/// pipeline, with an `ERR` whose text passes `says`. Errors inside a
/// pipeline are reached only through `into_server_errors`.
fn server_answered(e: &redis::RedisError, says: impl Fn(&str) -> bool) -> bool {
    e.clone().into_server_errors().is_some_and(|errors| {
        errors
            .iter()
            .any(|(_, error)| error.code() == "ERR" && error.details().is_some_and(&says))
    })
}

/// Whether the server lost the library (see `RedisBackend::run`).
pub(super) fn is_missing_function(e: &redis::RedisError) -> bool {
    server_answered(e, |d| d.starts_with("Function not found"))
}

/// Whether the server has no function commands (`FCALL`, `FUNCTION`): a
/// release older than Redis 7, reached without the version check that
/// `connect` makes (a lazily connected backend), or a server that renamed
/// them away.
fn is_without_functions(e: &redis::RedisError) -> bool {
    server_answered(e, |d| {
        d.starts_with("unknown command") && (d.contains("FCALL") || d.contains("FUNCTION"))
    })
}

/// Whether `FUNCTION LOAD` was refused because the library is there.
pub(super) fn is_library_present(e: &redis::RedisError) -> bool {
    server_answered(e, |d| d.ends_with("already exists"))
}

/// A failed command as a queue error: unavailable when it may pass.
fn redis_err(e: redis::RedisError) -> QueueError {
    if is_transient(&e) {
        QueueError::Unavailable(format!("Redis: {e}"))
    } else {
        QueueError::Storage(format!("Redis: {e}"))
    }
}

/// The shared connection's timeouts and retries.
fn connection_config() -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        // Scripts are bounded (SCRIPT_BATCH jobs), but a busy server with
        // an fsync-always AOF can be slow: be patient before calling it dead.
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        .set_number_of_retries(3)
        .set_max_delay(Duration::from_secs(1))
}

impl RedisBackend {
    /// Connects to a `redis://` or `rediss://` (TLS) URL, checks the server
    /// answers, loads the function library, and warns when the server may evict keys.
    /// TLS trusts the system's certificate authorities.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(Self::client(url, None)?, url).await
    }

    /// Like [`RedisBackend::connect`], trusting only the certificate
    /// authority given (PEM), as for a server with a private CA.
    pub async fn connect_trusting(url: &str, ca_certificate_pem: Vec<u8>) -> Result<Self> {
        Self::connect_with(Self::client(url, Some(ca_certificate_pem))?, url).await
    }

    /// Connects with a client made from `url`; see [`RedisBackend::connect`].
    async fn connect_with(client: Client, url: &str) -> Result<Self> {
        let location = redact_url(url);
        let conn = ConnectionManager::new_with_config(client.clone(), connection_config())
            .await
            .map_err(|e| connect_err(&location, e))?;
        Self::build(Link::Server { client, conn }, location)
            .checked()
            .await
    }

    /// Connects to a Redis Cluster through some of its nodes (`redis://` or
    /// `rediss://` URLs; the client learns the others), checks every
    /// primary's version, and loads the function library on every primary.
    pub async fn connect_cluster(urls: &[String]) -> Result<Self> {
        let location = cluster_location(urls)?;
        let client = Self::cluster(urls)?;
        let conn = client
            .get_async_connection()
            .await
            .map_err(|e| connect_err(&location, e))?;
        Self::build(Link::Cluster { client, conn }, location)
            .checked()
            .await
    }

    /// The backend once the server (every primary of a cluster) is checked
    /// and has the function library.
    async fn checked(self) -> Result<Self> {
        let details = self.server_details().await?;
        if let Some(version) = details.get("server_version").and_then(|v| v.as_str()) {
            if !supported_server(version) {
                return Err(QueueError::InvalidRequest(format!(
                    "Redis at {} is version {version}; wjp needs Redis {}.{} or later \
                     (it runs as a function library, FUNCTION LOAD)",
                    self.shared.location, OLDEST_SERVER.0, OLDEST_SERVER.1,
                )));
            }
        }
        self.load_library().await?;
        self.check_layout().await?;
        // Set once, here, before anyone else holds the backend.
        let _ = self.shared.details.set(details);
        Ok(self)
    }

    /// Refuses a server whose waiting jobs an earlier wjp wrote in a
    /// layout this one cannot claim (ready keys of 37 decimal digits), and
    /// marks a server without such jobs as holding this version's layout.
    /// Running and ended jobs of the earlier layout are read and ended as
    /// they are: only a waiting job's ready key changed. A server of a
    /// layout this version reads (`LAYOUTS_READ`) has its queues' ready
    /// lists rewritten in this layout's form (`relist_queues`), then is
    /// marked as this one's, so that the earlier version, which cannot
    /// read the bodies this one writes, refuses it from then on.
    async fn check_layout(&self) -> Result<()> {
        let mut get = redis::cmd("GET");
        get.arg(LAYOUT_KEY);
        match self.query(get).await? {
            Value::Nil => {}
            stored => {
                let stored = text(&stored)?;
                if stored == LAYOUT {
                    return Ok(());
                }
                if LAYOUTS_READ.contains(&stored.as_str()) {
                    self.refuse_older_workers().await?;
                    if LAYOUTS_RELISTED.contains(&stored.as_str()) {
                        self.relist_queues().await?;
                    }
                    let mut set = redis::cmd("SET");
                    set.arg(LAYOUT_KEY).arg(LAYOUT);
                    self.query(set).await?;
                    return Ok(());
                }
                return Err(QueueError::InvalidRequest(format!(
                    "Redis at {} holds wjp's keys in layout {stored}, written by another \
                     version of wjp; this one reads layout {LAYOUT}: run the version \
                     that wrote them",
                    self.shared.location
                )));
            }
        }
        let mut earlier = Vec::new();
        for queue in self.known_queues(true).await? {
            let prefix = key_prefix(&queue);
            let mut pipe = redis::pipe();
            pipe.cmd("ZCARD").arg(format!("{prefix}ready"));
            pipe.cmd("ZCARD").arg(format!("{prefix}scheduled"));
            pipe.cmd("HLEN").arg(format!("{prefix}pending"));
            let waiting: i64 = self
                .run(&pipe)
                .await?
                .iter()
                .map(|v| match v {
                    Value::Int(n) => *n,
                    _ => 0,
                })
                .sum();
            if waiting > 0 {
                earlier.push(format!("{queue} ({waiting})"));
            }
        }
        if !earlier.is_empty() {
            return Err(QueueError::InvalidRequest(format!(
                "Redis at {} holds waiting jobs written by an earlier wjp, in a layout this \
                 version cannot claim: {}. Let the earlier version run them (or purge \
                 them: wjp purge --queue Q --status queued|scheduled), then start this one",
                self.shared.location,
                earlier.join(", ")
            )));
        }
        self.refuse_older_workers().await?;
        // No mark, no list of an earlier layout but one whose mark was
        // deleted by hand: rewritten all the same (an empty list costs a
        // call per queue, once).
        self.relist_queues().await?;
        let mut set = redis::cmd("SET");
        set.arg(LAYOUT_KEY).arg(LAYOUT).arg("NX");
        self.query(set).await?;
        Ok(())
    }

    /// Rewrites the ready lists of every queue the server knows as this
    /// layout keeps them (`lua/relist.lua`, an `EVAL` per queue: a lazy
    /// connection has no functions loaded yet; see `keys.rs`, `LAYOUT`):
    /// run before the server is marked, so that no call of this version,
    /// here or in another process, meets an entry of the earlier form.
    /// Safe to run again, and by two processes at once.
    async fn relist_queues(&self) -> Result<()> {
        let queues = self.known_queues(true).await?;
        if queues.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for queue in &queues {
            pipe.cmd("EVAL")
                .arg(RELIST)
                .arg(2)
                .arg(ready_list_key(queue))
                .arg(ready_late_key(queue))
                .arg(READY_KEY_LEN);
        }
        self.run(&pipe).await?;
        Ok(())
    }

    /// Refuses to mark the server as this version's while workers of an
    /// earlier wjp run on it: their records name no layout, or another, and
    /// they could not read the jobs this version writes (they would claim
    /// them and fail them). Stopping them first is an upgrade's one step.
    async fn refuse_older_workers(&self) -> Result<()> {
        let mut older = Vec::new();
        for (name, record) in self
            .live_worker_records(crate::job::Timestamp::now())
            .await?
        {
            let record: serde_json::Value = serde_json::from_str(&record).unwrap_or_default();
            if record["layout"].as_str() != Some(LAYOUT) {
                let host = record["host"].as_str().unwrap_or("?");
                older.push(format!("{name} on {host}"));
            }
        }
        if older.is_empty() {
            return Ok(());
        }
        Err(QueueError::InvalidRequest(format!(
            "Redis at {} has workers of an earlier wjp running ({}); they cannot read the \
             jobs this version writes: stop them, then start this version",
            self.shared.location,
            older.join(", ")
        )))
    }

    /// Like [`RedisBackend::connect`], but succeeds while the server is
    /// unreachable: commands fail with `backend_unavailable` until it
    /// answers, and the connection is made by itself when it does.
    pub fn connect_lazy(url: &str) -> Result<Self> {
        let client = Self::client(url, None)?;
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), connection_config())
            .map_err(|e| QueueError::InvalidRequest(format!("invalid Redis URL: {e}")))?;
        Ok(Self::build(Link::Server { client, conn }, redact_url(url)))
    }

    /// Like [`RedisBackend::connect_cluster`], but succeeds while the
    /// cluster is unreachable (see [`RedisBackend::connect_lazy`]).
    pub fn connect_cluster_lazy(urls: &[String]) -> Result<Self> {
        let location = cluster_location(urls)?;
        let client = Self::cluster(urls)?;
        let conn = client.get_pending_async_connection_with_config(
            ClusterConfig::new()
                .set_connection_timeout(CONNECT_TIMEOUT)
                .set_response_timeout(RESPONSE_TIMEOUT),
        );
        Ok(Self::build(Link::Cluster { client, conn }, location))
    }

    /// A cluster client for `urls`.
    fn cluster(urls: &[String]) -> Result<redis::cluster::ClusterClient> {
        if urls.iter().any(|u| u.starts_with("rediss://")) {
            // As for one server: rustls with ring, installed once.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        cluster_client(urls).map_err(|e| {
            QueueError::InvalidRequest(format!(
                "invalid Redis Cluster nodes {}: {e}",
                urls.iter()
                    .map(|u| redact_url(u))
                    .collect::<Vec<_>>()
                    .join(",")
            ))
        })
    }

    /// A client for `url`, trusting `ca_certificate_pem` alone for TLS when given.
    fn client(url: &str, ca_certificate_pem: Option<Vec<u8>>) -> Result<Client> {
        let invalid = |e: redis::RedisError| {
            QueueError::InvalidRequest(format!("invalid Redis URL {}: {e}", redact_url(url)))
        };
        if !url.starts_with("rediss://") {
            return Client::open(url).map_err(invalid);
        }
        // rustls needs a process-wide crypto provider; ours is ring.
        // Installing fails harmlessly when one is already installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
        match ca_certificate_pem {
            None => Client::open(url).map_err(invalid),
            Some(pem) => Client::build_with_tls(
                url,
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem),
                },
            )
            .map_err(invalid),
        }
    }

    /// The error for a failed command, saying what to fix when the server
    /// cannot run wjp's functions at all.
    pub(super) fn storage_err(&self, e: redis::RedisError) -> QueueError {
        if is_without_functions(&e) {
            return QueueError::Storage(format!(
                "Redis at {} does not run functions (FCALL, FUNCTION LOAD): wjp needs \
                 Redis {}.{} or later ({e})",
                self.shared.location, OLDEST_SERVER.0, OLDEST_SERVER.1,
            ));
        }
        redis_err(e)
    }

    /// Runs a pipeline (one round trip). When the connection just broke (a
    /// restart: the connection manager reconnects by itself) or the server
    /// is still loading its data, tries again a few times over about a
    /// second. When the server lost the function library (a restart without
    /// persistence, `FUNCTION FLUSH`), loads it and runs the pipeline again.
    pub(super) async fn run(&self, pipe: &Pipeline) -> Result<Vec<Value>> {
        let mut tries = 0u64;
        loop {
            tries += 1;
            let err = match self.shared.link.pipeline(pipe).await {
                Ok(values) => return Ok(values),
                Err(e) => e,
            };
            if tries > 3 {
                return Err(self.storage_err(err));
            }
            if is_missing_function(&err) {
                tracing::info!("Redis lacks this version's wjp functions; loading them");
                // The first contact of a lazy connection (or a server that
                // lost the library): the layout is checked before this
                // version's functions are there to write in it. A refusal
                // leaves them absent, so every later call checks again.
                Box::pin(self.check_layout()).await?;
                self.load_library().await?;
            } else if is_transient(&err) && !err.is_connection_refusal() {
                // A refusal means the server is down, not restarting under
                // us: say so at once rather than after the retries.
                tokio::time::sleep(Duration::from_millis(150 * tries)).await;
            } else {
                return Err(self.storage_err(err));
            }
        }
    }

    /// One command, through [`RedisBackend::run`].
    pub(super) async fn query(&self, cmd: Cmd) -> Result<Value> {
        let mut pipe = redis::pipe();
        pipe.add_command(cmd);
        self.run(&pipe)
            .await?
            .pop()
            .ok_or_else(|| QueueError::Storage("Redis gave no reply".into()))
    }

    /// The server's version and the settings worth showing, with a warning
    /// when it may evict keys.
    async fn server_details(&self) -> Result<serde_json::Map<String, serde_json::Value>> {
        let mut cmd = redis::cmd("INFO");
        cmd.arg("server").arg("memory").arg("persistence");
        // A cluster answers for every primary, by address: the oldest
        // version speaks for all (every primary must run the functions).
        let info = match self.query(cmd).await? {
            Value::Map(nodes) => {
                let mut infos = Vec::new();
                for (_, info) in &nodes {
                    infos.push(text(info)?);
                }
                let mut details = self.details_of(
                    infos
                        .iter()
                        .min_by_key(|i| version_of(i))
                        .map(String::as_str)
                        .unwrap_or(""),
                );
                let mut names: Vec<String> = nodes
                    .iter()
                    .filter_map(|(address, _)| text(address).ok())
                    .collect();
                names.sort();
                details.insert("cluster_primaries".into(), names.into());
                return Ok(details);
            }
            info => text(&info)?,
        };
        Ok(self.details_of(&info))
    }

    /// The settings worth showing from one server's `INFO`, with a warning
    /// when it may evict keys.
    fn details_of(&self, info: &str) -> serde_json::Map<String, serde_json::Value> {
        let fields: HashMap<&str, &str> = info
            .lines()
            .filter_map(|line| line.trim().split_once(':'))
            .collect();
        let mut details = serde_json::Map::new();
        for (field, name) in [
            ("redis_version", "server_version"),
            ("maxmemory_policy", "maxmemory_policy"),
            ("aof_enabled", "aof_enabled"),
        ] {
            if let Some(value) = fields.get(field) {
                details.insert(name.into(), (*value).into());
            }
        }
        if let Some(policy) = fields.get("maxmemory_policy") {
            if *policy != "noeviction" {
                tracing::warn!(
                    policy,
                    location = %self.shared.location,
                    "Redis may evict keys under memory pressure (maxmemory-policy is not \
                     noeviction): jobs could vanish; set `maxmemory-policy noeviction`"
                );
            }
        }
        details
    }
}

/// The version an `INFO` reply names, as numbers that sort (0 when none).
fn version_of(info: &str) -> Vec<u32> {
    info.lines()
        .find_map(|line| line.trim().strip_prefix("redis_version:"))
        .map(|v| v.split('.').map(|p| p.parse().unwrap_or(0)).collect())
        .unwrap_or_default()
}

/// How a connection failure reads: the credentials when refused (waiting
/// will not help: say what to fix), unavailable otherwise.
fn connect_err(location: &str, e: redis::RedisError) -> QueueError {
    let auth = e.kind() == redis::ErrorKind::AuthenticationFailed
        || matches!(e.code(), Some("WRONGPASS" | "NOAUTH"));
    if auth {
        QueueError::InvalidRequest(format!(
            "Redis at {location} refused the credentials: check the password in the URL ({e})"
        ))
    } else {
        QueueError::Unavailable(format!("cannot connect to {location}: {e}"))
    }
}

/// How a cluster is named in logs and `wjp info`: its seed nodes without
/// passwords. No node at all is a mistake worth saying.
fn cluster_location(urls: &[String]) -> Result<String> {
    if urls.is_empty() {
        return Err(QueueError::InvalidRequest(
            "a Redis Cluster needs at least one node URL (REDIS_CLUSTER_NODES)".into(),
        ));
    }
    let nodes: Vec<String> = urls.iter().map(|u| redact_url(u)).collect();
    Ok(format!("cluster {}", nodes.join(",")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_older_than_7_0_are_refused() {
        for old in ["6.2.14", "6.0.16", "5.0.7", "2.8.24"] {
            assert!(!supported_server(old), "{old}");
        }
        for fine in ["7.0.0", "7.0.15", "7.4.1", "10.0.0", "unknown", "7"] {
            assert!(supported_server(fine), "{fine}");
        }
    }

    #[test]
    fn urls_lose_their_password() {
        assert_eq!(
            redact_url("rediss://:s3cret@cache.example:6380/2"),
            "rediss://cache.example:6380/2"
        );
        assert_eq!(
            redact_url("redis://wjp:s3cret@10.0.0.5/0"),
            "redis://wjp@10.0.0.5/0"
        );
        assert_eq!(
            redact_url("redis://localhost:6379"),
            "redis://localhost:6379"
        );
        assert_eq!(
            redact_url("redis://h/0?password=x&protocol=resp3"),
            "redis://h/0?protocol=resp3"
        );
    }

    #[test]
    fn urls_are_built_from_host_port_and_db() {
        assert_eq!(redis_url("localhost", 6379, 0), "redis://localhost:6379/0");
        assert_eq!(redis_url("::1", 6380, 3), "redis://[::1]:6380/3");
    }
}
