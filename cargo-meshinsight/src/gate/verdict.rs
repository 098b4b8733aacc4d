//! The verdict of a check: the outcome, the counts, the summary line, from compared metrics.
//! Pure: [`judge`] against a baseline, [`judge_paired`] from a paired measurement's
//! replicates, [`confirmed`] for two measurements of the same change, and [`coarse`] for the
//! informational comparison of a paired check's head with the last merged baseline.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::compare::{
    self, Attribution, CoefficientChange, CompareSettings, Comparison, MetricResult, MetricVerdict,
};
use super::decision::{Decision, Noise};
use super::paired::PairedInfo;
use super::snapshot::{MetricId, Snapshot};
use super::{GateError, Loaded, confirm};
use crate::exit;
use crate::model::Platform;

/// The version of the verdict (report) format.
pub(crate) const FORMAT_VERSION: u32 = 2;

/// How much larger than the threshold a change against the last merged baseline must be for
/// the coarse, informational comparison of a paired check to show it.
pub(crate) const COARSE_FACTOR: f64 = 3.0;

/// The overall outcome. The strings are stable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Outcome {
    /// At least one primary metric (or work counter) regressed.
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

/// What was compared with what, for the reader: the commits and the CI run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Provenance {
    /// The head's commit (`GITHUB_SHA`, else `HEAD`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) head_commit: Option<String>,
    /// The base's commit: the paired base's, or the baseline's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) base_commit: Option<String>,
    /// The CI run that made the check (GitHub Actions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) run_url: Option<String>,
}

/// Counts of the primary metrics' verdicts.
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

/// A work counter's change, as the reports show it (the exact counters of a run decide by
/// their own tolerance, beside the primary family).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct CounterLine {
    /// Stable key, e.g. `counter/http/write/syscalls`.
    pub(crate) key: String,
    /// The component it belongs to.
    pub(crate) component: String,
    /// Per traversal in the base.
    pub(crate) base: f64,
    /// Per traversal in the head.
    pub(crate) head: f64,
    /// `head − base`.
    pub(crate) delta: f64,
    /// The change that counts.
    pub(crate) tolerance: f64,
    /// `regression`, `improvement` or `unchanged`.
    pub(crate) verdict: MetricVerdict,
}

/// A paired check's head against the last merged baseline: large changes only, never the
/// exit code.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Coarse {
    /// The baseline compared against, when one was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) origin: Option<String>,
    /// Versions of its history.
    pub(crate) history_versions: usize,
    /// The threshold of this comparison ([`COARSE_FACTOR`] × the check's), percent.
    pub(crate) threshold_pct: f64,
    /// Why nothing was compared, or what to know about the comparison.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) note: Option<String>,
    /// The primary metrics that moved beyond that threshold with significance.
    pub(crate) metrics: Vec<MetricResult>,
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
    /// The commits compared and the CI run.
    #[serde(default)]
    pub(crate) provenance: Provenance,
    /// The baseline compared against (`check --unpaired`), or the paired base in words.
    pub(crate) baseline: Option<BaselineInfo>,
    /// Present when base and head were measured interleaved in this run (the default check).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) paired: Option<PairedInfo>,
    /// Threshold, α and correction.
    pub(crate) settings: CompareSettings,
    /// How many primary metrics got each verdict.
    pub(crate) counts: Counts,
    /// The primary family (each mode's total, each fixture): what decides.
    pub(crate) metrics: Vec<MetricResult>,
    /// Every coefficient's change: attribution only.
    #[serde(default)]
    pub(crate) coefficients: Vec<CoefficientChange>,
    /// The work counters, when measured.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) counters: Vec<CounterLine>,
    /// A paired check's head against the last merged baseline (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) coarse: Option<Coarse>,
    /// Remarks a reader should know.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) notes: Vec<String>,
    /// The pull request the check ran for, when known (used by `comment`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) pull_request: Option<u64>,
}

/// A component that moved: the part, and each primary metric whose change it accounts for.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Moved<'a> {
    /// The part (`other`, `ipc`, `filter:fault`, ...).
    pub(crate) part: &'a str,
    /// The metrics it moved, with its change in each.
    pub(crate) metrics: Vec<(&'a MetricResult, &'a Attribution)>,
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

    /// The components that moved: the parts of every primary metric that regressed or
    /// improved which account for a share of its change (the headline's "mostly" comes from
    /// the same list). Largest share first.
    pub(crate) fn moved(&self) -> Vec<Moved<'_>> {
        let mut by_part: BTreeMap<&str, Vec<(&MetricResult, &Attribution)>> = BTreeMap::new();
        for m in self.metrics.iter().filter(|m| decided_change(m.verdict)) {
            for a in &m.parts {
                by_part.entry(a.part.as_str()).or_default().push((m, a));
            }
        }
        let mut out: Vec<Moved<'_>> = by_part
            .into_iter()
            .map(|(part, metrics)| Moved { part, metrics })
            .collect();
        let top = |m: &Moved<'_>| {
            m.metrics
                .iter()
                .map(|(_, a)| a.share_pct)
                .fold(0.0, f64::max)
        };
        out.sort_by(|a, b| top(b).total_cmp(&top(a)).then(a.part.cmp(b.part)));
        out
    }

    /// Primary metrics still undecided when an adaptive measurement stopped.
    pub(crate) fn undecided(&self) -> impl Iterator<Item = &MetricResult> {
        self.metrics
            .iter()
            .filter(|m| m.decision == Some(Decision::Undecided))
    }

    /// Whether a regression is already decided: a primary metric's interval lies entirely
    /// above the threshold, or a work counter regressed (counters are exact).
    pub(crate) fn regression_decided(&self) -> bool {
        self.metrics
            .iter()
            .any(|m| m.decision == Some(Decision::Regression))
            || self
                .counters
                .iter()
                .any(|c| c.verdict == MetricVerdict::Regression)
    }
}

