//! Handlers of the waterjet job kinds: each parses its payload, calls one
//! function of `wjp-geometry`, and shapes the result.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{json, Value};
use wjp_convert::{ConvertOptions, CsvOptions};
use wjp_geometry::{AnalysisError, AnalysisOptions, CostRequest};
use wjp_queue::{HandlerError, JobContext};

/// Where handlers write the files they produce (previews, converted
/// drawings): the service's managed `output` folder.
#[derive(Debug, Clone)]
pub struct Artifacts {
    pub output_dir: PathBuf,
}

impl Artifacts {
    /// Writes `bytes` as `output/<folder>/<job id>.<ext>` and returns that
    /// path relative to the data directory, as the API serves it.
    fn store(
        &self,
        ctx: &JobContext,
        folder: &str,
        ext: &str,
        bytes: &[u8],
    ) -> Result<String, HandlerError> {
        let dir = self.output_dir.join(folder);
        std::fs::create_dir_all(&dir)
            .map_err(|e| HandlerError::Failed(format!("cannot create {}: {e}", dir.display())))?;
        let name = format!("{}.{ext}", ctx.job().id);
        let path = dir.join(&name);
        std::fs::write(&path, bytes)
            .map_err(|e| HandlerError::Failed(format!("cannot write {}: {e}", path.display())))?;
        Ok(format!("output/{folder}/{name}"))
    }
}

/// The payload of `analyze_dxf`: the file, and any analysis option by its
/// name (the old API's `thickness` and `kerf` included).
#[derive(Deserialize)]
struct AnalyzeDxf {
    dxf_path: PathBuf,
    #[serde(flatten)]
    options: AnalysisOptions,
}

/// The payload of `calculate_cost`: the file and the old `/cost` fields.
#[derive(Deserialize)]
struct CalculateCost {
    dxf_path: PathBuf,
    #[serde(flatten)]
    request: CostRequest,
}

/// A drawing that cannot be analysed fails its job with the analysis
/// error's stable code and message; another attempt would fail the same way.
fn analysis_failed(path: &Path, e: AnalysisError) -> HandlerError {
    HandlerError::InvalidPayload(format!("{} ({}): {e}", path.display(), e.code()))
}

pub fn analyze_dxf(ctx: &JobContext, artifacts: &Artifacts) -> Result<Value, HandlerError> {
    let args: AnalyzeDxf = ctx.parse_payload()?;
    let report = wjp_geometry::analyze_dxf_file(&args.dxf_path, &args.options, &mut |p, m| {
        ctx.progress(p * 0.95, m)
    })
    .map_err(|e| analysis_failed(&args.dxf_path, e))?;
    ctx.check_cancelled()?;
    let preview = artifacts.store(ctx, "previews", "svg", report.to_svg().as_bytes())?;
    let mut result = serde_json::to_value(&report)
        .map_err(|e| HandlerError::Failed(format!("cannot encode the report: {e}")))?;
    result["artifacts"] = json!({ "preview_svg": preview });
    // The exports read the drawing again from here.
    result["dxf_path"] = json!(args.dxf_path);
    Ok(result)
}

pub fn calculate_cost(ctx: &JobContext) -> Result<Value, HandlerError> {
    let args: CalculateCost = ctx.parse_payload()?;
    let summary = wjp_geometry::calculate_cost_file(
        &args.dxf_path,
        &args.request,
        &AnalysisOptions::default(),
        &mut |p, m| ctx.progress(p, m),
    )
    .map_err(|e| analysis_failed(&args.dxf_path, e))?;
    serde_json::to_value(&summary)
        .map_err(|e| HandlerError::Failed(format!("cannot encode the cost: {e}")))
}

