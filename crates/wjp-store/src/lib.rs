//! # wjp-store: where wjp keeps files
//!
//! Every file the service touches lives in one artefact store ([`Store`]):
//! a folder (by default the data directory) or an S3-compatible bucket
//! under a prefix, shared by every machine of a shop. It holds three
//! folders: `uploads/` (files clients sent), `data/` (files an operator put
//! there) and `output/` (artefacts the jobs wrote). Files are named by
//! [`Key`]s; a job process fetches its inputs into a private directory,
//! works on local files, and stores its outputs.
//!
//! **Invariants**
//! - A name a client gave reaches the store only as a [`Key`] made by
//!   [`Key::from_client`], checked on its text first (so a name outside is
//!   refused without telling whether it exists); in a local store a key is
//!   checked again after following symlinks ([`Folders::resolve`]).
//! - A file the service writes is named by the service ([`unique_name`], or
//!   a job's artefact name), never by a client.
//! - A write is visible whole or not at all: small files are one `PUT`
//!   (a rename in a folder), large ones a multipart upload committed at the
//!   end ([`Upload`]); a process that dies mid-write leaves no key behind.
//!
//! This crate knows nothing of HTTP, queues or jobs.

use std::path::{Path, PathBuf};

mod key;
mod store;

pub use key::{Key, FOLDERS, MAX_KEY_BYTES, MAX_SEGMENT_BYTES};
pub use store::{ByteRange, Download, Store, StoreError, Stored, Upload};

/// Why a client's path was refused. Messages quote the path as given (cut to
/// 200 characters), never anything read from a file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("{field} is required")]
    Missing { field: String },

    #[error(
        "{field} {given:?} is outside the managed folders (uploads, data, output); \
         give a name returned by POST /upload"
    )]
    Outside { field: String, given: String },

    #[error("{field} {given:?} does not exist; upload it first with POST /upload")]
    NotFound { field: String, given: String },

    #[error("{field} {given:?} is not a readable file: {reason}")]
    Unreadable {
        field: String,
        given: String,
        reason: String,
    },

    #[error("{field} {given:?} is not a usable name: it {reason}")]
    Malformed {
        field: String,
        given: String,
        reason: String,
    },
}

impl PathError {
    /// A stable name for programs.
    pub fn code(&self) -> &'static str {
        match self {
            PathError::Missing { .. } => "missing_path",
            PathError::Outside { .. } => "path_outside_managed_folders",
            PathError::NotFound { .. } => "file_not_found",
            PathError::Unreadable { .. } => "invalid_path",
            PathError::Malformed { .. } => "invalid_key",
        }
    }

    /// The field the error is about.
    pub fn field(&self) -> &str {
        match self {
            PathError::Missing { field }
            | PathError::Outside { field, .. }
            | PathError::NotFound { field, .. }
            | PathError::Unreadable { field, .. }
            | PathError::Malformed { field, .. } => field,
        }
    }
}

/// The three folders the service reads from and writes to.
#[derive(Debug, Clone)]
pub struct Folders {
    /// Canonical paths, so a symlinked data directory still compares equal.
    pub root: PathBuf,
    pub uploads: PathBuf,
    pub data: PathBuf,
    pub output: PathBuf,
}

impl Folders {
    /// The folders under `data_dir`, created if needed.
    pub fn create(data_dir: &Path) -> std::io::Result<Folders> {
        let make = |name: &str| -> std::io::Result<PathBuf> {
            let dir = data_dir.join(name);
            std::fs::create_dir_all(&dir)?;
            dir.canonicalize()
        };
        std::fs::create_dir_all(data_dir)?;
        Ok(Folders {
            root: data_dir.canonicalize()?,
            uploads: make("uploads")?,
            data: make("data")?,
            output: make("output")?,
        })
    }

    fn roots(&self) -> [&Path; 3] {
        [&self.uploads, &self.data, &self.output]
    }

