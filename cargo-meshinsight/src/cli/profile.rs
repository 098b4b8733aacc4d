//! `cargo meshinsight profile`: measure this machine's per-component profile of a sidecar.

use std::path::PathBuf;

use crate::app::error::Error;
use crate::app::output::Output;
use crate::app::profile::{MeasureSettings, ProfileConfig, Source};
use crate::harness::Sidecar;
use crate::harness::sidecar::BuiltinVariant;
use crate::report::Format;
use crate::vocab::{Filter, Mode};

/// Measure a sidecar component by component and fit its profile (needs root for eBPF).
#[derive(Debug, clap::Args)]
pub(crate) struct ProfileArgs {
    /// Fit a saved profile again from the runs it keeps (no measuring, no root), e.g. after
    /// an upgrade of the fits; the result goes to --output
    #[arg(long, value_name = "FILE", conflicts_with_all = ["sidecar", "modes", "filters", "sizes", "rates", "quick", "repeat", "requests", "block_requests", "no_pin", "chain", "upstream", "zerocopy", "extra_work_us", "split_writes", "probe_set"])]
    refit: Option<PathBuf>,
    /// Profile what `cargo meshinsight check` would measure for the project: its configured
    /// sidecar (a `bin` target is built), the modes and filters its fixtures use and its
    /// `profile = {...}` settings (docs/gate.md). --quick and --sidecar still apply.
    #[arg(long, conflicts_with_all = ["refit", "modes", "filters", "sizes", "rates", "repeat", "requests", "block_requests", "no_pin", "chain", "upstream", "zerocopy", "extra_work_us", "split_writes", "probe_set"])]
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
    /// Measure on these CPUs (real ids, e.g. 2-7 or 0,2,4; within the allowed set)
    /// [default: `cpus` of the project's config with --project, else the allowed set]
    #[arg(long, value_name = "LIST", conflicts_with = "refit")]
    cpus: Option<crate::harness::CpuList>,
    /// Sidecars in series on the measured path: 2 measures an outbound sidecar into an
    /// inbound one, as a mesh hop runs them, and prices each as half of the pair [default: 1]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=crate::measure::MAX_CHAIN as i64))]
    chain: Option<u32>,
    #[command(flatten)]
    builtin: super::bench::BuiltinArgs,
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

impl From<&ProfileArgs> for ProfileConfig {
    fn from(a: &ProfileArgs) -> Self {
        let source = if let Some(path) = &a.refit {
            Source::Refit(path.clone())
        } else if a.project {
            Source::Project {
                manifest_path: a.manifest_path.clone(),
                quick: a.quick,
                sidecar: a.sidecar.clone(),
                cpus: a.cpus.clone(),
            }
        } else {
            Source::Measure {
                sidecar: a.sidecar.clone(),
                variant: BuiltinVariant::from(&a.builtin),
                settings: MeasureSettings {
                    quick: a.quick,
                    modes: a.modes.clone(),
                    filters: a.filters.clone(),
                    sizes: a.sizes.clone(),
                    rates_pct: a.rates.clone(),
                    repeat: a.repeat,
                    requests: a.requests,
                    block_requests: a.block_requests,
                    pin: !a.no_pin,
                    cpus: a.cpus.clone(),
                    chain: a.chain,
                    probe_set: a.probe_set,
                },
            }
        };
        ProfileConfig {
            source,
            output: a.output.clone(),
            format: a.format,
            report_size: a.report_size,
            report_rate: a.report_rate,
        }
    }
}

pub(super) fn run(args: ProfileArgs, out: &mut Output) -> Result<u8, Error> {
    crate::app::profile::run(&ProfileConfig::from(&args), out)
}
