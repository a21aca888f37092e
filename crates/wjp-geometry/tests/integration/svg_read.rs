//! An SVG path-data reader for the tests, written from the SVG 1.1 specification
//! (8.3 path data, F.6.5 and F.6.6 for arcs) and independent of the crate's writer:
//! it reads `M L H V A C Q Z` (absolute and relative, with implicit repeats) and
//! flattens every subpath finely, so a test can measure what a viewer would draw.
//!
//! wjp-convert and wjp-cam include this file too (`#[path]`), so every SVG writer
//! of the workspace is checked by the same reader.

#![allow(dead_code)]

use std::f64::consts::PI;

/// One flattened subpath in SVG user units (y down).
#[derive(Debug, Clone, Default)]
pub struct Subpath {
    pub points: Vec<(f64, f64)>,
    pub closed: bool,
    /// Number of path commands (segments) that drew it.
    pub segments: usize,
}

impl Subpath {
    /// Length of the polyline (with the closing segment when closed).
    pub fn length(&self) -> f64 {
        let mut l: f64 = self
            .points
            .windows(2)
            .map(|w| (w[1].0 - w[0].0).hypot(w[1].1 - w[0].1))
            .sum();
        if self.closed {
            if let (Some(a), Some(b)) = (self.points.last(), self.points.first()) {
                l += (b.0 - a.0).hypot(b.1 - a.1);
            }
        }
        l
    }

    /// Shoelace area in SVG coordinates: positive when the path runs in SVG's
    /// positive-angle direction, so a drawing's counter-clockwise contour, drawn
    /// with y flipped, has a negative one.
    pub fn signed_area(&self) -> f64 {
        let n = self.points.len();
        let mut a = 0.0;
        for i in 0..n {
            let (x0, y0) = self.points[i];
            let (x1, y1) = self.points[(i + 1) % n];
            a += x0 * y1 - x1 * y0;
        }
        a / 2.0
    }
}

/// Maximum angle of one flattening step of an arc: 0.1° keeps the chord length
/// within 4e-7 of the arc length, far below the writers' rounding.
const ARC_STEP: f64 = PI / 1800.0;
/// Pieces of each Bézier curve.
const BEZIER_STEPS: usize = 2000;

struct Reader<'a> {
    s: &'a [u8],
    i: usize,
}

impl Reader<'_> {
    fn skip_separators(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b',' | b'\n' | b'\t' | b'\r')
        {
            self.i += 1;
        }
    }

    fn peek_command(&mut self) -> Option<u8> {
        self.skip_separators();
        self.s
            .get(self.i)
            .copied()
            .filter(|c| c.is_ascii_alphabetic() && *c != b'e' && *c != b'E')
    }

    fn at_number(&mut self) -> bool {
        self.skip_separators();
        matches!(self.s.get(self.i), Some(c) if c.is_ascii_digit() || matches!(c, b'-' | b'+' | b'.'))
    }

    fn number(&mut self) -> f64 {
        self.skip_separators();
        let start = self.i;
        let mut seen_dot = false;
        let mut seen_exp = false;
        while self.i < self.s.len() {
            let c = self.s[self.i];
            let sign_ok = self.i == start || matches!(self.s[self.i - 1], b'e' | b'E');
            match c {
                b'0'..=b'9' => {}
                b'-' | b'+' if sign_ok => {}
                b'.' if !seen_dot && !seen_exp => seen_dot = true,
                b'e' | b'E' if !seen_exp => seen_exp = true,
                _ => break,
            }
            self.i += 1;
        }
        let text = std::str::from_utf8(&self.s[start..self.i]).expect("ascii");
        text.parse()
            .unwrap_or_else(|e| panic!("bad number {text:?} at byte {start}: {e}"))
    }

    /// A flag of an arc command: a single `0` or `1`, which may run into the next
    /// number without a separator.
    fn flag(&mut self) -> bool {
        self.skip_separators();
        let c = self.s[self.i];
        self.i += 1;
        match c {
            b'0' => false,
            b'1' => true,
            _ => panic!("bad arc flag {:?} at byte {}", c as char, self.i - 1),
        }
    }
}

