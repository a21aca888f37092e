//! Errors of the CAM crate: one variant per thing the caller can get wrong, each
//! with a stable machine-readable [`CamError::code`].

use thiserror::Error;

/// What went wrong while nesting or writing G-code.
#[derive(Debug, Error)]
pub enum CamError {
    /// The DXF could not be read (the geometry crate's error, with its code).
    #[error("cannot read the drawing: {0}")]
    Drawing(#[from] wjp_geometry::AnalysisError),
    /// An option is out of range or unknown.
    #[error("invalid option `{name}`: {message}")]
    InvalidOption { name: String, message: String },
    /// The dialect name is not one of [`crate::Dialect::NAMES`].
    #[error("unknown G-code dialect \"{name}\"; known: {known}")]
    UnknownDialect { name: String, known: String },
    /// The material is not in the material table.
    #[error("unknown material \"{name}\"; known: {known}")]
    UnknownMaterial { name: String, known: String },
    /// The drawing has open contours and the options say to refuse them.
    #[error("the drawing has {count} open contour(s) (first: contour {first}); close them in CAD or set open_contours = \"cut\" to cut them along the drawn line without kerf compensation")]
    OpenContours { count: usize, first: usize },
    /// Nothing to cut or nest.
    #[error("nothing to {what}: {message}")]
    Empty { what: &'static str, message: String },
    /// A part input is unusable (no closed outer contour, bad quantity...).
    #[error("part \"{part}\": {message}")]
    BadPart { part: String, message: String },
    /// The offsetting or nesting engine failed on this geometry.
    #[error("geometry engine failed on {what}: {message}")]
    Engine { what: String, message: String },
    /// Work bounds exceeded (too many parts, moves...).
    #[error("too large: {message}")]
    TooLarge { message: String },
}

impl CamError {
    /// Stable machine-readable name of the error.
    pub fn code(&self) -> &'static str {
        match self {
            CamError::Drawing(e) => e.code(),
            CamError::InvalidOption { .. } => "invalid_option",
            CamError::UnknownDialect { .. } => "unknown_dialect",
            CamError::UnknownMaterial { .. } => "unknown_material",
            CamError::OpenContours { .. } => "open_contours",
            CamError::Empty { .. } => "nothing_to_do",
            CamError::BadPart { .. } => "bad_part",
            CamError::Engine { .. } => "geometry_engine_failed",
            CamError::TooLarge { .. } => "too_large",
        }
    }

    pub(crate) fn option(name: &str, message: impl Into<String>) -> Self {
        CamError::InvalidOption {
            name: name.to_owned(),
            message: message.into(),
        }
    }
}
