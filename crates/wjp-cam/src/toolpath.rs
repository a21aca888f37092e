//! From contours to a toolpath: kerf offsets, start points, leads and cut order.
//!
//! Conventions (the invariants the tests check):
//! - Closed contours are offset by kerf/2 with `cavalier_contours`: outer
//!   boundaries outward, holes inward. Arcs stay arcs (bulges).
//! - Outer boundaries are cut clockwise and holes counter-clockwise, so the part
//!   is always on the right of the jet and the scrap on its left; leads are on the
//!   left (the scrap side).
//! - A lead is accepted only if every sampled point of it lies in scrap (inside an
//!   even number of the drawing's closed contours) and at least kerf/2 from every
//!   drawn contour; otherwise a shorter lead, another start point, and finally no
//!   lead (with a warning) are tried.
//! - A contour is cut only after every contour inside it (holes before their outer,
//!   islands before the hole around them); among the ready ones the nearest comes
//!   next (greedy nearest neighbour from the head position).

use std::f64::consts::PI;

use cavalier_contours::polyline::{PlineCreation, PlineSource, PlineSourceMut, Polyline};
use serde::{Deserialize, Serialize};
use wjp_geometry::geom::{bulge_arc, segment_length};
use wjp_geometry::{Path, Point, Vertex};

use crate::error::CamError;
use crate::Warning;

/// Role of a contour to cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CutRole {
    Outer,
    Hole,
    Open,
}

/// One contour to cut, in millimetres, as drawn.
#[derive(Debug, Clone)]
pub struct CutContour {
    /// Identifier printed in comments.
    pub id: usize,
    pub part: Option<usize>,
    pub role: CutRole,
    pub path: Path,
    /// The smallest closed contour around this one (index into the same list).
    pub parent: Option<usize>,
}

/// Lead shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeadKind {
    /// A quarter circle of radius `length_mm`, tangent to the path.
    Arc,
    /// A straight line of `length_mm`, perpendicular to the path.
    Line,
    /// Pierce on the path.
    None,
}

/// Lead-in and lead-out settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LeadOptions {
    pub kind: LeadKind,
    pub length_mm: f64,
}

impl Default for LeadOptions {
    fn default() -> Self {
        LeadOptions {
            kind: LeadKind::Arc,
            length_mm: 3.0,
        }
    }
}

/// One motion of the machine.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Move {
    /// Jet off, travel to `to`.
    Rapid { to: Point },
    /// Jet on: cut from the current point to `to`; `bulge` as in DXF (0 = line).
    Cut {
        to: Point,
        bulge: f64,
        kind: CutKind,
    },
}

/// What a cut move is part of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CutKind {
    LeadIn,
    Contour,
    LeadOut,
}

/// The toolpath of one contour: pierce, lead-in, the (offset) contour, lead-out.
#[derive(Debug, Clone)]
pub struct ContourCut {
    pub contour: usize,
    pub part: Option<usize>,
    pub role: CutRole,
    /// True when kerf-compensated (closed contours); open chains are cut as drawn.
    pub compensated: bool,
    pub pierce: Point,
    /// Cut moves from the pierce point on.
    pub moves: Vec<Move>,
}

impl ContourCut {
    pub fn end(&self) -> Point {
        match self.moves.last() {
            Some(Move::Cut { to, .. }) | Some(Move::Rapid { to }) => *to,
            None => self.pierce,
        }
    }
}

/// Settings of the toolpath builder.
#[derive(Debug, Clone, Copy)]
pub struct ToolpathSettings {
    pub kerf_mm: f64,
    pub lead_in: LeadOptions,
    pub lead_out: LeadOptions,
    /// Start of the head (the machine origin).
    pub home: Point,
}

/// Above this many contours the nearest-neighbour order (quadratic) is replaced
/// by a depth-first sweep along X.
pub const NEAREST_NEIGHBOUR_LIMIT: usize = 3000;
const FLATTEN_TOL: f64 = 0.01;

