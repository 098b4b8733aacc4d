//! What the machine allows: privileges, tracefs, BTF, kprobes. Checked before loading.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::ProbeError;

const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// Where tracefs is normally mounted (aya looks here and under debugfs).
pub const TRACEFS: &str = "/sys/kernel/tracing";
const TRACEFS_DEBUG: &str = "/sys/kernel/debug/tracing";

/// The tracepoints of the probe: (category, name, classic tracepoint program, raw
/// tracepoint program). Both sets of programs are in `bpf/probe.bpf.c`, with one body.
pub const TRACEPOINTS: &[(&str, &str, &str, &str)] = &[
    ("raw_syscalls", "sys_enter", "sys_enter", "raw_sys_enter"),
    ("raw_syscalls", "sys_exit", "sys_exit", "raw_sys_exit"),
    ("sched", "sched_switch", "sched_switch", "raw_sched_switch"),
    ("sched", "sched_wakeup", "sched_wakeup", "raw_sched_wakeup"),
    (
        "sched",
        "sched_process_fork",
        "sched_process_fork",
        "raw_sched_process_fork",
    ),
    (
        "sched",
        "sched_process_exit",
        "sched_process_exit",
        "raw_sched_process_exit",
    ),
    ("irq", "softirq_entry", "softirq_entry", "raw_softirq_entry"),
    ("irq", "softirq_exit", "softirq_exit", "raw_softirq_exit"),
    (
        "net",
        "net_dev_start_xmit",
        "net_dev_start_xmit",
        "raw_net_dev_start_xmit",
    ),
    ("net", "net_dev_xmit", "net_dev_xmit", "raw_net_dev_xmit"),
];

/// What was found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// Effective uid is 0.
    pub root: bool,
    /// CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN) are effective.
    pub bpf_caps: bool,
    /// CAP_SYS_ADMIN is effective (needed to mount tracefs privately).
    pub sys_admin: bool,
    /// A mounted tracefs, if any.
    pub tracefs: Option<String>,
    /// Kernel BTF at /sys/kernel/btf/vmlinux (not needed by the default probe set, which
    /// uses hand-written tracepoint records; needed by CO-RE variants).
    pub btf: bool,
    /// kprobes are configured (kprobe_events exists in tracefs); unknown without tracefs.
    pub kprobes: Option<bool>,
}

impl Capabilities {
    /// Looks at the running process and kernel.
    pub fn detect() -> Capabilities {
        let caps = effective_caps().unwrap_or(0);
        let has = |bit: u32| caps & (1u64 << bit) != 0;
        // SAFETY: geteuid has no preconditions and cannot fail.
        let root = unsafe { libc::geteuid() } == 0;
        let tracefs = mounted_tracefs();
        let kprobes = tracefs
            .as_ref()
            .map(|t| Path::new(t).join("kprobe_events").exists());
        Capabilities {
            root,
            bpf_caps: (has(CAP_BPF) && has(CAP_PERFMON)) || has(CAP_SYS_ADMIN),
            sys_admin: has(CAP_SYS_ADMIN),
            tracefs,
            btf: Path::new("/sys/kernel/btf/vmlinux").exists(),
            kprobes,
        }
    }

    /// Fails with the first missing requirement of the default probe set.
    pub fn require(&self) -> Result<(), ProbeError> {
        if !self.bpf_caps {
            return Err(ProbeError::NotPrivileged);
        }
        if self.tracefs.is_none() && !self.sys_admin {
            return Err(ProbeError::NoTracefs {
                reason: "not mounted".to_string(),
            });
        }
        Ok(())
    }
}

/// The effective capability set from /proc/self/status.
fn effective_caps() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("CapEff:"))?;
    u64::from_str_radix(line.trim_start_matches("CapEff:").trim(), 16).ok()
}

/// A directory where tracefs is mounted (non-empty), as aya looks for it.
pub fn mounted_tracefs() -> Option<String> {
    [TRACEFS, TRACEFS_DEBUG]
        .into_iter()
        .find(|dir| Path::new(dir).join("events").is_dir())
        .map(str::to_string)
}

/// The tracepoints of the default set missing from a mounted tracefs.
pub fn missing_tracepoints(tracefs: &Path) -> Vec<String> {
    TRACEPOINTS
        .iter()
        .filter(|(cat, name, ..)| !tracefs.join("events").join(cat).join(name).is_dir())
        .map(|(cat, name, ..)| format!("{cat}:{name}"))
        .collect()
}

/// Mounts tracefs at [`TRACEFS`] in a mount namespace private to the calling thread, so
/// that nothing changes for the rest of the system and nothing is left behind: the
/// namespace, and the mount with it, go away when the thread ends.
pub fn mount_private_tracefs() -> Result<(), ProbeError> {
    let fail = |what: &str| ProbeError::NoTracefs {
        reason: format!("{what}: {}", std::io::Error::last_os_error()),
    };
    // SAFETY: unshare only changes this thread's namespaces; CLONE_NEWNS (with its implied
    // CLONE_FS) is allowed in a multithreaded process.
    if unsafe { libc::unshare(libc::CLONE_NEWNS) } != 0 {
        return Err(fail("unshare of the mount namespace failed"));
    }
    let root = c"/";
    let target = c"/sys/kernel/tracing";
    let fstype = c"tracefs";
    // SAFETY: valid NUL-terminated strings; making our copy of the tree private stops the
    // mount below from propagating to the parent namespace.
    let rc = unsafe {
        libc::mount(
            std::ptr::null(),
            root.as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(fail("making the private mount namespace private failed"));
    }
    // SAFETY: valid NUL-terminated strings and no data argument.
    let rc = unsafe {
        libc::mount(
            fstype.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(fail("mounting tracefs failed"));
    }
    Ok(())
}
