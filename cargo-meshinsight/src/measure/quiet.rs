//! How quiet the machine was while a profile was measured. The sidecar's latency components
//! include every wake-up delay on the request path; when other processes keep the CPUs busy
//! (a build, another benchmark) or the hypervisor steals time, those delays grow and the
//! profile describes a loaded machine. The profile records both figures and warns.

use procfs::{CurrentSI, KernelStats};

use crate::model::settings::{MachineLoad, machine_load};

/// Busy and stolen ticks of all CPUs so far.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sample {
    busy: u64,
    steal: u64,
    at: std::time::Instant,
}

impl Sample {
    /// Reads /proc/stat; `None` when it cannot be read (the figures are then left out).
    pub(crate) fn now() -> Option<Sample> {
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
    pub(crate) fn load_since(&self, ours_cpu_ns: u64, cpus: u32) -> Option<MachineLoad> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_machine_can_be_sampled() {
        let s = Sample::now().expect("/proc/stat is readable");
        let l = s.load_since(0, 2).unwrap();
        assert!((0.0..=100.0).contains(&l.other_cpu_pct));
    }
}
