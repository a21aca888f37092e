//! Cut paths: bulge polylines, open or closed, measured exactly on arcs.

use std::f64::consts::PI;

use super::affine::Affine;
use super::point::{Bbox, Point, Vertex};
use super::segment::{
    bulge_arc, bulge_segment_distance, flatten_segment, segment_area, segment_bbox, segment_length,
    BULGE_EPS,
};

/// The segments of a bulge polyline as (start, end, bulge); a closed one ends
/// with the segment from its last vertex back to the first.
pub fn segments_of(
    vertices: &[Vertex],
    closed: bool,
) -> impl Iterator<Item = (Point, Point, f64)> + '_ {
    let n = vertices.len();
    let count = if closed && n > 1 {
        n
    } else {
        n.saturating_sub(1)
    };
    (0..count).map(move |i| {
        let v0 = vertices[i];
        let v1 = vertices[(i + 1) % n];
        (v0.point(), v1.point(), v0.bulge)
    })
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
        segments_of(&self.vertices, self.closed)
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
    /// Distance from `p` to the path (exact on arcs; to the point for a path of
    /// one vertex).
    pub fn distance_to(&self, p: Point) -> f64 {
        let mut best = f64::INFINITY;
        for (a, b, k) in self.segments() {
            best = best.min(bulge_segment_distance(p, a, b, k));
        }
        if self.vertices.len() == 1 {
            best = best.min(p.dist(self.vertices[0].point()));
        }
        best
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
