//! The one integration test binary of wjp-cam.
mod gcode_test;
mod hostile_test;
mod nest_shop_test;
mod nest_test;
mod support;
#[path = "../../wjp-geometry/tests/integration/svg_read.rs"]
mod svg_read;
