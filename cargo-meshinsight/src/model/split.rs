//! Messages larger than the kernel's split size.
//!
//! The linear model prices a traversal at `L + l·s`. A message bigger than what one read or
//! write moves is read and written in several pieces, each paying the fixed cost of a syscall
//! again, so the cost grows in steps, not along a line, and a line fitted over small sizes
//! under-predicts large ones (the paper's Fig. 10).
//!
//! Detection uses the reads and writes per request that the profile's closed-loop runs
//! recorded ([`Run::events`]): through the sidecar minus without it, per size. At the smallest
//! size a traversal takes `base` of them; at size `s` it takes `base · u(s)` with
//! `u(s) = ceil(s / S)`, and the split size `S` is the largest lower bound the measured unit
//! counts allow (`s ≤ S` where one unit was seen, `s / u ≤ S` where `u` were).
//!
//! Model: the cost of the read/write events beyond what the linear model already carries. The
//! linear fit over the profiled sizes implicitly extrapolates the event count along the
//! least-squares line `e(s) = a + b·s` of the measured counts; the correction at size `s` is
//! `(base · u(s) − e(s))` events times the per-event latency (and CPU) measured at the smallest
//! size. It is zero on average over the profiled sizes and grows with every further unit.
//! A profile without event counts, or whose sizes never reached a split, gets no correction.
//!
//! The split is detected once, when a profile is fitted ([`super::assemble`]), and stored with
//! its mode ([`super::ModeProfile::split`]).

use serde::{Deserialize, Serialize};

use crate::model::runs::{Load, Run};
use crate::probe::report::ProbeComponent;
use crate::vocab::SidecarConfig;

/// What the runs of one sidecar configuration say about splitting.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Split {
    /// Payload bytes one read/write unit carries: a message of `s` bytes takes `ceil(s / S)`.
    pub split_bytes: f64,
    /// Reads and writes of one traversal (request and response) of a one-unit message.
    pub base_events: f64,
    /// Least-squares line of the measured events per traversal over size (what the linear
    /// cost model extrapolates).
    pub linear_events: EventLine,
    /// Latency of one read or write on the request path, µs.
    pub latency_per_event_us: f64,
    /// CPU of one read or write, µs.
    pub cpu_per_event_us: f64,
    /// The measured events per traversal, smallest size first.
    pub points: Vec<EventCount>,
}

/// A line `base + per_byte · s` of events per traversal over size.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventLine {
    /// Events at size 0.
    pub base: f64,
    /// Events per byte.
    pub per_byte: f64,
}

/// Reads and writes per traversal measured at one size.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventCount {
    /// Payload bytes.
    pub size: f64,
    /// Reads and writes per traversal (through the sidecar minus without it).
    pub events: f64,
}

impl Split {
    /// Checks what serde cannot: finite numbers in sane ranges, a positive split size.
    pub(crate) fn validate(&self, at: &str) -> Result<(), super::ProfileInvalid> {
        use super::{MAX_BASE_US, Problem, ProfileInvalid};
        // Events per traversal: a million reads and writes per message is not a sidecar.
        const MAX_EVENTS: f64 = 1e6;
        let max_bytes = crate::ecg::MAX_BYTES as f64;
        let check = |name: &str, v: f64, min: f64, max: f64| {
            let at = format!("{at}.{name}");
            if !v.is_finite() {
                Err(ProfileInvalid {
                    at,
                    problem: Problem::NotFinite,
                })
            } else if v < min {
                Err(ProfileInvalid {
                    at,
                    problem: Problem::TooSmall { value: v, min },
                })
            } else if v.abs() > max {
                Err(ProfileInvalid {
                    at,
                    problem: Problem::OutOfRange { value: v, max },
                })
            } else {
                Ok(())
            }
        };
        check("split_bytes", self.split_bytes, 1.0, max_bytes)?;
        check("base_events", self.base_events, 0.0, MAX_EVENTS)?;
        check(
            "linear_events.base",
            self.linear_events.base,
            -MAX_EVENTS,
            MAX_EVENTS,
        )?;
        check(
            "linear_events.per_byte",
            self.linear_events.per_byte,
            -MAX_EVENTS,
            MAX_EVENTS,
        )?;
        check(
            "latency_per_event_us",
            self.latency_per_event_us,
            -MAX_BASE_US,
            MAX_BASE_US,
        )?;
        check(
            "cpu_per_event_us",
            self.cpu_per_event_us,
            -MAX_BASE_US,
            MAX_BASE_US,
        )?;
        for (i, p) in self.points.iter().enumerate() {
            check(&format!("points[{i}].size"), p.size, 0.0, max_bytes)?;
            check(
                &format!("points[{i}].events"),
                p.events,
                -MAX_EVENTS,
                MAX_EVENTS,
            )?;
        }
        Ok(())
    }

