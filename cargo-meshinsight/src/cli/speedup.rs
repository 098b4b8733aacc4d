//! `cargo meshinsight speedup`.

use std::path::PathBuf;

use super::values;
use crate::app::error::Error;
use crate::app::output::Output;
use crate::app::speedup::{self, SpeedupConfig};

/// Turn two measured profiles (without and with a change) into a speedup profile.
#[derive(Debug, clap::Args)]
pub(crate) struct SpeedupArgs {
    /// The profile without the change (e.g. `profile --sidecar builtin`)
    #[arg(long, value_name = "FILE")]
    base: PathBuf,
    /// The profile with the change (e.g. `profile --sidecar builtin --upstream uds`)
    #[arg(long, value_name = "FILE")]
    variant: PathBuf,
    /// Message size the relative changes are taken at, bytes
    #[arg(long, value_name = "BYTES", default_value_t = 100.0, value_parser = values::positive_bytes)]
    size: f64,
    /// The speedup's name in reports [default: the variant file's name]
    #[arg(long)]
    name: Option<String>,
    /// Where to write the speedup profile (TOML, for `predict`/`analyze --speedup`)
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
}

impl From<SpeedupArgs> for SpeedupConfig {
    fn from(a: SpeedupArgs) -> Self {
        SpeedupConfig {
            base: a.base,
            variant: a.variant,
            size: a.size,
            name: a.name,
            output: a.output,
        }
    }
}

pub(crate) fn run(args: SpeedupArgs, out: &mut Output) -> Result<u8, Error> {
    speedup::run(&SpeedupConfig::from(args), out)
}
