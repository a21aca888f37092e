//! `cargo run --release -p wjp-cam --example nest -- WxH TIME_S OUT_DIR FILE[:QTY]...`:
//! nest DXF parts, print the result's figures, write one DXF and SVG per sheet.
//! `WJP_GAP`, `WJP_KERF` (mm) and `WJP_UNITS` override defaults; `WJP_VERBOSE=1`
//! prints progress with timestamps (each better layout as it is found).
use wjp_cam::{nest, NestOptions, PartInput};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        eprintln!("usage: nest WxH TIME_S OUT_DIR FILE[:QTY]...");
        std::process::exit(2);
    }
    let bad = |what: &str, text: &str| format!("{what} must be a number, got {text:?}");
    let (w, h) = args[1]
        .split_once('x')
        .ok_or_else(|| format!("the sheet must be WxH, got {:?}", args[1]))?;
    let mut o = NestOptions {
        sheet_width: w.parse().map_err(|_| bad("the sheet width", w))?,
        sheet_height: h.parse().map_err(|_| bad("the sheet height", h))?,
        time_limit_s: args[2]
            .parse()
            .map_err(|_| bad("the time limit", &args[2]))?,
        max_iterations: u32::MAX,
        ..NestOptions::default()
    };
    o.max_sheets = 20;
    // `WJP_GAP` and `WJP_KERF` override the defaults (3 and 1.1 mm).
    for (var, field) in [("WJP_GAP", &mut o.gap), ("WJP_KERF", &mut o.kerf)] {
        if let Ok(text) = std::env::var(var) {
            *field = text.parse().map_err(|_| bad(var, &text))?;
        }
    }
    let out = std::path::Path::new(&args[3]);
    std::fs::create_dir_all(out).map_err(|e| format!("creating {}: {e}", out.display()))?;
    let mut parts = Vec::new();
    for spec in &args[4..] {
        let (file, qty) = match spec.rsplit_once(':') {
            Some((f, q)) if q.parse::<u32>().is_ok() => (f, q.parse().unwrap_or(1)),
            _ => (spec.as_str(), 1),
        };
        let bytes = std::fs::read(file).map_err(|e| format!("reading {file}: {e}"))?;
        let name = std::path::Path::new(file)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("part");
        let analysis = wjp_geometry::AnalysisOptions {
            units_override: std::env::var("WJP_UNITS").ok().and_then(|u| u.parse().ok()),
            ..Default::default()
        };
        match PartInput::from_dxf(name, &bytes, qty, &analysis) {
            Ok(p) => parts.extend(p),
            Err(e) => eprintln!("{file}: {} {e}", e.code()),
        }
    }
    let t = std::time::Instant::now();
    let verbose = std::env::var("WJP_VERBOSE").is_ok();
    let mut report = |p: &wjp_cam::NestProgress| {
        if verbose {
            eprintln!(
                "{:7.3}s {:5.1}% {}",
                t.elapsed().as_secs_f64(),
                100.0 * p.fraction,
                p.message
            );
        }
    };
    let r = match nest(&parts, &o, &mut report, &|| false) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error {}: {e}", e.code());
            std::process::exit(1);
        }
    };
    println!(
        "{} parts placed, {} failed, {} sheets, utilisation {:.1}%, {} passes, first+search {:.2}s, stopped by {}",
        r.positioned_objects.len(),
        r.failed_objects.len(),
        r.sheets_required,
        r.final_utilization,
        r.iterations,
        t.elapsed().as_secs_f64(),
        r.stopped_by
    );
    for f in r.failed_objects.iter().take(5) {
        println!("failed {} #{}: {}", f.part, f.copy, f.reason);
    }
    for s in &r.sheets {
        for (ext, text) in [("dxf", &s.dxf), ("svg", &s.svg)] {
            let path = out.join(format!("sheet{}.{ext}", s.sheet));
            std::fs::write(&path, text).map_err(|e| format!("writing {}: {e}", path.display()))?;
        }
        println!(
            "sheet {}: {} parts, {:.1}%, used height {:.1} mm",
            s.sheet, s.parts, s.utilization, s.used_height
        );
    }
    Ok(())
}
