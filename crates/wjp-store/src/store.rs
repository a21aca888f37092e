//! The artefact store: one [`object_store`] client (a local folder, or an
//! S3-compatible bucket under a prefix) behind every file of the service.
//!
//! - Reads stream: [`Store::get`] answers a stream of chunks (and a byte
//!   range when asked), [`Store::fetch_to`] copies a file to a local path,
//!   refusing one past a limit before reading it.
//! - Writes are whole or absent: [`Store::put`] is one request (a rename in
//!   a folder); [`Upload`] streams a large file as a multipart upload that
//!   becomes visible only when [`Upload::finish`] commits it, and records
//!   its size and SHA-256 on the way.
//! - Errors say what a caller can do: [`StoreError::NotFound`] (the file is
//!   not there; retrying cannot help) and [`StoreError::Unreachable`] (the
//!   store did not answer in time; retrying later may) are apart.
//!
//! A local store checks every key it reads with [`Folders::resolve`] too: a
//! symlink inside the folders pointing out is refused, as it always was.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use object_store::{
    BackoffConfig, ClientOptions, GetOptions, GetRange, ObjectStore, PutPayload, RetryConfig,
    WriteMultipart,
};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::{Folders, Key, PathError};

/// Parts of a multipart upload: S3's smallest part is 5 MiB.
const PART_BYTES: usize = 5 << 20;

/// Parts of one upload in flight at once: with [`PART_BYTES`], an upload
/// holds at most about 15 MB, whatever the file's size.
const PARTS_IN_FLIGHT: usize = 2;

/// How long a request may take to connect: past it the store counts as
/// unreachable (and the request is retried a few times first).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long one request may take in all: a 50 MB part-less read over a
/// slow link must fit.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);

/// How long a store's retries of one request may last: a store briefly
/// away (a restart) is waited for; a longer outage fails the job, which
/// the queue retries later.
const RETRY_FOR: Duration = Duration::from_secs(15);

/// How long [`Store::check`] waits for an answer.
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{key} is not in the store")]
    NotFound { key: String },

    #[error(transparent)]
    Refused(#[from] PathError),

    #[error("{key} is {size} bytes; the limit is {limit}")]
    TooLarge { key: String, size: u64, limit: u64 },

    #[error("the range asked for is outside the file ({size} bytes)")]
    RangeNotSatisfiable { size: u64 },

    #[error("the artefact store ({store}) did not answer: {message}")]
    Unreachable { store: String, message: String },

    #[error("the artefact store is not set up right: {0}")]
    Config(String),

    #[error("cannot write the local copy {path}: {message}")]
    Local { path: String, message: String },
}

impl StoreError {
    /// A stable name for programs.
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::NotFound { .. } => "file_not_found",
            StoreError::Refused(e) => e.code(),
            StoreError::TooLarge { .. } => "input_too_large",
            StoreError::RangeNotSatisfiable { .. } => "range_not_satisfiable",
            StoreError::Unreachable { .. } => "store_unreachable",
            StoreError::Config(_) => "store_config",
            StoreError::Local { .. } => "local_write_failed",
        }
    }

    /// Whether the same request could succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            StoreError::Unreachable { .. } | StoreError::Local { .. }
        )
    }
}

/// A stored file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub key: Key,
    pub size: u64,
    pub modified: DateTime<Utc>,
    /// The SHA-256 of the content, hex, when this process wrote it.
    pub sha256: Option<String>,
}

/// Part of a file, as an HTTP `Range` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// From the offset to the end.
    From(u64),
    /// From the first offset to the second, both included.
    Inclusive(u64, u64),
    /// The last so many bytes.
    Last(u64),
}

impl ByteRange {
    /// The half-open range of a file of `size` bytes, `None` when it holds
    /// no byte of the file.
    pub fn within(self, size: u64) -> Option<std::ops::Range<u64>> {
        let range = match self {
            ByteRange::From(start) => start..size,
            ByteRange::Inclusive(start, end) if start <= end => {
                start..end.saturating_add(1).min(size)
            }
            ByteRange::Inclusive(..) => return None,
            ByteRange::Last(n) => size.saturating_sub(n)..size,
        };
        (range.start < range.end).then_some(range)
    }
}

