//! `cargo-meshinsight __probe-workload`: the hidden calibrated workload of the probe tests.

use std::time::Duration;

use crate::app::error::Error;
use crate::app::internal::Workload;
use crate::app::output::Output;
use crate::probe::workload::{PairConfig, Side};

/// The processes the probe tests and benchmark measure (not for users).
#[derive(Debug, clap::Args)]
pub(super) struct Args {
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

impl From<Kind> for Workload {
    fn from(kind: Kind) -> Self {
        let pair = |side, a: PairArgs| {
            Workload::Pair(PairConfig {
                side,
                messages: a.messages,
                size: a.size,
                work_us: a.work_us,
            })
        };
        match kind {
            Kind::Server(a) => pair(Side::Server, a),
            Kind::Client(a) => pair(Side::Client { port: a.port }, a),
            Kind::Busy { millis } => Workload::Busy(Duration::from_millis(millis)),
            Kind::Threads { before, after } => Workload::Threads { before, after },
            Kind::Echo { size } => Workload::Echo(size),
        }
    }
}

/// Runs the workload.
pub(super) fn run(args: Args, out: &mut Output) -> Result<u8, Error> {
    crate::app::internal::probe_workload(&Workload::from(args.kind), out)
}
