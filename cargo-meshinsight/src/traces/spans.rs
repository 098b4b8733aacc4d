//! From spans (Jaeger, OTLP) to a call graph.
//!
//! A client (or producer) span and the server (or consumer) span under it are one call, from
//! the client's service to the server's; a server span under a span that is not a client is a
//! call of its own; a span without a kind is a server span when its service differs from its
//! parent's, and local work otherwise. Local work (internal spans, spans with no remote peer)
//! is folded into the call it runs in: its children become that call's children. Before that,
//! as CRISP does, children are clipped to their parent's window, FOLLOWS_FROM-only spans and
//! orphans (whose parent is not in the trace) are left off with their subtrees, and every
//! such case is counted.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use super::{
    Graph, GraphCall, MAX_TIME_US, Problems, TraceError, TraceFormat, breadth_first, clip_mask,
    positions,
};
use crate::ecg::MAX_BYTES;
use crate::util::text::escape_controls;

/// The kind of a span (OpenTelemetry's, which Jaeger's `span.kind` tag also uses).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Not said.
    Unspecified,
    /// Local work.
    Internal,
    /// Handles a remote call.
    Server,
    /// Makes a remote call.
    Client,
    /// Sends a message.
    Producer,
    /// Handles a message.
    Consumer,
}

impl Kind {
    /// From Jaeger's `span.kind` values or OTLP's names.
    pub(crate) fn parse(s: &str) -> Kind {
        match s
            .trim()
            .trim_start_matches("SPAN_KIND_")
            .to_ascii_lowercase()
            .as_str()
        {
            "server" => Kind::Server,
            "client" => Kind::Client,
            "producer" => Kind::Producer,
            "consumer" => Kind::Consumer,
            "internal" => Kind::Internal,
            _ => Kind::Unspecified,
        }
    }
    fn calls_out(self) -> bool {
        matches!(self, Kind::Client | Kind::Producer)
    }
    fn serves(self) -> bool {
        matches!(self, Kind::Server | Kind::Consumer)
    }
}

/// A span as read, before it becomes part of a call.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct RawSpan {
    /// Span id.
    pub(crate) span_id: String,
    /// The CHILD_OF parent's span id.
    pub(crate) parent: Option<String>,
    /// A FOLLOWS_FROM reference (or OTLP link), used when there is no CHILD_OF parent.
    pub(crate) follows_from: Option<String>,
    /// The service, `None` when the span's process is missing.
    pub(crate) service: Option<String>,
    /// Operation name.
    pub(crate) operation: String,
    /// Kind.
    pub(crate) kind: Kind,
    /// Start, ns, any origin shared by the trace.
    pub(crate) start_ns: i128,
    /// Duration, ns.
    pub(crate) duration_ns: i128,
    /// Request size from the span's attributes.
    pub(crate) request_bytes: Option<u64>,
    /// Response size from the span's attributes.
    pub(crate) response_bytes: Option<u64>,
    /// The remote peer from the span's attributes (`peer.service`, `server.address`, ...).
    pub(crate) peer: Option<String>,
}

/// The spans of one trace.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct RawTrace {
    /// Trace id.
    pub(crate) trace_id: String,
    /// Spans in file order.
    pub(crate) spans: Vec<RawSpan>,
}

/// Attribute keys that give the request size, in order of preference.
pub(crate) const REQUEST_SIZE_KEYS: [&str; 6] = [
    "http.request.body.size",
    "http.request_content_length",
    "request_size",
    "messaging.message.body.size",
    "rpc.request.size",
    "rpc.message.uncompressed_size",
];
/// Attribute keys that give the response size, in order of preference.
pub(crate) const RESPONSE_SIZE_KEYS: [&str; 5] = [
    "http.response.body.size",
    "http.response_content_length",
    "response_size",
    "rpc.response.size",
    "rpc.message.uncompressed_size",
];
/// Attribute keys that name the remote peer of a client span, in order of preference.
pub(crate) const PEER_KEYS: [&str; 6] = [
    "peer.service",
    "server.address",
    "net.peer.name",
    "db.system",
    "messaging.destination.name",
    "messaging.system",
];

