//! Topology: from loose cut paths (millimetres) to contours, parts and a cut order.
//!
//! Steps, in order: drop zero-length paths; remove exact duplicates (they would be
//! cut twice) and measure collinear overlaps; join open paths end to end within the
//! snap tolerance (reporting the gaps closed and the junctions where more than two
//! ends meet); classify closed contours by containment (even depth = a part's
//! outer boundary, odd = a hole, depth 2 = an island, i.e. another part); order the
//! cuts (holes before their outer, nearest neighbour next) and measure the rapid
//! travel; derive the manufacturability figures.

use std::collections::HashMap;

use serde::Serialize;

use crate::expand::SourcePath;
use crate::geom::{
    bulge_arc, point_in_ring, segment_distance, segment_length, Bbox, Path, Point, Vertex,
};
use crate::warning::Warning;

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

fn warn(code: &str, count: u64, message: String) -> Warning {
    Warning {
        code: code.to_owned(),
        count,
        message,
    }
}

/// Run the topology pass.
pub fn build(paths: Vec<SourcePath>, o: &TopologyOptions) -> Topology {
    let mut t = Topology::default();
    let tol = o.snap_tolerance_mm.max(1e-9);

    // 1. Zero-length paths, tiny segments, dense polylines.
    let mut dense = 0u64;
    let mut live: Vec<SourcePath> = Vec::with_capacity(paths.len());
    for mut sp in paths {
        // A closed path that repeats its first vertex at the end.
        if sp.path.closed && sp.path.vertices.len() > 1 {
            let n = sp.path.vertices.len();
            if sp.path.vertices[0]
                .point()
                .dist(sp.path.vertices[n - 1].point())
                < 1e-9
            {
                sp.path.vertices.pop();
            }
        }
        let len = sp.path.length();
        if len <= 1e-9 {
            t.zero_length += 1;
            continue;
        }
        if !sp.flattened {
            let mut segs = 0usize;
            for (a, b, k) in sp.path.segments() {
                segs += 1;
                let l = segment_length(a, b, k);
                if l < o.tiny_segment_mm {
                    t.tiny_segments += 1;
                }
            }
            if (sp.entity == "LWPOLYLINE" || sp.entity == "POLYLINE")
                && sp.path.vertices.len() >= o.dense_polyline_vertices
                && len / (segs.max(1) as f64) < o.dense_polyline_mean_segment_mm
            {
                dense += 1;
            }
        }
        live.push(sp);
    }

    // 2. Duplicates.
    let q = tol.max(1e-6);
    let key = |p: &Path| -> (i64, i64, i64, i64, bool) {
        let bb = p.bbox();
        (
            (p.length() / q).round() as i64,
            (bb.min_x / q).round() as i64,
            (bb.min_y / q).round() as i64,
            ((bb.max_x + bb.max_y) / q).round() as i64,
            p.closed,
        )
    };
    let mut buckets: HashMap<(i64, i64, i64, i64, bool), Vec<usize>> = HashMap::new();
    let mut unique: Vec<SourcePath> = Vec::with_capacity(live.len());
    for sp in live {
        let k = key(&sp.path);
        let bucket = buckets.entry(k).or_default();
        if bucket
            .iter()
            .any(|&i| same_path(&unique[i].path, &sp.path, tol))
        {
            t.duplicates += 1;
            t.duplicate_length_mm += sp.path.length();
            continue;
        }
        bucket.push(unique.len());
        unique.push(sp);
    }
    t.overlap_length_mm = collinear_overlap(&unique, tol);

    // 3. Join open paths.
    let mut chains: Vec<(Path, String, String, usize, usize)> = Vec::new(); // path, layer, entity, sources, gaps
    let mut open: Vec<SourcePath> = Vec::new();
    for sp in unique {
        if sp.path.closed {
            chains.push((sp.path, sp.layer, sp.entity, 1, 0));
        } else {
            open.push(sp);
        }
    }
    let joined = join_open(&open, tol, &mut t);
    chains.extend(joined);

    // 4. Contours with their figures.
    for (path, layer, entity, sources, gaps) in chains {
        let bb = path.bbox();
        let area = path.signed_area();
        let closed = path.closed;
        let id = t.contours.len();
        t.contours.push(Contour {
            id,
            closed,
            role: if closed {
                ContourRole::Outer
            } else {
                ContourRole::Open
            },
            layer,
            length_mm: path.length(),
            area_mm2: area,
            orientation: if !closed {
                "open"
            } else if area >= 0.0 {
                "ccw"
            } else {
                "cw"
            },
            bbox_mm: bb.to_array().unwrap_or([0.0; 4]),
            depth: 0,
            parent: None,
            part: None,
            smallest_inside_radius_mm: None,
            vertex_count: path.vertices.len(),
            source_entities: sources,
            source_entity: entity,
            gaps_closed: gaps,
            path,
        });
    }

    // 5. Nesting.
    nest(&mut t.contours);

    // 6. Parts.
    for c in 0..t.contours.len() {
        if t.contours[c].closed && t.contours[c].depth % 2 == 0 {
            let pid = t.parts.len();
            t.contours[c].part = Some(pid);
            let bb = t.contours[c].bbox_mm;
            t.parts.push(Part {
                id: pid,
                outer: c,
                holes: Vec::new(),
                net_area_mm2: t.contours[c].area_mm2.abs(),
                bbox_mm: bb,
                width_mm: bb[2] - bb[0],
                height_mm: bb[3] - bb[1],
                cut_length_mm: t.contours[c].length_mm,
                pierces: 1,
            });
        }
    }
    for c in 0..t.contours.len() {
        if t.contours[c].closed && t.contours[c].depth % 2 == 1 {
            t.contours[c].role = ContourRole::Hole;
            if let Some(parent) = t.contours[c].parent {
                if let Some(pid) = t.contours[parent].part {
                    t.contours[c].part = Some(pid);
                    let (a, l) = (t.contours[c].area_mm2.abs(), t.contours[c].length_mm);
                    let p = &mut t.parts[pid];
                    p.holes.push(c);
                    p.net_area_mm2 -= a;
                    p.cut_length_mm += l;
                    p.pierces += 1;
                }
            }
        }
    }

    // 7. Per-contour radii and corners.
    for c in &mut t.contours {
        let (inside_r, small_len, corners) =
            radii_and_corners(&c.path, c.role, o.small_radius_mm, o.sharp_corner_deg);
        c.smallest_inside_radius_mm = inside_r;
        t.small_radius_length_mm += small_len;
        t.sharp_corners += corners;
    }

    // 8. Cut order and rapid travel.
    order_cuts(&mut t);

    // 9. Web check.
    t.min_web_mm = min_web(
        &t.contours,
        2.0 * o.kerf_mm,
        o.web_check_budget,
        &mut t.warnings,
    );

    // Warnings.
    if t.zero_length > 0 {
        t.warnings.push(warn(
            "zero_length",
            t.zero_length as u64,
            format!("{} zero-length entities were ignored", t.zero_length),
        ));
    }
    if t.duplicates > 0 {
        t.warnings.push(warn(
            "duplicates",
            t.duplicates as u64,
            format!(
                "{} duplicate entities ({:.2} mm) would be cut twice; they are counted once",
                t.duplicates, t.duplicate_length_mm
            ),
        ));
    }
    if t.overlap_length_mm > 0.0 {
        t.warnings.push(warn(
            "overlaps",
            1,
            format!(
                "collinear lines overlap over {:.2} mm: that length would be cut twice",
                t.overlap_length_mm
            ),
        ));
    }
    if t.tiny_segments > 0 {
        t.warnings.push(warn(
            "tiny_segments",
            t.tiny_segments as u64,
            format!(
                "{} segments are shorter than {} mm",
                t.tiny_segments, o.tiny_segment_mm
            ),
        ));
    }
    if dense > 0 {
        t.warnings.push(warn(
            "dense_polyline",
            dense,
            format!(
                "{dense} polylines have {}+ vertices under {} mm apart on average (traced from an image?): expect slow, jerky cutting",
                o.dense_polyline_vertices, o.dense_polyline_mean_segment_mm
            ),
        ));
    }
    if t.gaps_closed > 0 {
        t.warnings.push(warn(
            "gaps_closed",
            t.gaps_closed as u64,
            format!(
                "{} gaps up to {:.4} mm (snap tolerance {} mm) were closed while joining contours",
                t.gaps_closed, t.max_gap_closed_mm, o.snap_tolerance_mm
            ),
        ));
    }
    if t.junctions > 0 {
        t.warnings.push(warn(
            "junctions",
            t.junctions as u64,
            format!(
                "{} points where three or more entity ends meet: the contour path is ambiguous there",
                t.junctions
            ),
        ));
    }
    let open: Vec<&Contour> = t.contours.iter().filter(|c| !c.closed).collect();
    if !open.is_empty() {
        let mut layers: Vec<&str> = open.iter().map(|c| c.layer.as_str()).collect();
        layers.sort_unstable();
        layers.dedup();
        t.warnings.push(warn(
            "open_contours",
            open.len() as u64,
            format!(
                "{} open chains (layers: {}) are cut as open paths, one pierce each; close them if they are part outlines",
                open.len(),
                layers.join(", ")
            ),
        ));
    }
    check_layer_intent(&t.contours, &mut t.warnings);
    let half = o.kerf_mm / 2.0;
    let small_r = t
        .contours
        .iter()
        .filter(|c| c.smallest_inside_radius_mm.is_some_and(|r| r < half))
        .count();
    if small_r > 0 {
        t.warnings.push(warn(
            "inside_radius_below_kerf",
            small_r as u64,
            format!(
                "{small_r} contours have an inside radius below kerf/2 = {half} mm: the jet cannot follow it"
            ),
        ));
    }
    let small_feat = t
        .contours
        .iter()
        .filter(|c| {
            c.closed && (c.bbox_mm[2] - c.bbox_mm[0]).min(c.bbox_mm[3] - c.bbox_mm[1]) < o.kerf_mm
        })
        .count();
    if small_feat > 0 {
        t.warnings.push(warn(
            "feature_smaller_than_kerf",
            small_feat as u64,
            format!(
                "{small_feat} closed contours are narrower than the kerf ({} mm): they will be cut away",
                o.kerf_mm
            ),
        ));
    }
    if let Some(w) = t.min_web_mm {
        if w < 2.0 * o.kerf_mm {
            t.warnings.push(warn(
                "narrow_web",
                1,
                format!(
                    "the narrowest web or gap between contours is {w:.3} mm, below 2 x kerf = {} mm",
                    2.0 * o.kerf_mm
                ),
            ));
        }
    }
    t
}

