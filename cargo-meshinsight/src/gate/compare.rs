//! The comparison (docs/gate.md), a pure function: head metrics against baseline metrics.
//!
//! A change is a **regression** when it is both practically significant (relative change
//! above the threshold, in the costlier direction; a coefficient's change is relative to its
//! mode's whole overhead, see [`super::snapshot`]) and statistically significant: the
//! two-sided p-value of `t = Δ / √(se_head² + se_base² + spread²)` (Student's t with
//! Welch–Satterthwaite degrees of freedom, see [`compare`]) stays under α after a
//! multiple-testing correction over all compared metrics (Holm or Benjamini–Hochberg).
//! `spread` is the run-to-run standard deviation seen in the baseline's git history.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::paired::DifferenceError;
use super::snapshot::{Metric, MetricId, Metrics, Quantity, Snapshot, Unit};

/// Which multiple-testing correction the comparison applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Correction {
    /// Holm's step-down method: controls the family-wise error rate.
    #[default]
    Holm,
    /// Benjamini–Hochberg: controls the false discovery rate.
    Bh,
}

/// How one metric was judged. The strings are stable (scripts match on them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum MetricVerdict {
    /// Costlier beyond the threshold, and significant.
    Regression,
    /// Cheaper beyond the threshold, and significant.
    Improvement,
    /// Beyond the threshold but within the noise.
    NotSignificant,
    /// Within the threshold.
    Unchanged,
    /// Only in the head (a new fixture, mode or component).
    New,
    /// Only in the baseline.
    Removed,
    /// One of two measurements found a regression or an improvement, the other did not
    /// (`check` measures again when the first finds a regression; see [`super::confirm`]).
    Unconfirmed,
}

impl MetricVerdict {
    /// The stable code.
    pub(crate) fn code(self) -> &'static str {
        match self {
            MetricVerdict::Regression => "regression",
            MetricVerdict::Improvement => "improvement",
            MetricVerdict::NotSignificant => "not-significant",
            MetricVerdict::Unchanged => "unchanged",
            MetricVerdict::New => "new",
            MetricVerdict::Removed => "removed",
            MetricVerdict::Unconfirmed => "unconfirmed",
        }
    }
}

/// The part of a fixture's change that one component accounts for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Attribution {
    /// The part that moved most (`ipc`, ..., `filter:lua`).
    pub(crate) part: String,
    /// Its change, in the metric's unit.
    pub(crate) delta: f64,
    /// Its change as a percentage of the metric's change.
    pub(crate) share_pct: f64,
}

/// The comparison of one metric.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct MetricResult {
    /// Stable key, e.g. `fixture/bookinfo/latency` or `coef/http/parsing/latency/base`.
    pub(crate) key: String,
    /// What it measures.
    pub(crate) id: MetricId,
    /// Unit of `base`, `head` and `delta`.
    pub(crate) unit: Unit,
    /// Baseline value.
    pub(crate) base: Option<f64>,
    /// Head value.
    pub(crate) head: Option<f64>,
    /// `head − base`.
    pub(crate) delta: Option<f64>,
    /// Relative change, percent of the baseline's scale: a fixture's own overhead; for a
    /// coefficient, its mode's whole overhead (or itself, when larger; a slope by what it
    /// adds at 1000 bytes).
    pub(crate) change_pct: Option<f64>,
    /// Combined standard error of the change (`None`: no uncertainty known).
    pub(crate) se: Option<f64>,
    /// The run-to-run standard deviation from the baseline history, when known.
    pub(crate) spread: Option<f64>,
    /// Two-sided p-value before correction.
    pub(crate) p: Option<f64>,
    /// p-value after the multiple-testing correction.
    pub(crate) p_adjusted: Option<f64>,
    /// The judgement.
    pub(crate) verdict: MetricVerdict,
    /// For a fixture metric: the component that moved most.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) attribution: Option<Attribution>,
    /// When the check measured twice (a regression to confirm) and either measurement
    /// flagged this metric: what the first one said. The other fields are the second's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) first: Option<super::confirm::FirstMeasurement>,
}

