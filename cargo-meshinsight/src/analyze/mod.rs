//! Fleet-scale analysis: predict the mesh's overhead for every call graph of a trace and
//! report its distribution, per sidecar configuration and before and after a speedup (the
//! figures of the paper's fleet study, Fig. 12 and 13).
//!
//! Every service gets the same sidecar (`--config`); a call costs one traversal of the
//! callee's inbound sidecar, plus one of the caller's outbound sidecar except for the entry
//! call; a traversal is priced at the trace's sizes where it has them, else at `--size`. The
//! latency overhead of a graph comes from the fork/join rebuild of its timeline
//! ([`crate::predict::rebuild`]); its CPU is `rate × Σ cpu` with every call made once per
//! request of the graph at `--rate` requests per second.

pub(crate) mod critical_path;
pub(crate) mod stats;

use std::path::PathBuf;

use serde::Serialize;

use crate::ecg::{Call, Ecg, Service};
use crate::model::{CostVector, Profile};
use crate::predict::rebuild;
use crate::traces::{Graph, Problems};
use crate::vocab::SidecarConfig;
use stats::{Dist, Summary};

/// The version of the analysis output format.
pub(crate) const FORMAT_VERSION: u32 = 1;

/// One column of the comparison: a configuration, optionally after a speedup.
#[derive(Clone, Debug)]
pub(crate) struct Variant {
    /// The sidecar configuration.
    pub(crate) config: SidecarConfig,
    /// The speedup's name, when applied.
    pub(crate) speedup: Option<String>,
    /// One traversal at size 0.
    base: CostVector,
    /// One traversal, per byte.
    slope: CostVector,
}

impl Variant {
    /// The figures of one traversal of `profile`'s `config`, after the speedup named.
    pub(crate) fn new(
        profile: &Profile,
        config: SidecarConfig,
        speedup: Option<String>,
    ) -> Variant {
        let base = profile.traversal_cost(&config, 0.0);
        let at1 = profile.traversal_cost(&config, 1.0);
        let mut slope = CostVector::default();
        for i in 0..crate::model::COST_SLOTS {
            slope.latency_us[i] = at1.latency_us[i] - base.latency_us[i];
            slope.cpu_us[i] = at1.cpu_us[i] - base.cpu_us[i];
        }
        Variant {
            config,
            speedup,
            base,
            slope,
        }
    }

    /// (latency µs, CPU µs) of one traversal at `s` bytes: the models are linear in `s`.
    fn traversal(&self, s: f64) -> (f64, f64) {
        (
            self.base.latency_total() + s * self.slope.latency_total(),
            self.base.cpu_total() + s * self.slope.cpu_total(),
        )
    }
}

/// Per-graph figures of one variant, being collected.
#[derive(Clone, Debug)]
struct VariantDists {
    latency_us: Dist,
    latency_pct: Dist,
    cpu_cores: Dist,
}

impl VariantDists {
    fn new() -> Self {
        VariantDists {
            latency_us: Dist::new(1000.0),
            latency_pct: Dist::new(1000.0),
            cpu_cores: Dist::new(1e6),
        }
    }
    fn merge(&mut self, o: &VariantDists) {
        self.latency_us.merge(&o.latency_us);
        self.latency_pct.merge(&o.latency_pct);
        self.cpu_cores.merge(&o.cpu_cores);
    }
}

/// One worker's state.
#[derive(Clone, Debug)]
pub(crate) struct Acc {
    base_latency_us: Dist,
    calls: Dist,
    variants: Vec<VariantDists>,
}

impl Acc {
    /// Call graphs collected.
    pub(crate) fn graphs(&self) -> u64 {
        self.calls.count()
    }

    /// An empty state for `variants` variants.
    pub(crate) fn new(variants: usize) -> Acc {
        Acc {
            base_latency_us: Dist::new(1000.0),
            calls: Dist::new(1.0),
            variants: (0..variants).map(|_| VariantDists::new()).collect(),
        }
    }
    /// Adds everything `o` collected.
    pub(crate) fn merge(&mut self, o: &Acc) {
        self.base_latency_us.merge(&o.base_latency_us);
        self.calls.merge(&o.calls);
        for (a, b) in self.variants.iter_mut().zip(&o.variants) {
            a.merge(b);
        }
    }
}

/// The figures of one variant in the report.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct VariantReport {
    /// The sidecar configuration.
    pub(crate) config: String,
    /// The speedup applied, if any.
    pub(crate) speedup: Option<String>,
    /// Latency overhead per graph, µs.
    pub(crate) latency_overhead_us: Summary,
    /// Latency overhead per graph, % of its latency without the mesh.
    pub(crate) latency_overhead_pct: Summary,
    /// CPU overhead per graph at `rate_rps`, cores.
    pub(crate) cpu_overhead_cores: Summary,
    /// CDF points of the latency overhead (µs, fraction), for plots.
    #[serde(skip)]
    pub(crate) latency_cdf: Vec<(f64, f64)>,
    /// CDF points of the CPU overhead (cores, fraction), for plots.
    #[serde(skip)]
    pub(crate) cpu_cdf: Vec<(f64, f64)>,
}

