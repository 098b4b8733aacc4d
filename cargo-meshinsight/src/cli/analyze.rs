//! `cargo meshinsight analyze`.

use std::path::PathBuf;

use super::values;
use crate::app::analyze::{self, AnalyzeConfig};
use crate::app::error::Error;
use crate::app::output::Output;
use crate::report::Format;
use crate::traces::stream::StreamConfig;
use crate::vocab::SidecarConfig;

/// Predict the mesh's overhead for every call graph of a trace and report its distribution.
#[derive(Debug, clap::Args)]
pub(crate) struct AnalyzeArgs {
    /// Trace files or directories: Alibaba CallGraph CSV, Jaeger or OTLP JSON
    #[arg(long, value_name = "PATH", num_args = 1.., required = true)]
    traces: Vec<PathBuf>,
    /// Profile JSON [default: the paper's]
    #[arg(long, value_name = "FILE")]
    profile: Option<PathBuf>,
    /// Sidecar configuration of every service, MODE[+filter,...]; repeat to compare several
    #[arg(long, value_name = "CONFIG", num_args = 1.., default_value = "http")]
    config: Vec<SidecarConfig>,
    /// Request and response size of calls the trace gives none, bytes
    #[arg(long, value_name = "BYTES", default_value_t = 100, value_parser = values::bytes)]
    size: u64,
    /// Requests per second each call graph is served at, for the CPU figures
    #[arg(long, value_name = "RPS", default_value_t = 30000.0, value_parser = values::rate)]
    rate: f64,
    /// A speedup profile (TOML): report every configuration after it too
    #[arg(long, value_name = "FILE")]
    speedup: Option<PathBuf>,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Also write the CDF plot (SVG) here
    #[arg(long, value_name = "FILE")]
    plot: Option<PathBuf>,
    /// Worker threads, 1 to 1024 [default: one per core]
    #[arg(long, value_name = "N", value_parser = values::threads)]
    threads: Option<usize>,
    /// Where the temporary partition files go [default: the system's temporary directory]
    #[arg(long, value_name = "DIR")]
    temp_dir: Option<PathBuf>,
}

impl From<&AnalyzeArgs> for AnalyzeConfig {
    fn from(a: &AnalyzeArgs) -> Self {
        AnalyzeConfig {
            traces: a.traces.clone(),
            profiles: a.profile.iter().cloned().collect(),
            configs: a.config.clone(),
            size_bytes: a.size as f64,
            rate: a.rate,
            speedup: a.speedup.clone(),
            stream: StreamConfig {
                threads: a.threads.unwrap_or(0),
                temp_dir: a.temp_dir.clone(),
                progress: None,
                lean: true,
            },
            format: a.format,
            plot: a.plot.clone(),
        }
    }
}

pub(super) fn run(args: AnalyzeArgs, out: &mut Output) -> Result<u8, Error> {
    analyze::run(&AnalyzeConfig::from(&args), out)
}
