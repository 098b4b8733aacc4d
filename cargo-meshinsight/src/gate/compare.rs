//! The comparison (docs/gate.md), pure functions: head metrics against base metrics.
//!
//! A small **primary family** decides: each mode's total per traversal (latency and CPU) and
//! each fixture's predicted overhead. A change is a **regression** when it is both practically
//! significant (relative change above the threshold, in the costlier direction) and
//! statistically significant: its two-sided p-value stays under α after a multiple-testing
//! correction over the family only (Holm or Benjamini–Hochberg). The fitted coefficients are
//! compared too, but only to **attribute** a change (which component moved); they never decide.
//!
//! Two tests: [`compare_replicated`] for a paired check (head and base measured interleaved;
//! the spread of the per-replicate differences, pooled), and [`compare`] against a stored
//! baseline (the fits' errors and the baseline's history spread, or the head's own replicate
//! noise when the history is short).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::decision::{Decision, Noise, Series, decide, mean_var};
use super::snapshot::{Metric, MetricId, Metrics, Quantity, REFERENCE_BYTES, Snapshot, Unit};

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

/// The part of a primary metric's change that one component accounts for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Attribution {
    /// The part: a mode's component (`ipc`, ..., `other`) for a mode's total; a fixture's
    /// part (`ipc`, ..., `filter:lua`) for a fixture.
    pub(crate) part: String,
    /// Its change, in the metric's unit.
    pub(crate) delta: f64,
    /// The standard error of that change, when known (a paired check: from its replicates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) se: Option<f64>,
    /// Its change as a percentage of the metric's change.
    pub(crate) share_pct: f64,
}

/// A part moved with its metric when it changed in the same direction by at least this share
/// of the metric's change.
pub(crate) const MOVED_SHARE_PCT: f64 = 20.0;

/// The minimum detectable effect of a metric: the change its test finds with 80 % power.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Mde {
    /// In the metric's unit.
    pub(crate) value: f64,
    /// As a percentage of the base value.
    pub(crate) pct: f64,
}

/// A coefficient's change: which component moved, by how much. Attribution only: it never
/// decides a check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct CoefficientChange {
    /// Stable key, e.g. `coef/http/parsing/latency/base`.
    pub(crate) key: String,
    /// What it measures.
    pub(crate) id: MetricId,
    /// Unit of `base`, `head` and `delta`.
    pub(crate) unit: Unit,
    /// Base value.
    pub(crate) base: Option<f64>,
    /// Head value.
    pub(crate) head: Option<f64>,
    /// `head − base`.
    pub(crate) delta: Option<f64>,
    /// Relative change, percent of its mode's whole overhead (or of itself, when larger).
    pub(crate) change_pct: Option<f64>,
    /// Standard error of the change, when known.
    pub(crate) se: Option<f64>,
    /// Two-sided p-value, uncorrected (for reading only).
    pub(crate) p: Option<f64>,
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
    /// Degrees of freedom of the test.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) df: Option<f64>,
    /// The run-to-run standard deviation from the baseline history, when known.
    pub(crate) spread: Option<f64>,
    /// Two-sided p-value before correction.
    pub(crate) p: Option<f64>,
    /// p-value after the multiple-testing correction.
    pub(crate) p_adjusted: Option<f64>,
    /// The judgement.
    pub(crate) verdict: MetricVerdict,
    /// The minimum detectable effect of the test.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) mde: Option<Mde>,
    /// In an adaptive measurement: where the metric's interval stands against the threshold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) decision: Option<Decision>,
    /// The parts that moved with the change, largest share first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) parts: Vec<Attribution>,
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

/// The results of a comparison: the primary family, judged, and the coefficients that
/// attribute a change.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Comparison {
    /// The primary metrics (each mode's total, each fixture), judged over their family.
    pub(crate) metrics: Vec<MetricResult>,
    /// Every fitted coefficient's change, for attribution; never judged.
    pub(crate) coefficients: Vec<CoefficientChange>,
}

