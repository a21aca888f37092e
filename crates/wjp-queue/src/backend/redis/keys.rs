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
/// Repeats), which an earlier version would read as a job id.
pub(super) const LAYOUT: &str = "6";
/// Earlier layouts this version reads as they are, and marks as its own
/// (see `connection.rs`, `check_layout`).
pub(super) const LAYOUTS_READ: &[&str] = &["2", "3", "4", "5"];
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
        format!("{p}ready_list"),
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
