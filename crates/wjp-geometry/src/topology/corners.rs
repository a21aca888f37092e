//! Step 7: what slows the jet or defeats it: arcs tighter than the small-radius
//! limit, inside corners (arcs on the material side) and sharp corners between
//! segments.

use std::f64::consts::{PI, TAU};

use super::{ContourRole, Topology, TopologyOptions};
use crate::geom::{bulge_arc, Path, Point};

/// What the corners and arcs of one contour ask of the machine.
struct CornerFigures {
    /// Smallest radius of an arc on the material side (an inside corner).
    smallest_inside_radius_mm: Option<f64>,
    /// Length of arcs tighter than the small-radius limit.
    small_radius_length_mm: f64,
    /// Corners turning more than the sharp-corner angle.
    sharp_corners: u64,
}

/// Sets each contour's smallest inside radius and the totals of small-radius
/// length and sharp corners.
pub(super) fn measure(t: &mut Topology, o: &TopologyOptions) {
    for c in &mut t.contours {
        let f = corner_figures(&c.path, c.role, o.small_radius_mm, o.sharp_corner_deg);
        c.smallest_inside_radius_mm = f.smallest_inside_radius_mm;
        t.small_radius_length_mm += f.small_radius_length_mm;
        t.sharp_corners += f.sharp_corners;
    }
}

#[inline(never)] // one call per analysis; kept separate for profiles
fn corner_figures(
    p: &Path,
    role: ContourRole,
    small_radius_mm: f64,
    sharp_deg: f64,
) -> CornerFigures {
    let orient = p.signed_area().signum();
    let mut inside: Option<f64> = None;
    let mut small = 0.0;
    let segs: Vec<(Point, Point, f64)> = p.segments().collect();
    for &(a, b, k) in &segs {
        if let Some(arc) = bulge_arc(a, b, k) {
            if arc.radius < small_radius_mm {
                small += arc.radius * arc.sweep.abs();
            }
            let concave = match role {
                // Outer: material inside; arcs turning against the orientation are
                // inside corners. Hole: material outside; arcs turning with it.
                ContourRole::Outer => arc.sweep.signum() != orient,
                ContourRole::Hole => arc.sweep.signum() == orient,
                ContourRole::Open => false,
            };
            if concave {
                inside = Some(inside.map_or(arc.radius, |r: f64| r.min(arc.radius)));
            }
        }
    }
    CornerFigures {
        smallest_inside_radius_mm: inside,
        small_radius_length_mm: small,
        sharp_corners: sharp_corners(&segs, p.closed, sharp_deg),
    }
}

/// Corners between consecutive segments (and, when closed, between the last and
/// the first) whose direction turns by more than `sharp_deg`.
fn sharp_corners(segs: &[(Point, Point, f64)], closed: bool, sharp_deg: f64) -> u64 {
    // Direction of travel (radians) at the start or end of a segment.
    let tangent = |a: Point, b: Point, k: f64, at_end: bool| -> f64 {
        let chord = (b.y - a.y).atan2(b.x - a.x);
        let half = 2.0 * k.atan(); // sweep / 2
        if at_end {
            chord + half
        } else {
            chord - half
        }
    };
    let mut corners = 0u64;
    let n = segs.len();
    let pairs = if closed { n } else { n.saturating_sub(1) };
    for i in 0..pairs {
        let (a0, b0, k0) = segs[i];
        let (a1, b1, k1) = segs[(i + 1) % n];
        if a0.dist(b0) < 1e-12 || a1.dist(b1) < 1e-12 {
            continue;
        }
        let t0 = tangent(a0, b0, k0, true);
        let t1 = tangent(a1, b1, k1, false);
        let mut d = (t1 - t0).rem_euclid(TAU);
        if d > PI {
            d = TAU - d;
        }
        if d.to_degrees() > sharp_deg {
            corners += 1;
        }
    }
    corners
}