/// A file being read: its record, the bytes sent (all, or the range
/// asked), and the stream of them.
pub struct Download {
    pub stored: Stored,
    pub range: std::ops::Range<u64>,
    pub partial: bool,
    pub chunks: BoxStream<'static, Result<Bytes, StoreError>>,
}

/// Where the store is.
#[derive(Debug)]
enum Place {
    /// A folder on this machine (the data directory by default).
    Local(Folders),
    /// A bucket: `s3://bucket/prefix`, and the endpoint when not AWS's.
    S3 {
        url: String,
        endpoint: Option<String>,
    },
}

/// The artefact store; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    objects: Arc<dyn ObjectStore>,
    place: Arc<Place>,
}

impl Store {
    /// The store a setting names: none (or empty) for the folders of
    /// `data_dir`, `file:///path` for another folder, `s3://BUCKET[/PREFIX]`
    /// for a bucket, with the standard `AWS_*` variables (`AWS_ENDPOINT_URL`
    /// for a server other than AWS's, where `http://` is allowed).
    pub fn open(url: Option<&str>, data_dir: &Path) -> Result<Store, StoreError> {
        let url = url.map(str::trim).filter(|u| !u.is_empty());
        match url {
            None => Store::local(data_dir),
            Some(url) if url.starts_with("file://") => {
                Store::local(Path::new(&url["file://".len()..]))
            }
            Some(url) if url.starts_with("s3://") => Store::s3(url),
            Some(url) => Err(StoreError::Config(format!(
                "unknown storage URL {url:?}: give s3://BUCKET/PREFIX, file:///PATH, \
                 or nothing for the data directory"
            ))),
        }
    }

    /// The folders under `root`, created if missing.
    pub fn local(root: &Path) -> Result<Store, StoreError> {
        let config = |e: &dyn std::fmt::Display| {
            StoreError::Config(format!("cannot use {} as the store: {e}", root.display()))
        };
        if !root.is_absolute() && root.as_os_str().is_empty() {
            return Err(config(&"an empty path"));
        }
        let folders = Folders::create(root).map_err(|e| config(&e))?;
        let objects = LocalFileSystem::new_with_prefix(&folders.root).map_err(|e| config(&e))?;
        Ok(Store {
            objects: Arc::new(objects),
            place: Arc::new(Place::Local(folders)),
        })
    }

    fn s3(url: &str) -> Result<Store, StoreError> {
        let rest = &url["s3://".len()..];
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.'));
        if !bucket_ok {
            return Err(StoreError::Config(format!(
                "{url:?}: a bucket name is 3 to 63 lowercase letters, digits, dots and hyphens"
            )));
        }
        let prefix = prefix.trim_matches('/');
        let prefix_ok = prefix.split('/').all(|s| {
            s.is_empty()
                || (s != ".."
                    && s != "."
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        });
        if !prefix_ok {
            return Err(StoreError::Config(format!(
                "{url:?}: a prefix is folders of letters, digits, '-', '_' and '.'"
            )));
        }
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_client_options(
                ClientOptions::new()
                    .with_connect_timeout(CONNECT_TIMEOUT)
                    .with_timeout(REQUEST_TIMEOUT),
            )
            .with_retry(RetryConfig {
                backoff: BackoffConfig::default(),
                max_retries: 4,
                retry_timeout: RETRY_FOR,
            });
        let endpoint = std::env::var("AWS_ENDPOINT_URL")
            .or_else(|_| std::env::var("AWS_ENDPOINT"))
            .ok()
            .filter(|e| !e.trim().is_empty());
        if let Some(endpoint) = &endpoint {
            // A plain-http endpoint is a choice its URL states (a server on
            // the shop's own network): allowed then, never otherwise.
            builder = builder
                .with_endpoint(endpoint.trim())
                .with_allow_http(endpoint.trim().starts_with("http://"));
        }
        let s3 = builder
            .build()
            .map_err(|e| StoreError::Config(format!("{url}: {e}")))?;
        let objects: Arc<dyn ObjectStore> = if prefix.is_empty() {
            Arc::new(s3)
        } else {
            Arc::new(PrefixStore::new(s3, prefix))
        };
        let url = if prefix.is_empty() {
            format!("s3://{bucket}")
        } else {
            format!("s3://{bucket}/{prefix}")
        };
        Ok(Store {
            objects,
            place: Arc::new(Place::S3 { url, endpoint }),
        })
    }

    /// `local` or `s3`.
    pub fn kind(&self) -> &'static str {
        match &*self.place {
            Place::Local(_) => "local",
            Place::S3 { .. } => "s3",
        }
    }

