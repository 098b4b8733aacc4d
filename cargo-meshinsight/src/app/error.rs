//! The top-level error, its exit code and its hint (documented in docs/exit-codes.md). Only
//! the application layer sees it: stages return their own errors, wrapped here.

use crate::ecg::EcgError;
use std::io;
use std::path::PathBuf;

use crate::exit;
use crate::gate::GateError;
use crate::harness::HarnessError;
use crate::harness::sidecar::SpecError;
use crate::measure::MeasureError;
use crate::model::ProfileError;
use crate::predict::PredictError;
use crate::predict::speedup::SpeedupError;
use crate::probe::ProbeError;
use crate::project::build::BuildError;
use crate::project::config::ConfigError;
use crate::project::export::ExportError;
use crate::project::fs::WriteError;
use crate::project::github::GithubError;
use crate::traces::TraceError;
use crate::validate::ValidateError;

/// Everything that can stop a command.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
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
    /// An input file could not be read.
    #[error(transparent)]
    Input(#[from] InputError),
    /// A sidecar spec names no known sidecar.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// A `bin` sidecar could not be built.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// The base tree of a paired check could not be exported.
    #[error(transparent)]
    Export(#[from] ExportError),
    /// A file could not be written.
    #[error(transparent)]
    WriteFile(#[from] WriteError),
    /// The base revision of a paired check has no manifest where the head has it.
    #[error(
        "failed to prepare the base of the paired check: {manifest} does not exist at {commit}"
    )]
    NoBaseManifest {
        /// The manifest, relative to the repository.
        manifest: std::path::PathBuf,
        /// The base commit.
        commit: String,
    },
    /// A paired check was given a profile file instead of measuring.
    #[error("a paired check measures base and head now; it cannot use a profile file")]
    PairedNeedsMeasuring,
    /// A command-line value is outside what the command accepts.
    #[error("{flag} must be {expected}, found {found}")]
    InvalidValue {
        /// The flag.
        flag: &'static str,
        /// What it must be.
        expected: &'static str,
        /// What was given.
        found: String,
    },
    /// No trace file was given, or none was found under the directories given.
    #[error("no trace files given (or none under the directories given)")]
    NoTraceFiles,
    /// The traces hold no call graph that could be analysed.
    #[error("the traces hold no usable call graph")]
    NoUsableGraphs,
    /// A trace's call graph breaks a rule of the ECG format (what the trace readers leave
    /// should never do so: this names the trace rather than a fixture that was never written).
    #[error("trace `{trace}` in {origin} does not make a valid call graph: {reason}")]
    TraceGraph {
        /// The trace id.
        trace: String,
        /// Its file, or how many files were read.
        origin: String,
        /// What is wrong.
        reason: String,
    },
    /// A saved profile could not be fitted again.
    #[error("failed to refit {path}")]
    Refit {
        /// The profile.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// `validate` was given no fixtures and found no directory of them.
    #[error("no {dir} directory here or above")]
    NoValidateDir {
        /// The directory looked for.
        dir: &'static str,
    },
    /// `validate` was given profiles of different platforms.
    #[error(
        "{} is a profile of `{platform}`, {} of `{first_platform}`: validate prices one sidecar on one machine",
        path.display(),
        first_path.display()
    )]
    PlatformsDiffer {
        /// The profile of another platform.
        path: std::path::PathBuf,
        /// Its platform.
        platform: String,
        /// The first profile.
        first_path: std::path::PathBuf,
        /// Its platform.
        first_platform: String,
    },
    /// `probe` was given a number of roles that matches neither one nor the pids.
    #[error("match roles to pids: {roles} roles for {pids} pids")]
    RolesForPids {
        /// Roles given.
        roles: usize,
        /// Pids given.
        pids: usize,
    },
    /// A result could not be serialized.
    #[error("failed to serialize {what}")]
    Serialize {
        /// What.
        what: &'static str,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// A helper process (`__echo`, `__sidecar`, `__service`, `__probe-workload`) stopped.
    #[error(transparent)]
    Helper(#[from] HelperError),
    /// `check --threshold` or `--alpha` out of range.
    #[error("invalid {flag} {value}")]
    InvalidOverride {
        /// The flag.
        flag: &'static str,
        /// Its value.
        value: f64,
    },
    /// `speedup --size` is not a positive number.
    #[error("--size must be a positive number of bytes, not {value}")]
    InvalidSize {
        /// The size given.
        value: f64,
    },
    /// `speedup` found nothing the two profiles share.
    #[error("cannot compare {base} with {variant}: {reason}")]
    NothingToCompare {
        /// The profile without the change.
        base: std::path::PathBuf,
        /// The profile with it.
        variant: std::path::PathBuf,
        /// Why.
        reason: crate::predict::whatif::NothingShared,
    },
    /// A speedup profile could not be written as TOML.
    #[error("cannot write the speedup profile: {0}")]
    SpeedupToml(toml::ser::Error),
    /// The project's `profile = { ... }` settings cannot configure the profiler.
    #[error("cannot profile for the gate ({manifest}): {reason}")]
    ProfileSettings {
        /// The manifest holding them.
        manifest: std::path::PathBuf,
        /// What is wrong.
        reason: ProfileTableInvalid,
    },
    /// A system call or file operation failed.
    #[error("failed to {what}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// `init` refused to overwrite a file, or could not edit the manifest.
    #[error(transparent)]
    Init(#[from] super::init::InitError),
    /// Writing a result failed.
    #[error("failed to write {what}")]
    Write {
        /// What was being written.
        what: String,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
}

impl From<MeasureError> for Error {
    fn from(e: MeasureError) -> Self {
        Error::Measure(e)
    }
}

impl Error {
    /// The process exit code for this error.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Error::Probe(e) if e.is_capability() => exit::MISSING_PRIVILEGE,
            Error::Measure(MeasureError::Probe(e)) if e.is_capability() => exit::MISSING_PRIVILEGE,
            // A flag value (or MESHINSIGHT_* variable) out of range is a usage error, as
            // clap's own are.
            Error::InvalidValue { .. }
            | Error::InvalidOverride { .. }
            | Error::InvalidSize { .. } => exit::USAGE,
            _ => exit::COULD_NOT_RUN,
        }
    }

    /// A line saying what to do next, when there is something to say.
    pub(crate) fn hint(&self) -> Option<String> {
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
            Error::Predict(PredictError::DuplicatePlatform { .. }) => None,
            Error::Profile(ProfileError::Missing { .. }) => Some(
                "measure the missing configuration with `cargo meshinsight profile`, or pass another --profile"
                    .to_string(),
            ),
            Error::Profile(_) => {
                Some("the profile format is described in docs/profile-format.md".to_string())
            }
            Error::Config(_) | Error::ProfileSettings { .. } => Some(
                "the `metadata.meshinsight` keys are described in docs/gate.md".to_string(),
            ),
            Error::Gate(e) => gate_hint(e),
            Error::Github(e) => e.hint(),
            Error::Probe(e) => e.hint(),
            Error::Measure(MeasureError::Probe(e)) => e.hint(),
            Error::Measure(MeasureError::Harness(e)) => e.hint(),
            Error::Measure(
                MeasureError::Settings(_) | MeasureError::NoRate { .. } | MeasureError::Config(_),
            ) => {
                Some("see `cargo meshinsight profile --help`".to_string())
            }
            Error::Harness(e) => e.hint(),
            Error::Trace(TraceError::Temp { .. }) => Some(
                "partition files go to the system's temporary directory; pass --temp-dir to put them elsewhere"
                    .to_string(),
            ),
            Error::Trace(TraceError::NotAFile { .. }) | Error::Input(InputError::NotAFile { .. }) => {
                Some("pass a regular file (not a directory, FIFO or device)".into())
            }
            Error::Trace(TraceError::TooLarge { .. }) | Error::Input(InputError::TooLarge { .. }) => {
                Some(format!(
                    "raise the limit with {}=BYTES (docs/exit-codes.md, \"Input limits\")",
                    super::input::MAX_INPUT_ENV
                ))
            }
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
            Error::Build(e) => Some(format!(
                "cargo's messages are above; `cargo build --release --bin {}` reproduces the build",
                e.name
            )),
            Error::Export(_) | Error::NoBaseManifest { .. } => Some(
                "pass the base as a sidecar with --base-sidecar, or another revision with --base-rev"
                    .into(),
            ),
            Error::PairedNeedsMeasuring => {
                Some("add --unpaired to compare a profile file with the stored baseline".into())
            }
            Error::InvalidValue { .. } => None,
            Error::NoTraceFiles => {
                Some("pass Alibaba CSV, Jaeger or OTLP JSON files with --traces".into())
            }
            Error::TraceGraph { .. } => {
                Some("the trace formats read are described in docs/traces.md".into())
            }
            Error::NoUsableGraphs => {
                Some("see the problem counts above; docs/traces.md says what is read".into())
            }
            Error::NothingToCompare { .. } => {
                Some("profile the same modes with and without the change".into())
            }
            Error::InvalidSize { .. } | Error::SpeedupToml(_) => None,
            Error::InvalidOverride { .. } => {
                Some("--threshold is a percentage >= 0; --alpha lies in (0, 1)".into())
            }
            Error::Input(InputError::NoFixtures { .. }) => Some(
                "pass --ecg FILE, configure `fixtures` in the project's Cargo.toml (docs/gate.md), \
                 or run where fixtures/ecg/ is (docs/ecg-format.md)"
                    .into(),
            ),
            Error::Input(_) => None,
            Error::Spec(_) => Some("see docs/harness.md for the sidecars and their options".into()),
            Error::Refit { .. } => {
                Some("--refit takes a profile written by `cargo meshinsight profile`".into())
            }
            Error::NoValidateDir { .. } => Some("pass fixtures with --ecg FILE".into()),
            Error::PlatformsDiffer { .. } => Some(
                "pass profiles of the same sidecar and machine (different --chain)".into(),
            ),
            Error::RolesForPids { .. } => Some(
                "give one --role for all pids, or one per pid in the same order".into(),
            ),
            Error::Init(super::init::InitError::Differs { .. }) => Some(
                "pass --force to overwrite (after upgrading cargo-meshinsight, it pins the workflows to this version)"
                    .into(),
            ),
            Error::Init(_) => None,
            Error::Write { .. }
            | Error::WriteFile(_)
            | Error::Io { .. }
            | Error::Serialize { .. }
            | Error::Helper(_) => None,
        }
    }
}

