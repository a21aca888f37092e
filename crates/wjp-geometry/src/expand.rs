//! From entities to cut paths in world coordinates (drawing units).
//!
//! Block references are expanded recursively with their full transform (base point,
//! scale including negative mirroring scales, rotation, MINSERT rows and columns,
//! the INSERT's own OCS). Entities in an object coordinate system (extrusion other
//! than +Z, e.g. (0,0,-1) from some exporters) are mapped to the world XY plane.
//! Circular arcs stay arcs whenever the transform is a similarity; ellipses and
//! splines are flattened to the stated tolerance.
//!
//! Every expansion is bounded: nesting depth, a cycle check on the chain of block
//! names, a budget of expanded entities and of points. Exceeding one is an error
//! naming the block and the line of the INSERT.

use std::collections::BTreeMap;
use std::f64::consts::TAU;

use crate::dxf::{Document, Entity, EntityKind, P3};
use crate::error::{AnalysisError, SourcePos};
use crate::geom::curves::{fit_point_curve, flatten_param, Nurbs};
use crate::geom::{arc_path, circle_path, Affine, Path, Point, Vertex};

/// One cuttable entity as a path in world coordinates.
#[derive(Debug, Clone)]
pub struct SourcePath {
    pub path: Path,
    pub layer: String,
    /// DXF type of the entity it came from.
    pub entity: String,
    pub pos: SourcePos,
    /// The path is a flattened curve (ellipse or spline), so its short chords are
    /// not "tiny segments" of the drawing.
    pub flattened: bool,
}

/// The result of expanding model space.
#[derive(Debug, Clone, Default)]
pub struct Expansion {
    pub paths: Vec<SourcePath>,
    /// Every entity of model space by type, blocks expanded (INSERTs counted too).
    pub counts: BTreeMap<String, u64>,
    /// Paper-space entities skipped.
    pub paper_space: u64,
    /// (code, message) notes for the report.
    pub notes: Vec<(&'static str, String)>,
    pub max_depth: usize,
}

#[derive(Debug, Clone, Copy)]
pub struct ExpandLimits {
    pub max_depth: usize,
    pub max_expanded_entities: u64,
    pub max_minsert_cells: u64,
    pub max_points: u64,
    pub max_coordinate: f64,
    /// Curve flattening tolerance, drawing units.
    pub tolerance: f64,
    /// Expand INSERTs whose Z scale is 0 (it has no effect on a 2D cut). Some
    /// readers (ezdxf) skip them as non-invertible; `false` mimics that.
    pub expand_zero_z_scale: bool,
}

struct Walker<'a> {
    doc: &'a Document,
    limits: ExpandLimits,
    out: Expansion,
    visited: u64,
    points: u64,
    stack: Vec<String>,
    missing_blocks: BTreeMap<String, SourcePos>,
    repaired_splines: u64,
    fit_splines: u64,
    nonuniform_arcs: u64,
    negative_radii: u64,
    zero_z_expanded: u64,
    zero_z_skipped: u64,
    degenerate_inserts: u64,
}

