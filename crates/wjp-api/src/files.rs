//! The managed folders of the data directory ([`wjp_store::Folders`]) as
//! the API uses them: a refused client path becomes an API error with the
//! store's stable code (400, or 404 for a file that does not exist).
//!
//! **Invariant**: every path the API hands to a job or reads for a client
//! went through [`Folders::resolve`] (a client path) or was named by the
//! service ([`unique_name`], a job's artefact).

pub use wjp_store::{tagged_name, unique_name, Folders, PathError};

use axum::http::StatusCode;

use crate::error::{ApiError, Code};

impl From<PathError> for ApiError {
    fn from(e: PathError) -> Self {
        let status = match e {
            PathError::NotFound { .. } => StatusCode::NOT_FOUND,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError::new(Code::Store(e.code(), status), e.to_string())
    }
}
