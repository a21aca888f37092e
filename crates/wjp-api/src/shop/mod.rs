//! The shop's API: the endpoints of the service wjp replaced, same paths,
//! parameters and fields (described in `docs/legacy-api.md`), plus `GET /files/{folder}/{name}`
//! to download files of the artefact store (`name` may be a path below the
//! folder, such as `previews/<job id>.svg`), from any node of a shop.
//!
//! Each domain endpoint is the same few steps: check that its job kind is
//! registered in this build (501 otherwise: never a fake success), turn
//! client paths into keys of the store (which must exist), build the job
//! payload, then run the
//! handler at once ([`wjp_queue::run_inline`], holding one of the
//! `--max-inline-jobs` slots; 503 when none is free) or, with
//! `async_mode=true`, enqueue the job and answer its id. When the backend is
//! unreachable an async request runs synchronously instead.
//!
//! A job that ran and failed answers `{success: false, error, code}` with
//! status 200 on JSON endpoints (as the old service did: the request was
//! fine, the drawing was not) and 422 on endpoints that return a file.
//!
//! Payloads the handlers receive (inputs as keys of the store, such as
//! `uploads/plate_<hex>.dxf`; the kind's payload check checks them again
//! when the job is made):
//! - `analyze_dxf`: the request body with `dxf_path` resolved;
//! - `calculate_cost`: likewise;
//! - `convert_image`: `{image_path, min_area?, threshold?, size_mm?,
//!   pixel_size_mm?}`;
//! - `analyze_csv`: `{csv_path, report?}`;
//! - `nest`: `{dxf_path, sheet_width, sheet_height, gap, kerf}`;
//! - `generate_gcode`: `{dxf_path, material, thickness?, kerf?}` (absent
//!   ones take the kind's defaults, 6 mm and 1.1 mm);
//! - `export_components_csv`, `export_layered_dxf`: `{report}`.
//!
//! Files a job writes are its artefacts, named by the service after the job
//! id and listed in its result (`artifacts`): the endpoints that answer with
//! a file send that artefact, or, queued, a `download_url` for it.

use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use wjp_queue::{run_inline, JobError, JobRequest, Kind};

use crate::error::{ApiError, ApiResult, Code};
use crate::files::{content_type_of, input_key, tagged_name, unique_name, Key, PathError, Store};
use crate::jobs::{artefact_key, ApiJson, CheckedQuery, QueryFields};
use crate::{ApiConfig, AppState};

mod upload;

use upload::{save_field, upload};

/// A job kind the shop's endpoints run: its name (the old service's job
/// type) and what it does, for messages.
#[derive(Debug, Clone, Copy)]
pub struct ShopJob {
    pub kind: &'static str,
    pub what: &'static str,
}

pub const ANALYZE_DXF: ShopJob = ShopJob {
    kind: "analyze_dxf",
    what: "DXF analysis",
};
pub const CALCULATE_COST: ShopJob = ShopJob {
    kind: "calculate_cost",
    what: "cost calculation",
};
pub const CONVERT_IMAGE: ShopJob = ShopJob {
    kind: "convert_image",
    what: "image conversion",
};
pub const ANALYZE_CSV: ShopJob = ShopJob {
    kind: "analyze_csv",
    what: "CSV analysis",
};
pub const NEST: ShopJob = ShopJob {
    kind: "nest",
    what: "nesting",
};
pub const GENERATE_GCODE: ShopJob = ShopJob {
    kind: "generate_gcode",
    what: "G-code generation",
};
pub const EXPORT_COMPONENTS_CSV: ShopJob = ShopJob {
    kind: "export_components_csv",
    what: "the components CSV export",
};
pub const EXPORT_LAYERED_DXF: ShopJob = ShopJob {
    kind: "export_layered_dxf",
    what: "the layered DXF export",
};

