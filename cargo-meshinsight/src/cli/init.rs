//! `cargo meshinsight init`.

use std::path::PathBuf;

use crate::app::error::Error;
use crate::app::init::{self, InitConfig};
use crate::app::output::Output;

/// Set this project up for the gate: its `metadata.meshinsight` table, a starter call graph,
/// and the GitHub workflows (with the scripts they call) pinned to this version.
///
/// Run it again at any time: it changes nothing that is already as it writes it. A workflow or
/// script that differs (edited, or from another version) stops it before anything is written,
/// unless --force; keys of the table that hold other values are kept unless --force.
#[derive(Debug, clap::Args)]
pub(crate) struct InitArgs {
    /// Path to Cargo.toml of the project
    #[arg(long, value_name = "PATH")]
    manifest_path: Option<PathBuf>,
    /// Overwrite files that differ, and replace the table's `sidecar` and `fixtures`
    #[arg(long)]
    force: bool,
}

impl From<&InitArgs> for InitConfig {
    fn from(a: &InitArgs) -> Self {
        InitConfig {
            manifest_path: a.manifest_path.clone(),
            force: a.force,
        }
    }
}

pub(super) fn run(args: InitArgs, out: &mut Output) -> Result<u8, Error> {
    init::run(&InitConfig::from(&args), out)
}
