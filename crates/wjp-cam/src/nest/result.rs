//! What nesting answers: placements, failed copies, sheets with their DXF and
//! SVG, utilisation; built from the best pass.

use std::time::Instant;

use serde::Serialize;
use wjp_geometry::Warning;

use super::drawings::{all_sheets_svg, sheet_dxf, sheet_svg, PlacedPart, SheetLayout};
use super::parts::PartDef;
use super::pass::drawing_offset;
use super::search::SearchOutcome;
use super::{place, SheetSize};

/// Where a part copy went. Its drawing coordinates `p` map to sheet coordinates
/// `R(rotation) p + (x, y)` (rotation counter-clockwise about the drawing origin).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Placement {
    pub part: String,
    pub part_index: usize,
    /// 0-based copy number of this part.
    pub copy: u32,
    /// 0-based sheet number.
    pub sheet: usize,
    pub x: f64,
    pub y: f64,
    /// Degrees, counter-clockwise.
    pub rotation: f64,
}

/// A part copy that was not placed, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailedObject {
    pub part: String,
    pub part_index: usize,
    pub copy: u32,
    pub reason: String,
}

/// One used sheet.
#[derive(Debug, Clone, Serialize)]
pub struct SheetResult {
    pub sheet: usize,
    pub width: f64,
    pub height: f64,
    pub parts: usize,
    /// Net area of the parts on it (outer minus holes), mm².
    pub parts_area_mm2: f64,
    /// Percent of the sheet area.
    pub utilization: f64,
    /// The parts' outlines (layer `OUTER`) and holes (layer `HOLE`), placed: an
    /// R2000 ASCII DXF in millimetres by wjp-geometry's writer.
    pub dxf: String,
    pub svg: String,
}

/// The outcome of [`super::nest`]. Field names of the old API where they exist.
#[derive(Debug, Clone, Serialize)]
pub struct NestResult {
    pub positioned_objects: Vec<Placement>,
    pub sheets_required: usize,
    /// Parts' net area over the used sheets' area, percent.
    pub final_utilization: f64,
    /// 100 - final_utilization.
    pub waste_percentage: f64,
    pub waste_area_mm2: f64,
    pub failed_objects: Vec<FailedObject>,
    pub sheets: Vec<SheetResult>,
    /// All sheets side by side.
    pub svg: String,
    pub iterations: u32,
    pub elapsed_s: f64,
    /// `completed` (no better layout possible: all placed on one sheet),
    /// `max_iterations`, `time_limit` or `stopped`.
    pub stopped_by: String,
    pub warnings: Vec<Warning>,
}

/// The result of the search: placements in drawing terms, the sheets with their
/// figures (and drawings when `outputs`), the failed copies.
pub(super) fn build_result(
    defs: &[PartDef],
    outcome: &SearchOutcome,
    sheet_sizes: &[SheetSize],
    started: Instant,
    warnings: Vec<Warning>,
    outputs: bool,
) -> NestResult {
    let best = &outcome.best;
    let mut positioned = Vec::new();
    let mut per_sheet: Vec<Vec<PlacedPart>> = vec![Vec::new(); sheet_sizes.len()];
    for p in &best.placed {
        let def = &defs[p.copy.part];
        let Some(item) = &def.item else { continue };
        let (x, y) = drawing_offset(item, &p.position.transform);
        // The angle as asked (jagua-rs works in f32 radians; the f32 error of the
        // angle is far below the flattening allowance in the separation).
        let rot = p.position.rotation_deg.rem_euclid(360.0);
        positioned.push(Placement {
            part: def.name.clone(),
            part_index: p.copy.part,
            copy: p.copy.copy,
            sheet: p.sheet,
            x,
            y,
            rotation: rot,
        });
        if p.sheet < per_sheet.len() {
            per_sheet[p.sheet].push(PlacedPart {
                part: p.copy.part,
                outer: place(&def.outer, rot, x, y),
                holes: def.holes.iter().map(|h| place(h, rot, x, y)).collect(),
            });
        }
    }
    positioned.sort_by_key(|p| (p.sheet, p.part_index, p.copy));
    let layouts: Vec<SheetLayout> = per_sheet
        .into_iter()
        .enumerate()
        .filter(|(_, parts)| !parts.is_empty())
        .map(|(sheet, parts)| SheetLayout {
            sheet,
            size: sheet_sizes[sheet],
            parts,
        })
        .collect();
    let mut sheets = Vec::new();
    let mut used_area = 0.0;
    let mut parts_area = 0.0;
    for layout in &layouts {
        let SheetSize {
            width: w,
            height: h,
        } = layout.size;
        let area: f64 = layout.parts.iter().map(|p| defs[p.part].net_area).sum();
        used_area += w * h;
        parts_area += area;
        sheets.push(SheetResult {
            sheet: layout.sheet,
            width: w,
            height: h,
            parts: layout.parts.len(),
            parts_area_mm2: area,
            utilization: 100.0 * area / (w * h),
            dxf: if outputs {
                sheet_dxf(layout)
            } else {
                String::new()
            },
            svg: if outputs {
                sheet_svg(layout)
            } else {
                String::new()
            },
        });
    }
    let final_utilization = if used_area > 0.0 {
        100.0 * parts_area / used_area
    } else {
        0.0
    };
    let svg = if outputs {
        all_sheets_svg(&layouts)
    } else {
        String::new()
    };
    NestResult {
        positioned_objects: positioned,
        sheets_required: best.sheets_used,
        final_utilization,
        waste_percentage: if used_area > 0.0 {
            100.0 - final_utilization
        } else {
            0.0
        },
        waste_area_mm2: used_area - parts_area,
        failed_objects: best
            .failed
            .iter()
            .map(|f| FailedObject {
                part: defs[f.copy.part].name.clone(),
                part_index: f.copy.part,
                copy: f.copy.copy,
                reason: f.reason.clone(),
            })
            .collect(),
        sheets,
        svg,
        iterations: outcome.iterations,
        elapsed_s: started.elapsed().as_secs_f64(),
        stopped_by: outcome.stopped_by.to_owned(),
        warnings,
    }
}