/// Every kind the shop's endpoints run. A build that does not register
/// one answers 501 for it, on its endpoint and on `POST /jobs`.
pub const SHOP_JOBS: [ShopJob; 8] = [
    ANALYZE_DXF,
    CALCULATE_COST,
    CONVERT_IMAGE,
    ANALYZE_CSV,
    NEST,
    GENERATE_GCODE,
    EXPORT_COMPONENTS_CSV,
    EXPORT_LAYERED_DXF,
];

pub fn routes(config: &ApiConfig) -> Router<AppState> {
    // Multipart bodies carry some framing beyond the file itself; the exact
    // file limit is enforced while streaming it to disk.
    let upload_limit = DefaultBodyLimit::max(
        usize::try_from(config.max_upload_bytes)
            .unwrap_or(usize::MAX)
            .saturating_add(1 << 20),
    );
    Router::new()
        .route("/analyze-dxf", post(analyze_dxf))
        .route("/cost", post(cost))
        .route("/convert-image", post(convert_image).layer(upload_limit))
        .route("/csv/ai-analysis", post(csv_analysis).layer(upload_limit))
        .route("/upload", post(upload).layer(upload_limit))
        .route("/nest", post(nest))
        .route("/gcode", post(gcode))
        .route("/export/components-csv", post(export_components_csv))
        .route("/export/layered-dxf", post(export_layered_dxf))
        .route("/files/{folder}/{*name}", get(download))
}

/// `async_mode` as the old service parsed booleans (`true`, `1`, `yes`, `on`).
fn flag(value: Option<&str>) -> ApiResult<bool> {
    named_flag("async_mode", value)
}

/// A true/false query field called `name`.
fn named_flag(name: &str, value: Option<&str>) -> ApiResult<bool> {
    match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") | Some("false" | "0" | "no" | "off") => Ok(false),
        Some("true" | "1" | "yes" | "on") => Ok(true),
        Some(other) => Err(ApiError::new(
            Code::InvalidValue,
            format!("{name} must be true or false, got {other:?}"),
        )),
    }
}

/// What became of a domain request.
enum Ran {
    /// It ran here and now.
    Done(Result<Value, JobError>),
    /// It waits in the queue.
    Queued(String),
}

/// Refuses a kind this build has no handler for.
pub fn require_kind(state: &AppState, job: ShopJob) -> ApiResult<()> {
    if state.queue.catalog().kind(job.kind).is_err() {
        return Err(ApiError::not_implemented(job.kind, job.what));
    }
    Ok(())
}

/// Runs a job now, or enqueues it; falls back to running it now when the
/// backend is unreachable.
async fn dispatch(
    state: &AppState,
    job: ShopJob,
    request: JobRequest,
    async_mode: bool,
) -> ApiResult<Ran> {
    let (kind, what) = (job.kind, job.what);
    require_kind(state, job)?;
    if async_mode {
        match state.enqueuer.enqueue(request.clone()).await {
            Ok(enqueued) => {
                state.outage.succeeded();
                return Ok(Ran::Queued(enqueued.job.id.to_string()));
            }
            Err(e) if e.is_client_error() => return Err(e.into()),
            Err(e) => {
                // The outage is logged once; each request that falls back
                // is worth a line only when debugging.
                state
                    .outage
                    .failed("enqueue (requests now run synchronously)", &e);
                tracing::debug!(error = %e, kind, "queue store unreachable: running the job synchronously");
            }
        }
    }
    let has_handler = Kind::parse(kind)
        .ok()
        .and_then(|k| state.handlers.get(&k))
        .is_some();
    if !has_handler {
        return Err(ApiError::not_implemented(kind, what));
    }
    // Work done while a client waits is bounded like the workers' work:
    // beyond the slots, the client is asked to come back (or to queue it).
    let Ok(_slot) = state.inline_slots.clone().try_acquire_owned() else {
        return Err(ApiError::busy(format!(
            "{what}: every slot for synchronous work is taken (--max-inline-jobs); \
             try again shortly, or send async_mode=true to queue the job"
        )));
    };
    // Dropping this future (the client left) stops the handler.
    Ok(Ran::Done(
        run_inline(&state.queue, &state.handlers, request).await?,
    ))
}

