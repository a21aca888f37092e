//! Strip-packing density on ESICUP instances in the jagua-rs JSON format.
//!
//! `cargo run --release -p wjp-cam --example bench_esicup -- TIME_LIMIT_S FILE.json...`
//!
//! The instance files are NOT in this repository (see BENCHMARKS.md for where they
//! come from). A strip of fixed height and open length is modelled as one sheet
//! whose width is the strip height and whose height is the sum of the items'
//! diameters, with every coordinate transposed (x <-> y): transposing the whole
//! instance is a mirror, which maps layouts to layouts and keeps the rotation sets
//! {0, 180} and {0, 90, 180, 270}, so the density is the same. Density = items'
//! area / (strip height x used length). The gap is 0.001 (ESICUP has none).
//!
//! TIME_LIMIT_S counts the search thread's CPU time (the machine this runs on is
//! shared: a minute of wall time may give the search half a core); `WJP_WALL=1`
//! counts wall time. The last column is the time the limit counted.

use serde_json::Value;
use std::cell::Cell;
use std::time::Instant;

use wjp_cam::{nest_with_clock, NestOptions, PartInput};
use wjp_geometry::{Path, Vertex};

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or(0.0)
}

fn get<'a>(v: &'a Value, a: &str, b: &str) -> &'a Value {
    if v.get(a).is_some() {
        &v[a]
    } else {
        &v[b]
    }
}

/// Used length: the highest point of any placed outline (transposed x).
fn used_length(parts: &[PartInput], r: &wjp_cam::NestResult) -> f64 {
    let mut used: f64 = 0.0;
    for p in &r.positioned_objects {
        let (s, c) = p.rotation.to_radians().sin_cos();
        for q in &parts[p.part_index].outer.vertices {
            used = used.max(s * q.x + c * q.y + p.y);
        }
    }
    used
}

/// Seconds since it was made: of the calling thread's CPU time (Linux's
/// `/proc/thread-self/schedstat`, less the making thread's at the start), or of
/// wall time when asked or when that file cannot be read. The file is read at
/// most every millisecond of wall time per thread (the search asks far more
/// often), so the figure lags by at most that.
struct SearchClock {
    wall: bool,
    started: Instant,
    cpu_at_start: f64,
}

thread_local! {
    /// This thread's last reading of its CPU time, and when it was taken.
    static LAST_READ: Cell<Option<(Instant, f64)>> = const { Cell::new(None) };
}

fn thread_cpu_seconds() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos: f64 = text.split_whitespace().next()?.parse().ok()?;
    Some(nanos * 1e-9)
}

/// The process's CPU time, all its threads (`/proc/self/stat`, whose times
/// are in hundredths of a second on every Linux this runs on).
fn process_cpu_seconds() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = text.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<f64>().ok();
    Some((ticks(11)? + ticks(12)?) / 100.0)
}

impl SearchClock {
    fn new(wall: bool) -> Self {
        let cpu = if wall { None } else { thread_cpu_seconds() };
        SearchClock {
            wall: cpu.is_none(),
            started: Instant::now(),
            cpu_at_start: cpu.unwrap_or(0.0),
        }
    }

