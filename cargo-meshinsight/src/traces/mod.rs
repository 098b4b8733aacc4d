//! Trace import: Jaeger JSON, OTLP JSON and Alibaba call-graph CSV turned into call graphs
//! ([`Graph`]), then into ECG fixtures or straight into prediction.
//! Format notes and repair rules: docs/traces.md.
//!
//! Every reader ends in the same [`Graph`]: one node per call (a client span and its server
//! span are one call; spans without a remote peer are folded into the call they run in), each
//! child clipped to its parent's window as CRISP does, and the problems met on the way counted
//! in [`Problems`].

pub(crate) mod alibaba;
pub(crate) mod crisp;
pub(crate) mod generator;
pub(crate) mod jaeger;
pub(crate) mod otlp;
pub(crate) mod spans;
pub(crate) mod stream;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::ecg::{CallSpec, Defaults, EcgDoc};

/// A trace file could not be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TraceError {
    /// The file could not be read (or a temporary file written).
    #[error("failed to read trace file {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not in the format it claims, with the line.
    #[error("invalid trace file {path}: line {line}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// The format of the file could not be told.
    #[error("cannot tell the format of trace file {path}: {message}")]
    UnknownFormat {
        /// The file.
        path: PathBuf,
        /// What was seen.
        message: String,
    },
    /// Temporary files for the partitioning could not be written.
    #[error("failed to write temporary file {path}")]
    Temp {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The path is a directory, a FIFO, a socket or a device: reading it could block forever
    /// or never end.
    #[error("trace file {path} is not a regular file")]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// A file read whole is larger than the limit.
    #[error("trace file {path} is larger than {max} bytes")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit.
        max: u64,
    },
    /// A span's times are out of the range this tool accepts.
    #[error("invalid trace `{trace}` in {origin}: span `{span}`: {problem}")]
    Span {
        /// The file, or how many files the trace's spans came from.
        origin: String,
        /// The trace id.
        trace: String,
        /// The span id.
        span: String,
        /// What is wrong.
        problem: String,
    },
}

/// The largest time this tool accepts, µs (10^13 µs, about 115 days): a call's duration, and
/// its start from the first call of its trace. Beyond it a float loses the microseconds that
/// a sidecar's overhead is made of.
pub(crate) const MAX_TIME_US: f64 = crate::ecg::MAX_TIME_US;

/// Checks that `path` is a regular file, so that opening it cannot block (a FIFO) and
/// reading it ends (a device).
pub(crate) fn check_regular(path: &Path) -> Result<std::fs::Metadata, TraceError> {
    let meta = std::fs::metadata(path).map_err(|source| TraceError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    if !meta.is_file() {
        return Err(TraceError::NotAFile {
            path: path.to_path_buf(),
        });
    }
    Ok(meta)
}

/// The text of the regular file `path`, refused when larger than `max` bytes.
pub(crate) fn read_whole(path: &Path, max: u64) -> Result<String, TraceError> {
    use crate::util::file::{ReadRefused, read_bounded};
    let path_buf = path.to_path_buf();
    read_bounded(path, max).map_err(|refused| match refused {
        ReadRefused::Io(source) => TraceError::Read {
            path: path_buf,
            source,
        },
        ReadRefused::NotAFile => TraceError::NotAFile { path: path_buf },
        ReadRefused::TooLarge => TraceError::TooLarge {
            path: path_buf,
            max,
        },
    })
}

/// The formats this module reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum TraceFormat {
    /// Jaeger query-API JSON (`{"data":[{traceID, spans, processes}]}`).
    Jaeger,
    /// OTLP JSON (one `{"resourceSpans":[..]}` per file, or JSON Lines).
    Otlp,
    /// Alibaba cluster-trace-microservices CallGraph CSV (v2021 or v2022).
    Alibaba,
}

impl TraceFormat {
    /// `jaeger`, `otlp`, `alibaba`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            TraceFormat::Jaeger => "jaeger",
            TraceFormat::Otlp => "otlp",
            TraceFormat::Alibaba => "alibaba",
        }
    }

    /// Guesses the format from the extension and the first bytes of the file.
    pub(crate) fn detect(path: &Path) -> Result<TraceFormat, TraceError> {
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
        {
            return Ok(TraceFormat::Alibaba);
        }
        check_regular(path)?;
        let mut head = vec![0u8; 4096];
        let n = {
            use std::io::Read;
            let mut f = std::fs::File::open(path).map_err(|source| TraceError::Read {
                path: path.to_path_buf(),
                source,
            })?;
            f.read(&mut head).map_err(|source| TraceError::Read {
                path: path.to_path_buf(),
                source,
            })?
        };
        let head = String::from_utf8_lossy(&head[..n]);
        if head.contains("\"resourceSpans\"") || head.contains("\"resource_spans\"") {
            Ok(TraceFormat::Otlp)
        } else if head.contains("\"data\"") || head.contains("\"traceID\"") {
            Ok(TraceFormat::Jaeger)
        } else if head.starts_with(',') || head.to_ascii_lowercase().contains("traceid,") {
            Ok(TraceFormat::Alibaba)
        } else {
            Err(TraceError::UnknownFormat {
                path: path.to_path_buf(),
                message: "expected Jaeger JSON (`data`), OTLP JSON (`resourceSpans`) or an Alibaba CSV header; name the format with `import jaeger|otlp|alibaba`".into(),
            })
        }
    }
}