/// Reads a whole input file, refusing one larger than `limit` before
/// reading it.
fn read_input(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>, HandlerError> {
    let cannot = |e: std::io::Error| {
        HandlerError::InvalidPayload(format!("cannot read {what} {}: {e}", path.display()))
    };
    let size = std::fs::metadata(path).map_err(cannot)?.len();
    if size > limit {
        return Err(HandlerError::InvalidPayload(format!(
            "{what} {} is {size} bytes; the limit is {limit}",
            path.display()
        )));
    }
    std::fs::read(path).map_err(cannot)
}

/// The payload of `convert_image`: the picture, where to write the DXF
/// (default: an artefact of the job), and any conversion option by name
/// (the old API's `min_area` and `threshold` included).
#[derive(Deserialize)]
struct ConvertImage {
    image_path: PathBuf,
    #[serde(default)]
    output_path: Option<PathBuf>,
    #[serde(flatten)]
    options: ConvertOptions,
}

pub fn convert_image(ctx: &JobContext, artifacts: &Artifacts) -> Result<Value, HandlerError> {
    let args: ConvertImage = ctx.parse_payload()?;
    ctx.progress(0.05, "reading the image");
    let bytes = read_input(
        &args.image_path,
        args.options.max_input_bytes as u64,
        "image",
    )?;
    ctx.progress(0.1, "tracing");
    let conversion = wjp_convert::image_to_dxf(&bytes, &args.options).map_err(|e| {
        HandlerError::InvalidPayload(format!("{} ({}): {e}", args.image_path.display(), e.code()))
    })?;
    ctx.check_cancelled()?;
    ctx.progress(0.9, "writing the drawing");
    let dxf = artifacts.store(ctx, "conversions", "dxf", conversion.dxf.as_bytes())?;
    let svg = artifacts.store(ctx, "conversions", "svg", conversion.svg.as_bytes())?;
    if let Some(out) = &args.output_path {
        std::fs::write(out, conversion.dxf.as_bytes())
            .map_err(|e| HandlerError::Failed(format!("cannot write {}: {e}", out.display())))?;
    }
    Ok(json!({
        "report": conversion.report,
        "output_path": args.output_path,
        "artifacts": { "dxf": dxf, "preview_svg": svg },
    }))
}

/// The payload of `analyze_csv`: the export and any option by name. The old
/// API's `report` (an analysis to relate the CSV to) is accepted and not
/// used: the CSV analysis stands on its own.
#[derive(Deserialize)]
struct AnalyzeCsv {
    csv_path: PathBuf,
    #[serde(default, rename = "report")]
    _report: Option<Value>,
    #[serde(flatten)]
    options: CsvOptions,
}

pub fn analyze_csv(ctx: &JobContext) -> Result<Value, HandlerError> {
    let args: AnalyzeCsv = ctx.parse_payload()?;
    let bytes = read_input(&args.csv_path, args.options.max_bytes as u64, "CSV file")?;
    ctx.progress(0.2, "analysing");
    let analysis = wjp_convert::analyze_components_csv(&bytes, &args.options).map_err(|e| {
        HandlerError::InvalidPayload(format!("{} ({}): {e}", args.csv_path.display(), e.code()))
    })?;
    serde_json::to_value(&analysis)
        .map_err(|e| HandlerError::Failed(format!("cannot encode the analysis: {e}")))
}

/// The payload of the export kinds: an analysis report (the `result` of an
/// `analyze_dxf` job) and where to write the file (default: an artefact).
#[derive(Deserialize)]
struct Export {
    report: Value,
    #[serde(default)]
    output_path: Option<PathBuf>,
}

impl Export {
    /// Writes the exported file where asked, and as an artefact of the job.
    fn write(
        &self,
        ctx: &JobContext,
        artifacts: &Artifacts,
        ext: &str,
        bytes: &[u8],
    ) -> Result<Value, HandlerError> {
        let artefact = artifacts.store(ctx, "exports", ext, bytes)?;
        if let Some(out) = &self.output_path {
            std::fs::write(out, bytes).map_err(|e| {
                HandlerError::Failed(format!("cannot write {}: {e}", out.display()))
            })?;
        }
        Ok(json!({
            "output_path": self.output_path,
            "bytes": bytes.len(),
            "artifacts": { ext: artefact },
        }))
    }
}

/// The report's contours, refusing a report that has none.
fn report_contours(report: &Value) -> Result<&Vec<Value>, HandlerError> {
    report["contours"].as_array().ok_or_else(|| {
        HandlerError::InvalidPayload(
            "report has no `contours` list: send the result of an analyze_dxf job".into(),
        )
    })
}

/// `export_components_csv`: one row per contour in the component export
/// format the CSV analysis reads (`ID, Layer, Group, Area_mm2, Perimeter_mm,
/// Selected`; Group is the part, Selected marks closed contours).
pub fn export_components_csv(
    ctx: &JobContext,
    artifacts: &Artifacts,
) -> Result<Value, HandlerError> {
    let args: Export = ctx.parse_payload()?;
    let contours = report_contours(&args.report)?;
    let mut out = csv::Writer::from_writer(Vec::new());
    let failed = |e: csv::Error| HandlerError::Failed(format!("cannot write CSV: {e}"));
    out.write_record([
        "ID",
        "Layer",
        "Group",
        "Area_mm2",
        "Perimeter_mm",
        "Selected",
    ])
    .map_err(failed)?;
    for (i, c) in contours.iter().enumerate() {
        let number = |key: &str| {
            c[key].as_f64().ok_or_else(|| {
                HandlerError::InvalidPayload(format!("contour {i} has no number `{key}`"))
            })
        };
        out.write_record([
            c["id"].as_u64().unwrap_or(i as u64).to_string(),
            c["layer"].as_str().unwrap_or("0").to_owned(),
            c["part"]
                .as_u64()
                .map(|p| p.to_string())
                .unwrap_or_default(),
            format!("{:.3}", number("area_mm2")?.abs()),
            format!("{:.3}", number("length_mm")?),
            c["closed"].as_bool().unwrap_or(false).to_string(),
        ])
        .map_err(failed)?;
    }
    let bytes = out
        .into_inner()
        .map_err(|e| HandlerError::Failed(format!("cannot write CSV: {e}")))?;
    args.write(ctx, artifacts, "csv", &bytes)
}

/// `export_layered_dxf`: the analysed drawing again, every contour on a
/// layer by its role (OUTER boundaries, INNER holes, OPEN chains), arcs as
/// arcs. The report must name its drawing (`dxf_path`, as wjp's analysis
/// results do), which is read again for the geometry.
pub fn export_layered_dxf(ctx: &JobContext, artifacts: &Artifacts) -> Result<Value, HandlerError> {
    use wjp_convert::image::dxf::{write_dxf, Entity, Layer};
    use wjp_geometry::ContourRole;

    let args: Export = ctx.parse_payload()?;
    let path = args.report["dxf_path"].as_str().ok_or_else(|| {
        HandlerError::InvalidPayload(
            "report names no `dxf_path`: send the result of a wjp analyze_dxf job".into(),
        )
    })?;
    let path = PathBuf::from(path);
    let options: AnalysisOptions =
        serde_json::from_value(args.report["options"].clone()).unwrap_or_default();
    let bytes = read_input(&path, options.limits.max_file_bytes as u64, "drawing")?;
    let drawing =
        wjp_geometry::load_drawing(&bytes, &options, &mut |p, m| ctx.progress(p * 0.8, m))
            .map_err(|e| analysis_failed(&path, e))?;
    let vertices: Vec<Vec<wjp_convert::Vertex>> = drawing
        .contours()
        .iter()
        .map(|c| {
            c.vertices()
                .iter()
                .map(|v| wjp_convert::Vertex {
                    x: v.x,
                    y: v.y,
                    bulge: v.bulge,
                })
                .collect()
        })
        .collect();
    let entities: Vec<Entity<'_>> = drawing
        .contours()
        .iter()
        .zip(&vertices)
        .map(|(c, vs)| Entity {
            layer: match c.role {
                ContourRole::Outer => "OUTER",
                ContourRole::Hole => "INNER",
                ContourRole::Open => "OPEN",
            },
            vertices: vs,
            closed: c.closed,
        })
        .collect();
    let extents = drawing.bbox_mm.unwrap_or([0.0; 4]);
    let layers = [
        Layer {
            name: "OUTER",
            color: 5,
        },
        Layer {
            name: "INNER",
            color: 1,
        },
        Layer {
            name: "OPEN",
            color: 2,
        },
    ];
    let text = write_dxf(
        "wjp: analysed contours by role, units mm",
        &layers,
        &entities,
        extents,
    );
    args.write(ctx, artifacts, "dxf", text.as_bytes())
}