/// What the user can do about a baseline or report that cannot be used.
fn gate_hint(e: &GateError) -> Option<String> {
    match e {
        GateError::InvalidBaseline {
            reason: crate::gate::BaselineInvalid::NotAFile(_),
            ..
        } => Some(
            "the baseline path (`baseline-dir`/<platform-id>.json) must be a file at that commit; \
             --baseline-rev or --baseline-file reads another"
                .into(),
        ),
        GateError::InvalidBaseline { .. } => Some(
            "regenerate it with `cargo meshinsight baseline update`; the format is in docs/gate.md"
                .into(),
        ),
        GateError::NoTargetBranch { .. } => Some(
            "fetch the target branch (actions/checkout with fetch-depth: 0), or pass --baseline-rev"
                .into(),
        ),
        GateError::NoBaseline { .. } => Some(
            "record one on the target branch with `cargo meshinsight baseline update --commit`"
                .into(),
        ),
        GateError::PlatformChanged { .. } => Some(
            "keep the machine's CPUs and sidecar the same during a check, or pass --no-confirm"
                .into(),
        ),
        GateError::BadPlatformId { .. } => Some("change `platform.id` in the profile".into()),
        GateError::NoBaselineFile { .. } => Some(
            "check the path given to --baseline-file; --no-baseline compares nothing".into(),
        ),
        GateError::InvalidReport { .. } => {
            Some("pass the JSON written by `cargo meshinsight check -o FILE`".into())
        }
        GateError::Read { .. }
        | GateError::Git { .. }
        | GateError::BareRepository { .. }
        | GateError::OutsideRepository { .. } => None,
    }
}

