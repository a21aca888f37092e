//! The squeeze: a lower top on the last sheet by overlap minimisation.
//!
//! A bottom-left placement can only put a part where it is free; it cannot get
//! parts past each other. The squeeze works the other way round. It fixes a
//! top slightly below the best layout's (the strip is shorter), moves the parts
//! that no longer fit down into it, and so accepts overlaps; then it removes
//! them. Each overlapping part in turn is moved to the position, of many
//! sampled ones, where its weighted overlap with the others is least (random
//! positions on the shortened sheet and near where it lies, each of the best
//! refined by a coordinate descent). After each round, the weight of every
//! pair still overlapping grows with how much it overlaps (a guided local
//! search: pairs that keep overlapping get pushed apart harder) and the others
//! decay back to 1. When no overlap is left the layout is feasible: it is the
//! new best, and the top is lowered again. When the overlaps do not go away,
//! the least overlapping layout joins a pool of the failed ones at that top,
//! and the search tries again from one of them (the least overlapping most
//! often) with the parts still overlapping put at random places; then it
//! tries a smaller step from the best layout. Steps shrink as the search goes
//! on, so its end is a compression by small steps.
//!
//! The overlap of two parts is estimated from circles inscribed in their
//! outlines (the engine's poles): the depth by which two circles interpenetrate,
//! times the smaller radius, summed over the pairs of circles, with a small
//! positive value for circles that come close without touching so that every
//! real collision (found by the engine's exact test) costs something. The
//! estimate is scaled by the parts' sizes so that large and small parts count
//! alike.
//!
//! It works on the last used sheet only, with every other sheet as it is. A
//! part sitting in a hole of another moves with its host, which keeps its
//! rotation and side so that the hole keeps its shape around it; the host
//! still moves anywhere (the engine sees its outline only, so no other part
//! can enter the hole). A layout is only ever handed back after the engine's
//! exact collision test passes on it.

use std::sync::Arc;

use jagua_rs::collision_detection::hazards::collector::BasicHazardCollector;
use jagua_rs::collision_detection::hazards::filter::NoFilter;
use jagua_rs::collision_detection::hazards::BasicHazardEntity;
use jagua_rs::entities::{Item, Layout, PItemKey};
use jagua_rs::geometry::fail_fast::SPSurrogateConfig;
use jagua_rs::geometry::geo_traits::{Transformable, TransformableFrom};
use jagua_rs::geometry::primitives::{Circle, SPolygon};
use jagua_rs::geometry::DTransformation;
use rustc_hash::FxHashMap;

use super::pass::{PassCtx, PassResult};
use super::position::Position;
use super::search::Rng;

/// More parts than this on the last sheet: the pair tables grow too big.
const MAX_MEMBERS: usize = 400;
/// Poles per outline: at most 32, 16 once they cover 75% of it, 8 at 90%.
const POLE_LIMITS: [(usize, f32); 3] = [(32, 0.0), (16, 0.75), (8, 0.9)];
/// Outlines with more points than this get fewer poles: each pole costs a
/// search over the whole outline.
const DETAILED_OUTLINE: usize = 200;
const DETAILED_POLE_LIMITS: [(usize, f32); 3] = [(8, 0.0), (4, 0.6), (2, 0.8)];
/// Random positions tried per move on the whole shortened sheet, and near the
/// part's current position.
const WIDE_SAMPLES: usize = 40;
const NEAR_SAMPLES: usize = 20;
/// The best samples refined by coordinate descent.
const REFINED: usize = 2;
/// Rounds without a clear improvement before a strike; strikes before giving up.
const ROUNDS_WITHOUT_PROGRESS: usize = 40;
const STRIKES: usize = 3;
/// Weight growth for a barely overlapping pair and for the most overlapping
/// one (in between in proportion to the overlap); decay for pairs apart.
const WEIGHT_GROWTH: (f32, f32) = (1.2, 2.0);
const WEIGHT_DECAY: f32 = 0.95;
/// The first step, as a fraction of the top, and the smallest.
const FIRST_STEP: f64 = 0.01;
const SMALLEST_STEP: f64 = 0.0002;
/// The largest step in the last fifth of the budget.
const LATE_STEP: f64 = 0.001;
/// Failed attempts at one top (each after the parts still overlapping were
/// put at random places) before a smaller step.
const ATTEMPTS_PER_TOP: usize = 4;
/// Spread of the choice among the layouts that failed at one top (see
/// [`pick_from_pool`]).
const POOL_SPREAD: f64 = 0.25;

/// How much of the search's budget (time or steps) is left.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Budget {
    Left,
    /// Less than a fifth: small steps only.
    Late,
    Spent,
}

/// What the squeeze tells its caller, who answers with the [`Budget`] left.
pub(super) enum Tick {
    /// A round of moves begins (a step of the search).
    Round,
    /// A part is about to move (not a step: only a stop or the time ends it).
    Move,
    /// A lower feasible layout.
    Better(PassResult),
}

