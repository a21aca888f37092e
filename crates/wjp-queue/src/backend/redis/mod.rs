//! The Redis backend: the same state machine, shared by processes on many
//! machines.
//!
//! # Key layout
//! Every key of a queue shares the queue's hash tag, so a queue lives in one
//! Redis Cluster slot and every script touches one slot only:
//!
//! | key                       | type   | what                                        |
//! |---------------------------|--------|---------------------------------------------|
//! | `wjp:{q}:job:<id>`        | string | one job's record (below); ended ones expire |
//! | `wjp:{q}:leases`          | hash   | running jobs: id -> lease entry             |
//! | `wjp:{q}:ready`           | zset   | queued jobs in claim order (lexicographic)  |
//! | `wjp:{q}:scheduled`       | zset   | scheduled jobs by run-at                    |
//! | `wjp:{q}:all`             | zset   | every job by list score (for listing)       |
//! | `wjp:{q}:completed` ...   | zset   | ended jobs by list score, one per status    |
//! | `wjp:{q}:expiry`          | zset   | ended jobs by expiry time (for the sweep)   |
//! | `wjp:{q}:events`          | stream | events, capped (`MAXLEN ~`) and aged out    |
//! | `wjp:{q}:wake`            | stream | "jobs became ready" signals, capped at ~100 |
//! | `wjp:{q}:seq`             | string | enqueue sequence                            |
//! | `wjp:{q}:waiting_bytes`   | string | payload bytes of the waiting jobs (Quotas)  |
//! | `wjp:{q}:waiting_bytes:recounted` | string | when they were last summed again; expires |
//! | `wjp:queues`              | set    | names of queues that ever had a job         |
//! | `wjp:worker:<name>`       | string | worker record, expires                      |
//! | `wjp:workers`             | zset   | worker names by expiry                      |
//!
//! A job is one string, its record: a header of `|`-separated fields that
//! scripts read and write (status, lease token, attempt, kind, error kind,
//! enqueue sequence, list score, and a waiting job's ready key or an ended
//! job's expiry), a newline, and the job's body: the job as the state
//! machine last wrote it, in a compact JSON form of its own (`body.rs`),
//! which scripts store and pass on but never parse. The completion path
//! writes its records with one `MSET` and no TTL (a `SET` with `PXAT` per
//! job was a tenth of a drained job's Redis time): readers in Lua treat an
//! ended record past its expiry as gone, by the server's clock, and the
//! sweep deletes it. Other writes of an ended record give it a TTL too. In
//! Redis's Lua every byte a script receives or makes costs (each string is
//! interned on arrival, hashed in full), so scripts that
//! need a header read only the start of the record (`GETRANGE`), and bodies
//! are kept small. A claim returns the records it took: a second round trip
//! to fetch the bodies cost each claim more time than Redis spends passing
//! them (see BENCHMARKS.md). Jobs stored by earlier versions are hashes of
//! `h` (header) and `b` (body); they are read alike and become strings when
//! next written.
//!
//! A claim does not write the record: it adds an entry to the queue's lease
//! hash (token, attempt, worker, lease, claim time, lease end, progress,
//! message, cancel requested, kind), under one token for all the jobs of the
//! call. The job is running while the entry exists; readers merge the entry
//! into the header (`load`/`view` in `common.lua`, then [`state::claim`] on
//! the body). Renewals, progress and cancel requests change only lease
//! entries, one `HSET` per batch, and the reaper reads the lease hash, which
//! holds only running jobs. Ends of jobs this process claimed go through
//! `finish.lua` with their whole new record and the call's event lines
//! joined; other changes through `apply.lua`.
//!
//! An id names one job across all queues: an insert first checks the other
//! known queues (one multi-key `EXISTS` each). Readers that know an id but
//! not its queue (`get`, renewals, cancel) ask every known queue in one
//! pipeline.
//!
//! # Atomicity
//! Every change is one call of a Lua function (the `.lua` files beside this
//! one, loaded with `common.lua` as one function library, see `Functions`):
//! check the guard, write the job, move the id
//! between indexes, append the events. Batches (insert, claim, apply) are
//! one script call per queue and up to 500 jobs, sent in one pipeline;
//! inside a call, index changes go out as one `ZADD`/`ZREM` per index and
//! the events as one stream entry, because each `redis.call` costs about as
//! much as the work it does.
//!
//! # Quotas
//! An enqueue is checked against the queue's waiting limits (`Quotas`) in
//! the call that writes it (`insert.lua`): the waiting jobs are the sizes
//! of `ready` and `scheduled` (`ZCARD`, exact), and their payload bytes are
//! kept in `waiting_bytes`. Its invariant: it is the sum of the payload
//! sizes that the bodies of the queue's waiting records begin with (`pl`,
//! see `body.rs`; bodies without one count 0). Each call that makes a job
//! waiting adds the size in the body it writes (`insert`, `apply`); each
//! call that ends a job's waiting takes off the size in the record it
//! ends (`claim`, `apply`: cancel, promotion's rewrite, `purge`). Running,
//! ended and expired records are never counted, so completions, the
//! sweep and `forget` leave it alone. A claim reads the size from the
//! record it returns anyway, an `apply` from the start of the record it
//! reads for the header: no extra command per job. Finding the size still
//! costs a claim about 2,500 instructions per job, 4% of a drained job's
//! Redis instructions (`scripts/redis-instructions.sh`).
//!
//! Drift: only writers that do not keep the counter can move it from that
//! sum: processes of an earlier version sharing the server during an
//! upgrade (their claims and cancels take nothing off), and hand edits.
//! A queue with no waiting job holds no waiting payload, so an enqueue
//! that finds none sets the counter to 0, and so does the sweep
//! (`Queue::maintain`, every second in every worker); with a hundred
//! waiting jobs or fewer the sweep sums their sizes again (it reads the
//! start of each record), at most once a minute per queue, and sets the
//! counter right. Readers treat a negative count as 0.
//!
//! A batch is refused whole: one script call per queue writes up to 500
//! jobs. A batch that needs several calls (jobs of several queues, or
//! more than 500 of one) is checked by `admit.lua` for every queue first
//! (one round trip with each queue's totals; a second, with the jobs, for
//! a queue near a limit), and then written without a second check; an enqueue
//! that lands between the two may take a queue past its limit by what it
//! adds. An id stored in another queue counts in that first check as new.
//!
//! # Waiting
//! Blocking reads never go through the shared connection (whose commands
//! time out): one background task per backend, started by the first wait,
//! blocks in `XREAD` over its own connection and bumps counters that waiters
//! watch. It reads only what this process waits for: the `wake` streams of
//! the queues its workers wait on, and the `events` streams of every queue
//! once something here follows events. (Watching everything woke each worker
//! process three times per job, for events no worker reads: with those
//! wake-ups gone, enqueue-to-completion latency fell by a third.) A waiter
//! subscribes before it looks, so nothing falls in between: a follower of
//! events compares its cursor with the streams' tops; a worker waiting for
//! jobs returns at once if a wake-up came after its last claim went out.
//!
//! # Events
//! Each queue has its own event stream (one entry per script call, one line
//! per event), so a follower's cursor says how far it read each queue:
//! `default=1700000000000-0,gcode=1700000000001-3.4` (the whole first entry;
//! the second up to its fifth event). [`Backend::events_after`] merges the
//! streams by entry id.

mod body;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::{AsyncConnectionConfig, Client, Cmd, Pipeline, Script, Value};
use tokio::sync::{watch, Notify};

use super::{
    Backend, BackendInfo, ClaimRequest, Inserted, JobPage, JobQuery, LeaseRef, LeaseState,
    ProgressUpdate, QueueCounts, WorkerRecord,
};
use crate::catalog::{Quotas, WaitingQuota};
use crate::error::{QueueError, Result};
use crate::event::Event;
use crate::job::{ErrorKind, Job, JobId, Kind, LeaseToken, QueueName, Status, Timestamp};
use crate::state::{self, Transition};

/// Event stream entries kept per queue (approximately: trimming is
/// `MAXLEN ~`). An entry holds the events of one script call: one for a
/// lone change, up to a batch (500) for batched ones.
const EVENTS_KEPT: u64 = 20_000;
/// Events older than this are trimmed by maintenance.
const EVENTS_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// Jobs per script call: bounds how long one script blocks the server.
const SCRIPT_BATCH: usize = 500;
/// Index entries one listing call looks at, at most.
const LIST_SCAN: usize = 5_000;
/// How long the list of known queues is trusted before it is read again.
const QUEUES_TTL: Duration = Duration::from_secs(1);
/// How long the waiting task blocks in one `XREAD`.
const BLOCK: Duration = Duration::from_secs(2);

const COMMON: &str = include_str!("common.lua");

/// One operation of the wjp function library: its name on the server.
struct Function(String);

/// Declares `Functions`, the wjp function library (see `common.lua`): one
/// function per operation, its body in `<operation>.lua`.
macro_rules! function_library {
    ($($op:ident),* $(,)?) => {
        struct Functions {
            $($op: Function,)*
            /// The library's code, for `FUNCTION LOAD`.
            library: String,
        }

        impl Functions {
            fn new() -> Self {
                let bodies = [$((stringify!($op), include_str!(concat!(stringify!($op), ".lua")))),*];
                let (name, library) = library_code(&bodies);
                Functions {
                    $($op: Function(format!("{name}_{}", stringify!($op))),)*
                    library,
                }
            }
        }
    };
}

function_library!(
    insert, admit, apply, finish, claim, peek, renew, progress, cancel, forget, sweep, purge, list,
    read,
);

/// Operations that only read: flagged so that a server out of memory (or
/// a replica) still runs them; a function without flags is refused there
/// before it runs.
const READS: [&str; 4] = ["admit", "peek", "list", "read"];

/// The library's name and code, from each operation's name and body. The
/// name is made from the code: processes of different versions sharing a
/// server (a rolling upgrade) each call their own functions.
fn library_code(bodies: &[(&str, &str)]) -> (String, String) {
    let code = |prefix: &str| {
        let mut code = String::from(COMMON);
        for (op, body) in bodies {
            let flags = if READS.contains(op) {
                "{'no-writes'}"
            } else {
                "{}"
            };
            code.push_str(&format!(
                "\nredis.register_function{{function_name = '{prefix}{op}', \
                 flags = {flags}, callback = function(keys, args)\n\
                 begin(keys, args)\n{body}\nend}}\n"
            ));
        }
        code
    };
    let name = format!("wjp_{}", &Script::new(&code("")).get_hash()[..16]);
    let library = format!("#!lua name={name}\n{}", code(&format!("{name}_")));
    (name, library)
}