/// A job of `kind`, with an id chosen here so that the name of its
/// artefacts is known before it runs.
fn request_with_id(job: ShopJob, payload: Value) -> JobRequest {
    JobRequest {
        job_id: Some(uuid::Uuid::new_v4().simple().to_string()),
        ..JobRequest::new(job.kind, payload)
    }
}

fn queued(job_id: &str) -> Response {
    Json(json!({
        "success": true,
        "job_id": job_id,
        "status": "queued",
        "status_url": format!("/jobs/{job_id}"),
    }))
    .into_response()
}

fn failed(e: &JobError, extra: &[&str]) -> Value {
    let mut body = json!({
        "success": false,
        "error": e.message,
        "code": e.kind.as_str(),
    });
    for field in extra {
        body[*field] = Value::Null;
    }
    body
}

#[derive(Debug, Deserialize)]
pub struct AsyncQuery {
    async_mode: Option<String>,
}

impl QueryFields for AsyncQuery {
    const FIELDS: &'static [&'static str] = &["async_mode"];
}

/// The query of an endpoint that takes none.
#[derive(Debug, Deserialize)]
pub struct NoQuery {}

impl QueryFields for NoQuery {
    const FIELDS: &'static [&'static str] = &[];
}

/// Takes the job's `reference` (a client's own text, kept with the job, not
/// an option of the analysis) out of a JSON body.
fn take_reference(body: &mut Map<String, Value>) -> ApiResult<Option<String>> {
    take_text(
        body,
        "reference",
        "reference must be a string (a customer, an order, a drawing number)",
    )
}

/// Takes the job's fairness `group` (a customer, an order; checked with
/// the job) out of a JSON body.
fn take_group(body: &mut Map<String, Value>) -> ApiResult<Option<String>> {
    take_text(
        body,
        "group",
        "group must be a string (a customer's or an order's short name)",
    )
}

/// Takes a text field of the job (not of the payload) out of a JSON body.
fn take_text(
    body: &mut Map<String, Value>,
    field: &str,
    wrong_type: &'static str,
) -> ApiResult<Option<String>> {
    match body.remove(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(r)) => Ok(Some(r)),
        Some(_) => Err(ApiError::new(Code::InvalidJson, wrong_type)),
    }
}

/// Takes `dxf_path` out of a JSON body and puts back its key.
async fn resolve_body_path(state: &AppState, mut body: Map<String, Value>) -> ApiResult<Value> {
    let path = match body.get("dxf_path") {
        Some(Value::String(p)) => p.clone(),
        None | Some(Value::Null) => {
            return Err(PathError::Missing {
                field: "dxf_path".into(),
            }
            .into())
        }
        Some(_) => {
            return Err(ApiError::new(
                Code::InvalidJson,
                "dxf_path must be a string naming a file",
            ))
        }
    };
    let key = input_key(&state.store, "dxf_path", &path).await?;
    body.insert("dxf_path".into(), json!(key.as_str()));
    Ok(Value::Object(body))
}