/// One way a part can lie: as drawn or mirrored, at one allowed rotation.
struct Pose {
    mirrored: bool,
    rotation_deg: f64,
    rad: f32,
    item: Arc<Item>,
    /// The rotated (inflated) outline's box around its reference point.
    bbox: [f64; 4],
    /// The outline's poles, in the item's own frame (not rotated).
    poles: Arc<Vec<Circle>>,
    /// The engine's outline carrying those poles (the largest, covering half
    /// of it, first): an evaluation moves it, and looks for collisions with
    /// those poles before the edges, so that a bad sample costs enough to be
    /// dropped before its edges are tested. `None` when the engine could not
    /// make the poles.
    screened: Option<Arc<SPolygon>>,
    /// Fourth root of the convex hull's area: the pair estimate's scale.
    scale: f32,
    diameter: f32,
    /// The outline as last moved by an evaluation (saves an allocation each).
    moved: Option<SPolygon>,
}

impl Pose {
    fn transform(&self, x: f64, y: f64) -> DTransformation {
        DTransformation::new(self.rad, (x as f32, y as f32))
    }

    fn min_side(&self) -> f64 {
        (self.bbox[2] - self.bbox[0]).min(self.bbox[3] - self.bbox[1])
    }
}

/// A part of the last sheet, where it lies now.
#[derive(Clone)]
struct Member {
    /// Index in the layout's `placed`.
    placed: usize,
    /// Index of its part's poses.
    part: usize,
    pose: usize,
    x: f64,
    y: f64,
}

/// Where every member lies (a layout to come back to).
type Snapshot = Vec<Member>;

/// The squeeze on one layout's last sheet.
pub(super) struct Squeeze<'a> {
    ctx: &'a PassCtx<'a>,
    sheet: usize,
    /// The sheet's region as the passes use it.
    region: [f64; 4],
    /// Poses by part (empty for parts not on the sheet).
    poses: Vec<Vec<Pose>>,
    members: Vec<Member>,
    /// By member: it holds parts in its holes, so it keeps its pose.
    pinned: Vec<bool>,
    keys: Vec<PItemKey>,
    /// The part a collision names, by the engine's key: looked up for every
    /// collision an evaluation finds, so with a cheap hash (the standard
    /// one, made to resist crafted keys, cost more than the rest).
    owner: FxHashMap<PItemKey, usize>,
    /// Each member's poles as it lies.
    poles: Vec<Poles>,
    layout: Layout,
    /// Pair estimates and weights, n x n, symmetric.
    loss: Vec<f32>,
    weight: Vec<f32>,
    /// The highest top allowed now.
    limit: f64,
    collector: BasicHazardCollector,
    pole_buffer: Poles,
}

/// Share of an outline's area its largest poles cover that an evaluation tests
/// for collisions before the edges.
const SCREENED_AREA: f32 = 0.5;

/// Poles of an outline, its convex hull's area and the outline carrying them
/// (see [`Pose::screened`]); the pole of inaccessibility alone when the engine
/// cannot make more (or fails on the outline).
fn poles_of(shape: &SPolygon) -> (Vec<Circle>, f32, Option<SPolygon>) {
    let config = SPSurrogateConfig {
        n_pole_limits: if shape.n_vertices() > DETAILED_OUTLINE {
            DETAILED_POLE_LIMITS
        } else {
            POLE_LIMITS
        },
        ff_pole_area_ratio: SCREENED_AREA,
    };
    let made = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut s = shape.clone();
        s.generate_surrogate(config).ok().map(|()| {
            let poles = s.surrogate().poles.clone();
            let hull_area = s.surrogate().convex_hull_area;
            (poles, hull_area, Some(s))
        })
    }))
    .ok()
    .flatten();
    made.unwrap_or_else(|| (vec![shape.poi()], shape.area(), None))
}

/// Poles as columns (centres' x, centres' y, radii), padded with circles of
/// radius 0 far away to a multiple of [`LANES`]: the pair estimate's inner loop
/// then runs on whole groups that the compiler turns into vector instructions.
#[derive(Clone, Default)]
struct Poles {
    x: Vec<f32>,
    y: Vec<f32>,
    r: Vec<f32>,
}

/// Width of the pair estimate's groups of poles.
const LANES: usize = 8;
/// Where the padding circles lie: far enough that they never overlap a pole,
/// near enough that squared distances stay finite in `f32`.
const FAR: f32 = 1.0e15;

impl Poles {
    fn set(&mut self, circles: impl Iterator<Item = Circle>) {
        self.x.clear();
        self.y.clear();
        self.r.clear();
        for c in circles {
            self.x.push(c.center.0);
            self.y.push(c.center.1);
            self.r.push(c.radius);
        }
        while !self.r.len().is_multiple_of(LANES) {
            self.x.push(FAR);
            self.y.push(FAR);
            self.r.push(0.0);
        }
    }
}