/// What the waiting task has seen change: a counter per queue for jobs
/// becoming ready, and one for events.
#[derive(Debug, Clone, Default)]
struct Signals {
    /// Per queue: how many times, and when last.
    wake: HashMap<String, (u64, Instant)>,
    events: (u64, Option<Instant>),
}

/// Whether a signal (its time, if any) came at or after `since`.
fn after(signal: Option<Instant>, since: Instant) -> bool {
    signal.is_some_and(|s| s >= since)
}

/// The streams this process's watcher blocks on: the wake streams of the
/// queues someone here waits for jobs on (watched even before they have a
/// job), and the event streams of every known queue once someone here
/// follows events. So a worker process is not woken by every event of every
/// job, and a process that only follows events is not woken each time jobs
/// become ready.
#[derive(Default)]
struct Interest {
    wake: Mutex<BTreeSet<String>>,
    events: AtomicBool,
    /// Told when either grows: the watcher stops blocking on the streams it
    /// has and starts again with the new set.
    grew: Notify,
}

impl Interest {
    fn want_wake(&self, queues: &[String]) {
        let mut wake = self.wake.lock().unwrap_or_else(|p| p.into_inner());
        let mut grew = false;
        for q in queues {
            // Called at every wait: no allocation for a queue already known.
            if !wake.contains(q) {
                wake.insert(q.clone());
                grew = true;
            }
        }
        if grew {
            self.grew.notify_one();
        }
    }

    fn want_events(&self) {
        if !self.events.swap(true, Ordering::SeqCst) {
            self.grew.notify_one();
        }
    }

    fn wake_queues(&self) -> Vec<String> {
        let wake = self.wake.lock().unwrap_or_else(|p| p.into_inner());
        wake.iter().cloned().collect()
    }
}

struct KnownQueues {
    names: Vec<String>,
    read_at: Option<Instant>,
}

struct Shared {
    client: Client,
    conn: ConnectionManager,
    location: String,
    /// The server's version and settings, read when the connection was made
    /// (empty for a backend that connected later by itself).
    details: std::sync::OnceLock<serde_json::Map<String, serde_json::Value>>,
    functions: Functions,
    queues: Mutex<KnownQueues>,
    signals: Mutex<Option<watch::Receiver<Signals>>>,
    interest: Arc<Interest>,
    /// Per job this process claimed and has not ended: its lease token and
    /// enqueue sequence, so that `finish.lua` can be sent the job's whole
    /// ended record and need not read the stored one. Only a hint: a job
    /// without one (claimed elsewhere, or the map was cleared) ends through
    /// `apply.lua`, which reads its header.
    sequences: Mutex<HashMap<JobId, (u64, u64)>>,
}

/// Bounds `Shared::sequences`: entries of jobs whose lease was lost are
/// never taken out, so past this size the map starts again.
const SEQUENCES_KEPT: usize = 100_000;

/// The Redis backend. Cheap to clone.
#[derive(Clone)]
pub struct RedisBackend {
    shared: Arc<Shared>,
}

/// The oldest Redis release wjp's functions run on (major, minor).
const OLDEST_SERVER: (u32, u32) = (7, 0);

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
fn is_missing_function(e: &redis::RedisError) -> bool {
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
fn is_library_present(e: &redis::RedisError) -> bool {
    server_answered(e, |d| d.ends_with("already exists"))
}

fn redis_err(e: redis::RedisError) -> QueueError {
    if is_transient(&e) {
        QueueError::Unavailable(format!("Redis: {e}"))
    } else {
        QueueError::Storage(format!("Redis: {e}"))
    }
}

fn corrupt(what: impl std::fmt::Display) -> QueueError {
    QueueError::Corrupt(what.to_string())
}

fn key_prefix(queue: &str) -> String {
    format!("wjp:{{{queue}}}:")
}

fn job_key(queue: &str, id: &str) -> String {
    format!("wjp:{{{queue}}}:job:{id}")
}

fn events_key(queue: &str) -> String {
    format!("wjp:{{{queue}}}:events")
}

fn wake_key(queue: &str) -> String {
    format!("wjp:{{{queue}}}:wake")
}

const QUEUES_KEY: &str = "wjp:queues";
const WORKERS_KEY: &str = "wjp:workers";

fn worker_key(name: &str) -> String {
    format!("wjp:worker:{name}")
}

/// The keys of a queue every script gets as KEYS[1..12], in `common.lua`'s order.
fn index_keys(queue: &str) -> [String; QUEUE_KEYS] {
    let p = key_prefix(queue);
    [
        format!("{p}ready"),
        format!("{p}scheduled"),
        format!("{p}leases"),
        format!("{p}all"),
        format!("{p}expiry"),
        format!("{p}completed"),
        format!("{p}failed"),
        format!("{p}cancelled"),
        format!("{p}events"),
        format!("{p}wake"),
        format!("{p}seq"),
        format!("{p}waiting_bytes"),
    ]
}

/// How many keys of a queue every script gets before its job keys.
const QUEUE_KEYS: usize = 12;

/// Builds one `FCALL` of a queue function: the index keys, the given job
/// keys, the common arguments, then the script's own.
struct Call {
    cmd: Cmd,
}

impl Call {
    fn new(function: &Function, queue: &str, job_ids: &[&str]) -> Call {
        let mut cmd = redis::cmd("FCALL");
        cmd.arg(&function.0).arg(QUEUE_KEYS + job_ids.len());
        for key in index_keys(queue) {
            cmd.arg(key);
        }
        for id in job_ids {
            cmd.arg(job_key(queue, id));
        }
        cmd.arg(format!("{}job:", key_prefix(queue)))
            .arg(EVENTS_KEPT);
        Call { cmd }
    }

    fn arg<T: redis::ToRedisArgs>(&mut self, arg: T) -> &mut Self {
        self.cmd.arg(arg);
        self
    }
}

fn text(value: &Value) -> Result<String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).map_err(corrupt),
        Value::SimpleString(s) => Ok(s.clone()),
        Value::Int(n) => Ok(n.to_string()),
        Value::Okay => Ok("OK".into()),
        other => Err(corrupt(format!("expected text from Redis, got {other:?}"))),
    }
}

fn int(value: &Value) -> Result<i64> {
    match value {
        Value::Int(n) => Ok(*n),
        other => text(other)?
            .parse()
            .map_err(|_| corrupt(format!("expected an integer from Redis, got {other:?}"))),
    }
}

fn array(value: Value) -> Result<Vec<Value>> {
    match value {
        Value::Array(items) | Value::Set(items) => Ok(items),
        Value::Nil => Ok(Vec::new()),
        other => Err(corrupt(format!(
            "expected an array from Redis, got {other:?}"
        ))),
    }
}

fn hash(value: Value) -> Result<HashMap<String, String>> {
    match value {
        Value::Map(pairs) => pairs
            .iter()
            .map(|(k, v)| Ok((text(k)?, text(v)?)))
            .collect(),
        other => {
            let items = array(other)?;
            items
                .chunks(2)
                .map(|pair| match pair {
                    [k, v] => Ok((text(k)?, text(v)?)),
                    _ => Err(corrupt("odd number of hash fields")),
                })
                .collect()
        }
    }
}

fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Result<String> {
    let bytes = (0..text.len() / 2)
        .map(|i| u8::from_str_radix(text.get(2 * i..2 * i + 2).unwrap_or("zz"), 16))
        .collect::<std::result::Result<Vec<u8>, _>>()
        .map_err(|_| corrupt(format!("invalid hex text {text:?}")))?;
    String::from_utf8(bytes).map_err(corrupt)
}

fn optional_hex(text: Option<&str>) -> String {
    text.map(hex).unwrap_or_default()
}

/// Header fields of a stored job, in `common.lua`'s order.
const F_STATUS: usize = 0;
const F_TOKEN: usize = 1;
const F_WORKER: usize = 8;
const F_LEASE: usize = 9;
const F_CLAIMED: usize = 10;
const F_UNTIL: usize = 11;
const F_PROGRESS: usize = 12;
const F_MESSAGE: usize = 13;
const F_CANCEL: usize = 14;
const FIELDS: usize = 15;

fn header_field<T: std::str::FromStr>(fields: &[&str], i: usize) -> Result<Option<T>> {
    match fields[i] {
        "" => Ok(None),
        v => v
            .parse()
            .map(Some)
            .map_err(|_| corrupt(format!("job header field {i} has an invalid value {v:?}"))),
    }
}

/// Rebuilds a job from its stored form: a header line (see `common.lua`),
/// then the job's body (see `body`).
fn job_from_value(value: &str) -> Result<Job> {
    let (header, body) = value
        .split_once('\n')
        .ok_or_else(|| corrupt("stored job without a header"))?;
    let fields: Vec<&str> = header.split('|').collect();
    if fields.len() != FIELDS {
        return Err(corrupt(format!("stored job header {header:?}")));
    }
    let mut job = body::decode(body.as_bytes())?;
    let status: Status = fields[F_STATUS].parse()?;
    if status == Status::Running && job.state.status != Status::Running {
        let worker = unhex(fields[F_WORKER])?;
        let lease: u64 = header_field(&fields, F_LEASE)?.unwrap_or(0);
        let at: i64 = header_field(&fields, F_CLAIMED)?.unwrap_or(job.state.run_at.0);
        job = state::claim(&job, &worker, Duration::from_millis(lease), Timestamp(at)).job;
    }
    job.state.status = status;
    job.state.lease_token = header_field::<u64>(&fields, F_TOKEN)?.map(LeaseToken);
    if let Some(until) = header_field::<i64>(&fields, F_UNTIL)? {
        job.state.lease_expires_at = Some(Timestamp(until));
    }
    if let Some(progress) = header_field::<f64>(&fields, F_PROGRESS)? {
        job.state.progress = Some(progress);
        job.state.progress_message = match fields[F_MESSAGE] {
            "" => None,
            m => Some(unhex(m)?),
        };
    }
    if fields[F_CANCEL] == "1" {
        job.state.cancel_requested = true;
    }
    Ok(job)
}

