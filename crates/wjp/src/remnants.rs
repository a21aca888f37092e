//! A nest job's remnants, on the parent's side of the job's process
//! ([`crate::child`]): before the process starts, the remnants of the
//! inventory that match the job's material and thickness and can hold a
//! part are taken for it ([`Held::take`]); the process nests on them before
//! its stock sheets; when it answers with a layout (completed, or cancelled
//! with its best so far) the remnants it placed parts on are used up, the
//! others given back, and the offcut of its last sheet joins the inventory
//! ([`Held::settle`]). Without a layout every taken remnant goes back.
//!
//! The inventory is [`wjp_api::remnants::Inventory`], in the queue's store:
//! shared by every process and machine, taken atomically. An inventory that
//! does not answer costs the job its remnants, never the job itself.

use std::time::Duration;

use serde_json::{json, Value};
use wjp_api::remnants::{Inventory, NewRemnant, Remnant};
use wjp_cam::NestOptions;
use wjp_queue::{HandlerError, Job};

use crate::domain::RemnantSheet;

/// Most remnants one nest takes: each is a sheet the search must consider.
pub const MAX_PER_NEST: usize = 20;
/// An offcut whose shorter side is below this (mm) is scrap, not stock.
pub const MIN_KEPT_SIDE_MM: f64 = 50.0;
/// How long a taken remnant stays held past the job's timeout: a job whose
/// worker died gives its remnants back after this.
const HOLD_MARGIN: Duration = Duration::from_secs(60);

/// The remnants taken for one nest job.
pub struct Held {
    inventory: Inventory,
    runtime: tokio::runtime::Handle,
    holder: String,
    material: Option<String>,
    thickness: Option<f64>,
    taken: Vec<Remnant>,
}

impl Held {
    /// Takes the remnants `job` may use first (none when its payload says
    /// `use_remnants: false`). `None` when there is no runtime to reach the
    /// inventory from (never in the service).
    pub fn take(inventory: &Inventory, job: &Job) -> Option<Held> {
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let payload = &job.payload;
        let mut held = Held {
            inventory: inventory.clone(),
            runtime,
            holder: job.id.to_string(),
            material: payload
                .get("material")
                .and_then(Value::as_str)
                .map(str::to_owned),
            thickness: payload.get("thickness").and_then(Value::as_f64),
            taken: Vec::new(),
        };
        if payload.get("use_remnants") == Some(&Value::Bool(false)) {
            return Some(held);
        }
        // A remnant the nest would refuse (no room inside its edge
        // distance) is never taken.
        let options: NestOptions = serde_json::from_value(payload.clone()).unwrap_or_default();
        let least_side = 2.0 * (options.edge() + options.curve_tolerance_mm) + 1.0;
        let fits = |r: &Remnant| r.width.min(r.height) > least_side;
        let hold = Duration::from_millis(job.timeout_ms) + HOLD_MARGIN;
        let taking = held.inventory.take_matching(
            held.material.as_deref(),
            held.thickness,
            &fits,
            &held.holder,
            hold,
            MAX_PER_NEST,
        );
        match held.runtime.block_on(taking) {
            Ok(taken) => held.taken = taken,
            Err(e) => tracing::warn!(
                job = %job.id,
                error = %e,
                "the remnant inventory did not answer; nesting on stock sheets only"
            ),
        }
        Some(held)
    }

    /// The taken remnants as the job's process nests on them, in order.
    pub fn sheets(&self) -> Vec<RemnantSheet> {
        self.taken
            .iter()
            .map(|r| RemnantSheet {
                id: r.id.clone(),
                width: r.width,
                height: r.height,
            })
            .collect()
    }

    /// After the job's process answered `outcome`: with a layout, uses up
    /// the remnants it placed parts on, gives the others back and records
    /// its offcut (its id goes into the result's `remnant`); without one,
    /// gives every taken remnant back.
    pub fn settle(self, outcome: &mut Result<Value, HandlerError>) {
        let layout = match outcome {
            Ok(value) | Err(HandlerError::CancelledWithResult(value)) => Some(value),
            Err(_) => None,
        };
        let used: Vec<String> = layout
            .as_deref()
            .and_then(|v| v.get("remnants_used")?.as_array().cloned())
            .into_iter()
            .flatten()
            .filter_map(|u| u.get("id")?.as_str().map(str::to_owned))
            .filter(|id| self.taken.iter().any(|r| &r.id == id))
            .collect();
        let released: Vec<String> = self
            .taken
            .iter()
            .map(|r| r.id.clone())
            .filter(|id| !used.contains(id))
            .collect();
        let settling = self.inventory.settle(&self.holder, &used, &released);
        if let Err(e) = self.runtime.block_on(settling) {
            tracing::warn!(
                job = %self.holder,
                error = %e,
                "the remnant inventory did not answer; the remnants this job took come back \
                 when their hold runs out"
            );
        }
        if let Some(result) = layout {
            self.record_offcut(result);
        }
    }

    /// The offcut of the layout's last sheet into the inventory, when it is
    /// large enough to be stock.
    fn record_offcut(&self, result: &mut Value) {
        let offcut = &result["remnant"];
        let (Some(width), Some(height)) = (offcut["width"].as_f64(), offcut["height"].as_f64())
        else {
            return;
        };
        if width.min(height) < MIN_KEPT_SIDE_MM {
            return;
        }
        let sheet = offcut["sheet"]
            .as_u64()
            .and_then(|s| usize::try_from(s).ok());
        let new = NewRemnant {
            width,
            height,
            material: self.material.clone(),
            thickness: self.thickness,
        };
        let adding = self.inventory.add(new, Some(self.holder.clone()), sheet);
        match self.runtime.block_on(adding) {
            Ok(remnant) => result["remnant"]["id"] = json!(remnant.id),
            Err(e) => tracing::warn!(
                job = %self.holder,
                error = %e,
                "the offcut of this nest was not added to the remnant inventory"
            ),
        }
    }
}