/// The standard error and degrees of freedom of `head − base` from the two fits' errors and
/// the history `spread` (Welch–Satterthwaite: `(Σ vᵢ)² / Σ (vᵢ² / dfᵢ)`; a part of unknown
/// degrees of freedom counts as exact). `None`: no uncertainty known.
fn welch(
    h: &Metric,
    b: &Metric,
    spread: Option<f64>,
    spread_df: Option<f64>,
) -> (Option<f64>, f64) {
    let parts = [(h.se, h.df), (b.se, b.df), (spread, spread_df)];
    let var: Option<f64> = parts
        .iter()
        .filter_map(|(s, _)| *s)
        .map(|s| s * s)
        .fold(None, |acc, v| Some(acc.unwrap_or(0.0) + v));
    let per_df: f64 = parts
        .iter()
        .filter_map(|&(s, df)| Some(s?.powi(4) / df?))
        .sum();
    let df = match var {
        Some(v) if per_df > 0.0 => v * v / per_df,
        _ => f64::INFINITY,
    };
    (var.map(f64::sqrt), df)
}

/// The two-sided p-value of a change `delta` with standard error `se` and `df` degrees of
/// freedom. Without any known uncertainty the figures are exact (hand-made or paper
/// profiles): any change is real, and only the threshold judges it.
fn p_of(delta: f64, se: Option<f64>, df: f64) -> f64 {
    match se {
        Some(se) if se > 0.0 && df.is_finite() => p_two_sided_t(delta / se, df),
        Some(se) if se > 0.0 => p_two_sided(delta / se),
        _ if delta == 0.0 => 1.0,
        _ => 0.0,
    }
}

/// `h − b`, with differences at the level of floating-point rounding (a JSON round trip, a
/// different summation order) as no change at all.
fn difference(h: f64, b: f64) -> f64 {
    let raw = h - b;
    if raw.abs() <= 1e-9 * h.abs().max(b.abs()) {
        0.0
    } else {
        raw
    }
}

/// `100 × delta / scale`, infinite for a change of nothing.
fn change_pct(delta: f64, scale: f64) -> f64 {
    if scale > 0.0 {
        100.0 * delta / scale
    } else if delta == 0.0 {
        0.0
    } else {
        f64::INFINITY.copysign(delta)
    }
}

/// A primary metric's result before the family is judged.
fn primary(key: &str, id: &MetricId, base: Option<f64>, head: Option<f64>) -> MetricResult {
    MetricResult {
        key: key.to_string(),
        unit: id.unit(),
        id: id.clone(),
        base,
        head,
        delta: None,
        change_pct: None,
        se: None,
        df: None,
        spread: None,
        p: None,
        p_adjusted: None,
        verdict: match (base, head) {
            (None, _) => MetricVerdict::New,
            (_, None) => MetricVerdict::Removed,
            _ => MetricVerdict::Unchanged,
        },
        mde: None,
        decision: None,
        parts: Vec::new(),
        first: None,
    }
}