async fn analyze_dxf(
    State(state): State<AppState>,
    CheckedQuery(q): CheckedQuery<AsyncQuery>,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> ApiResult<Response> {
    require_kind(&state, ANALYZE_DXF)?;
    let async_mode = flag(q.async_mode.as_deref())?;
    let mut body = body;
    let reference = take_reference(&mut body)?;
    let group = take_group(&mut body)?;
    let payload = resolve_body_path(&state, body).await?;
    Ok(
        match dispatch(
            &state,
            ANALYZE_DXF,
            JobRequest {
                reference,
                group,
                ..JobRequest::new(ANALYZE_DXF.kind, payload)
            },
            async_mode,
        )
        .await?
        {
            Ran::Queued(id) => queued(&id),
            Ran::Done(Ok(report)) => {
                Json(json!({ "success": true, "report": report })).into_response()
            }
            Ran::Done(Err(e)) => Json(failed(&e, &[])).into_response(),
        },
    )
}

async fn cost(
    State(state): State<AppState>,
    CheckedQuery(q): CheckedQuery<AsyncQuery>,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> ApiResult<Response> {
    require_kind(&state, CALCULATE_COST)?;
    let async_mode = flag(q.async_mode.as_deref())?;
    let payload = resolve_body_path(&state, body).await?;
    Ok(
        match dispatch(
            &state,
            CALCULATE_COST,
            JobRequest::new(CALCULATE_COST.kind, payload),
            async_mode,
        )
        .await?
        {
            Ran::Queued(id) => queued(&id),
            Ran::Done(Ok(cost)) => {
                Json(json!({ "success": true, "cost": cost, "error": null })).into_response()
            }
            Ran::Done(Err(e)) => Json(failed(&e, &["cost"])).into_response(),
        },
    )
}

#[derive(Debug, Deserialize)]
pub struct ConvertQuery {
    min_area: Option<f64>,
    threshold: Option<f64>,
    size_mm: Option<f64>,
    #[serde(alias = "mm_per_px")]
    pixel_size_mm: Option<f64>,
    async_mode: Option<String>,
}

impl QueryFields for ConvertQuery {
    const FIELDS: &'static [&'static str] = &[
        "min_area",
        "threshold",
        "size_mm",
        "pixel_size_mm",
        "mm_per_px",
        "async_mode",
    ];
}

/// The name a file answer is downloaded under: `requested` (or
/// `default_stem`) made safe, tagged with the job id, with extension `ext`.
fn download_name(requested: Option<&str>, default_stem: &str, ext: &str, job_id: &str) -> String {
    let base = requested
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .unwrap_or(default_stem);
    let base = base.rsplit(['/', '\\']).next().unwrap_or(base);
    let stem = base.rsplit_once('.').map_or(base, |(s, _)| s);
    let tag: String = job_id.chars().take(8).collect();
    tagged_name(&format!("{stem}.{ext}"), default_stem, &tag)
}

/// What an endpoint that answers with a file sends: the job's artefact
/// `artefact` (a key of its result's `artifacts`), downloaded as `name`.
struct FileAnswer<'a> {
    artefact: &'a str,
    name: String,
    content_type: &'static str,
}

/// The answer of an endpoint that returns a file.
async fn file_outcome(
    state: &AppState,
    ran: Ran,
    answer: FileAnswer<'_>,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    match ran {
        Ran::Queued(id) => Ok(Json(json!({
            "success": true,
            "job_id": id,
            "status": "queued",
            "status_url": format!("/jobs/{id}"),
            "download_url": format!("/jobs/{id}/artifacts/{}", answer.artefact),
        }))
        .into_response()),
        Ran::Done(Ok(result)) => {
            let key = artefact_key(&result, answer.artefact)?;
            crate::files::serve(
                &state.store,
                &key,
                &answer.name,
                answer.content_type,
                headers,
            )
            .await
        }
        Ran::Done(Err(e)) => {
            Ok((StatusCode::UNPROCESSABLE_ENTITY, Json(failed(&e, &[]))).into_response())
        }
    }
}