/// Parse and flatten path data `d`.
pub fn parse_path(d: &str) -> Vec<Subpath> {
    let mut r = Reader {
        s: d.as_bytes(),
        i: 0,
    };
    let mut out: Vec<Subpath> = Vec::new();
    let mut cur = (0.0f64, 0.0f64);
    let mut start = (0.0f64, 0.0f64);
    let mut command = b' ';
    loop {
        if let Some(c) = r.peek_command() {
            command = c;
            r.i += 1;
        } else if !r.at_number() {
            break;
        }
        let rel = command.is_ascii_lowercase();
        let base = if rel { cur } else { (0.0, 0.0) };
        match command.to_ascii_uppercase() {
            b'M' => {
                let p = (base.0 + r.number(), base.1 + r.number());
                out.push(Subpath {
                    points: vec![p],
                    closed: false,
                    segments: 0,
                });
                cur = p;
                start = p;
                // Further pairs after a moveto are implicit linetos.
                command = if rel { b'l' } else { b'L' };
            }
            b'L' => {
                let p = (base.0 + r.number(), base.1 + r.number());
                push(&mut out, cur, &[p]);
                cur = p;
            }
            b'H' => {
                let x = if rel { cur.0 } else { 0.0 } + r.number();
                let p = (x, cur.1);
                push(&mut out, cur, &[p]);
                cur = p;
            }
            b'V' => {
                let y = if rel { cur.1 } else { 0.0 } + r.number();
                let p = (cur.0, y);
                push(&mut out, cur, &[p]);
                cur = p;
            }
            b'A' => {
                let (rx, ry, phi) = (r.number(), r.number(), r.number());
                let (large, sweep) = (r.flag(), r.flag());
                let p = (base.0 + r.number(), base.1 + r.number());
                let pts = arc_points(cur, rx, ry, phi, large, sweep, p);
                push(&mut out, cur, &pts);
                cur = p;
            }
            b'C' => {
                let c1 = (base.0 + r.number(), base.1 + r.number());
                let c2 = (base.0 + r.number(), base.1 + r.number());
                let p = (base.0 + r.number(), base.1 + r.number());
                let pts: Vec<_> = (1..=BEZIER_STEPS)
                    .map(|i| {
                        let t = i as f64 / BEZIER_STEPS as f64;
                        let u = 1.0 - t;
                        let (a, b, c, e) = (u * u * u, 3.0 * u * u * t, 3.0 * u * t * t, t * t * t);
                        (
                            a * cur.0 + b * c1.0 + c * c2.0 + e * p.0,
                            a * cur.1 + b * c1.1 + c * c2.1 + e * p.1,
                        )
                    })
                    .collect();
                push(&mut out, cur, &pts);
                cur = p;
            }
            b'Q' => {
                let c1 = (base.0 + r.number(), base.1 + r.number());
                let p = (base.0 + r.number(), base.1 + r.number());
                let pts: Vec<_> = (1..=BEZIER_STEPS)
                    .map(|i| {
                        let t = i as f64 / BEZIER_STEPS as f64;
                        let u = 1.0 - t;
                        (
                            u * u * cur.0 + 2.0 * u * t * c1.0 + t * t * p.0,
                            u * u * cur.1 + 2.0 * u * t * c1.1 + t * t * p.1,
                        )
                    })
                    .collect();
                push(&mut out, cur, &pts);
                cur = p;
            }
            b'Z' => {
                let sub = out.last_mut().expect("Z without a subpath");
                sub.closed = true;
                // The closing segment is implicit: a last point equal to the first
                // would count it twice in the shoelace, so drop it.
                if sub.points.len() > 1 && sub.points.last() == sub.points.first() {
                    sub.points.pop();
                }
                cur = start;
                command = b' ';
            }
            other => panic!("unsupported path command {:?}", other as char),
        }
    }
    out
}

fn push(out: &mut [Subpath], cur: (f64, f64), pts: &[(f64, f64)]) {
    let sub = out.last_mut().expect("drawing command before any M");
    debug_assert_eq!(sub.points.last().copied(), Some(cur));
    sub.points.extend_from_slice(pts);
    sub.segments += 1;
}

/// Points of an elliptical arc (excluding the start) from its endpoint
/// parameterisation, by the conversion of SVG 1.1 F.6.5 with the radius
/// correction of F.6.6.
fn arc_points(
    p1: (f64, f64),
    rx: f64,
    ry: f64,
    phi_deg: f64,
    large: bool,
    sweep: bool,
    p2: (f64, f64),
) -> Vec<(f64, f64)> {
    let (mut rx, mut ry) = (rx.abs(), ry.abs());
    if p1 == p2 {
        return vec![];
    }
    if rx == 0.0 || ry == 0.0 {
        return vec![p2];
    }
    let phi = phi_deg.to_radians();
    let (c, s) = (phi.cos(), phi.sin());
    // F.6.5.1
    let (dx, dy) = ((p1.0 - p2.0) / 2.0, (p1.1 - p2.1) / 2.0);
    let (x1p, y1p) = (c * dx + s * dy, -s * dx + c * dy);
    // F.6.6.2
    let lambda = x1p * x1p / (rx * rx) + y1p * y1p / (ry * ry);
    if lambda > 1.0 {
        rx *= lambda.sqrt();
        ry *= lambda.sqrt();
    }
    // F.6.5.2
    let num = rx * rx * ry * ry - rx * rx * y1p * y1p - ry * ry * x1p * x1p;
    let den = rx * rx * y1p * y1p + ry * ry * x1p * x1p;
    let mut k = (num / den).max(0.0).sqrt();
    if large == sweep {
        k = -k;
    }
    let (cxp, cyp) = (k * rx * y1p / ry, -k * ry * x1p / rx);
    // F.6.5.3
    let (cx, cy) = (
        c * cxp - s * cyp + (p1.0 + p2.0) / 2.0,
        s * cxp + c * cyp + (p1.1 + p2.1) / 2.0,
    );
    // F.6.5.5 and F.6.5.6
    let angle = |ux: f64, uy: f64, vx: f64, vy: f64| (ux * vy - uy * vx).atan2(ux * vx + uy * vy);
    let (ux, uy) = ((x1p - cxp) / rx, (y1p - cyp) / ry);
    let (vx, vy) = ((-x1p - cxp) / rx, (-y1p - cyp) / ry);
    let theta1 = angle(1.0, 0.0, ux, uy);
    let mut dtheta = angle(ux, uy, vx, vy);
    if !sweep && dtheta > 0.0 {
        dtheta -= 2.0 * PI;
    } else if sweep && dtheta < 0.0 {
        dtheta += 2.0 * PI;
    }
    let n = ((dtheta.abs() / ARC_STEP).ceil() as usize).max(1);
    let mut pts: Vec<(f64, f64)> = (1..n)
        .map(|i| {
            let t = theta1 + dtheta * i as f64 / n as f64;
            let (x, y) = (rx * t.cos(), ry * t.sin());
            (c * x - s * y + cx, s * x + c * y + cy)
        })
        .collect();
    pts.push(p2);
    pts
}

