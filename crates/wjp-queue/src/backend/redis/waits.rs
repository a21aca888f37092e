//! Waiting for jobs and events without polling: one background task per
//! backend blocks in `XREAD` on its own connection (the shared one times
//! commands out) and bumps counters that waiters watch.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, Value};
use tokio::sync::{watch, Notify};

use super::events::stream_entries;
use super::keys::{events_key, wake_key, QUEUES_KEY};
use super::link::Link;
use super::reply::{array, text};
use super::RedisBackend;
use crate::error::Result;
use crate::job::QueueName;

/// How long the waiting task blocks in one `XREAD`.
pub(super) const BLOCK: Duration = Duration::from_secs(2);

/// becoming ready, and one for events.
#[derive(Debug, Clone, Default)]
pub(super) struct Signals {
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
pub(super) struct Interest {
    wake: Mutex<BTreeSet<String>>,
    pub(super) events: AtomicBool,
    /// Told when either grows: the watcher stops blocking on the streams it
    /// has and starts again with the new set.
    pub(super) grew: Notify,
}

impl Interest {
    /// Adds queues whose wake streams to watch.
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

    /// Watches every queue's event stream from now on.
    fn want_events(&self) {
        if !self.events.swap(true, Ordering::SeqCst) {
            self.grew.notify_one();
        }
    }

    /// The queues whose wake streams are watched.
    pub(super) fn wake_queues(&self) -> Vec<String> {
        let wake = self.wake.lock().unwrap_or_else(|p| p.into_inner());
        wake.iter().cloned().collect()
    }
}

impl RedisBackend {
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
        let interest = self.shared.interest.clone();
        match &self.shared.link {
            Link::Server { client, .. } => {
                tokio::spawn(watch_streams(
                    client.clone(),
                    self.shared.link.clone(),
                    interest,
                    tx,
                ));
            }
            Link::Cluster { client, .. } => {
                tokio::spawn(super::cluster_waits::watch_cluster_streams(
                    client.clone(),
                    self.shared.link.clone(),
                    interest,
                    tx,
                ));
            }
        }
        *slot = Some(rx.clone());
        rx
    }

    /// Waits until jobs may have become ready in one of `queues` since the
    /// caller's last claim went out (`claimed_at`), or `max_wait` passed.
    pub(super) async fn wait_for_jobs(
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

    /// Waits until an event may have come after `cursor`, or `max_wait`
    /// (at most a few seconds) passed.
    pub(super) async fn wait_for_events(
        &self,
        cursor: Option<&str>,
        max_wait: Duration,
    ) -> Result<()> {
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

/// The background task behind waits: blocks in `XREAD` on the streams of
/// `interest` over its own connection (no response timeout), and bumps the
/// counters of what changed. It ends when the backend is dropped.
async fn watch_streams(
    client: Client,
    link: Link,
    interest: Arc<Interest>,
    tx: watch::Sender<Signals>,
) {
    let mut w = Watcher {
        client,
        link,
        interest,
        tx,
        last: BTreeMap::new(),
        queues: Vec::new(),
        refresh: true,
        refreshed: Instant::now(),
        burst_start: Instant::now(),
        burst: 0,
    };
    let mut blocking: Option<MultiplexedConnection> = None;
    loop {
        if w.tx.is_closed() {
            return;
        }
        let mut c = match blocking.take() {
            Some(c) => c,
            None => match w.connect().await {
                Some(c) => c,
                None => continue,
            },
        };
        // Now and then, even when busy: queues appear.
        if (w.refresh || w.refreshed.elapsed() > BLOCK) && !w.refresh_tops().await {
            continue;
        }
        if w.last.is_empty() {
            // No queue yet: look again in a while.
            if !w.idle().await {
                return;
            }
            blocking = Some(c);
            w.refresh = true;
            continue;
        }
        match w.read(&mut c).await {
            Read::Closed => return,
            // The connection is blocked in the old read: it goes, and the
            // next one starts with the new set.
            Read::Grew => continue,
            // Nothing for a while: look for new queues.
            Read::Nothing => w.refresh = true,
            Read::Moved(reply) => w.pass_on(reply).await,
            Read::Failed(e) => {
                tracing::debug!(error = %e, "blocking read on Redis failed; reconnecting");
                tokio::time::sleep(Duration::from_millis(250)).await;
                continue;
            }
        }
        blocking = Some(c);
    }
}

/// The waiting task's state.
struct Watcher {
    client: Client,
    link: Link,
    interest: Arc<Interest>,
    tx: watch::Sender<Signals>,
    /// Stream key -> last id seen; rebuilt from the streams' tops on a refresh.
    last: BTreeMap<String, String>,
    /// The queues whose wake streams are watched, to name signals by.
    queues: Vec<String>,
    /// Whether to read the streams' tops before the next read.
    refresh: bool,
    refreshed: Instant,
    /// Reads with news in the current 10 ms, to pace a busy stream.
    burst_start: Instant,
    burst: u32,
}

/// How one blocking read ended.
enum Read {
    /// The backend is gone.
    Closed,
    /// Someone here wants more streams watched.
    Grew,
    /// Nothing came within `BLOCK`.
    Nothing,
    /// Some streams moved: the reply.
    Moved(Value),
    /// The read failed (or hung).
    Failed(redis::RedisError),
}

impl Watcher {
    /// A connection of its own for blocking reads (no response timeout);
    /// `None` after a pause when the server cannot be reached.
    async fn connect(&mut self) -> Option<MultiplexedConnection> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(3)))
            .set_response_timeout(None);
        match self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
        {
            Ok(c) => {
                self.refresh = true;
                Some(c)
            }
            Err(e) => {
                tracing::debug!(error = %e, "cannot connect to Redis to wait; retrying");
                tokio::time::sleep(Duration::from_millis(250)).await;
                None
            }
        }
    }

