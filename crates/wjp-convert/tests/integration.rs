//! The one integration test binary of wjp-convert (one link for all tests).

mod csv_tests;
mod image_tests;
mod properties;
mod support;
