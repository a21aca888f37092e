//! The job kinds of a waterjet shop, each described once: its queue, its
//! timeout and the most a request may ask, the payload fields that name
//! input files, the fields a client may not set, and its handler. This is
//! the only place where the queue engine meets the domain.
//!
//! **Invariants**
//! - A payload is checked ([`admit`]) whenever a job is made of it, by any
//!   door (the API's old endpoints and `POST /jobs`, `wjp submit`, inline
//!   runs), and again by the handler before it reads anything: every input
//!   names a key of the artefact store's folders (the old relative names
//!   are keys in `uploads/`), written back as that key; in a local store
//!   the file must exist and stay inside the folders after symlinks; no
//!   reserved field (a protective limit, an output location) is present.
//! - Shop handlers run in a child process each ([`crate::child`]), under a
//!   memory budget, killed when their job times out or is cancelled.

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::Value;
use wjp_geometry::cost::Material;
use wjp_queue::catalog::{Admission, KindCaps, PayloadRefusal};
use wjp_queue::{builtin, Catalog, HandlerError, Handlers, QueueError};
use wjp_store::{PathError, Store};

use crate::child::InChild;
use crate::domain::{self, Shop, Task};

/// The queues of a waterjet shop, in the order `wjp info` lists them and
/// a worker told no other order serves them: shop work first, `default`
/// (rehearsals, tests) last.
pub const QUEUES: [&str; 5] = ["analysis", "conversion", "nesting", "gcode", "default"];

/// A shop's job kind.
pub struct ShopKind {
    pub name: &'static str,
    pub queue: &'static str,
    pub timeout: Duration,
    /// The longest timeout a request may set.
    pub max_timeout: Duration,
    /// Payload fields that name input files, as paths into the JSON (`*`
    /// stands for every item of an array).
    pub inputs: &'static [&'static str],
    /// Payload fields a client may not set: the server's protective limits,
    /// and output locations, which the service chooses.
    pub reserved: &'static [&'static str],
    /// The check of the payload's fields, types and ranges (in `domain`),
    /// the same whatever the door.
    /// The shop's materials are given, for the kinds that name one, and
    /// how many jobs the job waits for.
    pub check: fn(&Value, &domain::Door) -> Result<(), PayloadRefusal>,
    pub run: fn(&Task, &Shop) -> Result<Value, HandlerError>,
}

/// Attempts a request may ask of a shop kind: a drawing that failed three
/// times fails the fourth time too, and a poison file must not be retried
/// at length.
const MAX_ATTEMPTS: u32 = 3;

/// Stalls a request may let a shop job survive: a job whose process takes
/// its worker down (an OOM kill) must not be allowed to do it at length.
const MAX_STALLS: u32 = 3;

// The default timeouts are the old system's (600 s for analysis, 300 s
// otherwise); a request may ask for up to three times as much.
const FIVE_MINUTES: Duration = Duration::from_secs(300);
const TEN_MINUTES: Duration = Duration::from_secs(600);
const FIFTEEN_MINUTES: Duration = Duration::from_secs(900);
const HALF_AN_HOUR: Duration = Duration::from_secs(1800);

/// The limits of drawing analysis, under whatever option holds them.
const DRAWING_LIMITS: &str = "limits";
/// The limits of image conversion and CSV analysis (`ConvertOptions`,
/// `CsvOptions`).
const IMAGE_LIMITS: [&str; 4] = [
    "max_pixels",
    "max_input_bytes",
    "work_budget",
    "max_outline_points",
];
const CSV_LIMITS: [&str; 4] = ["max_bytes", "max_rows", "max_columns", "max_field_bytes"];