    /// Reads where each watched stream is now; whatever moved since is a
    /// change (and so is a stream watched for the first time: a waiter may
    /// have looked before it was watched). False, after a pause, when the
    /// read failed.
    async fn refresh_tops(&mut self) -> bool {
        let events = self.interest.events.load(Ordering::SeqCst);
        match stream_tops(&self.link, self.interest.wake_queues(), events).await {
            Ok((names, tops)) => {
                signal(
                    &self.tx,
                    &names,
                    tops.iter()
                        .filter(|(k, id)| self.last.get(*k) != Some(*id))
                        .map(|(k, _)| k),
                );
                self.queues = names;
                self.last = tops;
                self.refresh = false;
                self.refreshed = Instant::now();
                true
            }
            Err(e) => {
                tracing::debug!(error = %e, "reading Redis streams failed; retrying");
                tokio::time::sleep(Duration::from_millis(250)).await;
                false
            }
        }
    }

    /// Waits a while with nothing to watch; false when the backend is gone.
    async fn idle(&self) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(BLOCK) => true,
            _ = self.interest.grew.notified() => true,
            _ = self.tx.closed() => false,
        }
    }

    /// One `XREAD` past the last ids seen, blocking up to `BLOCK`.
    async fn read(&self, c: &mut MultiplexedConnection) -> Read {
        let mut read = redis::cmd("XREAD");
        read.arg("COUNT")
            .arg(1)
            .arg("BLOCK")
            .arg(BLOCK.as_millis() as u64)
            .arg("STREAMS");
        read.arg(self.last.keys().collect::<Vec<_>>());
        read.arg(self.last.values().collect::<Vec<_>>());
        // No response timeout on this connection, but a bound all the same:
        // a connection that died silently (no reset) must not hang forever.
        let guarded = tokio::time::timeout(BLOCK * 3, read.query_async::<Value>(c));
        tokio::select! {
            reply = guarded => match reply {
                Ok(Ok(Value::Nil)) => Read::Nothing,
                Ok(Ok(reply)) => Read::Moved(reply),
                Ok(Err(e)) => Read::Failed(e),
                Err(_) => Read::Failed(redis::RedisError::from((
                    redis::ErrorKind::Io,
                    "blocking read hung",
                ))),
            },
            _ = self.interest.grew.notified() => Read::Grew,
            _ = self.tx.closed() => Read::Closed,
        }
    }

    /// Signals the streams that moved, and paces a busy stream.
    async fn pass_on(&mut self, reply: Value) {
        let moved = read_reply_tops(reply);
        signal(&self.tx, &self.queues, moved.iter().map(|(k, _)| k));
        self.last.extend(moved);
        // Under load entries come all the time: rather than walk them one
        // by one, skip to the tops, at most once a millisecond. A few
        // entries in a row (one job's life) are passed on at once.
        if self.burst_start.elapsed() > Duration::from_millis(10) {
            self.burst_start = Instant::now();
            self.burst = 0;
        }
        self.burst += 1;
        if self.burst > 8 {
            tokio::time::sleep(Duration::from_millis(1)).await;
            self.refresh = true;
        }
    }
}

/// The streams to watch and the last id of each ("0-0" for an empty one):
/// the wake streams of `wake_queues`, and with `events`, the event streams
/// of every known queue. Returns the wake queues too, to name signals by.
pub(super) async fn stream_tops(
    link: &Link,
    wake_queues: Vec<String>,
    events: bool,
) -> redis::RedisResult<(Vec<String>, BTreeMap<String, String>)> {
    let mut keys: Vec<String> = wake_queues.iter().map(|q| wake_key(q)).collect();
    if events {
        let mut members = redis::pipe();
        members.cmd("SMEMBERS").arg(QUEUES_KEY);
        let known: Vec<String> = match link.pipeline(&members).await?.pop() {
            Some(reply) => redis::from_redis_value(reply)?,
            None => Vec::new(),
        };
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
    let replies: Vec<Value> = link.pipeline(&pipe).await?;
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
pub(super) fn read_reply_tops(reply: Value) -> Vec<(String, String)> {
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
pub(super) fn signal<'a>(
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
