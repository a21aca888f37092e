//! The dashboard end to end, in a real headless Chromium driven over
//! WebDriver (Debian's `chromium` and `chromium-driver`; `.ci/run` installs
//! them). The server runs with an API key and the real DXF analysis, so the
//! page has to ask for the key, upload a drawing, follow its job live to the
//! report and its preview, and cancel a running job.
//!
//! A missing browser fails the test: it is part of CI, not optional. Waits
//! are bounded hang guards, never timing assertions. The screenshot is
//! saved as `target/dashboard-screenshot.png` (a CI artefact).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};
use wjp_geometry::AnalysisOptions;
use wjp_queue::{Catalog, HandlerError, Handlers, JobContext};

use crate::support::{Options, Server};

const KEY: &str = "dashboard-test-key";
/// Longest wait for one thing to appear on the page (a hang guard).
const WAIT: Duration = Duration::from_secs(90);
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

// ------------------------------------------------------------ the real analysis

#[derive(Deserialize)]
struct AnalyzeDxf {
    dxf_path: PathBuf,
    #[serde(flatten)]
    options: AnalysisOptions,
}

/// A job's artefact: `text` written as `output/<folder>/<name>`; the path
/// its result names it by.
fn artefact(output: &Path, folder: &str, name: &str, text: &str) -> Result<String, HandlerError> {
    let failed = |e: std::io::Error| HandlerError::Failed(e.to_string());
    let dir = output.join(folder);
    std::fs::create_dir_all(&dir).map_err(failed)?;
    std::fs::write(dir.join(name), text).map_err(failed)?;
    Ok(format!("output/{folder}/{name}"))
}

/// The local file of a key a job's payload names (`uploads/a.dxf`): the
/// store is the data directory's folders, `output`'s parent.
fn local(output: &Path, key: &Path) -> PathBuf {
    output.parent().unwrap_or(output).join(key)
}

/// The file a job's payload names, read whole.
fn input(output: &Path, key: &Path) -> Result<Vec<u8>, HandlerError> {
    std::fs::read(local(output, key)).map_err(|e| HandlerError::Failed(e.to_string()))
}

/// `analyze_dxf` as the `wjp` binary wires it: the analysis of
/// `wjp-geometry`, its SVG preview stored as `output/previews/<id>.svg`.
fn analyze_dxf(ctx: &JobContext, output: &Path) -> Result<Value, HandlerError> {
    let args: AnalyzeDxf = ctx.parse_payload()?;
    let drawing = local(output, &args.dxf_path);
    let report = wjp_geometry::analyze_dxf_file(&drawing, &args.options, &mut |p, m| {
        ctx.progress(p * 0.95, m)
    })
    .map_err(|e| HandlerError::InvalidPayload(e.to_string()))?;
    let preview = artefact(
        output,
        "previews",
        &format!("{}.svg", ctx.job().id),
        &report.to_svg(),
    )?;
    let mut result =
        serde_json::to_value(&report).map_err(|e| HandlerError::Failed(e.to_string()))?;
    result["artifacts"] = json!({ "preview_svg": preview });
    Ok(result)
}

#[derive(Deserialize)]
struct ConvertImage {
    image_path: PathBuf,
    #[serde(flatten)]
    options: wjp_convert::ConvertOptions,
}

/// `convert_image` as the binary wires it: the tracing of `wjp-convert`,
/// the DXF and its preview as artefacts under `output/`.
fn convert_image(ctx: &JobContext, output: &Path) -> Result<Value, HandlerError> {
    let args: ConvertImage = ctx.parse_payload()?;
    let conversion = wjp_convert::image_to_dxf(&input(output, &args.image_path)?, &args.options)
        .map_err(|e| HandlerError::InvalidPayload(e.to_string()))?;
    let id = &ctx.job().id;
    Ok(json!({
        "report": conversion.report,
        "artifacts": {
            "dxf": artefact(output, "conversions", &format!("{id}.dxf"), &conversion.dxf)?,
            "preview_svg": artefact(output, "conversions", &format!("{id}.svg"), &conversion.svg)?,
        },
    }))
}

#[derive(Deserialize)]
struct Nest {
    dxf_path: PathBuf,
    quantity: u32,
    #[serde(flatten)]
    options: wjp_cam::NestOptions,
}

/// `nest` as the binary wires it: the nesting of `wjp-cam`, each sheet's
/// DXF and SVG and the overview as artefacts under `output/nesting/`.
fn nest(ctx: &JobContext, output: &Path) -> Result<Value, HandlerError> {
    let args: Nest = ctx.parse_payload()?;
    let bytes = input(output, &args.dxf_path)?;
    let parts =
        wjp_cam::PartInput::from_dxf("part", &bytes, args.quantity, &AnalysisOptions::default())
            .map_err(|e| HandlerError::InvalidPayload(e.to_string()))?;
    // The best layout's figures as progress, and a cancel that stops the
    // search with its best layout (which the job then keeps), as the
    // binary's job process does.
    let result = wjp_cam::nest(
        &parts,
        &args.options,
        &mut |p| ctx.progress(p.fraction, p.message),
        &|| ctx.is_cancelled(),
    )
    .map_err(|e| HandlerError::InvalidPayload(e.to_string()))?;
    let id = &ctx.job().id;
    let store = |name: String, text: &str| artefact(output, "nesting", &name, text);
    let mut sheets = Vec::new();
    for sheet in &result.sheets {
        let n = sheet.sheet;
        sheets.push(json!({
            "sheet": n,
            "dxf": store(format!("{id}-sheet{n}.dxf"), &sheet.dxf)?,
            "svg": store(format!("{id}-sheet{n}.svg"), &sheet.svg)?,
        }));
    }
    let overview = store(format!("{id}.svg"), &result.svg)?;
    let mut value =
        serde_json::to_value(&result).map_err(|e| HandlerError::Failed(e.to_string()))?;
    value["svg"] = Value::Null;
    for sheet in value["sheets"].as_array_mut().into_iter().flatten() {
        sheet["dxf"] = Value::Null;
        sheet["svg"] = Value::Null;
    }
    value["artifacts"] = json!({ "preview_svg": overview, "sheets": sheets });
    Ok(value)
}

#[derive(Deserialize)]
struct Gcode {
    dxf_path: PathBuf,
    #[serde(flatten)]
    options: wjp_cam::GcodeOptions,
}