/// What a layer name says about its contours, from the shop's conventions.
pub fn intent_of_layer(layer: &str) -> Option<&'static str> {
    let l = layer.to_ascii_uppercase();
    let has = |words: &[&str]| words.iter().any(|w| l.contains(w));
    if has(&["ETCH", "GROOVE", "POCKET", "INLAY", "ENGRAVE", "MARK"]) {
        Some("not_through")
    } else if has(&["INNER", "HOLE", "CUTOUT"]) {
        Some("hole")
    } else if has(&["OUTER", "PROFILE", "BOUNDARY"]) {
        Some("outer")
    } else {
        None
    }
}

/// Warn where layer names and geometry disagree, and about layers that look like
/// surface work (etching, pockets) rather than through-cuts.
#[inline(never)] // one call per analysis; kept separate for profiles
fn check_layer_intent(contours: &[Contour], warnings: &mut Vec<Warning>) {
    let mut mismatched = 0u64;
    let mut surface: Vec<&str> = Vec::new();
    for c in contours {
        match (intent_of_layer(&c.layer), c.role) {
            (Some("hole"), ContourRole::Outer) | (Some("outer"), ContourRole::Hole) => {
                mismatched += 1
            }
            (Some("not_through"), _) => surface.push(&c.layer),
            _ => {}
        }
    }
    if mismatched > 0 {
        warnings.push(warn(
            "layer_role_mismatch",
            mismatched,
            format!("{mismatched} contours sit on a HOLE/OUTER layer that contradicts their nesting (the geometry decides)"),
        ));
    }
    if !surface.is_empty() {
        let n = surface.len() as u64;
        surface.sort_unstable();
        surface.dedup();
        warnings.push(warn(
            "surface_layers",
            n,
            format!(
                "{n} contours on layers that suggest etching, grooves, pockets or inlays ({}); they are counted as through-cuts",
                surface.join(", ")
            ),
        ));
    }
}

