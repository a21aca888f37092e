//! One greedy pass: the part copies in a given order, each placed bottom-left in
//! the first place that takes it (holes of placed parts when allowed, then the
//! sheets already open, then a new sheet), or reported as failed with the reason.

use std::sync::Arc;

use jagua_rs::entities::{Container, Item, Layout, PItemKey};
use jagua_rs::geometry::DTransformation;
use jagua_rs::io::export::int_to_ext_transformation;
use jagua_rs::io::ext_repr::{ExtContainer, ExtSPolygon, ExtShape};
use jagua_rs::io::import::Importer;
use wjp_geometry::geom::{dedupe_ring, is_simple};

use super::parts::PartDef;
use super::position::{find_position, Position};
use super::{place, SheetSize};

/// Upper bound on hole containers per pass.
const MAX_HOLE_SPACES: usize = 500;

/// One copy of a part.
#[derive(Clone, Copy)]
pub(super) struct PartCopy {
    pub part: usize,
    /// 0-based copy number of this part.
    pub copy: u32,
}

/// One step of a pass: which copy, and the one rotation it must take (an
/// index into its part's allowed rotations), or `None` for the best of them.
#[derive(Clone, Copy, PartialEq, Debug)]
pub(super) struct Gene {
    pub copy: usize,
    pub rotation: Option<usize>,
}

/// A copy placed on a sheet.
#[derive(Clone)]
pub(super) struct Placed {
    pub copy: PartCopy,
    pub sheet: usize,
    pub position: Position,
    /// Its key in the sheet's layout; `None` when it sits in a hole of another
    /// part.
    pub key: Option<PItemKey>,
    /// The index in `placed` of the part whose hole holds it: a copy in a hole
    /// moves with its host, which keeps its rotation and side.
    pub host: Option<usize>,
}

/// A copy that could not be placed, and why.
#[derive(Clone)]
pub(super) struct FailedCopy {
    pub copy: PartCopy,
    pub reason: String,
}

/// The layout of one pass.
#[derive(Clone)]
pub(super) struct PassResult {
    pub placed: Vec<Placed>,
    pub failed: Vec<FailedCopy>,
    /// Net area of the failed copies, mm².
    pub failed_area: f64,
    pub sheets_used: usize,
    /// Top of the highest part on the last sheet used.
    pub last_top: f64,
    /// The sheets' layouts in the engine, by sheet instance (`None`: unused).
    pub layouts: Vec<Option<Layout>>,
}

impl PassResult {
    /// Less material left out, then fewer failed copies, then fewer sheets, then a
    /// lower top on the last sheet.
    pub fn better_than(&self, o: &PassResult) -> bool {
        self.rank().better_than(&o.rank())
    }

    /// The figures that decide whether it is better than another layout.
    pub fn rank(&self) -> Rank {
        Rank {
            failed_area: self.failed_area,
            failed: self.failed.len(),
            sheets_used: self.sheets_used,
            last_top: self.last_top,
        }
    }
}

/// The figures of a layout that [`PassResult::better_than`] compares, without
/// the layout: what searches on other threads need of each other's best.
#[derive(Clone, Copy, Debug)]
pub(super) struct Rank {
    failed_area: f64,
    failed: usize,
    sheets_used: usize,
    last_top: f64,
}

impl Rank {
    pub fn better_than(&self, o: &Rank) -> bool {
        // Material left out first: leaving out one large part is worse than
        // leaving out several small ones.
        if (self.failed_area - o.failed_area).abs() > 1e-6 {
            return self.failed_area < o.failed_area;
        }
        let (a, b) = ((self.failed, self.sheets_used), (o.failed, o.sheets_used));
        a < b || (a == b && self.last_top < o.last_top - 1e-6)
    }
}

