//! Plane geometry of cut paths: points, bulge polylines (arcs stay arcs), affine
//! transforms, bounding boxes, and the curve evaluators in [`curves`].
//!
//! A cut path is a list of [`Vertex`]es; the bulge of vertex *i* describes the
//! segment from *i* to *i+1* (for a closed path the last vertex's bulge describes the
//! closing segment). Bulge = tan(θ/4), θ the arc's included angle, positive
//! counter-clockwise. Length, area, bounding box and radius are computed exactly on
//! arcs; arcs are flattened only for point-in-polygon tests and non-uniform scaling.

pub mod curves;

use serde::{Deserialize, Serialize};
use std::f64::consts::PI;

/// A point in the plane.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub x: f64,
    pub y: f64,
}

impl Point {
    pub const fn new(x: f64, y: f64) -> Self {
        Point { x, y }
    }
    pub fn dist(self, o: Point) -> f64 {
        (self.x - o.x).hypot(self.y - o.y)
    }
}

/// A polyline vertex with the bulge of the segment starting at it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Vertex {
    pub x: f64,
    pub y: f64,
    pub bulge: f64,
}

impl Vertex {
    pub const fn new(x: f64, y: f64, bulge: f64) -> Self {
        Vertex { x, y, bulge }
    }
    pub fn point(&self) -> Point {
        Point::new(self.x, self.y)
    }
}

/// An axis-aligned bounding box.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bbox {
    pub min_x: f64,
    pub min_y: f64,
    pub max_x: f64,
    pub max_y: f64,
}

impl Default for Bbox {
    fn default() -> Self {
        Self::EMPTY
    }
}

impl Bbox {
    pub const EMPTY: Bbox = Bbox {
        min_x: f64::INFINITY,
        min_y: f64::INFINITY,
        max_x: f64::NEG_INFINITY,
        max_y: f64::NEG_INFINITY,
    };
    pub fn is_empty(&self) -> bool {
        self.min_x > self.max_x
    }
    pub fn add(&mut self, p: Point) {
        self.min_x = self.min_x.min(p.x);
        self.min_y = self.min_y.min(p.y);
        self.max_x = self.max_x.max(p.x);
        self.max_y = self.max_y.max(p.y);
    }
    pub fn union(&mut self, o: &Bbox) {
        if !o.is_empty() {
            self.add(Point::new(o.min_x, o.min_y));
            self.add(Point::new(o.max_x, o.max_y));
        }
    }
    pub fn width(&self) -> f64 {
        if self.is_empty() {
            0.0
        } else {
            self.max_x - self.min_x
        }
    }
    pub fn height(&self) -> f64 {
        if self.is_empty() {
            0.0
        } else {
            self.max_y - self.min_y
        }
    }
    pub fn to_array(&self) -> Option<[f64; 4]> {
        (!self.is_empty()).then_some([self.min_x, self.min_y, self.max_x, self.max_y])
    }
    /// `self` contains `o` (with a tolerance).
    pub fn contains(&self, o: &Bbox, tol: f64) -> bool {
        o.min_x >= self.min_x - tol
            && o.min_y >= self.min_y - tol
            && o.max_x <= self.max_x + tol
            && o.max_y <= self.max_y + tol
    }
    /// Distance between two boxes (0 when they overlap).
    pub fn distance(&self, o: &Bbox) -> f64 {
        let dx = (o.min_x - self.max_x).max(self.min_x - o.max_x).max(0.0);
        let dy = (o.min_y - self.max_y).max(self.min_y - o.max_y).max(0.0);
        dx.hypot(dy)
    }
}

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
            let ang = k * (PI / 2.0);
            bbox.add(Point::new(
                a.center.x + a.radius * ang.cos(),
                a.center.y + a.radius * ang.sin(),
            ));
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
                let ang = a.start_angle + a.sweep * (i as f64) / (n as f64);
                out.push(Point::new(
                    a.center.x + a.radius * ang.cos(),
                    a.center.y + a.radius * ang.sin(),
                ));
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

