//! Work counters as gate metrics: what the probe counts exactly per request (syscalls by kind,
//! bytes, wake-ups, voluntary context switches, softirq runs, loopback transmits), per sidecar
//! traversal, and their comparison between a head and a base by a small tolerance instead of a
//! cost model's statistics (docs/gate.md, "Work counters"). Pure.
//!
//! [`counters_of`] takes a profile's closed-loop runs (one request in flight: the counts do
//! not depend on the rate, as open-loop coalescing does); [`compare_counters`] pairs the head's
//! and the base's points and judges each counter.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};

use super::MetricVerdict;
use super::verdict::CounterLine;
use crate::model::Profile;
use crate::model::runs::{Load, Run, WorkCounter};
use crate::vocab::{Component, SidecarConfig};

/// A counter moves only when its mean difference is this unlikely under no change (one-sided
/// t on the per-point differences): a structural change shows at every point, a glitch at one
/// point does not.
pub(crate) const CONSISTENCY_ALPHA: f64 = 0.001;

/// How far a counter may move per traversal before it counts: `max(abs, rel × base)`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Tolerance {
    /// In the counter's unit per traversal.
    pub(crate) abs: f64,
    /// A share of the base value.
    pub(crate) rel: f64,
}

impl Tolerance {
    /// The tolerance of `counter` (chosen from A/A measurements, docs/gate.md).
    pub(crate) fn of(counter: WorkCounter) -> Tolerance {
        // Half an event per traversal: one more syscall, wake-up or softirq run per traversal
        // is a regression, the largest A/A difference measured (0.38 read syscalls, Envoy's
        // gRPC at 4000 B, moving in some blocks and not in others) is not. Bytes: a few
        // header bytes, not a message.
        let (abs, rel) = match counter {
            WorkCounter::ReadBytes | WorkCounter::WriteBytes => (16.0, 0.01),
            WorkCounter::ReadSyscalls
            | WorkCounter::WriteSyscalls
            | WorkCounter::NotifySyscalls
            | WorkCounter::OtherSyscalls
            | WorkCounter::Wakeups
            | WorkCounter::Switches
            | WorkCounter::Softirqs
            | WorkCounter::Transmits => (0.5, 0.05),
        };
        Tolerance { abs, rel }
    }

    /// The allowed change from `base`.
    pub(crate) fn at(self, base: f64) -> f64 {
        self.abs.max(self.rel * base.abs())
    }
}

/// One measured point of a configuration: its counters per traversal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct CounterPoint {
    /// Payload bytes per request and per response.
    pub(crate) size: u64,
    /// The runs' repetition (block) index.
    pub(crate) repeat: u32,
    /// Per traversal.
    pub(crate) values: BTreeMap<WorkCounter, f64>,
}

/// The counters of one sidecar configuration. Of a plain mode: per traversal of the sidecar
/// (through it − straight to the application, divided by the sidecars in series). Of a filter:
/// what the filter adds per traversal (with it − without it), as a profile prices filters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct ConfigCounters {
    /// The mode and filters.
    pub(crate) config: SidecarConfig,
    /// Per counter, the mean per traversal over the points.
    pub(crate) mean: BTreeMap<WorkCounter, f64>,
    /// Every point, by size and repetition.
    pub(crate) points: Vec<CounterPoint>,
}

/// The work counters of a profile, per configuration.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Counters {
    /// In configuration order.
    pub(crate) configs: Vec<ConfigCounters>,
}

impl Counters {
    /// The counters of `config`.
    pub(crate) fn get(&self, config: &SidecarConfig) -> Option<&ConfigCounters> {
        self.configs.iter().find(|c| &c.config == config)
    }
}

/// What a closed-loop run is to the counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Slot {
    /// Straight to the application.
    Direct,
    /// Through the plain sidecar.
    Plain,
    /// Through the plain sidecar beside a filter configuration (its reference).
    Reference,
    /// Through the sidecar with filters.
    Filtered,
}

