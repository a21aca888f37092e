//! The shop's figures (`wjp.toml`) and the careful command line, through
//! the real binary: files on disk, `wjp api` over a real socket.

use std::time::Duration;

use serde_json::{json, Value};

use crate::support::{status_of, Env};

/// A shop file that doubles the price per metre and adds a material.
const SHOP: &str = "currency = \"EUR\"\n\n[pricing]\nrate_per_m = 2000\n\n\
                    [materials.bronze]\naliases = [\"cuzn\"]\nmachinability = 125\n\
                    density_kg_m3 = 8800\nthickness_range_mm = [1, 40]\n";

fn quote(report: &Value) -> (f64, f64, String) {
    (
        report["cost"]["total"].as_f64().expect("a total"),
        report["metrics"]["cut_length_mm"]
            .as_f64()
            .expect("a length"),
        report["cost"]["currency"].as_str().unwrap_or("").to_owned(),
    )
}

#[test]
fn a_shop_file_changes_the_quote_of_analyze_and_of_the_api() {
    let env = Env::new();
    let drawing = env.upload_fixture("dxf/wjp_medallion_sample.dxf");
    let path = drawing.to_str().unwrap();
    let before: Value = serde_json::from_str(&env.ok(&["analyze", path, "--json"])).unwrap();
    let (total_before, length, currency) = quote(&before);
    assert_eq!(currency, "INR", "no file: the compiled-in figures");

    let file = env.write("shop.toml", SHOP);
    let with_flag: Value = serde_json::from_str(&env.ok(&[
        "--config",
        file.to_str().unwrap(),
        "analyze",
        path,
        "--json",
    ]))
    .unwrap();
    let (total, _, currency) = quote(&with_flag);
    // Only the rate per metre changed: the quote moves by the length in
    // metres times the difference of the rates.
    let expected = total_before + length / 1000.0 * (2000.0 - 825.0);
    assert!((total - expected).abs() < 1e-6, "{total} != {expected}");
    assert_eq!(currency, "EUR");

    // The same file found in the data directory, by the API and the
    // process of each of its jobs.
    std::fs::write(env.data_dir().join("wjp.toml"), SHOP).unwrap();
    let api = env.spawn_api(&[]);
    let answer = api.post_json("/analyze-dxf", &json!({"dxf_path": drawing}));
    let body = answer.json();
    assert_eq!(body["success"], true, "{body}");
    let (api_total, _, currency) = quote(&body["report"]);
    assert!(
        (api_total - expected).abs() < 1e-6,
        "{api_total} != {expected}"
    );
    assert_eq!(currency, "EUR");

    // A material of the file is analysed by its alias, within its range.
    let bronze = api.post_json(
        "/analyze-dxf",
        &json!({"dxf_path": drawing, "material": "cuzn", "thickness": 12}),
    );
    assert_eq!(bronze.json()["report"]["time"]["material"], "bronze");
    let thick = api.post_json(
        "/analyze-dxf",
        &json!({"dxf_path": drawing, "material": "bronze", "thickness": 60}),
    );
    assert_eq!(thick.json()["success"], false, "{}", thick.text());
    assert!(thick.text().contains("1 to 40 mm"), "{}", thick.text());

    // Forms get the materials, the file's included.
    let listed = api.get("/materials").json();
    let materials = listed["materials"].as_array().unwrap();
    let bronze = materials.iter().find(|m| m["name"] == "bronze").unwrap();
    assert_eq!(bronze["aliases"], json!(["cuzn"]));
    assert_eq!(bronze["thickness_range_mm"], json!([1.0, 40.0]));
    let steel = materials
        .iter()
        .find(|m| m["name"] == "mild_steel")
        .unwrap();
    assert!(steel["aliases"]
        .as_array()
        .unwrap()
        .contains(&json!("steel")));
    assert_eq!(steel["thickness_range_mm"], Value::Null);
}

#[test]
fn a_bad_shop_file_stops_wjp_api_at_start_naming_the_line() {
    let env = Env::new();
    let cases = [
        (
            "typo.toml",
            "[pricing]\nrate_per_m = 900\nsetup_cots = 10\n",
            &["line 3", "setup_cots", "did you mean `setup_cost`"][..],
        ),
        (
            "negative.toml",
            "currency = \"INR\"\n[pricing]\nmachine_rate_per_hour = -5\n",
            &[
                "line 3",
                "pricing.machine_rate_per_hour",
                "must not be negative",
            ][..],
        ),
        (
            "string.toml",
            "[calibration]\nmaterial = \"mild_steel\"\nspeed_mm_min = \"fast\"\n",
            &["line 3", "calibration.speed_mm_min", "expected a number"][..],
        ),
    ];
    for (name, text, expected) in cases {
        let file = env.write(name, text);
        let out = env.run_within(
            &["--config", file.to_str().unwrap(), "api", "--port", "0"],
            Duration::from_secs(60),
            "wjp api with a bad shop file",
        );
        assert!(!out.status.success(), "{name}: wjp api started");
        let stderr = String::from_utf8_lossy(&out.stderr);
        for e in expected {
            assert!(stderr.contains(e), "{name}: {e:?} not in: {stderr}");
        }
    }
    // A file named but missing is an error too, not the defaults.
    let stderr = env.fails(&["--config", "/no/such/wjp.toml", "config", "show"]);
    assert!(stderr.contains("/no/such/wjp.toml"), "{stderr}");
}