/// `generate_gcode` as the binary wires it: the program and its toolpath
/// picture as artefacts under `output/gcode/`.
fn gcode(ctx: &JobContext, output: &Path) -> Result<Value, HandlerError> {
    let args: Gcode = ctx.parse_payload()?;
    let program = wjp_cam::generate_gcode(&input(output, &args.dxf_path)?, &args.options)
        .map_err(|e| HandlerError::InvalidPayload(e.to_string()))?;
    let id = &ctx.job().id;
    Ok(json!({
        "dialect": program.dialect,
        "summary": program.summary,
        "warnings": program.warnings,
        "artifacts": {
            "gcode": artefact(output, "gcode", &format!("{id}.nc"), &program.program)?,
            "preview_svg": artefact(output, "gcode", &format!("{id}.svg"), &program.svg)?,
        },
    }))
}

fn real_handlers(catalog: &mut Catalog, handlers: &mut Handlers, data_dir: &Path) {
    catalog
        .register("analyze_dxf", "analysis", Some(Duration::from_secs(600)))
        .unwrap();
    catalog
        .register("convert_image", "conversion", None)
        .unwrap();
    catalog.register("nest", "nesting", None).unwrap();
    catalog.register("generate_gcode", "gcode", None).unwrap();
    let output = data_dir.join("output");
    let (nest_out, gcode_out) = (output.clone(), output.clone());
    handlers
        .add("nest", move |ctx: &JobContext| nest(ctx, &nest_out))
        .unwrap();
    handlers
        .add("generate_gcode", move |ctx: &JobContext| {
            gcode(ctx, &gcode_out)
        })
        .unwrap();
    let out = output.clone();
    handlers
        .add("analyze_dxf", move |ctx: &JobContext| {
            analyze_dxf(ctx, &out)
        })
        .unwrap();
    let out = output.clone();
    handlers
        .add("convert_image", move |ctx: &JobContext| {
            convert_image(ctx, &out)
        })
        .unwrap();
    catalog.register("analyze_csv", "analysis", None).unwrap();
    handlers
        .add("analyze_csv", move |ctx: &JobContext| {
            analyze_csv(ctx, &output)
        })
        .unwrap();
}

#[derive(Deserialize)]
struct AnalyzeCsv {
    csv_path: PathBuf,
}

/// `analyze_csv` as the binary wires it: the analysis of `wjp-convert`.
fn analyze_csv(ctx: &JobContext, output: &Path) -> Result<Value, HandlerError> {
    let args: AnalyzeCsv = ctx.parse_payload()?;
    let analysis = wjp_convert::analyze_components_csv(
        &input(output, &args.csv_path)?,
        &wjp_convert::CsvOptions::default(),
    )
    .map_err(|e| HandlerError::InvalidPayload(e.to_string()))?;
    serde_json::to_value(&analysis).map_err(|e| HandlerError::Failed(e.to_string()))
}

// ------------------------------------------------------------ a small WebDriver client

