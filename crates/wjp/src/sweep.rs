//! The artefact store's sweep: files live as long as the jobs that made
//! them, and uploads as long as their TTL.
//!
//! A job's artefacts are `output/<folder>/<job id>.<ext>` (or
//! `<job id>.sheet<n>.dxf`), so whose they are is read from their names.
//! A pass lists `output/` and deletes every artefact whose job has no
//! record any more (it expired, or `wjp purge` took it), once the artefact
//! is older than [`NO_RECORD_GRACE`]: a synchronous request's job never has
//! a record, and its client may still fetch the files it was answered.
//! Uploads older than the upload TTL go too.
//!
//! Every `wjp api` and `wjp worker` sweeps every [`EVERY`]; passes on
//! several machines at once only delete the same files twice, which the
//! store takes as done. A pass that finds the queue or the store down stops
//! and waits for the next.

use std::collections::HashSet;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use wjp_queue::{JobId, Queue};
use wjp_store::{Store, Stored};

/// How often a process sweeps.
pub const EVERY: Duration = Duration::from_secs(600);

/// How long an artefact without a job record is kept (the default result
/// TTL): the files of synchronous requests, which make no record.
pub const NO_RECORD_GRACE: Duration = Duration::from_secs(3600);

/// What a pass deleted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    pub artefacts: usize,
    pub uploads: usize,
}

/// The job ids an artefact's name may carry: the name up to each dot
/// (job ids may hold dots themselves), longest first.
fn candidate_ids(stored: &Stored) -> Vec<JobId> {
    let name = stored.key.file_name();
    let mut ids: Vec<JobId> = name
        .match_indices('.')
        .filter_map(|(at, _)| JobId::parse(&name[..at]).ok())
        .collect();
    ids.reverse();
    ids
}

/// One pass: deletes artefacts of jobs without a record (older than
/// `grace`) and uploads older than `upload_ttl`.
pub async fn once(
    store: &Store,
    queue: &Queue,
    upload_ttl: Duration,
    grace: Duration,
) -> anyhow::Result<Swept> {
    let now = Utc::now();
    let older_than = |stored: &Stored, age: Duration| {
        now.signed_duration_since(stored.modified)
            .to_std()
            .is_ok_and(|a| a >= age)
    };
    let mut swept = Swept::default();
    for stored in store.list("output").await? {
        if !older_than(&stored, grace) {
            continue;
        }
        let mut has_record = false;
        for id in candidate_ids(&stored) {
            if queue.job(&id).await?.is_some() {
                has_record = true;
                break;
            }
        }
        if !has_record {
            store.delete(&stored.key).await?;
            swept.artefacts += 1;
        }
    }
    for stored in store.list("uploads").await? {
        if older_than(&stored, upload_ttl) {
            store.delete(&stored.key).await?;
            swept.uploads += 1;
        }
    }
    Ok(swept)
}

/// Deletes the artefacts of the jobs `ids` (which `wjp purge` just took):
/// at once, whatever their age.
pub async fn artefacts_of(store: &Store, ids: &HashSet<String>) -> anyhow::Result<usize> {
    let mut deleted = 0;
    for stored in store.list("output").await.context("listing output/")? {
        if candidate_ids(&stored)
            .iter()
            .any(|id| ids.contains(id.as_str()))
        {
            store.delete(&stored.key).await?;
            deleted += 1;
        }
    }
    Ok(deleted)
}

/// Sweeps every [`EVERY`] until `stop` completes.
pub async fn periodically(
    store: Store,
    queue: Queue,
    upload_ttl: Duration,
    stop: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep(EVERY) => {}
        }
        match once(&store, &queue, upload_ttl, NO_RECORD_GRACE).await {
            Ok(swept) if swept != Swept::default() => tracing::info!(
                artefacts = swept.artefacts,
                uploads = swept.uploads,
                "swept the artefact store"
            ),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "the artefact store's sweep stopped early; next pass later")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wjp_queue::backend::sqlite::{SqliteBackend, SqliteOptions};
    use wjp_queue::{Catalog, JobRequest};

    #[tokio::test]
    async fn a_pass_deletes_files_of_jobs_without_a_record_and_old_uploads() {
        let dir = tempfile::tempdir().unwrap();
        let backend = SqliteBackend::open_dir(dir.path(), SqliteOptions::default()).unwrap();
        let mut catalog = Catalog::default();
        wjp_queue::builtin::register(&mut catalog).unwrap();
        let queue = Queue::new(std::sync::Arc::new(backend), catalog);
        let job = queue
            .enqueue(JobRequest {
                job_id: Some("kept.1".into()),
                ..JobRequest::new("noop", serde_json::json!({}))
            })
            .await
            .unwrap();
        assert_eq!(job.job.id.as_str(), "kept.1");
        let store = Store::local(&dir.path().join("store")).unwrap();
        let key = |k: &str| wjp_store::Key::from_client("k", k, None).unwrap();
        for k in [
            "output/previews/kept.1.svg",
            "output/nesting/kept.1.sheet1.dxf",
            "output/previews/gone.svg",
            "uploads/old.dxf",
        ] {
            store.put(&key(k), b"x".to_vec()).await.unwrap();
        }
        // Young files are kept whatever their job.
        let swept = once(&store, &queue, Duration::from_secs(3600), NO_RECORD_GRACE)
            .await
            .unwrap();
        assert_eq!(swept, Swept::default());
        let swept = once(&store, &queue, Duration::ZERO, Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(
            swept,
            Swept {
                artefacts: 1,
                uploads: 1
            }
        );
        let left: Vec<String> = store
            .list("output")
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.key.to_string())
            .collect();
        assert_eq!(left.len(), 2, "{left:?}");
        assert!(left.iter().all(|k| k.contains("kept.1")), "{left:?}");
        assert!(store.list("uploads").await.unwrap().is_empty());
    }

    #[test]
    fn an_artefact_names_its_job() {
        let stored = |key: &str| Stored {
            key: wjp_store::Key::from_client("k", key, None).unwrap(),
            size: 0,
            modified: Utc::now(),
            sha256: None,
        };
        let ids = |key: &str| {
            candidate_ids(&stored(key))
                .iter()
                .map(|id| id.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids("output/previews/j1.svg"), ["j1"]);
        assert_eq!(
            ids("output/nesting/a.b.sheet1.dxf"),
            ["a.b.sheet1", "a.b", "a"]
        );
        assert!(ids("output/x/noext").is_empty());
    }
}
