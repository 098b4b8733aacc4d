//! `cargo meshinsight bench`: the black-box overhead of a sidecar.

use std::path::PathBuf;
use std::time::Duration;

use clap::ValueEnum;
use comfy_table::Table;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::app::error::Error;
use crate::app::output::Output;
use crate::exit;
use crate::harness::bench::{BenchConfig, BenchProgress, BenchResult, run_bench};
use crate::harness::{HarnessError, Launch, Sidecar, Upstream};
use crate::vocab::{Filter, Mode, SidecarConfig};

/// Result format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A table for people.
    Table,
    /// One JSON object.
    Json,
}

/// How the builtin sidecar reaches the echo application.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum UpstreamArg {
    #[default]
    /// TCP over loopback.
    Tcp,
    /// A Unix domain socket.
    Uds,
}

/// The variants of the builtin sidecar (`bench` and `profile`).
#[derive(Clone, Debug, Default, clap::Args)]
pub struct BuiltinVariant {
    /// builtin: how the sidecar reaches the echo application.
    #[arg(long, value_enum, default_value_t = UpstreamArg::Tcp)]
    upstream: UpstreamArg,
    /// builtin: write to TCP sockets with MSG_ZEROCOPY.
    #[arg(long)]
    zerocopy: bool,
    /// builtin: timed busy work per message, in µs (an injected regression).
    #[arg(long, default_value_t = 0)]
    extra_work_us: u64,
}

impl BuiltinVariant {
    /// Sets the variant on a builtin `sidecar`; an error when one is asked of another sidecar.
    pub fn apply(&self, sidecar: &mut Sidecar) -> Result<(), HarnessError> {
        let asked = self.upstream == UpstreamArg::Uds || self.zerocopy || self.extra_work_us > 0;
        match sidecar {
            Sidecar::Builtin {
                upstream,
                zerocopy,
                extra_work_us,
            } => {
                *upstream = match self.upstream {
                    UpstreamArg::Tcp => Upstream::Tcp,
                    UpstreamArg::Uds => Upstream::Uds,
                };
                *zerocopy = self.zerocopy;
                *extra_work_us = self.extra_work_us;
                Ok(())
            }
            _ if asked => Err(HarnessError::Config(
                "--upstream uds, --zerocopy and --extra-work-us need --sidecar builtin".into(),
            )),
            _ => Ok(()),
        }
    }
}

/// Measure the echo round trip without and with a sidecar, and the overhead.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// `envoy`, `builtin`, or a command line with {listen}, {upstream}, {mode}, {filters}.
    #[arg(long, default_value = "builtin")]
    sidecar: Sidecar,
    /// Traffic mode: tcp, http or grpc.
    #[arg(long, default_value = "http")]
    mode: Mode,
    /// Filters on top of http or grpc (comma-separated: fault, ratelimit, tap, lua, wasm).
    #[arg(long, value_delimiter = ',')]
    filters: Vec<Filter>,
    /// Payload bytes per request and per response.
    #[arg(long, default_value_t = 100)]
    size: usize,
    /// Open loop at this many requests per second (default: closed loop, one in flight).
    #[arg(long)]
    rate: Option<f64>,
    /// Repetitions, each measuring baseline and sidecar once (interleaved).
    #[arg(long, default_value_t = 5)]
    repeat: usize,
    /// Closed loop: measured requests per run.
    #[arg(long, default_value_t = 2000)]
    requests: u64,
    /// Closed loop: requests before measuring, per run.
    #[arg(long, default_value_t = 200)]
    warmup: u64,
    /// Open loop: measured seconds per run.
    #[arg(long, default_value_t = 1.0)]
    duration: f64,
    /// Open loop: requests in flight at most.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// The Envoy binary (default: `envoy` on PATH).
    #[arg(long, env = "MESHINSIGHT_ENVOY", hide_env_values = true)]
    envoy: Option<PathBuf>,
    /// Envoy worker threads.
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    #[command(flatten)]
    builtin: BuiltinVariant,
    /// Pin load generator, echo application and sidecar to separate CPUs.
    #[arg(long)]
    pin: bool,
    /// Result format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

