//! `cargo meshinsight validate`: predicted against measured overhead of real deployments.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::error::Error;
use super::input::{find_fixtures, load_ecg, load_profile};
use super::output::Output;
use crate::ecg::Ecg;
use crate::exit;
use crate::harness::{Launch, Sidecar};
use crate::measure::MeasureConfig;
use crate::model::{CpuPrice, Profile};
use crate::predict::ProfileSet;
use crate::report::Format;
use crate::validate::{self, CaseResult, ValidateConfig};
use crate::vocab::Mode;

/// Where validation fixtures live, relative to the project root.
const VALIDATE_DIR: &str = "fixtures/validate";

/// What `validate` does.
#[derive(Clone, Debug)]
pub(crate) struct ValidateCommand {
    /// The sidecar deployed in the mesh.
    pub(crate) sidecar: Sidecar,
    /// Fixture files or directories (default: fixtures/validate).
    pub(crate) ecg: Vec<PathBuf>,
    /// Profiles to price with (default: measure one first, quickly).
    pub(crate) profiles: Vec<PathBuf>,
    /// Where to write the profile measured first.
    pub(crate) save_profile: Option<PathBuf>,
    /// The profile measured first: closed-loop requests per point.
    pub(crate) profile_requests: u64,
    /// The profile measured first: repetitions per point.
    pub(crate) profile_repeat: u32,
    /// Measured requests per run.
    pub(crate) requests: u64,
    /// Requests before each run.
    pub(crate) warmup: u64,
    /// Runs with and without the mesh.
    pub(crate) repeat: u32,
    /// Largest latency error of a passing case, %.
    pub(crate) tolerance_pct: f64,
    /// How CPU per request is priced.
    pub(crate) cpu_price: CpuPrice,
    /// How the report is printed.
    pub(crate) format: Format,
    /// Where to write the plot (SVG).
    pub(crate) svg: Option<PathBuf>,
}

/// Runs `validate`: deploys each fixture without and with the mesh, measures it and compares
/// with the prediction.
pub(crate) fn run(cmd: &ValidateCommand, out: &mut Output) -> Result<u8, Error> {
    let paths = fixtures(&cmd.ecg)?;
    let ecgs = load_deployable(&paths)?;
    let cfg = ValidateConfig {
        sidecar: cmd.sidecar.clone(),
        fixtures: paths.clone(),
        requests: cmd.requests.max(1),
        warmup: cmd.warmup,
        repeat: cmd.repeat.max(1),
        tolerance_pct: cmd.tolerance_pct,
    };
    let launch = super::launch::launch(None, out)?;
    let load = validate::load_average();
    let sets: Vec<ProfileSet> = profiles(cmd, &ecgs, &launch, out)?
        .into_iter()
        .map(|p| ProfileSet::new(vec![p]).with_cpu_price(cmd.cpu_price))
        .collect();
    let mut cases = Vec::new();
    for (p, ecg) in paths.iter().zip(&ecgs) {
        cases.push(validate_case(&cfg, p, ecg, &sets, &launch, out)?);
    }
    let report = validate::report(&cfg, sets[0].primary(), cmd.cpu_price, load, cases);
    let text = crate::report::validate::render(&report, cmd.format, out.width());
    out.out()
        .write_all(text.as_bytes())
        .map_err(|source| Error::Write {
            what: "the report".into(),
            source,
        })?;
    if let Some(path) = &cmd.svg {
        std::fs::write(path, crate::report::validate_plot::svg(&report)).map_err(|source| {
            Error::Write {
                what: format!("the plot to {}", path.display()),
                source,
            }
        })?;
    }
    Ok(exit::OK)
}

