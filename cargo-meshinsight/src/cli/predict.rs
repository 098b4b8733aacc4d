//! `cargo meshinsight predict`.

use std::path::PathBuf;

use crate::app::error::Error;
use crate::app::output::Output;
use crate::app::predict::PredictConfig;
use crate::model::CpuPrice;
use crate::report::Format;

/// Predict the end-to-end overhead of the mesh for call graphs (ECG fixtures).
#[derive(Debug, clap::Args)]
pub(crate) struct PredictArgs {
    /// ECG fixture files (TOML or JSON) or directories of them [default: the fixtures the
    /// project configures (`[*.metadata.meshinsight] fixtures`), else fixtures/ecg]
    #[arg(long = "ecg", value_name = "FILE", num_args = 1..)]
    ecg: Vec<PathBuf>,
    /// Path to Cargo.toml of the project whose configured fixtures are predicted [default:
    /// the nearest Cargo.toml with a `metadata.meshinsight` table]
    #[arg(long, value_name = "PATH", conflicts_with = "ecg")]
    manifest_path: Option<PathBuf>,
    /// Profile JSON; repeat to give services on other platforms their own [default: the paper's]
    #[arg(long, value_name = "FILE")]
    profile: Vec<PathBuf>,
    /// A speedup profile (TOML): report the figures before and after it
    #[arg(long, value_name = "FILE")]
    speedup: Option<PathBuf>,
    /// CPU per request under load (`loaded`, the open-loop runs: the paper's model) or with one
    /// request at a time (`unloaded`, the closed-loop runs)
    #[arg(long, value_enum, default_value_t = CpuPrice::Loaded)]
    cpu_price: CpuPrice,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

impl From<&PredictArgs> for PredictConfig {
    fn from(a: &PredictArgs) -> Self {
        PredictConfig {
            ecg: a.ecg.clone(),
            manifest_path: a.manifest_path.clone(),
            profiles: a.profile.clone(),
            speedup: a.speedup.clone(),
            cpu_price: a.cpu_price,
        }
    }
}

pub(super) fn run(args: PredictArgs, out: &mut Output) -> Result<u8, Error> {
    crate::app::predict::run(&PredictConfig::from(&args), args.format, out)
}