    fn seconds(&self) -> f64 {
        if self.wall {
            return self.started.elapsed().as_secs_f64();
        }
        let cpu = LAST_READ.with(|last| match last.get() {
            Some((at, cpu)) if at.elapsed().as_secs_f64() < 1e-3 => cpu,
            earlier => {
                let cpu = thread_cpu_seconds().unwrap_or(earlier.map_or(0.0, |(_, c)| c));
                last.set(Some((Instant::now(), cpu)));
                cpu
            }
        });
        cpu - self.cpu_at_start
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: bench_esicup TIME_LIMIT_S FILE.json...");
        std::process::exit(2);
    }
    let limit: f64 = args[1]
        .parse()
        .map_err(|e| format!("time limit in seconds {:?}: {e}", args[1]))?;
    println!(
        "| instance | items | strip height | length | density | passes | time s | search clock s |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for file in &args[2..] {
        let text = std::fs::read_to_string(file).map_err(|e| format!("reading {file}: {e}"))?;
        let v: Value =
            serde_json::from_str(&text).map_err(|e| format!("{file} is not JSON: {e}"))?;
        let name = get(&v, "name", "Name").as_str().unwrap_or(file).to_string();
        let strip = if v.get("strip_height").is_some() {
            num(&v["strip_height"])
        } else {
            num(&v["Strip"]["Height"])
        };
        let mut parts = Vec::new();
        let mut total_area = 0.0;
        let mut length_bound = 0.0;
        for (i, it) in get(&v, "items", "Items")
            .as_array()
            .ok_or_else(|| format!("{file}: no items array"))?
            .iter()
            .enumerate()
        {
            let demand = num(get(it, "demand", "Demand")) as u32;
            let rots: Vec<f64> = get(it, "allowed_orientations", "AllowedOrientations")
                .as_array()
                .map(|a| a.iter().map(num).collect())
                .unwrap_or_else(|| vec![0.0]);
            let shape = get(it, "shape", "Shape");
            let data = get(shape, "data", "Data")
                .as_array()
                .ok_or_else(|| format!("{file}: item {i} has no polygon"))?;
            let mut verts: Vec<Vertex> = data
                .iter()
                // Transposed: (x, y) -> (y, x).
                .map(|p| Vertex::new(num(&p[1]), num(&p[0]), 0.0))
                .collect();
            if verts.len() > 1 && verts[0].point() == verts[verts.len() - 1].point() {
                verts.pop();
            }
            let outer = Path {
                vertices: verts,
                closed: true,
            };
            let bb = outer.bbox();
            length_bound += demand as f64 * bb.width().hypot(bb.height());
            total_area += demand as f64 * outer.signed_area().abs();
            parts.push(PartInput {
                name: format!("{name}_{i}"),
                quantity: demand,
                outer,
                holes: vec![],
                rotations: Some(rots),
            });
        }
        let o = NestOptions {
            sheet_width: strip,
            sheet_height: length_bound,
            max_sheets: 1,
            gap: 0.001,
            kerf: 0.001,
            curve_tolerance_mm: 0.001,
            time_limit_s: limit,
            // `WJP_STEPS` bounds the search by steps instead (a run that gives the
            // same layout whatever the machine's load, to compare two searches).
            max_iterations: std::env::var("WJP_STEPS")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(u32::MAX),
            outputs: false,
            ..NestOptions::default()
        };
        // `WJP_VERBOSE=1` prints each better layout as it is found; `WJP_SEED`
        // sets the seed (default 1); `WJP_THREADS=N` runs N searches side by side
        // (the options' `threads`: seeds SEED to SEED + N - 1, the shortest
        // layout kept).
        let verbose = std::env::var("WJP_VERBOSE").is_ok_and(|v| v == "1");
        let env_num = |name: &str, default: u64| {
            std::env::var(name)
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(default)
        };
        let seed = env_num("WJP_SEED", 1);
        let threads =
            env_num("WJP_THREADS", 1).clamp(1, u64::from(wjp_cam::nest::MAX_THREADS)) as u32;
        // The time limit counts the search thread's CPU time (the machine is
        // shared: a wall-clock minute may give a search half a core);
        // `WJP_WALL=1` counts wall time instead.
        let wall_clock = std::env::var("WJP_WALL").is_ok_and(|v| v == "1");
        let started = std::time::Instant::now();
        let o = NestOptions { seed, threads, ..o };
        let mut progress = |p: &wjp_cam::NestProgress| {
            if verbose && p.improved.is_some() {
                eprintln!("{:7.2} s {}", started.elapsed().as_secs_f64(), p.message);
            }
        };
        let clock = SearchClock::new(wall_clock);
        let cpu_before = process_cpu_seconds().unwrap_or(0.0);
        let r = nest_with_clock(&parts, &o, &mut progress, &|| false, &|| clock.seconds())
            .map_err(|e| format!("{file}: {} {e}", e.code()))?;
        // With several searches the clock of this thread, which only waited,
        // says nothing: the process's CPU time per search does.
        let clock_s = if threads > 1 && !wall_clock {
            process_cpu_seconds().map_or(f64::NAN, |cpu| (cpu - cpu_before) / f64::from(threads))
        } else {
            clock.seconds()
        };
        let used = used_length(&parts, &r);
        let placed: u32 = r.positioned_objects.len() as u32;
        let items: u32 = parts.iter().map(|p| p.quantity).sum();
        let density = if used > 0.0 {
            total_area / (strip * used)
        } else {
            0.0
        };
        println!(
            "| {name} | {placed}/{items} | {strip} | {used:.2} | {:.1}% | {} | {:.1} | {clock_s:.1} |",
            100.0 * density,
            r.iterations,
            r.elapsed_s
        );
    }
    Ok(())
}
