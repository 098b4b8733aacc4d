//! cargo-meshinsight: what a service-mesh sidecar costs, component by component.
//!
//! The modules follow the data flow of DESIGN §3:
//! [`vocab`] (modes, components, filters) → [`profile`] (per-component models) →
//! [`ecg`] (call graphs) → [`predict`] (end-to-end overhead) → [`report`] (rendering).
//! [`cli`] is a thin layer that turns arguments into calls of those stages.

pub mod analyze;
pub mod cli;
pub mod ecg;
pub mod error;
pub mod harness;
pub mod output;
pub mod predict;
pub mod probe;
pub mod profile;
pub mod report;
pub mod traces;
pub mod validate;
pub mod vocab;

pub use error::Error;

use std::process::ExitCode;

/// The whole program: parse the arguments, run the command, print errors, return the exit code.
pub fn main_impl() -> ExitCode {
    let mut out = output::Output::std();
    ExitCode::from(cli::run(std::env::args_os(), &mut out))
}
