//! `cargo-meshinsight __probe-overhead`: what the probe adds to a loopback round trip.

use crate::app::error::Error;
use crate::app::output::Output;
use crate::probe::overhead::OverheadConfig;

/// Measure the probe's own cost (docs/probe.md).
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Pairs of blocks, without and with the probe (order alternates).
    #[arg(long, default_value_t = 100)]
    repetitions: usize,
    /// Round trips per block.
    #[arg(long, default_value_t = 2000)]
    round_trips: usize,
    /// Bytes per message.
    #[arg(long, default_value_t = 100)]
    size: usize,
    /// Pin the client to CPU 0 and the echo server to CPU 1.
    #[arg(long)]
    pin: bool,
    /// Do not attach the loopback-transmit tracepoints (see `ProbeOptions::loopback_transmit`).
    #[arg(long)]
    no_loopback_transmit: bool,
    /// The programs to measure with: `raw_tracepoint` or `tracepoint` (classic). Default:
    /// raw tracepoints where they load, else classic ones.
    #[arg(long, value_name = "SET")]
    probe_set: Option<crate::probe::ProbeSet>,
    /// Print the whole result as JSON.
    #[arg(long)]
    json: bool,
}

impl From<&Args> for OverheadConfig {
    fn from(args: &Args) -> Self {
        OverheadConfig {
            repetitions: args.repetitions,
            round_trips: args.round_trips,
            size: args.size,
            pin: args.pin,
            options: crate::probe::ProbeOptions {
                loopback_transmit: !args.no_loopback_transmit,
                probe_set: args.probe_set,
                ..Default::default()
            },
        }
    }
}

/// Runs the benchmark.
pub(super) fn run(args: Args, out: &mut Output) -> Result<u8, Error> {
    let format = if args.json {
        crate::report::Format::Json
    } else {
        crate::report::Format::Table
    };
    crate::app::probe::overhead(&OverheadConfig::from(&args), format, out)
}
