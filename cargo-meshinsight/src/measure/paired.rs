//! Paired measurement (the gate's paired mode): a base and a head sidecar in front of the
//! same echo application, measured interleaved in one run. At every point (mode, size,
//! repetition, load) the load runs once straight to the application, once through the base
//! and once through the head, in rotating order, so that whatever the machine does slowly
//! (other jobs, frequency, cache state) falls on both sides alike.
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

use super::plan::Plan;
use super::{MeasureConfig, MeasureError, Progress, SettingsError, fingerprint, run};
use crate::harness::{Launch, Sidecar};
use crate::model::Profile;
use crate::model::assemble::assemble;
use crate::model::runs::{LoadKey, Run};
use crate::probe::ProbeComponent;
use crate::vocab::SidecarConfig;

/// What a paired run measured.
#[derive(Clone, Debug)]
pub(crate) struct PairedProfiles {
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

/// The runs of a paired measurement by where they went.
struct Sides {
    direct: Vec<Run>,
    base: Vec<Run>,
    head: Vec<Run>,
}

impl Sides {
    /// Splits runs measured with the base as sidecar 0 and the head as sidecar 1.
    fn split(runs: Vec<(Option<usize>, Run)>) -> Sides {
        let mut sides = Sides {
            direct: Vec::new(),
            base: Vec::new(),
            head: Vec::new(),
        };
        for (sidecar, run) in runs {
            match sidecar {
                None => sides.direct.push(run),
                Some(0) => sides.base.push(run),
                Some(_) => sides.head.push(run),
            }
        }
        sides
    }
}

/// Measures `base` and `cfg.sidecar` (the head) interleaved, plain modes and each filter
/// (the combination of filters is not measured: it serves the additivity check only).
pub(crate) fn measure_paired(
    cfg: &MeasureConfig,
    base: &Sidecar,
    launch: &Launch,
    progress: &mut dyn FnMut(Progress),
) -> Result<PairedProfiles, MeasureError> {
    cfg.validate()?;
    if cfg.chain > 1 {
        return Err(SettingsError::PairedChain.into());
    }
    let base_cfg = MeasureConfig {
        sidecar: base.clone(),
        ..cfg.clone()
    };
    base_cfg.validate()?; // the base may lack a filter the head has
    let measured = run::execute(
        cfg,
        &Plan::paired(cfg),
        &[base, &cfg.sidecar],
        launch,
        progress,
    )?;
    let mut versions = measured.versions.into_iter();
    let (base_version, head_version) = (versions.next().flatten(), versions.next().flatten());
    let sides = Sides::split(measured.runs);
    let done = measured.finished;
    let settings = done.settings(cfg, measured.max_rate_rps);
    let profile = |sidecar: &Sidecar, version: Option<String>, through: Vec<Run>, what: &str| {
        let runs: Vec<Run> = sides.direct.iter().cloned().chain(through).collect();
        done.profile(
            &format!("{what} of a paired run, "),
            fingerprint(sidecar, launch, version, measured.cores),
            measured.notes.clone(),
            settings.clone(),
            runs,
        )
    };
    let (diff_modes, diff_checks) = assemble(&difference_runs(&sides.base, &sides.head));
    let head_profile = profile(&cfg.sidecar, head_version, sides.head.clone(), "the head");
    let base_profile = profile(base, base_version, sides.base.clone(), "the base");
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
        points: measured.points,
    })
}

/// Where a run of a filter phase belongs: the filtered configuration of its phase, whether
/// it is that phase's plain reference run, and its point.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct FilterPoint {
    config: SidecarConfig,
    reference: bool,
    size: u64,
    load: LoadKey,
    repeat: u32,
}

impl FilterPoint {
    fn of(r: &Run) -> FilterPoint {
        let (config, reference) = match &r.reference_for {
            Some(c) => (c.clone(), true),
            None => (r.config.clone(), false),
        };
        FilterPoint {
            config,
            reference,
            size: r.size,
            load: r.load.key(),
            repeat: r.repeat,
        }
    }
}

/// Runs whose [`assemble`] is the difference profile: for plain modes, the base runs as the
/// reference ("without the sidecar") and the head runs as "through"; for a filter, the head's
/// run with the filter shifted by the base's (without − with) at the same point, against the
/// head's run without it, so that the filter's fitted cost is (head with − head without) −
/// (base with − base without).
fn difference_runs(base_runs: &[Run], head_runs: &[Run]) -> Vec<Run> {
    let filter_phase = |r: &Run| r.reference_for.is_some() || !r.config.filters.is_empty();
    let base: BTreeMap<FilterPoint, &Run> = base_runs
        .iter()
        .filter(|r| filter_phase(r))
        .map(|r| (FilterPoint::of(r), r))
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
        let with_point = FilterPoint::of(with);
        let base_with = base.get(&with_point);
        let base_without = base.get(&FilterPoint {
            reference: true,
            ..with_point
        });
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
    use crate::model::runs::Load;
    use crate::vocab::{Component, Filter, Mode};

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
            counters: BTreeMap::new(),
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
