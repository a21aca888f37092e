//! A job's record: the one string Redis stores per job, a header of
//! `|`-separated fields that scripts read and write, a newline, and the
//! job's body (`body.rs`), which scripts store and pass on but never parse.
//!
//! The header's fields, a lease entry's fields and the per-job arguments
//! of the scripts that take several are each defined once, here, as a list
//! in order ([`Header`], [`Lease`], [`ApplyArg`], [`FinishArg`],
//! [`InsertArg`]). The Rust side reads and writes them by those lists, and
//! the Lua side by constants generated from them ([`lua_prelude`], put
//! before `common.lua` when the library is assembled). They are generated
//! at run time, when the library text is put together, rather than by a
//! build script: the library is assembled once per backend anyway, the
//! constants come from the very lists this file reads records with, and
//! there is no second build step to keep in step with the crate.

use std::fmt::Write;
use std::time::Duration;

use super::body::{self, FromHeader, Identity};
use super::reply::{corrupt, note_of, unhex};
use crate::error::Result;
use crate::job::{Job, LeaseToken, Status, Timestamp};
use crate::state;

/// Declares a list of fields in order: an enum whose variants are the
/// fields (a field's position is its discriminant) and the Lua constant
/// that names each position.
macro_rules! field_list {
    (
        $(#[$meta:meta])*
        $name:ident, count $count:literal {
            $($(#[$doc:meta])* $field:ident = $lua:literal,)*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub(super) enum $name {
            $($(#[$doc])* $field,)*
        }

        impl FieldList for $name {
            const ALL: &'static [Self] = &[$($name::$field),*];
            const LUA_NAMES: &'static [&'static str] = &[$($lua),*];
            const LUA_COUNT: &'static str = $count;

            fn index(self) -> usize {
                self as usize
            }
        }
    };
}

/// A list of fields in order, as declared by `field_list!`.
pub(super) trait FieldList: Copy + Sized + std::fmt::Debug + 'static {
    /// Every field, in order.
    const ALL: &'static [Self];
    /// The Lua constant naming each field's position (from 1), in order.
    const LUA_NAMES: &'static [&'static str];
    /// The Lua constant holding how many fields there are.
    const LUA_COUNT: &'static str;

    /// The field's position, from 0.
    fn index(self) -> usize;
}

field_list! {
    /// The fields of a job's header, in order. A record stores the first
    /// [`STORED`]; the header a reader gets of a running job (`view` in
    /// `common.lua`) adds the rest from its lease entry.
    Header, count "FIELDS" {
        /// The job's status as stored: a running job's record keeps the
        /// status it had before the claim; readers see `running`.
        Status = "F_STATUS",
        /// The lease token ('' for none).
        Token = "F_TOKEN",
        /// The attempt.
        Attempt = "F_ATTEMPT",
        /// The job's kind.
        Kind = "F_KIND",
        /// The last error's kind ('' for none).
        ErrorKind = "F_ERROR",
        /// The enqueue sequence.
        Sequence = "F_SEQ",
        /// The list score (see [`list_score`]).
        ListScore = "F_LS",
        /// A waiting job's ready key, an ended job's expiry (ms). Last:
        /// scripts find the expiry at the header's end.
        ReadyKeyOrExpiry = "F_RK",
        /// From here on only in a reader's header: the worker (hex).
        Worker = "F_WORKER",
        /// The lease's length (ms).
        Lease = "F_LEASE",
        /// When the job was claimed (ms).
        ClaimedAt = "F_CLAIMED",
        /// When the lease ends (ms).
        LeaseUntil = "F_UNTIL",
        /// Progress ('' for none).
        Progress = "F_PROGRESS",
        /// The progress message and detail (`reply::note_hex`, '' for none).
        Message = "F_MESSAGE",
        /// '1' when a cancel was requested.
        CancelRequested = "F_CANCEL",
        /// The job's key, which names its queue and id (bodies leave them
        /// out, see `body.rs`).
        Key = "F_KEY",
    }
}

/// How many of the header's fields a record stores (through
/// [`Header::ReadyKeyOrExpiry`]); Lua's `STORED`.
pub(super) const STORED: usize = Header::ReadyKeyOrExpiry as usize + 1;

/// The longest record packed into a record hash (see `mod.rs`, Records):
/// Redis's default `hash-max-listpack-value`, the longest value a hash
/// keeps in its compact encoding. Lua's `PACKED_MAX`.
pub(super) const PACKED_MAX: usize = 64;

/// The letter a stored header writes for each status a record is stored
/// in (a running job's record keeps the status it waited in). A waiting
/// no-op job's record fits the 64 bytes Redis packs into a hash's compact
/// encoding with a letter (see `mod.rs`, Records), not with the word;
/// headers written before, with the word, are read as well. Readers get
/// the word (`parse` in `common.lua` gives it).
const STATUS_CODES: [(Status, &str); 6] = [
    (Status::Waiting, "w"),
    (Status::Scheduled, "s"),
    (Status::Queued, "q"),
    (Status::Completed, "c"),
    (Status::Failed, "f"),
    (Status::Cancelled, "x"),
];

/// The stored form of the status named `name` (a status word): its
/// letter, or the word itself for a status that has none.
fn status_code(name: &str) -> &str {
    STATUS_CODES
        .iter()
        .find(|(status, _)| status.as_str() == name)
        .map_or(name, |(_, code)| code)
}

/// The status a stored header's first field names, by its letter or its
/// word.
fn stored_status(text: &str) -> Option<Status> {
    STATUS_CODES
        .iter()
        .find(|(_, code)| *code == text)
        .map(|(status, _)| *status)
        .or_else(|| text.parse().ok())
}

field_list! {
    /// The fields of a running job's entry in its queue's lease hash, in
    /// order.
    Lease, count "LEASE_FIELDS" {
        /// The lease token.
        Token = "L_TOKEN",
        /// The attempt the claim started.
        Attempt = "L_ATTEMPT",
        /// The worker (hex).
        Worker = "L_WORKER",
        /// The lease's length (ms).
        Length = "L_LEASE",
        /// When the job was claimed (ms).
        ClaimedAt = "L_CLAIMED",
        /// When the lease ends (ms).
        Until = "L_UNTIL",
        /// Progress ('' for none).
        Progress = "L_PROGRESS",
        /// The progress message and detail (`reply::note_hex`, '' for none).
        Message = "L_MESSAGE",
        /// '1' when a cancel was requested, else ''.
        CancelRequested = "L_CANCEL",
        /// The job's kind.
        Kind = "L_KIND",
    }
}

field_list! {
    /// The arguments of one transition for `apply.lua`, in order.
    ApplyArg, count "APPLY_ARGS" {
        /// The job's id.
        Id = "APPLY_ID",
        /// The status the job must be in.
        ExpectStatus = "APPLY_EXPECT_STATUS",
        /// The lease token it must hold ('' for none).
        ExpectToken = "APPLY_EXPECT_TOKEN",
        /// The new status.
        Status = "APPLY_STATUS",
        /// The new lease token ('' for none).
        Token = "APPLY_TOKEN",
        /// The new body.
        Body = "APPLY_BODY",
        /// The attempt.
        Attempt = "APPLY_ATTEMPT",
        /// The error's kind ('' for none).
        ErrorKind = "APPLY_ERROR",
        /// A waiting job's priority, else ''.
        Priority = "APPLY_PRIORITY",
        /// A waiting job's run-at, else ''.
        RunAt = "APPLY_RUN_AT",
        /// An ended job's expiry (ms).
        ExpiresAt = "APPLY_EXPIRES_AT",
        /// The event's progress ('' for none).
        Progress = "APPLY_PROGRESS",
        /// The event's message and detail (`reply::note_hex`, '' for none).
        Message = "APPLY_MESSAGE",
        /// The event's time.
        At = "APPLY_AT",
    }
}

field_list! {
    /// The arguments of one job's end for `finish.lua`, in order.
    FinishArg, count "FINISH_ARGS" {
        /// The job's id.
        Id = "FINISH_ID",
        /// The lease token it must hold, followed by `|`.
        ExpectToken = "FINISH_EXPECT",
        /// The whole new record ([`ended_record`]).
        Record = "FINISH_RECORD",
        /// Its expiry (ms).
        ExpiresAt = "FINISH_EXPIRES_AT",
        /// Its list score.
        ListScore = "FINISH_LS",
    }
}

field_list! {
    /// The arguments of one new job for `insert.lua`, in order.
    InsertArg, count "INSERT_ARGS" {
        /// The job's id.
        Id = "INSERT_ID",
        /// Its status (queued or scheduled).
        Status = "INSERT_STATUS",
        /// Its body.
        Body = "INSERT_BODY",
        /// Its priority.
        Priority = "INSERT_PRIORITY",
        /// When it may run (ms).
        RunAt = "INSERT_RUN_AT",
        /// When it was created (ms).
        CreatedAt = "INSERT_CREATED_AT",
        /// Its kind.
        Kind = "INSERT_KIND",
        /// Its unique key ('' for none).
        Unique = "INSERT_UNIQUE",
        /// Until when the key holds once it ended (ms; '' for no window).
        UniqueUntil = "INSERT_UNIQUE_UNTIL",
        /// A waiting job's parents still to end, space-separated ('' for
        /// other jobs).
        Pending = "INSERT_PENDING",
        /// An ended job's expiry (ms; '' for other jobs): a dependant made
        /// after its parent failed is stored cancelled.
        ExpiresAt = "INSERT_EXPIRES_AT",
    }
}

field_list! {
    /// The arguments of one dependant told of its parent's end, for
    /// `settle.lua`, in order.
    SettleArg, count "SETTLE_ARGS" {
        /// The dependant's id.
        Id = "SETTLE_ID",
        /// The parent that ended.
        Parent = "SETTLE_PARENT",
        /// Its entry in the queue's `pending` hash as read (the guard).
        Expect = "SETTLE_EXPECT",
        /// Its new status ('' while it waits for other parents).
        Status = "SETTLE_STATUS",
        /// Its new body ('' while it waits).
        Body = "SETTLE_BODY",
        /// The error's kind ('' for none).
        ErrorKind = "SETTLE_ERROR",
        /// A waiting job's priority, else ''.
        Priority = "SETTLE_PRIORITY",
        /// A waiting job's run-at, else ''.
        RunAt = "SETTLE_RUN_AT",
        /// An ended job's expiry (ms), else ''.
        ExpiresAt = "SETTLE_EXPIRES_AT",
        /// The event's time.
        At = "SETTLE_AT",
    }
}

/// The Lua that names the positions of every list's fields, and the
/// `header` function that joins a record's stored fields in their order.
/// Goes before `common.lua`.
pub(super) fn lua_prelude() -> String {
    let mut lua = String::from(
        "-- Generated from record.rs (`lua_prelude`): positions of fields and\n\
         -- arguments, from 1.\n",
    );
    constants::<Header>(&mut lua);
    let _ = writeln!(
        lua,
        "local STORED = {STORED}\nlocal PACKED_MAX = {PACKED_MAX}"
    );
    // KEYS[JOB_KEYS + i] is the i-th job's key: the queue's keys come first.
    let _ = writeln!(lua, "local JOB_KEYS = {}", super::keys::QUEUE_KEYS);
    let _ = writeln!(
        lua,
        "local READY_KEY_WIDTHS = {{ {}, {}, {} }}\nlocal READY_KEY_LEN = {READY_KEY_LEN}",
        READY_KEY_WIDTHS[0], READY_KEY_WIDTHS[1], READY_KEY_WIDTHS[2]
    );
    constants::<Lease>(&mut lua);
    constants::<ApplyArg>(&mut lua);
    constants::<FinishArg>(&mut lua);
    constants::<InsertArg>(&mut lua);
    constants::<SettleArg>(&mut lua);
    // Status letters both ways (see `STATUS_CODES`), one table: the
    // library's main chunk may hold at most 200 locals.
    let pairs: Vec<(&str, &str)> = STATUS_CODES
        .iter()
        .map(|(status, code)| (status.as_str(), *code))
        .collect();
    let to_code: Vec<String> = pairs.iter().map(|(w, c)| format!("{w} = '{c}'")).collect();
    let to_word: Vec<String> = pairs.iter().map(|(w, c)| format!("{c} = '{w}'")).collect();
    let _ = writeln!(
        lua,
        "local STATUS = {{ code = {{ {} }}, word = {{ {} }} }}",
        to_code.join(", "),
        to_word.join(", ")
    );
    // A fresh stored header, its fields given in order (false or nil
    // for an empty one). Parameters are named after the fields.
    let stored = &Header::LUA_NAMES[..STORED];
    let params: Vec<String> = stored.iter().map(|n| lua_param(n)).collect();
    let joined: Vec<String> = params.iter().map(|p| format!("({p} or '')")).collect();
    let _ = writeln!(
        lua,
        "local function header({})\n  return {}\nend",
        params.join(", "),
        joined.join(" .. '|' .. ")
    );
    lua
}

/// `local A, B = 1, 2` and `local COUNT = 2` for one list.
fn constants<F: FieldList>(lua: &mut String) {
    let positions: Vec<String> = (1..=F::LUA_NAMES.len()).map(|i| i.to_string()).collect();
    let _ = writeln!(
        lua,
        "local {} = {}\nlocal {} = {}",
        F::LUA_NAMES.join(", "),
        positions.join(", "),
        F::LUA_COUNT,
        F::LUA_NAMES.len()
    );
}

/// A field's Lua constant as a parameter name: `F_ERROR` -> `error`.
fn lua_param(name: &str) -> String {
    let field = name.split_once('_').map_or(name, |(_, field)| field);
    field.to_ascii_lowercase()
}

/// Writes the arguments of one job of a script call, in the order of their
/// list. Debug builds (the tests) check that order and that none is left
/// out; release builds only write.
pub(super) struct ArgWriter<'c, F: FieldList> {
    cmd: &'c mut redis::Cmd,
    next: usize,
    _list: std::marker::PhantomData<F>,
}

impl<'c, F: FieldList> ArgWriter<'c, F> {
    /// Starts the arguments of one job.
    pub(super) fn new(cmd: &'c mut redis::Cmd) -> Self {
        ArgWriter {
            cmd,
            next: 0,
            _list: std::marker::PhantomData,
        }
    }

    /// Writes `field`, which must be the next of the list.
    pub(super) fn put<T: redis::ToRedisArgs>(&mut self, field: F, value: T) -> &mut Self {
        debug_assert_eq!(field.index(), self.next, "argument {field:?} out of order");
        self.next += 1;
        self.cmd.arg(value);
        self
    }
}

impl<F: FieldList> Drop for ArgWriter<'_, F> {
    fn drop(&mut self) {
        debug_assert!(
            std::thread::panicking() || self.next == F::ALL.len(),
            "{} of {} arguments written",
            self.next,
            F::ALL.len()
        );
    }
}