/// A stream entry id, `<ms>-<seq>`, ordered numerically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct StreamPos(u64, u64);

impl StreamPos {
    fn parse(text: &str) -> Option<StreamPos> {
        let (ms, seq) = text.split_once('-')?;
        Some(StreamPos(ms.parse().ok()?, seq.parse().ok()?))
    }
}

impl std::fmt::Display for StreamPos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.0, self.1)
    }
}

/// How far a follower has read one queue's stream: a whole entry, or the
/// events of an entry up to and including one (an entry holds the events
/// of one script call).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    entry: StreamPos,
    through: Option<usize>,
}

/// An event cursor: how far the follower has read each queue's stream,
/// `default=1700000000000-3,gcode=1700000000001-0.4`.
fn parse_cursor(cursor: &str) -> Result<BTreeMap<String, Seen>> {
    let invalid = || QueueError::InvalidRequest(format!("invalid event id {cursor:?}"));
    if cursor.is_empty() {
        return Ok(BTreeMap::new());
    }
    cursor
        .split(',')
        .map(|part| {
            let (queue, pos) = part.split_once('=').ok_or_else(invalid)?;
            let queue = QueueName::parse(queue).map_err(|_| invalid())?;
            let (entry, through) = match pos.split_once('.') {
                Some((entry, k)) => (entry, Some(k.parse().map_err(|_| invalid())?)),
                None => (pos, None),
            };
            let entry = StreamPos::parse(entry).ok_or_else(invalid)?;
            Ok((queue.to_string(), Seen { entry, through }))
        })
        .collect()
}

fn format_cursor(positions: &BTreeMap<String, Seen>) -> String {
    positions
        .iter()
        .map(|(q, seen)| match seen.through {
            Some(k) => format!("{q}={}.{k}", seen.entry),
            None => format!("{q}={}", seen.entry),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The event lines of one stream entry's `e` field (see `common.lua`'s
/// `emit`), each made whole: a line that is only a job id repeats the line
/// before it for that job. Parsing waits until a reader knows which events
/// it keeps.
fn whole_lines(packed: &str) -> Result<Vec<String>> {
    let mut lines: Vec<String> = Vec::new();
    for line in packed.split('\n') {
        if line.contains('|') {
            lines.push(line.to_owned());
            continue;
        }
        let Some(before) = lines.last() else {
            return Err(corrupt(format!(
                "event entry starts with a bare job id {line:?}"
            )));
        };
        let fields = before.find('|').map_or("", |bar| &before[bar..]);
        lines.push(format!("{line}{fields}"));
    }
    Ok(lines)
}

/// One whole event line (see `common.lua`).
fn event_from_line(queue: &str, line: &str) -> Result<Event> {
    let f: Vec<&str> = line.split('|').collect();
    let [job, kind, status, attempt, progress, error_kind, at, message] = f[..] else {
        return Err(corrupt(format!("malformed event {line:?}")));
    };
    Ok(Event {
        id: String::new(),
        job_id: JobId::parse(job)?,
        queue: QueueName::parse(queue)?,
        kind: crate::job::Kind::parse(kind)?,
        status: status.parse()?,
        attempt: attempt.parse().map_err(corrupt)?,
        progress: match progress {
            "" => None,
            p => Some(p.parse().map_err(corrupt)?),
        },
        message: match message {
            "" => None,
            m => Some(unhex(m)?),
        },
        error_kind: match error_kind {
            "" => None,
            e => Some(e.parse::<ErrorKind>()?),
        },
        at: Timestamp(at.parse().map_err(corrupt)?),
    })
}

/// Stream entries from an `XRANGE`/`XREVRANGE` reply.
fn stream_entries(value: Value) -> Result<Vec<(StreamPos, HashMap<String, String>)>> {
    array(value)?
        .into_iter()
        .map(|entry| {
            let mut parts = array(entry)?.into_iter();
            let (Some(id), Some(fields)) = (parts.next(), parts.next()) else {
                return Err(corrupt("malformed stream entry"));
            };
            let id = text(&id)?;
            let pos = StreamPos::parse(&id).ok_or_else(|| corrupt(format!("stream id {id}")))?;
            Ok((pos, hash(fields)?))
        })
        .collect()
}

fn connection_config() -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(3)))
        // Scripts are bounded (SCRIPT_BATCH jobs), but a busy server with
        // an fsync-always AOF can be slow: be patient before calling it dead.
        .set_response_timeout(Some(Duration::from_secs(10)))
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

    async fn connect_with(client: Client, url: &str) -> Result<Self> {
        let conn = ConnectionManager::new_with_config(client.clone(), connection_config())
            .await
            .map_err(|e| {
                let auth = e.kind() == redis::ErrorKind::AuthenticationFailed
                    || matches!(e.code(), Some("WRONGPASS" | "NOAUTH"));
                if auth {
                    // Waiting will not help: say what to fix.
                    QueueError::InvalidRequest(format!(
                        "Redis at {} refused the credentials: check the password in the URL ({e})",
                        redact_url(url)
                    ))
                } else {
                    QueueError::Unavailable(format!("cannot connect to {}: {e}", redact_url(url)))
                }
            })?;
        let backend = Self::build(client, conn, url);
        let details = backend.server_details().await?;
        if let Some(version) = details.get("server_version").and_then(|v| v.as_str()) {
            if !supported_server(version) {
                return Err(QueueError::InvalidRequest(format!(
                    "Redis at {} is version {version}; wjp needs Redis {}.{} or later \
                     (it runs as a function library, FUNCTION LOAD)",
                    redact_url(url),
                    OLDEST_SERVER.0,
                    OLDEST_SERVER.1,
                )));
            }
        }
        backend.load_library().await?;
        // Set once, here, before anyone else holds the backend.
        let _ = backend.shared.details.set(details);
        Ok(backend)
    }

    /// Like [`RedisBackend::connect`], but succeeds while the server is
    /// unreachable: commands fail with `backend_unavailable` until it
    /// answers, and the connection is made by itself when it does.
    pub fn connect_lazy(url: &str) -> Result<Self> {
        let client = Self::client(url, None)?;
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), connection_config())
            .map_err(|e| QueueError::InvalidRequest(format!("invalid Redis URL: {e}")))?;
        Ok(Self::build(client, conn, url))
    }

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

    fn build(client: Client, conn: ConnectionManager, url: &str) -> Self {
        RedisBackend {
            shared: Arc::new(Shared {
                client,
                conn,
                location: redact_url(url),
                details: std::sync::OnceLock::new(),
                functions: Functions::new(),
                queues: Mutex::new(KnownQueues {
                    names: Vec::new(),
                    read_at: None,
                }),
                signals: Mutex::new(None),
                interest: Arc::default(),
                sequences: Mutex::new(HashMap::new()),
            }),
        }
    }

    fn conn(&self) -> ConnectionManager {
        self.shared.conn.clone()
    }

    /// Loads the function library unless the server has it. Its name
    /// is made from its code, so a library of that name is this code: no
    /// `REPLACE`, which would compile it again on every connect.
    async fn load_library(&self) -> Result<()> {
        let loaded = redis::cmd("FUNCTION")
            .arg("LOAD")
            .arg(&self.shared.functions.library)
            .query_async::<()>(&mut self.conn())
            .await;
        match loaded {
            Err(e) if !is_library_present(&e) => Err(self.storage_err(e)),
            _ => Ok(()),
        }
    }

    /// The error for a failed command, saying what to fix when the server
    /// cannot run wjp's functions at all.
    fn storage_err(&self, e: redis::RedisError) -> QueueError {
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
    async fn run(&self, pipe: &Pipeline) -> Result<Vec<Value>> {
        let mut tries = 0u64;
        loop {
            tries += 1;
            let err = match pipe.query_async::<Vec<Value>>(&mut self.conn()).await {
                Ok(values) => return Ok(values),
                Err(e) => e,
            };
            if tries > 3 {
                return Err(self.storage_err(err));
            }
            if is_missing_function(&err) {
                tracing::info!("Redis lost the wjp functions (restarted?); loading them again");
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
    async fn query(&self, cmd: Cmd) -> Result<Value> {
        let mut pipe = redis::pipe();
        pipe.add_command(cmd);
        self.run(&pipe)
            .await?
            .pop()
            .ok_or_else(|| QueueError::Storage("Redis gave no reply".into()))
    }

    async fn server_details(&self) -> Result<serde_json::Map<String, serde_json::Value>> {
        let mut cmd = redis::cmd("INFO");
        cmd.arg("server").arg("memory").arg("persistence");
        let info = text(&self.query(cmd).await?)?;
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
        Ok(details)
    }

    /// The queues that ever had a job, as last read (at most a second ago
    /// unless `fresh`).
    async fn known_queues(&self, fresh: bool) -> Result<Vec<String>> {
        {
            let known = self.shared.queues.lock().unwrap_or_else(|p| p.into_inner());
            if !fresh && known.read_at.is_some_and(|t| t.elapsed() < QUEUES_TTL) {
                return Ok(known.names.clone());
            }
        }
        let mut cmd = redis::cmd("SMEMBERS");
        cmd.arg(QUEUES_KEY);
        let mut names = array(self.query(cmd).await?)?
            .iter()
            .map(text)
            .collect::<Result<Vec<_>>>()?;
        names.sort();
        let mut known = self.shared.queues.lock().unwrap_or_else(|p| p.into_inner());
        known.names = names.clone();
        known.read_at = Some(Instant::now());
        Ok(names)
    }

    fn note_queues<'a>(&self, queues: impl IntoIterator<Item = &'a str>) {
        let mut known = self.shared.queues.lock().unwrap_or_else(|p| p.into_inner());
        for q in queues {
            if let Err(i) = known.names.binary_search_by(|n| n.as_str().cmp(q)) {
                known.names.insert(i, q.to_owned());
            }
        }
    }

    /// Reads a job by id from every known queue (one round trip), and once
    /// more after re-reading the queue list if it was not found.
    async fn find_stored(&self, id: &JobId) -> Result<Option<(String, String)>> {
        let mut fresh = false;
        loop {
            let queues = self.known_queues(fresh).await?;
            let mut pipe = redis::pipe();
            for q in &queues {
                pipe.add_command(self.read_call(q, &[id.as_str()]));
            }
            let replies = if queues.is_empty() {
                Vec::new()
            } else {
                self.run(&pipe).await?
            };
            for (q, reply) in queues.iter().zip(replies) {
                if let Some(stored) = array(reply)?.into_iter().next() {
                    if stored != Value::Nil {
                        return Ok(Some((q.clone(), text(&stored)?)));
                    }
                }
            }
            if fresh {
                return Ok(None);
            }
            fresh = true;
        }
    }

    /// The enqueue sequence this process noted when it claimed the job
    /// under the lease that `t` ends, taken out of the map.
    fn take_sequence(&self, t: &Transition) -> Option<u64> {
        let mut sequences = self
            .shared
            .sequences
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match sequences.remove(&t.job.id) {
            Some((token, seq)) if Some(token) == t.expect.lease_token.map(|l| l.0) => Some(seq),
            _ => None,
        }
    }

    /// A call of `read.lua`: these jobs of one queue as readers see them.
    fn read_call(&self, queue: &str, ids: &[&str]) -> Cmd {
        let mut call = Call::new(&self.shared.functions.read, queue, ids);
        for id in ids {
            call.arg(*id);
        }
        call.cmd
    }

    /// Starts the task that blocks on the streams (once), and returns a
    /// receiver of what it sees.
    fn signals(&self) -> watch::Receiver<Signals> {
        let mut slot = self
            .shared
            .signals
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(rx) = slot.as_ref() {
            return rx.clone();
        }
        let (tx, rx) = watch::channel(Signals::default());
        tokio::spawn(watch_streams(
            self.shared.client.clone(),
            self.conn(),
            self.shared.interest.clone(),
            tx,
        ));
        *slot = Some(rx.clone());
        rx
    }

    async fn claim_in(
        &self,
        allotment: &[(String, usize)],
        request: &ClaimRequest,
    ) -> Result<Vec<(String, Job)>> {
        let mut pipe = redis::pipe();
        // One token for the jobs of a call (see claim.lua), new for each call.
        let mut tokens = Vec::with_capacity(allotment.len());
        for (queue, n) in allotment {
            let token = LeaseToken::random();
            let mut call = Call::new(&self.shared.functions.claim, queue, &[]);
            call.arg(request.now.0)
                .arg(*n)
                .arg(hex(&request.worker))
                .arg(request.lease.as_millis() as u64)
                .arg(token.0);
            pipe.add_command(call.cmd);
            tokens.push(token);
        }
        let replies = self.run(&pipe).await?;
        let mut claimed = Vec::new();
        let mut sequences = self
            .shared
            .sequences
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if sequences.len() > SEQUENCES_KEPT {
            sequences.clear();
        }
        for (reply, token) in replies.into_iter().zip(tokens) {
            let items = array(reply)?;
            if items.len() % 2 != 0 {
                return Err(corrupt("malformed claim reply"));
            }
            // Per job: ready member (its ready key comes first, so members
            // sort as the jobs' claim order), record.
            for item in items.chunks(2) {
                let [rk, record] = item else {
                    return Err(corrupt("malformed claim reply"));
                };
                let rk = text(rk)?;
                // Parsed where it lies: no copy of each body on the claim path.
                let body = match record {
                    Value::BulkString(record) => record
                        .iter()
                        .position(|&b| b == b'\n')
                        .map(|nl| &record[nl + 1..]),
                    _ => None,
                };
                let Some(body) = body else {
                    return Err(corrupt(format!("a claimed job without a record: {rk}")));
                };
                let job = body::decode(body)?;
                let mut t = state::claim(&job, &request.worker, request.lease, request.now);
                t.job.state.lease_token = Some(token);
                if let Some(seq) = sequence_of(&rk) {
                    sequences.insert(t.job.id.clone(), (token.0, seq));
                }
                claimed.push((rk, t.job));
            }
        }
        Ok(claimed)
    }

    /// Runs a per-queue script once for every known queue, with the same
    /// job ids and arguments, for callers that know a job's id but not its
    /// queue. Returns each queue's reply.
    async fn on_every_queue(
        &self,
        function: &Function,
        ids: &[&str],
        args: impl Fn(&mut Call),
    ) -> Result<Vec<Value>> {
        let replies = self
            .ask_every_queue(|q| {
                let mut call = Call::new(function, q, ids);
                args(&mut call);
                call.cmd
            })
            .await?;
        Ok(replies.into_iter().map(|(_, reply)| reply).collect())
    }
}

/// The background task behind waits: blocks in `XREAD` on the streams of
/// `interest` over its own connection (no response timeout), and bumps the
/// counters of what changed. It ends when the backend is dropped.
async fn watch_streams(
    client: Client,
    conn: ConnectionManager,
    interest: Arc<Interest>,
    tx: watch::Sender<Signals>,
) {
    let mut blocking: Option<MultiplexedConnection> = None;
    // Stream key -> last id seen; rebuilt from the streams' tops on a refresh.
    let mut last: BTreeMap<String, String> = BTreeMap::new();
    let mut queues: Vec<String> = Vec::new();
    let mut refresh = true;
    let mut refreshed = Instant::now();
    let mut burst_start = Instant::now();
    let mut burst = 0u32;
    loop {
        if tx.is_closed() {
            return;
        }
        let c = match blocking.take() {
            Some(c) => c,
            None => {
                let config = AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(Duration::from_secs(3)))
                    .set_response_timeout(None);
                match client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await
                {
                    Ok(c) => {
                        refresh = true;
                        c
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "cannot connect to Redis to wait; retrying");
                        tokio::time::sleep(Duration::from_millis(250)).await;
                        continue;
                    }
                }
            }
        };
        // Now and then, even when busy: queues appear.
        if refresh || refreshed.elapsed() > BLOCK {
            // Where each stream is now; whatever moved since is a change
            // (and so is a stream watched for the first time: a waiter
            // may have looked before it was watched).
            let events = interest.events.load(Ordering::SeqCst);
            match stream_tops(&conn, interest.wake_queues(), events).await {
                Ok((names, tops)) => {
                    signal(
                        &tx,
                        &names,
                        tops.iter()
                            .filter(|(k, id)| last.get(*k) != Some(*id))
                            .map(|(k, _)| k),
                    );
                    queues = names;
                    last = tops;
                    refresh = false;
                    refreshed = Instant::now();
                }
                Err(e) => {
                    tracing::debug!(error = %e, "reading Redis streams failed; retrying");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    continue;
                }
            }
        }
        if last.is_empty() {
            // No queue yet: look again in a while.
            tokio::select! {
                _ = tokio::time::sleep(BLOCK) => {}
                _ = interest.grew.notified() => {}
                _ = tx.closed() => return,
            }
            blocking = Some(c);
            refresh = true;
            continue;
        }
        let mut read = redis::cmd("XREAD");
        read.arg("COUNT")
            .arg(1)
            .arg("BLOCK")
            .arg(BLOCK.as_millis() as u64)
            .arg("STREAMS");
        read.arg(last.keys().collect::<Vec<_>>());
        read.arg(last.values().collect::<Vec<_>>());
        let mut c = c;
        // No response timeout on this connection, but a bound all the same:
        // a connection that died silently (no reset) must not hang forever.
        let guarded = tokio::time::timeout(BLOCK * 3, read.query_async::<Value>(&mut c));
        let reply = tokio::select! {
            reply = guarded => reply.unwrap_or_else(|_| {
                Err(redis::RedisError::from((redis::ErrorKind::Io, "blocking read hung")))
            }),
            _ = interest.grew.notified() => {
                // The connection is blocked in the old read: it goes, and
                // the next one starts with the new set.
                continue;
            }
            _ = tx.closed() => return,
        };
        match reply {
            // Nothing for a while: look for new queues.
            Ok(Value::Nil) => refresh = true,
            Ok(reply) => {
                let moved = read_reply_tops(reply);
                signal(&tx, &queues, moved.iter().map(|(k, _)| k));
                last.extend(moved);
                // Under load entries come all the time: rather than walk
                // them one by one, skip to the tops, at most once a
                // millisecond. A few entries in a row (one job's life) are
                // passed on at once.
                if burst_start.elapsed() > Duration::from_millis(10) {
                    burst_start = Instant::now();
                    burst = 0;
                }
                burst += 1;
                if burst > 8 {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    refresh = true;
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "blocking read on Redis failed; reconnecting");
                tokio::time::sleep(Duration::from_millis(250)).await;
                continue;
            }
        }
        blocking = Some(c);
    }
}