    /// Where the store is, for people: `/srv/wjp-data (local folder)` or
    /// `s3://shop/wjp at http://10.0.0.5:9000`. Never a credential.
    pub fn describe(&self) -> String {
        match &*self.place {
            Place::Local(folders) => format!("{} (local folder)", folders.root.display()),
            Place::S3 {
                url,
                endpoint: Some(endpoint),
            } => format!("{url} at {endpoint}"),
            Place::S3 {
                url,
                endpoint: None,
            } => url.clone(),
        }
    }

    /// The folders, when the store is a local folder.
    pub fn local_folders(&self) -> Option<&Folders> {
        match &*self.place {
            Place::Local(folders) => Some(folders),
            Place::S3 { .. } => None,
        }
    }

    /// The key a client means by `text` in `field` ([`Key::from_client`]):
    /// absolute paths count only in a local store.
    pub fn client_key(&self, field: &str, text: &str) -> Result<Key, PathError> {
        Key::from_client(field, text, self.local_folders())
    }

    /// In a local store, the file of `key` after following symlinks, which
    /// must exist and stay inside the folders; `None` in a bucket (which has
    /// no symlinks; its files are looked up when read).
    pub fn check_local(&self, field: &str, key: &Key) -> Result<Option<PathBuf>, PathError> {
        match &*self.place {
            Place::Local(folders) => {
                let path = key.under(&folders.root);
                folders
                    .resolve(field, &path.to_string_lossy())
                    .map(Some)
                    .map_err(|e| match e {
                        // Quote the key as the client gave it, not the path.
                        PathError::NotFound { field, .. } => PathError::NotFound {
                            field,
                            given: key.to_string(),
                        },
                        other => other,
                    })
            }
            Place::S3 { .. } => Ok(None),
        }
    }

    fn object_path(key: &Key) -> ObjectPath {
        // A key's segments are all legal object names (see `Key`).
        ObjectPath::from(key.as_str())
    }

    fn failed(&self, key: &Key, e: object_store::Error) -> StoreError {
        match e {
            object_store::Error::NotFound { .. } => StoreError::NotFound {
                key: key.to_string(),
            },
            other => StoreError::Unreachable {
                store: self.describe(),
                message: other.to_string(),
            },
        }
    }

    /// Checks a key's path in a local store; a missing file is `NotFound`.
    fn confine(&self, key: &Key) -> Result<(), StoreError> {
        match self.check_local("key", key) {
            Ok(_) => Ok(()),
            Err(PathError::NotFound { .. }) => Err(StoreError::NotFound {
                key: key.to_string(),
            }),
            Err(e) => Err(StoreError::Refused(e)),
        }
    }

    /// The record of a stored file.
    pub async fn head(&self, key: &Key) -> Result<Stored, StoreError> {
        self.confine(key)?;
        let meta = self
            .objects
            .head(&Self::object_path(key))
            .await
            .map_err(|e| self.failed(key, e))?;
        Ok(Stored {
            key: key.clone(),
            size: meta.size,
            modified: meta.last_modified,
            sha256: None,
        })
    }

    /// Reads a file, or the part `range` names, as a stream of chunks.
    pub async fn get(&self, key: &Key, range: Option<ByteRange>) -> Result<Download, StoreError> {
        let stored = self.head(key).await?;
        let (span, partial) = match range {
            None => (0..stored.size, false),
            Some(r) => (
                r.within(stored.size)
                    .ok_or(StoreError::RangeNotSatisfiable { size: stored.size })?,
                true,
            ),
        };
        let options = GetOptions {
            range: (span.start < span.end).then(|| GetRange::Bounded(span.clone())),
            ..GetOptions::default()
        };
        let result = self
            .objects
            .get_opts(&Self::object_path(key), options)
            .await
            .map_err(|e| self.failed(key, e))?;
        let (store, name) = (self.clone(), key.clone());
        let chunks = result
            .into_stream()
            .map_err(move |e| store.failed(&name, e))
            .boxed();
        Ok(Download {
            stored,
            range: span,
            partial,
            chunks,
        })
    }