/// The stored header of a job that ended in this process's hands, which
/// `finish.lua` stores as given.
pub(super) struct EndedHeader<'a> {
    /// completed, failed or cancelled.
    pub(super) status: &'a str,
    /// The attempt that ended.
    pub(super) attempt: u32,
    /// The job's kind.
    pub(super) kind: &'a str,
    /// The error's kind ('' for none).
    pub(super) error_kind: &'a str,
    /// The enqueue sequence.
    pub(super) sequence: u64,
    /// The list score.
    pub(super) list_score: i64,
    /// When the record expires (ms).
    pub(super) expires_at: i64,
}

/// A whole ended record: `header`, a newline, `body`.
pub(super) fn ended_record(header: &EndedHeader, body: &str) -> String {
    let mut record = String::with_capacity(96 + header.kind.len() + body.len());
    for (i, field) in Header::ALL[..STORED].iter().enumerate() {
        if i > 0 {
            record.push('|');
        }
        // Writing to a String cannot fail.
        let _ = match field {
            Header::Status => write!(record, "{}", status_code(header.status)),
            Header::Attempt => write!(record, "{}", header.attempt),
            Header::Kind => write!(record, "{}", header.kind),
            Header::ErrorKind => write!(record, "{}", header.error_kind),
            Header::Sequence => write!(record, "{}", header.sequence),
            Header::ListScore => write!(record, "{}", header.list_score),
            Header::ReadyKeyOrExpiry => write!(record, "{}", header.expires_at),
            // An ended job holds no lease; the rest is not stored.
            Header::Token
            | Header::Worker
            | Header::Lease
            | Header::ClaimedAt
            | Header::LeaseUntil
            | Header::Progress
            | Header::Message
            | Header::CancelRequested
            | Header::Key => Ok(()),
        };
    }
    record.push('\n');
    record.push_str(body);
    record
}