// ---------------------------------------------------------------- geometry

fn sub(a: Point, b: Point) -> Point {
    Point::new(a.x - b.x, a.y - b.y)
}
fn add(a: Point, b: Point) -> Point {
    Point::new(a.x + b.x, a.y + b.y)
}
fn scale(a: Point, k: f64) -> Point {
    Point::new(a.x * k, a.y * k)
}
fn norm(a: Point) -> Point {
    let l = a.x.hypot(a.y);
    if l > 0.0 {
        scale(a, 1.0 / l)
    } else {
        Point::new(1.0, 0.0)
    }
}
fn left(a: Point) -> Point {
    Point::new(-a.y, a.x)
}

/// Unit tangent at the start (`at_end = false`) or end of a segment.
pub fn segment_tangent(p0: Point, p1: Point, bulge: f64, at_end: bool) -> Point {
    match bulge_arc(p0, p1, bulge) {
        None => norm(sub(p1, p0)),
        Some(a) => {
            let p = if at_end { p1 } else { p0 };
            let r = norm(sub(p, a.center));
            if a.sweep >= 0.0 {
                left(r)
            } else {
                scale(left(r), -1.0)
            }
        }
    }
}

/// Distance from `p` to a segment (exact for arcs).
pub fn point_segment_distance(p: Point, p0: Point, p1: Point, bulge: f64) -> f64 {
    if let Some(a) = bulge_arc(p0, p1, bulge) {
        let ang = (p.y - a.center.y).atan2(p.x - a.center.x);
        // Is `ang` inside the sweep?
        let rel = if a.sweep >= 0.0 {
            (ang - a.start_angle).rem_euclid(2.0 * PI)
        } else {
            (a.start_angle - ang).rem_euclid(2.0 * PI)
        };
        if rel <= a.sweep.abs() {
            return (p.dist(a.center) - a.radius).abs();
        }
        return p.dist(p0).min(p.dist(p1));
    }
    let d = sub(p1, p0);
    let l2 = d.x * d.x + d.y * d.y;
    if l2 <= 0.0 {
        return p.dist(p0);
    }
    let t = (((p.x - p0.x) * d.x + (p.y - p0.y) * d.y) / l2).clamp(0.0, 1.0);
    p.dist(add(p0, scale(d, t)))
}

/// Distance from `p` to a path.
pub fn point_path_distance(p: Point, path: &Path) -> f64 {
    let mut best = f64::INFINITY;
    for (a, b, k) in path.segments() {
        best = best.min(point_segment_distance(p, a, b, k));
    }
    if path.vertices.len() == 1 {
        best = best.min(p.dist(path.vertices[0].point()));
    }
    best
}

/// Even-odd point in polygon.
pub fn point_in_polygon(p: Point, poly: &[Point]) -> bool {
    let n = poly.len();
    if n < 3 {
        return false;
    }
    let mut inside = false;
    let mut j = n - 1;
    for i in 0..n {
        let (a, b) = (poly[i], poly[j]);
        if (a.y > p.y) != (b.y > p.y) {
            let x = a.x + (p.y - a.y) / (b.y - a.y) * (b.x - a.x);
            if p.x < x {
                inside = !inside;
            }
        }
        j = i;
    }
    inside
}

/// Point at parameter `t` (0 to 1) along a segment.
pub fn segment_point(p0: Point, p1: Point, bulge: f64, t: f64) -> Point {
    match bulge_arc(p0, p1, bulge) {
        None => add(p0, scale(sub(p1, p0), t)),
        Some(a) => {
            let ang = a.start_angle + a.sweep * t;
            Point::new(
                a.center.x + a.radius * ang.cos(),
                a.center.y + a.radius * ang.sin(),
            )
        }
    }
}

fn signed_area(path: &Path) -> f64 {
    path.signed_area()
}

// ---------------------------------------------------------------- scrap test