/// Fills sizes and the peer from a span's attributes (`get` looks one up as text).
pub(crate) fn attributes_into(span: &mut RawSpan, get: impl Fn(&str) -> Option<String>) {
    let size = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| get(k).and_then(|v| v.trim().parse::<f64>().ok()))
            .filter(|v| v.is_finite() && *v >= 0.0)
            .map(|v| v as u64)
    };
    span.request_bytes = size(&REQUEST_SIZE_KEYS);
    span.response_bytes = size(&RESPONSE_SIZE_KEYS);
    span.peer = PEER_KEYS
        .iter()
        .find_map(|k| get(k))
        .filter(|s| !s.trim().is_empty());
    if let Some(k) = get("span.kind") {
        span.kind = Kind::parse(&k);
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Role {
    Call(usize),
    Merged(usize),
    Local(usize),
}

impl Role {
    fn call(self) -> usize {
        match self {
            Role::Call(c) | Role::Merged(c) | Role::Local(c) => c,
        }
    }
}

/// A span whose duration, or start after the trace's first span, is beyond
/// [`MAX_TIME_US`]; the file is named by the caller.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SpanOutOfRange {
    trace: String,
    span: String,
    problem: String,
}

impl SpanOutOfRange {
    /// The error, naming where the trace was read from.
    pub(crate) fn in_file(self, origin: &str) -> TraceError {
        TraceError::Span {
            origin: origin.to_string(),
            trace: self.trace,
            span: self.span,
            problem: self.problem,
        }
    }
}

/// Turns the spans of one trace into its call graph; `None` when it has no usable root.
/// The trace's problems are added to `problems` and kept in the graph.
pub(crate) fn to_graph(
    trace: &RawTrace,
    problems: &mut Problems,
) -> Result<Option<Graph>, SpanOutOfRange> {
    let mut own = Problems::default();
    let graph = to_graph_counting(trace, &mut own)?;
    problems.merge(&own);
    Ok(graph.map(|g| Graph { problems: own, ..g }))
}

fn to_graph_counting(
    trace: &RawTrace,
    problems: &mut Problems,
) -> Result<Option<Graph>, SpanOutOfRange> {
    let spans = &trace.spans;
    let links = link_spans(spans, problems);
    let Some(root) = pick_root(spans, &links.roots, problems) else {
        return Ok(None);
    };
    let order = breadth_first(root, &links.children);
    let left_off = links.left_off + links.roots.len() - 1;
    problems.add(
        "spans under spans left off (left off)",
        (links.kept - order.len()).saturating_sub(left_off) as u64,
    );
    let mut windows = windows(trace, &order, &links.parent, problems)?;
    let keep = clip_mask(&mut windows, problems);
    let calls = fold_into_calls(spans, &order, &windows, &keep, problems);
    Ok(Some(Graph {
        trace_id: trace.trace_id.clone(),
        calls,
        problems: Problems::default(),
    }))
}

/// The tree the CHILD_OF references of a trace's spans make.
struct Links {
    /// Spans kept: the first of each span id.
    kept: usize,
    /// Each span's parent.
    parent: Vec<Option<usize>>,
    /// Each span's children, in file order.
    children: Vec<Vec<usize>>,
    /// Spans without any reference.
    roots: Vec<usize>,
    /// FOLLOWS_FROM-only and orphan spans (left off with their subtrees).
    left_off: usize,
}

/// Links each span to its CHILD_OF parent; later spans with an id already seen are dropped,
/// FOLLOWS_FROM-only spans and orphans are counted and left unlinked.
fn link_spans(spans: &[RawSpan], problems: &mut Problems) -> Links {
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(spans.len());
    let mut kept = Vec::with_capacity(spans.len());
    for (i, s) in spans.iter().enumerate() {
        if !index.contains_key(s.span_id.as_str()) {
            index.insert(&s.span_id, i);
            kept.push(i);
        }
    }
    problems.add(
        "duplicated span ids (dropped)",
        (spans.len() - kept.len()) as u64,
    );
    let mut links = Links {
        kept: kept.len(),
        parent: vec![None; spans.len()],
        children: vec![Vec::new(); spans.len()],
        roots: Vec::new(),
        left_off: 0,
    };
    let (mut follows, mut orphans) = (0u64, 0u64);
    for &i in &kept {
        let s = &spans[i];
        match (&s.parent, &s.follows_from) {
            (Some(p), _) => match index.get(p.as_str()) {
                Some(&pi) if pi != i => {
                    links.parent[i] = Some(pi);
                    links.children[pi].push(i);
                }
                _ => orphans += 1,
            },
            (None, Some(_)) => follows += 1,
            (None, None) => links.roots.push(i),
        }
    }
    problems.add(
        "FOLLOWS_FROM-only spans (left off, with their subtrees)",
        follows,
    );
    problems.add(
        "orphan spans: parent not in the trace (left off, with their subtrees)",
        orphans,
    );
    links.left_off = (follows + orphans) as usize;
    links
}