/// The header and body of a record (the text before its first newline, and
/// the bytes after it), or `None` for a record without a header (or with
/// one that is not text, which no script writes).
pub(super) fn split_record(record: &[u8]) -> Option<(&str, &[u8])> {
    let nl = record.iter().position(|&b| b == b'\n')?;
    let header = std::str::from_utf8(&record[..nl]).ok()?;
    Some((header, &record[nl + 1..]))
}

/// What a body leaves to its header (see `body.rs`), from a stored header
/// or a reader's (their first [`STORED`] fields are the same). A field
/// that is missing or not a number is `None`: the body of a record
/// written before holds it, and `body::decode` says so if neither does.
pub(super) fn from_header(header: &str) -> FromHeader<'_> {
    let mut fields = [""; STORED];
    for (slot, text) in fields.iter_mut().zip(header.split('|')) {
        *slot = text;
    }
    let number = |field: Header| fields[field.index()].parse::<i64>().ok();
    let ended_status = stored_status(fields[Header::Status.index()]).filter(|s| s.is_terminal());
    FromHeader {
        kind: fields[Header::Kind.index()],
        ended_status,
        created_at: number(Header::ListScore).map(|score| score.div_euclid(1000)),
        expires_at: number(Header::ReadyKeyOrExpiry).filter(|_| ended_status.is_some()),
    }
}