/// The routing table of the system we replace (job type to queue), with
/// what this service adds to each kind.
pub static SHOP_KINDS: [ShopKind; 8] = [
    ShopKind {
        name: "analyze_dxf",
        queue: "analysis",
        timeout: TEN_MINUTES,
        max_timeout: HALF_AN_HOUR,
        inputs: &["dxf_path"],
        reserved: &[DRAWING_LIMITS],
        check: domain::check_analyze_dxf,
        run: domain::analyze_dxf,
    },
    ShopKind {
        name: "calculate_cost",
        queue: "analysis",
        timeout: FIVE_MINUTES,
        max_timeout: FIFTEEN_MINUTES,
        inputs: &["dxf_path"],
        reserved: &[DRAWING_LIMITS],
        check: domain::check_calculate_cost,
        run: domain::calculate_cost,
    },
    ShopKind {
        name: "convert_image",
        queue: "conversion",
        timeout: FIVE_MINUTES,
        max_timeout: FIFTEEN_MINUTES,
        inputs: &["image_path"],
        reserved: &[
            IMAGE_LIMITS[0],
            IMAGE_LIMITS[1],
            IMAGE_LIMITS[2],
            IMAGE_LIMITS[3],
            "output_path",
        ],
        check: domain::check_convert_image,
        run: domain::convert_image,
    },
    ShopKind {
        name: "analyze_csv",
        queue: "default",
        timeout: FIVE_MINUTES,
        max_timeout: FIFTEEN_MINUTES,
        inputs: &["csv_path"],
        reserved: &CSV_LIMITS,
        check: domain::check_analyze_csv,
        run: domain::analyze_csv,
    },
    ShopKind {
        name: "nest",
        queue: "nesting",
        timeout: FIVE_MINUTES,
        max_timeout: FIFTEEN_MINUTES,
        inputs: &["dxf_path", "files/*/dxf_path"],
        reserved: &[DRAWING_LIMITS],
        check: domain::check_nest,
        run: domain::nest,
    },
    ShopKind {
        name: "export_components_csv",
        queue: "default",
        timeout: FIVE_MINUTES,
        max_timeout: FIFTEEN_MINUTES,
        inputs: &[],
        reserved: &["output_path"],
        check: domain::check_export,
        run: domain::export_components_csv,
    },
    ShopKind {
        name: "export_layered_dxf",
        queue: "default",
        timeout: FIVE_MINUTES,
        max_timeout: FIFTEEN_MINUTES,
        inputs: &["report/dxf_path"],
        reserved: &["output_path", "report/options/limits"],
        check: domain::check_export,
        run: domain::export_layered_dxf,
    },
    ShopKind {
        name: "generate_gcode",
        queue: "gcode",
        timeout: FIVE_MINUTES,
        max_timeout: FIFTEEN_MINUTES,
        inputs: &["dxf_path"],
        reserved: &["analysis/limits"],
        check: domain::check_generate_gcode,
        run: domain::generate_gcode,
    },
];

/// The shop kind called `name`.
pub fn shop_kind(name: &str) -> Option<&'static ShopKind> {
    SHOP_KINDS.iter().find(|k| k.name == name)
}

/// Every kind this build can run, with its routing, caps and payload
/// check. The store (`storage_url`, or the folders under `data_dir`) is
/// opened when the first payload is checked, so commands that submit
/// nothing never create the folders.
pub fn catalog(
    data_dir: &Path,
    storage_url: Option<String>,
    materials: Vec<Material>,
) -> Result<Catalog, QueueError> {
    let materials = Arc::new(materials);
    let mut catalog = Catalog::new(&QUEUES)?;
    builtin::register(&mut catalog)?;
    builtin::check_payloads(&mut catalog)?;
    let store = Arc::new(LazyStore::new(data_dir, storage_url));
    for kind in &SHOP_KINDS {
        catalog.register(kind.name, kind.queue, Some(kind.timeout))?;
        catalog.cap(
            kind.name,
            KindCaps {
                max_timeout: kind.max_timeout,
                max_attempts: MAX_ATTEMPTS,
                max_stalls: MAX_STALLS,
            },
        )?;
        let store = store.clone();
        let materials = materials.clone();
        catalog.check_payloads(kind.name, move |payload: Value, admission: Admission| {
            let door = domain::Door {
                materials: &materials,
                parents: Some(admission.parents),
            };
            admit_at(kind, store.get()?, payload, &door)
        })?;
    }
    Ok(catalog)
}

/// The handler of every kind in [`catalog`]: the engine's own kinds in
/// this process, the shop's in a child process each.
/// Each job's process reads the shop's figures from `shop_config` (the
/// compiled-in ones when `None`).
pub fn handlers(
    data_dir: &Path,
    storage_url: Option<&str>,
    memory_budget_mb: u64,
    job_threads: u32,
    shop_config: Option<&Path>,
    remnants: Option<wjp_api::remnants::Inventory>,
) -> Result<Handlers, QueueError> {
    let mut handlers = Handlers::new();
    builtin::add_handlers(&mut handlers)?;
    let exe = std::env::current_exe().map_err(|e| {
        QueueError::InvalidRequest(format!("cannot find this program's own file: {e}"))
    })?;
    for kind in &SHOP_KINDS {
        handlers.add(
            kind.name,
            InChild {
                kind: kind.name,
                exe: exe.clone(),
                data_dir: data_dir.to_path_buf(),
                storage_url: storage_url.map(str::to_owned),
                memory_budget_mb,
                job_threads,
                shop_config: shop_config.map(Path::to_path_buf),
                remnants: remnants.clone().filter(|_| kind.name == "nest"),
                stops_with_best: kind.name == "nest",
            },
        )?;
    }
    Ok(handlers)
}

