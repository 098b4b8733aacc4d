//! `cargo meshinsight analyze`: stream the traces into call graphs, predict each under every
//! configuration ([`crate::analyze`]), report the distributions and draw the CDF plot.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use indicatif::ProgressBar;

use super::error::Error;
use super::input::load_speedup;
use super::output::Output;
use super::predict::load_profiles;
use super::progress;
use crate::analyze::{Acc, Analysis, Variant, analysis, analyze_graph};
use crate::model::ProfileError;
use crate::project::fs::write_atomic;
use crate::report::analyze_plot;
use crate::traces::stream::{StreamConfig, StreamProgress, for_each_graph};
use crate::traces::{Problems, TraceError, TraceFormat, spans};
use crate::vocab::SidecarConfig;

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

/// Expands directories into the trace files under them (`.csv`, `.json`, `.jsonl`).
pub(crate) fn trace_paths(given: &[PathBuf]) -> Result<Vec<PathBuf>, TraceError> {
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

/// A progress bar on standard error (hidden with --quiet or when it is not a terminal).
fn progress_bar(out: &Output) -> ProgressBar {
    progress::bar(out, "Analyzing", Some(0), "{percent:>3}% {msg}, {eta} left")
}

/// Updates `bar` from the stream's counters until `done`: the first pass (reading and
/// partitioning) is the first half of the bar, the second (building and predicting
/// graphs) the second half.
fn watch(bar: &ProgressBar, p: &StreamProgress, done: &AtomicBool) {
    bar.set_length(1000);
    while !done.load(Ordering::Relaxed) {
        let read = p.bytes_read.load(Ordering::Relaxed) as f64;
        let total = p.bytes_total.load(Ordering::Relaxed).max(1) as f64;
        let parts = p.partitions_done.load(Ordering::Relaxed) as f64;
        let parts_total = p.partitions_total.load(Ordering::Relaxed).max(1) as f64;
        let (pos, msg) = if parts > 0.0 {
            (
                500.0 + 500.0 * parts / parts_total,
                "building and predicting call graphs",
            )
        } else {
            (
                500.0 * (read / total).min(1.0),
                "reading and partitioning by trace",
            )
        };
        bar.set_position(pos as u64);
        bar.set_message(msg);
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Runs the analysis.
pub(crate) fn run(config: &AnalyzeConfig, out: &mut Output) -> Result<Analysis, Error> {
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
        .unwrap_or_else(|| PathBuf::from(crate::model::PAPER_PROFILE_PATH));
    for c in &config.configs {
        profile.supports(c).map_err(|what| ProfileError::Missing {
            path: profile_path.clone(),
            what,
        })?;
    }
    let speedup = config.speedup.as_deref().map(load_speedup).transpose()?;
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
        let progress = Arc::new(StreamProgress::default());
        let stream = StreamConfig {
            progress: Some(progress.clone()),
            ..config.stream.clone()
        };
        let bar = progress_bar(out);
        let done = AtomicBool::new(false);
        let result = std::thread::scope(|scope| {
            scope.spawn(|| watch(&bar, &progress, &done));
            let r = for_each_graph(
                &csv,
                &stream,
                || (Acc::new(variants.len()), 0u64),
                |(a, d), g| *d += analyze_graph(&g, &variants, size, rate, a),
            );
            done.store(true, Ordering::Relaxed);
            r
        });
        bar.finish_and_clear();
        let (states, summary) = result?;
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
    let graphs = acc.graphs();
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
    Ok(analysis(
        &profile,
        &variants,
        &acc,
        (size, rate),
        defaulted,
        problems,
    ))
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Writes the CDF plot of `analysis` to `path` (SVG), through a temporary file.
pub(crate) fn write_plot(analysis: &Analysis, path: &Path) -> Result<(), Error> {
    Ok(write_atomic(path, analyze_plot::svg(analysis).as_bytes())?)
}

#[cfg(test)]
mod tests;
