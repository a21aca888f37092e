//! The one integration test binary of wjp-cam.
mod common;
mod gcode_test;
mod hostile_test;
mod nest_test;
