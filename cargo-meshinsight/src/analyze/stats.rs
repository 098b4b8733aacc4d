//! Distributions of per-graph figures in bounded memory: exact up to [`EXACT_LIMIT`] values,
//! an HdrHistogram (3 significant digits) beyond.

use hdrhistogram::Histogram;
use serde::Serialize;

/// Values kept exactly; past this many, quantiles come from the histogram.
pub(crate) const EXACT_LIMIT: usize = 100_000;

/// One distribution being collected.
#[derive(Clone, Debug)]
pub(crate) struct Dist {
    /// Units of the histogram per unit of the value (values are stored as integers).
    scale: f64,
    exact: Option<Vec<f64>>,
    hist: Histogram<u64>,
    count: u64,
    sum: f64,
    max: f64,
    min: f64,
}

impl Dist {
    /// A distribution of non-negative values resolved to `1 / scale`.
    pub(crate) fn new(scale: f64) -> Dist {
        Dist {
            scale,
            exact: Some(Vec::new()),
            hist: Histogram::new(3).expect("3 significant digits is valid"),
            count: 0,
            sum: 0.0,
            max: f64::MIN,
            min: f64::MAX,
        }
    }

    /// Records one value (negative values count as 0).
    pub(crate) fn record(&mut self, v: f64) {
        let v = if v.is_finite() { v.max(0.0) } else { 0.0 };
        self.count += 1;
        self.sum += v;
        self.max = self.max.max(v);
        self.min = self.min.min(v);
        self.hist
            .record((v * self.scale).round() as u64)
            .expect("an auto-resizing histogram records any value");
        if let Some(e) = &mut self.exact {
            if e.len() < EXACT_LIMIT {
                e.push(v);
            } else {
                self.exact = None;
            }
        }
    }

    /// Adds every value of `other`.
    pub(crate) fn merge(&mut self, other: &Dist) {
        self.count += other.count;
        self.sum += other.sum;
        self.max = self.max.max(other.max);
        self.min = self.min.min(other.min);
        self.hist
            .add(&other.hist)
            .expect("same-shaped histograms add");
        self.exact = match (self.exact.take(), &other.exact) {
            (Some(mut a), Some(b)) if a.len() + b.len() <= EXACT_LIMIT => {
                a.extend_from_slice(b);
                Some(a)
            }
            _ => None,
        };
    }

    /// Number of values.
    pub(crate) fn count(&self) -> u64 {
        self.count
    }

    /// The `q` quantile from the histogram (within 0.1%), never above the largest value.
    fn histogram_quantile(&self, q: f64) -> f64 {
        (self.hist.value_at_quantile(q) as f64 / self.scale).min(self.max)
    }

    /// The summary reported.
    pub(crate) fn summary(&self) -> Summary {
        let mut sorted = self.exact.clone();
        if let Some(v) = &mut sorted {
            v.sort_by(f64::total_cmp);
        }
        let q = |q: f64| match &sorted {
            _ if self.count == 0 => 0.0,
            Some(v) => nearest_rank(v, q),
            None => self.histogram_quantile(q),
        };
        Summary {
            count: self.count,
            mean: if self.count > 0 {
                self.sum / self.count as f64
            } else {
                0.0
            },
            p25: q(0.25),
            p50: q(0.50),
            p75: q(0.75),
            p90: q(0.90),
            p99: q(0.99),
            max: if self.count > 0 { self.max } else { 0.0 },
            exact: sorted.is_some(),
        }
    }

    /// Points of the CDF: `(value, fraction at or below it)`, at most `n + 1` of them.
    pub(crate) fn cdf(&self, n: usize) -> Vec<(f64, f64)> {
        if self.count == 0 {
            return Vec::new();
        }
        let mut sorted = self.exact.clone();
        if let Some(v) = &mut sorted {
            v.sort_by(f64::total_cmp);
        }
        (0..=n)
            .map(|i| {
                let q = i as f64 / n as f64;
                let x = match &sorted {
                    Some(v) => nearest_rank(v, q),
                    None => self.histogram_quantile(q),
                };
                (x, q)
            })
            .collect()
    }
}

fn nearest_rank(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
    sorted[rank - 1]
}

/// count, mean, p25/p50/p75/p90/p99, max.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub(crate) struct Summary {
    /// Number of graphs.
    pub(crate) count: u64,
    /// Mean.
    pub(crate) mean: f64,
    /// 25th percentile.
    pub(crate) p25: f64,
    /// Median.
    pub(crate) p50: f64,
    /// 75th percentile.
    pub(crate) p75: f64,
    /// 90th percentile.
    pub(crate) p90: f64,
    /// 99th percentile.
    pub(crate) p99: f64,
    /// Largest value.
    pub(crate) max: f64,
    /// Whether the percentiles are exact (else within 0.1% from the histogram).
    pub(crate) exact: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_quantiles_use_the_nearest_rank() {
        let mut d = Dist::new(1000.0);
        for v in 1..=100 {
            d.record(v as f64);
        }
        let s = d.summary();
        assert_eq!(s.count, 100);
        assert_eq!(
            (s.p25, s.p50, s.p90, s.p99, s.max),
            (25.0, 50.0, 90.0, 99.0, 100.0)
        );
        assert!((s.mean - 50.5).abs() < 1e-12);
        assert!(s.exact);
    }

    #[test]
    fn past_the_exact_limit_the_histogram_is_within_a_thousandth() {
        let mut a = Dist::new(1000.0);
        let mut b = Dist::new(1000.0);
        for v in 0..EXACT_LIMIT {
            a.record(v as f64 / 10.0);
            b.record((EXACT_LIMIT + v) as f64 / 10.0);
        }
        a.merge(&b);
        let s = a.summary();
        assert!(!s.exact);
        assert_eq!(s.count, 2 * EXACT_LIMIT as u64);
        let want = EXACT_LIMIT as f64 / 10.0; // the median
        assert!((s.p50 - want).abs() / want < 1e-3, "{} vs {want}", s.p50);
        assert_eq!(s.max, (2 * EXACT_LIMIT - 1) as f64 / 10.0);
    }
}
