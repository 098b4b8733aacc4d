//! `cargo meshinsight analyze`.

use std::path::PathBuf;

use crate::app::analyze::{self, AnalyzeConfig};
use crate::app::error::Error;
use crate::app::output::Output;
use crate::exit;
use crate::report::Format;
use crate::report::analyze::render;
use crate::traces::stream::StreamConfig;
use crate::vocab::SidecarConfig;

/// Predict the mesh's overhead for every call graph of a trace and report its distribution.
#[derive(Debug, clap::Args)]
pub struct AnalyzeArgs {
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
    #[arg(long, value_name = "BYTES", default_value_t = 100)]
    size: u64,
    /// Requests per second each call graph is served at, for the CPU figures
    #[arg(long, value_name = "RPS", default_value_t = 30000.0)]
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
    /// Worker threads [default: one per core]
    #[arg(long, value_name = "N")]
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
        }
    }
}

pub(super) fn run(args: AnalyzeArgs, out: &mut Output) -> Result<u8, Error> {
    if !(args.rate.is_finite() && args.rate >= 0.0) {
        return Err(Error::Other {
            message: format!("--rate must be a non-negative number, found {}", args.rate),
            hint: None,
        });
    }
    let analysis = analyze::run(&AnalyzeConfig::from(&args), out)?;
    if let Some(path) = &args.plot {
        analyze::write_plot(&analysis, path)?;
        out.status("Wrote", format!("the CDF plot to {}", path.display()));
    }
    let text = render(&analysis, args.format);
    out.out()
        .write_all(text.as_bytes())
        .map_err(|source| Error::Write {
            what: "the analysis".into(),
            source,
        })?;
    Ok(exit::OK)
}