/// The value of attribute `name` in the first tag of `svg` named `tag`.
pub fn attribute(svg: &str, tag: &str, name: &str) -> Option<String> {
    let open = format!("<{tag} ");
    let start = svg.find(&open)?;
    let end = start + svg[start..].find('>')?;
    attribute_of(&svg[start..end], name)
}

/// The value of attribute `name` in one tag's text.
pub fn attribute_of(tag_text: &str, name: &str) -> Option<String> {
    let key = format!(" {name}=\"");
    let at = tag_text.find(&key)? + key.len();
    let len = tag_text[at..].find('"')?;
    Some(tag_text[at..at + len].to_owned())
}

/// The text of every `<path .../>` tag of `svg`, in document order.
pub fn path_tags(svg: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = svg;
    while let Some(at) = rest.find("<path ") {
        let end = at + rest[at..].find('>').expect("unterminated path tag");
        out.push(&rest[at..end]);
        rest = &rest[end..];
    }
    out
}

/// The root's `width`, `height` (both in mm, the unit checked) and `viewBox`.
pub fn millimetre_size(svg: &str) -> (f64, f64, [f64; 4]) {
    let mm = |name: &str| -> f64 {
        let v = attribute(svg, "svg", name).unwrap_or_else(|| panic!("svg has no {name}"));
        let n = v
            .strip_suffix("mm")
            .unwrap_or_else(|| panic!("{name}={v:?} is not in mm"));
        n.parse().unwrap_or_else(|e| panic!("{name}={v:?}: {e}"))
    };
    let vb = attribute(svg, "svg", "viewBox").expect("svg has no viewBox");
    let n: Vec<f64> = vb
        .split([' ', ','])
        .filter(|w| !w.is_empty())
        .map(|w| w.parse().expect("viewBox number"))
        .collect();
    assert_eq!(n.len(), 4, "viewBox {vb:?}");
    (mm("width"), mm("height"), [n[0], n[1], n[2], n[3]])
}

#[test]
fn reader_measures_known_shapes() {
    // A unit square drawn relatively, and a circle of radius 2 as two arcs.
    let sq = parse_path("m1 1 h1 v1 l-1 0 z");
    assert_eq!(sq.len(), 1);
    assert!((sq[0].length() - 4.0).abs() < 1e-12);
    assert!((sq[0].signed_area() - 1.0).abs() < 1e-12);
    let circle = parse_path("M2 0 A2 2 0 0 1 -2 0 A2 2 0 0 1 2 0 Z");
    assert!((circle[0].length() - 4.0 * PI).abs() < 1e-5);
    assert!((circle[0].signed_area() - 4.0 * PI).abs() < 1e-4);
    // The large arc of a circle of radius 1 through two points 1 apart, both ways.
    let big = parse_path("M0 0 A1 1 0 1 0 1 0");
    let small = parse_path("M0 0 A1 1 0 0 0 1 0");
    let theta = 2.0 * (0.5f64).asin();
    assert!((big[0].length() - (2.0 * PI - theta)).abs() < 1e-5);
    assert!((small[0].length() - theta).abs() < 1e-5);
    // A quadratic and a cubic that are straight lines.
    let q = parse_path("M0 0 Q1 0 2 0 C2 1 2 2 2 3");
    assert!((q[0].length() - 5.0).abs() < 1e-9);
    // Radii too small are scaled up to a half circle.
    let half = parse_path("M0 0 A0.1 0.1 0 0 0 2 0");
    assert!((half[0].length() - PI).abs() < 1e-5);
}
