//! From runs to a profile (DESIGN §4, §5): component cost = per-request time with the sidecar
//! minus without; Parsing = User(mode) − User(tcp); Other = User(tcp) + other kernel time;
//! Filter(f) = with f minus without, per component. Then one OLS fit per component and the
//! checks of the paper's assumptions. Pure: no probe, no processes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::fit::{self, Check};
use super::runs::{LoadKey, Run};
use super::screen::{self, Outlier};
use super::{ComponentModel, FilterProfile, LinearModel, ModeProfile};
use crate::probe::report::ProbeComponent as P;
use crate::util::stats::median;
use crate::vocab::{Component, Filter, Mode, SidecarConfig};

/// A1 at one configuration and size: does the sum of components explain what the client saw?
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Additivity {
    /// `tcp`, `http`, `http+lua`, ...
    pub config: String,
    /// Payload bytes.
    pub size: u64,
    /// Client-measured overhead (mean round trip with minus without), µs, mean over repeats.
    pub black_box_us: f64,
    /// Sum of the components' path times, µs, mean over repeats.
    pub explained_us: f64,
    /// `black_box_us − explained_us`.
    pub residual_us: f64,
    /// The residual in % of the black-box overhead.
    pub residual_pct: f64,
    /// Standard deviation of the black-box overhead over repeats, µs (noise).
    pub black_box_sd_us: Option<f64>,
    /// Repeats.
    pub n: u32,
}

/// A1 for filters: all filters together against the sum of each alone.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FilterAdditivity {
    /// The combined configuration.
    pub config: String,
    /// Payload bytes.
    pub size: u64,
    /// Overhead of the combination over the plain mode, µs (client-measured).
    pub combined_us: f64,
    /// Sum of the single filters' overheads, µs (client-measured).
    pub sum_of_singles_us: f64,
    /// `(combined − sum) / sum`, %.
    pub difference_pct: f64,
}

/// A2 for one component and metric.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Linearity {
    /// Mode, or mode+filter.
    pub config: String,
    /// Component.
    pub component: Component,
    /// `latency` or `cpu`.
    pub metric: String,
    /// R² of the fit over its points (runs): low when the runs are noisy.
    pub r2: Option<f64>,
    /// R² of the fit over the size means ([`fit::r2_of_means`]): whether the line describes
    /// how the cost grows with size. Needs three sizes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r2_sizes: Option<f64>,
    /// Lack-of-fit F test (needs three sizes and repeats).
    pub lack_of_fit: Option<Check>,
}

/// A3 for one mode: per-request CPU against rate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RateProportionality {
    /// Mode.
    pub mode: Mode,
    /// Slope of per-request CPU (size effect removed) against rate, µs per 1000 requests/s.
    pub slope_us_per_krps: f64,
    /// The change of per-request CPU across the measured rates, % of its mean.
    pub change_over_range_pct: f64,
    /// t test of a zero slope.
    pub check: Option<Check>,
}

/// What a profile says about its own quality.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Checks {
    /// A1 per configuration and size.
    pub additivity: Vec<Additivity>,
    /// Median over `additivity` of |residual %|.
    pub median_abs_residual_pct: Option<f64>,
    /// A1 for filters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filter_additivity: Vec<FilterAdditivity>,
    /// A2 per configuration, component and metric.
    pub linearity: Vec<Linearity>,
    /// A3 per mode.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rate: Vec<RateProportionality>,
    /// Run pairs left out of the fits and of A1 as outliers (see [`super::screen`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outliers: Vec<Outlier>,
    /// Things a reader should know (missing pairs, lost events, CPU fitted from closed loops).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// The R² of the size means a per-byte read or write fit must reach for its copy cost to count
/// as measured (issue 5; the paper's A2).
pub const PER_BYTE_R2: f64 = 0.8;

