//! Ordinary least squares for the per-component models, and the tests of the
//! paper's assumptions that a profile reports: linearity in size (A2, a lack-of-fit F test
//! over repeated sizes) and independence of per-request CPU from rate (A3, a slope t test).

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, FisherSnedecor, StudentsT};

use super::LinearModel;

/// A fit could not be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum FitError {
    /// No points at all.
    #[error("no points to fit")]
    Empty,
    /// A point is not a finite number.
    #[error("point {index} is not finite ({x}, {y})")]
    NotFinite {
        /// Its index.
        index: usize,
        /// Its x.
        x: f64,
        /// Its y.
        y: f64,
    },
}

/// `y = base + slope * x` by ordinary least squares, with standard errors, the covariance of
/// the two coefficients, R² and n. With a single distinct x the model is the mean (slope 0,
/// no slope error); with two points the errors are unknown (no degrees of freedom left).
pub(crate) fn ols(points: &[(f64, f64)]) -> Result<LinearModel, FitError> {
    if points.is_empty() {
        return Err(FitError::Empty);
    }
    if let Some((index, &(x, y))) = points
        .iter()
        .enumerate()
        .find(|(_, (x, y))| !(x.is_finite() && y.is_finite()))
    {
        return Err(FitError::NotFinite { index, x, y });
    }
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let syy: f64 = points.iter().map(|p| (p.1 - my).powi(2)).sum();
    let flat = sxx <= f64::EPSILON * mx.abs().max(1.0) * n;
    let slope = if flat { 0.0 } else { sxy / sxx };
    let base = my - slope * mx;
    let sse: f64 = points
        .iter()
        .map(|p| (p.1 - base - slope * p.0).powi(2))
        .sum();
    let params = if flat { 1.0 } else { 2.0 };
    let dof = n - params;
    let r2 = if syy > 0.0 {
        (1.0 - sse / syy).clamp(0.0, 1.0)
    } else {
        1.0
    };
    let mut model = LinearModel {
        base_us: base,
        per_byte_us: slope,
        r2: Some(r2),
        n: Some(points.len() as u64),
        ..LinearModel::default()
    };
    if dof > 0.0 {
        let s2 = sse / dof;
        if flat {
            model.base_se_us = Some((s2 / n).sqrt());
        } else {
            model.base_se_us = Some((s2 * (1.0 / n + mx * mx / sxx)).sqrt());
            model.per_byte_se_us = Some((s2 / sxx).sqrt());
            model.cov = Some(-mx * s2 / sxx);
        }
    }
    Ok(model)
}

/// The outcome of a statistical check of an assumption.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// The test statistic (F or t).
    pub statistic: f64,
    /// Its p-value; small means the assumption is contradicted by the data.
    pub p_value: f64,
    /// Whether the assumption holds at the 1% level.
    pub holds: bool,
}

/// The points of one distinct x: how many, their mean and their scatter around it.
struct SizeMean {
    x: f64,
    n: f64,
    mean: f64,
    /// Σ (y − mean)².
    ss_within: f64,
}

/// The points grouped by distinct x, in increasing x.
fn size_means(points: &[(f64, f64)]) -> Vec<SizeMean> {
    let mut xs: Vec<f64> = points.iter().map(|p| p.0).collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    xs.into_iter()
        .map(|x| {
            let ys: Vec<f64> = points.iter().filter(|p| p.0 == x).map(|p| p.1).collect();
            let n = ys.len() as f64;
            let mean = ys.iter().sum::<f64>() / n;
            SizeMean {
                x,
                n,
                mean,
                ss_within: ys.iter().map(|y| (y - mean).powi(2)).sum(),
            }
        })
        .collect()
}

