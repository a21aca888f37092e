//! Claiming: which queues to take from (a peek at each when there are
//! several), then one `claim.lua` call per queue; and what is noted per
//! claimed job (`Noted`), which lets its end go to `finish.lua`.

use redis::Value;

use super::body::{self, Identity};
use super::library::Call;
use super::record::{from_header, sequence_in, split_record, PACKED_MAX};
use super::reply::{array, corrupt, hex, int, text};
use super::RedisBackend;
use crate::backend::ClaimRequest;
use crate::error::Result;
use crate::job::{Job, LeaseToken, QueueName};
use crate::state::{self, Transition};

/// What the claim of a job tells its end (`finish.lua`).
#[derive(Clone, Copy, Debug)]
pub(super) struct Noted {
    /// The job's enqueue sequence, which its ended record's header holds.
    pub(super) sequence: u64,
    /// Whether its record may be packed (see `mod.rs`, Records): when not,
    /// it is a key of its own, and its end has no hash field to delete.
    pub(super) packed: bool,
}

/// Bounds `Shared::noted`: entries of jobs whose lease was lost are
/// never taken out, so past this size the map starts again.
const NOTED_KEPT: usize = 100_000;

impl RedisBackend {
    /// Claims up to `request.max` jobs (see [`Backend::claim`](crate::backend::Backend::claim)).
    pub(super) async fn claim_jobs(&self, request: &ClaimRequest) -> Result<Vec<Job>> {
        if request.max == 0 || request.queues.is_empty() {
            return Ok(Vec::new());
        }
        self.note_queues(request.queues.iter().map(QueueName::as_str));
        let allotment = self.allotment(request).await?;
        if allotment.is_empty() {
            return Ok(Vec::new());
        }
        // In the queues' order, and best first within each.
        self.claim_in(&allotment, request).await
    }

    /// How many jobs to claim from each queue: all from a lone queue; from
    /// several, strictly in their order, as many as each holds ready while
    /// room is left (a peek at each first).
    async fn allotment(&self, request: &ClaimRequest) -> Result<Vec<(String, usize)>> {
        if request.queues.len() == 1 {
            return Ok(vec![(request.queues[0].to_string(), request.max)]);
        }
        let mut pipe = redis::pipe();
        for q in &request.queues {
            let mut call = Call::new(&self.shared.functions.peek, q.as_str(), &[]);
            call.arg(request.now.0).arg(request.max);
            pipe.add_command(call.cmd);
        }
        let mut room = request.max;
        let mut allotment = Vec::new();
        for (q, reply) in request.queues.iter().zip(self.run(&pipe).await?) {
            let ready = usize::try_from(int(&reply)?).unwrap_or(0).min(room);
            if ready > 0 {
                allotment.push((q.to_string(), ready));
                room -= ready;
            }
        }
        Ok(allotment)
    }

    /// Claims the allotted number of jobs of each queue, one call each.
    async fn claim_in(
        &self,
        allotment: &[(String, usize)],
        request: &ClaimRequest,
    ) -> Result<Vec<Job>> {
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
        let mut notes = self.shared.noted.lock().unwrap_or_else(|p| p.into_inner());
        if notes.len() > NOTED_KEPT {
            notes.clear();
        }
        for ((reply, token), (queue, _)) in replies.into_iter().zip(tokens).zip(allotment) {
            let items = array(reply)?;
            if items.len() % 2 != 0 {
                return Err(corrupt("malformed claim reply"));
            }
            // Per job: id, record.
            for item in items.chunks(2) {
                let [id, record] = item else {
                    return Err(corrupt("malformed claim reply"));
                };
                let id = text(id)?;
                // Parsed where it lies: no copy of each body on the claim path.
                let parts = match record {
                    Value::BulkString(record) => split_record(record),
                    _ => None,
                };
                let Some((header, body)) = parts else {
                    return Err(corrupt(format!("a claimed job without a record: {id}")));
                };
                if id.is_empty() {
                    return Err(corrupt("a claimed job without an id"));
                }
                let identity = Identity {
                    queue: queue.clone(),
                    id,
                };
                let job = body::decode(body, &identity, from_header(header))?;
                let mut t = state::claim(&job, &request.worker, request.lease, request.now);
                t.job.state.lease_token = Some(token);
                if let Some(sequence) = sequence_in(header) {
                    let noted = Noted {
                        sequence,
                        // Only a record this short (header, newline,
                        // body) may be packed.
                        packed: header.len() + 1 + body.len() <= PACKED_MAX,
                    };
                    notes.insert(t.job.id.clone(), (token.0, noted));
                }
                claimed.push(t.job);
            }
        }
        Ok(claimed)
    }

    /// What this process noted when it claimed the job under the lease
    /// that `t` ends, taken out of the map.
    pub(super) fn take_noted(&self, t: &Transition) -> Option<Noted> {
        let mut notes = self.shared.noted.lock().unwrap_or_else(|p| p.into_inner());
        match notes.remove(&t.job.id) {
            Some((token, noted)) if Some(token) == t.expect.lease_token.map(|l| l.0) => Some(noted),
            _ => None,
        }
    }
}
