//! The backend down: async requests are served synchronously; graceful
//! shutdown hands running jobs back.

use serde_json::json;

use crate::support::{error_code, Options, Server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_backend_down_async_requests_run_synchronously() {
    let s = Server::start().await;
    let up = s.upload("part.dxf", b"0\nSECTION\n0\nEOF\n").await;
    let rel = up["relative_path"].as_str().unwrap().to_owned();

    s.backend.set_down(true);
    let (status, health) = s.get("/health").await;
    assert_eq!(status, 200);
    assert_eq!(health["status"], "degraded");

    // Answered like a sync request: the report, no job id.
    let (status, body) = s
        .post("/analyze-dxf?async_mode=true", json!({ "dxf_path": rel }))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], true, "{body}");
    assert_eq!(body["report"]["bytes"], 16);
    assert!(body.get("job_id").is_none(), "{body}");
    let (status, body) = s
        .post(
            &format!("/gcode?dxf_path={rel}&async_mode=true"),
            serde_json::Value::Null,
        )
        .await;
    assert_eq!(
        (status, body["success"].as_bool()),
        (200, Some(true)),
        "{body}"
    );
    assert!(body["result"]["gcode_for"].is_object(), "{body}");

    // The queue itself cannot be reached: 503, JSON.
    let (status, body) = s.post("/jobs", json!({ "kind": "noop" })).await;
    assert_eq!((status, error_code(&body)), (503, "backend_unavailable"));
    let r = s.client.get(s.url("/metrics")).send().await.unwrap();
    assert!(r.text().await.unwrap().contains("wjp_backend_up 0"));

    // Back up: async again.
    s.backend.set_down(false);
    let (_, health) = s.get("/health").await;
    assert_eq!(health["status"], "healthy");
    let (status, body) = s
        .post("/analyze-dxf?async_mode=true", json!({ "dxf_path": rel }))
        .await;
    assert_eq!(status, 200);
    let id = body["job_id"]
        .as_str()
        .expect("a job id once the backend is back");
    s.wait_completed(id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_hands_running_jobs_back_and_ends_event_streams() {
    let s = Server::with(Options {
        args: vec!["--workers".into(), "2".into()],
        ..Options::default()
    })
    .await;
    let (_, job) = s
        .post(
            "/jobs",
            json!({ "kind": "sleep", "payload": { "seconds": 120 } }),
        )
        .await;
    let id = job["job_id"].as_str().unwrap().to_owned();
    s.wait_job(&id, |j| j["status"] == "running").await;
    // An open event stream must not keep the server up.
    let stream = s.client.get(s.url("/events")).send().await.unwrap();
    assert_eq!(stream.status(), 200);

    let (result, _dir, queue) = s.stop().await;
    result.expect("serve returns cleanly");
    let job = queue
        .job(&wjp_queue::JobId::parse(&id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        job.status(),
        wjp_queue::Status::Queued,
        "handed back: {job:?}"
    );
    drop(stream);
}