/// The estimated overlap of two sets of poles (moved), scaled by the parts' sizes.
fn pair_loss(a: &Poles, b: &Poles, epsilon: f32, scale: f32) -> f32 {
    let mut lanes = [0.0f32; LANES];
    let eps_squared = epsilon * epsilon;
    for ((&ax, &ay), &ar) in a.x.iter().zip(&a.y).zip(&a.r) {
        // A padding circle of `a` adds nothing (its radius is 0).
        if ar == 0.0 {
            continue;
        }
        let groups =
            b.x.chunks_exact(LANES)
                .zip(b.y.chunks_exact(LANES))
                .zip(b.r.chunks_exact(LANES));
        for ((bx, by), br) in groups {
            for l in 0..LANES {
                let (dx, dy) = (ax - bx[l], ay - by[l]);
                let depth = ar + br[l] - (dx * dx + dy * dy).sqrt();
                // Below epsilon (near misses included) the depth fades
                // smoothly toward zero but never reaches it.
                let faded = eps_squared / (2.0 * epsilon - depth);
                let d = if depth >= epsilon { depth } else { faded };
                lanes[l] += d * ar.min(br[l]);
            }
        }
    }
    let sum: f32 = lanes.iter().sum();
    // Never zero: the engine found a collision, so it must cost something.
    ((sum + eps_squared).sqrt() * scale).max(f32::MIN_POSITIVE)
}

fn moved_poles(pose: &Pose, t: &DTransformation, out: &mut Poles) {
    let m = t.compose();
    out.set(pose.poles.iter().map(|c| c.transform_clone(&m)));
}

impl<'a> Squeeze<'a> {
    /// The squeeze of `state`'s last sheet; `None` when it does not apply (too
    /// many parts, fewer than two) or when `go_on` says stop while the parts'
    /// poles are made. The parts in holes are not members: they follow their
    /// hosts.
    pub fn new(
        ctx: &'a PassCtx<'a>,
        state: &PassResult,
        go_on: &mut dyn FnMut() -> bool,
    ) -> Option<Self> {
        let sheet = state.placed.iter().map(|p| p.sheet).max()?;
        let on_sheet: Vec<usize> = (0..state.placed.len())
            .filter(|&i| state.placed[i].sheet == sheet && state.placed[i].host.is_none())
            .collect();
        if on_sheet.len() < 2
            || on_sheet.len() > MAX_MEMBERS
            || on_sheet.iter().any(|&i| state.placed[i].key.is_none())
        {
            return None;
        }
        let pinned: Vec<bool> = on_sheet
            .iter()
            .map(|&i| state.placed.iter().any(|p| p.host == Some(i)))
            .collect();
        let mut poses: Vec<Vec<Pose>> = (0..ctx.defs.len()).map(|_| Vec::new()).collect();
        let mut members = Vec::new();
        for &i in &on_sheet {
            let p = &state.placed[i];
            let part = p.copy.part;
            if poses[part].is_empty() {
                if !go_on() {
                    return None;
                }
                poses[part] = poses_of_part(ctx, part);
            }
            let pose = poses[part].iter().position(|q| {
                q.mirrored == p.position.mirrored
                    && (q.rotation_deg - p.position.rotation_deg).abs() < 1e-9
            })?;
            let (x, y) = p.position.transform.translation();
            members.push(Member {
                placed: i,
                part,
                pose,
                x: f64::from(x),
                y: f64::from(y),
            });
        }
        let n = members.len();
        let size = ctx.sheet_sizes[sheet];
        let region = size.region(ctx.edge_inset);
        let container = ctx.containers[sheet].clone();
        let mut squeeze = Squeeze {
            ctx,
            sheet,
            region,
            poses,
            pinned,
            keys: Vec::with_capacity(n),
            owner: FxHashMap::default(),
            poles: vec![Poles::default(); n],
            layout: Layout::new(container),
            loss: vec![0.0; n * n],
            weight: vec![1.0; n * n],
            limit: state.last_top,
            collector: BasicHazardCollector::new(),
            pole_buffer: Poles::default(),
            members,
        };
        for k in 0..n {
            let key = squeeze.place(k);
            squeeze.keys.push(key);
        }
        squeeze.recompute_all();
        Some(squeeze)
    }

