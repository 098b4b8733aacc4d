//! The probe's output: per process and per component counts, bytes, times and histograms.
//!
//! Pure data and arithmetic; built from the raw map contents by [`ProbeReport::from_raw`].

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::abi::{self, ProbeEvents, ProbeStats};
pub use crate::vocab::ProbeComponent;

/// Version of the serialized [`ProbeReport`].
pub const FORMAT_VERSION: u32 = 1;

/// What a traced process is in the measured setup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The load generator.
    Client,
    /// The proxy under test.
    Sidecar,
    /// The application behind the sidecar.
    App,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 3] = [Role::Client, Role::Sidecar, Role::App];

    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Client => "client",
            Role::Sidecar => "sidecar",
            Role::App => "app",
        }
    }

    /// The value stored in the `targets` map (0 is never used).
    pub fn code(self) -> u32 {
        match self {
            Role::Client => 1,
            Role::Sidecar => 2,
            Role::App => 3,
        }
    }

    /// The role stored as `code`.
    pub fn from_code(code: u32) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.code() == code)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is no role.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown role `{0}` (expected client, sidecar or app)")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_string()))
    }
}

/// One component of one process (or of a sum of processes).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ComponentStats {
    /// Events (syscalls, softirq runs, transmits, user segments).
    pub count: u64,
    /// Bytes returned by reads, accepted by writes, transmitted on loopback.
    pub bytes: u64,
    /// Wall time, ns.
    pub wall_ns: u64,
    /// On-CPU time, ns.
    pub cpu_ns: u64,
    /// Wall time, µs.
    pub wall_us: f64,
    /// On-CPU time, µs.
    pub cpu_us: f64,
    /// Median per-event wall time, µs (from the log2 histogram).
    pub p50_us: f64,
    /// 99th percentile per-event wall time, µs (from the log2 histogram).
    pub p99_us: f64,
    /// Events by wall time: bucket 0 is 0 ns, bucket b is [2^(b-1), 2^b) ns, the last is open.
    pub hist_log2: Vec<u64>,
}

impl Default for ComponentStats {
    fn default() -> Self {
        ComponentStats::from_raw(&ProbeStats::default())
    }
}

impl ComponentStats {
    /// From the (CPU-summed) map value.
    pub fn from_raw(raw: &ProbeStats) -> Self {
        let mut s = ComponentStats {
            count: raw.count,
            bytes: raw.bytes,
            wall_ns: raw.wall_ns,
            cpu_ns: raw.cpu_ns,
            wall_us: 0.0,
            cpu_us: 0.0,
            p50_us: 0.0,
            p99_us: 0.0,
            hist_log2: raw.hist.to_vec(),
        };
        s.refresh();
        s
    }

    /// Adds another component's numbers to these.
    pub fn add(&mut self, other: &ComponentStats) {
        self.count += other.count;
        self.bytes += other.bytes;
        self.wall_ns += other.wall_ns;
        self.cpu_ns += other.cpu_ns;
        if self.hist_log2.len() < other.hist_log2.len() {
            self.hist_log2.resize(other.hist_log2.len(), 0);
        }
        for (a, b) in self.hist_log2.iter_mut().zip(&other.hist_log2) {
            *a += b;
        }
        self.refresh();
    }

    /// Mean wall time per event, µs.
    pub fn mean_wall_us(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.wall_us / self.count as f64
        }
    }

    /// Mean on-CPU time per event, µs.
    pub fn mean_cpu_us(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.cpu_us / self.count as f64
        }
    }

    fn refresh(&mut self) {
        self.wall_us = self.wall_ns as f64 / 1e3;
        self.cpu_us = self.cpu_ns as f64 / 1e3;
        self.p50_us = hist_quantile_ns(&self.hist_log2, 0.50) / 1e3;
        self.p99_us = hist_quantile_ns(&self.hist_log2, 0.99) / 1e3;
    }
}

