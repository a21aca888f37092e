//! The audit log (`crate::audit`) on Redis: one stream per queue,
//! `wjp:{queue}:audit`, under the queue's hash tag.
//!
//! Writes: `insert.lua`, `apply.lua` and `finish.lua` take, as their last
//! argument, one line per job of the call (made by `crate::audit`, without
//! time and queue, which the stream's entry id and key say; each
//! ending in a newline, empty for a change the log does not keep: see
//! [`call_lines`]); the lines of the jobs the call changed go to the
//! stream as one entry, field `a`, in the same function call
//! (`keep_audit` and `publish` in `common.lua`). A call whose jobs have no
//! line sends an empty argument and writes nothing.
//!
//! Repeats: a line is stored against the line before it in the entry
//! (its reference). One whose fields all equal the reference's but for
//! the job's id is the id alone: the completions of one claim, the
//! submissions of a batch whose jobs share their options. One that shares
//! a start with the reference's text after the id, but not all of it (a
//! batch whose payloads differ in a number or a file name), is
//! `<id> <n> <tail>`: the reference's first `n` bytes after its id, then
//! `tail` (always shorter than the whole line: the text after an id
//! starts with the quote that closes it). Ids hold no space, so the first space ends the id. A repeat costs about 24 bytes of
//! Redis memory instead of 83 or more, a partial one about 30 for a no-op
//! job's submission (see BENCHMARKS.md, Redis memory per queued job). A
//! whole line starts with [`LINE_START`] and the id (ids hold no quote), a
//! repeat never does; when a script keeps only some of a call's lines, it
//! writes whole every repeat kept whose reference it left out
//! (`keep_audit`).
//!
//! Reads merge the queues' streams newest first by entry id (the
//! server's clock), so a page is cut at one instant for every queue. An
//! entry's time is its stream id's: when the change was stored.
//!
//! Trims are plain `XTRIM`s from maintenance, once a minute per process,
//! by age (`MINID`) and by count (`MAXLEN`, entries of one call each),
//! exact: what a minute brought is little, and an operator's retention
//! holds to the entry.

use std::collections::VecDeque;
use std::fmt::Write;

use redis::Value;

use super::events::stream_entries;
use super::keys::audit_key;
use super::RedisBackend;
use crate::audit::{AuditEntry, AuditPage, AuditQuery, AuditRetention, PageBuilder};
use crate::error::Result;
use crate::job::{QueueName, Timestamp};

/// Stream entries read per round trip while scanning.
const READ_BATCH: usize = 200;

/// How every whole line of a queue's stream starts: the job's id is its
/// first field (`crate::audit`'s stream lines leave out time and queue).
/// `keep_audit` in `common.lua` knows it too.
const LINE_START: &str = "{\"j\":\"";

/// A whole line's job id and the rest of the line after it (from the
/// quote that closes the id), or `None` for a line of another form.
fn split_at_id(line: &str) -> Option<(&str, &str)> {
    let after = line.strip_prefix(LINE_START)?;
    let end = after.find('"')?;
    Some(after.split_at(end))
}

/// The audit argument of one call: the lines of its jobs (`None` for a
/// job whose change the log does not keep), each ending in a newline, a
/// line that repeats the one before it (all of it or a start) as a repeat
/// (see the module doc); or the empty string when none has one.
pub(super) fn call_lines(lines: impl IntoIterator<Item = Option<String>>) -> String {
    let lines: Vec<Option<String>> = lines.into_iter().collect();
    if lines.iter().all(Option::is_none) {
        return String::new();
    }
    let mut out = String::new();
    // What follows the id in the line before: the reference.
    let mut reference: Option<&str> = None;
    for line in &lines {
        if let Some(line) = line {
            let split = split_at_id(line);
            match (split, reference) {
                (Some((id, rest)), Some(before)) if rest == before => out.push_str(id),
                (Some((id, rest)), Some(before)) => {
                    let shared = shared_start(before, rest);
                    // Writing to a String cannot fail.
                    let _ = write!(out, "{id} {shared} {}", &rest[shared..]);
                }
                _ => out.push_str(line),
            }
            reference = split.map(|(_, rest)| rest);
        }
        out.push('\n');
    }
    out
}

/// How many bytes `a` and `b` start with alike, at a character boundary
/// of both.
fn shared_start(a: &str, b: &str) -> usize {
    let mut n = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    while !(a.is_char_boundary(n) && b.is_char_boundary(n)) {
        n -= 1;
    }
    n
}

