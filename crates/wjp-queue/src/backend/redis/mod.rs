//! The Redis backend: the same state machine, shared by processes on many
//! machines.
//!
//! # Files
//! This file holds the shared state and the [`Backend`] impl, each method
//! a call into the file that does the work:
//!
//! | file            | what                                                      |
//! |-----------------|-----------------------------------------------------------|
//! | `connection.rs` | URLs, connecting, version check, retries and reconnects   |
//! | `library.rs`    | the function library: assembled, named, (re)loaded, called |
//! | `lua/`          | one function per operation, and `common.lua`              |
//! | `keys.rs`       | key names under the queue's hash tag                      |
//! | `record.rs`     | a job's record: header fields (defined once), parse, build |
//! | `body.rs`       | a job's body, the compact JSON after the header           |
//! | `reply.rs`      | replies read as Rust values                               |
//! | `insert.rs`     | enqueue: ids stored elsewhere, quotas, the writes         |
//! | `quotas.rs`     | waiting quotas: refusals, the check of a large batch      |
//! | `claim.rs`      | claims, and what they note that lets ends go to `finish`  |
//! | `apply.rs`      | transitions: `apply.lua`, and `finish.lua` for ends       |
//! | `leases.rs`     | renewals, progress, cancel requests                       |
//! | `reads.rs`      | reading and listing jobs; what the reaper looks at        |
//! | `events.rs`     | event streams, packed lines, cursors                      |
//! | `waits.rs`      | blocking reads on their own connection, waiters           |
//! | `upkeep.rs`     | the sweep, purges, counts, worker records                 |
//! | `schedules.rs`  | schedules: one global hash, a guarded advance             |
//! | `stock.rs`      | stock pools: two global hashes, guarded `EVAL`s           |
//! | `link.rs`       | one server or a cluster; pipelines cut by slot            |
//! | `cluster_waits.rs` | waits on a cluster: one follower per stream            |
//! | `admin.rs`      | a throwaway queue deleted whole; memory used              |
//! | `deps.rs`       | dependants: links, first states, delivery of parents' ends |
//! | `audit.rs`      | the audit log: lines sent with each call, reads, trims    |
//!
//! # Key layout
//! Every key of a queue shares the queue's hash tag, so a queue lives in one
//! Redis Cluster slot and every script touches one slot only:
//!
//! | key                       | type   | what                                        |
//! |---------------------------|--------|---------------------------------------------|
//! | `wjp:{q}:job:<id>`        | string | one job's record (below) when not packed; ended ones expire |
//! | `wjp:{q}:r:<xx>`          | hash   | packed records: id -> record, for ids ending in `xx` (below) |
//! | `wjp:{q}:leases`          | hash   | running jobs: id -> lease entry             |
//! | `wjp:{q}:ready_list`      | list   | queued jobs that came in claim and list-score order: their ids; listed from it |
//! | `wjp:{q}:ready_late`      | list   | queued jobs that came in claim order only: their ids |
//! | `wjp:{q}:ready`           | zset   | the other queued jobs, `<ready key>\|<id>`, all scored 0 |
//! | `wjp:{q}:scheduled`       | zset   | scheduled jobs by run-at                    |
//! | `wjp:{q}:all`             | zset   | waiting jobs but those of `ready_list`, by list score (listing) |
//! | `wjp:{q}:completed` ...   | zset   | ended jobs by list score, one per status (listing too) |
//! | `wjp:{q}:expiry`          | zset   | ended jobs by expiry time (for the sweep)   |
//! | `wjp:{q}:events`          | stream | events, capped by count and aged out        |
//! | `wjp:{q}:wake`            | stream | "jobs became ready" signals, capped at ~100 |
//! | `wjp:{q}:seq`             | string | enqueue sequence                            |
//! | `wjp:{q}:waiting_bytes`   | string | payload bytes of the waiting jobs (Quotas)  |
//! | `wjp:{q}:waiting_bytes:recounted` | string | when they were last summed again; expires |
//! | `wjp:{q}:paused`          | string | present while the queue is paused (`pause.lua`) |
//! | `wjp:{q}:limits`          | hash   | running and rate limits, the rate window (`limits.lua`) |
//! | `wjp:{q}:group:<name>`    | zset   | a fairness group's queued jobs, as `ready` (common.lua) |
//! | `wjp:{q}:groups`          | zset   | groups with queued jobs by their last turn  |
//! | `wjp:{q}:group_state`     | hash   | last turn, the ungrouped jobs' turn, jobs in groups' indexes |
//! | `wjp:{q}:group_running`   | hash   | running jobs per group (`per_group` limit)  |
//! | `wjp:{q}:pending`         | hash   | waiting jobs: id -> parents still to end (`deps.rs`) |
//! | `wjp:{q}:dependants`      | hash   | parents some job waits for: id -> '1'       |
//! | `wjp:{q}:dependants:<id>` | set    | a parent's dependants, `<queue>/<id>`       |
//! | `wjp:{q}:outbox`          | hash   | ended parents to tell: id -> `<status>\|<ms>` |
//! | `wjp:{q}:audit`           | stream | the audit log, one entry per call; trimmed by maintenance (`audit.rs`) |
//! | `wjp:queues`              | set    | names of queues that ever had a job         |
//! | `wjp:layout`              | string | the layout of these keys (`8`); see below   |
//! | `wjp:worker:<name>`       | string | worker record, expires                      |
//! | `wjp:workers`             | zset   | worker names by expiry                      |
//! | `wjp:schedules`           | hash   | schedules: name -> `<next_run>\n<JSON>`     |
//! | `wjp:stock:{p}:items`     | hash   | stock pool `p`: id -> body (`stock.rs`)     |
//! | `wjp:stock:{p}:holds`     | hash   | id -> `<held until>\n<holder>`              |
//!
//! A job is one string, its record: a header of `|`-separated fields that
//! scripts read and write (status as one letter, lease token, attempt,
//! kind, error kind, enqueue sequence, list score, and a waiting job's
//! ready key, left out when it is the plain one, or an ended job's
//! expiry), a newline, and the job's body: the job as the state
//! machine last wrote it, in a compact JSON form of its own (`body.rs`),
//! which scripts store and pass on but never parse. A body leaves out what
//! the key says (id, queue), what the header says (kind, creation time, an
//! ended job's status and expiry) and what a fresh job holds anyway;
//! readers get the key as the last field of the header. A ready key is the
//! claim order in 21 base-64 digits (priority, run-at, sequence:
//! `record.rs`), so that a member of `ready` with a generated id (22
//! letters and digits, `JobId::random`) fits Redis's 48-byte allocation.
//! An entry of `ready_list` or `ready_late` is the id alone (about 24
//! bytes where the member took 46): the ready key is in the job's header,
//! and a claim reads it (from the record's start, never the body) only
//! where it merges a list with the set or the other list, and an enqueue
//! only for each list's tail (common.lua, Ready jobs).
//!
//! Records: a record without an expiry (a waiting or running job's) of at
//! most 64 bytes is packed: a field, named by the id, of the hash
//! `wjp:{q}:r:<the id's last two characters>`, which Redis stores as one
//! compact listpack while it holds at most 128 such fields (its default
//! `hash-max-listpack-entries` and `-value`); any other record is a key
//! of its own (`common.lua`, `records`). Generated ids made in a row
//! share their last two characters (`JobId::random`, 16 at a time), so the
//! jobs a claim takes, and those a completion call ends, mostly come in
//! runs that share a hash, and a script reads or deletes a run's records
//! with one command (`records.by_runs`), not one per job. A claim looks
//! first where its queue's last claimed record was, and the claiming
//! process notes whether a record was short enough to be packed, so that
//! a queue whose records never are (a shop's payloads name files) pays
//! for neither look nor delete. A waiting no-op job's record fits: its
//! status is one letter and its ready key, when it is the plain one
//! (default priority, due at its creation), is left out and made again
//! from its list score and sequence when read. A queued no-op job then
//! holds about 200 bytes of Redis memory: its record (about 100 in its
//! hash), its `ready_list` entry (about 24), its lines in the audit stream
//! (about 33) and in the event stream (about 25); see BENCHMARKS.md. A
//! job whose record is larger (a shop's payload names files) keeps a key
//! of its own, about 100 bytes more. Jobs that arrive
//! in claim order and in list-score order wait in `ready_list`, which
//! listings read (no `all` entry); those that arrive in claim order only
//! in `ready_late`, with an `all` entry (about 130 more); the others in
//! `ready` (common.lua, Ready jobs).
//!
//! `wjp:layout` says which layout the keys are in. Layout 2 changed the
//! ready key (37 decimal digits before): a server whose queues hold
//! waiting jobs of the earlier layout is refused at connection, with the
//! queues named, rather than have their ready members dropped as stale;
//! running and ended jobs of the earlier layout are read and ended as
//! they are, and so are bodies that still hold their id and queue. Layout
//! 3 left the kind, creation time, an ended job's status and expiry, and a
//! completed job's progress of 1 out of bodies (`body.rs`), and submission
//! lines of the audit log leave out their outcome. Layout 4 writes an
//! audit line that repeats the one before it but for the job as the job's
//! id alone (`audit.rs`). Layout 5 lists a job of `ready_list` from the
//! list, without an `all` entry, and keeps jobs that came in claim order
//! but not in list-score order in `ready_late` (common.lua, Ready jobs).
//! Layout 6 writes an audit line as a repeat of the line before it, of
//! all of it or of its start (`audit.rs`). Layout 7 keeps the job's id
//! alone in `ready_list` and `ready_late`. Layout 8 packs records into
//! hashes, writes statuses as letters and leaves plain ready keys out
//! (above); records of layout 7 and before, keys of their own with
//! statuses as words, are read as they are, and packed when next written.
//! This version reads layouts 2 to 7 as they are (a list job of layout 4 has an `all` entry: listings
//! leave it to `all`; audit lines of layout 5 are whole or repeat all of
//! the line before, which this version reads) but for their lists, whose
//! entries `<ready key>|<id>` it rewrites to ids (`lua/relist.lua`, one
//! call per queue, each list rewritten whole in its order) before it
//! marks the server as layout 8 when it connects, after which a
//! version of an earlier layout, which could not read what this one
//! writes, refuses it (see `keys.rs`, `LAYOUT`, for why a rewrite rather
//! than reading both forms). Stop every process of the earlier version (workers
//! and API) before starting this one: this one refuses to mark the server
//! while earlier workers run (their worker records name their layout, or
//! none before layout 3), but an API process of an earlier version that
//! connected before the mark is not told: it would count and cancel queued
//! jobs without looking at `ready_list` (layout 3) or `ready_late`
//! (layout 4), list no job of `ready_list` (layout 4), and push entries
//! of the earlier form into the lists and drop this one's as stale
//! (layouts 4 to 6). The completion path
//! writes its records with one `MSET` and no TTL (a `SET` with `PXAT` per
//! job was a tenth of a drained job's Redis time): readers in Lua treat an
//! ended record past its expiry as gone, by the server's clock, and the
//! sweep deletes it. Other writes of an ended record give it a TTL too. In
//! Redis's Lua every byte a script receives or makes costs (each string is
//! interned on arrival, hashed in full), so scripts that
//! need a header read only the start of the record (`GETRANGE`), and bodies
//! are kept small. A claim returns the records it took: a second round trip
//! to fetch the bodies cost each claim more time than Redis spends passing
//! them (see BENCHMARKS.md). The header's fields are listed once, in
//! `record.rs`, which also generates the Lua constants that name them.
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
//! Every change is one call of a Lua function (the files in `lua/`, loaded
//! with `common.lua` as one function library, see `library.rs`): check the
//! guard, write the job, move the id
//! between indexes, append the events. Batches (insert, claim, apply) are
//! one script call per queue and up to 500 jobs, sent in one pipeline;
//! inside a call, index changes go out as one `ZADD`/`ZREM`/`RPUSH` per
//! index (a queued job taken out of the ready list one `LREM` each) and
//! the events as one stream entry, because each `redis.call` costs about as
//! much as the work it does.
//!
//! # Quotas
//! An enqueue is checked against the queue's waiting limits (`Quotas`) in
//! the call that writes it (`insert.lua`): the waiting jobs are the sizes
//! of `ready_list`, `ready_late`, `ready`, `scheduled`, `pending` and the groups' indexes
//! (exact), and their payload bytes are
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
//! sum: hand edits, or processes of another version sharing the server
//! during an upgrade.
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

