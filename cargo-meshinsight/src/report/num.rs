//! How every renderer writes numbers, so that a column reads the same from top to bottom:
//! latencies (µs) and CPU (cores) with three significant digits in plain decimal notation
//! (`960` beside `2400`, `0.00311` cores, never `960.0` or `3.11e-3`), the integer part never
//! rounded away (`2647`, not `2650`), and percentages with one decimal.

/// The most decimals a value below one is given: smaller values print as zero.
const MAX_DECIMALS: usize = 6;

/// `v` with at least three significant digits, in plain decimal notation.
///
/// The integer part is kept whole (`1156`); below 1000 the value is rounded to three
/// significant digits (`825.8` → `826`, `9.237` → `9.24`, `0.003114` → `0.00311`); below
/// 10⁻⁶ it is `0`. A non-finite value prints as `-` (no report shows `NaN` or `inf`).
pub(crate) fn sig3(v: f64) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    let magnitude = v.abs();
    if magnitude < 0.5 * 10f64.powi(-(MAX_DECIMALS as i32)) {
        return "0".into();
    }
    let decimals = |m: f64| (2 - m.log10().floor() as i32).clamp(0, MAX_DECIMALS as i32) as usize;
    let d = decimals(magnitude);
    let text = format!("{v:.d$}");
    // Rounding may carry into the next power of ten (99.96 → "100.0"): one decimal fewer.
    let rounded: f64 = text.parse().unwrap_or(v);
    let again = decimals(rounded.abs().max(f64::MIN_POSITIVE));
    if again < d {
        format!("{v:.again$}")
    } else {
        text
    }
}

/// Latency in µs: [`sig3`].
pub(crate) fn us(v: f64) -> String {
    sig3(v)
}

/// CPU in cores: [`sig3`] (`0.00311`, not millicores: one unit for every CPU column).
pub(crate) fn cores(v: f64) -> String {
    sig3(v)
}

/// A percentage with one decimal, without the `%` sign: `48.2`, `-3.0`.
pub(crate) fn pct(v: f64) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    // `-0.0` rounds to "-0.0": print zero without a sign.
    let text = format!("{v:.1}");
    if text == "-0.0" { "0.0".into() } else { text }
}

/// A signed percentage with one decimal: `+12.5`, `-3.0`, `0.0`.
pub(crate) fn signed_pct(v: f64) -> String {
    let text = pct(v);
    if v.is_finite() && !text.starts_with('-') && text != "0.0" {
        format!("+{text}")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_significant_digits_and_the_whole_integer_part() {
        for (v, text) in [
            (2400.0, "2400"),
            (960.0, "960"),
            (1156.4, "1156"),
            (825.8, "826"),
            (89.14, "89.1"),
            (9.237, "9.24"),
            (0.150, "0.150"),
            (0.0840, "0.0840"),
            (0.003114, "0.00311"),
            (-12.34, "-12.3"),
            (0.0, "0"),
            (1e-9, "0"),
            (99.96, "100"),
            (9.996, "10.0"),
            (0.09996, "0.100"),
            (f64::NAN, "-"),
            (f64::INFINITY, "-"),
        ] {
            assert_eq!(sig3(v), text, "{v}");
        }
    }

    #[test]
    fn no_exponent_ever() {
        let mut v = 1e-6;
        while v < 1e12 {
            let text = sig3(v);
            assert!(!text.contains('e'), "{v}: {text}");
            v *= 1.7;
        }
    }

    #[test]
    fn percentages_have_one_decimal() {
        assert_eq!(pct(48.25), "48.2");
        assert_eq!(pct(-0.01), "0.0");
        assert_eq!(pct(151.3), "151.3");
        assert_eq!(signed_pct(12.5), "+12.5");
        assert_eq!(signed_pct(-3.0), "-3.0");
        assert_eq!(signed_pct(0.01), "0.0");
        assert_eq!(pct(f64::NAN), "-");
    }
}