#[test]
fn config_show_names_the_source_of_each_value() {
    let env = Env::new();
    let defaults = env.ok(&["config", "show"]);
    assert!(defaults.contains("compiled-in defaults"), "{defaults}");
    assert!(
        defaults.contains("rate_per_m = 825.0") && defaults.contains("; default"),
        "{defaults}"
    );

    let file = env.write("shop.toml", SHOP);
    let shown = env.ok(&["--config", file.to_str().unwrap(), "config", "show"]);
    let line = |key: &str| {
        shown
            .lines()
            .find(|l| l.starts_with(key))
            .unwrap_or_else(|| panic!("{key} not shown: {shown}"))
            .to_owned()
    };
    let from = format!("{}:", std::fs::canonicalize(&file).unwrap().display());
    assert!(
        line("currency = \"EUR\"").ends_with(&format!("{from}1")),
        "{shown}"
    );
    assert!(
        line("rate_per_m = 2000.0").ends_with(&format!("{from}4")),
        "{shown}"
    );
    assert!(line("setup_cost = 15.0").ends_with("; default"), "{shown}");
    assert!(shown.contains("[materials.bronze]"), "{shown}");
    assert!(
        line("machinability = 125.0").ends_with(&format!("{from}8")),
        "{shown}"
    );
}

#[test]
fn numbers_of_flags_are_checked_with_their_own_words() {
    let env = Env::new();
    let drawing = env.upload("plate.dxf", crate::cli::plate_with_hole_dxf());
    let path = drawing.to_str().unwrap();
    for (args, expected) in [
        (
            &["analyze", path, "--thickness", "-6"][..],
            "must be more than 0, got -6",
        ),
        (
            &["analyze", path, "--kerf", "-1.1"][..],
            "must be more than 0",
        ),
        (
            &["analyze", path, "--quality", "-1"][..],
            "-1 is not in 1..=5",
        ),
        (&["failed", "--limit", "-3"][..], "must be 1 or more"),
        (
            &["worker", "--lease-secs", "-1"][..],
            "--lease-secs must be more than 0 and at most 86400 seconds, got -1",
        ),
    ] {
        let stderr = env.fails(args);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("-- -"), "{args:?}: clap's tip: {stderr}");
    }
    // Where a negative number means something, it is taken.
    let out = env.ok(&[
        "nest",
        path,
        "--sheet",
        "300x300",
        "--rotations",
        "-90,0",
        "--time-limit",
        "1",
    ]);
    assert!(out.starts_with("1 part placed on 1 sheet,"), "{out}");
    let help = env.ok(&["nest", "--help"]);
    assert!(help.contains("in mm") && help.contains("Seconds"), "{help}");
}

#[test]
fn jobs_are_found_by_a_unique_beginning_of_their_id() {
    let env = Env::new();
    let id = env.submit(&["noop"]);
    let text = env.ok(&["status", &id[..8]]);
    assert!(text.contains(&format!("job       {id}")), "{text}");

    env.submit(&["noop", "--job-id", "quote-alpha"]);
    env.submit(&["noop", "--job-id", "quote-beta"]);
    let stderr = env.fails(&["cancel", "quote-"]);
    assert!(
        stderr.contains("beginning of 2 ids")
            && stderr.contains("quote-alpha")
            && stderr.contains("quote-beta"),
        "{stderr}"
    );
    assert!(env
        .ok(&["cancel", "quote-a"])
        .contains("quote-alpha cancelled"));
    assert_eq!(status_of(&env.job("quote-alpha")), "cancelled");
    assert_eq!(status_of(&env.job("quote-beta")), "queued");
    assert!(env
        .ok(&["retry", "quote-al"])
        .contains("quote-alpha queued again"));
    assert!(env.fails(&["status", "nope-nope"]).contains("not found"));
    assert!(env
        .fails(&["status", "quo"])
        .contains("at least 4 characters"));
}

