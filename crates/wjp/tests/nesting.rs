//! Nesting at its doors: `wjp nest`, the `nest` job and `POST /nest` fail
//! clearly when a part cannot be placed (unless a partial layout is accepted),
//! take a zero kerf, and pack the 40 triangles on one sheet.

use serde_json::{json, Value};

use crate::cli::plate_with_hole_dxf;
use crate::support::{status_of, Env};

/// A right triangle with legs of 100 mm, in millimetres.
pub fn triangle_dxf() -> String {
    let mut s = String::from("0\nLWPOLYLINE\n8\nCUT\n90\n3\n70\n1\n");
    for (x, y) in [(0.0, 0.0), (100.0, 0.0), (0.0, 100.0)] {
        s += &format!("10\n{x}\n20\n{y}\n");
    }
    format!(
        "0\nSECTION\n2\nHEADER\n9\n$INSUNITS\n70\n4\n0\nENDSEC\n0\nSECTION\n2\nENTITIES\n{s}0\nENDSEC\n0\nEOF\n"
    )
}

#[test]
fn wjp_nest_fails_naming_a_part_too_big_once_unless_partial_is_allowed() {
    let env = Env::new();
    let drawing = env.upload("plate.dxf", plate_with_hole_dxf());
    let spec = format!("{}:3", drawing.display());
    let args = ["nest", &spec, "--sheet", "60x60", "--time-limit", "1"];
    let out = env.run(&args);
    assert!(!out.status.success(), "a nesting that left parts out fails");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("3 copies of the parts not placed"),
        "{stderr}"
    );
    assert!(stderr.contains("--allow-partial"), "{stderr}");
    let lines: Vec<&str> = stdout.lines().filter(|l| l.contains("plate (")).collect();
    assert_eq!(lines.len(), 1, "the part is named once: {stdout}");
    assert!(
        lines[0].contains("100.0 x 100.0 mm") && lines[0].contains("60 x 60 mm"),
        "{stdout}"
    );
    assert!(stdout.len() < 2000, "nothing but words: {stdout}");

    let mut partial = args.to_vec();
    partial.push("--allow-partial");
    let text = env.ok(&partial);
    assert!(text.contains("3 copies"), "{text}");
}

#[test]
fn wjp_nest_takes_a_zero_kerf_and_fits_forty_triangles_on_one_sheet() {
    let env = Env::new();
    let drawing = env.upload("triangle.dxf", triangle_dxf());
    let spec = format!("{}:40", drawing.display());
    let out = env.dir.path().join("sheets");
    let result: Value = serde_json::from_str(&env.ok(&[
        "nest",
        &spec,
        "--sheet",
        "660x450",
        "--gap",
        "3",
        "--kerf",
        "0",
        "--time-limit",
        "5",
        "-o",
        out.to_str().unwrap(),
        "--json",
    ]))
    .unwrap();
    assert_eq!(result["all_placed"], true, "{result:#}");
    assert_eq!(result["positioned_objects"].as_array().unwrap().len(), 40);
    assert_eq!(
        result["sheets_required"], 1,
        "pairs make squares: 6 x 4 fit"
    );
    // The cut list: a header and one row per triangle, all on sheet 0.
    let csv = std::fs::read_to_string(out.join("cut_list.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(
        rows[0],
        "sheet,part,quantity,copy,x_mm,y_mm,rotation_deg,mirrored,\
         x_min_mm,y_min_mm,x_max_mm,y_max_mm"
    );
    assert_eq!(rows.len(), 41, "{csv}");
    assert!(
        rows[1..].iter().all(|r| r.starts_with("0,triangle,40,")),
        "{csv}"
    );
    // Each triangle's box lies on the sheet, at least the gap from its edge.
    for row in &rows[1..] {
        let cells: Vec<f64> = row.split(',').skip(8).map(|c| c.parse().unwrap()).collect();
        let [x0, y0, x1, y1] = [cells[0], cells[1], cells[2], cells[3]];
        assert!(
            x0 >= 2.99 && y0 >= 2.99 && x1 <= 657.01 && y1 <= 447.01 && x1 - x0 > 99.0,
            "{row}"
        );
    }
    let list: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("cut_list.json")).unwrap()).unwrap();
    assert_eq!(list[0]["quantity"], 40, "{list:#}");
    let dxf = std::fs::read_to_string(out.join("sheet0.dxf")).unwrap();
    assert!(dxf.contains("\n  8\ntriangle\n"), "a layer per part name");
}

