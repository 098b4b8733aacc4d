//! `cargo meshinsight probe`: attach to running processes and print per-component costs; and
//! `__probe-overhead`, what the probe adds to a loopback round trip.

use std::time::{Duration, Instant};

use super::error::Error;
use super::output::Output;
use crate::exit;
use crate::probe::overhead::{self, OverheadConfig, OverheadError};
use crate::probe::{Pid, Probe, ProbeOptions, Role};
use crate::report::Format;

/// Plain configuration of the `probe` command.
#[derive(Clone, Debug)]
pub(crate) struct ProbeConfig {
    /// (pid, role) of each target.
    pub(crate) targets: Vec<(Pid, Role)>,
    /// Measuring time.
    pub(crate) duration: Duration,
    /// Output format.
    pub(crate) format: Format,
    /// Probe options.
    pub(crate) options: ProbeOptions,
}

/// Runs `probe`: measures until the duration is over or Ctrl-C, then prints the report.
pub(crate) fn run(config: &ProbeConfig, out: &mut Output) -> Result<u8, Error> {
    let mut probe = Probe::attach(&config.targets, &config.options)?;
    if let Some(reason) = probe.fallback_reason() {
        out.warn(format!(
            "raw tracepoints unavailable ({reason}); measuring with classic tracepoints"
        ));
    }
    out.status(
        "Probing",
        format!(
            "{} process(es) for {:.1} s (Ctrl-C to stop early)",
            config.targets.len(),
            config.duration.as_secs_f64()
        ),
    );
    let start = Instant::now();
    while start.elapsed() < config.duration && !super::signals::interrupted() {
        std::thread::sleep(
            Duration::from_millis(20).min(config.duration.saturating_sub(start.elapsed())),
        );
    }
    // Detach first: the snapshot then reads maps that no longer change.
    probe.pause()?;
    let report = probe.snapshot()?;
    drop(probe);
    let text = match config.format {
        Format::Table | Format::Markdown => crate::report::probe::table(&report, out.width()),
        Format::Json => json(&report, "the probe report")? + "\n",
    };
    out.out()
        .write_all(text.as_bytes())
        .map_err(|source| Error::Write {
            what: "the probe report".to_string(),
            source,
        })?;
    if report.drops.lost() > 0 {
        out.warn(format!(
            "{} events were lost (maps full); the numbers are too low",
            report.drops.lost()
        ));
    }
    Ok(exit::OK)
}

/// Runs `__probe-overhead`: the probe's own cost, as lines or as JSON.
pub(crate) fn overhead(
    cfg: &OverheadConfig,
    format: Format,
    out: &mut Output,
) -> Result<u8, Error> {
    let exe = std::env::current_exe().map_err(|source| Error::Io {
        what: "find this program".into(),
        source,
    })?;
    out.status(
        "Measuring",
        format!(
            "{} × 2 blocks of {} round trips of {} bytes",
            cfg.repetitions, cfg.round_trips, cfg.size
        ),
    );
    let report = overhead::run(cfg, &exe, |_| {}).map_err(|e| match e {
        OverheadError::Probe(p) => Error::from(p),
        OverheadError::Io(source) => Error::Io {
            what: "run the ping-pong".into(),
            source,
        },
    })?;
    let text = match format {
        Format::Json => json(&report, "the overhead report")?,
        Format::Table | Format::Markdown => crate::report::probe::overhead(&report),
    };
    writeln!(out.out(), "{text}").map_err(|source| Error::Write {
        what: "the overhead report".to_string(),
        source,
    })?;
    Ok(exit::OK)
}

fn json(value: &impl serde::Serialize, what: &'static str) -> Result<String, Error> {
    serde_json::to_string_pretty(value).map_err(|source| Error::Serialize { what, source })
}