/// The fields of a header line as a reader gets it, by [`Header`].
struct HeaderFields<'a>(Vec<&'a str>);

impl<'a> HeaderFields<'a> {
    fn parse(line: &'a str) -> Result<Self> {
        let fields: Vec<&str> = line.split('|').collect();
        if fields.len() != Header::ALL.len() {
            return Err(corrupt(format!("stored job header {line:?}")));
        }
        Ok(HeaderFields(fields))
    }

    fn text(&self, field: Header) -> &'a str {
        self.0[field.index()]
    }

    /// The field's value, `None` when empty.
    fn value<T: std::str::FromStr>(&self, field: Header) -> Result<Option<T>> {
        match self.text(field) {
            "" => Ok(None),
            v => v.parse().map(Some).map_err(|_| {
                corrupt(format!(
                    "job header field {field:?} has an invalid value {v:?}"
                ))
            }),
        }
    }
}

/// Rebuilds a job from a record as readers get it: the header (with a
/// running job's lease merged in, see `view` in `common.lua`), a newline,
/// the body.
pub(super) fn job_from_value(value: &str) -> Result<Job> {
    let (header, body) = value
        .split_once('\n')
        .ok_or_else(|| corrupt("stored job without a header"))?;
    let fields = HeaderFields::parse(header)?;
    let identity = Identity::of_key(fields.text(Header::Key))?;
    let mut job = body::decode(body.as_bytes(), &identity, from_header(header))?;
    let status: Status = fields.text(Header::Status).parse()?;
    if status == Status::Running && job.state.status != Status::Running {
        let worker = unhex(fields.text(Header::Worker))?;
        let lease: u64 = fields.value(Header::Lease)?.unwrap_or(0);
        let at: i64 = fields
            .value(Header::ClaimedAt)?
            .unwrap_or(job.state.run_at.0);
        job = state::claim(&job, &worker, Duration::from_millis(lease), Timestamp(at)).job;
    }
    job.state.status = status;
    job.state.lease_token = fields.value::<u64>(Header::Token)?.map(LeaseToken);
    if let Some(until) = fields.value::<i64>(Header::LeaseUntil)? {
        job.state.lease_expires_at = Some(Timestamp(until));
    }
    if let Some(progress) = fields.value::<f64>(Header::Progress)? {
        job.state.progress = Some(progress);
        (job.state.progress_message, job.state.progress_detail) =
            note_of(fields.text(Header::Message))?;
    }
    if fields.text(Header::CancelRequested) == "1" {
        job.state.cancel_requested = true;
    }
    Ok(job)
}