fn same_path(a: &Path, b: &Path, tol: f64) -> bool {
    if a.closed != b.closed || a.vertices.len() != b.vertices.len() {
        return false;
    }
    let eq = |x: &[Vertex], y: &[Vertex], closed: bool| -> bool {
        let n = x.len();
        x.iter().zip(y).enumerate().all(|(i, (p, q))| {
            p.point().dist(q.point()) <= tol
                && (!(closed || i + 1 < n) || (p.bulge - q.bulge).abs() <= 1e-6)
        })
    };
    if !a.closed {
        return eq(&a.vertices, &b.vertices, false)
            || eq(&a.vertices, &b.reversed().vertices, false);
    }
    let n = a.vertices.len();
    for cand in [b.clone(), b.reversed()] {
        for shift in 0..n {
            if cand.vertices[shift].point().dist(a.vertices[0].point()) <= tol {
                let rotated: Vec<Vertex> = (0..n).map(|i| cand.vertices[(i + shift) % n]).collect();
                if eq(&a.vertices, &rotated, true) {
                    return true;
                }
            }
        }
    }
    false
}

/// Total length where straight segments of different paths lie on each other.
#[inline(never)] // one call per analysis; kept separate for profiles
fn collinear_overlap(paths: &[SourcePath], tol: f64) -> f64 {
    // (angle bucket, offset bucket) -> intervals along the line.
    let mut lines: HashMap<(i64, i64), Vec<(f64, f64)>> = HashMap::new();
    for sp in paths.iter().filter(|s| !s.flattened) {
        for (a, b, k) in sp.path.segments() {
            if k.abs() > 1e-12 {
                continue;
            }
            let len = a.dist(b);
            if len <= tol {
                continue;
            }
            let mut ang = (b.y - a.y).atan2(b.x - a.x);
            if ang < 0.0 {
                ang += std::f64::consts::PI;
            }
            if ang >= std::f64::consts::PI - 1e-9 {
                ang = 0.0;
            }
            let (s, c) = ang.sin_cos();
            let off = -s * a.x + c * a.y;
            let (t0, t1) = {
                let u = c * a.x + s * a.y;
                let v = c * b.x + s * b.y;
                (u.min(v), u.max(v))
            };
            lines
                .entry(((ang / 1e-6).round() as i64, (off / tol).round() as i64))
                .or_default()
                .push((t0, t1));
        }
    }
    let mut total = 0.0;
    for (_, mut iv) in lines {
        if iv.len() < 2 {
            continue;
        }
        iv.sort_by(|x, y| x.0.total_cmp(&y.0));
        let mut end = iv[0].1;
        for &(s, e) in &iv[1..] {
            if s < end - tol {
                total += end.min(e) - s;
            }
            end = end.max(e);
        }
    }
    total
}

