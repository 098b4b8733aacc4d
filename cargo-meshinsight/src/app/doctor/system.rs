//! What `doctor` reads of the machine: privileges, tracefs, the CPU vulnerabilities' state,
//! CPUs (online, allowed, isolated, the cgroup's cpuset), frequency, SMT and load. Plain
//! readings; the judging is in `checks`.

use std::path::Path;
use std::time::Duration;

use crate::measure::quiet::Sample;
use crate::model::settings::MachineLoad;
use crate::probe::capability::{self, Capabilities};

/// Everything read of the machine.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Readings {
    /// Privileges and probe features.
    pub(crate) caps: Capabilities,
    /// tracefs appears in /proc/mounts.
    pub(crate) tracefs_mounted: bool,
    /// The probe's tracepoints missing from tracefs; `None` when it cannot be listed.
    pub(crate) missing_tracepoints: Option<Vec<String>>,
    /// /sys/devices/system/cpu/vulnerabilities: (name, state), sorted.
    pub(crate) vulnerabilities: Vec<(String, String)>,
    /// Online CPUs.
    pub(crate) online: Vec<usize>,
    /// CPUs this process may run on (sched_getaffinity).
    pub(crate) allowed: Vec<usize>,
    /// `isolcpus=` and `nohz_full=` of the kernel command line (housekeeping flags dropped).
    pub(crate) isolated: Vec<usize>,
    /// The cgroup's effective cpuset, when one applies.
    pub(crate) cpuset: Option<Vec<usize>>,
    /// The scaling governors of the allowed CPUs (distinct); empty when not visible.
    pub(crate) governors: Vec<String>,
    /// Turbo/boost: `Some(true)` on, `Some(false)` off, `None` not visible.
    pub(crate) turbo: Option<bool>,
    /// SMT siblings active; `None` when not visible.
    pub(crate) smt_active: Option<bool>,
    /// Other load and steal over the sample, and its length.
    pub(crate) load: Option<(MachineLoad, Duration)>,
}

impl Readings {
    /// Reads the machine; samples the load for `sample` (nothing for zero).
    pub(crate) fn read(sample: Duration) -> Readings {
        let caps = Capabilities::detect();
        let tracefs_mounted = std::fs::read_to_string("/proc/mounts").is_ok_and(|m| {
            m.lines()
                .any(|l| l.split_whitespace().nth(2) == Some("tracefs"))
        });
        let missing_tracepoints = caps
            .tracefs
            .as_deref()
            .map(|t| capability::missing_tracepoints(Path::new(t)));
        let online = read("/sys/devices/system/cpu/online")
            .and_then(|s| parse_cpu_list(&s))
            .unwrap_or_default();
        let allowed = allowed_cpus();
        Readings {
            tracefs_mounted,
            missing_tracepoints,
            vulnerabilities: vulnerabilities(Path::new("/sys/devices/system/cpu/vulnerabilities")),
            isolated: read("/proc/cmdline")
                .map(|c| isolated_cpus(&c))
                .unwrap_or_default(),
            cpuset: cgroup_cpuset(),
            governors: governors(&allowed),
            turbo: turbo(),
            smt_active: read("/sys/devices/system/cpu/smt/active").map(|s| s.trim() == "1"),
            load: sample_load(sample, online.len().max(1)),
            online,
            allowed,
            caps,
        }
    }
}

fn read(path: impl AsRef<Path>) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// `0-3,5,7-8` into CPU numbers; `None` for anything else.
pub(crate) fn parse_cpu_list(s: &str) -> Option<Vec<usize>> {
    let s = s.trim();
    if s.is_empty() {
        return Some(Vec::new());
    }
    let mut cpus = Vec::new();
    for part in s.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
                if b < a || b - a > 65_536 {
                    return None;
                }
                cpus.extend(a..=b);
            }
            None => cpus.push(part.trim().parse().ok()?),
        }
    }
    cpus.sort_unstable();
    cpus.dedup();
    Some(cpus)
}

/// CPU numbers as ranges: `0-3,5`; `none` for no CPU.
pub(crate) fn format_cpu_list(cpus: &[usize]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let start = cpus[i];
        while i + 1 < cpus.len() && cpus[i + 1] == cpus[i] + 1 {
            i += 1;
        }
        parts.push(if cpus[i] == start {
            start.to_string()
        } else {
            format!("{start}-{}", cpus[i])
        });
        i += 1;
    }
    if parts.is_empty() {
        "none".to_string()
    } else {
        parts.join(",")
    }
}

