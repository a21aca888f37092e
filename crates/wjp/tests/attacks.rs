//! Hostile requests against the real `wjp api`, over a socket: each test is
//! an attack that once got through, and must now be refused or bounded.
//! (The connection flood is in wjp-api's `slow_clients` tests.)

use std::time::Duration;

use serde_json::{json, Value};

use crate::support::{status_of, Api, Env};

/// A drawing whose blocks nest `depth` deep, each holding ten of the one
/// below: 10^depth squares once expanded, in a few kilobytes.
fn block_bomb(depth: u32) -> String {
    let mut dxf = String::from("0\nSECTION\n2\nBLOCKS\n");
    dxf += "0\nBLOCK\n8\n0\n2\nB0\n70\n0\n10\n0\n20\n0\n30\n0\n";
    dxf += "0\nLWPOLYLINE\n8\n0\n90\n4\n70\n1\n10\n0\n20\n0\n10\n1\n20\n0\n10\n1\n20\n1\n10\n0\n20\n1\n";
    dxf += "0\nENDBLK\n";
    for d in 1..=depth {
        dxf += &format!("0\nBLOCK\n8\n0\n2\nB{d}\n70\n0\n10\n0\n20\n0\n30\n0\n");
        for i in 0..10 {
            dxf += &format!(
                "0\nINSERT\n8\n0\n2\nB{}\n10\n{}\n20\n{}\n30\n0\n",
                d - 1,
                i * 2,
                i * 2
            );
        }
        dxf += "0\nENDBLK\n";
    }
    dxf += "0\nENDSEC\n0\nSECTION\n2\nENTITIES\n";
    dxf += &format!("0\nINSERT\n8\n0\n2\nB{depth}\n10\n0\n20\n0\n30\n0\n");
    dxf += "0\nENDSEC\n0\nEOF\n";
    dxf
}

/// Submits a job through `POST /jobs`.
fn submit(api: &Api, request: Value) -> crate::support::Answer {
    api.post_json("/jobs", &request)
}

fn assert_refused(answer: &crate::support::Answer, status: u16, code: &str) {
    assert_eq!(
        (answer.status, answer.code().as_str()),
        (status, code),
        "{}",
        answer.text()
    );
}

#[test]
fn post_jobs_cannot_read_or_write_outside_the_data_directory() {
    let env = Env::new();
    let api = env.spawn_api(&["--no-workers"]);
    let passwd = submit(
        &api,
        json!({"kind": "analyze_csv", "payload": {"csv_path": "/etc/passwd"}}),
    );
    assert_refused(&passwd, 400, "path_outside_managed_folders");
    assert!(!passwd.text().contains("root:"), "{}", passwd.text());
    let climbing = submit(
        &api,
        json!({"kind": "analyze_csv", "payload": {"csv_path": "../../../../../etc/passwd"}}),
    );
    assert_refused(&climbing, 400, "path_outside_managed_folders");

    // Outside is outside, whether the file exists or not: no probing.
    let exists = submit(
        &api,
        json!({"kind": "convert_image", "payload": {"image_path": "/etc/hostname"}}),
    );
    let missing = submit(
        &api,
        json!({"kind": "convert_image", "payload": {"image_path": "/no/such/file.png"}}),
    );
    assert_refused(&exists, 400, "path_outside_managed_folders");
    assert_refused(&missing, 400, "path_outside_managed_folders");

    // No output location of the client's choosing.
    let victim = env.dir.path().join("victim.txt");
    let export = submit(
        &api,
        json!({"kind": "export_components_csv",
               "payload": {"report": {"contours": []}, "output_path": victim}}),
    );
    assert_refused(&export, 400, "field_not_allowed");
    assert!(export.json()["error"]
        .as_str()
        .unwrap()
        .contains("output_path"));
    assert!(!victim.exists());

    // Every path of a payload, at any depth, and symlinks pointing out.
    env.upload("part.dxf", "0\nEOF\n");
    let nest = submit(
        &api,
        json!({"kind": "nest", "payload": {"files": [
            {"dxf_path": "part.dxf"}, {"dxf_path": "/etc/passwd"}]}}),
    );
    assert_refused(&nest, 400, "path_outside_managed_folders");
    assert!(nest.text().contains("files[1].dxf_path"), "{}", nest.text());
    std::os::unix::fs::symlink("/etc/passwd", env.data_dir().join("uploads/link.csv")).unwrap();
    let link = submit(
        &api,
        json!({"kind": "analyze_csv", "payload": {"csv_path": "link.csv"}}),
    );
    assert_refused(&link, 400, "path_outside_managed_folders");

    // The CLI is a door too.
    let stderr = env.fails(&[
        "submit",
        "analyze_csv",
        "--payload",
        r#"{"csv_path": "/etc/passwd"}"#,
    ]);
    assert!(stderr.contains("outside the managed folders"), "{stderr}");
    // Nothing was queued by any of these.
    let jobs = api.get("/jobs").json();
    assert_eq!(jobs["jobs"].as_array().unwrap().len(), 0, "{jobs}");
}

#[test]
fn errors_never_quote_the_files_they_could_not_parse() {
    let env = Env::new();
    let api = env.spawn_api(&[]);
    let layered = api.post_json("/export/layered-dxf", &json!({"dxf_path": "/etc/shadow"}));
    assert_refused(&layered, 400, "path_outside_managed_folders");

    env.upload("secret.dxf", "SECRET-LINE-42\nmore secrets\n");
    let layered = api.post_json("/export/layered-dxf", &json!({"dxf_path": "secret.dxf"}));
    assert_eq!(layered.status, 422, "{}", layered.text());
    assert_eq!(layered.code(), "invalid_payload");
    assert!(!layered.text().contains("SECRET"), "{}", layered.text());
    let analysed = api.post_json("/analyze-dxf", &json!({"dxf_path": "secret.dxf"}));
    assert_eq!(analysed.json()["success"], false, "{}", analysed.text());
    assert!(!analysed.text().contains("SECRET"), "{}", analysed.text());

    env.upload("secret.csv", "SECRET-HEADER,x\nSECRET-VALUE,y\n");
    let id = submit(
        &api,
        json!({"kind": "analyze_csv", "payload": {"csv_path": "secret.csv"}}),
    )
    .json()["job_id"]
        .as_str()
        .unwrap()
        .to_owned();
    api.wait_until("the CSV job ends", || {
        status_of(&api.get(&format!("/jobs/{id}")).json()) == "failed"
    });
    let job = api.get(&format!("/jobs/{id}")).text();
    assert!(!job.contains("SECRET-HEADER"), "{job}");
}