    /// Reads and writes per traversal at `s` bytes by the step model.
    pub fn events_at(&self, s: f64) -> f64 {
        self.base_events * (s / self.split_bytes).ceil().max(1.0)
    }

    /// Latency and CPU (µs) a traversal at `s` bytes costs beyond the linear model.
    pub fn correction(&self, s: f64) -> (f64, f64) {
        let line = self.linear_events;
        let extra = self.events_at(s) - (line.base + line.per_byte * s);
        (
            extra * self.latency_per_event_us,
            extra * self.cpu_per_event_us,
        )
    }
}

/// Reads and writes at one size, mean over repetitions (or a difference of two such means).
#[derive(Clone, Copy, Debug)]
struct ReadWrite {
    size: f64,
    events: f64,
    path_us: f64,
    cpu_us: f64,
}

/// Per size, the reads and writes of `runs`, smallest size first.
fn read_write_by_size(runs: &[&Run]) -> Vec<ReadWrite> {
    let mut sizes: Vec<u64> = runs.iter().map(|r| r.size).collect();
    sizes.sort_unstable();
    sizes.dedup();
    let rw = |m: &std::collections::BTreeMap<ProbeComponent, f64>| {
        m.get(&ProbeComponent::Read).copied().unwrap_or(0.0)
            + m.get(&ProbeComponent::Write).copied().unwrap_or(0.0)
    };
    sizes
        .into_iter()
        .map(|size| {
            let at: Vec<&&Run> = runs.iter().filter(|r| r.size == size).collect();
            let n = at.len() as f64;
            let mean = |f: &dyn Fn(&Run) -> f64| at.iter().map(|r| f(r)).sum::<f64>() / n;
            ReadWrite {
                size: size as f64,
                events: mean(&|r| rw(&r.events)),
                path_us: mean(&|r| rw(&r.path_us)),
                cpu_us: mean(&|r| rw(&r.cpu_us)),
            }
        })
        .collect()
}

/// The split of `config`'s sidecar from `runs`, when the runs recorded event counts and some
/// profiled size took more reads and writes than the smallest one.
pub(crate) fn detect(runs: &[Run], config: &SidecarConfig) -> Option<Split> {
    let closed = |through: bool| -> Vec<&Run> {
        runs.iter()
            .filter(|r| {
                r.load == Load::Closed
                    && r.through_sidecar == through
                    && r.config == *config
                    && !r.events.is_empty()
            })
            .collect()
    };
    let through = closed(true);
    // Per sidecar, when the runs went through several in series (`profile --chain`).
    let k = through.first().map_or(1.0, |r| r.sidecars_in_series());
    let with = read_write_by_size(&through);
    let without = read_write_by_size(&closed(false));
    // Through the sidecar minus without it, per size present in both.
    let delta: Vec<ReadWrite> = with
        .iter()
        .filter_map(|w| {
            let o = without.iter().find(|o| o.size == w.size)?;
            Some(ReadWrite {
                size: w.size,
                events: (w.events - o.events) / k,
                path_us: (w.path_us - o.path_us) / k,
                cpu_us: (w.cpu_us - o.cpu_us) / k,
            })
        })
        .collect();
    if delta.len() < 2 {
        return None;
    }
    let smallest = delta[0];
    let base = smallest.events;
    if base < 0.5 {
        return None;
    }
    // Units per message at each size: how many times the smallest size's events it took.
    let units: Vec<(f64, f64)> = delta
        .iter()
        .map(|d| (d.size, (d.events / base).round().max(1.0)))
        .collect();
    if units.iter().all(|&(_, u)| u < 2.0) {
        return None;
    }
    let split_bytes = units
        .iter()
        .map(|&(s, u)| if u < 2.0 { s } else { s / u })
        .fold(smallest.size, f64::max);
    let points: Vec<EventCount> = delta
        .iter()
        .map(|d| EventCount {
            size: d.size,
            events: d.events,
        })
        .collect();
    Some(Split {
        split_bytes,
        base_events: base,
        linear_events: least_squares(&points),
        latency_per_event_us: (smallest.path_us / base).max(0.0),
        cpu_per_event_us: (smallest.cpu_us / base).max(0.0),
        points,
    })
}

