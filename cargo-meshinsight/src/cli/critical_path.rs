//! `cargo meshinsight critical-path`.

use std::path::PathBuf;

use super::values;
use crate::app::critical_path::{self, CriticalPathConfig};
use crate::app::error::Error;
use crate::app::output::Output;
use crate::report::Format;
use crate::vocab::SidecarConfig;

/// Print each trace's critical path as CRISP computes it, and with the mesh's overhead.
#[derive(Debug, clap::Args)]
pub(crate) struct CriticalPathArgs {
    /// Trace files: Jaeger or OTLP JSON, or Alibaba CallGraph CSV
    #[arg(value_name = "FILE", required = true)]
    files: Vec<PathBuf>,
    /// Profile JSON: also show the path with the sidecars' overhead added [default with --config: the paper's]
    #[arg(long, value_name = "FILE")]
    profile: Option<PathBuf>,
    /// Sidecar configuration of every service, MODE[+filter,...] [default with --profile: http]
    #[arg(long, value_name = "CONFIG")]
    config: Option<SidecarConfig>,
    /// Request and response size of calls the trace gives none, bytes
    #[arg(long, value_name = "BYTES", default_value_t = 100, value_parser = values::bytes)]
    size: u64,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

impl From<&CriticalPathArgs> for CriticalPathConfig {
    fn from(a: &CriticalPathArgs) -> Self {
        CriticalPathConfig {
            files: a.files.clone(),
            profiles: a.profile.iter().cloned().collect(),
            config: a.config.clone(),
            size_bytes: a.size,
            format: a.format,
        }
    }
}

pub(super) fn run(args: CriticalPathArgs, out: &mut Output) -> Result<u8, Error> {
    critical_path::run(&CriticalPathConfig::from(&args), out)
}