    /// Writes a whole file in one request (small files: a job's outputs).
    pub async fn put(&self, key: &Key, bytes: impl Into<Bytes>) -> Result<Stored, StoreError> {
        let bytes: Bytes = bytes.into();
        let size = bytes.len() as u64;
        let sha256 = hex(&Sha256::digest(&bytes));
        self.objects
            .put(&Self::object_path(key), PutPayload::from_bytes(bytes))
            .await
            .map_err(|e| self.failed(key, e))?;
        Ok(Stored {
            key: key.clone(),
            size,
            modified: Utc::now(),
            sha256: Some(sha256),
        })
    }

    /// Starts a streamed write of `key`, visible once finished.
    pub async fn upload(&self, key: &Key) -> Result<Upload, StoreError> {
        let upload = self
            .objects
            .put_multipart(&Self::object_path(key))
            .await
            .map_err(|e| self.failed(key, e))?;
        Ok(Upload {
            store: self.clone(),
            key: key.clone(),
            writer: WriteMultipart::new_with_chunk_size(upload, PART_BYTES),
            hasher: Sha256::new(),
            size: 0,
        })
    }

    /// Copies a stored file to `path` (a file created there), refusing one
    /// past `limit` bytes before reading it. Returns the bytes copied.
    pub async fn fetch_to(&self, key: &Key, path: &Path, limit: u64) -> Result<u64, StoreError> {
        let local = |e: std::io::Error| StoreError::Local {
            path: path.display().to_string(),
            message: e.to_string(),
        };
        let mut download = self.get(key, None).await?;
        let too_large = |size| StoreError::TooLarge {
            key: key.to_string(),
            size,
            limit,
        };
        if download.stored.size > limit {
            return Err(too_large(download.stored.size));
        }
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir).await.map_err(local)?;
        }
        let mut file = tokio::fs::File::create(path).await.map_err(local)?;
        let mut copied = 0u64;
        while let Some(chunk) = download.chunks.next().await {
            let chunk = chunk?;
            copied += chunk.len() as u64;
            // The file may have been replaced by a larger one since `head`.
            if copied > limit {
                return Err(too_large(copied));
            }
            file.write_all(&chunk).await.map_err(local)?;
        }
        file.flush().await.map_err(local)?;
        Ok(copied)
    }

    /// Deletes a file; a missing one is not an error.
    pub async fn delete(&self, key: &Key) -> Result<(), StoreError> {
        match self.objects.delete(&Self::object_path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.failed(key, e)),
        }
    }

    /// Every file in `folder` (one of [`crate::FOLDERS`]), at any depth.
    /// Files whose names no key could have (put there by other means) are
    /// left out: the service never reads or deletes them.
    pub async fn list(&self, folder: &str) -> Result<Vec<Stored>, StoreError> {
        let prefix = ObjectPath::from(folder);
        let mut out = Vec::new();
        let mut listing = self.objects.list(Some(&prefix));
        while let Some(meta) = listing.next().await {
            let meta = meta.map_err(|e| StoreError::Unreachable {
                store: self.describe(),
                message: e.to_string(),
            })?;
            if let Ok(key) = Key::from_client("key", meta.location.as_ref(), None) {
                if key.folder() == folder {
                    out.push(Stored {
                        key,
                        size: meta.size,
                        modified: meta.last_modified,
                        sha256: None,
                    });
                }
            }
        }
        Ok(out)
    }

    /// Whether the store answers, within a few seconds: one listing of a
    /// single level of `uploads/`.
    pub async fn check(&self) -> Result<(), StoreError> {
        let prefix = ObjectPath::from("uploads");
        match tokio::time::timeout(
            CHECK_TIMEOUT,
            self.objects.list_with_delimiter(Some(&prefix)),
        )
        .await
        {
            Ok(Ok(_)) | Ok(Err(object_store::Error::NotFound { .. })) => Ok(()),
            Ok(Err(e)) => Err(StoreError::Unreachable {
                store: self.describe(),
                message: e.to_string(),
            }),
            Err(_) => Err(StoreError::Unreachable {
                store: self.describe(),
                message: format!("no answer within {} s", CHECK_TIMEOUT.as_secs()),
            }),
        }
    }
}

/// A streamed write: chunks go out as parts of a multipart upload (at most
/// [`PARTS_IN_FLIGHT`] at once), and nothing is visible under the key until
/// [`Upload::finish`]. Dropped or aborted, it leaves no file (a bucket
/// keeps the parts of an upload never finished until its lifecycle rule
/// removes them).
pub struct Upload {
    store: Store,
    key: Key,
    writer: WriteMultipart,
    hasher: Sha256,
    size: u64,
}