fn decided_change(v: MetricVerdict) -> bool {
    matches!(v, MetricVerdict::Regression | MetricVerdict::Improvement)
}

/// Judges `head` against a loaded baseline (or none). `head_noise` is the head
/// measurement's own replicate noise, used when the baseline's history has fewer than three
/// versions ([`compare::compare`]). Pure.
pub(crate) fn judge(
    head: &Snapshot,
    loaded: Option<&Loaded>,
    head_noise: Option<&Noise>,
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
            provenance: Provenance::default(),
            baseline: None,
            paired: None,
            settings: *settings,
            counts: Counts::default(),
            metrics: Vec::new(),
            coefficients: Vec::new(),
            counters: Vec::new(),
            coarse: None,
            notes: Vec::new(),
            pull_request: None,
        };
    };
    let (spread, history_versions) = loaded.spread();
    let spread_df = (history_versions >= 2).then(|| (history_versions - 1) as f64);
    let noise = head_noise.filter(|_| history_versions < MIN_HISTORY);
    let comparison = compare::compare(
        head,
        &loaded.baseline.snapshot,
        &spread,
        spread_df,
        noise,
        settings,
    );
    let mut notes = Vec::new();
    if let Some(n) = noise {
        notes.push(format!(
            "the baseline has {history_versions} version(s) of history (fewer than \
             {MIN_HISTORY}): the head's own noise between its {} replicates ({} degrees of \
             freedom) judges the primary metrics instead of the history spread",
            n.replicates, n.df
        ));
    } else if history_versions < 2 {
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
    let mut v = decide(platform, Some(info), comparison, notes, settings);
    v.provenance.base_commit = loaded.commit.clone();
    v
}

/// Below this many versions of history, a measured head's own replicate noise replaces the
/// history spread of the unpaired test.
pub(crate) const MIN_HISTORY: usize = 3;

/// Counts, the outcome and the summary of a comparison.
fn decide(
    platform: Platform,
    baseline: Option<BaselineInfo>,
    comparison: Comparison,
    mut notes: Vec<String>,
    settings: &CompareSettings,
) -> Verdict {
    let Comparison {
        metrics,
        coefficients,
    } = comparison;
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
    let mut v = Verdict {
        format_version: FORMAT_VERSION,
        verdict: Outcome::Pass,
        summary: String::new(),
        platform,
        provenance: Provenance::default(),
        baseline,
        paired: None,
        settings: *settings,
        counts,
        metrics,
        coefficients,
        counters: Vec::new(),
        coarse: None,
        notes,
        pull_request: None,
    };
    v.settle();
    v
}

impl Verdict {
    /// The outcome and the summary line from the counts, the moved components and the
    /// counters (called again when counters are added).
    pub(crate) fn settle(&mut self) {
        let counter_regressions = self
            .counters
            .iter()
            .filter(|c| c.verdict == MetricVerdict::Regression)
            .count();
        self.verdict = if self.counts.regression > 0 || counter_regressions > 0 {
            Outcome::Regression
        } else if self.counts.improvement > 0 {
            Outcome::Improvement
        } else {
            Outcome::Pass
        };
        self.summary = summary_line(self, counter_regressions);
    }
}

/// Judges a paired measurement from its replicates: `pairs` holds each replicate's `(head,
/// base)` figures, of a measurement of `modes` modes. Pure.
pub(crate) fn judge_paired(
    platform: Platform,
    pairs: &[(Snapshot, Snapshot)],
    modes: usize,
    info: PairedInfo,
    settings: &CompareSettings,
) -> Verdict {
    let (comparison, noise) = compare::compare_replicated(pairs, modes, settings);
    let mut notes = Vec::new();
    match &noise {
        None => notes.push(format!(
            "{} replicate(s): too few for a paired test, nothing is significant",
            pairs.len()
        )),
        Some(n) => notes.push(format!(
            "noise from {} replicates pooled over the primary metrics of each quantity: \
             latency ±{:.2}%, CPU ±{:.2}% per replicate, {} degrees of freedom",
            n.replicates,
            100.0
                * n.rel_var
                    .get(&super::snapshot::Quantity::Latency)
                    .map_or(f64::NAN, |v| v.sqrt()),
            100.0
                * n.rel_var
                    .get(&super::snapshot::Quantity::Cpu)
                    .map_or(f64::NAN, |v| v.sqrt()),
            n.df
        )),
    }
    let baseline = BaselineInfo {
        origin: format!("base `{}` measured interleaved in this run", info.base),
        commit: info.base_commit.clone(),
        history_versions: 0,
    };
    let base_commit = info.base_commit.clone();
    let mut v = decide(platform, Some(baseline), comparison, notes, settings);
    v.paired = Some(info);
    v.provenance.base_commit = base_commit;
    v.settle();
    v
}