/// The streams to watch and the last id of each ("0-0" for an empty one):
/// the wake streams of `wake_queues`, and with `events`, the event streams
/// of every known queue. Returns the wake queues too, to name signals by.
async fn stream_tops(
    conn: &ConnectionManager,
    wake_queues: Vec<String>,
    events: bool,
) -> redis::RedisResult<(Vec<String>, BTreeMap<String, String>)> {
    let mut keys: Vec<String> = wake_queues.iter().map(|q| wake_key(q)).collect();
    if events {
        let known: Vec<String> = redis::cmd("SMEMBERS")
            .arg(QUEUES_KEY)
            .query_async(&mut conn.clone())
            .await?;
        let mut queues: BTreeSet<&String> = known.iter().collect();
        queues.extend(&wake_queues);
        keys.extend(queues.into_iter().map(|q| events_key(q)));
    }
    let mut tops = BTreeMap::new();
    if keys.is_empty() {
        return Ok((wake_queues, tops));
    }
    let mut pipe = redis::pipe();
    for key in &keys {
        pipe.cmd("XREVRANGE")
            .arg(key)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1);
    }
    let replies: Vec<Value> = pipe.query_async(&mut conn.clone()).await?;
    for (key, top) in keys.into_iter().zip(replies) {
        let id = stream_entries(top)
            .ok()
            .and_then(|e| e.first().map(|(pos, _)| pos.to_string()))
            .unwrap_or_else(|| "0-0".into());
        tops.insert(key, id);
    }
    Ok((wake_queues, tops))
}

