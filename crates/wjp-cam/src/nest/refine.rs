//! Ruin and recreate: the second half of the search, on the best layout of the
//! greedy passes. One step takes a few neighbouring parts off the last used
//! sheet (and every part above a slightly lower target height), then puts them
//! back, largest first, bottom-left: on an earlier sheet where one has room, else
//! on the last sheet below the target. If every part finds a place the layout is
//! kept (the last sheet is now lower, or, when the target was the old height, the
//! parts are merely rearranged, which lets later steps find room); otherwise the
//! step is undone. Each step costs a handful of placements where a greedy pass
//! costs one per copy, so far more of them fit in the time.
//!
//! Copies in holes, and the parts whose holes hold them, never move: a step
//! that would have to move one is not taken.

use super::pass::{place_in, PassCtx, PassResult};
use super::search::Rng;

/// Parts taken off besides those above the target: 1 to this many.
const MAX_RUINED: usize = 5;

/// Top of the highest part on sheet `s`.
fn sheet_top(state: &PassResult, s: usize) -> f64 {
    state
        .placed
        .iter()
        .filter(|p| p.sheet == s)
        .map(|p| p.position.top)
        .fold(0.0, f64::max)
}

/// The centre of a placed copy (its reference point in the engine).
fn centre(state: &PassResult, i: usize) -> (f64, f64) {
    let (x, y) = state.placed[i].position.transform.translation();
    (f64::from(x), f64::from(y))
}

/// One ruin-and-recreate step on `state`. `Some(true)` when the layout got
/// better, `Some(false)` when it was kept as good or undone, `None` when there is
/// nothing this step can move.
pub(super) fn step(ctx: &PassCtx, state: &mut PassResult, rng: &mut Rng) -> Option<bool> {
    if state.placed.is_empty() {
        return None;
    }
    let mut fixed = vec![false; state.placed.len()];
    for (i, p) in state.placed.iter().enumerate() {
        if let Some(host) = p.host {
            fixed[i] = true;
            if let Some(f) = fixed.get_mut(host) {
                *f = true;
            }
        }
    }
    let last = state.placed.iter().map(|p| p.sheet).max()?;
    let top = sheet_top(state, last);
    // Three steps in four aim lower, by 0.1% to 2% of the height used.
    let target = if rng.below(4) == 0 {
        top
    } else {
        top - top * (0.001 + 0.019 * rng.unit())
    };
    let mut ruined: Vec<usize> = (0..state.placed.len())
        .filter(|&i| state.placed[i].sheet == last)
        .filter(|&i| state.placed[i].position.top > target + 1e-9)
        .collect();
    if ruined.iter().any(|&i| fixed[i]) {
        return Some(false);
    }
    let on_last: Vec<usize> = (0..state.placed.len())
        .filter(|&i| state.placed[i].sheet == last && !fixed[i])
        .collect();
    if on_last.is_empty() {
        return None;
    }
    // A neighbourhood: a part of the last sheet (half the time one near the
    // top) and its nearest neighbours there.
    let near_top: Vec<usize> = on_last
        .iter()
        .copied()
        .filter(|&i| state.placed[i].position.top > top - (top - target).max(top * 0.1))
        .collect();
    let pool = if rng.below(2) == 0 && !near_top.is_empty() {
        &near_top
    } else {
        &on_last
    };
    let seed = pool[rng.below(pool.len())];
    let (sx, sy) = centre(state, seed);
    let mut by_distance = on_last.clone();
    by_distance.sort_by(|&a, &b| {
        let d = |i| {
            let (x, y) = centre(state, i);
            (x - sx).hypot(y - sy)
        };
        d(a).total_cmp(&d(b))
    });
    for &i in by_distance.iter().take(1 + rng.below(MAX_RUINED)) {
        if !ruined.contains(&i) {
            ruined.push(i);
        }
    }
    let backup = state.clone();
    if !recreate(ctx, state, &ruined, last, target, rng) {
        *state = backup;
        return Some(false);
    }
    let used: Vec<usize> = (0..state.layouts.len())
        .filter(|&s| state.placed.iter().any(|p| p.sheet == s))
        .collect();
    for (s, layout) in state.layouts.iter_mut().enumerate() {
        if !used.contains(&s) {
            *layout = None;
        }
    }
    state.sheets_used = used.len();
    state.last_top = used.last().map_or(0.0, |&s| sheet_top(state, s));
    Some(state.better_than(&backup))
}

/// Take the `ruined` copies off and place them again; `false` when one of them
/// finds no place (the caller undoes the step).
fn recreate(
    ctx: &PassCtx,
    state: &mut PassResult,
    ruined: &[usize],
    last: usize,
    target: f64,
    rng: &mut Rng,
) -> bool {
    for &i in ruined {
        let p = &state.placed[i];
        let (Some(key), Some(Some(layout))) = (p.key, state.layouts.get_mut(p.sheet)) else {
            return false;
        };
        layout.remove_item(key);
    }
    // Largest first, with a little noise so repeated steps differ.
    let mut order = ruined.to_vec();
    order.sort_by(|&a, &b| {
        let area = |i: usize| ctx.defs[state.placed[i].copy.part].net_area;
        area(b).total_cmp(&area(a))
    });
    if order.len() > 1 && rng.below(2) == 0 {
        let k = rng.below(order.len() - 1);
        order.swap(k, k + 1);
    }
    for i in order {
        let copy = state.placed[i].copy;
        let def = &ctx.defs[copy.part];
        let mut done = false;
        for s in 0..=last {
            let Some(layout) = state.layouts[s].as_mut() else {
                continue;
            };
            let mut region = ctx.sheet_sizes[s].region(ctx.edge_inset);
            if s == last {
                // The target is a top of an inflated outline: the region is the
                // sheet up to it, plus the margin the engine keeps from the edge.
                region[3] = region[3].min(target + ctx.margin + 1e-3);
            }
            if let Some((position, key)) = place_in(layout, def, &def.rotations, region, ctx.margin)
            {
                let placed = &mut state.placed[i];
                placed.sheet = s;
                placed.position = position;
                placed.key = Some(key);
                done = true;
                break;
            }
        }
        if !done {
            return false;
        }
    }
    true
}
