//! The raw measurements a profile is fitted from: one [`Run`] per load run, kept in the
//! profile file so that a fit can be checked or redone.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::probe::report::ProbeComponent;
use crate::vocab::SidecarConfig;

/// How a run loaded the echo application.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Load {
    /// One request in flight (latency runs).
    Closed,
    /// A constant rate (CPU runs).
    Open {
        /// The share of the measured maximum rate, 0..1.
        fraction: f64,
        /// The target rate, requests per second.
        rate: f64,
    },
}

impl Load {
    /// A key that pairs runs at the same setting (open runs by their fraction).
    pub fn key(&self) -> LoadKey {
        match self {
            Load::Closed => LoadKey::Closed,
            Load::Open { fraction, .. } => LoadKey::Open((fraction * 1000.0).round() as u32),
        }
    }
}

/// [`Load`] without the rate, for pairing: open runs by per-mille of the maximum rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LoadKey {
    /// Closed loop.
    Closed,
    /// Open loop at this per-mille of the maximum rate.
    Open(u32),
}

/// One load run, with or without the sidecar, and what the probe saw during it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Run {
    /// The sidecar's mode and filters (the echo application speaks the same mode).
    pub config: SidecarConfig,
    /// Whether the requests went through the sidecar (else straight to the application).
    pub through_sidecar: bool,
    /// Payload bytes per request and per response.
    pub size: u64,
    /// Closed or open loop.
    pub load: Load,
    /// Repetition index; of a closed-loop run, its block (`repeat · blocks + block`, see
    /// `MeasureConfig::block_requests`), so that each block pair pairs on its own.
    pub repeat: u32,
    /// Measured requests.
    pub requests: u64,
    /// Measured requests per second.
    pub achieved_rps: f64,
    /// Mean round trip the client measured, µs.
    pub client_mean_us: f64,
    /// Median round trip the client measured, µs.
    pub client_p50_us: f64,
    /// Per request, summed over the run's processes: time on the request path per probe
    /// component, µs (on-CPU time; for `notify`, on-CPU time plus wake-up delay).
    pub path_us: BTreeMap<ProbeComponent, f64>,
    /// Per request, summed over the run's processes: on-CPU time per probe component, µs.
    pub cpu_us: BTreeMap<ProbeComponent, f64>,
    /// Events the probe lost during the run.
    pub lost_events: u64,
    /// Per request, summed over the run's processes: probe events per component (syscalls
    /// for `read` and `write`). How many reads and writes a message of this size takes is how
    /// the kernel's split size is found ([`crate::model::split`]). Empty in profiles
    /// measured before it was recorded.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub events: BTreeMap<ProbeComponent, f64>,
    /// Of a plain-mode run through the sidecar measured beside a filter configuration: that
    /// configuration. Its runs pair with this one, measured next to them, not with the plain
    /// mode's own runs (which pair with the runs without the sidecar). Absent in profiles
    /// measured before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_for: Option<SidecarConfig>,
    /// Of a run through the sidecar: how many sidecars in series the requests went through
    /// (`profile --chain`, like a mesh hop's outbound and inbound sidecars). The difference to
    /// the run without the sidecar is divided by it: a profile prices one sidecar. 1 when
    /// absent.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub sidecars: u32,
}

fn one() -> u32 {
    1
}

fn is_one(n: &u32) -> bool {
    *n == 1
}

/// Probe events per component per request between two snapshots.
pub(crate) fn events_per_request(
    before: &crate::probe::report::ProbeReport,
    after: &crate::probe::report::ProbeReport,
    requests: u64,
) -> BTreeMap<ProbeComponent, f64> {
    let n = requests.max(1) as f64;
    ProbeComponent::ALL
        .iter()
        .map(|c| {
            let count =
                |r: &crate::probe::report::ProbeReport| r.total.get(c).map_or(0, |s| s.count);
            (*c, count(after).saturating_sub(count(before)) as f64 / n)
        })
        .collect()
}

impl Run {
    /// The sidecars in series on this run's path (at least 1), as a divisor.
    pub fn sidecars_in_series(&self) -> f64 {
        f64::from(self.sidecars.max(1))
    }
}