/// The newest id per stream in an `XREAD` reply.
fn read_reply_tops(reply: Value) -> Vec<(String, String)> {
    let streams = match reply {
        Value::Map(pairs) => pairs,
        other => array(other)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|s| {
                let mut parts = array(s).ok()?.into_iter();
                Some((parts.next()?, parts.next()?))
            })
            .collect(),
    };
    streams
        .into_iter()
        .filter_map(|(key, entries)| {
            let key = text(&key).ok()?;
            let top = stream_entries(entries).ok()?.last()?.0;
            Some((key, top.to_string()))
        })
        .collect()
}

/// Bumps the counters of the streams that moved.
fn signal<'a>(
    tx: &watch::Sender<Signals>,
    queues: &[String],
    moved: impl Iterator<Item = &'a String>,
) {
    let moved: Vec<&String> = moved.collect();
    if moved.is_empty() {
        return;
    }
    let now = Instant::now();
    tx.send_modify(|s| {
        for key in moved {
            if key.ends_with(":events") {
                s.events = (s.events.0 + 1, Some(now));
            } else if let Some(q) = queues.iter().find(|q| *key == wake_key(q)) {
                let entry = s.wake.entry(q.clone()).or_insert((0, now));
                *entry = (entry.0 + 1, now);
            }
        }
    });
}

/// Waits until `changed` says yes about a value newer than `before`, or the
/// deadline.
async fn wait_changed(
    mut rx: watch::Receiver<Signals>,
    before: Signals,
    max_wait: Duration,
    changed: impl Fn(&Signals, &Signals) -> bool,
) {
    let deadline = tokio::time::Instant::now() + max_wait;
    loop {
        match tokio::time::timeout_at(deadline, rx.changed()).await {
            Ok(Ok(())) => {
                if changed(&before, &rx.borrow_and_update()) {
                    return;
                }
            }
            Ok(Err(_)) => {
                // The watcher is gone (backend dropping): wait out the time.
                tokio::time::sleep_until(deadline).await;
                return;
            }
            Err(_) => return,
        }
    }
}

/// Whether a transition ends a running job. `finish.lua` takes such ends of
/// jobs whose enqueue sequence this process noted at the claim.
fn finishes(t: &Transition) -> bool {
    t.expect.status == Status::Running
        && t.expect.lease_token.is_some()
        && t.job.state.status.is_terminal()
}

/// The arguments of one transition for `apply.lua`.
fn transition_args(call: &mut Call, t: &Transition, now: Timestamp) -> Result<()> {
    let s = &t.job.state;
    let event = Event::of(&t.job, now);
    let waiting = matches!(s.status, Status::Queued | Status::Scheduled);
    let (priority, run_at) = if waiting {
        (t.job.priority.to_string(), s.run_at.0.to_string())
    } else {
        (String::new(), String::new())
    };
    call.arg(t.job.id.as_str())
        .arg(t.expect.status.as_str())
        .arg(
            t.expect
                .lease_token
                .map(|t| t.0.to_string())
                .unwrap_or_default(),
        )
        .arg(s.status.as_str())
        .arg(s.lease_token.map(|t| t.0.to_string()).unwrap_or_default())
        .arg(body::encode(&t.job)?)
        .arg(s.attempt)
        .arg(s.error.as_ref().map(|e| e.kind.as_str()).unwrap_or(""))
        // Ordering fields matter only to a waiting job, and a lease end is
        // never set here (only a claim starts one): empty strings are one
        // shared string in Lua, numbers a new one each.
        .arg(priority)
        .arg(run_at)
        .arg("")
        .arg(s.expires_at.map_or(0, |t| t.0))
        .arg(event.progress.map(|p| p.to_string()).unwrap_or_default())
        .arg(optional_hex(event.message.as_deref()))
        .arg(now.0);
    Ok(())
}

/// The arguments of one transition for `finish.lua` (see `finishes`): the
/// whole ended record (header as `common.lua`'s `header`, ending with the
/// expiry; newline; body), from the job's enqueue sequence noted at the
/// claim.
fn finish_args(call: &mut Call, t: &Transition, seq: u64) -> Result<()> {
    let s = &t.job.state;
    let token = t.expect.lease_token.map_or(0, |t| t.0);
    let error_kind = s.error.as_ref().map(|e| e.kind.as_str()).unwrap_or("");
    let score = list_score(t.job.created_at, seq).to_string();
    let expires_at = s.expires_at.map_or(0, |t| t.0);
    let record = format!(
        "{}||{}|{}|{error_kind}|{seq}|{score}|{expires_at}\n{}",
        s.status.as_str(),
        s.attempt,
        t.job.kind.as_str(),
        body::encode(&t.job)?,
    );
    call.arg(t.job.id.as_str())
        .arg(format!("{token}|"))
        .arg(record)
        .arg(expires_at)
        .arg(score);
    Ok(())
}

/// A refusal from `over_quota` (`common.lua`): `{0, i, quota, current,
/// adding, limit}`, as the index (from 0) of the job refused among the
/// call's jobs and its error; `None` for any other reply.
fn quota_refusal(queue: &QueueName, items: &[Value]) -> Result<Option<(usize, QueueError)>> {
    let [Value::Int(0), at, quota, current, adding, limit] = items else {
        return Ok(None);
    };
    let quota = match text(quota)?.as_str() {
        "waiting_jobs" => WaitingQuota::Jobs,
        "waiting_payload_bytes" => WaitingQuota::PayloadBytes,
        other => return Err(corrupt(format!("unknown quota {other:?} in a refusal"))),
    };
    let number = |v: &Value| int(v).map(|n| n.max(0) as u64);
    let error = QueueError::QueueFull {
        queue: queue.to_string(),
        quota,
        current: number(current)?,
        adding: number(adding)?,
        limit: number(limit)?,
    };
    Ok(Some(((number(at)? as usize).saturating_sub(1), error)))
}

/// A job's list score: enqueue time in ms, then the sequence's last three
/// digits, so jobs of one millisecond keep their order (as `insert.lua`).
fn list_score(created_at: Timestamp, seq: u64) -> i64 {
    created_at.0 * 1000 + (seq % 1000) as i64
}

/// The enqueue sequence at the end of a ready member's key (see
/// `common.lua`'s `ready_key`: 10 digits of priority, 15 of run-at, 12 of
/// sequence).
fn sequence_of(member: &str) -> Option<u64> {
    member.get(25..37)?.parse().ok()
}

/// Events as the lines of one stream entry, the inverse of
/// `whole_lines`: an event that differs from the one before it only in
/// its job is written as the job id alone.
fn event_lines<'a>(events: impl IntoIterator<Item = &'a Event>) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let mut before: Option<&Event> = None;
    for e in events {
        if before.is_some() {
            out.push('\n');
        }
        out.push_str(e.job_id.as_str());
        let same_fields = before.is_some_and(|b| {
            (
                &b.kind,
                b.status,
                b.attempt,
                b.progress,
                b.error_kind,
                b.at,
                &b.message,
            ) == (
                &e.kind,
                e.status,
                e.attempt,
                e.progress,
                e.error_kind,
                e.at,
                &e.message,
            )
        });
        if !same_fields {
            // Writing to a String cannot fail.
            let _ = write!(
                out,
                "|{}|{}|{}|{}|{}|{}|{}",
                e.kind.as_str(),
                e.status.as_str(),
                e.attempt,
                e.progress.map(|p| p.to_string()).unwrap_or_default(),
                e.error_kind.map_or("", |k| k.as_str()),
                e.at.0,
                optional_hex(e.message.as_deref()),
            );
        }
        before = Some(e);
    }
    out
}

#[async_trait]
impl Backend for RedisBackend {
    fn info(&self) -> BackendInfo {
        BackendInfo {
            name: "redis".into(),
            location: self.shared.location.clone(),
            details: self.shared.details.get().cloned().unwrap_or_default(),
        }
    }

    async fn ping(&self) -> Result<()> {
        self.query(redis::cmd("PING")).await?;
        Ok(())
    }

    async fn insert(&self, jobs: Vec<Job>) -> Result<Vec<Inserted>> {
        self.insert_within(jobs, &Quotas::unlimited()).await
    }

