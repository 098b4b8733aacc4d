//! The statistics of a decision from replicates: the noise a check observed, pooled across
//! comparable metrics; the confidence interval that stops an adaptive measurement; and the
//! minimum detectable effect every report states (docs/gate.md, "The decision").

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal, StudentsT};

use super::snapshot::Quantity;

/// The power at which the minimum detectable effect is stated.
pub(crate) const POWER: f64 = 0.8;

/// The noise of a measurement from its replicates, pooled within each quantity.
///
/// Every primary metric of a quantity (each mode's total, each fixture) gives a relative
/// variance between replicates, `var(x_r) / reference²`, with `R − 1` degrees of freedom; their
/// mean is the pooled relative variance. The fixtures are sums of the same traversals that the
/// mode totals sum up, so they add no independent degrees of freedom: the pooled variance has
/// `(R − 1) × modes`, one independent series per measured mode.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Noise {
    /// Pooled relative variance per quantity (a fraction squared, not percent).
    pub(crate) rel_var: BTreeMap<Quantity, f64>,
    /// Its degrees of freedom.
    pub(crate) df: f64,
    /// Replicates it was estimated from.
    pub(crate) replicates: usize,
}

/// One metric's values over the replicates, with what its variance is relative to.
pub(crate) struct Series<'a> {
    /// Latency or CPU.
    pub(crate) quantity: Quantity,
    /// One value per replicate (a paired check: head − base).
    pub(crate) values: &'a [f64],
    /// What the variance is relative to (the base value).
    pub(crate) reference: f64,
}

/// The sample mean and variance (`n − 1` in the denominator) of `xs`; no variance for fewer
/// than two values.
pub(crate) fn mean_var(xs: &[f64]) -> (f64, Option<f64>) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var =
        (xs.len() >= 2).then(|| xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0));
    (mean, var)
}

impl Noise {
    /// The pooled noise of `series` (all with the same number of replicates) from a
    /// measurement of `modes` modes; `None` with fewer than two replicates or no usable series.
    pub(crate) fn pooled<'a>(
        series: impl IntoIterator<Item = Series<'a>>,
        modes: usize,
    ) -> Option<Noise> {
        let mut sums: BTreeMap<Quantity, (f64, usize)> = BTreeMap::new();
        let mut replicates = 0;
        for s in series {
            let (_, Some(var)) = mean_var(s.values) else {
                continue;
            };
            if !(s.reference.abs() > 0.0 && var.is_finite()) {
                continue;
            }
            replicates = replicates.max(s.values.len());
            let entry = sums.entry(s.quantity).or_default();
            entry.0 += var / (s.reference * s.reference);
            entry.1 += 1;
        }
        if replicates < 2 || sums.is_empty() {
            return None;
        }
        Some(Noise {
            rel_var: sums
                .into_iter()
                .map(|(q, (sum, n))| (q, sum / n as f64))
                .collect(),
            df: ((replicates - 1) * modes.max(1)) as f64,
            replicates,
        })
    }

    /// The standard error of a mean over the replicates of a metric of `quantity` whose
    /// reference value is `reference`: `√(pooled relative variance) × |reference| / √R`.
    pub(crate) fn se_of_mean(&self, quantity: Quantity, reference: f64) -> Option<f64> {
        let rel = self.rel_var.get(&quantity)?;
        Some(rel.sqrt() * reference.abs() / (self.replicates as f64).sqrt())
    }
}

/// The noise of one measurement from its replicates' figures (`check --unpaired` of a
/// measured head): each primary metric's values over the replicates, relative to their mean,
/// pooled as [`Noise::pooled`] does for a paired check's differences.
pub(crate) fn replicate_noise(replicates: &[super::Snapshot], modes: usize) -> Option<Noise> {
    let metrics: Vec<_> = replicates.iter().map(|s| s.metrics()).collect();
    let first = metrics.first()?;
    let series: Vec<(Quantity, Vec<f64>)> = first
        .iter()
        .filter(|(_, m)| m.id.is_primary())
        .filter_map(|(key, m)| {
            let values: Option<Vec<f64>> = metrics
                .iter()
                .map(|r| r.get(key).map(|x| x.value))
                .collect();
            Some((m.id.quantity(), values?))
        })
        .collect();
    Noise::pooled(
        series.iter().map(|(quantity, values)| Series {
            quantity: *quantity,
            values,
            reference: mean_var(values).0,
        }),
        modes,
    )
}

/// The `p` quantile of Student's t with `df` degrees of freedom; the normal's from 10⁵
/// degrees of freedom on (they differ by less than 10⁻⁴ there, and statrs' inversion of the t
/// distribution does not converge for very large `df`).
pub(crate) fn t_quantile(p: f64, df: f64) -> f64 {
    if df.is_nan() || df <= 0.0 {
        return f64::NAN;
    }
    if df > 1e5 {
        return Normal::standard().inverse_cdf(p);
    }
    StudentsT::new(0.0, 1.0, df)
        .map(|t| t.inverse_cdf(p))
        .unwrap_or(f64::NAN)
}

/// The Bonferroni quantile of a family of `m` metrics at level `alpha`: each two-sided
/// interval at level `1 − alpha/m`.
pub(crate) fn family_quantile(alpha: f64, m: usize, df: f64) -> f64 {
    t_quantile(1.0 - alpha / (2.0 * m.max(1) as f64), df)
}