/// The fixture files: those given (directories searched), or the project's.
fn fixtures(given: &[PathBuf]) -> Result<Vec<PathBuf>, Error> {
    if given.is_empty() {
        let dir = std::env::current_dir()
            .ok()
            .and_then(|cwd| {
                cwd.ancestors()
                    .map(|d| d.join(VALIDATE_DIR))
                    .find(|d| d.is_dir())
            })
            .ok_or(Error::NoValidateDir { dir: VALIDATE_DIR })?;
        return Ok(find_fixtures(&dir)?);
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

/// The fixtures, each checked to be deployable: bad fixtures fail before anything starts.
fn load_deployable(paths: &[PathBuf]) -> Result<Vec<Ecg>, Error> {
    let mut ecgs = Vec::with_capacity(paths.len());
    for p in paths {
        let ecg = load_ecg(p)?;
        validate::deploy::check_deployable(&ecg).map_err(|problem| {
            validate::ValidateError::Fixture {
                path: p.clone(),
                problem,
            }
        })?;
        ecgs.push(ecg);
    }
    Ok(ecgs)
}

/// The profiles to price with: those given (of one platform), or a quick one measured now.
fn profiles(
    cmd: &ValidateCommand,
    ecgs: &[Ecg],
    launch: &Launch,
    out: &mut Output,
) -> Result<Vec<Profile>, Error> {
    if cmd.profiles.is_empty() {
        let in_series = ecgs.iter().map(Ecg::sidecars_in_series).max().unwrap_or(0);
        let p = quick_profile(cmd, ecgs, in_series, launch, out)?;
        if let Some(path) = &cmd.save_profile {
            save(path, &p)?;
        }
        return Ok(vec![p]);
    }
    let profiles: Vec<Profile> = cmd
        .profiles
        .iter()
        .map(|p| load_profile(p))
        .collect::<Result<_, _>>()?;
    if let Some((other, path)) = profiles
        .iter()
        .zip(&cmd.profiles)
        .find(|(p, _)| p.platform.id != profiles[0].platform.id)
    {
        return Err(Error::PlatformsDiffer {
            path: path.clone(),
            platform: other.platform.id.clone(),
            first_path: cmd.profiles[0].clone(),
            first_platform: profiles[0].platform.id.clone(),
        });
    }
    Ok(profiles)
}

/// A quick profile of the modes and filters the fixtures use, with `in_series` sidecars in
/// series (the most a request of the fixtures goes through, [`Ecg::sidecars_in_series`]).
fn quick_profile(
    cmd: &ValidateCommand,
    ecgs: &[Ecg],
    in_series: usize,
    launch: &Launch,
    out: &mut Output,
) -> Result<Profile, Error> {
    let (mut modes, filters) = crate::ecg::sidecar_needs(ecgs);
    if modes.is_empty() {
        modes.push(Mode::Http);
    }
    // As many in series as the deployment has (`chain_for`); `--chain` measures plain modes
    // only, so filters are profiled with one.
    let chain = if filters.is_empty() {
        validate::chain_for(in_series)
    } else {
        1
    };
    let cfg = MeasureConfig {
        modes,
        filters,
        chain,
        sizes: vec![100, 2000, 4000],
        rate_fractions: vec![0.5],
        repeat: cmd.profile_repeat.max(1),
        requests: cmd.profile_requests.max(1),
        open_duration: Duration::from_millis(400),
        // The deployed topology is not pinned either: measure both under the same scheduling.
        pin: false,
        ..MeasureConfig::quick(cmd.sidecar.clone())
    };
    out.status(
        "Profiling",
        format!(
            "{} first ({:?}, filters {:?}, {} in series; pass --profile to reuse one)",
            cmd.sidecar.name(),
            cfg.modes,
            cfg.filters,
            if chain == 1 {
                "one sidecar".to_string()
            } else {
                format!("{chain} sidecars")
            }
        ),
    );
    super::measuring::measure_with_progress(&cfg, launch, out)
}

/// Validates the fixture `ecg` (from `path`) with the profile closest to its sidecars in
/// series.
fn validate_case(
    cfg: &ValidateConfig,
    path: &Path,
    ecg: &Ecg,
    sets: &[ProfileSet],
    launch: &Launch,
    out: &mut Output,
) -> Result<CaseResult, Error> {
    let set = &sets[validate::pick_profile(sets.iter().map(ProfileSet::primary), ecg)];
    let chain = validate::profile_chain(set.primary());
    out.status(
        "Validating",
        format!(
            "{} (profile of {chain} sidecar{} in series)",
            path.display(),
            if chain == 1 { "" } else { "s" }
        ),
    );
    Ok(validate::validate_case(cfg, ecg, path, set, launch)?)
}

fn save(path: &Path, profile: &Profile) -> Result<(), Error> {
    std::fs::write(path, profile.to_json() + "\n").map_err(|source| Error::Write {
        what: format!("the profile to {}", path.display()),
        source,
    })
}
