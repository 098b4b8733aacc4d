//! What the gate compares: a profile and the predictions of the fixtures under it, flattened
//! into named metrics with their standard errors.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ecg::Ecg;
use crate::model::{ComponentModel, LinearModel, Profile};
use crate::predict::{ComponentFigure, PredictError, Prediction, ProfileSet, predict};
use crate::vocab::{Component, Filter, Mode};

/// Message size at which a per-byte coefficient's practical significance is judged: a slope
/// change matters by what it adds to the model at this size, relative to the model there.
pub(crate) const REFERENCE_BYTES: f64 = 1000.0;

/// The predicted figures of one fixture, with standard errors propagated from the profile fit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FixtureResult {
    /// The fixture's name.
    pub(crate) name: String,
    /// The fixture file, relative to the workspace root where possible.
    pub(crate) file: String,
    /// End-to-end latency overhead of the mesh, µs.
    pub(crate) latency_overhead_us: f64,
    /// Standard error of it from the profile fit, when the profile has fit statistics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) latency_se_us: Option<f64>,
    /// CPU of the sidecars at the fixture's rates, cores.
    pub(crate) cpu_overhead_cores: f64,
    /// Standard error of it from the profile fit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) cpu_se_cores: Option<f64>,
    /// Per part (`ipc`, ..., `filter:lua`): latency on the critical path and CPU.
    pub(crate) components: BTreeMap<String, ComponentFigure>,
}

/// A profile and its fixture results: one side of a comparison.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Snapshot {
    /// The profile.
    pub(crate) profile: Profile,
    /// One result per fixture, in file order.
    pub(crate) fixtures: Vec<FixtureResult>,
}

/// Latency or CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Quantity {
    /// Latency (µs).
    Latency,
    /// CPU (µs per request for coefficients, cores for fixtures).
    Cpu,
}

impl Quantity {
    /// `latency` or `cpu`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Quantity::Latency => "latency",
            Quantity::Cpu => "cpu",
        }
    }
}

/// The intercept or the slope of a linear model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Term {
    /// `base_us`.
    Base,
    /// `per_byte_us`.
    PerByte,
}

/// What a metric measures.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum MetricId {
    /// A fitted coefficient of the profile.
    Coefficient {
        /// The mode.
        mode: Mode,
        /// The filter, when the coefficient is a filter's extra cost.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        filter: Option<Filter>,
        /// The component.
        component: Component,
        /// Latency or CPU.
        quantity: Quantity,
        /// Intercept or slope.
        term: Term,
    },
    /// A fixture's predicted end-to-end figure.
    Fixture {
        /// The fixture's name.
        fixture: String,
        /// Latency or CPU.
        quantity: Quantity,
    },
    /// A mode's whole cost per sidecar traversal: the sum of its components' models at
    /// [`REFERENCE_BYTES`].
    Total {
        /// The mode.
        mode: Mode,
        /// Latency or CPU.
        quantity: Quantity,
    },
}

impl MetricId {
    /// A stable string key: `coef/http/parsing/latency/base`, `coef/http+lua/other/cpu/per_byte`,
    /// `fixture/bookinfo/latency`, `total/http/cpu`.
    pub(crate) fn key(&self) -> String {
        self.spelled("/", true, |t| match t {
            Term::Base => "base",
            Term::PerByte => "per_byte",
        })
    }

    /// The parts joined by `sep`, after the kind (`coef`, `fixture`, `total`) when `kind`.
    fn spelled(&self, sep: &str, kind: bool, term_name: fn(Term) -> &'static str) -> String {
        match self {
            MetricId::Coefficient {
                mode,
                filter,
                component,
                quantity,
                term,
            } => {
                let config = match filter {
                    Some(f) => format!("{mode}+{f}"),
                    None => mode.to_string(),
                };
                let parts = [
                    config,
                    component.to_string(),
                    quantity.as_str().into(),
                    term_name(*term).into(),
                ];
                let body = parts.join(sep);
                if kind {
                    format!("coef{sep}{body}")
                } else {
                    body
                }
            }
            MetricId::Fixture { fixture, quantity } => {
                let body = format!("{fixture}{sep}{}", quantity.as_str());
                if kind {
                    format!("fixture{sep}{body}")
                } else {
                    body
                }
            }
            MetricId::Total { mode, quantity } => {
                if kind {
                    format!("total{sep}{mode}{sep}{}", quantity.as_str())
                } else {
                    format!("{mode} total {}", quantity.as_str())
                }
            }
        }
    }

