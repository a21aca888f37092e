//! Events: each queue's stream (one entry per script call, one line per
//! event), the lines' packed form, and followers' cursors over the streams
//! of every queue.

use std::collections::{BTreeMap, HashMap};

use redis::Value;

use super::keys::events_key;
use super::reply::{array, corrupt, hash, note_hex, note_of, text};
use super::RedisBackend;
use crate::error::{QueueError, Result};
use crate::event::Event;
use crate::job::{ErrorKind, JobId, QueueName, Timestamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct StreamPos(pub(super) u64, pub(super) u64);

impl StreamPos {
    /// A stream entry id read from its text.
    pub(super) fn parse(text: &str) -> Option<StreamPos> {
        let (ms, seq) = text.split_once('-')?;
        Some(StreamPos(ms.parse().ok()?, seq.parse().ok()?))
    }
}

impl std::fmt::Display for StreamPos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.0, self.1)
    }
}

/// How far a follower has read one queue's stream: a whole entry, or the
/// events of an entry up to and including one (an entry holds the events
/// of one script call).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    entry: StreamPos,
    through: Option<usize>,
}

/// An event cursor: how far the follower has read each queue's stream,
/// `default=1700000000000-3,gcode=1700000000001-0.4`.
fn parse_cursor(cursor: &str) -> Result<BTreeMap<String, Seen>> {
    let invalid = || QueueError::InvalidRequest(format!("invalid event id {cursor:?}"));
    if cursor.is_empty() {
        return Ok(BTreeMap::new());
    }
    cursor
        .split(',')
        .map(|part| {
            let (queue, pos) = part.split_once('=').ok_or_else(invalid)?;
            let queue = QueueName::parse(queue).map_err(|_| invalid())?;
            let (entry, through) = match pos.split_once('.') {
                Some((entry, k)) => (entry, Some(k.parse().map_err(|_| invalid())?)),
                None => (pos, None),
            };
            let entry = StreamPos::parse(entry).ok_or_else(invalid)?;
            Ok((queue.to_string(), Seen { entry, through }))
        })
        .collect()
}

