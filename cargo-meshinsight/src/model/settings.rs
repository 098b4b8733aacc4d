//! How a profile was measured, kept in the profile file: the settings, and how busy the rest
//! of the machine was meanwhile.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::vocab::Mode;

/// How a profile was measured (kept in the profile file).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Sizes, bytes.
    pub sizes: Vec<u64>,
    /// Open-loop rates, % of the maximum.
    pub rates_pct: Vec<f64>,
    /// Repetitions.
    pub repeat: u32,
    /// Measured requests per closed-loop point and repeat.
    pub requests: u64,
    /// ... measured in blocks of this many (each block a run pair).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_requests: Option<u64>,
    /// Measured time per open-loop run, ms.
    pub open_duration_ms: u64,
    /// The maximum rate found per mode (through the sidecar, at the smallest size).
    pub max_rate_rps: BTreeMap<Mode, f64>,
    /// Wall time of the whole profile, seconds.
    pub elapsed_s: f64,
    /// Whether processes were pinned to CPUs.
    pub pinned: bool,
    /// Sidecars in series on the measured path (`--chain`); absent: 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<u32>,
    /// How busy the rest of the machine was meanwhile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine_load: Option<MachineLoad>,
}

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

/// The load of a machine of `cpus` CPUs over `wall_s` seconds, from its busy and stolen
/// seconds and those of the profiled processes.
pub(crate) fn machine_load(
    busy_s: f64,
    steal_s: f64,
    ours_s: f64,
    wall_s: f64,
    cpus: u32,
) -> MachineLoad {
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
}