impl Checks {
    /// A2 of the per-byte costs: the read and write latency fits of the plain modes (the
    /// components whose cost is the copy of the message). They are closed-loop fits, and a
    /// read's or write's time on the path is its CPU time, so they are also the closed-loop
    /// CPU fits. The open-loop CPU fits are not judged here: under load, wake-ups and writes
    /// coalesce differently at each size (Envoy at 60 KB: 0.7 wake-ups per request without
    /// the sidecar against 3.4 at 100 B), so their size dependence is not only the copy.
    pub fn copy_fits(&self) -> impl Iterator<Item = &Linearity> {
        self.linearity.iter().filter(|l| {
            matches!(l.component, Component::Read | Component::Write)
                && !l.config.contains('+')
                && l.metric == "latency"
        })
    }
}

type Key = (SidecarConfig, bool, u64, LoadKey, u32);

fn key(r: &Run) -> Key {
    (
        r.config.clone(),
        r.through_sidecar,
        r.size,
        r.load.key(),
        r.repeat,
    )
}

/// Per probe component, `a − b`.
#[derive(Clone, Debug, Default)]
struct Delta {
    path: BTreeMap<P, f64>,
    cpu: BTreeMap<P, f64>,
    black_box: f64,
    rate: f64,
}

/// The component-wise mean of `ds` (not empty).
fn mean_delta(ds: &[&Delta]) -> Delta {
    let n = ds.len() as f64;
    let avg = |get: fn(&Delta) -> &BTreeMap<P, f64>| -> BTreeMap<P, f64> {
        P::ALL
            .iter()
            .map(|c| {
                let sum: f64 = ds
                    .iter()
                    .map(|d| get(d).get(c).copied().unwrap_or(0.0))
                    .sum();
                (*c, sum / n)
            })
            .collect()
    };
    Delta {
        path: avg(|d| &d.path),
        cpu: avg(|d| &d.cpu),
        black_box: ds.iter().map(|d| d.black_box).sum::<f64>() / n,
        rate: ds.iter().map(|d| d.rate).sum::<f64>() / n,
    }
}

/// `a − b` per sidecar: `a` is the run through the sidecar(s), and when its requests went
/// through several in series (`profile --chain`) the difference is divided among them.
fn delta(a: &Run, b: &Run) -> Delta {
    let k = a.sidecars_in_series();
    let sub = |x: &BTreeMap<P, f64>, y: &BTreeMap<P, f64>| {
        P::ALL
            .iter()
            .map(|c| {
                (
                    *c,
                    (x.get(c).copied().unwrap_or(0.0) - y.get(c).copied().unwrap_or(0.0)) / k,
                )
            })
            .collect()
    };
    Delta {
        path: sub(&a.path_us, &b.path_us),
        cpu: sub(&a.cpu_us, &b.cpu_us),
        black_box: (a.client_mean_us - b.client_mean_us) / k,
        rate: a.achieved_rps,
    }
}

/// Profile components of one mode point; `tcp` is the tcp delta at the same setting.
fn mode_components(
    mode: Mode,
    d: &BTreeMap<P, f64>,
    tcp: &BTreeMap<P, f64>,
) -> BTreeMap<Component, f64> {
    let g = |m: &BTreeMap<P, f64>, c: P| m.get(&c).copied().unwrap_or(0.0);
    let mut out = BTreeMap::from([
        (Component::Ipc, g(d, P::Ipc)),
        (Component::Read, g(d, P::Read)),
        (Component::Write, g(d, P::Write)),
        (Component::Notify, g(d, P::Notify)),
    ]);
    if mode == Mode::Tcp {
        out.insert(Component::Other, g(d, P::User) + g(d, P::OtherKernel));
    } else {
        out.insert(Component::Parsing, g(d, P::User) - g(tcp, P::User));
        out.insert(Component::Other, g(tcp, P::User) + g(d, P::OtherKernel));
    }
    out
}

/// Filter components: user and other kernel time go to `other`.
fn filter_components(d: &BTreeMap<P, f64>) -> BTreeMap<Component, f64> {
    let g = |c: P| d.get(&c).copied().unwrap_or(0.0);
    BTreeMap::from([
        (Component::Ipc, g(P::Ipc)),
        (Component::Read, g(P::Read)),
        (Component::Write, g(P::Write)),
        (Component::Notify, g(P::Notify)),
        (Component::Other, g(P::User) + g(P::OtherKernel)),
    ])
}