/// One call of an imported trace.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct GraphCall {
    /// Its id (span id or Alibaba rpcid), unique in the trace.
    pub(crate) id: String,
    /// The calling call, `None` for the entry call.
    pub(crate) parent: Option<usize>,
    /// The callee service.
    pub(crate) service: String,
    /// What the callee does.
    pub(crate) operation: String,
    /// Start, µs, as the caller saw it.
    pub(crate) start_us: f64,
    /// Duration, µs, clipped to the parent's window.
    pub(crate) duration_us: f64,
    /// Request size from the trace, when it says.
    pub(crate) request_bytes: Option<u64>,
    /// Response size from the trace, when it says.
    pub(crate) response_bytes: Option<u64>,
}

impl GraphCall {
    /// End, µs.
    pub(crate) fn end_us(&self) -> f64 {
        self.start_us + self.duration_us
    }
}

/// One imported trace: a tree of calls, every child inside its parent's window.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Graph {
    /// The trace id.
    pub(crate) trace_id: String,
    /// The calls, parents before children.
    pub(crate) calls: Vec<GraphCall>,
    /// What was repaired or left off in this trace (empty in lean graphs).
    pub(crate) problems: Problems,
}

impl Graph {
    /// The entry call (always index 0).
    pub(crate) const ROOT: usize = 0;

    /// Children of each call, sorted by start (ties keep index order).
    pub(crate) fn children(&self) -> Vec<Vec<usize>> {
        let mut kids = vec![Vec::new(); self.calls.len()];
        for (i, c) in self.calls.iter().enumerate() {
            if let Some(p) = c.parent {
                kids[p].push(i);
            }
        }
        for k in &mut kids {
            k.sort_by(|&a, &b| {
                self.calls[a]
                    .start_us
                    .total_cmp(&self.calls[b].start_us)
                    .then(a.cmp(&b))
            });
        }
        kids
    }

    /// Number of calls whose request or response size came from the defaults.
    pub(crate) fn defaulted_sizes(&self) -> usize {
        self.calls
            .iter()
            .filter(|c| c.request_bytes.is_none() || c.response_bytes.is_none())
            .count()
    }

    /// The graph as an ECG fixture document. A blank trace or call id (a trace file may have
    /// one) is named after its place, as an ECG needs a name and ids.
    pub(crate) fn to_ecg_doc(&self, defaults: &Defaults, provenance: &str) -> EcgDoc {
        let id = |i: usize| {
            let id = &self.calls[i].id;
            if id.trim().is_empty() {
                format!("(blank id, call #{})", i + 1)
            } else {
                id.clone()
            }
        };
        let name = if self.trace_id.trim().is_empty() {
            "(blank trace id)".to_string()
        } else {
            self.trace_id.clone()
        };
        let calls = self
            .calls
            .iter()
            .enumerate()
            .map(|(i, c)| CallSpec {
                id: id(i),
                parent: c.parent.map(id),
                to: c.service.clone(),
                operation: (!c.operation.is_empty()).then(|| c.operation.clone()),
                request_bytes: c.request_bytes,
                response_bytes: c.response_bytes,
                rate: None,
                start_us: c.start_us,
                duration_us: c.duration_us,
                after: None,
            })
            .collect();
        EcgDoc {
            description: Some(format!("imported trace {name}")),
            name,
            provenance: Some(provenance.to_string()),
            defaults: defaults.clone(),
            services: BTreeMap::new(),
            calls,
        }
    }
}

/// Counts of every kind of problem met while importing, by name (docs/traces.md lists them).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub(crate) struct Problems(pub BTreeMap<&'static str, u64>);

