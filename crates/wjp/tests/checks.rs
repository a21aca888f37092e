//! Requests are checked when they arrive, the same at every door (the
//! command line, the old endpoints, `POST /jobs`), and a drawing whose
//! units look wrong is not cut or nested until its units are given.

use serde_json::{json, Value};

use crate::cli::plate_with_hole_dxf;
use crate::support::{fixture, Env};

/// The 100 mm plate of [`plate_with_hole_dxf`], declared in metres (as the
/// old converter wrote millimetre data): read as declared it is 100 m wide.
fn plate_declared_in_metres() -> String {
    plate_with_hole_dxf().replacen("$INSUNITS\n70\n4\n", "$INSUNITS\n70\n6\n", 1)
}

#[test]
fn misspelt_missing_and_out_of_range_payloads_are_refused_by_wjp_submit() {
    let env = Env::new();
    let drawing = env.upload("plate.dxf", plate_with_hole_dxf());
    let typo = json!({"dxf_path": drawing, "materail": "granite", "thicknes": 20});
    let stderr = env.fails(&["submit", "calculate_cost", "--payload", &typo.to_string()]);
    assert!(
        stderr.contains(r#"unknown field "materail"; did you mean "material"?"#),
        "{stderr}"
    );
    let stderr = env.fails(&[
        "submit",
        "analyze_dxf",
        "--payload",
        r#"{"material":"steel"}"#,
    ]);
    assert!(stderr.contains("dxf_path is required"), "{stderr}");
    let nest =
        json!({"dxf_path": drawing, "sheet_width": 400, "sheet_height": 250, "time_limit": 2});
    let stderr = env.fails(&["submit", "nest", "--payload", &nest.to_string()]);
    assert!(
        stderr.contains(r#"did you mean "time_limit_s"?"#),
        "{stderr}"
    );
    let thin = json!({"dxf_path": drawing, "thickness": -6});
    let stderr = env.fails(&["submit", "analyze_dxf", "--payload", &thin.to_string()]);
    // Named as the request named it (`thickness`, the old API's name).
    assert!(
        stderr.contains("thickness: -6") && !stderr.contains("thickness_mm"),
        "{stderr}"
    );
    let info: Value = serde_json::from_str(&env.ok(&["info", "--json"])).unwrap();
    let queued: u64 = info["queues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["queued"].as_u64().unwrap())
        .sum();
    assert_eq!(queued, 0, "no refused payload became a job: {info:#}");
}

#[test]
fn every_endpoint_refuses_bad_options_with_400_and_a_stable_code() {
    let env = Env::new();
    env.upload("plate.dxf", plate_with_hole_dxf());
    let api = env.spawn_api(&[]);
    let refused = |path: &str, body: Value, code: &str, says: &str| {
        let answer = api.post_json(path, &body);
        let json = answer.json();
        assert_eq!(
            (answer.status, answer.code()),
            (400, code.to_owned()),
            "{path}: {json}"
        );
        assert_eq!(json["success"], false);
        let error = json["error"].as_str().unwrap();
        assert!(error.contains(says), "{path}: {error}");
    };
    refused(
        "/cost",
        json!({"dxf_path": "plate.dxf", "materail": "granite", "thicknes": 20}),
        "unknown_field",
        r#"did you mean "material"?"#,
    );
    refused(
        "/cost",
        json!({"dxf_path": "plate.dxf", "setup_cost": 1e20}),
        "out_of_range",
        "1000000",
    );
    refused(
        "/cost",
        json!({"dxf_path": "plate.dxf", "rate_per_m": -825}),
        "out_of_range",
        "rate_per_m",
    );
    // Searches side by side: a whole number from 1 to 16, whatever the
    // query string holds.
    for threads in ["17", "0", "2.5", "-1", "1e30", "nan", "inf"] {
        refused(
            &format!("/nest?dxf_path=plate.dxf&sheet_width=400&sheet_height=250&threads={threads}"),
            Value::Null,
            "out_of_range",
            "threads",
        );
    }
    refused(
        "/analyze-dxf?async_mode=true",
        json!({"dxf_path": "plate.dxf", "thickness": -6}),
        "out_of_range",
        "thickness",
    );
    refused(
        "/analyze-dxf",
        json!({"dxf_path": "plate.dxf", "material": "granit"}),
        "invalid_value",
        r#"did you mean "granite"?"#,
    );
    refused(
        "/nest?dxf_path=plate.dxf&sheet_width=400&sheet_height=250&time_limit=1",
        Value::Null,
        "unknown_field",
        r#"did you mean "time_limit_s"?"#,
    );
    refused(
        "/gcode?dxf_path=plate.dxf&dialect=mazak",
        Value::Null,
        "invalid_value",
        "linuxcnc, fanuc",
    );
    refused(
        "/jobs",
        json!({"kind": "generate_gcode", "payload": {"dxf_path": "plate.dxf", "kerf_mn": 1}}),
        "unknown_field",
        r#"did you mean "kerf_mm"?"#,
    );

    // A dialect that was given is the one used.
    let answer = api.post_json("/gcode?dxf_path=plate.dxf&dialect=fanuc", &Value::Null);
    let json = answer.json();
    assert_eq!(json["success"], true, "{json}");
    assert_eq!(json["result"]["dialect"]["name"], "fanuc", "{json}");
}

#[test]
fn convert_image_takes_its_threshold_and_scale_from_the_query() {
    let env = Env::new();
    let api = env.spawn_api(&[]);
    let image = std::fs::read(fixture("images/simple_shapes.png")).unwrap();
    let boundary = "wjpboundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"image_file\"; filename=\"shapes.png\"\r\nContent-Type: image/png\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(&image);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let content_type = format!("multipart/form-data; boundary={boundary}");
    let convert = |query: &str| {
        api.request("POST", query, &[("Content-Type", &content_type)], &body)
            .unwrap()
    };
    let answer = convert("/convert-image?threshold=128&min_area=10");
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.header("content-type"), Some("application/dxf"));
    let answer = convert("/convert-image?threshold=300");
    assert_eq!(
        (answer.status, answer.code()),
        (400, "out_of_range".to_owned())
    );

    // The drawing's scale: its longer side, or millimetres per pixel.
    let side = |query: &str| {
        let answer = convert(query);
        assert_eq!(answer.status, 200, "{query}: {}", answer.text());
        let (width, height) = dxf_extent(&answer.text());
        width.max(height)
    };
    let at_one_mm_per_pixel = side("/convert-image");
    let sized = side("/convert-image?size_mm=200");
    assert!((sized - 200.0).abs() < 0.01, "longer side {sized} mm");
    let half = side("/convert-image?mm_per_px=0.5");
    assert!(
        (half - at_one_mm_per_pixel / 2.0).abs() < 0.01,
        "{half} mm at 0.5 mm/px, {at_one_mm_per_pixel} mm at 1 mm/px"
    );
    let answer = convert("/convert-image?size_mm=200&pixel_size_mm=0.5");
    assert_eq!(answer.status, 400, "{}", answer.text());
    assert!(answer.text().contains("not both"), "{}", answer.text());
    // The scale cannot stretch the drawing past what the job kind takes.
    for (query, field) in [
        ("/convert-image?size_mm=1e9", "size_mm"),
        ("/convert-image?mm_per_px=5000", "pixel_size_mm"),
        ("/convert-image?size_mm=-3", "size_mm"),
    ] {
        let answer = convert(query);
        assert_eq!(answer.status, 400, "{query}: {}", answer.text());
        assert!(answer.text().contains(field), "{query}: {}", answer.text());
    }
}

/// Width and height of the points of a DXF text (group codes 10 and 20).
fn dxf_extent(dxf: &str) -> (f64, f64) {
    let lines: Vec<&str> = dxf.lines().map(str::trim).collect();
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for pair in lines.chunks(2) {
        if let [code, value] = pair {
            match (*code, value.parse::<f64>()) {
                ("10", Ok(x)) => xs.push(x),
                ("20", Ok(y)) => ys.push(y),
                _ => {}
            }
        }
    }
    let span = |v: &[f64]| {
        v.iter().copied().fold(f64::MIN, f64::max) - v.iter().copied().fold(f64::MAX, f64::min)
    };
    assert!(!xs.is_empty() && !ys.is_empty(), "no points in {dxf}");
    (span(&xs), span(&ys))
}

#[test]
fn gcode_and_nest_refuse_suspicious_units_until_they_are_given() {
    let env = Env::new();
    let drawing = env.upload("metres.dxf", plate_declared_in_metres());
    let path = drawing.to_str().unwrap();
    let program = env.dir.path().join("plate.ngc");
    let out = program.to_str().unwrap();

    let stderr = env.fails(&["gcode", path, "-o", out]);
    assert!(stderr.contains("--units mm"), "{stderr}");
    // The unit is named; the analysis's internal code for it is not.
    assert!(stderr.contains("read in mm it would be"), "{stderr}");
    assert!(!stderr.contains("override code"), "{stderr}");
    assert!(!program.exists(), "no program is written for a 100 m part");
    let text = env.ok(&["gcode", path, "-o", out, "--units", "mm"]);
    assert!(text.contains("2 pierces"), "{text}");
    let g = std::fs::read_to_string(&program).unwrap();
    let largest = g
        .split_whitespace()
        .filter_map(|w| w.strip_prefix('X').and_then(|x| x.parse::<f64>().ok()))
        .fold(0.0_f64, |a, x| a.max(x.abs()));
    assert!(
        largest < 200.0,
        "coordinates in millimetres, got X{largest}"
    );

    let stderr = env.fails(&["nest", path, "--sheet", "400x250", "--time-limit", "1"]);
    assert!(stderr.contains("--units mm"), "{stderr}");
    let text = env.ok(&[
        "nest",
        path,
        "--sheet",
        "400x250",
        "--time-limit",
        "1",
        "--units",
        "mm",
    ]);
    assert!(text.contains("1 part placed on 1 sheet,"), "{text}");

    // The analysis reports and warns, and reads the override.
    let text = env.ok(&["analyze", path]);
    assert!(text.contains("units_suspicious"), "{text}");
    // The report names the unit as the user gives it, not by its DXF code.
    assert!(text.contains("read in mm it would be"), "{text}");
    assert!(!text.contains("override code"), "{text}");
    let report: Value =
        serde_json::from_str(&env.ok(&["analyze", path, "--units", "mm", "--json"])).unwrap();
    assert_eq!(report["units"]["factor_to_mm"], 1.0, "{report:#}");

    // The same over HTTP: refused as a job failure that names the field.
    let api = env.spawn_api(&[]);
    let json = api
        .post_json("/gcode?dxf_path=metres.dxf", &Value::Null)
        .json();
    assert_eq!(json["success"], false, "{json}");
    let error = json["error"].as_str().unwrap();
    assert!(error.contains(r#""units": "mm""#), "{json}");
    assert!(!error.contains("override code"), "{json}");
    let json = api
        .post_json("/gcode?dxf_path=metres.dxf&units=mm", &Value::Null)
        .json();
    assert_eq!(json["success"], true, "{json}");
    let json = api
        .post_json(
            "/nest?dxf_path=metres.dxf&sheet_width=400&sheet_height=250&time_limit_s=1&units=mm&threads=2",
            &Value::Null,
        )
        .json();
    assert_eq!(json["success"], true, "{json}");
    assert_eq!(json["result"]["sheets_required"], 1, "{json}");
    let json = api
        .post_json("/cost", &json!({"dxf_path": "metres.dxf", "units": "mm"}))
        .json();
    assert_eq!(json["success"], true, "{json}");
    let total = json["cost"]["total"].as_f64().unwrap_or(f64::MAX);
    assert!(
        total < 10_000.0,
        "a 100 mm plate is no 860,241 INR job: {json}"
    );
}