/// What every pass shares.
pub(super) struct PassCtx<'a> {
    pub defs: &'a [PartDef],
    pub copies: &'a [PartCopy],
    pub sheet_sizes: &'a [SheetSize],
    pub containers: &'a [Container],
    /// Least distance from a part to the sheet's edge.
    pub edge: f64,
    /// How far the container lies inside the sheet's edge (negative: outside).
    pub edge_inset: f64,
    /// How far jagua-rs deflates the sheet (half the separation).
    pub margin: f64,
    pub parts_in_holes: bool,
    pub importer: &'a Importer,
    /// Curve tolerance: holes become containers flattened to it.
    pub tolerance: f64,
    /// Holes smaller than the smallest part are not worth a container.
    pub smallest_part_area: f64,
}

/// A hole of a placed part, used as a container of its own.
struct HoleSpace {
    sheet: usize,
    /// The index in `placed` of the part it is a hole of.
    host: usize,
    layout: Layout,
    /// `[x0, y0, x1, y1]` of the hole.
    region: [f64; 4],
    free_area: f64,
}

/// The layout being built by one pass.
struct Sheets {
    /// Open sheets' layouts, by sheet instance (`None`: not opened).
    layouts: Vec<Option<Layout>>,
    tops: Vec<f64>,
    /// Holes of placed parts, usable as small sheets when the options allow it.
    holes: Vec<HoleSpace>,
    /// Parts known not to fit an empty sheet of index k.
    no_fit_empty: Vec<Vec<bool>>,
}

/// Where a placed item's drawing origin went (the engine's transformation turns
/// its own centred copy of the outline).
pub(super) fn drawing_offset(item: &Item, t: &DTransformation) -> (f64, f64) {
    let ext = int_to_ext_transformation(t, &item.shape_orig().pre_transform);
    let (x, y) = ext.translation();
    (f64::from(x), f64::from(y))
}

/// One greedy pass; `None` if stopped before the end.
///
/// With `keep_on_stop` (the first pass) a stop does not discard the pass: the copies
/// not yet tried are reported as failed ("not tried ...") and the layout so far is
/// kept.
pub(super) fn run_pass(
    ctx: &PassCtx,
    order: &[Gene],
    report: &mut dyn FnMut(usize, usize),
    stop: &dyn Fn() -> bool,
    keep_on_stop: bool,
) -> Option<PassResult> {
    let n_sheets = ctx.sheet_sizes.len();
    let mut sheets = Sheets {
        layouts: (0..n_sheets).map(|_| None).collect(),
        tops: vec![0.0; n_sheets],
        holes: Vec::new(),
        no_fit_empty: vec![vec![false; n_sheets]; ctx.defs.len()],
    };
    let mut placed = Vec::new();
    let mut failed = Vec::new();
    for (k, gene) in order.iter().enumerate() {
        if k % 4 == 0 {
            report(k, order.len());
            if stop() {
                if !keep_on_stop {
                    return None;
                }
                for rest in &order[k..] {
                    failed.push(FailedCopy {
                        copy: ctx.copies[rest.copy],
                        reason: "not tried: the nesting was stopped before this part".into(),
                    });
                }
                break;
            }
        }
        let copy = ctx.copies[gene.copy];
        let def = &ctx.defs[copy.part];
        let forced;
        let rotations: &[f64] = match gene.rotation.and_then(|r| def.rotations.get(r)) {
            Some(&r) => {
                forced = [r];
                &forced
            }
            None => &def.rotations,
        };
        let Some(item) = &def.item else {
            failed.push(FailedCopy {
                copy,
                reason: def
                    .unusable
                    .clone()
                    .unwrap_or_else(|| "unusable outline".into()),
            });
            continue;
        };
        let index = placed.len();
        let placement = match in_a_hole(ctx, &mut sheets, copy, item, rotations)
            .or_else(|| on_an_open_sheet(ctx, &mut sheets, copy, index, rotations))
        {
            Some(p) => Ok(p),
            // A forced rotation that fits no new sheet does not make the part fail:
            // the free choice is tried before giving up.
            None => on_a_new_sheet(ctx, &mut sheets, copy, index, rotations).or_else(|e| {
                if rotations.len() < def.rotations.len() {
                    on_a_new_sheet(ctx, &mut sheets, copy, index, &def.rotations)
                } else {
                    Err(e)
                }
            }),
        };
        match placement {
            Ok(p) => placed.push(p),
            Err(reason) => failed.push(FailedCopy { copy, reason }),
        }
    }
    report(order.len(), order.len());
    let used: Vec<usize> = (0..n_sheets)
        .filter(|&s| sheets.layouts[s].is_some())
        .collect();
    let last_top = used.last().map(|&s| sheets.tops[s]).unwrap_or(0.0);
    Some(PassResult {
        failed_area: failed
            .iter()
            .map(|f: &FailedCopy| ctx.defs[f.copy.part].net_area)
            .sum(),
        placed,
        failed,
        sheets_used: used.len(),
        last_top,
        layouts: sheets.layouts,
    })
}

