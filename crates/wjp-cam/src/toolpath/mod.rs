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
//!   islands before the hole around them, open chains before the smallest closed
//!   contour holding them); among the ready ones the nearest comes next (greedy
//!   nearest neighbour from the head position).
//!
//! [`build_toolpath`] runs the steps: `offset` (kerf compensation), `order` (which
//! contour next), then per contour `leads` (start point and leads, checked against
//! the drawing by `scrap`).

mod leads;
mod offset;
mod order;
mod scrap;

use serde::{Deserialize, Serialize};
use wjp_geometry::geom::segment_length;
use wjp_geometry::{Path, Point, Warning};

use crate::error::CamError;
use scrap::Obstacles;

pub use offset::kerf_offset;

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
    /// Open chains may leave it `None`: the cut order finds the closed contour
    /// holding them itself.
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
    let mut loops = offset::offset_all(contours, s.kerf_mm, warnings);
    let order = order::cut_order(contours, &loops, s.home);
    let mut cuts = Vec::new();
    let mut head = s.home;
    for i in order {
        let c = &contours[i];
        if c.role == CutRole::Open {
            if let Some(cut) = open_cut(c, head) {
                head = cut.end();
                cuts.push(cut);
            }
            continue;
        }
        for lp in std::mem::take(&mut loops[i]) {
            let (pierce, moves) = leads::cut_loop(&lp, head, s, &obstacles, warnings, c.id);
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

/// An open chain is cut as drawn, without compensation or leads, from its end
/// nearer the head; `None` for a chain of fewer than two vertices.
fn open_cut(c: &CutContour, head: Point) -> Option<ContourCut> {
    let mut path = c.path.clone();
    if path.vertices.len() < 2 {
        return None;
    }
    if let (Some(a), Some(b)) = (path.start(), path.end()) {
        if b.dist(head) < a.dist(head) {
            path = path.reversed();
        }
    }
    Some(ContourCut {
        contour: c.id,
        part: c.part,
        role: c.role,
        compensated: false,
        pierce: path.vertices[0].point(),
        moves: contour_moves(&path),
    })
}

/// The cut moves along a path from its first vertex.
fn contour_moves(path: &Path) -> Vec<Move> {
    path.segments()
        .map(|(_, b, k)| Move::Cut {
            to: b,
            bulge: k,
            kind: CutKind::Contour,
        })
        .collect()
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
