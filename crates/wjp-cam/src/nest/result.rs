//! What nesting answers: placements, failed copies, sheets with their DXF and
//! SVG, utilisation; built from the best pass.

use std::time::Instant;

use serde::Serialize;
use wjp_geometry::Warning;

use super::drawings::{all_sheets_svg, sheet_dxf, sheet_svg, PlacedPart, SheetLayout};
use super::parts::PartDef;
use super::pass::{drawing_offset, PassResult};
use super::search::SearchOutcome;
use super::{place, SheetSize};

/// Where a part copy went. Its drawing coordinates `p` map to sheet coordinates
/// `R(rotation) M p + (x, y)` (rotation counter-clockwise about the drawing
/// origin; `M` mirrors x when `mirrored`, else is the identity).
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
    /// Turned over: mirrored about the drawing's Y axis before the rotation.
    pub mirrored: bool,
}

/// A part copy that was not placed, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailedObject {
    pub part: String,
    pub part_index: usize,
    pub copy: u32,
    pub reason: String,
}

/// The copies of one part on one sheet, for the cut list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CutListEntry {
    pub sheet: usize,
    pub part: String,
    pub quantity: usize,
    /// Each copy's position (its drawing origin on the sheet, mm) and rotation
    /// (degrees, counter-clockwise about that origin).
    pub placements: Vec<CutPlacement>,
}

/// One copy in the cut list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CutPlacement {
    pub copy: u32,
    /// Where the drawing's origin goes on the sheet (mm): the transform a CAD
    /// program applies. A drawing far from its origin puts this off the sheet;
    /// `box_mm` says where the part itself lies.
    pub x: f64,
    pub y: f64,
    pub rotation: f64,
    pub mirrored: bool,
    /// The placed outline's box on the sheet: x min, y min, x max, y max (mm).
    pub box_mm: [f64; 4],
}

/// What the search reports as it goes.
#[derive(Debug, Clone, Copy)]
pub struct NestProgress<'a> {
    /// 0 to 1: the first layout up to 0.5, then the share of the time limit spent.
    pub fraction: f64,
    /// For people, with the best layout's figures once there is one.
    pub message: &'a str,
    /// The best layout so far (none before the first layout is complete).
    pub best: Option<BestSoFar>,
    /// The best layout's placements, given only when it has just improved: a
    /// caller that may be killed keeps the latest and has a layout to return.
    pub improved: Option<&'a [Placement]>,
}

/// The figures of the best layout so far.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BestSoFar {
    pub placed: usize,
    pub unplaced: usize,
    pub sheets: usize,
    /// Parts' net area over the used sheets' area, percent.
    pub utilization: f64,
}

impl BestSoFar {
    /// `40/40 parts on 1 sheet, 61.2%`.
    pub fn describe(&self) -> String {
        format!(
            "{}/{} parts on {} sheet{}, {:.1}%",
            self.placed,
            self.placed + self.unplaced,
            self.sheets,
            if self.sheets == 1 { "" } else { "s" },
            self.utilization
        )
    }
}

/// The copies of one part that were not placed, for one reason: what a person
/// reads (one line per part, never one per copy).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UnplacedPart {
    pub part: String,
    pub part_index: usize,
    /// How many copies were not placed for this reason.
    pub copies: usize,
    /// The part's size as drawn (its outline's box), mm.
    pub width: f64,
    pub height: f64,
    pub reason: String,
}

/// The clean rectangle left on a sheet above its highest part (parts are
/// packed toward the sheet's bottom edge), mm in sheet coordinates.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Remnant {
    pub sheet: usize,
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
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
    /// Top of the highest part on the sheet (its outline), mm.
    pub used_height: f64,
    /// The parts' outlines and holes, placed, one layer per part name: an R2000
    /// ASCII DXF in millimetres by wjp-geometry's writer.
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
    /// One entry per copy (the old API's form).
    pub failed_objects: Vec<FailedObject>,
    /// What to cut where: per sheet and part, how many and their placements.
    pub cut_list: Vec<CutListEntry>,
    /// The same, one entry per part and reason.
    pub unplaced: Vec<UnplacedPart>,
    /// Every copy was placed.
    pub all_placed: bool,
    pub sheets: Vec<SheetResult>,
    /// The offcut of the last used sheet: the rectangle above its parts, at
    /// the gap from them, when it is at least the gap high.
    pub remnant: Option<Remnant>,
    /// All sheets side by side.
    pub svg: String,
    pub iterations: u32,
    pub elapsed_s: f64,
    /// `completed` (no better layout possible: all placed on one sheet),
    /// `max_iterations`, `time_limit` or `stopped`.
    pub stopped_by: String,
    pub warnings: Vec<Warning>,
}

