//! The queue over HTTP: submit, poll, list, cancel, retry, counts, workers,
//! metrics, the OpenAPI document.

use serde_json::json;

use crate::support::{error_code, status_json, Options, Server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_a_sleep_job_and_poll_it_to_completion() {
    let s = Server::start().await;
    let (status, job) = s
        .post(
            "/jobs",
            json!({ "kind": "sleep", "payload": { "seconds": 1.5 }, "priority": 5, "timeout": 60 }),
        )
        .await;
    assert_eq!(status, 201, "{job}");
    assert_eq!(job["created"], true);
    assert_eq!(job["kind"], "sleep");
    assert_eq!(job["queue"], "default");
    assert_eq!(job["priority"], 5);
    let id = job["job_id"].as_str().unwrap().to_owned();
    // While it runs: progress with its message.
    let running = s
        .wait_job(&id, |j| {
            j["status"] == "running" && j["progress_message"].is_string()
        })
        .await;
    assert!(
        running["progress"].as_f64().is_some_and(|p| p > 0.0),
        "{running}"
    );
    assert!(running["completed_at"].is_null());
    let done = s.wait_completed(&id).await;
    assert_eq!(done["result"]["slept_seconds"], 1.5);
    assert_eq!(done["progress"], 1.0);
    assert_eq!(done["attempt"], 1);
    assert!(done["started_at"].is_string() && done["completed_at"].is_string());
    assert!(done["error"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_job_id_returns_that_job() {
    let s = Server::with(Options {
        workers: false,
        ..Options::default()
    })
    .await;
    let request =
        json!({ "kind": "noop", "payload": { "n": 1 }, "job_id": "order-42", "delay": 60 });
    let (status, first) = s.post("/jobs", request.clone()).await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["status"], "scheduled");
    let (status, again) = s.post("/jobs", request).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["created"], false);
    assert_eq!(again["job_id"], "order-42");
    assert_eq!(again["created_at"], first["created_at"]);
}

/// `GET /jobs?q=...`: by reference, file name or id prefix, in pages
/// that never exceed their limit and never show a job twice; odd values
/// are refused by name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_job_list_is_searched_on_the_server() {
    let s = Server::with(Options {
        workers: false,
        ..Options::default()
    })
    .await;
    let mut wanted = Vec::new();
    for i in 0..30 {
        let reference = if i % 3 == 0 {
            format!("Cust-A order {i}")
        } else {
            format!("other {i}")
        };
        let (status, job) = s
            .post(
                "/jobs",
                json!({ "kind": "noop", "payload": { "dxf_path": format!("uploads/plate{i}.dxf") }, "delay": 600, "reference": reference }),
            )
            .await;
        assert_eq!(status, 201, "{job}");
        if i % 3 == 0 {
            wanted.push(job["job_id"].as_str().unwrap().to_owned());
        }
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..20 {
        let mut path = "/jobs?q=cust-a&limit=4".to_owned();
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={}", urlencode(c)));
        }
        let (status, page) = s.get(&path).await;
        assert_eq!(status, 200, "{page}");
        let jobs = page["jobs"].as_array().unwrap();
        assert!(jobs.len() <= 4, "{page}");
        seen.extend(
            jobs.iter()
                .map(|j| j["job_id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    wanted.reverse();
    assert_eq!(seen, wanted, "newest first, every match once");
    let (_, by_file) = s.get("/jobs?q=PLATE27.dxf").await;
    assert_eq!(by_file["jobs"].as_array().unwrap().len(), 1, "{by_file}");
    let prefix = &wanted[0][..8];
    let (_, by_id) = s.get(&format!("/jobs?q={prefix}")).await;
    assert_eq!(by_id["jobs"][0]["job_id"], wanted[0].as_str(), "{by_id}");
    let (_, later) = s.get("/jobs?since=2999-01-01").await;
    assert_eq!(later["jobs"], json!([]), "{later}");
    let (_, today) = s
        .get("/jobs?since=2000-01-01&until=2999-12-31&q=other&limit=500")
        .await;
    assert_eq!(today["jobs"].as_array().unwrap().len(), 20, "{today}");
    let long = "x".repeat(201);
    for path in [
        "/jobs?since=99999-01-01".to_owned(),
        "/jobs?until=yesterday".to_owned(),
        "/jobs?since=2026-02-01&until=2026-01-01".to_owned(),
        format!("/jobs?q={long}"),
        "/jobs?q=a%00b".to_owned(),
        "/jobs?serch=x".to_owned(),
    ] {
        let (status, body) = s.get(&path).await;
        assert_eq!(status, 400, "{path}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_is_newest_first_and_paginated() {
    let s = Server::with(Options {
        workers: false,
        ..Options::default()
    })
    .await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let (status, job) = s
            .post(
                "/jobs",
                json!({ "kind": "noop", "payload": { "i": i }, "delay": 600 }),
            )
            .await;
        assert_eq!(status, 201);
        ids.push(job["job_id"].as_str().unwrap().to_owned());
    }
    let (_, job) = s
        .post("/jobs", json!({ "kind": "noop", "queue": "gcode" }))
        .await;
    let gcode_id = job["job_id"].as_str().unwrap().to_owned();

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = "/jobs?queue=default&status=scheduled&limit=2".to_owned();
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={}", urlencode(c)));
        }
        let (status, page) = s.get(&path).await;
        assert_eq!(status, 200, "{page}");
        let jobs = page["jobs"].as_array().unwrap();
        assert!(jobs.len() <= 2);
        seen.extend(
            jobs.iter()
                .map(|j| j["job_id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
        assert!(seen.len() <= 5, "pagination does not end");
    }
    ids.reverse();
    assert_eq!(seen, ids, "newest first, every job once");

    let (_, page) = s.get("/jobs?queue=gcode").await;
    assert_eq!(page["jobs"][0]["job_id"], gcode_id.as_str());
    assert_eq!(page["jobs"].as_array().unwrap().len(), 1);

    // By kind, across queues; an empty filter (a form's) is no filter.
    let (_, job) = s
        .post(
            "/jobs",
            json!({ "kind": "sleep", "payload": { "seconds": 1 }, "delay": 600 }),
        )
        .await;
    let sleep_id = job["job_id"].as_str().unwrap().to_owned();
    let (status, page) = s.get("/jobs?kind=sleep").await;
    assert_eq!(status, 200, "{page}");
    let kinds: Vec<_> = page["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["job_id"].clone())
        .collect();
    assert_eq!(kinds, [json!(sleep_id)]);
    let (_, page) = s.get("/jobs?kind=noop&status=").await;
    assert_eq!(page["jobs"].as_array().unwrap().len(), 6);
    let (_, page) = s.get("/jobs?kind=").await;
    assert_eq!(page["jobs"].as_array().unwrap().len(), 7);

    for bad in [
        "/jobs?kind=plasma_cut",
        "/jobs?status=started",
        "/jobs?queue=cutting",
        "/jobs?limit=0",
        "/jobs?limit=x",
    ] {
        let (status, body) = s.get(bad).await;
        assert_eq!(status, 400, "{bad}: {body}");
        error_code(&body);
    }
    // A word that is not a status names the statuses, and the one meant.
    let (status, body) = s.get("/jobs?status=complete").await;
    assert_eq!((status, error_code(&body)), (400, "invalid_name"), "{body}");
    let text = body["error"].as_str().unwrap_or_default();
    assert!(
        text.starts_with(r#""complete" is not a job status; did you mean "completed"?"#),
        "{text}"
    );
    assert!(
        text.ends_with("queued, running, completed, failed, cancelled"),
        "{text}"
    );
    assert!(!text.contains("lowercase letters"), "{text}");
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_a_running_job_then_retry_it() {
    let s = Server::start().await;
    let (_, job) = s
        .post(
            "/jobs",
            json!({ "kind": "sleep", "payload": { "seconds": 60 } }),
        )
        .await;
    let id = job["job_id"].as_str().unwrap().to_owned();
    s.wait_job(&id, |j| j["status"] == "running").await;
    let (status, body) = s.post(&format!("/jobs/{id}/cancel"), json!(null)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outcome"], "requested");
    let cancelled = s.wait_job(&id, |j| j["status"] == "cancelled").await;
    assert!(cancelled["error"].is_string(), "{cancelled}");

    // Cancelling again: nothing to do.
    let (_, body) = s.post(&format!("/jobs/{id}/cancel"), json!(null)).await;
    assert_eq!(body["outcome"], "already_ended");

    // Retry runs it again.
    let (status, body) = s.post(&format!("/jobs/{id}/retry"), json!(null)).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        ["queued", "running"].contains(&body["status"].as_str().unwrap()),
        "{body}"
    );
    s.wait_job(&id, |j| j["status"] == "running").await;
    let (_, body) = s.post(&format!("/jobs/{id}/cancel"), json!(null)).await;
    assert_eq!(body["outcome"], "requested");
    s.wait_job(&id, |j| j["status"] == "cancelled").await;

    // A completed job cannot be retried; unknown ones are 404.
    let (_, job) = s.post("/jobs", json!({ "kind": "noop" })).await;
    let done = job["job_id"].as_str().unwrap().to_owned();
    s.wait_completed(&done).await;
    let (status, body) = s.post(&format!("/jobs/{done}/retry"), json!(null)).await;
    assert_eq!((status, error_code(&body)), (409, "invalid_transition"));
    let (status, body) = s.post("/jobs/nope/cancel", json!(null)).await;
    assert_eq!((status, error_code(&body)), (404, "job_not_found"));
    let (status, body) = s.post("/jobs/nope/retry", json!(null)).await;
    assert_eq!((status, error_code(&body)), (404, "job_not_found"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_job_is_cancelled_at_once() {
    let s = Server::with(Options {
        workers: false,
        ..Options::default()
    })
    .await;
    let (_, job) = s.post("/jobs", json!({ "kind": "noop" })).await;
    let id = job["job_id"].as_str().unwrap();
    let (_, first) = s.post(&format!("/jobs/{id}/cancel"), json!(null)).await;
    assert_eq!(first["outcome"], "cancelled");
    assert_eq!(first["status"], "cancelled");
    let (_, job) = s.get(&format!("/jobs/{id}")).await;
    assert_eq!(job["status"], "cancelled");

    // With a failure TTL of 0 the cancelled job's record is gone at once:
    // the answer says so with nulls, as documented (found by the fuzzer's
    // response-schema check).
    let (_, job) = s
        .post("/jobs", json!({ "kind": "noop", "failure_ttl": 0 }))
        .await;
    let id = job["job_id"].as_str().unwrap();
    let (status, body) = s.post(&format!("/jobs/{id}/cancel"), json!(null)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outcome"], "cancelled", "{body}");
    assert!(body["job"].is_null() && body["status"].is_null(), "{body}");
    let (_, doc) = s.get("/openapi.json").await;
    let schema = json!({
        "$ref": "#/components/schemas/CancelResult",
        "components": doc["components"],
    });
    let validator = jsonschema::draft202012::new(&schema).unwrap();
    for answer in [&body, &first] {
        let wrong: Vec<String> = validator
            .iter_errors(answer)
            .map(|e| e.to_string())
            .collect();
        assert!(wrong.is_empty(), "{answer}: {wrong:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queues_workers_and_metrics() {
    let s = Server::start().await;
    let (_, job) = s.post("/jobs", json!({ "kind": "noop" })).await;
    s.wait_completed(job["job_id"].as_str().unwrap()).await;
    let (_, _) = s
        .post(
            "/jobs",
            json!({ "kind": "noop", "queue": "nesting", "delay": 600 }),
        )
        .await;

    let (status, body) = s.get("/queues").await;
    assert_eq!(status, 200);
    let queues = body["queues"].as_array().unwrap();
    let names: Vec<_> = queues.iter().map(|q| q["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["default", "analysis", "conversion", "nesting", "gcode"]
    );
    assert_eq!(queues[0]["completed"], 1);
    assert_eq!(queues[3]["scheduled"], 1);
    assert_eq!(body["backend"]["name"], "sqlite");

    // The in-process worker registers itself with its first heartbeat.
    let mut workers = Vec::new();
    for _ in 0..600 {
        let (status, body) = s.get("/workers").await;
        assert_eq!(status, 200);
        workers = body["workers"].as_array().unwrap().clone();
        if !workers.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(workers.len(), 1);
    assert!(workers[0]["name"].as_str().unwrap().starts_with("api-"));
    assert_eq!(workers[0]["queues"].as_array().unwrap().len(), 5);

    let r = s.client.get(s.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = r.text().await.unwrap();
    assert!(
        text.contains("wjp_jobs{queue=\"default\",status=\"completed\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("wjp_jobs{queue=\"nesting\",status=\"scheduled\"} 1"),
        "{text}"
    );
    assert!(
        text.contains(
            "wjp_http_requests_total{method=\"GET\",route=\"/jobs/{job_id}\",status=\"200\"}"
        ),
        "{text}"
    );
    assert!(
        text.contains("wjp_http_request_duration_seconds_count{method=\"POST\",route=\"/jobs\"}")
    );
    assert!(text.contains("wjp_backend_up 1"));

    // Failures by kind and job durations, from the event stream.
    let (_, job) = s
        .post(
            "/jobs",
            json!({ "kind": "fail", "payload": { "message": "boom" } }),
        )
        .await;
    s.wait_job(job["job_id"].as_str().unwrap(), |j| j["status"] == "failed")
        .await;
    let mut text = String::new();
    for _ in 0..600 {
        text = s.get_text("/metrics").await;
        if text.contains("wjp_job_failures_total{kind=\"fail\"") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        text.contains("wjp_job_failures_total{kind=\"fail\",error_kind=\"handler_error\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("wjp_job_duration_seconds_count{kind=\"noop\",status=\"completed\"} 1"),
        "{text}"
    );
    assert!(text.contains("wjp_job_duration_seconds_count{kind=\"fail\",status=\"failed\"} 1"));
}

/// A misspelt top-level field of a JSON body is refused as a misspelt
/// query parameter is: 400 `unknown_field`, naming the field meant, at every
/// door that takes a JSON body of known fields.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misspelt_body_fields_are_unknown_fields_with_the_one_meant() {
    let s = Server::start().await;
    let (status, job) = s.post("/jobs", json!({ "kind": "noop" })).await;
    assert_eq!(status, 201, "{job}");
    let id = job["job_id"].as_str().unwrap().to_owned();
    let rerun = format!("/jobs/{id}/rerun");
    for (path, body, message) in [
        (
            "/jobs",
            json!({ "kind": "noop", "priorty": 5 }),
            r#"unknown field "priorty"; did you mean "priority"?"#,
        ),
        (
            "/remnants",
            json!({ "width": 100, "height": 100, "thicknes": 6 }),
            r#"unknown field "thicknes"; did you mean "thickness"?"#,
        ),
        (
            "/bulk/cancel",
            json!({ "queu": "default" }),
            r#"unknown field "queu"; did you mean "queue"?"#,
        ),
        (
            rerun.as_str(),
            json!({ "refrence": "order 17" }),
            r#"unknown field "refrence"; did you mean "reference"?"#,
        ),
        (
            "/jobs",
            json!({ "kind": "noop", "colour": "red" }),
            r#"unknown field "colour"; known fields: after, backoff,"#,
        ),
    ] {
        let (status, answer) = s.post(path, body.clone()).await;
        assert_eq!(
            (status, error_code(&answer)),
            (400, "unknown_field"),
            "{path} {body}: {answer}"
        );
        let text = answer["error"].as_str().unwrap_or_default();
        assert!(text.starts_with(message), "{path} {body}: {text}");
        assert!(!text.contains("Failed to deserialize"), "{text}");
    }
    // Only the job made to be re-run exists: every refusal queued nothing.
    let (_, page) = s.get("/jobs").await;
    assert_eq!(page["jobs"].as_array().map(Vec::len), Some(1), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_json_errors() {
    let s = Server::start().await;
    let r = s
        .client
        .post(s.url("/jobs"))
        .header("content-type", "application/json")
        .body("{\"kind\": ")
        .send()
        .await
        .unwrap();
    let (status, body) = status_json(r).await;
    assert_eq!((status, error_code(&body)), (400, "invalid_json"));

    let r = s
        .client
        .post(s.url("/analyze-dxf"))
        .header("content-type", "application/json")
        .body("not json")
        .send()
        .await
        .unwrap();
    let (status, body) = status_json(r).await;
    assert_eq!((status, error_code(&body)), (400, "invalid_json"));

    let (status, body) = s
        .post("/jobs", json!({ "kind": "noop", "colour": "red" }))
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (400, "unknown_field"),
        "{body}"
    );
    // A field of the right name with a value of the wrong type is still
    // the deserializer's refusal.
    let (status, body) = s
        .post("/jobs", json!({ "kind": "noop", "priority": "high" }))
        .await;
    assert_eq!((status, error_code(&body)), (400, "invalid_json"), "{body}");
    let (status, body) = s
        .post("/jobs", json!({ "kind": "noop", "queue": "cutting" }))
        .await;
    assert_eq!((status, error_code(&body)), (400, "unknown_queue"));
    let (status, body) = s
        .post("/jobs", json!({ "kind": "noop", "job_id": "a b" }))
        .await;
    assert_eq!((status, error_code(&body)), (400, "invalid_job_id"));

    let (status, body) = s.get("/no/such/endpoint").await;
    assert_eq!((status, error_code(&body)), (404, "route_not_found"));
    let r = s.client.delete(s.url("/jobs")).send().await.unwrap();
    let (status, body) = status_json(r).await;
    assert_eq!((status, error_code(&body)), (405, "method_not_allowed"));
    let r = s
        .client
        .post(s.url("/jobs"))
        .body("{}")
        .send()
        .await
        .unwrap();
    let (status, body) = status_json(r).await;
    assert_eq!((status, error_code(&body)), (415, "unsupported_media_type"));
}

/// Every operation the OpenAPI document lists is routed, and every route
/// is documented.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_matches_the_routes() {
    let s = Server::start().await;
    let (status, doc) = s.get("/openapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    let mut documented = 0;
    for (path, ops) in paths {
        for method in ops.as_object().unwrap().keys() {
            documented += 1;
            assert!(
                wjp_api::openapi::OPERATIONS.contains(&(method.as_str(), path.as_str())),
                "{method} {path}"
            );
            let url = path
                .replace("{job_id}", "some-job")
                .replace("{folder}", "output")
                .replace("{name}", "x.dxf");
            let request = match method.as_str() {
                "get" => s.client.get(s.url(&url)),
                "post" => s.client.post(s.url(&url)),
                "put" => s.client.put(s.url(&url)),
                "delete" => s.client.delete(s.url(&url)),
                other => panic!("unexpected method {other}"),
            };
            let r = request.send().await.unwrap();
            let status = r.status().as_u16();
            if status >= 400 {
                let (_, body) = status_json(r).await;
                let code = error_code(&body);
                assert!(
                    code != "route_not_found" && code != "method_not_allowed",
                    "{method} {path} is documented but not routed: {body}"
                );
            }
        }
    }
    assert_eq!(documented, wjp_api::openapi::OPERATIONS.len());
}

/// Concurrent submissions are written in groups: each gets its own answer,
/// a bad one is refused alone, and a repeated job id makes one job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_submissions_each_get_their_own_answer() {
    let s = std::sync::Arc::new(
        Server::with(Options {
            workers: false,
            ..Options::default()
        })
        .await,
    );
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..60 {
        let s = s.clone();
        tasks.spawn(async move {
            let body = match i {
                7 => json!({ "kind": "noop", "queue": "cutting" }),
                20..=22 => json!({ "kind": "noop", "job_id": "same-order" }),
                _ => json!({ "kind": "noop", "payload": { "i": i } }),
            };
            let (status, body) = s.post("/jobs", body).await;
            (i, status, body)
        });
    }
    let mut created = 0;
    let mut same = Vec::new();
    while let Some(r) = tasks.join_next().await {
        let (i, status, body) = r.unwrap();
        match i {
            7 => assert_eq!((status, error_code(&body)), (400, "unknown_queue")),
            20..=22 => same.push((status, body["created"].as_bool().unwrap())),
            _ => {
                assert_eq!(status, 201, "{body}");
                assert_eq!(body["payload"]["i"], i);
                created += 1;
            }
        }
    }
    assert_eq!(created, 56);
    same.sort();
    assert_eq!(same, [(200, false), (200, false), (201, true)]);
    let (_, page) = s.get("/jobs?limit=500").await;
    assert_eq!(page["jobs"].as_array().unwrap().len(), 57);
}

/// `POST /queues/{queue}/pause` holds a queue's jobs (the job says why it
/// waits, the counts say paused) until `POST /queues/{queue}/resume`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_queue_holds_its_jobs_until_resumed() {
    let s = Server::start().await;
    let (status, body) = s.post("/queues/default/pause", json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["paused"].clone(), body["changed"].clone()),
        (json!(true), json!(true))
    );
    let (status, body) = s.post("/queues/cutting/pause", json!({})).await;
    assert_eq!(
        (status, body["code"].clone()),
        (404, json!("unknown_queue")),
        "{body}"
    );

    let (_, job) = s
        .post("/jobs", json!({ "kind": "noop", "payload": 1 }))
        .await;
    let id = job["job_id"].as_str().unwrap().to_owned();
    let (_, waiting) = s.get(&format!("/jobs/{id}")).await;
    assert_eq!(waiting["status"], "queued");
    assert_eq!(
        waiting["waiting"]["detail"]["reason"], "paused",
        "{waiting}"
    );
    let (_, queues) = s.get("/queues").await;
    let default = queues["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["name"] == "default")
        .unwrap()
        .clone();
    assert_eq!(default["paused"], true, "{queues}");

    let (status, body) = s.post("/queues/default/resume", json!({})).await;
    assert_eq!(
        (status, body["changed"].clone()),
        (200, json!(true)),
        "{body}"
    );
    s.wait_completed(&id).await;
}

/// `PUT /schedules/{name}` checks the body as `POST /jobs` does; the
/// server's workers make a tick's job once (the wait bounds a hang);
/// `GET /schedules` shows it as the last job; `DELETE` stops it, and an
/// unknown name is 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedules_are_put_listed_run_and_deleted() {
    let s = Server::start().await;
    let put = |name: &str, body: serde_json::Value| {
        let request = s
            .client
            .put(s.url(&format!("/schedules/{name}")))
            .json(&body);
        async move { status_json(request.send().await.unwrap()).await }
    };
    let delete = |name: &str| {
        let request = s.client.delete(s.url(&format!("/schedules/{name}")));
        async move { status_json(request.send().await.unwrap()).await }
    };
    for (name, body, code) in [
        (
            "a",
            json!({ "kind": "noop", "cron": "0 2 * * *" }),
            "invalid_request",
        ),
        ("a", json!({ "kind": "noop" }), "invalid_request"),
        ("a", json!({ "kind": "nope", "every": 1 }), "unknown_kind"),
        (
            "a",
            json!({ "kind": "noop", "every": 1, "queue": "cutting" }),
            "unknown_queue",
        ),
        (
            "a",
            json!({ "kind": "noop", "every": 1, "evry": 2 }),
            "unknown_field",
        ),
        ("Bad", json!({ "kind": "noop", "every": 1 }), "invalid_name"),
    ] {
        let (status, answer) = put(name, body.clone()).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(error_code(&answer), code, "{body}: {answer}");
    }
    let (_, listed) = s.get("/schedules").await;
    assert_eq!(listed["schedules"], json!([]));

    let (status, added) = put(
        "tick",
        json!({ "kind": "noop", "every": 1, "payload": { "n": 3 } }),
    )
    .await;
    assert_eq!(status, 200, "{added}");
    assert_eq!(added["queue"], "default");
    let first = format!(
        "sched:tick:{}",
        chrono::DateTime::parse_from_rfc3339(added["next_run"].as_str().unwrap())
            .unwrap()
            .timestamp_millis()
    );
    // The job exists from the tick on; the deadline bounds a hang.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while s.get(&format!("/jobs/{first}")).await.0 == 404 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no job for the first tick"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let job = s.wait_completed(&first).await;
    assert_eq!(job["payload"], json!({ "n": 3 }));
    let (status, listed) = s.get("/schedules").await;
    assert_eq!(status, 200);
    assert_eq!(listed["success"], true);
    assert_eq!(listed["schedules"][0]["name"], "tick");
    assert!(listed["schedules"][0]["last_job"]
        .as_str()
        .is_some_and(|j| j.starts_with("sched:tick:")));

    let (status, removed) = delete("tick").await;
    assert_eq!(status, 200, "{removed}");
    for name in ["tick", "never", "Not%20a%20name"] {
        let (status, answer) = delete(name).await;
        assert_eq!(status, 404, "{name}: {answer}");
        assert_eq!(error_code(&answer), "schedule_not_found");
    }
}

/// `PUT /queues/{queue}/limits` sets a queue's limits (shown by `GET
/// /queues`; a job held by one says so) and `{}` clears them; unknown
/// queues are 404, bad limits and misspelt fields 400.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_limits_are_set_shown_and_cleared() {
    let s = Server::start().await;
    let (status, body) = s
        .put(
            "/queues/default/limits",
            json!({ "max_running": 2, "rate": "1/m" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["limits"], json!({ "max_running": 2, "rate": "1/m" }));
    let (status, body) = s
        .put(
            "/queues/default/limits",
            json!({ "max_running": 2.0, "rate": "1/m" }),
        )
        .await;
    assert_eq!(
        (status, body["limits"]["max_running"].clone()),
        (200, json!(2)),
        "{body}"
    );
    for (path, limits, code) in [
        ("/queues/cutting/limits", json!({}), 404),
        ("/queues/default/limits", json!({ "max_running": 0 }), 400),
        ("/queues/default/limits", json!({ "rate": "5/h" }), 400),
        ("/queues/default/limits", json!({ "max_runing": 1 }), 400),
        ("/queues/default/limits", json!([null, null]), 400),
        ("/queues/default/limits", json!({ "max_running": 1.5 }), 400),
    ] {
        let (status, body) = s.put(path, limits.clone()).await;
        assert_eq!(status, code, "{path} {limits}: {body}");
        assert_eq!(body["success"], false, "{body}");
    }

    // One claim a minute: the first job runs, the second waits for the window.
    let mut ids = Vec::new();
    for n in 0..2 {
        let (_, job) = s
            .post("/jobs", json!({ "kind": "noop", "payload": n }))
            .await;
        ids.push(job["job_id"].as_str().unwrap().to_owned());
    }
    let mut waiting_id = None;
    for _ in 0..3000 {
        let mut statuses = Vec::new();
        for id in &ids {
            let (_, job) = s.get(&format!("/jobs/{id}")).await;
            statuses.push((id.clone(), job));
        }
        if statuses.iter().any(|(_, j)| j["status"] == "completed") {
            let (id, job) = statuses
                .into_iter()
                .find(|(_, j)| j["status"] == "queued")
                .expect("one job waits for the next window");
            assert_eq!(job["waiting"]["detail"]["reason"], "rate_limited", "{job}");
            assert_eq!(job["waiting"]["detail"]["rate"], "1/m", "{job}");
            waiting_id = Some(id);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let waiting_id = waiting_id.expect("the first job did not complete within 60 s");
    let (_, queues) = s.get("/queues").await;
    let default = queues["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["name"] == "default")
        .unwrap()
        .clone();
    assert_eq!(
        default["limits"],
        json!({ "max_running": 2, "rate": "1/m" })
    );
    assert_eq!(default["rate_claims"], 1, "{queues}");

    let (status, body) = s.put("/queues/default/limits", json!({})).await;
    assert_eq!((status, body["limits"].clone()), (200, json!({})), "{body}");
    s.wait_completed(&waiting_id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dependants_wait_for_their_parents_and_flows_run_in_order() {
    let s = Server::start().await;
    let (status, parent) = s
        .post(
            "/jobs",
            json!({ "kind": "sleep", "payload": { "seconds": 0.5 }, "queue": "analysis" }),
        )
        .await;
    assert_eq!(status, 201, "{parent}");
    let parent_id = parent["job_id"].as_str().unwrap().to_owned();
    let (status, child) = s
        .post(
            "/jobs",
            json!({ "kind": "noop", "payload": { "child": true }, "after": [parent_id] }),
        )
        .await;
    assert_eq!(status, 201, "{child}");
    assert_eq!(child["status"], "waiting");
    assert_eq!(child["after"], json!([parent_id]));
    let child_id = child["job_id"].as_str().unwrap().to_owned();
    let (_, shown) = s.get(&format!("/jobs/{child_id}")).await;
    if shown["status"] == "waiting" {
        assert_eq!(shown["waiting"]["detail"]["reason"], "parents", "{shown}");
        assert_eq!(
            shown["waiting"]["detail"]["waiting_for"],
            json!([parent_id]),
            "{shown}"
        );
    }
    let done = s.wait_completed(&child_id).await;
    let parent_done = s.wait_completed(&parent_id).await;
    assert!(done["started_at"].as_str() >= parent_done["completed_at"].as_str());

    let (status, unknown) = s
        .post("/jobs", json!({ "kind": "noop", "after": ["no-such-job"] }))
        .await;
    assert_eq!((status, error_code(&unknown)), (400, "unknown_parent"));

    let (status, flow) = s
        .post(
            "/flows",
            json!({ "jobs": [
                { "name": "last", "kind": "noop", "payload": 3, "after": ["middle"] },
                { "name": "middle", "kind": "noop", "payload": 2, "after": ["first"] },
                { "name": "first", "kind": "noop", "payload": 1, "queue": "analysis" },
            ] }),
        )
        .await;
    assert_eq!(status, 201, "{flow}");
    let jobs = flow["jobs"].as_array().unwrap();
    assert_eq!(jobs[0]["name"], "last");
    assert_eq!(jobs[0]["status"], "waiting");
    assert_eq!(jobs[2]["status"], "queued");
    assert!(jobs.iter().all(|j| j["created"] == true));
    let last = jobs[0]["job_id"].as_str().unwrap().to_owned();
    let done = s.wait_completed(&last).await;
    assert_eq!(done["result"], 3);

    let (status, cycle) = s
        .post(
            "/flows",
            json!({ "jobs": [
                { "name": "a", "kind": "noop", "after": ["b"] },
                { "name": "b", "kind": "noop", "after": ["a"] },
            ] }),
        )
        .await;
    assert_eq!((status, error_code(&cycle)), (400, "invalid_flow"));

    // A misspelt field of a node is named, with its node and the field meant.
    let (status, typo) = s
        .post(
            "/flows",
            json!({ "jobs": [
                { "name": "a", "kind": "noop" },
                { "name": "b", "kind": "noop", "afetr": ["a"] },
            ] }),
        )
        .await;
    assert_eq!(
        (status, error_code(&typo)),
        (400, "unknown_field"),
        "{typo}"
    );
    let message = typo["error"].as_str().unwrap_or_default();
    assert!(
        message.contains("jobs[1]") && message.contains(r#"did you mean "after"?"#),
        "{typo}"
    );
    let (status, typo) = s
        .post(
            "/flows",
            json!({ "jbos": [{ "name": "a", "kind": "noop" }] }),
        )
        .await;
    assert_eq!(
        (status, error_code(&typo)),
        (400, "unknown_field"),
        "{typo}"
    );
}