async fn convert_image(
    State(state): State<AppState>,
    CheckedQuery(q): CheckedQuery<ConvertQuery>,
    headers: HeaderMap,
    mut multipart: Multipart,
) -> ApiResult<Response> {
    require_kind(&state, CONVERT_IMAGE)?;
    let async_mode = flag(q.async_mode.as_deref())?;
    let saved = save_field(
        &mut multipart,
        "image_file",
        &state.store,
        "image",
        state.config.max_upload_bytes,
    )
    .await?;
    let mut payload = json!({ "image_path": saved.key.as_str() });
    if let Some(v) = q.min_area {
        payload["min_area"] = json!(v);
    }
    if let Some(v) = q.threshold {
        // A grey level: query strings carry `128` or `128.0`, the job a byte.
        if !(v.fract() == 0.0 && (0.0..=255.0).contains(&v)) {
            return Err(ApiError::new(
                Code::OutOfRange,
                format!("threshold must be a whole grey level from 0 to 255, got {v}"),
            ));
        }
        payload["threshold"] = json!(v as u8);
    }
    // The drawing's scale: its bounds and the refusal of both together are
    // the job's own checks, made before anything is queued.
    if let Some(v) = q.size_mm {
        payload["size_mm"] = json!(v);
    }
    if let Some(v) = q.pixel_size_mm {
        payload["pixel_size_mm"] = json!(v);
    }
    let request = request_with_id(CONVERT_IMAGE, payload);
    let name = download_name(
        Some(&saved.original),
        "image",
        "dxf",
        request.job_id.as_deref().unwrap_or_default(),
    );
    let ran = dispatch(&state, CONVERT_IMAGE, request, async_mode).await?;
    let answer = FileAnswer {
        artefact: "dxf",
        name,
        content_type: "application/dxf",
    };
    file_outcome(&state, ran, answer, &headers).await
}

#[derive(Debug, Deserialize)]
pub struct CsvQuery {
    report: Option<String>,
    async_mode: Option<String>,
}

impl QueryFields for CsvQuery {
    const FIELDS: &'static [&'static str] = &["report", "async_mode"];
}

async fn csv_analysis(
    State(state): State<AppState>,
    CheckedQuery(q): CheckedQuery<CsvQuery>,
    mut multipart: Multipart,
) -> ApiResult<Response> {
    require_kind(&state, ANALYZE_CSV)?;
    let async_mode = flag(q.async_mode.as_deref())?;
    let report = match q.report.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
        None => Value::Null,
        Some(text) => {
            let report = serde_json::from_str::<Value>(text).map_err(|e| {
                ApiError::new(Code::InvalidJson, format!("report is not valid JSON: {e}"))
            })?;
            // An analysis report is an object; anything else is the
            // client's mistake, better said now than by the job.
            if !report.is_object() {
                return Err(ApiError::new(
                    Code::InvalidJson,
                    "report must be a JSON object (an analysis report)",
                ));
            }
            report
        }
    };
    let saved = save_field(
        &mut multipart,
        "csv_file",
        &state.store,
        "components",
        state.config.max_upload_bytes,
    )
    .await?;
    let payload = json!({ "csv_path": saved.key.as_str(), "report": report });
    Ok(
        match dispatch(
            &state,
            ANALYZE_CSV,
            JobRequest::new(ANALYZE_CSV.kind, payload),
            async_mode,
        )
        .await?
        {
            Ran::Queued(id) => queued(&id),
            Ran::Done(Ok(analysis)) => Json(analysis).into_response(),
            Ran::Done(Err(e)) => Json(failed(&e, &[])).into_response(),
        },
    )
}

fn default_gap() -> f64 {
    3.0
}
fn default_kerf() -> f64 {
    1.1
}
/// The thickness (mm) a drawing is analysed and cut at when a request
/// gives none: the analysis's own default, which the dashboard's form
/// starts at too (a test holds the two together).
pub const DEFAULT_THICKNESS_MM: f64 = 6.0;

fn default_material() -> String {
    "steel".into()
}

#[derive(Debug, Deserialize)]
pub struct NestQuery {
    dxf_path: String,
    sheet_width: f64,
    sheet_height: f64,
    #[serde(default = "default_gap")]
    gap: f64,
    #[serde(default = "default_kerf")]
    kerf: f64,
    time_limit_s: Option<f64>,
    threads: Option<f64>,
    units: Option<String>,
    allow_partial: Option<String>,
    use_remnants: Option<String>,
    async_mode: Option<String>,
}