#[test]
fn clients_cannot_raise_protective_limits() {
    let env = Env::new();
    let api = env.spawn_api(&["--no-workers"]);
    env.upload("bomb.dxf", block_bomb(20));
    let raised = api.post_json(
        "/analyze-dxf",
        &json!({"dxf_path": "bomb.dxf", "limits": {"max_expanded_entities": 1e15}}),
    );
    assert_refused(&raised, 400, "field_not_allowed");
    assert!(raised.text().contains("limits"), "{}", raised.text());
    for (kind, payload) in [
        (
            "convert_image",
            json!({"image_path": "bomb.dxf", "max_pixels": 1e10}),
        ),
        (
            "convert_image",
            json!({"image_path": "bomb.dxf", "work_budget": 1e15}),
        ),
        (
            "analyze_csv",
            json!({"csv_path": "bomb.dxf", "max_rows": 1e12}),
        ),
        (
            "generate_gcode",
            json!({"dxf_path": "bomb.dxf", "analysis": {"limits": {}}}),
        ),
        (
            "export_layered_dxf",
            json!({"report": {"dxf_path": "bomb.dxf", "options": {"limits": {}}}}),
        ),
    ] {
        let answer = submit(&api, json!({"kind": kind, "payload": payload}));
        assert_refused(&answer, 400, "field_not_allowed");
    }
    // Attempts and timeouts of shop kinds have the server's caps.
    let retried = submit(
        &api,
        json!({"kind": "analyze_dxf", "payload": {"dxf_path": "bomb.dxf"}, "max_attempts": 5}),
    );
    assert_refused(&retried, 400, "invalid_request");
    assert!(
        retried.text().contains("between 1 and 3"),
        "{}",
        retried.text()
    );
    let forever = submit(
        &api,
        json!({"kind": "analyze_dxf", "payload": {"dxf_path": "bomb.dxf"}, "timeout": 86400}),
    );
    assert_refused(&forever, 400, "invalid_request");
    // Nor may a job that takes its worker down be put back at length.
    let stalling = submit(
        &api,
        json!({"kind": "analyze_dxf", "payload": {"dxf_path": "bomb.dxf"}, "max_stalls": 50}),
    );
    assert_refused(&stalling, 400, "invalid_request");
    assert!(
        stalling.text().contains("between 0 and 3"),
        "{}",
        stalling.text()
    );
    // The engine's test kinds are not served over HTTP by default.
    let spin = submit(&api, json!({"kind": "spin", "payload": {"seconds": 86400}}));
    assert_refused(&spin, 400, "kind_not_served");
}

/// A nesting job that would search for minutes (to just before its job's
/// timeout): it stops early only if it is stopped.
fn endless_nest(env: &Env) -> Value {
    env.upload("triangle.dxf", crate::nesting::triangle_dxf());
    json!({"dxf_path": "triangle.dxf", "quantity": 30, "sheet_width": 660,
           "sheet_height": 450, "time_limit_s": 600, "max_iterations": 1_000_000})
}

#[test]
fn synchronous_work_is_bounded_and_a_dropped_request_stops_its_job() {
    let env = Env::new();
    let api = env.spawn_api(&["--no-workers", "--max-inline-jobs", "1"]);
    env.upload("bomb.dxf", block_bomb(20));
    // A long synchronous analysis holds the only slot...
    let body = json!({"dxf_path": "bomb.dxf"}).to_string();
    let request = api
        .send(
            "POST",
            "/analyze-dxf",
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        )
        .unwrap();
    api.wait_until("the analysis runs", || !api.job_processes().is_empty());
    // ...so the next one is asked to come back.
    let busy = api.post_json("/analyze-dxf", &json!({"dxf_path": "bomb.dxf"}));
    assert_refused(&busy, 503, "server_busy");
    assert_eq!(busy.header("retry-after"), Some("1"));
    // The client leaves: its job's process ends, the slot is free again.
    drop(request);
    api.wait_until("the abandoned job's process ends", || {
        api.job_processes().is_empty()
    });
    env.upload("plate.dxf", crate::cli::plate_with_hole_dxf());
    let fine = api.post_json("/analyze-dxf", &json!({"dxf_path": "plate.dxf"}));
    assert_eq!(fine.json()["success"], true, "{}", fine.text());
}

#[test]
fn a_job_that_times_out_or_is_cancelled_stops_using_the_cpu_in_the_api() {
    let env = Env::new();
    let api = env.spawn_api(&["--workers", "1"]);
    // A nest's search ends before its job's timeout by itself, with its
    // layout, but its first layout must be whole: four thousand triangles
    // take far longer than two seconds to place.
    env.upload("triangle.dxf", crate::nesting::triangle_dxf());
    let timed = submit(
        &api,
        json!({"kind": "nest", "timeout": 2, "payload": {"dxf_path": "triangle.dxf",
               "quantity": 4000, "max_sheets": 1000}}),
    );
    assert_eq!(timed.status, 201, "{}", timed.text());
    let id = timed.json()["job_id"].as_str().unwrap().to_owned();
    api.wait_until("the job times out", || {
        api.get(&format!("/jobs/{id}")).json()["error_kind"] == "timeout"
    });
    api.wait_until("its process ends", || api.job_processes().is_empty());

    let cancelled = submit(&api, json!({"kind": "nest", "payload": endless_nest(&env)}));
    let id = cancelled.json()["job_id"].as_str().unwrap().to_owned();
    api.wait_until("the job runs", || !api.job_processes().is_empty());
    let answer = api.post_json(&format!("/jobs/{id}/cancel"), &Value::Null);
    assert_eq!(answer.status, 200, "{}", answer.text());
    api.wait_until("its process ends", || api.job_processes().is_empty());
    api.wait_until("the job is cancelled", || {
        status_of(&api.get(&format!("/jobs/{id}")).json()) == "cancelled"
    });
}

