//! From runs to a profile (docs/profiling.md): component cost = per-request time with the sidecar
//! minus without; Parsing = User(mode) − User(tcp); Other = User(tcp) + other kernel time;
//! Filter(f) = with f minus without, per component. Then one OLS fit per component and the
//! checks of the paper's assumptions. Pure: no probe, no processes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::fit::{self, Check};
use super::runs::{LoadKey, Run};
use super::screen::{self, Outlier, Statistic};
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
    /// Latency or CPU.
    pub metric: Metric,
    /// R² of the fit over its points (runs): low when the runs are noisy.
    pub r2: Option<f64>,
    /// R² of the fit over the size means ([`fit::r2_of_means`]): whether the line describes
    /// how the cost grows with size. Needs three sizes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r2_sizes: Option<f64>,
    /// Lack-of-fit F test (needs three sizes and repeats).
    pub lack_of_fit: Option<Check>,
}

/// Which model of a component a check is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    /// The latency model.
    Latency,
    /// The CPU model.
    Cpu,
}

impl Metric {
    /// `latency` or `cpu`.
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Latency => "latency",
            Metric::Cpu => "cpu",
        }
    }
}

impl std::fmt::Display for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
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
/// as measured (the paper's A2).
pub const PER_BYTE_R2: f64 = 0.8;

impl Checks {
    /// A2 of the per-byte costs: the read and write latency fits of the plain modes (the
    /// components whose cost is the copy of the message). They are closed-loop fits, and a
    /// read's or write's time on the path is its CPU time, so they are also the closed-loop
    /// CPU fits. The open-loop CPU fits are not judged here: under load, wake-ups and writes
    /// coalesce differently at each size (docs/profiling.md), so their size dependence is not
    /// only the copy.
    pub fn copy_fits(&self) -> impl Iterator<Item = &Linearity> {
        self.linearity.iter().filter(|l| {
            matches!(l.component, Component::Read | Component::Write)
                && !l.config.contains('+')
                && l.metric == Metric::Latency
        })
    }
}

/// What pairs two runs: the configuration, with or without the sidecar, the size, the load
/// and the repeat.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    config: SidecarConfig,
    through_sidecar: bool,
    size: u64,
    load: LoadKey,
    repeat: u32,
}

impl Key {
    fn of(r: &Run) -> Key {
        Key {
            config: r.config.clone(),
            through_sidecar: r.through_sidecar,
            size: r.size,
            load: r.load.key(),
            repeat: r.repeat,
        }
    }

