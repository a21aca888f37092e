//! The jobs a worker holds leases for, and the signals that pass between
//! each job's handler, its task and the heartbeat.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use crate::backend::{LeaseRef, ProgressUpdate};
use crate::job::JobId;

/// Why a running job is being interrupted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(super) enum Interrupt {
    None = 0,
    /// The job was cancelled.
    Cancel = 1,
    /// The lease ran out and another worker may own the job now.
    LostLease = 2,
    /// The worker is shutting down.
    Shutdown = 3,
}

impl Interrupt {
    /// The reason stored as `why as u8`.
    fn from_u8(stored: u8) -> Interrupt {
        match stored {
            1 => Interrupt::Cancel,
            2 => Interrupt::LostLease,
            3 => Interrupt::Shutdown,
            _ => Interrupt::None,
        }
    }
}

/// The latest progress a handler reported, taken by the next flush.
pub(super) struct Progress {
    pub(super) fraction: f64,
    pub(super) message: String,
    pub(super) detail: Option<serde_json::Value>,
}

/// How a job's handler, its task and the heartbeat talk to each other.
pub(super) struct JobSignals {
    /// Tells the handler to stop ([`super::JobContext::is_cancelled`]).
    stop: AtomicBool,
    /// Why the job is being interrupted, an [`Interrupt`] as `u8`.
    interrupt: AtomicU8,
    /// Wakes the job's task from its wait for the handler.
    wake: Notify,
    progress: Mutex<Option<Progress>>,
}

impl JobSignals {
    pub(super) fn new() -> Self {
        JobSignals {
            stop: AtomicBool::new(false),
            interrupt: AtomicU8::new(Interrupt::None as u8),
            wake: Notify::new(),
            progress: Mutex::new(None),
        }
    }

    /// Interrupts the job: the handler is told to stop and the job's task
    /// wakes to end the job.
    pub(super) fn interrupt(&self, why: Interrupt) {
        // The first reason wins: a job cancelled and then lost stays cancelled.
        let _ = self.interrupt.compare_exchange(
            Interrupt::None as u8,
            why as u8,
            Ordering::SeqCst,
            Ordering::SeqCst,
        );
        self.stop.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// Sets the reason of a job that has not started, replacing any reason
    /// heard before; the job's task reads it when it starts.
    pub(super) fn set_interruption(&self, why: Interrupt) {
        self.interrupt.store(why as u8, Ordering::SeqCst);
    }

    pub(super) fn interruption(&self) -> Interrupt {
        Interrupt::from_u8(self.interrupt.load(Ordering::SeqCst))
    }

    /// Completes when [`JobSignals::interrupt`] is called (or was, since
    /// the last wake-up).
    pub(super) async fn interrupted(&self) {
        self.wake.notified().await
    }

    /// Tells the handler to stop (it may not listen).
    pub(super) fn ask_to_stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    pub(super) fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    pub(super) fn report_progress(&self, progress: Progress) {
        *self.progress.lock().unwrap_or_else(|p| p.into_inner()) = Some(progress);
    }

    fn take_progress(&self) -> Option<Progress> {
        self.progress
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }
}

/// A job this worker holds the lease of, from its claim until its outcome
/// is written.
pub(super) struct RunningJob {
    pub(super) lease: LeaseRef,
    pub(super) signals: Arc<JobSignals>,
}

/// The worker's running jobs, shared by the claimer (which adds them), the
/// job tasks (which remove them) and the heartbeat (which renews their
/// leases).
#[derive(Clone, Default)]
pub(super) struct RunningJobs(Arc<Mutex<HashMap<JobId, RunningJob>>>);

impl RunningJobs {
    /// The set, locked; a panic of another holder does not make it unusable.
    pub(super) fn lock(&self) -> MutexGuard<'_, HashMap<JobId, RunningJob>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn insert(&self, job: RunningJob) {
        self.lock().insert(job.lease.id.clone(), job);
    }

    pub(super) fn remove(&self, id: &JobId) {
        self.lock().remove(id);
    }

    pub(super) fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    pub(super) fn leases(&self) -> Vec<LeaseRef> {
        self.lock().values().map(|r| r.lease.clone()).collect()
    }

    pub(super) fn interrupt_all(&self, why: Interrupt) {
        for job in self.lock().values() {
            job.signals.interrupt(why);
        }
    }

    /// The progress reported since the last call, one update per job.
    pub(super) fn take_progress(&self) -> Vec<ProgressUpdate> {
        self.lock()
            .values()
            .filter_map(|r| {
                let Progress {
                    fraction,
                    message,
                    detail,
                } = r.signals.take_progress()?;
                Some(ProgressUpdate {
                    lease: r.lease.clone(),
                    progress: fraction,
                    message: Some(message),
                    detail,
                })
            })
            .collect()
    }
}
