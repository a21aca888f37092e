//! The remnant inventory and the nests that use it, on both backends: a
//! nest leaves its offcut in the inventory, the next nest of the same
//! material places its parts there first (checked with the `geo` crate, not
//! the nesting engine), two nests running at once never share one; a
//! cancelled nest ends `cancelled` with its best layout so far, and the
//! improvement shows while it runs.

use std::time::Duration;

use geo::{Area, BooleanOps, Coord, LineString, Polygon, Rect};
use serde_json::{json, Value};

use crate::nesting::triangle_dxf;
use crate::stores::Worker;
use crate::support::{status_of, Api, Env};

/// A `w` x `h` mm rectangle, in millimetres.
fn rectangle_dxf(w: f64, h: f64) -> String {
    let mut s = String::from("0\nLWPOLYLINE\n8\nCUT\n90\n4\n70\n1\n");
    for (x, y) in [(0.0, 0.0), (w, 0.0), (w, h), (0.0, h)] {
        s += &format!("10\n{x}\n20\n{y}\n");
    }
    format!(
        "0\nSECTION\n2\nHEADER\n9\n$INSUNITS\n70\n4\n0\nENDSEC\n0\nSECTION\n2\nENTITIES\n{s}0\nENDSEC\n0\nEOF\n"
    )
}

/// The `w` x `h` rectangle as placed: turned by `rotation` degrees about its
/// drawing origin, then moved to (x, y).
fn placed_rectangle(p: &Value, w: f64, h: f64) -> Polygon<f64> {
    let (x, y) = (p["x"].as_f64().unwrap(), p["y"].as_f64().unwrap());
    let (s, c) = p["rotation"].as_f64().unwrap().to_radians().sin_cos();
    let corners: Vec<Coord<f64>> = [(0.0, 0.0), (w, 0.0), (w, h), (0.0, h), (0.0, 0.0)]
        .iter()
        .map(|&(u, v)| Coord {
            x: c * u - s * v + x,
            y: s * u + c * v + y,
        })
        .collect();
    Polygon::new(LineString::new(corners), vec![])
}

