//! The one SVG path writer: bulge polylines, single segments and straight moves as
//! SVG path data, drawn the right way up.
//!
//! Drawings have y up, SVG has y down, so a picture maps a drawing point to
//! `(x - left, top - y)` ([`SvgFrame`]). That mirror keeps the picture looking like
//! the drawing, and so it turns the sense of every arc *in coordinates*: an arc
//! that runs counter-clockwise in the drawing runs counter-clockwise on screen
//! too, which in SVG's y-down coordinates is the negative-angle direction, sweep
//! flag 0 (SVG 1.1, F.6.5).

use std::f64::consts::{FRAC_PI_2, PI};

use crate::geom::{bulge_arc, segments_of, Path, Point, Vertex};
use crate::number::decimal;

/// Where drawing coordinates (mm, y up) land in an SVG's user units (y down), and
/// how many decimals are written.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SvgFrame {
    /// Drawing x that becomes SVG x = 0.
    pub left: f64,
    /// Drawing y that becomes SVG y = 0.
    pub top: f64,
    pub decimals: usize,
}

impl SvgFrame {
    /// SVG x of a drawing x, as text.
    pub fn x(&self, x: f64) -> String {
        decimal(x - self.left, self.decimals)
    }
    /// SVG y of a drawing y, as text.
    pub fn y(&self, y: f64) -> String {
        decimal(self.top - y, self.decimals)
    }
    /// A length (radius, stroke width...), as text.
    pub fn size(&self, v: f64) -> String {
        decimal(v, self.decimals)
    }
}

/// SVG path data (the `d` attribute) being written.
#[derive(Debug, Clone)]
pub struct PathData {
    frame: SvgFrame,
    d: String,
}

impl PathData {
    pub fn new(frame: SvgFrame) -> Self {
        PathData {
            frame,
            d: String::new(),
        }
    }

    fn command(&mut self, letter: char, words: &[String]) {
        if !self.d.is_empty() {
            self.d.push(' ');
        }
        self.d.push(letter);
        self.d.push_str(&words.join(" "));
    }

    /// Start a subpath at `p`.
    pub fn move_to(&mut self, p: Point) {
        let words = [self.frame.x(p.x), self.frame.y(p.y)];
        self.command('M', &words);
    }

    /// A straight line from the current point to `p`.
    pub fn line_to(&mut self, p: Point) {
        let words = [self.frame.x(p.x), self.frame.y(p.y)];
        self.command('L', &words);
    }

    /// The segment from `from` (the current point) to `to` with `bulge`: an arc,
    /// or a line when the bulge is 0.
    ///
    /// An arc is written in pieces of at most a quarter turn. A viewer finds an
    /// arc's centre from its endpoints and rounded radius; near a half turn that
    /// centre moves by the square root of the rounding (a rounded-up radius turns
    /// a circle's two halves into a lens), while a quarter turn keeps it within a
    /// few units of the last decimal.
    pub fn segment_to(&mut self, from: Point, to: Point, bulge: f64) {
        let Some(arc) = bulge_arc(from, to, bulge) else {
            self.line_to(to);
            return;
        };
        let pieces = (arc.sweep.abs() / FRAC_PI_2 - 1e-9).ceil().max(1.0);
        let step = arc.sweep / pieces;
        // At most 4 pieces: a bulge describes less than a full turn.
        let pieces = pieces as usize;
        for i in 1..=pieces {
            let end = if i == pieces {
                to
            } else {
                arc.point_at(i as f64 / pieces as f64)
            };
            self.arc_to(arc.radius, step, end);
        }
    }

    /// A circular arc of `radius` from the current point to `to`, turning by
    /// `sweep` radians in the drawing (positive counter-clockwise).
    fn arc_to(&mut self, radius: f64, sweep: f64, to: Point) {
        // The large-arc flag comes from the angle; the sweep flag from the
        // direction, inverted because the frame flips y: counter-clockwise in
        // the drawing is SVG's negative-angle direction, flag 0.
        let large = u8::from(sweep.abs() > PI);
        let sweep_flag = u8::from(sweep < 0.0);
        let r = self.frame.size(radius);
        let words = [
            r.clone(),
            r,
            "0".to_owned(),
            large.to_string(),
            sweep_flag.to_string(),
            self.frame.x(to.x),
            self.frame.y(to.y),
        ];
        self.command('A', &words);
    }