type RunKey = (SidecarConfig, Slot, u64, u32);

/// The work counters per traversal of `profile`'s closed-loop runs.
pub(crate) fn counters_of(profile: &Profile) -> Counters {
    counters_of_runs(&profile.runs)
}

fn counters_of_runs(runs: &[Run]) -> Counters {
    let mut grouped: BTreeMap<RunKey, Vec<&Run>> = BTreeMap::new();
    for run in runs
        .iter()
        .filter(|r| r.load == Load::Closed && !r.counters.is_empty())
    {
        let (config, slot) = match (&run.reference_for, run.through_sidecar) {
            (_, false) => (run.config.clone(), Slot::Direct),
            (Some(filtered), true) => (filtered.clone(), Slot::Reference),
            (None, true) if run.config.filters.is_empty() => (run.config.clone(), Slot::Plain),
            (None, true) => (run.config.clone(), Slot::Filtered),
        };
        grouped
            .entry((config, slot, run.size, run.repeat))
            .or_default()
            .push(run);
    }
    let mut per_config: BTreeMap<SidecarConfig, Vec<CounterPoint>> = BTreeMap::new();
    for ((config, slot, size, repeat), through) in &grouped {
        let reference = match slot {
            Slot::Plain => Slot::Direct,
            Slot::Filtered => Slot::Reference,
            Slot::Direct | Slot::Reference => continue,
        };
        let Some(without) = grouped.get(&(config.clone(), reference, *size, *repeat)) else {
            continue;
        };
        let sidecars = if *slot == Slot::Plain {
            through
                .iter()
                .map(|r| r.sidecars_in_series())
                .fold(1.0, f64::max)
        } else {
            1.0
        };
        let (with, without) = (mean_counters(through), mean_counters(without));
        let values = with
            .iter()
            .filter_map(|(c, w)| Some((*c, (w - without.get(c)?) / sidecars)))
            .collect();
        per_config
            .entry(config.clone())
            .or_default()
            .push(CounterPoint {
                size: *size,
                repeat: *repeat,
                values,
            });
    }
    let configs = per_config
        .into_iter()
        .map(|(config, points)| ConfigCounters {
            mean: mean_of_points(&points),
            config,
            points,
        })
        .collect();
    Counters { configs }
}

/// Per counter, the mean over `runs` (of those that have it).
fn mean_counters(runs: &[&Run]) -> BTreeMap<WorkCounter, f64> {
    let mut sums: BTreeMap<WorkCounter, (f64, f64)> = BTreeMap::new();
    for run in runs {
        for (c, v) in &run.counters {
            let s = sums.entry(*c).or_default();
            s.0 += v;
            s.1 += 1.0;
        }
    }
    sums.into_iter().map(|(c, (sum, n))| (c, sum / n)).collect()
}

fn mean_of_points(points: &[CounterPoint]) -> BTreeMap<WorkCounter, f64> {
    WorkCounter::ALL
        .iter()
        .filter_map(|c| {
            let values: Vec<f64> = points
                .iter()
                .filter_map(|p| p.values.get(c).copied())
                .collect();
            (!values.is_empty()).then(|| (*c, mean(&values)))
        })
        .collect()
}

/// How one counter compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum CounterVerdict {
    /// More work per traversal beyond the tolerance, at every point alike.
    Regression,
    /// Less work per traversal beyond the tolerance, at every point alike.
    Improvement,
    /// Beyond the tolerance on average, but not consistently across the points.
    Inconsistent,
    /// Within the tolerance.
    Unchanged,
}

/// One counter of one configuration at one message size, head against base.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct SizeResult {
    /// Payload bytes per request and per response.
    pub(crate) size: u64,
    /// The base's mean per traversal over the compared points.
    pub(crate) base: f64,
    /// The head's.
    pub(crate) head: f64,
    /// The mean of the per-point differences head − base.
    pub(crate) delta: f64,
    /// Their standard deviation (0 with one point).
    pub(crate) sd: f64,
    /// Compared points (repetitions and blocks).
    pub(crate) n: usize,
    /// How far it may move: `max(abs, rel × base)`.
    pub(crate) tolerance: f64,
    /// One-sided p of the differences' mean in its direction (t test); absent with one point.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) p: Option<f64>,
    /// The judgement at this size.
    pub(crate) verdict: CounterVerdict,
}

