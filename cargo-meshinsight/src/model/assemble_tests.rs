//! Runs made from a known truth must give that truth back.

use std::collections::BTreeMap;

use super::*;
use crate::model::CpuPrice;
use crate::model::runs::Load;

/// Per-request times of the sidecar at size `s` for a configuration, by probe component.
fn added(config: &SidecarConfig, s: f64) -> BTreeMap<P, f64> {
    let mut m = BTreeMap::from([
        (P::Read, 1.0 + 0.001 * s),
        (P::Write, 2.0 + 0.002 * s),
        (P::Ipc, 3.0),
        (P::Notify, 1.0),
        (P::User, 4.0 + 0.001 * s),
        (P::OtherKernel, 0.5),
    ]);
    if config.mode == Mode::Http {
        *m.get_mut(&P::User).unwrap() = 30.0 + 0.003 * s;
    }
    if config.filters.contains(&Filter::Lua) {
        *m.get_mut(&P::User).unwrap() += 10.0;
    }
    if config.filters.contains(&Filter::Fault) {
        *m.get_mut(&P::User).unwrap() += 2.0;
    }
    m
}

fn run(config: &SidecarConfig, through: bool, size: u64, load: Load, repeat: u32) -> Run {
    let base = BTreeMap::from([
        (P::Read, 2.0),
        (P::Write, 3.0),
        (P::Ipc, 1.0),
        (P::Notify, 0.5),
        (P::User, 10.0),
        (P::OtherKernel, 0.5),
    ]);
    let mut path = base.clone();
    if through {
        for (c, v) in added(config, size as f64) {
            *path.get_mut(&c).unwrap() += v;
        }
    }
    // The client sees everything on the path, plus 1 µs the probe does not explain, plus
    // a little noise that alternates with the repeat.
    let noise = if repeat.is_multiple_of(2) { 0.1 } else { -0.1 };
    let unexplained = if through { 1.0 } else { 0.0 };
    let total: f64 = path.values().sum();
    Run {
        config: config.clone(),
        through_sidecar: through,
        size,
        load,
        repeat,
        requests: 1000,
        achieved_rps: match load {
            Load::Closed => 10_000.0,
            Load::Open { rate, .. } => rate,
        },
        client_mean_us: total + unexplained + noise,
        client_p50_us: total,
        path_us: path.clone(),
        cpu_us: path,
        lost_events: 0,
        events: BTreeMap::new(),
        reference_for: None,
        sidecars: 1,
        counters: BTreeMap::new(),
    }
}

fn runs() -> Vec<Run> {
    let tcp = SidecarConfig::new(Mode::Tcp, vec![]).unwrap();
    let http = SidecarConfig::new(Mode::Http, vec![]).unwrap();
    let lua = SidecarConfig::new(Mode::Http, vec![Filter::Lua]).unwrap();
    let fault = SidecarConfig::new(Mode::Http, vec![Filter::Fault]).unwrap();
    let both = SidecarConfig::new(Mode::Http, vec![Filter::Fault, Filter::Lua]).unwrap();
    let mut out = Vec::new();
    for size in [100, 1000, 4000] {
        for repeat in 0..2 {
            for load in [
                Load::Closed,
                Load::Open {
                    fraction: 0.5,
                    rate: 5000.0,
                },
                Load::Open {
                    fraction: 1.0,
                    rate: 10_000.0,
                },
            ] {
                for c in [&tcp, &http] {
                    out.push(run(c, false, size, load, repeat));
                    out.push(run(c, true, size, load, repeat));
                }
                for c in [&lua, &fault, &both] {
                    out.push(run(c, true, size, load, repeat));
                }
            }
        }
    }
    out
}

fn close(a: f64, b: f64) {
    assert!((a - b).abs() < 1e-6, "{a} != {b}");
}