#[test]
fn twelve_parallel_analyses_of_a_block_bomb_stay_within_memory() {
    let env = Env::new();
    // The defaults: a worker slot and a synchronous slot per core, 256 MB a job.
    let api = env.spawn_api(&[]);
    env.upload("bomb.dxf", block_bomb(20));
    let peak = std::sync::atomic::AtomicU64::new(0);
    let done = std::sync::atomic::AtomicBool::new(false);
    let answers: Vec<crate::support::Answer> = std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                peak.fetch_max(api.tree_rss(), std::sync::atomic::Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        let requests: Vec<_> = (0..12)
            .map(|i| {
                let api = &api;
                s.spawn(move || {
                    let path = if i % 2 == 0 {
                        "/analyze-dxf"
                    } else {
                        "/analyze-dxf?async_mode=true"
                    };
                    api.post_json(path, &json!({"dxf_path": "bomb.dxf"}))
                })
            })
            .collect();
        let answers: Vec<_> = requests.into_iter().map(|r| r.join().unwrap()).collect();
        for answer in answers.iter().filter(|a| a.json()["job_id"].is_string()) {
            let id = answer.json()["job_id"].as_str().unwrap().to_owned();
            api.wait_until("the queued analysis ends", || {
                status_of(&api.get(&format!("/jobs/{id}")).json()) == "failed"
            });
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        answers
    });
    let peak = peak.into_inner();
    eprintln!(
        "12 parallel analyses of a block bomb: the server and its jobs peaked at {} MB",
        peak / 1_000_000
    );
    assert!(
        peak < 1_500_000_000,
        "the server and its jobs peaked at {} MB",
        peak / 1_000_000
    );
    for answer in &answers {
        let body = answer.json();
        match answer.status {
            // Refused for its size, or queued (and failed above).
            200 => assert!(
                body["success"] == false || body["job_id"].is_string(),
                "{body}"
            ),
            503 => assert_eq!(body["code"], "server_busy"),
            other => panic!("status {other}: {body}"),
        }
    }
    let refused_for_size = answers
        .iter()
        .filter(|a| a.json()["success"] == false)
        .count();
    assert!(refused_for_size >= 1, "no analysis ran to its limit");
    let log = std::fs::read_to_string(env.dir.path().join("api.log")).unwrap_or_default();
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn csv_exports_neutralise_formulas_from_layer_names() {
    let env = Env::new();
    let api = env.spawn_api(&[]);
    let evil = [
        "=HYPERLINK(\"http://example.invalid\",\"x\")",
        "=cmd|' /C calc'!A0",
        "+SUM(1)",
        "-2+3",
        "@SUM(1)",
        "\tTAB",
        "\rCR",
    ];
    let contours: Vec<Value> = evil
        .iter()
        .enumerate()
        .map(|(i, layer)| {
            json!({"id": i, "layer": layer, "part": 0, "area_mm2": 1.0,
                   "length_mm": 4.0, "closed": true})
        })
        .collect();
    let answer = api.post_json("/export/components-csv", &json!({ "contours": contours }));
    assert_eq!(answer.status, 200, "{}", answer.text());
    let mut reader = csv::Reader::from_reader(answer.body.as_slice());
    let layers: Vec<String> = reader.records().map(|r| r.unwrap()[1].to_owned()).collect();
    assert_eq!(layers.len(), evil.len());
    for (layer, original) in layers.iter().zip(evil) {
        assert_eq!(layer, &format!("'{original}"));
    }
}

#[test]
fn storage_is_bounded_by_quotas() {
    let env = Env::new();
    let api = env.spawn_api(&[
        "--no-workers",
        "--enable-test-kinds",
        "--max-waiting-jobs",
        "2",
        "--max-payload-mb",
        "1",
    ]);
    // Jobs delayed past the longest delay are refused outright.
    let year = submit(
        &api,
        json!({"kind": "noop", "payload": {}, "delay": 366.0 * 86400.0}),
    );
    assert_refused(&year, 400, "invalid_request");
    // A payload over the server's limit: 413.
    let big = "x".repeat(1 << 20);
    let fat = submit(&api, json!({"kind": "noop", "payload": {"blob": big}}));
    assert_refused(&fat, 413, "payload_too_large");
    // Two waiting jobs fill the queue; the third is refused with 429.
    for _ in 0..2 {
        let ok = submit(&api, json!({"kind": "noop", "payload": {}, "delay": 3600}));
        assert_eq!(ok.status, 201, "{}", ok.text());
    }
    let full = submit(&api, json!({"kind": "noop", "payload": {}, "delay": 3600}));
    assert_refused(&full, 429, "queue_full");
    assert!(
        full.text().contains("--max-waiting-jobs"),
        "{}",
        full.text()
    );
    // Quotas are per queue: the analysis queue still takes work, through
    // the old endpoints too, until it is full in turn.
    env.upload("plate.dxf", crate::cli::plate_with_hole_dxf());
    let analyse = || {
        api.post_json(
            "/analyze-dxf?async_mode=true",
            &json!({"dxf_path": "plate.dxf"}),
        )
    };
    for _ in 0..2 {
        let queued = analyse();
        assert!(queued.json()["job_id"].is_string(), "{}", queued.text());
    }
    assert_refused(&analyse(), 429, "queue_full");
}

/// The newer doors: a schedule's payload is checked as a job's is (no
/// path outside the data directory, no raised limit, nothing stored when
/// refused); references and unique keys refuse control characters and
/// lengths past their bounds; `/analyze-dxf` takes a reference only as text.
#[test]
fn schedules_references_and_unique_keys_are_checked_at_the_door() {
    let env = Env::new();
    let api = env.spawn_api(&["--no-workers"]);
    env.upload("plate.dxf", block_bomb(1));
    let put = |name: &str, body: Value| {
        let bytes = serde_json::to_vec(&body).unwrap();
        api.request(
            "PUT",
            &format!("/schedules/{name}"),
            &[("Content-Type", "application/json")],
            &bytes,
        )
        .unwrap()
    };
    for (payload, code) in [
        (
            json!({"dxf_path": "/etc/passwd"}),
            "path_outside_managed_folders",
        ),
        (
            json!({"dxf_path": "../../etc/shadow"}),
            "path_outside_managed_folders",
        ),
        (
            json!({"dxf_path": "plate.dxf", "limits": {"max_entities": 1e12}}),
            "field_not_allowed",
        ),
    ] {
        let answer = put(
            "nightly",
            json!({"kind": "analyze_dxf", "every": 60, "payload": payload}),
        );
        assert_refused(&answer, 400, code);
        assert!(!answer.text().contains("root:"), "{}", answer.text());
    }
    let listed = api.get("/schedules").json();
    assert_eq!(listed["schedules"], json!([]), "nothing stored: {listed}");

    let long = "x".repeat(300);
    for (field, value) in [
        ("reference", "order\u{0}17"),
        ("reference", long.as_str()),
        ("unique_key", "a\nb"),
        ("unique_key", long.as_str()),
    ] {
        let answer = submit(
            &api,
            json!({"kind": "analyze_dxf", "payload": {"dxf_path": "plate.dxf"}, field: value}),
        );
        assert_refused(&answer, 400, "invalid_request");
        assert!(answer.text().contains(field), "{}", answer.text());
    }
    let odd = api.post_json(
        "/analyze-dxf?async_mode=true",
        &json!({"dxf_path": "plate.dxf", "reference": {"path": "/etc/passwd"}}),
    );
    assert_refused(&odd, 400, "invalid_json");
    let kept = api.post_json(
        "/analyze-dxf?async_mode=true",
        &json!({"dxf_path": "plate.dxf", "reference": "order 17"}),
    );
    assert_eq!(kept.status, 200, "{}", kept.text());
    let id = kept.json()["job_id"].as_str().unwrap().to_owned();
    assert_eq!(
        api.get(&format!("/jobs/{id}")).json()["reference"],
        "order 17"
    );
}

/// Fairness groups become part of storage keys: every door refuses a name
/// that could reach outside its queue's keys (braces of a hash tag, a
/// separator, a path, control characters) or run long, naming the field,
/// and stores nothing; the per-group cap takes only whole numbers from 1.
#[test]
fn group_names_and_the_group_cap_are_checked_at_every_door() {
    let env = Env::new();
    let api = env.spawn_api(&["--no-workers", "--enable-test-kinds"]);
    env.upload("plate.dxf", block_bomb(1));
    let long = "g".repeat(65);
    let hostile = [
        "{analysis}",
        "a|b",
        "../../etc",
        "g\nx",
        "g\u{0}x",
        "*",
        "two words",
        "",
        long.as_str(),
    ];
    for group in hostile {
        let answer = submit(&api, json!({"kind": "noop", "group": group}));
        assert_refused(&answer, 400, "invalid_request");
        assert!(answer.text().contains("group"), "{}", answer.text());
        let flow = api.post_json(
            "/flows",
            &json!({"jobs": [{"name": "a", "kind": "noop", "group": group}]}),
        );
        assert_eq!(flow.status, 400, "{}", flow.text());
        let old = api.post_json(
            "/analyze-dxf?async_mode=true",
            &json!({"dxf_path": "plate.dxf", "group": group}),
        );
        assert_eq!(old.status, 400, "{}", old.text());
    }
    for odd in [json!(7), json!(["a"]), json!({"name": "a"})] {
        let answer = submit(&api, json!({"kind": "noop", "group": odd}));
        assert_eq!(answer.status, 400, "{}", answer.text());
    }
    let listed = api.get("/jobs?limit=10").json();
    assert_eq!(listed["jobs"], json!([]), "nothing stored: {listed}");

    let limits = |body: Value| {
        let bytes = serde_json::to_vec(&body).unwrap();
        api.request(
            "PUT",
            "/queues/default/limits",
            &[("Content-Type", "application/json")],
            &bytes,
        )
        .unwrap()
    };
    for bad in [
        json!(0),
        json!(-1),
        json!(1.5),
        json!("2"),
        json!(1u64 << 40),
    ] {
        let answer = limits(json!({ "per_group_max_running": bad }));
        assert_eq!(answer.status, 400, "{bad}: {}", answer.text());
    }
    let set = limits(json!({ "per_group_max_running": 2.0 }));
    assert_eq!(set.status, 200, "{}", set.text());
    assert_eq!(set.json()["limits"], json!({ "per_group_max_running": 2 }));

    let kept = submit(
        &api,
        json!({"kind": "noop", "group": "customer-17@shop:a.b_c"}),
    );
    assert_eq!(kept.status, 201, "{}", kept.text());
    let id = kept.json()["job_id"].as_str().unwrap().to_owned();
    assert_eq!(
        api.get(&format!("/jobs/{id}")).json()["group"],
        "customer-17@shop:a.b_c"
    );
}

#[test]
fn dependencies_and_flows_are_bounded_at_the_door() {
    let env = Env::new();
    let api = env.spawn_api(&[
        "--no-workers",
        "--enable-test-kinds",
        "--max-parents",
        "5",
        "--max-flow-jobs",
        "50",
    ]);
    let parent = submit(&api, json!({"kind": "noop", "delay": 3600}));
    assert_eq!(parent.status, 201, "{}", parent.text());
    let parent = parent.json()["job_id"].as_str().unwrap().to_owned();

    // More parents than the server allows, however they are spelt.
    let many: Vec<String> = (0..6).map(|i| format!("p{i}")).collect();
    let answer = submit(&api, json!({"kind": "noop", "after": many}));
    assert_refused(&answer, 400, "invalid_request");
    assert!(answer.text().contains("at most 5"), "{}", answer.text());
    let huge: Vec<String> = (0..50_000).map(|i| format!("p{i}")).collect();
    let answer = submit(&api, json!({"kind": "noop", "after": huge}));
    assert!(
        matches!(answer.status, 400 | 413),
        "{}: {}",
        answer.status,
        answer.text()
    );
    // The same parent named five more times counts once, but the list is
    // still capped as sent.
    let repeated = vec![parent.clone(); 6];
    let answer = submit(&api, json!({"kind": "noop", "after": repeated}));
    assert_refused(&answer, 400, "invalid_request");

    for (request, code) in [
        (
            json!({"kind": "noop", "job_id": "me", "after": ["me"]}),
            "invalid_request",
        ),
        (
            json!({"kind": "noop", "after": ["../../etc/passwd"]}),
            "invalid_job_id",
        ),
        (
            json!({"kind": "noop", "after": ["no-such-job"]}),
            "unknown_parent",
        ),
        (
            json!({"kind": "noop", "run_anyway": true}),
            "invalid_request",
        ),
        (
            json!({"kind": "noop", "after": "not-a-list"}),
            "invalid_json",
        ),
    ] {
        let answer = submit(&api, request.clone());
        assert_refused(&answer, 400, code);
        assert!(
            !answer.text().contains("root:"),
            "{request}: {}",
            answer.text()
        );
    }

    let flow = |nodes: Value| api.post_json("/flows", &json!({ "jobs": nodes }));
    let cycle = flow(json!([
        {"name": "a", "kind": "noop", "after": ["c"]},
        {"name": "b", "kind": "noop", "after": ["a"]},
        {"name": "c", "kind": "noop", "after": ["b"]},
    ]));
    assert_refused(&cycle, 400, "invalid_flow");
    assert!(cycle.text().contains("cycle"), "{}", cycle.text());
    let selfish = flow(json!([{"name": "a", "kind": "noop", "after": ["a"]}]));
    assert_refused(&selfish, 400, "invalid_flow");
    let twice = flow(json!([
        {"name": "a", "kind": "noop"},
        {"name": "a", "kind": "noop"},
    ]));
    assert_refused(&twice, 400, "invalid_flow");
    let dangling = flow(json!([{"name": "a", "kind": "noop", "after": ["ghost"]}]));
    assert_eq!(dangling.status, 400, "{}", dangling.text());
    let message = dangling.json()["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        message.contains("node \"a\"") && message.contains("ghost"),
        "{message}"
    );
    for odd in ["../x", "a b", "é", "", "a\u{0}b", &"n".repeat(65)] {
        let answer = flow(json!([{"name": odd, "kind": "noop"}]));
        assert_refused(&answer, 400, "invalid_flow");
    }
    let over: Vec<Value> = (0..51)
        .map(|i| json!({"name": format!("n{i}"), "kind": "noop"}))
        .collect();
    let answer = flow(json!(over));
    assert_refused(&answer, 400, "invalid_flow");
    assert!(answer.text().contains("at most 50"), "{}", answer.text());
    // A hundred thousand nodes: refused whole (by the body's size or the
    // flow's), and the server answers the next request.
    let flood: Vec<Value> = (0..100_000)
        .map(|i| json!({"name": format!("n{i}"), "kind": "noop"}))
        .collect();
    let answer = flow(json!(flood));
    assert!(
        matches!(answer.status, 400 | 413),
        "{}: {}",
        answer.status,
        answer.text()
    );
    let unknown_field = flow(json!([{"name": "a", "kind": "noop", "colour": "red"}]));
    assert_eq!(unknown_field.status, 400, "{}", unknown_field.text());

    // Nothing of the refused requests was stored: only the first parent.
    let listed = api.get("/jobs?limit=500").json();
    assert_eq!(listed["jobs"].as_array().map(Vec::len), Some(1), "{listed}");
    let ok = flow(json!([
        {"name": "first", "kind": "noop"},
        {"name": "then", "kind": "noop", "after": ["first", parent]},
    ]));
    assert_eq!(ok.status, 201, "{}", ok.text());
    let then = &ok.json()["jobs"][1];
    assert_eq!(then["status"], "waiting");
    assert_eq!(then["name"], "then");
}

