//! What a request asks is checked at the door, before a job exists: a
//! stock sheet, a material of the shop's own table, a request that could
//! never run, and the names in the refusals are the client's own. Each
//! case goes through a real door: `POST /jobs` or an old endpoint over a
//! socket, or `wjp submit`.

use serde_json::{json, Value};

use crate::cli::plate_with_hole_dxf;
use crate::support::{Answer, Api, Env};

/// Asserts a refusal: its status, code, the field it names and words of
/// its message.
fn refused(answer: &Answer, code: &str, says: &[&str]) {
    let body = answer.json();
    assert_eq!(
        (answer.status, answer.code().as_str()),
        (400, code),
        "{body}"
    );
    let error = body["error"].as_str().unwrap_or_default();
    for words in says {
        assert!(error.contains(words), "{words:?} not in: {error}");
    }
}

fn nest_job(api: &Api, payload: Value) -> Answer {
    api.post_json("/jobs", &json!({"kind": "nest", "payload": payload}))
}

/// The number of jobs the queue holds, whatever their state.
fn job_count(api: &Api) -> usize {
    api.get("/jobs").json()["jobs"]
        .as_array()
        .map_or(usize::MAX, Vec::len)
}

#[test]
fn a_stock_sheet_is_never_given_a_size_the_client_did_not_send() {
    let env = Env::new();
    env.upload("plate.dxf", plate_with_hole_dxf());
    let api = env.spawn_api(&["--no-workers"]);
    let with_sheets = |sheets: Value| json!({"dxf_path": "plate.dxf", "sheets": sheets});

    let typo = nest_job(
        &api,
        with_sheets(json!([{"widht": 1100, "height": 1100, "quantity": 3}])),
    );
    refused(
        &typo,
        "unknown_field",
        &[
            "sheets[0]: unknown field \"widht\"",
            r#"did you mean "width"?"#,
        ],
    );
    let typo = nest_job(
        &api,
        with_sheets(json!([{"width": 1100, "height": 1100, "quantty": 3}])),
    );
    refused(&typo, "unknown_field", &[r#"did you mean "quantity"?"#]);
    let empty = nest_job(&api, with_sheets(json!([{}])));
    refused(&empty, "missing_field", &["sheets[0].width is required"]);
    let half = nest_job(
        &api,
        with_sheets(json!([{"width": 500, "height": 500}, {"width": 1000}])),
    );
    refused(&half, "missing_field", &["sheets[1].height is required"]);
    let half = nest_job(&api, json!({"dxf_path": "plate.dxf", "sheet_width": 1000}));
    refused(&half, "missing_field", &["sheet_height is required"]);
    assert_eq!(job_count(&api), 0, "no refused nest became a job");

    // The same at the command line.
    let stderr = env.fails(&[
        "submit",
        "nest",
        "--payload",
        &with_sheets(json!([{"height": 800}])).to_string(),
    ]);
    assert!(stderr.contains("sheets[0].width is required"), "{stderr}");

    // Whole sizes, in either name, and no size at all (the documented
    // 3000 x 1500 mm sheet) are still taken.
    for payload in [
        with_sheets(json!([{"width": 1100, "height": 1100, "quantity": 3}])),
        with_sheets(json!([{"width_mm": 1100, "height_mm": 1100}])),
        json!({"dxf_path": "plate.dxf", "sheet_width": 400, "sheet_height": 250}),
        json!({"dxf_path": "plate.dxf"}),
    ] {
        let answer = nest_job(&api, payload.clone());
        assert_eq!(answer.status, 201, "{payload}: {}", answer.text());
    }
}

/// A shop file that adds bronze (alias `cuzn`) and sets the thicknesses
/// of granite and mild steel the shop cuts.
const SHOP: &str = "[materials.bronze]\naliases = [\"cuzn\"]\nmachinability = 125\n\
                    density_kg_m3 = 8800\n\n[materials.granite]\nthickness_range_mm = [10, 60]\n\n\
                    [materials.mild_steel]\nthickness_range_mm = [8, 30]\n";

/// A service's data directory with a plate drawing and the shop file
/// [`SHOP`].
fn shop_env() -> Env {
    let env = Env::new();
    env.upload("plate.dxf", plate_with_hole_dxf());
    std::fs::create_dir_all(env.data_dir()).unwrap();
    std::fs::write(env.data_dir().join("wjp.toml"), SHOP).unwrap();
    env
}

#[test]
fn a_quote_takes_the_shops_materials_and_their_thickness_ranges() {
    let env = shop_env();
    let api = env.spawn_api(&[]);

    for material in ["bronze", "cuzn"] {
        let answer = api.post_json(
            "/cost",
            &json!({"dxf_path": "plate.dxf", "material": material, "thickness": 12}),
        );
        let body = answer.json();
        assert_eq!(
            (answer.status, &body["success"]),
            (200, &json!(true)),
            "{body}"
        );
        assert_eq!(body["cost"]["material"], "bronze", "{body}");
    }
    // A thickness outside the shop's range is a 400 naming the field and
    // the range, as /analyze-dxf answers, not a job that fails when it runs.
    let thin = json!({"dxf_path": "plate.dxf", "material": "granite", "thickness": 5});
    let answer = api.post_json("/cost", &thin);
    refused(
        &answer,
        "out_of_range",
        &["thickness: 5 mm of granite", "10 to 60 mm"],
    );
    let stderr = env.fails(&[
        "submit",
        "calculate_cost",
        "--payload",
        &json!({"dxf_path": "plate.dxf", "material": "granite", "thickness": 80}).to_string(),
    ]);
    assert!(stderr.contains("10 to 60 mm"), "{stderr}");
    assert_eq!(job_count(&api), 0, "no refused quote became a job");
}

/// Two 100 mm plates side by side: a drawing of two parts.
fn two_plates_dxf() -> String {
    let second = "0\nLWPOLYLINE\n8\nCUT\n90\n4\n70\n1\n\
                  10\n200\n20\n0\n10\n300\n20\n0\n10\n300\n20\n100\n10\n200\n20\n100\n";
    plate_with_hole_dxf().replacen(
        "0\nENDSEC\n0\nEOF",
        &format!("{second}0\nENDSEC\n0\nEOF"),
        1,
    )
}

#[test]
fn a_request_that_could_never_run_is_refused_at_the_door() {
    let env = Env::new();
    env.upload("plate.dxf", plate_with_hole_dxf());
    let api = env.spawn_api(&["--no-workers"]);
    let plate = |extra: Value| {
        let mut payload = json!({"dxf_path": "plate.dxf", "sheet_width": 400, "sheet_height": 250});
        for (k, v) in extra.as_object().unwrap() {
            payload[k] = v.clone();
        }
        payload
    };
    let files = |quantities: &[u32]| {
        let list: Vec<Value> = quantities
            .iter()
            .map(|q| json!({"dxf_path": "plate.dxf", "quantity": q}))
            .collect();
        json!({"files": list, "sheet_width": 400, "sheet_height": 250})
    };
    for (payload, code, says) in [
        (
            plate(json!({"quantity": 0})),
            "out_of_range",
            &["quantity: 0 is not in 1..=5000"][..],
        ),
        (
            files(&[2, 100_000]),
            "out_of_range",
            &["files[1].quantity: 100000 is not in 1..=5000"][..],
        ),
        (
            files(&[3000, 3000]),
            "out_of_range",
            &["6000 copies", "at most 5000 part copies"][..],
        ),
        (
            plate(json!({"max_sheets": 5000})),
            "out_of_range",
            &["max_sheets: 5000 is more than the 1000 sheets"][..],
        ),
        (
            plate(
                json!({"sheets": [{"width": 400, "height": 250, "quantity": 600},
                                     {"width": 500, "height": 250, "quantity": 600}]}),
            ),
            "out_of_range",
            &["1200 sheets", "1000"][..],
        ),
        (
            plate(json!({"files": [{"dxf_path": "plate.dxf", "quantity": 2}]})),
            "invalid_value",
            &["give dxf_path", "or files", "not both"][..],
        ),
        (
            {
                let mut payload = files(&[2]);
                payload["quantity"] = json!(5);
                payload
            },
            "invalid_value",
            &["quantity goes with dxf_path"][..],
        ),
    ] {
        refused(&nest_job(&api, payload), code, says);
    }

    // A G-code job of a nest's sheet waits for that nest: without `after`
    // it could never find its drawing.
    let sheet = json!({"sheet": 0, "material": "granite", "thickness": 20});
    let answer = api.post_json(
        "/jobs",
        &json!({"kind": "generate_gcode", "payload": sheet}),
    );
    refused(&answer, "missing_field", &["sheet 0", "after"]);
    let batch = env.write(
        "jobs.jsonl",
        &format!("{}\n", json!({"kind": "generate_gcode", "payload": sheet})),
    );
    let stderr = env.fails(&["submit", "--batch", batch.to_str().unwrap()]);
    assert!(stderr.contains("after"), "{stderr}");
    assert_eq!(job_count(&api), 0, "no refused request became a job");

    // Within bounds, all of these are taken.
    let nest = nest_job(&api, plate(json!({"quantity": 5000, "max_sheets": 1000})));
    assert_eq!(nest.status, 201, "{}", nest.text());
    let nest = nest.json()["job_id"].as_str().unwrap().to_owned();
    let answer = api.post_json(
        "/jobs",
        &json!({"kind": "generate_gcode", "after": [nest], "payload": sheet}),
    );
    assert_eq!(answer.status, 201, "{}", answer.text());
    let answer = nest_job(&api, files(&[2500, 2500]));
    assert_eq!(answer.status, 201, "{}", answer.text());
}

#[test]
fn a_nest_past_the_part_copies_names_its_drawings_parts_and_copies() {
    let env = Env::new();
    env.upload("pair.dxf", two_plates_dxf());
    let payload = json!({"files": [{"dxf_path": "pair.dxf", "quantity": 3000}],
                         "sheet_width": 400, "sheet_height": 250});
    let id = env.submit(&["nest", "--payload", &payload.to_string()]);
    env.ok(&["worker", "--burst", "--queues", "nesting"]);
    let job = env.job(&id);
    assert_eq!(job["status"], "failed", "{job:#}");
    let message = job["error"]["message"].as_str().unwrap_or_default();
    for words in [
        "6000 part copies",
        "pair.dxf: 2 parts x 3000 = 6000",
        "at most 5000",
    ] {
        assert!(message.contains(words), "{words:?} not in: {message}");
    }
}

#[test]
fn refusals_name_the_fields_the_client_sent() {
    let env = shop_env();
    let api = env.spawn_api(&["--no-workers"]);
    let gcode = |payload: Value| {
        api.post_json(
            "/jobs",
            &json!({"kind": "generate_gcode", "payload": payload}),
        )
    };
    let not_the_option = |answer: &Answer| {
        let text = answer.text();
        assert!(
            !text.contains("thickness_mm") && !text.contains("kerf_mm"),
            "{text}"
        );
    };

    for (path, body, says) in [
        (
            "/analyze-dxf",
            json!({"dxf_path": "plate.dxf", "thickness": 0}),
            "thickness: 0 is not in (0, 500] mm",
        ),
        (
            "/analyze-dxf",
            json!({"dxf_path": "plate.dxf", "thickness": 10, "kerf": 25}),
            "kerf: 25 is not in (0, 20) mm",
        ),
        (
            "/cost",
            json!({"dxf_path": "plate.dxf", "thickness": 0}),
            "thickness: 0 is not in (0, 500] mm",
        ),
        (
            "/analyze-dxf",
            json!({"dxf_path": "plate.dxf", "material": "granite", "thickness": 5}),
            "thickness: 5 mm of granite",
        ),
    ] {
        let answer = api.post_json(path, &body);
        refused(&answer, "out_of_range", &[says]);
        not_the_option(&answer);
    }
    let answer = gcode(json!({"dxf_path": "plate.dxf", "thickness": 0}));
    refused(
        &answer,
        "out_of_range",
        &["thickness: 0 is not in (0, 500] mm"],
    );
    not_the_option(&answer);
    // A client that uses the option's own name reads that name.
    let answer = api.post_json(
        "/analyze-dxf",
        &json!({"dxf_path": "plate.dxf", "thickness_mm": 0}),
    );
    refused(&answer, "out_of_range", &["thickness_mm: 0 is not in"]);

    // No thickness of a material the shop cuts only from 10 to 60 mm: the
    // thickness is missing, and the default of 6 mm is nobody's to blame.
    let granite = json!({"dxf_path": "plate.dxf", "material": "granite"});
    for answer in [
        api.post_json("/analyze-dxf", &granite),
        api.post_json("/cost", &granite),
        gcode(granite.clone()),
    ] {
        refused(
            &answer,
            "missing_field",
            &["thickness is required for granite", "10 to 60 mm"],
        );
        assert!(!answer.text().contains("6 mm"), "{}", answer.text());
    }
    // The old endpoint too: it fills in no thickness of its own.
    let answer = api.post_json("/gcode?dxf_path=plate.dxf&material=granite", &Value::Null);
    refused(
        &answer,
        "missing_field",
        &["thickness is required for granite", "10 to 60 mm"],
    );
    assert!(!answer.text().contains("6 mm"), "{}", answer.text());
    let stderr = env.fails(&["submit", "analyze_dxf", "--payload", &granite.to_string()]);
    assert!(
        stderr.contains("thickness is required for granite"),
        "{stderr}"
    );
    // Given within the range, it is taken; so is the default material at
    // a thickness the shop cuts it in, the one the program is cut with.
    for payload in [
        json!({"dxf_path": "plate.dxf", "material": "granite", "thickness": 20}),
        json!({"dxf_path": "plate.dxf", "thickness": 10}),
    ] {
        let answer = gcode(payload.clone());
        assert_eq!(answer.status, 201, "{payload}: {}", answer.text());
    }
}

#[test]
fn the_test_kinds_check_their_payloads_at_submit() {
    let env = Env::new();
    let api = env.spawn_api(&["--enable-test-kinds", "--no-workers"]);
    let job = |kind: &str, payload: Value| {
        api.post_json("/jobs", &json!({"kind": kind, "payload": payload}))
    };
    for (kind, payload, code, says) in [
        (
            "sleep",
            json!({"secnds": 3}),
            "unknown_field",
            r#"unknown field "secnds"; sleep takes {"seconds": S}"#,
        ),
        (
            "sleep",
            json!({"seconds": -3}),
            "out_of_range",
            "seconds: -3 is not between 0 and 86400",
        ),
        (
            "spin",
            json!({"seconds": "3"}),
            "invalid_value",
            "seconds must be a number",
        ),
        ("spin", json!({}), "missing_field", "seconds is required"),
        ("fail", json!({"mesage": "x"}), "invalid_value", "mesage"),
    ] {
        refused(&job(kind, payload), code, &[says]);
    }
    let stderr = env.fails(&["submit", "sleep", "--payload", r#"{"secnds": 3}"#]);
    assert!(stderr.contains(r#"unknown field "secnds""#), "{stderr}");
    assert_eq!(job_count(&api), 0, "no refused payload became a job");

    for (kind, payload) in [
        ("sleep", json!({"seconds": 0.1})),
        ("spin", json!({"seconds": 0})),
        ("fail", Value::Null),
        ("fail", json!({"message": "boom", "succeed_on_attempt": 2})),
        ("noop", json!([1, "anything"])),
    ] {
        let answer = job(kind, payload.clone());
        assert_eq!(answer.status, 201, "{kind} {payload}: {}", answer.text());
    }
}

/// The dashboard's analysis form starts at the thickness a request
/// without one is analysed at, not a number of its own.
#[test]
fn the_dashboard_offers_the_thickness_the_api_takes_by_default() {
    let env = Env::new();
    env.upload("plate.dxf", plate_with_hole_dxf());
    let api = env.spawn_api(&[]);
    let answer = api.post_json("/analyze-dxf", &json!({"dxf_path": "plate.dxf"}));
    assert_eq!(answer.status, 200, "{}", answer.text());
    let report = answer.json();
    let analysed = report["report"]["time"]["thickness_mm"].as_f64();
    assert_eq!(
        analysed,
        Some(wjp_geometry::AnalysisOptions::default().thickness_mm),
        "{report:#}"
    );
    let page = api.get("/").text();
    let input = page
        .split("id=\"dxf-thickness\"")
        .nth(1)
        .and_then(|rest| rest.split('>').next())
        .unwrap_or_default();
    assert!(
        input.contains(&format!("value=\"{}\"", analysed.unwrap_or_default())),
        "{input}"
    );
}

/// A listing's cursor on Redis is the last job's score and id: a cursor
/// that is neither that nor a score is refused, and one that is pages on.
#[test]
fn a_listing_cursor_is_a_place_or_is_refused() {
    let env = Env::redis();
    let api = env.spawn_api(&["--no-workers", "--enable-test-kinds"]);
    for i in 0..3 {
        let answer = api.post_json("/jobs", &json!({"kind": "noop", "payload": i}));
        assert_eq!(answer.status, 201, "{}", answer.text());
    }
    for cursor in ["nonsense", "12:", ":abc", "1e9:abc", "%00"] {
        let answer = api.get(&format!("/jobs?queue=default&limit=1&cursor={cursor}"));
        assert_eq!(answer.status, 400, "{cursor}: {}", answer.text());
    }
    let mut seen = Vec::new();
    let mut path = "/jobs?queue=default&limit=1".to_owned();
    loop {
        let page = api.get(&path).json();
        for job in page["jobs"].as_array().unwrap() {
            seen.push(job["payload"].as_i64().unwrap());
        }
        match page["next_cursor"].as_str() {
            Some(next) => path = format!("/jobs?queue=default&limit=1&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(seen, [2, 1, 0]);
}

/// On Redis a small waiting job's record is packed into a hash named by
/// its id's last two characters: client ids that all share them land in
/// one hash, past its compact size, and each stays its own job; the same
/// id with a payload too large to pack is the job that has it; an id that
/// would name a key outside its queue's hash tag is refused.
#[test]
fn client_ids_sharing_their_ending_stay_apart_and_cannot_leave_their_queue() {
    let env = Env::redis();
    let api = env.spawn_api(&["--no-workers", "--enable-test-kinds"]);
    let post = |id: &str, payload: Value| {
        api.post_json(
            "/jobs",
            &json!({"kind": "noop", "job_id": id, "payload": payload}),
        )
    };
    for i in 0..200 {
        let answer = post(&format!("order-{i}-zz"), json!(i));
        assert_eq!(answer.status, 201, "{i}: {}", answer.text());
    }
    let again = post("order-7-zz", json!("x".repeat(200)));
    assert_eq!(again.status, 200, "{}", again.text());
    assert_eq!(again.json()["payload"], json!(7));
    for i in [0, 7, 150, 199] {
        let job = api.get(&format!("/jobs/order-{i}-zz")).json();
        assert_eq!(job["payload"], json!(i), "{job}");
    }
    for bad in ["a}zz", "{b}zz", "c zz", "../zz", "d\nzz"] {
        let answer = post(bad, json!(0));
        assert_eq!(answer.status, 400, "{bad:?}: {}", answer.text());
    }
}

/// On Redis a job's stored body names its fields with short keys (its
/// start and end as `sa` and `ea`, earlier bodies' `st` and `ca`, the
/// waiting payload's size as `pl`). A client's payload holding those names
/// stays the payload: it cannot set the job's times or its size, and comes
/// back as it was sent.
#[test]
fn a_payload_cannot_pose_as_the_stored_body_s_fields() {
    let env = Env::redis();
    let api = env.spawn_api(&["--enable-test-kinds"]);
    let payload = json!({"sa": -1_000_000_000_000_i64, "ea": -5, "st": 1, "ca": 2, "pl": 3});
    let answer = api.post_json("/jobs", &json!({"kind": "noop", "payload": payload}));
    assert_eq!(answer.status, 201, "{}", answer.text());
    let id = answer.json()["job_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut job = Value::Null;
    api.wait_until("the noop job to complete", || {
        job = api.get(&format!("/jobs/{id}")).json();
        job["status"] == "completed"
    });
    assert_eq!(job["payload"], payload, "{job}");
    let time = |field: &str| job[field].as_str().unwrap_or_default().to_owned();
    let (created, started, completed) =
        (time("created_at"), time("started_at"), time("completed_at"));
    // The same RFC 3339 form throughout: text order is time order.
    assert!(created.starts_with("20"), "{job}");
    assert!(created <= started && started <= completed, "{job}");
}
