//! Handlers of the waterjet job kinds: each parses its payload, calls one
//! domain function, and shapes the result. They run in a child process of
//! their own ([`crate::child`]); their payloads were checked by
//! [`crate::kinds::admit`] (inputs named by keys of the artefact store; no
//! reserved field). The protective limits they apply are the server's
//! ([`ServerLimits`]), never the request's.
//!
//! Handlers work on local files: the job's process copies its inputs from
//! the store into a private directory first ([`Shop::fetch_inputs`]), and
//! every file a handler writes goes to the store at once ([`Shop::store`]),
//! so the domain code never knows where the store is.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
// One rule for every CSV the service writes: the history export's.
use wjp_api::history::inert_cell;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use wjp_cam::{GcodeOptions, NestOptions, PartInput};
use wjp_convert::{ConvertOptions, CsvOptions};
use wjp_geometry::{AnalysisError, AnalysisOptions, CostRequest, Limits, Warning};
use wjp_queue::HandlerError;
use wjp_store::{Key, Store, StoreError, Stored};

use crate::shop_config::ShopConfig;

mod checks;
pub use checks::*;

/// What a handler sees of its job.
pub struct Task<'a> {
    pub id: &'a str,
    pub payload: &'a Value,
    /// Reports the fraction done, a message for people and, when there
    /// are any, figures for programs (a JSON object).
    pub progress: &'a dyn Fn(f64, &str, Option<&Value>),
    /// Whether the job's parent asked it to stop with its best answer so
    /// far (a cancelled nest).
    pub should_stop: &'a dyn Fn() -> bool,
    /// The remnants the parent took for a nest, to use before its sheets.
    pub remnants: &'a [RemnantSheet],
    /// When the job's timeout ends it (`None`: no timeout): a nest's search
    /// stops early enough to write its layout before then.
    pub deadline: Option<std::time::Instant>,
    /// Cores the job may use: a nest runs at most this many searches side
    /// by side, whatever its payload asks.
    pub job_threads: u32,
}

/// A remnant of the inventory as a nest uses it: a sheet of its own.
#[derive(Debug, Clone, PartialEq, serde::Serialize, Deserialize)]
pub struct RemnantSheet {
    pub id: String,
    pub width: f64,
    pub height: f64,
}

impl Task<'_> {
    /// The payload as a typed value; an error names what does not fit.
    fn parse<T: DeserializeOwned>(&self) -> Result<T, HandlerError> {
        T::deserialize(self.payload).map_err(|e| HandlerError::InvalidPayload(e.to_string()))
    }

    fn progress(&self, fraction: f64, message: &str) {
        (self.progress)(fraction, message, None)
    }
}

/// The protective limits of the domain functions. They are the server's:
/// every handler overwrites whatever its options say with these.
#[derive(Debug, Clone, Default)]
pub struct ServerLimits {
    pub drawing: Limits,
    pub image: ConvertOptions,
    pub csv: CsvOptions,
}

impl ServerLimits {
    fn apply_to_image(&self, options: &mut ConvertOptions) {
        options.max_pixels = self.image.max_pixels;
        options.max_input_bytes = self.image.max_input_bytes;
        options.work_budget = self.image.work_budget;
        options.max_outline_points = self.image.max_outline_points;
    }

    fn apply_to_csv(&self, options: &mut CsvOptions) {
        options.max_bytes = self.csv.max_bytes;
        options.max_rows = self.csv.max_rows;
        options.max_columns = self.csv.max_columns;
        options.max_field_bytes = self.csv.max_field_bytes;
    }
}

impl ServerLimits {
    /// The largest input any kind may read: inputs past it are refused
    /// before a byte is copied out of the store.
    pub fn max_input_bytes(&self) -> u64 {
        let largest = self
            .drawing
            .max_file_bytes
            .max(self.image.max_input_bytes)
            .max(self.csv.max_bytes);
        u64::try_from(largest).unwrap_or(u64::MAX)
    }
}

/// Where handlers read and write, the limits they apply, and the shop's
/// figures they price with.
pub struct Shop {
    pub store: Store,
    pub limits: ServerLimits,
    pub figures: ShopConfig,
    /// The local copies of the job's inputs, by key.
    inputs: HashMap<String, PathBuf>,
    /// What this job stored, as its result lists it.
    stored: Mutex<Vec<Stored>>,
    /// Runs the store's requests: handlers are synchronous.
    runtime: tokio::runtime::Runtime,
}