impl Upload {
    /// Sends a chunk, waiting while the parts in flight are at their cap.
    pub async fn write(&mut self, chunk: Bytes) -> Result<(), StoreError> {
        self.writer
            .wait_for_capacity(PARTS_IN_FLIGHT)
            .await
            .map_err(|e| self.store.failed(&self.key, e))?;
        self.hasher.update(&chunk);
        self.size += chunk.len() as u64;
        self.writer.put(chunk);
        Ok(())
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn key(&self) -> &Key {
        &self.key
    }

    /// Commits the file: from now on it is visible, whole.
    pub async fn finish(self) -> Result<Stored, StoreError> {
        let Upload {
            store,
            key,
            writer,
            hasher,
            size,
        } = self;
        writer.finish().await.map_err(|e| store.failed(&key, e))?;
        Ok(Stored {
            key,
            size,
            modified: Utc::now(),
            sha256: Some(hex(&hasher.finalize())),
        })
    }

    /// Gives the write up; nothing of it stays visible.
    pub async fn abort(self) {
        let _ = self.writer.abort().await;
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_cut_to_the_file() {
        assert_eq!(ByteRange::From(2).within(10), Some(2..10));
        assert_eq!(ByteRange::From(10).within(10), None);
        assert_eq!(ByteRange::Inclusive(0, 0).within(10), Some(0..1));
        assert_eq!(ByteRange::Inclusive(5, 99).within(10), Some(5..10));
        assert_eq!(ByteRange::Inclusive(5, 4).within(10), None);
        assert_eq!(ByteRange::Last(3).within(10), Some(7..10));
        assert_eq!(ByteRange::Last(30).within(10), Some(0..10));
        assert_eq!(ByteRange::Last(0).within(10), None);
    }

    #[test]
    fn storage_urls_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["ftp://x/y", "s3://A_B/x", "s3://ab/x", "s3://bucket/../x"] {
            let e = Store::open(Some(bad), dir.path()).unwrap_err();
            assert_eq!(e.code(), "store_config", "{bad}");
        }
        let store = Store::open(None, dir.path()).unwrap();
        assert_eq!(store.kind(), "local");
        assert!(store.describe().contains("local folder"));
    }

    #[tokio::test]
    async fn a_local_store_streams_and_confines() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(None, dir.path()).unwrap();
        let key = Key::from_client("f", "a.dxf", None).unwrap();
        let mut upload = store.upload(&key).await.unwrap();
        // Not visible before it is finished.
        upload.write(Bytes::from_static(b"0\nEOF\n")).await.unwrap();
        assert_eq!(store.head(&key).await.unwrap_err().code(), "file_not_found");
        let stored = upload.finish().await.unwrap();
        assert_eq!(stored.size, 6);
        assert_eq!(
            stored.sha256.as_deref(),
            Some(hex(&Sha256::digest(b"0\nEOF\n")).as_str())
        );
        let mut part = store
            .get(&key, Some(ByteRange::Inclusive(2, 4)))
            .await
            .unwrap();
        assert_eq!(part.range, 2..5);
        let bytes = part.chunks.next().await.unwrap().unwrap();
        assert_eq!(&bytes[..], b"EOF");
        let copy = dir.path().join("copy/a.dxf");
        assert_eq!(store.fetch_to(&key, &copy, 100).await.unwrap(), 6);
        assert_eq!(
            store.fetch_to(&key, &copy, 5).await.unwrap_err().code(),
            "input_too_large"
        );
        // A symlink pointing out of the folders is refused.
        let folders = store.local_folders().unwrap();
        std::os::unix::fs::symlink("/etc/passwd", folders.uploads.join("link")).unwrap();
        let link = Key::from_client("f", "link", None).unwrap();
        assert_eq!(
            store.head(&link).await.unwrap_err().code(),
            "path_outside_managed_folders"
        );
        let listed = store.list("uploads").await.unwrap();
        assert!(listed.iter().any(|s| s.key == key), "{listed:?}");
        store.delete(&key).await.unwrap();
        store.delete(&key).await.unwrap();
        assert_eq!(store.head(&key).await.unwrap_err().code(), "file_not_found");
        store.check().await.unwrap();
    }
}
