//! Plane geometry of cut paths: points and vectors ([`point`]), bulge segments
//! ([`segment`]), bulge polylines ([`path`]), affine maps ([`affine`]), ring
//! predicates ([`polygon`]) and the curve evaluators in [`curves`].
//!
//! A cut path is a list of [`Vertex`]es; the bulge of vertex *i* describes the
//! segment from *i* to *i+1* (for a closed path the last vertex's bulge describes the
//! closing segment). Bulge = tan(θ/4), θ the arc's included angle, positive
//! counter-clockwise. Length, area, bounding box and radius are computed exactly on
//! arcs; arcs are flattened only for point-in-polygon tests and non-uniform scaling.
//!
//! Within: `point` ← `polygon` ← `segment` ← `path` (which also uses `affine`);
//! `curves` uses `point` and `polygon`.

pub mod affine;
pub mod curves;
pub mod path;
pub mod point;
pub mod polygon;
pub mod segment;

pub use affine::Affine;
pub use path::{arc_path, circle_path, segments_of, Path};
pub use point::{Bbox, Point, Vertex};
pub use polygon::{
    convex_hull, dedupe_ring, is_simple, orient, point_in_ring, point_segment_distance,
    segment_distance, segments_meet,
};
pub use segment::{
    arc_steps, bulge_arc, bulge_segment_distance, flatten_segment, segment_area, segment_bbox,
    segment_length, segment_point, segment_tangent, ArcGeom, BULGE_EPS,
};