/// Settings of a comparison.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct CompareSettings {
    /// Practical threshold, percent.
    pub(crate) threshold_pct: f64,
    /// Significance level.
    pub(crate) alpha: f64,
    /// Multiple-testing correction.
    pub(crate) correction: Correction,
}

/// Run-to-run standard deviation per metric key.
pub(crate) type Spread = BTreeMap<String, f64>;

/// Standard deviation of a series from its successive differences (von Neumann's MSSD):
/// `√(Σ (x_{i+1} − x_i)² / (2 (n − 1)))`. A single step (a merged change) moves it far less
/// than it moves the plain standard deviation. `None` with fewer than two values.
pub(crate) fn mssd_sd(series: &[f64]) -> Option<f64> {
    if series.len() < 2 {
        return None;
    }
    let sum: f64 = series.windows(2).map(|w| (w[1] - w[0]).powi(2)).sum();
    Some((sum / (2.0 * (series.len() - 1) as f64)).sqrt())
}

/// The run-to-run spread of every metric over chronological versions of a baseline.
pub(crate) fn spread_of(history: &[Metrics]) -> Spread {
    let mut series: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for version in history {
        for (k, m) in version {
            series.entry(k.as_str()).or_default().push(m.value);
        }
    }
    series
        .into_iter()
        .filter_map(|(k, xs)| mssd_sd(&xs).map(|sd| (k.to_string(), sd)))
        .collect()
}

/// Two-sided p-value of a standard normal `z`.
pub(crate) fn p_two_sided(z: f64) -> f64 {
    statrs::function::erf::erfc(z.abs() / std::f64::consts::SQRT_2).clamp(0.0, 1.0)
}

/// Adjusted p-values (same order as `p`).
pub(crate) fn adjust(p: &[f64], correction: Correction) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut adj = vec![0.0; m];
    match correction {
        Correction::Holm => {
            let mut running = 0.0f64;
            for (rank, &i) in order.iter().enumerate() {
                let v = ((m - rank) as f64 * p[i]).min(1.0);
                running = running.max(v);
                adj[i] = running;
            }
        }
        Correction::Bh => {
            let mut running = 1.0f64;
            for (rank, &i) in order.iter().enumerate().rev() {
                let v = (m as f64 / (rank + 1) as f64 * p[i]).min(1.0);
                running = running.min(v);
                adj[i] = running;
            }
        }
    }
    adj
}

/// Compares `head` against `base`; `spread` comes from the baseline history, with
/// `spread_df` degrees of freedom (versions − 1; `None`: taken as exact).
///
/// The error of `Δ` combines the two fits' errors and the spread; its degrees of freedom
/// follow Welch–Satterthwaite, `(Σ vᵢ)² / Σ (vᵢ² / dfᵢ)`, and the p-value is Student's t
/// with them (a part of unknown degrees of freedom counts as exact). A spread estimated from
/// three baseline versions has two degrees of freedom: a z test would treat it as known and
/// flag ordinary drift between sessions (docs/gate.md).
pub(crate) fn compare(
    head: &Snapshot,
    base: &Snapshot,
    spread: &Spread,
    spread_df: Option<f64>,
    settings: &CompareSettings,
) -> Vec<MetricResult> {
    compare_by(head, base, spread, settings, |_, h, b, spread, delta| {
        let parts = [(h.se, h.df), (b.se, b.df), (spread, spread_df)];
        let var: Option<f64> = parts
            .iter()
            .filter_map(|(s, _)| *s)
            .map(|s| s * s)
            .fold(None, |acc, v| Some(acc.unwrap_or(0.0) + v));
        let se = var.map(f64::sqrt);
        let per_df: f64 = parts
            .iter()
            .filter_map(|&(s, df)| Some(s?.powi(4) / df?))
            .sum();
        let df = match var {
            Some(v) if per_df > 0.0 => v * v / per_df,
            _ => f64::INFINITY,
        };
        // Without any known uncertainty the figures are exact (hand-made or paper profiles):
        // any change is real, and only the threshold judges it.
        let p = match se {
            Some(se) if se > 0.0 && df.is_finite() => p_two_sided_t(delta / se, df),
            Some(se) if se > 0.0 => p_two_sided(delta / se),
            _ if delta == 0.0 => 1.0,
            _ => 0.0,
        };
        Test { se, p }
    })
}