/// The artefact store, opened on first use.
struct LazyStore {
    data_dir: std::path::PathBuf,
    storage_url: Option<String>,
    store: OnceLock<Result<Store, String>>,
}

impl LazyStore {
    fn new(data_dir: &Path, storage_url: Option<String>) -> Self {
        LazyStore {
            data_dir: data_dir.to_path_buf(),
            storage_url,
            store: OnceLock::new(),
        }
    }

    fn get(&self) -> Result<&Store, PayloadRefusal> {
        self.store
            .get_or_init(|| {
                Store::open(self.storage_url.as_deref(), &self.data_dir).map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|message| PayloadRefusal::new("store_unusable", "payload", message))
    }
}

/// Checks a payload of `kind` and returns it with every input named by its
/// key (`plate.dxf` becomes `uploads/plate.dxf`). Refuses a payload that is
/// not an object, sets a reserved field, fails the kind's own check (an
/// unknown field, a value of the wrong type or out of range, a missing
/// required field), or names a file outside the store's folders (or, in a
/// local store, a missing one: a bucket is asked when the job runs).
pub fn admit(
    kind: &ShopKind,
    store: &Store,
    payload: Value,
    materials: &[Material],
) -> Result<Value, PayloadRefusal> {
    let door = domain::Door {
        materials,
        parents: None,
    };
    admit_at(kind, store, payload, &door)
}

/// [`admit`] at a door that knows what `door` says of the job.
fn admit_at(
    kind: &ShopKind,
    store: &Store,
    mut payload: Value,
    door: &domain::Door,
) -> Result<Value, PayloadRefusal> {
    if !payload.is_object() {
        return Err(PayloadRefusal::new(
            "invalid_payload",
            "payload",
            format!("the payload of {} must be a JSON object", kind.name),
        ));
    }
    for reserved in kind.reserved {
        let mut found = None;
        visit(&mut payload, reserved, String::new(), &mut |_, at| {
            found.get_or_insert(at);
            Ok(())
        })?;
        if let Some(at) = found {
            let why = if reserved.ends_with("output_path") {
                "the service names the files a job writes: they are listed in the job's \
                 result under `artifacts`"
            } else {
                "protective limits are the server's configuration; a request cannot change them"
            };
            return Err(PayloadRefusal::new(
                "field_not_allowed",
                at.clone(),
                format!("{at} may not be set by a request: {why}"),
            ));
        }
    }
    for input in kind.inputs {
        visit(&mut payload, input, String::new(), &mut |value, at| {
            let Value::String(text) = value else {
                return Err(PayloadRefusal::new(
                    "invalid_path",
                    at.clone(),
                    format!("{at} must be a string naming a file"),
                ));
            };
            let key = store.client_key(&at, text).map_err(refusal)?;
            store.check_local(&at, &key).map_err(refusal)?;
            *value = Value::String(key.to_string());
            Ok(())
        })?;
    }
    (kind.check)(&payload, door)?;
    Ok(payload)
}

fn refusal(e: PathError) -> PayloadRefusal {
    PayloadRefusal {
        not_found: matches!(e, PathError::NotFound { .. }),
        code: e.code(),
        field: e.field().to_owned(),
        message: e.to_string(),
    }
}

/// The keys a payload admitted by [`admit`] names at `kind`'s input fields,
/// with the field of each.
pub fn input_keys(kind: &ShopKind, payload: &Value) -> Vec<(String, String)> {
    let mut payload = payload.clone();
    let mut keys = Vec::new();
    for input in kind.inputs {
        let _ = visit(&mut payload, input, String::new(), &mut |value, at| {
            if let Value::String(key) = value {
                keys.push((at, key.clone()));
            }
            Ok(())
        });
    }
    keys
}

/// Calls `found` on every value at `path` (`a/b`, `files/*/dxf_path`) that
/// is present and not null, with its name for messages (`files[2].dxf_path`).
fn visit(
    value: &mut Value,
    path: &str,
    at: String,
    found: &mut dyn FnMut(&mut Value, String) -> Result<(), PayloadRefusal>,
) -> Result<(), PayloadRefusal> {
    let (head, rest) = match path.split_once('/') {
        Some((head, rest)) => (head, Some(rest)),
        None => (path, None),
    };
    let mut step = |child: &mut Value, name: String| match rest {
        _ if child.is_null() => Ok(()),
        Some(rest) => visit(child, rest, name, found),
        None => found(child, name),
    };
    match (head, value) {
        ("*", Value::Array(items)) => {
            for (i, item) in items.iter_mut().enumerate() {
                step(item, format!("{at}[{i}]"))?;
            }
            Ok(())
        }
        (field, Value::Object(map)) => match map.get_mut(field) {
            Some(child) => {
                let name = if at.is_empty() {
                    field.to_owned()
                } else {
                    format!("{at}.{field}")
                };
                step(child, name)
            }
            None => Ok(()),
        },
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_registered_kind_has_a_handler_and_the_old_routing() {
        let catalog = catalog(
            Path::new("unused"),
            None,
            wjp_geometry::cost::default_materials(),
        )
        .expect("the kind table is valid");
        let handlers = handlers(Path::new("unused"), None, 512, 1, None, None)
            .expect("every handler registers");
        for spec in catalog.kinds() {
            assert!(
                handlers.get(&spec.kind).is_some(),
                "{} has no handler",
                spec.kind
            );
        }
        for k in &SHOP_KINDS {
            let spec = catalog.kind(k.name).unwrap();
            assert_eq!(spec.queue.as_str(), k.queue);
            assert_eq!(spec.caps.max_attempts, MAX_ATTEMPTS);
            assert!(spec.check.is_some());
        }
        assert_eq!(
            catalog.kind("analyze_dxf").unwrap().timeout,
            Duration::from_secs(600)
        );
    }

    #[test]
    fn inputs_resolve_inside_and_reserved_fields_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::local(dir.path()).unwrap();
        let folders = store.local_folders().unwrap().clone();
        let table = wjp_geometry::cost::default_materials();
        std::fs::write(folders.uploads.join("a.dxf"), "0\nEOF\n").unwrap();
        let nest = shop_kind("nest").unwrap();
        let admitted = admit(
            nest,
            &store,
            json!({"files": [{"dxf_path": "a.dxf"}, {"dxf_path": "a.dxf", "quantity": 2}]}),
            &table,
        )
        .unwrap();
        assert_eq!(admitted["files"][1]["dxf_path"], json!("uploads/a.dxf"));
        assert_eq!(
            input_keys(nest, &admitted),
            [
                ("files[0].dxf_path".to_owned(), "uploads/a.dxf".to_owned()),
                ("files[1].dxf_path".to_owned(), "uploads/a.dxf".to_owned())
            ]
        );
        // An absolute path inside the data directory is its key.
        let absolute = folders.uploads.join("a.dxf");
        let admitted = admit(nest, &store, json!({"dxf_path": absolute}), &table).unwrap();
        assert_eq!(admitted["dxf_path"], json!("uploads/a.dxf"));

        let e = admit(
            nest,
            &store,
            json!({"files": [{"dxf_path": "a.dxf"}, {"dxf_path": "/etc/passwd"}]}),
            &table,
        )
        .unwrap_err();
        assert_eq!(
            (e.code, e.field.as_str()),
            ("path_outside_managed_folders", "files[1].dxf_path")
        );

        let layered = shop_kind("export_layered_dxf").unwrap();
        let e = admit(
            layered,
            &store,
            json!({"report": {"dxf_path": "a.dxf", "options": {"limits": {}}}}),
            &table,
        )
        .unwrap_err();
        assert_eq!(
            (e.code, e.field.as_str()),
            ("field_not_allowed", "report.options.limits")
        );
        let e = admit(
            layered,
            &store,
            json!({"report": {"dxf_path": "/etc/shadow"}}),
            &table,
        )
        .unwrap_err();
        assert_eq!(e.code, "path_outside_managed_folders");

        let convert = shop_kind("convert_image").unwrap();
        for field in ["max_pixels", "output_path"] {
            let e = admit(
                convert,
                &store,
                json!({"image_path": "a.dxf", field: 1}),
                &table,
            )
            .unwrap_err();
            assert_eq!((e.code, e.field.as_str()), ("field_not_allowed", field));
        }
        let csv = shop_kind("analyze_csv").unwrap();
        let e = admit(csv, &store, json!({"csv_path": "missing.csv"}), &table).unwrap_err();
        assert!(e.not_found, "{e}");
        let e = admit(csv, &store, json!({"csv_path": 7}), &table).unwrap_err();
        assert_eq!(e.code, "invalid_path");
        let e = admit(csv, &store, json!(["csv_path"]), &table).unwrap_err();
        assert_eq!(e.code, "invalid_payload");
    }
}