    async fn insert_within(&self, jobs: Vec<Job>, quotas: &Quotas) -> Result<Vec<Inserted>> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let now = Timestamp::now();
        let mut out: Vec<Option<Inserted>> = vec![None; jobs.len()];
        // An id is one job across all queues: a job enqueued under an id
        // that lives in another queue is that job (or replaces it when it
        // failed or was cancelled).
        let queues = self.known_queues(false).await?;
        // One multi-key EXISTS per other queue (its keys share a slot);
        // only when one counts a hit, look at each id of it.
        let groups: Vec<(&String, Vec<usize>)> = queues
            .iter()
            .map(|q| {
                let ids: Vec<usize> = (0..jobs.len())
                    .filter(|i| jobs[*i].queue.as_str() != q.as_str())
                    .collect();
                (q, ids)
            })
            .filter(|(_, ids)| !ids.is_empty())
            .collect();
        let mut probes = Vec::new();
        if !groups.is_empty() {
            let mut pipe = redis::pipe();
            for (q, ids) in &groups {
                let keys: Vec<String> = ids
                    .iter()
                    .map(|i| job_key(q, jobs[*i].id.as_str()))
                    .collect();
                pipe.cmd("EXISTS").arg(keys);
            }
            let mut pipe_each = redis::pipe();
            for ((q, ids), hits) in groups.iter().zip(self.run(&pipe).await?) {
                if int(&hits)? > 0 {
                    for i in ids {
                        pipe_each
                            .cmd("EXISTS")
                            .arg(job_key(q, jobs[*i].id.as_str()));
                        probes.push((*i, (*q).clone()));
                    }
                }
            }
            if !probes.is_empty() {
                let found = self.run(&pipe_each).await?;
                let mut hits = Vec::new();
                for (probe, exists) in probes.into_iter().zip(found) {
                    if int(&exists)? == 1 {
                        hits.push(probe);
                    }
                }
                probes = hits;
            }
        }
        let mut bodies = jobs
            .iter()
            .map(body::encode)
            .collect::<Result<Vec<String>>>()?;
        let sizes: Vec<u64> = bodies.iter().map(|b| body::payload_bytes_of(b)).collect();
        // One call writes a queue's jobs when they are few and none needs a
        // look in another queue: it checks the quotas itself. Otherwise
        // every queue is checked first, and the writes check nothing more
        // (see the module's doc, Quotas).
        let limited =
            quotas.max_waiting_jobs != u64::MAX || quotas.max_waiting_payload_bytes != u64::MAX;
        let mut all_by_queue: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, job) in jobs.iter().enumerate() {
            all_by_queue.entry(job.queue.as_str()).or_default().push(i);
        }
        let calls: usize = all_by_queue
            .values()
            .map(|ix| ix.len().div_ceil(SCRIPT_BATCH))
            .sum();
        let checked_first = limited && (calls > 1 || !probes.is_empty());
        if checked_first {
            self.check_quotas(&jobs, &sizes, &all_by_queue, quotas)
                .await?;
        }
        let limit = |max: u64| {
            if limited && !checked_first && max != u64::MAX {
                max.to_string()
            } else {
                String::new()
            }
        };
        let (max_jobs, max_bytes) = (
            limit(quotas.max_waiting_jobs),
            limit(quotas.max_waiting_payload_bytes),
        );
        if !probes.is_empty() {
            let mut pipe = redis::pipe();
            let mut forgets = Vec::new();
            for (i, q) in probes {
                let mut call = Call::new(&self.shared.functions.forget, &q, &[jobs[i].id.as_str()]);
                call.arg(jobs[i].id.as_str());
                pipe.add_command(call.cmd);
                forgets.push(i);
            }
            for (i, reply) in forgets.into_iter().zip(self.run(&pipe).await?) {
                if !matches!(reply, Value::Int(_)) {
                    out[i] = Some(Inserted::Existing(job_from_value(&text(&reply)?)?));
                }
            }
        }

        let mut by_queue: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, job) in jobs.iter().enumerate() {
            if out[i].is_none() {
                by_queue.entry(job.queue.as_str()).or_default().push(i);
            }
        }
        let mut pipe = redis::pipe();
        pipe.cmd("SADD")
            .arg(QUEUES_KEY)
            .arg(by_queue.keys().collect::<Vec<_>>())
            .ignore();
        let mut chunks = Vec::new();
        for (queue, indexes) in &by_queue {
            for chunk in indexes.chunks(SCRIPT_BATCH) {
                let ids: Vec<&str> = chunk.iter().map(|i| jobs[*i].id.as_str()).collect();
                let mut call = Call::new(&self.shared.functions.insert, queue, &ids);
                call.arg(now.0)
                    .arg(&max_jobs)
                    .arg(&max_bytes)
                    .arg(chunk.iter().map(|i| sizes[*i]).sum::<u64>());
                for i in chunk {
                    let job = &jobs[*i];
                    call.arg(job.id.as_str())
                        .arg(job.status().as_str())
                        .arg(std::mem::take(&mut bodies[*i]))
                        .arg(job.priority)
                        .arg(job.state.run_at.0)
                        .arg(job.created_at.0)
                        .arg(job.kind.as_str());
                }
                pipe.add_command(call.cmd);
                chunks.push(chunk);
            }
        }
        if !chunks.is_empty() {
            let replies = self.run(&pipe).await?;
            for (chunk, reply) in chunks.into_iter().zip(replies) {
                let items = array(reply)?;
                if let Some((at, error)) = quota_refusal(&jobs[chunk[0]].queue, &items)? {
                    let index = chunk.get(at).copied().unwrap_or(chunk[0]);
                    return Err(super::refused_at(index, jobs.len(), error));
                }
                for (i, item) in chunk.iter().zip(items) {
                    out[*i] = Some(match item {
                        Value::Int(_) => Inserted::New(jobs[*i].clone()),
                        stored => Inserted::Existing(job_from_value(&text(&stored)?)?),
                    });
                }
            }
            self.note_queues(by_queue.keys().copied());
        }
        out.into_iter()
            .map(|o| o.ok_or_else(|| QueueError::Storage("Redis returned no insert result".into())))
            .collect()
    }

    async fn get(&self, id: &JobId) -> Result<Option<Job>> {
        let Some((_, stored)) = self.find_stored(id).await? else {
            return Ok(None);
        };
        let job = job_from_value(&stored)?;
        if job.state.expires_at.is_some_and(|t| t <= Timestamp::now()) {
            return Ok(None);
        }
        Ok(Some(job))
    }

    async fn list(&self, query: &JobQuery) -> Result<JobPage> {
        let limit = query.limit.clamp(1, 1000);
        let bound = match &query.cursor {
            Some(c) => {
                let score: i64 = c
                    .parse()
                    .map_err(|_| QueueError::InvalidRequest(format!("invalid cursor {c:?}")))?;
                format!("({score}")
            }
            None => "+inf".into(),
        };
        let queues = match &query.queue {
            Some(q) => vec![q.to_string()],
            None => self.known_queues(false).await?,
        };
        if queues.is_empty() {
            return Ok(JobPage {
                jobs: Vec::new(),
                next_cursor: None,
            });
        }
        let mut pipe = redis::pipe();
        for q in &queues {
            let mut call = Call::new(&self.shared.functions.list, q, &[]);
            call.arg(&bound)
                .arg(query.status.map_or("", Status::as_str))
                .arg(limit + 1)
                .arg(LIST_SCAN)
                .arg(query.kind.as_ref().map_or("", Kind::as_str));
            pipe.add_command(call.cmd);
        }
        let now = Timestamp::now();
        let mut found: Vec<(i64, Job)> = Vec::new();
        // Below the highest point where some queue stopped looking, the
        // merge is incomplete: only what lies above it is certain.
        let mut cutoff: Option<i64> = None;
        for reply in self.run(&pipe).await? {
            let mut items = array(reply)?.into_iter();
            let resume = text(&items.next().unwrap_or(Value::Nil)).unwrap_or_default();
            if let Some(score) = resume.strip_prefix('(') {
                let score: i64 = score.parse().map_err(corrupt)?;
                cutoff = Some(cutoff.map_or(score, |c| c.max(score)));
            }
            while let (Some(score), Some(h)) = (items.next(), items.next()) {
                let score: i64 = text(&score)?.parse().map_err(corrupt)?;
                let job = job_from_value(&text(&h)?)?;
                if job.state.expires_at.is_some_and(|t| t <= now) {
                    continue;
                }
                found.push((score, job));
            }
        }
        found.retain(|(score, _)| cutoff.is_none_or(|c| *score >= c));
        found.sort_by_key(|(score, _)| std::cmp::Reverse(*score));
        let next_cursor = if found.len() > limit {
            found.truncate(limit);
            found.last().map(|(s, _)| s.to_string())
        } else {
            cutoff.map(|c| found.last().map_or(c, |(s, _)| (*s).min(c)).to_string())
        };
        Ok(JobPage {
            jobs: found.into_iter().map(|(_, job)| job).collect(),
            next_cursor,
        })
    }

    async fn claim(&self, request: &ClaimRequest) -> Result<Vec<Job>> {
        if request.max == 0 || request.queues.is_empty() {
            return Ok(Vec::new());
        }
        self.note_queues(request.queues.iter().map(QueueName::as_str));
        let allotment: Vec<(String, usize)> = if request.queues.len() == 1 {
            vec![(request.queues[0].to_string(), request.max)]
        } else {
            // Look at the best of each queue, then take the best overall.
            let mut pipe = redis::pipe();
            for q in &request.queues {
                let mut call = Call::new(&self.shared.functions.peek, q.as_str(), &[]);
                call.arg(request.now.0).arg(request.max);
                pipe.add_command(call.cmd);
            }
            let mut best: Vec<(String, usize)> = Vec::new();
            for (qi, reply) in self.run(&pipe).await?.into_iter().enumerate() {
                for rk in array(reply)? {
                    best.push((text(&rk)?, qi));
                }
            }
            best.sort();
            best.truncate(request.max);
            let mut counts = vec![0usize; request.queues.len()];
            for (_, qi) in best {
                counts[qi] += 1;
            }
            request
                .queues
                .iter()
                .zip(counts)
                .filter(|(_, n)| *n > 0)
                .map(|(q, n)| (q.to_string(), n))
                .collect()
        };
        if allotment.is_empty() {
            return Ok(Vec::new());
        }
        let mut claimed = self.claim_in(&allotment, request).await?;
        claimed.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(claimed.into_iter().map(|(_, job)| job).collect())
    }

    async fn apply(&self, transitions: Vec<Transition>) -> Result<Vec<bool>> {
        if transitions.is_empty() {
            return Ok(Vec::new());
        }
        let now = Timestamp::now();
        let mut by_queue: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, t) in transitions.iter().enumerate() {
            by_queue.entry(t.job.queue.as_str()).or_default().push(i);
        }
        // Ends of jobs this process claimed go to `finish.lua`, which needs
        // their enqueue sequence (noted at the claim); the rest to `apply.lua`.
        let sequences: Vec<Option<u64>> = transitions
            .iter()
            .map(|t| finishes(t).then(|| self.take_sequence(t)).flatten())
            .collect();
        let finishing_to = |i: usize| sequences[i].map(|_| transitions[i].job.state.status);
        let mut pipe = redis::pipe();
        let mut chunks = Vec::new();
        for (queue, indexes) in &by_queue {
            // A script call changes each job at most once (see common.lua),
            // and runs one script: a run of ends to one status goes to
            // `finish.lua`, the rest to `apply.lua`, in their order.
            let mut split: Vec<Vec<usize>> = Vec::new();
            let mut seen = std::collections::HashSet::new();
            for &i in indexes {
                let id = transitions[i].job.id.as_str();
                match split.last_mut() {
                    Some(current)
                        if current.len() < SCRIPT_BATCH
                            && finishing_to(current[0]) == finishing_to(i)
                            && seen.insert(id) =>
                    {
                        current.push(i)
                    }
                    _ => {
                        seen.clear();
                        seen.insert(id);
                        split.push(vec![i]);
                    }
                }
            }
            for chunk in split {
                let ids: Vec<&str> = chunk
                    .iter()
                    .map(|i| transitions[*i].job.id.as_str())
                    .collect();
                let call = match finishing_to(chunk[0]) {
                    Some(status) => {
                        let mut call = Call::new(&self.shared.functions.finish, queue, &ids);
                        // The event lines go joined, in one string built once.
                        let events: Vec<Event> = chunk
                            .iter()
                            .map(|&i| Event::of(&transitions[i].job, now))
                            .collect();
                        call.arg(status.as_str()).arg(event_lines(&events));
                        for &i in &chunk {
                            if let Some(seq) = sequences[i] {
                                finish_args(&mut call, &transitions[i], seq)?;
                            }
                        }
                        call
                    }
                    None => {
                        let mut call = Call::new(&self.shared.functions.apply, queue, &ids);
                        for &i in &chunk {
                            transition_args(&mut call, &transitions[i], now)?;
                        }
                        call
                    }
                };
                pipe.add_command(call.cmd);
                chunks.push(chunk);
            }
        }
        let mut out = vec![false; transitions.len()];
        for (chunk, reply) in chunks.into_iter().zip(self.run(&pipe).await?) {
            for (i, applied) in chunk.iter().zip(array(reply)?) {
                out[*i] = int(&applied)? == 1;
            }
        }
        Ok(out)
    }

    async fn renew_leases(&self, leases: &[LeaseRef], until: Timestamp) -> Result<Vec<LeaseState>> {
        if leases.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<&str> = leases.iter().map(|l| l.id.as_str()).collect();
        let replies = self
            .on_every_queue(&self.shared.functions.renew, &ids, |call| {
                call.arg(until.0);
                for lease in leases {
                    call.arg(lease.id.as_str()).arg(lease.token.0);
                }
            })
            .await?;
        let mut best = vec![0i64; leases.len()];
        for reply in replies {
            for (b, state) in best.iter_mut().zip(array(reply)?) {
                *b = (*b).max(int(&state)?);
            }
        }
        Ok(best
            .into_iter()
            .map(|b| match b {
                0 => LeaseState::Lost,
                n => LeaseState::Held {
                    cancel_requested: n == 2,
                },
            })
            .collect())
    }

    async fn set_progress(&self, updates: Vec<ProgressUpdate>) -> Result<()> {
        if updates.is_empty() {
            return Ok(());
        }
        let now = Timestamp::now();
        let ids: Vec<&str> = updates.iter().map(|u| u.lease.id.as_str()).collect();
        self.on_every_queue(&self.shared.functions.progress, &ids, |call| {
            call.arg(now.0);
            for u in &updates {
                call.arg(u.lease.id.as_str())
                    .arg(u.lease.token.0)
                    .arg(u.progress.to_string())
                    .arg(optional_hex(u.message.as_deref()));
            }
        })
        .await?;
        Ok(())
    }

    async fn request_cancel(&self, id: &JobId) -> Result<bool> {
        let now = Timestamp::now();
        let Some((queue, _)) = self.find_stored(id).await? else {
            return Ok(false);
        };
        let mut call = Call::new(&self.shared.functions.cancel, &queue, &[id.as_str()]);
        call.arg(now.0).arg(id.as_str());
        let mut pipe = redis::pipe();
        pipe.add_command(call.cmd);
        let reply = self.run(&pipe).await?;
        Ok(reply.first().map(int).transpose()? == Some(1))
    }

    async fn expired_leases(&self, now: Timestamp, limit: usize) -> Result<Vec<Job>> {
        let found = self.expired_ids(now).await?;
        let jobs = self.read_jobs(found, limit).await?;
        // A lease renewed between the two reads is not expired.
        Ok(jobs
            .into_iter()
            .filter(|j| {
                j.status() == Status::Running && j.state.lease_expires_at.is_some_and(|t| t < now)
            })
            .collect())
    }

    async fn due_scheduled(&self, now: Timestamp, limit: usize) -> Result<Vec<Job>> {
        let found = self.due_ids(now, limit).await?;
        self.read_jobs(found, limit).await
    }

    async fn delete_expired(&self, now: Timestamp) -> Result<u64> {
        let min_event = StreamPos((now.0 - EVENTS_MAX_AGE.as_millis() as i64).max(0) as u64, 0);
        let mut deleted = 0u64;
        for q in self.known_queues(false).await? {
            // Bounded rounds: a huge backlog is worked off over several passes.
            for _ in 0..20 {
                let mut call = Call::new(&self.shared.functions.sweep, &q, &[]);
                call.arg(now.0).arg(1000).arg(min_event.to_string());
                let mut pipe = redis::pipe();
                pipe.add_command(call.cmd);
                let reply = array(self.run(&pipe).await?.remove(0))?;
                deleted += int(&reply[0])? as u64;
                if int(&reply[1])? < 1000 {
                    break;
                }
            }
        }
        let mut cmd = redis::cmd("ZREMRANGEBYSCORE");
        cmd.arg(WORKERS_KEY).arg("-inf").arg(now.0);
        self.query(cmd).await?;
        Ok(deleted)
    }

    /// Index sizes: ended jobs whose record expired count until the next
    /// maintenance pass (every second in a running worker) sweeps them.
    async fn counts(&self, queues: &[QueueName]) -> Result<Vec<QueueCounts>> {
        if queues.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for q in queues {
            let keys = index_keys(q.as_str());
            // In Status::ALL's order; running jobs are the lease hash's entries.
            for (command, key) in [
                ("ZCARD", &keys[1]),
                ("ZCARD", &keys[0]),
                ("HLEN", &keys[2]),
                ("ZCARD", &keys[5]),
                ("ZCARD", &keys[6]),
                ("ZCARD", &keys[7]),
            ] {
                pipe.cmd(command).arg(key);
            }
        }
        let replies = self.run(&pipe).await?;
        queues
            .iter()
            .zip(replies.chunks(6))
            .map(|(q, n)| {
                let mut counts = QueueCounts {
                    name: q.to_string(),
                    ..QueueCounts::default()
                };
                for (status, n) in Status::ALL.into_iter().zip(n) {
                    counts.add(status, int(n)? as u64);
                }
                Ok(counts)
            })
            .collect()
    }

    async fn purge(&self, queue: &QueueName, status: Status) -> Result<u64> {
        if status == Status::Running {
            return Err(QueueError::InvalidRequest(
                "running jobs cannot be purged; cancel them instead".into(),
            ));
        }
        let mut deleted = 0u64;
        loop {
            let mut call = Call::new(&self.shared.functions.purge, queue.as_str(), &[]);
            call.arg(status.as_str()).arg(1000);
            let mut pipe = redis::pipe();
            pipe.add_command(call.cmd);
            let reply = array(self.run(&pipe).await?.remove(0))?;
            deleted += int(&reply[0])? as u64;
            if int(&reply[1])? < 1000 {
                return Ok(deleted);
            }
        }
    }

    async fn register_worker(&self, worker: &WorkerRecord) -> Result<()> {
        let body = serde_json::to_string(worker).map_err(|e| QueueError::Storage(e.to_string()))?;
        let mut pipe = redis::pipe();
        pipe.cmd("SET")
            .arg(worker_key(&worker.name))
            .arg(body)
            .arg("PXAT")
            .arg(worker.expires_at.0)
            .ignore();
        pipe.cmd("ZADD")
            .arg(WORKERS_KEY)
            .arg(worker.expires_at.0)
            .arg(&worker.name)
            .ignore();
        self.run(&pipe).await?;
        Ok(())
    }

    async fn remove_worker(&self, name: &str) -> Result<()> {
        let mut pipe = redis::pipe();
        pipe.cmd("DEL").arg(worker_key(name)).ignore();
        pipe.cmd("ZREM").arg(WORKERS_KEY).arg(name).ignore();
        self.run(&pipe).await?;
        Ok(())
    }

    async fn workers(&self, now: Timestamp) -> Result<Vec<WorkerRecord>> {
        let mut cmd = redis::cmd("ZRANGEBYSCORE");
        cmd.arg(WORKERS_KEY).arg(format!("({}", now.0)).arg("+inf");
        let names = array(self.query(cmd).await?)?
            .iter()
            .map(text)
            .collect::<Result<Vec<_>>>()?;
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for name in &names {
            pipe.cmd("GET").arg(worker_key(name));
        }
        let mut workers = Vec::new();
        for body in self.run(&pipe).await? {
            if body == Value::Nil {
                continue;
            }
            let record: WorkerRecord = serde_json::from_str(&text(&body)?).map_err(corrupt)?;
            if record.expires_at > now {
                workers.push(record);
            }
        }
        workers.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(workers)
    }

    async fn events_after(&self, cursor: Option<&str>, limit: usize) -> Result<Vec<Event>> {
        let mut positions = match cursor {
            Some(c) => parse_cursor(c)?,
            None => BTreeMap::new(),
        };
        let mut queues = self.known_queues(false).await?;
        if positions.keys().any(|q| queues.binary_search(q).is_err()) {
            queues = self.known_queues(true).await?;
        }
        if queues.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for q in &queues {
            let start = match positions.get(q) {
                Some(Seen {
                    entry,
                    through: None,
                }) => format!("({entry}"),
                Some(Seen { entry, .. }) => entry.to_string(),
                None => "-".into(),
            };
            // Every entry holds at least one event: `limit` entries suffice.
            pipe.cmd("XRANGE")
                .arg(events_key(q))
                .arg(start)
                .arg("+")
                .arg("COUNT")
                .arg(limit);
        }
        // (entry, queue, index in entry, events in entry, line)
        let mut found: Vec<(StreamPos, &str, usize, usize, String)> = Vec::new();
        for (q, reply) in queues.iter().zip(self.run(&pipe).await?) {
            let seen = positions.get(q).copied();
            for (pos, fields) in stream_entries(reply)? {
                let lines = whole_lines(fields.get("e").map_or("", String::as_str))?;
                let count = lines.len();
                for (k, line) in lines.into_iter().enumerate() {
                    let already = seen.is_some_and(|s| {
                        s.entry == pos && s.through.is_none_or(|through| k <= through)
                    });
                    if !already {
                        found.push((pos, q.as_str(), k, count, line));
                    }
                }
            }
        }
        found.sort_by(|a, b| (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)));
        found.truncate(limit);
        found
            .into_iter()
            .map(|(pos, q, k, count, line)| {
                let mut event = event_from_line(q, &line)?;
                let through = (k + 1 < count).then_some(k);
                positions.insert(
                    q.to_owned(),
                    Seen {
                        entry: pos,
                        through,
                    },
                );
                event.id = format_cursor(&positions);
                Ok(event)
            })
            .collect()
    }

    async fn last_event_id(&self) -> Result<Option<String>> {
        let mut positions = BTreeMap::new();
        for (q, (entry, _)) in self.newest_events().await? {
            positions.insert(
                q,
                Seen {
                    entry,
                    through: None,
                },
            );
        }
        Ok((!positions.is_empty()).then(|| format_cursor(&positions)))
    }

    async fn wait_for_jobs(
        &self,
        queues: &[QueueName],
        claimed_at: Instant,
        max_wait: Duration,
    ) -> Result<()> {
        let names: Vec<String> = queues.iter().map(|q| q.to_string()).collect();
        self.shared.interest.want_wake(&names);
        let mut rx = self.signals();
        let before = rx.borrow_and_update().clone();
        // A wake-up after the caller's claim went out may be one the claim
        // missed: look again at once.
        if names
            .iter()
            .any(|q| after(before.wake.get(q).map(|w| w.1), claimed_at))
        {
            return Ok(());
        }
        wait_changed(rx, before, max_wait, |before, now| {
            names
                .iter()
                .any(|q| before.wake.get(q).map(|w| w.0) != now.wake.get(q).map(|w| w.0))
        })
        .await;
        Ok(())
    }

    async fn wait_for_events(&self, cursor: Option<&str>, max_wait: Duration) -> Result<()> {
        // Subscribe first, then look: an event written after the look
        // signals the subscription, one written before it is seen by it.
        self.shared.interest.want_events();
        let mut rx = self.signals();
        let before = rx.borrow_and_update().clone();
        if self.events_exist_after(cursor).await? {
            return Ok(());
        }
        // A last resort against a watcher that is reconnecting: look again
        // within a few seconds.
        let max_wait = max_wait.min(Duration::from_secs(5));
        wait_changed(rx, before, max_wait, |before, now| {
            before.events.0 != now.events.0
        })
        .await;
        Ok(())
    }
}

