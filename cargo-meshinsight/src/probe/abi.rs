//! `#[repr(C)]` mirrors of `bpf/probe.h`, with compile-time size checks.

/// Component indexes (`COMP_*`).
pub(crate) const COMP_COUNT: usize = 6;
/// Histogram buckets (`HIST_BUCKETS`).
pub(crate) const HIST_BUCKETS: usize = 32;
/// Counter slots (`CNT_*`).
pub(crate) const CNT_COUNT: u32 = 8;
/// `CNT_STATS_FULL`.
pub(crate) const CNT_STATS_FULL: u32 = 0;
/// `CNT_THREADS_FULL`.
pub(crate) const CNT_THREADS_FULL: u32 = 1;
/// `CNT_TARGETS_FULL`.
pub(crate) const CNT_TARGETS_FULL: u32 = 2;
/// `CNT_UNMATCHED_SYS`.
pub(crate) const CNT_UNMATCHED_SYS: u32 = 3;
/// `CNT_UNMATCHED_SIRQ`.
pub(crate) const CNT_UNMATCHED_SIRQ: u32 = 4;
/// `CNT_NESTED`.
pub(crate) const CNT_NESTED: u32 = 5;
/// `CNT_RETIRED_FULL`.
pub(crate) const CNT_RETIRED_FULL: u32 = 6;
/// `SYSCALL_SLOTS`.
pub(crate) const SYSCALL_SLOTS: u32 = 512;
/// `TGID_SOFTIRQ_DAEMON`.
pub(crate) const TGID_SOFTIRQ_DAEMON: u32 = 0;

/// `struct probe_key`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct ProbeKey {
    /// Process id (thread group id) the time belongs to.
    pub tgid: u32,
    /// `COMP_*` index.
    pub comp: u32,
}

/// `struct probe_stats`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeStats {
    /// Events.
    pub count: u64,
    /// Bytes moved by the events.
    pub bytes: u64,
    /// Wall time, ns.
    pub wall_ns: u64,
    /// On-CPU time, ns.
    pub cpu_ns: u64,
    /// log2 histogram of per-event wall time.
    pub hist: [u64; HIST_BUCKETS],
}

impl Default for ProbeStats {
    fn default() -> Self {
        ProbeStats {
            count: 0,
            bytes: 0,
            wall_ns: 0,
            cpu_ns: 0,
            hist: [0; HIST_BUCKETS],
        }
    }
}

/// `struct probe_events`: scheduler and softirq events, counted exactly.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ProbeEvents {
    /// `sched_wakeup` of the thread.
    pub wakeups: u64,
    /// It left the CPU to sleep (voluntary context switches).
    pub switches: u64,
    /// It left the CPU runnable (involuntary context switches).
    pub preemptions: u64,
    /// NET_RX/NET_TX softirq runs in its context.
    pub net_softirqs: u64,
    /// Other softirq runs in its context.
    pub other_softirqs: u64,
}

impl ProbeEvents {
    /// Adds another's counts to these.
    pub(crate) fn add(&mut self, other: &ProbeEvents) {
        self.wakeups += other.wakeups;
        self.switches += other.switches;
        self.preemptions += other.preemptions;
        self.net_softirqs += other.net_softirqs;
        self.other_softirqs += other.other_softirqs;
    }
}

/// `struct thread_state` (user space seeds it with zeroes and the thread's process).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ThreadState {
    /// `TF_*`.
    pub flags: u32,
    /// `SYS_*` of the current syscall.
    pub sys_class: u32,
    /// Current syscall number.
    pub sys_nr: i64,
    /// Accounting advanced to here.
    pub last_ts: u64,
    /// On-CPU ns of the current segment.
    pub seg_cpu: u64,
    /// Start of the current syscall.
    pub sys_enter_ts: u64,
    /// Nested softirq/transmit ns.
    pub nested_ns: u64,
    /// Wake-up delay inside the current notify syscall.
    pub sys_wakeup_ns: u64,
    /// Pending sched_wakeup time.
    pub wakeup_ts: u64,
    /// Wake-up delay outside notify syscalls.
    pub pending_wake_ns: u64,
    /// Loopback transmit start.
    pub xmit_ts: u64,
    /// The thread's process.
    pub tgid: u32,
    /// Padding.
    pub pad: u32,
    /// The thread's event counts.
    pub events: ProbeEvents,
}

const _: () = assert!(size_of::<ProbeKey>() == 8);
const _: () = assert!(size_of::<ProbeStats>() == 8 * (4 + HIST_BUCKETS));
const _: () = assert!(size_of::<ProbeEvents>() == 8 * 5);
const _: () = assert!(size_of::<ThreadState>() == 80 + 8 + size_of::<ProbeEvents>());

// SAFETY: plain `#[repr(C)]` integers without padding; every bit pattern is valid.
unsafe impl aya::Pod for ProbeKey {}
// SAFETY: as above.
unsafe impl aya::Pod for ProbeStats {}
// SAFETY: as above.
unsafe impl aya::Pod for ProbeEvents {}
// SAFETY: as above (u32, u32, 8-byte fields, u32, u32, 8-byte fields: no padding).
unsafe impl aya::Pod for ThreadState {}
const _: () = assert!(crate::vocab::ProbeComponent::ALL.len() == COMP_COUNT);