    /// Lower the last sheet's top for as long as `round` says go on. `round`
    /// hears of every round, every move and every lower feasible layout, and
    /// answers how much of the budget is left.
    pub fn run(&mut self, best: &PassResult, rng: &mut Rng, round: &mut dyn FnMut(Tick) -> Budget) {
        let mut best_top = self.current_top();
        let mut best_snapshot = self.members.clone();
        let mut best_state: Option<PassResult> = None;
        let mut step = FIRST_STEP;
        let mut failures = 0;
        // The layouts that could not be separated at this top, least
        // overlapping first: each new attempt starts from one of them.
        let mut pool: Vec<(f32, Snapshot)> = Vec::new();
        if !self.shrink(best_top * (1.0 - step), rng) {
            return;
        }
        loop {
            let late = match round(Tick::Round) {
                Budget::Spent => return,
                Budget::Late => true,
                Budget::Left => false,
            };
            let Some(separated) = self.separate(rng, round) else {
                return;
            };
            if separated {
                let base = best_state.as_ref().unwrap_or(best);
                if let Some(state) = self.checked_layout(base, &best_snapshot) {
                    best_top = self.current_top();
                    best_snapshot.clone_from(&self.members);
                    best_state = Some(state.clone());
                    if round(Tick::Better(state)) == Budget::Spent {
                        return;
                    }
                    failures = 0;
                }
                pool.clear();
            } else {
                failures += 1;
                if failures <= ATTEMPTS_PER_TOP {
                    let loss = self.total_loss();
                    let at = pool.partition_point(|(l, _)| *l <= loss);
                    pool.insert(at, (loss, self.members.clone()));
                    let pick = pick_from_pool(pool.len(), rng);
                    if pick != at {
                        self.load(&pool[pick].1);
                    }
                    self.scatter_overlapping(rng);
                    continue;
                }
                failures = 0;
                pool.clear();
                // Past the smallest step, start again from a larger one (the
                // random split of the next shrink makes it another attempt),
                // unless the end is near: then only small steps (compression).
                step = if step <= SMALLEST_STEP && !late {
                    FIRST_STEP / 4.0
                } else {
                    (step / 2.0).max(SMALLEST_STEP)
                };
                self.load(&best_snapshot);
            }
            if late {
                step = step.min(LATE_STEP);
            }
            self.limit = best_top;
            if !self.shrink(best_top * (1.0 - step), rng) {
                return;
            }
        }
    }

    /// Top of the highest member as placed in the engine.
    fn current_top(&self) -> f64 {
        self.keys
            .iter()
            .map(|&k| f64::from(self.layout.placed_items()[k].shape().bbox().y_max))
            .fold(0.0, f64::max)
    }

    fn pose(&self, k: usize) -> &Pose {
        let m = &self.members[k];
        &self.poses[m.part][m.pose]
    }

    /// Put member `k` into the engine's layout where it lies; its key.
    fn place(&mut self, k: usize) -> PItemKey {
        let m = &self.members[k];
        let pose = &self.poses[m.part][m.pose];
        let t = pose.transform(m.x, m.y);
        let key = self.layout.place_item(&pose.item, t);
        moved_poles(pose, &t, &mut self.poles[k]);
        self.owner.insert(key, k);
        key
    }

    fn unplace(&mut self, k: usize) {
        let key = self.keys[k];
        self.layout.remove_item(key);
        self.owner.remove(&key);
    }

    /// Move member `k` to `member` (same part).
    fn relocate(&mut self, k: usize, member: Member) {
        self.unplace(k);
        self.members[k] = member;
        self.keys[k] = self.place(k);
        self.recompute(k);
    }

    /// Every member where `snapshot` has it.
    fn load(&mut self, snapshot: &Snapshot) {
        for k in 0..self.members.len() {
            self.unplace(k);
        }
        self.members.clone_from(snapshot);
        for k in 0..self.members.len() {
            self.keys[k] = self.place(k);
        }
        self.recompute_all();
    }

    fn recompute_all(&mut self) {
        self.loss.iter_mut().for_each(|l| *l = 0.0);
        for k in 0..self.members.len() {
            self.recompute(k);
        }
    }

    /// The pair estimates of member `k` as it lies.
    fn recompute(&mut self, k: usize) {
        let n = self.members.len();
        for j in 0..n {
            self.loss[k * n + j] = 0.0;
            self.loss[j * n + k] = 0.0;
        }
        let key = self.keys[k];
        let shape = Arc::clone(self.layout.placed_items()[key].shape());
        self.collector.clear();
        self.layout
            .cde()
            .collect_poly_collisions(&shape, &NoFilter, &mut self.collector);
        let others: Vec<usize> = self
            .collector
            .iter()
            .filter_map(|(_, e)| match e {
                BasicHazardEntity::PlacedItem { pk, .. } => self.owner.get(pk).copied(),
                _ => None,
            })
            .filter(|&j| j != k)
            .collect();
        for j in others {
            let l = self.estimate(k, &self.poles[k], j);
            self.loss[k * n + j] = l;
            self.loss[j * n + k] = l;
        }
    }

    /// The estimate between member `k` (with poles `poles`) and member `j`.
    fn estimate(&self, k: usize, poles: &Poles, j: usize) -> f32 {
        let (a, b) = (self.pose(k), self.pose(j));
        let epsilon = a.diameter.max(b.diameter) * 0.01;
        pair_loss(poles, &self.poles[j], epsilon, a.scale * b.scale)
    }