#[test]
fn components_are_differences_and_parsing_is_user_beyond_tcp() {
    let (modes, checks) = assemble(&runs());
    let tcp = &modes[&Mode::Tcp].components;
    close(tcp[&Component::Read].latency.base_us, 1.0);
    close(tcp[&Component::Read].latency.per_byte_us, 0.001);
    close(tcp[&Component::Write].cpu.per_byte_us, 0.002);
    close(tcp[&Component::Other].latency.base_us, 4.5);
    assert!(!tcp.contains_key(&Component::Parsing));
    let http = &modes[&Mode::Http].components;
    close(http[&Component::Parsing].latency.base_us, 26.0);
    close(http[&Component::Parsing].latency.per_byte_us, 0.002);
    close(http[&Component::Other].cpu.base_us, 4.5);
    close(http[&Component::Other].cpu.per_byte_us, 0.001);
    assert_eq!(http[&Component::Ipc].latency.r2, Some(1.0));
    let lua = &modes[&Mode::Http].filters[&Filter::Lua].components;
    close(lua[&Component::Other].latency.base_us, 10.0);
    close(lua[&Component::Read].latency.base_us, 0.0);
    assert!(checks.warnings.is_empty(), "{:?}", checks.warnings);
}

#[test]
fn the_residual_and_the_noise_are_reported() {
    let (_, checks) = assemble(&runs());
    let tcp100 = checks
        .additivity
        .iter()
        .find(|a| a.config == "tcp" && a.size == 100)
        .unwrap();
    // Explained: 1.1 + 2.2 + 3 + 1 + 4.1 + 0.5 = 11.9; the client saw 1 µs more.
    close(tcp100.explained_us, 11.9);
    close(tcp100.residual_us, 1.0);
    close(tcp100.residual_pct, 100.0 / 12.9);
    assert_eq!(tcp100.n, 2);
    // Noise cancels within a repeat (both runs share it): no spread.
    close(tcp100.black_box_sd_us.unwrap(), 0.0);
    assert!(checks.median_abs_residual_pct.unwrap() > 0.0);
    // Filters add up exactly here.
    let f = &checks.filter_additivity[0];
    assert_eq!(f.config, "http+fault,lua");
    close(f.combined_us, 12.0);
    close(f.sum_of_singles_us, 12.0);
    // Per-request CPU does not depend on rate in these runs.
    assert!(checks.rate.iter().all(|r| r.slope_us_per_krps.abs() < 1e-9));
    // Linearity holds for every fit.
    assert!(
        checks
            .linearity
            .iter()
            .all(|l| l.lack_of_fit.as_ref().is_none_or(|c| c.holds))
    );
}

#[test]
fn unpaired_runs_are_left_out_with_a_warning() {
    let mut rs = runs();
    rs.retain(|r| !(r.config.mode == Mode::Tcp && !r.through_sidecar && r.size == 4000));
    let (modes, checks) = assemble(&rs);
    assert!(modes.contains_key(&Mode::Tcp));
    assert!(
        checks
            .warnings
            .iter()
            .any(|w| w.contains("tcp at 4000 B") && w.contains("no run without the sidecar")),
        "{:?}",
        checks.warnings
    );
    assert!(
        checks
            .warnings
            .iter()
            .any(|w| w.contains("Parsing cannot be separated"))
    );
}

#[test]
fn a_disturbed_run_pair_is_left_out_listed_and_does_not_move_the_fit() {
    let mut rs = runs();
    // One tcp latency run through the sidecar hit by a 150 µs wake-up delay.
    let hit = rs
        .iter_mut()
        .find(|r| {
            r.config.mode == Mode::Tcp
                && r.config.filters.is_empty()
                && r.through_sidecar
                && r.size == 1000
                && r.repeat == 1
                && r.load == Load::Closed
        })
        .unwrap();
    *hit.path_us.get_mut(&P::Notify).unwrap() += 150.0;
    hit.client_mean_us += 150.0;
    let (modes, checks) = assemble(&rs);
    assert_eq!(checks.outliers.len(), 1, "{:?}", checks.outliers);
    let o = &checks.outliers[0];
    assert_eq!(
        (o.config.as_str(), o.load.as_str(), o.size, o.repeat),
        ("tcp", "closed", 1000, 1)
    );
    assert_eq!(o.statistic, Statistic::Path);
    assert!(o.z > screen::Z_LIMIT);
    close(o.value_us - o.expected_us, 150.0);
    // The fit and A1 are those of the undisturbed runs.
    let tcp = &modes[&Mode::Tcp].components;
    close(tcp[&Component::Notify].latency.base_us, 1.0);
    let a = checks
        .additivity
        .iter()
        .find(|a| a.config == "tcp" && a.size == 1000)
        .unwrap();
    assert_eq!(a.n, 1);
    close(a.residual_us, 1.0);
    // Parsing at 1000 B still has its tcp reference (the kept repeat).
    let http = &modes[&Mode::Http].components;
    close(http[&Component::Parsing].latency.base_us, 26.0);
    assert_eq!(http[&Component::Parsing].latency.n, Some(6));
    assert!(checks.warnings.is_empty(), "{:?}", checks.warnings);
}