mod admin;
mod apply;
mod audit;
mod body;
mod claim;
mod cluster_waits;
mod connection;
mod deps;
mod events;
mod insert;
mod keys;
mod leases;
mod library;
mod link;
mod quotas;
mod reads;
mod record;
mod reply;
mod schedules;
mod stock;
mod upkeep;
mod waits;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use redis::{Cmd, Value};
use tokio::sync::watch;

pub use self::connection::{redact_url, redis_url};
use self::keys::QUEUES_KEY;
use self::library::Functions;
use self::link::Link;
use self::reply::{array, text};
use self::waits::{Interest, Signals};
use super::{
    Backend, BackendInfo, ClaimRequest, Inserted, JobPage, JobQuery, LeaseRef, LeaseState,
    ProgressUpdate, QueueCounts, WorkerRecord,
};
use crate::audit::{AuditPage, AuditQuery, AuditRetention};
use crate::catalog::Quotas;
use crate::error::Result;
use crate::event::Event;
use crate::job::{Job, JobId, QueueName, Status, Timestamp};
use crate::limits::QueueLimits;
use crate::schedule::Schedule;
use crate::state::Transition;

/// Events kept per queue, approximately. An entry holds the events of one
/// script call (one for a lone change, up to a batch, 500, for batched
/// ones); each call trims the stream to as many entries as would hold this
/// many events of its own size (`publish` in `common.lua`; `MAXLEN ~`
/// trims whole nodes of the stream, so a few more stay).
const EVENTS_KEPT: u64 = 20_000;
/// Events older than this are trimmed by maintenance.
const EVENTS_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// Jobs per script call: bounds how long one script blocks the server.
const SCRIPT_BATCH: usize = 500;
/// Index entries one listing call looks at, at most.
const LIST_SCAN: usize = 5_000;
/// How long the list of known queues is trusted before it is read again.
const QUEUES_TTL: Duration = Duration::from_secs(1);

