//! `wjp remnants list|add|remove`: the remnant inventory that nests use
//! before full sheets ([`wjp_api::remnants`]), as the operator keeps it:
//! pieces put on the rack by hand, pieces cut or scrapped.

use std::io::Write;
use std::process::ExitCode;

use anyhow::anyhow;
use wjp_api::materials::MaterialEntry;
use wjp_api::remnants::{Inventory, NewRemnant};
use wjp_queue::Queue;

use super::{positive, print_json};

/// `wjp remnants ...`.
#[derive(Debug, clap::Subcommand)]
pub enum RemnantsCommand {
    /// List the remnants, oldest first, with the nest holding each if one does.
    List {
        /// Print them as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Add a remnant (a piece of sheet on the rack): later nests of the same
    /// material and thickness use it before full sheets.
    Add {
        /// Its size in mm, `WIDTHxHEIGHT`.
        size: String,
        /// Its material, as nests name it (their `material` field).
        #[arg(long)]
        material: Option<String>,
        /// Its thickness in mm (more than 0).
        #[arg(long, allow_negative_numbers = true, value_parser = positive)]
        thickness: Option<f64>,
    },
    /// Remove a remnant (cut, scrapped or lost).
    Remove {
        /// The remnant's id, as `wjp remnants list` shows it.
        id: String,
    },
}

pub(super) async fn remnants(
    queue: &Queue,
    materials: &[MaterialEntry],
    command: RemnantsCommand,
) -> anyhow::Result<ExitCode> {
    let inventory = Inventory::new(queue.clone(), materials);
    // The API's refusals carry the words; their codes are for HTTP.
    let refused = |e: wjp_api::error::ApiError| anyhow!("{}", e.message);
    match command {
        RemnantsCommand::List { json } => {
            let all = inventory.list().await.map_err(refused)?;
            if json {
                print_json(&all)?;
            } else if all.is_empty() {
                println!("no remnants");
            } else {
                // Written, not printed: a closed pipe is an error to return.
                let mut out = std::io::stdout().lock();
                for listed in all {
                    let r = &listed.remnant;
                    let what = match (&r.material, r.thickness) {
                        (Some(m), Some(t)) => format!("{m} {t} mm"),
                        (Some(m), None) => m.clone(),
                        (None, Some(t)) => format!("{t} mm"),
                        (None, None) => "any material".into(),
                    };
                    let from = match (&r.source_job, r.source_sheet) {
                        (Some(job), Some(sheet)) => format!("from {job} sheet {sheet}"),
                        (Some(job), None) => format!("from {job}"),
                        _ => "added by hand".into(),
                    };
                    let held = listed
                        .held_by
                        .map(|job| format!("  held by {job}"))
                        .unwrap_or_default();
                    writeln!(
                        out,
                        "{}  {:.1} x {:.1} mm  {what}  {from}  {}{held}",
                        r.id, r.width, r.height, r.created_at
                    )?;
                }
            }
        }
        RemnantsCommand::Add {
            size,
            material,
            thickness,
        } => {
            let (width, height) = size
                .split_once(['x', 'X'])
                .and_then(|(w, h)| Some((w.trim().parse().ok()?, h.trim().parse().ok()?)))
                .ok_or_else(|| anyhow!("size {size:?}: give WIDTHxHEIGHT in mm, e.g. 600x400"))?;
            let new = NewRemnant {
                width,
                height,
                material,
                thickness,
            };
            let added = inventory.add(new, None, None).await.map_err(refused)?;
            println!(
                "remnant {} added: {:.1} x {:.1} mm",
                added.id, added.width, added.height
            );
        }
        RemnantsCommand::Remove { id } => {
            inventory.remove(&id).await.map_err(refused)?;
            println!("remnant {id} removed");
        }
    }
    Ok(ExitCode::SUCCESS)
}