/// The drawn contours, flattened, with a coarse grid for lookups.
struct Obstacles {
    paths: Vec<Path>,
    polys: Vec<Option<Vec<Point>>>,
    bboxes: Vec<[f64; 4]>,
    grid: Vec<Vec<usize>>,
    /// Contours whose box covers too many cells: always checked.
    big: Vec<usize>,
    origin: Point,
    cell: f64,
    nx: usize,
    ny: usize,
}

impl Obstacles {
    fn new(contours: &[CutContour], margin: f64) -> Obstacles {
        let mut bboxes = Vec::with_capacity(contours.len());
        let mut all = [
            f64::INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NEG_INFINITY,
        ];
        for c in contours {
            let bb = c.path.bbox();
            let b = if bb.is_empty() {
                [0.0, 0.0, 0.0, 0.0]
            } else {
                [bb.min_x, bb.min_y, bb.max_x, bb.max_y]
            };
            all = [
                all[0].min(b[0]),
                all[1].min(b[1]),
                all[2].max(b[2]),
                all[3].max(b[3]),
            ];
            bboxes.push(b);
        }
        if !all[0].is_finite() {
            all = [0.0, 0.0, 1.0, 1.0];
        }
        let w = (all[2] - all[0]).max(1.0);
        let h = (all[3] - all[1]).max(1.0);
        let n = (contours.len() as f64).sqrt().ceil().clamp(1.0, 128.0);
        let cell = (w.max(h) / n).max(1.0);
        let nx = ((w / cell).ceil() as usize + 1).min(256);
        let ny = ((h / cell).ceil() as usize + 1).min(256);
        let cell = (w / (nx as f64 - 0.5))
            .max(h / (ny as f64 - 0.5))
            .max(cell.min(1.0));
        let origin = Point::new(all[0], all[1]);
        let mut grid = vec![Vec::new(); nx * ny];
        let mut big = Vec::new();
        for (i, b) in bboxes.iter().enumerate() {
            let (x0, y0) = cell_of(origin, cell, nx, ny, b[0] - margin, b[1] - margin);
            let (x1, y1) = cell_of(origin, cell, nx, ny, b[2] + margin, b[3] + margin);
            if (x1 - x0 + 1) * (y1 - y0 + 1) > 256 {
                big.push(i);
                continue;
            }
            for gy in y0..=y1 {
                for gx in x0..=x1 {
                    grid[gy * nx + gx].push(i);
                }
            }
        }
        Obstacles {
            paths: contours.iter().map(|c| c.path.clone()).collect(),
            polys: contours
                .iter()
                .map(|c| c.path.closed.then(|| c.path.flatten(FLATTEN_TOL)))
                .collect(),
            bboxes,
            grid,
            big,
            origin,
            cell,
            nx,
            ny,
        }
    }

    fn near(&self, p: Point) -> impl Iterator<Item = &usize> {
        let outside = p.x < self.origin.x - self.cell
            || p.y < self.origin.y - self.cell
            || p.x > self.origin.x + self.cell * (self.nx as f64 + 1.0)
            || p.y > self.origin.y + self.cell * (self.ny as f64 + 1.0);
        let cell: &[usize] = if outside {
            &[]
        } else {
            let (gx, gy) = cell_of(self.origin, self.cell, self.nx, self.ny, p.x, p.y);
            &self.grid[gy * self.nx + gx]
        };
        cell.iter().chain(self.big.iter())
    }

    /// Is `p` in scrap (inside an even number of closed contours) and at least
    /// `clearance` from every drawn contour?
    fn is_clear_scrap(&self, p: Point, clearance: f64) -> bool {
        let mut inside = 0usize;
        for &i in self.near(p) {
            let b = self.bboxes[i];
            if p.x < b[0] - clearance
                || p.x > b[2] + clearance
                || p.y < b[1] - clearance
                || p.y > b[3] + clearance
            {
                continue;
            }
            if point_path_distance(p, &self.paths[i]) < clearance {
                return false;
            }
            if let Some(poly) = &self.polys[i] {
                if p.x >= b[0]
                    && p.x <= b[2]
                    && p.y >= b[1]
                    && p.y <= b[3]
                    && point_in_polygon(p, poly)
                {
                    inside += 1;
                }
            }
        }
        inside.is_multiple_of(2)
    }
}

