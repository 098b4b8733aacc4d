//! The judging of `doctor`: each check turns readings into one finding (✔, !, ✘ or -) with a
//! one-line remedy. Pure, so that every branch is tested without the machine it describes.

use serde::Serialize;

use super::system::{Readings, format_cpu_list};
use crate::model::settings::{BUSY_OTHER_PCT, BUSY_STEAL_PCT};

/// How a check came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    /// Fine for the gate.
    Ok,
    /// The gate runs, with more noise or less than it could.
    Warn,
    /// The gate cannot run.
    Fail,
    /// Does not apply here.
    Skip,
}

impl Status {
    /// The mark printed before the check.
    pub(crate) fn mark(self) -> &'static str {
        match self {
            Status::Ok => "✔",
            Status::Warn => "!",
            Status::Fail => "✘",
            Status::Skip => "-",
        }
    }
}

/// What a failed check stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Blocks {
    /// A missing privilege or kernel feature of the probe (exit code 102).
    Privilege,
    /// Anything else (exit code 101).
    Other,
}

/// One line of the report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct Finding {
    /// The check's name.
    pub(crate) check: &'static str,
    /// How it came out.
    pub(crate) status: Status,
    /// What was found.
    pub(crate) detail: String,
    /// What to do about it (warnings and failures).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) remedy: Option<String>,
    /// What a failure stops.
    pub(crate) blocks: Blocks,
}

impl Finding {
    pub(crate) fn ok(check: &'static str, detail: impl Into<String>) -> Finding {
        Finding {
            check,
            status: Status::Ok,
            detail: detail.into(),
            remedy: None,
            blocks: Blocks::Other,
        }
    }

    pub(crate) fn skip(check: &'static str, detail: impl Into<String>) -> Finding {
        Finding {
            status: Status::Skip,
            ..Finding::ok(check, detail)
        }
    }

    pub(crate) fn warn(check: &'static str, detail: impl Into<String>, remedy: &str) -> Finding {
        Finding {
            status: Status::Warn,
            remedy: Some(remedy.to_string()),
            ..Finding::ok(check, detail)
        }
    }

    pub(crate) fn fail(check: &'static str, detail: impl Into<String>, remedy: &str) -> Finding {
        Finding {
            status: Status::Fail,
            remedy: Some(remedy.to_string()),
            ..Finding::ok(check, detail)
        }
    }

    fn privilege(self) -> Finding {
        Finding {
            blocks: Blocks::Privilege,
            ..self
        }
    }
}

/// The machine's checks, in the order they are printed.
pub(crate) fn machine(r: &Readings) -> Vec<Finding> {
    vec![
        privileges(r),
        tracepoints(r),
        btf(r),
        mitigations(&r.vulnerabilities),
        cpus(r),
        frequency(r),
        smt(r),
        load(r),
    ]
}

pub(crate) fn privileges(r: &Readings) -> Finding {
    if r.caps.root {
        Finding::ok("privileges", "root")
    } else if r.caps.bpf_caps {
        Finding::ok("privileges", "CAP_BPF and CAP_PERFMON")
    } else {
        Finding::fail(
            "privileges",
            "not root, and no CAP_BPF + CAP_PERFMON: the eBPF probe cannot load",
            "run it as root (a sudoers rule for the installed binary), or grant CAP_BPF and CAP_PERFMON",
        )
        .privilege()
    }
}

pub(crate) fn tracepoints(r: &Readings) -> Finding {
    let n = crate::probe::capability::TRACEPOINTS.len();
    match (&r.missing_tracepoints, r.tracefs_mounted) {
        (Some(missing), _) if missing.is_empty() => Finding::ok(
            "tracepoints",
            format!("all {n} of the probe (raw_syscalls, sched, irq, net)"),
        ),
        (Some(missing), _) => Finding::fail(
            "tracepoints",
            format!("missing: {}", missing.join(", ")),
            "a kernel with CONFIG_TRACEPOINTS and those events (a distribution kernel has them)",
        )
        .privilege(),
        (None, true) => Finding::warn(
            "tracepoints",
            "tracefs is mounted but cannot be listed by this user",
            "run doctor as the gate runs (root) to check them",
        ),
        (None, false) if r.caps.sys_admin => Finding::ok(
            "tracepoints",
            "tracefs is not mounted; the probe mounts it privately (CAP_SYS_ADMIN)",
        ),
        (None, false) => Finding::fail(
            "tracepoints",
            "tracefs is not mounted",
            "mount it as root: mount -t tracefs nodev /sys/kernel/tracing",
        )
        .privilege(),
    }
}

pub(crate) fn btf(r: &Readings) -> Finding {
    if r.caps.btf {
        Finding::ok("kernel BTF", "/sys/kernel/btf/vmlinux")
    } else {
        Finding::warn(
            "kernel BTF",
            "no /sys/kernel/btf/vmlinux (the default probe does not need it)",
            "a kernel built with CONFIG_DEBUG_INFO_BTF=y, for the optional CO-RE probes",
        )
    }
}