impl QueryFields for NestQuery {
    const FIELDS: &'static [&'static str] = &[
        "dxf_path",
        "sheet_width",
        "sheet_height",
        "gap",
        "kerf",
        "time_limit_s",
        "threads",
        "units",
        "allow_partial",
        "use_remnants",
        "async_mode",
    ];
}

/// Adds the optional fields that were given to a payload.
fn with_given(mut payload: Value, fields: &[(&str, Option<Value>)]) -> Value {
    for (name, value) in fields {
        if let Some(v) = value {
            payload[*name] = v.clone();
        }
    }
    payload
}

/// The answer of `/nest` and `/gcode`: `{success, result}`.
fn result_outcome(ran: Ran) -> Response {
    match ran {
        Ran::Queued(id) => queued(&id),
        Ran::Done(Ok(result)) => Json(json!({ "success": true, "result": result })).into_response(),
        Ran::Done(Err(e)) => Json(failed(&e, &["result"])).into_response(),
    }
}

async fn nest(
    State(state): State<AppState>,
    CheckedQuery(q): CheckedQuery<NestQuery>,
) -> ApiResult<Response> {
    require_kind(&state, NEST)?;
    let async_mode = flag(q.async_mode.as_deref())?;
    let allow_partial = named_flag("allow_partial", q.allow_partial.as_deref())?;
    // On unless said otherwise: an absent field keeps the payload's default.
    let use_remnants = match q.use_remnants.as_deref() {
        None => None,
        given => Some(named_flag("use_remnants", given)?),
    };
    // A count: query strings carry `2` or `2.0`, the job a whole number
    // (whose range the payload check gives).
    let threads = match q.threads {
        None => None,
        Some(v) if v.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&v) => {
            Some(json!(v as u32))
        }
        Some(v) => {
            return Err(ApiError::new(
                Code::OutOfRange,
                format!("threads must be a whole number of searches, got {v}"),
            ))
        }
    };
    let dxf = input_key(&state.store, "dxf_path", &q.dxf_path).await?;
    // Ranges are the kind's payload check's, the same at every door.
    let payload = with_given(
        json!({
            "dxf_path": dxf.as_str(),
            "sheet_width": q.sheet_width,
            "sheet_height": q.sheet_height,
            "gap": q.gap,
            "kerf": q.kerf,
        }),
        &[
            ("time_limit_s", q.time_limit_s.map(|v| json!(v))),
            ("threads", threads),
            ("units", q.units.map(Value::String)),
            ("allow_partial", allow_partial.then_some(json!(true))),
            ("use_remnants", use_remnants.map(Value::Bool)),
        ],
    );
    Ok(result_outcome(
        dispatch(
            &state,
            NEST,
            JobRequest::new(NEST.kind, payload),
            async_mode,
        )
        .await?,
    ))
}

#[derive(Debug, Deserialize)]
pub struct GcodeQuery {
    dxf_path: String,
    #[serde(default = "default_material")]
    material: String,
    // Left out when not given: the job's defaults apply, and its payload
    // check can tell a missing thickness from one the client chose.
    thickness: Option<f64>,
    kerf: Option<f64>,
    quality: Option<u8>,
    dialect: Option<String>,
    units: Option<String>,
    async_mode: Option<String>,
}

impl QueryFields for GcodeQuery {
    const FIELDS: &'static [&'static str] = &[
        "dxf_path",
        "material",
        "thickness",
        "kerf",
        "quality",
        "dialect",
        "units",
        "async_mode",
    ];
}

async fn gcode(
    State(state): State<AppState>,
    CheckedQuery(q): CheckedQuery<GcodeQuery>,
) -> ApiResult<Response> {
    require_kind(&state, GENERATE_GCODE)?;
    let async_mode = flag(q.async_mode.as_deref())?;
    let dxf = input_key(&state.store, "dxf_path", &q.dxf_path).await?;
    let payload = with_given(
        json!({
            "dxf_path": dxf.as_str(),
            "material": q.material,
        }),
        &[
            ("thickness", q.thickness.map(|v| json!(v))),
            ("kerf", q.kerf.map(|v| json!(v))),
            ("quality", q.quality.map(|v| json!(v))),
            ("dialect", q.dialect.map(Value::String)),
            ("units", q.units.map(Value::String)),
        ],
    );
    Ok(result_outcome(
        dispatch(
            &state,
            GENERATE_GCODE,
            JobRequest::new(GENERATE_GCODE.kind, payload),
            async_mode,
        )
        .await?,
    ))
}