/// Points `(size, value)` per component.
type Points = BTreeMap<Component, Vec<(f64, f64)>>;

fn push(points: &mut Points, size: u64, values: BTreeMap<Component, f64>) {
    for (c, v) in values {
        points.entry(c).or_default().push((size as f64, v));
    }
}

/// Fits every component's latency and CPU models; `cpu_unloaded`, when given, are the
/// closed-loop CPU points of a configuration whose `cpu` points are open-loop ones.
fn fit_all(
    config: &str,
    latency: &Points,
    cpu: &Points,
    cpu_unloaded: Option<&Points>,
    checks: &mut Checks,
) -> BTreeMap<Component, ComponentModel> {
    let mut out = BTreeMap::new();
    for (c, lat_pts) in latency {
        let cpu_pts = cpu.get(c).filter(|p| !p.is_empty()).unwrap_or(lat_pts);
        let (Ok(l), Ok(u)) = (fit::ols(lat_pts), fit::ols(cpu_pts)) else {
            checks
                .warnings
                .push(format!("{config}: no usable points for {c}"));
            continue;
        };
        for (metric, model, pts) in [("latency", &l, lat_pts), ("cpu", &u, cpu_pts)] {
            checks.linearity.push(Linearity {
                config: config.to_string(),
                component: *c,
                metric: metric.to_string(),
                r2: model.r2,
                r2_sizes: fit::r2_of_means(pts),
                lack_of_fit: fit::lack_of_fit(pts),
            });
        }
        let cpu_unloaded = cpu_unloaded
            .and_then(|p| p.get(c))
            .and_then(|pts| fit::ols(pts).ok());
        out.insert(
            *c,
            ComponentModel {
                latency: l,
                cpu: u,
                cpu_unloaded,
            },
        );
    }
    out
}

fn mean_sd(values: &[f64]) -> (f64, Option<f64>) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let sd = (values.len() > 1)
        .then(|| (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt());
    (mean, sd)
}

fn load_label(load: LoadKey) -> String {
    match load {
        LoadKey::Closed => "closed".into(),
        LoadKey::Open(per_mille) => format!("open {}%", per_mille as f64 / 10.0),
    }
}

/// Leaves out the outlying pairs of each load group of `deltas`: closed-loop pairs by the sum
/// of their path times, open-loop pairs by the sum of their CPU per request, each against
/// the robust line over sizes of its group ([`screen::outliers`]). Returns the kept pairs
/// and the keys of those left out.
fn screen_deltas(
    config: &str,
    deltas: Vec<(Key, Delta)>,
    checks: &mut Checks,
) -> (Vec<(Key, Delta)>, Vec<Key>) {
    let mut groups: BTreeMap<LoadKey, Vec<usize>> = BTreeMap::new();
    for (i, (k, _)) in deltas.iter().enumerate() {
        groups.entry(k.3).or_default().push(i);
    }
    let mut left_out = vec![false; deltas.len()];
    for (load, members) in groups {
        let closed = load == LoadKey::Closed;
        let value = |d: &Delta| -> f64 {
            if closed {
                d.path.values().sum()
            } else {
                d.cpu.values().sum()
            }
        };
        let points: Vec<(f64, f64)> = members
            .iter()
            .map(|&i| (deltas[i].0.2 as f64, value(&deltas[i].1)))
            .collect();
        for (j, found) in screen::outliers(&points).into_iter().enumerate() {
            if let Some((expected_us, z)) = found {
                let (k, _) = &deltas[members[j]];
                left_out[members[j]] = true;
                checks.outliers.push(Outlier {
                    config: config.to_string(),
                    load: load_label(load),
                    size: k.2,
                    repeat: k.4,
                    statistic: if closed { "path" } else { "cpu" }.into(),
                    value_us: points[j].1,
                    expected_us,
                    z,
                });
            }
        }
    }
    let (mut kept, mut out) = (Vec::new(), Vec::new());
    for (d, left) in deltas.into_iter().zip(left_out) {
        if left {
            out.push(d.0);
        } else {
            kept.push(d);
        }
    }
    (kept, out)
}