#[test]
fn a_missing_data_directory_is_refused_by_commands_that_only_read() {
    let env = Env::new();
    for args in [&["info"][..], &["status", "abcd"], &["failed"]] {
        let stderr = env.fails(args);
        assert!(
            stderr.contains("no data directory") && stderr.contains("--init"),
            "{stderr}"
        );
    }
    assert!(!env.data_dir().exists(), "nothing was created");
    env.ok(&["info", "--init"]);
    assert!(env.data_dir().join("wjp.db").exists());

    let other = Env::new();
    other.submit(&["noop"]);
    assert!(other.ok(&["info"]).contains("no live workers"));
}

#[test]
fn an_empty_drawing_is_printed_as_empty() {
    let env = Env::new();
    let empty = env.upload(
        "empty.dxf",
        "0\nSECTION\n2\nHEADER\n9\n$INSUNITS\n70\n4\n0\nENDSEC\n0\nSECTION\n2\nENTITIES\n0\nENDSEC\n0\nEOF\n",
    );
    let text = env.ok(&["analyze", empty.to_str().unwrap()]);
    assert!(text.contains("Empty drawing: nothing to cut"), "{text}");
    for absent in ["Cut length", "-0.00", "Cost", "INR"] {
        assert!(!text.contains(absent), "{absent:?} in: {text}");
    }
}

/// The shop's flow: two drawings analysed, nested together once both are
/// good, and a G-code program made for each sheet of the nest, each from
/// the sheet drawing its nest made (`sheet` names it). One `--flow` file,
/// one burst worker.
#[test]
fn analyse_then_nest_then_gcode_per_sheet_as_one_flow() {
    let env = Env::new();
    let square = env.upload_fixture("dxf/sky_squareandcircle.dxf");
    let holes = env.upload_fixture("dxf/sky_arrayed_holes.dxf");
    // Sheets are numbered as the nest numbers them, from 0.
    let gcode = |sheet: u32| {
        json!({"name": format!("gcode-{sheet}"), "kind": "generate_gcode", "after": ["nest"],
               "payload": {"sheet": sheet, "material": "steel", "thickness": 6, "kerf": 1.1}})
    };
    // The holed plate (47 x 184 mm) fits once on a 60 x 200 sheet: two of
    // them need two sheets.
    let flow = json!({"jobs": [
        {"name": "analyse-square", "kind": "analyze_dxf", "payload": {"dxf_path": square}},
        {"name": "analyse-holes", "kind": "analyze_dxf", "payload": {"dxf_path": holes}},
        {"name": "nest", "kind": "nest", "after": ["analyse-square", "analyse-holes"],
         "payload": {"files": [{"dxf_path": square, "quantity": 2}, {"dxf_path": holes, "quantity": 2}],
                     "sheet_width": 60, "sheet_height": 200, "gap": 2.0, "time_limit_s": 2}},
        gcode(0),
        gcode(1),
    ]});
    let file = env.write("order-17.json", &flow.to_string());
    let out = env.ok(&["submit", "--flow", file.to_str().unwrap()]);
    let ids: std::collections::HashMap<&str, &str> = out
        .lines()
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            (cols[0], cols[1])
        })
        .collect();
    assert_eq!(status_of(&env.job(ids["nest"])), "waiting");
    assert_eq!(status_of(&env.job(ids["gcode-1"])), "waiting");

    env.ok(&["worker", "--burst", "--name", "shop-floor"]);
    let nest = env.job(ids["nest"]);
    assert_eq!(status_of(&nest), "completed", "{nest:#}");
    let sheets = nest["result"]["artifacts"]["sheets"].as_array().unwrap();
    assert_eq!(sheets.len(), 2, "{:#}", nest["result"]);
    let analysed = env.job(ids["analyse-holes"]);
    assert!(nest["started_at"].as_str() >= analysed["completed_at"].as_str());
    for (sheet, name) in sheets.iter().zip(["gcode-0", "gcode-1"]) {
        let job = env.job(ids[name]);
        assert_eq!(status_of(&job), "completed", "{job:#}");
        // The program cuts what its sheet holds: the same as a program
        // made here and now from the sheet's drawing.
        let sheet_dxf = env.data_dir().join(sheet["dxf"].as_str().unwrap());
        let here = env.dir.path().join(format!("{name}.ngc"));
        let made: Value = serde_json::from_str(&env.ok(&[
            "gcode",
            sheet_dxf.to_str().unwrap(),
            "--material",
            "steel",
            "--thickness",
            "6",
            "--kerf",
            "1.1",
            "-o",
            here.to_str().unwrap(),
            "--json",
        ]))
        .unwrap();
        let summary = &job["result"]["summary"];
        assert_eq!(summary["pierces"], made["summary"]["pierces"], "{name}");
        assert_eq!(summary["contours"], made["summary"]["contours"], "{name}");
        assert!(summary["pierces"].as_u64().unwrap() > 0);
        let program = env
            .data_dir()
            .join(job["result"]["artifacts"]["gcode"].as_str().unwrap());
        assert!(std::fs::read_to_string(program).unwrap().contains("G21"));
    }
}
