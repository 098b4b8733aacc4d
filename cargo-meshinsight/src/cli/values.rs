//! Value parsers for numeric flags. A value out of its documented range (docs/exit-codes.md,
//! "Flag values") is a usage error that names the flag, exit code 2, as clap's own are;
//! it never reaches a command to be blamed on a file.

use crate::ecg::{MAX_BYTES, MAX_RATE};
use crate::traces::stream::MAX_THREADS;

/// Why a flag's value was refused (clap prints it after the flag and the value).
#[derive(Debug, thiserror::Error)]
#[error("must be {expected}")]
pub(crate) struct OutOfRange {
    expected: String,
}

fn out_of_range(expected: impl Into<String>) -> OutOfRange {
    OutOfRange {
        expected: expected.into(),
    }
}

/// A whole number in `min..=max`, named `what` in the error.
fn integer_in(s: &str, min: u64, max: u64, what: &str) -> Result<u64, OutOfRange> {
    s.trim()
        .parse::<u64>()
        .ok()
        .filter(|v| (min..=max).contains(v))
        .ok_or_else(|| out_of_range(format!("a whole number of {what} from {min} to {max}")))
}

/// A finite number in `min..=max` (above `min` when `open_min`), named `what` in the error.
fn number_in(s: &str, min: f64, open_min: bool, max: f64, what: &str) -> Result<f64, OutOfRange> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| out_of_range(format!("a number of {what}")))?;
    let above_min = if open_min { v > min } else { v >= min };
    if v.is_finite() && above_min && v <= max {
        Ok(v)
    } else {
        let low = if open_min { "above" } else { "from" };
        Err(out_of_range(format!(
            "a number of {what} {low} {min} to {max:e}"
        )))
    }
}

/// A message size, bytes: 0 to 1 GiB.
pub(crate) fn bytes(s: &str) -> Result<u64, OutOfRange> {
    integer_in(s, 0, MAX_BYTES, "bytes")
}

/// A message size that may be fractional, bytes: above 0, up to 1 GiB.
pub(crate) fn positive_bytes(s: &str) -> Result<f64, OutOfRange> {
    number_in(s, 0.0, true, MAX_BYTES as f64, "bytes")
}

/// A rate, requests per second: 0 to 10^9.
pub(crate) fn rate(s: &str) -> Result<f64, OutOfRange> {
    number_in(s, 0.0, false, MAX_RATE, "requests per second")
}

/// Worker threads: 1 to [`MAX_THREADS`].
pub(crate) fn threads(s: &str) -> Result<usize, OutOfRange> {
    integer_in(s, 1, MAX_THREADS as u64, "threads").map(|v| v as usize)
}

/// The most files `generate` spreads its rows over (each is open, with a buffer, at once).
pub(crate) const MAX_FILES: u64 = 256;

/// Output files of `generate`: 1 to [`MAX_FILES`].
pub(crate) fn files(s: &str) -> Result<usize, OutOfRange> {
    integer_in(s, 1, MAX_FILES, "files").map(|v| v as usize)
}

/// A count that must be at least one (`--graphs`, `--limit`).
pub(crate) fn count(s: &str) -> Result<u64, OutOfRange> {
    integer_in(s, 1, u64::MAX, "items")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_out_of_range_are_refused_with_the_range() {
        assert_eq!(bytes("100").unwrap(), 100);
        assert_eq!(
            bytes("99999999999").unwrap_err().to_string(),
            "must be a whole number of bytes from 0 to 1073741824"
        );
        assert!(bytes("18446744073709551615").is_err());
        assert!(bytes("-1").is_err());
        assert_eq!(rate("30000").unwrap(), 30000.0);
        for bad in ["NaN", "inf", "-5", "1e10", "x"] {
            assert!(rate(bad).is_err(), "{bad}");
        }
        assert_eq!(
            rate("-5").unwrap_err().to_string(),
            "must be a number of requests per second from 0 to 1e9"
        );
        assert!(positive_bytes("0").is_err());
        assert_eq!(positive_bytes("0.5").unwrap(), 0.5);
        assert!(threads("0").is_err() && threads("1025").is_err());
        assert_eq!(threads("1024").unwrap(), 1024);
        assert!(files("0").is_err() && files("257").is_err());
        assert!(count("0").is_err());
    }
}