/// Groups closed-loop deltas by size and records A1 for them.
fn additivity(config: &str, closed: &[(u64, &Delta)], checks: &mut Checks) {
    let mut by_size: BTreeMap<u64, Vec<&Delta>> = BTreeMap::new();
    for (s, d) in closed {
        by_size.entry(*s).or_default().push(d);
    }
    for (size, ds) in by_size {
        let bb: Vec<f64> = ds.iter().map(|d| d.black_box).collect();
        let ex: Vec<f64> = ds.iter().map(|d| d.path.values().sum()).collect();
        let (black_box_us, black_box_sd_us) = mean_sd(&bb);
        let (explained_us, _) = mean_sd(&ex);
        let residual_us = black_box_us - explained_us;
        checks.additivity.push(Additivity {
            config: config.to_string(),
            size,
            black_box_us,
            explained_us,
            residual_us,
            residual_pct: if black_box_us.abs() > 0.0 {
                100.0 * residual_us / black_box_us
            } else {
                0.0
            },
            black_box_sd_us,
            n: ds.len() as u32,
        });
    }
}

/// Fits a profile's modes and filters from `runs`. Runs pair by configuration, size, load
/// and repeat; a run without its pair is left out with a warning.
pub fn assemble(runs: &[Run]) -> (BTreeMap<Mode, ModeProfile>, Checks) {
    let mut checks = Checks::default();
    // Plain runs measured beside a filter configuration are indexed apart: they are the
    // reference of that configuration's runs only.
    let index: BTreeMap<Key, &Run> = runs
        .iter()
        .filter(|r| r.reference_for.is_none())
        .map(|r| (key(r), r))
        .collect();
    let references: BTreeMap<Key, &Run> = runs
        .iter()
        .filter_map(|r| {
            let config = r.reference_for.clone()?;
            Some(((config, true, r.size, r.load.key(), r.repeat), r))
        })
        .collect();
    let lost: u64 = runs.iter().map(|r| r.lost_events).sum();
    if lost > 0 {
        checks
            .warnings
            .push(format!("the probe lost {lost} events over the runs"));
    }

    // Sidecar minus direct, per plain mode.
    let mut mode_deltas: BTreeMap<Mode, Vec<(Key, Delta)>> = BTreeMap::new();
    for r in runs
        .iter()
        .filter(|r| r.through_sidecar && r.config.filters.is_empty() && r.reference_for.is_none())
    {
        let mut k = key(r);
        k.1 = false;
        match index.get(&k) {
            Some(direct) => mode_deltas
                .entry(r.config.mode)
                .or_default()
                .push((key(r), delta(r, direct))),
            None => checks.warnings.push(format!(
                "{} at {} B, repeat {}: no run without the sidecar to pair with",
                r.config, r.size, r.repeat
            )),
        }
    }
    let mode_deltas: BTreeMap<Mode, Vec<(Key, Delta)>> = mode_deltas
        .into_iter()
        .map(|(mode, deltas)| (mode, screen_deltas(mode.as_str(), deltas, &mut checks).0))
        .collect();
    // Parsing subtracts tcp's user time at the same size, load and repeat, so that each point
    // carries its own tcp noise and the fit's standard errors include it. When that tcp pair
    // was screened out, the mean over tcp's kept repeats at the size and load stands in, so
    // that one tcp outlier does not take the other modes' points with it.
    let tcp_same: BTreeMap<(u64, LoadKey, u32), &Delta> = mode_deltas
        .get(&Mode::Tcp)
        .map(|v| v.iter().map(|(k, d)| ((k.2, k.3, k.4), d)).collect())
        .unwrap_or_default();
    let tcp_mean: BTreeMap<(u64, LoadKey), Delta> = mode_deltas
        .get(&Mode::Tcp)
        .map(|v| {
            let mut groups: BTreeMap<(u64, LoadKey), Vec<&Delta>> = BTreeMap::new();
            for (k, d) in v {
                groups.entry((k.2, k.3)).or_default().push(d);
            }
            groups
                .into_iter()
                .map(|(k, ds)| (k, mean_delta(&ds)))
                .collect()
        })
        .unwrap_or_default();
    let tcp_for = |k: &Key| -> Option<&Delta> {
        tcp_same
            .get(&(k.2, k.3, k.4))
            .copied()
            .or_else(|| tcp_mean.get(&(k.2, k.3)))
    };

    let mut modes: BTreeMap<Mode, ModeProfile> = BTreeMap::new();
    for (mode, deltas) in &mode_deltas {
        let (mut lat, mut cpu, mut cpu_closed) = (Points::new(), Points::new(), Points::new());
        let mut closed = Vec::new();
        let mut rate_points = Vec::new();
        for (k, d) in deltas {
            let t = if *mode == Mode::Tcp {
                Some(d)
            } else {
                tcp_for(k)
            };
            let Some(t) = t else {
                checks.warnings.push(format!(
                    "{mode} at {} B: no tcp run at the same setting, so Parsing cannot be separated",
                    k.2
                ));
                continue;
            };
            match k.3 {
                LoadKey::Closed => {
                    push(&mut lat, k.2, mode_components(*mode, &d.path, &t.path));
                    push(&mut cpu_closed, k.2, mode_components(*mode, &d.cpu, &t.cpu));
                    closed.push((k.2, d));
                }
                LoadKey::Open(_) => {
                    push(&mut cpu, k.2, mode_components(*mode, &d.cpu, &t.cpu));
                    rate_points.push((k.2, d.rate, d.cpu.values().sum::<f64>()));
                }
            }
        }
        let unloaded = if cpu.is_empty() && !lat.is_empty() {
            checks.warnings.push(format!(
                "{mode}: no open-loop runs; CPU models are fitted from the closed-loop runs"
            ));
            cpu = cpu_closed;
            None
        } else {
            Some(&cpu_closed)
        };
        additivity(mode.as_str(), &closed, &mut checks);
        if let Some(r) = rate_check(*mode, &rate_points) {
            checks.rate.push(r);
        }
        let components = fit_all(mode.as_str(), &lat, &cpu, unloaded, &mut checks);
        if let Some(parsing) = components.get(&Component::Parsing) {
            let smallest = lat.values().flatten().map(|p| p.0).fold(f64::MAX, f64::min);
            for (metric, m) in [("latency", &parsing.latency), ("cpu", &parsing.cpu)] {
                let (v, se) = (m.at(smallest), m.se_at(smallest).unwrap_or(0.0));
                if v + 3.0 * se < 0.0 {
                    checks.warnings.push(format!(
                        "{mode}: Parsing {metric} is negative ({v:.2} ± {se:.2} µs at \
                         {smallest:.0} B): this sidecar's {mode} path costs less user time than \
                         its tcp relay, so Parsing = User({mode}) − User(tcp), the paper's \
                         decomposition, does not hold for it"
                    ));
                }
            }
        }
        if !components.is_empty() {
            modes.insert(
                *mode,
                ModeProfile {
                    components,
                    filters: BTreeMap::new(),
                    split: super::split::detect(runs, &SidecarConfig::plain(*mode)),
                },
            );
        }
    }

    // Filters: with the filter minus the plain mode, both through the sidecar.
    let mut singles: BTreeMap<(Mode, Filter, u64), Vec<f64>> = BTreeMap::new();
    let mut combos: Vec<(SidecarConfig, u64, f64)> = Vec::new();
    let mut filter_deltas: BTreeMap<(Mode, Filter), Vec<(Key, Delta)>> = BTreeMap::new();
    for r in runs
        .iter()
        .filter(|r| r.through_sidecar && !r.config.filters.is_empty())
    {
        let mut k = key(r);
        k.0 = SidecarConfig {
            mode: r.config.mode,
            filters: vec![],
        };
        // The plain run measured beside it; profiles from before `reference_for` have only
        // the plain mode's own runs.
        let Some(plain) = references.get(&key(r)).or_else(|| index.get(&k)) else {
            checks.warnings.push(format!(
                "{} at {} B, repeat {}: no run of plain {} to pair with",
                r.config, r.size, r.repeat, r.config.mode
            ));
            continue;
        };
        let d = delta(r, plain);
        if let [f] = r.config.filters.as_slice() {
            if r.load.key() == LoadKey::Closed {
                singles
                    .entry((r.config.mode, *f, r.size))
                    .or_default()
                    .push(d.black_box);
            }
            filter_deltas
                .entry((r.config.mode, *f))
                .or_default()
                .push((key(r), d));
        } else if r.load.key() == LoadKey::Closed {
            combos.push((r.config.clone(), r.size, d.black_box));
        }
    }
    for ((mode, filter), deltas) in filter_deltas {
        let name = format!("{mode}+{filter}");
        let (deltas, _) = screen_deltas(&name, deltas, &mut checks);
        let (mut lat, mut cpu) = (Points::new(), Points::new());
        let mut closed = Vec::new();
        for (k, d) in &deltas {
            match k.3 {
                LoadKey::Closed => {
                    push(&mut lat, k.2, filter_components(&d.path));
                    push(&mut cpu, k.2, filter_components(&d.cpu));
                    closed.push((k.2, d));
                }
                LoadKey::Open(_) => {}
            }
        }
        additivity(&name, &closed, &mut checks);
        let components = fit_all(&name, &lat, &cpu, None, &mut checks);
        if let Some(mp) = modes.get_mut(&mode) {
            mp.filters.insert(filter, FilterProfile { components });
        } else {
            checks
                .warnings
                .push(format!("{name}: the plain {mode} mode was not profiled"));
        }
    }
    let mut combo_groups: BTreeMap<(SidecarConfig, u64), Vec<f64>> = BTreeMap::new();
    for (c, s, bb) in combos {
        combo_groups.entry((c, s)).or_default().push(bb);
    }
    for ((config, size), bbs) in combo_groups {
        let (combined_us, _) = mean_sd(&bbs);
        let parts: Option<Vec<f64>> = config
            .filters
            .iter()
            .map(|f| singles.get(&(config.mode, *f, size)).map(|v| mean_sd(v).0))
            .collect();
        if let Some(parts) = parts {
            let sum: f64 = parts.iter().sum();
            checks.filter_additivity.push(FilterAdditivity {
                config: config.to_string(),
                size,
                combined_us,
                sum_of_singles_us: sum,
                difference_pct: if sum.abs() > 0.0 {
                    100.0 * (combined_us - sum) / sum
                } else {
                    0.0
                },
            });
        }
    }
    let residuals: Vec<f64> = checks
        .additivity
        .iter()
        .map(|a| a.residual_pct.abs())
        .collect();
    checks.median_abs_residual_pct = median(&residuals);
    // One line per distinct warning (a setting without tcp runs is met once per run there).
    let mut seen = std::collections::BTreeSet::new();
    checks.warnings.retain(|w| seen.insert(w.clone()));
    (modes, checks)
}

