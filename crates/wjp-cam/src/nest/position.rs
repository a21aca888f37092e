//! Bottom-left placement of one part in one layout: for each allowed rotation,
//! free positions on a grid are found bottom row first, each slid down, left and
//! diagonally down with halving steps, and the lowest, leftmost result wins.

use jagua_rs::collision_detection::hazards::filter::NoFilter;
use jagua_rs::entities::{Item, Layout};
use jagua_rs::geometry::geo_traits::Transformable;
use jagua_rs::geometry::primitives::SPolygon;
use jagua_rs::geometry::DTransformation;

/// Probes per rotation, about, for parts much smaller than the sheet.
const MAX_PROBES: f64 = 2000.0;
/// Lowest grid rows with a free point whose slides are compared.
const CANDIDATE_ROWS: usize = 3;

/// Where a part goes in a layout.
#[derive(Clone, Copy)]
pub(super) struct Position {
    /// Degrees, counter-clockwise, as asked (jagua-rs works in f32 radians).
    pub rotation_deg: f64,
    /// The engine's transformation of the item.
    pub transform: DTransformation,
    /// Top of the placed shape (its inflated box), mm.
    pub top: f64,
    /// The bottom-left score: lower is better (height first, then right edge).
    pub score: f64,
    /// Placed as the mirrored outline.
    pub mirrored: bool,
}

/// The translations of one rotation that keep the (inflated) shape's box inside
/// the (deflated) region, and the shape's extent at that rotation.
struct Reach {
    x: (f64, f64),
    y: (f64, f64),
    /// The rotated shape's box right and top, from its reference point.
    right: f64,
    top: f64,
    width: f64,
    height: f64,
}

/// Is the item, rotated by `rad` about its centre and moved by (x, y), free of
/// collisions (other parts, sheet edge)?
fn free(layout: &Layout, item: &Item, rad: f32, x: f64, y: f64) -> bool {
    let t = DTransformation::new(rad, (x as f32, y as f32)).compose();
    let moved: SPolygon = item.shape_cd().as_ref().transform_clone(&t);
    !layout.cde().detect_poly_collision(&moved, &NoFilter)
}

/// Bottom-left position in `region` (`[x0, y0, x1, y1]`) over the allowed
/// rotations; `margin` is how far the engine deflates the container.
pub(super) fn find_position(
    layout: &Layout,
    item: &Item,
    rotations: &[f64],
    region: [f64; 4],
    margin: f64,
) -> Option<Position> {
    let [rx0, ry0, rx1, ry1] = region;
    let (w, h) = (rx1 - rx0, ry1 - ry0);
    // Cheap necessary condition: the areas must add up (saves the probing on full sheets).
    if f64::from(layout.placed_item_area()) + f64::from(item.area())
        > f64::from(layout.container().area()) * 1.000_001
    {
        return None;
    }
    let mut best: Option<(f64, Position)> = None; // lowest score wins
    for &rot in rotations {
        let rad = (rot.to_radians()) as f32;
        let Some(reach) = reach(item, rad, region, margin) else {
            continue;
        };
        // Probe steps: a quarter of the part, but no more than about MAX_PROBES
        // probes per rotation (small parts on big sheets rely on the slides).
        let (tx0, tx1) = reach.x;
        let (ty0, ty1) = reach.y;
        let coarse = (w * h / MAX_PROBES).sqrt();
        let nx = (((tx1 - tx0) / (reach.width / 4.0).max(w / 60.0).max(coarse)).ceil() as usize)
            .clamp(1, 60);
        let ny = (((ty1 - ty0) / (reach.height / 4.0).max(h / 200.0).max(coarse)).ceil() as usize)
            .clamp(1, 200);
        let step0 = ((tx1 - tx0) / nx as f64).max((ty1 - ty0) / ny as f64);
        let min_step = (reach.width.max(reach.height) * 5e-4).max(1e-4);
        for start in free_starts(layout, item, rad, &reach, nx, ny) {
            let (x, y) = slide(layout, item, rad, &reach, start, step0, min_step);
            let top = y + reach.top;
            let score = top * (w + 1.0) + (x + reach.right);
            if best.as_ref().is_none_or(|b| score < b.0 - 1e-9) {
                let position = Position {
                    rotation_deg: rot,
                    transform: DTransformation::new(rad, (x as f32, y as f32)),
                    top,
                    score,
                    mirrored: false,
                };
                best = Some((score, position));
            }
        }
    }
    best.map(|(_, position)| position)
}

