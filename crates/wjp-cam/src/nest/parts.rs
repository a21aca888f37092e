//! Parts made ready for the collision engine: each outer contour flattened to a
//! simple polygon (its convex hull when it touches or crosses itself) and imported
//! as a jagua-rs item.

use std::sync::Arc;

use jagua_rs::entities::Item;
use jagua_rs::io::ext_repr::{ExtItem, ExtOrientation, ExtRotation, ExtSPolygon, ExtShape};
use jagua_rs::io::import::Importer;
use wjp_geometry::geom::{convex_hull, dedupe_ring, is_simple};
use wjp_geometry::Path;

use super::options::{NestOptions, PartInput};

/// Outlines with more points than this after flattening are refused.
const MAX_OUTLINE_POINTS: usize = 20_000;

/// A part as the passes use it.
pub(super) struct PartDef {
    pub name: String,
    pub outer: Path,
    pub holes: Vec<Path>,
    /// Outer area minus hole areas, mm².
    pub net_area: f64,
    /// Allowed rotations, degrees.
    pub rotations: Vec<f64>,
    /// The outline in the engine; `None` when unusable.
    pub item: Option<Arc<Item>>,
    /// The outline mirrored about the drawing's Y axis, when mirroring is allowed.
    pub mirrored: Option<Arc<Item>>,
    /// Why it cannot be nested at all.
    pub unusable: Option<String>,
    /// `[min_x, min_y, max_x, max_y]` of the outer contour.
    pub bbox: [f64; 4],
    /// A warning about how it is nested.
    pub note: Option<String>,
}

/// Part `i` made ready for the engine: its allowed rotations, its net area and
/// box, and its outline as a jagua-rs item (or why it cannot be nested).
pub(super) fn part_def(i: usize, p: &PartInput, o: &NestOptions, importer: &Importer) -> PartDef {
    let mut def = PartDef {
        name: p.name.clone(),
        outer: p.outer.clone(),
        holes: p.holes.clone(),
        net_area: 0.0,
        rotations: match o.rotation_step {
            Some(step) => (0..(360.0 / step).floor() as usize)
                .map(|k| k as f64 * step)
                .collect(),
            None => p.rotations.clone().unwrap_or_else(|| o.rotations.clone()),
        },
        item: None,
        mirrored: None,
        unusable: None,
        bbox: [0.0; 4],
        note: None,
    };
    let bad = |def: &mut PartDef, m: String| def.unusable = Some(m);
    if !p.outer.closed || p.outer.vertices.len() < 2 {
        bad(&mut def, "its outer contour is not closed".into());
        return def;
    }
    let area = p.outer.signed_area().abs();
    def.net_area = area - p.holes.iter().map(|h| h.signed_area().abs()).sum::<f64>();
    let bb = p.outer.bbox();
    def.bbox = [bb.min_x, bb.min_y, bb.max_x, bb.max_y];
    if area.is_nan() || area <= 1e-6 || !def.net_area.is_finite() {
        bad(&mut def, "its outer contour has no area".into());
        return def;
    }
    let mut pts = dedupe_ring(p.outer.flatten(o.curve_tolerance_mm), 1e-3);
    if pts.len() > MAX_OUTLINE_POINTS {
        bad(
            &mut def,
            format!(
                "its outline has {} points after flattening (limit {MAX_OUTLINE_POINTS})",
                pts.len()
            ),
        );
        return def;
    }
    if pts.len() < 3 {
        bad(
            &mut def,
            "its outline has fewer than 3 distinct points".into(),
        );
        return def;
    }
    if !is_simple(&pts) {
        // Self-touching or self-crossing outline: nest its convex hull, which
        // contains it, so the gap still holds (some material is wasted).
        pts = convex_hull(&pts);
        def.note = Some(format!(
            "part \"{}\": its outline touches or crosses itself; it is nested by its convex hull",
            p.name
        ));
    }
    let outline: Vec<(f32, f32)> = pts.iter().map(|q| (q.x as f32, q.y as f32)).collect();
    match import(importer, i, outline.clone()) {
        Some(item) => {
            def.item = Some(item);
            if o.allow_mirror {
                // x -> -x, and the order reversed so the outline keeps its turn.
                let flipped = outline.iter().rev().map(|&(x, y)| (-x, y)).collect();
                def.mirrored = import(importer, i, flipped);
            }
        }
        // The engine's error text prints the whole outline (hundreds of kilobytes for
        // a traced part): the user gets our words and the outline's size instead.
        None => bad(
            &mut def,
            format!(
                "the nesting engine refused its outline ({} points, {:.1} x {:.1} mm)",
                pts.len(),
                bb.width(),
                bb.height()
            ),
        ),
    }
    def
}

/// The outline as a jagua-rs item, or `None` when the engine refuses it (or
/// panics on it: caught here).
fn import(importer: &Importer, i: usize, outline: Vec<(f32, f32)>) -> Option<Arc<Item>> {
    let ext = ExtItem {
        id: i as u64,
        shape: ExtShape::SimplePolygon(ExtSPolygon(outline)),
        orientation: ExtOrientation {
            rotation: ExtRotation::Discrete { angles: vec![0.0] },
            reflection_axes: vec![],
        },
        min_quality: None,
    };
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        importer.import_item(&ext, i)
    }))
    .ok()
    .and_then(Result::ok)
}

impl PartDef {
    /// The outlines a copy may be placed as: as drawn, and mirrored when allowed.
    pub fn variants(&self) -> impl Iterator<Item = (bool, &Arc<Item>)> {
        self.item
            .iter()
            .map(|i| (false, i))
            .chain(self.mirrored.iter().map(|i| (true, i)))
    }

    /// The outline as drawn or mirrored.
    pub fn variant(&self, mirrored: bool) -> Option<&Arc<Item>> {
        if mirrored {
            self.mirrored.as_ref()
        } else {
            self.item.as_ref()
        }
    }
}
