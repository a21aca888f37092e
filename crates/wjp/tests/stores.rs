//! The artefact store: a shop on several machines sharing only Redis and an
//! S3-compatible server, the same flow on the embedded default, and keys
//! under attack against the bucket.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::{fixture, status_of, Api, Env};

/// A worker process, killed when the test ends however it ends.
pub struct Worker(pub std::process::Child);

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A multipart form with one file.
pub fn form(field: &str, file_name: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = "wjpstoreboundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; \
         filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

fn sha256_hex(bytes: &[u8]) -> String {
    let out = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().expect("stdin").write_all(bytes)?;
            child.wait_with_output()
        })
        .expect("run sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// Waits for a queued job to complete, and returns its record.
fn completed(api: &Api, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let job = api.get(&format!("/jobs/{id}")).json();
        match status_of(&job) {
            "completed" => return job,
            "failed" | "cancelled" => panic!("job {id} ended {job:#}"),
            _ => {}
        }
        assert!(
            Instant::now() < deadline,
            "job {id} never completed: {job:#}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Fetches every file a job's result lists, through the API, checking each
/// against its recorded size and hash; returns them.
fn fetch_all(api: &Api, job: &Value) -> Vec<(String, Vec<u8>)> {
    let files = job["result"]["artifact_files"]
        .as_array()
        .unwrap_or_else(|| panic!("no artifact_files in {job:#}"));
    assert!(!files.is_empty(), "{job:#}");
    files
        .iter()
        .map(|file| {
            let url = file["url"].as_str().expect("url");
            let answer = api.get(url);
            assert_eq!(answer.status, 200, "{url}: {}", answer.text());
            assert!(answer.header("content-disposition").is_some(), "{url}");
            assert_eq!(
                answer.body.len() as u64,
                file["size"].as_u64().unwrap(),
                "{url}"
            );
            assert_eq!(
                sha256_hex(&answer.body),
                file["sha256"].as_str().unwrap(),
                "{url}"
            );
            (url.to_owned(), answer.body)
        })
        .collect()
}

/// The shop's day through the API, every job queued: upload a drawing,
/// analyse it, convert a picture, nest, generate G-code, export; every
/// result file fetched through the API.
fn shop_flow(api: &Api) {
    let drawing = crate::cli::plate_with_hole_dxf();
    let (content_type, body) = form("file", "plate.dxf", drawing.as_bytes());
    let uploaded = api
        .request("POST", "/upload", &[("Content-Type", &content_type)], &body)
        .unwrap();
    assert_eq!(uploaded.status, 200, "{}", uploaded.text());
    let uploaded = uploaded.json();
    assert_eq!(uploaded["size"], drawing.len(), "{uploaded}");
    assert_eq!(
        uploaded["sha256"],
        sha256_hex(drawing.as_bytes()),
        "{uploaded}"
    );
    let name = uploaded["relative_path"].as_str().unwrap().to_owned();
    let key = uploaded["key"].as_str().unwrap().to_owned();
    assert_eq!(key, format!("uploads/{name}"));
    // The upload itself can be fetched back, whole and in part.
    let back = api.get(uploaded["url"].as_str().unwrap());
    assert_eq!(back.body, drawing.as_bytes());
    let part = api
        .request(
            "GET",
            &format!("/files/{key}"),
            &[("Range", "bytes=0-9")],
            b"",
        )
        .unwrap();
    assert_eq!(part.status, 206, "{}", part.text());
    assert_eq!(part.body, &drawing.as_bytes()[..10]);
    assert_eq!(
        part.header("content-range"),
        Some(format!("bytes 0-9/{}", drawing.len()).as_str())
    );

    // Analysis, by the old relative name.
    let queued = api.post_json(
        "/analyze-dxf?async_mode=true",
        &json!({"dxf_path": name, "material": "aluminium", "thickness": 10}),
    );
    assert_eq!(queued.status, 200, "{}", queued.text());
    let analysis = completed(api, queued.json()["job_id"].as_str().unwrap());
    let id = analysis["job_id"].as_str().unwrap();
    let preview = api.get(&format!("/jobs/{id}/artifacts/preview_svg"));
    assert_eq!(preview.status, 200, "{}", preview.text());
    assert_eq!(preview.header("content-type"), Some("image/svg+xml"));
    assert!(preview.text().contains("<svg"), "{}", preview.text());
    fetch_all(api, &analysis);
    assert_eq!(analysis["result"]["dxf_path"], key.as_str(), "{analysis:#}");

    // An export of that analysis, which reads the drawing again.
    let report = analysis["result"].clone();
    let queued = api.post_json("/export/layered-dxf?async_mode=true", &report);
    assert_eq!(queued.status, 200, "{}", queued.text());
    let queued = queued.json();
    let export = completed(api, queued["job_id"].as_str().unwrap());
    let layered = api.get(queued["download_url"].as_str().unwrap());
    assert_eq!(layered.status, 200, "{}", layered.text());
    assert!(layered.text().contains("OUTER"), "{}", layered.text());
    fetch_all(api, &export);

    // A picture converted to a drawing.
    let image = std::fs::read(fixture("images/simple_shapes.png")).unwrap();
    let (content_type, body) = form("image_file", "shapes.png", &image);
    let queued = api
        .request(
            "POST",
            "/convert-image?async_mode=true",
            &[("Content-Type", &content_type)],
            &body,
        )
        .unwrap();
    assert_eq!(queued.status, 200, "{}", queued.text());
    let queued = queued.json();
    let conversion = completed(api, queued["job_id"].as_str().unwrap());
    let dxf = api.get(queued["download_url"].as_str().unwrap());
    assert_eq!(dxf.status, 200, "{}", dxf.text());
    assert!(dxf.text().contains("EOF"), "not a DXF");
    fetch_all(api, &conversion);

    // Nesting, and G-code.
    let queued = api.post_json(
        &format!(
            "/nest?async_mode=true&dxf_path={name}&sheet_width=400&sheet_height=250&time_limit_s=1"
        ),
        &Value::Null,
    );
    assert_eq!(queued.status, 200, "{}", queued.text());
    let nest = completed(api, queued.json()["job_id"].as_str().unwrap());
    let sheets = fetch_all(api, &nest);
    assert!(
        sheets.iter().any(|(url, body)| url.contains(".sheet")
            && url.ends_with(".dxf")
            && String::from_utf8_lossy(body).contains("EOF")),
        "{nest:#}"
    );
    let queued = api.post_json(
        &format!("/gcode?async_mode=true&dxf_path={key}"),
        &Value::Null,
    );
    assert_eq!(queued.status, 200, "{}", queued.text());
    let gcode = completed(api, queued.json()["job_id"].as_str().unwrap());
    let id = gcode["job_id"].as_str().unwrap();
    let program = api.get(&format!("/jobs/{id}/artifacts/gcode"));
    assert_eq!(program.status, 200, "{}", program.text());
    assert!(program.text().contains("G0") || program.text().contains("G00"));
    fetch_all(api, &gcode);

    // A missing input fails its job for good, naming the key.
    let queued = api.post_json(
        "/jobs",
        &json!({"kind": "analyze_dxf", "payload": {"dxf_path": "uploads/never-sent.dxf"}}),
    );
    if queued.status == 404 {
        // A local store knows at once.
        assert_eq!(queued.code(), "file_not_found", "{}", queued.text());
    } else {
        // A bucket is asked when the job runs.
        assert_eq!(queued.status, 201, "{}", queued.text());
        let id = queued.json()["job_id"].as_str().unwrap().to_owned();
        let deadline = Instant::now() + Duration::from_secs(60);
        let job = loop {
            let job = api.get(&format!("/jobs/{id}")).json();
            if status_of(&job) == "failed" {
                break job;
            }
            assert!(Instant::now() < deadline, "{job:#}");
            std::thread::sleep(Duration::from_millis(50));
        };
        assert_eq!(job["error_kind"], "missing_input", "{job:#}");
        let error = job["error"].as_str().unwrap();
        assert!(error.contains("uploads/never-sent.dxf"), "{job:#}");
        assert_eq!(job["attempt"], 1, "{job:#}");
    }
}

#[test]
fn machines_sharing_only_redis_and_a_bucket_run_the_shop() {
    let env = Env::shared();
    let (api_host, worker_a, worker_b) = (
        env.machine("api"),
        env.machine("worker-a"),
        env.machine("worker-b"),
    );
    let api = env.spawn_api_from(env.command_on(&api_host), &["--no-workers"], "warn");
    let _workers = [
        Worker(env.spawn_worker_from(env.command_on(&worker_a), &["--name", "a"])),
        Worker(env.spawn_worker_from(env.command_on(&worker_b), &["--name", "b"])),
    ];
    let health = api.get("/health").json();
    assert_eq!(
        (
            &health["status"],
            &health["store"],
            &health["store_available"]
        ),
        (&json!("healthy"), &json!("s3"), &json!(true)),
        "{health:#}"
    );

    shop_flow(&api);

    // Every file is in the bucket; no machine kept one of its own.
    let s3 = env.s3.as_ref().unwrap();
    let stored = s3.files("shop");
    assert!(
        stored.iter().any(|f| f.starts_with("uploads/plate_")),
        "{stored:?}"
    );
    assert!(
        stored.iter().any(|f| f.starts_with("output/previews/")),
        "{stored:?}"
    );
    assert!(
        stored.iter().any(|f| f.starts_with("output/nesting/")),
        "{stored:?}"
    );
    for machine in [&api_host, &worker_a, &worker_b] {
        for folder in ["uploads", "output"] {
            let dir = machine.join("wjp-data").join(folder);
            let local: Vec<_> = std::fs::read_dir(&dir).into_iter().flatten().collect();
            assert!(local.is_empty(), "{} holds files", dir.display());
        }
        // Each job's private directory is gone with it.
        let work = machine.join("wjp-data/work");
        let left: Vec<_> = std::fs::read_dir(&work).into_iter().flatten().collect();
        assert!(left.is_empty(), "{} holds {left:?}", work.display());
    }
    let info = env.run(&["info", "--json"]);
    let info: Value = serde_json::from_slice(&info.stdout).expect("info JSON");
    assert_eq!(info["store"]["kind"], "s3", "{info:#}");
}

#[test]
fn the_embedded_default_runs_the_same_flow_in_the_data_directory() {
    let env = Env::new();
    let api = env.spawn_api(&[]);
    let health = api.get("/health").json();
    assert_eq!(health["store"], "local", "{health:#}");
    shop_flow(&api);
    let previews = env.data_dir().join("output/previews");
    assert!(std::fs::read_dir(previews).unwrap().next().is_some());
}

#[test]
fn keys_cannot_leave_the_bucket_prefix() {
    let env = Env::shared();
    let api = env.spawn_api(&[]);
    let s3 = env.s3.as_ref().unwrap();
    // Something to reach for, beside the shop's prefix in the bucket.
    let secret = s3.root.path().join(&s3.bucket).join("other-shop/uploads");
    std::fs::create_dir_all(&secret).unwrap();
    std::fs::write(secret.join("secret.dxf"), "0\nEOF\n").unwrap();
    let long = "a".repeat(600);
    let hostile = [
        (
            "../other-shop/uploads/secret.dxf",
            "path_outside_managed_folders",
        ),
        (
            "uploads/../../other-shop/uploads/secret.dxf",
            "path_outside_managed_folders",
        ),
        ("/etc/passwd", "path_outside_managed_folders"),
        ("%2e%2e/other-shop/uploads/secret.dxf", "invalid_key"),
        ("..%2fother-shop%2fuploads%2fsecret.dxf", "invalid_key"),
        ("..\\other-shop\\uploads\\secret.dxf", "invalid_key"),
        (long.as_str(), "invalid_key"),
        ("uploads/a\u{1}b.dxf", "invalid_key"),
    ];
    for (name, code) in hostile {
        for answer in [
            api.post_json("/analyze-dxf", &json!({ "dxf_path": name })),
            api.post_json(
                "/jobs",
                &json!({"kind": "generate_gcode", "payload": {"dxf_path": name}}),
            ),
        ] {
            assert_eq!(
                (answer.status, answer.code().as_str()),
                (400, code),
                "{name:?}: {}",
                answer.text()
            );
            assert!(!answer.text().contains("EOF"));
        }
    }
    let nul = api.post_json("/analyze-dxf", &json!({ "dxf_path": "a\u{0}b.dxf" }));
    assert_eq!(
        (nul.status, nul.code().as_str()),
        (400, "path_outside_managed_folders")
    );
    // Downloads: encoded climbing, other folders, hidden names.
    for path in [
        "/files/uploads/..%2F..%2Fother-shop%2Fuploads%2Fsecret.dxf",
        "/files/uploads/%2e%2e/%2e%2e/other-shop/uploads/secret.dxf",
        "/files/uploads/.hidden",
        "/files/wjp.db/x",
        "/files/uploads/..",
    ] {
        let answer = api.get(path);
        assert!(
            matches!(answer.status, 400 | 404),
            "{path}: {} {}",
            answer.status,
            answer.text()
        );
        assert!(!answer.text().contains("EOF"), "{path}");
    }
    // A range outside a file is refused with its size.
    let (content_type, body) = form("file", "a.dxf", b"0\nEOF\n");
    let uploaded = api
        .request("POST", "/upload", &[("Content-Type", &content_type)], &body)
        .unwrap()
        .json();
    let answer = api
        .request(
            "GET",
            uploaded["url"].as_str().unwrap(),
            &[("Range", "bytes=100-200")],
            b"",
        )
        .unwrap();
    assert_eq!(answer.status, 416, "{}", answer.text());
    assert_eq!(answer.header("content-range"), Some("bytes */6"));
    // Nothing was queued by any refused request.
    let jobs = api.get("/jobs").json();
    assert_eq!(jobs["jobs"].as_array().unwrap().len(), 0, "{jobs}");
}

#[test]
fn an_unreachable_bucket_degrades_health_and_jobs_wait_to_retry() {
    let mut env = Env::shared();
    let api = env.spawn_api(&["--no-workers"]);
    let (content_type, body) = form(
        "file",
        "plate.dxf",
        crate::cli::plate_with_hole_dxf().as_bytes(),
    );
    let uploaded = api
        .request("POST", "/upload", &[("Content-Type", &content_type)], &body)
        .unwrap()
        .json();
    let name = uploaded["relative_path"].as_str().unwrap().to_owned();
    let queued = api.post_json(
        "/jobs",
        &json!({"kind": "analyze_dxf", "payload": { "dxf_path": name }, "max_attempts": 3}),
    );
    assert_eq!(queued.status, 201, "{}", queued.text());
    let id = queued.json()["job_id"].as_str().unwrap().to_owned();
    // The bucket goes away before a worker takes the job.
    env.s3.as_mut().unwrap().stop();
    let health = api.get("/health").json();
    assert_eq!(
        (&health["status"], &health["store_available"]),
        (&json!("degraded"), &json!(false)),
        "{health:#}"
    );
    let _worker = Worker(env.spawn_worker(&[]));
    let deadline = Instant::now() + Duration::from_secs(120);
    let job = loop {
        let job = api.get(&format!("/jobs/{id}")).json();
        if job["attempt"].as_u64().unwrap_or(0) >= 1 && status_of(&job) != "running" {
            break job;
        }
        assert!(Instant::now() < deadline, "{job:#}");
        std::thread::sleep(Duration::from_millis(100));
    };
    // Failed for this attempt only: it waits to be tried again.
    assert_ne!(status_of(&job), "failed", "{job:#}");
    assert!(
        job["error"]
            .as_str()
            .unwrap_or_default()
            .contains("store_unreachable"),
        "{job:#}"
    );
}

#[test]
fn purge_takes_the_files_of_the_jobs_it_deletes() {
    let env = Env::new();
    env.upload("plate.dxf", crate::cli::plate_with_hole_dxf());
    let id = env.submit(&["analyze_dxf", "--payload", r#"{"dxf_path": "plate.dxf"}"#]);
    env.ok(&["worker", "--burst", "--queues", "analysis"]);
    assert_eq!(status_of(&env.job(&id)), "completed");
    let preview = env.data_dir().join(format!("output/previews/{id}.svg"));
    assert!(preview.is_file(), "{}", preview.display());
    let out = env.ok(&["purge", "--queue", "analysis", "--status", "completed"]);
    assert!(out.contains("1 stored file"), "{out}");
    assert!(!preview.exists(), "{}", preview.display());
    // The upload is not a job's file: it stays for its TTL.
    assert!(env.data_dir().join("uploads/plate.dxf").is_file());
}
