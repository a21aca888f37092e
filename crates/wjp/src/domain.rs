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
