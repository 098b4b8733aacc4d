//! The gate: compare a head with a base (measured side by side, [`paired`]) or with a stored
//! baseline ([`baseline`], read from git), and decide ([`verdict`]). [`snapshot`] is a profile
//! with the fixtures predicted under it; [`replicates`] fits each repeat of a measurement on
//! its own; [`compare`] judges the primary family and attributes a change to components;
//! [`decision`] has the statistics (pooled noise, the stopping rule, the minimum detectable
//! effect); [`confirm`] combines two measurements of the same change. Nothing here measures or
//! prints: the application layer (`check`, `baseline update`) measures and reports.

pub(crate) mod baseline;
pub(crate) mod compare;
pub(crate) mod confirm;
pub(crate) mod counters;
pub(crate) mod decision;
pub(crate) mod paired;
pub(crate) mod replicates;
pub(crate) mod snapshot;
pub(crate) mod verdict;

use std::path::PathBuf;

use crate::model::ProfileInvalid;
use crate::versioned::VersionedError;

pub(crate) use baseline::{Baseline, BaselineSource, Loaded};
pub(crate) use compare::{CompareSettings, Correction, MetricResult, MetricVerdict};
pub(crate) use snapshot::{MetricId, Snapshot};
pub(crate) use verdict::{Outcome, Verdict, judge, judge_paired};

/// A baseline could not be read, written or found.
#[derive(Debug, thiserror::Error)]
pub(crate) enum GateError {
    /// A file could not be read.
    #[error("failed to read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The baseline file named on the command line does not exist.
    #[error("baseline file {path} does not exist")]
    NoBaselineFile {
        /// The file.
        path: PathBuf,
    },
    /// A baseline document is malformed.
    #[error("invalid baseline {origin}: {reason}")]
    InvalidBaseline {
        /// The file, and the commit it was read at.
        origin: String,
        /// What is wrong.
        reason: BaselineInvalid,
    },
    /// A git operation failed.
    #[error("failed to {what}")]
    Git {
        /// What was being done.
        what: String,
        /// libgit2's error.
        #[source]
        source: git2::Error,
    },
    /// The repository has no working tree.
    #[error("the git repository at {path} is bare")]
    BareRepository {
        /// Where it was found.
        path: PathBuf,
    },
    /// A file is not inside the repository's working tree.
    #[error("{path} is outside the repository at {workdir}")]
    OutsideRepository {
        /// The file.
        path: PathBuf,
        /// The working tree.
        workdir: PathBuf,
    },
    /// The target branch is neither a remote-tracking nor a local branch.
    #[error("failed to find the target branch `{branch}` (neither origin/{branch} nor {branch})")]
    NoTargetBranch {
        /// The branch.
        branch: String,
    },
    /// `--require-baseline` and there is none.
    #[error("no baseline for platform `{platform}` at {origin}")]
    NoBaseline {
        /// The platform id.
        platform: String,
        /// Where it was looked for.
        origin: String,
    },
    /// The confirming measurement found another platform than the first one.
    #[error(
        "the confirming measurement ran on platform `{second}`, the first on `{first}`: the \
         two cannot be judged together"
    )]
    PlatformChanged {
        /// The first measurement's platform id.
        first: String,
        /// The second's.
        second: String,
    },
    /// The profile's platform id cannot name a baseline file.
    #[error(
        "platform id `{id}` cannot name a baseline file (letters, digits, `-`, `_`, `.`, `+`; not starting with `.`)"
    )]
    BadPlatformId {
        /// The id.
        id: String,
    },
    /// A saved report could not be used.
    #[error("invalid report {path}: {reason}")]
    InvalidReport {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: VersionedError,
    },
}

/// Why a baseline document is refused; one line, shown after the file's name.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BaselineInvalid {
    /// Not a baseline document of this format.
    #[error("{0}")]
    Document(VersionedError),
    /// Its profile breaks a rule of the profile format.
    #[error("profile: {0}")]
    Profile(ProfileInvalid),
    /// Its `platform_id` and its profile's disagree.
    #[error("platform_id is `{platform_id}` but its profile is for `{profile}`")]
    PlatformMismatch {
        /// The document's `platform_id`.
        platform_id: String,
        /// Its profile's platform id.
        profile: String,
    },
    /// It is the baseline of another platform than the one asked for.
    #[error("it is for platform `{found}`, not `{expected}`")]
    OtherPlatform {
        /// The platform it is for.
        found: String,
        /// The platform asked for.
        expected: String,
    },
    /// The blob in git is not text.
    #[error("not UTF-8")]
    NotUtf8,
    /// The path holds a directory, a submodule or a link to no file.
    #[error("it is not a file but {0}")]
    NotAFile(String),
    /// A number outside its range (a negative spread or standard error, a figure beyond
    /// what a prediction can give), at a JSON path.
    #[error("`{at}` {problem}")]
    Number {
        /// Where, as a JSON path.
        at: String,
        /// What is wrong there.
        problem: crate::model::Problem,
    },
}

#[cfg(test)]
mod tests;