/// Where every placed copy of a pass went, in drawing terms, by sheet, part and
/// copy.
pub(super) fn placements(defs: &[PartDef], pass: &PassResult) -> Vec<Placement> {
    let mut positioned = Vec::with_capacity(pass.placed.len());
    for p in &pass.placed {
        let def = &defs[p.copy.part];
        let Some(item) = def.variant(p.position.mirrored) else {
            continue;
        };
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
            mirrored: p.position.mirrored,
        });
    }
    positioned.sort_by_key(|p| (p.sheet, p.part_index, p.copy));
    positioned
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
    gap: f64,
) -> NestResult {
    let best = &outcome.best;
    let positioned = placements(defs, best);
    let names: Vec<String> = defs.iter().map(|d| d.name.clone()).collect();
    let mut per_sheet: Vec<Vec<PlacedPart>> = vec![Vec::new(); sheet_sizes.len()];
    for p in &positioned {
        let def = &defs[p.part_index];
        let (m, rot, x, y) = (p.mirrored, p.rotation, p.x, p.y);
        if p.sheet < per_sheet.len() {
            per_sheet[p.sheet].push(PlacedPart {
                part: p.part_index,
                outer: place(&def.outer, m, rot, x, y),
                holes: def.holes.iter().map(|h| place(h, m, rot, x, y)).collect(),
            });
        }
    }
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
        let used_height = layout
            .parts
            .iter()
            .map(|p| p.outer.bbox().max_y)
            .fold(0.0, f64::max);
        used_area += w * h;
        parts_area += area;
        sheets.push(SheetResult {
            sheet: layout.sheet,
            width: w,
            height: h,
            parts: layout.parts.len(),
            parts_area_mm2: area,
            utilization: 100.0 * area / (w * h),
            used_height,
            dxf: if outputs {
                sheet_dxf(layout, &names)
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
    let failed_objects: Vec<FailedObject> = best
        .failed
        .iter()
        .map(|f| FailedObject {
            part: defs[f.copy.part].name.clone(),
            part_index: f.copy.part,
            copy: f.copy.copy,
            reason: f.reason.clone(),
        })
        .collect();
    let remnant = sheets.last().and_then(|s| {
        let y = s.used_height + gap;
        (s.height - y >= gap.max(1e-3)).then_some(Remnant {
            sheet: s.sheet,
            x: 0.0,
            y,
            width: s.width,
            height: s.height - y,
        })
    });
    NestResult {
        cut_list: cut_list(defs, &positioned),
        all_placed: failed_objects.is_empty(),
        unplaced: unplaced_parts(defs, &failed_objects),
        remnant,
        positioned_objects: positioned,
        sheets_required: best.sheets_used,
        final_utilization,
        waste_percentage: if used_area > 0.0 {
            100.0 - final_utilization
        } else {
            0.0
        },
        waste_area_mm2: used_area - parts_area,
        failed_objects,
        sheets,
        svg,
        iterations: outcome.iterations,
        elapsed_s: started.elapsed().as_secs_f64(),
        stopped_by: outcome.stopped_by.to_owned(),
        warnings,
    }
}

/// The failed copies grouped by part and reason, in part order.
fn unplaced_parts(defs: &[PartDef], failed: &[FailedObject]) -> Vec<UnplacedPart> {
    let mut out: Vec<UnplacedPart> = Vec::new();
    for f in failed {
        if let Some(u) = out
            .iter_mut()
            .find(|u| u.part_index == f.part_index && u.reason == f.reason)
        {
            u.copies += 1;
            continue;
        }
        let bbox = defs[f.part_index].bbox;
        out.push(UnplacedPart {
            part: f.part.clone(),
            part_index: f.part_index,
            copies: 1,
            width: bbox[2] - bbox[0],
            height: bbox[3] - bbox[1],
            reason: f.reason.clone(),
        });
    }
    out.sort_by_key(|u| u.part_index);
    out
}

/// The cut list: placements grouped by sheet and part, in the order given
/// (placements come sorted by sheet, part and copy).
fn cut_list(defs: &[PartDef], positioned: &[Placement]) -> Vec<CutListEntry> {
    let mut out: Vec<CutListEntry> = Vec::new();
    for p in positioned {
        let placed = place(&defs[p.part_index].outer, p.mirrored, p.rotation, p.x, p.y).bbox();
        let copy = CutPlacement {
            copy: p.copy,
            x: p.x,
            y: p.y,
            rotation: p.rotation,
            mirrored: p.mirrored,
            box_mm: [placed.min_x, placed.min_y, placed.max_x, placed.max_y],
        };
        match out.last_mut() {
            Some(e) if e.sheet == p.sheet && e.part == p.part => {
                e.quantity += 1;
                e.placements.push(copy);
            }
            _ => out.push(CutListEntry {
                sheet: p.sheet,
                part: p.part.clone(),
                quantity: 1,
                placements: vec![copy],
            }),
        }
    }
    out
}
