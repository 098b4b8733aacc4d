//! `cargo meshinsight probe`: attach to running processes and print per-component costs.

use std::time::{Duration, Instant};

use crate::app::error::Error;
use crate::app::output::Output;
use crate::probe::{Pid, Probe, ProbeOptions, Role};

/// Attach the eBPF probe to running processes and print what each component costs.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Processes to follow (their threads and the children they fork are followed too).
    #[arg(
        long,
        value_delimiter = ',',
        required = true,
        value_name = "PID[,PID...]"
    )]
    pid: Vec<Pid>,
    /// Role of the processes: one for all, or one per --pid.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "sidecar",
        value_name = "ROLE[,ROLE...]"
    )]
    role: Vec<Role>,
    /// How long to measure (e.g. 5s, 500ms, 1m); Ctrl-C stops early.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    duration: Duration,
    /// Output format.
    #[arg(long, default_value = "table")]
    format: Format,
    /// Do not follow processes the targets fork.
    #[arg(long)]
    no_follow_children: bool,
    /// Leave loopback transmits in `write` instead of `ipc` (4 fewer events per round trip).
    #[arg(long)]
    no_loopback_transmit: bool,
}

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Human-readable tables.
    Table,
    /// The `ProbeReport` as JSON.
    Json,
}

/// Plain configuration of the `probe` command.
#[derive(Clone, Debug)]
pub struct ProbeConfig {
    /// (pid, role) of each target.
    pub targets: Vec<(Pid, Role)>,
    /// Measuring time.
    pub duration: Duration,
    /// Output format.
    pub format: Format,
    /// Probe options.
    pub options: ProbeOptions,
}

impl From<Args> for ProbeConfig {
    fn from(args: Args) -> Self {
        let role_of = |i: usize| {
            if args.role.len() == 1 {
                args.role[0]
            } else {
                args.role[i]
            }
        };
        ProbeConfig {
            targets: args
                .pid
                .iter()
                .enumerate()
                .map(|(i, &pid)| (pid, role_of(i)))
                .collect(),
            duration: args.duration,
            format: args.format,
            options: ProbeOptions {
                follow_children: !args.no_follow_children,
                loopback_transmit: !args.no_loopback_transmit,
                ..ProbeOptions::default()
            },
        }
    }
}

/// Parses `5s`, `500ms`, `2m`, `1.5s` or a plain number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, scale) = if let Some(n) = text.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60.0)
    } else {
        (text, 1.0)
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("invalid duration `{text}` (expected e.g. 5s, 500ms, 1m)"))?;
    if !(value.is_finite() && value > 0.0) {
        return Err(format!("invalid duration `{text}` (must be positive)"));
    }
    Ok(Duration::from_secs_f64(value * scale))
}

/// Runs the command.
pub fn run(args: Args, out: &mut Output) -> Result<u8, Error> {
    if args.role.len() != 1 && args.role.len() != args.pid.len() {
        return Err(Error::Other {
            message: format!(
                "match roles to pids: {} roles for {} pids",
                args.role.len(),
                args.pid.len()
            ),
            hint: Some(
                "give one --role for all pids, or one per pid in the same order".to_string(),
            ),
        });
    }
    let config = ProbeConfig::from(args);
    let probe = Probe::attach(&config.targets, &config.options)?;
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
    while start.elapsed() < config.duration && !crate::app::signals::interrupted() {
        std::thread::sleep(
            Duration::from_millis(20).min(config.duration.saturating_sub(start.elapsed())),
        );
    }
    // Detach first: the snapshot then reads maps that no longer change.
    let mut probe = probe;
    probe.pause()?;
    let report = probe.snapshot()?;
    drop(probe);
    let text = match config.format {
        Format::Table => crate::report::probe::table(&report),
        Format::Json => {
            let mut json = serde_json::to_string_pretty(&report).map_err(|e| Error::Other {
                message: format!("serialize the report: {e}"),
                hint: None,
            })?;
            json.push('\n');
            json
        }
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
    Ok(crate::exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("soon").is_err());
    }
}
