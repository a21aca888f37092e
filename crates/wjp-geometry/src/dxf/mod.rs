//! DXF reading: bytes to tags ([`tokenizer`]), tags to a document of header
//! variables, blocks and typed entities ([`document`]).

pub mod document;
pub mod tokenizer;

pub use document::{Block, Document, Entity, EntityKind, Header, RawVertex, ReadLimits, P3};
pub use tokenizer::{Tag, TokenInfo, Value};

use crate::error::AnalysisError;

/// Read a whole DXF file (ASCII or binary) into a [`Document`].
pub fn read_document(bytes: &[u8], limits: &ReadLimits) -> Result<Document, AnalysisError> {
    let (tags, info) = tokenizer::tokenize(bytes)?;
    document::build(&tags, info, limits)
}