/// The q-quantile (0..=1) of a log2 histogram, in ns, interpolated linearly inside the bucket.
pub fn hist_quantile_ns(hist: &[u64], q: f64) -> f64 {
    let total: u64 = hist.iter().sum();
    if total == 0 {
        return 0.0;
    }
    let rank = (q * total as f64).ceil().max(1.0);
    let mut below = 0.0;
    for (b, &n) in hist.iter().enumerate() {
        if n == 0 {
            continue;
        }
        let n = n as f64;
        if below + n >= rank {
            if b == 0 {
                return 0.0;
            }
            let lo = (1u64 << (b - 1)) as f64;
            let hi = 2.0 * lo;
            return lo + (hi - lo) * (rank - below) / n;
        }
        below += n;
    }
    let last = hist.len().saturating_sub(1);
    (1u64 << last.saturating_sub(1)) as f64
}

/// Every component, each present (zero when nothing happened).
pub type Components = BTreeMap<ProbeComponent, ComponentStats>;

fn empty_components() -> Components {
    ProbeComponent::ALL
        .into_iter()
        .map(|c| (c, ComponentStats::default()))
        .collect()
}

fn add_components(into: &mut Components, from: &Components) {
    for (c, s) in from {
        into.entry(*c).or_default().add(s);
    }
}

/// Scheduler and softirq events of a process (or a sum of processes), counted exactly
/// (docs/probe.md, "Event counts").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventCounts {
    /// Wake-ups of its threads (`sched_wakeup`).
    pub wakeups: u64,
    /// Voluntary context switches: a thread left the CPU to sleep.
    pub switches: u64,
    /// Involuntary context switches: a thread was preempted (these depend on what else
    /// runs on the machine).
    pub preemptions: u64,
    /// NET_RX and NET_TX softirq runs in its threads' context (part of `ipc`'s count; the
    /// rest of that count are loopback transmits).
    pub net_softirqs: u64,
    /// Other softirq runs (timer, RCU, ...) in its threads' context (part of
    /// `other_kernel`'s count; the rest of that count are syscalls).
    pub other_softirqs: u64,
}

impl EventCounts {
    fn from_raw(raw: &ProbeEvents) -> Self {
        EventCounts {
            wakeups: raw.wakeups,
            switches: raw.switches,
            preemptions: raw.preemptions,
            net_softirqs: raw.net_softirqs,
            other_softirqs: raw.other_softirqs,
        }
    }

    /// Adds another's counts to these.
    pub fn add(&mut self, other: &EventCounts) {
        self.wakeups += other.wakeups;
        self.switches += other.switches;
        self.preemptions += other.preemptions;
        self.net_softirqs += other.net_softirqs;
        self.other_softirqs += other.other_softirqs;
    }
}

/// One traced process (a target or a child of one).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProcessReport {
    /// Process id.
    pub pid: u32,
    /// Its role (inherited by children).
    pub role: Role,
    /// Its command name, when it was still running at the snapshot.
    pub comm: String,
    /// Per component.
    pub components: Components,
    /// Scheduler and softirq events.
    #[serde(default)]
    pub events: EventCounts,
}

impl ProcessReport {
    /// On-CPU time over all components, ns.
    pub fn cpu_ns(&self) -> u64 {
        self.components.values().map(|s| s.cpu_ns).sum()
    }
}

/// Events the probe could not record, and events it saw only half of.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drops {
    /// Events lost because the stats map was full.
    pub stats_map_full: u64,
    /// Threads not tracked because the thread map was full.
    pub threads_map_full: u64,
    /// Children not followed because the target map was full.
    pub targets_map_full: u64,
    /// Syscall exits whose entry was before the attach (counted as other_kernel).
    pub unmatched_syscalls: u64,
    /// Softirq exits whose entry was before the attach (ignored).
    pub unmatched_softirqs: u64,
    /// Events skipped because another of the probe's programs was running on that CPU
    /// (a softirq run inside an interrupted raw tracepoint program); their time stays in
    /// the segment they interrupted, as the kernel does for classic tracepoints.
    #[serde(default)]
    pub nested_events: u64,
    /// Exited threads whose event counts were lost because the map keeping them was full.
    #[serde(default)]
    pub retired_map_full: u64,
}

