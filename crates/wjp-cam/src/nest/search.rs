//! The improvement passes and ruin and recreate, taking turns, then the squeeze
//! ([`Squeeze`]) on the last sheet: an anytime search. It runs until
//! `time_limit_s` (or `max_iterations`, or a stop) and keeps the best layout
//! found so far, which is what a stop returns.
//!
//! The state is the sequence of genes a greedy pass follows (which copy next, and
//! optionally the one rotation it must take). A move changes the best sequence a
//! little: two copies of different parts swap, one copy moves earlier or later, or
//! one copy's rotation is forced or freed. Rotation moves matter most when many
//! copies are of the same part (swapping identical copies changes nothing). A
//! candidate replaces the current sequence when its layout is no worse (so the
//! search walks along plateaus of equal layouts), and the best layout when it is
//! strictly better. The generator is seeded: the same input, seed and number of
//! passes give the same layout.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use super::options::NestOptions;
use super::pass::{run_pass, Gene, PassCtx, PassResult, Rank};
use super::refine;
use super::result::{placements, BestSoFar, NestProgress, Placement};
use super::squeeze::{Budget, Squeeze, Tick};

/// Share of the time (and of the step bound) the greedy passes and ruin and
/// recreate have before the squeeze takes over the last sheet: more when the
/// layout takes several sheets (only they can save a sheet), less for one
/// sheet (where the squeeze does better from the first layout on).
const GREEDY_SHARE: f64 = 0.25;
const GREEDY_SHARE_ONE_SHEET: f64 = 0.1;

/// The best layout found and why the search ended.
pub(super) struct SearchOutcome {
    pub best: PassResult,
    /// Passes run, the first included.
    pub iterations: u32,
    /// `completed`, `max_iterations`, `time_limit` or `stopped`.
    pub stopped_by: &'static str,
}

/// The figures of a layout, for progress reports.
pub(super) fn summary(ctx: &PassCtx, pass: &PassResult) -> BestSoFar {
    let mut used = vec![false; ctx.sheet_sizes.len()];
    let mut parts_area = 0.0;
    for p in &pass.placed {
        parts_area += ctx.defs[p.copy.part].net_area;
        if let Some(u) = used.get_mut(p.sheet) {
            *u = true;
        }
    }
    let sheets_area: f64 = ctx
        .sheet_sizes
        .iter()
        .zip(&used)
        .filter(|(_, &u)| u)
        .map(|(s, _)| s.width * s.height)
        .sum();
    BestSoFar {
        placed: pass.placed.len(),
        unplaced: pass.failed.len(),
        sheets: pass.sheets_used,
        utilization: if sheets_area > 0.0 {
            100.0 * parts_area / sheets_area
        } else {
            0.0
        },
    }
}

/// What the searches of one nest on several threads know of each other: the
/// best layout any of them has reported. A search reports a layout as better
/// (with its placements) only when it beats that one, so the layouts a caller
/// hears of only ever improve.
pub(super) struct Rivals(Option<Mutex<Rank>>);

impl Rivals {
    /// A search on its own.
    pub fn none() -> Self {
        Rivals(None)
    }

    /// Searches that all start from `first`.
    fn from(first: &PassResult) -> Self {
        Rivals(Some(Mutex::new(first.rank())))
    }

    /// Whether `layout`, better than its own search's best, is news: on its
    /// own, always; beside other searches, when it beats every search's
    /// reported best, which it then becomes. A layout that is news holds the
    /// others' reports back until its own is passed on (the [`Admission`] is
    /// dropped), so the caller hears better layouts in the order they were
    /// admitted.
    fn admit(&self, layout: &PassResult) -> Admission<'_> {
        let Some(best) = &self.0 else {
            return Admission::Alone;
        };
        let mut best = best.lock().unwrap_or_else(PoisonError::into_inner);
        let rank = layout.rank();
        if rank.better_than(&best) {
            *best = rank;
            Admission::Best { _held: best }
        } else {
            Admission::Behind
        }
    }
}

/// What [`Rivals::admit`] decided of a better layout.
enum Admission<'a> {
    /// No other search: the layout is news.
    Alone,
    /// Better than every search's: news, and the others wait until it is told.
    Best {
        _held: std::sync::MutexGuard<'a, Rank>,
    },
    /// Another search has reported a layout at least as good.
    Behind,
}

impl Admission<'_> {
    fn is_news(&self) -> bool {
        !matches!(self, Admission::Behind)
    }
}

