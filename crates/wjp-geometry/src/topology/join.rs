//! Step 3: closed paths stay as drawn; open paths are joined end to end into
//! chains wherever ends lie within the snap tolerance (nearest end first), and a
//! chain whose ends meet is closed. Gaps closed and junctions (three or more ends
//! at one point, where the way on is ambiguous) are counted.

use std::collections::HashMap;

use super::Topology;
use crate::expand::SourcePath;
use crate::geom::{Path, Point};
use crate::warning::Warning;

/// Endpoint comparisons allowed in one drawing: many ends piled on one point would
/// otherwise make joining quadratic.
const JOIN_BUDGET: u64 = 20_000_000;

/// One contour-to-be: a closed path as drawn, or open paths joined end to end.
pub(super) struct Chain {
    pub path: Path,
    /// Layer of the first entity.
    pub layer: String,
    /// DXF type of the first entity.
    pub entity: String,
    /// Entities joined into it.
    pub sources: usize,
    /// Gaps (0 < gap <= snap tolerance) closed while joining.
    pub gaps: usize,
}

/// The closed paths, then the chains of the open ones.
pub(super) fn into_chains(paths: Vec<SourcePath>, tol: f64, t: &mut Topology) -> Vec<Chain> {
    let mut chains = Vec::new();
    let mut open: Vec<SourcePath> = Vec::new();
    for sp in paths {
        if sp.path.closed {
            chains.push(Chain {
                path: sp.path,
                layer: sp.layer,
                entity: sp.entity,
                sources: 1,
                gaps: 0,
            });
        } else {
            open.push(sp);
        }
    }
    chains.extend(join_open(&open, tol, t));
    chains
}

/// The ends of the open paths in a grid of cells as wide as the snap tolerance.
/// End `e` is the start (`e = 2 i`) or the end (`e = 2 i + 1`) of open path `i`.
struct Ends {
    points: Vec<Point>,
    grid: HashMap<(i64, i64), Vec<usize>>,
    tol: f64,
    /// Endpoint comparisons made so far (bounded by [`JOIN_BUDGET`]).
    work: u64,
}

impl Ends {
    fn new(open: &[SourcePath], tol: f64) -> Ends {
        let points: Vec<Point> = open
            .iter()
            .flat_map(|s| {
                [
                    s.path.start().unwrap_or(Point::new(0.0, 0.0)),
                    s.path.end().unwrap_or(Point::new(0.0, 0.0)),
                ]
            })
            .collect();
        let mut ends = Ends {
            points,
            grid: HashMap::new(),
            tol,
            work: 0,
        };
        for (e, p) in ends.points.iter().enumerate() {
            ends.grid.entry(ends.key(*p)).or_default().push(e);
        }
        ends
    }

    fn key(&self, p: Point) -> (i64, i64) {
        let cell = self.tol;
        ((p.x / cell).floor() as i64, (p.y / cell).floor() as i64)
    }

    /// The ends within the tolerance of `p` (itself included, if it is one).
    fn near(&mut self, p: Point) -> Vec<usize> {
        let (kx, ky) = self.key(p);
        let mut v = Vec::new();
        for dx in -1..=1 {
            for dy in -1..=1 {
                if let Some(list) = self.grid.get(&(kx + dx, ky + dy)) {
                    self.work += list.len() as u64;
                    v.extend(
                        list.iter()
                            .copied()
                            .filter(|&e| self.points[e].dist(p) <= self.tol),
                    );
                }
            }
        }
        v
    }

    fn out_of_budget(&self) -> bool {
        self.work > JOIN_BUDGET
    }
}

#[inline(never)] // one call per analysis; kept separate for profiles
fn join_open(open: &[SourcePath], tol: f64, t: &mut Topology) -> Vec<Chain> {
    let mut ends = Ends::new(open, tol);
    t.junctions += count_junctions(&mut ends);
    let mut used = vec![false; open.len()];
    let mut budget_hit = false;
    let mut out = Vec::new();
    for i in 0..open.len() {
        if used[i] {
            continue;
        }
        used[i] = true;
        out.push(grow_chain(i, open, &mut ends, &mut used, t));
        budget_hit |= ends.out_of_budget();
    }
    if budget_hit {
        t.warnings.push(Warning::new(
            "join_budget_exceeded",
            1,
            format!("too many entity ends meet at the same points: joining stopped after {JOIN_BUDGET} comparisons; some chains may be split"),
        ));
    }
    out
}

/// Points where three or more ends meet (each such cluster counted once).
fn count_junctions(ends: &mut Ends) -> usize {
    let mut junctions = 0;
    let mut seen = vec![false; ends.points.len()];
    for e in 0..ends.points.len() {
        if seen[e] {
            continue;
        }
        let nb = ends.near(ends.points[e]);
        if nb.len() >= 3 {
            junctions += 1;
            for n in nb {
                seen[n] = true;
            }
        }
    }
    junctions
}

/// The chain that starts as open path `first`: extended at its tail, then at its
/// head, by the nearest unused end each time; closed if its ends then meet.
fn grow_chain(
    first: usize,
    open: &[SourcePath],
    ends: &mut Ends,
    used: &mut [bool],
    t: &mut Topology,
) -> Chain {
    let mut verts = open[first].path.vertices.clone();
    let mut sources = 1usize;
    let mut gaps = 0usize;
    let mut note_gap = |gap: f64, t: &mut Topology| {
        if gap > 1e-9 {
            gaps += 1;
            t.gaps_closed += 1;
            t.max_gap_closed_mm = t.max_gap_closed_mm.max(gap);
        }
    };
    for at_head in [false, true] {
        while !ends.out_of_budget() {
            let p = if at_head {
                verts[0].point()
            } else {
                verts[verts.len() - 1].point()
            };
            let best = ends
                .near(p)
                .into_iter()
                .filter(|&e| !used[e / 2])
                .min_by(|&a, &b| ends.points[a].dist(p).total_cmp(&ends.points[b].dist(p)));
            let Some(e) = best else { break };
            let j = e / 2;
            used[j] = true;
            sources += 1;
            note_gap(ends.points[e].dist(p), t);
            // The path as it must run: away from the chain's tail, or into its head.
            let starts_here = e % 2 == 0;
            let q = if starts_here != at_head {
                open[j].path.clone()
            } else {
                open[j].path.reversed()
            };
            if at_head {
                let mut joined = q.vertices[..q.vertices.len() - 1].to_vec();
                joined.extend_from_slice(&verts);
                verts = joined;
            } else {
                let n = verts.len();
                verts[n - 1].bulge = q.vertices[0].bulge;
                verts.extend_from_slice(&q.vertices[1..]);
            }
        }
    }
    let mut closed = false;
    if verts.len() >= 3 {
        let d = verts[0].point().dist(verts[verts.len() - 1].point());
        if d <= ends.tol {
            note_gap(d, t);
            verts.pop();
            closed = true;
        }
    }
    if let Some(last) = verts.last_mut() {
        if !closed {
            last.bulge = 0.0;
        }
    }
    Chain {
        path: Path {
            vertices: verts,
            closed,
        },
        layer: open[first].layer.clone(),
        entity: open[first].entity.clone(),
        sources,
        gaps,
    }
}
