//! Paired measurement (DESIGN §7, the gate's paired mode): a base and a head sidecar in front
//! of the same echo application, measured interleaved in one run. At every point (mode,
//! size, repetition, load) the load runs once straight to the application, once through the
//! base and once through the head, in rotating order, so that whatever the machine does
//! slowly (other jobs, frequency, cache state) falls on both sides alike.
//!
//! Three profiles come out: the base's and the head's (each against the shared no-sidecar
//! runs), and the **difference** profile, fitted from the per-point differences head − base
//! (the base runs play the reference). OLS is linear in the observations, so the difference
//! profile's coefficients equal head − base exactly, and its standard errors are those of
//! the paired differences: the gate's paired test uses them.

use std::collections::BTreeMap;

use super::Profile;
use super::assemble::assemble;
use super::measure::{Block, MeasureConfig, MeasureError, Progress, fingerprint};
use super::measure::{max_rate, progress_bar, record, start_echo, start_session, start_sidecar};
use super::runs::{Load, Run};
use crate::harness::{Launch, Sidecar};
use crate::probe::Role;
use crate::vocab::SidecarConfig;

/// What a paired run measured.
#[derive(Clone, Debug)]
pub struct PairedProfiles {
    /// The base sidecar against the shared no-sidecar runs.
    pub base: Profile,
    /// The head sidecar against the shared no-sidecar runs.
    pub head: Profile,
    /// Fitted from the per-point differences head − base: coefficients head − base, standard
    /// errors of the paired differences.
    pub difference: Profile,
    /// Matched points (closed-loop and open-loop), over all modes.
    pub points: usize,
}

/// The order of the three targets at point `i`: a rotation, and every other cycle reversed,
/// so each target is first, middle and last equally often.
fn order(i: usize) -> [usize; 3] {
    let r = i % 3;
    let mut o = [r, (r + 1) % 3, (r + 2) % 3];
    if (i / 3) % 2 == 1 {
        o.reverse();
    }
    o
}

