//! Replies from Redis read as Rust values, and hex text for fields that
//! must not hold a separator.

use std::collections::HashMap;

use redis::Value;

use crate::error::{QueueError, Result};

/// A reply or stored value that is not what wjp writes.
pub(super) fn corrupt(what: impl std::fmt::Display) -> QueueError {
    QueueError::Corrupt(what.to_string())
}

/// A reply as text.
pub(super) fn text(value: &Value) -> Result<String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).map_err(corrupt),
        Value::SimpleString(s) => Ok(s.clone()),
        Value::Int(n) => Ok(n.to_string()),
        Value::Okay => Ok("OK".into()),
        other => Err(corrupt(format!("expected text from Redis, got {other:?}"))),
    }
}

/// A reply as an integer.
pub(super) fn int(value: &Value) -> Result<i64> {
    match value {
        Value::Int(n) => Ok(*n),
        other => text(other)?
            .parse()
            .map_err(|_| corrupt(format!("expected an integer from Redis, got {other:?}"))),
    }
}

/// A reply as a list (nil as an empty one).
pub(super) fn array(value: Value) -> Result<Vec<Value>> {
    match value {
        Value::Array(items) | Value::Set(items) => Ok(items),
        Value::Nil => Ok(Vec::new()),
        other => Err(corrupt(format!(
            "expected an array from Redis, got {other:?}"
        ))),
    }
}

/// A reply as a map of texts (RESP3 map or RESP2 flat pairs).
pub(super) fn hash(value: Value) -> Result<HashMap<String, String>> {
    match value {
        Value::Map(pairs) => pairs
            .iter()
            .map(|(k, v)| Ok((text(k)?, text(v)?)))
            .collect(),
        other => {
            let items = array(other)?;
            items
                .chunks(2)
                .map(|pair| match pair {
                    [k, v] => Ok((text(k)?, text(v)?)),
                    _ => Err(corrupt("odd number of hash fields")),
                })
                .collect()
        }
    }
}

/// Text as hex, for fields that may hold any character (worker names,
/// messages): hex never holds a separator.
pub(super) fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

/// The text of `hex`'s output.
pub(super) fn unhex(text: &str) -> Result<String> {
    let bytes = (0..text.len() / 2)
        .map(|i| u8::from_str_radix(text.get(2 * i..2 * i + 2).unwrap_or("zz"), 16))
        .collect::<std::result::Result<Vec<u8>, _>>()
        .map_err(|_| corrupt(format!("invalid hex text {text:?}")))?;
    String::from_utf8(bytes).map_err(corrupt)
}

/// `hex`, or the empty text for none.
pub(super) fn optional_hex(text: Option<&str>) -> String {
    text.map(hex).unwrap_or_default()
}

/// A progress message and its detail as the one field that carries them
/// (`L_MESSAGE` of a lease, `F_MESSAGE` of a header, an event's message),
/// in hex: the message, then, when there is a detail, a NUL and the
/// detail's JSON. The scripts carry that field without reading it, so the
/// detail needs no field of its own in the lease, the header or the event
/// line, whose layouts every script parses. A message never holds a NUL
/// (the worker takes them out); `""` is neither.
pub(super) fn note_hex(message: Option<&str>, detail: Option<&serde_json::Value>) -> String {
    match detail {
        None => optional_hex(message),
        Some(detail) => hex(&format!("{}\0{detail}", message.unwrap_or(""))),
    }
}

/// The message and the detail of a `note_hex` field. What follows a NUL
/// and is not a JSON object (a message that held a NUL before messages
/// lost them) is left out: a job or an event stays readable.
pub(super) fn note_of(field: &str) -> Result<(Option<String>, Option<serde_json::Value>)> {
    let text = unhex(field)?;
    let (message, detail) = match text.split_once('\0') {
        Some((message, rest)) => (
            message,
            serde_json::from_str::<serde_json::Value>(rest)
                .ok()
                .filter(serde_json::Value::is_object),
        ),
        None => (text.as_str(), None),
    };
    Ok(((!message.is_empty()).then(|| message.to_owned()), detail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_note_gives_back_its_message_and_detail() {
        let detail = serde_json::json!({"placed": 40, "utilization": 61.2});
        let cases = [
            (Some("step 3"), Some(&detail)),
            (None, Some(&detail)),
            (Some("step 3"), None),
            (None, None),
        ];
        for (message, detail) in cases {
            let note = note_hex(message, detail);
            let (m, d) = note_of(&note).unwrap();
            assert_eq!((m.as_deref(), d.as_ref()), (message, detail), "{note}");
        }
        // An empty message is none, as before details.
        assert_eq!(note_hex(Some(""), None), "");
    }

    #[test]
    fn what_follows_a_nul_and_is_no_object_is_left_out() {
        for rest in ["", "not json", "[1, 2]", "42"] {
            let note = hex(&format!("old message\0{rest}"));
            let (m, d) = note_of(&note).unwrap();
            assert_eq!((m.as_deref(), d), (Some("old message"), None), "{rest:?}");
        }
    }

    #[test]
    fn text_survives_hex() {
        assert_eq!(hex("cancel requested"), "63616e63656c20726571756573746564");
        assert_eq!(unhex(&hex("step 3|4\né")).unwrap(), "step 3|4\né");
    }
}