/// A3: per-request CPU (each size's mean removed) against the achieved rate.
fn rate_check(mode: Mode, points: &[(u64, f64, f64)]) -> Option<RateProportionality> {
    let mut by_size: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
    for (s, _, c) in points {
        by_size.entry(*s).or_default().push(*c);
    }
    let means: BTreeMap<u64, f64> = by_size.iter().map(|(s, v)| (*s, mean_sd(v).0)).collect();
    let centred: Vec<(f64, f64)> = points
        .iter()
        .map(|(s, rate, c)| (*rate / 1000.0, c - means[s]))
        .collect();
    let (lo, hi) = centred
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), (x, _)| {
            (lo.min(*x), hi.max(*x))
        });
    if centred.len() < 3 || hi <= lo {
        return None;
    }
    let model: LinearModel = fit::ols(&centred).ok()?;
    let overall = points.iter().map(|p| p.2).sum::<f64>() / points.len() as f64;
    Some(RateProportionality {
        mode,
        slope_us_per_krps: model.per_byte_us,
        change_over_range_pct: if overall.abs() > 0.0 {
            100.0 * model.per_byte_us * (hi - lo) / overall
        } else {
            0.0
        },
        check: fit::slope_is_zero(&model),
    })
}

#[cfg(test)]
#[path = "assemble_tests.rs"]
mod tests;
