//! Fleet-scale analysis (issue 7; the paper's Fig. 12 and 13): predict the mesh's overhead
//! for every call graph of a trace and report its distribution, per sidecar configuration
//! and before and after a speedup.
//!
//! Every service gets the same sidecar (`--config`); a call costs one traversal of the
//! callee's inbound sidecar, plus one of the caller's outbound sidecar except for the entry
//! call; a traversal is priced at the trace's sizes where it has them, else at `--size`. The
//! latency overhead of a graph comes from the fork/join rebuild of DESIGN §6
//! ([`crate::predict::rebuild`]); its CPU is `rate × Σ cpu` with every call made once per
//! request of the graph at `--rate` requests per second.

pub mod plot;
pub mod render;
pub mod stats;

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::ecg::{Call, Ecg, Service};
use crate::error::Error;
use crate::output::Output;
use crate::predict::{Speedup, load_profiles, rebuild};
use crate::profile::{CostVector, Profile, ProfileError};
use crate::traces::stream::{StreamConfig, for_each_graph};
use crate::traces::{Graph, Problems, TraceError, TraceFormat, spans};
use crate::vocab::SidecarConfig;
use stats::{Dist, Summary};

/// The version of the analysis output format.
pub const FORMAT_VERSION: u32 = 1;

/// What to analyze, with what.
#[derive(Clone, Debug)]
pub struct AnalyzeConfig {
    /// Trace files or directories of them.
    pub traces: Vec<PathBuf>,
    /// Profile files (the first one is used); empty: the paper's.
    pub profiles: Vec<PathBuf>,
    /// Sidecar configurations to compare.
    pub configs: Vec<SidecarConfig>,
    /// Message size for calls the trace gives none, bytes.
    pub size_bytes: f64,
    /// Requests per second each graph is served at, for CPU.
    pub rate: f64,
    /// A speedup profile: each configuration also after it.
    pub speedup: Option<PathBuf>,
    /// How to stream.
    pub stream: StreamConfig,
}

/// One column of the comparison: a configuration, optionally after a speedup.
#[derive(Clone, Debug)]
pub struct Variant {
    /// The sidecar configuration.
    pub config: SidecarConfig,
    /// The speedup's name, when applied.
    pub speedup: Option<String>,
    /// One traversal at size 0.
    base: CostVector,
    /// One traversal, per byte.
    slope: CostVector,
}

