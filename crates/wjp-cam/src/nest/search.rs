//! The improvement passes: the best order so far is perturbed (one to three
//! swaps, a seeded xorshift, so the same input gives the same layout) and a pass
//! replaces the best layout only if it is better. Stops at `max_iterations`, at
//! `time_limit_s`, or when told to; a stopped pass is discarded.

use std::time::Instant;

use super::options::NestOptions;
use super::pass::{run_pass, PassCtx, PassResult};

/// The best layout found and why the search ended.
pub(super) struct SearchOutcome {
    pub best: PassResult,
    /// Passes run, the first included.
    pub iterations: u32,
    /// `completed`, `max_iterations`, `time_limit` or `stopped`.
    pub stopped_by: &'static str,
}

/// Improve on the first layout (`first`, from `order`).
pub(super) fn improve(
    ctx: &PassCtx,
    first: PassResult,
    order: Vec<usize>,
    options: &NestOptions,
    started: Instant,
    progress: &mut dyn FnMut(f64, &str),
    should_stop: &dyn Fn() -> bool,
) -> SearchOutcome {
    let deadline = options.time_limit_s;
    let out_of_time = || started.elapsed().as_secs_f64() >= deadline;
    let mut best = first;
    let mut best_order = order;
    let mut iterations = 1u32;
    let mut rng = options.seed.max(1);
    // All placed on one sheet as the only part: nothing can be better.
    let trivially_best = best.failed.is_empty() && best.sheets_used <= 1 && best.placed.len() <= 1;
    if trivially_best || ctx.copies.len() < 2 {
        return SearchOutcome {
            best,
            iterations,
            stopped_by: "completed",
        };
    }
    let mut stopped_by = "max_iterations";
    while iterations <= options.max_iterations {
        if should_stop() {
            stopped_by = "stopped";
            break;
        }
        if out_of_time() {
            stopped_by = "time_limit";
            break;
        }
        let mut cand = best_order.clone();
        let swaps = 1 + (next(&mut rng) % 3) as usize;
        for _ in 0..swaps {
            let a = (next(&mut rng) % cand.len() as u64) as usize;
            let b = (next(&mut rng) % cand.len() as u64) as usize;
            cand.swap(a, b);
        }
        let stop = || should_stop() || out_of_time();
        let r = run_pass(ctx, &cand, &mut |_, _| {}, &stop, false);
        iterations += 1;
        let Some(r) = r else {
            stopped_by = if should_stop() {
                "stopped"
            } else {
                "time_limit"
            };
            break;
        };
        if r.better_than(&best) {
            best = r;
            best_order = cand;
        }
        let frac = if deadline > 0.0 {
            (started.elapsed().as_secs_f64() / deadline).min(1.0)
        } else {
            1.0
        };
        progress(
            0.5 + 0.45 * frac.max(iterations as f64 / (options.max_iterations as f64 + 1.0)),
            &format!("improving: pass {iterations}"),
        );
    }
    SearchOutcome {
        best,
        iterations,
        stopped_by,
    }
}

/// xorshift64*: a small, seeded generator (the same seed gives the same swaps).
fn next(s: &mut u64) -> u64 {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    s.wrapping_mul(0x2545_F491_4F6C_DD1D)
}