/// The comparison of a paired check's head (all its runs, fitted together) with the last
/// merged baseline: the primary family at [`COARSE_FACTOR`] × the threshold, keeping only the
/// metrics that moved with significance. Informational: it never changes the outcome.
pub(crate) fn coarse(head: &Snapshot, loaded: &Loaded, settings: &CompareSettings) -> Coarse {
    let wide = CompareSettings {
        threshold_pct: COARSE_FACTOR * settings.threshold_pct,
        ..*settings
    };
    let (spread, history_versions) = loaded.spread();
    let spread_df = (history_versions >= 2).then(|| (history_versions - 1) as f64);
    let comparison = compare::compare(
        head,
        &loaded.baseline.snapshot,
        &spread,
        spread_df,
        None,
        &wide,
    );
    let note = (history_versions < 2)
        .then(|| "the baseline has no history yet: only the fits' errors count".to_string());
    Coarse {
        origin: Some(loaded.origin.clone()),
        history_versions,
        threshold_pct: wide.threshold_pct,
        note,
        metrics: comparison
            .metrics
            .into_iter()
            .filter(|m| decided_change(m.verdict))
            .collect(),
    }
}

fn summary_line(v: &Verdict, counter_regressions: usize) -> String {
    let metrics = &v.metrics;
    let tested = metrics.iter().filter(|m| m.p.is_some()).count();
    // The largest change of a verdict, with the part that moved most in it (one of the
    // components that moved, by construction).
    let worst = |verdict: MetricVerdict| {
        metrics
            .iter()
            .filter(|m| m.verdict == verdict)
            .max_by(|a, b| {
                let x = a.change_pct.unwrap_or(0.0).abs();
                x.total_cmp(&b.change_pct.unwrap_or(0.0).abs())
            })
            .map(|m| {
                let mut s = format!("{} {:+.1}%", m.key, m.change_pct.unwrap_or(0.0));
                if decided_change(m.verdict)
                    && let Some(a) = m.parts.first()
                {
                    s.push_str(&format!(", mostly {}", a.part));
                }
                s
            })
    };
    let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    let counters = |s: String| {
        if counter_regressions > 0 {
            format!(
                "{s}; {} of a work counter",
                plural(counter_regressions, "regression")
            )
        } else {
            s
        }
    };
    match v.verdict {
        Outcome::Regression if v.counts.regression == 0 => {
            counters(format!("no regression in {tested} primary metrics"))
        }
        Outcome::Regression => counters(format!(
            "{} in {tested} primary metrics (largest: {})",
            plural(v.counts.regression, "regression"),
            worst(MetricVerdict::Regression).unwrap_or_default()
        )),
        Outcome::Improvement => format!(
            "no regression in {tested} primary metrics; {} (largest: {})",
            plural(v.counts.improvement, "improvement"),
            worst(MetricVerdict::Improvement).unwrap_or_default()
        ),
        Outcome::Pass if v.counts.unconfirmed > 0 => format!(
            "no regression in {tested} primary metrics; {} not repeated by a second \
             measurement ({})",
            plural(v.counts.unconfirmed, "change"),
            worst(MetricVerdict::Unconfirmed).unwrap_or_default()
        ),
        Outcome::Pass => format!("no regression in {tested} primary metrics"),
        Outcome::NoBaseline => "no baseline: nothing compared".into(),
    }
}

/// The verdict of two measurements of the same change ([`confirm`]): a primary metric's
/// regression (or improvement) stands only where both found it; the figures are the second's.
pub(crate) fn confirmed(first: &Verdict, second: Verdict) -> Verdict {
    let metrics = confirm::combine(&first.metrics, second.metrics);
    let counters = confirm::combine_counters(&first.counters, second.counters);
    let mut notes = second.notes;
    let repeated = |kind: MetricVerdict| {
        metrics
            .iter()
            .filter(|m| m.verdict == kind && m.first.as_ref().is_some_and(|f| f.verdict == kind))
            .count()
    };
    notes.push(format!(
        "measured twice: the first measurement found {} regression(s) and {} improvement(s), \
         {} and {} of them repeated in the second; a change counts only when both find it",
        first.counts.regression,
        first.counts.improvement,
        repeated(MetricVerdict::Regression),
        repeated(MetricVerdict::Improvement),
    ));
    let comparison = Comparison {
        metrics,
        coefficients: second.coefficients,
    };
    let mut v = decide(
        second.platform,
        second.baseline,
        comparison,
        notes,
        &second.settings,
    );
    v.pull_request = second.pull_request;
    v.paired = second.paired;
    v.provenance = second.provenance;
    v.coarse = second.coarse;
    v.counters = counters;
    v.settle();
    v
}