/// Expand the model space of a document.
pub fn expand(doc: &Document, limits: ExpandLimits) -> Result<Expansion, AnalysisError> {
    let mut w = Walker {
        doc,
        limits,
        out: Expansion::default(),
        visited: 0,
        points: 0,
        stack: Vec::new(),
        missing_blocks: BTreeMap::new(),
        repaired_splines: 0,
        fit_splines: 0,
        nonuniform_arcs: 0,
        negative_radii: 0,
        zero_z_expanded: 0,
        zero_z_skipped: 0,
        degenerate_inserts: 0,
    };
    for e in &doc.entities {
        if e.paper_space {
            w.out.paper_space += 1;
            continue;
        }
        w.entity(e, &Affine::IDENTITY, None, 0)?;
    }
    for (name, pos) in &w.missing_blocks {
        w.out.notes.push((
            "missing_block",
            format!("INSERT at {pos} references block \"{name}\", which is not defined; ignored"),
        ));
    }
    // Counted repairs and skips, each reported once with its count.
    let counted: [(u64, &'static str, &str); 7] = [
        (
            w.repaired_splines,
            "spline_repaired",
            "SPLINE(s) had inconsistent knots or weights; a clamped uniform knot vector or unit weights were used",
        ),
        (
            w.fit_splines,
            "spline_fit_points",
            "SPLINE(s) carry only fit points; the curve through them is approximated",
        ),
        (
            w.zero_z_expanded,
            "insert_zero_z_scale",
            "INSERT(s) have a Z scale of 0; expanded in 2D (the Z scale does not change a flat cut)",
        ),
        (
            w.zero_z_skipped,
            "insert_zero_z_scale",
            "INSERT(s) have a Z scale of 0 and were skipped (expand_zero_z_scale_inserts = false)",
        ),
        (
            w.degenerate_inserts,
            "insert_zero_scale",
            "INSERT(s) have an X or Y scale of 0 (the block collapses to a line) and were skipped",
        ),
        (
            w.negative_radii,
            "negative_radius",
            "circle(s) or arc(s) have a negative radius (a damaged or hand-made file); read as its size",
        ),
        (
            w.nonuniform_arcs,
            "nonuniform_scale",
            "arc(s) under a non-uniform transform (block scale or a tilted extrusion) became elliptical and were flattened",
        ),
    ];
    for (count, code, text) in counted {
        if count > 0 {
            w.out.notes.push((code, format!("{count} {text}")));
        }
    }
    Ok(w.out)
}

/// The arbitrary-axis algorithm of the DXF reference: OCS axes for a normal.
fn ocs_axes(n: P3) -> (P3, P3) {
    fn cross(a: P3, b: P3) -> P3 {
        [
            a[1] * b[2] - a[2] * b[1],
            a[2] * b[0] - a[0] * b[2],
            a[0] * b[1] - a[1] * b[0],
        ]
    }
    fn unit(a: P3) -> P3 {
        let l = (a[0] * a[0] + a[1] * a[1] + a[2] * a[2]).sqrt();
        if l > 0.0 {
            [a[0] / l, a[1] / l, a[2] / l]
        } else {
            [1.0, 0.0, 0.0]
        }
    }
    let ax = if n[0].abs() < 1.0 / 64.0 && n[1].abs() < 1.0 / 64.0 {
        unit(cross([0.0, 1.0, 0.0], n))
    } else {
        unit(cross([0.0, 0.0, 1.0], n))
    };
    let ay = unit(cross(n, ax));
    (ax, ay)
}

/// OCS (x, y, elevation) to world XY as an affine map.
fn ocs_affine(n: P3, elevation: f64) -> Affine {
    if n == [0.0, 0.0, 1.0] {
        return Affine::translate(0.0, 0.0);
    }
    let (ax, ay) = ocs_axes(n);
    Affine {
        a: ax[0],
        b: ay[0],
        c: ax[1],
        d: ay[1],
        e: elevation * n[0],
        f: elevation * n[1],
    }
}

fn cross3(a: P3, b: P3) -> P3 {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

impl Walker<'_> {
    fn count(&mut self, name: &str) {
        *self.out.counts.entry(name.to_owned()).or_insert(0) += 1;
    }

    /// A circle's or arc's radius as a size: a negative one (which no CAD
    /// program writes) is counted for a warning and read as its magnitude.
    fn size_of(&mut self, radius: f64) -> f64 {
        if radius < 0.0 {
            self.negative_radii += 1;
        }
        radius.abs()
    }

    fn emit(
        &mut self,
        e: &Entity,
        path: Path,
        layer: &str,
        flattened: bool,
    ) -> Result<(), AnalysisError> {
        self.points += path.vertices.len() as u64;
        if self.points > self.limits.max_points {
            return Err(AnalysisError::TooComplex {
                what: "too many points after expanding blocks and flattening curves".into(),
                limit: self.limits.max_points,
                pos: e.pos,
            });
        }
        for v in &path.vertices {
            for c in [v.x, v.y] {
                if !c.is_finite() || c.abs() > self.limits.max_coordinate {
                    return Err(AnalysisError::BadCoordinate {
                        entity: format!("{} (after block transforms)", e.type_name),
                        pos: e.pos,
                        value: c,
                        limit: self.limits.max_coordinate,
                    });
                }
            }
        }
        if path.vertices.is_empty() {
            return Ok(());
        }
        self.out.paths.push(SourcePath {
            path,
            layer: layer.to_owned(),
            entity: e.type_name.clone(),
            pos: e.pos,
            flattened,
        });
        Ok(())
    }

    /// Flatten a curve given in world 3D (projected to XY), then map by `m`.
    #[allow(clippy::too_many_arguments)]
    fn curve<F: Fn(f64) -> P3>(
        &mut self,
        f: F,
        t0: f64,
        t1: f64,
        min_segments: usize,
        m: &Affine,
        size: f64,
        start: &mut Vec<Point>,
    ) {
        let g = |t: f64| {
            let p = f(t);
            m.apply(Point::new(p[0], p[1]))
        };
        // Small curves get a relative tolerance (1e-5 of their size) so their
        // length stays exact whatever the absolute tolerance.
        let tol = self.limits.tolerance.min(size * 1e-5).max(1e-12);
        let remaining = self.limits.max_points.saturating_sub(self.points);
        let mut budget = (remaining.min(1_000_000)) as usize;
        if start.is_empty() {
            start.push(g(t0));
        }
        flatten_param(&g, t0, t1, tol, min_segments, &mut budget, start);
    }

    fn entity(
        &mut self,
        e: &Entity,
        m: &Affine,
        parent_layer: Option<&str>,
        depth: usize,
    ) -> Result<(), AnalysisError> {
        self.visited += 1;
        if self.visited > self.limits.max_expanded_entities {
            return Err(AnalysisError::TooComplex {
                what: "too many entities after expanding blocks".into(),
                limit: self.limits.max_expanded_entities,
                pos: e.pos,
            });
        }
        let layer: String = match parent_layer {
            Some(p) if e.layer == "0" => p.to_owned(),
            _ => e.layer.clone(),
        };
        self.count(&e.type_name);
        let tol = self.limits.tolerance;
        match &e.kind {
            EntityKind::Line { p1, p2 } => {
                let a = m.apply(Point::new(p1[0], p1[1]));
                let b = m.apply(Point::new(p2[0], p2[1]));
                let path = Path {
                    vertices: vec![Vertex::new(a.x, a.y, 0.0), Vertex::new(b.x, b.y, 0.0)],
                    closed: false,
                };
                self.emit(e, path, &layer, false)
            }
            EntityKind::Circle {
                center,
                radius,
                extrusion,
            } => {
                let local = circle_path(Point::new(center[0], center[1]), self.size_of(*radius));
                let mm = ocs_affine(*extrusion, center[2]).then(m);
                if !mm.is_conformal() {
                    self.nonuniform_arcs += 1;
                }
                self.emit(e, local.transformed(&mm, tol), &layer, false)
            }
            EntityKind::Arc {
                center,
                radius,
                start_deg,
                end_deg,
                extrusion,
            } => {
                let s = start_deg.to_radians();
                let mut sweep = (end_deg - start_deg).rem_euclid(360.0).to_radians();
                if sweep <= 1e-12 {
                    sweep = TAU;
                }
                let local = arc_path(
                    Point::new(center[0], center[1]),
                    self.size_of(*radius),
                    s,
                    sweep,
                );
                let mm = ocs_affine(*extrusion, center[2]).then(m);
                if !mm.is_conformal() {
                    self.nonuniform_arcs += 1;
                }
                self.emit(e, local.transformed(&mm, tol), &layer, false)
            }
            EntityKind::Polyline {
                vertices,
                closed,
                elevation,
                extrusion,
                three_d,
            } => {
                let (verts, mm) = if *three_d {
                    (
                        vertices
                            .iter()
                            .map(|v| Vertex::new(v.x, v.y, 0.0))
                            .collect::<Vec<_>>(),
                        *m,
                    )
                } else {
                    (
                        vertices
                            .iter()
                            .map(|v| Vertex::new(v.x, v.y, v.bulge))
                            .collect(),
                        ocs_affine(*extrusion, *elevation).then(m),
                    )
                };
                let mut local = Path {
                    vertices: verts,
                    closed: *closed,
                };
                if !local.closed {
                    if let Some(last) = local.vertices.last_mut() {
                        last.bulge = 0.0;
                    }
                }
                if local.has_arcs() && !mm.is_conformal() {
                    self.nonuniform_arcs += 1;
                }
                self.emit(e, local.transformed(&mm, tol), &layer, false)
            }
            EntityKind::Ellipse {
                center,
                major,
                ratio,
                start,
                end,
                extrusion,
            } => {
                let minor_dir = cross3(*extrusion, *major);
                // The reference says ratio <= 1, but files carry ratios a little above 1;
                // the parametric form is well defined for any positive ratio.
                let r = ratio.abs().max(1e-9);
                let minor = [minor_dir[0] * r, minor_dir[1] * r, minor_dir[2] * r];
                let c = *center;
                let mj = *major;
                let mut t0 = *start;
                let mut t1 = *end;
                if t1 <= t0 {
                    t1 += TAU * ((t0 - t1) / TAU).floor().max(0.0) + TAU;
                }
                if t1 - t0 > TAU {
                    t1 = t0 + TAU;
                }
                let full = (t1 - t0) >= TAU - 1e-9;
                if full {
                    t0 = 0.0;
                    t1 = TAU;
                }
                let f = move |t: f64| {
                    let (s, co) = t.sin_cos();
                    [
                        c[0] + co * mj[0] + s * minor[0],
                        c[1] + co * mj[1] + s * minor[1],
                        c[2] + co * mj[2] + s * minor[2],
                    ]
                };
                let segs = (((t1 - t0) / TAU) * 16.0).ceil().max(2.0) as usize;
                let mut pts = Vec::new();
                let size = m.max_scale() * (mj[0].hypot(mj[1]) * r.max(1.0));
                self.curve(f, t0, t1, segs, m, size, &mut pts);
                if full && pts.len() > 1 {
                    pts.pop();
                }
                let path = Path {
                    vertices: pts
                        .into_iter()
                        .map(|p| Vertex::new(p.x, p.y, 0.0))
                        .collect(),
                    closed: full,
                };
                self.emit(e, path, &layer, true)
            }
            EntityKind::Spline {
                degree,
                closed,
                knots,
                weights,
                control,
                fit,
                ..
            } => {
                let mut pts: Vec<Point> = Vec::new();
                if control.len() >= 2 {
                    let Some((nurbs, repaired)) =
                        Nurbs::new(*degree, knots.clone(), weights.clone(), control.clone())
                    else {
                        return Ok(());
                    };
                    if repaired {
                        self.repaired_splines += 1;
                    }
                    let bps = nurbs.breakpoints();
                    let (mut lo, mut hi) = ([f64::MAX; 2], [f64::MIN; 2]);
                    for c in &nurbs.control {
                        for i in 0..2 {
                            lo[i] = lo[i].min(c[i]);
                            hi[i] = hi[i].max(c[i]);
                        }
                    }
                    let size = m.max_scale() * (hi[0] - lo[0]).hypot(hi[1] - lo[1]);
                    let min_seg = if nurbs.degree == 1 { 1 } else { 4 };
                    for w in bps.windows(2) {
                        let nn = &nurbs;
                        self.curve(|t| nn.eval(t), w[0], w[1], min_seg, m, size, &mut pts);
                    }
                } else if fit.len() >= 2 {
                    self.fit_splines += 1;
                    for p in fit_point_curve(fit, *closed) {
                        pts.push(m.apply(Point::new(p[0], p[1])));
                    }
                } else {
                    return Ok(());
                }
                let mut is_closed = false;
                if pts.len() > 2 {
                    let first = pts[0];
                    let last = pts[pts.len() - 1];
                    if first.dist(last) <= tol * 1e-3 {
                        pts.pop();
                        is_closed = true;
                    }
                }
                let path = Path {
                    vertices: pts
                        .into_iter()
                        .map(|p| Vertex::new(p.x, p.y, 0.0))
                        .collect(),
                    closed: is_closed,
                };
                self.emit(e, path, &layer, true)
            }
            EntityKind::Insert {
                block,
                at,
                scale,
                rotation_deg,
                columns,
                rows,
                column_spacing,
                row_spacing,
                extrusion,
            } => {
                if scale[0] == 0.0 || scale[1] == 0.0 {
                    self.degenerate_inserts += 1;
                    return Ok(());
                }
                if scale[2] == 0.0 {
                    if self.limits.expand_zero_z_scale {
                        self.zero_z_expanded += 1;
                    } else {
                        self.zero_z_skipped += 1;
                        return Ok(());
                    }
                }
                let key = block.to_ascii_uppercase();
                let doc = self.doc;
                let Some(def) = doc.blocks.get(&key) else {
                    self.missing_blocks.entry(block.clone()).or_insert(e.pos);
                    return Ok(());
                };
                if self.stack.contains(&key) {
                    let mut chain: Vec<String> = self.stack.clone();
                    chain.push(key.clone());
                    return Err(AnalysisError::CyclicBlock {
                        block: block.clone(),
                        chain: chain.join(" -> "),
                        pos: e.pos,
                    });
                }
                if depth + 1 > self.limits.max_depth {
                    return Err(AnalysisError::TooComplex {
                        what: format!(
                            "block references nested deeper than {} levels (at block \"{block}\")",
                            self.limits.max_depth
                        ),
                        limit: self.limits.max_depth as u64,
                        pos: e.pos,
                    });
                }
                let cells = (*columns as u64).saturating_mul(*rows as u64);
                if cells > self.limits.max_minsert_cells {
                    return Err(AnalysisError::TooComplex {
                        what: format!(
                            "MINSERT of block \"{block}\" with {columns} x {rows} copies"
                        ),
                        limit: self.limits.max_minsert_cells,
                        pos: e.pos,
                    });
                }
                self.out.max_depth = self.out.max_depth.max(depth + 1);
                let ocs = ocs_affine(*extrusion, at[2]);
                self.stack.push(key);
                let rot = Affine::rotate(rotation_deg.to_radians());
                let base = Affine::translate(-def.base[0], -def.base[1])
                    .then(&Affine::scale(scale[0], scale[1]));
                for r in 0..*rows {
                    for c in 0..*columns {
                        let local = base
                            .then(&Affine::translate(
                                c as f64 * column_spacing,
                                r as f64 * row_spacing,
                            ))
                            .then(&rot)
                            .then(&Affine::translate(at[0], at[1]))
                            .then(&ocs)
                            .then(m);
                        for child in &def.entities {
                            // An ATTDEF in a block is the template of an ATTRIB
                            // the INSERT carries: not drawn, so not counted (it
                            // would be once per instance and MINSERT cell).
                            if child.paper_space || child.type_name == "ATTDEF" {
                                continue;
                            }
                            self.entity(child, &local, Some(&layer), depth + 1)?;
                        }
                    }
                }
                self.stack.pop();
                Ok(())
            }
            EntityKind::Other => Ok(()),
        }
    }
}