    fn member_loss(&self, k: usize) -> f32 {
        let n = self.members.len();
        self.loss[k * n..(k + 1) * n].iter().sum()
    }

    fn total_loss(&self) -> f32 {
        self.loss.iter().sum::<f32>() / 2.0
    }

    /// Weighted overlap of member `k` (taken out of the layout) at `pose`,
    /// (x, y); stops counting, and answers infinity, past `bound`. Outside the
    /// sheet is infinity.
    fn evaluate(&mut self, k: usize, pose: usize, x: f64, y: f64, bound: f32) -> f32 {
        let part = self.members[k].part;
        let shape = self.poses[part][pose].moved.take();
        let p = &self.poses[part][pose];
        let reference: &SPolygon = match &p.screened {
            Some(screened) => screened,
            None => p.item.shape_cd(),
        };
        let mut shape = shape.unwrap_or_else(|| reference.clone());
        let mut poles = std::mem::take(&mut self.pole_buffer);
        let t = p.transform(x, y);
        shape.transform_from(reference, &t.compose());
        moved_poles(p, &t, &mut poles);
        let n = self.members.len();
        let mut total = 0.0f32;
        let mut collector = std::mem::take(&mut self.collector);
        collector.clear();
        let this = &*self;
        let mut judge = |e: BasicHazardEntity| match e {
            BasicHazardEntity::PlacedItem { pk, .. } => match this.owner.get(&pk) {
                Some(&j) => {
                    let b = &this.poses[this.members[j].part][this.members[j].pose];
                    let epsilon = p.diameter.max(b.diameter) * 0.01;
                    let l = pair_loss(&poles, &this.poles[j], epsilon, p.scale * b.scale);
                    total += this.weight[k * n + j] * l;
                    total > bound
                }
                None => {
                    total = f32::INFINITY;
                    true
                }
            },
            _ => {
                total = f32::INFINITY;
                true
            }
        };
        let cde = this.layout.cde();
        let stopped = (p.screened.is_some()
            && cde.collect_surrogate_collisions_until(
                &shape,
                &NoFilter,
                &mut collector,
                &mut judge,
            ))
            || cde.collect_poly_collisions_until(&shape, &NoFilter, &mut collector, &mut judge);
        self.collector = collector;
        self.poses[part][pose].moved = Some(shape);
        self.pole_buffer = poles;
        if stopped || total > bound {
            f32::INFINITY
        } else {
            total
        }
    }

    /// Translations of `pose` that keep its box in the region under the limit:
    /// `[x0, y0, x1, y1]`, or `None` when there are none.
    fn reach(&self, pose: &Pose) -> Option<[f64; 4]> {
        let m = self.ctx.margin + 1e-3;
        let [rx0, ry0, rx1, _] = self.region;
        let r = [
            rx0 + m - pose.bbox[0],
            ry0 + m - pose.bbox[1],
            rx1 - m - pose.bbox[2],
            self.limit - pose.bbox[3] - 1e-4,
        ];
        (r[2] >= r[0] && r[3] >= r[1]).then_some(r)
    }

    /// Rounds of moves until no overlap is left (`Some(true)`), the strikes run
    /// out (`Some(false)`, with the least overlapping layout loaded), or
    /// `round` says stop (`None`).
    fn separate(&mut self, rng: &mut Rng, round: &mut dyn FnMut(Tick) -> Budget) -> Option<bool> {
        let mut least = self.total_loss();
        if least == 0.0 {
            return Some(true);
        }
        let mut least_snapshot = self.members.clone();
        let mut strikes = 0;
        while strikes < STRIKES {
            let at_start = least;
            let mut idle = 0;
            while idle < ROUNDS_WITHOUT_PROGRESS {
                if round(Tick::Round) == Budget::Spent {
                    return None;
                }
                if !self.move_overlapping(rng, round) {
                    return None;
                }
                let loss = self.total_loss();
                if loss == 0.0 {
                    return Some(true);
                }
                if loss < least {
                    if loss < least * 0.98 {
                        idle = 0;
                    } else {
                        idle += 1;
                    }
                    least = loss;
                    least_snapshot.clone_from(&self.members);
                } else {
                    idle += 1;
                }
                self.update_weights();
            }
            if least < at_start * 0.98 {
                strikes = 0;
            } else {
                strikes += 1;
            }
            self.load(&least_snapshot);
        }
        Some(false)
    }

    /// Grow the weights of overlapping pairs, let the others decay toward 1.
    fn update_weights(&mut self) {
        let worst = self.loss.iter().copied().fold(0.0f32, f32::max);
        if worst <= 0.0 {
            return;
        }
        let (low, high) = WEIGHT_GROWTH;
        for (w, &l) in self.weight.iter_mut().zip(&self.loss) {
            let factor = if l > 0.0 {
                low + (high - low) * l / worst
            } else {
                WEIGHT_DECAY
            };
            *w = (*w * factor).max(1.0);
        }
    }

