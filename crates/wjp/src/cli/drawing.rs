//! The commands that work on a drawing, a picture or an export here and
//! now, without the queue: `analyze`, `convert`, `csv`, `nest`, `gcode`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use serde_json::Value;

use super::{non_negative, plural, positive, print_json};
use crate::domain::{suspicious_units, UnitsDoor};
use crate::shop_config::ShopConfig;

#[derive(Debug, clap::Args)]
pub struct NestArgs {
    /// Drawings, each optionally with a quantity: `bracket.dxf:4`.
    #[arg(required = true)]
    pub files: Vec<String>,
    /// Sheet size in mm, `WIDTHxHEIGHT`; or a stock list used in order,
    /// `WIDTHxHEIGHT:COUNT,...` (a size without a count may be used 10 times).
    #[arg(long)]
    pub sheet: String,
    /// Gap between parts and to the sheet edge, kerf included, in mm (0 or more).
    #[arg(long, default_value_t = 3.0, allow_negative_numbers = true, value_parser = non_negative)]
    pub gap: f64,
    /// Width of the cut, in mm (0 or more: 0 when the gap already includes it).
    #[arg(long, default_value_t = 1.1, allow_negative_numbers = true, value_parser = non_negative)]
    pub kerf: f64,
    /// Succeed (exit 0) even when some parts could not be placed.
    #[arg(long)]
    pub allow_partial: bool,
    /// Least distance from a part to the sheet's edge, in mm (default: the gap).
    #[arg(long, allow_negative_numbers = true, value_parser = non_negative)]
    pub edge_distance: Option<f64>,
    /// Never place a part inside another part's hole (by default small parts go
    /// into holes large enough for them).
    #[arg(long)]
    pub no_parts_in_holes: bool,
    /// Parts may also be placed turned over (mirrored), for material whose two
    /// faces are alike.
    #[arg(long)]
    pub allow_mirror: bool,
    /// Allowed rotations in degrees, comma-separated (negative turns clockwise).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "0,90,180,270",
        allow_hyphen_values = true
    )]
    pub rotations: Vec<f64>,
    /// Seconds to spend improving the layout (more than 0).
    #[arg(long, default_value_t = 10.0, allow_negative_numbers = true, value_parser = positive)]
    pub time_limit: f64,
    /// Searches to run side by side, one per core (1 to 16; at most the
    /// machine's cores run): the best layout of all is kept.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=i64::from(wjp_cam::nest::MAX_THREADS)))]
    pub threads: u32,
    /// Directory to write one DXF and one SVG per sheet to, and the cut list
    /// (`cut_list.csv`, `cut_list.json`).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// The drawing's units, when its header declares the wrong ones.
    #[arg(long, value_parser = wjp_geometry::units::UNIT_SYMBOLS.map(|(name, _)| name))]
    pub units: Option<String>,
    /// Print the layout as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct GcodeArgs {
    /// The DXF drawing.
    pub file: PathBuf,
    /// Material name or alias of the shop's table (`wjp config show`).
    #[arg(long, default_value = "mild_steel")]
    pub material: String,
    /// Sheet thickness, in mm (more than 0).
    #[arg(long, default_value_t = 6.0, allow_negative_numbers = true, value_parser = positive)]
    pub thickness: f64,
    /// Width of the cut, in mm (more than 0).
    #[arg(long, default_value_t = 1.1, allow_negative_numbers = true, value_parser = positive)]
    pub kerf: f64,
    /// Cut quality, 1 (rough separation) to 5 (finest).
    #[arg(long, default_value_t = 3, allow_negative_numbers = true,
          value_parser = clap::value_parser!(u8).range(1..=5))]
    pub quality: u8,
    /// `linuxcnc` or `fanuc`.
    #[arg(long, default_value = "linuxcnc")]
    pub dialect: String,
    /// File to write the program to.
    #[arg(short, long)]
    pub output: PathBuf,
    /// The drawing's units, when its header declares the wrong ones.
    #[arg(long, value_parser = wjp_geometry::units::UNIT_SYMBOLS.map(|(name, _)| name))]
    pub units: Option<String>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct ConvertArgs {
    /// The picture (PNG, JPEG, BMP).
    pub image: PathBuf,
    /// File to write the DXF to.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Longer side of the drawing, in mm (default: 1 pixel = 1 mm).
    #[arg(long, allow_negative_numbers = true, value_parser = positive)]
    pub size_mm: Option<f64>,
    /// Grey level 0-255 separating shapes from background (default: Otsu's).
    #[arg(long, allow_negative_numbers = true)]
    pub threshold: Option<u8>,
    /// Cut out the light parts instead of the dark ones.
    #[arg(long)]
    pub invert: bool,
    /// Drop specks enclosing fewer than this many pixels (0 or more).
    #[arg(long, allow_negative_numbers = true, value_parser = non_negative)]
    pub min_area: Option<f64>,
    /// Also write an SVG preview to this file.
    #[arg(long)]
    pub svg: Option<PathBuf>,
    /// Print the conversion report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct AnalyzeArgs {
    /// The DXF drawing.
    pub file: PathBuf,
    /// Material name or alias of the shop's table (mild_steel, stainless,
    /// aluminium, granite, glass, ...; `wjp config show` lists them).
    #[arg(long)]
    pub material: Option<String>,
    /// Sheet thickness, in mm (more than 0; default 6).
    #[arg(long, allow_negative_numbers = true, value_parser = positive)]
    pub thickness: Option<f64>,
    /// Cut quality, 1 (rough separation) to 5 (finest; default 3).
    #[arg(long, allow_negative_numbers = true, value_parser = clap::value_parser!(u8).range(1..=5))]
    pub quality: Option<u8>,
    /// Width of the cut, in mm (more than 0; default 1.1).
    #[arg(long, allow_negative_numbers = true, value_parser = positive)]
    pub kerf: Option<f64>,
    /// The drawing's units, when its header declares the wrong ones.
    #[arg(long, value_parser = wjp_geometry::units::UNIT_SYMBOLS.map(|(name, _)| name))]
    pub units: Option<String>,
    /// Print the whole report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Also write an SVG picture of the drawing to this file.
    #[arg(long)]
    pub svg: Option<PathBuf>,
}