    /// Close the subpath.
    pub fn close(&mut self) {
        self.command('Z', &[]);
    }

    /// A whole bulge polyline as one subpath (closed ones end with `Z`).
    pub fn polyline(&mut self, vertices: &[Vertex], closed: bool) {
        let Some(first) = vertices.first() else {
            return;
        };
        self.move_to(first.point());
        for (a, b, k) in segments_of(vertices, closed) {
            self.segment_to(a, b, k);
        }
        if closed {
            self.close();
        }
    }

    /// A whole path as one subpath.
    pub fn path(&mut self, path: &Path) {
        self.polyline(&path.vertices, path.closed);
    }

    pub fn is_empty(&self) -> bool {
        self.d.is_empty()
    }

    pub fn as_str(&self) -> &str {
        &self.d
    }

    pub fn into_string(self) -> String {
        self.d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parse `M x y (A r r 0 large sweep x y)*` and return each arc's midpoint by
    /// SVG's own rule (the centre from the endpoints and flags, SVG 1.1 F.6.5).
    fn svg_arc_midpoints(d: &str) -> Vec<Point> {
        let n: Vec<f64> = d
            .split(|c: char| c.is_ascii_alphabetic() || c == ' ')
            .filter(|w| !w.is_empty())
            .map(|w| w.parse().unwrap())
            .collect();
        let mut out = vec![];
        let (mut x1, mut y1) = (n[0], n[1]);
        for a in n[2..].chunks(7) {
            let (r, large, sweep, x2, y2) = (a[0], a[3], a[4], a[5], a[6]);
            let (xp, yp) = ((x1 - x2) / 2.0, (y1 - y2) / 2.0);
            let num = (r * r * r * r - r * r * yp * yp - r * r * xp * xp).max(0.0);
            let k = (num / (r * r * yp * yp + r * r * xp * xp)).sqrt()
                * if large == sweep { -1.0 } else { 1.0 };
            let (cx, cy) = (k * yp + (x1 + x2) / 2.0, -k * xp + (y1 + y2) / 2.0);
            let (t1, t2) = ((y1 - cy).atan2(x1 - cx), (y2 - cy).atan2(x2 - cx));
            let mut dt = t2 - t1;
            if sweep == 0.0 && dt > 0.0 {
                dt -= 2.0 * PI;
            }
            if sweep == 1.0 && dt < 0.0 {
                dt += 2.0 * PI;
            }
            let m = t1 + dt / 2.0;
            out.push(Point::new(cx + r * m.cos(), cy + r * m.sin()));
            (x1, y1) = (x2, y2);
        }
        out
    }

    #[test]
    fn arcs_bulge_to_the_same_side_as_in_the_drawing() {
        let frame = SvgFrame {
            left: -10.0,
            top: 20.0,
            decimals: 6,
        };
        let (a, b) = (Point::new(0.0, 0.0), Point::new(2.0, 0.0));
        for (bulge, pieces) in [
            (1.0, 2),
            (-1.0, 2),
            (0.3, 1),
            (-0.3, 1),
            (2.0, 3),
            (-9.0, 4),
        ] {
            let mut d = PathData::new(frame);
            d.move_to(a);
            d.segment_to(a, b, bulge);
            let got = svg_arc_midpoints(d.as_str());
            assert_eq!(got.len(), pieces, "bulge {bulge}: {}", d.as_str());
            let arc = bulge_arc(a, b, bulge).unwrap();
            for (i, got) in got.into_iter().enumerate() {
                let mid = arc.point_at((i as f64 + 0.5) / pieces as f64);
                let want = Point::new(mid.x - frame.left, frame.top - mid.y);
                assert!(got.dist(want) < 1e-5, "bulge {bulge}: {got:?} != {want:?}");
            }
        }
    }

    #[test]
    fn closed_polylines_draw_their_closing_segment_then_close() {
        let frame = SvgFrame {
            left: 0.0,
            top: 0.0,
            decimals: 3,
        };
        let mut d = PathData::new(frame);
        let square = [
            Vertex::new(0.0, 0.0, 0.0),
            Vertex::new(1.0, 0.0, 0.0),
            Vertex::new(1.0, 1.0, 0.0),
        ];
        d.polyline(&square, true);
        d.polyline(&square[..2], false);
        assert_eq!(d.as_str(), "M0 0 L1 0 L1 -1 L0 0 Z M0 0 L1 0");
    }
}