/// A progress report of a search on another thread, as the caller's thread
/// passes it on.
struct Heard {
    fraction: f64,
    message: String,
    best: Option<BestSoFar>,
    improved: Option<Vec<Placement>>,
}

/// [`improve`] by `threads` searches side by side, seeds `options.seed` on,
/// each from the first layout; the best layout of all. The caller's thread
/// passes their reports on to `progress` (every better layout, and the
/// figures of the first search) and tells them to stop when `should_stop`
/// says so. Each search's time counts from the call, as `clock` counts it
/// on its own thread (a clock of the calling thread's CPU time gives each
/// search the CPU time of one search alone).
#[allow(clippy::too_many_arguments)]
pub(super) fn improve_on_threads(
    ctx: &PassCtx,
    first: PassResult,
    order: Vec<Gene>,
    options: &NestOptions,
    threads: u64,
    clock: &(dyn Fn() -> f64 + Sync),
    progress: &mut dyn FnMut(&NestProgress),
    should_stop: &dyn Fn() -> bool,
) -> SearchOutcome {
    let rivals = Rivals::from(&first);
    let stop = AtomicBool::new(false);
    let (tell, heard) = mpsc::channel::<Heard>();
    let at_start = clock();
    let outcomes: Vec<SearchOutcome> = std::thread::scope(|scope| {
        let searches: Vec<_> = (0..threads)
            .map(|search| {
                let (tell, first, order) = (tell.clone(), first.clone(), order.clone());
                let options = NestOptions {
                    seed: options.seed.wrapping_add(search),
                    ..options.clone()
                };
                let (rivals, stop) = (&rivals, &stop);
                scope.spawn(move || {
                    let base = clock();
                    let own_clock = || at_start + (clock() - base);
                    let mut forward = |p: &NestProgress| {
                        // The caller passes on every better layout, and of
                        // the others the first search's alone: the rest of
                        // the reports are not made at all.
                        if p.improved.is_none() && search != 0 {
                            return;
                        }
                        // The caller has gone only when it stopped listening.
                        let _ = tell.send(Heard {
                            fraction: p.fraction,
                            message: p.message.to_owned(),
                            best: p.best,
                            improved: p.improved.map(<[Placement]>::to_vec),
                        });
                    };
                    let stopped = || stop.load(Ordering::Relaxed);
                    improve(
                        ctx,
                        first,
                        order,
                        &options,
                        &own_clock,
                        &mut forward,
                        &stopped,
                        rivals,
                    )
                })
            })
            .collect();
        drop(tell);
        // The best of all searches as reported: the first search's reports
        // of its progress carry it instead of its own.
        let mut best_of_all: Option<BestSoFar> = None;
        loop {
            match heard.recv_timeout(Duration::from_millis(50)) {
                Ok(h) if h.improved.is_some() => {
                    best_of_all = h.best;
                    progress(&NestProgress {
                        fraction: h.fraction,
                        message: &h.message,
                        best: h.best,
                        improved: h.improved.as_deref(),
                    });
                }
                Ok(h) => {
                    let best = best_of_all.or(h.best);
                    let message = match best {
                        Some(best) => {
                            format!("improving: {threads} searches, best {}", best.describe())
                        }
                        None => h.message,
                    };
                    progress(&NestProgress {
                        fraction: h.fraction,
                        message: &message,
                        best,
                        improved: None,
                    });
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if should_stop() {
                stop.store(true, Ordering::Relaxed);
            }
        }
        // Every search has ended (the channel closes when the last one
        // drops its end). One that panicked fails the nest as one search's
        // panic does (`nest_with_clock` makes it an engine error), rather
        // than leaving its share of the work out without a word.
        searches
            .into_iter()
            .map(|s| {
                s.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    let iterations = outcomes.iter().map(|o| o.iterations).sum();
    let stopped = stop.load(Ordering::Relaxed);
    let mut kept: Option<SearchOutcome> = None;
    for outcome in outcomes {
        if kept
            .as_ref()
            .is_none_or(|k| outcome.best.better_than(&k.best))
        {
            kept = Some(outcome);
        }
    }
    match kept {
        Some(kept) => SearchOutcome {
            iterations,
            stopped_by: if stopped { "stopped" } else { kept.stopped_by },
            ..kept
        },
        // No search ran (no thread was asked for): the first layout.
        None => SearchOutcome {
            best: first,
            iterations: 1,
            stopped_by: "completed",
        },
    }
}

/// Improve on the first layout (`first`, from `order`).
#[allow(clippy::too_many_arguments)]
pub(super) fn improve(
    ctx: &PassCtx,
    first: PassResult,
    order: Vec<Gene>,
    options: &NestOptions,
    clock: &dyn Fn() -> f64,
    progress: &mut dyn FnMut(&NestProgress),
    should_stop: &dyn Fn() -> bool,
    rivals: &Rivals,
) -> SearchOutcome {
    let deadline = options.time_limit_s;
    let out_of_time = || clock() >= deadline;
    let mut best = first;
    let mut best_summary = summary(ctx, &best);
    let mut current = order;
    let mut current_pass = best.clone();
    let mut iterations = 1u32;
    let mut rng = Rng(options.seed.max(1));
    // All placed on one sheet as the only part: nothing can be better. Nothing
    // placed at all: every copy fits no empty sheet (or has no usable
    // outline), which no other order or rotation changes.
    let trivially_best = best.failed.is_empty() && best.sheets_used <= 1 && best.placed.len() <= 1;
    if trivially_best || best.placed.is_empty() || ctx.copies.len() < 2 {
        // (Nothing placed may also mean stopped before the first copy.)
        let stopped = best.placed.is_empty() && should_stop();
        return SearchOutcome {
            best,
            iterations,
            stopped_by: if stopped { "stopped" } else { "completed" },
        };
    }
    let mut stopped_by = "max_iterations";
    // The two searches take turns: a greedy pass places every copy, a ruin and
    // recreate step a handful, so after each pass about a third as many steps as
    // there are copies take about as long. Counted in steps, not seconds, so the
    // same seed and bound give the same layout. Ruin and recreate works on the
    // best layout, and starts again from it whenever a pass finds a better one.
    let steps_per_pass = (ctx.copies.len() / 3).max(1);
    let mut steps_due = 0usize;
    let mut refining: Option<PassResult> = None;
    let mut squeezed = false;
    while iterations <= options.max_iterations {
        if should_stop() {
            stopped_by = "stopped";
            break;
        }
        if out_of_time() {
            stopped_by = "time_limit";
            break;
        }
        let share = if best.sheets_used > 1 {
            GREEDY_SHARE
        } else {
            GREEDY_SHARE_ONE_SHEET
        };
        if !squeezed
            && (clock() >= share * deadline
                || f64::from(iterations) >= share * f64::from(options.max_iterations))
        {
            squeezed = true;
            if let Some(ended) = squeeze(
                ctx,
                &mut best,
                &mut iterations,
                &mut rng,
                options,
                clock,
                progress,
                should_stop,
                rivals,
            ) {
                stopped_by = ended;
                break;
            }
            best_summary = summary(ctx, &best);
            refining = None;
        }
        if steps_due > 0 {
            steps_due -= 1;
            let state = refining.get_or_insert_with(|| best.clone());
            if let Some(improved) = refine::step(ctx, state, &mut rng) {
                iterations += 1;
                if improved && state.better_than(&best) {
                    best = state.clone();
                    best_summary = summary(ctx, &best);
                    report(
                        ctx,
                        &best,
                        best_summary,
                        iterations,
                        true,
                        progress,
                        clock,
                        options,
                        rivals,
                    );
                } else if iterations.is_multiple_of(64) {
                    report(
                        ctx,
                        &best,
                        best_summary,
                        iterations,
                        false,
                        progress,
                        clock,
                        options,
                        rivals,
                    );
                }
                continue;
            }
        }
        let cand = neighbour(ctx, &current, &mut rng);
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
        let improved = r.better_than(&best);
        if !current_pass.better_than(&r) {
            current = cand;
            current_pass = r.clone();
        }
        steps_due = steps_per_pass;
        if improved {
            best = r;
            best_summary = summary(ctx, &best);
            refining = None;
        }
        report(
            ctx,
            &best,
            best_summary,
            iterations,
            improved,
            progress,
            clock,
            options,
            rivals,
        );
    }
    SearchOutcome {
        best,
        iterations,
        stopped_by,
    }
}

/// The squeeze of the best layout's last sheet ([`Squeeze`]) for the rest of
/// the time, each of its rounds a step. `None` when it does not apply to this
/// layout or ended early (the other searches go on); else why the search ended.
#[allow(clippy::too_many_arguments)]
fn squeeze(
    ctx: &PassCtx,
    best: &mut PassResult,
    iterations: &mut u32,
    rng: &mut Rng,
    options: &NestOptions,
    clock: &dyn Fn() -> f64,
    progress: &mut dyn FnMut(&NestProgress),
    should_stop: &dyn Fn() -> bool,
    rivals: &Rivals,
) -> Option<&'static str> {
    let mut squeeze = Squeeze::new(ctx, best, &mut || {
        !should_stop() && clock() < options.time_limit_s
    })?;
    let mut ended = None;
    let start = best.clone();
    let mut round = |tick: Tick| {
        match tick {
            Tick::Better(state) if state.better_than(best) => {
                *best = state;
                report(
                    ctx,
                    best,
                    summary(ctx, best),
                    *iterations,
                    true,
                    progress,
                    clock,
                    options,
                    rivals,
                );
            }
            Tick::Better(_) | Tick::Move => {}
            Tick::Round => {
                *iterations += 1;
                report(
                    ctx,
                    best,
                    summary(ctx, best),
                    *iterations,
                    false,
                    progress,
                    clock,
                    options,
                    rivals,
                );
            }
        }
        let used = (clock() / options.time_limit_s)
            .max(f64::from(*iterations) / f64::from(options.max_iterations.max(1)));
        ended = if should_stop() {
            Some("stopped")
        } else if clock() >= options.time_limit_s {
            Some("time_limit")
        } else if *iterations >= options.max_iterations {
            Some("max_iterations")
        } else {
            None
        };
        match ended {
            Some(_) => Budget::Spent,
            None if used >= 0.8 => Budget::Late,
            None => Budget::Left,
        }
    };
    squeeze.run(&start, rng, &mut round);
    ended
}

/// Tell `progress` how far the search is and what its best layout is (with the
/// placements when it has just improved).
#[allow(clippy::too_many_arguments)]
fn report(
    ctx: &PassCtx,
    best: &PassResult,
    best_summary: BestSoFar,
    iterations: u32,
    improved: bool,
    progress: &mut dyn FnMut(&NestProgress),
    clock: &dyn Fn() -> f64,
    options: &NestOptions,
    rivals: &Rivals,
) {
    // With searches on other threads, a layout better than this search's
    // own best is news only when it beats theirs too (held until told).
    let admission = if improved {
        rivals.admit(best)
    } else {
        Admission::Behind
    };
    let improved = admission.is_news();
    let deadline = options.time_limit_s;
    let frac = if deadline > 0.0 {
        (clock() / deadline).min(1.0)
    } else {
        1.0
    };
    let fraction = 0.5 + 0.45 * frac.max(iterations as f64 / (options.max_iterations as f64 + 1.0));
    let layout = improved.then(|| placements(ctx.defs, best));
    let message = if improved {
        format!(
            "improving: step {iterations}, better layout: {}",
            best_summary.describe()
        )
    } else {
        format!(
            "improving: step {iterations}, best {}",
            best_summary.describe()
        )
    };
    progress(&NestProgress {
        fraction,
        message: &message,
        best: Some(best_summary),
        improved: layout.as_deref(),
    });
    // Only now may the other searches report theirs.
    drop(admission);
}

/// A small change of `order`: one to three swaps of copies of different parts,
/// a copy moved, or a copy's rotation forced or freed.
fn neighbour(ctx: &PassCtx, order: &[Gene], rng: &mut Rng) -> Vec<Gene> {
    let mut cand = order.to_vec();
    let n = cand.len();
    let part_of = |g: &Gene| ctx.copies[g.copy].part;
    let moves = 1 + rng.below(3);
    for _ in 0..moves {
        match rng.below(4) {
            0 | 1 => {
                // A swap of copies of the same part changes nothing: look for another.
                let a = rng.below(n);
                for _ in 0..8 {
                    let b = rng.below(n);
                    if part_of(&cand[a]) != part_of(&cand[b]) {
                        cand.swap(a, b);
                        break;
                    }
                }
            }
            2 => {
                let (from, to) = (rng.below(n), rng.below(n));
                let gene = cand.remove(from);
                cand.insert(to, gene);
            }
            _ => {
                let k = rng.below(n);
                let choices = ctx.defs[part_of(&cand[k])].rotations.len();
                cand[k].rotation = match rng.below(choices + 1) {
                    0 => None,
                    r => Some(r - 1),
                };
            }
        }
    }
    cand
}

/// xorshift64*: a small, seeded generator (the same seed gives the same moves).
pub(super) struct Rng(pub u64);

impl Rng {
    /// A number in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn next(&mut self) -> u64 {
        let s = &mut self.0;
        *s ^= *s >> 12;
        *s ^= *s << 25;
        *s ^= *s >> 27;
        s.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`n` at least 1).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}
