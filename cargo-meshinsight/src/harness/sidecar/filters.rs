//! The builtin sidecar's HTTP filters, applied to every request of the http and grpc modes in
//! the order given, like Envoy's HTTP filter chain:
//!
//! - `fault`: aborts a request with 503 at a configured percentage (the harness asks for 0 %,
//!   like its Envoy configuration: the filter still draws a number per request);
//! - `ratelimit`: a local token-bucket rate limit (governor's GCRA); a request over the limit
//!   gets 429. The harness's limit is 10⁹ requests per second, like its Envoy configuration, so
//!   the filter checks every request and never rejects one.
//!
//! Envoy's `tap`, `lua` and `wasm` filters have no builtin counterpart.

use std::num::NonZeroU32;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::vocab::Filter;

/// The filters the builtin sidecar has.
pub(crate) const BUILTIN_FILTERS: [Filter; 2] = [Filter::Fault, Filter::Ratelimit];

/// How the filters are configured (`__sidecar --fault-abort-percent`, `--ratelimit-rps`).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct FilterSettings {
    /// Share of requests the fault filter aborts, 0–100.
    pub fault_abort_percent: f64,
    /// Requests per second (and burst) the rate limit lets through.
    pub ratelimit_rps: u32,
}

impl Default for FilterSettings {
    fn default() -> Self {
        FilterSettings {
            fault_abort_percent: 0.0,
            ratelimit_rps: 1_000_000_000,
        }
    }
}

/// A filter chain the builtin sidecar cannot build.
#[derive(Debug, PartialEq, thiserror::Error)]
pub(crate) enum FilterError {
    /// A fault percentage outside 0..=100.
    #[error("the fault abort percentage {0} is not in 0..=100")]
    AbortPercent(f64),
    /// A rate limit of 0.
    #[error("the rate limit must be at least 1 request per second")]
    ZeroRate,
    /// A filter only Envoy has.
    #[error("the builtin sidecar has no {0} filter (it has fault and ratelimit)")]
    NotBuiltin(Filter),
}

enum Stage {
    Fault { abort_percent: f64 },
    Ratelimit(DefaultDirectRateLimiter),
}

/// A configured filter chain; [`FilterChain::on_request`] runs it.
pub(crate) struct FilterChain {
    stages: Vec<Stage>,
}

impl std::fmt::Debug for FilterChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self
            .stages
            .iter()
            .map(|s| match s {
                Stage::Fault { .. } => "fault",
                Stage::Ratelimit(_) => "ratelimit",
            })
            .collect();
        f.debug_struct("FilterChain")
            .field("stages", &names)
            .finish()
    }
}

impl FilterChain {
    /// The chain of `filters` in order. Errors name a filter the builtin sidecar lacks or a
    /// setting out of range.
    pub(crate) fn new(filters: &[Filter], settings: &FilterSettings) -> Result<Self, FilterError> {
        let mut stages = Vec::with_capacity(filters.len());
        for f in filters {
            stages.push(match f {
                Filter::Fault => {
                    let p = settings.fault_abort_percent;
                    if !(0.0..=100.0).contains(&p) {
                        return Err(FilterError::AbortPercent(p));
                    }
                    Stage::Fault { abort_percent: p }
                }
                Filter::Ratelimit => {
                    let rps =
                        NonZeroU32::new(settings.ratelimit_rps).ok_or(FilterError::ZeroRate)?;
                    Stage::Ratelimit(RateLimiter::direct(Quota::per_second(rps)))
                }
                other => return Err(FilterError::NotBuiltin(*other)),
            });
        }
        Ok(FilterChain { stages })
    }

    /// Runs the chain for one request: `None` lets it through, `Some(status)` answers it
    /// with that HTTP status instead of forwarding it.
    pub(crate) fn on_request(&self) -> Option<u16> {
        for stage in &self.stages {
            match stage {
                Stage::Fault { abort_percent } => {
                    if rand::random::<f64>() * 100.0 < *abort_percent {
                        return Some(503);
                    }
                }
                Stage::Ratelimit(limiter) => {
                    if limiter.check().is_err() {
                        return Some(429);
                    }
                }
            }
        }
        None
    }
}

/// The HTTP/1.1 answer of a rejected request (empty body, keep-alive).
pub(crate) fn http_rejection(status: u16) -> Vec<u8> {
    let reason = match status {
        429 => "Too Many Requests",
        503 => "Service Unavailable",
        _ => "Rejected",
    };
    format!("HTTP/1.1 {status} {reason}\r\ncontent-length: 0\r\n\r\n").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(filters: &[Filter], fault: f64, rps: u32) -> FilterChain {
        FilterChain::new(
            filters,
            &FilterSettings {
                fault_abort_percent: fault,
                ratelimit_rps: rps,
            },
        )
        .unwrap()
    }

    #[test]
    fn the_harness_configuration_lets_every_request_through() {
        let c = FilterChain::new(&BUILTIN_FILTERS, &FilterSettings::default()).unwrap();
        assert!((0..100_000).all(|_| c.on_request().is_none()));
    }

    #[test]
    fn fault_aborts_about_the_configured_share() {
        assert!((0..1000).all(|_| chain(&[Filter::Fault], 100.0, 1).on_request() == Some(503)));
        let c = chain(&[Filter::Fault], 30.0, 1);
        let aborted = (0..20_000).filter(|_| c.on_request() == Some(503)).count();
        // 30 % of 20,000: sd ≈ 65, so ±600 is about 9 sd.
        assert!((5400..=6600).contains(&aborted), "{aborted}");
    }

    #[test]
    fn ratelimit_rejects_past_the_burst() {
        let c = chain(&[Filter::Ratelimit], 0.0, 10);
        let passed = (0..100).filter(|_| c.on_request().is_none()).count();
        assert_eq!(passed, 10);
        assert_eq!(c.on_request(), Some(429));
    }

    #[test]
    fn the_first_rejecting_filter_answers() {
        let c = chain(&[Filter::Fault, Filter::Ratelimit], 100.0, 1);
        assert_eq!(c.on_request(), Some(503));
        let c = chain(&[Filter::Ratelimit, Filter::Fault], 100.0, 1);
        assert_eq!(c.on_request(), Some(503)); // one token: the rate limit lets it through
        assert_eq!(c.on_request(), Some(429));
    }

    #[test]
    fn bad_settings_and_missing_filters_are_errors() {
        let bad = |f: &[Filter], p, r| {
            FilterChain::new(
                f,
                &FilterSettings {
                    fault_abort_percent: p,
                    ratelimit_rps: r,
                },
            )
            .err()
            .unwrap()
            .to_string()
        };
        assert!(bad(&[Filter::Lua], 0.0, 1).contains("no lua filter"));
        assert!(bad(&[Filter::Fault], 101.0, 1).contains("0..=100"));
        assert!(bad(&[Filter::Ratelimit], 0.0, 0).contains("at least 1"));
    }
}
