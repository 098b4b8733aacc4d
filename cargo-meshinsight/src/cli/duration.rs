//! The one grammar of a duration flag: humantime (`2s`, `500ms`, `1m 30s`, `1.5s`), or a
//! bare number of seconds (`2`, `0.5`) as the flags that took seconds accepted before.

use std::time::Duration;

/// A duration flag's value that is not one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum DurationError {
    /// Neither a humantime duration nor a number of seconds.
    #[error("invalid duration `{0}` (expected e.g. 5s, 500ms, 1m, or a number of seconds)")]
    Syntax(String),
    /// Zero, negative or not finite.
    #[error("invalid duration `{0}` (must be positive)")]
    NotPositive(String),
    /// More than [`MAX`].
    #[error("invalid duration `{0}` (at most a day)")]
    TooLong(String),
}

/// The longest duration a flag takes: a day (a larger value is a typo).
const MAX: Duration = Duration::from_secs(24 * 3600);

/// Parses a positive duration of at most a day.
pub(crate) fn parse(text: &str) -> Result<Duration, DurationError> {
    let trimmed = text.trim();
    let d = match trimmed.parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs > 0.0 => {
            Duration::try_from_secs_f64(secs).map_err(|_| DurationError::TooLong(text.into()))?
        }
        Ok(_) => return Err(DurationError::NotPositive(text.into())),
        Err(_) => humantime::parse_duration(trimmed).map_err(|e| match e {
            humantime::DurationError::NumberOverflow => DurationError::TooLong(text.into()),
            _ if trimmed.starts_with('-') => DurationError::NotPositive(text.into()),
            _ => DurationError::Syntax(text.into()),
        })?,
    };
    if d.is_zero() {
        return Err(DurationError::NotPositive(text.into()));
    }
    if d > MAX {
        return Err(DurationError::TooLong(text.into()));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn humantime_and_bare_seconds_parse() {
        assert_eq!(parse("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse("1m 30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("1.5s"), Ok(Duration::from_millis(1500)));
    }

    #[test]
    fn nonsense_zero_negative_and_huge_are_refused() {
        assert!(matches!(parse("soon"), Err(DurationError::Syntax(_))));
        assert!(matches!(parse("5 parsecs"), Err(DurationError::Syntax(_))));
        assert!(matches!(parse("-1s"), Err(DurationError::NotPositive(_))));
        assert!(matches!(parse("-1"), Err(DurationError::NotPositive(_))));
        assert!(matches!(parse("0s"), Err(DurationError::NotPositive(_))));
        assert!(matches!(parse("0"), Err(DurationError::NotPositive(_))));
        assert!(matches!(parse("NaN"), Err(DurationError::NotPositive(_))));
        assert!(matches!(parse("1e308"), Err(DurationError::TooLong(_))));
        assert!(matches!(parse("2days"), Err(DurationError::TooLong(_))));
        assert!(matches!(
            parse("99999999999999999999999s"),
            Err(DurationError::TooLong(_))
        ));
    }
}
