//! Keys: the names of stored files, relative to the store's root (a data
//! directory, or a bucket and its prefix). A key is `<folder>/<name>...`,
//! its folder one of [`FOLDERS`].
//!
//! **Invariant**: a [`Key`] can only be made by [`Key::from_client`] (a name
//! a client gave, checked) or [`Key::service`] (a name the service chose,
//! checked the same way), so a key never climbs out of the store's root,
//! never names another folder than the three, and never carries bytes an
//! S3 server or a file system would read differently (`..`, `\`, `%`, `#`,
//! control characters).

use std::path::{Component, Path, PathBuf};

use crate::{shorten, Folders, PathError};

/// The folders of a store: files clients sent, files an operator put
/// there, artefacts jobs wrote.
pub const FOLDERS: [&str; 3] = ["uploads", "data", "output"];

/// The longest key, in bytes: S3 allows 1024 with the prefix; a name this
/// long is a mistake or an attack, never a drawing's name.
pub const MAX_KEY_BYTES: usize = 512;

/// The longest segment of a key (a file name on most file systems).
pub const MAX_SEGMENT_BYTES: usize = 255;

/// A checked key, such as `uploads/plate_3f2a.dxf` or
/// `output/previews/<job id>.svg`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key(String);

impl Key {
    /// A key the service names: `folder` (one of [`FOLDERS`]) and a name
    /// below it. Refused like a client's key when it breaks a rule: the
    /// service's names come from job ids, which a client may choose.
    pub fn service(folder: &str, name: &str) -> Result<Key, PathError> {
        let text = format!("{folder}/{name}");
        let key = Key::from_client("key", &text, None)?;
        if key.folder() != folder {
            return Err(PathError::Outside {
                field: "key".into(),
                given: shorten(&text),
            });
        }
        Ok(key)
    }

    /// The key a client means by `text` in field `field`:
    /// - `uploads/a.dxf`, `data/sheets/b.dxf`, `output/previews/<id>.svg`:
    ///   that key;
    /// - any other relative name (`a.dxf`, the old API's form): in
    ///   `uploads/`;
    /// - an absolute path: only inside the local data directory's folders
    ///   (`folders`, when the store is that directory; the old API handed
    ///   out such paths), else refused.
    ///
    /// `..` anywhere, `\`, `%` (names are never decoded), `#`, control
    /// characters, hidden names (`.x`), and names past [`MAX_KEY_BYTES`] are
    /// refused, all before anything is read.
    pub fn from_client(
        field: &str,
        text: &str,
        folders: Option<&Folders>,
    ) -> Result<Key, PathError> {
        let given = text.trim();
        let outside = || PathError::Outside {
            field: field.to_owned(),
            given: shorten(given),
        };
        let malformed = |reason: &str| PathError::Malformed {
            field: field.to_owned(),
            given: shorten(given),
            reason: reason.to_owned(),
        };
        if given.is_empty() {
            return Err(PathError::Missing {
                field: field.to_owned(),
            });
        }
        if given.contains('\0') {
            return Err(outside());
        }
        if given.len() > MAX_KEY_BYTES {
            return Err(malformed(&format!("longer than {MAX_KEY_BYTES} bytes")));
        }
        if given.chars().any(char::is_control) {
            return Err(malformed("holds a control character"));
        }
        let (relative, must_name_folder) = if given.starts_with('/') {
            let Some(folders) = folders else {
                return Err(outside());
            };
            let relative = folders.relative(Path::new(given)).ok_or_else(outside)?;
            if relative.is_empty() {
                return Err(outside());
            }
            (relative, true)
        } else {
            (given.to_owned(), false)
        };
        if relative.contains('\\') {
            return Err(malformed("holds a backslash; separate folders with /"));
        }
        if relative.contains('%') {
            return Err(malformed(
                "holds %: names are taken as written, never decoded",
            ));
        }
        if relative.contains('#') {
            return Err(malformed("holds #"));
        }
        let mut segments = Vec::new();
        for segment in relative.split('/') {
            match segment {
                "." => {}
                "" => return Err(malformed("has an empty folder name (//, or a trailing /)")),
                ".." => return Err(outside()),
                s if s.starts_with('.') => return Err(malformed("names a hidden file")),
                s if s.len() > MAX_SEGMENT_BYTES => {
                    return Err(malformed(&format!(
                        "has a name longer than {MAX_SEGMENT_BYTES} bytes"
                    )))
                }
                s => segments.push(s),
            }
        }
        let in_folder = segments.len() > 1 && FOLDERS.contains(&segments[0]);
        if segments.is_empty() || (must_name_folder && !in_folder) {
            return Err(outside());
        }
        let key = if in_folder {
            segments.join("/")
        } else {
            format!("uploads/{}", segments.join("/"))
        };
        if key.len() > MAX_KEY_BYTES {
            return Err(malformed(&format!("longer than {MAX_KEY_BYTES} bytes")));
        }
        Ok(Key(key))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The folder: `uploads`, `data` or `output`.
    pub fn folder(&self) -> &str {
        self.0.split('/').next().unwrap_or_default()
    }

    /// The last segment.
    pub fn file_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or_default()
    }

