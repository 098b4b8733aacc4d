//! The files commands read: ECG fixtures, profiles, speedup profiles. Each is a regular file
//! of bounded size, read whole and handed to its stage's parser; a FIFO or a device is
//! refused rather than read (it could block forever or never end).

use std::path::{Path, PathBuf};

use super::error::{Error, InputError};
use crate::ecg::Ecg;
use crate::model::Profile;
use crate::predict::Speedup;

/// The largest input file read whole, unless [`MAX_INPUT_ENV`] says otherwise.
pub(crate) const MAX_INPUT_BYTES: u64 = 256 << 20;

/// The environment variable that sets the largest input file read whole, in bytes.
pub(crate) const MAX_INPUT_ENV: &str = "MESHINSIGHT_MAX_INPUT_BYTES";

/// The largest input file read whole (fixtures, profiles, speedups, baselines, Jaeger and
/// OTLP trace files): [`MAX_INPUT_ENV`] when set, else [`MAX_INPUT_BYTES`].
pub(crate) fn max_input_bytes() -> Result<u64, Error> {
    match std::env::var(MAX_INPUT_ENV) {
        Err(std::env::VarError::NotPresent) => Ok(MAX_INPUT_BYTES),
        Ok(v) => v
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|&n| n > 0)
            .ok_or(Error::InvalidValue {
                flag: MAX_INPUT_ENV,
                expected: "a positive number of bytes",
                found: v,
            }),
        Err(std::env::VarError::NotUnicode(v)) => Err(Error::InvalidValue {
            flag: MAX_INPUT_ENV,
            expected: "a positive number of bytes",
            found: v.to_string_lossy().into_owned(),
        }),
    }
}

/// Where fixtures live in a project, relative to its root.
pub(crate) const FIXTURE_DIR: &str = "fixtures/ecg";

/// The text of the regular file at `path`, at most [`max_input_bytes`]; `what` names it in
/// errors.
pub(crate) fn read_text(path: &Path, what: &'static str) -> Result<String, Error> {
    Ok(read_text_within(path, what, max_input_bytes()?)?)
}

/// The text of the regular file at `path`, at most `max` bytes.
fn read_text_within(path: &Path, what: &'static str, max: u64) -> Result<String, InputError> {
    use crate::util::file::{ReadRefused, read_bounded};
    let path_buf = path.to_path_buf();
    read_bounded(path, max).map_err(|refused| match refused {
        ReadRefused::Io(source) => InputError::Read {
            what,
            path: path_buf,
            source,
        },
        ReadRefused::NotAFile => InputError::NotAFile {
            what,
            path: path_buf,
        },
        ReadRefused::TooLarge => InputError::TooLarge {
            what,
            path: path_buf,
            max,
        },
    })
}

/// Reads and validates an ECG fixture (TOML, or JSON by extension `.json`).
pub(crate) fn load_ecg(path: &Path) -> Result<Ecg, Error> {
    Ok(Ecg::parse(&read_text(path, "ECG fixture")?, path)?)
}

/// Reads and validates a profile.
pub(crate) fn load_profile(path: &Path) -> Result<Profile, Error> {
    Ok(Profile::from_json(&read_text(path, "profile")?, path)?)
}

/// Reads and validates a speedup profile.
pub(crate) fn load_speedup(path: &Path) -> Result<Speedup, Error> {
    Ok(Speedup::parse(&read_text(path, "speedup profile")?, path)?)
}

/// `fixtures/ecg` in the current directory or the nearest ancestor that has one.
pub(crate) fn default_fixture_dir() -> Option<PathBuf> {
    let cwd = std::env::current_dir().ok()?;
    cwd.ancestors()
        .map(|dir| dir.join(FIXTURE_DIR))
        .find(|dir| dir.is_dir())
}

/// Every `.toml` and `.json` file under `dir`, recursively, sorted.
pub(crate) fn find_fixtures(dir: &Path) -> Result<Vec<PathBuf>, InputError> {
    let mut found = Vec::new();
    for ext in ["toml", "json"] {
        let pattern = format!(
            "{}/**/*.{ext}",
            glob::Pattern::escape(&dir.to_string_lossy())
        );
        let paths = glob::glob(&pattern).expect("an escaped directory makes a valid pattern");
        for path in paths {
            found.push(path.map_err(|e| InputError::Read {
                what: "fixture directory",
                path: e.path().to_path_buf(),
                source: e.into(),
            })?);
        }
    }
    found.sort();
    if found.is_empty() {
        return Err(InputError::NoFixtures {
            dir: dir.to_path_buf(),
        });
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_regular_files_are_refused_without_blocking() {
        let e = read_text_within(Path::new("/dev/zero"), "profile", MAX_INPUT_BYTES).unwrap_err();
        assert!(matches!(e, InputError::NotAFile { .. }), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let e = read_text_within(dir.path(), "profile", MAX_INPUT_BYTES).unwrap_err();
        assert!(e.to_string().contains("is not a regular file"), "{e}");
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo(3) with a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = read_text_within(&fifo, "ECG fixture", MAX_INPUT_BYTES).unwrap_err();
        assert!(matches!(e, InputError::NotAFile { .. }), "{e}");
    }

    #[test]
    fn files_over_the_limit_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("p.json");
        std::fs::write(&f, "0123456789").unwrap();
        assert_eq!(read_text_within(&f, "profile", 10).unwrap(), "0123456789");
        let e = read_text_within(&f, "profile", 9).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("profile {} is larger than 9 bytes", f.display())
        );
    }
}