/// `GET /history`: absurd, huge and odd query values are refused with a
/// named error, never a panic or an unbounded read; a reference made to
/// look like a spreadsheet formula comes out of the CSV export inert; the
/// key that submitted a job shows as a fingerprint, never as itself.
#[test]
fn history_queries_are_bounded_and_its_csv_is_inert() {
    let env = Env::new();
    let key = "correct-horse-battery-staple";
    let api = env.spawn_api(&["--no-workers", "--enable-test-kinds", "--api-key", key]);
    let with_key = [("X-API-Key", key), ("Content-Type", "application/json")];
    let get = |path: &str| api.request("GET", path, &with_key, b"").unwrap();
    let evil = [
        "=HYPERLINK(\"http://example.invalid\",\"x\")",
        "+SUM(1)",
        "-2+3",
        "@SUM(1)",
    ];
    for reference in evil {
        let body = serde_json::to_vec(
            &json!({"kind": "noop", "payload": {"api_token": "s3cret"}, "reference": reference}),
        )
        .unwrap();
        let answer = api.request("POST", "/jobs", &with_key, &body).unwrap();
        assert_eq!(answer.status, 201, "{}", answer.text());
    }

    for (query, code) in [
        ("since=99999-01-01", "invalid_query"),
        ("since=2026-13-45", "invalid_query"),
        ("until=%2B262143-12-31", "invalid_query"),
        ("since=2027-01-01&until=2026-01-01", "invalid_query"),
        (
            "since=2026-01-01T00:00:00Z&until=2026-01-01T00:00:00Z",
            "invalid_query",
        ),
        ("limit=0", "invalid_query"),
        ("limit=1000001", "invalid_query"),
        ("limit=18446744073709551616", "invalid_value"),
        ("limit=-1", "invalid_value"),
        ("outcome=exploded", "invalid_request"),
        ("kind=..%2F..%2Fetc", "unknown_kind"),
        ("queue=nope", "unknown_queue"),
        ("job=..%2Fetc%2Fpasswd", "invalid_query"),
        ("format=xlsx", "invalid_query"),
        ("refrence=x", "unknown_field"),
    ] {
        let answer = get(&format!("/history?{query}"));
        assert_eq!(
            (answer.status, answer.code().as_str()),
            (400, code),
            "{query}: {}",
            answer.text()
        );
    }
    let long = "x".repeat(5_000);
    let answer = get(&format!("/history?reference={long}"));
    assert_eq!(answer.status, 400, "{}", answer.text());

    // The widest range there is answers, bounded, with what exists.
    let all = get("/history?since=0001-01-01&until=9999-12-31&limit=1000");
    assert_eq!(all.status, 200, "{}", all.text());
    let entries = all.json()["entries"].as_array().unwrap().clone();
    assert_eq!(entries.len(), evil.len());
    for e in &entries {
        assert_eq!(e["options"], json!(null), "no secret kept: {e}");
        let origin = e["origin"].as_str().unwrap();
        assert!(
            origin.starts_with("key ") && origin.contains("from 127.0.0.1"),
            "{origin}"
        );
        assert!(!origin.contains(key), "{origin}");
    }

    let csv = get("/history?format=csv&reference=%2B");
    assert_eq!(csv.status, 200, "{}", csv.text());
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
    let mut reader = csv::Reader::from_reader(csv.body.as_slice());
    let headers = reader.headers().unwrap().clone();
    let column = headers.iter().position(|h| h == "reference").unwrap();
    let references: Vec<String> = reader
        .records()
        .map(|r| r.unwrap()[column].to_owned())
        .collect();
    assert_eq!(
        references,
        ["'-2+3", "'+SUM(1)"],
        "only those holding +, newest first"
    );
    let all_csv = get("/history?format=csv").text();
    for reference in evil {
        assert!(!all_csv.contains(&format!(",{reference}")), "{all_csv}");
        assert!(!all_csv.contains(&format!("\"{reference}")), "{all_csv}");
    }
    // Without the key, nothing.
    let anonymous = api.get("/history");
    assert_eq!(anonymous.status, 401, "{}", anonymous.text());
}