fn cell_of(origin: Point, cell: f64, nx: usize, ny: usize, x: f64, y: f64) -> (usize, usize) {
    let gx = ((x - origin.x) / cell).floor().clamp(0.0, (nx - 1) as f64) as usize;
    let gy = ((y - origin.y) / cell).floor().clamp(0.0, (ny - 1) as f64) as usize;
    (gx, gy)
}

// ---------------------------------------------------------------- offsets

fn to_pline(path: &Path) -> Polyline<f64> {
    let mut pl = Polyline::with_capacity(path.vertices.len(), path.closed);
    for v in &path.vertices {
        let b = if v.bulge.is_finite() { v.bulge } else { 0.0 };
        pl.add(v.x, v.y, b);
    }
    pl
}

fn from_pline(pl: &Polyline<f64>) -> Path {
    Path {
        vertices: pl
            .iter_vertexes()
            .map(|v| Vertex::new(v.x, v.y, v.bulge))
            .collect(),
        closed: pl.is_closed(),
    }
}

/// Offset a closed contour by kerf/2: outers outward, holes inward. Returns the
/// loops (a hole may give none if smaller than the kerf, or several if it has a
/// narrow neck), each oriented for cutting: outers clockwise, holes
/// counter-clockwise.
pub fn kerf_offset(path: &Path, role: CutRole, kerf_mm: f64) -> Result<Vec<Path>, String> {
    let pl = to_pline(path);
    if pl.vertex_count() < 2 {
        return Err("degenerate contour (fewer than 2 vertices)".into());
    }
    let mut pl = pl.remove_repeat_pos(1e-7).unwrap_or(pl);
    if pl.vertex_count() < 2 {
        return Err("degenerate contour (fewer than 2 distinct vertices)".into());
    }
    if pl.area() < 0.0 {
        pl.invert_direction_mut();
    }
    // Counter-clockwise now: positive offsets go left = inward.
    let d = match role {
        CutRole::Hole => kerf_mm / 2.0,
        _ => -kerf_mm / 2.0,
    };
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| pl.parallel_offset(d)))
        .map_err(|_| "the offset engine panicked on this contour".to_string())?;
    let mut loops: Vec<Path> = out
        .iter()
        .filter(|p| p.is_closed() && p.vertex_count() >= 2)
        .map(from_pline)
        .filter(|p| {
            p.vertices
                .iter()
                .all(|v| v.x.is_finite() && v.y.is_finite() && v.bulge.is_finite())
        })
        .collect();
    if role != CutRole::Hole && loops.len() > 1 {
        // An outward offset is one loop; keep the largest if the engine split it.
        loops.sort_by(|a, b| signed_area(b).abs().total_cmp(&signed_area(a).abs()));
        loops.truncate(1);
    }
    for l in &mut loops {
        let ccw = signed_area(l) > 0.0;
        let want_ccw = role == CutRole::Hole;
        if ccw != want_ccw {
            *l = l.reversed();
        }
    }
    Ok(loops)
}

/// Rotate a closed loop so it starts at vertex `i`.
fn rotate_loop(path: &Path, i: usize) -> Path {
    let n = path.vertices.len();
    Path {
        vertices: (0..n).map(|k| path.vertices[(i + k) % n]).collect(),
        closed: true,
    }
}

