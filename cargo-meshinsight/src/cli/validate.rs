//! `cargo meshinsight validate`: predicted against measured overhead of real deployments.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::app::error::Error;
use crate::app::input::{find_fixtures, load_ecg, load_profile};
use crate::app::output::Output;
use crate::ecg::Ecg;
use crate::exit;
use crate::harness::{Launch, Sidecar};
use crate::measure::{MeasureConfig, measure};
use crate::model::{CpuPrice, Profile};
use crate::predict::ProfileSet;
use crate::report::Format;
use crate::validate::{self, ValidateConfig};
use crate::vocab::Mode;

/// Where validation fixtures live, relative to the project root.
const VALIDATE_DIR: &str = "fixtures/validate";

/// Deploy call graphs for real (services and sidecars), measure the overhead of the mesh and
/// compare it with the prediction (needs root when it profiles first).
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// `builtin`, `envoy`, or a command with {listen} {upstream} {mode}
    #[arg(long, default_value = "builtin")]
    sidecar: Sidecar,
    /// ECG fixtures (files or directories) [default: fixtures/validate]
    #[arg(long = "ecg", value_name = "FILE", num_args = 1..)]
    ecg: Vec<PathBuf>,
    /// Profile of this sidecar on this machine; repeat it with profiles of different
    /// `--chain`: each fixture is priced by the one closest to its sidecars in series
    /// [default: measure one first, quickly]
    #[arg(long, value_name = "FILE")]
    profile: Vec<PathBuf>,
    /// Write the profile measured first to this file
    #[arg(long, value_name = "FILE", conflicts_with = "profile")]
    save_profile: Option<PathBuf>,
    /// The profile measured first: closed-loop requests per point
    #[arg(long, default_value_t = 800, conflicts_with = "profile")]
    profile_requests: u64,
    /// The profile measured first: repetitions per point
    #[arg(long, default_value_t = 2, conflicts_with = "profile")]
    profile_repeat: u32,
    /// Measured requests per run
    #[arg(long, default_value_t = 2000)]
    requests: u64,
    /// Requests before each run
    #[arg(long, default_value_t = 200)]
    warmup: u64,
    /// Runs with and without the mesh, interleaved
    #[arg(long, default_value_t = 3)]
    repeat: u32,
    /// Largest latency error of a passing case, %
    #[arg(long, default_value_t = 25.0)]
    tolerance: f64,
    /// CPU per request as the profile measured it with one request at a time (`unloaded`, the
    /// closed-loop runs: how the deployment is driven) or under load (`loaded`, the paper's)
    #[arg(long, value_enum, default_value_t = CpuPrice::Unloaded)]
    cpu_price: CpuPrice,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Also write the plot (predicted vs measured, error per case) to this SVG file
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
}