/// Compares `head` against a stored baseline `base`. The primary family is judged; the
/// coefficients are compared for attribution only.
///
/// A change's error: with `head_noise` (the head measurement's own replicates, given when the
/// baseline's history is too short to know the run-to-run spread), `√(rel_var × (head² +
/// base²) / R)` with the pooled degrees of freedom: the baseline is taken as measured as
/// noisily as the head. Otherwise the two fits' errors and the history `spread` (with
/// `spread_df` degrees of freedom: versions − 1; `None`: taken as exact), Welch–Satterthwaite.
/// A spread estimated from three baseline versions has two degrees of freedom: a z test would
/// treat it as known and flag ordinary drift between sessions (docs/gate.md).
pub(crate) fn compare(
    head: &Snapshot,
    base: &Snapshot,
    spread: &Spread,
    spread_df: Option<f64>,
    head_noise: Option<&Noise>,
    settings: &CompareSettings,
) -> Comparison {
    let (hm, bm) = (head.metrics(), base.metrics());
    let keys: std::collections::BTreeSet<&String> = hm.keys().chain(bm.keys()).collect();
    let mut metrics = Vec::new();
    let mut coefficients = Vec::new();
    for key in keys {
        let (h, b) = (hm.get(key), bm.get(key));
        let id = h.or(b).expect("key from one side").id.clone();
        let spread = spread.get(key.as_str()).copied();
        if !id.is_primary() {
            coefficients.push(coefficient_change(key, &id, h, b, |h, b| {
                welch(h, b, spread, spread_df)
            }));
            continue;
        }
        let mut r = primary(key, &id, b.map(|m| m.value), h.map(|m| m.value));
        let (Some(h), Some(b)) = (h, b) else {
            metrics.push(r);
            continue;
        };
        let delta = difference(h.value, b.value);
        let replicated = head_noise.and_then(|n| {
            let rel = n.rel_var.get(&id.quantity())?;
            let var = rel * (h.value * h.value + b.value * b.value) / n.replicates as f64;
            Some((Some(var.sqrt()), n.df))
        });
        let (se, df) = replicated.unwrap_or_else(|| welch(h, b, spread, spread_df));
        r.spread = if replicated.is_some() { None } else { spread };
        r.delta = Some(delta);
        r.change_pct = Some(change_pct(delta, b.scale));
        r.se = se;
        r.df = Some(df);
        r.p = Some(p_of(delta, se, df));
        if delta != 0.0 {
            let (hp, bp) = (parts_of(head, &id), parts_of(base, &id));
            let names: std::collections::BTreeSet<&String> = hp.keys().chain(bp.keys()).collect();
            let part = |n: &String| {
                let get = |m: &BTreeMap<String, f64>| m.get(n).copied().unwrap_or(0.0);
                (n.clone(), get(&hp) - get(&bp), None)
            };
            r.parts = moved_parts(delta, names.into_iter().map(part));
        }
        metrics.push(r);
    }
    judge_family(&mut metrics, settings, false);
    Comparison {
        metrics,
        coefficients,
    }
}

/// A coefficient's change between `h` and `b` (either may be missing), its error from `test`.
fn coefficient_change(
    key: &str,
    id: &MetricId,
    h: Option<&Metric>,
    b: Option<&Metric>,
    test: impl FnOnce(&Metric, &Metric) -> (Option<f64>, f64),
) -> CoefficientChange {
    let mut c = CoefficientChange {
        key: key.to_string(),
        id: id.clone(),
        unit: id.unit(),
        base: b.map(|m| m.value),
        head: h.map(|m| m.value),
        delta: None,
        change_pct: None,
        se: None,
        p: None,
    };
    if let (Some(h), Some(b)) = (h, b) {
        let delta = difference(h.value, b.value);
        let (se, df) = test(h, b);
        c.delta = Some(delta);
        c.change_pct = Some(change_pct(delta, b.scale));
        c.se = se;
        c.p = Some(p_of(delta, se, df));
    }
    c
}

/// The figures a primary metric is the sum of: a mode's total, its components at
/// [`REFERENCE_BYTES`]; a fixture, its parts (`ipc`, ..., `filter:lua`).
pub(crate) fn parts_of(snapshot: &Snapshot, id: &MetricId) -> BTreeMap<String, f64> {
    match id {
        MetricId::Total { mode, quantity } => snapshot
            .profile
            .modes
            .get(mode)
            .map(|mp| {
                mp.components
                    .iter()
                    .map(|(c, cm)| {
                        let model = match quantity {
                            Quantity::Latency => &cm.latency,
                            Quantity::Cpu => &cm.cpu,
                        };
                        (c.to_string(), model.at(REFERENCE_BYTES))
                    })
                    .collect()
            })
            .unwrap_or_default(),
        MetricId::Fixture { fixture, quantity } => snapshot
            .fixture(fixture)
            .map(|f| {
                f.components
                    .iter()
                    .map(|(part, c)| {
                        let v = match quantity {
                            Quantity::Latency => c.latency_us,
                            Quantity::Cpu => c.cpu_cores,
                        };
                        (part.clone(), v)
                    })
                    .collect()
            })
            .unwrap_or_default(),
        MetricId::Coefficient { .. } => BTreeMap::new(),
    }
}