pub(super) fn analyze(shop: &ShopConfig, args: AnalyzeArgs) -> anyhow::Result<ExitCode> {
    let mut options = shop.analysis_options();
    if let Some(m) = args.material {
        options.material = m;
    }
    if let Some(t) = args.thickness {
        options.thickness_mm = t;
    }
    if let Some(q) = args.quality {
        options.quality = q;
    }
    if let Some(k) = args.kerf {
        options.kerf_mm = k;
    }
    options.units_override = units_code(args.units.as_deref())?;
    let report = wjp_geometry::analyze_dxf_file(&args.file, &options, &mut |_, _| {})
        .with_context(|| format!("analysing {}", args.file.display()))?;
    if let Some(svg) = &args.svg {
        std::fs::write(svg, report.to_svg())
            .with_context(|| format!("writing {}", svg.display()))?;
    }
    if args.json {
        print_json(&report)?;
    } else if is_empty(&report) {
        print!("{}", empty_summary(&report));
    } else {
        print!("{}", report.summary_text());
    }
    Ok(ExitCode::SUCCESS)
}

/// A drawing with nothing to cut: no contour, no chain.
fn is_empty(report: &wjp_geometry::AnalysisReport) -> bool {
    let m = &report.metrics;
    m.pierce_count == 0 && m.closed_contours == 0 && m.open_chains == 0
}

/// What an empty drawing is, said plainly: its file and units, that
/// there is nothing to cut, and its warnings. No length, time or quote,
/// which would be zeros (or "-0.00") that read like a result.
fn empty_summary(report: &wjp_geometry::AnalysisReport) -> String {
    let mut out: String = report
        .summary_text()
        .lines()
        .take_while(|l| !l.starts_with("Size:"))
        .map(|l| format!("{l}\n"))
        .collect();
    out += "Empty drawing: nothing to cut (no contours, no open chains); no time or quote.\n";
    for w in &report.warnings {
        out += &format!("Warning: {} ({}): {}\n", w.code, w.count, w.message);
    }
    out
}

