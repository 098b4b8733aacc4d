//! The hidden helper commands: the harness's own server processes (`__echo`, `__sidecar`,
//! `__service`) and the calibrated workload of the probe's tests (`__probe-workload`).

use std::io;
use std::time::Duration;

use super::error::{Error, HelperError};
use super::output::Output;
use crate::exit;
use crate::harness::Endpoint;
use crate::harness::sidecar::builtin::{self, BuiltinOptions};
use crate::probe::workload::{self, PairConfig};
use crate::validate::service::{self, ServicePlan};
use crate::vocab::Mode;

/// `__echo`: the echo application, on every endpoint of `listen`.
pub(crate) fn echo(mode: Mode, listen: &[Endpoint], out: &mut Output) -> Result<u8, Error> {
    crate::harness::echo::serve(mode, listen, out.out()).map_err(|source| {
        HelperError::Stopped {
            what: "the echo application",
            source,
        }
    })?;
    Ok(exit::OK)
}

/// `__sidecar`: the builtin sidecar.
pub(crate) fn sidecar(opts: &BuiltinOptions, out: &mut Output) -> Result<u8, Error> {
    builtin::serve(opts, out.out()).map_err(|source| HelperError::Stopped {
        what: "the builtin sidecar",
        source,
    })?;
    Ok(exit::OK)
}

/// `__service`: a service of a deployed topology.
pub(crate) fn service(
    plans: Vec<ServicePlan>,
    listen: &Endpoint,
    out: &mut Output,
) -> Result<u8, Error> {
    service::serve(plans, listen, out.out()).map_err(|source| HelperError::Stopped {
        what: "the service",
        source,
    })?;
    Ok(exit::OK)
}

/// The plans of a service, as `__service --plan` gives them (a JSON array).
pub(crate) fn service_plans(json: &str) -> Result<Vec<ServicePlan>, HelperError> {
    serde_json::from_str(json).map_err(HelperError::ServicePlan)
}

/// One workload of `__probe-workload`.
#[derive(Clone, Debug)]
pub(crate) enum Workload {
    /// A ping-pong pair's side.
    Pair(PairConfig),
    /// Read /dev/zero, write /dev/null and spin this long.
    Busy(Duration),
    /// Threads writing to /dev/null, some started before and some after a self-stop.
    Threads {
        /// Threads started before the stop.
        before: usize,
        /// Threads started after it.
        after: usize,
    },
    /// A blocking echo server of messages of this size.
    Echo(usize),
}

/// `__probe-workload`: runs `workload`, printing what the tests read back.
pub(crate) fn probe_workload(workload: &Workload, out: &mut Output) -> Result<u8, Error> {
    let failed = HelperError::Workload;
    match workload {
        Workload::Pair(cfg) if cfg.size == 0 => Err(HelperError::EmptyMessages(cfg.size).into()),
        Workload::Pair(cfg) => {
            let result = workload::run_pair(cfg, out.out()).map_err(failed)?;
            let line = serde_json::to_string(&result).map_err(|e| failed(io::Error::other(e)))?;
            writeln!(out.out(), "{line}").map_err(failed)?;
            Ok(exit::OK)
        }
        Workload::Busy(duration) => {
            let rounds = workload::run_busy(*duration).map_err(failed)?;
            writeln!(out.out(), "{rounds}").map_err(failed)?;
            Ok(exit::OK)
        }
        Workload::Threads { before, after } => {
            workload::run_threads(*before, *after).map_err(failed)?;
            Ok(exit::OK)
        }
        Workload::Echo(size) => {
            workload::run_echo(*size, out.out()).map_err(failed)?;
            Ok(exit::OK)
        }
    }
}