/// The parts that moved with a metric's change `delta`: those that changed in its direction
/// by at least [`MOVED_SHARE_PCT`] of it, largest share first. `parts` are `(name, change,
/// its standard error)`.
pub(crate) fn moved_parts(
    delta: f64,
    parts: impl IntoIterator<Item = (String, f64, Option<f64>)>,
) -> Vec<Attribution> {
    if delta == 0.0 {
        return Vec::new();
    }
    let mut out: Vec<Attribution> = parts
        .into_iter()
        .map(|(part, d, se)| Attribution {
            part,
            delta: d,
            se,
            share_pct: 100.0 * d / delta,
        })
        .filter(|a| a.share_pct >= MOVED_SHARE_PCT)
        .collect();
    out.sort_by(|a, b| b.share_pct.total_cmp(&a.share_pct));
    out
}

/// The family's correction, each metric's verdict and its minimum detectable effect; with
/// `adaptive`, where each metric stands against the threshold ([`Decision`]).
///
/// A metric is a regression when its change exceeds the threshold and its corrected p-value is
/// at most α (an improvement symmetrically); beyond the threshold but not significant, it is
/// not significant; within it, unchanged.
pub(crate) fn judge_family(
    metrics: &mut [MetricResult],
    settings: &CompareSettings,
    adaptive: bool,
) {
    let tested: Vec<usize> = (0..metrics.len())
        .filter(|&i| metrics[i].p.is_some())
        .collect();
    let m = tested.len();
    let ps: Vec<f64> = tested
        .iter()
        .map(|&i| metrics[i].p.expect("tested"))
        .collect();
    let adj = adjust(&ps, settings.correction);
    for (&i, pa) in tested.iter().zip(adj) {
        let r = &mut metrics[i];
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
        let (Some(se), Some(df), Some(base)) = (r.se, r.df, r.base) else {
            if adaptive {
                r.decision = Some(Decision::Undecided);
            }
            continue;
        };
        if se == 0.0 && adaptive {
            // No noise at all: the change itself is where the interval is.
            r.decision = Some(decide(change, 0.0, 0.0, settings.threshold_pct));
        } else if se > 0.0 && base != 0.0 {
            let value = super::decision::mde(se, df, settings.alpha, m);
            r.mde = Some(Mde {
                value,
                pct: 100.0 * value / base.abs(),
            });
            if adaptive {
                let q = super::decision::family_quantile(settings.alpha, m, df);
                let se_pct = 100.0 * se / base.abs();
                r.decision = Some(decide(change, se_pct, q, settings.threshold_pct));
            }
        }
    }
}

/// Two-sided p-value of Student's `t` with `df` degrees of freedom.
pub(crate) fn p_two_sided_t(t: f64, df: f64) -> f64 {
    use statrs::distribution::{ContinuousCDF, StudentsT};
    match StudentsT::new(0.0, 1.0, df) {
        Ok(dist) => (2.0 * dist.sf(t.abs())).clamp(0.0, 1.0),
        Err(_) => p_two_sided(t),
    }
}

