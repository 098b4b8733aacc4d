//! The verdict of a check: the outcome, the counts, the summary line, from compared metrics.
//! Pure: [`judge`] against a baseline, [`judge_paired`] from a paired measurement, and
//! [`confirmed`] for two measurements of the same change.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::compare::{self, CompareSettings, MetricResult, MetricVerdict};
use super::paired::{self, PairedInfo};
use super::snapshot::{MetricId, Snapshot};
use super::{GateError, Loaded, confirm};
use crate::exit;
use crate::model::Platform;

/// The version of the verdict (report) format.
pub(crate) const FORMAT_VERSION: u32 = 1;

/// The overall outcome. The strings are stable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Outcome {
    /// At least one metric regressed.
    Regression,
    /// No regression, at least one improvement.
    Improvement,
    /// Nothing moved beyond the threshold with significance.
    Pass,
    /// No baseline for this platform: nothing was compared.
    NoBaseline,
}

impl Outcome {
    /// The process exit code of `check`.
    pub(crate) fn exit_code(self) -> u8 {
        match self {
            Outcome::Regression => exit::REGRESSION,
            _ => exit::OK,
        }
    }
}

/// Where the baseline came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct BaselineInfo {
    /// The file and commit.
    pub(crate) origin: String,
    /// The commit, when read from git.
    pub(crate) commit: Option<String>,
    /// Versions of the baseline the run-to-run spread was computed from.
    pub(crate) history_versions: usize,
}

/// Counts of metric verdicts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Counts {
    /// Regressions.
    pub(crate) regression: usize,
    /// Improvements.
    pub(crate) improvement: usize,
    /// Beyond the threshold, within the noise.
    pub(crate) not_significant: usize,
    /// Within the threshold.
    pub(crate) unchanged: usize,
    /// Only in the head.
    pub(crate) new: usize,
    /// Only in the baseline.
    pub(crate) removed: usize,
    /// Flagged by one of two measurements only (a regression to confirm).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub(crate) unconfirmed: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The result of `check`: what the reports render and `comment` posts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Verdict {
    /// Always [`FORMAT_VERSION`].
    pub(crate) format_version: u32,
    /// The outcome code.
    pub(crate) verdict: Outcome,
    /// One line saying what happened.
    pub(crate) summary: String,
    /// The platform of the current profile.
    pub(crate) platform: Platform,
    /// The baseline compared against.
    pub(crate) baseline: Option<BaselineInfo>,
    /// Threshold, α and correction.
    pub(crate) settings: CompareSettings,
    /// How many metrics got each verdict.
    pub(crate) counts: Counts,
    /// Every compared metric.
    pub(crate) metrics: Vec<MetricResult>,
    /// Remarks a reader should know.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) notes: Vec<String>,
    /// The pull request the check ran for, when known (used by `comment`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) pull_request: Option<u64>,
    /// Present when base and head were measured interleaved in this run (`check --paired`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) paired: Option<PairedInfo>,
}

impl Verdict {
    /// Parses a saved report; `path` names it in errors.
    pub(crate) fn from_json(text: &str, path: &Path) -> Result<Verdict, GateError> {
        crate::versioned::from_json(text, FORMAT_VERSION).map_err(|reason| {
            GateError::InvalidReport {
                path: path.to_path_buf(),
                reason,
            }
        })
    }

    /// Fixture metrics, in key order.
    pub(crate) fn fixtures(&self) -> impl Iterator<Item = &MetricResult> {
        self.metrics
            .iter()
            .filter(|m| matches!(m.id, MetricId::Fixture { .. }))
    }

    /// Coefficients that regressed or improved: the components that moved.
    pub(crate) fn moved(&self) -> impl Iterator<Item = &MetricResult> {
        self.metrics.iter().filter(|m| {
            matches!(m.id, MetricId::Coefficient { .. })
                && matches!(
                    m.verdict,
                    MetricVerdict::Regression | MetricVerdict::Improvement
                )
        })
    }
}

/// Judges `head` against a loaded baseline (or none). Pure.
pub(crate) fn judge(
    head: &Snapshot,
    loaded: Option<&Loaded>,
    settings: &CompareSettings,
) -> Verdict {
    let platform = head.profile.platform.clone();
    let Some(loaded) = loaded else {
        return Verdict {
            format_version: FORMAT_VERSION,
            verdict: Outcome::NoBaseline,
            summary: format!(
                "no baseline for platform `{}`: nothing compared",
                platform.id
            ),
            platform,
            baseline: None,
            settings: *settings,
            counts: Counts::default(),
            metrics: Vec::new(),
            notes: Vec::new(),
            pull_request: None,
            paired: None,
        };
    };
    let (spread, history_versions) = loaded.spread();
    let spread_df = (history_versions >= 2).then(|| (history_versions - 1) as f64);
    let metrics = compare::compare(
        head,
        &loaded.baseline.snapshot,
        &spread,
        spread_df,
        settings,
    );
    let mut notes = Vec::new();
    if history_versions < 2 {
        notes.push(
            "the baseline has no history yet: run-to-run spread unknown, only fit errors count"
                .into(),
        );
    }
    let info = BaselineInfo {
        origin: loaded.origin.clone(),
        commit: loaded.commit.clone(),
        history_versions,
    };
    decide(platform, info, metrics, notes, settings)
}

