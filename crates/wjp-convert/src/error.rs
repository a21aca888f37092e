//! The error enums of the crate: one per entry point, each variant with a stable code.

use thiserror::Error;

/// Why an image could not be converted. `code()` is stable and machine-readable;
/// the message says what is wrong and what to do next.
#[derive(Debug, Error)]
pub enum ConvertError {
    #[error("the input is empty (0 bytes): send a PNG, JPEG or BMP image")]
    EmptyInput,
    #[error("the input is {bytes} bytes, more than the limit of {limit} bytes")]
    InputTooLarge { bytes: usize, limit: usize },
    #[error("unsupported image format ({detected}): send a PNG, JPEG or BMP image")]
    UnsupportedFormat { detected: String },
    #[error("the {format} image is corrupt or truncated: {message}")]
    CorruptImage { format: String, message: String },
    #[error(
        "the image is {width} x {height} = {pixels} pixels, more than the limit of {limit} \
         pixels: scale it down or raise max_pixels"
    )]
    TooManyPixels {
        width: u32,
        height: u32,
        pixels: u64,
        limit: u64,
    },
    #[error("the image has no pixels ({width} x {height})")]
    EmptyImage { width: u32, height: u32 },
    #[error("invalid option {name}: {message}")]
    InvalidOption { name: &'static str, message: String },
    #[error(
        "no shapes to cut: {found} outlines found at threshold {threshold}, all dropped as \
         smaller than min_area_px = {min_area_px}; lower min_area_px, change the threshold, \
         or set invert"
    )]
    NoShapes {
        found: usize,
        threshold: u8,
        min_area_px: f64,
    },
    #[error(
        "the traced outlines are too complex to simplify ({points} boundary points): \
         blur the image, open it, or raise min_area_px"
    )]
    TooComplex { points: usize },
}

impl ConvertError {
    /// Stable machine-readable name of the error.
    pub fn code(&self) -> &'static str {
        match self {
            ConvertError::EmptyInput => "empty_input",
            ConvertError::InputTooLarge { .. } => "input_too_large",
            ConvertError::UnsupportedFormat { .. } => "unsupported_format",
            ConvertError::CorruptImage { .. } => "corrupt_image",
            ConvertError::TooManyPixels { .. } => "too_many_pixels",
            ConvertError::EmptyImage { .. } => "empty_image",
            ConvertError::InvalidOption { .. } => "invalid_option",
            ConvertError::NoShapes { .. } => "no_shapes",
            ConvertError::TooComplex { .. } => "too_complex",
        }
    }
}

/// Why a CSV export could not be analysed. Lines are 1-based as an editor shows
/// them; columns are 1-based and named.
#[derive(Debug, Error)]
pub enum CsvError {
    #[error("the CSV file is empty: expected a header with Area_mm2 and Perimeter_mm")]
    Empty,
    #[error("the CSV file is {bytes} bytes, more than the limit of {limit} bytes")]
    TooLarge { bytes: usize, limit: usize },
    #[error("the CSV file is {encoding}: save it as UTF-8")]
    WrongEncoding { encoding: &'static str },
    #[error("line {line}, column {column} ({name}) is not valid UTF-8: save the file as UTF-8")]
    NotUtf8 {
        line: u64,
        column: usize,
        name: String,
    },
    /// Messages name positions and our own column names, never the
    /// file's text: an error may reach someone who did not send the file.
    #[error("required column {name} is missing from the header ({found} columns)")]
    MissingColumn { name: &'static str, found: usize },
    #[error("column {name} appears twice in the header (columns {first} and {second})")]
    DuplicateColumn {
        name: String,
        first: usize,
        second: usize,
    },
    #[error("the header has {found} columns, more than the limit of {limit}")]
    TooManyColumns { found: usize, limit: usize },
    #[error("more than {limit} data rows: split the file")]
    TooManyRows { limit: usize },
    #[error("line {line}, column {column} ({name}): the field is {len} bytes, more than the limit of {limit}")]
    FieldTooLong {
        line: u64,
        column: usize,
        name: String,
        len: usize,
        limit: usize,
    },
    #[error("line {line} has {found} fields but the header has {expected}")]
    RaggedRow {
        line: u64,
        expected: usize,
        found: usize,
    },
    #[error("line {line}, column {column} ({name}) is not a number")]
    BadNumber {
        line: u64,
        column: usize,
        name: String,
        /// The text found (for programs; not in the message).
        value: String,
    },
    #[error("line {line}, column {column} ({name}): the value {reason}")]
    BadValue {
        line: u64,
        column: usize,
        name: String,
        /// The text found (for programs; not in the message).
        value: String,
        reason: &'static str,
    },
    #[error("line {line}: malformed CSV: {message}")]
    Malformed { line: u64, message: String },
    #[error("invalid option {name}: {message}")]
    InvalidOption { name: &'static str, message: String },
}

impl CsvError {
    /// Stable machine-readable name of the error.
    pub fn code(&self) -> &'static str {
        match self {
            CsvError::Empty => "csv_empty",
            CsvError::TooLarge { .. } => "csv_too_large",
            CsvError::WrongEncoding { .. } => "csv_wrong_encoding",
            CsvError::NotUtf8 { .. } => "csv_not_utf8",
            CsvError::MissingColumn { .. } => "csv_missing_column",
            CsvError::DuplicateColumn { .. } => "csv_duplicate_column",
            CsvError::TooManyColumns { .. } => "csv_too_many_columns",
            CsvError::TooManyRows { .. } => "csv_too_many_rows",
            CsvError::FieldTooLong { .. } => "csv_field_too_long",
            CsvError::RaggedRow { .. } => "csv_ragged_row",
            CsvError::BadNumber { .. } => "csv_bad_number",
            CsvError::BadValue { .. } => "csv_bad_value",
            CsvError::Malformed { .. } => "csv_malformed",
            CsvError::InvalidOption { .. } => "csv_invalid_option",
        }
    }
}