type Chain = (Path, String, String, usize, usize);

#[inline(never)] // one call per analysis; kept separate for profiles
fn join_open(open: &[SourcePath], tol: f64, t: &mut Topology) -> Vec<Chain> {
    let cell = tol;
    let key = |p: Point| ((p.x / cell).floor() as i64, (p.y / cell).floor() as i64);
    // Endpoint e = 2*i (start of path i) or 2*i+1 (end).
    let ends: Vec<Point> = open
        .iter()
        .flat_map(|s| {
            [
                s.path.start().unwrap_or(Point::new(0.0, 0.0)),
                s.path.end().unwrap_or(Point::new(0.0, 0.0)),
            ]
        })
        .collect();
    let mut grid: HashMap<(i64, i64), Vec<usize>> = HashMap::new();
    for (e, p) in ends.iter().enumerate() {
        grid.entry(key(*p)).or_default().push(e);
    }
    // Endpoint comparisons allowed: many ends piled on one point would otherwise
    // make joining quadratic.
    const JOIN_BUDGET: u64 = 20_000_000;
    let work = std::cell::Cell::new(0u64);
    let neighbours = |p: Point, grid: &HashMap<(i64, i64), Vec<usize>>| -> Vec<usize> {
        let (kx, ky) = key(p);
        let mut v = Vec::new();
        for dx in -1..=1 {
            for dy in -1..=1 {
                if let Some(list) = grid.get(&(kx + dx, ky + dy)) {
                    work.set(work.get() + list.len() as u64);
                    v.extend(list.iter().copied().filter(|&e| ends[e].dist(p) <= tol));
                }
            }
        }
        v
    };
    // Junctions: ends where three or more ends meet.
    let mut seen = vec![false; ends.len()];
    for e in 0..ends.len() {
        if seen[e] {
            continue;
        }
        let nb = neighbours(ends[e], &grid);
        if nb.len() >= 3 {
            t.junctions += 1;
            for n in nb {
                seen[n] = true;
            }
        }
    }
    let mut used = vec![false; open.len()];
    let mut budget_hit = false;
    let mut out = Vec::new();
    for i in 0..open.len() {
        if used[i] {
            continue;
        }
        used[i] = true;
        let mut verts = open[i].path.vertices.clone();
        let mut sources = 1usize;
        let mut gaps = 0usize;
        // Extend at the tail, then at the head.
        for head in [false, true] {
            while work.get() <= JOIN_BUDGET {
                let p = if head {
                    verts[0].point()
                } else {
                    verts[verts.len() - 1].point()
                };
                let best = neighbours(p, &grid)
                    .into_iter()
                    .filter(|&e| !used[e / 2])
                    .min_by(|&a, &b| ends[a].dist(p).total_cmp(&ends[b].dist(p)));
                let Some(e) = best else { break };
                let j = e / 2;
                used[j] = true;
                sources += 1;
                let gap = ends[e].dist(p);
                if gap > 1e-9 {
                    gaps += 1;
                    t.gaps_closed += 1;
                    t.max_gap_closed_mm = t.max_gap_closed_mm.max(gap);
                }
                let at_start = e % 2 == 0;
                if !head {
                    let q = if at_start {
                        open[j].path.clone()
                    } else {
                        open[j].path.reversed()
                    };
                    let n = verts.len();
                    verts[n - 1].bulge = q.vertices[0].bulge;
                    verts.extend_from_slice(&q.vertices[1..]);
                } else {
                    // Need q ending at the head.
                    let q = if at_start {
                        open[j].path.reversed()
                    } else {
                        open[j].path.clone()
                    };
                    let mut nv = q.vertices[..q.vertices.len() - 1].to_vec();
                    nv.extend_from_slice(&verts);
                    verts = nv;
                }
            }
        }
        budget_hit |= work.get() > JOIN_BUDGET;
        let mut closed = false;
        if verts.len() >= 3 {
            let d = verts[0].point().dist(verts[verts.len() - 1].point());
            if d <= tol {
                if d > 1e-9 {
                    gaps += 1;
                    t.gaps_closed += 1;
                    t.max_gap_closed_mm = t.max_gap_closed_mm.max(d);
                }
                verts.pop();
                closed = true;
            }
        }
        if let Some(last) = verts.last_mut() {
            if !closed {
                last.bulge = 0.0;
            }
        }
        out.push((
            Path {
                vertices: verts,
                closed,
            },
            open[i].layer.clone(),
            open[i].entity.clone(),
            sources,
            gaps,
        ));
    }
    if budget_hit {
        t.warnings.push(warn(
            "join_budget_exceeded",
            1,
            format!("too many entity ends meet at the same points: joining stopped after {JOIN_BUDGET} comparisons; some chains may be split"),
        ));
    }
    out
}