/// Re-runs and bulk steering: a re-run is a new job through the same
/// checks as `POST /jobs` (no path outside the data directory, no raised
/// limit), and bulk requests are bounded and refuse ids that cannot exist.
#[test]
fn reruns_and_bulk_steering_are_checked_at_the_door() {
    let env = Env::new();
    let api = env.spawn_api(&["--no-workers"]);
    env.upload("plate.dxf", crate::cli::plate_with_hole_dxf());
    let first = submit(
        &api,
        json!({"kind": "analyze_dxf", "payload": {"dxf_path": "plate.dxf", "material": "steel", "thickness": 10}}),
    );
    assert_eq!(first.status, 201, "{}", first.text());
    let id = first.json()["job_id"].as_str().unwrap().to_owned();
    let rerun = |body: Value| api.post_json(&format!("/jobs/{id}/rerun"), &body);

    for (body, status, code) in [
        (
            json!({"payload": {"dxf_path": "/etc/passwd"}}),
            400,
            "path_outside_managed_folders",
        ),
        (
            json!({"payload": {"dxf_path": "../../../etc/shadow"}}),
            400,
            "path_outside_managed_folders",
        ),
        (
            json!({"payload": {"limits": {"max_entities": 1e12}}}),
            400,
            "field_not_allowed",
        ),
        (json!({"payload": {"thickness": -5}}), 400, "out_of_range"),
        (json!({"payload": {}, "kind": "spin"}), 400, "unknown_field"),
        (json!({"payload": [1, 2]}), 400, "invalid_json"),
        (json!({"reference": "a\u{0}b"}), 400, "invalid_request"),
    ] {
        let answer = rerun(body.clone());
        assert_eq!(
            (answer.status, answer.code().as_str()),
            (status, code),
            "{body}: {}",
            answer.text()
        );
        assert!(!answer.text().contains("root:"), "{}", answer.text());
    }
    let missing = api.post_json("/jobs/no-such-job/rerun", &json!({}));
    assert_refused(&missing, 404, "job_not_found");
    let odd = api.post_json("/jobs/..%2F..%2Fetc/rerun", &json!({}));
    assert_eq!(odd.status, 404, "{}", odd.text());

    let again = rerun(json!({"payload": {"material": "aluminium", "thickness": 3}}));
    assert_eq!(again.status, 201, "{}", again.text());
    let again = again.json();
    assert_eq!(again["payload"]["material"], "aluminium");
    assert_eq!(
        again["payload"]["dxf_path"],
        first.json()["payload"]["dxf_path"]
    );
    assert_eq!(again["rerun_of"], id.as_str());
    assert_ne!(again["job_id"], id.as_str());

    let many: Vec<String> = (0..1001).map(|i| format!("j{i}")).collect();
    for (path, body, status, code) in [
        ("/bulk/cancel", json!({"ids": many}), 400, "invalid_value"),
        ("/bulk/retry", json!({"ids": many}), 400, "invalid_value"),
        ("/bulk/cancel", json!({"ids": []}), 400, "invalid_value"),
        (
            "/bulk/cancel",
            json!({"ids": ["../../etc/passwd"]}),
            400,
            "invalid_value",
        ),
        (
            "/bulk/cancel",
            json!({"ids": ["a"], "queue": "analysis"}),
            400,
            "invalid_value",
        ),
        ("/bulk/cancel", json!({}), 400, "invalid_value"),
        (
            "/bulk/cancel",
            json!({"queue": "nope"}),
            404,
            "unknown_queue",
        ),
        (
            "/bulk/retry",
            json!({"queue": "analysis"}),
            400,
            "invalid_value",
        ),
        ("/bulk/retry", json!({"ids": "all"}), 400, "invalid_json"),
    ] {
        let answer = api.post_json(path, &body);
        assert_eq!(
            (answer.status, answer.code().as_str()),
            (status, code),
            "{path} {body}: {}",
            answer.text()
        );
    }
    // Every waiting job of a queue, at once; then nothing is left to cancel.
    let all = api.post_json("/bulk/cancel", &json!({"queue": "analysis"}));
    assert_eq!(all.status, 200, "{}", all.text());
    assert_eq!(all.json()["cancelled"], 2, "{}", all.text());
    let retried = api.post_json("/bulk/retry", &json!({"ids": [id, "never-was"]}));
    assert_eq!(retried.json()["retried"], 1, "{}", retried.text());
    assert_eq!(
        retried.json()["refused"][0]["job_id"],
        "never-was",
        "{}",
        retried.text()
    );
}

