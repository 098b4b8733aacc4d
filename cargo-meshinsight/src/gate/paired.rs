//! How a paired check was measured: base and head sidecars in front of the same application,
//! interleaved, in rounds of fresh processes ([`crate::measure::paired`]); the judgement is
//! [`super::compare::compare_replicated`]'s.

use serde::{Deserialize, Serialize};

/// How a paired check was made (in the verdict: the "paired" marker of every report).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct PairedInfo {
    /// The base sidecar.
    pub(crate) base: String,
    /// The head sidecar.
    pub(crate) head: String,
    /// The commit the base was built or configured from, when it came from git.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) base_commit: Option<String>,
    /// Matched points (mode, size, repetition, load) measured on both sides, over all rounds.
    pub(crate) points: usize,
    /// The test, in words.
    pub(crate) test: String,
    /// How the measurement went: its rounds and why it stopped.
    pub(crate) rounds: Rounds,
    /// The confirming measurement's, when a regression or an improvement was measured again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) confirmation: Option<Rounds>,
}

/// The rounds of one measurement.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Rounds {
    /// Rounds measured, each with fresh processes.
    pub(crate) rounds: u32,
    /// Replicates judged (each repeat of each round).
    pub(crate) replicates: usize,
    /// Why the measurement stopped.
    pub(crate) stopped: Stopped,
    /// The time budget, seconds.
    pub(crate) budget_s: f64,
    /// Time spent measuring, seconds.
    pub(crate) elapsed_s: f64,
}

/// Why an adaptive measurement stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Stopped {
    /// Every primary metric's interval cleared the threshold one way or the other.
    Decided,
    /// A regression was decided: a primary metric's interval lay entirely above the
    /// threshold, or a work counter moved; the rest need not be decided to fail the gate.
    Regression,
    /// The time budget was spent with metrics undecided.
    Budget,
}