/// The translations of rotation `rad` that keep the shape in the region; `None`
/// when the shape does not fit it at all.
fn reach(item: &Item, rad: f32, [rx0, ry0, rx1, ry1]: [f64; 4], margin: f64) -> Option<Reach> {
    let rotated = item
        .shape_cd()
        .transform_clone(&DTransformation::new(rad, (0.0, 0.0)).compose());
    let bb = rotated.bbox();
    let (bx0, by0, bx1, by1) = (
        bb.x_min as f64,
        bb.y_min as f64,
        bb.x_max as f64,
        bb.y_max as f64,
    );
    // Translations keeping the (inflated) shape's box inside the (deflated) sheet.
    let m = margin + 1e-3;
    let (tx0, tx1) = (rx0 + m - bx0, rx1 - m - bx1);
    let (ty0, ty1) = (ry0 + m - by0, ry1 - m - by1);
    if tx1 < tx0 - 1e-6 || ty1 < ty0 - 1e-6 {
        return None;
    }
    Some(Reach {
        x: (tx0, tx1),
        y: (ty0, ty1),
        right: bx1,
        top: by1,
        width: bx1 - bx0,
        height: by1 - by0,
    })
}

/// The first free grid point of each of the lowest [`CANDIDATE_ROWS`] rows that
/// have one.
fn free_starts(
    layout: &Layout,
    item: &Item,
    rad: f32,
    reach: &Reach,
    nx: usize,
    ny: usize,
) -> Vec<(f64, f64)> {
    let (tx0, tx1) = reach.x;
    let (ty0, ty1) = reach.y;
    let mut starts = Vec::new();
    for j in 0..=ny {
        let y = ty0 + (ty1 - ty0).max(0.0) * j as f64 / ny as f64;
        for i in 0..=nx {
            let x = tx0 + (tx1 - tx0).max(0.0) * i as f64 / nx as f64;
            if free(layout, item, rad, x, y) {
                starts.push((x, y));
                break;
            }
        }
        if starts.len() >= CANDIDATE_ROWS {
            break;
        }
    }
    starts
}

/// The directions a part slides in, in order: down, left, and the two
/// diagonals down. A part resting on a slope (a triangle's long side) can move
/// neither straight down nor straight left without touching it, but slides
/// along it diagonally into the corner; every one of these moves lowers the
/// bottom-left score (height first).
const SLIDES: [(f64, f64); 4] = [(0.0, -1.0), (-1.0, 0.0), (-1.0, -1.0), (1.0, -1.0)];

/// Slide in each of [`SLIDES`] with halving steps from `step0` to `min_step`;
/// a few rounds, until nothing moves.
fn slide(
    layout: &Layout,
    item: &Item,
    rad: f32,
    reach: &Reach,
    (mut x, mut y): (f64, f64),
    step0: f64,
    min_step: f64,
) -> (f64, f64) {
    let (tx0, tx1) = reach.x;
    let ty0 = reach.y.0;
    let within = |x: f64, y: f64| x >= tx0 - 1e-9 && x <= tx1 + 1e-9 && y >= ty0 - 1e-9;
    for _ in 0..6 {
        let mut moved = false;
        for (dx, dy) in SLIDES {
            let mut step = step0;
            while step > min_step {
                let (nx, ny) = (x + dx * step, y + dy * step);
                if within(nx, ny) && free(layout, item, rad, nx, ny) {
                    (x, y) = (nx, ny);
                    moved = true;
                } else {
                    step /= 2.0;
                }
            }
        }
        if !moved {
            break;
        }
    }
    (x, y)
}