/// Names that are not keys, at every door of a local store, and storage
/// settings that name no store.
#[test]
fn keys_that_climb_encode_or_overflow_are_refused_and_bad_stores_stop_the_start() {
    let env = Env::new();
    let api = env.spawn_api(&["--no-workers"]);
    env.upload("plate.dxf", block_bomb(1));
    let long = format!("{}.dxf", "a".repeat(600));
    for (name, code) in [
        ("%2e%2e/%2e%2e/etc/passwd", "invalid_key"),
        ("..\\..\\etc\\passwd", "invalid_key"),
        ("uploads/.env", "invalid_key"),
        ("uploads//plate.dxf", "invalid_key"),
        (long.as_str(), "invalid_key"),
        ("output/../../../etc/passwd", "path_outside_managed_folders"),
    ] {
        let answer = submit(
            &api,
            json!({"kind": "analyze_dxf", "payload": {"dxf_path": name}}),
        );
        assert_refused(&answer, 400, code);
        let answer = api.get(&format!("/files/uploads/{}", name.replace('\\', "%5C")));
        assert!(
            matches!(answer.status, 400 | 404),
            "{name}: {} {}",
            answer.status,
            answer.text()
        );
    }
    let stderr = env.fails(&[
        "submit",
        "analyze_dxf",
        "--payload",
        r#"{"dxf_path": "%2e%2e/etc/passwd"}"#,
    ]);
    assert!(stderr.contains("never decoded"), "{stderr}");
    for (flag, value) in [
        ("--storage-url", "ftp://shop/files"),
        ("--storage-url", "s3://A_B/x"),
        ("--storage-url", "s3://bucket/../other"),
        ("--upload-ttl-days", "0"),
    ] {
        let stderr = env.fails(&[flag, value, "info"]);
        assert!(
            stderr.contains("storage")
                || stderr.contains("bucket")
                || stderr.contains("prefix")
                || stderr.contains("upload-ttl-days"),
            "{flag} {value}: {stderr}"
        );
    }
    let jobs = api.get("/jobs").json();
    assert_eq!(jobs["jobs"].as_array().unwrap().len(), 0, "{jobs}");
}