    /// Each overlapping member, in random order, to its best sampled position;
    /// `false` when `round` says stop between two moves.
    fn move_overlapping(&mut self, rng: &mut Rng, round: &mut dyn FnMut(Tick) -> Budget) -> bool {
        let mut order: Vec<usize> = (0..self.members.len())
            .filter(|&k| self.member_loss(k) > 0.0)
            .collect();
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i + 1));
        }
        for k in order {
            if round(Tick::Move) == Budget::Spent {
                return false;
            }
            if self.member_loss(k) > 0.0 {
                self.move_member(k, rng);
            }
        }
        true
    }

    fn move_member(&mut self, k: usize, rng: &mut Rng) {
        self.unplace(k);
        let current = self.members[k].clone();
        // The best few samples, lowest loss first: (loss, pose, x, y).
        let mut kept: Vec<(f32, usize, f64, f64)> = Vec::with_capacity(REFINED + 1);
        let keep = |kept: &mut Vec<(f32, usize, f64, f64)>, s: (f32, usize, f64, f64)| {
            if s.0.is_finite() {
                let at = kept.partition_point(|o| o.0 <= s.0);
                kept.insert(at, s);
                kept.truncate(REFINED);
            }
        };
        let bound = |kept: &Vec<(f32, usize, f64, f64)>| {
            if kept.len() < REFINED {
                f32::INFINITY
            } else {
                kept[kept.len() - 1].0
            }
        };
        let here = self.evaluate(k, current.pose, current.x, current.y, f32::INFINITY);
        keep(&mut kept, (here, current.pose, current.x, current.y));
        let (cw, ch) = {
            let p = self.pose(k);
            (p.bbox[2] - p.bbox[0], p.bbox[3] - p.bbox[1])
        };
        for s in 0..WIDE_SAMPLES + NEAR_SAMPLES {
            if kept.first().is_some_and(|b| b.0 == 0.0) {
                break;
            }
            let pose = self.random_pose(k, rng);
            let Some(r) = self.reach(&self.poses[current.part][pose]) else {
                continue;
            };
            let (x, y) = if s < WIDE_SAMPLES {
                (
                    r[0] + (r[2] - r[0]) * rng.unit(),
                    r[1] + (r[3] - r[1]) * rng.unit(),
                )
            } else {
                (
                    (current.x + cw * (rng.unit() - 0.5)).clamp(r[0], r[2]),
                    (current.y + ch * (rng.unit() - 0.5)).clamp(r[1], r[3]),
                )
            };
            let b = bound(&kept);
            let l = self.evaluate(k, pose, x, y, b);
            keep(&mut kept, (l, pose, x, y));
        }
        let mut best = kept
            .first()
            .copied()
            .unwrap_or((here, current.pose, current.x, current.y));
        for start in kept.clone() {
            if best.0 == 0.0 {
                break;
            }
            let refined = self.descend(k, start, rng);
            if refined.0 < best.0 {
                best = refined;
            }
        }
        self.members[k] = Member {
            pose: best.1,
            x: best.2,
            y: best.3,
            ..current
        };
        self.keys[k] = self.place(k);
        self.recompute(k);
    }

    /// Coordinate descent from a sample: steps along one axis (across, up and
    /// down, or a diagonal) grow while they help and halve when they do not.
    fn descend(
        &mut self,
        k: usize,
        (mut loss, pose, mut x, mut y): (f32, usize, f64, f64),
        rng: &mut Rng,
    ) -> (f32, usize, f64, f64) {
        let Some(r) = self.reach(&self.poses[self.members[k].part][pose]) else {
            return (loss, pose, x, y);
        };
        let side = self.poses[self.members[k].part][pose].min_side();
        let mut steps = [side * 0.25; 2];
        let limit = side * 0.002;
        let mut axis = rng.below(4);
        for _ in 0..60 {
            if steps[0] < limit && steps[1] < limit || loss == 0.0 {
                break;
            }
            let (dx, dy) = match axis {
                0 => (steps[0], 0.0),
                1 => (0.0, steps[1]),
                2 => (steps[0], steps[1]),
                _ => (-steps[0], steps[1]),
            };
            let mut improved = false;
            for sign in [1.0, -1.0] {
                let (nx, ny) = (
                    (x + sign * dx).clamp(r[0], r[2]),
                    (y + sign * dy).clamp(r[1], r[3]),
                );
                let l = self.evaluate(k, pose, nx, ny, loss);
                if l < loss {
                    (loss, x, y) = (l, nx, ny);
                    improved = true;
                    break;
                }
            }
            let factor = if improved { 1.1 } else { 0.5 };
            match axis {
                0 => steps[0] *= factor,
                1 => steps[1] *= factor,
                _ => {
                    steps[0] *= factor.sqrt();
                    steps[1] *= factor.sqrt();
                }
            }
            if !improved {
                axis = rng.below(4);
            }
        }
        (loss, pose, x, y)
    }

    /// Lower the limit to `target`: members above a random height move down by
    /// the difference, any still over the limit down to it. `false` when a
    /// member cannot lie under it at all.
    fn shrink(&mut self, target: f64, rng: &mut Rng) -> bool {
        let drop = self.limit - target;
        let split = self.region[1] + (target - self.region[1]) * rng.unit();
        self.limit = target;
        for k in 0..self.members.len() {
            let mut m = self.members[k].clone();
            if m.y > split {
                m.y -= drop;
            }
            let fits = |pose: usize| self.reach(&self.poses[m.part][pose]);
            let r = match fits(m.pose) {
                Some(r) => r,
                // A host keeps its pose (its holes hold parts).
                None if self.pinned[k] => return false,
                None => {
                    let Some(p) = (0..self.poses[m.part].len()).find(|&p| fits(p).is_some()) else {
                        return false;
                    };
                    m.pose = p;
                    match fits(p) {
                        Some(r) => r,
                        None => return false,
                    }
                }
            };
            m.x = m.x.clamp(r[0], r[2]);
            m.y = m.y.clamp(r[1], r[3]);
            self.unplace(k);
            self.members[k] = m;
            self.keys[k] = self.place(k);
        }
        self.recompute_all();
        true
    }

    /// A random pose of member `k`'s part; its own when it is a host (its
    /// holes hold parts).
    fn random_pose(&self, k: usize, rng: &mut Rng) -> usize {
        let m = &self.members[k];
        if self.pinned[k] {
            m.pose
        } else {
            rng.below(self.poses[m.part].len())
        }
    }

    /// Every member still overlapping to a random pose and place under the
    /// limit. A failed attempt ends with a few parts that the moves cannot
    /// get apart; putting only those elsewhere leaves the rest of the layout
    /// as it was, where a swap of two large parts (tried before) started the
    /// next attempt from 3 to 20 times the overlap and seldom separated.
    fn scatter_overlapping(&mut self, rng: &mut Rng) {
        let overlapping: Vec<usize> = (0..self.members.len())
            .filter(|&k| self.member_loss(k) > 0.0)
            .collect();
        for k in overlapping {
            let m = self.members[k].clone();
            let pose = self.random_pose(k, rng);
            let Some(r) = self.reach(&self.poses[m.part][pose]) else {
                continue;
            };
            let member = Member {
                pose,
                x: r[0] + (r[2] - r[0]) * rng.unit(),
                y: r[1] + (r[3] - r[1]) * rng.unit(),
                ..m
            };
            self.relocate(k, member);
        }
    }

    /// The layout `base` with the last sheet as the squeeze has it now, if the
    /// engine's exact test finds no collision; `None` otherwise (`fallback` is
    /// then loaded back).
    fn checked_layout(&mut self, base: &PassResult, fallback: &Snapshot) -> Option<PassResult> {
        // Only the exact test decides: a top a rounding error over the limit
        // is still a valid layout (the comparison of tops decides on it).
        let top = self.current_top();
        if !self.layout.is_collision_free() {
            self.load(fallback);
            return None;
        }
        let mut state = base.clone();
        // A layout of its own, so that the keys the state records are its
        // keys, whatever the squeeze's layout went through.
        let mut layout = Layout::new(self.ctx.containers[self.sheet].clone());
        for k in 0..self.members.len() {
            let m = &self.members[k];
            let pose = &self.poses[m.part][m.pose];
            if self.pinned[k] {
                let (x0, y0) = base.placed.get(m.placed)?.position.transform.translation();
                follow_host(
                    &mut state,
                    m.placed,
                    m.x - f64::from(x0),
                    m.y - f64::from(y0),
                );
            }
            let key = layout.place_item(&pose.item, pose.transform(m.x, m.y));
            let top = f64::from(layout.placed_items()[key].shape().bbox().y_max);
            let placed = state.placed.get_mut(m.placed)?;
            placed.position = Position {
                rotation_deg: pose.rotation_deg,
                transform: pose.transform(m.x, m.y),
                top,
                score: top,
                mirrored: pose.mirrored,
            };
            placed.key = Some(key);
        }
        *state.layouts.get_mut(self.sheet)? = Some(layout);
        state.last_top = top;
        Some(state)
    }
}

