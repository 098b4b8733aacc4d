//! `cargo meshinsight validate`: predicted against measured overhead of real deployments.

use std::path::PathBuf;

use crate::app::error::Error;
use crate::app::output::Output;
use crate::app::validate::ValidateCommand;
use crate::harness::Sidecar;
use crate::model::CpuPrice;
use crate::report::Format;

/// Deploy call graphs for real (services and sidecars), measure the overhead of the mesh and
/// compare it with the prediction (needs root when it profiles first).
#[derive(Debug, clap::Args)]
pub(crate) struct ValidateArgs {
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
    #[arg(
        long,
        value_name = "FILE",
        alias = "save-profile",
        conflicts_with = "profile"
    )]
    profile_output: Option<PathBuf>,
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
    #[arg(long, value_name = "FILE", alias = "svg")]
    plot: Option<PathBuf>,
}

impl From<&ValidateArgs> for ValidateCommand {
    fn from(a: &ValidateArgs) -> Self {
        ValidateCommand {
            sidecar: a.sidecar.clone(),
            ecg: a.ecg.clone(),
            profiles: a.profile.clone(),
            save_profile: a.profile_output.clone(),
            profile_requests: a.profile_requests,
            profile_repeat: a.profile_repeat,
            requests: a.requests,
            warmup: a.warmup,
            repeat: a.repeat,
            tolerance_pct: a.tolerance,
            cpu_price: a.cpu_price,
            format: a.format,
            svg: a.plot.clone(),
        }
    }
}

pub(super) fn run(args: ValidateArgs, out: &mut Output) -> Result<u8, Error> {
    crate::app::validate::run(&ValidateCommand::from(&args), out)
}