/// A filter's runs pair with the plain runs measured beside them (`reference_for`), not with
/// the plain mode's own runs: a drift during the filter's phase, shared by both, cancels; and
/// those reference runs do not enter the plain mode's fit.
#[test]
fn filter_runs_pair_with_the_plain_runs_measured_beside_them() {
    let http = SidecarConfig::new(Mode::Http, vec![]).unwrap();
    let lua = SidecarConfig::new(Mode::Http, vec![Filter::Lua]).unwrap();
    let slower = |r: &mut Run| {
        *r.path_us.get_mut(&P::User).unwrap() += 5.0;
        *r.cpu_us.get_mut(&P::User).unwrap() += 5.0;
        r.client_mean_us += 5.0;
    };
    let mut runs = runs();
    runs.iter_mut().filter(|r| r.config == lua).for_each(slower);
    let references: Vec<Run> = runs
        .iter()
        .filter(|r| r.config == http && r.through_sidecar)
        .map(|r| {
            let mut r = r.clone();
            slower(&mut r);
            r.reference_for = Some(lua.clone());
            r
        })
        .collect();
    runs.extend(references);
    let (modes, checks) = assemble(&runs);
    let http_modes = &modes[&Mode::Http];
    close(
        http_modes.filters[&Filter::Lua].components[&Component::Other]
            .latency
            .base_us,
        10.0,
    );
    close(
        http_modes.filters[&Filter::Fault].components[&Component::Other]
            .latency
            .base_us,
        2.0,
    );
    close(
        http_modes.components[&Component::Parsing].latency.base_us,
        26.0,
    );
    assert_eq!(http_modes.components[&Component::Ipc].latency.n, Some(6));
    assert!(checks.warnings.is_empty(), "{:?}", checks.warnings);
}

/// A setting whose tcp runs are all missing is said once, not once per run that needs them.
#[test]
fn a_warning_is_said_once() {
    let runs: Vec<Run> = runs()
        .into_iter()
        .filter(|r| !(r.config.mode == Mode::Tcp && r.size == 1000))
        .collect();
    let (_, checks) = assemble(&runs);
    let parsing: Vec<&String> = checks
        .warnings
        .iter()
        .filter(|w| w.contains("Parsing cannot be separated"))
        .collect();
    assert_eq!(parsing.len(), 1, "{:?}", checks.warnings);
}