    /// The same point of another configuration, or with or without the sidecar.
    fn with(&self, config: SidecarConfig, through_sidecar: bool) -> Key {
        Key {
            config,
            through_sidecar,
            ..self.clone()
        }
    }
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
        for (metric, model, pts) in [(Metric::Latency, &l, lat_pts), (Metric::Cpu, &u, cpu_pts)] {
            checks.linearity.push(Linearity {
                config: config.to_string(),
                component: *c,
                metric,
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

/// Run pairs of one configuration: the key of the run through the sidecar, and the difference.
type Deltas = Vec<(Key, Delta)>;

/// Leaves out the outlying pairs of each load group of `deltas`: closed-loop pairs by the sum
/// of their path times, open-loop pairs by the sum of their CPU per request, each against
/// the robust line over sizes of its group ([`screen::outliers`]). Returns the kept pairs.
fn screen_deltas(config: &str, deltas: Deltas, checks: &mut Checks) -> Deltas {
    let mut groups: BTreeMap<LoadKey, Vec<usize>> = BTreeMap::new();
    for (i, (k, _)) in deltas.iter().enumerate() {
        groups.entry(k.load).or_default().push(i);
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
            .map(|&i| (deltas[i].0.size as f64, value(&deltas[i].1)))
            .collect();
        for (j, found) in screen::outliers(&points).into_iter().enumerate() {
            if let Some((expected_us, z)) = found {
                let (k, _) = &deltas[members[j]];
                left_out[members[j]] = true;
                checks.outliers.push(Outlier {
                    config: config.to_string(),
                    load: load_label(load),
                    size: k.size,
                    repeat: k.repeat,
                    statistic: if closed {
                        Statistic::Path
                    } else {
                        Statistic::Cpu
                    },
                    value_us: points[j].1,
                    expected_us,
                    z,
                });
            }
        }
    }
    deltas
        .into_iter()
        .zip(left_out)
        .filter_map(|(d, left)| (!left).then_some(d))
        .collect()
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

/// The runs indexed for pairing. Plain runs measured beside a filter configuration are kept
/// apart: they are the reference of that configuration's runs only.
struct Index<'a> {
    /// Every other run, by its key.
    runs: BTreeMap<Key, &'a Run>,
    /// The plain runs measured beside a filter configuration, by the key of the filter
    /// configuration's run they pair with.
    references: BTreeMap<Key, &'a Run>,
}

impl<'a> Index<'a> {
    fn new(runs: &'a [Run]) -> Self {
        let index = runs
            .iter()
            .filter(|r| r.reference_for.is_none())
            .map(|r| (Key::of(r), r))
            .collect();
        let references = runs
            .iter()
            .filter_map(|r| {
                let config = r.reference_for.clone()?;
                Some((Key::of(r).with(config, true), r))
            })
            .collect();
        Index {
            runs: index,
            references,
        }
    }
}

/// Fits a profile's modes and filters from `runs`. Runs pair by configuration, size, load
/// and repeat; a run without its pair is left out with a warning.
pub(crate) fn assemble(runs: &[Run]) -> (BTreeMap<Mode, ModeProfile>, Checks) {
    let mut checks = Checks::default();
    let index = Index::new(runs);
    let lost: u64 = runs.iter().map(|r| r.lost_events).sum();
    if lost > 0 {
        checks
            .warnings
            .push(format!("the probe lost {lost} events over the runs"));
    }
    let mode_deltas = mode_deltas(runs, &index, &mut checks);
    let tcp = TcpReference::new(mode_deltas.get(&Mode::Tcp));
    let mut modes: BTreeMap<Mode, ModeProfile> = BTreeMap::new();
    for (mode, deltas) in &mode_deltas {
        let components = fit_mode(*mode, deltas, &tcp, &mut checks);
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
    let filters = filter_deltas(runs, &index, &mut checks);
    for ((mode, filter), deltas) in filters.singles {
        let name = format!("{mode}+{filter}");
        let components = fit_filter(&name, deltas, &mut checks);
        if let Some(mp) = modes.get_mut(&mode) {
            mp.filters.insert(filter, FilterProfile { components });
        } else {
            checks
                .warnings
                .push(format!("{name}: the plain {mode} mode was not profiled"));
        }
    }
    filter_additivity(&filters.single_black_box, filters.combos, &mut checks);
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

/// Sidecar minus direct, per plain mode, screened.
fn mode_deltas(runs: &[Run], index: &Index, checks: &mut Checks) -> BTreeMap<Mode, Deltas> {
    let mut mode_deltas: BTreeMap<Mode, Deltas> = BTreeMap::new();
    for r in runs
        .iter()
        .filter(|r| r.through_sidecar && r.config.filters.is_empty() && r.reference_for.is_none())
    {
        let k = Key::of(r);
        match index.runs.get(&k.with(r.config.clone(), false)) {
            Some(direct) => mode_deltas
                .entry(r.config.mode)
                .or_default()
                .push((k, delta(r, direct))),
            None => checks.warnings.push(format!(
                "{} at {} B, repeat {}: no run without the sidecar to pair with",
                r.config, r.size, r.repeat
            )),
        }
    }
    mode_deltas
        .into_iter()
        .map(|(mode, deltas)| (mode, screen_deltas(mode.as_str(), deltas, checks)))
        .collect()
}

/// A setting of a run pair: size, load and repeat.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Setting {
    size: u64,
    load: LoadKey,
    repeat: u32,
}

/// The tcp deltas that Parsing subtracts, by setting.
///
/// Parsing subtracts tcp's user time at the same size, load and repeat, so that each point
/// carries its own tcp noise and the fit's standard errors include it. When that tcp pair was
/// screened out, the mean over tcp's kept repeats at the size and load stands in, so that one
/// tcp outlier does not take the other modes' points with it.
struct TcpReference<'a> {
    same: BTreeMap<Setting, &'a Delta>,
    mean: BTreeMap<(u64, LoadKey), Delta>,
}

impl<'a> TcpReference<'a> {
    fn new(tcp: Option<&'a Deltas>) -> Self {
        let tcp = tcp.map(Vec::as_slice).unwrap_or_default();
        let setting = |k: &Key| Setting {
            size: k.size,
            load: k.load,
            repeat: k.repeat,
        };
        let same = tcp.iter().map(|(k, d)| (setting(k), d)).collect();
        let mut groups: BTreeMap<(u64, LoadKey), Vec<&Delta>> = BTreeMap::new();
        for (k, d) in tcp {
            groups.entry((k.size, k.load)).or_default().push(d);
        }
        let mean = groups
            .into_iter()
            .map(|(k, ds)| (k, mean_delta(&ds)))
            .collect();
        TcpReference { same, mean }
    }

    fn for_key(&self, k: &Key) -> Option<&Delta> {
        let setting = Setting {
            size: k.size,
            load: k.load,
            repeat: k.repeat,
        };
        self.same
            .get(&setting)
            .copied()
            .or_else(|| self.mean.get(&(k.size, k.load)))
    }
}

/// A point of A3: per-request CPU at an achieved rate.
struct RatePoint {
    size: u64,
    rate: f64,
    cpu_us: f64,
}

/// Fits the components of plain `mode` from its deltas and records its checks.
fn fit_mode(
    mode: Mode,
    deltas: &Deltas,
    tcp: &TcpReference,
    checks: &mut Checks,
) -> BTreeMap<Component, ComponentModel> {
    let (mut lat, mut cpu, mut cpu_closed) = (Points::new(), Points::new(), Points::new());
    let mut closed = Vec::new();
    let mut rate_points = Vec::new();
    for (k, d) in deltas {
        let t = if mode == Mode::Tcp {
            Some(d)
        } else {
            tcp.for_key(k)
        };
        let Some(t) = t else {
            checks.warnings.push(format!(
                "{mode} at {} B: no tcp run at the same setting, so Parsing cannot be separated",
                k.size
            ));
            continue;
        };
        match k.load {
            LoadKey::Closed => {
                push(&mut lat, k.size, mode_components(mode, &d.path, &t.path));
                push(
                    &mut cpu_closed,
                    k.size,
                    mode_components(mode, &d.cpu, &t.cpu),
                );
                closed.push((k.size, d));
            }
            LoadKey::Open(_) => {
                push(&mut cpu, k.size, mode_components(mode, &d.cpu, &t.cpu));
                rate_points.push(RatePoint {
                    size: k.size,
                    rate: d.rate,
                    cpu_us: d.cpu.values().sum::<f64>(),
                });
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
    additivity(mode.as_str(), &closed, checks);
    if let Some(r) = rate_check(mode, &rate_points) {
        checks.rate.push(r);
    }
    let components = fit_all(mode.as_str(), &lat, &cpu, unloaded, checks);
    if let Some(parsing) = components.get(&Component::Parsing) {
        let smallest = lat.values().flatten().map(|p| p.0).fold(f64::MAX, f64::min);
        warn_negative_parsing(mode, parsing, smallest, checks);
    }
    components
}

/// A Parsing model clearly below zero at the smallest size: the paper's decomposition does not
/// hold for this sidecar.
fn warn_negative_parsing(mode: Mode, parsing: &ComponentModel, smallest: f64, checks: &mut Checks) {
    for (metric, m) in [
        (Metric::Latency, &parsing.latency),
        (Metric::Cpu, &parsing.cpu),
    ] {
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

/// The filter runs paired with the plain runs beside them.
#[derive(Default)]
struct FilterDeltas {
    /// Per mode and single filter: with the filter minus the plain mode.
    singles: BTreeMap<(Mode, Filter), Deltas>,
    /// Per mode, single filter and size: its client-measured overheads in the closed loop.
    single_black_box: BTreeMap<(Mode, Filter, u64), Vec<f64>>,
    /// Per combination of filters and size: its client-measured overheads in the closed loop.
    combos: BTreeMap<(SidecarConfig, u64), Vec<f64>>,
}

/// With a filter minus the plain mode, both through the sidecar.
fn filter_deltas(runs: &[Run], index: &Index, checks: &mut Checks) -> FilterDeltas {
    let mut out = FilterDeltas::default();
    for r in runs
        .iter()
        .filter(|r| r.through_sidecar && !r.config.filters.is_empty())
    {
        let k = Key::of(r);
        // The plain run measured beside it; profiles from before `reference_for` have only
        // the plain mode's own runs.
        let plain = index.references.get(&k).or_else(|| {
            index
                .runs
                .get(&k.with(SidecarConfig::plain(r.config.mode), true))
        });
        let Some(plain) = plain else {
            checks.warnings.push(format!(
                "{} at {} B, repeat {}: no run of plain {} to pair with",
                r.config, r.size, r.repeat, r.config.mode
            ));
            continue;
        };
        let d = delta(r, plain);
        let closed = k.load == LoadKey::Closed;
        if let [f] = r.config.filters.as_slice() {
            if closed {
                out.single_black_box
                    .entry((r.config.mode, *f, r.size))
                    .or_default()
                    .push(d.black_box);
            }
            out.singles
                .entry((r.config.mode, *f))
                .or_default()
                .push((k, d));
        } else if closed {
            out.combos
                .entry((r.config.clone(), r.size))
                .or_default()
                .push(d.black_box);
        }
    }
    out
}

/// Fits a filter's components from its closed-loop deltas (`name`: `mode+filter`).
fn fit_filter(
    name: &str,
    deltas: Deltas,
    checks: &mut Checks,
) -> BTreeMap<Component, ComponentModel> {
    let deltas = screen_deltas(name, deltas, checks);
    let (mut lat, mut cpu) = (Points::new(), Points::new());
    let mut closed = Vec::new();
    for (k, d) in &deltas {
        if k.load == LoadKey::Closed {
            push(&mut lat, k.size, filter_components(&d.path));
            push(&mut cpu, k.size, filter_components(&d.cpu));
            closed.push((k.size, d));
        }
    }
    additivity(name, &closed, checks);
    fit_all(name, &lat, &cpu, None, checks)
}

/// A1 for filters: each combination against the sum of its filters alone, per size.
fn filter_additivity(
    singles: &BTreeMap<(Mode, Filter, u64), Vec<f64>>,
    combos: BTreeMap<(SidecarConfig, u64), Vec<f64>>,
    checks: &mut Checks,
) {
    for ((config, size), bbs) in combos {
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
}

/// A3: per-request CPU (each size's mean removed) against the achieved rate.
fn rate_check(mode: Mode, points: &[RatePoint]) -> Option<RateProportionality> {
    let mut by_size: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
    for p in points {
        by_size.entry(p.size).or_default().push(p.cpu_us);
    }
    let means: BTreeMap<u64, f64> = by_size.iter().map(|(s, v)| (*s, mean_sd(v).0)).collect();
    let centred: Vec<(f64, f64)> = points
        .iter()
        .map(|p| (p.rate / 1000.0, p.cpu_us - means[&p.size]))
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
    let overall = points.iter().map(|p| p.cpu_us).sum::<f64>() / points.len() as f64;
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
