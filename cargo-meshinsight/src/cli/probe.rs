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
    #[arg(long, default_value = "5s", value_parser = super::duration::parse)]
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

/// Runs the command.
pub(super) fn run(args: Args, out: &mut Output) -> Result<u8, Error> {
    crate::app::probe::run(&ProbeConfig::try_from(&args)?, out)
}
