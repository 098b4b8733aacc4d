//! `cargo meshinsight predict`: load fixtures, profiles and a speedup from files, predict each
//! fixture, print the predictions.

use std::path::PathBuf;

use super::error::{Error, InputError};
use super::input::{
    FIXTURE_DIR, default_fixture_dir, find_fixtures, load_ecg, load_profile, load_speedup,
};
use super::output::Output;
use crate::exit;
use crate::model::{CpuPrice, PAPER_PROFILE_PATH, Profile};
use crate::predict::{Prediction, ProfileSet, predict};
use crate::report::{Format, prediction};

/// What to predict, with what.
#[derive(Clone, Debug, Default)]
pub(crate) struct PredictConfig {
    /// Fixture files or directories; empty means `fixtures/ecg` of the project.
    pub(crate) ecg: Vec<PathBuf>,
    /// Profile files, the first being the default; empty means the embedded paper profile.
    pub(crate) profiles: Vec<PathBuf>,
    /// A speedup profile to compare against.
    pub(crate) speedup: Option<PathBuf>,
    /// Which CPU model prices a traversal.
    pub(crate) cpu_price: CpuPrice,
}

/// Expands directories into the fixture files below them; keeps files as given.
pub(crate) fn fixture_paths(given: &[PathBuf]) -> Result<Vec<PathBuf>, InputError> {
    if given.is_empty() {
        let dir = default_fixture_dir().ok_or_else(|| InputError::NoFixtures {
            dir: PathBuf::from(FIXTURE_DIR),
        })?;
        return find_fixtures(&dir);
    }
    let mut out = Vec::new();
    for p in given {
        if p.is_dir() {
            out.extend(find_fixtures(p)?);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
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
    let paths = fixture_paths(&config.ecg)?;
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
    out.write_result(&prediction::render(&predictions, format), "the prediction")?;
    Ok(exit::OK)
}
