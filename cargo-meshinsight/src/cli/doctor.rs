//! `cargo meshinsight doctor`.

use std::path::PathBuf;
use std::time::Duration;

use crate::app::doctor::{self, DoctorConfig};
use crate::app::error::Error;
use crate::app::output::Output;

/// Check whether this machine can run the gate, and say what to fix.
///
/// One line per check: ✔ fine, ! a warning (more noise than need be), ✘ the gate cannot run,
/// and a dash where it does not apply; each warning and failure with its remedy. Exit code 0
/// when the gate can run (warnings do not count), 102 when a privilege or kernel feature of the
/// probe is missing, 101 when something else is. Run it as the gate runs (through the same sudo
/// rule).
#[derive(Debug, clap::Args)]
pub(crate) struct DoctorArgs {
    /// Path to Cargo.toml of the project [default: the one of the current directory, if any]
    #[arg(long, value_name = "PATH")]
    manifest_path: Option<PathBuf>,
    /// Print the checks as JSON (`format_version`, `can_run`, `exit_code`, `checks`)
    #[arg(long)]
    json: bool,
    /// How long to watch the machine's load and steal time (`0s` skips it)
    #[arg(long, value_name = "DURATION", default_value = "3s", value_parser = humantime::parse_duration)]
    sample: Duration,
}

impl From<&DoctorArgs> for DoctorConfig {
    fn from(a: &DoctorArgs) -> Self {
        DoctorConfig {
            manifest_path: a.manifest_path.clone(),
            json: a.json,
            sample: a.sample,
        }
    }
}

pub(super) fn run(args: DoctorArgs, out: &mut Output) -> Result<u8, Error> {
    doctor::run(&DoctorConfig::from(&args), out)
}
