//! One bulge segment: a straight line when its bulge is 0, else the circular arc
//! whose included angle θ has `bulge = tan(θ/4)` (positive counter-clockwise).
//! Length, area, extent and distances are exact on arcs.

use std::f64::consts::PI;

use super::point::{Bbox, Point};
use super::polygon::point_segment_distance;

/// The circular arc a bulge segment describes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ArcGeom {
    pub center: Point,
    pub radius: f64,
    /// Angle of the start point seen from the centre (radians).
    pub start_angle: f64,
    /// Signed included angle (radians), positive counter-clockwise.
    pub sweep: f64,
}

impl ArcGeom {
    /// The point of the circle seen from the centre at angle `ang` (radians).
    pub fn point_at_angle(&self, ang: f64) -> Point {
        Point::new(
            self.center.x + self.radius * ang.cos(),
            self.center.y + self.radius * ang.sin(),
        )
    }
    /// The point at fraction `t` (0 to 1) of the sweep.
    pub fn point_at(&self, t: f64) -> Point {
        self.point_at_angle(self.start_angle + self.sweep * t)
    }
}

/// Bulges below this are straight lines.
pub const BULGE_EPS: f64 = 1e-12;

/// The arc of segment `p0`→`p1` with bulge `b`, or `None` for a straight segment
/// (or a degenerate chord).
pub fn bulge_arc(p0: Point, p1: Point, b: f64) -> Option<ArcGeom> {
    if b.abs() < BULGE_EPS || !b.is_finite() {
        return None;
    }
    let dx = p1.x - p0.x;
    let dy = p1.y - p0.y;
    let c = dx.hypot(dy);
    if c <= 0.0 {
        return None;
    }
    let sweep = 4.0 * b.atan();
    let k = (1.0 - b * b) / (4.0 * b);
    let center = Point::new((p0.x + p1.x) / 2.0 - dy * k, (p0.y + p1.y) / 2.0 + dx * k);
    let radius = c / (2.0 * (sweep.abs() / 2.0).sin());
    let start_angle = (p0.y - center.y).atan2(p0.x - center.x);
    Some(ArcGeom {
        center,
        radius,
        start_angle,
        sweep,
    })
}

/// Length of one segment: arc length for bulges, chord otherwise.
pub fn segment_length(p0: Point, p1: Point, b: f64) -> f64 {
    match bulge_arc(p0, p1, b) {
        Some(a) => a.radius * a.sweep.abs(),
        None => p0.dist(p1),
    }
}

/// Add the exact extent of one segment (including arc extremes) to a box.
pub fn segment_bbox(p0: Point, p1: Point, b: f64, bbox: &mut Bbox) {
    bbox.add(p0);
    bbox.add(p1);
    if let Some(a) = bulge_arc(p0, p1, b) {
        // The arc passes through the axis directions k*90° inside its sweep.
        let (lo, hi) = if a.sweep >= 0.0 {
            (a.start_angle, a.start_angle + a.sweep)
        } else {
            (a.start_angle + a.sweep, a.start_angle)
        };
        let mut k = (lo / (PI / 2.0)).ceil();
        while k * (PI / 2.0) <= hi {
            bbox.add(a.point_at_angle(k * (PI / 2.0)));
            k += 1.0;
        }
    }
}

/// Signed area contribution of one segment (shoelace term plus the circular
/// segment between chord and arc).
pub fn segment_area(p0: Point, p1: Point, b: f64) -> f64 {
    let mut a = (p0.x * p1.y - p1.x * p0.y) / 2.0;
    if let Some(arc) = bulge_arc(p0, p1, b) {
        let t = arc.sweep.abs();
        a += arc.sweep.signum() * arc.radius * arc.radius * (t - t.sin()) / 2.0;
    }
    a
}

/// Append the points of one segment (excluding `p0`, including `p1`) flattened so
/// the chord deviates from the arc by at most `tol`.
pub fn flatten_segment(p0: Point, p1: Point, b: f64, tol: f64, out: &mut Vec<Point>) {
    match bulge_arc(p0, p1, b) {
        None => out.push(p1),
        Some(a) => {
            let n = arc_steps(a.radius, a.sweep, tol);
            for i in 1..n {
                out.push(a.point_at_angle(a.start_angle + a.sweep * (i as f64) / (n as f64)));
            }
            out.push(p1);
        }
    }
}

/// Number of chords for an arc so the sagitta stays below `tol` (bounded).
pub fn arc_steps(radius: f64, sweep: f64, tol: f64) -> usize {
    let tol = tol.max(radius * 1e-9).max(1e-12);
    let max_step = if tol >= radius {
        PI / 2.0
    } else {
        2.0 * (1.0 - tol / radius).acos()
    };
    let n = (sweep.abs() / max_step.max(1e-6)).ceil();
    (n as usize).clamp(1, 4096)
}

/// Point at parameter `t` (0 to 1) along a segment (by angle on an arc).
pub fn segment_point(p0: Point, p1: Point, b: f64, t: f64) -> Point {
    match bulge_arc(p0, p1, b) {
        None => p0 + (p1 - p0) * t,
        Some(a) => a.point_at(t),
    }
}

/// Unit tangent, in the direction of travel, at the start (`at_end = false`) or
/// the end of a segment.
pub fn segment_tangent(p0: Point, p1: Point, b: f64, at_end: bool) -> Point {
    match bulge_arc(p0, p1, b) {
        None => (p1 - p0).unit(),
        Some(a) => {
            let p = if at_end { p1 } else { p0 };
            let radial = (p - a.center).unit();
            if a.sweep >= 0.0 {
                radial.left()
            } else {
                -radial.left()
            }
        }
    }
}

/// Distance from `p` to a segment (exact for arcs).
pub fn bulge_segment_distance(p: Point, p0: Point, p1: Point, b: f64) -> f64 {
    let Some(a) = bulge_arc(p0, p1, b) else {
        return point_segment_distance(p, p0, p1);
    };
    let ang = (p.y - a.center.y).atan2(p.x - a.center.x);
    // Is `ang` inside the sweep?
    let rel = if a.sweep >= 0.0 {
        (ang - a.start_angle).rem_euclid(2.0 * PI)
    } else {
        (a.start_angle - ang).rem_euclid(2.0 * PI)
    };
    if rel <= a.sweep.abs() {
        (p.dist(a.center) - a.radius).abs()
    } else {
        p.dist(p0).min(p.dist(p1))
    }
}