impl Shop {
    /// Analysis options of the shop's figures with the server's limits.
    fn analysis(&self) -> AnalysisOptions {
        AnalysisOptions {
            limits: self.limits.drawing.clone(),
            ..self.figures.analysis_options()
        }
    }

    /// The shop's figures into options parsed from this task's payload
    /// (at `at`, `""` for the top), but for what the payload names itself.
    fn fill(
        &self,
        options: &mut AnalysisOptions,
        task: &Task,
        at: &str,
    ) -> Result<(), HandlerError> {
        let given = if at.is_empty() {
            task.payload
        } else {
            &task.payload[at]
        };
        self.figures
            .fill(options, given)
            .map_err(HandlerError::InvalidPayload)
    }

    pub fn open(store: Store, figures: ShopConfig) -> Result<Shop, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the job's I/O runtime: {e}"))?;
        Ok(Shop {
            store,
            limits: ServerLimits::default(),
            figures,
            inputs: HashMap::new(),
            stored: Mutex::new(Vec::new()),
            runtime,
        })
    }

    /// Copies the inputs (`(field, key)` pairs) from the store into `dir`,
    /// streamed, each refused past the server's input limit before it is
    /// read. A key not in the store fails the job for good
    /// (`missing_input`, naming the field and the key); a store that does
    /// not answer fails this attempt only, so the job is tried again.
    pub fn fetch_inputs(
        &mut self,
        keys: &[(String, String)],
        dir: &Path,
    ) -> Result<(), HandlerError> {
        let limit = self.limits.max_input_bytes();
        for (field, text) in keys {
            if self.inputs.contains_key(text) {
                continue;
            }
            let key = Key::from_client(field, text, None)
                .map_err(|e| HandlerError::InvalidPayload(e.to_string()))?;
            let local = key.under(dir);
            self.runtime
                .block_on(self.store.fetch_to(&key, &local, limit))
                .map_err(|e| match e {
                    StoreError::NotFound { key } => HandlerError::MissingInput(format!(
                        "{field} names {key}, which is not in the artefact \
                         store ({}); upload it first (POST /upload)",
                        self.store.describe()
                    )),
                    e if e.is_retryable() => HandlerError::Failed(format!("{}: {e}", e.code())),
                    e => HandlerError::InvalidPayload(format!("{field}: {e}")),
                })?;
            self.inputs.insert(text.clone(), local);
        }
        Ok(())
    }

    /// The local copy of the input named `key` in the payload.
    fn local(&self, key: &Path) -> Result<&Path, HandlerError> {
        self.inputs
            .get(key.to_string_lossy().as_ref())
            .map(PathBuf::as_path)
            .ok_or_else(|| {
                HandlerError::Failed(format!(
                    "{} was not fetched from the store before the job ran",
                    key.display()
                ))
            })
    }

    /// Writes `bytes` as `output/<folder>/<job id>.<ext>` in the store and
    /// returns that key, as results name artefacts and the API serves them.
    fn store(
        &self,
        task: &Task,
        folder: &str,
        ext: &str,
        bytes: &[u8],
    ) -> Result<String, HandlerError> {
        let name = format!("{}.{ext}", task.id);
        let key = Key::service("output", &format!("{folder}/{name}"))
            .map_err(|e| HandlerError::InvalidPayload(format!("artefact name: {e}")))?;
        let stored = self
            .runtime
            .block_on(self.store.put(&key, bytes.to_vec()))
            .map_err(|e| HandlerError::Failed(format!("{}: cannot store {key}: {e}", e.code())))?;
        self.stored
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(stored);
        Ok(key.to_string())
    }

    /// Every file this job stored: key, size, SHA-256 and where the API
    /// serves it.
    pub fn stored_files(&self) -> Value {
        let stored = self.stored.lock().unwrap_or_else(|p| p.into_inner());
        Value::Array(
            stored
                .iter()
                .map(|s| {
                    json!({
                        "key": s.key.as_str(),
                        "size": s.size,
                        "sha256": s.sha256,
                        "url": format!("/files/{}", s.key),
                    })
                })
                .collect(),
        )
    }
}

