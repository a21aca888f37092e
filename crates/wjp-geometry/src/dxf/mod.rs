//! DXF in and out. Reading: bytes to tags ([`tokenizer`]), tags to a document of
//! header variables, blocks and typed entities ([`document`]). Writing: contours
//! to an R2000 file of LWPOLYLINEs on layers ([`writer`], the one DXF writer of
//! wjp). The writer shares nothing with the reader but the geometry types.

pub mod document;
pub mod tokenizer;
pub mod writer;

pub use document::{Block, Document, Entity, EntityKind, Header, RawVertex, ReadLimits, P3};
pub use tokenizer::{Tag, TokenInfo, Value};
pub use writer::{write_dxf, Layer, Polyline};

use crate::error::AnalysisError;

/// Read a whole DXF file (ASCII or binary) into a [`Document`].
pub fn read_document(bytes: &[u8], limits: &ReadLimits) -> Result<Document, AnalysisError> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(AnalysisError::parse(
            "the file is empty",
            crate::error::SourcePos::Byte(0),
        ));
    }
    let (tags, info) = tokenizer::tokenize(bytes)?;
    let has_section = tags.iter().any(|t| t.code == 0 && t.str() == "SECTION");
    let doc = document::build(&tags, info, limits)?;
    let known = doc
        .entities
        .iter()
        .any(|e| !matches!(e.kind, EntityKind::Other));
    if !has_section && !known {
        let pos = tags
            .first()
            .map(|t| t.pos)
            .unwrap_or(crate::error::SourcePos::Byte(0));
        return Err(AnalysisError::parse(
            "no SECTION and no drawing entity found: this is not a DXF file",
            pos,
        ));
    }
    Ok(doc)
}
