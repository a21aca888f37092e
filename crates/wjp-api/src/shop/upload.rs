//! Files sent in a multipart form (`POST /upload`, and the picture or CSV of
//! the endpoints that take one): streamed into the artefact store's
//! `uploads/` under a unique name (a multipart upload, committed only when
//! the whole file arrived; at most a few parts in memory), with its size
//! and SHA-256 recorded, and the form's other fields refused.

use super::*;

/// A file stored from an upload.
pub(super) struct Saved {
    pub(super) key: Key,
    pub(super) name: String,
    pub(super) file_id: String,
    pub(super) original: String,
    pub(super) size: u64,
    pub(super) sha256: String,
}

/// Streams the multipart field `field` into the store's `uploads/` under a
/// sanitised unique name, refusing it with 413 past `limit` bytes. Any
/// other field is refused (400 `unknown_field`): a form field the endpoint
/// would ignore is a mistake the client should hear of.
pub(super) async fn save_field(
    multipart: &mut Multipart,
    field: &str,
    store: &Store,
    default_stem: &str,
    limit: u64,
) -> ApiResult<Saved> {
    let mut saved: Option<Saved> = None;
    let outcome = async {
        while let Some(part) = multipart.next_field().await? {
            let name = part.name().unwrap_or_default().to_owned();
            if name != field || saved.is_some() {
                let message = if name == field {
                    format!("the form holds the field `{field}` twice; send one file")
                } else {
                    crate::error::unknown_field_message(&name, [field])
                };
                return Err(ApiError::new(Code::UnknownField, message));
            }
            saved = Some(save_part(part, store, default_stem, limit).await?);
        }
        Ok(())
    }
    .await;
    match (outcome, saved) {
        (Ok(()), Some(saved)) => Ok(saved),
        (Ok(()), None) => Err(ApiError::new(
            Code::MissingField,
            format!("the multipart form needs a file in the field `{field}`"),
        )),
        (Err(e), saved) => {
            if let Some(saved) = saved {
                if let Err(e) = store.delete(&saved.key).await {
                    tracing::warn!(key = %saved.key, error = %e, "cannot delete a refused upload");
                }
            }
            Err(e)
        }
    }
}

/// Streams one multipart field into the store.
async fn save_part(
    mut part: axum::extract::multipart::Field<'_>,
    store: &Store,
    default_stem: &str,
    limit: u64,
) -> ApiResult<Saved> {
    let original = part
        .file_name()
        .map(str::to_owned)
        .unwrap_or_else(|| default_stem.to_owned());
    let (name, file_id) = unique_name(&original, default_stem);
    let key = Key::service("uploads", &name)?;
    let mut upload = store.upload(&key).await?;
    let written: ApiResult<()> = async {
        while let Some(chunk) = part.chunk().await? {
            if upload.size() + chunk.len() as u64 > limit {
                return Err(ApiError::too_large(limit));
            }
            upload.write(chunk).await?;
        }
        Ok(())
    }
    .await;
    if let Err(e) = written {
        // Nothing of it becomes visible.
        upload.abort().await;
        return Err(e);
    }
    let stored = upload.finish().await?;
    Ok(Saved {
        key,
        name,
        file_id,
        original,
        size: stored.size,
        sha256: stored.sha256.unwrap_or_default(),
    })
}

pub(super) async fn upload(
    State(state): State<AppState>,
    CheckedQuery(_): CheckedQuery<NoQuery>,
    mut multipart: Multipart,
) -> ApiResult<Json<Value>> {
    let saved = save_field(
        &mut multipart,
        "file",
        &state.store,
        "file",
        state.config.max_upload_bytes,
    )
    .await?;
    tracing::info!(key = %saved.key, size = saved.size, sha256 = %saved.sha256, "stored an upload");
    // The old API answered the file's path, which clients send back: in a
    // local store that path, in a bucket the key (both are accepted).
    let file_path = match state.store.local_folders() {
        Some(folders) => saved
            .key
            .under(&folders.root)
            .to_string_lossy()
            .into_owned(),
        None => saved.key.to_string(),
    };
    Ok(Json(json!({
        "success": true,
        "file_id": saved.file_id,
        "file_path": file_path,
        "relative_path": saved.name,
        "key": saved.key.as_str(),
        "url": format!("/files/{}", saved.key),
        "filename": saved.original,
        "size": saved.size,
        "sha256": saved.sha256,
    })))
}
