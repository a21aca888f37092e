//! Topology: from loose cut paths (millimetres) to contours, parts and a cut order.
//!
//! [`build`] runs the steps in order, one module each:
//! 1. `clean`: drop zero-length paths; count tiny segments and dense polylines.
//! 2. `duplicates`: remove exact duplicates (they would be cut twice) and measure
//!    collinear overlaps.
//! 3. `join`: join open paths end to end within the snap tolerance, reporting the
//!    gaps closed and the junctions where more than two ends meet.
//! 4. `contours`: each closed path or chain becomes a [`Contour`] with its figures.
//! 5. `nesting`: classify closed contours by containment (depth and parent).
//! 6. `parts`: even depth = a part's outer boundary, odd = a hole of the part
//!    around it, depth 2 = an island, i.e. another part.
//! 7. `corners`: inside radii, small-radius arcs and sharp corners.
//! 8. `order`: the cut order (deeper parts first, holes before their outer,
//!    nearest neighbour next) and the rapid travel.
//! 9. `web`: the narrowest web or gap between contours.
//! 10. `findings` and `layers`: the warnings about all of it.
//!
//! Each step reads what the steps before it left in the [`Topology`]; none looks
//! ahead. Grids keyed by `fast_hash` keep nesting and the web check near-linear.

mod clean;
mod contours;
mod corners;
mod duplicates;
mod fast_hash;
mod findings;
mod join;
mod layers;
mod nesting;
mod order;
mod parts;
mod web;

use serde::Serialize;

use crate::expand::SourcePath;
use crate::geom::{Bbox, Path, Point, Vertex};
use crate::warning::Warning;

pub use layers::intent_of_layer;

/// What a contour is in the part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ContourRole {
    /// Outer boundary of a part (even nesting depth).
    Outer,
    /// A hole (odd nesting depth).
    Hole,
    /// An open chain: cut, but encloses nothing.
    Open,
}

/// One contour of the drawing, in millimetres. Arcs are kept as bulges.
#[derive(Debug, Clone, Serialize)]
pub struct Contour {
    pub id: usize,
    /// The path (bulge polyline). Not serialized in reports (they would be huge);
    /// use [`crate::Drawing::contours`].
    #[serde(skip)]
    pub path: Path,
    pub closed: bool,
    pub role: ContourRole,
    pub layer: String,
    pub length_mm: f64,
    /// Signed area, positive counter-clockwise (0 for open chains).
    pub area_mm2: f64,
    /// "ccw", "cw" or "open".
    pub orientation: &'static str,
    pub bbox_mm: [f64; 4],
    /// Number of closed contours that contain this one.
    pub depth: usize,
    /// The smallest closed contour containing this one.
    pub parent: Option<usize>,
    /// The part this contour belongs to.
    pub part: Option<usize>,
    /// Smallest radius of an arc on the material side (an inside corner).
    pub smallest_inside_radius_mm: Option<f64>,
    pub vertex_count: usize,
    /// Entities joined into this contour.
    pub source_entities: usize,
    /// DXF type of the first entity of the contour.
    pub source_entity: String,
    /// Gaps (0 < gap <= snap tolerance) closed while joining.
    pub gaps_closed: usize,
}

impl Contour {
    /// The contour's vertices (mm, bulges).
    pub fn vertices(&self) -> &[Vertex] {
        &self.path.vertices
    }
}

/// A part: an outer boundary with its holes.
#[derive(Debug, Clone, Serialize)]
pub struct Part {
    pub id: usize,
    pub outer: usize,
    pub holes: Vec<usize>,
    /// Outer area minus hole areas, mm².
    pub net_area_mm2: f64,
    pub bbox_mm: [f64; 4],
    pub width_mm: f64,
    pub height_mm: f64,
    pub cut_length_mm: f64,
    pub pierces: u64,
}

/// Tunables of the topology pass.
#[derive(Debug, Clone, Copy)]
pub struct TopologyOptions {
    pub snap_tolerance_mm: f64,
    pub tiny_segment_mm: f64,
    pub kerf_mm: f64,
    pub small_radius_mm: f64,
    /// Corner angle above which a vertex is a sharp corner (degrees of turn).
    pub sharp_corner_deg: f64,
    pub dense_polyline_vertices: usize,
    pub dense_polyline_mean_segment_mm: f64,
    /// Cap on segment pairs examined by the web check.
    pub web_check_budget: u64,
}

/// The result of the topology pass.
#[derive(Debug, Clone, Default)]
pub struct Topology {
    pub contours: Vec<Contour>,
    pub parts: Vec<Part>,
    /// Contour ids in cutting order.
    pub cut_order: Vec<usize>,
    /// Pierce points in cutting order.
    pub pierce_points: Vec<Point>,
    pub rapid_mm: f64,
    pub rapid_start: Option<Point>,
    pub duplicates: usize,
    pub duplicate_length_mm: f64,
    pub overlap_length_mm: f64,
    pub zero_length: usize,
    pub tiny_segments: usize,
    pub gaps_closed: usize,
    pub max_gap_closed_mm: f64,
    pub junctions: usize,
    pub sharp_corners: u64,
    pub small_radius_length_mm: f64,
    pub min_web_mm: Option<f64>,
    pub warnings: Vec<Warning>,
}

/// Run the topology pass.
pub fn build(paths: Vec<SourcePath>, o: &TopologyOptions) -> Topology {
    let mut t = Topology::default();
    let tol = o.snap_tolerance_mm.max(1e-9);
    let cleaned = clean::drop_zero_length(paths, o, &mut t);
    let unique = duplicates::remove_duplicates(cleaned.paths, tol, &mut t);
    t.overlap_length_mm = duplicates::collinear_overlap(&unique, tol);
    let chains = join::into_chains(unique, tol, &mut t);
    t.contours = chains
        .into_iter()
        .enumerate()
        .map(|(id, chain)| contours::contour_of(id, chain))
        .collect();
    nesting::nest(&mut t.contours);
    t.parts = parts::assemble(&mut t.contours);
    corners::measure(&mut t, o);
    order::order_cuts(&mut t);
    t.min_web_mm = web::min_web(
        &t.contours,
        2.0 * o.kerf_mm,
        o.web_check_budget,
        &mut t.warnings,
    );
    findings::warn(&mut t, o, cleaned.dense_polylines);
    t
}

/// How finely a closed contour is flattened for point-in-ring tests: a ten
/// thousandth of its size, within [1e-6, 0.05] mm.
fn ring_tol(bb: &Bbox) -> f64 {
    (bb.width().max(bb.height()) * 1e-4).clamp(1e-6, 0.05)
}
