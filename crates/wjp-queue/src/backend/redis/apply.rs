//! Changes of jobs: guarded transitions go to `apply.lua`, except ends of
//! jobs this process claimed, which go to `finish.lua` with their whole new
//! record.

use std::collections::{BTreeMap, HashSet};

use super::audit::call_lines;
use super::body;
use super::claim::Noted;
use super::events::event_lines;
use super::library::Call;
use super::record::{ended_record, list_score, ApplyArg, ArgWriter, EndedHeader, FinishArg};
use super::reply::{array, int, note_hex};
use super::{RedisBackend, SCRIPT_BATCH};
use crate::error::Result;
use crate::event::Event;
use crate::job::{LeaseToken, Status, Timestamp};
use crate::state::Transition;

impl RedisBackend {
    /// Applies transitions (see [`Backend::apply`](crate::backend::Backend::apply)).
    pub(super) async fn apply_transitions(
        &self,
        transitions: Vec<Transition>,
    ) -> Result<Vec<bool>> {
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
        let notes: Vec<Option<Noted>> = transitions
            .iter()
            .map(|t| finishes(t).then(|| self.take_noted(t)).flatten())
            .collect();
        let finishing_to = |i: usize| notes[i].map(|_| transitions[i].job.state.status);
        let mut pipe = redis::pipe();
        let mut chunks = Vec::new();
        for (queue, indexes) in &by_queue {
            for chunk in calls_of_queue(&transitions, indexes, finishing_to) {
                let call = match finishing_to(chunk[0]) {
                    Some(status) => {
                        self.finish_call(queue, &transitions, &chunk, &notes, status, now)?
                    }
                    None => self.apply_call(queue, &transitions, &chunk, now)?,
                };
                pipe.add_command(call.cmd);
                chunks.push(chunk);
            }
        }
        let mut out = vec![false; transitions.len()];
        let mut ended_parents = false;
        for (chunk, reply) in chunks.into_iter().zip(self.run(&pipe).await?) {
            let items = array(reply)?;
            // One more item than jobs: the call moved parents to the outbox.
            ended_parents |= items.len() > chunk.len();
            for (i, applied) in chunk.iter().zip(items) {
                out[*i] = int(&applied)? == 1;
            }
        }
        if ended_parents {
            // Their dependants hear of it now; maintenance delivers
            // whatever this misses (the store gone meanwhile).
            if let Err(e) = self.settle_all(now).await {
                tracing::debug!("dependants of ended jobs left to maintenance: {e}");
            }
        }
        Ok(out)
    }

    /// A `finish.lua` call ending the jobs of `chunk`, all to `status`.
    fn finish_call(
        &self,
        queue: &str,
        transitions: &[Transition],
        chunk: &[usize],
        notes: &[Option<Noted>],
        status: Status,
        now: Timestamp,
    ) -> Result<Call> {
        let ids = chunk_ids(transitions, chunk);
        let mut call = Call::new(&self.shared.functions.finish, queue, &ids);
        // The event lines go joined, in one string built once.
        let events: Vec<Event> = chunk
            .iter()
            .map(|&i| Event::of(&transitions[i].job, now))
            .collect();
        // Per job, whether its waiting record may be packed (at most
        // `PACKED_MAX` bytes when claimed): one string for the call, where
        // an argument per job costs Redis an object and a Lua string each.
        // A record that was not is a key of its own, which the new one
        // overwrites: there is no hash field to delete.
        let packed: String = chunk
            .iter()
            .map(|&i| match notes[i] {
                Some(Noted { packed: true, .. }) => '1',
                _ => '0',
            })
            .collect();
        call.arg(status.as_str())
            .arg(event_lines(&events))
            .arg(packed);
        for &i in chunk {
            if let Some(noted) = notes[i] {
                finish_args(&mut call, &transitions[i], noted)?;
            }
        }
        call.arg(audit_lines(transitions, chunk, now));
        Ok(call)
    }

    /// An `apply.lua` call with the transitions of `chunk`.
    fn apply_call(
        &self,
        queue: &str,
        transitions: &[Transition],
        chunk: &[usize],
        now: Timestamp,
    ) -> Result<Call> {
        let ids = chunk_ids(transitions, chunk);
        let mut call = Call::new(&self.shared.functions.apply, queue, &ids);
        for &i in chunk {
            transition_args(&mut call, &transitions[i], now)?;
        }
        call.arg(audit_lines(transitions, chunk, now));
        Ok(call)
    }
}