/// The payload of `analyze_dxf`: the file, and any analysis option by its
/// name (the old API's `thickness` and `kerf` included).
#[derive(Deserialize)]
struct AnalyzeDxf {
    dxf_path: PathBuf,
    /// The drawing's units, when its header is wrong (`mm`, `cm`, `m`, `in`, `ft`).
    #[serde(default)]
    units: Option<String>,
    /// The old API's rescale to a frame: accepted when off, refused when on
    /// (a drawing is never rescaled silently; `units` is the way to fix one).
    #[serde(default)]
    normalize: Option<bool>,
    #[serde(default, rename = "target_frame_w")]
    _target_frame_w: Option<f64>,
    #[serde(default, rename = "target_frame_h")]
    _target_frame_h: Option<f64>,
    #[serde(flatten)]
    options: AnalysisOptions,
}

/// The payload of `calculate_cost`: the file and the old `/cost` fields.
#[derive(Deserialize)]
struct CalculateCost {
    dxf_path: PathBuf,
    #[serde(default)]
    units: Option<String>,
    #[serde(flatten)]
    request: CostRequest,
}

/// A drawing that cannot be analysed fails its job with the analysis
/// error's stable code and message; another attempt would fail the same way.
fn analysis_failed(path: &Path, e: AnalysisError) -> HandlerError {
    HandlerError::InvalidPayload(format!("{} ({}): {e}", path.display(), e.code()))
}

pub fn analyze_dxf(task: &Task, shop: &Shop) -> Result<Value, HandlerError> {
    let mut args: AnalyzeDxf = task.parse()?;
    shop.fill(&mut args.options, task, "")?;
    args.options.limits = shop.limits.drawing.clone();
    if let Some(code) = units_field(args.units.as_deref(), "units").map_err(refused)? {
        args.options.units_override = Some(code);
    }
    let local = shop.local(&args.dxf_path)?;
    let report = wjp_geometry::analyze_dxf_file(local, &args.options, &mut |p, m| {
        task.progress(p * 0.95, m)
    })
    .map_err(|e| analysis_failed(&args.dxf_path, e))?;
    let preview = shop.store(task, "previews", "svg", report.to_svg().as_bytes())?;
    let mut result = serde_json::to_value(&report)
        .map_err(|e| HandlerError::Failed(format!("cannot encode the report: {e}")))?;
    result["artifacts"] = json!({ "preview_svg": preview });
    // The exports read the drawing again from here.
    result["dxf_path"] = json!(args.dxf_path);
    Ok(result)
}

pub fn calculate_cost(task: &Task, shop: &Shop) -> Result<Value, HandlerError> {
    let args: CalculateCost = task.parse()?;
    let mut analysis = shop.analysis();
    analysis.units_override = units_field(args.units.as_deref(), "units").map_err(refused)?;
    let local = shop.local(&args.dxf_path)?;
    let summary =
        wjp_geometry::calculate_cost_file(local, &args.request, &analysis, &mut |p, m| {
            task.progress(p, m)
        })
        .map_err(|e| analysis_failed(&args.dxf_path, e))?;
    serde_json::to_value(&summary)
        .map_err(|e| HandlerError::Failed(format!("cannot encode the cost: {e}")))
}

/// Reads a whole input file (named by its key, read from its local copy),
/// refusing one larger than `limit` before reading it.
fn read_input(shop: &Shop, key: &Path, limit: u64, what: &str) -> Result<Vec<u8>, HandlerError> {
    let path = shop.local(key)?;
    let cannot = |e: std::io::Error| {
        HandlerError::InvalidPayload(format!("cannot read {what} {}: {e}", key.display()))
    };
    let size = std::fs::metadata(path).map_err(cannot)?.len();
    if size > limit {
        return Err(HandlerError::InvalidPayload(format!(
            "{what} {} is {size} bytes; the limit is {limit}",
            key.display()
        )));
    }
    std::fs::read(path).map_err(cannot)
}

/// The payload of `convert_image`: the picture and any conversion option
/// by name (the old API's `min_area` and `threshold` included).
#[derive(Deserialize)]
struct ConvertImage {
    image_path: PathBuf,
    #[serde(flatten)]
    options: ConvertOptions,
}