/// A 2D affine map: `x' = a x + b y + e`, `y' = c x + d y + f`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Affine {
    pub a: f64,
    pub b: f64,
    pub c: f64,
    pub d: f64,
    pub e: f64,
    pub f: f64,
}

impl Affine {
    pub const IDENTITY: Affine = Affine {
        a: 1.0,
        b: 0.0,
        c: 0.0,
        d: 1.0,
        e: 0.0,
        f: 0.0,
    };
    pub fn translate(x: f64, y: f64) -> Self {
        Affine {
            e: x,
            f: y,
            ..Self::IDENTITY
        }
    }
    pub fn scale(sx: f64, sy: f64) -> Self {
        Affine {
            a: sx,
            d: sy,
            ..Self::IDENTITY
        }
    }
    pub fn rotate(rad: f64) -> Self {
        let (s, c) = rad.sin_cos();
        Affine {
            a: c,
            b: -s,
            c: s,
            d: c,
            e: 0.0,
            f: 0.0,
        }
    }
    /// First `self`, then `next`.
    pub fn then(&self, next: &Affine) -> Affine {
        Affine {
            a: next.a * self.a + next.b * self.c,
            b: next.a * self.b + next.b * self.d,
            c: next.c * self.a + next.d * self.c,
            d: next.c * self.b + next.d * self.d,
            e: next.a * self.e + next.b * self.f + next.e,
            f: next.c * self.e + next.d * self.f + next.f,
        }
    }
    pub fn apply(&self, p: Point) -> Point {
        Point::new(
            self.a * p.x + self.b * p.y + self.e,
            self.c * p.x + self.d * p.y + self.f,
        )
    }
    pub fn det(&self) -> f64 {
        self.a * self.d - self.b * self.c
    }
    /// A similarity (rotation, uniform scale, maybe a mirror): circles stay circles.
    pub fn is_conformal(&self) -> bool {
        let s = self
            .a
            .abs()
            .max(self.b.abs())
            .max(self.c.abs())
            .max(self.d.abs());
        if s == 0.0 {
            return false;
        }
        let tol = 1e-9 * s;
        ((self.a - self.d).abs() <= tol && (self.b + self.c).abs() <= tol)
            || ((self.a + self.d).abs() <= tol && (self.b - self.c).abs() <= tol)
    }
    /// The largest stretch of the linear part.
    pub fn max_scale(&self) -> f64 {
        let n1 = self.a.hypot(self.c);
        let n2 = self.b.hypot(self.d);
        n1.max(n2).max(1e-300)
    }
}

/// A path of bulge segments.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Path {
    pub vertices: Vec<Vertex>,
    pub closed: bool,
}

