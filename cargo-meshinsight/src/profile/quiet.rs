//! How quiet the machine was while a profile was measured. The sidecar's latency components
//! include every wake-up delay on the request path; when other processes keep the CPUs busy
//! (a build, another benchmark) or the hypervisor steals time, those delays grow and the
//! profile describes a loaded machine. The profile records both figures and warns.

use procfs::{CurrentSI, KernelStats};
use serde::{Deserialize, Serialize};

/// Other processes' CPU over this share of the machine makes a profile "busy".
pub const BUSY_OTHER_PCT: f64 = 10.0;
/// Stolen time over this share of the machine makes a profile "busy".
pub const BUSY_STEAL_PCT: f64 = 5.0;

/// CPU use of the whole machine during a profile, in % of all its CPUs over the wall time.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MachineLoad {
    /// CPU used by processes the profile did not run (machine busy time minus the profiled
    /// processes' CPU as the probe counted it), %.
    pub other_cpu_pct: f64,
    /// Time the hypervisor gave to other guests (`steal` in /proc/stat), %.
    pub steal_pct: f64,
}

impl MachineLoad {
    /// Whether the figures are over [`BUSY_OTHER_PCT`] or [`BUSY_STEAL_PCT`].
    pub fn is_busy(&self) -> bool {
        self.other_cpu_pct > BUSY_OTHER_PCT || self.steal_pct > BUSY_STEAL_PCT
    }

    /// The warning a busy profile carries.
    pub fn warning(&self) -> Option<String> {
        self.is_busy().then(|| {
            format!(
                "the machine was busy while profiling: other processes used {:.0}% of its CPUs \
                 and {:.0}% was stolen by the hypervisor; the latency components include the \
                 wake-up delays this causes. Profile on a quiet machine (or isolated CPUs) for \
                 reproducible figures",
                self.other_cpu_pct, self.steal_pct
            )
        })
    }
}

/// Busy and stolen ticks of all CPUs so far.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    busy: u64,
    steal: u64,
    at: std::time::Instant,
}

impl Sample {
    /// Reads /proc/stat; `None` when it cannot be read (the figures are then left out).
    pub fn now() -> Option<Sample> {
        let t = KernelStats::current().ok()?.total;
        let busy = t.user + t.nice + t.system + t.irq.unwrap_or(0) + t.softirq.unwrap_or(0);
        Some(Sample {
            busy,
            steal: t.steal.unwrap_or(0),
            at: std::time::Instant::now(),
        })
    }

    /// The load between `self` and now, given the CPU time of the profiled processes in that
    /// interval and the number of CPUs.
    pub fn load_since(&self, ours_cpu_ns: u64, cpus: u32) -> Option<MachineLoad> {
        let now = Sample::now()?;
        let ticks = procfs::ticks_per_second() as f64;
        Some(machine_load(
            (now.busy - self.busy) as f64 / ticks,
            (now.steal - self.steal) as f64 / ticks,
            ours_cpu_ns as f64 / 1e9,
            now.at.duration_since(self.at).as_secs_f64(),
            cpus,
        ))
    }
}

/// The arithmetic of [`Sample::load_since`], in seconds.
pub fn machine_load(busy_s: f64, steal_s: f64, ours_s: f64, wall_s: f64, cpus: u32) -> MachineLoad {
    let capacity = wall_s * cpus.max(1) as f64;
    let pct = |s: f64| {
        if capacity > 0.0 {
            (100.0 * s / capacity).clamp(0.0, 100.0)
        } else {
            0.0
        }
    };
    MachineLoad {
        other_cpu_pct: pct(busy_s - ours_s),
        steal_pct: pct(steal_s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_load_is_what_the_profiled_processes_did_not_use() {
        // 10 s on 2 CPUs, 9 s busy of which 6 s were ours: 3 s of 20 = 15 %.
        let l = machine_load(9.0, 0.5, 6.0, 10.0, 2);
        assert!((l.other_cpu_pct - 15.0).abs() < 1e-9);
        assert!((l.steal_pct - 2.5).abs() < 1e-9);
        assert!(l.is_busy());
        assert!(l.warning().unwrap().contains("15%"));
        // The probe can count a little more than the ticks: never negative.
        let quiet = machine_load(5.0, 0.0, 5.2, 10.0, 2);
        assert_eq!(quiet.other_cpu_pct, 0.0);
        assert!(quiet.warning().is_none());
    }

    #[test]
    fn the_machine_can_be_sampled() {
        let s = Sample::now().expect("/proc/stat is readable");
        let l = s.load_since(0, 2).unwrap();
        assert!((0.0..=100.0).contains(&l.other_cpu_pct));
    }
}