/// When a lease entry's lease ends, if it says.
pub(super) fn lease_until(entry: &str) -> Option<i64> {
    entry.split('|').nth(Lease::Until.index())?.parse().ok()
}

/// A job's list score: enqueue time in ms, then the sequence's last three
/// digits, so jobs of one millisecond keep their order (as `insert.lua`).
pub(super) fn list_score(created_at: Timestamp, seq: u64) -> i64 {
    created_at.0 * 1000 + (seq % 1000) as i64
}

/// How many base-64 digits a ready key gives the priority (as
/// `2147483647 - priority`, so the highest sorts first), the run-at (ms)
/// and the enqueue sequence (see `ready_key` in `common.lua`). Each covers
/// its range: 2^32 priorities, run-at times past the year 10,000, 4.4
/// trillion jobs per queue.
pub(super) const READY_KEY_WIDTHS: [usize; 3] = [6, 8, 7];

/// The length of a ready key; a member of the ready set is the key, `|`,
/// the job's id (an entry of a ready list is the id alone).
pub(super) const READY_KEY_LEN: usize =
    READY_KEY_WIDTHS[0] + READY_KEY_WIDTHS[1] + READY_KEY_WIDTHS[2];

/// The enqueue sequence in a stored header (or a reader's).
pub(super) fn sequence_in(header: &str) -> Option<u64> {
    header
        .split('|')
        .nth(Header::Sequence.index())?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_gives_kind_creation_time_and_an_ended_job_s_expiry() {
        let ended = from_header("completed||1|noop||6987|1796448457367987|1796452058859");
        assert_eq!(
            ended,
            FromHeader {
                kind: "noop",
                ended_status: Some(Status::Completed),
                created_at: Some(1796448457367),
                expires_at: Some(1796452058859),
            }
        );
        // A waiting job's last field is its ready key, never an expiry; a
        // reader's header of a running job says `running`, which the body
        // does not.
        for header in [
            "queued||0|noop||1|1796447943339001|1ooooo0J94Y3Z[0000001",
            "running|5|1|noop||1|1796447943339001|1ooooo0J94Y3Z[0000001|77|30000|1|2||||wjp:{default}:job:x",
        ] {
            let read = from_header(header);
            assert_eq!(
                (read.kind, read.ended_status, read.expires_at, read.created_at),
                ("noop", None, None, Some(1796447943339))
            );
        }
        assert_eq!(from_header("").created_at, None);
    }

    #[test]
    fn the_prelude_numbers_every_list_from_one() {
        let lua = lua_prelude();
        assert!(lua.contains(
            "local F_STATUS, F_TOKEN, F_ATTEMPT, F_KIND, F_ERROR, F_SEQ, F_LS, F_RK, F_WORKER,"
        ));
        assert!(lua.contains("local FIELDS = 16\nlocal STORED = 8\n"));
        assert!(lua.contains("local LEASE_FIELDS = 10\n"));
        assert!(lua.contains("local APPLY_ARGS = 14\n"));
        assert!(lua
            .contains("local function header(status, token, attempt, kind, error, seq, ls, rk)\n"));
    }

    /// `head_fields` in `common.lua` cuts status, attempt and kind by
    /// counting separators, for speed: it relies on these positions.
    #[test]
    fn the_fields_a_claim_cuts_by_position_stay_put() {
        assert_eq!(
            [Header::Status, Header::Attempt, Header::Kind].map(Header::index),
            [0, 2, 3]
        );
        assert_eq!(STORED, Header::ALL.len() - 8);
    }

    #[test]
    fn a_header_gives_its_sequence() {
        assert_eq!(
            sequence_in("queued||0|noop||1091|1700000000000091|1ooooo0000000000000H3"),
            Some(1091)
        );
        assert_eq!(sequence_in("queued||0|noop||x|1|2"), None);
        assert_eq!(sequence_in("queued"), None);
        assert!(lua_prelude()
            .contains("local READY_KEY_WIDTHS = { 6, 8, 7 }\nlocal READY_KEY_LEN = 21\n"));
    }

    /// `ready.order_of` in `common.lua` reads a ready list's entry's list
    /// score and ready key with one pattern over the record's start: the
    /// two last stored fields, in this order.
    #[test]
    fn the_list_score_and_ready_key_end_the_stored_header() {
        assert_eq!(Header::ReadyKeyOrExpiry.index(), STORED - 1);
        assert_eq!(Header::ListScore.index(), STORED - 2);
    }

    #[test]
    fn a_stored_status_is_read_by_its_letter_or_its_word() {
        for status in Status::ALL {
            let code = status_code(status.as_str());
            if status == Status::Running {
                assert_eq!(code, "running", "a record is never stored running");
                continue;
            }
            assert_eq!(code.len(), 1, "{status}");
            assert_eq!(stored_status(code), Some(status));
            assert_eq!(stored_status(status.as_str()), Some(status));
        }
        assert_eq!(stored_status("r"), None);
        assert_eq!(stored_status(""), None);
        let lua = lua_prelude();
        assert!(lua.contains(
            "local STATUS = { code = { waiting = 'w', scheduled = 's', queued = 'q', completed = 'c', \
             failed = 'f', cancelled = 'x' }, word = { w = 'waiting', s = 'scheduled', q = 'queued', \
             c = 'completed', f = 'failed', x = 'cancelled' } }\n"
        ));
        let ended = from_header("x||1|noop|cancelled|6|1796448457367006|1796452058859");
        assert_eq!(ended.ended_status, Some(Status::Cancelled));
        assert_eq!(ended.expires_at, Some(1796452058859));
        assert_eq!(
            from_header("q||0|noop||6|1796448457367006|").ended_status,
            None
        );
    }

    #[test]
    fn an_ended_record_is_written_in_header_order() {
        let header = EndedHeader {
            status: "completed",
            attempt: 2,
            kind: "noop",
            error_kind: "",
            sequence: 17,
            list_score: 1_700_000_000_000_017,
            expires_at: 1_700_000_360_000,
        };
        let record = ended_record(&header, "{}");
        assert_eq!(record, "c||2|noop||17|1700000000000017|1700000360000\n{}");
    }
}