/// The CPUs `isolcpus=` and `nohz_full=` name on a kernel command line.
pub(crate) fn isolated_cpus(cmdline: &str) -> Vec<usize> {
    let mut cpus = Vec::new();
    for arg in cmdline.split_whitespace() {
        let Some((key, value)) = arg.split_once('=') else {
            continue;
        };
        if key != "isolcpus" && key != "nohz_full" {
            continue;
        }
        // isolcpus may start with flags: `isolcpus=nohz,domain,2-7`.
        let list: Vec<&str> = value
            .split(',')
            .filter(|p| p.starts_with(|c: char| c.is_ascii_digit()))
            .collect();
        cpus.extend(parse_cpu_list(&list.join(",")).unwrap_or_default());
    }
    cpus.sort_unstable();
    cpus.dedup();
    cpus
}

/// The CPUs this process may run on.
fn allowed_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity writes at most its size.
    let set = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        (libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) == 0).then_some(set)
    };
    let Some(set) = set else {
        return Vec::new();
    };
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: the index is below CPU_SETSIZE and the set was initialised above.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect()
}

/// The effective cpuset of this process's cgroup (v2, else v1), when the file exists.
fn cgroup_cpuset() -> Option<Vec<usize>> {
    let cgroups = read("/proc/self/cgroup")?;
    for line in cgroups.lines() {
        let mut parts = line.splitn(3, ':');
        let (id, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let file = if id == "0" && controllers.is_empty() {
            format!("/sys/fs/cgroup{path}/cpuset.cpus.effective")
        } else if controllers.split(',').any(|c| c == "cpuset") {
            format!("/sys/fs/cgroup/cpuset{path}/cpuset.effective_cpus")
        } else {
            continue;
        };
        if let Some(cpus) = read(&file).and_then(|s| parse_cpu_list(&s)) {
            return Some(cpus);
        }
    }
    None
}

/// (name, state) of every file in the vulnerabilities directory.
fn vulnerabilities(dir: &Path) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| {
                    let state = read(e.path())?;
                    Some((
                        e.file_name().to_string_lossy().into_owned(),
                        state.trim().to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn governors(cpus: &[usize]) -> Vec<String> {
    let mut g: Vec<String> = cpus
        .iter()
        .filter_map(|c| {
            read(format!(
                "/sys/devices/system/cpu/cpu{c}/cpufreq/scaling_governor"
            ))
        })
        .map(|s| s.trim().to_string())
        .collect();
    g.sort();
    g.dedup();
    g
}

fn turbo() -> Option<bool> {
    if let Some(no_turbo) = read("/sys/devices/system/cpu/intel_pstate/no_turbo") {
        return Some(no_turbo.trim() == "0");
    }
    read("/sys/devices/system/cpu/cpufreq/boost").map(|b| b.trim() == "1")
}

fn sample_load(sample: Duration, cpus: usize) -> Option<(MachineLoad, Duration)> {
    if sample.is_zero() {
        return None;
    }
    let start = Sample::now()?;
    std::thread::sleep(sample);
    let load = start.load_since(0, u32::try_from(cpus).unwrap_or(u32::MAX))?;
    Some((load, sample))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_parse_and_print_as_the_kernel_writes_them() {
        assert_eq!(
            parse_cpu_list("0-3,5,7-8\n"),
            Some(vec![0, 1, 2, 3, 5, 7, 8])
        );
        assert_eq!(parse_cpu_list(""), Some(vec![]));
        assert_eq!(parse_cpu_list("3-1"), None);
        assert_eq!(parse_cpu_list("a"), None);
        assert_eq!(format_cpu_list(&[0, 1, 2, 3, 5, 7, 8]), "0-3,5,7-8");
        assert_eq!(format_cpu_list(&[]), "none");
    }

    #[test]
    fn isolated_cpus_come_from_isolcpus_and_nohz_full() {
        assert_eq!(
            isolated_cpus("quiet isolcpus=nohz,domain,2-3 nohz_full=4,5 rcu_nocbs=6"),
            vec![2, 3, 4, 5]
        );
        assert!(isolated_cpus("console=ttyS0").is_empty());
    }

    #[test]
    fn this_machine_can_be_read() {
        let r = Readings::read(Duration::from_millis(100));
        assert!(!r.online.is_empty());
        assert!(!r.allowed.is_empty());
        assert!(r.load.is_some());
    }
}
