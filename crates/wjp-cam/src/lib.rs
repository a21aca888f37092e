//! # wjp-cam: from parts to machine
//!
//! A pure, synchronous library (no queues, no HTTP, no async) that takes the
//! contours `wjp-geometry` reads from a DXF and
//!
//! 1. **writes G-code** ([`generate_gcode`]): every closed contour is offset by
//!    kerf/2 with `cavalier_contours` (outer boundaries outward, holes inward, arcs
//!    kept as arcs), given a start point, a lead-in and a lead-out on the scrap side,
//!    and ordered holes-before-outer by nearest neighbour ([`toolpath`]); the moves
//!    are written in a named, documented [`Dialect`] (`linuxcnc`, `fanuc`) with the
//!    feed and pierce time of wjp-geometry's speed model;
//! 2. **nests parts on sheets** ([`nest()`]): true-shape placement on the `jagua-rs`
//!    collision engine (each part by its flattened outer contour, its holes carried
//!    along), a bottom-left fill tried over several orders until the time limit;
//!    optionally small parts inside the holes of large ones.
//!
//! Invariants: nothing here panics on any input (the offset engine runs under
//! `catch_unwind`), every loop is bounded, all lengths are millimetres, the
//! machine origin is (0, 0).

pub mod dialect;
pub mod error;
pub mod gcode;
pub mod nest;
pub mod svg;
pub mod toolpath;

pub use dialect::{CommentStyle, Dialect, DwellUnit};
pub use error::CamError;
pub use gcode::{generate_gcode, GcodeOptions, GcodeProgram, GcodeSummary, OpenContourPolicy};
pub use nest::{
    nest, nest_with_clock, BestSoFar, CutListEntry, CutPlacement, FailedObject, NestOptions,
    NestProgress, NestResult, PartInput, Placement, Remnant, SheetResult, SheetSpec, UnplacedPart,
};
pub use toolpath::{LeadKind, LeadOptions};
/// Warnings of the output: wjp-geometry's one warning type (stable `code`, the
/// `count` of things it concerns, a message for people).
pub use wjp_geometry::Warning;
