//! `cargo meshinsight analyze`: stream the traces into call graphs, predict each under every
//! configuration ([`crate::analyze`]), report the distributions and draw the CDF plot.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::error::Error;
use super::input::{load_speedup, max_input_bytes};
use super::output::Output;
use super::predict::load_profiles;
use super::progress;
use crate::analyze::{Acc, Analysis, Variant, analysis, analyze_graph};
use crate::exit;
use crate::model::{Profile, ProfileError};
use crate::project::fs::write_atomic;
use crate::report::{self, Format, analyze_plot};
use crate::traces::stream::{StreamConfig, StreamProgress, for_each_graph};
use crate::traces::{Problems, TraceError, TraceFormat, spans};
use crate::vocab::SidecarConfig;

/// What to analyze, with what, and how to report it.
#[derive(Clone, Debug)]
pub(crate) struct AnalyzeConfig {
    /// Trace files or directories of them.
    pub(crate) traces: Vec<PathBuf>,
    /// Profile files (the first one is used); empty: the paper's.
    pub(crate) profiles: Vec<PathBuf>,
    /// Sidecar configurations to compare.
    pub(crate) configs: Vec<SidecarConfig>,
    /// Message size for calls the trace gives none, bytes.
    pub(crate) size_bytes: f64,
    /// Requests per second each graph is served at, for CPU.
    pub(crate) rate: f64,
    /// A speedup profile: each configuration also after it.
    pub(crate) speedup: Option<PathBuf>,
    /// How to stream.
    pub(crate) stream: StreamConfig,
    /// How to print the analysis.
    pub(crate) format: Format,
    /// Where to write the CDF plot (SVG), if anywhere.
    pub(crate) plot: Option<PathBuf>,
}

/// Runs `analyze`: the analysis, its plot when asked, and the report on standard output.
pub(crate) fn run(config: &AnalyzeConfig, out: &mut Output) -> Result<u8, Error> {
    let analysis = analyze(config, out)?;
    if let Some(path) = &config.plot {
        write_atomic(path, analyze_plot::svg(&analysis).as_bytes())?;
        out.status("Wrote", format!("the CDF plot to {}", path.display()));
    }
    let text = report::analyze::render(&analysis, config.format, out.width());
    out.out()
        .write_all(text.as_bytes())
        .map_err(|source| Error::Write {
            what: "the analysis".into(),
            source,
        })?;
    Ok(exit::OK)
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

/// Progress on standard error (a bar on a terminal, plain lines elsewhere, none with --quiet).
fn progress_bar(out: &Output) -> progress::Bar {
    progress::bar(out, "Analyzing", Some(0), progress::Unit::Percent)
}

/// Updates `bar` from the stream's counters until `done`: the first pass (reading and
/// partitioning) is the first half of the bar, the second (building and predicting
/// graphs) the second half.
fn watch(bar: &progress::Bar, p: &StreamProgress, done: &AtomicBool) {
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

/// Runs `work` while a thread updates `bar` from `progress`. The watcher is told to stop
/// when `work` returns or panics, so a panic is re-raised instead of the scope waiting for
/// the watcher forever.
fn watched<R>(bar: &progress::Bar, progress: &StreamProgress, work: impl FnOnce() -> R) -> R {
    /// Sets the flag when dropped, also while unwinding.
    struct Stop<'a>(&'a AtomicBool);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| watch(bar, progress, &done));
        let _stop = Stop(&done);
        work()
    })
}

/// Reads every trace of `config` into call graphs and predicts each under every
/// configuration (and each after the speedup).
pub(crate) fn analyze(config: &AnalyzeConfig, out: &mut Output) -> Result<Analysis, Error> {
    let paths = trace_paths(&config.traces)?;
    if paths.is_empty() {
        return Err(Error::NoTraceFiles);
    }
    let (profile, variants) = variants(config, out)?;
    let (csv, json) = split_by_format(paths)?;
    let started = std::time::Instant::now();
    let mut tally = Tally {
        acc: Acc::new(variants.len()),
        problems: Problems::default(),
        defaulted: 0,
    };
    if !csv.is_empty() {
        analyze_csv(&csv, config, &variants, &mut tally, out)?;
    }
    if !json.is_empty() {
        let (graphs, p) = spans::read_graphs(&json, max_input_bytes()?)?;
        tally.problems.merge(&p);
        for g in &graphs {
            tally.defaulted +=
                analyze_graph(g, &variants, config.size_bytes, config.rate, &mut tally.acc);
        }
    }
    let graphs = tally.acc.graphs();
    let secs = started.elapsed().as_secs_f64();
    out.status(
        "Finished",
        format!(
            "{graphs} call graph{} in {secs:.1} s ({:.0} graphs/s)",
            plural(graphs as usize),
            graphs as f64 / secs.max(1e-9)
        ),
    );
    if !tally.problems.is_empty() {
        out.warn(format!(
            "problems in the traces: {}",
            tally.problems.summary()
        ));
    }
    if graphs == 0 {
        return Err(Error::NoUsableGraphs);
    }
    Ok(analysis(
        &profile,
        &variants,
        &tally.acc,
        (config.size_bytes, config.rate),
        tally.defaulted,
        tally.problems,
    ))
}

/// The profile used and the columns of the comparison: every configuration, then every
/// configuration after the speedup. Refuses a configuration the profile cannot price.
fn variants(config: &AnalyzeConfig, out: &mut Output) -> Result<(Profile, Vec<Variant>), Error> {
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
    Ok((profile, variants))
}

/// The trace files split into Alibaba CSV (streamed) and span files (read whole).
fn split_by_format(paths: Vec<PathBuf>) -> Result<(Vec<PathBuf>, Vec<PathBuf>), TraceError> {
    let mut csv = Vec::new();
    let mut json = Vec::new();
    for p in paths {
        match TraceFormat::detect(&p)? {
            TraceFormat::Alibaba => csv.push(p),
            _ => json.push(p),
        }
    }
    Ok((csv, json))
}

/// What the analysis has collected so far.
struct Tally {
    acc: Acc,
    problems: Problems,
    /// Calls priced at the default size.
    defaulted: u64,
}

/// Streams the Alibaba CSV files through the workers, with a progress bar, into `tally`.
fn analyze_csv(
    csv: &[PathBuf],
    config: &AnalyzeConfig,
    variants: &[Variant],
    tally: &mut Tally,
    out: &mut Output,
) -> Result<(), Error> {
    let (size, rate) = (config.size_bytes, config.rate);
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
    let result = watched(&bar, &progress, || {
        for_each_graph(
            csv,
            &stream,
            || (Acc::new(variants.len()), 0u64),
            |(a, d), g| *d += analyze_graph(&g, variants, size, rate, a),
        )
    });
    bar.finish_and_clear();
    let (states, summary) = result?;
    for (a, d) in &states {
        tally.acc.merge(a);
        tally.defaulted += d;
    }
    tally.problems.merge(&summary.problems);
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
    Ok(())
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests;
