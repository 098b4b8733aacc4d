//! `cargo-meshinsight __probe-workload`: the hidden calibrated workload of the probe tests.

use std::time::Duration;

use crate::app::error::Error;
use crate::app::output::Output;
use crate::probe::workload::{self, PairConfig, Side};

/// The processes the probe tests and benchmark measure (not for users).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    kind: Kind,
}

#[derive(Debug, clap::Subcommand)]
enum Kind {
    /// Accept one connection and answer each message (prints the port first).
    Server(PairArgs),
    /// Connect to --port and send each message.
    Client(PairArgs),
    /// Read /dev/zero, write /dev/null and spin.
    Busy {
        /// How long, ms.
        #[arg(long)]
        millis: u64,
    },
    /// Threads writing to /dev/null, some started before and some after a self-stop.
    Threads {
        /// Threads started before the stop.
        #[arg(long)]
        before: usize,
        /// Threads started after it.
        #[arg(long)]
        after: usize,
    },
    /// A blocking echo server (prints the port first).
    Echo {
        /// Bytes per message.
        #[arg(long)]
        size: usize,
    },
}

#[derive(Debug, clap::Args)]
struct PairArgs {
    /// The server's port (client only).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Round trips.
    #[arg(long)]
    messages: u64,
    /// Bytes per message.
    #[arg(long)]
    size: usize,
    /// User-space work per message, µs.
    #[arg(long)]
    work_us: u64,
}

fn io_error(e: std::io::Error) -> Error {
    Error::Other {
        message: format!("run the workload: {e}"),
        hint: None,
    }
}

/// Runs the workload.
pub fn run(args: Args, out: &mut Output) -> Result<u8, Error> {
    match args.kind {
        Kind::Server(a) | Kind::Client(a) if a.size == 0 => Err(Error::Other {
            message: format!("run the workload: size {} is not positive", a.size),
            hint: None,
        }),
        Kind::Server(a) => pair(Side::Server, a, out),
        Kind::Client(a) => pair(Side::Client { port: a.port }, a, out),
        Kind::Busy { millis } => {
            let rounds = workload::run_busy(Duration::from_millis(millis)).map_err(io_error)?;
            writeln!(out.out(), "{rounds}").map_err(io_error)?;
            Ok(0)
        }
        Kind::Threads { before, after } => {
            workload::run_threads(before, after).map_err(io_error)?;
            Ok(0)
        }
        Kind::Echo { size } => {
            workload::run_echo(size, out.out()).map_err(io_error)?;
            Ok(0)
        }
    }
}

fn pair(side: Side, a: PairArgs, out: &mut Output) -> Result<u8, Error> {
    let cfg = PairConfig {
        side,
        messages: a.messages,
        size: a.size,
        work_us: a.work_us,
    };
    let result = workload::run_pair(&cfg, out.out()).map_err(io_error)?;
    let line = serde_json::to_string(&result).map_err(|e| io_error(std::io::Error::other(e)))?;
    writeln!(out.out(), "{line}").map_err(io_error)?;
    Ok(0)
}
