//! The top-level error, its exit code and its hint (documented in docs/exit-codes.md).

use crate::config::ConfigError;
use crate::ecg::EcgError;
use crate::gate::GateError;
use crate::github::GithubError;
use crate::harness::HarnessError;
use crate::predict::PredictError;
use crate::predict::speedup::SpeedupError;
use crate::probe::ProbeError;
use crate::profile::ProfileError;
use crate::profile::measure::MeasureError;
use crate::traces::TraceError;
use crate::validate::ValidateError;

/// Exit codes of `cargo meshinsight` (docs/exit-codes.md).
pub mod exit {
    /// Success, and no regression.
    pub const OK: u8 = 0;
    /// Bad command line (clap's code).
    pub const USAGE: u8 = 2;
    /// `check` found a regression.
    pub const REGRESSION: u8 = 100;
    /// The tool could not run: bad input, a failing sidecar, an I/O error.
    pub const COULD_NOT_RUN: u8 = 101;
    /// A privilege or kernel feature that measuring needs is missing.
    pub const MISSING_PRIVILEGE: u8 = 102;
}

/// Everything that can stop a command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An ECG fixture or trace could not be used.
    #[error(transparent)]
    Ecg(#[from] EcgError),
    /// A speedup profile could not be used.
    #[error(transparent)]
    Speedup(#[from] SpeedupError),
    /// A prediction could not be made.
    #[error(transparent)]
    Predict(#[from] PredictError),
    /// A profile could not be used.
    #[error(transparent)]
    Profile(#[from] ProfileError),
    /// Profiling stopped.
    #[error("failed to profile the sidecar")]
    Measure(#[source] MeasureError),
    /// The project's gate configuration could not be read.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A baseline or report could not be used.
    #[error(transparent)]
    Gate(#[from] GateError),
    /// The pull-request comment could not be posted.
    #[error(transparent)]
    Github(#[from] GithubError),
    /// The eBPF probe could not measure.
    #[error(transparent)]
    Probe(#[from] ProbeError),
    /// The load harness could not run.
    #[error(transparent)]
    Harness(#[from] HarnessError),
    /// A trace file could not be used.
    #[error(transparent)]
    Trace(#[from] TraceError),
    /// A validation case could not run.
    #[error(transparent)]
    Validate(#[from] ValidateError),
    /// Writing a result failed.
    #[error("failed to write {what}")]
    Write {
        /// What was being written.
        what: String,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// Anything else that has no variant of its own yet.
    #[error("{message}")]
    Other {
        /// What went wrong.
        message: String,
        /// What the user can do about it.
        hint: Option<String>,
    },
}

impl From<MeasureError> for Error {
    fn from(e: MeasureError) -> Self {
        Error::Measure(e)
    }
}

impl Error {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Probe(e) if e.is_capability() => exit::MISSING_PRIVILEGE,
            Error::Measure(MeasureError::Probe(e)) if e.is_capability() => exit::MISSING_PRIVILEGE,
            _ => exit::COULD_NOT_RUN,
        }
    }

    /// A line saying what to do next, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Ecg(_) => {
                Some("the ECG fixture format is described in docs/ecg-format.md".to_string())
            }
            Error::Speedup(_) => {
                Some("the speedup format is described in docs/speedup-format.md".to_string())
            }
            Error::Predict(PredictError::Unsupported { .. }) => Some(
                "measure that configuration with `cargo meshinsight profile`, or pass a --profile that has it"
                    .to_string(),
            ),
            Error::Predict(PredictError::NoProfileForPlatform { .. }) => Some(
                "pass the profile of that platform with another --profile".to_string(),
            ),
            Error::Profile(ProfileError::Missing { .. }) => Some(
                "measure the missing configuration with `cargo meshinsight profile`, or pass another --profile"
                    .to_string(),
            ),
            Error::Profile(_) => {
                Some("the profile format is described in docs/profile-format.md".to_string())
            }
            Error::Config(_) => Some(
                "the `metadata.meshinsight` keys are described in docs/gate.md".to_string(),
            ),
            Error::Gate(e) => e.hint(),
            Error::Github(e) => e.hint(),
            Error::Probe(e) => e.hint(),
            Error::Measure(MeasureError::Probe(e)) => e.hint(),
            Error::Measure(MeasureError::Harness(e)) => e.hint(),
            Error::Measure(MeasureError::Settings(_)) => {
                Some("see `cargo meshinsight profile --help`".to_string())
            }
            Error::Harness(e) => e.hint(),
            Error::Trace(TraceError::Temp { .. }) => Some(
                "partition files go to the system's temporary directory; pass --temp-dir to put them elsewhere"
                    .to_string(),
            ),
            Error::Trace(_) => {
                Some("the trace formats read are described in docs/traces.md".to_string())
            }
            Error::Validate(ValidateError::Harness(e)) => e.hint(),
            Error::Validate(ValidateError::Predict(_)) => Some(
                "pass a --profile that has every mode and filter the fixture uses".to_string(),
            ),
            Error::Validate(ValidateError::Fixture { .. }) => Some(
                "what validate can deploy is described in docs/validation.md".to_string(),
            ),
            Error::Write { .. } => None,
            Error::Other { hint, .. } => hint.clone(),
        }
    }
}
