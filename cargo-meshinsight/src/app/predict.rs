//! `cargo meshinsight predict`: load fixtures, profiles and a speedup from files, predict each
//! fixture, print the predictions.
//!
//! Without `--ecg`, the fixtures are the project's: those its `[*.metadata.meshinsight]`
//! `fixtures` select (the manifest of `--manifest-path`, else the nearest `Cargo.toml` up
//! from here that has such a table), else `fixtures/ecg` here or in the nearest ancestor.

use std::path::{Path, PathBuf};

use super::error::{Error, InputError};
use super::input::{
    FIXTURE_DIR, default_fixture_dir, find_fixtures, load_ecg, load_profile, load_speedup,
};
use super::output::Output;
use crate::exit;
use crate::model::{CpuPrice, PAPER_PROFILE_PATH, Profile};
use crate::predict::{Prediction, ProfileSet, predict};
use crate::project::config::Settings;
use crate::report::{Format, prediction};

/// What to predict, with what.
#[derive(Clone, Debug, Default)]
pub(crate) struct PredictConfig {
    /// Fixture files or directories; empty means the project's (see the module).
    pub(crate) ecg: Vec<PathBuf>,
    /// The project's manifest, whose configured fixtures are predicted without `ecg`.
    pub(crate) manifest_path: Option<PathBuf>,
    /// Profile files, the first being the default; empty means the embedded paper profile.
    pub(crate) profiles: Vec<PathBuf>,
    /// A speedup profile to compare against.
    pub(crate) speedup: Option<PathBuf>,
    /// Which CPU model prices a traversal.
    pub(crate) cpu_price: CpuPrice,
}

/// The fixture files of `config`: those given (directories expanded into the fixture files
/// below them), else the project's (see the module).
fn fixture_paths(config: &PredictConfig, out: &mut Output) -> Result<Vec<PathBuf>, Error> {
    let given = &config.ecg;
    if given.is_empty() {
        if let Some(paths) = configured_fixtures(config.manifest_path.as_deref(), out)? {
            return Ok(paths);
        }
        let dir = default_fixture_dir().ok_or_else(|| InputError::NoFixtures {
            dir: PathBuf::from(FIXTURE_DIR),
        })?;
        return Ok(find_fixtures(&dir)?);
    }
    let mut paths = Vec::new();
    for p in given {
        if p.is_dir() {
            paths.extend(find_fixtures(p)?);
        } else {
            paths.push(p.clone());
        }
    }
    Ok(paths)
}

/// The fixtures the project's configuration selects: of `manifest_path`, else of the
/// nearest manifest with a `metadata.meshinsight` table; `None` when there is none.
fn configured_fixtures(
    manifest_path: Option<&Path>,
    out: &mut Output,
) -> Result<Option<Vec<PathBuf>>, Error> {
    let manifest = match manifest_path {
        Some(p) => p.to_path_buf(),
        None => match std::env::current_dir()
            .ok()
            .and_then(|d| nearest_configured(&d))
        {
            Some(p) => p,
            None => return Ok(None),
        },
    };
    let settings = Settings::load(Some(&manifest))?;
    let paths = settings.fixture_paths()?;
    out.status(
        "Reading",
        format!(
            "the fixtures {} configures ({})",
            settings.manifest.display(),
            settings.fixtures.join(", ")
        ),
    );
    Ok(Some(paths))
}

/// The nearest `Cargo.toml` in `dir` or above it with a `[workspace.metadata.meshinsight]`
/// or `[package.metadata.meshinsight]` table (a manifest that cannot be read is passed over:
/// it has no table this command could use).
fn nearest_configured(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .map(|d| d.join("Cargo.toml"))
        .filter(|m| m.is_file())
        .find(|m| {
            let Some(doc) = std::fs::read_to_string(m)
                .ok()
                .and_then(|t| t.parse::<toml::Table>().ok())
            else {
                return false;
            };
            ["workspace", "package"].iter().any(|k| {
                doc.get(*k)
                    .and_then(|t| t.get("metadata"))
                    .and_then(|t| t.get("meshinsight"))
                    .is_some()
            })
        })
}

/// Loads the profiles of `config` (or the paper's) into a set.
pub(crate) fn load_profiles(paths: &[PathBuf], out: &mut Output) -> Result<ProfileSet, Error> {
    if paths.is_empty() {
        out.status(
            "Using",
            format!(
                "the paper's profile ({PAPER_PROFILE_PATH}: SoCC '23, Envoy 1.21 on a Xeon Gold 6142); \
                 pass --profile to use one measured here"
            ),
        );
        return Ok(ProfileSet::new(vec![Profile::paper()]));
    }
    let profiles = paths
        .iter()
        .map(|p| Ok((p.clone(), load_profile(p)?)))
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(ProfileSet::from_files(profiles)?)
}

/// Runs the whole job and returns one prediction per fixture, in file order.
pub(crate) fn predictions(
    config: &PredictConfig,
    out: &mut Output,
) -> Result<Vec<Prediction>, Error> {
    let paths = fixture_paths(config, out)?;
    let profiles = load_profiles(&config.profiles, out)?.with_cpu_price(config.cpu_price);
    let speedup = config.speedup.as_deref().map(load_speedup).transpose()?;
    let faster = speedup
        .as_ref()
        .map(|s| profiles.with_speedup(s))
        .transpose()?;
    out.status(
        "Predicting",
        format!(
            "{} fixture{}",
            paths.len(),
            if paths.len() == 1 { "" } else { "s" }
        ),
    );
    let mut predictions = Vec::with_capacity(paths.len());
    for path in &paths {
        let ecg = load_ecg(path)?;
        let pair = speedup.as_ref().zip(faster.as_ref());
        predictions.push(predict(&ecg, &profiles, pair)?);
    }
    Ok(predictions)
}

/// Predicts and prints in `format`.
pub(crate) fn run(config: &PredictConfig, format: Format, out: &mut Output) -> Result<u8, Error> {
    let predictions = predictions(config, out)?;
    let text = prediction::render(&predictions, format, out.width());
    out.write_result(&text, "the prediction")?;
    Ok(exit::OK)
}