/// The names of the queues that ever had a job, as last read.
struct KnownQueues {
    names: Vec<String>,
    read_at: Option<Instant>,
}

struct Shared {
    link: Link,
    location: String,
    /// The server's version and settings, read when the connection was made
    /// (empty for a backend that connected later by itself).
    details: std::sync::OnceLock<serde_json::Map<String, serde_json::Value>>,
    functions: Functions,
    queues: Mutex<KnownQueues>,
    signals: Mutex<Option<watch::Receiver<Signals>>>,
    interest: Arc<Interest>,
    /// Per job this process claimed and has not ended: its lease token and
    /// what `finish.lua` needs of the claimed record (`claim::Noted`), so
    /// that it can be sent the job's whole ended record and need not read
    /// the stored one. Only a hint: a job without one (claimed elsewhere,
    /// or the map was cleared) ends through `apply.lua`, which reads its
    /// header.
    noted: Mutex<HashMap<JobId, (u64, claim::Noted)>>,
}

/// The Redis backend. Cheap to clone.
#[derive(Clone)]
pub struct RedisBackend {
    shared: Arc<Shared>,
}

impl RedisBackend {
    /// The backend over a link (made or not yet); `location` names it
    /// without passwords.
    fn build(link: Link, location: String) -> Self {
        RedisBackend {
            shared: Arc::new(Shared {
                link,
                location,
                details: std::sync::OnceLock::new(),
                functions: Functions::new(),
                queues: Mutex::new(KnownQueues {
                    names: Vec::new(),
                    read_at: None,
                }),
                signals: Mutex::new(None),
                interest: Arc::default(),
                noted: Mutex::new(HashMap::new()),
            }),
        }
    }

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