impl SizeResult {
    /// How far it moved, in tolerances.
    fn moved(&self) -> f64 {
        self.delta.abs() / self.tolerance
    }
}

/// One counter of one configuration, head against base, judged size by size: a change can
/// show at one size only (a message that now takes two reads past a buffer's length).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct CounterResult {
    /// `counter/http/write/syscalls`, `counter/http+fault/notify/wakeups`.
    pub(crate) key: String,
    /// The mode and filters.
    pub(crate) config: SidecarConfig,
    /// What is counted.
    pub(crate) counter: WorkCounter,
    /// The component whose work it counts.
    pub(crate) component: Component,
    /// The verdict: a regression when any size regressed; else an improvement when any size
    /// improved; else inconsistent when any size moved inconsistently; else unchanged.
    pub(crate) verdict: CounterVerdict,
    /// The size that decided the verdict (of those, the one that moved most relative to its
    /// tolerance; unchanged, the one that moved most).
    pub(crate) worst: SizeResult,
    /// Every compared size.
    pub(crate) by_size: Vec<SizeResult>,
}

/// Every counter of every configuration both sides measured, head against base. Points pair
/// by size and repetition (a paired measurement's head and base runs share them); where no
/// repetition matches (a stored baseline measured with other settings), by size, with the
/// mean over its repetitions.
pub(crate) fn compare_counters(head: &Counters, base: &Counters) -> Vec<CounterResult> {
    let mut results = Vec::new();
    for h in &head.configs {
        let Some(b) = base.get(&h.config) else {
            continue;
        };
        for counter in WorkCounter::ALL {
            let by_size: Vec<SizeResult> = paired_values(h, b, counter)
                .into_iter()
                .map(|(size, pairs)| judge_size(counter, size, &pairs))
                .collect();
            if let Some(result) = combine(&h.config, counter, by_size) {
                results.push(result);
            }
        }
    }
    results
}

/// Per size, (head, base) per matched point.
fn paired_values(
    head: &ConfigCounters,
    base: &ConfigCounters,
    counter: WorkCounter,
) -> BTreeMap<u64, Vec<(f64, f64)>> {
    let by_point = |c: &ConfigCounters| -> BTreeMap<(u64, u32), f64> {
        c.points
            .iter()
            .filter_map(|p| Some(((p.size, p.repeat), *p.values.get(&counter)?)))
            .collect()
    };
    let (h, b) = (by_point(head), by_point(base));
    let mut pairs: BTreeMap<u64, Vec<(f64, f64)>> = BTreeMap::new();
    for ((size, repeat), hv) in &h {
        if let Some(bv) = b.get(&(*size, *repeat)) {
            pairs.entry(*size).or_default().push((*hv, *bv));
        }
    }
    if !pairs.is_empty() {
        return pairs;
    }
    let by_size = |points: &BTreeMap<(u64, u32), f64>| -> BTreeMap<u64, f64> {
        let mut sizes: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
        for ((size, _), v) in points {
            sizes.entry(*size).or_default().push(*v);
        }
        sizes.into_iter().map(|(s, v)| (s, mean(&v))).collect()
    };
    let (h, b) = (by_size(&h), by_size(&b));
    h.iter()
        .filter_map(|(size, hv)| Some((*size, vec![(*hv, *b.get(size)?)])))
        .collect()
}

