//! The one error type of the crate, with stable machine codes.
//!
//! Every message names *what* went wrong and *where* (a line of an ASCII DXF, a
//! byte offset of a binary one), and says what the user can do next.

use std::fmt;

use serde::Serialize;

/// Where in the file something was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "at", rename_all = "snake_case")]
pub enum SourcePos {
    /// 1-based line of an ASCII DXF (the line of the group code).
    Line(usize),
    /// Byte offset in a binary DXF.
    Byte(usize),
}

impl fmt::Display for SourcePos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourcePos::Line(l) => write!(f, "line {l}"),
            SourcePos::Byte(b) => write!(f, "byte offset {b}"),
        }
    }
}

/// Why an analysis could not produce a report.
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    /// The file could not be read from disk. The cause is part of the
    /// message (not a chained source) so every caller shows it exactly once.
    #[error("cannot read {path}: {cause}")]
    Io { path: String, cause: std::io::Error },
    /// The bytes are not a DXF file we can tokenize.
    #[error("not a readable DXF file: {message} at {pos}")]
    Parse { message: String, pos: SourcePos },
    /// The file is larger than the configured limit.
    #[error("the file has {bytes} bytes, over the limit of {limit} bytes; the server's limit must be raised to analyse it")]
    TooLarge { bytes: usize, limit: usize },
    /// The drawing would need more work than the configured limits allow.
    #[error("the drawing is too complex: {what} (limit {limit}) near {pos}; if the file is genuine, the server's limits must be raised")]
    TooComplex {
        what: String,
        limit: u64,
        pos: SourcePos,
    },
    /// Block references form a cycle.
    #[error("block \"{block}\" references itself through {chain} (INSERT at {pos}); the file is damaged")]
    CyclicBlock {
        block: String,
        chain: String,
        pos: SourcePos,
    },
    /// A coordinate is NaN, infinite or absurdly large.
    #[error("{entity} at {pos} has an invalid coordinate ({value:e}); coordinates must be finite and below {limit:e} in magnitude")]
    BadCoordinate {
        entity: String,
        pos: SourcePos,
        value: f64,
        limit: f64,
    },
    /// An option is out of range (material unknown, thickness not positive...).
    #[error("invalid option {name}: {message}")]
    InvalidOption { name: String, message: String },
}

impl AnalysisError {
    /// A stable machine-readable name for the error, for APIs and job records.
    pub fn code(&self) -> &'static str {
        match self {
            AnalysisError::Io { .. } => "dxf_io_error",
            AnalysisError::Parse { .. } => "dxf_parse_error",
            AnalysisError::TooLarge { .. } => "dxf_too_large",
            AnalysisError::TooComplex { .. } => "dxf_too_complex",
            AnalysisError::CyclicBlock { .. } => "dxf_cyclic_block",
            AnalysisError::BadCoordinate { .. } => "dxf_bad_coordinate",
            AnalysisError::InvalidOption { .. } => "invalid_option",
        }
    }

    pub(crate) fn parse(message: impl Into<String>, pos: SourcePos) -> Self {
        AnalysisError::Parse {
            message: message.into(),
            pos,
        }
    }
}
