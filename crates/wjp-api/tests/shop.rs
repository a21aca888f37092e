//! The endpoints of the old service, with their old field names.

use serde_json::{json, Value};

use crate::support::{error_code, status_json, Options, Server};

fn is_hex_name(name: &str, stem: &str, ext: &str) -> bool {
    let Some(rest) = name.strip_prefix(&format!("{stem}_")) else {
        return false;
    };
    let Some(hex) = rest.strip_suffix(&format!(".{ext}")) else {
        return false;
    };
    hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_has_the_old_fields() {
    let s = Server::start().await;
    let (status, body) = s.get("/health").await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "healthy");
    assert_eq!(body["service"], "wjp");
    assert!(body["version"].as_str().is_some_and(|v| !v.is_empty()));
    let ts = body["timestamp"].as_str().unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(ts).is_ok(), "{ts}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_stores_under_a_sanitised_unique_name() {
    let s = Server::start().await;
    let body = s
        .upload("../../blueprint.DXF", b"0\nSECTION\n0\nEOF\n")
        .await;
    assert_eq!(body["success"], true);
    let name = body["relative_path"].as_str().unwrap();
    assert!(is_hex_name(name, "blueprint", "dxf"), "{name}");
    assert_eq!(body["filename"], "../../blueprint.DXF");
    assert_eq!(body["size"], 16);
    assert!(name.contains(body["file_id"].as_str().unwrap()));
    let stored = std::path::PathBuf::from(body["file_path"].as_str().unwrap());
    assert_eq!(
        stored,
        s.uploads().canonicalize().unwrap().join(name),
        "stored inside uploads"
    );
    assert_eq!(std::fs::read(&stored).unwrap(), b"0\nSECTION\n0\nEOF\n");
    // The same name again is another file.
    let again = s.upload("../../blueprint.DXF", b"x").await;
    assert_ne!(again["relative_path"], body["relative_path"]);

    // No `file` field, but another: refused, not skipped.
    let form = reqwest::multipart::Form::new().text("fiel", "x");
    let (status, body) = s.post_form("/upload", form).await;
    assert_unknown_field(status, &body, "file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analyze_dxf_sync_async_and_failure() {
    let s = Server::start().await;
    let up = s.upload("part.dxf", b"0\nSECTION\n0\nEOF\n").await;
    let rel = up["relative_path"].as_str().unwrap();

    // Sync: the report, with the path resolved inside uploads.
    let (status, body) = s
        .post(
            "/analyze-dxf",
            json!({ "dxf_path": rel, "material": "steel", "thickness": 6.0 }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], true);
    assert_eq!(body["report"]["bytes"], 16);
    assert_eq!(body["report"]["dxf_path"], up["file_path"]);
    assert_eq!(body["report"]["payload"]["material"], "steel");

    // Async: a job id, then the same report as the job's result.
    let (status, queued) = s
        .post("/analyze-dxf?async_mode=true", json!({ "dxf_path": rel }))
        .await;
    assert_eq!(status, 200, "{queued}");
    assert_eq!(queued["success"], true);
    let id = queued["job_id"].as_str().unwrap();
    let job = s.wait_completed(id).await;
    assert_eq!(job["job_id"], id);
    assert_eq!(job["result"]["bytes"], 16);
    assert_eq!(job["kind"], "analyze_dxf");
    assert_eq!(job["queue"], "analysis");
    assert_eq!(job["progress"], 1.0);
    assert!(job["error"].is_null());
    for field in ["created_at", "completed_at", "started_at"] {
        let t = job[field]
            .as_str()
            .unwrap_or_else(|| panic!("{field}: {job}"));
        assert!(
            chrono::DateTime::parse_from_rfc3339(t).is_ok(),
            "{field}: {t}"
        );
    }

    // The handler fails: the old failure shape, with a code.
    let bad = s.upload("bad.dxf", b"BAD DATA").await;
    let (status, body) = s
        .post("/analyze-dxf", json!({ "dxf_path": bad["relative_path"] }))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(error_code(&body), "handler_error");
    assert!(
        body["error"].as_str().unwrap().contains("not a DXF"),
        "{body}"
    );

    // Missing or missing-file paths.
    let (status, body) = s.post("/analyze-dxf", json!({ "material": "steel" })).await;
    assert_eq!((status, error_code(&body)), (400, "missing_path"));
    let (status, body) = s
        .post("/analyze-dxf", json!({ "dxf_path": "nope.dxf" }))
        .await;
    assert_eq!((status, error_code(&body)), (404, "file_not_found"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cost_has_success_cost_error() {
    let s = Server::start().await;
    let up = s.upload("part.dxf", b"0123456789").await;
    let (status, body) = s
        .post(
            "/cost",
            json!({ "dxf_path": up["relative_path"], "rate_per_m": 2.5 }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], true);
    assert_eq!(body["cost"]["total"], 5.0);
    assert!(body["error"].is_null());
    assert!(body.as_object().unwrap().contains_key("error"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn convert_image_returns_the_dxf_and_async_gives_a_download_url() {
    let s = Server::start().await;
    let form = || {
        reqwest::multipart::Form::new().part(
            "image_file",
            reqwest::multipart::Part::bytes(b"PNGDATA".to_vec()).file_name("logo.png"),
        )
    };
    let r = s
        .send_form("/convert-image?min_area=5&threshold=128", form())
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/dxf");
    let text = r.text().await.unwrap();
    assert!(
        text.contains("PNGDATA") && text.ends_with("EOF\n"),
        "{text}"
    );

    let (status, body) = s.post_form("/convert-image?async_mode=true", form()).await;
    assert_eq!(status, 200, "{body}");
    let id = body["job_id"].as_str().unwrap();
    let job = s.wait_completed(id).await;
    assert_eq!(job["queue"], "conversion");
    let url = body["download_url"].as_str().unwrap();
    assert_eq!(url, format!("/jobs/{id}/artifacts/dxf"));
    let r = s.client.get(s.url(url)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/dxf");
    assert!(r.text().await.unwrap().contains("PNGDATA"));

    // A misspelt query parameter is refused, naming the right one.
    let (status, body) = s
        .post_form(
            "/convert-image?treshold=128",
            reqwest::multipart::Form::new().text("image_file", "PNGDATA"),
        )
        .await;
    assert_unknown_field(status, &body, "threshold");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_analysis_takes_the_file_and_the_report() {
    let s = Server::start().await;
    let form = || {
        reqwest::multipart::Form::new().part(
            "csv_file",
            reqwest::multipart::Part::bytes(b"Area_mm2,Perimeter_mm\n1,2\n3,4\n".to_vec())
                .file_name("parts.csv"),
        )
    };
    let r = s
        .client
        .post(s.url("/csv/ai-analysis"))
        .query(&[("report", r#"{"parts": 2}"#)])
        .multipart(form())
        .send()
        .await
        .unwrap();
    let (status, body) = status_json(r).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["rows"], 2);
    assert_eq!(body["report"]["parts"], 2);

    let r = s
        .client
        .post(s.url("/csv/ai-analysis"))
        .query(&[("report", "{not json")])
        .multipart(form())
        .send()
        .await
        .unwrap();
    let (status, body) = status_json(r).await;
    assert_eq!((status, error_code(&body)), (400, "invalid_json"));

    // JSON, but not a report (found by the fuzzer: `""` was taken).
    for report in ["\"\"", "null", "[1]", "7"] {
        let r = s
            .client
            .post(s.url("/csv/ai-analysis"))
            .query(&[("report", report)])
            .multipart(form())
            .send()
            .await
            .unwrap();
        let (status, body) = status_json(r).await;
        assert_eq!(
            (status, error_code(&body)),
            (400, "invalid_json"),
            "{report}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nest_and_gcode_take_the_old_query_with_its_defaults() {
    let s = Server::start().await;
    let up = s.upload("part.dxf", b"0\nEOF\n").await;
    let rel = up["relative_path"].as_str().unwrap();
    let (status, body) = s
        .post(
            &format!("/nest?dxf_path={rel}&sheet_width=3000&sheet_height=1500"),
            Value::Null,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], true);
    let nested = &body["result"]["nested"];
    assert_eq!(nested["gap"], 3.0);
    assert_eq!(nested["kerf"], 1.1);
    assert_eq!(nested["sheet_width"], 3000.0);
    // Inputs travel as keys of the store.
    assert_eq!(nested["dxf_path"], format!("uploads/{rel}"));

    let (status, body) = s
        .post(&format!("/gcode?dxf_path={rel}&kerf=0.9"), Value::Null)
        .await;
    assert_eq!(status, 200, "{body}");
    let g = &body["result"]["gcode_for"];
    assert_eq!(g["material"], "steel");
    // Not given, so not sent: the kind's defaults apply, and its check
    // can tell a missing thickness from a chosen one.
    assert_eq!(g.get("thickness"), None, "{g}");
    assert_eq!(g["kerf"], 0.9);
    let (status, body) = s
        .post(&format!("/gcode?dxf_path={rel}&thickness=12"), Value::Null)
        .await;
    assert_eq!(status, 200, "{body}");
    let g = &body["result"]["gcode_for"];
    assert_eq!(
        (&g["thickness"], g.get("kerf")),
        (&json!(12.0), None),
        "{g}"
    );

    let (status, body) = s
        .post(
            &format!("/gcode?dxf_path={rel}&async_mode=true"),
            Value::Null,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let job = s.wait_completed(body["job_id"].as_str().unwrap()).await;
    assert_eq!(job["queue"], "gcode");

    // A required parameter missing: a JSON 400.
    let (status, body) = s.post(&format!("/nest?dxf_path={rel}"), Value::Null).await;
    assert_eq!((status, error_code(&body)), (400, "missing_field"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_return_files() {
    let s = Server::start().await;
    let r = s
        .client
        .post(s.url("/export/components-csv?output_filename=../../mine.csv"))
        .json(&json!({ "parts": 7 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let disposition = r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(disposition.contains("mine_"), "{disposition}");
    assert_eq!(r.text().await.unwrap(), "Area_mm2,Perimeter_mm\n7,1\n");
    let written: Vec<_> = std::fs::read_dir(s.dir.path().join("output"))
        .unwrap()
        .collect();
    assert_eq!(written.len(), 1, "the export stays inside output/");

    let r = s
        .client
        .post(s.url("/export/layered-dxf"))
        .json(&json!({ "parts": 1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/dxf");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_jobs_are_404_json() {
    let s = Server::start().await;
    for id in ["no-such-job", "bad%20id", "..%2F..%2Fetc"] {
        let (status, body) = s.get(&format!("/jobs/{id}")).await;
        assert_eq!((status, error_code(&body)), (404, "job_not_found"), "{id}");
    }
}

/// A build without the shop's handlers says so with 501 on every domain
/// endpoint, and never fakes a success.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unregistered_kinds_answer_501() {
    let s = Server::with(Options {
        shop: false,
        ..Options::default()
    })
    .await;
    let up = s.upload("part.dxf", b"0\nEOF\n").await;
    let rel = up["relative_path"].as_str().unwrap().to_owned();
    let json_calls = [
        ("/analyze-dxf", json!({ "dxf_path": rel })),
        ("/analyze-dxf?async_mode=true", json!({ "dxf_path": rel })),
        ("/cost", json!({ "dxf_path": rel })),
        ("/export/components-csv", json!({})),
        ("/export/layered-dxf", json!({})),
        (
            &*format!("/nest?dxf_path={rel}&sheet_width=1&sheet_height=1"),
            Value::Null,
        ),
        (&*format!("/gcode?dxf_path={rel}"), Value::Null),
    ];
    for (path, body) in json_calls {
        let (status, body) = s.post(path, body).await;
        assert_eq!(
            (status, error_code(&body)),
            (501, "not_implemented"),
            "{path}: {body}"
        );
    }
    for (path, field) in [
        ("/convert-image", "image_file"),
        ("/csv/ai-analysis", "csv_file"),
    ] {
        let form = reqwest::multipart::Form::new().part(
            field,
            reqwest::multipart::Part::bytes(b"x".to_vec()).file_name("a.png"),
        );
        let (status, body) = s.post_form(path, form).await;
        assert_eq!(
            (status, error_code(&body)),
            (501, "not_implemented"),
            "{path}"
        );
    }
    let (status, body) = s
        .post("/jobs", json!({ "kind": "nest", "payload": {} }))
        .await;
    assert_eq!((status, error_code(&body)), (501, "not_implemented"));
    let (status, body) = s.post("/jobs", json!({ "kind": "no_such_kind" })).await;
    assert_eq!((status, error_code(&body)), (400, "unknown_kind"));
    // Nothing was queued by any of it.
    let (_, page) = s.get("/jobs").await;
    assert_eq!(page["jobs"].as_array().unwrap().len(), 0, "{page}");
}

#[tokio::test]
async fn broken_multipart_bodies_get_a_clear_400_and_store_nothing() {
    let s = Server::start().await;
    let cases: [(&str, &[u8], &str); 3] = [
        // A part cut off before its closing boundary.
        (
            "multipart/form-data; boundary=XX",
            b"--XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.dxf\"\r\n\r\nabc",
            "invalid_multipart",
        ),
        // No boundary at all.
        ("multipart/form-data", b"whatever", "bad_request"),
        // Not multipart.
        ("application/json", b"{}", "bad_request"),
    ];
    for (content_type, body, code) in cases {
        let r = s
            .client
            .post(s.url("/upload"))
            .header("content-type", content_type)
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        let (status, json) = status_json(r).await;
        assert!(
            (400..500).contains(&status),
            "{content_type}: {status} {json}"
        );
        assert_eq!(error_code(&json), code, "{content_type}");
    }
    let uploads = std::fs::read_dir(s.uploads())
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(uploads, 0, "nothing half-written is left behind");
}

/// An export's body is an analysis report: anything but a JSON object is
/// refused at once, in either mode, and no job is queued for it (found by
/// the schema-driven fuzzer: a number was queued as a report).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_of_anything_but_an_object_is_refused() {
    let s = Server::start().await;
    for path in ["/export/components-csv", "/export/layered-dxf"] {
        for mode in ["", "?async_mode=true"] {
            for body in [json!(7.5), json!("report"), json!([1, 2]), Value::Null] {
                let (status, answer) = s.post(&format!("{path}{mode}"), body.clone()).await;
                assert_eq!(
                    (status, error_code(&answer)),
                    (400, "invalid_json"),
                    "{path}{mode} {body}: {answer}"
                );
            }
        }
    }
    s.assert_nothing_queued().await;
}

/// A 400 `unknown_field` that suggests `near`.
fn assert_unknown_field(status: u16, body: &serde_json::Value, near: &str) {
    assert_eq!((status, error_code(body)), (400, "unknown_field"), "{body}");
    let message = body["error"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!("did you mean {near:?}?")),
        "{body}"
    );
}
