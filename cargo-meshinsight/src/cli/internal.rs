//! Hidden subcommands: the harness's own server processes (`__echo`, `__sidecar`).

use crate::app::error::Error;
use crate::app::output::Output;
use crate::exit;
use crate::harness::Endpoint;
use crate::harness::sidecar::builtin::{self, BuiltinOptions};
use crate::harness::sidecar::filters::FilterSettings;
use crate::vocab::{Filter, Mode};

/// `__echo`: the echo application.
#[derive(Debug, clap::Args)]
pub struct EchoArgs {
    /// Protocol.
    #[arg(long)]
    mode: Mode,
    /// Where to listen (HOST:PORT or unix:PATH); repeatable.
    #[arg(long, required = true)]
    listen: Vec<Endpoint>,
}

/// `__sidecar`: the built-in reference sidecar.
#[derive(Debug, clap::Args)]
pub struct SidecarArgs {
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

fn serve_error(what: &str, source: std::io::Error) -> Error {
    Error::Other {
        message: format!("{what} stopped: {source}"),
        hint: None,
    }
}

pub(crate) fn echo(args: EchoArgs, out: &mut Output) -> Result<u8, Error> {
    crate::harness::echo::serve(args.mode, &args.listen, out.out())
        .map_err(|e| serve_error("the echo application", e))?;
    Ok(exit::OK)
}

pub(crate) fn sidecar(args: SidecarArgs, out: &mut Output) -> Result<u8, Error> {
    let opts = BuiltinOptions {
        mode: args.mode,
        listen: args.listen,
        upstream: args.upstream,
        zerocopy: args.zerocopy,
        extra_work_us: args.extra_work_us,
        crash_after: args.crash_after,
        filters: args.filters,
        filter_settings: FilterSettings {
            fault_abort_percent: args.fault_abort_percent,
            ratelimit_rps: args.ratelimit_rps,
        },
    };
    builtin::serve(&opts, out.out()).map_err(|e| serve_error("the builtin sidecar", e))?;
    Ok(exit::OK)
}