impl Drops {
    /// Events lost (the unmatched ones are not lost, only partial).
    pub fn lost(&self) -> u64 {
        self.stats_map_full + self.threads_map_full + self.targets_map_full + self.retired_map_full
    }
}

/// What [`super::Probe::snapshot`] returns: everything since the probe was attached.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProbeReport {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// How long the probe was attached (pauses excluded), ns.
    pub duration_ns: u64,
    /// Per traced process, by pid.
    pub processes: Vec<ProcessReport>,
    /// NET_RX time that ksoftirqd spent (not attributable to one process); only `ipc`.
    pub softirq_daemon: Components,
    /// Per role, the sum of its processes.
    pub by_role: BTreeMap<Role, Components>,
    /// All processes and the softirq daemon.
    pub total: Components,
    /// Per role, the scheduler and softirq events of its processes.
    #[serde(default)]
    pub events_by_role: BTreeMap<Role, EventCounts>,
    /// Scheduler and softirq events of all processes (ksoftirqd's NET_RX runs are in
    /// `softirq_daemon`'s `ipc` count).
    #[serde(default)]
    pub events_total: EventCounts,
    /// Lost and partial events.
    pub drops: Drops,
}

/// The raw contents of the probe's maps, summed over CPUs.
#[derive(Clone, Debug, Default)]
pub struct RawSnapshot {
    /// (tgid, component index) → stats.
    pub stats: BTreeMap<(u32, u32), ProbeStats>,
    /// tgid → role, for targets and followed children.
    pub roles: BTreeMap<u32, Role>,
    /// tgid → command name.
    pub comms: BTreeMap<u32, String>,
    /// tgid → scheduler and softirq events.
    pub(crate) events: BTreeMap<u32, ProbeEvents>,
    /// `CNT_*` counters.
    pub counters: [u64; abi::CNT_COUNT as usize],
    /// Time since attach, ns.
    pub duration_ns: u64,
}

impl ProbeReport {
    /// Builds the report; stats of processes without a known role are ignored.
    pub fn from_raw(raw: &RawSnapshot) -> ProbeReport {
        let mut processes: BTreeMap<u32, ProcessReport> = BTreeMap::new();
        let mut softirq_daemon = empty_components();
        for (&(tgid, comp), stats) in &raw.stats {
            let Some(comp) = ProbeComponent::ALL.get(comp as usize).copied() else {
                continue;
            };
            let stats = ComponentStats::from_raw(stats);
            if tgid == abi::TGID_SOFTIRQ_DAEMON {
                softirq_daemon.entry(comp).or_default().add(&stats);
                continue;
            }
            let Some(&role) = raw.roles.get(&tgid) else {
                continue;
            };
            process_entry(&mut processes, raw, tgid, role)
                .components
                .entry(comp)
                .or_default()
                .add(&stats);
        }
        for (&tgid, events) in &raw.events {
            if let Some(&role) = raw.roles.get(&tgid) {
                process_entry(&mut processes, raw, tgid, role).events =
                    EventCounts::from_raw(events);
            }
        }
        let mut by_role: BTreeMap<Role, Components> = BTreeMap::new();
        let mut events_by_role: BTreeMap<Role, EventCounts> = BTreeMap::new();
        let mut total = empty_components();
        let mut events_total = EventCounts::default();
        for p in processes.values() {
            add_components(
                by_role.entry(p.role).or_insert_with(empty_components),
                &p.components,
            );
            add_components(&mut total, &p.components);
            events_by_role.entry(p.role).or_default().add(&p.events);
            events_total.add(&p.events);
        }
        add_components(&mut total, &softirq_daemon);
        let c = &raw.counters;
        ProbeReport {
            format_version: FORMAT_VERSION,
            duration_ns: raw.duration_ns,
            processes: processes.into_values().collect(),
            softirq_daemon,
            by_role,
            total,
            events_by_role,
            events_total,
            drops: Drops {
                stats_map_full: c[abi::CNT_STATS_FULL as usize],
                threads_map_full: c[abi::CNT_THREADS_FULL as usize],
                targets_map_full: c[abi::CNT_TARGETS_FULL as usize],
                unmatched_syscalls: c[abi::CNT_UNMATCHED_SYS as usize],
                unmatched_softirqs: c[abi::CNT_UNMATCHED_SIRQ as usize],
                nested_events: c[abi::CNT_NESTED as usize],
                retired_map_full: c[abi::CNT_RETIRED_FULL as usize],
            },
        }
    }