/// Lack-of-fit F test of a straight line, for points with repeated x values (A2).
///
/// Splits the residual sum of squares into pure error (scatter around each x's mean) and lack of
/// fit (distance of those means from the line). `None` without at least three distinct x values
/// and some replication.
pub(crate) fn lack_of_fit(points: &[(f64, f64)]) -> Option<Check> {
    let model = ols(points).ok()?;
    let groups = size_means(points);
    let c = groups.len();
    let n = points.len();
    if c < 3 || n <= c {
        return None;
    }
    let ss_pe: f64 = groups.iter().map(|g| g.ss_within).sum();
    let ss_lof: f64 = groups
        .iter()
        .map(|g| g.n * (g.mean - model.at(g.x)).powi(2))
        .sum();
    let (d1, d2) = ((c - 2) as f64, (n - c) as f64);
    // Rounding leaves sums of squares of exact data slightly above zero.
    let my = points.iter().map(|p| p.1).sum::<f64>() / n as f64;
    let tiny = 1e-12
        * points
            .iter()
            .map(|p| (p.1 - my).powi(2))
            .sum::<f64>()
            .max(1e-300);
    if ss_pe <= tiny {
        let fits = ss_lof <= tiny;
        return Some(Check {
            statistic: if fits { 0.0 } else { f64::MAX },
            p_value: if fits { 1.0 } else { 0.0 },
            holds: fits,
        });
    }
    let f = (ss_lof / d1) / (ss_pe / d2);
    let p = 1.0 - FisherSnedecor::new(d1, d2).ok()?.cdf(f);
    Some(Check {
        statistic: f,
        p_value: p,
        holds: p >= 0.01,
    })
}

/// R² of the straight line through `points` judged on the means of each distinct x (weighted
/// by how many points each mean has): how much of the variation of the size means the line
/// explains. Unlike the R² of the points, run-to-run noise that averages out does not lower
/// it, so it says whether the line describes how the cost grows with size (A2), not how noisy
/// the runs were. `None` without three distinct x values or when the means do not vary.
pub(crate) fn r2_of_means(points: &[(f64, f64)]) -> Option<f64> {
    let model = ols(points).ok()?;
    let groups = size_means(points);
    if groups.len() < 3 {
        return None;
    }
    let my = points.iter().map(|p| p.1).sum::<f64>() / points.len() as f64;
    let ss_means: f64 = groups.iter().map(|g| g.n * (g.mean - my).powi(2)).sum();
    let ss_off_line: f64 = groups
        .iter()
        .map(|g| g.n * (g.mean - model.at(g.x)).powi(2))
        .sum();
    (ss_means > 0.0).then(|| (1.0 - ss_off_line / ss_means).clamp(0.0, 1.0))
}

