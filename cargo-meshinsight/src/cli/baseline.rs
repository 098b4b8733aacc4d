//! `cargo meshinsight baseline`.

use std::path::PathBuf;

use crate::error::{Error, exit};
use crate::gate::{self, ProfileSource, UpdateConfig};
use crate::output::Output;

/// Manage the baselines kept in git (`baselines/<platform-id>.json`).
#[derive(Debug, clap::Args)]
pub struct BaselineArgs {
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
    /// Profile JSON to record (e.g. written by `cargo meshinsight profile`) [default: profile
    /// the configured sidecar now, which needs root]
    #[arg(long, value_name = "FILE")]
    profile: Option<PathBuf>,
    /// When profiling now: the `profile --quick` sizes and rates
    #[arg(long, conflicts_with = "profile")]
    quick: bool,
    /// When profiling now: measure this sidecar instead of the configured one (`builtin`,
    /// `builtin --extra-work-us N`, `envoy`, or a command template)
    #[arg(long, value_name = "SIDECAR", conflicts_with = "profile")]
    sidecar: Option<String>,
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
            profile: match &a.profile {
                Some(p) => ProfileSource::File(p.clone()),
                None => ProfileSource::Measure {
                    quick: a.quick,
                    sidecar: a.sidecar.clone(),
                },
            },
            commit: a.commit,
        }
    }
}

pub(super) fn run(args: BaselineArgs, out: &mut Output) -> Result<u8, Error> {
    match args.command {
        BaselineCommand::Update(a) => {
            gate::update(&UpdateConfig::from(&a), out)?;
            Ok(exit::OK)
        }
    }
}