/// Counts, the outcome and the summary of compared metrics.
fn decide(
    platform: Platform,
    baseline: BaselineInfo,
    metrics: Vec<MetricResult>,
    mut notes: Vec<String>,
    settings: &CompareSettings,
) -> Verdict {
    let mut counts = Counts::default();
    for m in &metrics {
        *match m.verdict {
            MetricVerdict::Regression => &mut counts.regression,
            MetricVerdict::Improvement => &mut counts.improvement,
            MetricVerdict::NotSignificant => &mut counts.not_significant,
            MetricVerdict::Unchanged => &mut counts.unchanged,
            MetricVerdict::New => &mut counts.new,
            MetricVerdict::Removed => &mut counts.removed,
            MetricVerdict::Unconfirmed => &mut counts.unconfirmed,
        } += 1;
    }
    let verdict = if counts.regression > 0 {
        Outcome::Regression
    } else if counts.improvement > 0 {
        Outcome::Improvement
    } else {
        Outcome::Pass
    };
    let exact = metrics
        .iter()
        .filter(|m| m.p.is_some() && m.se.is_none_or(|s| s == 0.0))
        .count();
    let note = format!(
        "{exact} metric(s) have no known uncertainty (no fit statistics, no history): the \
         threshold alone judges them"
    );
    // A verdict decided again (confirmation) already has it.
    if exact > 0 && !notes.contains(&note) {
        notes.insert(0, note);
    }
    let tested = metrics.iter().filter(|m| m.p.is_some()).count();
    let summary = summary_line(verdict, &counts, &metrics, tested);
    Verdict {
        format_version: FORMAT_VERSION,
        verdict,
        summary,
        platform,
        baseline: Some(baseline),
        settings: *settings,
        counts,
        metrics,
        notes,
        pull_request: None,
        paired: None,
    }
}

/// Judges a paired run: `head` and `base` measured interleaved, `errors` the snapshot of the
/// head with the errors of the per-point differences ([`paired::with_difference_errors`]).
/// Pure.
pub(crate) fn judge_paired(
    head: &Snapshot,
    base: &Snapshot,
    errors: &Snapshot,
    info: PairedInfo,
    settings: &CompareSettings,
) -> Verdict {
    let difference = paired::difference_errors(errors);
    let metrics = compare::compare_paired(head, base, &difference, settings);
    let mut notes = Vec::new();
    let unknown = metrics
        .iter()
        .filter(|m| m.p.is_some() && m.se.is_none())
        .count();
    if unknown > 0 {
        notes.push(format!(
            "{unknown} metric(s) have too few matched points for a paired test: never significant"
        ));
    }
    let baseline = BaselineInfo {
        origin: format!("base `{}` measured interleaved in this run", info.base),
        commit: info.base_commit.clone(),
        history_versions: 0,
    };
    let mut v = decide(
        head.profile.platform.clone(),
        baseline,
        metrics,
        notes,
        settings,
    );
    v.paired = Some(info);
    v
}

fn summary_line(
    verdict: Outcome,
    counts: &Counts,
    metrics: &[MetricResult],
    tested: usize,
) -> String {
    // The largest fixture change names the component that moved; coefficients come second.
    let worst = |v: MetricVerdict| {
        let pick = |fixtures: bool| {
            metrics.iter().filter(move |m| {
                m.verdict == v && matches!(m.id, MetricId::Fixture { .. }) == fixtures
            })
        };
        let mut candidates: Vec<&MetricResult> = pick(true).collect();
        if candidates.is_empty() {
            candidates = pick(false).collect();
        }
        candidates
            .into_iter()
            .max_by(|a, b| {
                let x = a.change_pct.unwrap_or(0.0).abs();
                x.total_cmp(&b.change_pct.unwrap_or(0.0).abs())
            })
            .map(|m| {
                let mut s = format!("{} {:+.1}%", m.key, m.change_pct.unwrap_or(0.0));
                if let Some(a) = &m.attribution {
                    s.push_str(&format!(", mostly {}", a.part));
                }
                s
            })
    };
    let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    match verdict {
        Outcome::Regression => format!(
            "{} in {tested} metrics (largest: {})",
            plural(counts.regression, "regression"),
            worst(MetricVerdict::Regression).unwrap_or_default()
        ),
        Outcome::Improvement => format!(
            "no regression in {tested} metrics; {} (largest: {})",
            plural(counts.improvement, "improvement"),
            worst(MetricVerdict::Improvement).unwrap_or_default()
        ),
        Outcome::Pass if counts.unconfirmed > 0 => format!(
            "no regression in {tested} metrics; {} not repeated by a second measurement ({})",
            plural(counts.unconfirmed, "change"),
            worst(MetricVerdict::Unconfirmed).unwrap_or_default()
        ),
        Outcome::Pass => format!("no regression in {tested} metrics"),
        Outcome::NoBaseline => "no baseline: nothing compared".into(),
    }
}

/// The verdict of two measurements of the head against the same baseline ([`confirm`]).
pub(crate) fn confirmed(first: &Verdict, second: Verdict) -> Verdict {
    let flagged = first.counts.regression;
    let metrics = confirm::combine(&first.metrics, second.metrics);
    let mut notes = second.notes;
    let repeated = metrics
        .iter()
        .filter(|m| {
            m.verdict == MetricVerdict::Regression
                && m.first
                    .as_ref()
                    .is_some_and(|f| f.verdict == MetricVerdict::Regression)
        })
        .count();
    notes.push(format!(
        "measured twice: the first measurement found {flagged} regression(s), {repeated} of \
         them repeated in the second; a regression counts only when both find it"
    ));
    let mut v = decide(
        second.platform,
        second.baseline.expect("a regression had a baseline"),
        metrics,
        notes,
        &second.settings,
    );
    v.pull_request = second.pull_request;
    v.paired = second.paired;
    v
}