    /// The key below its folder (`previews/x.svg` of `output/previews/x.svg`).
    pub fn below_folder(&self) -> &str {
        self.0.split_once('/').map_or("", |(_, rest)| rest)
    }

    /// Where this key lives below a local root.
    pub fn under(&self, root: &Path) -> PathBuf {
        root.join(&self.0)
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Folders {
    /// An absolute path inside the data directory, as the relative text of
    /// a key (`uploads/a.dxf`), checked on its text (`..` resolved without
    /// touching the file system; a path that climbs above `/` is `None`).
    fn relative(&self, path: &Path) -> Option<String> {
        let normal = normalize(path)?;
        let rest = normal.strip_prefix(&self.root).ok()?;
        let text = rest.to_str()?;
        Some(text.to_owned())
    }
}

/// Removes `.` and resolves `..` without touching the file system; `None`
/// when `..` climbs above the root.
pub(crate) fn normalize(path: &Path) -> Option<PathBuf> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn code(text: &str) -> &'static str {
        Key::from_client("f", text, None).unwrap_err().code()
    }

    #[test]
    fn client_names_become_keys_in_their_folder() {
        let key = |t: &str| Key::from_client("f", t, None).unwrap().to_string();
        assert_eq!(key("plate.dxf"), "uploads/plate.dxf");
        assert_eq!(key("./plate.dxf"), "uploads/plate.dxf");
        assert_eq!(key("uploads/plate.dxf"), "uploads/plate.dxf");
        assert_eq!(key("data/sheets/a b.dxf"), "data/sheets/a b.dxf");
        assert_eq!(key("output/previews/j1.svg"), "output/previews/j1.svg");
        // A folder's name alone is a file in uploads/.
        assert_eq!(key("data"), "uploads/data");
        let k = Key::from_client("f", "output/previews/j1.svg", None).unwrap();
        assert_eq!(
            (k.folder(), k.file_name(), k.below_folder()),
            ("output", "j1.svg", "previews/j1.svg")
        );
    }

    #[test]
    fn hostile_keys_are_refused_before_anything_is_read() {
        for outside in [
            "../etc/passwd",
            "uploads/../../etc/passwd",
            "a/../../b",
            "/etc/passwd",
            "/",
            "a\0b",
        ] {
            assert_eq!(code(outside), "path_outside_managed_folders", "{outside:?}");
        }
        for malformed in [
            "%2e%2e/%2e%2e/etc/passwd",
            "..\\..\\windows",
            "a\nb",
            "a\u{7f}",
            ".env",
            "uploads/.hidden",
            "x#1",
            "uploads//a.dxf",
            "uploads/",
        ] {
            assert_eq!(code(malformed), "invalid_key", "{malformed:?}");
        }
        assert_eq!(code(&"a".repeat(MAX_KEY_BYTES + 1)), "invalid_key");
        assert_eq!(code(&format!("{}.dxf", "a".repeat(300))), "invalid_key");
        assert_eq!(code("  "), "missing_path");
        assert!(Key::service("output", "previews/../../x").is_err());
        assert!(Key::service("output", "previews/job-1.svg").is_ok());
    }

    #[test]
    fn absolute_paths_are_keys_only_inside_the_local_data_directory() {
        let dir = tempfile::tempdir().unwrap();
        let folders = Folders::create(dir.path()).unwrap();
        let inside = folders.uploads.join("a.dxf");
        let key = Key::from_client("f", &inside.to_string_lossy(), Some(&folders)).unwrap();
        assert_eq!(key.as_str(), "uploads/a.dxf");
        let data = folders.data.join("s/b.dxf");
        let key = Key::from_client("f", &data.to_string_lossy(), Some(&folders)).unwrap();
        assert_eq!(key.as_str(), "data/s/b.dxf");
        for outside in [
            format!("{}/../x.dxf", folders.uploads.display()),
            format!("{}/wjp.db", folders.root.display()),
            folders.root.display().to_string(),
        ] {
            let e = Key::from_client("f", &outside, Some(&folders)).unwrap_err();
            assert_eq!(e.code(), "path_outside_managed_folders", "{outside}");
        }
    }
}
