//! Handlers of the waterjet job kinds: each parses its payload, calls one
//! function of `wjp-geometry`, and shapes the result.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{json, Value};
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
