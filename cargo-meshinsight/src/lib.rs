//! cargo-meshinsight: what a service-mesh sidecar costs, component by component.
//!
//! The modules follow the data flow (docs/architecture.md). Stages, each a library that
//! returns values or its own typed error and never prints, reads the project's files on its
//! own or installs signal handlers:
//!
//! - [`vocab`]: modes, components, filters, sidecar configurations.
//! - [`harness`] (echo application, load generator, sidecars) and [`probe`] (eBPF) measure;
//!   [`measure`] runs them in one loop over a plan of targets and returns runs.
//! - [`model`]: the profile (per-component linear models), fitted from runs.
//! - [`ecg`] (call graphs), [`traces`] (trace import) and [`predict`] (end-to-end overhead);
//!   [`analyze`] predicts millions of graphs; [`validate`] deploys a graph for real.
//! - `gate`: the comparison of a head with a base or a baseline, and the decision.
//! - `report`: every renderer (tables, markdown, JSON, SVG).
//!
//! Above them, [`app`] is the application layer: one module per command, the only place that
//! reads and writes files, prints, installs signal handlers and maps errors to exit codes. The
//! project helpers it uses (configuration, cargo builds, git export, the GitHub client, atomic
//! files) are in `project`. The command line (clap) sits on top and only converts arguments.

#![warn(unreachable_pub)]

pub(crate) mod analyze;
pub(crate) mod app;
mod cli;
pub mod ecg;
pub(crate) mod exit;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub(crate) mod gate;
pub mod harness;
pub(crate) mod measure;
pub mod model;
pub mod predict;
pub mod probe;
pub(crate) mod project;
pub(crate) mod report;
#[cfg(test)]
mod test_support;
pub(crate) mod traces;
pub(crate) mod util;
pub mod validate;
pub mod versioned;
pub mod vocab;

pub use app::libtest;
pub use app::output::{Captured, Output};

use std::ffi::OsString;
use std::process::ExitCode;

/// The whole program: parse the arguments, run the command, print errors, return the exit code.
pub fn main_impl() -> ExitCode {
    let mut out = Output::std();
    ExitCode::from(run(std::env::args_os(), &mut out))
}

/// Parses `argv` (as `cargo meshinsight ...` or `cargo-meshinsight ...`), runs the command with
/// its output on `out` and returns the exit code.
pub fn run<I, T>(argv: I, out: &mut Output) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    cli::run(argv, out)
}
