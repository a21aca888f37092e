//! The OpenAPI 3.1 document served at `/openapi.json`, written by hand and
//! checked by a test against the router's routes (every route documented,
//! nothing documented that does not exist).

use serde_json::{json, Value};

/// Every documented (method, path), in the router's path syntax.
pub const OPERATIONS: [(&str, &str); 41] = [
    ("get", "/health"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
    ("post", "/analyze-dxf"),
    ("post", "/cost"),
    ("post", "/convert-image"),
    ("post", "/csv/ai-analysis"),
    ("post", "/upload"),
    ("post", "/nest"),
    ("post", "/gcode"),
    ("post", "/export/components-csv"),
    ("post", "/export/layered-dxf"),
    ("get", "/files/{folder}/{name}"),
    ("post", "/jobs"),
    ("get", "/jobs"),
    ("post", "/flows"),
    ("get", "/jobs/{job_id}"),
    ("post", "/jobs/{job_id}/cancel"),
    ("post", "/jobs/{job_id}/retry"),
    ("get", "/jobs/{job_id}/artifacts/{name}"),
    ("get", "/jobs/{job_id}/events"),
    ("get", "/events"),
    ("get", "/ws/jobs/{job_id}"),
    ("get", "/ws"),
    ("get", "/queues"),
    ("post", "/queues/{queue}/pause"),
    ("post", "/queues/{queue}/resume"),
    ("post", "/queues/{queue}/retry-failed"),
    ("put", "/queues/{queue}/limits"),
    ("get", "/workers"),
    ("get", "/materials"),
    ("get", "/schedules"),
    ("put", "/schedules/{name}"),
    ("delete", "/schedules/{name}"),
    ("get", "/remnants"),
    ("post", "/remnants"),
    ("delete", "/remnants/{id}"),
    ("get", "/history"),
    ("post", "/jobs/{job_id}/rerun"),
    ("post", "/bulk/cancel"),
    ("post", "/bulk/retry"),
];

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn json_content(schema: Value) -> Value {
    json!({ "application/json": { "schema": schema } })
}

fn ok_json(description: &str, schema: Value) -> Value {
    json!({ "description": description, "content": json_content(schema) })
}

/// What can be done with the job a response returns: links let tools
/// (and stateful fuzzing) follow a new job through the other endpoints.
fn with_job_links(mut response: Value) -> Value {
    let link = |operation: &str| json!({ "operationId": operation, "parameters": { "job_id": "$response.body#/job_id" } });
    response["links"] = json!({
        "GetJob": link("getJob"),
        "JobEvents": link("jobEvents"),
        "CancelJob": link("cancelJob"),
        "RetryJob": link("retryJob"),
    });
    response
}

fn error(description: &str) -> Value {
    ok_json(description, schema_ref("Error"))
}

fn query(name: &str, required: bool, schema: Value, description: &str) -> Value {
    json!({ "name": name, "in": "query", "required": required, "schema": schema, "description": description })
}

fn path_param(name: &str, description: &str) -> Value {
    json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" }, "description": description })
}

/// `units`: the drawing's units when its header is wrong. G-code and
/// nesting refuse a drawing whose size is implausible in its declared units
/// until this is given.
fn units() -> Value {
    query(
        "units",
        false,
        json!({ "type": "string", "enum": ["mm", "cm", "m", "in", "ft"] }),
        "The drawing's units, overriding its $INSUNITS header. A drawing whose size is implausible in its declared units is not cut or nested (the job fails, naming the units to give) until this is set.",
    )
}

fn async_mode() -> Value {
    query(
        "async_mode",
        false,
        // Forms send an empty value for "off", and the old service took
        // the usual spellings of a yes or no (in any case).
        json!({ "anyOf": [{ "type": "boolean" }, { "type": "string", "enum": ["", "0", "1", "yes", "no", "on", "off"] }], "default": false }),
        "Enqueue the job and answer its id instead of waiting for the result. When the queue backend is unreachable the request runs synchronously and is answered like a sync one.",
    )
}

/// The responses every domain endpoint can give besides its success.
fn domain_errors(mut responses: Value) -> Value {
    let extra = json!({
        "400": error("Invalid request, refused before any job exists, with the same codes at every endpoint and on POST /jobs: unknown_field (a body, form or query field the endpoint does not know; the message names the closest known one), out_of_range (the message names the bounds), invalid_value (wrong type, or not one of the allowed values, which the message lists), missing_field, invalid_json, path_outside_managed_folders, invalid_key (a name with %, #, a backslash, a control character, a hidden or empty segment, or over 512 bytes), field_not_allowed (protective limits, output locations)."),
        "401": error("The API key is missing or wrong (only when one is configured)."),
        "404": error("The file named by dxf_path does not exist."),
        "429": error("With async_mode=true: the queue holds as many waiting jobs as the server allows."),
        "501": error("This build has no handler for the endpoint's job kind yet."),
        "503": error("Every slot for synchronous work is taken (Retry-After says when to try again), or the queue backend is unreachable."),
    });
    if let (Some(r), Some(e)) = (responses.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            r.entry(k.clone()).or_insert(v.clone());
        }
    }
    responses
}

fn multipart(field: &str, description: &str) -> Value {
    json!({
        "required": true,
        "content": { "multipart/form-data": { "schema": {
            "type": "object",
            "required": [field],
            "additionalProperties": false,
            "properties": { field: { "type": "string", "format": "binary", "description": description } }
        } } }
    })
}

fn op(
    id: &str,
    tag: &str,
    summary: &str,
    parameters: Value,
    body: Option<Value>,
    responses: Value,
) -> Value {
    let mut op = json!({
        "operationId": id,
        "tags": [tag],
        "summary": summary,
        "parameters": parameters,
        "responses": responses,
    });
    if let Some(body) = body {
        // Every JSON body goes through the same extractor and limit.
        if body["content"]["application/json"].is_object() {
            for (status, description) in [
                (
                    "413",
                    "The JSON body is larger than the limit (default 5 MB).",
                ),
                (
                    "415",
                    "The body is not sent as Content-Type: application/json.",
                ),
            ] {
                if op["responses"][status].is_null() {
                    op["responses"][status] = error(description);
                }
            }
        }
        op["requestBody"] = body;
    }
    op
}

/// The `Range` header of a download.
fn range_header() -> Value {
    json!({ "name": "Range", "in": "header", "required": false, "schema": { "type": "string" },
            "description": "One byte range (bytes=START-END, bytes=START-, bytes=-LAST); other forms are ignored and the whole file is sent." })
}

/// The answers of a download of a stored file.
fn file_download_responses(bad: &str, missing: &str) -> Value {
    let binary = json!({ "application/octet-stream": { "schema": { "type": "string", "format": "binary" } } });
    json!({ "200": { "description": "The file, with Content-Disposition and Accept-Ranges.", "content": binary.clone() },
            "206": { "description": "The byte range asked for, with Content-Range.", "content": binary },
            "400": error(bad), "401": error("API key missing or wrong."), "404": error(missing),
            "416": error("A range outside the file; Content-Range gives its size."),
            "503": error("The artefact store does not answer; try again (Retry-After).") })
}

fn file_responses(media: &str, description: &str) -> Value {
    domain_errors(json!({
        "200": {
            "description": format!("{description} (or, with async_mode=true, the queued job)"),
            "content": {
                media: { "schema": { "type": "string", "format": "binary" } },
                "application/json": { "schema": schema_ref("QueuedFile") }
            }
        },
        "413": error("The upload is larger than the limit."),
        "422": error("The job ran and failed."),
    }))
}

/// An event stream. Under OpenAPI 3.1 a `text/event-stream` schema
/// describes one message as an SSE parser hands it over (`event`, `data`,
/// `id`); the JSON inside `data` is described with `contentMediaType` and
/// `contentSchema`, which schema-driven fuzzers check message by message.
fn sse(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "text/event-stream": { "schema": schema_ref("EventMessage") } }
    })
}