/// The verdict on one counter at one size from its (head, base) pairs.
fn judge_size(counter: WorkCounter, size: u64, pairs: &[(f64, f64)]) -> SizeResult {
    let diffs: Vec<f64> = pairs.iter().map(|(h, b)| h - b).collect();
    let base = mean(&pairs.iter().map(|p| p.1).collect::<Vec<_>>());
    let head = mean(&pairs.iter().map(|p| p.0).collect::<Vec<_>>());
    let delta = mean(&diffs);
    let sd = std_dev(&diffs, delta);
    let tolerance = Tolerance::of(counter).at(base);
    let p = p_one_sided(delta, sd, diffs.len());
    let consistent = p.is_none_or(|p| p <= CONSISTENCY_ALPHA);
    let verdict = if delta.abs() <= tolerance {
        CounterVerdict::Unchanged
    } else if !consistent {
        CounterVerdict::Inconsistent
    } else if delta > 0.0 {
        CounterVerdict::Regression
    } else {
        CounterVerdict::Improvement
    };
    SizeResult {
        size,
        base,
        head,
        delta,
        sd,
        n: diffs.len(),
        tolerance,
        p,
        verdict,
    }
}

/// One counter's result from its sizes; `None` without any.
fn combine(
    config: &SidecarConfig,
    counter: WorkCounter,
    by_size: Vec<SizeResult>,
) -> Option<CounterResult> {
    let verdict = [
        CounterVerdict::Regression,
        CounterVerdict::Improvement,
        CounterVerdict::Inconsistent,
    ]
    .into_iter()
    .find(|v| by_size.iter().any(|s| s.verdict == *v))
    .unwrap_or(CounterVerdict::Unchanged);
    // The size that decided (or, unchanged, the one that moved most).
    let worst = by_size
        .iter()
        .filter(|s| verdict == CounterVerdict::Unchanged || s.verdict == verdict)
        .max_by(|a, b| a.moved().total_cmp(&b.moved()))?
        .clone();
    Some(CounterResult {
        key: format!("counter/{config}/{}", counter.name()),
        config: config.clone(),
        counter,
        component: counter.component(),
        verdict,
        worst,
        by_size,
    })
}

/// The counters of `head` against `base` as the verdict reports them: a counter decides
/// by its size that moved most ([`CounterResult::worst`]); an inconsistent move is not
/// significant.
pub(crate) fn counter_lines(head: &Profile, base: &Profile) -> Vec<CounterLine> {
    compare_counters(&counters_of(head), &counters_of(base))
        .into_iter()
        .map(|r| CounterLine {
            key: r.key,
            component: r.component.to_string(),
            base: r.worst.base,
            head: r.worst.head,
            delta: r.worst.delta,
            tolerance: r.worst.tolerance,
            verdict: match r.verdict {
                CounterVerdict::Regression => MetricVerdict::Regression,
                CounterVerdict::Improvement => MetricVerdict::Improvement,
                CounterVerdict::Inconsistent => MetricVerdict::NotSignificant,
                CounterVerdict::Unchanged => MetricVerdict::Unchanged,
            },
        })
        .collect()
}

fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        0.0
    } else {
        values.iter().sum::<f64>() / values.len() as f64
    }
}

/// The sample standard deviation around `mean` (0 below two values).
fn std_dev(values: &[f64], mean: f64) -> f64 {
    if values.len() < 2 {
        return 0.0;
    }
    let ss: f64 = values.iter().map(|v| (v - mean).powi(2)).sum();
    (ss / (values.len() - 1) as f64).sqrt()
}

/// One-sided p of a mean difference `delta` in its own direction, from `n` differences with
/// standard deviation `sd`; `None` with fewer than two. Differences that are all equal are
/// certain: p 0 (1 when they are all zero).
fn p_one_sided(delta: f64, sd: f64, n: usize) -> Option<f64> {
    if n < 2 {
        return None;
    }
    if sd == 0.0 {
        return Some(if delta == 0.0 { 1.0 } else { 0.0 });
    }
    let t = delta.abs() / (sd / (n as f64).sqrt());
    let dist = StudentsT::new(0.0, 1.0, (n - 1) as f64).ok()?;
    Some(dist.sf(t).clamp(0.0, 1.0))
}

#[cfg(test)]
mod privileged;
#[cfg(test)]
mod tests;
