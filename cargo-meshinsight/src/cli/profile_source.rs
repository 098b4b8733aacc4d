//! Where `check` and `baseline update` get the head's profile: a file, or a measurement now.

use std::path::PathBuf;

use crate::app::head_profile::ProfileSource;

/// `--profile FILE`, or `--quick` / `--sidecar SPEC` to measure now.
#[derive(Debug, clap::Args)]
pub(crate) struct ProfileSourceArgs {
    /// Profile JSON (e.g. written by `cargo meshinsight profile`) [default: profile the
    /// configured sidecar now, which needs root]
    #[arg(long, value_name = "FILE")]
    profile: Option<PathBuf>,
    /// Accepted for compatibility: the gate measures with its own short settings already
    /// (docs/gate.md)
    #[arg(long, conflicts_with = "profile")]
    quick: bool,
    /// When profiling now: measure this sidecar instead of the configured one (`builtin`,
    /// `builtin --extra-work-us N`, `envoy`, or a command template)
    #[arg(long, value_name = "SIDECAR", conflicts_with = "profile")]
    sidecar: Option<crate::harness::Sidecar>,
}

impl ProfileSourceArgs {
    /// The source these arguments name.
    pub(crate) fn source(&self) -> ProfileSource {
        match &self.profile {
            Some(p) => ProfileSource::File(p.clone()),
            None => ProfileSource::Measure {
                quick: self.quick,
                sidecar: self.sidecar.clone(),
            },
        }
    }
}