/// The answers of a WebSocket endpoint besides its refusals: 101 with a
/// socket, or 426 to a plain GET (a fuzzer or a browser's address bar
/// sends no upgrade headers; they are not parameters, since a client
/// library sets them itself).
fn websocket(description: &str) -> Value {
    json!({
        "101": { "description": format!("{description} The connection becomes a WebSocket: each text message is one JobEvent (its `id` is the cursor to resume after), or an Error before a close 1008 when the resume point is no longer known. Closes 1000 when a followed job ended, 1001 on server shutdown. Pings every 15 s; a client that answers none, or reads nothing for --write-stall-timeout-secs, is disconnected.") },
        "403": error("A browser page of an origin that is not the server's own nor one of --cors-origin."),
        "426": { "description": "A plain GET, without the WebSocket upgrade headers.",
                 "headers": { "Upgrade": { "schema": { "type": "string", "const": "websocket" } } },
                 "content": json_content(schema_ref("Error")) },
    })
}

/// `GET /history`, apart: one `json!` of every path passes the macro's
/// recursion limit.
/// The remnant inventory's endpoints.
fn remnant_paths() -> Value {
    let mut id = path_param(
        "id",
        "A remnant's id (r and 32 hex digits, as GET /remnants lists it).",
    );
    id["schema"]["pattern"] = json!("^[A-Za-z0-9_-]{1,64}$");
    json!({
        "/remnants": {
            "get": op("listRemnants", "remnants", "Every remnant of the inventory, oldest first: its size, material and thickness when known, the nest and sheet that left it, and the nest holding it now if one does.",
                json!([]), None,
                json!({ "200": ok_json("The inventory.", json!({ "type": "object", "required": ["success", "count", "remnants"], "properties": {
                    "success": { "type": "boolean" }, "count": { "type": "integer", "minimum": 0 },
                    "remnants": { "type": "array", "items": schema_ref("Remnant") } } })),
                    "401": error("API key missing or wrong."), "503": error("The queue backend is unreachable.") })),
            "post": op("addRemnant", "remnants", "Add a remnant to the inventory (a piece of sheet on the rack): later nests of the same material and thickness use it before full sheets.",
                json!([]), Some(json!({ "required": true, "content": json_content(schema_ref("NewRemnant")) })),
                json!({ "200": ok_json("The remnant as stored, with its id.", json!({ "type": "object", "required": ["success", "remnant"], "properties": {
                    "success": { "type": "boolean" }, "remnant": schema_ref("Remnant") } })),
                    "400": error("A size or thickness out of range, a material the shop does not have, or an unknown field."),
                    "409": error("The inventory holds as many remnants as it may (code remnant_inventory_full)."),
                    "401": error("API key missing or wrong."), "503": error("The queue backend is unreachable.") })) },
        "/remnants/{id}": {
            "delete": op("deleteRemnant", "remnants", "Remove a remnant from the inventory (cut, scrapped or lost), held by a nest or not.",
                json!([id]), None,
                json!({ "200": ok_json("Removed.", json!({ "type": "object", "required": ["success", "id", "removed"], "properties": {
                    "success": { "type": "boolean" }, "id": { "type": "string" }, "removed": { "type": "boolean" } } })),
                    "404": error("No such remnant (code remnant_not_found)."),
                    "401": error("API key missing or wrong."), "503": error("The queue backend is unreachable.") })) },
    })
}

fn remnant_schemas() -> Value {
    let side = json!({ "type": "number", "exclusiveMinimum": 0, "maximum": crate::remnants::MAX_SIDE_MM, "description": "mm" });
    json!({
        "NewRemnant": { "type": "object", "additionalProperties": false, "required": ["width", "height"], "properties": {
            "width": side, "height": side,
            "material": { "type": ["string", "null"], "minLength": 1, "maxLength": crate::remnants::MAX_MATERIAL_CHARS,
                "description": "A material of the shop's table or an alias (GET /materials), stored under the table's name; another is refused with 400 invalid_value naming the nearest. A nest uses only remnants whose material and thickness agree with its own (an alias or another spelling of the same material agrees), absent with absent." },
            "thickness": { "type": ["number", "null"], "exclusiveMinimum": 0, "maximum": crate::remnants::MAX_THICKNESS_MM, "description": "mm" } } },
        "Remnant": { "type": "object", "required": ["id", "width", "height", "created_at"], "properties": {
            "id": { "type": "string" }, "width": { "type": "number" }, "height": { "type": "number" },
            "material": { "type": ["string", "null"] }, "thickness": { "type": ["number", "null"] },
            "source_job": { "type": ["string", "null"], "description": "The nest that left it; null when added by hand." },
            "source_sheet": { "type": ["integer", "null"], "description": "Its sheet in that nest's result." },
            "created_at": { "type": "string", "format": "date-time" },
            "held_by": { "type": ["string", "null"], "description": "GET /remnants: the nest job holding it now." },
            "held_until": { "type": ["string", "null"], "format": "date-time" } } },
    })
}

fn history_paths() -> Value {
    let text = |name: &str, description: &str| json!({ "name": name, "in": "query", "required": false, "description": description, "schema": { "type": "string", "maxLength": 200 } });
    let outcomes: Vec<&str> = wjp_queue::audit::Outcome::ALL
        .iter()
        .map(|o| o.as_str())
        .collect();
    let parameters = json!([
        text("since", "Entries at or after this date (2026-12-04, UTC) or RFC 3339 time."),
        text("until", "Entries before this RFC 3339 time, or up to the end of this date; a page's next_until goes here for the next page."),
        text("kind", "Only jobs of this kind."),
        text("queue", "Only this queue."),
        text("job", "Only this job (its id)."),
        text("reference", "Only jobs whose reference holds this text (any case)."),
        { "name": "outcome", "in": "query", "required": false, "schema": { "type": "string", "enum": outcomes } },
        { "name": "limit", "in": "query", "required": false, "description": "Entries per JSON page (default 100).", "schema": { "type": "integer", "minimum": 1, "maximum": wjp_queue::audit::MAX_PAGE } },
        { "name": "format", "in": "query", "required": false, "description": "json (a page) or csv (the whole range, at most 100,000 rows; formula-like cells start with an apostrophe).", "schema": { "type": "string", "enum": ["json", "csv"] } },
    ]);
    json!({ "/history": { "get": op("history", "history",
        "The audit log, newest first: each job's submission (who, when, options) and each attempt's end (worker, outcome, error), kept 90 days (--history-days) after the job's record expired. A page looks at no more than 100,000 entries; next_until says where to go on.",
        parameters, None,
        json!({ "200": {
                "description": "A page of entries (JSON), or the range as CSV.",
                "content": {
                    "application/json": { "schema": { "type": "object", "required": ["success", "entries", "next_until"], "properties": {
                        "success": { "type": "boolean" },
                        "entries": { "type": "array", "items": schema_ref("AuditEntry") },
                        "next_until": { "type": ["string", "null"], "format": "date-time", "description": "Pass as until for the next page; null on the last." } } } },
                    "text/csv": { "schema": { "type": "string" } } } },
                "400": error("A name unknown, a time that does not parse, since not before until, a limit out of range."),
                "401": error("API key missing or wrong."), "503": error("The queue backend is unreachable.") })) } })
}

