//! Files sent in a multipart form (`POST /upload`, and the picture or CSV of
//! the endpoints that take one): streamed to `uploads/` under a unique
//! name, with the form's other fields refused.

use super::*;

/// A file stored from an upload.
pub(super) struct Saved {
    pub(super) path: PathBuf,
    pub(super) name: String,
    pub(super) file_id: String,
    pub(super) original: String,
    pub(super) size: u64,
}

/// Streams the multipart field `field` into `dir` under a sanitised unique
/// name, refusing it with 413 past `limit` bytes. Any other field is
/// refused (400 `unknown_field`): a form field the endpoint would ignore is
/// a mistake the client should hear of.
pub(super) async fn save_field(
    multipart: &mut Multipart,
    field: &str,
    dir: &Path,
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
            saved = Some(save_part(part, dir, default_stem, limit).await?);
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
                let _ = tokio::fs::remove_file(&saved.path).await;
            }
            Err(e)
        }
    }
}

/// Streams one multipart field into `dir`.
async fn save_part(
    mut part: axum::extract::multipart::Field<'_>,
    dir: &Path,
    default_stem: &str,
    limit: u64,
) -> ApiResult<Saved> {
    {
        let original = part
            .file_name()
            .map(str::to_owned)
            .unwrap_or_else(|| default_stem.to_owned());
        let (name, file_id) = unique_name(&original, default_stem);
        let path = dir.join(&name);
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .await
            .map_err(|e| ApiError::internal(format!("cannot store the upload: {e}")))?;
        let mut size = 0u64;
        let written: ApiResult<()> = async {
            while let Some(chunk) = part.chunk().await? {
                size += chunk.len() as u64;
                if size > limit {
                    return Err(ApiError::too_large(limit));
                }
                file.write_all(&chunk)
                    .await
                    .map_err(|e| ApiError::internal(format!("cannot store the upload: {e}")))?;
            }
            file.flush()
                .await
                .map_err(|e| ApiError::internal(format!("cannot store the upload: {e}")))?;
            Ok(())
        }
        .await;
        drop(file);
        if let Err(e) = written {
            let _ = tokio::fs::remove_file(&path).await;
            return Err(e);
        }
        Ok(Saved {
            path,
            name,
            file_id,
            original,
            size,
        })
    }
}

pub(super) async fn upload(
    State(state): State<AppState>,
    CheckedQuery(_): CheckedQuery<NoQuery>,
    mut multipart: Multipart,
) -> ApiResult<Json<Value>> {
    let saved = save_field(
        &mut multipart,
        "file",
        &state.folders.uploads,
        "file",
        state.config.max_upload_bytes,
    )
    .await?;
    tracing::info!(file = %saved.name, size = saved.size, "stored an upload");
    Ok(Json(json!({
        "success": true,
        "file_id": saved.file_id,
        "file_path": saved.path,
        "relative_path": saved.name,
        "filename": saved.original,
        "size": saved.size,
    })))
}