/// Two-sided p-value of Student's `t` with `df` degrees of freedom.
pub(crate) fn p_two_sided_t(t: f64, df: f64) -> f64 {
    use statrs::distribution::{ContinuousCDF, StudentsT};
    match StudentsT::new(0.0, 1.0, df) {
        Ok(dist) => (2.0 * dist.sf(t.abs())).clamp(0.0, 1.0),
        Err(_) => p_two_sided(t),
    }
}

/// The paired comparison: `head` and `base` measured interleaved in one run; `difference`
/// holds, per metric key, the standard error of head − base from the per-point differences
/// and its degrees of freedom. The test is Student's t on the paired differences (for a
/// coefficient, the OLS fit of the differences on size; for a fixture, the fit's errors
/// propagated). A metric without a known error is never significant.
pub(crate) fn compare_paired(
    head: &Snapshot,
    base: &Snapshot,
    difference: &BTreeMap<String, DifferenceError>,
    settings: &CompareSettings,
) -> Vec<MetricResult> {
    compare_by(
        head,
        base,
        &Spread::new(),
        settings,
        |key, _, _, _, delta| match difference.get(key) {
            Some(&DifferenceError { se: Some(se), df }) if se > 0.0 && df >= 1.0 => Test {
                se: Some(se),
                p: p_two_sided_t(delta / se, df),
            },
            _ => Test { se: None, p: 1.0 },
        },
    )
}

/// The test of one change: its standard error (`None`: unknown) and two-sided p-value.
struct Test {
    se: Option<f64>,
    p: f64,
}

/// The comparison of every metric, with `test` testing a change `(key, head, base, spread,
/// delta)`; then the correction and the verdicts.
fn compare_by(
    head: &Snapshot,
    base: &Snapshot,
    spread: &Spread,
    settings: &CompareSettings,
    test: impl Fn(&str, &Metric, &Metric, Option<f64>, f64) -> Test,
) -> Vec<MetricResult> {
    let hm = head.metrics();
    let bm = base.metrics();
    let mut results: Vec<MetricResult> = Vec::new();
    let mut tested: Vec<(usize, f64)> = Vec::new();
    let keys: std::collections::BTreeSet<&String> = hm.keys().chain(bm.keys()).collect();
    for key in keys {
        let (h, b) = (hm.get(key), bm.get(key));
        let id = h.or(b).expect("key from one side").id.clone();
        let mut r = MetricResult {
            key: key.clone(),
            unit: id.unit(),
            id,
            base: b.map(|m| m.value),
            head: h.map(|m| m.value),
            delta: None,
            change_pct: None,
            se: None,
            spread: spread.get(key).copied(),
            p: None,
            p_adjusted: None,
            verdict: MetricVerdict::New,
            attribution: None,
            first: None,
        };
        let (Some(h), Some(b)) = (h, b) else {
            if h.is_none() {
                r.verdict = MetricVerdict::Removed;
            }
            results.push(r);
            continue;
        };
        // Differences at the level of floating-point rounding (a JSON round trip, a different
        // summation order) are no change at all.
        let raw = h.value - b.value;
        let delta = if raw.abs() <= 1e-9 * h.value.abs().max(b.value.abs()) {
            0.0
        } else {
            raw
        };
        r.delta = Some(delta);
        r.change_pct = Some(if b.scale > 0.0 {
            100.0 * delta / b.scale
        } else if delta == 0.0 {
            0.0
        } else {
            f64::INFINITY.copysign(delta)
        });
        let Test { se, p } = test(key, h, b, r.spread, delta);
        r.se = se;
        r.p = Some(p);
        if let (MetricId::Fixture { fixture, quantity }, true) = (&r.id, delta != 0.0) {
            r.attribution = attribute(head, base, fixture, *quantity, delta);
        }
        tested.push((results.len(), p));
        results.push(r);
    }
    let ps: Vec<f64> = tested.iter().map(|&(_, p)| p).collect();
    let adj = adjust(&ps, settings.correction);
    for (&(i, _), pa) in tested.iter().zip(adj) {
        let r = &mut results[i];
        r.p_adjusted = Some(pa);
        let change = r.change_pct.expect("tested metrics have a change");
        let practical = change.abs() > settings.threshold_pct;
        let significant = pa <= settings.alpha;
        r.verdict = match (practical, significant) {
            (false, _) => MetricVerdict::Unchanged,
            (true, false) => MetricVerdict::NotSignificant,
            (true, true) if change > 0.0 => MetricVerdict::Regression,
            (true, true) => MetricVerdict::Improvement,
        };
    }
    results
}