    /// Whether the metric belongs to the primary family that decides a check (a mode's total,
    /// a fixture); coefficients only attribute a change.
    pub(crate) fn is_primary(&self) -> bool {
        !matches!(self, MetricId::Coefficient { .. })
    }

    /// Latency or CPU.
    pub(crate) fn quantity(&self) -> Quantity {
        match self {
            MetricId::Coefficient { quantity, .. }
            | MetricId::Fixture { quantity, .. }
            | MetricId::Total { quantity, .. } => *quantity,
        }
    }

    /// The unit of the metric's value.
    pub(crate) fn unit(&self) -> Unit {
        match self {
            MetricId::Coefficient {
                term: Term::Base, ..
            } => Unit::Us,
            MetricId::Coefficient {
                term: Term::PerByte,
                ..
            } => Unit::UsPerByte,
            MetricId::Fixture {
                quantity: Quantity::Latency,
                ..
            } => Unit::Us,
            MetricId::Fixture {
                quantity: Quantity::Cpu,
                ..
            } => Unit::Cores,
            MetricId::Total { .. } => Unit::Us,
        }
    }
}

/// The unit of a metric's value; serialized as its symbol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) enum Unit {
    /// Microseconds.
    #[serde(rename = "µs")]
    Us,
    /// Microseconds per byte.
    #[serde(rename = "µs/B")]
    UsPerByte,
    /// CPU cores.
    #[serde(rename = "cores")]
    Cores,
}

impl Unit {
    /// `µs`, `µs/B` or `cores`.
    pub(crate) fn symbol(self) -> &'static str {
        match self {
            Unit::Us => "µs",
            Unit::UsPerByte => "µs/B",
            Unit::Cores => "cores",
        }
    }
}

impl std::fmt::Display for Unit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.symbol())
    }
}

/// One measured figure with its uncertainty.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Metric {
    /// What it is.
    pub(crate) id: MetricId,
    /// Its value.
    pub(crate) value: f64,
    /// Its standard error from the fit, when known.
    pub(crate) se: Option<f64>,
    /// Degrees of freedom of that error (fitted points − 2; for a fixture, the fewest among
    /// the profile's models), when known.
    pub(crate) df: Option<f64>,
    /// What a relative change is measured against (the value itself, or for a slope the
    /// model's value at [`REFERENCE_BYTES`] per byte).
    pub(crate) scale: f64,
}

/// Metrics by key.
pub(crate) type Metrics = BTreeMap<String, Metric>;

impl Snapshot {
    /// Predicts every fixture under `profile`, with standard errors.
    pub(crate) fn new(profile: Profile, ecgs: &[Ecg]) -> Result<Snapshot, PredictError> {
        let fixtures = ecgs
            .iter()
            .map(|ecg| fixture_result(&profile, ecg))
            .collect::<Result<_, _>>()?;
        Ok(Snapshot { profile, fixtures })
    }

    /// Predicts every fixture under `profile`, without standard errors: the figures of one
    /// replicate, whose uncertainty comes from the spread between replicates.
    pub(crate) fn values_only(profile: Profile, ecgs: &[Ecg]) -> Result<Snapshot, PredictError> {
        let set = ProfileSet::new(vec![profile.clone()]);
        let fixtures = ecgs
            .iter()
            .map(|ecg| {
                let p = predict(ecg, &set, None)?;
                Ok(FixtureResult {
                    name: p.name,
                    file: p.file,
                    latency_overhead_us: p.figures.latency_overhead_us,
                    latency_se_us: None,
                    cpu_overhead_cores: p.figures.cpu_overhead_cores,
                    cpu_se_cores: None,
                    components: p.figures.components,
                })
            })
            .collect::<Result<_, PredictError>>()?;
        Ok(Snapshot { profile, fixtures })
    }