/// The lines of one stream entry, oldest first, repeats written out whole
/// again. A repeat without a line before it, or a partial one whose start
/// is not one of its reference's, is passed on as it is (its reading then
/// fails as a corrupt entry).
fn entry_lines(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    // Whether the last line in `out` is whole (a reference).
    let mut last_whole = false;
    for line in text.lines().filter(|l| !l.is_empty()) {
        let reference = out
            .last()
            .filter(|_| last_whole)
            .and_then(|before| split_at_id(before))
            .map(|(_, rest)| rest);
        let whole = if line.starts_with('{') {
            Some(line.to_owned())
        } else {
            reference.and_then(|rest| match line.split_once(' ') {
                None => Some(format!("{LINE_START}{line}{rest}")),
                Some((id, partial)) => {
                    let (shared, tail) = partial.split_once(' ')?;
                    let start = rest.get(..shared.parse::<usize>().ok()?)?;
                    Some(format!("{LINE_START}{id}{start}{tail}"))
                }
            })
        };
        last_whole = whole.is_some();
        out.push(whole.unwrap_or_else(|| line.to_owned()));
    }
    out
}

/// One queue's stream as a scan reads it, newest first.
struct StreamScan {
    queue: QueueName,
    key: String,
    /// Lines read and not yet taken, newest first, with their entry's time.
    buffer: VecDeque<(Timestamp, String)>,
    /// The (exclusive) end of the next read; `None` once the stream has
    /// nothing more in the range.
    next_end: Option<String>,
}

impl RedisBackend {
    /// One page of the audit log (see `Backend::audit_entries`).
    pub(super) async fn audit_page(&self, query: &AuditQuery) -> Result<AuditPage> {
        let queues = match &query.queue {
            Some(q) => vec![q.to_string()],
            None => self.known_queues(true).await?,
        };
        let start = query
            .since
            .map_or("-".to_owned(), |t| t.0.max(0).to_string());
        // An incomplete id as the end takes every entry of that millisecond.
        let first_end = match query.until {
            Some(t) if t.0 <= 0 => return Ok(AuditPage::default()),
            Some(t) => (t.0 - 1).to_string(),
            None => "+".to_owned(),
        };
        let mut scans = queues
            .iter()
            .map(|q| {
                Ok(StreamScan {
                    queue: QueueName::parse(q)?,
                    key: audit_key(q),
                    buffer: VecDeque::new(),
                    next_end: Some(first_end.clone()),
                })
            })
            .collect::<Result<Vec<StreamScan>>>()?;
        let mut page = PageBuilder::new(query);
        loop {
            self.refill(&mut scans, &start).await?;
            // The newest line of all the queues' next ones.
            let newest = scans
                .iter()
                .enumerate()
                .filter_map(|(i, s)| s.buffer.front().map(|(at, _)| (*at, i)))
                .max();
            let Some((at, i)) = newest else {
                return Ok(page.finish());
            };
            let Some((_, line)) = scans[i].buffer.pop_front() else {
                return Ok(page.finish());
            };
            let entry = AuditEntry::from_stream_line(&line, &scans[i].queue, at)?;
            let matching = query.matches(&entry).then_some(entry);
            if !page.push(at, matching) {
                return Ok(page.finish());
            }
        }
    }

    /// Reads the next entries of every scan whose buffer ran dry, in one
    /// pipeline.
    async fn refill(&self, scans: &mut [StreamScan], start: &str) -> Result<()> {
        let dry: Vec<usize> = (0..scans.len())
            .filter(|i| scans[*i].buffer.is_empty() && scans[*i].next_end.is_some())
            .collect();
        if dry.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for i in &dry {
            let scan = &scans[*i];
            pipe.cmd("XREVRANGE")
                .arg(&scan.key)
                .arg(scan.next_end.as_deref().unwrap_or("+"))
                .arg(start)
                .arg("COUNT")
                .arg(READ_BATCH);
        }
        let replies: Vec<Value> = self.run(&pipe).await?;
        for (i, reply) in dry.into_iter().zip(replies) {
            let entries = stream_entries(reply)?;
            let scan = &mut scans[i];
            scan.next_end = match entries.last() {
                Some((pos, _)) if entries.len() == READ_BATCH => Some(format!("({pos}")),
                _ => None,
            };
            for (pos, fields) in entries {
                let at = Timestamp(i64::try_from(pos.0).unwrap_or(i64::MAX));
                let Some(text) = fields.get("a") else {
                    continue;
                };
                // Lines of one call, oldest first: taken newest first.
                for line in entry_lines(text).into_iter().rev() {
                    scan.buffer.push_back((at, line));
                }
            }
        }
        Ok(())
    }