/// The least-squares line of events over size through `points`.
fn least_squares(points: &[EventCount]) -> EventLine {
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.size).sum::<f64>() / n;
    let my = points.iter().map(|p| p.events).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.size - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.size - mx) * (p.events - my)).sum();
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    EventLine {
        base: my - slope * mx,
        per_byte: slope,
    }
}

/// Closed-loop runs of `config` whose reads and writes per request follow 4 · ceil(s / 4096)
/// through the sidecar (2 without it), at 1.5 µs of latency and 1 µs of CPU each.
#[cfg(test)]
pub(crate) fn stepped_runs(config: &SidecarConfig, sizes: &[u64]) -> Vec<Run> {
    sizes
        .iter()
        .flat_map(|&s| [tests::run(config, true, s), tests::run(config, false, s)])
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::vocab::Mode;

    /// One run of [`stepped_runs`].
    pub(super) fn run(config: &SidecarConfig, through: bool, size: u64) -> Run {
        let units = (size as f64 / 4096.0).ceil().max(1.0);
        let events = if through { 2.0 + 4.0 * units } else { 2.0 };
        let half = |x: f64| {
            BTreeMap::from([
                (ProbeComponent::Read, x / 2.0),
                (ProbeComponent::Write, x / 2.0),
            ])
        };
        Run {
            config: config.clone(),
            through_sidecar: through,
            size,
            load: Load::Closed,
            repeat: 0,
            requests: 1000,
            achieved_rps: 1000.0,
            client_mean_us: 100.0,
            client_p50_us: 100.0,
            path_us: half(1.5 * events),
            cpu_us: half(events),
            lost_events: 0,
            events: half(events),
            reference_for: None,
            sidecars: 1,
            counters: BTreeMap::new(),
        }
    }

    use super::stepped_runs as runs;

    #[test]
    fn the_split_size_and_the_per_event_cost_are_found() {
        let http = SidecarConfig::new(Mode::Http, vec![]).unwrap();
        let split = detect(&runs(&http, &[100, 2000, 4000, 8000, 16000]), &http).unwrap();
        // 8000 B took 2 units, 16000 B 4: S ≥ max(4000, 8000 / 2, 16000 / 4) = 4000.
        assert_eq!(split.split_bytes, 4000.0);
        assert_eq!(split.base_events, 4.0);
        assert!((split.latency_per_event_us - 1.5).abs() < 1e-9);
        assert!((split.cpu_per_event_us - 1.0).abs() < 1e-9);
        // Beyond the profiled sizes the steps outgrow the line.
        assert_eq!(split.events_at(32000.0), 32.0);
        let (lat, cpu) = split.correction(64000.0);
        assert!(lat > 0.0 && cpu > 0.0, "{lat} {cpu}");
        // Another configuration's runs say nothing about this one.
        let tcp = SidecarConfig::new(Mode::Tcp, vec![]).unwrap();
        assert!(detect(&runs(&http, &[100, 8000]), &tcp).is_none());
    }

    #[test]
    fn no_split_without_counts_or_below_the_split_size() {
        let http = SidecarConfig::new(Mode::Http, vec![]).unwrap();
        // Every profiled size fits in one unit: nothing to detect.
        assert!(detect(&runs(&http, &[100, 1000, 2000, 4000]), &http).is_none());
        // Profiles measured before event counts were recorded.
        let mut old = runs(&http, &[100, 8000, 16000]);
        for r in &mut old {
            r.events.clear();
        }
        assert!(detect(&old, &http).is_none());
    }
}