fn ring_tol(bb: &Bbox) -> f64 {
    (bb.width().max(bb.height()) * 1e-4).clamp(1e-6, 0.05)
}

#[inline(never)] // one call per analysis; kept separate for profiles
fn nest(contours: &mut [Contour]) {
    let mut idx: Vec<usize> = (0..contours.len())
        .filter(|&i| contours[i].closed)
        .collect();
    // Parents (larger) before children, so depths can be filled in one pass.
    idx.sort_by(|&a, &b| {
        contours[b]
            .area_mm2
            .abs()
            .total_cmp(&contours[a].area_mm2.abs())
    });
    let bbox = |c: &Contour| Bbox {
        min_x: c.bbox_mm[0],
        min_y: c.bbox_mm[1],
        max_x: c.bbox_mm[2],
        max_y: c.bbox_mm[3],
    };
    // Candidate parents of a contour contain its first vertex. A uniform grid of
    // about sqrt(n) x sqrt(n) cells finds them: small contours are registered in
    // the cells their box covers, the few big ones are kept in one list.
    let mut extent = Bbox::EMPTY;
    for &i in &idx {
        extent.union(&bbox(&contours[i]));
    }
    let across = ((idx.len() as f64).sqrt().ceil() as i64).clamp(1, 1024);
    let cell = (extent.width().max(extent.height()) / across as f64).max(1e-9);
    let key = |x: f64, y: f64| {
        (
            ((x - extent.min_x) / cell).floor() as i64,
            ((y - extent.min_y) / cell).floor() as i64,
        )
    };
    let mut grid: HashMap<(i64, i64), Vec<usize>, FastHash> = HashMap::default();
    let mut big: Vec<usize> = Vec::new();
    for &i in &idx {
        let b = bbox(&contours[i]);
        let (x0, y0) = key(b.min_x, b.min_y);
        let (x1, y1) = key(b.max_x, b.max_y);
        if (x1 - x0 + 1) * (y1 - y0 + 1) > 64 {
            big.push(i);
        } else {
            for x in x0..=x1 {
                for y in y0..=y1 {
                    grid.entry((x, y)).or_default().push(i);
                }
            }
        }
    }
    let mut rings: HashMap<usize, Vec<Point>> = HashMap::new();
    let mut candidates: Vec<usize> = Vec::new();
    for &i in &idx {
        let bi = bbox(&contours[i]);
        let ai = contours[i].area_mm2.abs();
        let Some(p0) = contours[i].path.start() else {
            continue;
        };
        candidates.clear();
        let from_grid = grid
            .get(&key(p0.x, p0.y))
            .map(|v| v.as_slice())
            .unwrap_or(&[]);
        for &j in big.iter().chain(from_grid) {
            if j != i && contours[j].area_mm2.abs() > ai && bbox(&contours[j]).contains(&bi, 1e-9) {
                candidates.push(j);
            }
        }
        // The parent is the smallest contour that contains this one.
        candidates.sort_by(|&a, &b| {
            contours[a]
                .area_mm2
                .abs()
                .total_cmp(&contours[b].area_mm2.abs())
        });
        let samples = sample_points(&contours[i].path);
        let mut parent = None;
        for &j in &candidates {
            let bj = bbox(&contours[j]);
            let ring = rings
                .entry(j)
                .or_insert_with(|| contours[j].path.flatten(ring_tol(&bj)));
            let inside = samples.iter().filter(|p| point_in_ring(**p, ring)).count();
            if inside * 2 > samples.len() {
                parent = Some(j);
                break;
            }
        }
        contours[i].parent = parent;
        contours[i].depth = parent.map(|p| contours[p].depth + 1).unwrap_or(0);
    }
}