#[derive(Debug, Deserialize)]
pub struct ExportQuery {
    output_filename: Option<String>,
    async_mode: Option<String>,
}

impl QueryFields for ExportQuery {
    const FIELDS: &'static [&'static str] = &["output_filename", "async_mode"];
}

/// What distinguishes the two exports.
struct ExportSpec {
    job: ShopJob,
    default_stem: &'static str,
    ext: &'static str,
    content_type: &'static str,
}

const COMPONENTS_CSV: ExportSpec = ExportSpec {
    job: EXPORT_COMPONENTS_CSV,
    default_stem: "components",
    ext: "csv",
    content_type: "text/csv; charset=utf-8",
};

const LAYERED_DXF: ExportSpec = ExportSpec {
    job: EXPORT_LAYERED_DXF,
    default_stem: "layered",
    ext: "dxf",
    content_type: "application/dxf",
};

async fn export(
    state: AppState,
    q: ExportQuery,
    report: Value,
    spec: &ExportSpec,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    require_kind(&state, spec.job)?;
    let async_mode = flag(q.async_mode.as_deref())?;
    // Checked here, not left to the job: a queued job would only fail later,
    // while the client's request was wrong from the start.
    if !report.is_object() {
        return Err(ApiError::new(
            Code::InvalidJson,
            "the body must be a JSON object: the report of an analyze_dxf job",
        ));
    }
    let request = request_with_id(spec.job, json!({ "report": report }));
    let name = download_name(
        q.output_filename.as_deref(),
        spec.default_stem,
        spec.ext,
        request.job_id.as_deref().unwrap_or_default(),
    );
    let ran = dispatch(&state, spec.job, request, async_mode).await?;
    let answer = FileAnswer {
        artefact: spec.ext,
        name,
        content_type: spec.content_type,
    };
    file_outcome(&state, ran, answer, headers).await
}

async fn export_components_csv(
    State(state): State<AppState>,
    CheckedQuery(q): CheckedQuery<ExportQuery>,
    headers: HeaderMap,
    ApiJson(report): ApiJson<Value>,
) -> ApiResult<Response> {
    export(state, q, report, &COMPONENTS_CSV, &headers).await
}

async fn export_layered_dxf(
    State(state): State<AppState>,
    CheckedQuery(q): CheckedQuery<ExportQuery>,
    headers: HeaderMap,
    ApiJson(report): ApiJson<Value>,
) -> ApiResult<Response> {
    export(state, q, report, &LAYERED_DXF, &headers).await
}

/// Downloads a file of the store (job artefacts, uploads, data), from
/// whichever node holds it, with ranges.
async fn download(
    State(state): State<AppState>,
    axum::extract::Path((folder, name)): axum::extract::Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    if !wjp_store::FOLDERS.contains(&folder.as_str()) {
        return Err(ApiError::new(
            Code::FolderNotFound,
            format!("no folder {folder:?}: use uploads, data or output"),
        ));
    }
    // The same check as every client name, and the folder must stay the
    // one in the URL (`uploads/../output/x` is refused by the check).
    let key = state
        .store
        .client_key("file", &format!("{folder}/{name}"))?;
    if key.folder() != folder {
        return Err(PathError::Outside {
            field: "file".into(),
            given: name.chars().take(200).collect(),
        }
        .into());
    }
    let file_name = key.file_name().to_owned();
    crate::files::serve(
        &state.store,
        &key,
        &file_name,
        content_type_of(&file_name),
        &headers,
    )
    .await
}