impl RedisBackend {
    /// Checks the jobs of every queue of a batch against its waiting quotas
    /// (`admit.lua`), for a batch written in several calls: one round trip
    /// with each queue's totals, and a second, with the jobs themselves,
    /// only for queues near a limit.
    async fn check_quotas(
        &self,
        jobs: &[Job],
        sizes: &[u64],
        by_queue: &BTreeMap<&str, Vec<usize>>,
        quotas: &Quotas,
    ) -> Result<()> {
        let limit = |max: u64| {
            if max == u64::MAX {
                String::new()
            } else {
                max.to_string()
            }
        };
        let call = |queue: &str, indexes: &[usize], each: bool| {
            let ids: Vec<&str> = if each {
                indexes.iter().map(|i| jobs[*i].id.as_str()).collect()
            } else {
                Vec::new()
            };
            let mut call = Call::new(&self.shared.functions.admit, queue, &ids);
            call.arg(limit(quotas.max_waiting_jobs))
                .arg(limit(quotas.max_waiting_payload_bytes))
                .arg(indexes.len())
                .arg(indexes.iter().map(|i| sizes[*i]).sum::<u64>());
            if each {
                for i in indexes {
                    call.arg(jobs[*i].id.as_str()).arg(sizes[*i]);
                }
            }
            call.cmd
        };
        let mut pipe = redis::pipe();
        for (queue, indexes) in by_queue {
            pipe.add_command(call(queue, indexes, false));
        }
        let mut near = Vec::new();
        for (entry, reply) in by_queue.iter().zip(self.run(&pipe).await?) {
            match reply {
                Value::Int(1) => {}
                Value::Int(2) => near.push(entry),
                other => return Err(corrupt(format!("unexpected reply {other:?} from admit"))),
            }
        }
        if near.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for (queue, indexes) in &near {
            pipe.add_command(call(queue, indexes, true));
        }
        for ((_, indexes), reply) in near.into_iter().zip(self.run(&pipe).await?) {
            if matches!(reply, Value::Int(_)) {
                continue;
            }
            let queue = &jobs[indexes[0]].queue;
            if let Some((at, error)) = quota_refusal(queue, &array(reply)?)? {
                let index = indexes.get(at).copied().unwrap_or(indexes[0]);
                return Err(super::refused_at(index, jobs.len(), error));
            }
        }
        Ok(())
    }