/// t test that the slope of a fit is zero (A3: per-request CPU does not depend on rate).
pub(crate) fn slope_is_zero(model: &LinearModel) -> Option<Check> {
    let se = model.per_byte_se_us.filter(|s| *s > 0.0)?;
    let dof = model.n?.checked_sub(2).filter(|d| *d > 0)? as f64;
    let t = model.per_byte_us / se;
    let dist = StudentsT::new(0.0, 1.0, dof).ok()?;
    let p = 2.0 * (1.0 - dist.cdf(t.abs()));
    Some(Check {
        statistic: t,
        p_value: p,
        holds: p >= 0.01,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ols_recovers_a_line_and_textbook_errors() {
        // y = 1 + 2x + e with e = (+1, -1, -1, +1) at x = 0..3.
        let pts = [(0.0, 2.0), (1.0, 2.0), (2.0, 4.0), (3.0, 8.0)];
        let m = ols(&pts).unwrap();
        // x̄ = 1.5, ȳ = 4, Sxx = 5, Sxy = 10: slope 2, base 1.
        assert!((m.per_byte_us - 2.0).abs() < 1e-12);
        assert!((m.base_us - 1.0).abs() < 1e-12);
        // Residuals are the e above: SSE = 4.
        let sse: f64 = pts.iter().map(|&(x, y)| (y - m.at(x)).powi(2)).sum();
        assert!((sse - 4.0).abs() < 1e-9, "{sse}");
        let s2 = sse / 2.0;
        assert!((m.per_byte_se_us.unwrap() - (s2 / 5.0).sqrt()).abs() < 1e-12);
        assert!((m.base_se_us.unwrap() - (s2 * (0.25 + 2.25 / 5.0)).sqrt()).abs() < 1e-12);
        assert!((m.cov.unwrap() + 1.5 * s2 / 5.0).abs() < 1e-12);
        // SST = 24: R² = 1 - 4/24.
        assert!((m.r2.unwrap() - (1.0 - 4.0 / 24.0)).abs() < 1e-12);
        assert_eq!(m.n, Some(4));
    }

    #[test]
    fn one_distinct_size_fits_the_mean() {
        let m = ols(&[(100.0, 1.0), (100.0, 3.0)]).unwrap();
        assert_eq!((m.base_us, m.per_byte_us), (2.0, 0.0));
        assert!((m.base_se_us.unwrap() - 1.0).abs() < 1e-12);
        assert_eq!(m.per_byte_se_us, None);
        assert_eq!(ols(&[]), Err(FitError::Empty));
        assert!(matches!(
            ols(&[(1.0, f64::NAN)]),
            Err(FitError::NotFinite { index: 0, .. })
        ));
    }

    #[test]
    fn lack_of_fit_flags_a_curve_and_passes_a_line() {
        let mut line = Vec::new();
        let mut curve = Vec::new();
        for (i, x) in [100.0, 1000.0, 2000.0, 3000.0, 4000.0]
            .into_iter()
            .enumerate()
        {
            for (j, e) in [-0.3, 0.1, 0.2].into_iter().enumerate() {
                let noise = e * if (i + j) % 2 == 0 { 1.0 } else { -1.0 };
                line.push((x, 10.0 + 0.01 * x + noise));
                curve.push((x, 10.0 + 0.01 * x + 2e-6 * x * x + noise));
            }
        }
        assert!(lack_of_fit(&line).unwrap().holds);
        let c = lack_of_fit(&curve).unwrap();
        assert!(!c.holds && c.p_value < 1e-6, "{c:?}");
        assert_eq!(lack_of_fit(&line[..3]), None);
    }

    #[test]
    fn r2_of_means_judges_the_line_not_the_noise() {
        // Means 2, 5, 8 on a line, each with ±3 of scatter: the runs' R² is low, the means'
        // is exactly 1.
        let mut noisy = Vec::new();
        for (x, mean) in [(0.0, 2.0), (1.0, 5.0), (2.0, 8.0)] {
            for e in [-3.0, 3.0] {
                noisy.push((x, mean + e));
            }
        }
        assert!(ols(&noisy).unwrap().r2.unwrap() < 0.6);
        assert!((r2_of_means(&noisy).unwrap() - 1.0).abs() < 1e-12);
        // Means 0, 3, 0 (weights 1, 1, 1): the line is flat at 1; SS of means = 6, off the
        // line = 1 + 4 + 1 = 6, so the line explains none of it.
        let bent = [(0.0, 0.0), (1.0, 3.0), (2.0, 0.0)];
        assert!(r2_of_means(&bent).unwrap().abs() < 1e-12);
        // Two sizes: a line always goes through two means, so nothing is tested.
        assert_eq!(r2_of_means(&noisy[..4]), None);
        // Means that do not vary: nothing to explain.
        assert_eq!(r2_of_means(&[(0.0, 1.0), (1.0, 1.0), (2.0, 1.0)]), None);
    }

    #[test]
    fn slope_test() {
        let flat = ols(&[(1.0, 5.0), (2.0, 5.2), (3.0, 4.9), (4.0, 5.1)]).unwrap();
        assert!(slope_is_zero(&flat).unwrap().holds);
        let steep = ols(&[(1.0, 1.0), (2.0, 2.1), (3.0, 2.9), (4.0, 4.0)]).unwrap();
        assert!(!slope_is_zero(&steep).unwrap().holds);
    }
}