    /// Every metric of the snapshot.
    pub(crate) fn metrics(&self) -> Metrics {
        let mut out = Metrics::new();
        let mut push = |m: Metric| {
            out.insert(m.id.key(), m);
        };
        for (mode, mp) in &self.profile.modes {
            // What a coefficient's change is measured against: the mode's whole overhead,
            // once per quantity.
            let totals = |model: fn(&ComponentModel) -> &LinearModel| Totals {
                base: mp
                    .components
                    .values()
                    .map(|cm| model(cm).base_us)
                    .sum::<f64>()
                    .abs(),
                at_reference: mp
                    .components
                    .values()
                    .map(|cm| model(cm).at(REFERENCE_BYTES))
                    .sum::<f64>()
                    .abs(),
            };
            let (latency_totals, cpu_totals) = (totals(|cm| &cm.latency), totals(|cm| &cm.cpu));
            for quantity in [Quantity::Latency, Quantity::Cpu] {
                push(mode_total(*mode, &mp.components, quantity));
            }
            let sets = std::iter::once((None, &mp.components))
                .chain(mp.filters.iter().map(|(f, fp)| (Some(*f), &fp.components)));
            for (filter, components) in sets {
                for (component, cm) in components {
                    for (quantity, model, totals) in [
                        (Quantity::Latency, &cm.latency, &latency_totals),
                        (Quantity::Cpu, &cm.cpu, &cpu_totals),
                    ] {
                        for term in [Term::Base, Term::PerByte] {
                            push(coefficient(
                                MetricId::Coefficient {
                                    mode: *mode,
                                    filter,
                                    component: *component,
                                    quantity,
                                    term,
                                },
                                model,
                                term,
                                totals,
                            ));
                        }
                    }
                }
            }
        }
        for f in &self.fixtures {
            for (quantity, value, se) in [
                (Quantity::Latency, f.latency_overhead_us, f.latency_se_us),
                (Quantity::Cpu, f.cpu_overhead_cores, f.cpu_se_cores),
            ] {
                push(Metric {
                    id: MetricId::Fixture {
                        fixture: f.name.clone(),
                        quantity,
                    },
                    value,
                    se,
                    df: fewest_df(&self.profile, quantity),
                    scale: value.abs(),
                });
            }
        }
        out
    }

    /// The fixture result of `name`.
    pub(crate) fn fixture(&self, name: &str) -> Option<&FixtureResult> {
        self.fixtures.iter().find(|f| f.name == name)
    }
}

/// A mode's overhead, summed over its components (absolute): the intercepts, and the models
/// at [`REFERENCE_BYTES`].
struct Totals {
    base: f64,
    at_reference: f64,
}

/// A mode's total of `quantity` per traversal at [`REFERENCE_BYTES`], with the standard error
/// of the sum of its (independently fitted) component models, as for a fixture.
fn mode_total(
    mode: Mode,
    components: &BTreeMap<Component, ComponentModel>,
    quantity: Quantity,
) -> Metric {
    let model = |cm: &ComponentModel| match quantity {
        Quantity::Latency => cm.latency,
        Quantity::Cpu => cm.cpu,
    };
    let value: f64 = components
        .values()
        .map(|cm| model(cm).at(REFERENCE_BYTES))
        .sum();
    let at_reference = Gradient {
        base: 1.0,
        per_byte: REFERENCE_BYTES,
    };
    let se = components
        .values()
        .map(|cm| model_variance(&model(cm), at_reference))
        .sum::<Option<f64>>()
        .map(f64::sqrt);
    let df = components
        .values()
        .map(|cm| model_df(&model(cm)))
        .collect::<Option<Vec<f64>>>()
        .and_then(|dfs| dfs.into_iter().reduce(f64::min));
    Metric {
        id: MetricId::Total { mode, quantity },
        value,
        se,
        df,
        scale: value.abs(),
    }
}

/// Degrees of freedom of a fitted model's errors: points − 2.
fn model_df(model: &LinearModel) -> Option<f64> {
    model.n.map(|n| n as f64 - 2.0).filter(|d| *d >= 1.0)
}

/// The fewest degrees of freedom among the profile's models of `quantity` (a fixture's error
/// is propagated from all of them).
fn fewest_df(profile: &Profile, quantity: Quantity) -> Option<f64> {
    profile
        .modes
        .values()
        .flat_map(|mp| {
            let filters = mp.filters.values().flat_map(|fp| fp.components.values());
            mp.components.values().chain(filters)
        })
        .map(|cm| match quantity {
            Quantity::Latency => model_df(&cm.latency),
            Quantity::Cpu => model_df(&cm.cpu),
        })
        .collect::<Option<Vec<f64>>>()
        .and_then(|dfs| dfs.into_iter().reduce(f64::min))
}

