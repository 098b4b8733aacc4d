//! `cargo meshinsight bench`: the black-box overhead of a sidecar.

use std::path::PathBuf;
use std::time::Duration;

use clap::ValueEnum;

use crate::app::error::Error;
use crate::app::output::Output;
use crate::harness::bench::BenchConfig;
use crate::harness::sidecar::BuiltinVariant;
use crate::harness::{CpuList, HarnessError, Sidecar, Upstream};
use crate::vocab::{Filter, Mode, SidecarConfig};

/// Result format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(super) enum Format {
    /// A table for people.
    Table,
    /// One JSON object.
    Json,
}

/// How the builtin sidecar reaches the echo application.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub(super) enum UpstreamArg {
    #[default]
    /// TCP over loopback.
    Tcp,
    /// A Unix domain socket.
    Uds,
}

/// The variants of the builtin sidecar (`bench` and `profile`).
#[derive(Clone, Debug, Default, clap::Args)]
pub(crate) struct BuiltinArgs {
    /// builtin: how the sidecar reaches the echo application.
    #[arg(long, value_enum, default_value_t = UpstreamArg::Tcp)]
    upstream: UpstreamArg,
    /// builtin: write to TCP sockets with MSG_ZEROCOPY.
    #[arg(long)]
    zerocopy: bool,
    /// builtin: timed busy work per message, in µs (an injected regression).
    #[arg(long, default_value_t = 0)]
    extra_work_us: u64,
    /// builtin: issue every write in N write syscalls (an injected structural regression).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    split_writes: u32,
}

impl From<&BuiltinArgs> for BuiltinVariant {
    fn from(a: &BuiltinArgs) -> Self {
        BuiltinVariant {
            upstream: match a.upstream {
                UpstreamArg::Tcp => Upstream::Tcp,
                UpstreamArg::Uds => Upstream::Uds,
            },
            zerocopy: a.zerocopy,
            extra_work_us: a.extra_work_us,
            split_writes: a.split_writes,
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
    /// Open loop: how long each run measures (e.g. 2s, 500ms; a bare number is seconds).
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = super::duration::parse)]
    duration: Duration,
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
    builtin: BuiltinArgs,
    /// Do not pin load generator, echo application and sidecar to separate CPUs (pinned by
    /// default, as `profile` measures)
    #[arg(long)]
    no_pin: bool,
    /// Pinning is the default: accepted for scripts that ask for it.
    #[arg(long, hide = true, conflicts_with = "no_pin")]
    pin: bool,
    /// Measure on these CPUs (real ids, e.g. 2-7 or 0,2,4; within the allowed set)
    #[arg(long, value_name = "LIST")]
    cpus: Option<CpuList>,
    /// Result format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

impl TryFrom<&BenchArgs> for BenchConfig {
    type Error = HarnessError;
    fn try_from(a: &BenchArgs) -> Result<Self, HarnessError> {
        let config = SidecarConfig::new(a.mode, a.filters.clone())?;
        let mut sidecar = a.sidecar.clone();
        if let Sidecar::Envoy {
            path, concurrency, ..
        } = &mut sidecar
        {
            if a.envoy.is_some() {
                path.clone_from(&a.envoy);
            }
            *concurrency = a.concurrency;
        }
        BuiltinVariant::from(&a.builtin).apply(&mut sidecar)?;
        Ok(BenchConfig {
            size: a.size,
            rate: a.rate,
            repeat: a.repeat,
            requests: a.requests,
            warmup: a.warmup,
            duration: a.duration,
            connections: a.connections,
            pin: !a.no_pin,
            cpus: a.cpus.clone(),
            ..BenchConfig::new(sidecar, config)
        })
    }
}

pub(super) fn run(args: BenchArgs, out: &mut Output) -> Result<u8, Error> {
    let format = match args.format {
        Format::Table => crate::report::Format::Table,
        Format::Json => crate::report::Format::Json,
    };
    crate::app::bench::run(&BenchConfig::try_from(&args)?, format, out)
}
