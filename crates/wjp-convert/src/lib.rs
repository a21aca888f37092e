//! What customers send, made quotable: raster images traced to DXF, and component
//! CSV exports analysed.
//!
//! Two entry points, both pure and synchronous (no queues, no HTTP, no async):
//!
//! - [`image_to_dxf`]: PNG/JPEG/BMP bytes to a millimetre DXF (closed LWPOLYLINEs
//!   with bulges, outers on `OUTER`, holes on `INNER`), an SVG preview and a report.
//!   See [`mod@image`] for the pipeline and its coordinate conventions.
//! - [`analyze_components_csv`]: the analyser's component or lengths export to
//!   statistics, per-layer figures, the largest and smallest objects,
//!   recommendations and a viability score, under the old system's field names.
//!
//! Architecture invariant: no input makes these functions panic, and their time and
//! memory are bounded by the options' limits (pixels read from the header before
//! decoding; CSV bytes, rows, columns and field sizes capped).

pub mod csv_analysis;
pub mod error;
pub mod image;
pub mod options;

pub use csv_analysis::{analyze_components_csv, CsvAnalysis, CsvFormat, CsvOptions, Viability};
pub use error::{ConvertError, CsvError};
pub use image::{
    image_to_dxf, ContourRole, Conversion, ConversionReport, TracedContour, Vertex, INNER_LAYER,
    OUTER_LAYER,
};
pub use options::ConvertOptions;