impl VariantReport {
    /// `http`, `http after uds-ipc`.
    pub(crate) fn label(&self) -> String {
        match &self.speedup {
            Some(s) => format!("{} after {s}", self.config),
            None => self.config.clone(),
        }
    }
}

/// The result of an analysis.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Analysis {
    /// Always [`FORMAT_VERSION`].
    pub(crate) format_version: u32,
    /// Number of call graphs analysed.
    pub(crate) graphs: u64,
    /// Platform id of the profile used.
    pub(crate) profile: String,
    /// Size of calls the trace gave none, bytes.
    pub(crate) size_bytes: f64,
    /// Requests per second each graph is served at.
    pub(crate) rate_rps: f64,
    /// Calls per graph.
    pub(crate) calls_per_graph: Summary,
    /// End-to-end latency without the mesh, µs.
    pub(crate) base_latency_us: Summary,
    /// Calls whose size came from `size_bytes`.
    pub(crate) calls_with_default_size: u64,
    /// Problems met in the traces, by kind.
    pub(crate) problems: Problems,
    /// One entry per configuration (and per configuration after the speedup).
    pub(crate) variants: Vec<VariantReport>,
}

/// A lean ECG for the rebuild: no names, one anonymous service, children sorted by start.
fn lean_ecg(g: &Graph) -> Ecg {
    let calls: Vec<Call> = g
        .calls
        .iter()
        .map(|c| Call {
            id: String::new(),
            parent: c.parent,
            from: c.parent.map(|_| 0),
            to: 0,
            operation: None,
            request_bytes: c.request_bytes.unwrap_or(0),
            response_bytes: c.response_bytes.unwrap_or(0),
            rate: 0.0,
            start_us: c.start_us,
            duration_us: c.duration_us,
            after: None,
        })
        .collect();
    Ecg {
        name: String::new(),
        origin: PathBuf::new(),
        services: vec![Service {
            name: String::new(),
            sidecar: None,
            platform: None,
        }],
        calls,
        root: Graph::ROOT,
        children: g.children(),
    }
}

/// Predicts one graph under every variant and records the figures.
pub(crate) fn analyze_graph(
    g: &Graph,
    variants: &[Variant],
    size: f64,
    rate: f64,
    acc: &mut Acc,
) -> u64 {
    let ecg = lean_ecg(g);
    let base = g.calls[Graph::ROOT].duration_us;
    acc.base_latency_us.record(base);
    acc.calls.record(g.calls.len() as f64);
    let sizes: Vec<f64> = g
        .calls
        .iter()
        .map(|c| match (c.request_bytes, c.response_bytes) {
            (None, None) => size,
            (r, s) => (r.map_or(size, |v| v as f64) + s.map_or(size, |v| v as f64)) / 2.0,
        })
        .collect();
    let mut overhead = vec![0.0; g.calls.len()];
    for (v, d) in variants.iter().zip(&mut acc.variants) {
        let mut cpu_us = 0.0;
        for (k, c) in g.calls.iter().enumerate() {
            let sides = if c.parent.is_some() { 2.0 } else { 1.0 };
            let (lat, cpu) = v.traversal(sizes[k]);
            overhead[k] = sides * lat;
            cpu_us += sides * cpu;
        }
        let t = rebuild(&ecg, &overhead);
        let over = t.duration_us[Graph::ROOT] - base;
        d.latency_us.record(over);
        if base > 0.0 {
            d.latency_pct.record(100.0 * over / base);
        }
        d.cpu_cores.record(rate * cpu_us / 1e6);
    }
    g.defaulted_sizes() as u64
}

/// The analysis of what `acc` collected over `variants`.
pub(crate) fn analysis(
    profile: &Profile,
    variants: &[Variant],
    acc: &Acc,
    (size, rate): (f64, f64),
    defaulted: u64,
    problems: Problems,
) -> Analysis {
    Analysis {
        format_version: FORMAT_VERSION,
        graphs: acc.calls.count(),
        profile: profile.platform.id.clone(),
        size_bytes: size,
        rate_rps: rate,
        calls_per_graph: acc.calls.summary(),
        base_latency_us: acc.base_latency_us.summary(),
        calls_with_default_size: defaulted,
        problems,
        variants: variants
            .iter()
            .zip(&acc.variants)
            .map(|(v, d)| VariantReport {
                config: v.config.to_string(),
                speedup: v.speedup.clone(),
                latency_overhead_us: d.latency_us.summary(),
                latency_overhead_pct: d.latency_pct.summary(),
                cpu_overhead_cores: d.cpu_cores.summary(),
                latency_cdf: d.latency_us.cdf(200),
                cpu_cdf: d.cpu_cores.cdf(200),
            })
            .collect(),
    }
}