/// The minimum detectable effect of a metric with standard error `se` (`df` degrees of
/// freedom) in a family of `m` metrics: the true change that the test at level `alpha`
/// (Bonferroni over the family) finds with probability [`POWER`],
/// `(t_{1−α/(2m), df} + t_{POWER, df}) × se`.
pub(crate) fn mde(se: f64, df: f64, alpha: f64, m: usize) -> f64 {
    (family_quantile(alpha, m, df) + t_quantile(POWER, df)) * se
}

/// Where a metric stands against the threshold after a round of an adaptive measurement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Decision {
    /// Its interval lies entirely above +threshold: a regression.
    Regression,
    /// Its interval lies entirely below +threshold: no practical regression.
    NoRegression,
    /// Its interval contains +threshold: more measurement could tell.
    Undecided,
}

/// The stopping rule: the interval `change ± q × se` (percent of the base; `q` the family's
/// Bonferroni quantile) against `+threshold`.
pub(crate) fn decide(change_pct: f64, se_pct: f64, q: f64, threshold_pct: f64) -> Decision {
    if !(se_pct.is_finite() && q.is_finite()) {
        return Decision::Undecided;
    }
    if change_pct - q * se_pct > threshold_pct {
        Decision::Regression
    } else if change_pct + q * se_pct < threshold_pct {
        Decision::NoRegression
    } else {
        Decision::Undecided
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn quantiles_match_the_tables() {
        // t(0.975; 9) = 2.262157, t(0.8; 9) = 0.883404, t(0.995; 3) = 5.840909.
        assert!(close(t_quantile(0.975, 9.0), 2.262157, 1e-5));
        assert!(close(t_quantile(0.8, 9.0), 0.883404, 1e-5));
        assert!(close(t_quantile(0.995, 3.0), 5.840909, 1e-5));
        assert!(close(t_quantile(0.975, f64::INFINITY), 1.959964, 1e-5));
        assert!(close(t_quantile(0.975, 1e12), 1.959964, 1e-5));
        assert!(t_quantile(0.975, 0.0).is_nan());
        // Bonferroni over 5 metrics at 0.05: the 0.995 quantile.
        assert!(close(family_quantile(0.05, 5, 3.0), 5.840909, 1e-5));
    }

    /// MDE = (t_{1−α/(2m)} + t_{0.8}) × se, by hand: m = 1, α = 0.05, df = 9, se = 2 µs:
    /// (2.262157 + 0.883404) × 2 = 6.291122.
    #[test]
    fn minimum_detectable_effect_by_hand() {
        assert!(close(mde(2.0, 9.0, 0.05, 1), 6.291122, 1e-5));
        // A larger family asks for more: m = 5 at df = 3 with se = 1: 5.840909 + 0.978472.
        assert!(close(mde(1.0, 3.0, 0.05, 5), 5.840909 + 0.978472, 1e-5));
    }

    /// Two latency series and one CPU series over 3 replicates: each latency series gives
    /// var/reference², the pool is their mean; the CPU pool is its own; degrees of freedom
    /// (3 − 1) × 2 modes = 4, however many series.
    #[test]
    fn relative_variances_pool_within_a_quantity() {
        let a = [1.0, 2.0, 3.0]; // var 1
        let b = [10.0, 14.0, 12.0]; // var 4
        let c = [0.1, 0.3, 0.2]; // var 0.01
        let series = [
            Series {
                quantity: Quantity::Latency,
                values: &a,
                reference: 10.0,
            },
            Series {
                quantity: Quantity::Latency,
                values: &b,
                reference: 100.0,
            },
            Series {
                quantity: Quantity::Cpu,
                values: &c,
                reference: 2.0,
            },
        ];
        let noise = Noise::pooled(series, 2).unwrap();
        let lat = (1.0 / 100.0 + 4.0 / 10_000.0) / 2.0;
        assert!(close(noise.rel_var[&Quantity::Latency], lat, 1e-15));
        assert!(close(noise.rel_var[&Quantity::Cpu], 0.01 / 4.0, 1e-15));
        assert_eq!(noise.df, 4.0);
        assert_eq!(noise.replicates, 3);
        // se of a latency mean with reference 50: √lat × 50 / √3.
        let se = noise.se_of_mean(Quantity::Latency, 50.0).unwrap();
        assert!(close(se, lat.sqrt() * 50.0 / 3f64.sqrt(), 1e-12));
        // One replicate has no variance: nothing to pool.
        assert!(
            Noise::pooled(
                [Series {
                    quantity: Quantity::Cpu,
                    values: &[1.0],
                    reference: 1.0
                }],
                1
            )
            .is_none()
        );
    }

    #[test]
    fn the_interval_decides_against_the_threshold_either_way() {
        let q = 3.0;
        // 12 % ± 3 × 2 %: [6, 18] above 5.
        assert_eq!(decide(12.0, 2.0, q, 5.0), Decision::Regression);
        // 0 % ± 3 × 1.5 %: [−4.5, 4.5] below 5.
        assert_eq!(decide(0.0, 1.5, q, 5.0), Decision::NoRegression);
        // 0 % ± 3 × 2 %: [−6, 6] straddles 5.
        assert_eq!(decide(0.0, 2.0, q, 5.0), Decision::Undecided);
        // A large improvement is decided too: no regression.
        assert_eq!(decide(-30.0, 5.0, q, 5.0), Decision::NoRegression);
        assert_eq!(decide(0.0, f64::NAN, q, 5.0), Decision::Undecided);
    }
}
