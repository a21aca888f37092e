//! The conformance suite against the embedded SQLite backend, plus checks
//! that only make sense for a file.

use std::sync::Arc;

use async_trait::async_trait;
use wjp_queue::backend::sqlite::{SqliteBackend, SqliteOptions};
use wjp_queue::backend::Backend;

use crate::conformance::Store;

pub struct SqliteStore {
    dir: tempfile::TempDir,
}

impl SqliteStore {
    pub async fn new() -> Self {
        SqliteStore {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn connect(&self) -> Arc<dyn Backend> {
        Arc::new(
            SqliteBackend::open_dir(self.dir.path(), SqliteOptions::default())
                .expect("open sqlite backend"),
        )
    }
}

conformance_suite!(SqliteStore::new().await);

#[tokio::test]
async fn the_database_is_a_wal_file_with_its_pragmas_read_back() {
    let store = SqliteStore::new().await;
    let backend = store.connect().await;
    let info = backend.info();
    assert_eq!(info.name, "sqlite");
    assert_eq!(info.details["journal_mode"], "wal");
    assert!(store.dir.path().join("wjp.db").exists());
    assert!(info.location.ends_with("wjp.db"), "{}", info.location);
}

#[tokio::test]
async fn a_directory_that_cannot_be_created_gives_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let err = SqliteBackend::open_dir(&file.join("data"), SqliteOptions::default())
        .err()
        .expect("must fail");
    assert_eq!(err.code(), "backend_unavailable");
    assert!(err.to_string().contains("not-a-dir"), "{err}");
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("wjp.db"), vec![0x42u8; 8192]).unwrap();
    let err = SqliteBackend::open_dir(dir.path(), SqliteOptions::default())
        .err()
        .expect("must fail");
    assert!(err.to_string().contains("not a database"), "{err}");
}