    /// The newest entry of each known queue's event stream, for queues that
    /// have one.
    async fn newest_events(&self) -> Result<Vec<(String, (StreamPos, HashMap<String, String>))>> {
        let queues = self.known_queues(false).await?;
        if queues.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for q in &queues {
            pipe.cmd("XREVRANGE")
                .arg(events_key(q))
                .arg("+")
                .arg("-")
                .arg("COUNT")
                .arg(1);
        }
        let mut newest = Vec::new();
        for (q, reply) in queues.into_iter().zip(self.run(&pipe).await?) {
            if let Some(top) = stream_entries(reply)?.into_iter().next() {
                newest.push((q, top));
            }
        }
        Ok(newest)
    }

    /// Whether some queue's stream holds events past the cursor (any event
    /// when there is no cursor).
    async fn events_exist_after(&self, cursor: Option<&str>) -> Result<bool> {
        let positions = match cursor {
            Some(c) => parse_cursor(c)?,
            None => BTreeMap::new(),
        };
        for (q, (top, fields)) in self.newest_events().await? {
            let unread = match positions.get(&q) {
                None => true,
                Some(seen) if top > seen.entry => true,
                Some(Seen {
                    entry,
                    through: Some(k),
                }) if top == *entry => {
                    let count = fields.get("e").map_or(0, |e| e.split('\n').count());
                    count > k + 1
                }
                Some(_) => false,
            };
            if unread {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Runs one command on every known queue; each queue's reply.
    async fn ask_every_queue(&self, command: impl Fn(&str) -> Cmd) -> Result<Vec<(String, Value)>> {
        let queues = self.known_queues(false).await?;
        if queues.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for q in &queues {
            pipe.add_command(command(q));
        }
        Ok(queues.into_iter().zip(self.run(&pipe).await?).collect())
    }

    /// Scheduled jobs whose run-at time has come, at most `limit` a queue.
    async fn due_ids(&self, now: Timestamp, limit: usize) -> Result<Vec<(String, Vec<String>)>> {
        let replies = self
            .ask_every_queue(|q| {
                let mut cmd = redis::cmd("ZRANGEBYSCORE");
                cmd.arg(format!("{}scheduled", key_prefix(q)))
                    .arg("-inf")
                    .arg(now.0)
                    .arg("LIMIT")
                    .arg(0)
                    .arg(limit);
                cmd
            })
            .await?;
        replies
            .into_iter()
            .map(|(q, reply)| Ok((q, array(reply)?.iter().map(text).collect::<Result<_>>()?)))
            .collect()
    }

    /// Running jobs whose lease ran out before `now`. The lease hash holds
    /// only running jobs (a few per worker slot), so the reaper reads it
    /// whole rather than keep a second index that every claim, renewal and
    /// completion would have to update.
    async fn expired_ids(&self, now: Timestamp) -> Result<Vec<(String, Vec<String>)>> {
        let replies = self
            .ask_every_queue(|q| {
                let mut cmd = redis::cmd("HGETALL");
                cmd.arg(format!("{}leases", key_prefix(q)));
                cmd
            })
            .await?;
        let mut found = Vec::new();
        for (q, reply) in replies {
            let mut ids = Vec::new();
            for (id, lease) in hash(reply)? {
                // The lease entry's sixth field is its end (see common.lua).
                let until: Option<i64> = lease.split('|').nth(5).and_then(|u| u.parse().ok());
                if until.is_some_and(|u| u < now.0) {
                    ids.push(id);
                }
            }
            found.push((q, ids));
        }
        Ok(found)
    }

    /// Jobs by id, per queue, as readers see them; at most `limit`.
    async fn read_jobs(&self, found: Vec<(String, Vec<String>)>, limit: usize) -> Result<Vec<Job>> {
        let mut left = limit;
        let mut pipe = redis::pipe();
        for (q, ids) in &found {
            let ids: Vec<&str> = ids.iter().take(left).map(String::as_str).collect();
            left -= ids.len();
            if !ids.is_empty() {
                pipe.add_command(self.read_call(q, &ids));
            }
        }
        if left == limit {
            return Ok(Vec::new());
        }
        let mut jobs = Vec::new();
        for reply in self.run(&pipe).await? {
            for stored in array(reply)? {
                if stored != Value::Nil {
                    jobs.push(job_from_value(&text(&stored)?)?);
                }
            }
        }
        Ok(jobs)
    }
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

    #[test]
    fn event_lines_shorten_repeats_and_read_back_whole() -> Result<()> {
        let line = |job: &str, status: &str, at: u64| {
            event_from_line("default", &format!("{job}|noop|{status}|1|||{at}|"))
        };
        let a = "00000000-0000-4000-8000-00000000000a";
        let b = "00000000-0000-4000-8000-00000000000b";
        let c = "00000000-0000-4000-8000-00000000000c";
        let events = vec![
            line(a, "completed", 5)?,
            line(b, "completed", 5)?,
            line(c, "failed", 5)?,
            line(a, "failed", 5)?,
        ];
        let packed = event_lines(&events);
        assert_eq!(
            packed,
            format!("{a}|noop|completed|1|||5|\n{b}\n{c}|noop|failed|1|||5|\n{a}")
        );
        let read: Vec<Event> = whole_lines(&packed)?
            .iter()
            .map(|l| event_from_line("default", l))
            .collect::<Result<_>>()?;
        assert_eq!(read, events);
        // A bare id needs a line before it.
        assert!(whole_lines(b).is_err());
        assert!(whole_lines("").is_err());
        Ok(())
    }

    #[test]
    fn event_cursors_round_trip() {
        let c = parse_cursor("default=1700000000000-3,gcode=1700000000001-0.4").unwrap();
        assert_eq!(c["default"].entry, StreamPos(1_700_000_000_000, 3));
        assert_eq!(c["gcode"].through, Some(4));
        assert_eq!(
            format_cursor(&c),
            "default=1700000000000-3,gcode=1700000000001-0.4"
        );
        assert!(parse_cursor("12").is_err());
        assert!(parse_cursor("Bad=1-0").is_err());
        assert!(parse_cursor("default=1-0.x").is_err());
    }

    #[test]
    fn text_survives_hex() {
        assert_eq!(hex("cancel requested"), "63616e63656c20726571756573746564");
        assert_eq!(unhex(&hex("step 3|4\né")).unwrap(), "step 3|4\né");
    }
}
