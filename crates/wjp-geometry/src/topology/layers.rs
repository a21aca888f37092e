//! The shop's layer conventions: what a layer name says a contour is, and the
//! warnings where the geometry says otherwise.

use super::{Contour, ContourRole};
use crate::warning::Warning;

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
pub(super) fn check_layer_intent(contours: &[Contour], warnings: &mut Vec<Warning>) {
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
        warnings.push(Warning::new(
            "layer_role_mismatch",
            mismatched,
            format!("{mismatched} contours sit on a HOLE/OUTER layer that contradicts their nesting (the geometry decides)"),
        ));
    }
    if !surface.is_empty() {
        let n = surface.len() as u64;
        surface.sort_unstable();
        surface.dedup();
        warnings.push(Warning::new(
            "surface_layers",
            n,
            format!(
                "{n} contours on layers that suggest etching, grooves, pockets or inlays ({}); they are counted as through-cuts",
                surface.join(", ")
            ),
        ));
    }
}