/// Insert a vertex at the middle of segment `i` of a closed loop; returns the new
/// loop and the index of the inserted vertex.
fn split_segment_mid(path: &Path, i: usize) -> (Path, usize) {
    let n = path.vertices.len();
    let v0 = path.vertices[i];
    let v1 = path.vertices[(i + 1) % n];
    let mid = segment_point(v0.point(), v1.point(), v0.bulge, 0.5);
    let half = (v0.bulge.atan() / 2.0).tan();
    let mut vs = path.vertices.clone();
    vs[i].bulge = half;
    vs.insert(i + 1, Vertex::new(mid.x, mid.y, half));
    (
        Path {
            vertices: vs,
            closed: true,
        },
        i + 1,
    )
}

// ---------------------------------------------------------------- leads

/// Lead-in ending at `p` with tangent `t`, scrap on the left; returns the pierce
/// point and the lead's moves.
fn lead_in(p: Point, t: Point, lead: LeadOptions, len: f64) -> (Point, Vec<Move>) {
    let n = left(t);
    match lead.kind {
        LeadKind::None => (p, vec![]),
        LeadKind::Line => {
            let s = add(p, scale(n, len));
            (
                s,
                vec![Move::Cut {
                    to: p,
                    bulge: 0.0,
                    kind: CutKind::LeadIn,
                }],
            )
        }
        LeadKind::Arc => {
            // Centre on the scrap side; a counter-clockwise quarter circle ends at p
            // heading along t.
            let s = add(p, sub(scale(n, len), scale(t, len)));
            (
                s,
                vec![Move::Cut {
                    to: p,
                    bulge: (PI / 8.0).tan(),
                    kind: CutKind::LeadIn,
                }],
            )
        }
    }
}

/// Lead-out leaving `p` with tangent `t`, scrap on the left.
fn lead_out(p: Point, t: Point, lead: LeadOptions, len: f64) -> Vec<Move> {
    let n = left(t);
    match lead.kind {
        LeadKind::None => vec![],
        LeadKind::Line => vec![Move::Cut {
            to: add(p, scale(n, len)),
            bulge: 0.0,
            kind: CutKind::LeadOut,
        }],
        LeadKind::Arc => vec![Move::Cut {
            to: add(p, add(scale(n, len), scale(t, len))),
            bulge: (PI / 8.0).tan(),
            kind: CutKind::LeadOut,
        }],
    }
}

fn lead_is_clear(
    start: Point,
    moves: &[Move],
    obstacles: &Obstacles,
    clearance: f64,
    from_end: bool,
) -> bool {
    let mut cur = start;
    for m in moves {
        if let Move::Cut { to, bulge, .. } = *m {
            // Skip the part of the lead within 10% of the path point.
            for k in 0..=12 {
                let t = if from_end {
                    0.1 + 0.9 * k as f64 / 12.0
                } else {
                    0.9 * k as f64 / 12.0
                };
                let q = segment_point(cur, to, bulge, t);
                if !obstacles.is_clear_scrap(q, clearance) {
                    return false;
                }
            }
            cur = to;
        }
    }
    true
}

