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
//!
//! Filters: on the filter mode, a base and a head sidecar with each filter run beside the
//! plain ones, four runs per point in rotating order. Each side's filter cost pairs with its
//! plain run of the same point (`Run::reference_for`); the difference profile's filter cost is
//! (head with − head without) − (base with − base without) per point.

use std::collections::BTreeMap;

use super::{Block, MeasureConfig, MeasureError, Progress, fingerprint};
use super::{max_rate, record, start_echo, start_session, start_sidecar};
use crate::harness::{Launch, Sidecar};
use crate::model::Profile;
use crate::model::assemble::assemble;
use crate::model::runs::{Load, LoadKey, Run};
use crate::probe::{ProbeComponent, Role};
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

/// The order of `N` targets at point `i`: a rotation, and every other cycle reversed, so
/// each target takes every place equally often.
fn order<const N: usize>(i: usize) -> [usize; N] {
    let r = i % N;
    let mut o: [usize; N] = std::array::from_fn(|k| (r + k) % N);
    if (i / N) % 2 == 1 {
        o.reverse();
    }
    o
}

/// Measures `base` and `cfg.sidecar` (the head) interleaved, plain modes and each filter
/// (the combination of filters is not measured: it serves the additivity check only).
pub fn measure_paired(
    cfg: &MeasureConfig,
    base: &Sidecar,
    launch: &Launch,
    progress: &mut dyn FnMut(Progress),
) -> Result<PairedProfiles, MeasureError> {
    cfg.validate()?;
    if cfg.chain > 1 {
        return Err(MeasureError::Settings(
            "a paired check measures one sidecar per path; --chain is for `profile`".into(),
        ));
    }
    let base_cfg = MeasureConfig {
        sidecar: base.clone(),
        ..cfg.clone()
    };
    base_cfg.validate()?; // the base may lack a filter the head has
    let (mut probe, cpus, clock) = start_session(cfg)?;
    let cores = clock.cores;
    let smallest = *cfg.sizes.iter().min().expect("validated");
    let (mut direct, mut base_runs, mut head_runs) = (Vec::new(), Vec::new(), Vec::new());
    let mut max_rate_rps = BTreeMap::new();
    let mut notes = Vec::new();
    let (mut base_version, mut head_version) = (None, None);
    let mut point = 0usize;

    for mode in cfg.modes_in_order() {
        progress(Progress::Phase(format!(
            "{mode}: starting the application and both sidecars"
        )));
        let (_socket_dir, echo) = start_echo(cfg, launch, mode, cpus.1.as_deref())?;
        probe.add_target(echo.pid(), Role::App)?;
        let plain = SidecarConfig::plain(mode);
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
        for (size, load, slot) in cfg.schedule(&loads) {
            for which in order::<3>(point) {
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

        if cfg.filter_mode() == Some(mode) {
            for &filter in &cfg.filters {
                let config = SidecarConfig::new(mode, vec![filter])?;
                progress(Progress::Phase(format!(
                    "{config}: measuring base and head against plain {mode}"
                )));
                let mut head_f =
                    start_sidecar(cfg, launch, &config, &echo, cpus.2.as_deref(), &mut probe)?;
                let mut base_f = start_sidecar(
                    &base_cfg,
                    launch,
                    &config,
                    &echo,
                    cpus.2.as_deref(),
                    &mut probe,
                )?;
                let mut block = Block {
                    probe: &mut probe,
                    cfg,
                    cpus: cpus.clone(),
                };
                // Even: base, odd: head; 0 and 1 plain, 2 and 3 with the filter.
                let targets = [
                    base_sc.listen().clone(),
                    head.listen().clone(),
                    base_f.listen().clone(),
                    head_f.listen().clone(),
                ];
                for (size, load, slot) in cfg.schedule(&loads) {
                    for which in order::<4>(point) {
                        let r = block.run_once(mode, &targets[which], size, load)?;
                        for s in [&mut base_sc, &mut head, &mut base_f, &mut head_f] {
                            s.check_running()?;
                        }
                        let run = if which >= 2 {
                            record(&config, true, size, load, slot, r)
                        } else {
                            Run {
                                reference_for: Some(config.clone()),
                                ..record(&plain, true, size, load, slot, r)
                            }
                        };
                        if which % 2 == 0 {
                            base_runs.push(run);
                        } else {
                            head_runs.push(run);
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
    let (diff_modes, diff_checks) = assemble(&difference_runs(&base_runs, &head_runs));
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

/// Runs whose [`assemble`] is the difference profile: for plain modes, the base runs as the
/// reference ("without the sidecar") and the head runs as "through"; for a filter, the head's
/// run with the filter shifted by the base's (without − with) at the same point, against the
/// head's run without it, so that the filter's fitted cost is (head with − head without) −
/// (base with − base without).
fn difference_runs(base_runs: &[Run], head_runs: &[Run]) -> Vec<Run> {
    type At = (SidecarConfig, bool, u64, LoadKey, u32);
    let at = |r: &Run| -> At {
        match &r.reference_for {
            Some(c) => (c.clone(), true, r.size, r.load.key(), r.repeat),
            None => (r.config.clone(), false, r.size, r.load.key(), r.repeat),
        }
    };
    let filter_phase = |r: &Run| r.reference_for.is_some() || !r.config.filters.is_empty();
    let base: BTreeMap<At, &Run> = base_runs
        .iter()
        .filter(|r| filter_phase(r))
        .map(|r| (at(r), r))
        .collect();
    let mut out: Vec<Run> = base_runs
        .iter()
        .filter(|r| !filter_phase(r))
        .map(|r| Run {
            through_sidecar: false,
            ..r.clone()
        })
        .chain(head_runs.iter().filter(|r| !filter_phase(r)).cloned())
        .collect();
    for with in head_runs.iter().filter(|r| !r.config.filters.is_empty()) {
        let (config, _, size, load, repeat) = at(with);
        let base_with = base.get(&(config.clone(), false, size, load, repeat));
        let base_without = base.get(&(config, true, size, load, repeat));
        let (Some(base_with), Some(base_without)) = (base_with, base_without) else {
            continue; // unmatched: `assemble` warns about the head's run without a partner
        };
        let shift = |x: &BTreeMap<ProbeComponent, f64>,
                     plus: &BTreeMap<ProbeComponent, f64>,
                     minus: &BTreeMap<ProbeComponent, f64>|
         -> BTreeMap<ProbeComponent, f64> {
            x.iter()
                .map(|(c, v)| {
                    let d =
                        plus.get(c).copied().unwrap_or(0.0) - minus.get(c).copied().unwrap_or(0.0);
                    (*c, v + d)
                })
                .collect()
        };
        out.push(Run {
            path_us: shift(&with.path_us, &base_without.path_us, &base_with.path_us),
            cpu_us: shift(&with.cpu_us, &base_without.cpu_us, &base_with.cpu_us),
            client_mean_us: with.client_mean_us + base_without.client_mean_us
                - base_with.client_mean_us,
            client_p50_us: with.client_p50_us + base_without.client_p50_us
                - base_with.client_p50_us,
            ..with.clone()
        });
    }
    out.extend(
        head_runs
            .iter()
            .filter(|r| r.reference_for.is_some())
            .cloned(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::{Component, Filter, Mode};

    fn seen<const N: usize>() -> [[u32; N]; N] {
        let mut seen = [[0u32; N]; N];
        for i in 0..2 * N {
            let o = order::<N>(i);
            let mut sorted = o;
            sorted.sort();
            assert_eq!(sorted, std::array::from_fn(|k| k));
            for (place, target) in o.into_iter().enumerate() {
                seen[target][place] += 1;
            }
        }
        seen
    }

    #[test]
    fn every_target_takes_every_place_equally_often() {
        assert_eq!(seen::<3>(), [[2; 3]; 3]);
        assert_eq!(seen::<4>(), [[2; 4]; 4]);
    }

    /// A run whose user time is `user` µs per request (the rest fixed), at size `size`.
    fn run(config: &SidecarConfig, through: bool, size: u64, repeat: u32, user: f64) -> Run {
        let times = BTreeMap::from([
            (ProbeComponent::Read, 2.0),
            (ProbeComponent::Write, 3.0),
            (ProbeComponent::User, user),
        ]);
        Run {
            config: config.clone(),
            through_sidecar: through,
            size,
            load: Load::Closed,
            repeat,
            requests: 1000,
            achieved_rps: 10_000.0,
            client_mean_us: 5.0 + user,
            client_p50_us: 5.0 + user,
            path_us: times.clone(),
            cpu_us: times,
            lost_events: 0,
            events: BTreeMap::new(),
            reference_for: None,
            sidecars: 1,
        }
    }

    /// The head's lua filter costs 3 µs more than the base's; each point of the filter phase
    /// also drifts (the same on both sides, as interleaving makes it): the difference profile
    /// gives 3 µs for lua and 0 for the plain mode.
    #[test]
    fn the_difference_profile_prices_the_change_of_a_filter() {
        let tcp = SidecarConfig::new(Mode::Tcp, vec![]).unwrap();
        let http = SidecarConfig::new(Mode::Http, vec![]).unwrap();
        let lua = SidecarConfig::new(Mode::Http, vec![Filter::Lua]).unwrap();
        let (mut base, mut head) = (Vec::new(), Vec::new());
        for size in [100, 2000, 4000] {
            for repeat in 0..3 {
                let drift = f64::from(repeat) * 4.0 + size as f64 / 1000.0;
                for plain in [&tcp, &http] {
                    base.push(run(plain, true, size, repeat, 10.0));
                    head.push(run(plain, true, size, repeat, 10.0));
                }
                let reference = |r: Run| Run {
                    reference_for: Some(lua.clone()),
                    ..r
                };
                base.push(reference(run(&http, true, size, repeat, 10.0 + drift)));
                head.push(reference(run(&http, true, size, repeat, 10.0 + drift)));
                base.push(run(&lua, true, size, repeat, 20.0 + drift));
                head.push(run(&lua, true, size, repeat, 23.0 + drift));
            }
        }
        let (modes, checks) = assemble(&difference_runs(&base, &head));
        let http_diff = &modes[&Mode::Http];
        let lua_other = &http_diff.filters[&Filter::Lua].components[&Component::Other];
        assert!(
            (lua_other.latency.base_us - 3.0).abs() < 1e-9,
            "{lua_other:?}"
        );
        assert!(lua_other.latency.per_byte_us.abs() < 1e-12, "{lua_other:?}");
        let plain_other = &http_diff.components[&Component::Other];
        assert!(plain_other.latency.base_us.abs() < 1e-9, "{plain_other:?}");
        // Every run found its partner (closed loops only here, so CPU comes from them).
        assert!(
            !checks.warnings.iter().any(|w| w.contains("pair")),
            "{:?}",
            checks.warnings
        );
    }
}
