//! `cargo meshinsight probe`: attach to running processes and print per-component costs.

use std::time::Duration;

use crate::app::error::Error;
use crate::app::output::Output;
use crate::app::probe::ProbeConfig;
use crate::probe::{Pid, ProbeOptions, Role};

/// Attach the eBPF probe to running processes and print what each component costs.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
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
pub(crate) enum Format {
    /// Human-readable tables.
    Table,
    /// The `ProbeReport` as JSON.
    Json,
}

impl TryFrom<&Args> for ProbeConfig {
    type Error = Error;
    fn try_from(args: &Args) -> Result<Self, Error> {
        if args.role.len() != 1 && args.role.len() != args.pid.len() {
            return Err(Error::RolesForPids {
                roles: args.role.len(),
                pids: args.pid.len(),
            });
        }
        let role_of = |i: usize| {
            if args.role.len() == 1 {
                args.role[0]
            } else {
                args.role[i]
            }
        };
        Ok(ProbeConfig {
            targets: args
                .pid
                .iter()
                .enumerate()
                .map(|(i, &pid)| (pid, role_of(i)))
                .collect(),
            duration: args.duration,
            format: match args.format {
                Format::Table => crate::report::Format::Table,
                Format::Json => crate::report::Format::Json,
            },
            options: ProbeOptions {
                follow_children: !args.no_follow_children,
                loopback_transmit: !args.no_loopback_transmit,
                ..ProbeOptions::default()
            },
        })
    }
}

/// A `--duration` that is not one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum DurationError {
    /// Not a number with a unit.
    #[error("invalid duration `{0}` (expected e.g. 5s, 500ms, 1m)")]
    Syntax(String),
    /// Zero, negative or not finite.
    #[error("invalid duration `{0}` (must be positive)")]
    NotPositive(String),
}

/// Parses `5s`, `500ms`, `2m`, `1.5s` or a plain number of seconds.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, DurationError> {
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
        .map_err(|_| DurationError::Syntax(text.to_string()))?;
    if !(value.is_finite() && value > 0.0) {
        return Err(DurationError::NotPositive(text.to_string()));
    }
    Ok(Duration::from_secs_f64(value * scale))
}

/// Runs the command.
pub(super) fn run(args: Args, out: &mut Output) -> Result<u8, Error> {
    crate::app::probe::run(&ProbeConfig::try_from(&args)?, out)
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