/// The steering endpoints, apart (the macro's recursion limit).
fn steering_paths() -> Value {
    let job_id = json!({ "name": "job_id", "in": "path", "required": true, "schema": { "type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,128}$" } });
    let ids = json!({ "type": ["array", "null"], "minItems": 1, "maxItems": crate::steering::MAX_BULK_IDS, "items": { "type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,128}$" } });
    let common = |extra: Value| {
        merged(
            json!({ "401": error("API key missing or wrong."), "503": error("The queue backend is unreachable.") }),
            extra,
        )
    };
    json!({
        "/jobs/{job_id}/rerun": { "post": op("rerunJob", "queue",
            "Run a job again as a new job with some options changed (material, thickness, quality, units, kerf, sheet size, ...): the same kind, queue, priority, attempts and timeout, the payload's fields replaced by those given (null removes one), checked as POST /jobs checks a payload. The history records it as a re-run of the old job.",
            json!([job_id]),
            Some(json!({ "required": true, "content": json_content(json!({ "type": "object", "additionalProperties": false, "properties": {
                "payload": { "type": "object", "description": "Fields that replace the old payload's." },
                "reference": { "type": ["string", "null"], "minLength": 1, "maxLength": 200, "description": "The new job's reference (default, or null: the old one's)." } } })) })),
            common(json!({ "201": with_job_links(ok_json("The new job.", schema_ref("Job"))),
                "400": error("A field unknown or out of range, a path outside the managed folders (the checks of POST /jobs)."),
                "404": error("No such job (it never existed, or its record expired)."),
                "429": error("The queue is full."), "501": error("A shop job kind this build cannot run yet.") }))) },
        "/bulk/cancel": { "post": op("bulkCancel", "queue",
            "Cancel many jobs: those named by ids, or every waiting (queued or scheduled) job of a queue, up to 10,000. Running ones are told to stop.",
            json!([]),
            Some(json!({ "required": true, "content": json_content(json!({ "type": "object", "additionalProperties": false, "properties": {
                "ids": ids.clone(), "queue": { "type": ["string", "null"], "description": "A queue whose waiting jobs to cancel; null or absent when ids are given." } } })) })),
            common(json!({ "200": ok_json("What became of them.", json!({ "type": "object", "required": ["success", "cancelled", "requested", "already_ended", "not_found"], "properties": {
                    "success": { "type": "boolean" }, "cancelled": { "type": "integer" }, "requested": { "type": "integer" },
                    "already_ended": { "type": "integer" }, "not_found": { "type": "array", "items": { "type": "string" } } } })),
                "400": error("Neither or both of ids and queue, too many ids, an id that cannot exist."),
                "404": error("No such queue (code unknown_queue).") }))) },
        "/bulk/retry": { "post": op("bulkRetry", "queue",
            "Run many failed or cancelled jobs again, each with all its attempts; the others are listed with why.",
            json!([]),
            Some(json!({ "required": true, "content": json_content(json!({ "type": "object", "additionalProperties": false, "required": ["ids"], "properties": { "ids": ids } })) })),
            common(json!({ "200": ok_json("How many run again, and those refused.", json!({ "type": "object", "required": ["success", "retried", "refused"], "properties": {
                    "success": { "type": "boolean" }, "retried": { "type": "integer" }, "refused": { "type": "array", "items": { "type": "object" } } } })),
                "400": error("No ids, too many, or an id that cannot exist.") }))) },
    })
}

/// The schema of an audit entry.
fn history_schemas() -> Value {
    let nullable = |t: &str| json!({ "type": [t, "null"] });
    let time = json!({ "type": ["string", "null"], "format": "date-time" });
    json!({ "AuditEntry": { "type": "object",
        "required": ["at", "job_id", "queue", "kind", "outcome", "attempt", "stalls"],
        "properties": {
            "at": { "type": "string", "format": "date-time" },
            "job_id": { "type": "string" }, "queue": { "type": "string" }, "kind": { "type": "string" },
            "outcome": { "type": "string", "enum": wjp_queue::audit::Outcome::ALL.iter().map(|o| o.as_str()).collect::<Vec<_>>() },
            "reference": nullable("string"),
            "attempt": { "type": "integer", "minimum": 0 },
            "worker": nullable("string"), "started_at": time,
            "error_kind": nullable("string"), "message": nullable("string"),
            "stalls": { "type": "integer", "minimum": 0 },
            "origin": { "type": ["string", "null"], "description": "Submissions: who asked (the API key's fingerprint, the client's address, cli, a schedule)." },
            "options": { "type": ["object", "null"], "description": "Submissions: the payload's top-level options, text cut, lists counted, secrets left out." } } } })
}

/// Responses of both maps merged (the second's win).
fn merged(mut a: Value, b: Value) -> Value {
    if let (Some(a), Value::Object(b)) = (a.as_object_mut(), b) {
        a.extend(b);
    }
    a
}

/// The answer of `GET /materials`.
fn materials_schema() -> Value {
    let material = json!({ "type": "object", "required": ["name", "aliases", "thickness_range_mm"], "properties": {
        "name": { "type": "string" },
        "aliases": { "type": "array", "items": { "type": "string" } },
        "thickness_range_mm": { "type": ["array", "null"], "items": { "type": "number" }, "minItems": 2, "maxItems": 2 } } });
    json!({ "type": "object", "required": ["success", "materials"], "properties": {
        "success": { "type": "boolean" },
        "materials": { "type": "array", "items": material } } })
}