fn sample_points(p: &Path) -> Vec<Point> {
    let n = p.vertices.len();
    let mut v = Vec::with_capacity(3);
    if n == 0 {
        return v;
    }
    v.push(p.vertices[0].point());
    // Midpoints of the first and the middle segment (on the arc for bulges).
    for i in [0, n / 2] {
        let a = p.vertices[i].point();
        let b = p.vertices[(i + 1) % n].point();
        let m = match bulge_arc(a, b, p.vertices[i].bulge) {
            Some(arc) => {
                let ang = arc.start_angle + arc.sweep / 2.0;
                Point::new(
                    arc.center.x + arc.radius * ang.cos(),
                    arc.center.y + arc.radius * ang.sin(),
                )
            }
            None => Point::new((a.x + b.x) / 2.0, (a.y + b.y) / 2.0),
        };
        v.push(m);
    }
    v
}

/// Smallest inside radius, length of small-radius arcs, number of sharp corners.
#[inline(never)] // one call per analysis; kept separate for profiles
fn radii_and_corners(
    p: &Path,
    role: ContourRole,
    small_radius_mm: f64,
    sharp_deg: f64,
) -> (Option<f64>, f64, u64) {
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
    // Sharp corners between consecutive segments.
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
    let pairs = if p.closed { n } else { n.saturating_sub(1) };
    for i in 0..pairs {
        let (a0, b0, k0) = segs[i];
        let (a1, b1, k1) = segs[(i + 1) % n];
        if a0.dist(b0) < 1e-12 || a1.dist(b1) < 1e-12 {
            continue;
        }
        let t0 = tangent(a0, b0, k0, true);
        let t1 = tangent(a1, b1, k1, false);
        let mut d = (t1 - t0).rem_euclid(std::f64::consts::TAU);
        if d > std::f64::consts::PI {
            d = std::f64::consts::TAU - d;
        }
        if d.to_degrees() > sharp_deg {
            corners += 1;
        }
    }
    (inside, small, corners)
}

/// Visit order of points: nearest neighbour from `start` when there are few, a
/// serpentine sweep over horizontal bands when there are many (O(n log n)).
fn visit_order(points: &[Point], start: Point) -> Vec<usize> {
    const NEAREST_NEIGHBOUR_MAX: usize = 2000;
    let n = points.len();
    if n <= NEAREST_NEIGHBOUR_MAX {
        let mut left: Vec<usize> = (0..n).collect();
        let mut cur = start;
        let mut out = Vec::with_capacity(n);
        while !left.is_empty() {
            let (k, _) = left
                .iter()
                .enumerate()
                .map(|(k, &i)| (k, points[i].dist(cur)))
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .unwrap_or((0, 0.0));
            let i = left.swap_remove(k);
            cur = points[i];
            out.push(i);
        }
        return out;
    }
    let mut bb = Bbox::EMPTY;
    for p in points {
        bb.add(*p);
    }
    let bands = (n as f64).sqrt().ceil();
    let band_h = (bb.height() / bands).max(1e-9);
    let band = |p: Point| ((p.y - bb.min_y) / band_h).floor() as i64;
    let mut out: Vec<usize> = (0..n).collect();
    out.sort_by(|&a, &b| {
        let (ba, bb_) = (band(points[a]), band(points[b]));
        ba.cmp(&bb_).then_with(|| {
            if ba % 2 == 0 {
                points[a].x.total_cmp(&points[b].x)
            } else {
                points[b].x.total_cmp(&points[a].x)
            }
        })
    });
    out
}