    /// Trims every known queue's audit stream (see the module doc).
    pub(super) async fn trim_audit_streams(
        &self,
        now: Timestamp,
        retention: &AuditRetention,
    ) -> Result<u64> {
        let queues = self.known_queues(true).await?;
        if queues.is_empty() {
            return Ok(0);
        }
        let oldest_kept = now
            .0
            .saturating_sub(i64::try_from(retention.max_age.as_millis()).unwrap_or(i64::MAX))
            .max(0);
        let mut pipe = redis::pipe();
        for q in &queues {
            let key = audit_key(q);
            pipe.cmd("XTRIM").arg(&key).arg("MINID").arg(oldest_kept);
            pipe.cmd("XTRIM")
                .arg(&key)
                .arg("MAXLEN")
                .arg(retention.max_entries);
        }
        let trimmed: Vec<Value> = self.run(&pipe).await?;
        Ok(trimmed
            .iter()
            .map(|v| match v {
                Value::Int(n) => (*n).max(0) as u64,
                _ => 0,
            })
            .sum())
    }

    /// Deletes a queue's audit stream.
    pub(super) async fn forget_audit_stream(&self, queue: &QueueName) -> Result<()> {
        let mut pipe = redis::pipe();
        pipe.cmd("UNLINK").arg(audit_key(queue.as_str()));
        self.run(&pipe).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_without_lines_sends_nothing_and_one_with_lines_one_per_job() {
        assert_eq!(call_lines([None, None]), "");
        assert_eq!(call_lines([Some("a".into()), None]), "a\n\n");
    }

    #[test]
    fn repeated_lines_go_as_ids_and_come_back_whole() {
        let line =
            |id: &str, kind: &str| Some(format!(r#"{{"j":"{id}","k":"{kind}","by":"cli"}}"#));
        let text = call_lines([
            line("a1", "noop"),
            None,
            line("b2", "noop"),
            line("c3", "nest"),
            line("d4", "nest"),
            line("e5", "noop"),
        ]);
        assert_eq!(
            text,
            "{\"j\":\"a1\",\"k\":\"noop\",\"by\":\"cli\"}\n\nb2\n\
             c3 8 est\",\"by\":\"cli\"}\nd4\ne5 8 oop\",\"by\":\"cli\"}\n"
        );
        let expected: Vec<String> = [
            line("a1", "noop"),
            line("b2", "noop"),
            line("c3", "nest"),
            line("d4", "nest"),
            line("e5", "noop"),
        ]
        .into_iter()
        .flatten()
        .collect();
        assert_eq!(entry_lines(&text), expected);
        // A repeat with no whole line before it is left for the reader to
        // refuse.
        assert_eq!(entry_lines("x9\n"), vec!["x9".to_owned()]);
    }

    #[test]
    fn lines_that_share_a_start_go_as_partial_repeats_and_come_back_whole() {
        let line = |id: &str, file: &str| {
            Some(format!(
                r#"{{"j":"{id}","k":"nest","by":"cli","p":{{"file":"{file}"}}}}"#
            ))
        };
        let lines = [
            line("a1", "uploads/plate-1.dxf"),
            line("b2", "uploads/plate-2.dxf"),
            line("c3", "uploads/plate-1.dxf"),
            // Little shared: the quote that closes the id and more.
            Some(r#"{"j":"d4","o":"completed"}"#.to_owned()),
            // A start shared at a character boundary only.
            line("e5", "é"),
            line("f6", "è"),
        ];
        let text = call_lines(lines.clone());
        assert_eq!(
            text,
            "{\"j\":\"a1\",\"k\":\"nest\",\"by\":\"cli\",\"p\":{\"file\":\"uploads/plate-1.dxf\"}}\n\
             b2 51 2.dxf\"}}\nc3 51 1.dxf\"}}\nd4 3 o\":\"completed\"}\n\
             e5 3 k\":\"nest\",\"by\":\"cli\",\"p\":{\"file\":\"é\"}}\nf6 37 è\"}}\n"
        );
        let expected: Vec<String> = lines.into_iter().flatten().collect();
        assert_eq!(entry_lines(&text), expected);
        // A start longer than the reference, or not a number, is passed on
        // for the reader to refuse.
        let bad = "{\"j\":\"a1\",\"o\":\"x\"}\nb2 99 y\nc3 z y\n";
        assert_eq!(entry_lines(bad)[1..], ["b2 99 y", "c3 z y"]);
    }
}