pub fn document() -> Value {
    let last_event_id = json!([
        { "name": "Last-Event-ID", "in": "header", "required": false, "schema": { "type": "string" },
          "description": "Resume right after this event id." },
        query("last_event_id", false, json!({ "type": "string" }), "Same as the Last-Event-ID header.")
    ]);
    let job_id = path_param("job_id", "The job's id.");
    let mut schedule_name = path_param(
        "name",
        "A schedule's name (1 to 64 lowercase letters, digits or '_').",
    );
    schedule_name["schema"]["pattern"] = json!("^[a-z0-9_]{1,64}$");
    let queue_name = path_param(
        "queue",
        "A queue's name (default, analysis, conversion, nesting, gcode).",
    );
    let paths = json!({
        "/health": { "get": op("health", "operations", "Service health; degraded when the queue backend or the artefact store does not answer. Never needs the API key.", json!([]), None,
            json!({ "200": ok_json("Health.", schema_ref("Health")) })) },
        "/metrics": { "get": op("metrics", "operations", "Prometheus metrics: HTTP requests and latencies, jobs by queue and status.", json!([]), None,
            json!({ "200": { "description": "Prometheus text format 0.0.4.", "content": { "text/plain": { "schema": { "type": "string" } } } },
                     "401": error("API key missing or wrong.") })) },
        "/openapi.json": { "get": op("openapi", "operations", "This document.", json!([]), None,
            json!({ "200": ok_json("The OpenAPI document.", json!({ "type": "object" })), "401": error("API key missing or wrong.") })) },
        "/analyze-dxf": { "post": op("analyzeDxf", "shop", "Analyse a DXF drawing (job kind analyze_dxf).", json!([async_mode()]),
            Some(json!({ "required": true, "content": json_content(schema_ref("AnalyzeRequest")) })),
            domain_errors(json!({ "200": ok_json("The report, the queued job, or the failure ({success: false, error, code}).",
                json!({ "oneOf": [schema_ref("AnalysisResult"), schema_ref("Queued"), schema_ref("Error")] })) }))) },
        "/cost": { "post": op("cost", "shop", "Cost of cutting a DXF drawing (job kind calculate_cost).", json!([async_mode()]),
            Some(json!({ "required": true, "content": json_content(schema_ref("CostRequest")) })),
            domain_errors(json!({ "200": ok_json("{success, cost, error}, or the queued job.",
                json!({ "oneOf": [schema_ref("CostResult"), schema_ref("Queued")] })) }))) },
        "/convert-image": { "post": op("convertImage", "shop", "Convert an image to a DXF drawing (job kind convert_image).",
            json!([query("min_area", false, json!({ "type": "number", "minimum": 0 }), "Smallest contour area kept, in pixels."),
                   query("threshold", false, json!({ "type": "integer", "minimum": 0, "maximum": 255 }), "Grey level separating shapes from background (default: Otsu's)."),
                   query("size_mm", false, json!({ "type": "number", "exclusiveMinimum": 0, "maximum": 1000000 }), "Size of the drawing's longer side in millimetres (aspect ratio kept); not with pixel_size_mm."),
                   query("pixel_size_mm", false, json!({ "type": "number", "exclusiveMinimum": 0, "maximum": 1000 }), "Millimetres per pixel (default 1); not with size_mm. Also accepted as mm_per_px."), async_mode()]),
            Some(multipart("image_file", "The image.")), file_responses("application/dxf", "The DXF file")) },
        "/csv/ai-analysis": { "post": op("csvAnalysis", "shop", "Analyse a components CSV export (job kind analyze_csv).",
            json!([json!({ "name": "report", "in": "query", "required": false, "description": "The analysis report, as JSON text.",
                     "content": { "application/json": { "schema": { "type": "object" } } } }), async_mode()]),
            Some(multipart("csv_file", "The CSV file.")),
            domain_errors(json!({ "200": ok_json("The CSV analysis object, the queued job, or the failure.", json!({ "type": "object" })),
                                  "413": error("The upload is larger than the limit.") }))) },
        "/upload": { "post": op("upload", "shop", "Store a file in the uploads folder under a sanitised unique name.", json!([]),
            Some(multipart("file", "The file.")),
            json!({ "200": ok_json("The stored file.", schema_ref("Upload")),
                    "400": error("No `file` field."), "401": error("API key missing or wrong."),
                    "413": error("The upload is larger than the limit (default 50 MB).") })) },
        "/nest": { "post": op("nest", "shop", "Nest the parts of a drawing on a sheet (job kind nest).",
            json!([query("dxf_path", true, json!({ "type": "string", "minLength": 1 }), "A file of the store by key (uploads/…, data/…, output/…); other relative names are taken in uploads."),
                   query("sheet_width", true, json!({ "type": "number", "exclusiveMinimum": 0, "maximum": 100000 }), "mm"),
                   query("sheet_height", true, json!({ "type": "number", "exclusiveMinimum": 0, "maximum": 100000 }), "mm"),
                   query("gap", false, json!({ "type": "number", "minimum": 0, "maximum": 500, "default": 3.0 }), "mm between parts and to the sheet's edge; at least the kerf."),
                   query("kerf", false, json!({ "type": "number", "minimum": 0, "exclusiveMaximum": 20, "default": 1.1 }), "mm; 0 when the gap already includes it."),
                   query("time_limit_s", false, json!({ "type": "number", "minimum": 0, "maximum": 86400, "default": 10 }), "Seconds to spend improving the layout."),
                   query("threads", false, json!({ "type": "integer", "minimum": 1, "maximum": 16, "default": 1 }), "Searches to run side by side, one per core (at most the machine's cores run); the best layout is kept."),
                   query("allow_partial", false, json!({ "type": "boolean", "default": false }), "Succeed with a partial layout; by default a nesting that leaves parts out answers success: false naming them."),
                   query("use_remnants", false, json!({ "type": "boolean", "default": true }), "Place parts on matching remnants of the inventory (GET /remnants) before full sheets; the result's remnants_used names them."),
                   units(), async_mode()]),
            None, domain_errors(json!({ "200": ok_json("{success, result}, the queued job, or the failure.",
                json!({ "oneOf": [schema_ref("Result"), schema_ref("Queued"), schema_ref("Error")] })) }))) },
        "/gcode": { "post": op("gcode", "shop", "Generate G-code for a drawing (job kind generate_gcode).",
            json!([query("dxf_path", true, json!({ "type": "string", "minLength": 1 }), "A file of the store by key (uploads/…, data/…, output/…); other relative names are taken in uploads."),
                   query("material", false, json!({ "type": "string", "default": "steel" }), "A material of the table, or an alias (mild_steel or steel, stainless_steel, aluminium, brass, copper, titanium, granite, glass, marble...); another is refused with 400 invalid_value listing them."),
                   query("thickness", false, json!({ "type": "number", "exclusiveMinimum": 0, "maximum": 500, "default": crate::shop::DEFAULT_THICKNESS_MM }), "mm. Required for a material the shop cuts only in a thickness range that leaves out the default (400 missing_field naming the range)."),
                   query("kerf", false, json!({ "type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 20, "default": 1.1 }), "mm"),
                   query("quality", false, json!({ "type": "integer", "minimum": 1, "maximum": 5, "default": 3 }), "1 (rough separation) to 5 (finest)."),
                   query("dialect", false, json!({ "type": "string", "default": "linuxcnc" }), "linuxcnc or fanuc (case-insensitive); another is refused with 400 invalid_value."),
                   units(), async_mode()]),
            None, domain_errors(json!({ "200": ok_json("{success, result}, the queued job, or the failure.",
                json!({ "oneOf": [schema_ref("Result"), schema_ref("Queued"), schema_ref("Error")] })) }))) },
        "/export/components-csv": { "post": op("exportComponentsCsv", "shop", "Export the components of an analysis report as CSV (job kind export_components_csv).",
            json!([query("output_filename", false, json!({ "type": "string" }), "Name of the file (sanitised, made unique)."), async_mode()]),
            Some(json!({ "required": true, "content": json_content(json!({ "type": "object", "description": "An analysis report." })) })),
            file_responses("text/csv", "The CSV file")) },
        "/export/layered-dxf": { "post": op("exportLayeredDxf", "shop", "Export an analysis report as a layered DXF (job kind export_layered_dxf).",
            json!([query("output_filename", false, json!({ "type": "string" }), "Name of the file (sanitised, made unique)."), async_mode()]),
            Some(json!({ "required": true, "content": json_content(json!({ "type": "object", "description": "An analysis report." })) })),
            file_responses("application/dxf", "The DXF file")) },
        "/files/{folder}/{name}": { "get": op("download", "shop", "Download a file of the artefact store (job artefacts, uploads), from any node; streamed, with a byte range when the Range header asks for one.",
            json!([path_param("folder", "uploads, data or output."), path_param("name", "The file name, or a path below the folder such as previews/<job id>.svg (the preview_svg artefact of an analysis)."), range_header()]), None,
            file_download_responses("A path that leaves the folder, names a hidden file, or holds characters keys may not (%, #, backslash, control characters).", "No such folder or file.")) },
        "/jobs": {
            "post": op("submitJob", "queue", "Submit a job of any registered kind. An existing job_id returns that job (200) instead of a duplicate (201).", json!([]),
                Some(json!({ "required": true, "content": json_content(schema_ref("JobRequest")) })),
                json!({ "201": with_job_links(ok_json("The new job.", schema_ref("Job"))),
                        "200": with_job_links(ok_json("The existing job with this job_id.", schema_ref("Job"))),
                        "400": error("Invalid request (unknown kind or queue, bad field, a path outside the managed folders, a field a request may not set, a test kind this server does not serve)."), "401": error("API key missing or wrong."),
                        "404": error("The payload names a file that does not exist."), "413": error("The payload is larger than the server accepts."), "429": error("The queue holds as many waiting jobs (or payload bytes) as the server allows."),
                        "501": error("A shop job kind this build cannot run yet."), "503": error("The queue backend is unreachable.") })),
            "get": op("listJobs", "queue", "Job history, newest first, paginated.",
                json!([query("queue", false, json!({ "type": "string" }), "Only this queue."),
                       query("status", false, json!({ "anyOf": [schema_ref("Status"), { "const": "" }] }), "Only this status (empty: any, as a form sends it)."),
                       query("kind", false, json!({ "type": "string" }), "Only this job kind (empty: any). A kind this build does not register is a 400."),
                       query("limit", false, json!({ "type": "integer", "minimum": 1, "maximum": 500, "default": 50 }), "Page size."),
                       query("cursor", false, json!({ "type": "string" }), "next_cursor of the previous page."),
                       query("q", false, json!({ "type": "string", "maxLength": 200 }), "Search (any case): the start of a job id, or part of a reference or of an input file's name. A search page reads at most 40 pages of the list and may come back short with a next_cursor."),
                       query("since", false, json!({ "type": "string", "maxLength": 40 }), "Jobs created at or after this date (2026-12-04, UTC) or RFC 3339 time."),
                       query("until", false, json!({ "type": "string", "maxLength": 40 }), "Jobs created before this RFC 3339 time, or up to the end of this date.")]), None,
                json!({ "200": ok_json("A page of jobs.", schema_ref("JobPage")), "400": error("Invalid filter."), "401": error("API key missing or wrong.") }))
        },
        "/jobs/{job_id}": { "get": op("getJob", "queue", "A job: the old fields plus kind, queue, attempt, started_at, progress_message and more.",
            json!([job_id]), None,
            json!({ "200": ok_json("The job.", schema_ref("Job")), "401": error("API key missing or wrong."), "404": error("Unknown job.") })) },
        "/jobs/{job_id}/cancel": { "post": op("cancelJob", "queue", "Cancel a job: a waiting one at once, a running one within a few seconds.",
            json!([job_id]), None,
            json!({ "200": ok_json("What the cancel did.", schema_ref("CancelResult")), "401": error("API key missing or wrong."), "404": error("Unknown job.") })) },
        "/jobs/{job_id}/retry": { "post": op("retryJob", "queue", "Run a failed or cancelled job again.",
            json!([job_id]), None,
            json!({ "200": ok_json("The job, queued again.", schema_ref("Job")), "401": error("API key missing or wrong."),
                    "404": error("Unknown job."), "409": error("The job is not failed or cancelled.") })) },
        "/jobs/{job_id}/artifacts/{name}": { "get": op("jobArtifact", "queue", "A file a completed job wrote: one of the paths its result lists under `artifacts` (dxf, csv, preview_svg...).",
            json!([job_id, path_param("name", "The artefact's name in the job's result, such as dxf or preview_svg."), range_header()]), None,
            file_download_responses("A stored name the store refuses.", "Unknown job, a job not completed yet, or no such artefact.")) },
        "/jobs/{job_id}/events": { "get": op("jobEvents", "events", "Live status and progress of one job (SSE); starts with a snapshot unless resuming, ends when the job ends.",
            json!([job_id, last_event_id[0], last_event_id[1]]), None,
            json!({ "200": sse("The job's events."), "400": error("Invalid job id, event id (Last-Event-ID or last_event_id) or query."), "401": error("API key missing or wrong."), "404": error("Unknown job."),
                    "503": error("The queue backend is unreachable.") })) },
        "/events": { "get": op("events", "events", "Live status and progress of every job (SSE).",
            json!([last_event_id[0], last_event_id[1], query("queue", false, json!({ "type": "string" }), "Only this queue.")]), None,
            json!({ "200": sse("Every job's events from now on (or after Last-Event-ID)."), "400": error("Unknown queue, invalid event id (Last-Event-ID or last_event_id) or query."), "401": error("API key missing or wrong."),
                    "503": error("The queue backend is unreachable.") })) },
        "/ws/jobs/{job_id}": { "get": op("jobEventsSocket", "events", "Live status and progress of one job over a WebSocket: the events of GET /jobs/{job_id}/events, one per text message; starts with a snapshot unless resuming, closes when the job ends. With a key set, a browser sends it as the subprotocols `wjp` and `wjp.key.<key in base64url, unpadded>`.",
            json!([job_id, last_event_id[0], last_event_id[1]]), None,
            merged(websocket("The job's events."), json!({ "400": error("Invalid job id, event id (Last-Event-ID or last_event_id) or query."), "401": error("API key missing or wrong."), "404": error("Unknown job."),
                    "503": error("The queue backend is unreachable.") }))) },
        "/ws": { "get": op("eventsSocket", "events", "Live status and progress of every job over a WebSocket: the events of GET /events, one per text message. With a key set, a browser sends it as the subprotocols `wjp` and `wjp.key.<key in base64url, unpadded>`.",
            json!([last_event_id[0], last_event_id[1], query("queue", false, json!({ "type": "string" }), "Only this queue.")]), None,
            merged(websocket("Every job's events from now on (or after the resume point)."), json!({ "400": error("Unknown queue, invalid event id (Last-Event-ID or last_event_id) or query."), "401": error("API key missing or wrong."),
                    "503": error("The queue backend is unreachable.") }))) },
        "/queues": { "get": op("queues", "queue", "Jobs per queue and status, and the backend in use.", json!([]), None,
            json!({ "200": ok_json("Counts.", json!({ "type": "object", "properties": {
                "success": { "type": "boolean" }, "backend": { "type": "object" },
                "queues": { "type": "array", "items": schema_ref("QueueCounts") } } })),
                "401": error("API key missing or wrong."), "503": error("The queue backend is unreachable.") })) },
        "/queues/{queue}/pause": { "post": op("pauseQueue", "queue", "Stop workers from taking the queue's jobs: it still takes new jobs, and running jobs finish.",
            json!([queue_name]), None,
            json!({ "200": ok_json("The queue is paused.", schema_ref("PauseResult")), "404": error("No such queue (code unknown_queue)."),
                    "401": error("API key missing or wrong."), "503": error("The queue backend is unreachable.") })) },
        "/queues/{queue}/resume": { "post": op("resumeQueue", "queue", "Let workers take the queue's jobs again.",
            json!([queue_name]), None,
            json!({ "200": ok_json("The queue runs.", schema_ref("PauseResult")), "404": error("No such queue (code unknown_queue)."),
                    "401": error("API key missing or wrong."), "503": error("The queue backend is unreachable.") })) },
        "/queues/{queue}/retry-failed": { "post": op("retryFailed", "queue", "Run every failed job of the queue again (up to 10,000, newest first), each with all its attempts.",
            json!([queue_name]), None,
            json!({ "200": ok_json("How many were queued again.", json!({ "type": "object", "required": ["success", "queue", "retried"], "properties": {
                        "success": { "type": "boolean" }, "queue": { "type": "string" }, "retried": { "type": "integer", "minimum": 0 } } })),
                    "404": error("No such queue (code unknown_queue)."),
                    "401": error("API key missing or wrong."), "503": error("The queue backend is unreachable.") })) },
        "/schedules": { "get": op("listSchedules", "schedules", "Every schedule, with its next run and the last job it made.", json!([]), None,
            json!({ "200": ok_json("Schedules.", json!({ "type": "object", "required": ["success", "schedules"], "properties": {
                "success": { "type": "boolean" }, "schedules": { "type": "array", "items": schema_ref("Schedule") } } })),
                "401": error("API key missing or wrong."), "503": error("The queue backend is unreachable.") })) },
        "/schedules/{name}": {
            "put": op("putSchedule", "schedules", "Add the schedule of this name, or replace it (its next run counted afresh): a job of its kind at each tick, made once however many workers run. Give cron or every.",
                json!([schedule_name]), Some(json!({ "required": true, "content": json_content(schema_ref("ScheduleRequest")) })),
                json!({ "200": ok_json("The schedule as stored.", schema_ref("Schedule")),
                        "400": error("Invalid name, timing, time zone, kind, queue or payload (the checks of POST /jobs)."), "401": error("API key missing or wrong."),
                        "404": error("The payload names a file that does not exist."),
                        "501": error("A shop job kind this build cannot run yet."), "503": error("The queue backend is unreachable.") })),
            "delete": op("deleteSchedule", "schedules", "Remove a schedule: it makes no more jobs (the jobs it made stay).",
                json!([schedule_name]), None,
                json!({ "200": ok_json("Removed.", json!({ "type": "object", "required": ["success", "name", "removed"], "properties": {
                    "success": { "type": "boolean" }, "name": { "type": "string" }, "removed": { "type": "boolean" } } })),
                        "404": error("No such schedule (code schedule_not_found)."),
                        "401": error("API key missing or wrong."), "503": error("The queue backend is unreachable.") })) },
        "/queues/{queue}/limits": { "put": op("setQueueLimits", "queue", "Set the queue's limits across every worker on every machine: jobs running at once, claims per second or minute, and jobs of one group running at once. They replace the stored ones; {} clears them. Jobs over a limit stay queued.",
            json!([queue_name]), Some(json!({ "required": true, "content": json_content(schema_ref("QueueLimits")) })),
            json!({ "200": ok_json("The queue's limits now.", schema_ref("LimitsResult")),
                    "400": error("A field unknown or out of range (max_running and per_group_max_running at least 1; rate N/s or N/m)."),
                    "404": error("No such queue (code unknown_queue)."),
                    "401": error("API key missing or wrong."), "503": error("The queue backend is unreachable.") })) },
        "/workers": { "get": op("workers", "queue", "Live workers.", json!([]), None,
            json!({ "200": ok_json("Workers.", json!({ "type": "object", "properties": {
                "success": { "type": "boolean" }, "workers": { "type": "array", "items": schema_ref("Worker") } } })),
                "401": error("API key missing or wrong.") })) },
        "/materials": { "get": op("materials", "shop", "The shop's materials (its wjp.toml): the names and aliases a request may use, and the thickness range the shop cuts in each.", json!([]), None,
            json!({ "200": ok_json("Materials.", materials_schema()), "401": error("API key missing or wrong.") })) },
    });
    let paths = merged(
        paths,
        json!({
            "/flows": { "post": op("submitFlow", "queue", "Submit a flow: a graph of named jobs, each waiting for the nodes its after names. The whole flow is checked first (size, names, references, cycles, each job as POST /jobs checks it) and nothing is stored when a node is refused; the error names the node.", json!([]),
                Some(json!({ "required": true, "content": json_content(schema_ref("FlowRequest")) })),
                json!({ "201": ok_json("The flow's jobs.", schema_ref("FlowResult")),
                        "200": ok_json("Every node's job_id named an existing job, returned as it is.", schema_ref("FlowResult")),
                        "400": error("Invalid flow (code invalid_flow: a cycle, an unknown or duplicate node name, an odd name, too many nodes, or a refused node) or an after that names no stored job (unknown_parent)."),
                        "401": error("API key missing or wrong."), "413": error("The body is larger than the server accepts."),
                        "429": error("A queue holds as many waiting jobs (or payload bytes) as the server allows."),
                        "501": error("A shop job kind this build cannot run yet."), "503": error("The queue backend is unreachable.") })) },
        }),
    );
    let paths = merged(
        merged(merged(paths, history_paths()), steering_paths()),
        remnant_paths(),
    );
    let nullable_string = json!({ "type": ["string", "null"] });
    let time = json!({ "type": ["string", "null"], "format": "date-time" });
    // Separate values: one `json!` of every schema passes the macro's
    // recursion limit.
    let job_request_schema = json!({ "type": "object", "required": ["kind"], "additionalProperties": false, "properties": {
            "kind": { "type": "string", "description": "A registered job kind (noop, sleep, analyze_dxf, ...)." },
            "payload": { "description": "The handler's input." },
            "queue": { "type": "string", "description": "Default: the kind's queue." },
            "priority": { "type": "integer", "minimum": -2147483648, "maximum": 2147483647, "description": "Higher runs first." },
            "delay": { "type": "number", "minimum": 0, "maximum": 2592000, "description": "Seconds before the job may run (at most 30 days unless the server's --max-delay-days says otherwise)." },
            "timeout": { "type": "number", "minimum": 0.001, "maximum": 31622400, "description": "Seconds the handler may run (at most a year; shop kinds have lower caps, refused with 400 beyond)." },
            "max_attempts": { "type": "integer", "minimum": 1, "maximum": 100 },
            "max_stalls": { "type": "integer", "minimum": 0, "maximum": 100, "description": "How many times the job is put back, without spending an attempt, when the worker running it dies (default 2); the next such death fails it with lost_lease." },
            "job_id": { "type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,128}$", "description": "An id of your own; submitting it again returns the same job." },
            "reference": { "type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]+$", "description": "Your own text kept with the job and shown beside it: a customer, an order, a drawing number." },
            "unique_key": { "type": "string", "minLength": 1, "maxLength": 256, "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]+$", "description": "Keeps the job unique in its queue: while a job with this key waits or runs (and for unique_for seconds after it was submitted), submitting another returns that job with created: false." },
            "group": { "type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[A-Za-z0-9._:@-]+$", "description": "The job's fairness group in its queue (a customer, an order): claims take the queue's groups in turns, so one group's many jobs cannot starve another's few; the queue's per_group_max_running caps one group's running jobs." },
            "unique_for": { "type": "number", "minimum": 0, "maximum": 31622400, "description": "Seconds after submission during which unique_key holds even once the job has ended; only with unique_key." },
            "result_ttl": { "type": "number", "minimum": 0, "maximum": 31622400, "description": "Seconds a completed job's result is kept (at most a year)." },
            "failure_ttl": { "type": "number", "minimum": 0, "maximum": 31622400, "description": "Seconds a failed or cancelled job is kept (at most a year)." },
            "backoff": { "type": "number", "minimum": 0, "maximum": 31622400, "description": "Seconds before the first retry; doubles each time." },
            "after": { "type": "array", "maxItems": 100, "items": { "type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,128}$" }, "description": "Ids of jobs this one waits for (at most 100 unless the server's --max-parents says otherwise): it stays waiting until every one has completed, and is cancelled with error_kind dependency_failed when one fails or is cancelled. An unknown id is a 400 (unknown_parent). In a flow, node names." },
            "run_anyway": { "type": "boolean", "default": false, "description": "With after: run once every parent has ended, however it ended." } } });
    let job_schema = json!({ "type": "object", "required": ["job_id", "status", "progress", "result", "error", "created_at", "completed_at"], "properties": {
            "job_id": { "type": "string" }, "status": schema_ref("Status"),
            "progress": { "type": ["number", "null"], "minimum": 0, "maximum": 1 },
            "result": { "description": "What the job answered: a completed job's result, or, for a nest cancelled while it searched, its best layout so far (stopped_by: stopped)." }, "error": nullable_string.clone(),
            "created_at": { "type": "string", "format": "date-time" }, "completed_at": time.clone(),
            "kind": { "type": "string" }, "queue": { "type": "string" }, "attempt": { "type": "integer" },
            "max_attempts": { "type": "integer" }, "priority": { "type": "integer" },
            "stalls": { "type": "integer", "description": "How many times the job was put back because its worker died under it." },
            "max_stalls": { "type": "integer" },
            "unique_key": { "type": ["string", "null"], "description": "The key that keeps the job unique in its queue, if any." },
            "group": { "type": ["string", "null"], "description": "The job's fairness group in its queue, if any." },
            "reference": { "type": ["string", "null"], "description": "The client's own reference, if any." },
            "after": { "type": "array", "items": { "type": "string" }, "description": "The ids of the jobs it waits (or waited) for." },
            "run_anyway": { "type": "boolean", "description": "Whether it runs once its parents ended however they ended." },
            "waiting": { "type": "object", "description": "GET /jobs/{job_id} of a waiting, queued or scheduled job only: why it has not started.", "properties": {
                "message": { "type": "string" },
                "detail": { "type": "object", "required": ["reason"], "properties": {
                    "reason": { "type": "string", "enum": ["parents", "paused", "limited_running", "group_limited", "rate_limited", "scheduled", "no_worker", "workers_busy", "ready"] },
                    "waiting_for": { "type": "array", "items": { "type": "string" }, "description": "parents: the parents that have not ended yet." },
                    "max_running": { "type": "integer", "description": "limited_running: the queue's limit of jobs running at once." },
                    "group": { "type": "string", "description": "group_limited: the job's group." },
                    "per_group_max_running": { "type": "integer", "description": "group_limited: the queue's limit of one group's jobs running at once." },
                    "rate": { "type": "string", "description": "rate_limited: the queue's rate limit (N/s or N/m)." } } } } },
            "started_at": time.clone(), "enqueued_at": time.clone(), "run_at": { "type": "string", "format": "date-time" },
            "progress_message": nullable_string.clone(),
            "progress_detail": { "type": ["object", "null"], "description": "The figures the handler gave with its last progress, while it runs (a nest: its best layout's placed, unplaced, sheets, utilization)." },
            "error_kind": nullable_string.clone(),
            "worker": nullable_string.clone(), "cancel_requested": { "type": "boolean" },
            "timeout": { "type": "number" }, "payload": {},
            "success": { "type": "boolean", "description": "POST /jobs and retry only." },
            "created": { "type": "boolean", "description": "POST /jobs only: false when an existing job was returned." } } });
    // The schemas of queue control (limits, schedules), apart: one `json!`
    // of every schema passes the macro's recursion limit.
    // A node is a JobRequest with a name: the same closed object, one
    // property more.
    let mut flow_node_schema = job_request_schema.clone();
    flow_node_schema["required"] = json!(["name", "kind"]);
    flow_node_schema["properties"]["name"] = json!({ "type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$",
        "description": "The node's name, unique in the flow; other nodes name it in their after, which holds node names (or ids of jobs stored before the flow)." });
    let flow_schemas = json!({
        "FlowRequest": { "type": "object", "additionalProperties": false, "required": ["jobs"], "properties": {
            "jobs": { "type": "array", "minItems": 1, "maxItems": 1000, "items": schema_ref("FlowNode"), "description": "The nodes, in any order (at most 1000 unless the server's --max-flow-jobs says otherwise)." } } },
        "FlowNode": flow_node_schema,
        "FlowResult": { "type": "object", "required": ["success", "jobs"], "properties": {
            "success": { "type": "boolean" },
            "jobs": { "type": "array", "description": "The nodes' jobs, in the request's order, each with its node's name.", "items": { "allOf": [schema_ref("Job")], "properties": {
                "name": { "type": "string" }, "created": { "type": "boolean" } } } } } },
    });
    let control_schemas = merged(
        flow_schemas,
        json!({
            "QueueLimits": { "type": "object", "additionalProperties": false, "properties": {
                "max_running": { "type": ["integer", "null"], "minimum": 1, "maximum": 4294967295_u64, "description": "At most this many of the queue's jobs run at once; absent or null for no limit." },
                "rate": { "type": ["string", "null"], "pattern": "^([1-9][0-9]{0,5}|1000000)/[sm]$", "description": "At most N claims per second (N/s) or minute (N/m), N from 1 to 1000000; absent or null for no limit." },
                "per_group_max_running": { "type": ["integer", "null"], "minimum": 1, "maximum": 4294967295_u64, "description": "At most this many jobs of one group (a job's group) run at once; jobs without a group are not held by it; absent or null for no limit." } } },
            "LimitsResult": { "type": "object", "required": ["success", "queue", "limits"], "properties": {
                "success": { "type": "boolean" }, "queue": { "type": "string" }, "limits": schema_ref("QueueLimits") } },
            "ScheduleRequest": { "type": "object", "additionalProperties": false, "required": ["kind"], "properties": {
                "kind": { "type": "string", "description": "The kind of job each tick makes." },
                "payload": { "description": "The payload of every job, checked as POST /jobs checks it." },
                "queue": { "type": ["string", "null"], "description": "The jobs' queue (default: the kind's)." },
                "cron": { "type": ["string", "null"], "description": "SEC MIN HOUR DOM MON DOW, e.g. \"0 30 6 * * MON-FRI\"." },
                "every": { "type": ["number", "null"], "minimum": 1, "maximum": 31622400, "description": "Seconds between ticks (1 to 366 days), instead of cron." },
                "timezone": { "type": ["string", "null"], "description": "The IANA time zone of cron (default UTC)." },
                "skip_missed": { "type": "boolean", "default": false, "description": "After downtime, make no job for a tick more than a minute late (default: one job for the latest missed tick)." } } },
            "Schedule": { "type": "object", "properties": {
                "name": { "type": "string" }, "kind": { "type": "string" }, "queue": { "type": "string" }, "payload": {},
                "timing": { "type": "object", "description": "{type: cron, expr, timezone} or {type: every, ms}." },
                "skip_missed": { "type": "boolean" },
                "next_run": { "type": "string", "format": "date-time" },
                "last_job": { "type": ["string", "null"], "description": "The id of the last job it made (sched:<name>:<tick ms>)." } } }
        }),
    );
    let schemas = json!({
        "Error": { "type": "object", "required": ["success", "error", "code"], "properties": {
            "success": { "type": "boolean", "const": false },
            "error": { "type": "string", "description": "What went wrong, for people." },
            "code": { "type": "string", "description": "A stable machine-readable code (unknown_field, out_of_range, invalid_value, missing_field, job_not_found, path_outside_managed_folders, not_implemented, payload_too_large, invalid_json, ...)." } } },
        "Health": { "type": "object", "required": ["status", "service", "version", "timestamp"], "properties": {
            "status": { "type": "string", "enum": ["healthy", "degraded"] }, "service": { "type": "string" },
            "version": { "type": "string" }, "timestamp": { "type": "string", "format": "date-time" },
            "backend": { "type": "string" }, "backend_available": { "type": "boolean" },
            "store": { "type": "string", "enum": ["local", "s3"], "description": "The artefact store's kind." },
            "store_location": { "type": "string", "description": "Where the store is (a folder, or s3://bucket/prefix and its endpoint)." },
            "store_available": { "type": "boolean", "description": "Whether the store answered; degraded when not." } } },
        "Status": { "type": "string", "enum": ["waiting", "scheduled", "queued", "running", "completed", "failed", "cancelled"] },
        "AnalyzeRequest": { "type": "object", "required": ["dxf_path"], "additionalProperties": true,
            "description": "Any other analysis option may be given by its name (snap_tolerance_mm, pricing, machine, ...); a name the analysis does not know is refused with 400 unknown_field.",
            "properties": {
            "dxf_path": { "type": "string", "minLength": 1, "description": "A file of the store by key (uploads/…, data/…, output/…); other relative names are taken in uploads." },
            "material": { "type": "string", "description": "A material of the table or an alias; another is refused with 400 invalid_value listing them." },
            "thickness": { "type": "number", "exclusiveMinimum": 0, "maximum": 500 },
            "kerf": { "type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 20 },
            "quality": { "type": "integer", "minimum": 1, "maximum": 5 },
            "units": { "type": "string", "enum": ["mm", "cm", "m", "in", "ft"], "description": "The drawing's units, overriding its $INSUNITS header." },
            "normalize": { "type": "boolean", "description": "The old rescale to a frame: false is accepted; true is refused (a drawing is never rescaled silently; give units instead)." },
            "target_frame_w": { "type": "number" }, "target_frame_h": { "type": "number" },
            "reference": { "type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]+$", "description": "Your own text kept with the job (a customer, an order): not an analysis option." },
            "group": { "type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[A-Za-z0-9._:@-]+$", "description": "The job's fairness group (a customer, an order; see POST /jobs): not an analysis option." } } },
        "CostRequest": { "type": "object", "required": ["dxf_path"], "additionalProperties": false, "properties": {
            "dxf_path": { "type": "string", "minLength": 1, "description": "A file of the store by key (uploads/…, data/…, output/…); other relative names are taken in uploads." },
            "material": { "type": ["string", "null"], "description": "A material of the table or an alias; another is refused with 400 invalid_value listing them." },
            "thickness": { "type": ["number", "null"], "exclusiveMinimum": 0, "maximum": 500 },
            "kerf": { "type": ["number", "null"], "exclusiveMinimum": 0, "exclusiveMaximum": 20 },
            "rate_per_m": { "type": ["number", "null"], "minimum": 0, "maximum": 1000000 },
            "pierce_cost": { "type": ["number", "null"], "minimum": 0, "maximum": 1000000 },
            "setup_cost": { "type": ["number", "null"], "minimum": 0, "maximum": 1000000 },
            "units": { "type": ["string", "null"], "enum": ["mm", "cm", "m", "in", "ft", null], "description": "The drawing's units, overriding its $INSUNITS header." } } },
        "AnalysisResult": { "type": "object", "required": ["success", "report"], "properties": {
            "success": { "type": "boolean" }, "report": { "type": "object" } } },
        "CostResult": { "type": "object", "required": ["success", "cost", "error"], "properties": {
            "success": { "type": "boolean" }, "cost": { "type": ["object", "null"] }, "error": nullable_string.clone(),
            "code": { "type": "string" } } },
        "Result": { "type": "object", "required": ["success", "result"], "properties": {
            "success": { "type": "boolean" }, "result": {} } },
        "Queued": { "type": "object", "required": ["success", "job_id"], "properties": {
            "success": { "type": "boolean" }, "job_id": { "type": "string" },
            "status": { "type": "string" }, "status_url": { "type": "string" } } },
        "QueuedFile": { "type": "object", "required": ["success", "job_id", "download_url"], "properties": {
            "success": { "type": "boolean" }, "job_id": { "type": "string" }, "status": { "type": "string" },
            "status_url": { "type": "string" }, "download_url": { "type": "string", "description": "Where the file can be downloaded once the job completed (/jobs/{job_id}/artifacts/{name})." } } },
        "Upload": { "type": "object", "required": ["success", "file_id", "file_path", "relative_path", "filename", "size"], "properties": {
            "success": { "type": "boolean" }, "file_id": { "type": "string" },
            "file_path": { "type": "string", "description": "Absolute path on the server when the store is a local folder; the key when it is a bucket. Either may be passed as dxf_path." },
            "relative_path": { "type": "string", "description": "The stored name; pass it as dxf_path." },
            "key": { "type": "string", "description": "The file's key in the artefact store (uploads/<name>)." },
            "url": { "type": "string", "description": "Where the file can be downloaded (/files/uploads/<name>)." },
            "filename": { "type": "string", "description": "The name the client sent." },
            "size": { "type": "integer" },
            "sha256": { "type": "string", "description": "The SHA-256 of the content, hex." } } },
        "JobRequest": job_request_schema,
        "Job": job_schema,
        "JobPage": { "type": "object", "required": ["jobs", "next_cursor"], "properties": {
            "success": { "type": "boolean" }, "jobs": { "type": "array", "items": schema_ref("Job") },
            "next_cursor": nullable_string.clone() } },
        "CancelResult": { "type": "object", "required": ["success", "job_id", "outcome"], "properties": {
            "success": { "type": "boolean" }, "job_id": { "type": "string" },
            "outcome": { "type": "string", "enum": ["cancelled", "requested", "already_ended"] },
            "message": { "type": "string" },
            "status": { "oneOf": [schema_ref("Status"), { "type": "null" }], "description": "The job's status after the cancel; null when its record is already gone (a failure_ttl of 0)." },
            "job": { "oneOf": [schema_ref("Job"), { "type": "null" }], "description": "The job after the cancel; null when its record is already gone." } } },
        "QueueCounts": { "type": "object", "properties": {
            "name": { "type": "string" }, "waiting": { "type": "integer", "description": "Jobs waiting for their parents." },
            "scheduled": { "type": "integer" }, "queued": { "type": "integer" },
            "running": { "type": "integer" }, "completed": { "type": "integer" }, "failed": { "type": "integer" },
            "cancelled": { "type": "integer" },
            "paused": { "type": "boolean", "description": "No worker takes the queue's jobs until it is resumed." },
            "limits": schema_ref("QueueLimits"),
            "rate_claims": { "type": "integer", "description": "Claims in the current window of the rate limit." } } },
        "PauseResult": { "type": "object", "required": ["success", "queue", "paused", "changed"], "properties": {
            "success": { "type": "boolean" }, "queue": { "type": "string" }, "paused": { "type": "boolean" },
            "changed": { "type": "boolean", "description": "False when the queue already was in that state." } } },
        "Worker": { "type": "object", "properties": {
            "name": { "type": "string" }, "host": { "type": "string" }, "pid": { "type": "integer" },
            "queues": { "type": "array", "items": { "type": "string" } }, "concurrency": { "type": "integer" },
            "started_at": { "type": "string", "format": "date-time" }, "heartbeat_at": { "type": "string", "format": "date-time" },
            "current_jobs": { "type": "array", "items": { "type": "string" } }, "expires_at": { "type": "string", "format": "date-time" } } },
        "EventMessage": {
            "type": "object",
            "description": "One message of an event stream. `message` events carry a JobEvent; a stream whose resume point the backend no longer knows ends with one `error` event carrying an Error. Each message's `id` resumes the stream via Last-Event-ID. Comment lines keep the connection alive.",
            "required": ["event", "data"],
            "oneOf": [
                { "properties": {
                    "event": { "const": "message" },
                    "data": { "type": "string", "contentMediaType": "application/json", "contentSchema": schema_ref("JobEvent") },
                    "id": { "type": "string" } } },
                { "properties": {
                    "event": { "const": "error" },
                    "data": { "type": "string", "contentMediaType": "application/json", "contentSchema": schema_ref("Error") } } },
            ] },
        "JobEvent": { "type": "object", "description": "The data of one message of an event stream: a job's state after a change.",
            "required": ["id", "job_id", "queue", "kind", "status", "attempt", "progress", "message", "error_kind", "at"],
            "additionalProperties": false, "properties": {
            "id": { "type": "string", "description": "The event's cursor (also the message's id); empty in a snapshot when no event exists yet." },
            "job_id": { "type": "string" }, "queue": { "type": "string" }, "kind": { "type": "string" },
            "status": schema_ref("Status"), "attempt": { "type": "integer", "minimum": 0 },
            "progress": { "type": ["number", "null"], "minimum": 0, "maximum": 1 },
            "message": { "type": ["string", "null"], "description": "The progress message, or a word on the change." },
            "detail": { "type": "object", "description": "Progress events of handlers that give figures beside the message (a nest: its best layout's placed, unplaced, sheets, utilization); absent otherwise." },
            "error_kind": nullable_string, "at": { "type": "string", "format": "date-time" } } },
    });
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "wjp",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Job queue for waterjet cutting shops: the endpoints of the old service, the queue, live updates. When an API key is configured, every endpoint but /health needs it (X-API-Key header or Authorization: Bearer). Every error is JSON {success: false, error, code}.",
        },
        "tags": [
            { "name": "shop", "description": "The endpoints of the service wjp replaces." },
            { "name": "queue", "description": "The job queue." },
            { "name": "schedules", "description": "Jobs made on a timetable, one per tick." },
            { "name": "remnants", "description": "The inventory of offcuts that nests leave and later nests use first." },
            { "name": "history", "description": "The audit log: every job's life, kept after its record expired." },
            { "name": "events", "description": "Live updates (Server-Sent Events, and the same over WebSocket)." },
            { "name": "operations", "description": "Health, metrics, this document." },
        ],
        "security": [{ "apiKey": [] }, { "bearer": [] }, {}],
        "paths": paths,
        "components": {
            "schemas": merged(
                merged(merged(schemas, control_schemas), history_schemas()),
                remnant_schemas(),
            ),
            "securitySchemes": {
                "apiKey": { "type": "apiKey", "in": "header", "name": "X-API-Key" },
                "bearer": { "type": "http", "scheme": "bearer" },
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_is_documented_and_every_reference_resolves() {
        let doc = document();
        for (method, path) in OPERATIONS {
            let op = &doc["paths"][path][method];
            assert!(op.is_object(), "{method} {path} is not documented");
            assert!(
                op["responses"].is_object(),
                "{method} {path} has no responses"
            );
        }
        let documented: usize = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .map(|p| p.as_object().unwrap().len())
            .sum();
        assert_eq!(
            documented,
            OPERATIONS.len(),
            "documented operations beyond OPERATIONS"
        );
        // Every $ref names a schema that exists.
        let text = doc.to_string();
        for part in text.split("#/components/schemas/").skip(1) {
            let name: String = part
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            assert!(
                doc["components"]["schemas"][&name].is_object(),
                "missing schema {name}"
            );
        }
    }
}