#[test]
fn the_nest_job_and_endpoint_answer_failure_with_a_code_when_parts_are_left_out() {
    let env = Env::new();
    env.upload("plate.dxf", plate_with_hole_dxf());
    let api = env.spawn_api(&[]);
    let answer = api.post_json(
        "/nest?dxf_path=plate.dxf&sheet_width=60&sheet_height=60&time_limit_s=1",
        &Value::Null,
    );
    let body = answer.json();
    assert_eq!(body["success"], false, "{body}");
    assert_eq!(body["code"], "invalid_payload", "{body}");
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains("not every part was placed")
            && error.contains("100.0 x 100.0 mm")
            && error.contains("60 x 60 mm")
            && error.contains("allow_partial"),
        "{error}"
    );
    assert!(error.len() < 1000, "nothing from the engine: {error}");

    let answer = api.post_json(
        "/nest?dxf_path=plate.dxf&sheet_width=60&sheet_height=60&time_limit_s=1&allow_partial=true",
        &Value::Null,
    );
    let body = answer.json();
    assert_eq!(body["success"], true, "{body}");
    assert_eq!(body["result"]["all_placed"], false, "{body}");
    assert_eq!(body["result"]["unplaced"][0]["copies"], 1, "{body}");

    let answer = api.post_json(
        "/nest?dxf_path=plate.dxf&sheet_width=300&sheet_height=300&kerf=0&time_limit_s=1",
        &Value::Null,
    );
    let body = answer.json();
    assert_eq!(body["success"], true, "a zero kerf is taken: {body}");

    let answer = api.post_json(
        "/nest?dxf_path=plate.dxf&sheet_width=300&sheet_height=300&allow_partial=maybe",
        &Value::Null,
    );
    assert_eq!(answer.code(), "invalid_value", "{}", answer.text());
    assert!(answer.text().contains("allow_partial"), "{}", answer.text());
}

#[test]
fn a_queued_nest_job_that_leaves_parts_out_fails_unless_partial_is_allowed() {
    let env = Env::new();
    let drawing = env.upload("plate.dxf", plate_with_hole_dxf());
    let strict =
        json!({"dxf_path": drawing, "sheet_width": 50, "sheet_height": 50, "time_limit_s": 1});
    let strict_id = env.submit(&["nest", "--payload", &strict.to_string()]);
    let partial = json!({"dxf_path": drawing, "sheet_width": 50, "sheet_height": 50,
                         "time_limit_s": 1, "allow_partial": true});
    let partial_id = env.submit(&["nest", "--payload", &partial.to_string()]);
    env.ok(&["worker", "--burst", "--queues", "nesting"]);
    let job = env.job(&strict_id);
    assert_eq!(status_of(&job), "failed", "{job:#}");
    let text = job.to_string();
    assert!(text.contains("not every part was placed"), "{job:#}");
    let job = env.job(&partial_id);
    assert_eq!(status_of(&job), "completed", "{job:#}");
    assert_eq!(job["result"]["failed_objects"].as_array().unwrap().len(), 1);
    let csv = job["result"]["artifacts"]["cut_list"]["csv"]
        .as_str()
        .unwrap();
    let text = std::fs::read_to_string(env.data_dir().join(csv)).unwrap();
    assert_eq!(
        text.lines().count(),
        1,
        "nothing placed, a header alone: {text}"
    );

    // Per-file rotations are checked at the door.
    let bad = json!({"files": [{"dxf_path": drawing, "rotations": []}],
                     "sheet_width": 400, "sheet_height": 250});
    let stderr = env.fails(&["submit", "nest", "--payload", &bad.to_string()]);
    assert!(stderr.contains("files[0].rotations"), "{stderr}");
}

#[test]
fn wjp_nest_takes_a_stock_list_of_sheet_sizes() {
    let env = Env::new();
    let drawing = env.upload("plate.dxf", plate_with_hole_dxf());
    let spec = format!("{}:3", drawing.display());
    // The small sheet cannot take a 100 mm plate with its 3 mm edge distance;
    // two plates fit the next size, the third goes on the last one.
    let result: Value = serde_json::from_str(&env.ok(&[
        "nest",
        &spec,
        "--sheet",
        "100x100:1,220x110:1,300x300:1",
        "--time-limit",
        "1",
        "--json",
    ]))
    .unwrap();
    assert_eq!(result["all_placed"], true, "{result:#}");
    let sizes: Vec<(f64, f64)> = result["sheets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["width"].as_f64().unwrap(), s["height"].as_f64().unwrap()))
        .collect();
    assert_eq!(sizes, vec![(220.0, 110.0), (300.0, 300.0)], "{result:#}");
    assert_eq!(result["remnant"]["sheet"], 2, "{result:#}");
    let stderr = env.fails(&["nest", &spec, "--sheet", "300x300:0"]);
    assert!(stderr.contains("1 or more"), "{stderr}");
}
