//! The one integration test binary of wjp-convert (one link for all tests).

mod csv_tests;
mod image_tests;
mod previews;
mod properties;
mod support;
#[path = "../../wjp-geometry/tests/integration/svg_read.rs"]
mod svg_read;