fn fixtures(given: &[PathBuf]) -> Result<Vec<PathBuf>, Error> {
    if given.is_empty() {
        let dir = std::env::current_dir()
            .ok()
            .and_then(|cwd| {
                cwd.ancestors()
                    .map(|d| d.join(VALIDATE_DIR))
                    .find(|d| d.is_dir())
            })
            .ok_or_else(|| Error::Other {
                message: format!("no {VALIDATE_DIR} directory here or above"),
                hint: Some("pass fixtures with --ecg FILE".into()),
            })?;
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

/// A quick profile of the modes and filters the fixtures use, with `in_series` sidecars in
/// series (the most a request of the fixtures goes through, [`Ecg::sidecars_in_series`]).
fn quick_profile(
    args: &ValidateArgs,
    sidecar: &Sidecar,
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
        repeat: args.profile_repeat.max(1),
        requests: args.profile_requests.max(1),
        open_duration: Duration::from_millis(400),
        // The deployed topology is not pinned either: measure both under the same scheduling.
        pin: false,
        ..MeasureConfig::quick(sidecar.clone())
    };
    out.status(
        "Profiling",
        format!(
            "{} first ({:?}, filters {:?}, {} in series; pass --profile to reuse one)",
            sidecar.name(),
            cfg.modes,
            cfg.filters,
            if chain == 1 {
                "one sidecar".to_string()
            } else {
                format!("{chain} sidecars")
            }
        ),
    );
    Ok(measure(&cfg, launch, &mut |_| {})?)
}

fn write(out: &mut Output, text: &str, what: &str) -> Result<(), Error> {
    out.out()
        .write_all(text.as_bytes())
        .map_err(|source| Error::Write {
            what: what.into(),
            source,
        })
}

fn save(path: &Path, profile: &Profile) -> Result<(), Error> {
    std::fs::write(path, profile.to_json() + "\n").map_err(|source| Error::Write {
        what: format!("the profile to {}", path.display()),
        source,
    })
}

pub(crate) fn run(args: ValidateArgs, out: &mut Output) -> Result<u8, Error> {
    let paths = fixtures(&args.ecg)?;
    // Bad fixtures fail before anything is started.
    let mut ecgs = Vec::with_capacity(paths.len());
    for p in &paths {
        let ecg = load_ecg(p)?;
        validate::deploy::check_deployable(&ecg).map_err(|problem| {
            validate::ValidateError::Fixture {
                path: p.clone(),
                problem,
            }
        })?;
        ecgs.push(ecg);
    }
    let cfg = ValidateConfig {
        sidecar: args.sidecar.clone(),
        fixtures: paths.clone(),
        requests: args.requests.max(1),
        warmup: args.warmup,
        repeat: args.repeat.max(1),
        tolerance_pct: args.tolerance,
    };
    let launch = Launch::current()?;
    let load = validate::load_average();
    let profiles: Vec<Profile> = if args.profile.is_empty() {
        let in_series = ecgs.iter().map(Ecg::sidecars_in_series).max().unwrap_or(0);
        let p = quick_profile(&args, &cfg.sidecar, &ecgs, in_series, &launch, out)?;
        if let Some(path) = &args.save_profile {
            save(path, &p)?;
        }
        vec![p]
    } else {
        args.profile
            .iter()
            .map(|p| load_profile(p))
            .collect::<Result<_, _>>()?
    };
    if let Some(other) = profiles
        .iter()
        .zip(&args.profile)
        .find(|(p, _)| p.platform.id != profiles[0].platform.id)
    {
        return Err(Error::Other {
            message: format!(
                "{} is a profile of `{}`, {} of `{}`: validate prices one sidecar on one machine",
                other.1.display(),
                other.0.platform.id,
                args.profile[0].display(),
                profiles[0].platform.id
            ),
            hint: Some("pass profiles of the same sidecar and machine (different --chain)".into()),
        });
    }
    let sets: Vec<ProfileSet> = profiles
        .into_iter()
        .map(|p| ProfileSet::new(vec![p]).with_cpu_price(args.cpu_price))
        .collect();
    let mut cases = Vec::new();
    for (p, ecg) in paths.iter().zip(&ecgs) {
        let set = &sets[validate::pick_profile(sets.iter().map(ProfileSet::primary), ecg)];
        let chain = validate::profile_chain(set.primary());
        out.status(
            "Validating",
            format!(
                "{} (profile of {chain} sidecar{} in series)",
                p.display(),
                if chain == 1 { "" } else { "s" }
            ),
        );
        cases.push(validate::validate_case(&cfg, ecg, p, set, &launch)?);
    }
    let report = validate::report(&cfg, sets[0].primary(), args.cpu_price, load, cases);
    write(
        out,
        &crate::report::validate::render(&report, args.format),
        "the report",
    )?;
    if let Some(path) = &args.svg {
        std::fs::write(path, crate::report::validate_plot::svg(&report)).map_err(|source| {
            Error::Write {
                what: format!("the plot to {}", path.display()),
                source,
            }
        })?;
    }
    Ok(exit::OK)
}
