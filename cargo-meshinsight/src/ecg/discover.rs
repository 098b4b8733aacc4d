//! Finding fixture files: the `fixtures/ecg` directory of the project, or given paths.

use std::path::{Path, PathBuf};

use super::EcgError;

/// Where fixtures live in a project, relative to its root.
pub const FIXTURE_DIR: &str = "fixtures/ecg";

/// `fixtures/ecg` in the current directory or the nearest ancestor that has one.
pub fn default_fixture_dir() -> Option<PathBuf> {
    let cwd = std::env::current_dir().ok()?;
    cwd.ancestors()
        .map(|dir| dir.join(FIXTURE_DIR))
        .find(|dir| dir.is_dir())
}

/// Every `.toml` and `.json` file under `dir`, recursively, sorted.
pub fn find_fixtures(dir: &Path) -> Result<Vec<PathBuf>, EcgError> {
    let mut found = Vec::new();
    for ext in ["toml", "json"] {
        let pattern = format!(
            "{}/**/*.{ext}",
            glob::Pattern::escape(&dir.to_string_lossy())
        );
        let paths = glob::glob(&pattern).map_err(|e| EcgError::Invalid {
            path: dir.to_path_buf(),
            message: format!("cannot search this directory: {e}"),
        })?;
        for path in paths {
            found.push(path.map_err(|e| EcgError::Read {
                path: e.path().to_path_buf(),
                source: e.into(),
            })?);
        }
    }
    found.sort();
    if found.is_empty() {
        return Err(EcgError::NoneFound {
            dir: dir.to_path_buf(),
        });
    }
    Ok(found)
}