    /// Adds queues to the known ones without reading them again.
    fn note_queues<'a>(&self, queues: impl IntoIterator<Item = &'a str>) {
        let mut known = self.shared.queues.lock().unwrap_or_else(|p| p.into_inner());
        for q in queues {
            if let Err(i) = known.names.binary_search_by(|n| n.as_str().cmp(q)) {
                known.names.insert(i, q.to_owned());
            }
        }
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
        self.insert_jobs(jobs, &Quotas::unlimited(), &[]).await
    }

    async fn insert_within(&self, jobs: Vec<Job>, quotas: &Quotas) -> Result<Vec<Inserted>> {
        self.insert_jobs(jobs, quotas, &[]).await
    }

    async fn insert_recorded(
        &self,
        jobs: Vec<Job>,
        quotas: &Quotas,
        origins: Vec<String>,
    ) -> Result<Vec<Inserted>> {
        self.insert_jobs(jobs, quotas, &origins).await
    }

    async fn audit_entries(&self, query: &AuditQuery) -> Result<AuditPage> {
        self.audit_page(query).await
    }

    async fn trim_audit(&self, now: Timestamp, retention: &AuditRetention) -> Result<u64> {
        self.trim_audit_streams(now, retention).await
    }

    async fn forget_audit(&self, queue: &QueueName) -> Result<()> {
        self.forget_audit_stream(queue).await
    }

    async fn get(&self, id: &JobId) -> Result<Option<Job>> {
        self.get_job(id).await
    }

    async fn list(&self, query: &JobQuery) -> Result<JobPage> {
        self.list_jobs(query).await
    }

    async fn claim(&self, request: &ClaimRequest) -> Result<Vec<Job>> {
        self.claim_jobs(request).await
    }

    async fn apply(&self, transitions: Vec<Transition>) -> Result<Vec<bool>> {
        self.apply_transitions(transitions).await
    }

    async fn renew_leases(&self, leases: &[LeaseRef], until: Timestamp) -> Result<Vec<LeaseState>> {
        self.renew(leases, until).await
    }

    async fn set_progress(&self, updates: Vec<ProgressUpdate>) -> Result<()> {
        self.progress(updates).await
    }

    async fn request_cancel(&self, id: &JobId) -> Result<bool> {
        self.cancel(id).await
    }

    async fn expired_leases(&self, now: Timestamp, limit: usize) -> Result<Vec<Job>> {
        self.jobs_with_expired_leases(now, limit).await
    }

    async fn due_scheduled(&self, now: Timestamp, limit: usize) -> Result<Vec<Job>> {
        self.due_jobs(now, limit).await
    }

    async fn settle_dependants(&self, now: Timestamp) -> Result<u64> {
        self.settle_all(now).await
    }

    async fn delete_expired(&self, now: Timestamp) -> Result<u64> {
        self.sweep(now).await
    }

    /// Index sizes: ended jobs whose record expired count until the next
    /// maintenance pass (every second in a running worker) sweeps them.
    async fn counts(&self, queues: &[QueueName]) -> Result<Vec<QueueCounts>> {
        self.queue_counts(queues).await
    }

    async fn set_paused(&self, queue: &QueueName, paused: bool) -> Result<bool> {
        self.pause_queue(queue, paused).await
    }

    async fn put_schedule(&self, schedule: &Schedule) -> Result<bool> {
        self.put_schedule_entry(schedule).await
    }

    async fn remove_schedule(&self, name: &str) -> Result<bool> {
        self.remove_schedule_entry(name).await
    }

    async fn schedules(&self) -> Result<Vec<Schedule>> {
        self.schedule_entries().await
    }

    async fn advance_schedule(&self, schedule: &Schedule, expect_next: Timestamp) -> Result<bool> {
        self.advance_schedule_entry(schedule, expect_next).await
    }

    async fn stock_add(&self, pool: &str, id: &str, body: &str, max_items: usize) -> Result<bool> {
        self.add_stock(pool, id, body, max_items).await
    }

    async fn stock_items(&self, pool: &str) -> Result<Vec<crate::stock::StockItem>> {
        self.stock_of(pool).await
    }

    async fn stock_take(
        &self,
        pool: &str,
        ids: &[String],
        holder: &str,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<Vec<String>> {
        self.take_stock(pool, ids, holder, until, now).await
    }

    async fn stock_settle(
        &self,
        pool: &str,
        holder: &str,
        used: &[String],
        released: &[String],
    ) -> Result<()> {
        self.settle_stock(pool, holder, used, released).await
    }

    async fn stock_remove(&self, pool: &str, id: &str) -> Result<bool> {
        self.remove_stock(pool, id).await
    }

    async fn set_limits(&self, queue: &QueueName, limits: QueueLimits) -> Result<()> {
        self.put_limits(queue, limits).await
    }

    async fn purge(&self, queue: &QueueName, status: Status) -> Result<u64> {
        self.purge_jobs(queue, status).await
    }

    async fn register_worker(&self, worker: &WorkerRecord) -> Result<()> {
        self.put_worker(worker).await
    }

    async fn remove_worker(&self, name: &str) -> Result<()> {
        self.delete_worker(name).await
    }

    async fn workers(&self, now: Timestamp) -> Result<Vec<WorkerRecord>> {
        self.live_workers(now).await
    }

    async fn events_after(&self, cursor: Option<&str>, limit: usize) -> Result<Vec<Event>> {
        self.events_after(cursor, limit).await
    }

    async fn last_event_id(&self) -> Result<Option<String>> {
        self.last_event_id().await
    }

    async fn wait_for_jobs(
        &self,
        queues: &[QueueName],
        claimed_at: Instant,
        max_wait: Duration,
    ) -> Result<()> {
        self.wait_for_jobs(queues, claimed_at, max_wait).await
    }

    async fn wait_for_events(&self, cursor: Option<&str>, max_wait: Duration) -> Result<()> {
        self.wait_for_events(cursor, max_wait).await
    }
}