/// The transitions of one queue (`indexes`, in order) split into script
/// calls. A call changes each job at most once (see common.lua), runs one
/// script and takes at most `SCRIPT_BATCH` jobs: a run of ends to one
/// status goes to `finish.lua`, the rest to `apply.lua`, in their order.
fn calls_of_queue(
    transitions: &[Transition],
    indexes: &[usize],
    finishing_to: impl Fn(usize) -> Option<Status>,
) -> Vec<Vec<usize>> {
    let mut split: Vec<Vec<usize>> = Vec::new();
    let mut seen = HashSet::new();
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
    split
}

/// jobs whose enqueue sequence this process noted at the claim.
fn finishes(t: &Transition) -> bool {
    t.expect.status == Status::Running
        && t.expect.lease_token.is_some()
        && t.job.state.status.is_terminal()
}

/// The arguments of one transition for `apply.lua`, in `ApplyArg`'s order.
fn transition_args(call: &mut Call, t: &Transition, now: Timestamp) -> Result<()> {
    let s = &t.job.state;
    let event = Event::of(&t.job, now);
    // Ordering fields matter only to a waiting job: empty strings are one
    // shared string in Lua, numbers a new one each.
    let waiting = matches!(s.status, Status::Queued | Status::Scheduled);
    let (priority, run_at) = if waiting {
        (t.job.priority.to_string(), s.run_at.0.to_string())
    } else {
        (String::new(), String::new())
    };
    let token = |token: Option<LeaseToken>| token.map(|t| t.0.to_string()).unwrap_or_default();
    ArgWriter::<ApplyArg>::new(&mut call.cmd)
        .put(ApplyArg::Id, t.job.id.as_str())
        .put(ApplyArg::ExpectStatus, t.expect.status.as_str())
        .put(ApplyArg::ExpectToken, token(t.expect.lease_token))
        .put(ApplyArg::Status, s.status.as_str())
        .put(ApplyArg::Token, token(s.lease_token))
        .put(ApplyArg::Body, body::encode(&t.job)?)
        .put(ApplyArg::Attempt, s.attempt)
        .put(
            ApplyArg::ErrorKind,
            s.error.as_ref().map(|e| e.kind.as_str()).unwrap_or(""),
        )
        .put(ApplyArg::Priority, priority)
        .put(ApplyArg::RunAt, run_at)
        .put(ApplyArg::ExpiresAt, s.expires_at.map_or(0, |t| t.0))
        .put(
            ApplyArg::Progress,
            event.progress.map(|p| p.to_string()).unwrap_or_default(),
        )
        .put(
            ApplyArg::Message,
            note_hex(event.message.as_deref(), event.detail.as_ref()),
        )
        .put(ApplyArg::At, now.0);
    Ok(())
}

/// The arguments of one transition for `finish.lua` (see `finishes`), in
/// `FinishArg`'s order: among them the whole ended record, made with the
/// job's enqueue sequence noted at the claim.
fn finish_args(call: &mut Call, t: &Transition, noted: Noted) -> Result<()> {
    let s = &t.job.state;
    let seq = noted.sequence;
    let token = t.expect.lease_token.map_or(0, |t| t.0);
    let header = EndedHeader {
        status: s.status.as_str(),
        attempt: s.attempt,
        kind: t.job.kind.as_str(),
        error_kind: s.error.as_ref().map(|e| e.kind.as_str()).unwrap_or(""),
        sequence: seq,
        list_score: list_score(t.job.created_at, seq),
        expires_at: s.expires_at.map_or(0, |t| t.0),
    };
    let record = ended_record(&header, &body::encode(&t.job)?);
    ArgWriter::<FinishArg>::new(&mut call.cmd)
        .put(FinishArg::Id, t.job.id.as_str())
        .put(FinishArg::ExpectToken, format!("{token}|"))
        .put(FinishArg::Record, record)
        .put(FinishArg::ExpiresAt, header.expires_at)
        .put(FinishArg::ListScore, header.list_score);
    Ok(())
}

/// The audit argument of a call with the transitions of `chunk` (see
/// `audit.rs`).
fn audit_lines(transitions: &[Transition], chunk: &[usize], now: Timestamp) -> String {
    call_lines(
        chunk
            .iter()
            .map(|&i| crate::audit::transition_line(&transitions[i], now)),
    )
}

/// The ids of the jobs of `chunk`, the keys of its call.
fn chunk_ids<'t>(transitions: &'t [Transition], chunk: &[usize]) -> Vec<&'t str> {
    chunk
        .iter()
        .map(|i| transitions[*i].job.id.as_str())
        .collect()
}