#[test]
fn nesting_options_cannot_stretch_the_work_or_the_sheet() {
    let env = Env::new();
    let api = env.spawn_api(&["--no-workers"]);
    env.upload("part.dxf", crate::cli::plate_with_hole_dxf());
    let nest = |extra: Value| {
        let mut payload = json!({"dxf_path": "part.dxf", "sheet_width": 400, "sheet_height": 250});
        for (k, v) in extra.as_object().unwrap() {
            payload[k] = v.clone();
        }
        submit(&api, json!({"kind": "nest", "payload": payload}))
    };
    // An edge distance past any sheet, or not a number the engine can use.
    for edge in [json!(1e308), json!(-1), json!(501)] {
        let answer = nest(json!({ "edge_distance": edge }));
        assert_refused(&answer, 400, "out_of_range");
        assert!(answer.text().contains("edge_distance"), "{}", answer.text());
    }
    // Thousands of rotations per drawing would multiply every placement's work.
    let many: Vec<f64> = (0..5000).map(f64::from).collect();
    let answer = nest(json!({ "files": [{"dxf_path": "part.dxf", "rotations": many}] }));
    assert_refused(&answer, 400, "out_of_range");
    assert!(
        answer.text().contains("files[0].rotations"),
        "{}",
        answer.text()
    );
    // A stock list, a search time and a rotation step past what the engine
    // takes: refused by name before a job exists.
    for (extra, field) in [
        (
            json!({ "sheets": [{"width": 1e9, "height": 500, "quantity": 1}] }),
            "sheet_width",
        ),
        (
            json!({ "sheets": [{"width": 500, "height": 500, "quantity": 0}] }),
            "max_sheets",
        ),
        (json!({ "time_limit_s": 1e9 }), "time_limit_s"),
        (json!({ "rotation_step": 0 }), "rotation_step"),
        // More searches side by side than the library runs: a request
        // cannot ask for the machine's every core many times over.
        (json!({ "threads": 17 }), "threads"),
        (json!({ "threads": 0 }), "threads"),
    ] {
        let answer = nest(extra.clone());
        assert_refused(&answer, 400, "out_of_range");
        assert!(answer.text().contains(field), "{extra}: {}", answer.text());
    }
    // A count of searches is a whole number.
    for threads in [json!(2.5), json!(-1), json!("2"), json!(4_294_967_296_u64)] {
        let answer = nest(json!({ "threads": threads }));
        assert_eq!(answer.status, 400, "{threads}: {}", answer.text());
        assert!(
            answer.text().contains("threads"),
            "{threads}: {}",
            answer.text()
        );
    }
    // In a payload too large to search field by field (each try reads the
    // rest again), the wrong type is refused without a name.
    let files = vec![json!({"dxf_path": "part.dxf", "quantity": 1}); 2000];
    let answer = nest(json!({ "threads": 2.5, "files": files }));
    assert_refused(&answer, 400, "invalid_value");
    let text = answer.text();
    assert!(
        text.contains("floating point `2.5`") && !text.contains("threads"),
        "{text}"
    );
    // The same payload, small, names it.
    let answer = nest(json!({ "threads": 2.5, "files": [{"dxf_path": "part.dxf"}] }));
    assert_refused(&answer, 400, "invalid_value");
    assert!(
        answer.text().contains("threads: invalid type"),
        "{}",
        answer.text()
    );
    // A value of the wrong type in a list is named by its place.
    let answer = nest(json!({ "files": [{"dxf_path": "part.dxf", "quantity": "many"}] }));
    assert_eq!(answer.status, 400, "{}", answer.text());
    assert!(
        answer.text().contains("files[0].quantity"),
        "{}",
        answer.text()
    );
    // A flag is a flag.
    let answer = nest(json!({ "allow_partial": "yes please" }));
    assert_eq!(answer.status, 400, "{}", answer.text());
    let answer = nest(json!({ "allow_mirror": 1 }));
    assert_eq!(answer.status, 400, "{}", answer.text());
}

