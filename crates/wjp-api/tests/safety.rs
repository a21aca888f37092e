//! Path confinement, upload limits, the API key, CORS, the listen policy.

use serde_json::{json, Value};

use crate::support::{error_code, status_json, Options, Server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_outside_the_managed_folders_are_refused() {
    let s = Server::start().await;
    // A real file outside the folders, in the same temp dir.
    let secret = s.dir.path().join("secret.dxf");
    std::fs::write(&secret, "0\nEOF\n").unwrap();
    let link = s.uploads().join("link.dxf");
    std::os::unix::fs::symlink("/etc/passwd", &link).unwrap();
    let link_up = s.uploads().join("up.dxf");
    std::os::unix::fs::symlink(&secret, &link_up).unwrap();
    let outside = [
        "../../etc/passwd".to_owned(),
        "../secret.dxf".to_owned(),
        "/etc/passwd".to_owned(),
        secret.display().to_string(),
        format!("{}/../secret.dxf", s.uploads().display()),
        "link.dxf".to_owned(),
        "up.dxf".to_owned(),
        "/../../../../etc/passwd".to_owned(),
    ];
    for path in &outside {
        for endpoint in ["/analyze-dxf", "/cost", "/analyze-dxf?async_mode=true"] {
            let (status, body) = s.post(endpoint, json!({ "dxf_path": path })).await;
            assert_eq!(
                (status, error_code(&body)),
                (400, "path_outside_managed_folders"),
                "{endpoint} {path}: {body}"
            );
        }
        let r = s
            .client
            .post(s.url("/nest"))
            .query(&[
                ("dxf_path", path.as_str()),
                ("sheet_width", "1"),
                ("sheet_height", "1"),
            ])
            .send()
            .await
            .unwrap();
        let (status, body) = status_json(r).await;
        assert_eq!(
            (status, error_code(&body)),
            (400, "path_outside_managed_folders"),
            "{path}"
        );
        let r = s
            .client
            .post(s.url("/gcode"))
            .query(&[("dxf_path", path.as_str())])
            .send()
            .await
            .unwrap();
        let (status, body) = status_json(r).await;
        assert_eq!(
            (status, error_code(&body)),
            (400, "path_outside_managed_folders"),
            "{path}"
        );
    }
    // Nothing was queued by any of it.
    s.assert_nothing_queued().await;

    // Files in data/ and output/ are fine, by absolute path; a symlink that
    // stays inside is fine too.
    let data_file = s.dir.path().join("data").join("sheet.dxf");
    std::fs::write(&data_file, "0\nEOF\n").unwrap();
    let (status, body) = s
        .post(
            "/analyze-dxf",
            json!({ "dxf_path": data_file.display().to_string() }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], true, "{body}");
    std::os::unix::fs::symlink(&data_file, s.uploads().join("inside.dxf")).unwrap();
    let (status, body) = s
        .post("/analyze-dxf", json!({ "dxf_path": "inside.dxf" }))
        .await;
    assert_eq!(
        (status, body["success"].clone()),
        (200, Value::Bool(true)),
        "{body}"
    );

    // Downloads are confined too.
    for url in [
        "/files/uploads/link.dxf",
        "/files/etc/passwd",
        "/files/uploads/..%2F..%2Fsecret.dxf",
    ] {
        let (status, body) = s.get(url).await;
        assert!(status == 400 || status == 404, "{url}: {status} {body}");
        error_code(&body);
    }
    let r = s
        .client
        .get(s.url("/files/data/sheet.dxf"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "0\nEOF\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_uploads_are_refused_with_413_and_not_kept() {
    let s = Server::with(Options {
        args: vec!["--max-upload-mb".into(), "0.004".into()],
        ..Options::default()
    })
    .await;
    // Under the limit: stored.
    s.upload("small.dxf", &[b'x'; 3000]).await;
    // Over it: 413, and nothing left behind.
    let part = reqwest::multipart::Part::bytes(vec![b'x'; 6000]).file_name("big.dxf");
    let form = reqwest::multipart::Form::new().part("file", part);
    let (status, body) = s.post_form("/upload", form).await;
    assert_eq!(
        (status, error_code(&body)),
        (413, "payload_too_large"),
        "{body}"
    );
    let names: Vec<_> = std::fs::read_dir(s.uploads())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(names[0].starts_with("small_"), "{names:?}");

    // Far over it (beyond the body limit itself): still a JSON 413.
    let part = reqwest::multipart::Part::bytes(vec![b'x'; 1_200_000]).file_name("huge.dxf");
    let form = reqwest::multipart::Form::new().part("file", part);
    if let Ok(r) = s.client.post(s.url("/upload")).multipart(form).send().await {
        // The server may also close the connection before the client has
        // sent everything; when it answers, it answers 413 JSON.
        let (status, body) = status_json(r).await;
        assert_eq!(
            (status, error_code(&body)),
            (413, "payload_too_large"),
            "{body}"
        );
    }
    assert_eq!(std::fs::read_dir(s.uploads()).unwrap().count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_bodies_have_a_limit() {
    let s = Server::with(Options {
        args: vec!["--max-body-mb".into(), "0.01".into()],
        ..Options::default()
    })
    .await;
    let (status, _) = s
        .post(
            "/jobs",
            json!({ "kind": "noop", "payload": "x".repeat(5_000) }),
        )
        .await;
    assert_eq!(status, 201);
    let (status, body) = s
        .post(
            "/jobs",
            json!({ "kind": "noop", "payload": "x".repeat(20_000) }),
        )
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (413, "payload_too_large"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_key_guards_everything_but_health() {
    let s = Server::with(Options {
        args: vec!["--api-key".into(), "s3cret-key".into()],
        ..Options::default()
    })
    .await;
    let (status, body) = s.get("/health").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("healthy")));

    for path in [
        "/jobs",
        "/jobs/x",
        "/queues",
        "/workers",
        "/metrics",
        "/openapi.json",
        "/events",
    ] {
        let (status, body) = s.get(path).await;
        assert_eq!(
            (status, error_code(&body)),
            (401, "missing_api_key"),
            "{path}"
        );
        let r = s
            .client
            .get(s.url(path))
            .header("X-API-Key", "wrong")
            .send()
            .await
            .unwrap();
        let (status, body) = status_json(r).await;
        assert_eq!(
            (status, error_code(&body)),
            (401, "invalid_api_key"),
            "{path}"
        );
    }
    let (status, body) = s.post("/jobs", json!({ "kind": "noop" })).await;
    assert_eq!((status, error_code(&body)), (401, "missing_api_key"));
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(b"x".to_vec()).file_name("a.dxf"),
    );
    let r = s.send_form("/upload", form).await;
    assert_eq!(r.status(), 401);
    assert_eq!(std::fs::read_dir(s.uploads()).unwrap().count(), 0);

    let r = s
        .client
        .post(s.url("/jobs"))
        .header("X-API-Key", "s3cret-key")
        .json(&json!({ "kind": "noop" }))
        .send()
        .await
        .unwrap();
    let (status, job) = status_json(r).await;
    assert_eq!(status, 201, "{job}");
    // The scheme's name is case-insensitive (RFC 7235), the key is not.
    let job_path = format!("/jobs/{}", job["job_id"].as_str().unwrap());
    for (authorization, status) in [
        ("Bearer s3cret-key", 200),
        ("bearer s3cret-key", 200),
        ("BEARER  s3cret-key", 200),
        ("Bearer S3CRET-KEY", 401),
        ("Basic s3cret-key", 401),
        ("Bearers3cret-key", 401),
    ] {
        let r = s
            .client
            .get(s.url(&job_path))
            .header("Authorization", authorization)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{authorization}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_is_same_origin_unless_configured() {
    let s = Server::start().await;
    let r = s
        .client
        .get(s.url("/health"))
        .header("Origin", "http://shop.example")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());

    let s = Server::with(Options {
        args: vec!["--cors-origin".into(), "http://shop.example".into()],
        ..Options::default()
    })
    .await;
    let r = s
        .client
        .get(s.url("/health"))
        .header("Origin", "http://shop.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "http://shop.example"
    );
    let r = s
        .client
        .get(s.url("/health"))
        .header("Origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
}

#[test]
fn listening_beyond_loopback_needs_a_key() {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        api: wjp_api::ApiArgs,
    }
    let args = |argv: &[&str]| {
        let mut all = vec!["wjp-api"];
        all.extend_from_slice(argv);
        Cli::try_parse_from(all).unwrap().api
    };
    assert!(wjp_api::bind_address(&args(&[]))
        .unwrap()
        .ip()
        .is_loopback());
    assert!(wjp_api::bind_address(&args(&["--host", "::1"])).is_ok());
    let err = wjp_api::bind_address(&args(&["--host", "0.0.0.0"])).unwrap_err();
    assert!(err.to_string().contains("WJP_API_KEY"), "{err}");
    assert!(wjp_api::bind_address(&args(&["--host", "0.0.0.0", "--api-key", "k"])).is_ok());
    assert!(
        wjp_api::bind_address(&args(&["--host", "0.0.0.0", "--allow-public-without-key"])).is_ok()
    );
    assert!(wjp_api::bind_address(&args(&["--host", "0.0.0.0", "--api-key", "  "])).is_err());
}
