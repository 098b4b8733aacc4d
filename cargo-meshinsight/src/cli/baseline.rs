//! `cargo meshinsight baseline`.

use std::path::PathBuf;

use crate::app::baseline::{self, UpdateConfig};
use crate::app::error::Error;
use crate::app::output::Output;
use crate::exit;

use super::profile_source::ProfileSourceArgs;

/// Manage the baselines kept in git (`baselines/<platform-id>.json`).
#[derive(Debug, clap::Args)]
pub(crate) struct BaselineArgs {
    #[command(subcommand)]
    command: BaselineCommand,
}

#[derive(Debug, clap::Subcommand)]
enum BaselineCommand {
    Update(UpdateArgs),
}

/// Write this platform's baseline from a profile and the fixtures (atomically).
#[derive(Debug, clap::Args)]
struct UpdateArgs {
    #[command(flatten)]
    source: ProfileSourceArgs,
    /// Path to Cargo.toml of the project
    #[arg(long, value_name = "PATH")]
    manifest_path: Option<PathBuf>,
    /// Commit the baseline file on HEAD (only that file)
    #[arg(long)]
    commit: bool,
}

impl From<&UpdateArgs> for UpdateConfig {
    fn from(a: &UpdateArgs) -> Self {
        UpdateConfig {
            manifest_path: a.manifest_path.clone(),
            profile: a.source.source(),
            commit: a.commit,
        }
    }
}

pub(super) fn run(args: BaselineArgs, out: &mut Output) -> Result<u8, Error> {
    match args.command {
        BaselineCommand::Update(a) => {
            baseline::update(&UpdateConfig::from(&a), out)?;
            Ok(exit::OK)
        }
    }
}