/// Move the parts in the holes of `placed[host]` by (dx, dy), as their host
/// moved (it kept its pose, so its holes are where they were, shifted).
fn follow_host(state: &mut PassResult, host: usize, dx: f64, dy: f64) {
    for p in state.placed.iter_mut().filter(|p| p.host == Some(host)) {
        let t = &p.position.transform;
        let (x, y) = t.translation();
        p.position.transform = DTransformation::new(
            t.rotation(),
            ((f64::from(x) + dx) as f32, (f64::from(y) + dy) as f32),
        )
        .with_reflection(t.reflected);
        p.position.top += dy;
        p.position.score += dy;
    }
}

/// An index into a pool of `len` layouts sorted best first: the best most
/// often, the worst seldom (the absolute value of a normal variable with a
/// standard deviation of a quarter of the pool).
fn pick_from_pool(len: usize, rng: &mut Rng) -> usize {
    // Box-Muller; `1 - unit` is in (0, 1], so the logarithm is finite.
    let radius = (-2.0 * (1.0 - rng.unit()).ln()).sqrt();
    let normal = radius * (std::f64::consts::TAU * rng.unit()).cos();
    let at = (normal.abs() * POOL_SPREAD).min(0.999);
    ((at * len as f64) as usize).min(len.saturating_sub(1))
}