pub(super) fn convert(args: ConvertArgs) -> anyhow::Result<ExitCode> {
    let mut options = wjp_convert::ConvertOptions {
        size_mm: args.size_mm,
        threshold: args.threshold,
        invert: args.invert,
        ..Default::default()
    };
    if let Some(area) = args.min_area {
        options.min_area_px = area;
    }
    let bytes =
        std::fs::read(&args.image).with_context(|| format!("reading {}", args.image.display()))?;
    let conversion = wjp_convert::image_to_dxf(&bytes, &options)
        .with_context(|| format!("converting {}", args.image.display()))?;
    std::fs::write(&args.output, &conversion.dxf)
        .with_context(|| format!("writing {}", args.output.display()))?;
    if let Some(svg) = &args.svg {
        std::fs::write(svg, &conversion.svg)
            .with_context(|| format!("writing {}", svg.display()))?;
    }
    let r = &conversion.report;
    if args.json {
        print_json(r)?;
    } else {
        println!(
            "{}: {} kept of {} found ({} outer, {}), {} dropped; {:.1} x {:.1} mm; wrote {}",
            args.image.display(),
            plural(r.contours_kept as u64, "outline"),
            r.contours_found,
            r.outer_count,
            plural(r.hole_count as u64, "hole"),
            r.contours_dropped,
            r.size_mm[0],
            r.size_mm[1],
            args.output.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) fn csv(file: &PathBuf, json: bool) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let analysis = wjp_convert::analyze_components_csv(&bytes, &Default::default())
        .with_context(|| format!("analysing {}", file.display()))?;
    let value = serde_json::to_value(&analysis)?;
    if json {
        print_json(&value)?;
        return Ok(ExitCode::SUCCESS);
    }
    let stats = &value["statistics"];
    let summary = &value["summary"];
    println!(
        "{}: {} export, {}; cutting length {:.3} m, about {}; viability {}",
        file.display(),
        value["format"].as_str().unwrap_or("?"),
        plural(stats["total_objects"].as_u64().unwrap_or(0), "object"),
        summary["cutting_length_m"].as_f64().unwrap_or(0.0),
        plural(summary["pierces_estimate"].as_u64().unwrap_or(0), "pierce"),
        value["recommendations"]["viability_score"]
    );
    for w in value["recommendations"]["warnings"]
        .as_array()
        .into_iter()
        .flatten()
    {
        println!(
            "  - {}: {}",
            w["type"].as_str().unwrap_or("?"),
            w["message"].as_str().unwrap_or("")
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) fn nest(shop: &ShopConfig, args: NestArgs) -> anyhow::Result<ExitCode> {
    let stock = sheet_stock(&args.sheet)?;
    let mut analysis = shop.analysis_options();
    analysis.units_override = units_code(args.units.as_deref())?;
    let mut parts = Vec::new();
    for spec in &args.files {
        let (path, quantity) = match spec.rsplit_once(':') {
            Some((p, q)) if q.parse::<u32>().is_ok() => (p, q.parse::<u32>()?),
            _ => (spec.as_str(), 1),
        };
        let bytes = std::fs::read(path).with_context(|| format!("reading {path}"))?;
        if analysis.units_override.is_none() {
            let drawing = wjp_geometry::load_drawing(&bytes, &analysis, &mut |_, _| {})
                .with_context(|| format!("reading {path}"))?;
            if let Some(note) = drawing
                .units
                .note
                .as_deref()
                .filter(|_| drawing.units.suspicious)
            {
                bail!("{path}: {}", suspicious_units(note, UnitsDoor::CommandLine));
            }
        }
        let name = std::path::Path::new(path)
            .file_stem()
            .map_or_else(|| "part".into(), |s| s.to_string_lossy().into_owned());
        parts.extend(
            wjp_cam::PartInput::from_dxf(&name, &bytes, quantity, &analysis)
                .with_context(|| format!("reading the parts of {path}"))?,
        );
    }
    let options = wjp_cam::NestOptions {
        sheets: stock,
        gap: args.gap,
        kerf: args.kerf,
        rotations: args.rotations,
        time_limit_s: args.time_limit,
        threads: args.threads,
        edge_distance: args.edge_distance,
        allow_parts_in_holes: !args.no_parts_in_holes,
        allow_mirror: args.allow_mirror,
        ..Default::default()
    };
    // The improvements as they happen, on stderr (stdout is the answer).
    let started = std::time::Instant::now();
    let mut show = |p: &wjp_cam::NestProgress| {
        if let (Some(best), Some(_)) = (p.best, p.improved) {
            eprintln!(
                "{:7.1} s  better layout: {}",
                started.elapsed().as_secs_f64(),
                best.describe()
            );
        }
    };
    let result = wjp_cam::nest(&parts, &options, &mut show, &|| false).context("nesting")?;
    if let Some(dir) = &args.output {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for sheet in &result.sheets {
            for (ext, text) in [("dxf", &sheet.dxf), ("svg", &sheet.svg)] {
                let path = dir.join(format!("sheet{}.{ext}", sheet.sheet));
                std::fs::write(&path, text)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
        }
        let csv = crate::domain::cut_list_csv(&result).context("writing the cut list")?;
        let json = serde_json::to_vec_pretty(&result.cut_list)?;
        for (name, bytes) in [("cut_list.csv", csv), ("cut_list.json", json)] {
            let path = dir.join(name);
            std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
        }
    }
    if args.json {
        let mut value = serde_json::to_value(&result)?;
        value["svg"] = Value::Null;
        for sheet in value["sheets"].as_array_mut().into_iter().flatten() {
            sheet["dxf"] = Value::Null;
            sheet["svg"] = Value::Null;
        }
        print_json(&value)?;
    } else {
        println!(
            "{} placed on {}, utilisation {:.1}%, {} did not fit",
            plural(result.positioned_objects.len() as u64, "part"),
            plural(result.sheets_required as u64, "sheet"),
            result.final_utilization,
            result.failed_objects.len()
        );
        for u in &result.unplaced {
            println!(
                "  - {} ({:.1} x {:.1} mm), {}: {}",
                u.part,
                u.width,
                u.height,
                copies(u.copies),
                u.reason
            );
        }
        if let Some(r) = &result.remnant {
            println!(
                "  offcut of sheet {}: {:.1} x {:.1} mm at y = {:.1} mm",
                r.sheet, r.width, r.height, r.y
            );
        }
        print_warnings(&result.warnings);
    }
    if !result.all_placed && !args.allow_partial {
        let unplaced: usize = result.unplaced.iter().map(|u| u.copies).sum();
        eprintln!(
            "error: {} of the parts not placed (give --allow-partial to accept a partial layout)",
            copies(unplaced)
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) fn gcode(shop: &ShopConfig, args: GcodeArgs) -> anyhow::Result<ExitCode> {
    let bytes =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let options = wjp_cam::GcodeOptions {
        material: args.material,
        thickness_mm: args.thickness,
        kerf_mm: args.kerf,
        quality: args.quality,
        dialect: args.dialect,
        analysis: wjp_geometry::AnalysisOptions {
            units_override: units_code(args.units.as_deref())?,
            ..shop.analysis_options()
        },
        ..Default::default()
    };
    let program = wjp_cam::generate_gcode(&bytes, &options)
        .with_context(|| format!("writing the G-code of {}", args.file.display()))?;
    if options.analysis.units_override.is_none() {
        if let Some(w) = program
            .warnings
            .iter()
            .find(|w| w.code == "units_suspicious")
        {
            bail!(
                "{}: {}",
                args.file.display(),
                suspicious_units(&w.message, UnitsDoor::CommandLine)
            );
        }
    }
    std::fs::write(&args.output, &program.program)
        .with_context(|| format!("writing {}", args.output.display()))?;
    if args.json {
        print_json(
            &serde_json::json!({ "summary": program.summary, "warnings": program.warnings }),
        )?;
    } else {
        let s = serde_json::to_value(&program.summary)?;
        println!(
            "{}: {}, cut {:.1} mm, rapid {:.1} mm, about {:.2} min; wrote {}",
            args.file.display(),
            plural(s["pierces"].as_u64().unwrap_or(0), "pierce"),
            s["cut_length_mm"].as_f64().unwrap_or(0.0),
            s["rapid_length_mm"].as_f64().unwrap_or(0.0),
            s["estimated_time_min"].as_f64().unwrap_or(0.0),
            args.output.display()
        );
        print_warnings(&program.warnings);
    }
    Ok(ExitCode::SUCCESS)
}

/// The `$INSUNITS` code of `--units` (clap has checked the name).
fn units_code(units: Option<&str>) -> anyhow::Result<Option<i64>> {
    Ok(crate::domain::units_field(units, "--units")?)
}

/// Text mode shows what JSON mode lists under `warnings`.
/// `--sheet`: one size, `WIDTHxHEIGHT`, or a stock list `WxH:COUNT,WxH:COUNT`.
fn sheet_stock(text: &str) -> anyhow::Result<Vec<wjp_cam::SheetSpec>> {
    let mut stock = Vec::new();
    for item in text.split(',') {
        let (size, count) = match item.rsplit_once(':') {
            Some((size, count)) => {
                let count = count.trim().parse::<u32>().ok().filter(|&n| n >= 1);
                let count = count.with_context(|| {
                    format!(
                        "--sheet {item:?}: the count after ':' must be a whole number, 1 or more"
                    )
                })?;
                (size, count)
            }
            None => (item, 10),
        };
        let (width, height) = size
            .split_once(['x', 'X'])
            .and_then(|(w, h)| Some((w.trim().parse::<f64>().ok()?, h.trim().parse::<f64>().ok()?)))
            .with_context(|| {
                format!("--sheet {text:?} is not WIDTHxHEIGHT in mm (or WxH:COUNT,...)")
            })?;
        stock.push(wjp_cam::SheetSpec {
            width,
            height,
            quantity: count,
        });
    }
    Ok(stock)
}

/// `1 copy`, `3 copies`.
fn copies(n: usize) -> String {
    if n == 1 {
        "1 copy".into()
    } else {
        format!("{n} copies")
    }
}

fn print_warnings(warnings: &[wjp_geometry::Warning]) {
    for w in warnings {
        println!("  warning {}: {}", w.code, w.message);
    }
}