/// Runs through two sidecars in series (`profile --chain 2`): the path and the client see
/// twice one sidecar's cost, and the profile prices one.
#[test]
fn a_chain_of_sidecars_is_priced_per_sidecar() {
    let plain: Vec<Run> = runs()
        .into_iter()
        .filter(|r| r.config.filters.is_empty())
        .collect();
    let doubled: Vec<Run> = plain
        .iter()
        .map(|r| {
            if !r.through_sidecar {
                return r.clone();
            }
            let direct = run(&r.config, false, r.size, r.load, r.repeat);
            let twice = |x: &BTreeMap<P, f64>, y: &BTreeMap<P, f64>| {
                x.iter().map(|(c, v)| (*c, 2.0 * v - y[c])).collect()
            };
            Run {
                path_us: twice(&r.path_us, &direct.path_us),
                cpu_us: twice(&r.cpu_us, &direct.cpu_us),
                client_mean_us: 2.0 * r.client_mean_us - direct.client_mean_us,
                sidecars: 2,
                ..r.clone()
            }
        })
        .collect();
    let (one, one_checks) = assemble(&plain);
    let (two, two_checks) = assemble(&doubled);
    for mode in [Mode::Tcp, Mode::Http] {
        for (c, m) in &one[&mode].components {
            let m2 = &two[&mode].components[c];
            close(m2.latency.base_us, m.latency.base_us);
            close(m2.latency.per_byte_us, m.latency.per_byte_us);
            close(m2.cpu.base_us, m.cpu.base_us);
        }
    }
    let residual = |checks: &Checks| checks.additivity.iter().map(|a| a.residual_us).sum::<f64>();
    close(residual(&two_checks), residual(&one_checks));
    // Without the field (a profile from before `--chain`), a run is one sidecar.
    let json = serde_json::to_string(&plain[1]).unwrap();
    assert!(!json.contains("sidecars"), "{json}");
    let back: Run = serde_json::from_str(&json).unwrap();
    assert_eq!(back.sidecars, 1);
}

#[test]
fn closed_loop_cpu_is_fitted_beside_the_open_loop_cpu() {
    // With one request in flight, every message wakes the sidecar: 7 µs more CPU in `notify`
    // per request than under load, and no more latency.
    let woken: Vec<Run> = runs()
        .into_iter()
        .filter(|r| r.config.filters.is_empty())
        .map(|mut r| {
            if r.through_sidecar && r.load == Load::Closed {
                *r.cpu_us.get_mut(&P::Notify).unwrap() += 7.0;
            }
            r
        })
        .collect();
    let (modes, _) = assemble(&woken);
    for mode in [Mode::Tcp, Mode::Http] {
        let notify = &modes[&mode].components[&Component::Notify];
        close(notify.cpu.base_us, 1.0);
        close(notify.cpu_unloaded.unwrap().base_us, 8.0);
        close(notify.latency.base_us, 1.0);
        let read = &modes[&mode].components[&Component::Read];
        close(read.cpu_unloaded.unwrap().per_byte_us, 0.001);
        let config = SidecarConfig::new(mode, vec![]).unwrap();
        let profile = crate::model::Profile {
            modes: modes.clone(),
            ..crate::model::Profile::paper()
        };
        let loaded = profile.traversal_cost_priced(&config, 100.0, CpuPrice::Loaded);
        let unloaded = profile.traversal_cost_priced(&config, 100.0, CpuPrice::Unloaded);
        close(unloaded.cpu_total() - loaded.cpu_total(), 7.0);
        close(unloaded.latency_total(), loaded.latency_total());
    }
    // Closed-loop runs only: `cpu` is already their fit, so there is no second one.
    let closed_only: Vec<Run> = woken
        .into_iter()
        .filter(|r| r.load == Load::Closed)
        .collect();
    let (modes, checks) = assemble(&closed_only);
    let notify = &modes[&Mode::Tcp].components[&Component::Notify];
    close(notify.cpu.base_us, 8.0);
    assert_eq!(notify.cpu_unloaded, None);
    assert!(
        checks
            .warnings
            .iter()
            .any(|w| w.contains("no open-loop runs")),
        "{:?}",
        checks.warnings
    );
}

#[test]
fn each_plain_mode_carries_the_split_its_runs_show() {
    let tcp = SidecarConfig::plain(Mode::Tcp);
    let http = SidecarConfig::plain(Mode::Http);
    let sizes = [100, 4000, 8000, 16000];
    let mut stepped = crate::model::split::stepped_runs(&tcp, &sizes);
    stepped.extend(crate::model::split::stepped_runs(&http, &sizes));
    let (modes, _) = assemble(&stepped);
    for config in [&tcp, &http] {
        let stored = modes[&config.mode].split.as_ref().expect("a split");
        assert_eq!(
            Some(stored),
            crate::model::split::detect(&stepped, config).as_ref()
        );
        assert_eq!(stored.split_bytes, 4000.0);
    }
    // Runs without event counts show none.
    let (modes, _) = assemble(&runs());
    assert!(modes.values().all(|mp| mp.split.is_none()));
}