/// Build the cut of one offset loop starting near `from`.
fn cut_loop(
    lp: &Path,
    from: Point,
    s: &ToolpathSettings,
    obstacles: &Obstacles,
    warnings: &mut Vec<Warning>,
    contour_id: usize,
) -> (Point, Vec<Move>) {
    let n = lp.vertices.len();
    // Candidates: vertices and segment midpoints, nearest first (at most 24 tried).
    let mut cands: Vec<(f64, usize, bool)> = Vec::with_capacity(2 * n);
    for i in 0..n {
        let v0 = lp.vertices[i];
        let v1 = lp.vertices[(i + 1) % n];
        cands.push((v0.point().dist(from), i, false));
        let m = segment_point(v0.point(), v1.point(), v0.bulge, 0.5);
        cands.push((m.dist(from), i, true));
    }
    cands.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Prefer midpoints of straight segments and convex corners implicitly by trying
    // in distance order; the clearance test rejects bad ones.
    let clearance = s.kerf_mm / 2.0 * 0.98;
    let want_leads = s.lead_in.kind != LeadKind::None || s.lead_out.kind != LeadKind::None;
    let tries = if want_leads { cands.len().min(24) } else { 1 };
    for &(_, i, mid) in cands.iter().take(tries) {
        let (path, start) = if mid {
            split_segment_mid(lp, i)
        } else {
            (lp.clone(), i)
        };
        let path = rotate_loop(&path, start);
        let m = path.vertices.len();
        let p = path.vertices[0].point();
        let t_start = segment_tangent(
            p,
            path.vertices[1 % m].point(),
            path.vertices[0].bulge,
            false,
        );
        let last = path.vertices[m - 1];
        let t_end = segment_tangent(last.point(), p, last.bulge, true);
        for shrink in [1.0, 0.5, 0.25] {
            let (pierce, lin) = lead_in(p, t_start, s.lead_in, s.lead_in.length_mm * shrink);
            let lout = lead_out(p, t_end, s.lead_out, s.lead_out.length_mm * shrink);
            if !want_leads
                || (lead_is_clear(pierce, &lin, obstacles, clearance, false)
                    && lead_is_clear(p, &lout, obstacles, clearance, true))
            {
                let mut moves = lin;
                moves.extend(loop_moves(&path));
                moves.extend(lout);
                return (pierce, moves);
            }
        }
    }
    // No clear lead: pierce on the path at the nearest vertex.
    warnings.push(Warning::new(
        "lead_skipped",
        format!("contour {contour_id}: no lead fits in the scrap around it; pierced on the path"),
    ));
    let i = cands.first().map(|c| c.1).unwrap_or(0);
    let path = rotate_loop(lp, i);
    (path.vertices[0].point(), loop_moves(&path))
}

fn loop_moves(path: &Path) -> Vec<Move> {
    path.segments()
        .map(|(_, b, k)| Move::Cut {
            to: b,
            bulge: k,
            kind: CutKind::Contour,
        })
        .collect()
}

// ---------------------------------------------------------------- order and build

struct Pending {
    contour: usize,
    loops: Vec<Path>,
}