impl TryFrom<&BenchArgs> for BenchConfig {
    type Error = HarnessError;
    fn try_from(a: &BenchArgs) -> Result<Self, HarnessError> {
        let config = SidecarConfig::new(a.mode, a.filters.clone())
            .map_err(|e| HarnessError::Config(e.to_string()))?;
        let mut sidecar = a.sidecar.clone();
        if let Sidecar::Envoy { path, concurrency } = &mut sidecar {
            path.clone_from(&a.envoy);
            *concurrency = a.concurrency;
        }
        a.builtin.apply(&mut sidecar)?;
        if !(a.duration > 0.0 && a.duration.is_finite()) {
            return Err(HarnessError::Config(
                "--duration must be a positive number of seconds".into(),
            ));
        }
        Ok(BenchConfig {
            size: a.size,
            rate: a.rate,
            repeat: a.repeat,
            requests: a.requests,
            warmup: a.warmup,
            duration: Duration::from_secs_f64(a.duration),
            connections: a.connections,
            pin: a.pin,
            ..BenchConfig::new(sidecar, config)
        })
    }
}

pub(crate) fn run(args: BenchArgs, out: &mut Output) -> Result<u8, Error> {
    let cfg = BenchConfig::try_from(&args)?;
    let launch = Launch::current()?;
    let what = format!("{} ({}, {} B)", cfg.sidecar.name(), cfg.config, cfg.size);
    out.status("Starting", &what);
    let bar = if out.is_quiet() {
        ProgressBar::hidden()
    } else {
        ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
    };
    let mut on_progress = |p: BenchProgress| match p {
        BenchProgress::Started {
            runs,
            sidecar_version,
        } => {
            bar.set_length(runs as u64);
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix:>12.green.bold} [{bar:30}] {pos}/{len} runs {msg}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar.set_prefix("Measuring");
            if let Some(v) = sidecar_version {
                bar.set_message(format!("(version {v})"));
            }
        }
        BenchProgress::RunDone {
            with_sidecar,
            p50_us,
        } => {
            bar.set_message(format!(
                "last: {} p50 {p50_us:.1} µs",
                if with_sidecar { "sidecar" } else { "baseline" }
            ));
            bar.inc(1);
        }
    };
    let result = run_bench(&launch, &cfg, &mut on_progress);
    bar.finish_and_clear();
    let result = result?;
    out.status("Finished", format!("{what}, {} repetitions", result.repeat));
    match args.format {
        Format::Json => {
            let text = serde_json::to_string_pretty(&result).expect("results serialize");
            writeln!(out.out(), "{text}").map_err(|source| Error::Write {
                what: "the result".into(),
                source,
            })?;
        }
        Format::Table => {
            writeln!(out.out(), "{}", render_table(&result)).map_err(|source| Error::Write {
                what: "the result".into(),
                source,
            })?;
        }
    }
    Ok(exit::OK)
}

/// The result as a table plus a line on the overhead's confidence interval.
pub fn render_table(r: &BenchResult) -> String {
    let mut table = Table::new();
    table.set_header(vec!["latency (µs)", "baseline", "with sidecar", "overhead"]);
    let rows = [
        (
            "p50",
            r.baseline_p50_us,
            r.sidecar_p50_us,
            r.overhead_p50_us,
        ),
        (
            "p90",
            r.baseline_p90_us,
            r.sidecar_p90_us,
            r.overhead_p90_us,
        ),
        (
            "p99",
            r.baseline_p99_us,
            r.sidecar_p99_us,
            r.overhead_p99_us,
        ),
        (
            "mean",
            r.baseline_mean_us,
            r.sidecar_mean_us,
            r.overhead_mean_us,
        ),
    ];
    for (name, b, s, o) in rows {
        table.add_row(vec![
            name.to_string(),
            format!("{b:.1}"),
            format!("{s:.1}"),
            format!("{o:.1}"),
        ]);
    }
    let config = SidecarConfig {
        mode: r.mode,
        filters: r.filters.clone(),
    };
    let version = r
        .sidecar_version
        .as_deref()
        .map(|v| format!(" {v}"))
        .unwrap_or_default();
    let ci = match r.overhead_ci95_us {
        Some(ci) => format!("± {ci:.1} µs (95% CI over {} repetitions)", r.repeat),
        None => "(one repetition: no confidence interval)".to_string(),
    };
    format!(
        "{}{version}, {config}, {} B, {}:\n{table}\noverhead p50: {:.1} µs {ci}",
        r.sidecar,
        r.size,
        match r.rate {
            Some(rate) => format!("open loop at {rate} req/s"),
            None => "closed loop".to_string(),
        },
        r.overhead_p50_us,
    )
}