impl Problems {
    /// Adds `n` to the counter `kind`.
    pub(crate) fn add(&mut self, kind: &'static str, n: u64) {
        if n > 0 {
            *self.0.entry(kind).or_default() += n;
        }
    }
    /// Adds every counter of `other`.
    pub(crate) fn merge(&mut self, other: &Problems) {
        for (k, v) in &other.0 {
            self.add(k, *v);
        }
    }
    /// The counter `kind`.
    #[cfg(test)]
    pub(crate) fn get(&self, kind: &str) -> u64 {
        self.0.get(kind).copied().unwrap_or(0)
    }
    /// Whether nothing was counted.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// `name: n, name: n`.
    pub(crate) fn summary(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Clips every call to its parent's window, parents first, as CRISP's
/// `sanitizeOverflowingChildren` does: a child inside its parent is kept; one that starts
/// before its parent and ends inside it (after its start) has its start moved up; one that
/// starts inside and ends after has its end moved back; any other (wholly outside, or
/// overhanging both ends) is dropped with its subtree. `calls` must list parents before
/// children. Returns which calls are kept.
pub(crate) fn clip_mask(calls: &mut [GraphCall], problems: &mut Problems) -> Vec<bool> {
    let mut keep = vec![true; calls.len()];
    let (mut truncated, mut dropped) = (0, 0);
    for i in 0..calls.len() {
        let Some(p) = calls[i].parent else { continue };
        if !keep[p] {
            keep[i] = false;
            dropped += 1;
            continue;
        }
        let (ps, pe) = (calls[p].start_us, calls[p].end_us());
        let c = &mut calls[i];
        let (s, e) = (c.start_us, c.end_us());
        if s >= ps && e <= pe {
            // Inside.
        } else if s < ps && e <= pe && e > ps {
            truncated += 1;
            c.start_us = ps;
            c.duration_us = e - ps;
        } else if s >= ps && e > pe && s < pe {
            truncated += 1;
            c.duration_us = pe - s;
        } else {
            keep[i] = false;
            dropped += 1;
        }
    }
    problems.add("calls truncated to their parent's window", truncated);
    problems.add("calls outside their parent's window (dropped)", dropped);
    keep
}

/// The calls reachable from `root`, breadth first: `root`, then each call's `children` in
/// their order, so parents come before children.
pub(crate) fn breadth_first(root: usize, children: &[Vec<usize>]) -> Vec<usize> {
    let mut order = vec![root];
    let mut at = 0;
    while at < order.len() {
        let c = order[at];
        at += 1;
        order.extend(children[c].iter().copied());
    }
    order
}

/// The position of each of `len` calls in `order`; `usize::MAX` for those not in it.
pub(crate) fn positions(order: &[usize], len: usize) -> Vec<usize> {
    let mut pos = vec![usize::MAX; len];
    for (n, &i) in order.iter().enumerate() {
        pos[i] = n;
    }
    pos
}

/// [`clip_mask`], then the kept calls, re-indexed.
pub(crate) fn clip_to_parents(
    mut calls: Vec<GraphCall>,
    problems: &mut Problems,
) -> Vec<GraphCall> {
    let keep = clip_mask(&mut calls, problems);
    let mut new_index = vec![usize::MAX; calls.len()];
    let mut out = Vec::with_capacity(calls.len());
    for (i, mut c) in calls.into_iter().enumerate() {
        if keep[i] {
            c.parent = c.parent.map(|p| new_index[p]);
            new_index[i] = out.len();
            out.push(c);
        }
    }
    out
}

/// Reads every trace of `paths` into call graphs: all in `format`, or each file's own
/// format when `None`. Alibaba files are streamed through partitions; Jaeger and OTLP files
/// are read whole, each at most `max_bytes`. Graphs come sorted by trace id.
pub(crate) fn load_graphs(
    format: Option<TraceFormat>,
    paths: &[PathBuf],
    max_bytes: u64,
) -> Result<(Vec<Graph>, Problems), TraceError> {
    let mut csv = Vec::new();
    let mut spans_files = Vec::new();
    for p in paths {
        let f = match format {
            Some(f) => f,
            None => TraceFormat::detect(p)?,
        };
        match f {
            TraceFormat::Alibaba => csv.push(p.clone()),
            TraceFormat::Jaeger | TraceFormat::Otlp => spans_files.push((p.clone(), f)),
        }
    }
    let mut problems = Problems::default();
    let mut graphs = Vec::new();
    if !csv.is_empty() {
        let (g, summary) = stream::read_all(&csv, &stream::StreamConfig::default())?;
        graphs.extend(g);
        problems.merge(&summary.problems);
    }
    if !spans_files.is_empty() {
        let origin = match spans_files.as_slice() {
            [(one, _)] => one.display().to_string(),
            more => format!("{} trace files", more.len()),
        };
        for t in spans::read_traces(&spans_files, max_bytes)? {
            graphs.extend(spans::to_graph(&t, &mut problems).map_err(|e| e.in_file(&origin))?);
        }
    }
    graphs.sort_by(|a, b| a.trace_id.cmp(&b.trace_id));
    Ok((graphs, problems))
}

#[cfg(test)]
mod tests;