impl Variant {
    fn new(profile: &Profile, config: SidecarConfig, speedup: Option<String>) -> Variant {
        let base = profile.traversal_cost(&config, 0.0);
        let at1 = profile.traversal_cost(&config, 1.0);
        let mut slope = CostVector::default();
        for i in 0..crate::profile::COST_SLOTS {
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

    /// `http`, `http after uds-ipc`.
    pub fn label(&self) -> String {
        match &self.speedup {
            Some(s) => format!("{} after {s}", self.config),
            None => self.config.to_string(),
        }
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
struct Acc {
    base_latency_us: Dist,
    calls: Dist,
    variants: Vec<VariantDists>,
}

impl Acc {
    fn new(variants: usize) -> Acc {
        Acc {
            base_latency_us: Dist::new(1000.0),
            calls: Dist::new(1.0),
            variants: (0..variants).map(|_| VariantDists::new()).collect(),
        }
    }
    fn merge(&mut self, o: &Acc) {
        self.base_latency_us.merge(&o.base_latency_us);
        self.calls.merge(&o.calls);
        for (a, b) in self.variants.iter_mut().zip(&o.variants) {
            a.merge(b);
        }
    }
}

/// The figures of one variant in the report.
#[derive(Clone, Debug, Serialize)]
pub struct VariantReport {
    /// The sidecar configuration.
    pub config: String,
    /// The speedup applied, if any.
    pub speedup: Option<String>,
    /// Latency overhead per graph, µs.
    pub latency_overhead_us: Summary,
    /// Latency overhead per graph, % of its latency without the mesh.
    pub latency_overhead_pct: Summary,
    /// CPU overhead per graph at `rate_rps`, cores.
    pub cpu_overhead_cores: Summary,
    /// CDF points of the latency overhead (µs, fraction), for plots.
    #[serde(skip)]
    pub latency_cdf: Vec<(f64, f64)>,
    /// CDF points of the CPU overhead (cores, fraction), for plots.
    #[serde(skip)]
    pub cpu_cdf: Vec<(f64, f64)>,
}

impl VariantReport {
    /// `http`, `http after uds-ipc`.
    pub fn label(&self) -> String {
        match &self.speedup {
            Some(s) => format!("{} after {s}", self.config),
            None => self.config.clone(),
        }
    }
}

/// The result of an analysis.
#[derive(Clone, Debug, Serialize)]
pub struct Analysis {
    /// Always [`FORMAT_VERSION`].
    pub format_version: u32,
    /// Number of call graphs analysed.
    pub graphs: u64,
    /// Platform id of the profile used.
    pub profile: String,
    /// Size of calls the trace gave none, bytes.
    pub size_bytes: f64,
    /// Requests per second each graph is served at.
    pub rate_rps: f64,
    /// Calls per graph.
    pub calls_per_graph: Summary,
    /// End-to-end latency without the mesh, µs.
    pub base_latency_us: Summary,
    /// Calls whose size came from `size_bytes`.
    pub calls_with_default_size: u64,
    /// Problems met in the traces, by kind.
    pub problems: Problems,
    /// One entry per configuration (and per configuration after the speedup).
    pub variants: Vec<VariantReport>,
}

/// Expands directories into the trace files under them (`.csv`, `.json`, `.jsonl`).
pub fn trace_paths(given: &[PathBuf]) -> Result<Vec<PathBuf>, TraceError> {
    let mut out = Vec::new();
    for p in given {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|source| TraceError::Read {
                    path: p.clone(),
                    source,
                })?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| {
                    f.extension()
                        .and_then(|e| e.to_str())
                        .is_some_and(|e| matches!(e, "csv" | "json" | "jsonl"))
                })
                .collect();
            found.sort();
            out.extend(found);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
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
fn analyze_graph(g: &Graph, variants: &[Variant], size: f64, rate: f64, acc: &mut Acc) -> u64 {
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

/// Runs the analysis.
pub fn run(config: &AnalyzeConfig, out: &mut Output) -> Result<Analysis, Error> {
    let paths = trace_paths(&config.traces)?;
    if paths.is_empty() {
        return Err(Error::Other {
            message: "no trace files given (or none under the directories given)".into(),
            hint: Some("pass Alibaba CSV, Jaeger or OTLP JSON files with --traces".into()),
        });
    }
    let profiles = load_profiles(&config.profiles, out)?;
    let profile = profiles.primary().clone();
    let profile_path = config
        .profiles
        .first()
        .cloned()
        .unwrap_or_else(|| PathBuf::from(crate::profile::PAPER_PROFILE_PATH));
    for c in &config.configs {
        profile.supports(c).map_err(|what| ProfileError::Missing {
            path: profile_path.clone(),
            what,
        })?;
    }
    let speedup = config.speedup.as_deref().map(Speedup::load).transpose()?;
    let faster = speedup.as_ref().map(|s| s.apply(&profile)).transpose()?;
    let mut variants: Vec<Variant> = config
        .configs
        .iter()
        .map(|c| Variant::new(&profile, c.clone(), None))
        .collect();
    if let (Some(s), Some(fp)) = (&speedup, &faster) {
        for c in &config.configs {
            variants.push(Variant::new(fp, c.clone(), Some(s.name.clone())));
        }
    }

    let mut csv = Vec::new();
    let mut json = Vec::new();
    for p in paths {
        match TraceFormat::detect(&p)? {
            TraceFormat::Alibaba => csv.push(p),
            _ => json.push(p),
        }
    }
    let started = std::time::Instant::now();
    let mut acc = Acc::new(variants.len());
    let mut problems = Problems::default();
    let mut defaulted = 0u64;
    let (size, rate) = (config.size_bytes, config.rate);
    if !csv.is_empty() {
        out.status(
            "Analyzing",
            format!(
                "{} Alibaba CSV file{} ({} configuration{}), {} worker threads",
                csv.len(),
                plural(csv.len()),
                variants.len(),
                plural(variants.len()),
                config.stream.threads_or_cores()
            ),
        );
        let (states, summary) = for_each_graph(
            &csv,
            &config.stream,
            || (Acc::new(variants.len()), 0u64),
            |(a, d), g| *d += analyze_graph(&g, &variants, size, rate, a),
        )?;
        for (a, d) in &states {
            acc.merge(a);
            defaulted += d;
        }
        problems.merge(&summary.problems);
        out.status(
            "Read",
            format!(
                "{} rows, {} call graph{}; {} partitions written in {:.1} s, analysed in {:.1} s",
                summary.rows,
                summary.graphs,
                plural(summary.graphs as usize),
                summary.partitions,
                summary.partition_secs,
                summary.graph_secs
            ),
        );
    }
    if !json.is_empty() {
        let (graphs, p) = spans::read_graphs(&json)?;
        problems.merge(&p);
        for g in &graphs {
            defaulted += analyze_graph(g, &variants, size, rate, &mut acc);
        }
    }
    let graphs = acc.calls.count();
    let secs = started.elapsed().as_secs_f64();
    out.status(
        "Finished",
        format!(
            "{graphs} call graph{} in {secs:.1} s ({:.0} graphs/s)",
            plural(graphs as usize),
            graphs as f64 / secs.max(1e-9)
        ),
    );
    if !problems.is_empty() {
        out.warn(format!("problems in the traces: {}", problems.summary()));
    }
    if graphs == 0 {
        return Err(Error::Other {
            message: "the traces hold no usable call graph".into(),
            hint: Some("see the problem counts above; docs/traces.md says what is read".into()),
        });
    }
    Ok(Analysis {
        format_version: FORMAT_VERSION,
        graphs,
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
    })
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Writes the CDF plot of `analysis` to `path` (SVG), through a temporary file.
pub fn write_plot(analysis: &Analysis, path: &Path) -> Result<(), Error> {
    let svg = plot::svg(analysis);
    crate::traces::write_atomic(path, svg.as_bytes()).map_err(|source| Error::Write {
        what: format!("the plot {}", path.display()),
        source,
    })
}

#[cfg(test)]
mod tests;