/// Every pose of part `part`: its allowed rotations, as drawn and mirrored
/// when allowed.
fn poses_of_part(ctx: &PassCtx, part: usize) -> Vec<Pose> {
    let def = &ctx.defs[part];
    let mut poses = Vec::new();
    for (mirrored, item) in def.variants() {
        let shape = item.shape_cd();
        let (poles, hull_area, screened) = poles_of(shape);
        let poles = Arc::new(poles);
        let screened = screened.map(Arc::new);
        for &rotation_deg in &def.rotations {
            let rad = rotation_deg.to_radians() as f32;
            let rotated = shape
                .as_ref()
                .transform_clone(&DTransformation::new(rad, (0.0, 0.0)).compose());
            let bb = rotated.bbox();
            poses.push(Pose {
                mirrored,
                rotation_deg,
                rad,
                item: Arc::clone(item),
                bbox: [
                    f64::from(bb.x_min),
                    f64::from(bb.y_min),
                    f64::from(bb.x_max),
                    f64::from(bb.y_max),
                ],
                poles: Arc::clone(&poles),
                screened: screened.clone(),
                scale: hull_area.max(0.0).sqrt().sqrt(),
                diameter: shape.diameter(),
                moved: None,
            });
        }
    }
    poses
}

#[cfg(test)]
mod tests {
    use super::*;
    use jagua_rs::geometry::primitives::Point;

    /// The estimate in columns (padded to groups of 8) against the same sum
    /// written out pole by pole, for sets whose sizes are no multiple of 8.
    #[test]
    fn the_pair_estimate_in_columns_matches_the_estimate_pole_by_pole() {
        let circles = |n: usize, shift: f32| -> Vec<Circle> {
            (0..n)
                .map(|i| {
                    let t = i as f32;
                    Circle::try_new(Point(t * 0.7 + shift, (t * 1.3).sin() * 2.0), 0.3 + 0.1 * t)
                        .expect("a positive radius")
                })
                .collect()
        };
        let by_pole = |a: &[Circle], b: &[Circle], epsilon: f32, scale: f32| -> f32 {
            let mut sum = 0.0f32;
            for p in a {
                for q in b {
                    let (dx, dy) = (p.center.0 - q.center.0, p.center.1 - q.center.1);
                    let depth = p.radius + q.radius - (dx * dx + dy * dy).sqrt();
                    let d = if depth >= epsilon {
                        depth
                    } else {
                        epsilon * epsilon / (2.0 * epsilon - depth)
                    };
                    sum += d * p.radius.min(q.radius);
                }
            }
            (sum + epsilon * epsilon).sqrt() * scale
        };
        for (na, nb, shift) in [(1, 1, 0.0), (5, 11, 0.5), (13, 3, 3.0), (9, 17, 40.0)] {
            let (a, b) = (circles(na, 0.0), circles(nb, shift));
            let (mut pa, mut pb) = (Poles::default(), Poles::default());
            pa.set(a.iter().copied());
            pb.set(b.iter().copied());
            assert!(pa.r.len().is_multiple_of(LANES) && pb.r.len().is_multiple_of(LANES));
            let expected = by_pole(&a, &b, 0.05, 1.5);
            let got = pair_loss(&pa, &pb, 0.05, 1.5);
            assert!(
                (got - expected).abs() <= 1e-4 * expected.max(1.0),
                "{na} x {nb} poles, shift {shift}: {got} against {expected}"
            );
        }
    }

    #[test]
    fn a_pick_from_the_pool_stays_in_it_and_favours_the_least_overlapping() {
        let mut rng = Rng(7);
        let mut counts = [0usize; 8];
        for _ in 0..10_000 {
            counts[pick_from_pool(8, &mut rng)] += 1;
        }
        assert!(
            counts[0] > counts[1] && counts[1] > counts[4] && counts[4] > counts[7],
            "{counts:?}"
        );
        assert!(counts[0] > 2_000, "{counts:?}");
        assert!((0..100).all(|_| pick_from_pool(1, &mut rng) == 0));
    }
}
