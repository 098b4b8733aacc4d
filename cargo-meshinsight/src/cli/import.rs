//! `cargo meshinsight import`.

use std::path::PathBuf;

use super::values;
use crate::app::error::Error;
use crate::app::import::{self, ImportConfig};
use crate::app::output::Output;
use crate::ecg::Defaults;
use crate::traces::TraceFormat;
use crate::vocab::{Filter, Mode};

/// Turn traces into ECG fixtures, one file per trace.
#[derive(Debug, clap::Args)]
pub(crate) struct ImportArgs {
    /// The trace format
    #[arg(value_enum)]
    format: TraceFormat,
    /// Trace files
    #[arg(value_name = "FILE", required = true)]
    files: Vec<PathBuf>,
    /// Directory the fixtures are written to
    #[arg(
        short,
        long,
        value_name = "DIR",
        alias = "out",
        default_value = "fixtures/ecg"
    )]
    output: PathBuf,
    /// Sidecar mode of every service (the fixtures' [defaults])
    #[arg(long, default_value = "http")]
    mode: Mode,
    /// Sidecar filters of every service
    #[arg(long, value_delimiter = ',')]
    filters: Vec<Filter>,
    /// Request size of calls the trace gives none, bytes
    #[arg(long, value_name = "BYTES", default_value_t = 100, value_parser = values::bytes)]
    request_bytes: u64,
    /// Response size of calls the trace gives none, bytes
    #[arg(long, value_name = "BYTES", default_value_t = 100, value_parser = values::bytes)]
    response_bytes: u64,
    /// Rate of every call, requests per second
    #[arg(long, value_name = "RPS", default_value_t = 1000.0, value_parser = values::rate)]
    rate: f64,
    /// Write at most this many traces (in trace id order)
    #[arg(long, value_name = "N", value_parser = values::count)]
    limit: Option<u64>,
}

impl From<&ImportArgs> for ImportConfig {
    fn from(a: &ImportArgs) -> Self {
        ImportConfig {
            format: a.format,
            files: a.files.clone(),
            dir: a.output.clone(),
            defaults: Defaults {
                mode: a.mode,
                filters: a.filters.clone(),
                request_bytes: a.request_bytes,
                response_bytes: a.response_bytes,
                rate: a.rate,
                platform: None,
            },
            limit: a.limit.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
        }
    }
}

pub(super) fn run(args: ImportArgs, out: &mut Output) -> Result<u8, Error> {
    import::run(&ImportConfig::from(&args), out)
}