/// The root: the earliest root span, the longest of those that start together; `None` (and
/// the trace counted as dropped) when there is no root span.
fn pick_root(spans: &[RawSpan], roots: &[usize], problems: &mut Problems) -> Option<usize> {
    let Some(&root) = roots.iter().min_by(|&&a, &&b| {
        spans[a]
            .start_ns
            .cmp(&spans[b].start_ns)
            .then(spans[b].duration_ns.cmp(&spans[a].duration_ns))
            .then(a.cmp(&b))
    }) else {
        problems.add("traces without a root span (dropped)", 1);
        return None;
    };
    problems.add(
        "extra root spans (left off, with their subtrees)",
        roots.len() as u64 - 1,
    );
    Some(root)
}

/// The spans in `order` (parents first) as calls of their own, in µs from the trace's start;
/// a missing service becomes `(unknown)`, a negative duration 0, a size over [`MAX_BYTES`]
/// [`MAX_BYTES`]. A duration or start beyond [`MAX_TIME_US`] is an error.
fn windows(
    trace: &RawTrace,
    order: &[usize],
    parent: &[Option<usize>],
    problems: &mut Problems,
) -> Result<Vec<GraphCall>, SpanOutOfRange> {
    let spans = &trace.spans;
    let t0 = order.iter().map(|&i| spans[i].start_ns).min().unwrap_or(0);
    let pos = positions(order, spans.len());
    let (mut missing_process, mut negative, mut huge) = (0, 0, 0);
    let mut size = |b: Option<u64>| {
        b.map(|b| {
            huge += u64::from(b > MAX_BYTES);
            b.min(MAX_BYTES)
        })
    };
    let mut windows = Vec::with_capacity(order.len());
    for &i in order {
        let s = &spans[i];
        let service = s.service.clone().filter(|x| !x.trim().is_empty());
        if service.is_none() {
            missing_process += 1;
        }
        if s.duration_ns < 0 {
            negative += 1;
        }
        let start_us = (s.start_ns - t0) as f64 / 1000.0;
        let duration_us = s.duration_ns.max(0) as f64 / 1000.0;
        for (what, v) in [("starts", start_us), ("lasts", duration_us)] {
            if v > MAX_TIME_US {
                let after = if what == "starts" {
                    " after the trace's first span"
                } else {
                    ""
                };
                return Err(SpanOutOfRange {
                    trace: trace.trace_id.clone(),
                    span: s.span_id.clone(),
                    problem: format!(
                        "it {what} {v:e} µs{after}; at most {MAX_TIME_US:e} µs (about 115 days) are accepted"
                    ),
                });
            }
        }
        windows.push(GraphCall {
            id: s.span_id.clone(),
            parent: parent[i].map(|p| pos[p]),
            service: service.unwrap_or_else(|| "(unknown)".into()),
            operation: s.operation.clone(),
            start_us,
            duration_us,
            request_bytes: size(s.request_bytes),
            response_bytes: size(s.response_bytes),
        });
    }
    problems.add(
        "spans with a missing process or service name (service `(unknown)`)",
        missing_process,
    );
    problems.add("spans with a negative duration (taken as 0)", negative);
    problems.add("sizes over 1 GiB in span attributes (taken as 1 GiB)", huge);
    Ok(windows)
}

