//! The eBPF component probe (docs/probe.md).
//!
//! [`Probe::attach`] loads `bpf/probe.bpf.c` (tracepoints only: raw tracepoints where the
//! kernel allows them, else classic ones; [`ProbeSet`]), follows the given
//! processes, their threads and the children they fork, and splits their time into
//! [`ProbeComponent`]s; [`Probe::snapshot`] reads the per-CPU maps into a [`ProbeReport`].
//! Dropping the probe detaches everything; all attachments are file descriptors of this
//! process, so the kernel also detaches them when the process dies (panic, Ctrl-C).

pub(crate) mod abi;
pub mod capability;
mod loader;
pub(crate) mod overhead;
pub mod report;
pub(crate) mod syscalls;
pub mod workload;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aya::Ebpf;
use aya::maps::{HashMap, MapData, PerCpuArray, PerCpuHashMap};

pub use capability::Capabilities;
pub use report::{ComponentStats, Drops, ProbeComponent, ProbeReport, ProcessReport, Role};

/// A process id.
pub type Pid = u32;

/// Everything that can go wrong while probing.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// Neither root nor CAP_BPF + CAP_PERFMON.
    #[error(
        "load eBPF programs: this process has neither CAP_BPF with CAP_PERFMON nor CAP_SYS_ADMIN"
    )]
    NotPrivileged,
    /// tracefs is not mounted and could not be mounted.
    #[error("find tracefs: {reason}")]
    NoTracefs {
        /// What went wrong.
        reason: String,
    },
    /// No kernel BTF, which the raw tracepoint set needs (its CO-RE offsets).
    #[error("load the raw tracepoint programs: no kernel BTF at /sys/kernel/btf/vmlinux")]
    NoBtf,
    /// The kernel lacks a tracepoint of the default set.
    #[error("find tracepoints: this kernel lacks {}", missing.join(", "))]
    MissingTracepoints {
        /// `category:name` of each missing one.
        missing: Vec<String>,
    },
    /// The kernel refused the BPF object.
    #[error("load the BPF object")]
    Load(#[source] aya::EbpfError),
    /// A program could not be loaded or attached.
    #[error("attach {tracepoint}")]
    Attach {
        /// `category:name`.
        tracepoint: String,
        /// Why.
        #[source]
        source: aya::programs::ProgramError,
    },
    /// A map could not be read or written.
    #[error("access the BPF map `{map}`")]
    Map {
        /// Map name.
        map: &'static str,
        /// Why.
        #[source]
        source: aya::maps::MapError,
    },
    /// A target process does not exist.
    #[error("follow process {pid}: no such process")]
    NoSuchProcess {
        /// The pid.
        pid: Pid,
    },
}

impl ProbeError {
    /// Whether the error is about a missing privilege or kernel feature (exit code 102).
    pub fn is_capability(&self) -> bool {
        match self {
            ProbeError::NotPrivileged
            | ProbeError::NoTracefs { .. }
            | ProbeError::MissingTracepoints { .. }
            | ProbeError::NoBtf => true,
            ProbeError::Load(e) => is_eperm(e),
            _ => false,
        }
    }

    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        Some(
            match self {
                ProbeError::NotPrivileged => "run as root (sudo), or grant CAP_BPF and CAP_PERFMON".to_string(),
                ProbeError::NoTracefs { .. } => {
                    "mount it with `mount -t tracefs nodev /sys/kernel/tracing`, as root".to_string()
                }
                ProbeError::NoBtf => {
                    "use a kernel built with CONFIG_DEBUG_INFO_BTF, or the classic tracepoint set".to_string()
                }
                ProbeError::MissingTracepoints { .. } => {
                    "use a kernel built with CONFIG_FTRACE_SYSCALLS and tracepoints (CONFIG_TRACEPOINTS)".to_string()
                }
                ProbeError::Load(e) if is_eperm(e) => {
                    "the kernel refused BPF: run as root and check kernel.unprivileged_bpf_disabled and lockdown".to_string()
                }
                ProbeError::Load(_) | ProbeError::Attach { .. } => {
                    "this is a bug in the probe or an unsupported kernel; please report it with `uname -r`".to_string()
                }
                ProbeError::Map { .. } => return None,
                ProbeError::NoSuchProcess { .. } => "check the pid with `ps -p PID`".to_string(),
            },
        )
    }
}

