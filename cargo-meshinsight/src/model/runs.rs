//! The raw measurements a profile is fitted from: one [`Run`] per load run, kept in the
//! profile file so that a fit can be checked or redone.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::probe::report::{ProbeComponent, ProbeReport};
use crate::vocab::{Component, SidecarConfig};

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
    /// Per request, summed over the run's processes: the work the probe counts exactly
    /// (syscalls by kind, bytes, wake-ups, context switches, softirq runs, transmits). Empty
    /// in profiles measured before it was recorded.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub counters: BTreeMap<WorkCounter, f64>,
}

/// A kind of work the probe counts exactly, per request or per sidecar traversal
/// (docs/probe.md, "Event counts"; the gate's work counters, docs/gate.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum WorkCounter {
    /// Read syscalls that returned data.
    #[serde(rename = "read/syscalls")]
    ReadSyscalls,
    /// Bytes those returned.
    #[serde(rename = "read/bytes")]
    ReadBytes,
    /// Write syscalls that sent data.
    #[serde(rename = "write/syscalls")]
    WriteSyscalls,
    /// Bytes those sent.
    #[serde(rename = "write/bytes")]
    WriteBytes,
    /// epoll/poll/select calls.
    #[serde(rename = "notify/syscalls")]
    NotifySyscalls,
    /// Wake-ups of the processes' threads.
    #[serde(rename = "notify/wakeups")]
    Wakeups,
    /// Voluntary context switches (a thread left the CPU to sleep).
    #[serde(rename = "notify/switches")]
    Switches,
    /// NET_RX/NET_TX softirq runs, in the processes' context or in ksoftirqd.
    #[serde(rename = "ipc/softirqs")]
    Softirqs,
    /// Loopback transmits outside softirqs.
    #[serde(rename = "ipc/transmits")]
    Transmits,
    /// Every other syscall, and reads and writes that moved no data (`EAGAIN`, EOF).
    #[serde(rename = "other/syscalls")]
    OtherSyscalls,
}

impl WorkCounter {
    /// Every counter, in report order.
    pub const ALL: [WorkCounter; 10] = [
        WorkCounter::ReadSyscalls,
        WorkCounter::ReadBytes,
        WorkCounter::WriteSyscalls,
        WorkCounter::WriteBytes,
        WorkCounter::NotifySyscalls,
        WorkCounter::Wakeups,
        WorkCounter::Switches,
        WorkCounter::Softirqs,
        WorkCounter::Transmits,
        WorkCounter::OtherSyscalls,
    ];

    /// The component whose work it counts.
    pub fn component(self) -> Component {
        match self {
            WorkCounter::ReadSyscalls | WorkCounter::ReadBytes => Component::Read,
            WorkCounter::WriteSyscalls | WorkCounter::WriteBytes => Component::Write,
            WorkCounter::NotifySyscalls | WorkCounter::Wakeups | WorkCounter::Switches => {
                Component::Notify
            }
            WorkCounter::Softirqs | WorkCounter::Transmits => Component::Ipc,
            WorkCounter::OtherSyscalls => Component::Other,
        }
    }

    /// What it counts: `syscalls`, `bytes`, `wakeups`, `switches`, `softirqs`, `transmits`.
    pub fn unit(self) -> &'static str {
        match self {
            WorkCounter::ReadSyscalls
            | WorkCounter::WriteSyscalls
            | WorkCounter::NotifySyscalls
            | WorkCounter::OtherSyscalls => "syscalls",
            WorkCounter::ReadBytes | WorkCounter::WriteBytes => "bytes",
            WorkCounter::Wakeups => "wakeups",
            WorkCounter::Switches => "switches",
            WorkCounter::Softirqs => "softirqs",
            WorkCounter::Transmits => "transmits",
        }
    }

    /// `component/unit`, as in files: `write/syscalls`.
    pub fn name(self) -> String {
        format!("{}/{}", self.component().as_str(), self.unit())
    }

    /// Its total in a probe report: over every traced process, and for softirq runs, also
    /// ksoftirqd's (NET_RX the kernel deferred from a traced process under load).
    pub fn total(self, report: &ProbeReport) -> u64 {
        let component = |c: ProbeComponent| report.total.get(&c).cloned().unwrap_or_default();
        let daemon_ipc = report
            .softirq_daemon
            .get(&ProbeComponent::Ipc)
            .map_or(0, |s| s.count);
        let events = &report.events_total;
        match self {
            WorkCounter::ReadSyscalls => component(ProbeComponent::Read).count,
            WorkCounter::ReadBytes => component(ProbeComponent::Read).bytes,
            WorkCounter::WriteSyscalls => component(ProbeComponent::Write).count,
            WorkCounter::WriteBytes => component(ProbeComponent::Write).bytes,
            WorkCounter::NotifySyscalls => component(ProbeComponent::Notify).count,
            WorkCounter::Wakeups => events.wakeups,
            WorkCounter::Switches => events.switches,
            WorkCounter::Softirqs => events.net_softirqs + daemon_ipc,
            // The processes' ipc events are their softirq runs and their transmits.
            WorkCounter::Transmits => component(ProbeComponent::Ipc)
                .count
                .saturating_sub(daemon_ipc + events.net_softirqs),
            WorkCounter::OtherSyscalls => component(ProbeComponent::OtherKernel)
                .count
                .saturating_sub(events.other_softirqs),
        }
    }
}

impl std::fmt::Display for WorkCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

fn one() -> u32 {
    1
}

fn is_one(n: &u32) -> bool {
    *n == 1
}

/// Probe events per component per request between two snapshots.
pub(crate) fn events_per_request(
    before: &ProbeReport,
    after: &ProbeReport,
    requests: u64,
) -> BTreeMap<ProbeComponent, f64> {
    let n = requests.max(1) as f64;
    ProbeComponent::ALL
        .iter()
        .map(|c| {
            let count = |r: &ProbeReport| r.total.get(c).map_or(0, |s| s.count);
            (*c, count(after).saturating_sub(count(before)) as f64 / n)
        })
        .collect()
}

/// The work counters per request between two snapshots.
pub(crate) fn counters_per_request(
    before: &ProbeReport,
    after: &ProbeReport,
    requests: u64,
) -> BTreeMap<WorkCounter, f64> {
    let n = requests.max(1) as f64;
    WorkCounter::ALL
        .iter()
        .map(|c| {
            let count = c.total(after).saturating_sub(c.total(before));
            (*c, count as f64 / n)
        })
        .collect()
}

impl Run {
    /// The sidecars in series on this run's path (at least 1), as a divisor.
    pub fn sidecars_in_series(&self) -> f64 {
        f64::from(self.sidecars.max(1))
    }
}