#[inline(never)] // one call per analysis; kept separate for profiles
fn order_cuts(t: &mut Topology) {
    // Items: parts (holes first, then the outer) and open chains.
    enum Item {
        Part(usize),
        Open(usize),
    }
    let mut items: Vec<Item> = (0..t.parts.len()).map(Item::Part).collect();
    for c in &t.contours {
        if !c.closed {
            items.push(Item::Open(c.id));
        }
        // Holes without a part (cannot happen: every odd depth has a parent).
    }
    let mut bb = Bbox::EMPTY;
    for c in &t.contours {
        bb.add(Point::new(c.bbox_mm[0], c.bbox_mm[1]));
        bb.add(Point::new(c.bbox_mm[2], c.bbox_mm[3]));
    }
    if bb.is_empty() {
        return;
    }
    let mut cur = Point::new(bb.min_x, bb.min_y);
    t.rapid_start = Some(cur);
    let entry = |it: &Item, t: &Topology| -> Point {
        match it {
            Item::Part(p) => {
                let part = &t.parts[*p];
                let c = part.holes.first().copied().unwrap_or(part.outer);
                t.contours[c].path.start().unwrap_or(Point::new(0.0, 0.0))
            }
            Item::Open(c) => t.contours[*c].path.start().unwrap_or(Point::new(0.0, 0.0)),
        }
    };
    // Deeper parts first (an island inside a hole is cut before that hole drops),
    // nearest neighbour among the parts of the same depth.
    let depth: Vec<usize> = items
        .iter()
        .map(|it| match it {
            Item::Part(p) => t.contours[t.parts[*p].outer].depth,
            Item::Open(_) => 0,
        })
        .collect();
    let max_depth = depth.iter().copied().max().unwrap_or(0);
    let mut rapid = 0.0;
    let mut order = Vec::new();
    let mut pierces = Vec::new();
    for level in (0..=max_depth).rev() {
        let group: Vec<usize> = (0..items.len()).filter(|&k| depth[k] == level).collect();
        let entries: Vec<Point> = group.iter().map(|&k| entry(&items[k], t)).collect();
        for gi in visit_order(&entries, cur) {
            match &items[group[gi]] {
                Item::Part(p) => {
                    // Holes by nearest neighbour, then the outer.
                    let holes = &t.parts[*p].holes;
                    let starts: Vec<Point> = holes
                        .iter()
                        .map(|&h| t.contours[h].path.start().unwrap_or(cur))
                        .collect();
                    for hi in visit_order(&starts, cur) {
                        let s = starts[hi];
                        rapid += s.dist(cur);
                        cur = s;
                        order.push(holes[hi]);
                        pierces.push(s);
                    }
                    let o = t.parts[*p].outer;
                    let s = t.contours[o].path.start().unwrap_or(cur);
                    rapid += s.dist(cur);
                    cur = s;
                    order.push(o);
                    pierces.push(s);
                }
                Item::Open(c) => {
                    let path = &t.contours[*c].path;
                    let (s, e) = (path.start().unwrap_or(cur), path.end().unwrap_or(cur));
                    let (s, e) = if e.dist(cur) < s.dist(cur) {
                        (e, s)
                    } else {
                        (s, e)
                    };
                    rapid += s.dist(cur);
                    order.push(*c);
                    pierces.push(s);
                    cur = e;
                }
            }
        }
    }
    // Holes with no part (should not happen) are appended so nothing is lost.
    for c in &t.contours {
        if !order.contains(&c.id) {
            order.push(c.id);
            if let Some(s) = c.path.start() {
                rapid += s.dist(cur);
                cur = s;
                pierces.push(s);
            }
        }
    }
    t.cut_order = order;
    t.pierce_points = pierces;
    t.rapid_mm = rapid;
}

/// A small multiplicative hasher for integer grid keys (SipHash is needlessly slow
/// here and the keys are not attacker-chosen in a way that matters: the work is
/// bounded by the budget anyway).
#[derive(Default, Clone, Copy)]
struct FastHash;

#[derive(Default)]
struct FastHasher(u64);

impl std::hash::BuildHasher for FastHash {
    type Hasher = FastHasher;
    fn build_hasher(&self) -> FastHasher {
        FastHasher(0)
    }
}

impl std::hash::Hasher for FastHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(*b as u64);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_i64(&mut self, v: i64) {
        self.write_u64(v as u64);
    }
}