fn format_cursor(positions: &BTreeMap<String, Seen>) -> String {
    positions
        .iter()
        .map(|(q, seen)| match seen.through {
            Some(k) => format!("{q}={}.{k}", seen.entry),
            None => format!("{q}={}", seen.entry),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The event lines of one stream entry's `e` field (see `common.lua`'s
/// `emit`), each made whole: a line that is only a job id repeats the line
/// before it for that job. Parsing waits until a reader knows which events
/// it keeps.
fn whole_lines(packed: &str) -> Result<Vec<String>> {
    let mut lines: Vec<String> = Vec::new();
    for line in packed.split('\n') {
        if line.contains('|') {
            lines.push(line.to_owned());
            continue;
        }
        let Some(before) = lines.last() else {
            return Err(corrupt(format!(
                "event entry starts with a bare job id {line:?}"
            )));
        };
        let fields = before.find('|').map_or("", |bar| &before[bar..]);
        lines.push(format!("{line}{fields}"));
    }
    Ok(lines)
}

/// One whole event line (see `common.lua`).
fn event_from_line(queue: &str, line: &str) -> Result<Event> {
    let f: Vec<&str> = line.split('|').collect();
    let [job, kind, status, attempt, progress, error_kind, at, message] = f[..] else {
        return Err(corrupt(format!("malformed event {line:?}")));
    };
    let (message, detail) = note_of(message)?;
    Ok(Event {
        id: String::new(),
        job_id: JobId::parse(job)?,
        queue: QueueName::parse(queue)?,
        kind: crate::job::Kind::parse(kind)?,
        status: status.parse()?,
        attempt: attempt.parse().map_err(corrupt)?,
        progress: match progress {
            "" => None,
            p => Some(p.parse().map_err(corrupt)?),
        },
        message,
        detail,
        error_kind: match error_kind {
            "" => None,
            e => Some(e.parse::<ErrorKind>()?),
        },
        at: Timestamp(at.parse().map_err(corrupt)?),
    })
}

/// Stream entries from an `XRANGE`/`XREVRANGE` reply.
pub(super) fn stream_entries(value: Value) -> Result<Vec<(StreamPos, HashMap<String, String>)>> {
    array(value)?
        .into_iter()
        .map(|entry| {
            let mut parts = array(entry)?.into_iter();
            let (Some(id), Some(fields)) = (parts.next(), parts.next()) else {
                return Err(corrupt("malformed stream entry"));
            };
            let id = text(&id)?;
            let pos = StreamPos::parse(&id).ok_or_else(|| corrupt(format!("stream id {id}")))?;
            Ok((pos, hash(fields)?))
        })
        .collect()
}

/// Events as the lines of one stream entry, the inverse of
/// `whole_lines`: an event that differs from the one before it only in
/// its job is written as the job id alone.
pub(super) fn event_lines<'a>(events: impl IntoIterator<Item = &'a Event>) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let mut before: Option<&Event> = None;
    for e in events {
        if before.is_some() {
            out.push('\n');
        }
        out.push_str(e.job_id.as_str());
        let same_fields = before.is_some_and(|b| {
            (
                &b.kind,
                b.status,
                b.attempt,
                b.progress,
                b.error_kind,
                b.at,
                &b.message,
                &b.detail,
            ) == (
                &e.kind,
                e.status,
                e.attempt,
                e.progress,
                e.error_kind,
                e.at,
                &e.message,
                &e.detail,
            )
        });
        if !same_fields {
            // Writing to a String cannot fail.
            let _ = write!(
                out,
                "|{}|{}|{}|{}|{}|{}|{}",
                e.kind.as_str(),
                e.status.as_str(),
                e.attempt,
                e.progress.map(|p| p.to_string()).unwrap_or_default(),
                e.error_kind.map_or("", |k| k.as_str()),
                e.at.0,
                note_hex(e.message.as_deref(), e.detail.as_ref()),
            );
        }
        before = Some(e);
    }
    out
}

impl RedisBackend {
    /// Events after the cursor, from every queue's stream merged by entry
    /// id (see [`Backend::events_after`](crate::backend::Backend::events_after)).
    pub(super) async fn events_after(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Event>> {
        let mut positions = match cursor {
            Some(c) => parse_cursor(c)?,
            None => BTreeMap::new(),
        };
        let mut queues = self.known_queues(false).await?;
        if positions.keys().any(|q| queues.binary_search(q).is_err()) {
            queues = self.known_queues(true).await?;
        }
        if queues.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for q in &queues {
            let start = match positions.get(q) {
                Some(Seen {
                    entry,
                    through: None,
                }) => format!("({entry}"),
                Some(Seen { entry, .. }) => entry.to_string(),
                None => "-".into(),
            };
            // Every entry holds at least one event: `limit` entries suffice.
            pipe.cmd("XRANGE")
                .arg(events_key(q))
                .arg(start)
                .arg("+")
                .arg("COUNT")
                .arg(limit);
        }
        // (entry, queue, index in entry, events in entry, line)
        let mut found: Vec<(StreamPos, &str, usize, usize, String)> = Vec::new();
        for (q, reply) in queues.iter().zip(self.run(&pipe).await?) {
            let seen = positions.get(q).copied();
            for (pos, fields) in stream_entries(reply)? {
                let lines = whole_lines(fields.get("e").map_or("", String::as_str))?;
                let count = lines.len();
                for (k, line) in lines.into_iter().enumerate() {
                    let already = seen.is_some_and(|s| {
                        s.entry == pos && s.through.is_none_or(|through| k <= through)
                    });
                    if !already {
                        found.push((pos, q.as_str(), k, count, line));
                    }
                }
            }
        }
        found.sort_by(|a, b| (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)));
        found.truncate(limit);
        found
            .into_iter()
            .map(|(pos, q, k, count, line)| {
                let mut event = event_from_line(q, &line)?;
                let through = (k + 1 < count).then_some(k);
                positions.insert(
                    q.to_owned(),
                    Seen {
                        entry: pos,
                        through,
                    },
                );
                event.id = format_cursor(&positions);
                Ok(event)
            })
            .collect()
    }

    /// The cursor at the end of every queue's stream.
    pub(super) async fn last_event_id(&self) -> Result<Option<String>> {
        let mut positions = BTreeMap::new();
        for (q, (entry, _)) in self.newest_events().await? {
            positions.insert(
                q,
                Seen {
                    entry,
                    through: None,
                },
            );
        }
        Ok((!positions.is_empty()).then(|| format_cursor(&positions)))
    }

    /// The newest entry of each known queue's event stream, for queues that
    /// have one.
    async fn newest_events(&self) -> Result<Vec<(String, (StreamPos, HashMap<String, String>))>> {
        let queues = self.known_queues(false).await?;
        if queues.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for q in &queues {
            pipe.cmd("XREVRANGE")
                .arg(events_key(q))
                .arg("+")
                .arg("-")
                .arg("COUNT")
                .arg(1);
        }
        let mut newest = Vec::new();
        for (q, reply) in queues.into_iter().zip(self.run(&pipe).await?) {
            if let Some(top) = stream_entries(reply)?.into_iter().next() {
                newest.push((q, top));
            }
        }
        Ok(newest)
    }

    /// Whether some queue's stream holds events past the cursor (any event
    /// when there is no cursor).
    pub(super) async fn events_exist_after(&self, cursor: Option<&str>) -> Result<bool> {
        let positions = match cursor {
            Some(c) => parse_cursor(c)?,
            None => BTreeMap::new(),
        };
        for (q, (top, fields)) in self.newest_events().await? {
            let unread = match positions.get(&q) {
                None => true,
                Some(seen) if top > seen.entry => true,
                Some(Seen {
                    entry,
                    through: Some(k),
                }) if top == *entry => {
                    let count = fields.get("e").map_or(0, |e| e.split('\n').count());
                    count > k + 1
                }
                Some(_) => false,
            };
            if unread {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_lines_shorten_repeats_and_read_back_whole() -> Result<()> {
        let line = |job: &str, status: &str, at: u64| {
            event_from_line("default", &format!("{job}|noop|{status}|1|||{at}|"))
        };
        let a = "00000000-0000-4000-8000-00000000000a";
        let b = "00000000-0000-4000-8000-00000000000b";
        let c = "00000000-0000-4000-8000-00000000000c";
        let events = vec![
            line(a, "completed", 5)?,
            line(b, "completed", 5)?,
            line(c, "failed", 5)?,
            line(a, "failed", 5)?,
        ];
        let packed = event_lines(&events);
        assert_eq!(
            packed,
            format!("{a}|noop|completed|1|||5|\n{b}\n{c}|noop|failed|1|||5|\n{a}")
        );
        let read: Vec<Event> = whole_lines(&packed)?
            .iter()
            .map(|l| event_from_line("default", l))
            .collect::<Result<_>>()?;
        assert_eq!(read, events);
        // A bare id needs a line before it.
        assert!(whole_lines(b).is_err());
        assert!(whole_lines("").is_err());
        Ok(())
    }

    #[test]
    fn event_cursors_round_trip() {
        let c = parse_cursor("default=1700000000000-3,gcode=1700000000001-0.4").unwrap();
        assert_eq!(c["default"].entry, StreamPos(1_700_000_000_000, 3));
        assert_eq!(c["gcode"].through, Some(4));
        assert_eq!(
            format_cursor(&c),
            "default=1700000000000-3,gcode=1700000000001-0.4"
        );
        assert!(parse_cursor("12").is_err());
        assert!(parse_cursor("Bad=1-0").is_err());
        assert!(parse_cursor("default=1-0.x").is_err());
    }
}
