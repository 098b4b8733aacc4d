//! Small helpers several stages share: hashing and names, order statistics.

pub(crate) mod file;
pub(crate) mod hash;
pub(crate) mod stats;
pub(crate) mod text;

/// A number for an error message: as written up to a million, in exponent form beyond (so
/// that 1e308 is not printed as 309 digits).
pub(crate) fn shown(v: f64) -> String {
    if v.is_finite() && v.abs() >= 1e6 {
        format!("{v:e}")
    } else {
        v.to_string()
    }
}