impl Path {
    /// Iterate over segments as (start, end, bulge).
    pub fn segments(&self) -> impl Iterator<Item = (Point, Point, f64)> + '_ {
        let n = self.vertices.len();
        let count = if self.closed && n > 1 {
            n
        } else {
            n.saturating_sub(1)
        };
        (0..count).map(move |i| {
            let v0 = self.vertices[i];
            let v1 = self.vertices[(i + 1) % n];
            (v0.point(), v1.point(), v0.bulge)
        })
    }
    pub fn length(&self) -> f64 {
        self.segments()
            .map(|(a, b, k)| segment_length(a, b, k))
            .sum()
    }
    /// Signed area (positive counter-clockwise); 0 for an open path.
    pub fn signed_area(&self) -> f64 {
        if !self.closed {
            return 0.0;
        }
        self.segments().map(|(a, b, k)| segment_area(a, b, k)).sum()
    }
    pub fn bbox(&self) -> Bbox {
        let mut bb = Bbox::EMPTY;
        if let Some(v) = self.vertices.first() {
            bb.add(v.point());
        }
        for (a, b, k) in self.segments() {
            segment_bbox(a, b, k, &mut bb);
        }
        bb
    }
    pub fn start(&self) -> Option<Point> {
        self.vertices.first().map(|v| v.point())
    }
    pub fn end(&self) -> Option<Point> {
        if self.closed {
            self.start()
        } else {
            self.vertices.last().map(|v| v.point())
        }
    }
    /// The same path run the other way (bulges change sign).
    pub fn reversed(&self) -> Path {
        let n = self.vertices.len();
        if n == 0 {
            return self.clone();
        }
        let mut out = Vec::with_capacity(n);
        if self.closed {
            // Closed: keep the start vertex; segment i (v_i -> v_{i+1}) becomes
            // v_{i+1} -> v_i with -bulge.
            out.push(Vertex::new(
                self.vertices[0].x,
                self.vertices[0].y,
                -self.vertices[n - 1].bulge,
            ));
            for i in (1..n).rev() {
                let v = self.vertices[i];
                out.push(Vertex::new(v.x, v.y, -self.vertices[i - 1].bulge));
            }
        } else {
            for i in (0..n).rev() {
                let v = self.vertices[i];
                let b = if i > 0 {
                    -self.vertices[i - 1].bulge
                } else {
                    0.0
                };
                out.push(Vertex::new(v.x, v.y, b));
            }
        }
        Path {
            vertices: out,
            closed: self.closed,
        }
    }
    /// Flattened points (closed paths do not repeat the start).
    pub fn flatten(&self, tol: f64) -> Vec<Point> {
        let mut out = Vec::with_capacity(self.vertices.len() * 2);
        if let Some(s) = self.start() {
            out.push(s);
        }
        for (a, b, k) in self.segments() {
            flatten_segment(a, b, k, tol, &mut out);
        }
        if self.closed && out.len() > 1 {
            out.pop();
        }
        out
    }
    /// Apply an affine map. Under a similarity arcs stay arcs (a mirror flips their
    /// direction); otherwise arcs are flattened to `tol` first.
    pub fn transformed(&self, m: &Affine, tol: f64) -> Path {
        if m.is_conformal() {
            let flip = if m.det() < 0.0 { -1.0 } else { 1.0 };
            Path {
                vertices: self
                    .vertices
                    .iter()
                    .map(|v| {
                        let p = m.apply(v.point());
                        Vertex::new(p.x, p.y, v.bulge * flip)
                    })
                    .collect(),
                closed: self.closed,
            }
        } else {
            let local_tol = tol / m.max_scale();
            let mut pts = Vec::with_capacity(self.vertices.len());
            if let Some(s) = self.start() {
                pts.push(s);
            }
            for (a, b, k) in self.segments() {
                // Small arcs get a relative tolerance so their length stays exact
                // to about 1e-5 whatever the absolute tolerance.
                let t = match bulge_arc(a, b, k) {
                    Some(arc) => local_tol.min(arc.radius * 1e-5),
                    None => local_tol,
                };
                flatten_segment(a, b, k, t, &mut pts);
            }
            if self.closed && pts.len() > 1 {
                pts.pop();
            }
            Path {
                vertices: pts
                    .into_iter()
                    .map(|p| {
                        let q = m.apply(p);
                        Vertex::new(q.x, q.y, 0.0)
                    })
                    .collect(),
                closed: self.closed,
            }
        }
    }
    pub fn has_arcs(&self) -> bool {
        self.segments().any(|(_, _, b)| b.abs() >= BULGE_EPS)
    }
}

/// Vertices of a circular arc from `start` to `start + sweep` (radians, signed),
/// split so no bulge exceeds a half circle.
pub fn arc_path(center: Point, radius: f64, start: f64, sweep: f64) -> Path {
    let pieces = ((sweep.abs() / (PI * 0.999)).ceil() as usize).clamp(1, 4);
    let step = sweep / pieces as f64;
    let bulge = (step / 4.0).tan();
    let mut vertices = Vec::with_capacity(pieces + 1);
    for i in 0..=pieces {
        let ang = start + step * i as f64;
        vertices.push(Vertex::new(
            center.x + radius * ang.cos(),
            center.y + radius * ang.sin(),
            if i < pieces { bulge } else { 0.0 },
        ));
    }
    Path {
        vertices,
        closed: false,
    }
}

