//! The one warning type of wjp's geometry, conversion and CAM libraries: a stable
//! code, how many things it concerns, and a message for people.

use serde::Serialize;

/// A warning (or note) with a stable code.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Warning {
    /// Stable machine-readable name (`units_suspicious`, `open_contours`...).
    pub code: String,
    /// How many things it concerns.
    pub count: u64,
    pub message: String,
}

impl Warning {
    pub fn new(code: &str, count: u64, message: impl Into<String>) -> Self {
        Warning {
            code: code.to_owned(),
            count,
            message: message.into(),
        }
    }
}
