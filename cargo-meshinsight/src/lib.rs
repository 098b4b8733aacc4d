//! cargo-meshinsight: what a service-mesh sidecar costs, component by component.
//!
//! The modules follow the data flow of DESIGN §3:
//! [`vocab`] (modes, components, filters) → [`profile`] (per-component models) →
//! [`ecg`] (call graphs) → [`predict`] (end-to-end overhead) → [`gate`] (comparison with
//! the baseline in git) → [`report`] (rendering; [`github`] posts the PR comment).
//! [`config`] reads the project's `metadata.meshinsight`; [`libtest`] shows the gate as tests.
//! [`cli`] is a thin layer that turns arguments into calls of those stages.

pub mod analyze;
pub mod cli;
pub mod config;
pub mod ecg;
pub mod error;
pub mod gate;
pub mod github;
pub mod harness;
pub mod libtest;
pub mod output;
pub mod predict;
pub mod probe;
pub mod profile;
pub mod report;
pub mod traces;
pub mod validate;
pub mod versioned;
pub mod vocab;

pub use error::Error;

use std::process::ExitCode;

/// The whole program: parse the arguments, run the command, print errors, return the exit code.
pub fn main_impl() -> ExitCode {
    let mut out = output::Output::std();
    ExitCode::from(cli::run(std::env::args_os(), &mut out))
}
