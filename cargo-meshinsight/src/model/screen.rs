//! Screening of run pairs before the fits: a pair disturbed by something else on the machine
//! (a wake-up delayed by a busy vCPU, another job's burst) is an outlier against the line that
//! the other pairs of its group follow. Least squares gives such a point full weight; one of
//! them moves a coefficient by more than the whole run-to-run spread of the rest.
//!
//! The rule: what a point should be is the median of the other points of its size, when its
//! size has at least [`MIN_PER_SIZE`] points, and otherwise a Theil–Sen line over all sizes
//! (median of the pairwise slopes, median intercept, which ignores up to 29 % of bad points).
//! Leave out the points whose modified z-score of the residual (Iglewicz and Hoaglin:
//! `0.6745 · (r − median r) / MAD`, the MAD pooled over the group, the mean absolute deviation
//! when the MAD is zero) is over 3.5. Needs at least
//! [`MIN_POINTS`] points; the profile lists every point it left out (`checks.outliers`).
//!
//! A point is judged against its own size where that is possible, so that screening finds
//! disturbed runs and never a size whose cost is off the line: that is a finding about
//! linearity (A2, the lack-of-fit test), and leaving the whole size out would hide it.

use serde::{Deserialize, Serialize};

/// Fewer points than this are not screened: the median absolute deviation of four or fewer
/// residuals cannot tell one bad point from the spread.
pub(crate) const MIN_POINTS: usize = 5;

/// A size with at least this many points is its own reference: the median of four or more
/// points is not moved by one disturbed run.
pub(crate) const MIN_PER_SIZE: usize = 4;

/// The modified z-score over which a point is an outlier (Iglewicz and Hoaglin, 1993).
pub(crate) const Z_LIMIT: f64 = 3.5;

/// A run pair left out of the fits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outlier {
    /// `tcp`, `http+lua`, ...
    pub config: String,
    /// `closed` or `open 50%`.
    pub load: String,
    /// Payload bytes.
    pub size: u64,
    /// The repeat of the run pair.
    pub repeat: u32,
    /// What was screened.
    pub statistic: Statistic,
    /// Its value, µs per request.
    pub value_us: f64,
    /// What the robust line expects at this size, µs per request.
    pub expected_us: f64,
    /// The modified z-score.
    pub z: f64,
}

/// What a run pair is screened by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Statistic {
    /// Closed loop: the sum of the components' path times.
    Path,
    /// Open loop: the sum of the components' CPU per request.
    Cpu,
}

impl std::fmt::Display for Statistic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Statistic::Path => "path",
            Statistic::Cpu => "cpu",
        })
    }
}

/// The median; NaN for no values (nothing is then an outlier).
fn median(v: Vec<f64>) -> f64 {
    crate::util::stats::median(&v).unwrap_or(f64::NAN)
}

/// `(base, slope)` of the Theil–Sen line through `points`; slope 0 with one distinct x.
pub(crate) fn theil_sen(points: &[(f64, f64)]) -> (f64, f64) {
    let mut slopes = Vec::new();
    for (i, a) in points.iter().enumerate() {
        for b in &points[i + 1..] {
            if b.0 != a.0 {
                slopes.push((b.1 - a.1) / (b.0 - a.0));
            }
        }
    }
    let slope = if slopes.is_empty() {
        0.0
    } else {
        median(slopes)
    };
    let base = median(points.iter().map(|(x, y)| y - slope * x).collect());
    (base, slope)
}