/// A full circle as a closed path of two half arcs (counter-clockwise).
pub fn circle_path(center: Point, radius: f64) -> Path {
    Path {
        vertices: vec![
            Vertex::new(center.x + radius, center.y, 1.0),
            Vertex::new(center.x - radius, center.y, 1.0),
        ],
        closed: true,
    }
}

/// Point-in-polygon (even-odd) on a flattened ring.
pub fn point_in_ring(p: Point, ring: &[Point]) -> bool {
    let n = ring.len();
    if n < 3 {
        return false;
    }
    let mut inside = false;
    let mut j = n - 1;
    for i in 0..n {
        let (a, b) = (ring[i], ring[j]);
        if (a.y > p.y) != (b.y > p.y) {
            let x = a.x + (p.y - a.y) * (b.x - a.x) / (b.y - a.y);
            if p.x < x {
                inside = !inside;
            }
        }
        j = i;
    }
    inside
}

/// Distance from `p` to segment `a`-`b`.
pub fn point_segment_distance(p: Point, a: Point, b: Point) -> f64 {
    let (dx, dy) = (b.x - a.x, b.y - a.y);
    let l2 = dx * dx + dy * dy;
    if l2 <= 0.0 {
        return p.dist(a);
    }
    let t = (((p.x - a.x) * dx + (p.y - a.y) * dy) / l2).clamp(0.0, 1.0);
    p.dist(Point::new(a.x + t * dx, a.y + t * dy))
}

/// Distance between two segments.
pub fn segment_distance(a0: Point, a1: Point, b0: Point, b1: Point) -> f64 {
    fn cross(o: Point, a: Point, b: Point) -> f64 {
        (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x)
    }
    let d1 = cross(a0, a1, b0);
    let d2 = cross(a0, a1, b1);
    let d3 = cross(b0, b1, a0);
    let d4 = cross(b0, b1, a1);
    if ((d1 > 0.0 && d2 < 0.0) || (d1 < 0.0 && d2 > 0.0))
        && ((d3 > 0.0 && d4 < 0.0) || (d3 < 0.0 && d4 > 0.0))
    {
        return 0.0;
    }
    point_segment_distance(a0, b0, b1)
        .min(point_segment_distance(a1, b0, b1))
        .min(point_segment_distance(b0, a0, a1))
        .min(point_segment_distance(b1, a0, a1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semicircle_bulge() {
        let a = bulge_arc(Point::new(0.0, 0.0), Point::new(2.0, 0.0), 1.0).unwrap();
        assert!((a.radius - 1.0).abs() < 1e-12);
        assert!((a.center.x - 1.0).abs() < 1e-12 && a.center.y.abs() < 1e-12);
        let l = segment_length(Point::new(0.0, 0.0), Point::new(2.0, 0.0), 1.0);
        assert!((l - PI).abs() < 1e-12);
        // CCW from (0,0) to (2,0) around (1,0) passes below: y = -1.
        let mut bb = Bbox::EMPTY;
        segment_bbox(Point::new(0.0, 0.0), Point::new(2.0, 0.0), 1.0, &mut bb);
        assert!((bb.min_y + 1.0).abs() < 1e-12 && bb.max_y.abs() < 1e-12);
    }

    #[test]
    fn circle_area_and_length() {
        let c = circle_path(Point::new(5.0, 5.0), 2.0);
        assert!((c.length() - 4.0 * PI).abs() < 1e-9);
        assert!((c.signed_area() - 4.0 * PI).abs() < 1e-9);
        assert!((c.reversed().signed_area() + 4.0 * PI).abs() < 1e-9);
        let bb = c.bbox();
        assert_eq!(bb.to_array().unwrap(), [3.0, 3.0, 7.0, 7.0]);
    }

    #[test]
    fn mirror_keeps_area_magnitude() {
        let p = arc_path(Point::new(0.0, 0.0), 3.0, 0.3, 4.0);
        let m = Affine::scale(-1.0, 1.0);
        let q = p.transformed(&m, 1e-3);
        assert!((p.length() - q.length()).abs() < 1e-9);
        assert!((p.length() - 12.0).abs() < 1e-9);
    }
}
