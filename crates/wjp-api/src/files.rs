//! The managed folders (`uploads/`, `data/`, `output/` under the data
//! directory), the confinement of client-given paths to them, and the
//! sanitised names uploads are stored under.
//!
//! **Invariant**: every path the API hands to a job or reads for a client
//! went through [`Folders::resolve`] (a client path) or was built by
//! [`unique_name`] inside a managed folder (a name the API chose).

use std::path::{Component, Path, PathBuf};

use crate::error::ApiError;

/// The three folders the API reads from and writes to.
#[derive(Debug, Clone)]
pub struct Folders {
    /// Canonical paths, so a symlinked data directory still compares equal.
    pub uploads: PathBuf,
    pub data: PathBuf,
    pub output: PathBuf,
}

impl Folders {
    /// Creates the folders under `data_dir` if needed.
    pub fn create(data_dir: &Path) -> std::io::Result<Folders> {
        let make = |name: &str| -> std::io::Result<PathBuf> {
            let dir = data_dir.join(name);
            std::fs::create_dir_all(&dir)?;
            dir.canonicalize()
        };
        Ok(Folders {
            uploads: make("uploads")?,
            data: make("data")?,
            output: make("output")?,
        })
    }

    fn roots(&self) -> [&Path; 3] {
        [&self.uploads, &self.data, &self.output]
    }

    /// The folder of a name used in URLs (`/files/{folder}/{name}`).
    pub fn by_name(&self, name: &str) -> Option<&Path> {
        match name {
            "uploads" => Some(&self.uploads),
            "data" => Some(&self.data),
            "output" => Some(&self.output),
            _ => None,
        }
    }

    /// Resolves a client-given path to an existing file inside a managed
    /// folder: a relative path is taken inside `uploads/`; anything that
    /// leads elsewhere (`..`, another absolute path, a symlink pointing out)
    /// is refused with 400, a missing file with 404.
    pub async fn resolve(&self, field: &str, text: &str) -> Result<PathBuf, ApiError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(ApiError::bad_request(
                "missing_path",
                format!("{field} is required"),
            ));
        }
        if text.contains('\0') {
            return Err(outside(field, text));
        }
        let given = Path::new(text);
        let joined = if given.is_absolute() {
            given.to_path_buf()
        } else {
            self.uploads.join(given)
        };
        // Lexically first, so a path outside is refused without telling
        // whether it exists.
        let lexical = normalize(&joined).ok_or_else(|| outside(field, text))?;
        if !self.roots().iter().any(|r| lexical.starts_with(r)) {
            return Err(outside(field, text));
        }
        // Then for real: symlinks are followed and must stay inside.
        let real = match tokio::fs::canonicalize(&lexical).await {
            Ok(p) => p,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ApiError::not_found(
                    "file_not_found",
                    format!("{field} {text:?} does not exist; upload it first with POST /upload"),
                ))
            }
            Err(e) => {
                return Err(ApiError::bad_request(
                    "invalid_path",
                    format!("{field} {text:?} cannot be read: {e}"),
                ))
            }
        };
        if !self.roots().iter().any(|r| real.starts_with(r)) {
            return Err(outside(field, text));
        }
        if !real.is_file() {
            return Err(ApiError::bad_request(
                "invalid_path",
                format!("{field} {text:?} is not a file"),
            ));
        }
        Ok(real)
    }
}

fn outside(field: &str, text: &str) -> ApiError {
    ApiError::bad_request(
        "path_outside_managed_folders",
        format!(
            "{field} {:?} is outside the managed folders (uploads, data, output); \
             give a name returned by POST /upload",
            text.chars().take(200).collect::<String>()
        ),
    )
}

/// Removes `.` and resolves `..` without touching the file system; `None`
/// when `..` climbs above the root.
fn normalize(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Prefix(_) | Component::RootDir => out.push(c.as_os_str()),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::Normal(part) => out.push(part),
        }
    }
    Some(out)
}

/// A safe, unique file name for a client-given one:
/// `../../blueprint.DXF` becomes `blueprint_<hex>.dxf`. Returns the name and
/// its hex id.
pub fn unique_name(original: &str, default_stem: &str) -> (String, String) {
    // Only the last component of either kind of separator counts.
    let base = original
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default()
        .trim();
    let (stem, ext) = match base.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => (stem, Some(ext)),
        _ => (base, None),
    };
    let mut stem: String = stem
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
    let trimmed = stem.trim_matches('_');
    stem = if trimmed.is_empty() {
        default_stem.to_owned()
    } else {
        trimmed.to_owned()
    };
    let ext: String = ext
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(10)
        .collect::<String>()
        .to_ascii_lowercase();
    let hex = uuid::Uuid::new_v4().simple().to_string();
    let name = if ext.is_empty() {
        format!("{stem}_{hex}")
    } else {
        format!("{stem}_{hex}.{ext}")
    };
    (name, hex)
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
        assert_eq!(
            normalize(Path::new("/a/b/../c")),
            Some(PathBuf::from("/a/c"))
        );
        assert_eq!(normalize(Path::new("/a/./b")), Some(PathBuf::from("/a/b")));
        assert_eq!(normalize(Path::new("/..")), None);
    }
}