/// In the first hole of a placed part that takes the copy.
fn in_a_hole(
    ctx: &PassCtx,
    sheets: &mut Sheets,
    copy: PartCopy,
    item: &Arc<Item>,
    rotations: &[f64],
) -> Option<Placed> {
    for hole in sheets.holes.iter_mut() {
        if f64::from(item.area()) > hole.free_area {
            continue;
        }
        if let Some((position, _)) = place_in(
            &mut hole.layout,
            &ctx.defs[copy.part],
            rotations,
            hole.region,
            ctx.margin,
        ) {
            hole.free_area -= f64::from(item.area());
            return Some(Placed {
                copy,
                sheet: hole.sheet,
                position,
                key: None,
                host: Some(hole.host),
            });
        }
    }
    None
}

/// On the first open sheet that takes the copy, which becomes `placed[index]`.
fn on_an_open_sheet(
    ctx: &PassCtx,
    sheets: &mut Sheets,
    copy: PartCopy,
    index: usize,
    rotations: &[f64],
) -> Option<Placed> {
    for (s, slot) in sheets.layouts.iter_mut().enumerate() {
        let Some(layout) = slot else { continue };
        if let Some((position, key)) = place_in(
            layout,
            &ctx.defs[copy.part],
            rotations,
            ctx.sheet_sizes[s].region(ctx.edge_inset),
            ctx.margin,
        ) {
            sheets.tops[s] = sheets.tops[s].max(position.top);
            add_holes(ctx, &mut sheets.holes, copy.part, s, index, &position);
            return Some(Placed {
                copy,
                sheet: s,
                position,
                key: Some(key),
                host: None,
            });
        }
    }
    None
}

/// On the first unused sheet that takes the copy, which becomes
/// `placed[index]`; else why not.
fn on_a_new_sheet(
    ctx: &PassCtx,
    sheets: &mut Sheets,
    copy: PartCopy,
    index: usize,
    rotations: &[f64],
) -> Result<Placed, String> {
    let def = &ctx.defs[copy.part];
    let n_sheets = ctx.sheet_sizes.len();
    let mut reason = None;
    // Sizes this call already found too small: the next sheet of the same size is too.
    let mut too_small: Vec<SheetSize> = Vec::new();
    for s in 0..n_sheets {
        if sheets.layouts[s].is_some() || too_small.contains(&ctx.sheet_sizes[s]) {
            continue;
        }
        if sheets.no_fit_empty[copy.part][s] {
            reason = Some(too_big(def, ctx, s));
            continue;
        }
        let mut layout = Layout::new(ctx.containers[s].clone());
        if let Some((position, key)) = place_in(
            &mut layout,
            def,
            rotations,
            ctx.sheet_sizes[s].region(ctx.edge_inset),
            ctx.margin,
        ) {
            sheets.layouts[s] = Some(layout);
            sheets.tops[s] = position.top;
            add_holes(ctx, &mut sheets.holes, copy.part, s, index, &position);
            return Ok(Placed {
                copy,
                sheet: s,
                position,
                key: Some(key),
                host: None,
            });
        }
        too_small.push(ctx.sheet_sizes[s]);
        // Does not fit an empty sheet of this size in any allowed rotation:
        // remember it for every such sheet.
        if rotations.len() == def.rotations.len() {
            for (j, size) in ctx.sheet_sizes.iter().enumerate() {
                if *size == ctx.sheet_sizes[s] {
                    sheets.no_fit_empty[copy.part][j] = true;
                }
            }
        }
        reason = Some(too_big(def, ctx, s));
    }
    Err(reason.unwrap_or_else(|| format!("no room left on the {n_sheets} available sheet(s)")))
}