/// A coefficient's metric. Its change is measured against the larger of itself and its mode's
/// whole overhead (of the same quantity): a component matters by what it adds to the
/// sidecar's cost, and a component near zero would otherwise turn a drift of a microsecond
/// into a change of hundreds of percent (docs/gate.md). A slope is measured by
/// what it adds at [`REFERENCE_BYTES`].
fn coefficient(id: MetricId, model: &LinearModel, term: Term, totals: &Totals) -> Metric {
    let df = model_df(model);
    match term {
        Term::Base => Metric {
            id,
            value: model.base_us,
            se: model.base_se_us,
            df,
            scale: model.base_us.abs().max(totals.base),
        },
        Term::PerByte => Metric {
            id,
            value: model.per_byte_us,
            se: model.per_byte_se_us,
            df,
            scale: model.at(REFERENCE_BYTES).abs().max(totals.at_reference) / REFERENCE_BYTES,
        },
    }
}

/// Predicts `ecg` and propagates the fit's standard errors to its figures.
///
/// The prediction is linear in each coefficient while the critical path stays put, so the
/// gradient is found by nudging one component model at a time and predicting again; the
/// variance is `g_b² se_b² + g_p² se_p² + 2 g_b g_p cov` summed over the (independently
/// fitted) models.
pub(crate) fn fixture_result(profile: &Profile, ecg: &Ecg) -> Result<FixtureResult, PredictError> {
    let set = ProfileSet::new(vec![profile.clone()]);
    let p = predict(ecg, &set, None)?;
    let mut var_lat: Option<f64> = None;
    let mut var_cpu: Option<f64> = None;
    const DB: f64 = 1.0;
    const DP: f64 = 1e-3;
    for (mode, mp) in &profile.modes {
        let sets = std::iter::once((None, &mp.components))
            .chain(mp.filters.iter().map(|(f, fp)| (Some(*f), &fp.components)));
        for (filter, components) in sets {
            for (component, cm) in components {
                if cm.latency.base_se_us.is_none() && cm.cpu.base_se_us.is_none() {
                    continue;
                }
                let nudged = |db: f64, dp: f64| -> Result<Prediction, PredictError> {
                    let mut q = profile.clone();
                    let mp = q.modes.get_mut(mode).expect("mode exists");
                    let cs = match filter {
                        Some(f) => &mut mp.filters.get_mut(&f).expect("filter exists").components,
                        None => &mut mp.components,
                    };
                    let m = cs.get_mut(component).expect("component exists");
                    m.latency.base_us += db;
                    m.cpu.base_us += db;
                    m.latency.per_byte_us += dp;
                    m.cpu.per_byte_us += dp;
                    predict(ecg, &ProfileSet::new(vec![q]), None)
                };
                let pb = nudged(DB, 0.0)?;
                let pp = nudged(0.0, DP)?;
                let lat = Gradient {
                    base: (pb.figures.latency_overhead_us - p.figures.latency_overhead_us) / DB,
                    per_byte: (pp.figures.latency_overhead_us - p.figures.latency_overhead_us) / DP,
                };
                let cpu = Gradient {
                    base: (pb.figures.cpu_overhead_cores - p.figures.cpu_overhead_cores) / DB,
                    per_byte: (pp.figures.cpu_overhead_cores - p.figures.cpu_overhead_cores) / DP,
                };
                if let Some(v) = model_variance(&cm.latency, lat) {
                    *var_lat.get_or_insert(0.0) += v;
                }
                if let Some(v) = model_variance(&cm.cpu, cpu) {
                    *var_cpu.get_or_insert(0.0) += v;
                }
            }
        }
    }
    Ok(FixtureResult {
        name: p.name,
        file: p.file,
        latency_overhead_us: p.figures.latency_overhead_us,
        latency_se_us: var_lat.map(f64::sqrt),
        cpu_overhead_cores: p.figures.cpu_overhead_cores,
        cpu_se_cores: var_cpu.map(f64::sqrt),
        components: p.figures.components,
    })
}

/// How much a prediction moves per unit of a model's intercept and of its slope.
#[derive(Clone, Copy, Debug)]
struct Gradient {
    base: f64,
    per_byte: f64,
}

/// The variance a model's fit errors give a prediction with gradient `g`.
fn model_variance(m: &LinearModel, g: Gradient) -> Option<f64> {
    let (gb, gp) = (g.base, g.per_byte);
    let sb = m.base_se_us?;
    let sp = m.per_byte_se_us.unwrap_or(0.0);
    let cov = m.cov.unwrap_or(0.0);
    Some((gb * gb * sb * sb + gp * gp * sp * sp + 2.0 * gb * gp * cov).max(0.0))
}
