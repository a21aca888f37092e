//! The remnant inventory: the clean rectangular offcuts that nests left,
//! which later nests use before full sheets.
//!
//! It lives in the queue's store as a stock pool ([`wjp_queue::stock`]),
//! not in the artefact store: the queue's store is shared by every API
//! process and worker on every machine (SQLite on one machine, Redis across
//! many), and its take is atomic (one SQL transaction, one Redis script), so
//! two nests running at once never use the same remnant. A remnant is taken
//! by a nest before it starts (held until the job's timeout has passed,
//! then free again if its process died), used up when the nest's layout
//! places parts on it, and given back otherwise.
//!
//! Over HTTP: `GET /remnants`, `POST /remnants` (an operator adds one),
//! `DELETE /remnants/{id}`. The binary's nest jobs use [`Inventory`].

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use wjp_queue::{Queue, StockItem, Timestamp};

use crate::error::{ApiError, ApiResult, Code};
use crate::jobs::ApiJson;
use crate::materials::{name_key, MaterialEntry};
use crate::AppState;

/// The stock pool of the inventory.
pub const POOL: &str = "remnants";
/// Most remnants the inventory keeps: an add past it is refused.
pub const MAX_REMNANTS: usize = 10_000;
/// Largest side of a remnant, mm (the largest sheet a nest takes).
pub const MAX_SIDE_MM: f64 = 100_000.0;
/// Longest material name, characters.
pub const MAX_MATERIAL_CHARS: usize = 64;
/// Largest thickness, mm.
pub const MAX_THICKNESS_MM: f64 = 1000.0;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/remnants", get(list).post(add))
        .route("/remnants/{id}", axum::routing::delete(remove))
}

/// A remnant as the inventory keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Remnant {
    pub id: String,
    /// Size, mm.
    pub width: f64,
    pub height: f64,
    /// As the job (or the operator) named it; `None` when nobody did.
    pub material: Option<String>,
    pub thickness: Option<f64>,
    /// The nest that left it, and the sheet (as that nest numbers them).
    pub source_job: Option<String>,
    pub source_sheet: Option<usize>,
    /// RFC 3339.
    pub created_at: String,
}

impl Remnant {
    fn area(&self) -> f64 {
        self.width * self.height
    }
}

/// A remnant to add: its size, and what it is when known.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRemnant {
    pub width: f64,
    pub height: f64,
    #[serde(default)]
    pub material: Option<String>,
    #[serde(default)]
    pub thickness: Option<f64>,
}

