//! The writer thread: it owns the write connection and commits every write
//! waiting for it in one transaction, each write in its own savepoint
//! (group commit; see the module doc of `sqlite`).

use std::sync::mpsc::{Receiver, Sender};

use rusqlite::{Connection, Transaction, TransactionBehavior};
use tokio::sync::{oneshot, Notify};

use super::connection::storage;
use super::SqliteBackend;
use crate::error::{QueueError, Result};

/// Largest number of writes committed together.
const GROUP_COMMIT_MAX: usize = 512;

/// One write waiting for the writer thread.
pub(super) trait WriteOp: Send {
    /// Runs the write inside the open transaction (in its own savepoint).
    fn run(&mut self, tx: &mut Transaction<'_>);
    /// Tells the caller the outcome once the transaction ended.
    fn finish(self: Box<Self>, commit: std::result::Result<(), String>);
}

/// The sending end the backend hands writes to.
pub(super) type WriteSender = Sender<Box<dyn WriteOp>>;

/// A caller's write: the function to run, its outcome once it ran, and
/// where the caller waits for the answer.
struct Write<T, F> {
    f: Option<F>,
    outcome: Option<Result<T>>,
    reply: Option<oneshot::Sender<Result<T>>>,
}

impl<T, F> WriteOp for Write<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> Result<T> + Send + 'static,
{
    fn run(&mut self, tx: &mut Transaction<'_>) {
        let Some(f) = self.f.take() else { return };
        let outcome = match tx.savepoint() {
            Ok(savepoint) => match f(&savepoint) {
                // A savepoint dropped without commit rolls back: a write that
                // failed leaves nothing behind, and its neighbours go on.
                Ok(value) => savepoint.commit().map(|()| value).map_err(storage),
                Err(e) => Err(e),
            },
            Err(e) => Err(storage(e)),
        };
        self.outcome = Some(outcome);
    }

    fn finish(mut self: Box<Self>, commit: std::result::Result<(), String>) {
        let outcome = match (commit, self.outcome.take()) {
            (Ok(()), Some(outcome)) => outcome,
            (Err(e), Some(Ok(_)) | None) => Err(QueueError::Storage(e)),
            // The write failed on its own: that is the better answer.
            (Err(_), Some(Err(e))) => Err(e),
            (Ok(()), None) => Err(QueueError::Storage("the write never ran".into())),
        };
        if let Some(reply) = self.reply.take() {
            let _ = reply.send(outcome);
        }
    }
}

/// Starts the writer thread on `conn`; it wakes `changed` after each commit.
pub(super) fn spawn_writer(
    conn: Connection,
    changed: std::sync::Arc<Notify>,
) -> Result<WriteSender> {
    let (ops_tx, ops_rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("wjp-sqlite-writer".into())
        .spawn(move || run_writer(conn, ops_rx, &changed))
        .map_err(|e| QueueError::Unavailable(format!("cannot start the writer thread: {e}")))?;
    Ok(ops_tx)
}

/// The writer thread: takes the writes waiting, in arrival order, and runs
/// them in one transaction. Ends when every handle on the backend is gone.
fn run_writer(mut conn: Connection, ops: Receiver<Box<dyn WriteOp>>, changed: &Notify) {
    while let Ok(first) = ops.recv() {
        let mut batch = take_waiting(first, &ops);
        let commit = run_in_one_transaction(&mut conn, &mut batch);
        let committed = commit.is_ok();
        for op in batch {
            op.finish(commit.clone());
        }
        if committed {
            changed.notify_waiters();
        }
    }
}

/// `first` and the writes queued behind it, up to [`GROUP_COMMIT_MAX`].
fn take_waiting(
    first: Box<dyn WriteOp>,
    ops: &Receiver<Box<dyn WriteOp>>,
) -> Vec<Box<dyn WriteOp>> {
    let mut batch = vec![first];
    while batch.len() < GROUP_COMMIT_MAX {
        match ops.try_recv() {
            Ok(op) => batch.push(op),
            Err(_) => break,
        }
    }
    batch
}

/// Runs every write of the batch in one `BEGIN IMMEDIATE` transaction and
/// commits it; the error, if any, is the transaction's own.
fn run_in_one_transaction(
    conn: &mut Connection,
    batch: &mut [Box<dyn WriteOp>],
) -> std::result::Result<(), String> {
    let mut tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| storage(e).to_string())?;
    for op in batch.iter_mut() {
        // A write that panics answers with an error; the thread and
        // the other writes carry on.
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| op.run(&mut tx)));
        if ran.is_err() {
            tracing::error!("a database write panicked; it was rolled back");
        }
    }
    tx.commit().map_err(|e| storage(e).to_string())
}

impl SqliteBackend {
    /// Runs `f` in a write transaction on the writer thread; returns once
    /// its changes are committed.
    pub(super) async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let op = Box::new(Write {
            f: Some(f),
            outcome: None,
            reply: Some(reply),
        });
        self.shared
            .writer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(op)
            .map_err(|_| QueueError::Storage("the database writer thread has stopped".into()))?;
        answer
            .await
            .map_err(|_| QueueError::Storage("the database writer thread has stopped".into()))?
    }
}
