//! `cargo-meshinsight __probe-overhead`: what the probe adds to a loopback round trip.

use crate::app::error::Error;
use crate::app::output::Output;
use crate::probe::overhead::{self, OverheadConfig};

/// Measure the probe's own cost (docs/probe.md).
#[derive(Debug, clap::Args)]
pub struct Args {
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

/// Runs the benchmark.
pub fn run(args: Args, out: &mut Output) -> Result<u8, Error> {
    let cfg = OverheadConfig {
        repetitions: args.repetitions,
        round_trips: args.round_trips,
        size: args.size,
        pin: args.pin,
        options: crate::probe::ProbeOptions {
            loopback_transmit: !args.no_loopback_transmit,
            probe_set: args.probe_set,
            ..Default::default()
        },
    };
    let exe = std::env::current_exe().map_err(|e| Error::Other {
        message: format!("find this program: {e}"),
        hint: None,
    })?;
    out.status(
        "Measuring",
        format!(
            "{} × 2 blocks of {} round trips of {} bytes",
            cfg.repetitions, cfg.round_trips, cfg.size
        ),
    );
    let report = overhead::run(&cfg, &exe, |_| {}).map_err(|e| match e {
        overhead::OverheadError::Probe(p) => Error::from(p),
        other => Error::Other {
            message: format!(
                "{other}: {}",
                std::error::Error::source(&other)
                    .map(ToString::to_string)
                    .unwrap_or_default()
            ),
            hint: None,
        },
    })?;
    let write_err = |source| Error::Write {
        what: "the overhead report".to_string(),
        source,
    };
    if args.json {
        let json = serde_json::to_string_pretty(&report).map_err(|e| Error::Other {
            message: format!("serialize the report: {e}"),
            hint: None,
        })?;
        writeln!(out.out(), "{json}").map_err(write_err)?;
    } else {
        writeln!(
            out.out(),
            "probe set:                {}{}\nround trip without probe: {:.2} µs (median of {} blocks)\nround trip with probe:    {:.2} µs\nadded by the probe:       {:.2} µs per round trip (median of paired differences; IQR {:.2} .. {:.2} µs)\nCPU per round trip:       {:.2} µs without the probe, {:+.2} µs with it (IQR {:.2} .. {:.2} µs)",
            report.probe_set,
            report
                .fallback_reason
                .as_deref()
                .map(|r| format!(" (raw tracepoints unavailable: {r})"))
                .unwrap_or_default(),
            report.median_without_ns / 1e3,
            report.repetitions,
            report.median_with_ns / 1e3,
            report.median_added_ns / 1e3,
            report.added_p25_ns / 1e3,
            report.added_p75_ns / 1e3,
            report.median_cpu_without_ns / 1e3,
            report.median_cpu_added_ns / 1e3,
            report.cpu_added_p25_ns / 1e3,
            report.cpu_added_p75_ns / 1e3,
        )
        .map_err(write_err)?;
    }
    Ok(0)
}