/// Turns the kept spans' windows into calls: a server span under a client span joins its
/// call, other remote spans and client spans start calls, local work is folded into the call
/// it runs in.
fn fold_into_calls(
    spans: &[RawSpan],
    order: &[usize],
    windows: &[GraphCall],
    keep: &[bool],
    problems: &mut Problems,
) -> Vec<GraphCall> {
    let mut role: Vec<Option<Role>> = vec![None; windows.len()];
    let mut calls: Vec<GraphCall> = Vec::new();
    let mut has_server: Vec<bool> = Vec::new();
    let mut folded = 0;
    for n in 0..windows.len() {
        if !keep[n] {
            continue;
        }
        let s = &spans[order[n]];
        let w = &windows[n];
        let new_call = |calls: &mut Vec<GraphCall>, parent: Option<usize>, service: String| {
            calls.push(GraphCall {
                service,
                parent,
                ..w.clone()
            });
            calls.len() - 1
        };
        let r = match w.parent {
            None => Role::Call(new_call(&mut calls, None, w.service.clone())),
            Some(p) => {
                let prole = role[p].expect("parents come first");
                let pspan = &spans[order[p]];
                let remote = s.kind.serves()
                    || (s.kind == Kind::Unspecified && windows[p].service != w.service);
                if remote
                    && pspan.kind.calls_out()
                    && matches!(prole, Role::Call(_))
                    && !has_server[prole.call()]
                {
                    // The server side of its parent's call.
                    let c = prole.call();
                    has_server[c] = true;
                    let call = &mut calls[c];
                    call.service = w.service.clone();
                    call.operation = w.operation.clone();
                    call.request_bytes = call.request_bytes.or(w.request_bytes);
                    call.response_bytes = call.response_bytes.or(w.response_bytes);
                    Role::Merged(c)
                } else if remote || s.kind.calls_out() {
                    let service = if s.kind.calls_out() {
                        s.peer.clone().unwrap_or_else(|| "(unknown)".into())
                    } else {
                        w.service.clone()
                    };
                    Role::Call(new_call(&mut calls, Some(prole.call()), service))
                } else {
                    folded += 1;
                    Role::Local(prole.call())
                }
            }
        };
        if matches!(r, Role::Call(_)) {
            has_server.push(!s.kind.calls_out());
        }
        role[n] = Some(r);
    }
    problems.add(
        "spans without a remote peer (local work, folded into their call)",
        folded,
    );
    let lone_clients = (0..windows.len())
        .filter(|&n| keep[n] && spans[order[n]].kind.calls_out())
        .filter(|&n| matches!(role[n], Some(Role::Call(c)) if !has_server[c]))
        .count();
    problems.add(
        "client spans without a server span (callee named from peer attributes)",
        lone_clients as u64,
    );
    calls
}

/// Reads Jaeger or OTLP files (format detected per file) into call graphs, sorted by trace
/// id, counting the problems. Spans of one trace id found in several files are merged.
pub(crate) fn read_graphs(
    paths: &[PathBuf],
    max_bytes: u64,
) -> Result<(Vec<Graph>, Problems), TraceError> {
    super::load_graphs(None, paths, max_bytes)
}

/// Reads span files (each at most `max_bytes`), each in its given format, merging the spans
/// of one trace id.
pub(crate) fn read_traces(
    files: &[(PathBuf, TraceFormat)],
    max_bytes: u64,
) -> Result<Vec<RawTrace>, TraceError> {
    let mut merged: BTreeMap<String, Vec<RawSpan>> = BTreeMap::new();
    for (p, f) in files {
        let traces = match f {
            TraceFormat::Jaeger => super::jaeger::parse(&super::read_whole(p, max_bytes)?, p)?,
            TraceFormat::Otlp => super::otlp::parse(&super::read_whole(p, max_bytes)?, p)?,
            TraceFormat::Alibaba => unreachable!("span files only"),
        };
        for t in traces {
            merged.entry(t.trace_id).or_default().extend(t.spans);
        }
    }
    Ok(merged
        .into_iter()
        .map(|(trace_id, spans)| RawTrace { trace_id, spans })
        .collect())
}

/// Reads a JSON document, naming the line of any error.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(
    text: &str,
    path: &std::path::Path,
) -> Result<T, TraceError> {
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let inner = e.inner();
        let message = inner.to_string();
        let message = match message.rfind(" at line ") {
            Some(i) => message[..i].to_string(),
            None => message,
        };
        TraceError::Invalid {
            path: path.to_path_buf(),
            line: inner.line() as u64,
            message: if e.path().to_string() == "." {
                escape_controls(&message).into_owned()
            } else {
                escape_controls(&format!("at `{}`: {message}", e.path())).into_owned()
            },
        }
    })
}
