//! Running jobs' leases: renewals, progress and cancel requests change only
//! the entries of the queue's lease hash. A caller knows a job's id but not
//! its queue, so renewals and progress ask every known queue.

use redis::Value;

use super::library::{Call, Function};
use super::reply::{array, int, note_hex};
use super::RedisBackend;
use crate::backend::{LeaseRef, LeaseState, ProgressUpdate};
use crate::error::Result;
use crate::job::{JobId, Timestamp};

impl RedisBackend {
    /// Renews leases (see [`Backend::renew_leases`](crate::backend::Backend::renew_leases)).
    pub(super) async fn renew(
        &self,
        leases: &[LeaseRef],
        until: Timestamp,
    ) -> Result<Vec<LeaseState>> {
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

    /// Records progress (see [`Backend::set_progress`](crate::backend::Backend::set_progress)).
    pub(super) async fn progress(&self, updates: Vec<ProgressUpdate>) -> Result<()> {
        if updates.is_empty() {
            return Ok(());
        }
        let now = Timestamp::now();
        let updates: Vec<ProgressUpdate> =
            updates.into_iter().map(ProgressUpdate::checked).collect();
        let ids: Vec<&str> = updates.iter().map(|u| u.lease.id.as_str()).collect();
        self.on_every_queue(&self.shared.functions.progress, &ids, |call| {
            call.arg(now.0);
            for u in &updates {
                call.arg(u.lease.id.as_str())
                    .arg(u.lease.token.0)
                    .arg(u.progress.to_string())
                    .arg(note_hex(u.message.as_deref(), u.detail.as_ref()));
            }
        })
        .await?;
        Ok(())
    }

    /// Flags a running job as cancelled; whether it was running.
    pub(super) async fn cancel(&self, id: &JobId) -> Result<bool> {
        let now = Timestamp::now();
        let Some(stored) = self.find_stored(id).await? else {
            return Ok(false);
        };
        let mut call = Call::new(&self.shared.functions.cancel, &stored.queue, &[id.as_str()]);
        call.arg(now.0).arg(id.as_str());
        let mut pipe = redis::pipe();
        pipe.add_command(call.cmd);
        let reply = self.run(&pipe).await?;
        Ok(reply.first().map(int).transpose()? == Some(1))
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