impl NewRemnant {
    /// Refuses sizes and thicknesses out of range and material names that
    /// are empty, long, or hold anything but letters, digits, spaces and
    /// `_ - .`.
    pub fn check(&self) -> ApiResult<()> {
        for (name, v) in [("width", self.width), ("height", self.height)] {
            if !(v.is_finite() && v > 0.0 && v <= MAX_SIDE_MM) {
                return Err(ApiError::new(
                    Code::OutOfRange,
                    format!("{name}: {v} is not in (0, {MAX_SIDE_MM}] mm"),
                ));
            }
        }
        if let Some(t) = self.thickness {
            if !(t.is_finite() && t > 0.0 && t <= MAX_THICKNESS_MM) {
                return Err(ApiError::new(
                    Code::OutOfRange,
                    format!("thickness: {t} is not in (0, {MAX_THICKNESS_MM}] mm"),
                ));
            }
        }
        if let Some(m) = &self.material {
            let plain = m
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, ' ' | '_' | '-' | '.'));
            if m.trim().is_empty() || m.chars().count() > MAX_MATERIAL_CHARS || !plain {
                return Err(ApiError::new(
                    Code::InvalidValue,
                    format!(
                        "material: give 1 to {MAX_MATERIAL_CHARS} letters, digits, spaces, \
                         '_', '-' or '.'"
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// A remnant as listed: with the nest holding it, if one does.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    #[serde(flatten)]
    pub remnant: Remnant,
    pub held_by: Option<String>,
    pub held_until: Option<String>,
}

/// The inventory, over the queue's store. Materials are named as the
/// shop's table names them: an alias (`ms`) or another spelling (`Mild
/// Steel`) of a material is stored, and matched, as its name (`mild_steel`),
/// so a remnant recorded under one name is found by a nest that uses
/// another.
#[derive(Clone)]
pub struct Inventory {
    queue: Queue,
    materials: Arc<[MaterialEntry]>,
    /// Every name and alias of the table as compared (`name_key`), with the
    /// table's name it stands for: made once, looked up per remnant.
    spellings: Arc<[(String, String)]>,
}

fn parse(item: &StockItem) -> Option<Remnant> {
    serde_json::from_str(&item.body).ok()
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(
        Code::RemnantNotFound,
        format!(
            "remnant {:?} not found; GET /remnants lists them",
            id.chars().take(100).collect::<String>()
        ),
    )
}

impl Inventory {
    /// The inventory of `queue`'s store, for a shop whose materials are
    /// `materials` (none: names are kept as given, compared without case).
    pub fn new(queue: Queue, materials: &[MaterialEntry]) -> Self {
        Inventory {
            queue,
            materials: materials.into(),
            spellings: materials
                .iter()
                .flat_map(|m| {
                    std::iter::once(&m.name)
                        .chain(&m.aliases)
                        .map(|spelling| (name_key(spelling), m.name.clone()))
                })
                .collect(),
        }
    }

    /// The table's name for `name` (its own, an alias's, or another
    /// spelling's: case, spaces and `-` aside); `None` when the table has no
    /// such material.
    fn known_material(&self, name: &str) -> Option<&str> {
        let key = name_key(name);
        self.spellings
            .iter()
            .find(|(spelling, _)| *spelling == key)
            .map(|(_, table_name)| table_name.as_str())
    }

    /// What `name` is compared as: the table's name for it, or (a material
    /// the table lacks, such as one recorded before the table changed) its
    /// own spelling with case, spaces and `-` aside.
    fn material_key(&self, name: &str) -> String {
        self.known_material(name)
            .map_or_else(|| name_key(name), str::to_owned)
    }

    /// Whether a nest of the material compared as `material_key` and of
    /// `thickness` (each `None` when its payload names none) may cut from
    /// `remnant`: both must agree, `None` with `None`.
    fn matches(
        &self,
        remnant: &Remnant,
        material_key: Option<&str>,
        thickness: Option<f64>,
    ) -> bool {
        let material_agrees = match (&remnant.material, material_key) {
            (Some(a), Some(b)) => self.material_key(a) == b,
            (None, None) => true,
            _ => false,
        };
        let thickness_agrees = match (remnant.thickness, thickness) {
            (Some(a), Some(b)) => (a - b).abs() < 1e-6,
            (None, None) => true,
            _ => false,
        };
        material_agrees && thickness_agrees
    }

    /// The material a new remnant is stored under: the table's name. An
    /// operator's name the table lacks is refused (a typo would hide the
    /// remnant from every nest); a nest's offcut keeps its job's material
    /// as spelled, the job having been accepted already.
    fn stored_material(&self, name: &str, from_a_nest: bool) -> ApiResult<String> {
        if let Some(known) = self.known_material(name) {
            return Ok(known.to_owned());
        }
        if from_a_nest || self.materials.is_empty() {
            return Ok(name.trim().to_owned());
        }
        let names = self.materials.iter().flat_map(|m| {
            std::iter::once(m.name.as_str()).chain(m.aliases.iter().map(String::as_str))
        });
        let hint = crate::error::closest(name, names)
            .map(|near| format!("did you mean {near:?}? "))
            .unwrap_or_default();
        let known: Vec<&str> = self.materials.iter().map(|m| m.name.as_str()).collect();
        Err(ApiError::new(
            Code::InvalidValue,
            format!(
                "material {:?} is not one of the shop's materials; {hint}known: {} \
                 (GET /materials lists them with their aliases)",
                name.trim(),
                known.join(", ")
            ),
        ))
    }

    /// Every remnant, oldest first, with its hold.
    pub async fn list(&self) -> ApiResult<Vec<Listed>> {
        let now = Timestamp::now();
        let mut out: Vec<Listed> = self
            .queue
            .stock(POOL)
            .await?
            .iter()
            .filter_map(|item| {
                let held = item.held_until.filter(|until| *until > now);
                Some(Listed {
                    remnant: parse(item)?,
                    held_by: held.and(item.holder.clone()),
                    held_until: held.map(Timestamp::to_rfc3339),
                })
            })
            .collect();
        out.sort_by(|a, b| {
            (a.remnant.created_at.as_str(), a.remnant.id.as_str())
                .cmp(&(b.remnant.created_at.as_str(), b.remnant.id.as_str()))
        });
        Ok(out)
    }

    /// Adds a remnant (checked first) with a new id; refused when the
    /// inventory holds [`MAX_REMNANTS`].
    pub async fn add(
        &self,
        new: NewRemnant,
        source_job: Option<String>,
        source_sheet: Option<usize>,
    ) -> ApiResult<Remnant> {
        new.check()?;
        let material = new
            .material
            .as_deref()
            .map(|m| self.stored_material(m, source_job.is_some()))
            .transpose()?;
        let remnant = Remnant {
            id: format!("r{}", uuid::Uuid::new_v4().simple()),
            width: new.width,
            height: new.height,
            material,
            thickness: new.thickness,
            source_job,
            source_sheet,
            created_at: Timestamp::now().to_rfc3339(),
        };
        let body = serde_json::to_string(&remnant)
            .map_err(|e| ApiError::internal(format!("cannot encode the remnant: {e}")))?;
        if !self
            .queue
            .stock_add(POOL, &remnant.id, &body, MAX_REMNANTS)
            .await?
        {
            return Err(ApiError::new(
                Code::RemnantInventoryFull,
                format!(
                    "the inventory holds {MAX_REMNANTS} remnants, its limit; remove some \
                     (DELETE /remnants/{{id}}) first"
                ),
            ));
        }
        Ok(remnant)
    }

    /// Deletes a remnant, held or not.
    pub async fn remove(&self, id: &str) -> ApiResult<()> {
        if wjp_queue::stock::check_item_id(id).is_err()
            || !self.queue.stock_remove(POOL, id).await?
        {
            return Err(not_found(id));
        }
        Ok(())
    }

    /// Takes for `holder` (a job id), for `hold`, up to `max` free
    /// remnants of this material and thickness that `fits` accepts,
    /// smallest first (offcuts are used up before larger pieces), in one
    /// atomic step: what another nest took in the meantime is not among
    /// them.
    pub async fn take_matching(
        &self,
        material: Option<&str>,
        thickness: Option<f64>,
        fits: &dyn Fn(&Remnant) -> bool,
        holder: &str,
        hold: Duration,
        max: usize,
    ) -> ApiResult<Vec<Remnant>> {
        let now = Timestamp::now();
        let wanted = material.map(|m| self.material_key(m));
        let mut candidates: Vec<Remnant> = self
            .queue
            .stock(POOL)
            .await?
            .iter()
            .filter(|item| item.takeable_by(holder, now))
            .filter_map(parse)
            .filter(|r| self.matches(r, wanted.as_deref(), thickness) && fits(r))
            .collect();
        candidates.sort_by(|a, b| a.area().total_cmp(&b.area()).then(a.id.cmp(&b.id)));
        candidates.truncate(max);
        let ids: Vec<String> = candidates.iter().map(|r| r.id.clone()).collect();
        let taken = self.queue.stock_take(POOL, &ids, holder, hold).await?;
        Ok(candidates
            .into_iter()
            .filter(|r| taken.contains(&r.id))
            .collect())
    }

    /// Of the remnants `holder` took: deletes those its nest `used`, gives
    /// the others back.
    pub async fn settle(
        &self,
        holder: &str,
        used: &[String],
        released: &[String],
    ) -> ApiResult<()> {
        Ok(self
            .queue
            .stock_settle(POOL, holder, used, released)
            .await?)
    }
}

async fn list(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let remnants = Inventory::new(state.queue, &state.config.materials)
        .list()
        .await?;
    Ok(Json(
        json!({ "success": true, "count": remnants.len(), "remnants": remnants }),
    ))
}

async fn add(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<NewRemnant>,
) -> ApiResult<Json<Value>> {
    let remnant = Inventory::new(state.queue, &state.config.materials)
        .add(body, None, None)
        .await?;
    Ok(Json(json!({ "success": true, "remnant": remnant })))
}

async fn remove(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    Inventory::new(state.queue, &state.config.materials)
        .remove(&id)
        .await?;
    Ok(Json(json!({ "success": true, "id": id, "removed": true })))
}