    /// The process with this pid.
    pub fn process(&self, pid: u32) -> Option<&ProcessReport> {
        self.processes.iter().find(|p| p.pid == pid)
    }
}

/// The report of process `tgid` with `role`, created empty on first use.
fn process_entry<'a>(
    processes: &'a mut BTreeMap<u32, ProcessReport>,
    raw: &RawSnapshot,
    tgid: u32,
    role: Role,
) -> &'a mut ProcessReport {
    processes.entry(tgid).or_insert_with(|| ProcessReport {
        pid: tgid,
        role,
        comm: raw.comms.get(&tgid).cloned().unwrap_or_default(),
        components: empty_components(),
        events: EventCounts::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw_stats(count: u64, wall: u64, bucket: usize) -> ProbeStats {
        let mut s = ProbeStats {
            count,
            bytes: 100 * count,
            wall_ns: wall,
            cpu_ns: wall / 2,
            ..Default::default()
        };
        s.hist[bucket] = count;
        s
    }

    #[test]
    fn quantiles_interpolate_inside_log2_buckets() {
        let mut hist = vec![0u64; 32];
        // 100 events in [1024, 2048) ns.
        hist[11] = 100;
        assert_eq!(hist_quantile_ns(&hist, 0.5), 1024.0 + 1024.0 * 0.5);
        assert_eq!(hist_quantile_ns(&hist, 0.99), 1024.0 + 1024.0 * 0.99);
        hist[0] = 100;
        assert_eq!(hist_quantile_ns(&hist, 0.5), 0.0);
        assert_eq!(hist_quantile_ns(&[0; 32], 0.5), 0.0);
    }

    #[test]
    fn report_groups_by_process_role_and_total() {
        let mut raw = RawSnapshot::default();
        raw.stats.insert((10, 0), raw_stats(4, 4000, 10));
        raw.stats.insert((11, 0), raw_stats(6, 6000, 11));
        raw.stats.insert((11, 2), raw_stats(2, 500, 8));
        raw.stats.insert((0, 2), raw_stats(1, 100, 7));
        raw.stats.insert((99, 0), raw_stats(50, 1, 1)); // no role: not a target
        raw.roles.insert(10, Role::Client);
        raw.roles.insert(11, Role::Sidecar);
        raw.counters[abi::CNT_STATS_FULL as usize] = 3;
        let r = ProbeReport::from_raw(&raw);
        assert_eq!(r.format_version, FORMAT_VERSION);
        assert_eq!(r.processes.len(), 2);
        let read = &r.total[&ProbeComponent::Read];
        assert_eq!((read.count, read.bytes, read.wall_ns), (10, 1000, 10_000));
        assert_eq!(r.total[&ProbeComponent::Ipc].count, 3);
        assert_eq!(r.softirq_daemon[&ProbeComponent::Ipc].count, 1);
        assert_eq!(r.by_role[&Role::Sidecar][&ProbeComponent::Read].count, 6);
        assert_eq!(r.process(10).map(|p| p.components.len()), Some(6));
        assert_eq!(r.drops.lost(), 3);
        let json = serde_json::to_string(&r).expect("serialize");
        let back: ProbeReport = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, r);
        assert!(json.contains("\"other_kernel\""));
    }
}