/// The component whose change explains most of a fixture's change (same sign first).
fn attribute(
    head: &Snapshot,
    base: &Snapshot,
    fixture: &str,
    quantity: Quantity,
    delta: f64,
) -> Option<Attribution> {
    let (h, b) = (head.fixture(fixture)?, base.fixture(fixture)?);
    let parts: std::collections::BTreeSet<&String> =
        h.components.keys().chain(b.components.keys()).collect();
    let pick = |f: &super::FixtureResult, part: &str| {
        f.components
            .get(part)
            .map(|c| match quantity {
                Quantity::Latency => c.latency_us,
                Quantity::Cpu => c.cpu_cores,
            })
            .unwrap_or(0.0)
    };
    let (part, d) = parts
        .into_iter()
        .map(|part| (part, pick(h, part) - pick(b, part)))
        .max_by(|x, y| {
            let score = |d: f64| {
                if delta != 0.0 {
                    d * delta.signum()
                } else {
                    d.abs()
                }
            };
            score(x.1).total_cmp(&score(y.1))
        })?;
    if d.abs() <= 1e-9 * delta.abs() || d * delta < 0.0 {
        return None;
    }
    Some(Attribution {
        part: part.clone(),
        delta: d,
        share_pct: if delta != 0.0 { 100.0 * d / delta } else { 0.0 },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holm_and_bh_match_hand_computed_values() {
        let p = [0.01, 0.04, 0.03, 0.005];
        // Sorted: 0.005 (×4 = 0.02), 0.01 (×3 = 0.03), 0.03 (×2 = 0.06), 0.04 (×1 → max 0.06).
        let holm = adjust(&p, Correction::Holm);
        let want = [0.03, 0.06, 0.06, 0.02];
        for (a, b) in holm.iter().zip(want) {
            assert!((a - b).abs() < 1e-12, "{holm:?}");
        }
        // BH: 0.04×4/4 = 0.04, 0.03×4/3 = 0.04, 0.01×4/2 = 0.02, 0.005×4/1 = 0.02.
        let bh = adjust(&p, Correction::Bh);
        let want = [0.02, 0.04, 0.04, 0.02];
        for (a, b) in bh.iter().zip(want) {
            assert!((a - b).abs() < 1e-12, "{bh:?}");
        }
    }

    #[test]
    fn p_value_of_a_familiar_t() {
        // t(0.975; 4) = 2.776445.
        assert!((p_two_sided_t(2.776445, 4.0) - 0.05).abs() < 1e-5);
        assert!((p_two_sided_t(-2.776445, 4.0) - 0.05).abs() < 1e-5);
    }

    #[test]
    fn p_value_of_familiar_z_scores() {
        assert!((p_two_sided(1.959964) - 0.05).abs() < 1e-5);
        assert!((p_two_sided(-2.575829) - 0.01).abs() < 1e-5);
        assert_eq!(p_two_sided(0.0), 1.0);
    }

    #[test]
    fn mssd_ignores_most_of_a_single_level_shift() {
        let steady = [10.0, 10.2, 9.9, 10.1, 10.0];
        let sd = mssd_sd(&steady).unwrap();
        assert!(sd > 0.05 && sd < 0.2, "{sd}");
        // A merged +5 step: plain SD would be ~2.5; MSSD stays ~1.3.
        let shifted = [10.0, 10.0, 10.0, 10.0, 15.0, 15.0, 15.0, 15.0];
        let sd = mssd_sd(&shifted).unwrap();
        assert!((sd - (25.0f64 / 14.0).sqrt()).abs() < 1e-12, "{sd}");
        assert_eq!(mssd_sd(&[1.0]), None);
    }
}
