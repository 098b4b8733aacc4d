//! Hidden subcommands: the harness's own server processes (`__echo`, `__sidecar`).

use crate::app::error::Error;
use crate::app::output::Output;
use crate::harness::Endpoint;
use crate::harness::sidecar::builtin::BuiltinOptions;
use crate::harness::sidecar::filters::FilterSettings;
use crate::vocab::{Filter, Mode};

/// `__echo`: the echo application.
#[derive(Debug, clap::Args)]
pub(super) struct EchoArgs {
    /// Protocol.
    #[arg(long)]
    mode: Mode,
    /// Where to listen (HOST:PORT or unix:PATH); repeatable.
    #[arg(long, required = true)]
    listen: Vec<Endpoint>,
}

/// `__sidecar`: the built-in reference sidecar.
#[derive(Debug, clap::Args)]
pub(crate) struct SidecarArgs {
    /// Protocol.
    #[arg(long)]
    mode: Mode,
    /// Where to listen (HOST:PORT or unix:PATH).
    #[arg(long)]
    listen: Endpoint,
    /// The application behind the sidecar (HOST:PORT or unix:PATH).
    #[arg(long)]
    upstream: Endpoint,
    /// Write to TCP sockets with MSG_ZEROCOPY.
    #[arg(long)]
    zerocopy: bool,
    /// Calibrated busy work per message, in µs.
    #[arg(long, default_value_t = 0)]
    extra_work_us: u64,
    /// Issue every write in this many write syscalls.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    split_writes: u32,
    /// Abort after this many messages (a crash for tests).
    #[arg(long)]
    crash_after: Option<u64>,
    /// HTTP filters in front of every request (http and grpc modes), in order.
    #[arg(long, value_delimiter = ',')]
    filters: Vec<Filter>,
    /// Share of requests the fault filter aborts with 503, %.
    #[arg(long, default_value_t = 0.0)]
    fault_abort_percent: f64,
    /// Requests per second the ratelimit filter lets through (429 beyond).
    #[arg(long, default_value_t = 1_000_000_000)]
    ratelimit_rps: u32,
}

impl From<&SidecarArgs> for BuiltinOptions {
    fn from(a: &SidecarArgs) -> Self {
        BuiltinOptions {
            mode: a.mode,
            listen: a.listen.clone(),
            upstream: a.upstream.clone(),
            zerocopy: a.zerocopy,
            extra_work_us: a.extra_work_us,
            split_writes: a.split_writes as usize,
            crash_after: a.crash_after,
            filters: a.filters.clone(),
            filter_settings: FilterSettings {
                fault_abort_percent: a.fault_abort_percent,
                ratelimit_rps: a.ratelimit_rps,
            },
        }
    }
}

pub(crate) fn echo(args: EchoArgs, out: &mut Output) -> Result<u8, Error> {
    crate::app::internal::echo(args.mode, &args.listen, out)
}

pub(crate) fn sidecar(args: SidecarArgs, out: &mut Output) -> Result<u8, Error> {
    crate::app::internal::sidecar(&BuiltinOptions::from(&args), out)
}
