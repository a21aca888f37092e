//! The engine's own job kinds, for tests, benchmarks and rehearsing
//! operations: `noop`, `sleep`, `spin` and `fail`, all on the `default` queue.

use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{json, Value};

use crate::catalog::{Admission, Catalog, PayloadRefusal};
use crate::error::Result;
use crate::worker::{HandlerError, Handlers, JobContext};

/// The names of the built-in kinds, as [`register`] adds them.
pub const KINDS: [&str; 4] = ["noop", "sleep", "spin", "fail"];

/// Adds the built-in kinds to a catalog.
pub fn register(catalog: &mut Catalog) -> Result<()> {
    for kind in KINDS {
        catalog.register(kind, "default", None)?;
    }
    Ok(())
}

/// Has the payloads of the built-in kinds checked whenever a job is made,
/// as a program's own kinds are: a misspelt field or a value out of range
/// is refused when the job is submitted, instead of failing when it runs.
/// Apart from [`register`], for programs that want it.
pub fn check_payloads(catalog: &mut Catalog) -> Result<()> {
    for kind in ["sleep", "spin"] {
        catalog.check_payloads(kind, move |payload: Value, _: Admission| {
            check_seconds(kind, &payload)?;
            Ok(payload)
        })?;
    }
    catalog.check_payloads("fail", |payload: Value, _: Admission| {
        if !payload.is_null() {
            FailArgs::deserialize(&payload).map_err(|e| {
                PayloadRefusal::new(
                    "invalid_value",
                    "payload",
                    format!(
                        "fail takes {{\"message\", \"panic\", \"succeed_on_attempt\"}} \
                         or null: {e}"
                    ),
                )
            })?;
        }
        Ok(payload)
    })?;
    Ok(())
}

/// The longest a `sleep` or `spin` may be asked to last, seconds.
const MAX_SECONDS: f64 = 86_400.0;

/// Refuses a payload of `sleep` or `spin` that is not `{"seconds": S}`
/// with S from 0 to [`MAX_SECONDS`].
fn check_seconds(kind: &str, payload: &Value) -> std::result::Result<(), PayloadRefusal> {
    let usage = format!("{kind} takes {{\"seconds\": S}}, S from 0 to {MAX_SECONDS}");
    let Some(fields) = payload.as_object() else {
        return Err(PayloadRefusal::new("invalid_payload", "payload", usage));
    };
    if let Some(other) = fields.keys().find(|k| k.as_str() != "seconds") {
        return Err(PayloadRefusal::new(
            "unknown_field",
            other.clone(),
            format!("unknown field {other:?}; {usage}"),
        ));
    }
    match fields.get("seconds") {
        None => Err(PayloadRefusal::new(
            "missing_field",
            "seconds",
            format!("seconds is required: {usage}"),
        )),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(s) if (0.0..=MAX_SECONDS).contains(&s) => Ok(()),
            _ => Err(PayloadRefusal::new(
                "out_of_range",
                "seconds",
                format!("seconds: {n} is not between 0 and {MAX_SECONDS}"),
            )),
        },
        Some(_) => Err(PayloadRefusal::new(
            "invalid_value",
            "seconds",
            format!("seconds must be a number: {usage}"),
        )),
    }
}

/// Adds the built-in handlers.
pub fn add_handlers(handlers: &mut Handlers) -> Result<()> {
    // Returning the payload takes a microsecond: not worth a thread.
    handlers.add_inline("noop", noop)?;
    handlers.add("sleep", sleep)?;
    handlers.add("spin", spin)?;
    handlers.add("fail", fail)?;
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Seconds {
    seconds: f64,
}

fn seconds(ctx: &JobContext) -> Result<Duration, HandlerError> {
    let args: Seconds = ctx.parse_payload()?;
    if !args.seconds.is_finite() || !(0.0..=MAX_SECONDS).contains(&args.seconds) {
        return Err(HandlerError::InvalidPayload(format!(
            "seconds must be between 0 and {MAX_SECONDS}, got {}",
            args.seconds
        )));
    }
    Ok(Duration::from_secs_f64(args.seconds))
}

/// Returns its payload.
fn noop(ctx: &JobContext) -> Result<Value, HandlerError> {
    Ok(ctx.job().payload.clone())
}

/// Sleeps `{"seconds": S}`, reporting progress ten times (with the step as
/// a detail), and stops early when cancelled.
fn sleep(ctx: &JobContext) -> Result<Value, HandlerError> {
    let total = seconds(ctx)?;
    let step = total / 10;
    for i in 0..10 {
        ctx.sleep(step)?;
        ctx.progress_with_detail(
            (i + 1) as f64 / 10.0,
            format!("slept {} of 10 steps", i + 1),
            json!({ "step": i + 1, "steps": 10 }),
        );
    }
    Ok(json!({ "slept_seconds": total.as_secs_f64() }))
}

/// Burns CPU for `{"seconds": S}` without ever looking at cancellation or
/// its deadline: the worst-behaved handler, to prove timeouts hold anyway.
fn spin(ctx: &JobContext) -> Result<Value, HandlerError> {
    let total = seconds(ctx)?;
    let start = Instant::now();
    let mut counter: u64 = 0;
    while start.elapsed() < total {
        for _ in 0..10_000 {
            counter =
                std::hint::black_box(counter.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
    }
    Ok(json!({ "spun_seconds": total.as_secs_f64(), "checksum": counter % 1000 }))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FailArgs {
    #[serde(default)]
    message: Option<String>,
    /// Panic instead of returning an error.
    #[serde(default)]
    panic: bool,
    /// Succeed from this attempt on (to test retries).
    #[serde(default)]
    succeed_on_attempt: Option<u32>,
}

/// Fails with `{"message": M}` (or panics with `"panic": true`), unless the
/// attempt has reached `succeed_on_attempt`.
fn fail(ctx: &JobContext) -> Result<Value, HandlerError> {
    let args: FailArgs = if ctx.job().payload.is_null() {
        FailArgs::default()
    } else {
        ctx.parse_payload()?
    };
    let attempt = ctx.job().state.attempt;
    if args.succeed_on_attempt.is_some_and(|n| attempt >= n) {
        return Ok(json!({ "succeeded_on_attempt": attempt }));
    }
    let message = args
        .message
        .unwrap_or_else(|| format!("failed on purpose (attempt {attempt})"));
    if args.panic {
        panic!("{message}");
    }
    Err(HandlerError::Failed(message))
}