fn is_eperm(e: &aya::EbpfError) -> bool {
    let text = format!("{e:?}");
    text.contains("PermissionDenied")
        || text.contains("EPERM")
        || text.contains("Operation not permitted")
}

/// Which kind of programs measure. Both sets attach to the same tracepoints with the same
/// program bodies and measure the same things; they differ in cost per event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeSet {
    /// `BPF_PROG_TYPE_RAW_TRACEPOINT`: the programs get the tracepoint's arguments, and the
    /// kernel builds no trace record for them (cheaper). Needs kernel BTF (CO-RE offsets of
    /// the task and device fields read), no tracefs.
    RawTracepoint,
    /// `BPF_PROG_TYPE_TRACEPOINT`: the programs read the perf trace record. Needs tracefs.
    Tracepoint,
}

impl ProbeSet {
    /// The name used in profiles (`platform.probe_set`) and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ProbeSet::RawTracepoint => "raw_tracepoint",
            ProbeSet::Tracepoint => "tracepoint",
        }
    }
}

impl std::fmt::Display for ProbeSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is no probe set.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown probe set `{0}` (expected raw_tracepoint or tracepoint)")]
pub struct UnknownProbeSet(pub String);

impl std::str::FromStr for ProbeSet {
    type Err = UnknownProbeSet;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "raw_tracepoint" | "raw-tracepoint" | "raw" => Ok(ProbeSet::RawTracepoint),
            "tracepoint" | "classic" => Ok(ProbeSet::Tracepoint),
            other => Err(UnknownProbeSet(other.to_string())),
        }
    }
}

/// How to probe.
#[derive(Clone, Debug)]
pub struct ProbeOptions {
    /// Follow processes that targets fork after the attach.
    pub follow_children: bool,
    /// Count NET_RX time spent in ksoftirqd (as [`ProbeReport::softirq_daemon`]).
    pub count_ksoftirqd: bool,
    /// Attach `net:net_dev_start_xmit`/`net_dev_xmit` to count loopback transmits as `ipc`.
    /// Without them (4 fewer events per loopback round trip) that time stays in `write`.
    pub loopback_transmit: bool,
    /// Which programs to use; `None` (the default): the raw tracepoint set where it loads,
    /// else the classic set ([`Probe::fallback_reason`] says why).
    pub probe_set: Option<ProbeSet>,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        ProbeOptions {
            follow_children: true,
            count_ksoftirqd: true,
            loopback_transmit: true,
            probe_set: None,
        }
    }
}

/// An attached probe. Dropping it detaches every program.
pub struct Probe {
    ebpf: Ebpf,
    options: ProbeOptions,
    /// The attachments; `None` while paused.
    links: Option<loader::Links>,
    /// Since when the programs are attached (`None` while paused).
    attached_at: Option<Instant>,
    /// Attached time before the last pause.
    attached_before: Duration,
    capabilities: Capabilities,
    set: ProbeSet,
    fallback: Option<String>,
}

impl std::fmt::Debug for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Probe")
            .field("attached", &self.elapsed())
            .finish_non_exhaustive()
    }
}