pub fn convert_image(task: &Task, shop: &Shop) -> Result<Value, HandlerError> {
    let mut args: ConvertImage = task.parse()?;
    shop.limits.apply_to_image(&mut args.options);
    task.progress(0.05, "reading the image");
    let bytes = read_input(
        shop,
        &args.image_path,
        args.options.max_input_bytes as u64,
        "image",
    )?;
    task.progress(0.1, "tracing");
    let conversion = wjp_convert::image_to_dxf(&bytes, &args.options).map_err(|e| {
        HandlerError::InvalidPayload(format!("{} ({}): {e}", args.image_path.display(), e.code()))
    })?;
    task.progress(0.9, "writing the drawing");
    let dxf = shop.store(task, "conversions", "dxf", conversion.dxf.as_bytes())?;
    let svg = shop.store(task, "conversions", "svg", conversion.svg.as_bytes())?;
    Ok(json!({
        "report": conversion.report,
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

pub fn analyze_csv(task: &Task, shop: &Shop) -> Result<Value, HandlerError> {
    let mut args: AnalyzeCsv = task.parse()?;
    shop.limits.apply_to_csv(&mut args.options);
    let bytes = read_input(
        shop,
        &args.csv_path,
        args.options.max_bytes as u64,
        "CSV file",
    )?;
    task.progress(0.2, "analysing");
    let analysis = wjp_convert::analyze_components_csv(&bytes, &args.options).map_err(|e| {
        HandlerError::InvalidPayload(format!("{} ({}): {e}", args.csv_path.display(), e.code()))
    })?;
    serde_json::to_value(&analysis)
        .map_err(|e| HandlerError::Failed(format!("cannot encode the analysis: {e}")))
}

/// The payload of the export kinds: an analysis report (the `result` of an
/// `analyze_dxf` job).
#[derive(Deserialize)]
struct Export {
    report: Value,
}

/// Writes an exported file as an artefact of the job.
fn exported(task: &Task, shop: &Shop, ext: &str, bytes: &[u8]) -> Result<Value, HandlerError> {
    let artefact = shop.store(task, "exports", ext, bytes)?;
    Ok(json!({
        "bytes": bytes.len(),
        "artifacts": { ext: artefact },
    }))
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
pub fn export_components_csv(task: &Task, shop: &Shop) -> Result<Value, HandlerError> {
    let args: Export = task.parse()?;
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
            inert_cell(c["layer"].as_str().unwrap_or("0")),
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
    exported(task, shop, "csv", &bytes)
}

/// `export_layered_dxf`: the analysed drawing again, every contour on a
/// layer by its role (OUTER boundaries, INNER holes, OPEN chains), arcs as
/// arcs. The report must name its drawing (`dxf_path`, as wjp's analysis
/// results do), which is read again for the geometry.
pub fn export_layered_dxf(task: &Task, shop: &Shop) -> Result<Value, HandlerError> {
    use wjp_geometry::dxf::{write_dxf, Layer, Polyline};
    use wjp_geometry::ContourRole;

    let args: Export = task.parse()?;
    let path = args.report["dxf_path"].as_str().ok_or_else(|| {
        HandlerError::InvalidPayload(
            "report names no `dxf_path`: send the result of a wjp analyze_dxf job".into(),
        )
    })?;
    let path = PathBuf::from(path);
    let mut options: AnalysisOptions =
        serde_json::from_value(args.report["options"].clone()).unwrap_or_default();
    options.limits = shop.limits.drawing.clone();
    let bytes = read_input(shop, &path, options.limits.max_file_bytes as u64, "drawing")?;
    let drawing =
        wjp_geometry::load_drawing(&bytes, &options, &mut |p, m| task.progress(p * 0.8, m))
            .map_err(|e| analysis_failed(&path, e))?;
    let entities: Vec<Polyline<'_>> = drawing
        .contours()
        .iter()
        .map(|c| Polyline {
            layer: match c.role {
                ContourRole::Outer => "OUTER",
                ContourRole::Hole => "INNER",
                ContourRole::Open => "OPEN",
            },
            vertices: c.vertices(),
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
    exported(task, shop, "dxf", text.as_bytes())
}

/// One drawing to nest and how many copies of each of its parts.
#[derive(Deserialize)]
struct NestFile {
    dxf_path: PathBuf,
    #[serde(default = "one")]
    quantity: u32,
    /// This drawing's units, when its header is wrong; else the payload's `units`.
    #[serde(default)]
    units: Option<String>,
    /// The rotations allowed for this drawing's parts (degrees; `[0]` keeps the
    /// grain direction); else the options' `rotations`.
    #[serde(default)]
    rotations: Option<Vec<f64>>,
}

fn one() -> u32 {
    1
}

/// The payload of `nest`: one drawing (`dxf_path`, the old API's form) or
/// several (`files`), and any nesting option by name (the old API's
/// `sheet_width`, `sheet_height`, `gap` and `kerf` included).
#[derive(Deserialize)]
struct Nest {
    #[serde(default)]
    dxf_path: Option<PathBuf>,
    #[serde(default)]
    quantity: Option<u32>,
    #[serde(default)]
    files: Vec<NestFile>,
    /// The units of every drawing that does not give its own.
    #[serde(default)]
    units: Option<String>,
    /// Complete the job even when some parts could not be placed (else it fails
    /// with the parts named).
    #[serde(default)]
    allow_partial: bool,
    /// Whether remnants of the inventory come first (the parent takes them,
    /// [`crate::remnants`]); on by default.
    #[serde(default = "yes")]
    use_remnants: bool,
    #[serde(flatten)]
    options: NestOptions,
}

fn yes() -> bool {
    true
}

pub fn nest(task: &Task, shop: &Shop) -> Result<Value, HandlerError> {
    let args: Nest = task.parse()?;
    let mut files = args.files;
    if let Some(path) = args.dxf_path {
        files.push(NestFile {
            dxf_path: path,
            quantity: args.quantity.unwrap_or(1),
            units: None,
            rotations: None,
        });
    }
    if files.is_empty() {
        return Err(HandlerError::InvalidPayload(
            "nothing to nest: give `dxf_path` or `files: [{dxf_path, quantity}]`".into(),
        ));
    }
    let mut parts = Vec::new();
    // Each drawing's name, parts and copies asked, to name the ones that
    // pass the limit of part copies.
    let mut copies = Vec::new();
    for file in &files {
        let mut analysis = shop.analysis();
        let units = file.units.as_deref().or(args.units.as_deref());
        analysis.units_override = units_field(units, "units").map_err(refused)?;
        let bytes = read_input(
            shop,
            &file.dxf_path,
            analysis.limits.max_file_bytes as u64,
            "drawing",
        )?;
        // Parts nested at a thousand times their size waste a sheet, or fail
        // to fit for a reason nobody sees: the units must be right first.
        if analysis.units_override.is_none() {
            let drawing = wjp_geometry::load_drawing(&bytes, &analysis, &mut |_, _| {})
                .map_err(|e| analysis_failed(&file.dxf_path, e))?;
            if let Some(note) = drawing
                .units
                .note
                .as_deref()
                .filter(|_| drawing.units.suspicious)
            {
                return Err(HandlerError::InvalidPayload(format!(
                    "{}: {}",
                    file.dxf_path.display(),
                    suspicious_units(note, UnitsDoor::Payload)
                )));
            }
        }
        let name = file
            .dxf_path
            .file_stem()
            .map_or_else(|| "part".into(), |s| s.to_string_lossy().into_owned());
        let mut drawn =
            PartInput::from_dxf(&name, &bytes, file.quantity, &analysis).map_err(|e| {
                HandlerError::InvalidPayload(format!(
                    "{} ({}): {e}",
                    file.dxf_path.display(),
                    e.code()
                ))
            })?;
        for part in &mut drawn {
            part.rotations.clone_from(&file.rotations);
        }
        copies.push((
            file.dxf_path.display().to_string(),
            drawn.len(),
            file.quantity,
        ));
        parts.extend(drawn);
    }
    too_many_copies(&copies).map_err(HandlerError::InvalidPayload)?;
    let remnants = if args.use_remnants {
        task.remnants
    } else {
        &[]
    };
    let mut options = on_remnants_first(args.options, remnants);
    let capped = task.deadline.and_then(|deadline| {
        let budget = search_budget(deadline.saturating_duration_since(std::time::Instant::now()));
        (options.time_limit_s > budget).then(|| {
            let asked = options.time_limit_s;
            options.time_limit_s = budget;
            Warning::new(
                "time_limit_capped",
                1,
                format!(
                    "the search had {budget:.1} s of the {asked} s asked: the job's timeout \
                     came first (its layout must be written before it); give the job a \
                     longer `timeout` to search longer"
                ),
            )
        })
    });
    let threads_capped = (options.threads > task.job_threads).then(|| {
        let asked = options.threads;
        options.threads = task.job_threads;
        Warning::new(
            "threads_capped",
            1,
            format!(
                "{asked} searches side by side were asked for and this service lets a job \
                 use {} core{}: {} ran (the operator sets it: --job-threads, WJP_JOB_THREADS)",
                task.job_threads,
                if task.job_threads == 1 { "" } else { "s" },
                task.job_threads
            ),
        )
    });
    let mut result = wjp_cam::nest(
        &parts,
        &options,
        // Once there is a layout, the best one's figures (parts placed and
        // not, sheets, utilisation): in the message for people, and as the
        // progress detail for programs.
        &mut |p| {
            let best = p.best.and_then(|b| serde_json::to_value(b).ok());
            (task.progress)(p.fraction * 0.95, p.message, best.as_ref())
        },
        // A cancelled job's parent asks for the best layout so far.
        task.should_stop,
    )
    .map_err(|e| HandlerError::InvalidPayload(format!("nesting ({}): {e}", e.code())))?;
    result.warnings.extend(capped);
    result.warnings.extend(threads_capped);
    // A stopped search answers with what it has, placed or not.
    let stopped = result.stopped_by == "stopped";
    if !result.all_placed && !args.allow_partial && !stopped {
        return Err(HandlerError::InvalidPayload(unplaced_message(&result)));
    }
    // Sheet drawings go to files; the result names them.
    let mut sheets = Vec::new();
    for sheet in &result.sheets {
        let n = sheet.sheet;
        sheets.push(json!({
            "sheet": n,
            "dxf": shop.store(task, "nesting", &format!("sheet{n}.dxf"), sheet.dxf.as_bytes())?,
            "svg": shop.store(task, "nesting", &format!("sheet{n}.svg"), sheet.svg.as_bytes())?,
        }));
    }
    let overview = shop.store(task, "nesting", "svg", result.svg.as_bytes())?;
    let csv = cut_list_csv(&result)
        .map_err(|e| HandlerError::Failed(format!("cannot write the cut list: {e}")))?;
    let cut_list_json = serde_json::to_vec_pretty(&result.cut_list)
        .map_err(|e| HandlerError::Failed(format!("cannot encode the cut list: {e}")))?;
    let cut_list = json!({
        "csv": shop.store(task, "nesting", "cut_list.csv", &csv)?,
        "json": shop.store(task, "nesting", "cut_list.json", &cut_list_json)?,
    });
    let mut value = serde_json::to_value(&result)
        .map_err(|e| HandlerError::Failed(format!("cannot encode the layout: {e}")))?;
    value["svg"] = Value::Null;
    if let Some(list) = value["sheets"].as_array_mut() {
        for sheet in list {
            sheet["dxf"] = Value::Null;
            sheet["svg"] = Value::Null;
        }
    }
    value["artifacts"] = json!({ "preview_svg": overview, "sheets": sheets, "cut_list": cut_list });
    value["remnants_used"] = remnants_used(&result, remnants);
    Ok(value)
}

/// Of the time left before a job's timeout, the seconds its nest may search:
/// the rest goes to writing the sheets and the cut list, and to the answer's
/// way back.
fn search_budget(left: std::time::Duration) -> f64 {
    (left.as_secs_f64() * 0.9 - 1.0).max(0.0)
}

/// Refuses drawings whose parts times their quantities pass the part
/// copies a nest places, naming each drawing's parts and copies and the
/// quantity that would fit: the payload check could bound the quantities
/// only, before the drawings were read.
fn too_many_copies(drawings: &[(String, usize, u32)]) -> Result<(), String> {
    use wjp_cam::nest::MAX_COPIES;
    let total: usize = drawings
        .iter()
        .map(|(_, parts, quantity)| parts * *quantity as usize)
        .sum();
    if total <= MAX_COPIES {
        return Ok(());
    }
    let each: Vec<String> = drawings
        .iter()
        .map(|(name, parts, quantity)| {
            format!(
                "{name}: {parts} part{} x {quantity} = {}",
                if *parts == 1 { "" } else { "s" },
                parts * *quantity as usize
            )
        })
        .collect();
    Err(format!(
        "too_large: {total} part copies ({}), and a nest places at most {MAX_COPIES}: \
         lower the quantities, or nest the drawings in several jobs",
        each.join("; ")
    ))
}

/// The nest's options with the taken remnants as its first sheets, one
/// each, before its own stock (which a single size becomes a list of).
fn on_remnants_first(mut options: NestOptions, remnants: &[RemnantSheet]) -> NestOptions {
    if remnants.is_empty() {
        return options;
    }
    let stock = if options.sheets.is_empty() {
        vec![wjp_cam::SheetSpec {
            width: options.sheet_width,
            height: options.sheet_height,
            quantity: options.max_sheets,
        }]
    } else {
        std::mem::take(&mut options.sheets)
    };
    options.sheets = remnants
        .iter()
        .map(|r| wjp_cam::SheetSpec {
            width: r.width,
            height: r.height,
            quantity: 1,
        })
        .chain(stock)
        .collect();
    options
}

/// The remnants the layout placed parts on: the sheets numbered below the
/// count of remnants, which came first.
fn remnants_used(result: &wjp_cam::NestResult, remnants: &[RemnantSheet]) -> Value {
    result
        .sheets
        .iter()
        .filter_map(|s| {
            let r = remnants.get(s.sheet)?;
            Some(json!({ "id": r.id, "sheet": s.sheet, "width": r.width, "height": r.height }))
        })
        .collect()
}

/// A `generate_gcode` payload that names a `sheet` instead of a drawing,
/// with that sheet's drawing from the result of a nest the job waited for
/// (`artifacts.sheets[].dxf`, the key of a file in the store's `output/`)
/// as its `dxf_path`. Other payloads come back as they are. The job's
/// process checks the key again, as it checks every input.
pub fn sheet_from_parents(
    kind: &str,
    payload: &Value,
    parents: &[wjp_queue::ParentResult],
) -> Result<Value, HandlerError> {
    let Some(sheet) = payload.get("sheet").filter(|_| kind == "generate_gcode") else {
        return Ok(payload.clone());
    };
    let drawing = parents
        .iter()
        .filter_map(|p| p.result.as_ref()?.pointer("/artifacts/sheets")?.as_array())
        .flatten()
        .find(|s| s.get("sheet") == Some(sheet))
        .and_then(|s| s.get("dxf")?.as_str());
    let Some(drawing) = drawing else {
        return Err(HandlerError::InvalidPayload(format!(
            "sheet {sheet}: no completed nest this job waits for (`after`) has that sheet"
        )));
    };
    let mut payload = payload.clone();
    if let Some(fields) = payload.as_object_mut() {
        fields.remove("sheet");
        fields.insert("dxf_path".into(), json!(drawing));
    }
    Ok(payload)
}

/// The cut list as CSV, one row per copy: `sheet, part, quantity` (copies of
/// the part on that sheet), `copy, x_mm, y_mm, rotation_deg, mirrored` (where
/// the drawing's origin goes), `x_min_mm, y_min_mm, x_max_mm, y_max_mm` (where
/// the part lies on the sheet). Part names come from customers' file names:
/// cells are made inert for spreadsheets.
pub fn cut_list_csv(result: &wjp_cam::NestResult) -> Result<Vec<u8>, csv::Error> {
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record([
        "sheet",
        "part",
        "quantity",
        "copy",
        "x_mm",
        "y_mm",
        "rotation_deg",
        "mirrored",
        "x_min_mm",
        "y_min_mm",
        "x_max_mm",
        "y_max_mm",
    ])?;
    for entry in &result.cut_list {
        for p in &entry.placements {
            out.write_record([
                entry.sheet.to_string(),
                inert_cell(&entry.part),
                entry.quantity.to_string(),
                p.copy.to_string(),
                format!("{:.3}", p.x),
                format!("{:.3}", p.y),
                format!("{:.3}", p.rotation),
                p.mirrored.to_string(),
                format!("{:.3}", p.box_mm[0]),
                format!("{:.3}", p.box_mm[1]),
                format!("{:.3}", p.box_mm[2]),
                format!("{:.3}", p.box_mm[3]),
            ])?;
        }
    }
    out.into_inner().map_err(|e| e.into_error().into())
}

/// Why a nesting that left parts out failed: each part once, with its size and
/// the reason (which names the sheet's size when the part is too big for it).
fn unplaced_message(result: &wjp_cam::NestResult) -> String {
    let parts: Vec<String> = result
        .unplaced
        .iter()
        .map(|u| {
            format!(
                "{} x{} ({:.1} x {:.1} mm): {}",
                u.part, u.copies, u.width, u.height, u.reason
            )
        })
        .collect();
    format!(
        "not every part was placed: {} of {} part copies are left out: {}. Give \
         allow_partial: true to accept a partial layout",
        result.failed_objects.len(),
        result.failed_objects.len() + result.positioned_objects.len(),
        parts.join("; ")
    )
}

/// The payload of `generate_gcode`: the drawing and any G-code option by
/// name (the old API's `material`, `thickness` and `kerf` included).
#[derive(Deserialize)]
struct GenerateGcode {
    /// The drawing; or, instead, `sheet`.
    #[serde(default)]
    dxf_path: Option<PathBuf>,
    /// A sheet of the nest the job waits for (`after`), numbered as the
    /// nest numbers them (`artifacts.sheets[].sheet`, from 0): its
    /// drawing becomes `dxf_path` when the job starts
    /// ([`sheet_from_parents`]).
    #[serde(default)]
    sheet: Option<u32>,
    #[serde(default)]
    units: Option<String>,
    #[serde(flatten)]
    options: GcodeOptions,
}

pub fn generate_gcode(task: &Task, shop: &Shop) -> Result<Value, HandlerError> {
    let mut args: GenerateGcode = task.parse()?;
    shop.fill(&mut args.options.analysis, task, "analysis")?;
    args.options.analysis.limits = shop.limits.drawing.clone();
    if let Some(code) = units_field(args.units.as_deref(), "units").map_err(refused)? {
        args.options.analysis.units_override = Some(code);
    }
    let Some(dxf_path) = args.dxf_path else {
        return Err(HandlerError::InvalidPayload(
            "give dxf_path, or sheet with a nest job in `after`".into(),
        ));
    };
    let limit = args.options.analysis.limits.max_file_bytes as u64;
    let bytes = read_input(shop, &dxf_path, limit, "drawing")?;
    task.progress(0.1, "planning the toolpath");
    let program = wjp_cam::generate_gcode(&bytes, &args.options).map_err(|e| {
        HandlerError::InvalidPayload(format!("{} ({}): {e}", dxf_path.display(), e.code()))
    })?;
    if args.options.analysis.units_override.is_none() {
        if let Some(w) = program
            .warnings
            .iter()
            .find(|w| w.code == "units_suspicious")
        {
            return Err(HandlerError::InvalidPayload(format!(
                "{}: {}",
                dxf_path.display(),
                suspicious_units(&w.message, UnitsDoor::Payload)
            )));
        }
    }
    // LinuxCNC reads `.ngc`; other controls take `.nc`.
    let ext = if program.dialect.name == "linuxcnc" {
        "ngc"
    } else {
        "nc"
    };
    let gcode = shop.store(task, "gcode", ext, program.program.as_bytes())?;
    let svg = shop.store(task, "gcode", "svg", program.svg.as_bytes())?;
    Ok(json!({
        "dialect": program.dialect,
        "summary": program.summary,
        "warnings": program.warnings,
        "artifacts": { "gcode": gcode, "preview_svg": svg },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_that_spreadsheets_would_run_are_made_inert() {
        for evil in [
            "=HYPERLINK(\"x\")",
            "=cmd|' /C calc'!A0",
            "+1",
            "-1",
            "@SUM(A1)",
            "\tx",
            "\rx",
        ] {
            assert_eq!(inert_cell(evil), format!("'{evil}"));
        }
        for plain in ["0", "OUTER", "holes-2", "a=b"] {
            assert_eq!(inert_cell(plain), plain);
        }
    }
}
