//! Kerf compensation: closed contours offset by kerf/2 with `cavalier_contours`
//! (outers outward, holes inward), arcs kept as bulges, loops oriented for cutting.

use cavalier_contours::polyline::{PlineCreation, PlineSource, PlineSourceMut, Polyline};
use wjp_geometry::geom::segment_point;
use wjp_geometry::{Path, Vertex, Warning};

use super::{CutContour, CutRole};

/// The offset loops of every contour, by contour index (none for open chains, for
/// holes smaller than the kerf, and for contours the offset engine failed on,
/// which are warned about).
pub(super) fn offset_all(
    contours: &[CutContour],
    kerf_mm: f64,
    warnings: &mut Vec<Warning>,
) -> Vec<Vec<Path>> {
    let mut all = Vec::with_capacity(contours.len());
    let mut too_small = Vec::new();
    for c in contours {
        let loops = if c.role == CutRole::Open {
            vec![]
        } else {
            match kerf_offset(&c.path, c.role, kerf_mm) {
                Ok(l) => l,
                Err(e) => {
                    warnings.push(Warning::new(
                        "offset_failed",
                        1,
                        format!("contour {}: {e}; it is not cut", c.id),
                    ));
                    vec![]
                }
            }
        };
        if c.role == CutRole::Hole && loops.is_empty() {
            too_small.push(c.id);
        }
        all.push(loops);
    }
    if !too_small.is_empty() {
        warnings.push(Warning::new(
            "hole_smaller_than_kerf",
            too_small.len() as u64,
            format!(
                "{} hole(s) vanish when offset inward by kerf/2 (first: contour {}); they are not cut",
                too_small.len(),
                too_small[0]
            ),
        ));
    }
    all
}

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
        loops.sort_by(|a, b| b.signed_area().abs().total_cmp(&a.signed_area().abs()));
        loops.truncate(1);
    }
    for l in &mut loops {
        let ccw = l.signed_area() > 0.0;
        let want_ccw = role == CutRole::Hole;
        if ccw != want_ccw {
            *l = l.reversed();
        }
    }
    Ok(loops)
}

/// Rotate a closed loop so it starts at vertex `i`.
pub(super) fn rotate_loop(path: &Path, i: usize) -> Path {
    let n = path.vertices.len();
    Path {
        vertices: (0..n).map(|k| path.vertices[(i + k) % n]).collect(),
        closed: true,
    }
}

/// Insert a vertex at the middle of segment `i` of a closed loop; returns the new
/// loop and the index of the inserted vertex.
pub(super) fn split_segment_mid(path: &Path, i: usize) -> (Path, usize) {
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
