//! Stock: small named pools of items that a program keeps beside its jobs,
//! each of which one holder at a time may take, then use up or give back.
//!
//! The engine knows nothing of what an item is: its body is the program's
//! JSON text. What it guarantees is that taking is atomic (one SQL
//! transaction, one Redis script over one hash tag): of processes asking for
//! the same item at once, on any machine that shares the store, exactly one
//! gets it. A hold lasts until a time its holder gives, so an item held by a
//! process that died is free again once that passes; the same holder may
//! take its own items again (a job run again after its worker died).
//!
//! Bounds: names and ids are short and plain, a body is at most
//! [`MAX_BODY_BYTES`], and a pool holds at most the count its caller passes
//! to [`crate::Queue::stock_add`], checked in the same atomic step.

use serde::{Deserialize, Serialize};

use crate::error::{QueueError, Result};
use crate::job::Timestamp;

/// Longest pool name and item id, bytes.
pub const MAX_NAME_BYTES: usize = 64;
/// Longest holder name, bytes (a job id fits).
pub const MAX_HOLDER_BYTES: usize = 256;
/// Largest item body, bytes of JSON text.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// Most items one call may take or settle.
pub const MAX_ITEMS_PER_CALL: usize = 1000;

/// One item of a pool as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StockItem {
    /// Unique within its pool.
    pub id: String,
    /// The program's JSON text.
    pub body: String,
    /// Who holds it, while the hold lasts (an expired hold is shown too).
    pub holder: Option<String>,
    /// When the hold runs out.
    pub held_until: Option<Timestamp>,
}

impl StockItem {
    /// Whether `holder` may take it at `now`: nobody holds it, its hold has
    /// run out, or `holder` holds it already.
    pub fn takeable_by(&self, holder: &str, now: Timestamp) -> bool {
        match (&self.holder, self.held_until) {
            (Some(who), Some(until)) => who == holder || until <= now,
            _ => true,
        }
    }
}

/// A pool name or an item id: 1 to [`MAX_NAME_BYTES`] of ASCII letters,
/// digits, `-` and `_`.
pub(crate) fn check_name(what: &str, name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > MAX_NAME_BYTES
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(QueueError::InvalidRequest(format!(
            "stock {what} {name:?}: give 1 to {MAX_NAME_BYTES} letters, digits, '-' or '_'"
        )));
    }
    Ok(())
}

/// A holder: 1 to [`MAX_HOLDER_BYTES`] bytes without control characters.
pub(crate) fn check_holder(holder: &str) -> Result<()> {
    if holder.is_empty() || holder.len() > MAX_HOLDER_BYTES || holder.chars().any(char::is_control)
    {
        return Err(QueueError::InvalidRequest(format!(
            "stock holder: give 1 to {MAX_HOLDER_BYTES} bytes without control characters"
        )));
    }
    Ok(())
}

/// A body: JSON text of at most [`MAX_BODY_BYTES`].
pub(crate) fn check_body(body: &str) -> Result<()> {
    if body.len() > MAX_BODY_BYTES {
        return Err(QueueError::InvalidRequest(format!(
            "stock item of {} bytes (limit {MAX_BODY_BYTES})",
            body.len()
        )));
    }
    serde_json::from_str::<serde_json::Value>(body)
        .map(|_| ())
        .map_err(|e| QueueError::InvalidRequest(format!("stock item is not JSON: {e}")))
}

/// Item ids of one call: each a valid name, at most [`MAX_ITEMS_PER_CALL`].
pub(crate) fn check_ids(ids: &[String]) -> Result<()> {
    if ids.len() > MAX_ITEMS_PER_CALL {
        return Err(QueueError::InvalidRequest(format!(
            "{} stock items in one call (limit {MAX_ITEMS_PER_CALL})",
            ids.len()
        )));
    }
    ids.iter().try_for_each(|id| check_name("item", id))
}

/// Whether `id` could name an item (for callers that answer "not found" to
/// anything else without asking the store).
pub fn check_item_id(id: &str) -> Result<()> {
    check_name("item", id)
}