/// Build the whole toolpath: offsets, order, leads.
pub fn build_toolpath(
    contours: &[CutContour],
    s: &ToolpathSettings,
    warnings: &mut Vec<Warning>,
) -> Result<Vec<ContourCut>, CamError> {
    let obstacles = Obstacles::new(
        contours,
        s.kerf_mm + s.lead_in.length_mm.max(s.lead_out.length_mm),
    );
    let mut pending: Vec<Pending> = Vec::with_capacity(contours.len());
    let mut too_small = Vec::new();
    for (i, c) in contours.iter().enumerate() {
        let loops = if c.role == CutRole::Open {
            vec![]
        } else {
            match kerf_offset(&c.path, c.role, s.kerf_mm) {
                Ok(l) => l,
                Err(e) => {
                    warnings.push(Warning::new(
                        "offset_failed",
                        format!("contour {}: {e}; it is not cut", c.id),
                    ));
                    vec![]
                }
            }
        };
        if c.role == CutRole::Hole && loops.is_empty() {
            too_small.push(c.id);
        }
        pending.push(Pending { contour: i, loops });
    }
    if !too_small.is_empty() {
        warnings.push(Warning::new(
            "hole_smaller_than_kerf",
            format!(
                "{} hole(s) vanish when offset inward by kerf/2 (first: contour {}); they are not cut",
                too_small.len(),
                too_small[0]
            ),
        ));
    }

    // Children counts for the precedence rule.
    let n = contours.len();
    let mut waiting = vec![0usize; n];
    for c in contours {
        if let Some(p) = c.parent {
            if p < n {
                waiting[p] += 1;
            }
        }
    }
    let mut done = vec![false; n];
    let mut order = Vec::with_capacity(n);
    let mut cur = s.home;
    let start_of = |i: usize| -> Point {
        let p = &pending[i];
        p.loops
            .first()
            .or(Some(&contours[p.contour].path))
            .and_then(|l| l.vertices.first())
            .map(|v| v.point())
            .unwrap_or(s.home)
    };
    // Up to 16 sample points per contour stand for it in the nearest-neighbour search.
    let samples: Vec<Vec<Point>> = pending
        .iter()
        .map(|p| {
            let path = p.loops.first().unwrap_or(&contours[p.contour].path);
            let step = (path.vertices.len() / 16).max(1);
            let mut v: Vec<Point> = path
                .vertices
                .iter()
                .step_by(step)
                .map(|v| v.point())
                .collect();
            if contours[p.contour].role == CutRole::Open {
                v.extend(path.end());
            }
            v
        })
        .collect();
    let near_dist = |i: usize, from: Point| -> f64 {
        samples[i]
            .iter()
            .map(|q| q.dist(from))
            .fold(f64::INFINITY, f64::min)
    };
    if n <= NEAREST_NEIGHBOUR_LIMIT {
        for _ in 0..n {
            let mut best: Option<(f64, usize)> = None;
            for i in 0..n {
                if done[i] || waiting[i] > 0 {
                    continue;
                }
                let d = near_dist(i, cur);
                if best.is_none_or(|b| d < b.0) {
                    best = Some((d, i));
                }
            }
            let Some((_, i)) = best else { break };
            done[i] = true;
            if let Some(p) = contours[i].parent {
                if p < n {
                    waiting[p] = waiting[p].saturating_sub(1);
                }
            }
            order.push(i);
            cur = start_of(i);
        }
    }
    if order.len() < n {
        // Large drawings (or a parent cycle): deepest first, then along X.
        let mut depth = vec![0usize; n];
        for (i, d) in depth.iter_mut().enumerate() {
            let mut p = contours[i].parent;
            let mut k = 0;
            while let Some(q) = p {
                if k > n || q >= n {
                    break;
                }
                k += 1;
                p = contours[q].parent;
            }
            *d = k;
        }
        let mut rest: Vec<usize> = (0..n).filter(|&i| !done[i]).collect();
        rest.sort_by(|&a, &b| {
            depth[b]
                .cmp(&depth[a])
                .then(start_of(a).x.total_cmp(&start_of(b).x))
        });
        order.extend(rest);
    }

    let mut cuts = Vec::new();
    let mut head = s.home;
    for i in order {
        let c = &contours[i];
        if c.role == CutRole::Open {
            let mut path = c.path.clone();
            if path.vertices.len() < 2 {
                continue;
            }
            let (a, b) = (path.start(), path.end());
            if let (Some(a), Some(b)) = (a, b) {
                if b.dist(head) < a.dist(head) {
                    path = path.reversed();
                }
            }
            let pierce = path.vertices[0].point();
            let moves: Vec<Move> = path
                .segments()
                .map(|(_, b, k)| Move::Cut {
                    to: b,
                    bulge: k,
                    kind: CutKind::Contour,
                })
                .collect();
            let cut = ContourCut {
                contour: c.id,
                part: c.part,
                role: c.role,
                compensated: false,
                pierce,
                moves,
            };
            head = cut.end();
            cuts.push(cut);
            continue;
        }
        let loops = std::mem::take(&mut pending[i].loops);
        for lp in loops {
            let (pierce, moves) = cut_loop(&lp, head, s, &obstacles, warnings, c.id);
            let cut = ContourCut {
                contour: c.id,
                part: c.part,
                role: c.role,
                compensated: true,
                pierce,
                moves,
            };
            head = cut.end();
            cuts.push(cut);
        }
    }
    Ok(cuts)
}

/// Length of a move sequence starting at `from`.
pub fn moves_length(from: Point, moves: &[Move]) -> f64 {
    let mut cur = from;
    let mut len = 0.0;
    for m in moves {
        match *m {
            Move::Cut { to, bulge, .. } => {
                len += segment_length(cur, to, bulge);
                cur = to;
            }
            Move::Rapid { to } => {
                len += cur.dist(to);
                cur = to;
            }
        }
    }
    len
}
