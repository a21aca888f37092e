//! Start points and leads: where to pierce a loop, and a lead-in and lead-out on
//! the scrap side (left of the jet) that stay clear of the drawing.

use std::f64::consts::PI;

use wjp_geometry::geom::{segment_point, segment_tangent};
use wjp_geometry::{Path, Point, Warning};

use super::offset::{rotate_loop, split_segment_mid};
use super::scrap::Obstacles;
use super::{contour_moves, CutKind, LeadKind, LeadOptions, Move, ToolpathSettings};

/// Lead-in ending at `p` with tangent `t`, scrap on the left; returns the pierce
/// point and the lead's moves.
fn lead_in(p: Point, t: Point, lead: LeadOptions, len: f64) -> (Point, Vec<Move>) {
    let n = t.left();
    match lead.kind {
        LeadKind::None => (p, vec![]),
        LeadKind::Line => {
            let s = p + n * len;
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
            let s = p + (n * len - t * len);
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
    let n = t.left();
    match lead.kind {
        LeadKind::None => vec![],
        LeadKind::Line => vec![Move::Cut {
            to: p + n * len,
            bulge: 0.0,
            kind: CutKind::LeadOut,
        }],
        LeadKind::Arc => vec![Move::Cut {
            to: p + (n * len + t * len),
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

/// A place to start cutting a loop: a vertex, or the middle of the segment that
/// starts at it.
struct StartCandidate {
    /// From the head's position.
    distance: f64,
    /// The vertex, or the first vertex of the segment.
    vertex: usize,
    midpoint: bool,
}

/// Vertices and segment midpoints of a loop, nearest to `from` first.
fn start_candidates(lp: &Path, from: Point) -> Vec<StartCandidate> {
    let n = lp.vertices.len();
    let mut cands = Vec::with_capacity(2 * n);
    for i in 0..n {
        let v0 = lp.vertices[i];
        let v1 = lp.vertices[(i + 1) % n];
        cands.push(StartCandidate {
            distance: v0.point().dist(from),
            vertex: i,
            midpoint: false,
        });
        let m = segment_point(v0.point(), v1.point(), v0.bulge, 0.5);
        cands.push(StartCandidate {
            distance: m.dist(from),
            vertex: i,
            midpoint: true,
        });
    }
    cands.sort_by(|a, b| a.distance.total_cmp(&b.distance));
    cands
}

/// The cut of one offset loop starting near `from`: the pierce point and the moves
/// (lead-in, the loop, lead-out).
pub(super) fn cut_loop(
    lp: &Path,
    from: Point,
    s: &ToolpathSettings,
    obstacles: &Obstacles,
    warnings: &mut Vec<Warning>,
    contour_id: usize,
) -> (Point, Vec<Move>) {
    let cands = start_candidates(lp, from);
    // Candidates are tried in distance order (at most 24); the clearance test
    // rejects starts whose leads would cut into the part or another contour.
    let clearance = s.kerf_mm / 2.0 * 0.98;
    let want_leads = s.lead_in.kind != LeadKind::None || s.lead_out.kind != LeadKind::None;
    let tries = if want_leads { cands.len().min(24) } else { 1 };
    for cand in cands.iter().take(tries) {
        let (path, start) = if cand.midpoint {
            split_segment_mid(lp, cand.vertex)
        } else {
            (lp.clone(), cand.vertex)
        };
        let path = rotate_loop(&path, start);
        if let Some(cut) = cut_with_leads(&path, s, obstacles, clearance, want_leads) {
            return cut;
        }
    }
    // No clear lead: pierce on the path at the nearest candidate's vertex.
    warnings.push(Warning::new(
        "lead_skipped",
        1,
        format!("contour {contour_id}: no lead fits in the scrap around it; pierced on the path"),
    ));
    let i = cands.first().map(|c| c.vertex).unwrap_or(0);
    let path = rotate_loop(lp, i);
    (path.vertices[0].point(), contour_moves(&path))
}

/// The loop cut from its first vertex with leads in scrap, shortened to a half and
/// a quarter if need be; `None` if no length fits.
fn cut_with_leads(
    path: &Path,
    s: &ToolpathSettings,
    obstacles: &Obstacles,
    clearance: f64,
    want_leads: bool,
) -> Option<(Point, Vec<Move>)> {
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
            moves.extend(contour_moves(path));
            moves.extend(lout);
            return Some((pierce, moves));
        }
    }
    None
}