fn find_program(env: &str, candidates: &[&str]) -> PathBuf {
    if let Some(p) = std::env::var_os(env) {
        return PathBuf::from(p);
    }
    for c in candidates {
        let p = Path::new(c);
        if p.is_absolute() && p.is_file() {
            return p.to_path_buf();
        }
        if let Some(paths) = std::env::var_os("PATH") {
            for dir in std::env::split_paths(&paths) {
                if dir.join(c).is_file() {
                    return dir.join(c);
                }
            }
        }
    }
    panic!(
        "the dashboard test needs {} (set {env}, or install Debian's chromium and \
         chromium-driver: `.ci/run` does)",
        candidates.join(" or ")
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A chromedriver process and one browser session; both end on drop, even
/// when the test panics.
struct Browser {
    driver: Child,
    port: u16,
    session: String,
    http: reqwest::Client,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn start() -> Browser {
        let chromium = find_program("WJP_CHROMIUM", &["/usr/bin/chromium", "chromium"]);
        let chromedriver = find_program(
            "WJP_CHROMEDRIVER",
            &["/usr/bin/chromedriver", "chromedriver"],
        );
        let http = reqwest::Client::new();
        let port = free_port();
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromedriver.display()));
        let profile = tempfile::tempdir().unwrap();
        let mut browser = Browser {
            driver,
            port,
            session: String::new(),
            http,
            _profile: profile,
        };
        let started = Instant::now();
        loop {
            let ready = browser
                .http
                .get(format!("http://127.0.0.1:{port}/status"))
                .send()
                .await;
            if let Ok(r) = ready {
                let body: Value = r.json().await.unwrap_or_default();
                if body["value"]["ready"] == true {
                    break;
                }
            }
            assert!(
                started.elapsed() < WAIT,
                "chromedriver did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let args = [
            "--headless".to_owned(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-dev-shm-usage".into(),
            "--window-size=1280,1700".into(),
            format!("--user-data-dir={}", browser._profile.path().display()),
        ];
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": chromium, "args": args },
        }}});
        let r = browser.raw("POST", "/session", Some(caps)).await;
        browser.session = r["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {r}"))
            .to_owned();
        browser
    }

    async fn raw(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.try_raw(method, path, body)
            .await
            .unwrap_or_else(|body| panic!("WebDriver {method} {path}: {body}"))
    }

    /// The command's value, or WebDriver's error body.
    async fn try_raw(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, Value> {
        let url = format!("http://127.0.0.1:{}{path}", self.port);
        let request = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body.unwrap_or_else(|| json!({}))),
        };
        let response = request
            .timeout(Duration::from_secs(120))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        if status.is_success() {
            Ok(body["value"].clone())
        } else {
            Err(body)
        }
    }

    async fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.raw(method, &format!("/session/{}{path}", self.session), body)
            .await
    }

    async fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url }))).await;
    }

    async fn script(&self, script: &str, args: Value) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
        .await
    }

    async fn find(&self, css: &str) -> String {
        self.wait(&format!("document.querySelector({css:?}) !== null"), css)
            .await;
        let r = self
            .cmd(
                "POST",
                "/element",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await;
        r[ELEMENT].as_str().unwrap().to_owned()
    }

    async fn click(&self, css: &str) {
        // Enabled and visible first: clicks on a disabled button do nothing.
        self.wait(
            &format!(
                "(() => {{ const e = document.querySelector({css:?}); \
                 return e && !e.disabled && e.offsetParent !== null; }})()"
            ),
            &format!("{css} clickable"),
        )
        .await;
        // The page re-renders parts of itself on live events: an element
        // found a moment ago may be gone by the click. Find it again then.
        let started = Instant::now();
        loop {
            let id = self.find(css).await;
            let path = format!("/session/{}/element/{id}/click", self.session);
            match self.try_raw("POST", &path, None).await {
                Ok(_) => return,
                Err(body)
                    if body["value"]["error"] == "stale element reference"
                        && started.elapsed() < WAIT => {}
                Err(body) => panic!("WebDriver click on {css}: {body}"),
            }
        }
    }

    async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        if !css.contains("file") {
            self.cmd("POST", &format!("/element/{id}/clear"), None)
                .await;
        }
        self.cmd(
            "POST",
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    /// Waits until the JavaScript expression is truthy; returns its value.
    async fn wait(&self, expression: &str, what: &str) -> Value {
        let started = Instant::now();
        let script = format!("return ({expression}) || null;");
        loop {
            let v = self.script(&script, json!([])).await;
            if !v.is_null() && v != false {
                return v;
            }
            if started.elapsed() > WAIT {
                let page = self
                    .script(
                        "return document.body ? document.body.innerText.slice(0, 3000) : '';",
                        json!([]),
                    )
                    .await;
                panic!("waited in vain for {what} ({expression}); the page shows:\n{page}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn resize(&self, width: u32, height: u32) {
        self.cmd(
            "POST",
            "/window/rect",
            Some(json!({ "width": width, "height": height })),
        )
        .await;
    }

    async fn screenshot(&self, path: &Path) {
        let b64 = self.cmd("GET", "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"), "the screenshot is not a PNG");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ends the session (and Chromium with it) with a plain blocking
        // request: no runtime is needed in a destructor.
        if !self.session.is_empty() {
            if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(20)));
                let _ = write!(
                    stream,
                    "DELETE /session/{} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
                    self.session, self.port
                );
                let mut sink = Vec::new();
                let _ = stream.read_to_end(&mut sink);
            }
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// `GET path` with the API key, as JSON.
async fn get_json(s: &Server, path: &str) -> Value {
    s.client
        .get(s.url(path))
        .header("X-API-Key", KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn screenshot_path(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join(name)
}

// ------------------------------------------------------------ the test

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_in_a_real_browser() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/dxf/sky_squareandcircle.dxf")
        .canonicalize()
        .expect("the fixture DXF sky_squareandcircle.dxf");
    let s = Server::with(Options {
        shop: false,
        args: vec![
            "--api-key".into(),
            KEY.into(),
            "--workers".into(),
            "2".into(),
        ],
        configure: Some(real_handlers),
        ..Options::default()
    })
    .await;
    // History to page through, and failures for the failure rate.
    let submit = |body: Value| {
        let request = s
            .client
            .post(s.url("/jobs"))
            .header("X-API-Key", KEY)
            .json(&body);
        async move {
            let r = request.send().await.unwrap();
            assert_eq!(r.status(), 201);
        }
    };
    for _ in 0..55 {
        submit(json!({ "kind": "noop", "payload": {} })).await;
    }
    for i in 0..3 {
        submit(json!({
            "kind": "fail",
            "payload": { "message": format!("drawing {i} has no outline") },
            "max_attempts": 1,
        }))
        .await;
    }
    let started = Instant::now();
    loop {
        let body: Value = get_json(&s, "/queues").await;
        let default = &body["queues"][0];
        assert_eq!(default["name"], "default", "{body}");
        if default["completed"] == 55 && default["failed"] == 3 {
            break;
        }
        assert!(
            started.elapsed() < WAIT,
            "the history jobs did not finish: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A schedule, which the page lists.
    let scheduled = s
        .client
        .put(s.url("/schedules/nightly_report"))
        .header("X-API-Key", KEY)
        .json(&json!({ "kind": "noop", "every": 3600 }))
        .send()
        .await
        .unwrap();
    assert_eq!(scheduled.status(), 200);

    let browser = Browser::start().await;

    // The page loads without the key, then asks for it once.
    browser.goto(&s.url("/")).await;
    browser
        .wait(
            "document.getElementById('key-dialog').open",
            "the API key dialog",
        )
        .await;
    browser.type_into("#api-key", KEY).await;
    browser.click("#key-submit").await;
    browser
        .wait(
            "document.getElementById('live').dataset.state === 'open'",
            "the live stream",
        )
        .await;
    browser
        .wait(
            "document.querySelector('#queue-body tr[data-queue=\"analysis\"]')",
            "the queue table",
        )
        .await;
    browser
        .wait(
            "document.querySelector('#worker-body tr[data-worker]')",
            "the worker table",
        )
        .await;
    browser
        .wait(
            "document.querySelector('#schedule-body tr[data-schedule=\"nightly_report\"]')?.textContent.includes('every 60.0 min')",
            "the schedule in its table",
        )
        .await;
    // Paging through history, and filtering it.
    browser.click("#page-older").await;
    browser
        .wait(
            "document.getElementById('page-info').textContent.includes('older page 2') \
             && document.querySelectorAll('#jobs-body tr[data-job-id]').length === 8",
            "the older page",
        )
        .await;
    browser.click("#page-newest").await;
    browser
        .wait(
            "document.getElementById('page-info').textContent.includes('newest') \
             && document.querySelectorAll('#jobs-body tr[data-job-id]').length === 50",
            "the newest page",
        )
        .await;
    let set_filter = |id: &'static str, value: &'static str| {
        let script = format!(
            "const e = document.getElementById('{id}'); e.value = '{value}'; \
             e.dispatchEvent(new Event('change')); return null;"
        );
        let browser = &browser;
        async move {
            browser.script(&script, json!([])).await;
        }
    };
    // The table holds exactly `n` rows, each with this data attribute.
    let only_rows = |n: usize, field: &str, value: &str| {
        format!(
            "(() => {{ const rows = [...document.querySelectorAll('#jobs-body tr[data-job-id]')]; \
             return rows.length === {n} && rows.every(r => r.dataset.{field} === '{value}'); }})()"
        )
    };
    set_filter("f-status", "failed").await;
    browser
        .wait(&only_rows(3, "status", "failed"), "the failed jobs only")
        .await;
    set_filter("f-status", "").await;
    set_filter("f-kind", "fail").await;
    browser
        .wait(&only_rows(3, "kind", "fail"), "the jobs of kind fail only")
        .await;
    set_filter("f-kind", "").await;
    browser
        .wait(
            "document.querySelectorAll('#jobs-body tr[data-job-id]').length === 50",
            "the unfiltered table",
        )
        .await;
    let caption = browser
        .wait(
            "document.getElementById('chart-caption').textContent.includes('3 failed') \
             && document.getElementById('chart-caption').textContent",
            "the throughput chart",
        )
        .await;
    assert!(
        caption.as_str().unwrap().contains("55 completed"),
        "{caption}"
    );

    // Marks this page load: it must survive everything below (no reload).
    browser
        .script("window.wjpTestMark = 'same page'; return null;", json!([]))
        .await;

    // A picture chosen in the DXF form is refused at once, before any
    // upload or job.
    let picture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/images/simple_shapes.png")
        .canonicalize()
        .expect("the fixture image simple_shapes.png");
    browser
        .type_into("#dxf-file", &picture.display().to_string())
        .await;
    browser.click("#dxf-submit").await;
    browser
        .wait(
            "document.getElementById('submit-status').textContent.includes('is not a DXF drawing')",
            "the DXF form to refuse a picture",
        )
        .await;
    let uploads = std::fs::read_dir(s.uploads())
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(uploads, 0, "nothing was uploaded");

    // Upload and analyse the fixture.
    browser
        .script(
            "document.getElementById('dxf-file').value = ''; return null;",
            json!([]),
        )
        .await;
    browser
        .type_into("#dxf-file", &fixture.display().to_string())
        .await;
    browser
        .script(
            "document.getElementById('dxf-material').value = 'stainless_steel'; \
             document.getElementById('dxf-units').value = 'mm'; return null;",
            json!([]),
        )
        .await;
    browser.type_into("#dxf-thickness", "12").await;
    browser.type_into("#dxf-reference", "order 17").await;
    browser.click("#dxf-submit").await;
    let job_id = browser
        .wait(
            "(() => { const d = document.getElementById('detail'); \
             return !d.hidden && d.querySelector('#detail-h') \
               && d.querySelector('#detail-h').textContent.includes('analyze_dxf') \
               && d.dataset.jobId; })()",
            "the submitted job's detail",
        )
        .await;
    let job_id = job_id.as_str().unwrap().to_owned();
    browser
        .wait(
            "document.getElementById('detail').dataset.status === 'completed'",
            "the analysis to complete",
        )
        .await;
    // The list shows the job as the shop sees it: the drawing's name and
    // the material; a failed row says why; icons are drawn, not emoji.
    browser
        .wait(
            &format!(
                "(() => {{ const r = document.querySelector('#jobs-body tr[data-job-id=\"{job_id}\"]'); \
                 return r && r.querySelector('.drawing').textContent.includes('sky_squareandcircle') \
                   && r.querySelector('.drawing').textContent.includes('order 17') \
                   && r.querySelector('.material').textContent === 'stainless steel, 12 mm'; }})()"
            ),
            "the analysed job's row to name its drawing and material",
        )
        .await;
    // A thumbnail of its preview beside the name, loaded through the API
    // (an SVG drawn by the analysis, shown from a blob URL). Thumbnails load
    // when their row comes near the screen, and the open job view above the
    // list may have pushed the row out of it: scroll to it, as a user would.
    browser
        .script(
            &format!(
                "document.querySelector('#jobs-body tr[data-job-id=\"{job_id}\"]').scrollIntoView(); return null;"
            ),
            json!([]),
        )
        .await;
    browser
        .wait(
            &format!(
                "(() => {{ const t = document.querySelector('#jobs-body tr[data-job-id=\"{job_id}\"] img.thumb'); \
                 return t && t.src.startsWith('blob:') && t.complete && t.naturalWidth > 0; }})()"
            ),
            "the analysed job's thumbnail in its row",
        )
        .await;
    // And its figures at a glance: cut length, pierces, cost.
    browser
        .wait(
            &format!(
                "(() => {{ const f = document.querySelector('#jobs-body tr[data-job-id=\"{job_id}\"] .figures'); \
                 return f && / m · 2 pierces · [0-9.,]+ /.test(f.textContent); }})()"
            ),
            "the analysed job's figures in its row",
        )
        .await;
    let failed_row_says_why = browser
        .script(
            "return [...document.querySelectorAll('#jobs-body tr[data-status=\"failed\"]')] \
             .some(r => r.textContent.includes('has no outline'));",
            json!([]),
        )
        .await;
    assert_eq!(failed_row_says_why, true, "a failed row shows its error");
    let icons = browser
        .script(
            "const b = [...document.querySelectorAll('#jobs-body .status')]; \
             return b.length > 0 && b.every(s => s.querySelector('svg.icon') && \
               !/[\\u{1F300}-\\u{1FAFF}\\u{23F0}-\\u{23FF}]/u.test(s.textContent));",
            json!([]),
        )
        .await;
    assert_eq!(icons, true, "every status has a drawn icon and no emoji");
    // The units chosen in the form went with the job.
    let submitted: Value = get_json(&s, &format!("/jobs/{job_id}")).await;
    assert_eq!(submitted["payload"]["units"], "mm", "{submitted}");
    assert_eq!(submitted["reference"], "order 17", "{submitted}");
    // The page saw it queued and completed through the live stream, and the
    // table row moved too.
    let seen = browser
        .script(
            "return [...document.querySelectorAll('#detail-history li')].map(li => li.dataset.status);",
            json!([]),
        )
        .await;
    let seen: Vec<&str> = seen
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        seen.contains(&"queued") && seen.last() == Some(&"completed"),
        "statuses seen live: {seen:?}"
    );
    browser
        .wait(
            &format!(
                "document.querySelector('#jobs-body tr[data-job-id=\"{job_id}\"]')?.dataset.status === 'completed'"
            ),
            "the job's row to say completed",
        )
        .await;

    // The report, readable, with its preview.
    let facts = browser
        .wait(
            "document.getElementById('report-facts')?.innerText",
            "the analysis report",
        )
        .await;
    let facts = facts.as_str().unwrap();
    for word in ["Cut length", "Pierces", "Parts", "Cutting time", "Cost"] {
        assert!(
            facts.contains(word),
            "{word} missing from the report: {facts}"
        );
    }
    let (_, job) = s
        .client
        .get(s.url(&format!("/jobs/{job_id}")))
        .header("X-API-Key", KEY)
        .send()
        .await
        .map(|r| (r.status(), r))
        .unwrap();
    let job: Value = job.json().await.unwrap();
    let pierces = job["result"]["metrics"]["pierce_count"].as_u64().unwrap();
    assert!(pierces > 0, "{job}");
    assert!(facts.contains(&pierces.to_string()), "{facts}");
    browser
        .wait(
            "(() => { const i = document.getElementById('preview-img'); \
             return i && i.complete && i.naturalWidth > 0; })()",
            "the SVG preview",
        )
        .await;

    // An image, converted to a drawing: followed to its preview and output.
    let image = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/images/simple_shapes.png")
        .canonicalize()
        .expect("the fixture image simple_shapes.png");
    browser
        .type_into("#image-file", &image.display().to_string())
        .await;
    browser.click("#image-submit").await;
    browser
        .wait(
            "(() => { const d = document.getElementById('detail'); \
             return d.querySelector('#detail-h').textContent.includes('convert_image') \
               && d.dataset.status === 'completed'; })()",
            "the image conversion to complete",
        )
        .await;
    browser
        .wait(
            "(() => { const i = document.getElementById('preview-img'); \
             return i && i.complete && i.naturalWidth > 0 \
               && document.getElementById('download-output'); })()",
            "the conversion's preview and download",
        )
        .await;

    // Its details say what was traced and kept, and how large it is.
    browser
        .wait(
            "(() => { const f = document.getElementById('conversion-facts'); \
             return f && f.textContent.includes('Outlines kept') && f.textContent.includes(' mm'); })()",
            "the conversion's figures",
        )
        .await;
    browser
        .script(
            "document.getElementById('detail').scrollIntoView(); return null;",
            json!([]),
        )
        .await;
    browser
        .screenshot(&screenshot_path("dashboard-details-conversion.png"))
        .await;

    // A components CSV: its statistics and layers as tables, not JSON.
    let csv = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/csv/lengths.csv")
        .canonicalize()
        .expect("the fixture lengths.csv");
    let csv_job = s
        .client
        .post(s.url("/jobs"))
        .header("X-API-Key", KEY)
        .json(&json!({ "kind": "analyze_csv", "payload": { "csv_path": csv } }))
        .send()
        .await
        .unwrap();
    assert_eq!(csv_job.status(), 201);
    let csv_job: Value = csv_job.json().await.unwrap();
    let csv_id = csv_job["job_id"].as_str().unwrap().to_owned();
    browser
        .wait(
            &format!("document.querySelector('#jobs-body tr[data-job-id=\"{csv_id}\"][data-status=\"completed\"]')"),
            "the CSV analysis to complete",
        )
        .await;
    browser
        .click(&format!("#jobs-body tr[data-job-id=\"{csv_id}\"] button"))
        .await;
    browser
        .wait(
            "(() => { const s = document.getElementById('csv-stats'); const l = document.getElementById('csv-layers'); \
             return s && l && s.textContent.includes('Objects') && l.textContent.includes('HOLE') \
               && !document.querySelector('#result pre'); })()",
            "the CSV analysis as tables",
        )
        .await;
    browser
        .script(
            "document.getElementById('detail').scrollIntoView(); return null;",
            json!([]),
        )
        .await;
    browser
        .screenshot(&screenshot_path("dashboard-details-csv.png"))
        .await;

    // A long sleep job, submitted and cancelled from the page. Long enough
    // to outlast the clicks on a slow machine, short enough that a failing
    // run reports within a minute: the runtime waits for the job's thread.
    browser.type_into("#job-kind", "sleep").await;
    browser.type_into("#job-payload", "{\"seconds\": 60}").await;
    browser.click("#job-submit").await;
    let sleep_id = browser
        .wait(
            &format!(
                "(() => {{ const d = document.getElementById('detail'); \
                 return d.dataset.jobId !== '{job_id}' && d.dataset.status === 'running' && d.dataset.jobId; }})()"
            ),
            "the sleep job to run",
        )
        .await;
    let sleep_id = sleep_id.as_str().unwrap().to_owned();
    browser.click("#cancel-btn").await;
    browser
        .wait(
            "document.getElementById('detail').dataset.status === 'cancelled'",
            "the sleep job to be cancelled",
        )
        .await;
    // Retried from the page, then cancelled again.
    browser.click("#retry-btn").await;
    browser
        .wait(
            &format!(
                "(() => {{ const d = document.getElementById('detail'); \
                 return d.dataset.jobId === '{sleep_id}' && d.dataset.status === 'running'; }})()"
            ),
            "the retried sleep job to run",
        )
        .await;
    browser.click("#cancel-btn").await;
    browser
        .wait(
            "document.getElementById('detail').dataset.status === 'cancelled'",
            "the retried sleep job to be cancelled",
        )
        .await;
    let job: Value = get_json(&s, &format!("/jobs/{sleep_id}")).await;
    assert_eq!(job["status"], "cancelled", "{job}");
    browser
        .wait(
            &format!(
                "document.querySelector('#jobs-body tr[data-job-id=\"{sleep_id}\"]')?.dataset.status === 'cancelled'"
            ),
            "the sleep job's row to say cancelled",
        )
        .await;
    let mark = browser
        .script("return window.wjpTestMark || null;", json!([]))
        .await;
    assert_eq!(mark, "same page", "the page reloaded");

    // A nesting and a G-code job of the same drawing, each shown as what it
    // is: the sheets with their files, the program's figures.
    let drawing = submitted["payload"]["dxf_path"]
        .as_str()
        .unwrap()
        .to_owned();
    let send = |body: Value| {
        let request = s
            .client
            .post(s.url("/jobs"))
            .header("X-API-Key", KEY)
            .json(&body);
        async move {
            let r = request.send().await.unwrap();
            assert_eq!(r.status(), 201);
            r.json::<Value>().await.unwrap()["job_id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let nest_id = send(json!({ "kind": "nest", "payload": {
        "dxf_path": drawing, "quantity": 4, "sheet_width": 60, "sheet_height": 40, "time_limit_s": 1 } }))
    .await;
    let nest_row = format!("#jobs-body tr[data-job-id=\"{nest_id}\"] button");
    browser
        .wait(
            &format!("!!document.querySelector('{nest_row}')"),
            "the nest job's row",
        )
        .await;
    browser.click(&nest_row).await;
    browser
        .wait(
            "document.getElementById('detail').dataset.status === 'completed' \
             && document.querySelectorAll('#result table.sheets tbody tr').length > 0 \
             && [...document.querySelectorAll('#result table.sheets button')].some(b => b.textContent === 'DXF')",
            "the nest job's sheets with their files",
        )
        .await;
    let nested = get_json(&s, &format!("/jobs/{nest_id}")).await;
    let sheet_dxf = nested["result"]["artifacts"]["sheets"][0]["dxf"]
        .as_str()
        .unwrap()
        .to_owned();
    // The sheet's DXF the page links to is there to download.
    let file = s
        .client
        .get(s.url(&format!("/files/{sheet_dxf}")))
        .header("X-API-Key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(file.status(), 200, "{sheet_dxf}");
    let text = file.text().await.unwrap();
    assert!(
        text.contains("\nSECTION") && text.trim_end().ends_with("EOF"),
        "{text:.80}"
    );
    let gcode_id =
        send(json!({ "kind": "generate_gcode", "payload": { "dxf_path": drawing } })).await;
    let gcode_row = format!("#jobs-body tr[data-job-id=\"{gcode_id}\"] button");
    browser
        .wait(
            &format!("!!document.querySelector('{gcode_row}')"),
            "the G-code job's row",
        )
        .await;
    browser.click(&gcode_row).await;
    browser
        .wait(
            "document.getElementById('detail').dataset.status === 'completed' \
             && document.getElementById('result').textContent.includes('Pierces') \
             && document.getElementById('result').textContent.includes('linuxcnc')",
            "the G-code job's figures",
        )
        .await;

    // A long nesting: its view shows the best layout's figures while it
    // searches; cancelled from the view, it keeps that layout.
    let long_id = send(json!({ "kind": "nest", "payload": {
        "dxf_path": drawing, "quantity": 4, "sheet_width": 60, "sheet_height": 40, "time_limit_s": 300 } }))
    .await;
    let long_row = format!("#jobs-body tr[data-job-id=\"{long_id}\"] button");
    browser
        .wait(
            &format!("!!document.querySelector('{long_row}')"),
            "the long nest job's row",
        )
        .await;
    browser.click(&long_row).await;
    browser
        .wait(
            "document.getElementById('detail').dataset.status === 'running' \
             && /improving: step \\d+, .*(\\d+)\\/\\1 parts on 1 sheet, \\d+\\.\\d%/.test(\
                document.querySelector('#detail .prog-big .msg')?.textContent || '')",
            "the best layout's figures while the nest searches",
        )
        .await;
    browser.click("#cancel-btn").await;
    browser
        .wait(
            "document.getElementById('detail').dataset.status === 'cancelled' \
             && document.querySelectorAll('#result table.sheets tbody tr').length > 0 \
             && document.getElementById('result').textContent.includes('best layout found before the stop')",
            "the cancelled nest's layout",
        )
        .await;

    // Pausing a queue from its row: a job sent to it waits, and its panel
    // says why; resuming lets it run.
    let pause_button = "#queue-body tr[data-queue=\"default\"] button";
    browser.click(pause_button).await;
    browser
        .wait(
            "document.querySelector('#queue-body tr[data-queue=\"default\"]')?.dataset.paused === 'true'",
            "the default queue to show paused",
        )
        .await;
    let held: Value = s
        .client
        .post(s.url("/jobs"))
        .header("X-API-Key", KEY)
        .json(&json!({ "kind": "noop", "payload": { "held": true } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let held_id = held["job_id"].as_str().unwrap().to_owned();
    let held_row = format!("#jobs-body tr[data-job-id=\"{held_id}\"] button");
    browser
        .wait(
            &format!("!!document.querySelector('{held_row}')"),
            "the held job's row",
        )
        .await;
    browser.click(&held_row).await;
    browser
        .wait(
            "document.getElementById('detail-body').textContent.includes('queue default is paused')",
            "the held job's panel to say its queue is paused",
        )
        .await;
    browser.click(pause_button).await;
    browser
        .wait(
            "document.getElementById('detail').dataset.status === 'completed'",
            "the held job to run once the queue is resumed",
        )
        .await;

    // A queue's limits show in its row.
    let limited = s
        .client
        .put(s.url("/queues/nesting/limits"))
        .header("X-API-Key", KEY)
        .json(&json!({ "max_running": 2, "rate": "30/m" }))
        .send()
        .await
        .unwrap();
    assert_eq!(limited.status(), 200);
    // The page reads the queues again every 15 s.
    browser
        .wait(
            "document.querySelector('#queue-body tr[data-queue=\"nesting\"] .limits')?.textContent === 'max 2 running, 30/m'",
            "the nesting queue's limits in its row",
        )
        .await;

    // The three failed jobs of `default` run again from one button.
    browser
        .click("#queue-body tr[data-queue=\"default\"] button.retry-failed")
        .await;
    browser
        .wait(
            "document.getElementById('submit-status')?.textContent.includes('Queued 3 failed jobs of default again')",
            "the bulk retry to be confirmed",
        )
        .await;

    // The history keeps a job's life after its record expired: who
    // submitted it (the key's fingerprint, never the key), and its end.
    let short_lived = s
        .client
        .post(s.url("/jobs"))
        .header("X-API-Key", KEY)
        .json(
            &json!({ "kind": "noop", "payload": {}, "reference": "PO-HIST-7", "result_ttl": 0.5 }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(short_lived.status(), 201);
    let short_lived: Value = short_lived.json().await.unwrap();
    let short_id = short_lived["job_id"].as_str().unwrap().to_owned();
    let started = Instant::now();
    loop {
        let r = s
            .client
            .get(s.url(&format!("/jobs/{short_id}")))
            .header("X-API-Key", KEY)
            .send()
            .await
            .unwrap();
        if r.status() == 404 {
            break;
        }
        assert!(started.elapsed() < WAIT, "job {short_id} did not expire");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    browser.type_into("#h-reference", "po-hist").await;
    browser.click("#h-search").await;
    browser
        .wait(
            &format!(
                "(() => {{ const rows = [...document.querySelectorAll('#history-body tr[data-job=\"{short_id}\"]')]; \
                 const sub = rows.find(r => r.dataset.outcome === 'submitted'); \
                 return rows.some(r => r.dataset.outcome === 'completed') && sub \
                   && sub.textContent.includes('PO-HIST-7') && sub.textContent.includes('by key ') \
                   && !sub.textContent.includes('{KEY}'); }})()"
            ),
            "the expired job's life in the history",
        )
        .await;
    browser
        .script(
            "document.getElementById('history').scrollIntoView(); return null;",
            json!([]),
        )
        .await;
    browser
        .screenshot(&screenshot_path("dashboard-history.png"))
        .await;

    // A failed job's details list its attempts from the audit log.
    let failing = s
        .client
        .post(s.url("/jobs"))
        .header("X-API-Key", KEY)
        .json(
            &json!({ "kind": "fail", "payload": { "message": "the sheet is too small" },
                       "max_attempts": 2, "backoff": 0, "reference": "PO-FAIL-9" }),
        )
        .send()
        .await
        .unwrap();
    let failing: Value = failing.json().await.unwrap();
    let failing_id = failing["job_id"].as_str().unwrap().to_owned();
    browser
        .wait(
            &format!(
                "document.querySelector('#jobs-body tr[data-job-id=\"{failing_id}\"][data-status=\"failed\"]')"
            ),
            "the failing job's row, failed",
        )
        .await;
    browser
        .click(&format!(
            "#jobs-body tr[data-job-id=\"{failing_id}\"] button"
        ))
        .await;
    browser
        .wait(
            "(() => { const s = [...document.querySelectorAll('#detail-steps li')]; \
             return s.some(li => li.dataset.outcome === 'retrying' && li.textContent.includes('attempt 1') \
                 && li.textContent.includes('the sheet is too small')) \
               && s.some(li => li.dataset.outcome === 'failed' && li.textContent.includes('attempt 2')); })()",
            "the failed job's attempts in its details",
        )
        .await;
    browser
        .script(
            "document.getElementById('detail').scrollIntoView(); return null;",
            json!([]),
        )
        .await;
    browser
        .screenshot(&screenshot_path("dashboard-details-failed.png"))
        .await;

    // The analysed drawing runs again in aluminium, from its details: a
    // new job with the new material, the rest as before.
    browser
        .click(&format!("#jobs-body tr[data-job-id=\"{job_id}\"] button"))
        .await;
    browser
        .wait(
            &format!(
                "document.getElementById('detail').dataset.jobId === '{job_id}' \
                 && document.getElementById('rerun-material')"
            ),
            "the re-run form of the analysed job",
        )
        .await;
    browser.type_into("#rerun-material", "aluminium").await;
    browser.click("#rerun-submit").await;
    let rerun_id = browser
        .wait(
            &format!(
                "(() => {{ const d = document.getElementById('detail'); \
                 return d.dataset.jobId && d.dataset.jobId !== '{job_id}' \
                   && d.dataset.status === 'completed' && d.dataset.jobId; }})()"
            ),
            "the re-run job, completed",
        )
        .await;
    let rerun_id = rerun_id.as_str().unwrap().to_owned();
    let rerun: Value = get_json(&s, &format!("/jobs/{rerun_id}")).await;
    assert_eq!(rerun["payload"]["material"], "aluminium", "{rerun}");
    assert_eq!(rerun["payload"]["thickness"], 12.0, "{rerun}");
    assert_eq!(rerun["reference"], "order 17", "{rerun}");
    browser
        .wait(
            &format!(
                "document.querySelector('#jobs-body tr[data-job-id=\"{rerun_id}\"] .material')?.textContent === 'aluminium, 12 mm'"
            ),
            "the re-run job's row in aluminium",
        )
        .await;
    browser
        .script(
            "document.getElementById('detail').scrollIntoView(); return null;",
            json!([]),
        )
        .await;
    browser
        .screenshot(&screenshot_path("dashboard-details-rerun.png"))
        .await;

    // The list is searched on the server, by reference.
    browser.type_into("#f-search", "ORDER 17").await;
    browser.click("#f-apply").await;
    browser
        .wait(
            &format!(
                "(() => {{ const rows = [...document.querySelectorAll('#jobs-body tr[data-job-id]')]; \
                 return rows.length === 2 && rows.every(r => r.querySelector('.drawing').textContent.includes('order 17')) \
                   && rows.some(r => r.dataset.jobId === '{rerun_id}'); }})()"
            ),
            "the search by reference",
        )
        .await;
    browser
        .script(
            "document.getElementById('jobs').scrollIntoView(); return null;",
            json!([]),
        )
        .await;
    browser
        .screenshot(&screenshot_path("dashboard-search.png"))
        .await;
    browser.type_into("#f-search", "").await;
    browser.click("#f-apply").await;
    browser
        .wait(
            "document.querySelectorAll('#jobs-body tr[data-job-id]').length === 50",
            "the whole list again",
        )
        .await;

    // Picked rows: two failed jobs run again together, two waiting ones
    // are cancelled together, and a queue's waiting jobs from its row.
    let submit_id = |body: Value| {
        let request = s
            .client
            .post(s.url("/jobs"))
            .header("X-API-Key", KEY)
            .json(&body);
        async move {
            let r = request.send().await.unwrap();
            assert_eq!(r.status(), 201);
            let body: Value = r.json().await.unwrap();
            body["job_id"].as_str().unwrap().to_owned()
        }
    };
    let mut failed_ids = Vec::new();
    for i in 0..2 {
        failed_ids.push(
            submit_id(json!({ "kind": "fail", "payload": { "message": format!("bulk {i}") }, "max_attempts": 1 }))
                .await,
        );
    }
    for id in &failed_ids {
        browser
            .wait(
                &format!("document.querySelector('#jobs-body tr[data-job-id=\"{id}\"][data-status=\"failed\"]')"),
                "a failed job to pick",
            )
            .await;
        browser
            .click(&format!("#jobs-body tr[data-job-id=\"{id}\"] input.pick"))
            .await;
    }
    browser.click("#bulk-retry").await;
    browser
        .wait(
            "document.getElementById('submit-status')?.textContent.includes('Queued 2 jobs again')",
            "the picked jobs to run again",
        )
        .await;
    for id in &failed_ids {
        let retried = get_json(&s, &format!("/history?job={id}&outcome=retried")).await;
        assert_eq!(retried["entries"].as_array().unwrap().len(), 1, "{retried}");
    }
    let mut waiting_ids = Vec::new();
    for _ in 0..2 {
        waiting_ids.push(submit_id(json!({ "kind": "noop", "payload": {}, "delay": 3600 })).await);
    }
    for id in &waiting_ids {
        browser
            .wait(
                &format!("document.querySelector('#jobs-body tr[data-job-id=\"{id}\"][data-status=\"scheduled\"]')"),
                "a waiting job to pick",
            )
            .await;
        browser
            .click(&format!("#jobs-body tr[data-job-id=\"{id}\"] input.pick"))
            .await;
    }
    browser.click("#bulk-cancel").await;
    for id in &waiting_ids {
        browser
            .wait(
                &format!("document.querySelector('#jobs-body tr[data-job-id=\"{id}\"][data-status=\"cancelled\"]')"),
                "the picked jobs, cancelled",
            )
            .await;
    }
    for _ in 0..2 {
        submit_id(json!({ "kind": "noop", "payload": {}, "delay": 3600 })).await;
    }
    browser
        .click("#queue-body tr[data-queue=\"default\"] button.cancel-waiting")
        .await;
    browser
        .wait(
            "document.getElementById('submit-status')?.textContent.includes('Cancelled 2 waiting jobs of default')",
            "the queue's waiting jobs, cancelled",
        )
        .await;
    browser
        .script("window.scrollTo(0, 0); return null;", json!([]))
        .await;
    browser
        .screenshot(&screenshot_path("dashboard-list.png"))
        .await;

    // Back to the report for the screenshot.
    browser
        .click(&format!("#jobs-body tr[data-job-id=\"{job_id}\"] button"))
        .await;
    browser
        .wait(
            "(() => { const i = document.getElementById('preview-img'); \
             return i && i.complete && i.naturalWidth > 0; })()",
            "the preview again",
        )
        .await;
    browser
        .script("window.scrollTo(0, 0); return null;", json!([]))
        .await;
    let path = screenshot_path("dashboard-screenshot.png");
    browser.screenshot(&path).await;
    eprintln!("dashboard screenshot: {}", path.display());

    // At 1280 px and on a tablet (portrait) nothing is wider than the
    // screen: wide tables scroll inside their own box.
    for (width, height, name) in [
        (1280, 900, "dashboard-screenshot-1280.png"),
        (820, 1180, "dashboard-screenshot-tablet.png"),
    ] {
        browser.resize(width, height).await;
        let overflow = browser
            .wait(
                &format!(
                    "(() => {{ const w = document.documentElement; \
                     return Math.abs(w.clientWidth - {width}) < 40 && String(w.scrollWidth - w.clientWidth); }})()"
                ),
                "the layout at this width",
            )
            .await;
        assert_eq!(overflow, "0", "the page is wider than {width} px");
        browser
            .script("window.scrollTo(0, 0); return null;", json!([]))
            .await;
        browser.screenshot(&screenshot_path(name)).await;
    }

    // The same page on a phone: one column, nothing wider than the screen.
    browser.resize(390, 844).await;
    let overflow = browser
        .wait(
            "(() => { const w = document.documentElement; \
             return w.clientWidth < 500 && String(w.scrollWidth - w.clientWidth); })()",
            "the phone layout",
        )
        .await;
    assert_eq!(overflow, "0", "the page is wider than a phone screen");
    browser
        .script("window.scrollTo(0, 0); return null;", json!([]))
        .await;
    browser
        .screenshot(&screenshot_path("dashboard-screenshot-phone.png"))
        .await;
    drop(browser);
    let (stopped, _, _) = s.stop().await;
    stopped.unwrap();
}

// ------------------------------------------------------------ without a browser

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_is_public_the_data_is_not() {
    let s = Server::with(Options {
        workers: false,
        args: vec!["--api-key".into(), KEY.into()],
        ..Options::default()
    })
    .await;
    for (path, content_type) in [
        ("/", "text/html; charset=utf-8"),
        ("/assets/app.js", "text/javascript; charset=utf-8"),
        ("/assets/app.css", "text/css; charset=utf-8"),
        ("/assets/icon.svg", "image/svg+xml"),
    ] {
        let r = s.client.get(s.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()["content-type"], content_type, "{path}");
        assert!(
            r.headers().contains_key("content-security-policy"),
            "{path}"
        );
    }
    let page = s.client.get(s.url("/")).send().await.unwrap();
    let html = page.text().await.unwrap();
    assert!(html.contains("/assets/app.js") && !html.contains("https://"));
    // Unknown assets are a JSON 404; the API itself still needs the key.
    let (status, body) = s.get("/assets/nope.js").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("asset_not_found"))
    );
    for path in ["/jobs", "/queues", "/events", "/files/output/x.svg"] {
        let (status, body) = s.get(path).await;
        assert_eq!(status, 401, "{path}: {body}");
    }
    // Only reads of the page are public.
    let r = s.client.post(s.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let (stopped, _, _) = s.stop().await;
    stopped.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn artefacts_below_a_folder_are_downloadable() {
    let s = Server::with(Options {
        workers: false,
        ..Options::default()
    })
    .await;
    let previews = s.dir.path().join("output/previews");
    std::fs::create_dir_all(&previews).unwrap();
    std::fs::write(previews.join("job.svg"), "<svg/>").unwrap();
    std::fs::write(s.dir.path().join("secret.txt"), "no").unwrap();
    let r = s
        .client
        .get(s.url("/files/output/previews/job.svg"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/svg+xml");
    assert_eq!(r.text().await.unwrap(), "<svg/>");
    for path in [
        "/files/output/previews/../../secret.txt",
        "/files/output/previews/..%2F..%2Fsecret.txt",
        "/files/output/.previews/job.svg",
        "/files/output/previews//job.svg",
        "/files/output/previews/",
        "/files/output/previews",
    ] {
        let (status, body) = s.get(path).await;
        assert!(status == 400 || status == 404, "{path}: {status} {body}");
        assert_eq!(body["success"], false, "{path}");
    }
    let (stopped, _, _) = s.stop().await;
    stopped.unwrap();
}
