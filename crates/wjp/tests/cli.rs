//! The one-shot commands, run as a user would run them.

use std::time::Duration;

use serde_json::{json, Value};

use crate::support::{fixture, queue_counts, signal, status_of, wait_exit, Env};

/// A job that fails, submitted with `--wait`.
const SUBMIT_FAILING_AND_WAIT: &[&str] = &[
    "submit",
    "fail",
    "--payload",
    r#"{"message": "no"}"#,
    "--wait",
];

#[test]
fn submit_then_burst_worker_completes_the_job_and_status_shows_it() {
    let env = Env::new();
    let id = env.submit(&["noop", "--payload", r#"{"drawing": "a.dxf"}"#]);
    assert_eq!(id.len(), wjp_queue::RANDOM_ID_LEN, "a generated id: {id}");
    let job = env.job(&id);
    assert_eq!(status_of(&job), "queued");
    assert_eq!(job["kind"], "noop");
    assert_eq!(job["queue"], "default");

    env.ok(&["worker", "--burst", "--name", "w1"]);
    let job = env.job(&id);
    assert_eq!(status_of(&job), "completed");
    assert_eq!(job["result"], json!({"drawing": "a.dxf"}));
    assert_eq!(job["worker"], "w1");
    assert_eq!(job["attempt"], 1);
    let text = env.ok(&["status", &id]);
    assert!(text.contains("status    completed"), "{text}");
}

#[test]
fn submit_wait_follows_the_job_to_its_end() {
    let env = Env::new();
    // Bounded: a job that never ends would otherwise hang the suite.
    let wait = |args: &[&str]| env.run_within(args, Duration::from_secs(120), "submit --wait");
    let mut worker = env.spawn_worker(&["--name", "waiter"]);
    let out = wait(&[
        "submit",
        "sleep",
        "--payload",
        r#"{"seconds": 0.5}"#,
        "--wait",
    ]);
    assert!(out.status.success(), "{out:?}");
    let job: Value = serde_json::from_slice(&out.stdout).expect("final job as JSON");
    assert_eq!(status_of(&job), "completed");
    assert_eq!(job["progress"], 1.0);
    crate::support::signal(&worker, "TERM");
    assert!(crate::support::wait_exit(&mut worker, Duration::from_secs(30)).success());

    // A failing job makes --wait exit non-zero, with the job still printed.
    let mut worker = env.spawn_worker(&["--name", "waiter2"]);
    let out = wait(SUBMIT_FAILING_AND_WAIT);
    assert!(!out.status.success());
    let job: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(job["error"]["kind"], "handler_error");
    crate::support::signal(&worker, "TERM");
    crate::support::wait_exit(&mut worker, Duration::from_secs(30));
}

/// `submit --wait` with no worker running says the job's id at once and
/// that no worker serves its queue, then goes on waiting, and ends when a
/// worker comes and runs the job.
#[test]
fn submit_wait_without_a_worker_says_so_and_keeps_waiting() {
    use std::io::{BufRead, Read};
    use std::process::Stdio;
    let env = Env::new();
    let mut submit = env
        .command()
        .args(["submit", "noop", "--wait"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn submit --wait");
    let stderr = submit.stderr.take().expect("piped stderr");
    let (lines, said) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    // Bounded: without the messages the test would otherwise hang.
    let next = || {
        said.recv_timeout(Duration::from_secs(60))
            .expect("a line on stderr")
    };
    let first = next();
    let id = first
        .strip_prefix("job ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no job id first: {first}"))
        .to_owned();
    assert_eq!(
        first,
        format!("job {id} submitted to queue default; waiting for it to end")
    );
    let second = next();
    assert_eq!(
        second,
        format!(
            "job {id} waits: no live worker serves queue default; start one with --queues default"
        )
    );
    // Still waiting: a worker now runs the job, and the wait ends with it.
    assert!(submit.try_wait().expect("try_wait").is_none());
    let mut worker = env.spawn_worker(&["--name", "late"]);
    let status = wait_exit(&mut submit, Duration::from_secs(120));
    let mut out = String::new();
    submit
        .stdout
        .take()
        .expect("piped stdout")
        .read_to_string(&mut out)
        .expect("stdout");
    assert!(status.success(), "{status}: {out}");
    let job: Value = serde_json::from_str(&out).expect("final job as JSON");
    assert_eq!(
        (job["id"].as_str(), status_of(&job)),
        (Some(id.as_str()), "completed")
    );
    signal(&worker, "TERM");
    assert!(wait_exit(&mut worker, Duration::from_secs(30)).success());
}

/// A reader that closed its end of the pipe (`wjp history | head`) has all
/// it wanted: the command ends quietly, with success, whether its output
/// was being written line by line or as one JSON document.
#[test]
fn a_closed_stdout_ends_the_command_quietly() {
    let env = Env::new();
    let mut worker = env.spawn_worker(&["--name", "piped"]);
    let wait = |args: &[&str]| env.run_within(args, Duration::from_secs(120), "submit --wait");
    let failed = wait(SUBMIT_FAILING_AND_WAIT);
    assert!(!failed.status.success(), "{failed:?}");
    for args in [
        &["history"][..],
        &["failed"][..],
        &["submit", "noop", "--wait"][..],
    ] {
        // The reader is gone before the command writes a byte: every
        // write it makes to stdout fails as with `| head` after its lines.
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let mut command = env.command();
        command
            .args(args)
            .stdout(writer)
            .stderr(std::process::Stdio::piped());
        let out = command
            .spawn()
            .expect("spawn wjp")
            .wait_with_output()
            .expect("wait for wjp");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "wjp {args:?}: {}: {stderr}",
            out.status
        );
        assert!(
            !stderr.contains("error") && !stderr.contains("panicked"),
            "wjp {args:?}: {stderr}"
        );
    }
    signal(&worker, "TERM");
    assert!(wait_exit(&mut worker, Duration::from_secs(30)).success());
}

#[test]
fn payload_files_batches_and_idempotent_ids() {
    let env = Env::new();
    let payload = env.write("payload.json", r#"{"seconds": 0}"#);
    let id = env.submit(&["sleep", "--payload", &format!("@{}", payload.display())]);
    assert_eq!(env.job(&id)["payload"], json!({"seconds": 0}));

    let first = env.submit(&["noop", "--job-id", "quote-7", "--priority", "-2"]);
    let again = env.submit(&["noop", "--job-id", "quote-7"]);
    assert_eq!((first.as_str(), again.as_str()), ("quote-7", "quote-7"));
    assert_eq!(env.job("quote-7")["priority"], -2);

    let batch = env.write(
        "jobs.jsonl",
        "# tonight's plates\n{\"kind\": \"noop\", \"payload\": 1}\n\n  # the G-code queue\n{\"kind\": \"sleep\", \"payload\": {\"seconds\": 0}, \"queue\": \"gcode\", \"priority\": 3}\n{\"kind\": \"noop\", \"payload\": 3, \"delay\": 3600}\n",
    );
    let out = env.ok(&["submit", "--batch", batch.to_str().unwrap()]);
    let ids: Vec<&str> = out.lines().collect();
    assert_eq!(ids.len(), 3);
    assert_eq!(env.job(ids[1])["queue"], "gcode");
    assert_eq!(status_of(&env.job(ids[2])), "scheduled");

    let info: Value = serde_json::from_str(&env.ok(&["info", "--json"])).unwrap();
    assert_eq!(info["backend"]["name"], "sqlite");
    let queues = info["queues"].as_array().unwrap();
    let default = queues.iter().find(|q| q["name"] == "default").unwrap();
    assert_eq!(
        (default["queued"].as_u64(), default["scheduled"].as_u64()),
        (Some(3), Some(1))
    );
    let gcode = queues.iter().find(|q| q["name"] == "gcode").unwrap();
    assert_eq!(gcode["queued"], 1);
    assert_eq!(info["workers"], json!([]));
}

#[test]
fn cancel_retry_failed_and_purge() {
    let env = Env::new();
    let waiting = env.submit(&["noop"]);
    assert!(env.ok(&["cancel", &waiting]).contains("cancelled"));
    assert_eq!(status_of(&env.job(&waiting)), "cancelled");
    assert!(env.ok(&["cancel", &waiting]).contains("already ended"));

    let failing = env.submit(&["fail", "--payload", r#"{"message": "bad contour"}"#]);
    env.ok(&["worker", "--burst", "--queues", "default"]);
    let failed = env.ok(&["failed", "--queue", "default"]);
    assert!(
        failed.contains(&failing) && failed.contains("handler_error: bad contour"),
        "{failed}"
    );
    let failed_json: Value = serde_json::from_str(&env.ok(&["failed", "--json"])).unwrap();
    assert_eq!(failed_json.as_array().unwrap().len(), 1);

    assert!(env.ok(&["retry", &failing]).contains("queued again"));
    assert_eq!(status_of(&env.job(&failing)), "queued");
    assert!(env.fails(&["retry", &failing]).contains("cannot retry"));

    env.submit(&["noop"]);
    assert!(env
        .ok(&["purge", "--queue", "default", "--status", "queued"])
        .contains("deleted 2"));
    let text = env.ok(&["info"]);
    assert!(text.contains("backend  sqlite"), "{text}");
}

#[test]
fn history_shows_each_jobs_life_after_its_record_expired() {
    let env = Env::new();
    let done = env.submit(&["noop", "--reference", "PO 4711 Smith"]);
    let failing = env.submit(&[
        "fail",
        "--payload",
        r#"{"message": "bad contour"}"#,
        "--reference",
        "=cmd|' /C calc'!A0",
    ]);
    env.ok(&["worker", "--burst", "--queues", "default"]);
    env.ok(&["purge", "--queue", "default", "--status", "completed"]);
    assert!(env.fails(&["status", &done]).contains("not found"));

    let text = env.ok(&["history", "--reference", "smith"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].contains("completed") && lines[0].contains(&done),
        "{text}"
    );
    assert!(
        lines[1].contains("submitted") && lines[1].contains("by cli"),
        "{text}"
    );

    let failed = env.ok(&["history", "--outcome", "failed", "--json"]);
    let entry: Value = serde_json::from_str(failed.lines().next().unwrap()).unwrap();
    assert_eq!(entry["job_id"], failing.as_str());
    assert_eq!(entry["error_kind"], "handler_error");
    assert_eq!(entry["message"], "bad contour");
    assert_eq!(entry["attempt"], 1);

    let csv = env.ok(&["history", "--csv", "--job", &failing]);
    assert!(csv.contains("'=cmd|"), "{csv}");
    let today = env.ok(&[
        "history",
        "--since",
        "2000-01-01",
        "--until",
        "2999-12-31",
        "--kind",
        "fail",
    ]);
    assert_eq!(today.lines().count(), 2, "{today}");
    for (args, words) in [
        (
            vec!["history", "--since", "tomorrow"],
            "--since must be a date",
        ),
        (
            vec!["history", "--outcome", "exploded"],
            "outcome \"exploded\" is unknown",
        ),
        (vec!["history", "--limit", "0"], "--limit must be 1 or more"),
        (vec!["history", "--kind", "nope"], "nope"),
    ] {
        let error = env.fails(&args);
        assert!(error.contains(words), "{args:?}: {error}");
    }
}

#[test]
fn bad_input_gets_a_clear_error_naming_what_is_wrong() {
    let env = Env::new();
    let cases: &[(&[&str], &str)] = &[
        (
            &["submit", "cut_everything"],
            "unknown job kind \"cut_everything\"",
        ),
        (
            &["submit", "noop", "--queue", "cutting"],
            "unknown queue \"cutting\"",
        ),
        (
            &["submit", "noop", "--payload", "{nope"],
            "--payload is not valid JSON",
        ),
        (
            &["submit", "noop", "--payload", "@/no/such/file.json"],
            "/no/such/file.json",
        ),
        (&["submit", "noop", "--job-id", "../../x"], "invalid job id"),
        (
            &["submit", "noop", "--timeout", "-5"],
            "timeout must be between",
        ),
        (
            &["submit", "noop", "--max-attempts", "0"],
            "max_attempts must be between",
        ),
        (&["status", "no-such-job"], "job no-such-job not found"),
        (
            &["worker", "--queues", "analysis,cutting"],
            "unknown queue \"cutting\"",
        ),
        (
            &["worker", "--lease-secs", "0"],
            "--lease-secs must be more than 0 and at most 86400 seconds, got 0",
        ),
        (
            &["worker", "--shutdown-grace-secs", "-1"],
            "--shutdown-grace-secs must be between 0 and 86400 seconds, got -1",
        ),
        (
            &["api", "--no-workers", "--shutdown-grace-secs", "90000"],
            "--shutdown-grace-secs must be between 0 and 86400 seconds, got 90000",
        ),
        (
            &["purge", "--queue", "default", "--status", "started"],
            "\"started\" is not a job status; the statuses are waiting, scheduled,",
        ),
        (
            &["purge", "--queue", "default", "--status", "complete"],
            "\"complete\" is not a job status; did you mean \"completed\"?",
        ),
        (
            &["purge", "--queue", "default", "--status", "running"],
            "cannot be purged",
        ),
        (
            &["submit", "--batch", "/no/such.jsonl"],
            "opening batch file",
        ),
    ];
    for (args, expected) in cases {
        let stderr = env.fails(args);
        assert!(
            stderr.contains(expected),
            "wjp {args:?}: expected {expected:?} in: {stderr}"
        );
        assert!(
            !stderr.contains("panicked"),
            "wjp {args:?} panicked: {stderr}"
        );
    }
    let bad_batch = env.write("bad.jsonl", "{\"kind\": \"noop\"}\n{\"kind\": 5}\n");
    let stderr = env.fails(&["submit", "--batch", bad_batch.to_str().unwrap()]);
    assert!(stderr.contains("line 2"), "{stderr}");

    // A request the queue refuses is named by its line of the file too,
    // whatever blank lines come before it; a batch of one as well.
    let name = bad_batch.display().to_string();
    let bad_batch = env.write(
        "bad.jsonl",
        "{\"kind\": \"noop\"}\n\n{\"kind\": \"nope\"}\n",
    );
    let stderr = env.fails(&["submit", "--batch", &name]);
    assert!(
        stderr.contains(&format!("{name} line 3 (job 2 of the batch)")),
        "{stderr}"
    );
    assert!(stderr.contains("nope"), "{stderr}");
    std::fs::write(&bad_batch, "\n{\"kind\": \"nope\"}\n").unwrap();
    let stderr = env.fails(&["submit", "--batch", &name]);
    assert!(stderr.contains(&format!("{name} line 2")), "{stderr}");
}

/// The seconds flags say the bounds they keep: a grace of 0 (jobs handed
/// back at once) is taken by `wjp worker` as by `wjp api`, and both
/// `--help` texts say so.
#[test]
fn seconds_flags_keep_the_bounds_their_help_and_messages_give() {
    let env = Env::new();
    env.ok(&["worker", "--burst", "--shutdown-grace-secs", "0"]);
    for command in ["worker", "api"] {
        let help = env.ok(&[command, "--help"]);
        let flat = help.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            flat.contains("(0 to hand them back at once, at most 86400)"),
            "{command}: {help}"
        );
    }
    let help = env.ok(&["--help"]);
    let flat = help.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flat.contains("Commands that look at or change jobs that already exist"),
        "{help}"
    );
    assert!(!flat.contains("only read"), "{help}");
}

#[test]
fn a_data_dir_that_cannot_be_used_is_reported() {
    let env = Env::new();
    let file = env.write("plain-file", "x");
    let out = env
        .command()
        .env("WJP_DATA_DIR", file.join("sub"))
        .args(["info", "--init"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot create data directory"), "{stderr}");
}

#[test]
fn redis_is_selected_by_url_or_by_host_port_and_db() {
    let env = Env::redis();
    let port = env.redis.as_ref().unwrap().port().to_string();
    let id = env.submit(&["noop"]);
    let info: Value = serde_json::from_str(&env.ok(&["info", "--json"])).unwrap();
    assert_eq!(info["backend"]["name"], "redis");
    assert_eq!(queue_counts(&info, "default")["queued"], 1);

    // The same server and database through REDIS_HOST/REDIS_PORT/REDIS_DB.
    let out = env
        .command()
        .env_remove("REDIS_URL")
        .env("REDIS_HOST", "127.0.0.1")
        .env("REDIS_PORT", &port)
        .env("REDIS_DB", "0")
        .args(["status", &id, "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Another database of the same server holds other jobs.
    let out = env
        .command()
        .env("REDIS_URL", format!("redis://127.0.0.1:{port}/3"))
        .args(["status", &id])
        .output()
        .unwrap();
    assert!(!out.status.success());

    // Flags override the environment.
    let out = env
        .command()
        .args(["--redis-url", "redis://127.0.0.1:1/0", "info"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("127.0.0.1:1"), "{stderr}");
}

/// A 100 mm square plate with a 20 mm square hole, in millimetres.
pub fn plate_with_hole_dxf() -> String {
    let square = |x0: f64, y0: f64, side: f64| {
        let mut s = String::from("0\nLWPOLYLINE\n8\nCUT\n90\n4\n70\n1\n");
        for (x, y) in [
            (x0, y0),
            (x0 + side, y0),
            (x0 + side, y0 + side),
            (x0, y0 + side),
        ] {
            s += &format!("10\n{x}\n20\n{y}\n");
        }
        s
    };
    format!(
        "0\nSECTION\n2\nHEADER\n9\n$INSUNITS\n70\n4\n0\nENDSEC\n0\nSECTION\n2\nENTITIES\n{}{}0\nENDSEC\n0\nEOF\n",
        square(0.0, 0.0, 100.0),
        square(40.0, 40.0, 20.0)
    )
}

#[test]
fn analyze_dxf_runs_as_a_job_and_here_and_now() {
    let env = Env::new();
    let drawing = env.upload("plate.dxf", plate_with_hole_dxf());
    let payload =
        json!({"dxf_path": drawing, "material": "aluminium", "thickness": 10}).to_string();
    let id = env.submit(&["analyze_dxf", "--payload", &payload]);
    let job = env.job(&id);
    assert_eq!(job["queue"], "analysis");
    assert_eq!(job["timeout_ms"], 600_000);
    env.ok(&["worker", "--burst", "--queues", "analysis"]);
    let job = env.job(&id);
    assert_eq!(status_of(&job), "completed", "{job:#}");
    let metrics = &job["result"]["metrics"];
    assert!(
        (metrics["cut_length_mm"].as_f64().unwrap() - 480.0).abs() < 1e-6,
        "{metrics}"
    );
    assert_eq!(metrics["pierce_count"], 2);
    let preview = job["result"]["artifacts"]["preview_svg"].as_str().unwrap();
    let svg = std::fs::read_to_string(env.data_dir().join(preview)).unwrap();
    assert!(
        svg.starts_with("<svg") || svg.starts_with("<?xml"),
        "{}",
        &svg[..40.min(svg.len())]
    );

    let text = env.ok(&[
        "analyze",
        drawing.to_str().unwrap(),
        "--material",
        "aluminium",
    ]);
    assert!(text.contains("Pierces: 2"), "{text}");
    let report: Value =
        serde_json::from_str(&env.ok(&["analyze", drawing.to_str().unwrap(), "--json"])).unwrap();
    assert_eq!(report["metrics"]["pierce_count"], 2);

    // A drawing that cannot be read fails its job with a reason, once.
    let junk = env.upload("junk.dxf", "this is not a drawing");
    let bad = json!({"dxf_path": junk}).to_string();
    let id = env.submit(&["analyze_dxf", "--payload", &bad, "--max-attempts", "3"]);
    env.ok(&["worker", "--burst", "--queues", "analysis"]);
    let job = env.job(&id);
    assert_eq!(status_of(&job), "failed");
    assert_eq!(job["attempt"], 1, "a broken file is not retried");
    assert_eq!(job["error"]["kind"], "invalid_payload");
    assert!(job["error"]["message"]
        .as_str()
        .unwrap()
        .contains("junk.dxf"));
    let stderr = env.fails(&["analyze", junk.to_str().unwrap()]);
    assert!(stderr.contains("not a readable DXF"), "{stderr}");
}

#[test]
fn images_convert_to_dxf_as_jobs_and_here_and_now() {
    let env = Env::new();
    let image = env.upload_fixture("images/simple_shapes.png");
    let payload = json!({"image_path": image, "size_mm": 400.0, "min_area": 10}).to_string();
    let id = env.submit(&["convert_image", "--payload", &payload]);
    assert_eq!(env.job(&id)["queue"], "conversion");
    env.ok(&["worker", "--burst", "--queues", "conversion"]);
    let job = env.job(&id);
    assert_eq!(status_of(&job), "completed", "{job:#}");
    let report = &job["result"]["report"];
    // The circle touches the L-bar in this picture: three connected shapes.
    assert_eq!(report["contours_kept"], 3, "{report:#}");
    let dxf_path = env
        .data_dir()
        .join(job["result"]["artifacts"]["dxf"].as_str().unwrap());
    let analysis: Value =
        serde_json::from_str(&env.ok(&["analyze", dxf_path.to_str().unwrap(), "--json"])).unwrap();
    assert_eq!(analysis["units"]["declared"], 4);
    assert_eq!(analysis["metrics"]["pierce_count"], 3);
    let width = analysis["metrics"]["width_mm"].as_f64().unwrap();
    assert!((width - 400.0).abs() < 1.0, "scaled to 400 mm: {width}");

    let out = env.dir.path().join("shapes.dxf");
    let text = env.ok(&[
        "convert",
        image.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--size-mm",
        "200",
    ]);
    assert!(text.contains("3 outlines kept"), "{text}");
    assert!(std::fs::read_to_string(&out).unwrap().contains("$INSUNITS"));

    let not_an_image = fixture("csv/lengths.csv");
    let stderr = env.fails(&[
        "convert",
        not_an_image.to_str().unwrap(),
        "-o",
        "/tmp/never.dxf",
    ]);
    assert!(stderr.contains("unsupported image format"), "{stderr}");
}

#[test]
fn a_csv_export_is_analysed_as_a_job() {
    let env = Env::new();
    let csv = env.upload_fixture("csv/lengths.csv");
    let expected_rows = std::fs::read_to_string(&csv)
        .unwrap()
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .count();
    let payload = json!({"csv_path": csv, "report": null}).to_string();
    let id = env.submit(&["analyze_csv", "--payload", &payload]);
    env.ok(&["worker", "--burst", "--queues", "default"]);
    let job = env.job(&id);
    assert_eq!(status_of(&job), "completed", "{job:#}");
    let result = &job["result"];
    assert_eq!(result["format"], "lengths");
    assert_eq!(
        result["statistics"]["total_objects"], expected_rows as u64,
        "{:#}",
        result["statistics"]
    );
    assert!(result["recommendations"]["warnings"].is_array());

    let bad = env.upload("bad.csv", "ID,Layer\n1,CUT\n");
    let payload = json!({"csv_path": bad}).to_string();
    let id = env.submit(&["analyze_csv", "--payload", &payload]);
    env.ok(&["worker", "--burst", "--queues", "default"]);
    let job = env.job(&id);
    assert_eq!(job["error"]["kind"], "invalid_payload");
    assert!(
        job["error"]["message"]
            .as_str()
            .unwrap()
            .contains("csv_missing_column"),
        "{job:#}"
    );
}

#[test]
fn an_analysis_exports_to_a_components_csv_and_a_layered_dxf() {
    let env = Env::new();
    let drawing = env.upload("plate.dxf", plate_with_hole_dxf());
    let payload = json!({"dxf_path": drawing}).to_string();
    let analysis = env.submit(&["analyze_dxf", "--payload", &payload]);
    env.ok(&["worker", "--burst", "--queues", "analysis"]);
    let report = env.job(&analysis)["result"].clone();
    assert_eq!(report["metrics"]["pierce_count"], 2);

    let csv_job = env.submit(&[
        "export_components_csv",
        "--payload",
        &json!({ "report": report }).to_string(),
    ]);
    let dxf_job = env.submit(&[
        "export_layered_dxf",
        "--payload",
        &json!({ "report": report }).to_string(),
    ]);
    let broken = env.submit(&[
        "export_layered_dxf",
        "--payload",
        r#"{"report": {"metrics": {}}}"#,
    ]);
    env.ok(&["worker", "--burst", "--queues", "default"]);
    let artefact = |id: &str, name: &str| {
        let job = env.job(id);
        assert_eq!(status_of(&job), "completed", "{job:#}");
        env.data_dir()
            .join(job["result"]["artifacts"][name].as_str().unwrap())
    };
    let csv_out = artefact(&csv_job, "csv");
    let dxf_out = artefact(&dxf_job, "dxf");
    let job = env.job(&broken);
    assert_eq!(job["error"]["kind"], "invalid_payload");
    assert!(job["error"]["message"]
        .as_str()
        .unwrap()
        .contains("dxf_path"));

    // The CSV reads back as a component export: 2 contours, 10000 - 400 mm².
    let text = std::fs::read_to_string(&csv_out).unwrap();
    assert!(
        text.starts_with("ID,Layer,Group,Area_mm2,Perimeter_mm,Selected"),
        "{text}"
    );
    let csv_analysis = env.submit(&[
        "analyze_csv",
        "--payload",
        &json!({"csv_path": csv_out}).to_string(),
    ]);
    env.ok(&["worker", "--burst", "--queues", "default"]);
    let stats = env.job(&csv_analysis)["result"]["statistics"].clone();
    assert_eq!(stats["total_objects"], 2, "{stats:#}");

    // The layered DXF has the same cut: 480 mm, 2 pierces, outer and hole apart.
    let text = std::fs::read_to_string(&dxf_out).unwrap();
    assert!(text.contains("\nOUTER\n") && text.contains("\nINNER\n"));
    let again: Value =
        serde_json::from_str(&env.ok(&["analyze", dxf_out.to_str().unwrap(), "--json"])).unwrap();
    assert!((again["metrics"]["cut_length_mm"].as_f64().unwrap() - 480.0).abs() < 1e-6);
    assert_eq!(again["metrics"]["pierce_count"], 2);
}

#[test]
fn nesting_and_gcode_run_as_jobs() {
    let env = Env::new();
    let drawing = env.upload("plate.dxf", plate_with_hole_dxf());
    let nest = json!({
        "dxf_path": drawing, "quantity": 3, "sheet_width": 400, "sheet_height": 250,
        "gap": 3.0, "kerf": 1.1, "time_limit_s": 2
    });
    let nest_id = env.submit(&["nest", "--payload", &nest.to_string()]);
    assert_eq!(env.job(&nest_id)["queue"], "nesting");
    let gcode = json!({"dxf_path": drawing, "material": "steel", "thickness": 6, "kerf": 1.1});
    let gcode_id = env.submit(&["generate_gcode", "--payload", &gcode.to_string()]);
    assert_eq!(env.job(&gcode_id)["queue"], "gcode");
    let too_big = json!({"dxf_path": drawing, "sheet_width": 50, "sheet_height": 50});
    let failed_id = env.submit(&["nest", "--payload", &too_big.to_string()]);
    env.ok(&["worker", "--burst", "--queues", "nesting,gcode"]);

    let job = env.job(&nest_id);
    assert_eq!(status_of(&job), "completed", "{job:#}");
    let result = &job["result"];
    assert_eq!(result["positioned_objects"].as_array().unwrap().len(), 3);
    assert_eq!(result["sheets_required"], 1);
    let utilization = result["final_utilization"].as_f64().unwrap();
    let expected = 3.0 * (100.0 * 100.0 - 20.0 * 20.0) / (400.0 * 250.0) * 100.0;
    assert!(
        (utilization - expected).abs() < 0.5,
        "{utilization} vs {expected}"
    );
    let sheet = result["artifacts"]["sheets"][0]["dxf"].as_str().unwrap();
    let nested: Value = serde_json::from_str(&env.ok(&[
        "analyze",
        env.data_dir().join(sheet).to_str().unwrap(),
        "--json",
    ]))
    .unwrap();
    assert_eq!(
        nested["metrics"]["pierce_count"], 6,
        "3 plates with a hole each"
    );

    let job = env.job(&gcode_id);
    assert_eq!(status_of(&job), "completed", "{job:#}");
    assert_eq!(job["result"]["summary"]["pierces"], 2);
    let program = std::fs::read_to_string(
        env.data_dir()
            .join(job["result"]["artifacts"]["gcode"].as_str().unwrap()),
    )
    .unwrap();
    assert!(
        program.contains("G21") && program.contains("G90"),
        "{program}"
    );
    assert!(
        !program.contains("G4 P500"),
        "dwell in seconds for LinuxCNC"
    );

    let job = env.job(&failed_id);
    assert_eq!(
        status_of(&job),
        "failed",
        "a part that does not fit fails the job, with the part named: {job:#}"
    );
    assert!(job.to_string().contains("50 x 50 mm"), "{job:#}");
}

#[test]
fn csv_nest_and_gcode_commands_work_here_and_now() {
    let env = Env::new();
    let csv = fixture("csv/lengths.csv");
    let text = env.ok(&["csv", csv.to_str().unwrap()]);
    assert!(
        text.contains("lengths export") && text.contains("viability"),
        "{text}"
    );
    let report: Value =
        serde_json::from_str(&env.ok(&["csv", csv.to_str().unwrap(), "--json"])).unwrap();
    assert!(report["statistics"]["total_objects"].as_u64().unwrap() > 0);

    let drawing = env.upload("plate.dxf", plate_with_hole_dxf());
    let out = env.dir.path().join("sheets");
    let spec = format!("{}:2", drawing.display());
    let result: Value = serde_json::from_str(&env.ok(&[
        "nest",
        &spec,
        "--sheet",
        "300x150",
        "--time-limit",
        "1",
        "-o",
        out.to_str().unwrap(),
        "--json",
    ]))
    .unwrap();
    assert_eq!(result["positioned_objects"].as_array().unwrap().len(), 2);
    assert!(out.join("sheet0.dxf").exists() && out.join("sheet0.svg").exists());
    let stderr = env.fails(&["nest", &spec, "--sheet", "300 by 150"]);
    assert!(stderr.contains("WIDTHxHEIGHT"), "{stderr}");

    let program = env.dir.path().join("plate.nc");
    let text = env.ok(&[
        "gcode",
        drawing.to_str().unwrap(),
        "--dialect",
        "fanuc",
        "-o",
        program.to_str().unwrap(),
    ]);
    assert!(text.contains("2 pierces"), "{text}");
    let g = std::fs::read_to_string(&program).unwrap();
    assert!(g.contains("M30"), "the program ends");
    let stderr = env.fails(&[
        "gcode",
        drawing.to_str().unwrap(),
        "--dialect",
        "mazak",
        "-o",
        "/tmp/never.nc",
    ]);
    assert!(stderr.contains("unknown G-code dialect"), "{stderr}");
}

/// An API and its workers started together open the same fresh database:
/// every process waits its turn to create the schema instead of failing
/// with "database is locked" (seen when a worker and `submit` started at
/// once on a loaded machine).
#[test]
fn processes_opening_a_fresh_database_together_all_succeed() {
    for round in 0..10 {
        let env = Env::new();
        let started: Vec<_> = (0..12)
            .map(|i| {
                let args: &[&str] = if i % 2 == 0 {
                    &["info", "--init"]
                } else {
                    &["submit", "noop"]
                };
                env.command()
                    .args(args)
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .expect("spawn wjp")
            })
            .collect();
        for child in started {
            let out = child.wait_with_output().expect("wait for wjp");
            assert!(
                out.status.success(),
                "round {round}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let info: Value = serde_json::from_str(&env.ok(&["info", "--json"])).expect("info JSON");
        assert_eq!(
            queue_counts(&info, "default")["queued"],
            6,
            "round {round}: every submitted job is there: {info:#}"
        );
    }
}

/// `wjp api --workers analysis=2,default=1`: each listed queue has slots of
/// its own, so a long rehearsal job in `default` never holds up shop work.
#[test]
fn api_workers_take_slots_per_queue() {
    let env = Env::new();
    for (flag, says) in [("cutting=1", "cutting"), ("analysis=0", "from 1 to 1024")] {
        // Refused before the socket is bound: a port is given all the same,
        // so a regression fails here rather than hang on a busy port.
        let out = env.run_within(
            &["api", "--port", "0", "--workers", flag],
            Duration::from_secs(60),
            "a refused --workers",
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{flag}: {err}");
        assert!(err.contains("--workers") && err.contains(says), "{err}");
    }

    let api = env.spawn_api(&["--enable-test-kinds", "--workers", "analysis=2,default=1"]);
    api.wait_until("both workers registered", || {
        api.get("/workers").json()["workers"]
            .as_array()
            .is_some_and(|w| w.len() == 2)
    });
    let workers = api.get("/workers").json();
    let mut slots: Vec<(String, u64)> = workers["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["queues"].to_string(),
                w["concurrency"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    slots.sort();
    assert_eq!(
        slots,
        [
            (r#"["analysis"]"#.to_owned(), 2),
            (r#"["default"]"#.to_owned(), 1)
        ]
    );

    let rehearsal = api.post_json(
        "/jobs",
        &serde_json::json!({"kind": "sleep", "payload": {"seconds": 60}}),
    );
    assert_eq!(rehearsal.status, 201, "{}", rehearsal.text());
    let rehearsal_id = rehearsal.json()["job_id"].as_str().unwrap().to_owned();
    api.wait_until("the rehearsal job runs", || {
        status_of(&api.get(&format!("/jobs/{rehearsal_id}")).json()) == "running"
    });
    let shop = api.post_json(
        "/jobs",
        &serde_json::json!({"kind": "noop", "queue": "analysis", "payload": 1}),
    );
    let shop_id = shop.json()["job_id"].as_str().unwrap().to_owned();
    api.wait_until("the analysis job completes", || {
        status_of(&api.get(&format!("/jobs/{shop_id}")).json()) == "completed"
    });
    assert_eq!(
        status_of(&api.get(&format!("/jobs/{rehearsal_id}")).json()),
        "running"
    );
}

/// `wjp status` says why a waiting job has not started.
#[test]
fn status_says_why_a_job_waits() {
    let env = Env::new();
    let later = env.submit(&["noop", "--delay", "3600"]);
    let text = env.ok(&["status", &later]);
    assert!(
        text.contains("waiting   scheduled: it may run from"),
        "{text}"
    );
    let now = env.submit(&["noop", "--queue", "analysis"]);
    let text = env.ok(&["status", &now]);
    assert!(
        text.contains("no live worker serves queue analysis"),
        "{text}"
    );
    // A worker of another queue does not count; one of its queue does.
    let mut other = env.spawn_worker(&["--queues", "default", "--name", "other"]);
    let api = env.spawn_api(&["--no-workers"]);
    api.wait_until("the worker registered", || {
        api.get("/workers").json()["workers"]
            .as_array()
            .is_some_and(|w| w.len() == 1)
    });
    let job = api.get(&format!("/jobs/{now}")).json();
    assert_eq!(job["waiting"]["detail"]["reason"], "no_worker", "{job:#}");
    signal(&other, "TERM");
    wait_exit(&mut other, Duration::from_secs(60));
}

/// `wjp queue pause` holds a queue's jobs: a burst worker leaves them,
/// `wjp info` and `wjp status` say why, and `wjp queue resume` lets them run.
#[test]
fn a_paused_queue_is_steered_from_the_command_line() {
    let env = Env::new();
    let id = env.submit(&["noop", "--payload", "1"]);
    assert!(env
        .ok(&["queue", "pause", "default"])
        .contains("paused default"));
    assert!(env
        .ok(&["queue", "pause", "default"])
        .contains("already paused"));
    let err = env.fails(&["queue", "pause", "cutting"]);
    assert!(err.contains("cutting"), "{err}");
    env.ok(&["worker", "--burst", "--queues", "default"]);
    assert_eq!(status_of(&env.job(&id)), "queued");
    assert!(env.ok(&["info"]).contains("(paused)"));
    let text = env.ok(&["status", &id]);
    assert!(text.contains("queue default is paused"), "{text}");
    assert!(env
        .ok(&["queue", "resume", "default"])
        .contains("resumed default"));
    env.ok(&["worker", "--burst", "--queues", "default"]);
    assert_eq!(status_of(&env.job(&id)), "completed");
}

/// `wjp submit --unique-key`: a second submission while the first waits
/// returns the first, saying so.
#[test]
fn a_unique_key_keeps_a_second_submission_out() {
    let env = Env::new();
    let first = env.submit(&["noop", "--unique-key", "order-17/plate.dxf"]);
    let out = env.run(&["submit", "noop", "--unique-key", "order-17/plate.dxf"]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), first);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("holds unique key"), "{said}");
    let err = env.fails(&["submit", "noop", "--unique-for", "60"]);
    assert!(err.contains("--unique-key"), "{err}");
}

/// `wjp queue retry-failed Q` runs every failed job of the queue again.
#[test]
fn the_failed_jobs_of_a_queue_are_retried_from_the_command_line() {
    let env = Env::new();
    // Two jobs that complete, one that fails: only the failed one runs again.
    let completing: Vec<String> = (0..2)
        .map(|_| env.submit(&["fail", "--payload", r#"{"succeed_on_attempt": 1}"#]))
        .collect();
    let failing = env.submit(&["fail", "--payload", r#"{"message": "no outline"}"#]);
    env.ok(&["worker", "--burst", "--queues", "default"]);
    assert_eq!(status_of(&env.job(&failing)), "failed");
    let out = env.ok(&["queue", "retry-failed", "default"]);
    assert!(
        out.contains("queued 1 failed job of default again"),
        "{out}"
    );
    assert_eq!(status_of(&env.job(&failing)), "queued");
    for id in &completing {
        assert_eq!(status_of(&env.job(id)), "completed");
    }
    let out = env.ok(&["queue", "retry-failed", "default"]);
    assert!(out.contains("queued 0 failed jobs"), "{out}");
}

/// `wjp submit --group` and `wjp queue limit --per-group-max-running`: the
/// group is kept and shown, a bad name refused with what is allowed, the
/// cap shown and cleared; a worker runs one big order's jobs one at a time
/// while a small order's job goes in the first claim.
#[test]
fn groups_take_turns_and_a_cap_holds_a_big_order_back() {
    let env = Env::new();
    let out = env.ok(&["queue", "limit", "default", "--per-group-max-running", "1"]);
    assert!(out.contains("max 1 running per group"), "{out}");
    let big: Vec<String> = (0..3)
        .map(|_| env.submit(&["noop", "--group", "customer-big"]))
        .collect();
    let small = env.submit(&["noop", "--group", "customer-small"]);
    assert_eq!(env.job(&small)["group"], "customer-small");
    assert!(env
        .ok(&["status", &small])
        .contains("group     customer-small"));
    for bad in ["two words", "a{b}", "x\ny", &"g".repeat(65)] {
        let err = env.fails(&["submit", "noop", "--group", bad]);
        assert!(err.contains("is not a group name"), "{err}");
    }
    let err = env.fails(&["queue", "limit", "default", "--per-group-max-running", "0"]);
    assert!(err.contains("per-group-max-running"), "{err}");
    env.ok(&[
        "worker",
        "--burst",
        "--queues",
        "default",
        "--concurrency",
        "4",
    ]);
    let started = |id: &str| env.job(id)["started_at"].as_str().unwrap().to_owned();
    for id in big.iter().chain([&small]) {
        assert_eq!(status_of(&env.job(id)), "completed");
    }
    assert!(
        started(&small) <= started(&big[1]),
        "the small order waited"
    );
    let out = env.ok(&["queue", "limit", "default", "--clear"]);
    assert!(out.contains("limits of default: none"), "{out}");
}

/// `wjp submit --reference` keeps the shop's own text with the job.
#[test]
fn a_reference_is_kept_with_the_job() {
    let env = Env::new();
    let id = env.submit(&["noop", "--reference", "order 17 / plate A"]);
    assert_eq!(env.job(&id)["reference"], "order 17 / plate A");
    assert!(env
        .ok(&["status", &id])
        .contains("reference order 17 / plate A"));
    let err = env.fails(&["submit", "noop", "--reference", "two\nlines"]);
    assert!(err.contains("reference must be"), "{err}");
}

/// `wjp schedule add|list|remove`: checked at add, ticks made by a
/// running worker (the waits bound a hang), shown with the last job, and
/// stopped by removal.
#[test]
fn a_schedule_is_managed_from_the_command_line() {
    let env = Env::new();
    let err = env.fails(&["schedule", "add", "nightly", "noop", "--cron", "0 2 * * *"]);
    assert!(err.contains("six fields"), "{err}");
    let err = env.fails(&["schedule", "add", "nightly", "nope", "--every", "1s"]);
    assert!(err.contains("nope"), "{err}");
    let err = env.fails(&["schedule", "add", "nightly", "noop", "--every", "5 parsecs"]);
    assert!(err.contains("--every"), "{err}");
    // A bare number is no interval: seconds or minutes, it does not say.
    // Refused, as an unknown unit is, with the forms that are taken.
    for every in ["5", "5min"] {
        let err = env.fails(&["schedule", "add", "nightly", "noop", "--every", every]);
        assert!(
            err.contains(&format!("{every:?}")) && err.contains("30s, 5m, 2h or 1d"),
            "{err}"
        );
    }
    let err = env.fails(&["schedule", "add", "nightly", "noop"]);
    assert!(err.contains("--cron") && err.contains("--every"), "{err}");
    assert!(env.ok(&["schedule", "list"]).contains("no schedules"));

    let added = env.ok(&[
        "schedule",
        "add",
        "nightly",
        "noop",
        "--cron",
        "0 0 2 * * *",
        "--timezone",
        "Europe/Berlin",
        "--payload",
        r#"{"n": 1}"#,
    ]);
    assert!(added.contains("next run"), "{added}");
    env.ok(&[
        "schedule",
        "add",
        "tick",
        "noop",
        "--every",
        "1s",
        "--payload",
        "7",
    ]);
    let list = env.ok(&["schedule", "list"]);
    assert!(
        list.contains("nightly") && list.contains("Europe/Berlin"),
        "{list}"
    );

    let mut worker = env.spawn_worker(&["--queues", "default"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let last_job = loop {
        let all: Value =
            serde_json::from_str(&env.ok(&["schedule", "list", "--json"])).expect("list JSON");
        let tick = all
            .as_array()
            .and_then(|a| a.iter().find(|s| s["name"] == "tick"))
            .expect("tick listed")
            .clone();
        if let Some(id) = tick["last_job"].as_str() {
            break id.to_owned();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no tick made a job: {}",
            env.worker_log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(last_job.starts_with("sched:tick:"), "{last_job}");
    let job = env.wait_for(&last_job, Duration::from_secs(30), |j| {
        status_of(j) == "completed"
    });
    assert_eq!(job["payload"], 7);
    assert!(env.ok(&["schedule", "list"]).contains(&last_job));

    assert!(env
        .ok(&["schedule", "remove", "tick"])
        .contains("removed schedule tick"));
    let err = env.fails(&["schedule", "remove", "tick"]);
    assert!(err.contains("no schedule named tick"), "{err}");
    signal(&worker, "TERM");
    wait_exit(&mut worker, Duration::from_secs(30));
    assert!(!env.ok(&["schedule", "list"]).contains("tick"));
}

/// `wjp queue limit` sets a queue's limits, shows them, and clears them: a
/// burst worker takes only what the rate lets through, `wjp status` says
/// why the rest waits, `wjp info` shows the limits.
#[test]
fn queue_limits_are_steered_from_the_command_line() {
    let env = Env::new();
    let first = env.submit(&["noop", "--payload", "1"]);
    let second = env.submit(&["noop", "--payload", "2"]);
    let set = env.ok(&[
        "queue",
        "limit",
        "default",
        "--max-running",
        "2",
        "--rate",
        "1/m",
    ]);
    assert!(
        set.contains("limits of default: max 2 running, 1/m"),
        "{set}"
    );
    let kept = env.ok(&["queue", "limit", "default", "--max-running", "1"]);
    assert!(kept.contains("max 1 running, 1/m"), "{kept}");
    assert!(env
        .ok(&["queue", "limit", "default"])
        .contains("max 1 running, 1/m"));
    let err = env.fails(&["queue", "limit", "default", "--rate", "5/h"]);
    assert!(err.contains("N/s or N/m"), "{err}");
    let err = env.fails(&["queue", "limit", "cutting", "--max-running", "1"]);
    assert!(err.contains("cutting"), "{err}");
    let err = env.fails(&["queue", "limit", "default", "--clear", "--rate", "1/s"]);
    assert!(err.contains("--clear"), "{err}");

    env.ok(&["worker", "--burst", "--queues", "default"]);
    let (first, second_job) = (env.job(&first), env.job(&second));
    let statuses = [status_of(&first), status_of(&second_job)];
    assert_eq!(statuses, ["completed", "queued"], "one claim a minute");
    let text = env.ok(&["status", &second]);
    assert!(text.contains("rate limit of 1/m"), "{text}");
    assert!(env.ok(&["info"]).contains("limits: max 1 running, 1/m"));

    let cleared = env.ok(&["queue", "limit", "default", "--clear"]);
    assert!(cleared.contains("limits of default: none"), "{cleared}");
    env.ok(&["worker", "--burst", "--queues", "default"]);
    assert_eq!(status_of(&env.job(&second)), "completed");
}