/// Every copy on `sheet` lies inside a `width` x `height` rectangle less
/// `edge` on every side, and no two overlap.
fn assert_inside(result: &Value, sheet: u64, width: f64, height: f64, edge: f64, part: (f64, f64)) {
    let inner = Rect::new(
        (edge - 0.01, edge - 0.01),
        (width - edge + 0.01, height - edge + 0.01),
    )
    .to_polygon();
    let placed: Vec<Polygon<f64>> = result["positioned_objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["sheet"] == sheet)
        .map(|p| placed_rectangle(p, part.0, part.1))
        .collect();
    assert!(!placed.is_empty(), "nothing on sheet {sheet}: {result:#}");
    for (k, poly) in placed.iter().enumerate() {
        let outside = poly.difference(&inner).unsigned_area();
        assert!(
            outside < 1e-6,
            "copy {k} has {outside} mm2 outside the {width} x {height} remnant"
        );
        for other in &placed[k + 1..] {
            assert!(
                poly.intersection(other).unsigned_area() < 1e-9,
                "copies overlap"
            );
        }
    }
}

fn inventory(env: &Env) -> Vec<Value> {
    let listed: Value = serde_json::from_str(&env.ok(&["remnants", "list", "--json"])).unwrap();
    listed.as_array().unwrap().clone()
}

fn nest_job(env: &Env, payload: Value) -> Value {
    let id = env.submit(&["nest", "--payload", &payload.to_string()]);
    env.ok(&["worker", "--burst", "--queues", "nesting"]);
    let job = env.job(&id);
    assert_eq!(status_of(&job), "completed", "{job:#}");
    job
}

fn a_nest_leaves_a_remnant_that_the_next_nest_uses_first(env: &Env) {
    let drawing = env.upload("bar.dxf", rectangle_dxf(100.0, 60.0));
    let aluminium = |quantity: u32, sheet: f64| {
        json!({"dxf_path": drawing, "quantity": quantity, "sheet_width": sheet,
               "sheet_height": sheet * 0.8, "time_limit_s": 1,
               "material": "aluminium", "thickness": 5})
    };
    // Four bars in one row on a 500 x 400 sheet: the rest is one offcut.
    let first = nest_job(env, aluminium(4, 500.0));
    let offcut = &first["result"]["remnant"];
    let offcut_id = offcut["id"]
        .as_str()
        .expect("the offcut was kept")
        .to_owned();
    let (width, height) = (
        offcut["width"].as_f64().unwrap(),
        offcut["height"].as_f64().unwrap(),
    );
    assert_eq!(width, 500.0, "{offcut}");
    assert!(height > 200.0, "{offcut}");
    let kept = inventory(env);
    assert_eq!(kept.len(), 1, "{kept:#?}");
    assert_eq!(kept[0]["id"], offcut_id.as_str());
    assert_eq!(kept[0]["material"], "aluminium");
    assert_eq!(kept[0]["thickness"], 5.0);
    assert_eq!(kept[0]["source_job"], first["id"]);
    assert_eq!(kept[0]["held_by"], Value::Null);

    // Steel, or a nest told not to, leaves it alone.
    let steel = json!({"dxf_path": drawing, "quantity": 2, "sheet_width": 1000,
                       "sheet_height": 800, "time_limit_s": 1});
    let other = nest_job(env, steel);
    assert_eq!(other["result"]["remnants_used"], json!([]), "{other:#}");
    let mut told = aluminium(2, 1000.0);
    told["use_remnants"] = json!(false);
    let told = nest_job(env, told);
    assert_eq!(told["result"]["remnants_used"], json!([]), "{told:#}");
    assert_eq!(told["result"]["sheets"][0]["width"], 1000.0);
    // Those two left offcuts of their own; ours is still there.
    let ours: Vec<Value> = inventory(env)
        .into_iter()
        .filter(|r| r["id"] == offcut_id.as_str())
        .collect();
    assert_eq!(ours.len(), 1);

    // Three more aluminium bars go on the offcut, not on a 1000 mm sheet.
    let second = nest_job(env, aluminium(3, 1000.0));
    let result = &second["result"];
    assert_eq!(
        result["remnants_used"],
        json!([{"id": offcut_id, "sheet": 0, "width": width, "height": height}]),
        "{result:#}"
    );
    assert_eq!(result["sheets_required"], 1, "{result:#}");
    assert_eq!(result["sheets"][0]["width"], width);
    assert_eq!(result["sheets"][0]["height"], height);
    assert_inside(result, 0, width, height, 3.0, (100.0, 60.0));
    // Used up; the offcut of the offcut is kept in its place.
    let left = inventory(env);
    assert!(
        left.iter().all(|r| r["id"] != offcut_id.as_str()),
        "{left:#?}"
    );
    let smaller: Vec<&Value> = left
        .iter()
        .filter(|r| r["source_job"] == second["id"])
        .collect();
    assert_eq!(smaller.len(), 1, "{left:#?}");
    assert_eq!(smaller[0]["width"], width);
    assert!(smaller[0]["height"].as_f64().unwrap() < height);
    assert_eq!(smaller[0]["material"], "aluminium");
}

#[test]
fn a_nest_leaves_a_remnant_that_the_next_nest_uses_first_on_sqlite() {
    a_nest_leaves_a_remnant_that_the_next_nest_uses_first(&Env::new());
}

#[test]
fn a_nest_leaves_a_remnant_that_the_next_nest_uses_first_on_redis() {
    a_nest_leaves_a_remnant_that_the_next_nest_uses_first(&Env::redis());
}

/// A remnant is stored under the shop's name for its material, whatever
/// alias or spelling the operator used, and a nest naming the material
/// another way takes it; a name the shop does not know is refused, with a
/// suggestion, at both doors (the inventory's and the nest's).
#[test]
fn aliases_and_spellings_of_a_material_find_the_same_remnants() {
    let env = Env::new();
    let drawing = env.upload("bar.dxf", rectangle_dxf(100.0, 60.0));
    env.ok(&[
        "remnants",
        "add",
        "400x300",
        "--material",
        "AL",
        "--thickness",
        "5",
    ]);
    let kept = inventory(&env);
    assert_eq!(kept.len(), 1, "{kept:#?}");
    assert_eq!(kept[0]["material"], "aluminium", "{kept:#?}");
    let remnant = kept[0]["id"].as_str().unwrap().to_owned();

    let typo = env.fails(&["remnants", "add", "400x300", "--material", "alumnium"]);
    assert!(typo.contains("\"alumnium\""), "{typo}");
    assert!(typo.contains("did you mean \"aluminium\""), "{typo}");
    assert_eq!(inventory(&env).len(), 1, "nothing was added");
    let payload = json!({"dxf_path": drawing, "quantity": 2, "sheet_width": 1000,
                         "sheet_height": 800, "time_limit_s": 1, "material": "alumnium"});
    let refused = env.fails(&["submit", "nest", "--payload", &payload.to_string()]);
    assert!(refused.contains("material"), "{refused}");
    assert!(refused.contains("did you mean \"aluminium\""), "{refused}");

    let payload = json!({"dxf_path": drawing, "quantity": 2, "sheet_width": 1000,
                         "sheet_height": 800, "time_limit_s": 1,
                         "material": "Aluminum", "thickness": 5});
    let job = nest_job(&env, payload);
    let used = &job["result"]["remnants_used"];
    assert_eq!(used[0]["id"], remnant.as_str(), "{job:#}");
    assert_inside(&job["result"], 0, 400.0, 300.0, 3.0, (100.0, 60.0));
}

/// Two nests that both fit on the one remnant run at once, on two workers:
/// one of them uses it, never both.
fn two_nests_at_once_never_share_a_remnant(env: &Env) {
    let drawing = env.upload("bar.dxf", rectangle_dxf(100.0, 60.0));
    let added = env.ok(&["remnants", "add", "400x300", "--material", "brass"]);
    assert!(added.starts_with("remnant r"), "{added}");
    let remnant = inventory(env)[0]["id"].as_str().unwrap().to_owned();
    let payload = json!({"dxf_path": drawing, "quantity": 2, "sheet_width": 1000,
                         "sheet_height": 1000, "time_limit_s": 2, "material": "brass"});
    let ids: Vec<String> = (0..2)
        .map(|_| env.submit(&["nest", "--payload", &payload.to_string()]))
        .collect();
    let _workers: Vec<Worker> = (0..2)
        .map(|_| Worker(env.spawn_worker(&["--queues", "nesting", "--concurrency", "1"])))
        .collect();
    let jobs: Vec<Value> = ids
        .iter()
        .map(|id| {
            env.wait_for(id, Duration::from_secs(120), |j| {
                matches!(status_of(j), "completed" | "failed" | "cancelled")
            })
        })
        .collect();
    let users: Vec<&Value> = jobs
        .iter()
        .filter(|j| {
            assert_eq!(status_of(j), "completed", "{j:#}");
            j["result"]["remnants_used"]
                .as_array()
                .unwrap()
                .iter()
                .any(|u| u["id"] == remnant.as_str())
        })
        .collect();
    assert_eq!(users.len(), 1, "exactly one nest used it: {jobs:#?}");
    assert_inside(&users[0]["result"], 0, 400.0, 300.0, 3.0, (100.0, 60.0));
    assert!(inventory(env).iter().all(|r| r["id"] != remnant.as_str()));
}

#[test]
fn two_nests_at_once_never_share_a_remnant_on_sqlite() {
    two_nests_at_once_never_share_a_remnant(&Env::new());
}

#[test]
fn two_nests_at_once_never_share_a_remnant_on_redis() {
    two_nests_at_once_never_share_a_remnant(&Env::redis());
}

/// Over HTTP: the inventory's endpoints, then a long nest that shows its
/// best layout's figures as it improves and, cancelled, ends `cancelled`
/// with that layout and its files.
fn a_cancelled_nest_keeps_its_best_layout(env: &Env) {
    env.upload("triangle.dxf", triangle_dxf());
    let api = env.spawn_api(&[]);
    let added = api.post_json("/remnants", &json!({"width": 300, "height": 200}));
    assert_eq!(added.status, 200, "{}", added.text());
    let id = added.json()["remnant"]["id"].as_str().unwrap().to_owned();
    let listed = api.get("/remnants").json();
    assert_eq!(listed["count"], 1, "{listed}");
    assert_eq!(listed["remnants"][0]["id"], id.as_str());
    let gone = api
        .request("DELETE", &format!("/remnants/{id}"), &[], b"")
        .unwrap();
    assert_eq!(gone.json()["removed"], true, "{}", gone.text());
    let again = api
        .request("DELETE", &format!("/remnants/{id}"), &[], b"")
        .unwrap();
    assert_eq!(again.status, 404);
    assert_eq!(again.code(), "remnant_not_found");

    let submitted = api.post_json(
        "/jobs",
        &json!({"kind": "nest", "payload": {"dxf_path": "triangle.dxf", "quantity": 30,
                "sheet_width": 660, "sheet_height": 450, "gap": 3, "kerf": 0,
                "time_limit_s": 300}}),
    );
    let job_id = submitted.json()["job_id"].as_str().unwrap().to_owned();
    let path = format!("/jobs/{job_id}");
    // The figures of the best layout so far, while it runs.
    let mut message = String::new();
    let mut detail = Value::Null;
    api.wait_until("the nest reports its best layout", || {
        let job = api.get(&path).json();
        message = job["progress_message"].as_str().unwrap_or("").to_owned();
        detail = job["progress_detail"].clone();
        status_of(&job) == "running" && message.contains("improving")
    });
    assert!(
        message.contains("30/30 parts on 1 sheet, ") && message.ends_with('%'),
        "{message}"
    );
    // The same figures, for programs.
    assert_eq!(
        (&detail["placed"], &detail["unplaced"], &detail["sheets"]),
        (&json!(30), &json!(0), &json!(1)),
        "{detail}"
    );
    let utilization = detail["utilization"].as_f64().expect("utilization");
    assert!(
        message.ends_with(&format!(", {utilization:.1}%")),
        "{message} / {detail}"
    );
    let cancel = api.post_json(&format!("/jobs/{job_id}/cancel"), &Value::Null);
    assert_eq!(cancel.status, 200, "{}", cancel.text());
    let mut job = Value::Null;
    api.wait_until("the nest ends", || {
        job = api.get(&path).json();
        status_of(&job) == "cancelled"
    });
    let result = &job["result"];
    assert_eq!(result["stopped_by"], "stopped", "{job:#}");
    assert_eq!(result["positioned_objects"].as_array().unwrap().len(), 30);
    assert_eq!(result["sheets_required"], 1);
    let sheet = result["artifacts"]["sheets"][0]["dxf"].as_str().unwrap();
    let file = api.get(&format!("/files/{sheet}"));
    assert_eq!(file.status, 200, "{}", file.text());
    assert!(file.text().contains("triangle"), "the sheet's drawing");
    assert_eq!(job["error_kind"], "cancelled", "{job:#}");
}

#[test]
fn a_cancelled_nest_keeps_its_best_layout_on_sqlite() {
    a_cancelled_nest_keeps_its_best_layout(&Env::new());
}

#[test]
fn a_cancelled_nest_keeps_its_best_layout_on_redis() {
    a_cancelled_nest_keeps_its_best_layout(&Env::redis());
}

/// A search asked for longer than the job's timeout allows ends early enough
/// to write its layout: the job completes with it, and a warning says why
/// the search was shorter.
#[test]
fn a_nest_longer_than_its_jobs_timeout_completes_with_its_layout() {
    let env = Env::new();
    env.upload("triangle.dxf", triangle_dxf());
    let api = env.spawn_api(&[]);
    let submitted = api.post_json(
        "/jobs",
        &json!({"kind": "nest", "timeout": 10, "payload": {"dxf_path": "triangle.dxf",
                "quantity": 30, "sheet_width": 660, "sheet_height": 450, "gap": 3,
                "kerf": 0, "time_limit_s": 300}}),
    );
    assert_eq!(submitted.status, 201, "{}", submitted.text());
    let path = format!("/jobs/{}", submitted.json()["job_id"].as_str().unwrap());
    let mut job = Value::Null;
    api.wait_until("the nest ends", || {
        job = api.get(&path).json();
        matches!(status_of(&job), "completed" | "failed")
    });
    assert_eq!(status_of(&job), "completed", "{job:#}");
    let result = &job["result"];
    assert_eq!(result["stopped_by"], "time_limit", "{result:#}");
    assert_eq!(result["positioned_objects"].as_array().unwrap().len(), 30);
    let warning = result["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["code"] == "time_limit_capped")
        .expect("a warning says the search was cut short");
    let message = warning["message"].as_str().unwrap();
    assert!(
        message.contains("of the 300 s asked") && message.contains("timeout"),
        "{message}"
    );
}

/// A nest may ask for searches side by side; a job uses no more cores than
/// the operator lets it (`--job-threads`), and says when it used fewer.
#[test]
fn a_nests_searches_side_by_side_are_bounded_by_the_operator() {
    let env = Env::new();
    env.upload("triangle.dxf", triangle_dxf());
    let nest_with_two = |api: &Api| {
        let answer = api.post_json(
            "/nest?dxf_path=triangle.dxf&sheet_width=660&sheet_height=450&gap=3&kerf=0&time_limit_s=1&threads=2",
            &Value::Null,
        );
        let json = answer.json();
        assert_eq!(json["success"], true, "{json}");
        let capped: Vec<String> = json["result"]["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|w| w["code"] == "threads_capped")
            .map(|w| w["message"].as_str().unwrap_or_default().to_owned())
            .collect();
        capped
    };
    // By default a job is one core's work: one search ran, and the job says why.
    let capped = nest_with_two(&env.spawn_api(&[]));
    assert_eq!(capped.len(), 1, "{capped:?}");
    assert!(
        capped[0].contains("2 searches") && capped[0].contains("--job-threads"),
        "{capped:?}"
    );
    // Allowed two, it runs two where the machine has two cores.
    let capped = nest_with_two(&env.spawn_api(&["--job-threads", "2"]));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(capped.is_empty(), cores >= 2, "{capped:?}");
}

/// `wjp nest` prints each better layout's figures on stderr as it finds it.
#[test]
fn wjp_nest_shows_each_better_layout_as_it_comes() {
    let env = Env::new();
    let drawing = env.upload("triangle.dxf", triangle_dxf());
    let spec = format!("{}:20", drawing.display());
    let out = env.run(&[
        "nest",
        &spec,
        "--sheet",
        "660x450",
        "--kerf",
        "0",
        "--time-limit",
        "1",
    ]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let first = stderr
        .lines()
        .find(|l| l.contains("better layout: "))
        .unwrap_or_else(|| panic!("no better layout shown: {stderr}"));
    assert!(
        first.contains("20/20 parts on 1 sheet, ") && first.ends_with('%'),
        "{first}"
    );
}

/// The API on one machine, the worker on another, a third that only runs
/// the command line: they share Redis and a bucket, and one inventory. The
/// worker's nest leaves an offcut that the API lists, the command line on
/// the third machine sees, and the next nest uses.
#[test]
fn machines_sharing_redis_and_a_bucket_share_one_inventory() {
    let env = Env::shared();
    let (api_host, worker_host, desk) = (
        env.machine("api"),
        env.machine("worker"),
        env.machine("desk"),
    );
    let api = env.spawn_api_from(env.command_on(&api_host), &["--no-workers"], "warn");
    let _worker =
        Worker(env.spawn_worker_from(env.command_on(&worker_host), &["--queues", "nesting"]));
    let (content_type, body) =
        crate::stores::form("file", "bar.dxf", rectangle_dxf(100.0, 60.0).as_bytes());
    let uploaded = api
        .request("POST", "/upload", &[("Content-Type", &content_type)], &body)
        .unwrap()
        .json();
    let key = uploaded["key"].as_str().unwrap().to_owned();
    let run = |quantity: u32, sheet: u32| {
        let answer = api.post_json(
            "/jobs",
            &json!({"kind": "nest", "payload": {"dxf_path": key, "quantity": quantity,
                    "sheet_width": sheet, "sheet_height": sheet, "time_limit_s": 1}}),
        );
        let id = answer.json()["job_id"].as_str().unwrap().to_owned();
        let mut job = Value::Null;
        api.wait_until("the nest ends", || {
            job = api.get(&format!("/jobs/{id}")).json();
            matches!(status_of(&job), "completed" | "failed" | "cancelled")
        });
        assert_eq!(status_of(&job), "completed", "{job:#}");
        job
    };
    let first = run(4, 500);
    let offcut = first["result"]["remnant"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let listed = api.get("/remnants").json();
    assert_eq!(listed["remnants"][0]["id"], offcut.as_str(), "{listed}");
    assert_eq!(
        listed["remnants"][0]["source_job"], first["job_id"],
        "{listed}"
    );
    let on_desk = env
        .command_on(&desk)
        .args(["remnants", "list"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&on_desk.stdout).contains(&offcut),
        "{}",
        String::from_utf8_lossy(&on_desk.stderr)
    );
    let second = run(2, 2000);
    assert_eq!(
        second["result"]["remnants_used"][0]["id"],
        offcut.as_str(),
        "{second:#}"
    );
}