    /// Resolves a client-given path to an existing file inside a managed
    /// folder. A relative path is taken inside `uploads/`; anything that
    /// leads elsewhere (`..`, another absolute path, a symlink pointing
    /// out) is [`PathError::Outside`]. The path returned is canonical, so
    /// resolving it again gives itself.
    pub fn resolve(&self, field: &str, text: &str) -> Result<PathBuf, PathError> {
        let given = text.trim();
        let outside = || PathError::Outside {
            field: field.to_owned(),
            given: shorten(given),
        };
        if given.is_empty() {
            return Err(PathError::Missing {
                field: field.to_owned(),
            });
        }
        if given.contains('\0') {
            return Err(outside());
        }
        let path = Path::new(given);
        let joined = if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.uploads.join(path)
        };
        let lexical = key::normalize(&joined).ok_or_else(outside)?;
        if !self.roots().iter().any(|r| lexical.starts_with(r)) {
            return Err(outside());
        }
        let real = lexical.canonicalize().map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                PathError::NotFound {
                    field: field.to_owned(),
                    given: shorten(given),
                }
            } else {
                PathError::Unreadable {
                    field: field.to_owned(),
                    given: shorten(given),
                    reason: e.kind().to_string(),
                }
            }
        })?;
        if !self.roots().iter().any(|r| real.starts_with(r)) {
            return Err(outside());
        }
        if !real.is_file() {
            return Err(PathError::Unreadable {
                field: field.to_owned(),
                given: shorten(given),
                reason: "not a file".into(),
            });
        }
        Ok(real)
    }
}

pub(crate) fn shorten(text: &str) -> String {
    text.chars().take(200).collect()
}

/// A safe, unique file name for a client-given one:
/// `../../blueprint.DXF` becomes `blueprint_<hex>.dxf`. Returns the name and
/// its hex id.
pub fn unique_name(original: &str, default_stem: &str) -> (String, String) {
    let hex = uuid::Uuid::new_v4().simple().to_string();
    (tagged_name(original, default_stem, &hex), hex)
}

/// A safe file name made of a client-given one and a tag the service chose:
/// `../../blueprint.DXF` with tag `x1` becomes `blueprint_x1.dxf`. Only the
/// last path component counts, of either kind of separator.
pub fn tagged_name(original: &str, default_stem: &str, tag: &str) -> String {
    let base = original
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default()
        .trim();
    let (stem, ext) = match base.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => (stem, Some(ext)),
        _ => (base, None),
    };
    let stem: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    let stem = match stem.trim_matches('_') {
        "" => default_stem,
        trimmed => trimmed,
    };
    let ext: String = ext
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(10)
        .collect::<String>()
        .to_ascii_lowercase();
    if ext.is_empty() {
        format!("{stem}_{tag}")
    } else {
        format!("{stem}_{tag}.{ext}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_sanitised_and_unique() {
        let (name, hex) = unique_name("../../blueprint.DXF", "file");
        assert_eq!(name, format!("blueprint_{hex}.dxf"));
        assert_eq!(hex.len(), 32);
        assert!(hex.chars().all(|c| c.is_ascii_hexdigit()));
        let (other, _) = unique_name("../../blueprint.DXF", "file");
        assert_ne!(name, other);
        let (name, hex) = unique_name("..\\evil dir\\a b$.Png", "file");
        assert_eq!(name, format!("a_b_{hex}.png"));
        let (name, hex) = unique_name("..", "file");
        assert_eq!(name, format!("file_{hex}"));
        let (name, hex) = unique_name(".bashrc", "file");
        assert_eq!(name, format!("bashrc_{hex}"));
    }

    #[test]
    fn normalize_refuses_climbing_above_the_root() {
        use key::normalize;
        assert_eq!(
            normalize(Path::new("/a/b/../c")),
            Some(PathBuf::from("/a/c"))
        );
        assert_eq!(normalize(Path::new("/a/./b")), Some(PathBuf::from("/a/b")));
        assert_eq!(normalize(Path::new("/..")), None);
    }

    #[test]
    fn paths_resolve_inside_the_folders_only() {
        let dir = tempfile::tempdir().unwrap();
        let folders = Folders::create(dir.path()).unwrap();
        std::fs::write(folders.uploads.join("a.dxf"), "0\nEOF\n").unwrap();
        let inside = folders.resolve("dxf_path", "a.dxf").unwrap();
        assert_eq!(inside, folders.uploads.join("a.dxf"));
        // Resolving a resolved path gives itself.
        let again = folders
            .resolve("dxf_path", &inside.to_string_lossy())
            .unwrap();
        assert_eq!(again, inside);
        for outside in ["/etc/passwd", "../../etc/passwd", "a\0b", "/"] {
            let e = folders.resolve("dxf_path", outside).unwrap_err();
            assert_eq!(e.code(), "path_outside_managed_folders", "{outside}");
        }
        // A symlink inside pointing out is outside.
        std::os::unix::fs::symlink("/etc/passwd", folders.uploads.join("link")).unwrap();
        let e = folders.resolve("dxf_path", "link").unwrap_err();
        assert_eq!(e.code(), "path_outside_managed_folders");
        assert_eq!(
            folders
                .resolve("csv_path", "missing.csv")
                .unwrap_err()
                .code(),
            "file_not_found"
        );
        assert_eq!(
            folders.resolve("csv_path", " ").unwrap_err().field(),
            "csv_path"
        );
    }
}
