//! Live updates over Server-Sent Events.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{json, Value};

use crate::support::Server;

/// One SSE message: its id and its JSON data.
#[derive(Debug, Clone)]
struct Message {
    id: Option<String>,
    /// The `event:` field (absent: a plain `message`).
    event: Option<String>,
    /// The raw `data:` text, and the same as JSON.
    text: String,
    data: Value,
}

/// Reads SSE messages from a response, skipping keep-alive comments.
struct Reader {
    body: futures_util::stream::BoxStream<'static, reqwest::Result<axum::body::Bytes>>,
    buffer: String,
}

impl Reader {
    fn new(response: reqwest::Response) -> Reader {
        Reader {
            body: response.bytes_stream().boxed(),
            buffer: String::new(),
        }
    }

    /// The next message, or `None` when the stream ended. Waits at most a
    /// few minutes (a hang guard, not a timing assertion).
    async fn next(&mut self) -> Option<Message> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut id = None;
                let mut event = None;
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = Some(v.trim().to_owned());
                    } else if let Some(v) = line.strip_prefix("event:") {
                        event = Some(v.trim().to_owned());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if data.is_empty() {
                    continue; // a keep-alive comment
                }
                let json = serde_json::from_str(&data).expect("SSE data is JSON");
                return Some(Message {
                    id,
                    event,
                    text: data,
                    data: json,
                });
            }
            let chunk = tokio::time::timeout(Duration::from_secs(180), self.body.next())
                .await
                .expect("the event stream stalled");
            match chunk {
                Some(Ok(bytes)) => self.buffer.push_str(&String::from_utf8_lossy(&bytes)),
                Some(Err(e)) => panic!("event stream failed: {e}"),
                None => return None,
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_stream_shows_progress_and_ends_with_the_job() {
    let s = Server::start().await;
    let (status, job) = s
        .post(
            "/jobs",
            json!({ "kind": "sleep", "payload": { "seconds": 2 } }),
        )
        .await;
    assert_eq!(status, 201);
    let id = job["job_id"].as_str().unwrap().to_owned();
    let r = s
        .client
        .get(s.url(&format!("/jobs/{id}/events")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let mut reader = Reader::new(r);
    let mut messages = Vec::new();
    while let Some(m) = reader.next().await {
        assert_eq!(m.data["job_id"], id.as_str());
        messages.push(m);
    }
    // A snapshot first, then what happened, ending with completion.
    assert!(messages.len() >= 3, "{messages:?}");
    let last = &messages.last().unwrap().data;
    assert_eq!(last["status"], "completed", "{messages:?}");
    let progress: Vec<f64> = messages
        .iter()
        .filter(|m| m.data["status"] == "running")
        .filter_map(|m| m.data["progress"].as_f64())
        .filter(|p| *p > 0.0 && *p < 1.0)
        .collect();
    assert!(
        !progress.is_empty(),
        "no progress while running: {messages:?}"
    );
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "{progress:?}");
    assert!(
        messages.iter().skip(1).all(|m| m.id.is_some()),
        "{messages:?}"
    );

    // A stream opened on an ended job is its snapshot alone.
    let r = s
        .client
        .get(s.url(&format!("/jobs/{id}/events")))
        .send()
        .await
        .unwrap();
    let mut reader = Reader::new(r);
    let only = reader.next().await.unwrap();
    assert_eq!(only.data["status"], "completed");
    assert!(reader.next().await.is_none());

    // Resuming after the job's last event: its final state, then the end.
    let last_id = messages.last().unwrap().id.clone().unwrap();
    let r = s
        .client
        .get(s.url(&format!("/jobs/{id}/events")))
        .header("Last-Event-ID", &last_id)
        .send()
        .await
        .unwrap();
    let mut reader = Reader::new(r);
    let only = reader.next().await.unwrap();
    assert_eq!(only.data["status"], "completed");
    assert!(reader.next().await.is_none());

    let (status, body) = s.get("/jobs/unknown/events").await;
    assert_eq!(status, 404, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_global_stream_resumes_after_last_event_id() {
    let s = Server::with(crate::support::Options {
        workers: false,
        ..Default::default()
    })
    .await;
    let r = s.client.get(s.url("/events")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let mut reader = Reader::new(r);
    let mut ids = Vec::new();
    for i in 0..3 {
        let (_, job) = s
            .post("/jobs", json!({ "kind": "noop", "payload": { "i": i } }))
            .await;
        ids.push(job["job_id"].as_str().unwrap().to_owned());
    }
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(reader.next().await.unwrap());
    }
    let got: Vec<_> = seen
        .iter()
        .map(|m| m.data["job_id"].as_str().unwrap())
        .collect();
    assert_eq!(got, ids, "every new job's event, in order");
    assert!(seen.iter().all(|m| m.data["status"] == "queued"));
    drop(reader);

    // Reconnect after the first: the second and third come again.
    let first = seen[0].id.clone().unwrap();
    let r = s
        .client
        .get(s.url("/events"))
        .header("Last-Event-ID", &first)
        .send()
        .await
        .unwrap();
    let mut reader = Reader::new(r);
    let again = reader.next().await.unwrap();
    assert_eq!(again.id, seen[1].id);
    assert_eq!(again.data["job_id"], ids[1].as_str());
    let again = reader.next().await.unwrap();
    assert_eq!(again.data["job_id"], ids[2].as_str());

    // A queue filter leaves the others out.
    let r = s
        .client
        .get(s.url("/events?queue=gcode"))
        .send()
        .await
        .unwrap();
    let mut reader = Reader::new(r);
    s.post("/jobs", json!({ "kind": "noop" })).await;
    let (_, g) = s
        .post("/jobs", json!({ "kind": "noop", "queue": "gcode" }))
        .await;
    let m = reader.next().await.unwrap();
    assert_eq!(m.data["job_id"], g["job_id"]);
    assert_eq!(m.data["queue"], "gcode");
}

#[tokio::test]
async fn a_bad_event_id_is_refused_before_the_stream_starts() {
    let s = Server::start().await;
    for path in ["/events", "/jobs/some-job/events"] {
        let r = s
            .client
            .get(s.url(path))
            .header("Last-Event-ID", "__main__")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{path}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["success"], false);
        assert_eq!(body["code"], "invalid_request", "{body}");
        assert!(
            body["error"].as_str().unwrap().contains("__main__"),
            "{body}"
        );
    }
}

/// The stream's messages, checked against what the API publishes for them
/// in /openapi.json: each message (event name, data, id) against the
/// stream's schema, and its data against the schema the message names for
/// it. The fuzzer checks the same, but only on the few streams it happens
/// to open; here a job's whole life goes through both endpoints.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_messages_match_the_published_schema() {
    let s = Server::start().await;
    let (status, doc) = s.get("/openapi.json").await;
    assert_eq!(status, 200);
    let mut message_schema = None;
    for path in ["/events", "/jobs/{job_id}/events"] {
        let schema = &doc["paths"][path]["get"]["responses"]["200"]["content"]["text/event-stream"]
            ["schema"];
        assert!(schema.is_object(), "{path} documents no stream schema");
        assert!(
            message_schema.get_or_insert(schema.clone()) == schema,
            "the two streams differ"
        );
    }
    // A reference resolves against the whole document: validate with the
    // document's components beside the schema.
    let validator = |schema: &Value| {
        let mut schema = schema.clone();
        schema["components"] = doc["components"].clone();
        jsonschema::draft202012::options()
            .should_validate_formats(true)
            .build(&schema)
            .expect("a valid JSON Schema")
    };
    let message = validator(&message_schema.unwrap());
    // The schema the stream's plain messages give their JSON data.
    let message_ref = doc["paths"]["/events"]["get"]["responses"]["200"]["content"]
        ["text/event-stream"]["schema"]["$ref"]
        .as_str()
        .expect("the stream schema is a component")
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let branches = doc["components"]["schemas"][&message_ref]["oneOf"]
        .as_array()
        .expect("message kinds");
    let data_schema = branches
        .iter()
        .find(|b| b["properties"]["event"]["const"] == "message")
        .map(|b| b["properties"]["data"].clone())
        .expect("a schema for plain messages");
    assert_eq!(data_schema["contentMediaType"], "application/json");
    let data = validator(&data_schema["contentSchema"]);
    // Neither accepts anything.
    assert!(!message.is_valid(&json!({ "event": "message", "data": 1 })));
    assert!(!data.is_valid(&json!({ "job_id": 1 })));
    assert!(!data.is_valid(&json!({})));

    let r = s.client.get(s.url("/events")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let mut global = Reader::new(r);
    let (status, job) = s
        .post(
            "/jobs",
            json!({ "kind": "sleep", "payload": { "seconds": 1 } }),
        )
        .await;
    assert_eq!(status, 201, "{job}");
    let id = job["job_id"].as_str().unwrap().to_owned();
    let r = s
        .client
        .get(s.url(&format!("/jobs/{id}/events")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut one = Reader::new(r);
    let mut messages = Vec::new();
    while let Some(m) = one.next().await {
        messages.push(m);
    }
    loop {
        let m = global.next().await.expect("the global stream ended");
        let done = m.data["job_id"] == id.as_str() && m.data["status"] == "completed";
        messages.push(m);
        if done {
            break;
        }
    }
    let statuses: Vec<&str> = messages
        .iter()
        .filter_map(|m| m.data["status"].as_str())
        .collect();
    for wanted in ["queued", "running", "completed"] {
        assert!(
            statuses.contains(&wanted),
            "no {wanted} event: {statuses:?}"
        );
    }
    let problems = |v: &jsonschema::Validator, instance: &Value| -> Vec<String> {
        v.iter_errors(instance)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect()
    };
    for m in &messages {
        // The message as an SSE parser hands it over.
        let mut parsed = json!({
            "event": m.event.as_deref().unwrap_or("message"),
            "data": m.text,
        });
        if let Some(sse_id) = &m.id {
            parsed["id"] = json!(sse_id);
            assert_eq!(m.data["id"], sse_id.as_str(), "{m:?}");
        }
        let wrong = problems(&message, &parsed);
        assert!(wrong.is_empty(), "{parsed}: {wrong:?}");
        let wrong = problems(&data, &m.data);
        assert!(wrong.is_empty(), "{}: {wrong:?}", m.data);
    }
}
