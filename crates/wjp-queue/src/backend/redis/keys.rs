//! Key names. Every key of a queue starts with `wjp:{queue}:`: the queue's
//! hash tag puts them in one Redis Cluster slot, so every script touches
//! one slot only (the table of keys is in the module's doc).

/// The start of every key of a queue: `wjp:{queue}:`, the queue's hash tag.
pub(super) fn key_prefix(queue: &str) -> String {
    format!("wjp:{{{queue}}}:")
}

/// A job's record.
pub(super) fn job_key(queue: &str, id: &str) -> String {
    format!("wjp:{{{queue}}}:job:{id}")
}

/// A queue's event stream.
pub(super) fn events_key(queue: &str) -> String {
    format!("wjp:{{{queue}}}:events")
}

/// A queue's audit log (`audit.rs`).
pub(super) fn audit_key(queue: &str) -> String {
    format!("wjp:{{{queue}}}:audit")
}

/// A queue's stream of "jobs became ready" signals.
pub(super) fn wake_key(queue: &str) -> String {
    format!("wjp:{{{queue}}}:wake")
}

/// A queue's ready list (common.lua, Ready jobs); scripts get it as
/// `index_keys`' last.
pub(super) fn ready_list_key(queue: &str) -> String {
    format!("wjp:{{{queue}}}:ready_list")
}

/// A queue's late list: queued jobs that came in claim order but not in
/// list-score order, listed by `all` (common.lua, Ready jobs). Scripts
/// name it from the queue's prefix, as they name the group keys.
pub(super) fn ready_late_key(queue: &str) -> String {
    format!("wjp:{{{queue}}}:ready_late")
}

/// A queue's fairness groups' turn counters and the number of queued jobs
/// in its groups' indexes (common.lua, Fairness groups).
pub(super) fn group_state_key(queue: &str) -> String {
    format!("wjp:{{{queue}}}:group_state")
}

/// The names of the queues that ever had a job.
pub(super) const QUEUES_KEY: &str = "wjp:queues";
/// The layout of wjp's keys this server holds (see `connection.rs`,
/// `check_layout`).
pub(super) const LAYOUT_KEY: &str = "wjp:layout";
/// The layout this version writes: 2 since ready keys are base-64 digits
/// (`record.rs`, `READY_KEY_WIDTHS`; none was written before), 3 since
/// bodies leave their kind, creation time and an ended job's expiry to the
/// header (`body.rs`), which an earlier version cannot read; 4 since queued
/// jobs of the default priority wait in `ready_list` (`common.lua`, Ready
/// jobs), which an earlier version would neither claim, count nor cancel,
/// and audit lines that repeat the line before them but for the job are
/// its id alone (`audit.rs`, Repeats), which it cannot read; 5 since a
/// job of `ready_list` has no entry in `all` (an earlier version would
/// not list it) and jobs wait in `ready_late` too (it would not claim
/// them); 6 since an audit line repeats the line before it, not the
/// nearest whole one, and may repeat only its start (`audit.rs`,
/// Repeats), which an earlier version would read as a job id; 7 since an
/// entry of `ready_list` or `ready_late` is the job's id alone (about 24
/// bytes of Redis memory where `<ready key>|<id>` took 46), its ready key
/// read from its record where a merge needs it (`common.lua`, Ready
/// jobs), which an earlier version would take for a member and drop as
/// stale; 8 since records without an expiry of at most 64 bytes are
/// fields of the queue's record hashes (`common.lua`, `records`), their
/// status a letter and a plain ready key left out (`record.rs`,
/// `STATUS_CODES`), which an earlier version would not find or not read.
/// Records of layout 7 need no rewrite: they are keys of their own, which
/// this version reads, with statuses as words, which it reads too.
///
/// The lists of layouts 4 to 6 are rewritten in place when this version
/// marks the server (`lua/relist.lua`, one call per queue, each list in
/// one step), rather than read in both forms: every later read and write
/// of a list then meets one form, and the common paths (an enqueue at the
/// tail, a claim from the head) pay no test for the other. This relies on
/// what every layout change already asks: no process of the earlier
/// version runs once the server is marked (workers are refused while
/// they run; an API process is not told, and would push entries of the
/// old form).
pub(super) const LAYOUT: &str = "8";
/// Earlier layouts this version reads (their ready lists rewritten, see
/// [`LAYOUT`]), and marks as its own (see `connection.rs`,
/// `check_layout`).
pub(super) const LAYOUTS_READ: &[&str] = &["2", "3", "4", "5", "6", "7"];
/// The layouts of [`LAYOUTS_READ`] whose ready lists may hold entries
/// `<ready key>|<id>`, which `lua/relist.lua` rewrites.
pub(super) const LAYOUTS_RELISTED: &[&str] = &["4", "5", "6"];
/// Worker names by the expiry of their records.
pub(super) const WORKERS_KEY: &str = "wjp:workers";

/// A worker's record.
pub(super) fn worker_key(name: &str) -> String {
    format!("wjp:worker:{name}")
}

/// The keys of a queue every script gets as KEYS[1..20], in `common.lua`'s order.
pub(super) fn index_keys(queue: &str) -> [String; QUEUE_KEYS] {
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
        format!("{p}paused"),
        format!("{p}unique"),
        format!("{p}limits"),
        format!("{p}pending"),
        format!("{p}dependants"),
        format!("{p}outbox"),
        format!("{p}audit"),
        ready_list_key(queue),
    ]
}

/// The set of a parent's dependants (`<queue>/<id>` each), beside its
/// queue's `dependants` hash.
pub(super) fn dependants_key(queue: &str, parent: &str) -> String {
    format!("wjp:{{{queue}}}:dependants:{parent}")
}

/// How many keys of a queue every script gets before its job keys (the
/// Lua's `JOB_KEYS` is generated from it).
pub(super) const QUEUE_KEYS: usize = 20;