/// The paired comparison from replicates: `pairs` holds each replicate's `(head, base)`
/// figures, both sides measured interleaved in the same run of `modes` modes.
///
/// Per metric, `d_r = head_r − base_r`; the estimate is their mean. A primary metric's error
/// is `√(pooled relative variance) × |base| / √R` ([`Noise`]), with `(R − 1) × modes` degrees
/// of freedom. A coefficient's and a part's is their own spread, `sd(d_r) / √R`.
pub(crate) fn compare_replicated(
    pairs: &[(Snapshot, Snapshot)],
    modes: usize,
    settings: &CompareSettings,
) -> (Comparison, Option<Noise>) {
    let heads: Vec<Metrics> = pairs.iter().map(|(h, _)| h.metrics()).collect();
    let bases: Vec<Metrics> = pairs.iter().map(|(_, b)| b.metrics()).collect();
    let series = |side: &[Metrics], key: &str| -> Option<Vec<f64>> {
        side.iter().map(|m| m.get(key).map(|x| x.value)).collect()
    };
    let keys: std::collections::BTreeSet<&String> = heads
        .iter()
        .chain(bases.iter())
        .flat_map(|m| m.keys())
        .collect();
    // Per key: its id, the head and base series (when every replicate has it) and the base's
    // mean scale.
    let mut rows = Vec::new();
    for key in keys {
        let id = heads
            .iter()
            .chain(bases.iter())
            .find_map(|m| m.get(key))
            .expect("a key of some replicate")
            .id
            .clone();
        let (h, b) = (series(&heads, key), series(&bases, key));
        let scale = bases
            .iter()
            .map(|m| m.get(key).map_or(0.0, |x| x.scale))
            .sum::<f64>()
            / bases.len().max(1) as f64;
        rows.push((key.clone(), id, h, b, scale));
    }
    let diffs =
        |h: &[f64], b: &[f64]| -> Vec<f64> { h.iter().zip(b).map(|(h, b)| h - b).collect() };
    let noise = Noise::pooled(
        rows.iter()
            .filter(|(_, id, ..)| id.is_primary())
            .filter_map(|(_, id, h, b, _)| {
                let (h, b) = (h.as_ref()?, b.as_ref()?);
                Some((id.quantity(), diffs(h, b), mean_var(b).0))
            })
            .collect::<Vec<_>>()
            .iter()
            .map(|(quantity, values, reference)| Series {
                quantity: *quantity,
                values,
                reference: *reference,
            }),
        modes,
    );
    let mut metrics = Vec::new();
    let mut coefficients = Vec::new();
    for (key, id, h, b, scale) in &rows {
        let (hmean, bmean) = (
            h.as_deref().map(|h| mean_var(h).0),
            b.as_deref().map(|b| mean_var(b).0),
        );
        let d = match (h, b) {
            (Some(h), Some(b)) => Some(diffs(h, b)),
            _ => None,
        };
        if !id.is_primary() {
            let mut c = coefficient_change(key, id, None, None, |_, _| (None, 0.0));
            c.base = bmean;
            c.head = hmean;
            if let Some(d) = &d {
                let (delta, var) = mean_var(d);
                let se = var.map(|v| (v / d.len() as f64).sqrt());
                c.delta = Some(delta);
                c.change_pct = Some(change_pct(delta, *scale));
                c.se = se;
                c.p = Some(if se.is_some() {
                    p_of(delta, se, (d.len() - 1) as f64)
                } else {
                    1.0
                });
            }
            coefficients.push(c);
            continue;
        }
        let mut r = primary(key, id, bmean, hmean);
        let (Some(d), Some(base)) = (d, bmean) else {
            metrics.push(r);
            continue;
        };
        let delta = mean_var(&d).0;
        let se = noise
            .as_ref()
            .and_then(|n| n.se_of_mean(id.quantity(), base));
        r.delta = Some(delta);
        r.change_pct = Some(change_pct(delta, base.abs()));
        r.se = se;
        r.df = noise.as_ref().map(|n| n.df);
        // Too few replicates for a test: never significant.
        r.p = Some(match (se, r.df) {
            (Some(_), Some(df)) => p_of(delta, se, df),
            _ => 1.0,
        });
        r.parts = replicated_parts(pairs, id, delta);
        metrics.push(r);
    }
    judge_family(&mut metrics, settings, true);
    (
        Comparison {
            metrics,
            coefficients,
        },
        noise,
    )
}

/// The parts of metric `id` that moved with its change `delta`, from the replicates' parts.
fn replicated_parts(pairs: &[(Snapshot, Snapshot)], id: &MetricId, delta: f64) -> Vec<Attribution> {
    let per: Vec<(BTreeMap<String, f64>, BTreeMap<String, f64>)> = pairs
        .iter()
        .map(|(h, b)| (parts_of(h, id), parts_of(b, id)))
        .collect();
    let names: std::collections::BTreeSet<String> = per
        .iter()
        .flat_map(|(h, b)| h.keys().chain(b.keys()).cloned())
        .collect();
    let parts = names.into_iter().map(|name| {
        let d: Vec<f64> = per
            .iter()
            .map(|(h, b)| {
                h.get(&name).copied().unwrap_or(0.0) - b.get(&name).copied().unwrap_or(0.0)
            })
            .collect();
        let (mean, var) = mean_var(&d);
        (name, mean, var.map(|v| (v / d.len() as f64).sqrt()))
    });
    moved_parts(delta, parts)
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
