//! Confirmation: a `check` that finds a regression or an improvement measures once more
//! (fresh processes) and judges that second measurement alone; a metric keeps a regression
//! (or improvement) only when both measurements call it one.
//!
//! Why: on a shared or virtual machine a whole measurement of a mode now and then runs in a
//! slow phase that the next measurement does not repeat. Against a baseline such a phase is a
//! false regression that no history spread explains; a change of the sidecar repeats, a phase
//! of the machine mostly does not (docs/gate.md has the measurements).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::compare::{MetricResult, MetricVerdict};

/// What the first measurement said of a metric that either measurement flagged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct FirstMeasurement {
    /// The head value measured first.
    pub(crate) head: Option<f64>,
    /// Its relative change.
    pub(crate) change_pct: Option<f64>,
    /// Its corrected p-value.
    pub(crate) p_adjusted: Option<f64>,
    /// Its verdict.
    pub(crate) verdict: MetricVerdict,
}

fn flagged(v: MetricVerdict) -> bool {
    matches!(v, MetricVerdict::Regression | MetricVerdict::Improvement)
}

/// The metrics of the second measurement, judged against the first: a regression or an
/// improvement stands when both measurements found it; when only one did, the metric is
/// [`MetricVerdict::Unconfirmed`]. Every metric either flagged carries the first
/// measurement's figures.
pub(crate) fn combine(first: &[MetricResult], second: Vec<MetricResult>) -> Vec<MetricResult> {
    let first: HashMap<&str, &MetricResult> = first.iter().map(|f| (f.key.as_str(), f)).collect();
    second
        .into_iter()
        .map(|mut m| {
            let Some(f) = first.get(m.key.as_str()) else {
                return m;
            };
            if !flagged(f.verdict) && !flagged(m.verdict) {
                return m;
            }
            if f.verdict != m.verdict {
                m.verdict = MetricVerdict::Unconfirmed;
            }
            m.first = Some(FirstMeasurement {
                head: f.head,
                change_pct: f.change_pct,
                p_adjusted: f.p_adjusted,
                verdict: f.verdict,
            });
            m
        })
        .collect()
}

/// The work counters of the second measurement, judged against the first's: a counter's
/// regression or improvement stands when both measurements found it, else it is
/// [`MetricVerdict::Unconfirmed`].
pub(crate) fn combine_counters(
    first: &[super::verdict::CounterLine],
    second: Vec<super::verdict::CounterLine>,
) -> Vec<super::verdict::CounterLine> {
    let first: HashMap<&str, MetricVerdict> =
        first.iter().map(|c| (c.key.as_str(), c.verdict)).collect();
    second
        .into_iter()
        .map(|mut c| {
            let before = first.get(c.key.as_str()).copied();
            if (flagged(c.verdict) || before.is_some_and(flagged)) && before != Some(c.verdict) {
                c.verdict = MetricVerdict::Unconfirmed;
            }
            c
        })
        .collect()
}