/// Narrowest distance between two different closed contours, when below `limit`
/// (None when all are farther apart). Bounded by `budget` segment pairs.
#[inline(never)] // one call per analysis; kept separate for profiles
fn min_web(
    contours: &[Contour],
    limit: f64,
    budget: u64,
    warnings: &mut Vec<Warning>,
) -> Option<f64> {
    if limit <= 0.0 {
        return None;
    }
    let mut extent = Bbox::EMPTY;
    for c in contours.iter().filter(|c| c.closed) {
        extent.add(Point::new(c.bbox_mm[0], c.bbox_mm[1]));
        extent.add(Point::new(c.bbox_mm[2], c.bbox_mm[3]));
    }
    let mut segs: Vec<(usize, Point, Point)> = Vec::new();
    for c in contours.iter().filter(|c| c.closed) {
        let bb = Bbox {
            min_x: c.bbox_mm[0],
            min_y: c.bbox_mm[1],
            max_x: c.bbox_mm[2],
            max_y: c.bbox_mm[3],
        };
        let raw = c.path.flatten(ring_tol(&bb).min(limit / 20.0).max(1e-6));
        // Finely flattened curves carry far more points than a web check needs:
        // keep points at least limit/20 apart (the shape moves by far less).
        let step = limit / 20.0;
        let mut pts: Vec<Point> = Vec::with_capacity(raw.len());
        for p in raw {
            if pts.last().is_none_or(|q: &Point| q.dist(p) >= step) {
                pts.push(p);
            }
        }
        for i in 0..pts.len() {
            segs.push((c.id, pts[i], pts[(i + 1) % pts.len()]));
        }
    }
    let total_length: f64 = contours
        .iter()
        .filter(|c| c.closed)
        .map(|c| c.length_mm)
        .sum();
    let n_segments = segs.len();
    // Cells at least `limit` wide (so neighbours suffice), at most ~2048 across, and
    // large enough that walking all segments registers about 4 cells per segment.
    let cell = limit
        .max(1e-3)
        .max(extent.width().max(extent.height()) / 2048.0)
        .max(total_length / (4.0 * n_segments.max(1) as f64));
    let mut grid: HashMap<(i64, i64), Vec<usize>, FastHash> = HashMap::default();
    let mut inserted = 0u64;
    let key = |p: Point| ((p.x / cell).floor() as i64, (p.y / cell).floor() as i64);
    for (s, (_, a, b)) in segs.iter().enumerate() {
        // Walk the segment in steps shorter than a cell; register each cell once.
        let steps = ((a.dist(*b) / cell).ceil() as u64).max(1);
        let mut last = None;
        for k in 0..=steps {
            let t = k as f64 / steps as f64;
            let cell_key = key(Point::new(a.x + (b.x - a.x) * t, a.y + (b.y - a.y) * t));
            if last == Some(cell_key) {
                continue;
            }
            last = Some(cell_key);
            inserted += 1;
            if inserted > budget {
                warnings.push(warn("web_check_skipped", 1, "the web/gap check was stopped: the drawing has too many segments for its budget".into()));
                return None;
            }
            let list = grid.entry(cell_key).or_default();
            if list.last() != Some(&s) {
                list.push(s);
            }
        }
    }
    let mut best: Option<f64> = None;
    let mut checked = 0u64;
    for ((x, y), list) in &grid {
        for &s in list {
            for dx in 0..=1i64 {
                for dy in -1..=1i64 {
                    if dx == 0 && dy < 0 {
                        continue;
                    }
                    let Some(other) = grid.get(&(x + dx, y + dy)) else {
                        continue;
                    };
                    for &u in other {
                        if segs[s].0 == segs[u].0 || (dx == 0 && dy == 0 && u <= s) {
                            continue;
                        }
                        checked += 1;
                        if checked > budget {
                            warnings.push(warn("web_check_skipped", 1, "the web/gap check was stopped: the drawing has too many close segments for its budget".into()));
                            return best;
                        }
                        // Cheap box test first: only pairs that could beat the
                        // current best need the exact distance.
                        let bound = best.unwrap_or(limit).min(limit);
                        let (a0, a1, b0, b1) = (segs[s].1, segs[s].2, segs[u].1, segs[u].2);
                        let gap_x =
                            (b0.x.min(b1.x) - a0.x.max(a1.x)).max(a0.x.min(a1.x) - b0.x.max(b1.x));
                        let gap_y =
                            (b0.y.min(b1.y) - a0.y.max(a1.y)).max(a0.y.min(a1.y) - b0.y.max(b1.y));
                        if gap_x >= bound || gap_y >= bound {
                            continue;
                        }
                        let d = segment_distance(a0, a1, b0, b1);
                        if d < limit {
                            best = Some(best.map_or(d, |b| b.min(d)));
                            if d <= 0.0 {
                                // Contours touch or cross: nothing is narrower.
                                return best;
                            }
                        }
                    }
                }
            }
        }
    }
    best
}
