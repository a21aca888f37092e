//! The job kinds of a waterjet shop, their queues and timeouts, and the
//! handlers that run them. This is the only place where the queue engine
//! meets the domain.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use wjp_queue::{builtin, Catalog, HandlerError, Handlers, JobContext, QueueError};

use crate::domain::{self, Artifacts};

/// A domain kind: its queue and its timeout (default: the catalog's).
struct DomainKind {
    kind: &'static str,
    queue: &'static str,
    timeout: Option<Duration>,
}

/// The routing table of the system we replace: job type to queue.
const DOMAIN_KINDS: [DomainKind; 8] = [
    DomainKind {
        kind: "analyze_dxf",
        queue: "analysis",
        // Analysis of a large drawing can be slow; the old system gave 600 s.
        timeout: Some(Duration::from_secs(600)),
    },
    DomainKind {
        kind: "calculate_cost",
        queue: "analysis",
        timeout: None,
    },
    DomainKind {
        kind: "convert_image",
        queue: "conversion",
        timeout: None,
    },
    DomainKind {
        kind: "analyze_csv",
        queue: "default",
        timeout: None,
    },
    DomainKind {
        kind: "nest",
        queue: "nesting",
        timeout: None,
    },
    DomainKind {
        kind: "export_components_csv",
        queue: "default",
        timeout: None,
    },
    DomainKind {
        kind: "export_layered_dxf",
        queue: "default",
        timeout: None,
    },
    DomainKind {
        kind: "generate_gcode",
        queue: "gcode",
        timeout: None,
    },
];

/// Every kind this build can run, with its routing. An error means the
/// table above names a kind or queue the engine refuses.
pub fn catalog() -> Result<Catalog, QueueError> {
    let mut catalog = Catalog::standard();
    builtin::register(&mut catalog)?;
    for k in &DOMAIN_KINDS {
        catalog.register(k.kind, k.queue, k.timeout)?;
    }
    Ok(catalog)
}

/// The handler of every kind in [`catalog`]. Files they produce go under
/// `data_dir/output`.
pub fn handlers(data_dir: &Path) -> Result<Handlers, QueueError> {
    let mut handlers = Handlers::new();
    builtin::add_handlers(&mut handlers)?;
    let artifacts = Artifacts {
        output_dir: data_dir.join("output"),
    };
    // Handlers that write files get the artefact folder with them.
    let writing = |handler: fn(&JobContext, &Artifacts) -> Result<Value, HandlerError>| {
        let artifacts = artifacts.clone();
        move |ctx: &JobContext| handler(ctx, &artifacts)
    };
    handlers
        .add("analyze_dxf", writing(domain::analyze_dxf))
        .and_then(|h| h.add("calculate_cost", domain::calculate_cost))
        .and_then(|h| h.add("analyze_csv", domain::analyze_csv))
        .and_then(|h| h.add("convert_image", writing(domain::convert_image)))
        .and_then(|h| {
            h.add(
                "export_components_csv",
                writing(domain::export_components_csv),
            )
        })
        .and_then(|h| h.add("export_layered_dxf", writing(domain::export_layered_dxf)))
        .and_then(|h| h.add("nest", writing(domain::nest)))
        .and_then(|h| h.add("generate_gcode", writing(domain::generate_gcode)))?;
    Ok(handlers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_registered_kind_has_a_handler_and_the_old_routing() {
        let catalog = catalog().expect("the kind table is valid");
        let handlers = handlers(Path::new("unused")).expect("every handler registers");
        for spec in catalog.kinds() {
            assert!(
                handlers.get(&spec.kind).is_some(),
                "{} has no handler",
                spec.kind
            );
        }
        for k in &DOMAIN_KINDS {
            assert_eq!(catalog.kind(k.kind).unwrap().queue.as_str(), k.queue);
        }
        if let Ok(spec) = catalog.kind("analyze_dxf") {
            assert_eq!(spec.timeout, Duration::from_secs(600));
        }
    }
}