/// Measures `base` and `cfg.sidecar` (the head) interleaved. Filters are not paired (yet).
pub fn measure_paired(
    cfg: &MeasureConfig,
    base: &Sidecar,
    launch: &Launch,
    progress: &mut dyn FnMut(Progress),
) -> Result<PairedProfiles, MeasureError> {
    cfg.validate()?;
    if !cfg.filters.is_empty() {
        let names: Vec<&str> = cfg.filters.iter().map(|f| f.as_str()).collect();
        return Err(MeasureError::Settings(format!(
            "paired mode compares plain modes only, and filters {} are asked for (by `filters` or by the fixtures' services); check them unpaired, or gate fixtures without filters",
            names.join(", ")
        )));
    }
    let (mut probe, cpus, clock) = start_session(cfg)?;
    let cores = clock.cores;
    let smallest = *cfg.sizes.iter().min().expect("validated");
    let (mut direct, mut base_runs, mut head_runs) = (Vec::new(), Vec::new(), Vec::new());
    let mut max_rate_rps = BTreeMap::new();
    let mut notes = Vec::new();
    let (mut base_version, mut head_version) = (None, None);
    let mut point = 0usize;
    let base_cfg = MeasureConfig {
        sidecar: base.clone(),
        ..cfg.clone()
    };

    for mode in cfg.modes_in_order() {
        progress(Progress::Phase(format!(
            "{mode}: starting the application and both sidecars"
        )));
        let (_socket_dir, echo) = start_echo(cfg, launch, mode, cpus.1.as_deref())?;
        probe.add_target(echo.pid(), Role::App)?;
        let plain = SidecarConfig::new(mode, vec![]).map_err(MeasureError::Settings)?;
        let mut head = start_sidecar(cfg, launch, &plain, &echo, cpus.2.as_deref(), &mut probe)?;
        let mut base_sc = start_sidecar(
            &base_cfg,
            launch,
            &plain,
            &echo,
            cpus.2.as_deref(),
            &mut probe,
        )?;
        head_version = head.version().map(str::to_string).or(head_version);
        base_version = base_sc.version().map(str::to_string).or(base_version);

        let loads = if cfg.rate_fractions.is_empty() {
            vec![Load::Closed]
        } else {
            progress(Progress::Phase(format!("{mode}: finding the maximum rate")));
            // Both sides run at the same rates: the lower of the two maxima.
            let mut max = f64::INFINITY;
            for target in [head.listen(), base_sc.listen()] {
                max = max.min(max_rate(mode, target, smallest, cpus.0, &mut notes)?);
            }
            head.check_running()?;
            base_sc.check_running()?;
            max_rate_rps.insert(mode, max);
            std::iter::once(Load::Closed)
                .chain(cfg.rate_fractions.iter().map(|f| Load::Open {
                    fraction: *f,
                    rate: f * max,
                }))
                .collect()
        };

        progress(Progress::Phase(format!("{mode}: measuring base and head")));
        let mut block = Block {
            probe: &mut probe,
            cfg,
            cpus: cpus.clone(),
        };
        let targets = [
            echo.endpoint().clone(),
            base_sc.listen().clone(),
            head.listen().clone(),
        ];
        for &size in &cfg.sizes {
            for repeat in 0..cfg.repeat {
                for (load, slot) in cfg.slots(&loads, repeat) {
                    for which in order(point) {
                        let r = block.run_once(mode, &targets[which], size, load)?;
                        let run = record(&plain, which != 0, size, load, slot, r);
                        match which {
                            0 => direct.push(run),
                            1 => {
                                base_sc.check_running()?;
                                base_runs.push(run);
                            }
                            _ => {
                                head.check_running()?;
                                head_runs.push(run);
                            }
                        }
                        progress(Progress::Run);
                    }
                    point += 1;
                }
            }
        }
    }
    let done = clock.finish(probe)?;
    let settings = done.settings(cfg, max_rate_rps);
    let profile = |sidecar: &Sidecar, version: Option<String>, through: Vec<Run>, what: &str| {
        let runs: Vec<Run> = direct.iter().cloned().chain(through).collect();
        done.profile(
            &format!("{what} of a paired run, "),
            fingerprint(sidecar, launch, version, cores),
            notes.clone(),
            settings.clone(),
            runs,
        )
    };
    // The differences: base runs as the reference, head runs as "through the sidecar".
    let diff_runs: Vec<Run> = base_runs
        .iter()
        .map(|r| Run {
            through_sidecar: false,
            ..r.clone()
        })
        .chain(head_runs.iter().cloned())
        .collect();
    let (diff_modes, diff_checks) = assemble(&diff_runs);
    let head_profile = profile(&cfg.sidecar, head_version, head_runs, "the head");
    let base_profile = profile(base, base_version, base_runs, "the base");
    let difference = Profile {
        source: Some("head − base per matched point of a paired run".into()),
        modes: diff_modes,
        checks: Some(diff_checks),
        runs: Vec::new(),
        ..head_profile.clone()
    };
    Ok(PairedProfiles {
        base: base_profile,
        head: head_profile,
        difference,
        points: point,
    })
}

/// [`measure_paired`] with a progress bar and status lines on `out`.
pub fn measure_paired_reporting(
    cfg: &MeasureConfig,
    base: &Sidecar,
    base_label: &str,
    head_label: &str,
    launch: &Launch,
    out: &mut crate::output::Output,
) -> Result<PairedProfiles, crate::error::Error> {
    // Two runs per point in the plan; three here.
    let planned = cfg.planned_runs() / 2 * 3;
    out.status(
        "Profiling",
        format!(
            "paired: base `{base_label}` and head `{head_label}` interleaved ({} modes, sizes {:?}, {planned} runs)",
            cfg.modes_in_order().len(),
            cfg.sizes,
        ),
    );
    let bar = progress_bar(out, planned);
    let result = measure_paired(cfg, base, launch, &mut |p| match p {
        Progress::Phase(what) => bar.set_message(what),
        Progress::Run => bar.inc(1),
    });
    bar.finish_and_clear();
    let paired = result?;
    let elapsed = paired
        .head
        .settings
        .as_ref()
        .map(|s| s.elapsed_s)
        .unwrap_or(0.0);
    out.status(
        "Profiled",
        format!("{} points, base and head, in {elapsed:.0} s", paired.points),
    );
    Ok(paired)
}

#[cfg(test)]
mod tests {
    use super::order;

    #[test]
    fn every_target_takes_every_place_equally_often() {
        let mut seen = [[0u32; 3]; 3];
        for i in 0..6 {
            let o = order(i);
            let mut sorted = o;
            sorted.sort();
            assert_eq!(sorted, [0, 1, 2]);
            for (place, target) in o.into_iter().enumerate() {
                seen[target][place] += 1;
            }
        }
        assert_eq!(seen, [[2; 3]; 3]);
    }
}