/// Mitigations that act on every kernel entry or exit, and so on every syscall the sidecar
/// makes and every event the probe handles.
const ENTRY_MITIGATIONS: &[&str] = &[
    "PTI",
    "Clear CPU buffers",
    "Safe RET",
    "Stuffing",
    "IBPB on entry",
];

pub(crate) fn mitigations(vulns: &[(String, String)]) -> Finding {
    let active: Vec<String> = vulns
        .iter()
        .filter_map(|(name, state)| {
            let what = state.strip_prefix("Mitigation: ")?;
            Some(format!(
                "{name} ({})",
                what.split(';').next().unwrap_or(what)
            ))
        })
        .collect();
    let heavy: Vec<&String> = active
        .iter()
        .filter(|a| {
            ENTRY_MITIGATIONS.iter().any(|m| a.contains(m))
                || (a.contains("IBRS") && !a.contains("eIBRS") && !a.contains("Enhanced"))
        })
        .collect();
    if vulns.is_empty() {
        Finding::skip("mitigations", "not visible")
    } else if heavy.is_empty() {
        Finding::ok(
            "mitigations",
            if active.is_empty() {
                "none active".to_string()
            } else {
                format!("{} (cheap on syscalls)", active.join(", "))
            },
        )
    } else {
        Finding::warn(
            "mitigations",
            format!(
                "on every kernel entry: {}; they raise each syscall's cost and the probe's floor",
                heavy
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "keep the kernel and its command line the same on every runner of the platform",
        )
    }
}

pub(crate) fn cpus(r: &Readings) -> Finding {
    let allowed = format_cpu_list(&r.allowed);
    let mut detail = format!(
        "{} allowed ({allowed}) of {} online",
        r.allowed.len(),
        r.online.len()
    );
    if let Some(set) = &r.cpuset
        && set.len() < r.online.len()
    {
        detail.push_str(&format!("; cgroup cpuset {}", format_cpu_list(set)));
    }
    if r.allowed.len() < 2 {
        return Finding::fail(
            "cpus",
            detail,
            "the echo application, the load generator and the sidecar need at least 2 CPUs",
        );
    }
    let isolated_here: Vec<usize> = r
        .isolated
        .iter()
        .copied()
        .filter(|c| r.allowed.contains(c))
        .collect();
    if r.isolated.is_empty() {
        Finding::warn(
            "cpus",
            format!("{detail}; none isolated"),
            "reserve CPUs for measuring: isolcpus=2-7 nohz_full=2-7 on the kernel command line, the runner service on the others",
        )
    } else if isolated_here.is_empty() {
        Finding::warn(
            "cpus",
            format!(
                "{detail}; isolated {} are outside the allowed set",
                format_cpu_list(&r.isolated)
            ),
            "allow the job the isolated CPUs (the runner service's AllowedCPUs, or taskset)",
        )
    } else {
        Finding::ok(
            "cpus",
            format!(
                "{detail}; isolated {}: measure on them with `cpus = \"{}\"`",
                format_cpu_list(&r.isolated),
                format_cpu_list(&isolated_here)
            ),
        )
    }
}

pub(crate) fn frequency(r: &Readings) -> Finding {
    let governors = match r.governors.as_slice() {
        [] => None,
        g => Some(g.join(", ")),
    };
    let turbo = r.turbo == Some(true);
    match governors {
        None if r.turbo.is_none() => Finding::skip(
            "frequency",
            "governor and turbo not visible (a VM, or a fixed frequency)",
        ),
        Some(g) if g != "performance" => Finding::warn(
            "frequency",
            format!("governor {g}{}", if turbo { ", turbo on" } else { "" }),
            "cpupower frequency-set -g performance, and turbo off",
        ),
        _ if turbo => Finding::warn(
            "frequency",
            "turbo on: the clock follows temperature and load",
            "echo 1 > /sys/devices/system/cpu/intel_pstate/no_turbo (or 0 > .../cpufreq/boost)",
        ),
        g => Finding::ok(
            "frequency",
            format!(
                "governor {}, turbo off",
                g.unwrap_or_else(|| "not visible".into())
            ),
        ),
    }
}

pub(crate) fn smt(r: &Readings) -> Finding {
    match r.smt_active {
        None => Finding::skip("smt", "not visible"),
        Some(false) => Finding::ok("smt", "off or not supported"),
        Some(true) => Finding::warn(
            "smt",
            "on: the sidecar and the load generator may share a core",
            "echo off > /sys/devices/system/cpu/smt/control, or isolate whole cores",
        ),
    }
}

pub(crate) fn load(r: &Readings) -> Finding {
    let Some((l, over)) = r.load else {
        return Finding::skip("load", "not sampled");
    };
    let detail = format!(
        "other processes used {:.0}% of the CPUs and the hypervisor stole {:.0}% over {}",
        l.other_cpu_pct,
        l.steal_pct,
        humantime::format_duration(over)
    );
    if l.steal_pct > BUSY_STEAL_PCT {
        Finding::warn(
            "load",
            detail,
            "a VM with dedicated (pinned) vCPUs, or bare metal",
        )
    } else if l.other_cpu_pct > BUSY_OTHER_PCT {
        Finding::warn(
            "load",
            detail,
            "nothing else on the runner while it measures: one runner, one job at a time",
        )
    } else {
        Finding::ok("load", detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::settings::MachineLoad;
    use crate::probe::capability::Capabilities;
    use std::time::Duration;

    fn quiet_root() -> Readings {
        Readings {
            caps: Capabilities {
                root: true,
                bpf_caps: true,
                sys_admin: true,
                tracefs: Some("/sys/kernel/tracing".into()),
                btf: true,
                kprobes: Some(false),
            },
            tracefs_mounted: true,
            missing_tracepoints: Some(vec![]),
            vulnerabilities: vec![("meltdown".into(), "Not affected".into())],
            online: (0..8).collect(),
            allowed: (0..8).collect(),
            isolated: (2..8).collect(),
            cpuset: Some((0..8).collect()),
            governors: vec!["performance".into()],
            turbo: Some(false),
            smt_active: Some(false),
            load: Some((
                MachineLoad {
                    other_cpu_pct: 1.0,
                    steal_pct: 0.0,
                },
                Duration::from_secs(3),
            )),
        }
    }

    #[test]
    fn a_quiet_isolated_root_machine_passes_every_check() {
        let r = quiet_root();
        for f in machine(&r) {
            assert_eq!(f.status, Status::Ok, "{f:?}");
        }
        assert_eq!(
            cpus(&r).detail,
            "8 allowed (0-7) of 8 online; isolated 2-7: measure on them with `cpus = \"2-7\"`"
        );
    }

    #[test]
    fn no_privilege_fails_as_a_privilege_with_its_remedy() {
        let mut r = quiet_root();
        r.caps.root = false;
        r.caps.bpf_caps = false;
        r.caps.sys_admin = false;
        r.caps.tracefs = None;
        r.missing_tracepoints = None;
        let p = privileges(&r);
        assert_eq!((p.status, p.blocks), (Status::Fail, Blocks::Privilege));
        assert!(p.remedy.unwrap().contains("CAP_BPF and CAP_PERFMON"));
        // Mounted but unreadable by this user: a warning, not a second failure.
        assert_eq!(tracepoints(&r).status, Status::Warn);
        r.tracefs_mounted = false;
        assert_eq!(tracepoints(&r).status, Status::Fail);
    }

    #[test]
    fn missing_tracepoints_are_named() {
        let mut r = quiet_root();
        r.missing_tracepoints = Some(vec!["irq:softirq_entry".into()]);
        let f = tracepoints(&r);
        assert_eq!(f.status, Status::Fail);
        assert_eq!(f.detail, "missing: irq:softirq_entry");
    }

    #[test]
    fn mitigations_on_every_entry_warn_and_cheap_ones_do_not() {
        let v = |s: &[(&str, &str)]| -> Vec<(String, String)> {
            s.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        let cheap = mitigations(&v(&[
            ("spectre_v2", "Mitigation: Retpolines; STIBP: disabled"),
            ("meltdown", "Not affected"),
        ]));
        assert_eq!(cheap.status, Status::Ok);
        assert_eq!(cheap.detail, "spectre_v2 (Retpolines) (cheap on syscalls)");
        let heavy = mitigations(&v(&[
            ("meltdown", "Mitigation: PTI"),
            ("spectre_v2", "Mitigation: Enhanced / Automatic IBRS"),
        ]));
        assert_eq!(heavy.status, Status::Warn);
        assert!(
            heavy
                .detail
                .starts_with("on every kernel entry: meltdown (PTI);")
        );
        assert_eq!(mitigations(&[]).status, Status::Skip);
    }

    #[test]
    fn cpus_warn_without_isolation_and_fail_below_two() {
        let mut r = quiet_root();
        r.isolated.clear();
        assert_eq!(cpus(&r).status, Status::Warn);
        r.isolated = vec![6, 7];
        r.allowed = vec![0, 1];
        let f = cpus(&r);
        assert_eq!(f.status, Status::Warn);
        assert!(
            f.detail
                .contains("isolated 6-7 are outside the allowed set")
        );
        r.allowed = vec![0];
        assert_eq!(cpus(&r).status, Status::Fail);
    }

    #[test]
    fn frequency_smt_and_load_warn_where_they_add_noise() {
        let mut r = quiet_root();
        r.governors = vec!["powersave".into()];
        assert_eq!(frequency(&r).status, Status::Warn);
        r.governors.clear();
        r.turbo = None;
        assert_eq!(frequency(&r).status, Status::Skip);
        r.turbo = Some(true);
        assert_eq!(frequency(&r).status, Status::Warn);
        r.smt_active = Some(true);
        assert_eq!(smt(&r).status, Status::Warn);
        r.load = Some((
            MachineLoad {
                other_cpu_pct: 40.0,
                steal_pct: 0.0,
            },
            Duration::from_secs(3),
        ));
        let f = load(&r);
        assert_eq!(f.status, Status::Warn);
        assert_eq!(
            f.detail,
            "other processes used 40% of the CPUs and the hypervisor stole 0% over 3s"
        );
    }
}