impl Probe {
    /// Checks capabilities, loads and attaches the programs, and follows `targets`.
    pub fn attach(targets: &[(Pid, Role)], opts: &ProbeOptions) -> Result<Probe, ProbeError> {
        let capabilities = Capabilities::detect();
        capabilities.require()?;
        let loaded = loader::load_and_attach(opts, &capabilities)?;
        let mut probe = Probe {
            ebpf: loaded.ebpf,
            links: Some(loaded.links),
            options: opts.clone(),
            attached_at: Some(Instant::now()),
            attached_before: Duration::ZERO,
            capabilities,
            set: loaded.set,
            fallback: loaded.fallback,
        };
        for &(pid, role) in targets {
            probe.add_target(pid, role)?;
        }
        Ok(probe)
    }

    /// The programs that measure.
    pub fn probe_set(&self) -> ProbeSet {
        self.set
    }

    /// Why the preferred raw tracepoint set is not used (`None` when it is, or when the
    /// options asked for the classic set).
    pub fn fallback_reason(&self) -> Option<&str> {
        self.fallback.as_deref()
    }

    /// What the capability check found.
    pub fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    /// Follows one more process (and its threads, and children it forks from now on).
    pub fn add_target(&mut self, pid: Pid, role: Role) -> Result<(), ProbeError> {
        if !std::path::Path::new(&format!("/proc/{pid}/task")).is_dir() {
            return Err(ProbeError::NoSuchProcess { pid });
        }
        // The process first: threads it starts from now on are entered by the program
        // (sched_process_fork, or at their first event without child following); then
        // the threads it has, listed after that.
        {
            let mut targets: HashMap<&mut MapData, u32, u32> =
                HashMap::try_from(self.map_mut("targets")?).map_err(map_err("targets"))?;
            targets
                .insert(pid, role.code(), 0)
                .map_err(map_err("targets"))?;
        }
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
            .map_err(|_| ProbeError::NoSuchProcess { pid })?;
        let mut threads: HashMap<&mut MapData, u32, abi::ThreadState> =
            HashMap::try_from(self.map_mut("threads")?).map_err(map_err("threads"))?;
        for task in tasks.flatten() {
            let Some(tid) = task
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            // Only new threads: a thread already followed keeps its state.
            if threads.get(&tid, 0).is_err() {
                let state = abi::ThreadState {
                    tgid: pid,
                    ..Default::default()
                };
                threads.insert(tid, state, 0).map_err(map_err("threads"))?;
            }
        }
        Ok(())
    }

    /// Detaches the programs, keeping them loaded and the measurements so far.
    pub fn pause(&mut self) -> Result<(), ProbeError> {
        if let Some(since) = self.attached_at.take() {
            self.attached_before += since.elapsed();
        }
        match self.links.take() {
            Some(links) => loader::detach_all(&mut self.ebpf, links),
            None => Ok(()),
        }
    }

    /// Attaches the programs again after [`Probe::pause`]. With the classic set
    /// ([`ProbeSet::Tracepoint`]) the calling thread must see a
    /// mounted tracefs (the tracepoint ids are read from it); when the host has none,
    /// attach from a thread that mounted one with [`capability::mount_private_tracefs`].
    /// Threads are not re-seeded: events of a thread caught mid-syscall at resume are
    /// counted as unmatched.
    pub fn resume(&mut self) -> Result<(), ProbeError> {
        if self.links.is_none() {
            if self.set == ProbeSet::Tracepoint && capability::mounted_tracefs().is_none() {
                return Err(ProbeError::NoTracefs {
                    reason: "not mounted in this thread's mount namespace".to_string(),
                });
            }
            self.links = Some(loader::attach_all(&mut self.ebpf, &self.options, self.set)?);
            self.attached_at = Some(Instant::now());
        }
        Ok(())
    }

    /// How long the programs have been attached (pauses excluded).
    pub fn elapsed(&self) -> Duration {
        self.attached_before + self.attached_at.map_or(Duration::ZERO, |t| t.elapsed())
    }