/// Place the part bottom-left in `layout` (`region` of it) if it fits there, as
/// drawn or mirrored (when allowed), whichever goes lower.
pub(super) fn place_in(
    layout: &mut Layout,
    def: &PartDef,
    rotations: &[f64],
    region: [f64; 4],
    margin: f64,
) -> Option<(Position, PItemKey)> {
    let mut best: Option<Position> = None;
    for (mirrored, item) in def.variants() {
        if let Some(mut p) = find_position(layout, item, rotations, region, margin) {
            p.mirrored = mirrored;
            if best.is_none_or(|b| p.score < b.score - 1e-9) {
                best = Some(p);
            }
        }
    }
    let position = best?;
    let key = layout.place_item(def.variant(position.mirrored)?, position.transform);
    Some((position, key))
}

/// Register the holes of a part just placed (to be `placed[host]`) as
/// containers, if parts may go in holes.
fn add_holes(
    ctx: &PassCtx,
    holes: &mut Vec<HoleSpace>,
    part: usize,
    sheet: usize,
    host: usize,
    position: &Position,
) {
    if !ctx.parts_in_holes || holes.len() >= MAX_HOLE_SPACES {
        return;
    }
    let def = &ctx.defs[part];
    let Some(item) = def.variant(position.mirrored) else {
        return;
    };
    let (x, y) = drawing_offset(item, &position.transform);
    for h in &def.holes {
        // Chords lie inside a hole's arcs: the flattened hole is never larger.
        let placed = place(h, position.mirrored, position.rotation_deg, x, y);
        let pts = dedupe_ring(placed.flatten(ctx.tolerance), 1e-3);
        let area = placed.signed_area().abs();
        if area < ctx.smallest_part_area || pts.len() < 3 || !is_simple(&pts) {
            continue;
        }
        let container = ctx.importer.import_container(&ExtContainer {
            id: 0,
            shape: ExtShape::SimplePolygon(ExtSPolygon(
                pts.iter().map(|q| (q.x as f32, q.y as f32)).collect(),
            )),
            zones: vec![],
        });
        let Ok(container) = container else { continue };
        let bb = placed.bbox();
        holes.push(HoleSpace {
            sheet,
            host,
            layout: Layout::new(container),
            region: [bb.min_x, bb.min_y, bb.max_x, bb.max_y],
            free_area: area,
        });
        if holes.len() >= MAX_HOLE_SPACES {
            return;
        }
    }
}

fn too_big(def: &PartDef, ctx: &PassCtx, s: usize) -> String {
    let size = ctx.sheet_sizes[s];
    format!(
        "does not fit on an empty {} x {} mm sheet with {} mm to the edge in any allowed rotation ({}); part is {:.1} x {:.1} mm",
        size.width,
        size.height,
        ctx.edge,
        def.rotations
            .iter()
            .map(|r| format!("{r}"))
            .collect::<Vec<_>>()
            .join(", "),
        def.bbox[2] - def.bbox[0],
        def.bbox[3] - def.bbox[1]
    )
}