/// Per point: `Some((expected, z))` when it is an outlier, `None` when it is kept. Nothing is
/// left out of fewer than [`MIN_POINTS`] points, or when the residuals have no spread at all.
pub(crate) fn outliers(points: &[(f64, f64)]) -> Vec<Option<(f64, f64)>> {
    let mut out = vec![None; points.len()];
    if points.len() < MIN_POINTS
        || points
            .iter()
            .any(|(x, y)| !(x.is_finite() && y.is_finite()))
    {
        return out;
    }
    let (base, slope) = theil_sen(points);
    let expected: Vec<f64> = points
        .iter()
        .map(|&(x, _)| {
            let same: Vec<f64> = points.iter().filter(|p| p.0 == x).map(|p| p.1).collect();
            if same.len() >= MIN_PER_SIZE {
                median(same)
            } else {
                base + slope * x
            }
        })
        .collect();
    let residuals: Vec<f64> = points
        .iter()
        .zip(&expected)
        .map(|((_, y), e)| y - e)
        .collect();
    let centre = median(residuals.clone());
    let deviations: Vec<f64> = residuals.iter().map(|r| (r - centre).abs()).collect();
    let mad = median(deviations.clone());
    // When more than half the points sit exactly on their reference the MAD is zero; the
    // usual fallback scales by the mean absolute deviation instead (1.2533 · mean AD estimates
    // σ as 1.4826 · MAD does).
    let scale = if mad > 0.0 {
        mad / 0.6745
    } else {
        1.253314 * deviations.iter().sum::<f64>() / deviations.len() as f64
    };
    if scale.is_nan() || scale <= 0.0 {
        return out;
    }
    for (i, r) in residuals.iter().enumerate() {
        let z = (r - centre) / scale;
        if z.abs() > Z_LIMIT {
            out[i] = Some((expected[i], z));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn theil_sen_recovers_a_line_despite_one_wild_point() {
        let mut pts: Vec<(f64, f64)> = (0..9).map(|i| (i as f64, 2.0 + 0.5 * i as f64)).collect();
        pts[4].1 = 100.0;
        let (base, slope) = theil_sen(&pts);
        assert!((slope - 0.5).abs() < 1e-9, "{slope}");
        assert!((base - 2.0).abs() < 1e-9, "{base}");
    }

    #[test]
    fn a_disturbed_repeat_is_left_out_and_the_spread_is_kept() {
        // Three sizes, four repeats: ordinary spread of ±1 µs and one run hit by a 150 µs
        // wake-up delay.
        let ys = [
            [80.0, 81.0, 79.5, 80.5],
            [90.0, 89.0, 91.0, 90.5],
            [100.0, 101.0, 250.0, 99.0],
        ];
        let pts: Vec<(f64, f64)> = [100.0, 2000.0, 4000.0]
            .iter()
            .zip(ys)
            .flat_map(|(x, row)| row.map(|y| (*x, y)))
            .collect();
        let o = outliers(&pts);
        let left_out: Vec<usize> = (0..pts.len()).filter(|i| o[*i].is_some()).collect();
        assert_eq!(left_out, vec![10]);
        let (expected, z) = o[10].unwrap();
        assert!((expected - 100.0).abs() < 2.0, "{expected}");
        assert!(z > Z_LIMIT);
    }

    #[test]
    fn a_size_off_the_line_is_kept_and_a_lone_point_is_judged_by_the_line() {
        // Four repeats at each of three sizes; the middle size sits 12 µs below the line
        // through the others: no point of it is an outlier.
        let ys = [
            [40.0, 41.0, 39.5, 40.5],
            [38.0, 37.0, 38.5, 37.5],
            [60.0, 61.0, 59.0, 60.5],
        ];
        let pts: Vec<(f64, f64)> = [100.0, 30000.0, 60000.0]
            .iter()
            .zip(ys)
            .flat_map(|(x, row)| row.map(|y| (*x, y)))
            .collect();
        assert!(outliers(&pts).iter().all(Option::is_none));
        // Two points per size (too few to be their own reference): the line judges them.
        let pts = [
            (100.0, 10.0),
            (100.0, 10.5),
            (2000.0, 11.0),
            (2000.0, 60.0),
            (4000.0, 12.0),
            (4000.0, 12.4),
        ];
        let o = outliers(&pts);
        let left_out: Vec<usize> = (0..pts.len()).filter(|i| o[*i].is_some()).collect();
        assert_eq!(left_out, vec![3]);
    }

    #[test]
    fn too_few_points_or_no_spread_leave_everything_in() {
        let four = [(1.0, 1.0), (2.0, 2.0), (3.0, 3.0), (4.0, 400.0)];
        assert!(outliers(&four).iter().all(Option::is_none));
        let flat = [(1.0, 5.0); 6];
        assert!(outliers(&flat).iter().all(Option::is_none));
    }
}
