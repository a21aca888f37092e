//! Step 4: each chain becomes a contour with its figures (length, signed area,
//! orientation, box). Closed ones start as outers; nesting decides later.

use super::join::Chain;
use super::{Contour, ContourRole};

/// Contour `id` of a chain.
pub(super) fn contour_of(id: usize, chain: Chain) -> Contour {
    let path = chain.path;
    let bb = path.bbox();
    let area = path.signed_area();
    let closed = path.closed;
    Contour {
        id,
        closed,
        role: if closed {
            ContourRole::Outer
        } else {
            ContourRole::Open
        },
        layer: chain.layer,
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
        source_entities: chain.sources,
        source_entity: chain.entity,
        gaps_closed: chain.gaps,
        path,
    }
}