/// The causes of `error`, outermost first (not the error itself).
pub(crate) fn causes<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(error.source(), |e| e.source())
}

/// An input file could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum InputError {
    /// The file could not be opened or read.
    #[error("failed to read {what} {path}")]
    Read {
        /// What the file was to be.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The path is a directory, a FIFO, a socket or a device.
    #[error("{what} {path} is not a regular file")]
    NotAFile {
        /// What the file was to be.
        what: &'static str,
        /// The path.
        path: PathBuf,
    },
    /// The file is larger than [`MAX_INPUT_BYTES`](super::input::MAX_INPUT_BYTES).
    #[error("{what} {path} is larger than {max} bytes")]
    TooLarge {
        /// What the file was to be.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The limit.
        max: u64,
    },
    /// No fixture was found where fixtures were looked for.
    #[error("no ECG fixtures found under {dir}")]
    NoFixtures {
        /// The directory searched.
        dir: PathBuf,
    },
}

/// Why a helper process stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HelperError {
    /// A server stopped serving.
    #[error("{what} stopped")]
    Stopped {
        /// The server.
        what: &'static str,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The plan of a service is not valid JSON of plans.
    #[error("invalid service plan")]
    ServicePlan(#[source] serde_json::Error),
    /// The workload failed.
    #[error("run the workload")]
    Workload(#[source] io::Error),
    /// A workload of empty messages.
    #[error("run the workload: size {0} is not positive")]
    EmptyMessages(usize),
}

/// What is wrong with the project's `profile = { ... }` settings.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProfileTableInvalid {
    /// `profile` is not a table.
    #[error("`profile` must be a table")]
    NotATable,
    /// A key's value has the wrong type.
    #[error("`profile.{key}` must be {expected}")]
    BadValue {
        /// The key.
        key: String,
        /// What it must be, in words.
        expected: &'static str,
    },
    /// A key the profiler does not know.
    #[error("unknown key `profile.{key}` (expected sizes, rates, repeat, requests)")]
    UnknownKey {
        /// The key.
        key: String,
    },
}