/// A G-code job that names a `sheet` takes its drawing from the result of a
/// parent it waits for. A parent whose result a client wrote (a test kind
/// echoing its payload) cannot point that drawing outside the store: the
/// job's process checks the name it is handed like any other input.
#[test]
fn a_sheet_taken_from_a_parent_result_is_confined_like_any_input() {
    let env = Env::new();
    let api = env.spawn_api(&["--enable-test-kinds"]);
    let parent = submit(
        &api,
        json!({"kind": "noop", "payload": {"artifacts": {"sheets": [{"sheet": 0, "dxf": "/etc/passwd"}]}}}),
    );
    assert_eq!(parent.status, 201, "{}", parent.text());
    let parent = parent.json()["job_id"].as_str().unwrap().to_owned();
    let child = submit(
        &api,
        json!({"kind": "generate_gcode", "after": [parent], "payload": {"sheet": 0}}),
    );
    assert_eq!(child.status, 201, "{}", child.text());
    let id = child.json()["job_id"].as_str().unwrap().to_owned();
    api.wait_until("the G-code job ends", || {
        status_of(&api.get(&format!("/jobs/{id}")).json()) == "failed"
    });
    let job = api.get(&format!("/jobs/{id}")).json();
    assert_eq!(job["error_kind"], "invalid_payload", "{job:#}");
    let error = job["error"].as_str().unwrap();
    assert!(
        error.contains("path_outside_managed_folders") || error.contains("outside"),
        "{job:#}"
    );
    assert!(!error.contains("root:"), "{job:#}");
}

/// The remnant inventory's doors: sizes, thicknesses and material names out
/// of range, fields a client may not set (the source, the id, a limit),
/// ids that climb or overflow, and a nest payload that names its own
/// remnants are all refused; nothing outside the data directory is reached.
#[test]
fn remnant_inventory_doors_are_bounded() {
    let env = Env::new();
    let api = env.spawn_api(&["--no-workers"]);
    let outside = env.dir.path().join("outside.txt");
    std::fs::write(&outside, "keep me").unwrap();
    for (body, code) in [
        (json!({"width": 1e308, "height": 100}), "out_of_range"),
        (json!({"width": -1, "height": 100}), "out_of_range"),
        (json!({"width": 0, "height": 100}), "out_of_range"),
        (json!({"width": 100, "height": 100_001}), "out_of_range"),
        (
            json!({"width": 100, "height": 100, "thickness": 0}),
            "out_of_range",
        ),
        (
            json!({"width": 100, "height": 100, "thickness": 1e9}),
            "out_of_range",
        ),
        (
            json!({"width": 100, "height": 100, "material": "x".repeat(65)}),
            "invalid_value",
        ),
        (
            json!({"width": 100, "height": 100, "material": "../../etc"}),
            "invalid_value",
        ),
        (
            json!({"width": 100, "height": 100, "material": "a\nb"}),
            "invalid_value",
        ),
        (
            json!({"width": 100, "height": 100, "material": " "}),
            "invalid_value",
        ),
        (
            json!({"width": 100, "height": 100, "id": "../x"}),
            "unknown_field",
        ),
        (
            json!({"width": 100, "height": 100, "source_job": "x"}),
            "unknown_field",
        ),
        (
            json!({"width": 100, "height": 100, "max_remnants": 1e9}),
            "unknown_field",
        ),
        (json!({"width": "wide", "height": 100}), "invalid_json"),
    ] {
        let answer = api.post_json("/remnants", &body);
        assert_refused(&answer, 400, code);
    }
    // A material must be one of the shop's: anything else is refused with
    // the nearest known name, never stored under a name no nest would use.
    for material in ["alumnium", "unobtainium", "mild steel 2"] {
        let body = json!({"width": 100, "height": 100, "material": material});
        let answer = api.post_json("/remnants", &body);
        assert_refused(&answer, 400, "invalid_value");
        assert!(answer.text().contains(material), "{}", answer.text());
    }
    let listed = api.get("/remnants").json();
    assert_eq!(listed["count"], 0, "nothing stored: {listed}");
    for id in [
        "..%2F..%2Foutside.txt",
        "..",
        "%00",
        &"r".repeat(65),
        "r0000000000000000000000000000000",
    ] {
        let answer = api
            .request("DELETE", &format!("/remnants/{id}"), &[], b"")
            .unwrap();
        assert_eq!(answer.status, 404, "{id}: {}", answer.text());
    }
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "keep me");
    // A nest cannot name the remnants it cuts from, nor turn the switch
    // into anything but a flag.
    env.upload("part.dxf", crate::cli::plate_with_hole_dxf());
    for extra in [
        json!({"remnants": [{"id": "r1", "width": 1e5, "height": 1e5}]}),
        json!({"use_remnants": "yes"}),
        json!({"material": "alumnium"}),
        json!({"material": 5}),
        json!({"material": "../../etc/passwd"}),
    ] {
        let mut payload = json!({"dxf_path": "part.dxf", "sheet_width": 400, "sheet_height": 250});
        for (k, v) in extra.as_object().unwrap() {
            payload[k] = v.clone();
        }
        let answer = submit(&api, json!({"kind": "nest", "payload": payload}));
        assert_eq!(answer.status, 400, "{extra}: {}", answer.text());
    }
    let answer = api.post_json(
        "/nest?dxf_path=part.dxf&sheet_width=400&sheet_height=250&use_remnants=maybe",
        &Value::Null,
    );
    assert_refused(&answer, 400, "invalid_value");
    // The command line refuses what the API refuses.
    let stderr = env.fails(&["remnants", "add", "1e9x10"]);
    assert!(stderr.contains("width"), "{stderr}");
    let stderr = env.fails(&["remnants", "add", "10x10", "--material", "a/b"]);
    assert!(stderr.contains("material"), "{stderr}");
    let stderr = env.fails(&["remnants", "remove", "../outside.txt"]);
    assert!(stderr.contains("not found"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "keep me");
}