    /// Everything measured since the attach.
    pub fn snapshot(&self) -> Result<ProbeReport, ProbeError> {
        let mut raw = report::RawSnapshot {
            duration_ns: u64::try_from(self.elapsed().as_nanos()).unwrap_or(u64::MAX),
            ..Default::default()
        };
        let stats: PerCpuHashMap<&MapData, abi::ProbeKey, abi::ProbeStats> =
            PerCpuHashMap::try_from(self.map("stats")?).map_err(map_err("stats"))?;
        for item in stats.iter() {
            let (key, per_cpu) = item.map_err(map_err("stats"))?;
            let sum = raw.stats.entry((key.tgid, key.comp)).or_default();
            for v in per_cpu.iter() {
                sum.count += v.count;
                sum.bytes += v.bytes;
                sum.wall_ns += v.wall_ns;
                sum.cpu_ns += v.cpu_ns;
                for (a, b) in sum.hist.iter_mut().zip(v.hist.iter()) {
                    *a += b;
                }
            }
        }
        raw.events = self.events()?;
        let targets: HashMap<&MapData, u32, u32> =
            HashMap::try_from(self.map("targets")?).map_err(map_err("targets"))?;
        let mut roles = BTreeMap::new();
        for item in targets.iter() {
            let (pid, code) = item.map_err(map_err("targets"))?;
            if let Some(role) = Role::from_code(code) {
                roles.insert(pid, role);
            }
        }
        raw.roles = roles;
        for &(tgid, _) in raw.stats.keys() {
            if let Ok(comm) = std::fs::read_to_string(format!("/proc/{tgid}/comm")) {
                raw.comms.insert(tgid, comm.trim().to_string());
            }
        }
        let counters: PerCpuArray<&MapData, u64> =
            PerCpuArray::try_from(self.map("counters")?).map_err(map_err("counters"))?;
        for i in 0..abi::CNT_COUNT {
            let values = counters.get(&i, 0).map_err(map_err("counters"))?;
            raw.counters[i as usize] = values.iter().sum();
        }
        Ok(ProbeReport::from_raw(&raw))
    }

    /// Per process, the event counts of its followed threads (kept in their states) and of
    /// those that exited (the `retired` map).
    fn events(&self) -> Result<BTreeMap<u32, abi::ProbeEvents>, ProbeError> {
        let mut events: BTreeMap<u32, abi::ProbeEvents> = BTreeMap::new();
        let threads: HashMap<&MapData, u32, abi::ThreadState> =
            HashMap::try_from(self.map("threads")?).map_err(map_err("threads"))?;
        for item in threads.iter() {
            let (_, state) = item.map_err(map_err("threads"))?;
            events.entry(state.tgid).or_default().add(&state.events);
        }
        let retired: PerCpuHashMap<&MapData, u32, abi::ProbeEvents> =
            PerCpuHashMap::try_from(self.map("retired")?).map_err(map_err("retired"))?;
        for item in retired.iter() {
            let (tgid, per_cpu) = item.map_err(map_err("retired"))?;
            let sum = events.entry(tgid).or_default();
            for v in per_cpu.iter() {
                sum.add(v);
            }
        }
        Ok(events)
    }

    fn map(&self, name: &'static str) -> Result<&aya::maps::Map, ProbeError> {
        self.ebpf.map(name).ok_or(ProbeError::Map {
            map: name,
            source: aya::maps::MapError::InvalidName {
                name: name.to_string(),
            },
        })
    }

    fn map_mut(&mut self, name: &'static str) -> Result<&mut aya::maps::Map, ProbeError> {
        self.ebpf.map_mut(name).ok_or(ProbeError::Map {
            map: name,
            source: aya::maps::MapError::InvalidName {
                name: name.to_string(),
            },
        })
    }
}

fn map_err(map: &'static str) -> impl Fn(aya::maps::MapError) -> ProbeError {
    move |source| ProbeError::Map { map, source }
}

#[cfg(test)]
mod tests {
    /// A profiler keeps the probe in one thread and drives processes from others.
    #[test]
    fn probe_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<super::Probe>();
        assert_send_sync::<super::ProbeReport>();
    }
}
