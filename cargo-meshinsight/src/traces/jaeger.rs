//! Jaeger JSON, as the query API and the UI's "download" give it:
//! `{"data":[{"traceID", "spans":[..], "processes":{..}}]}`, times in µs, parents in
//! `references` (`CHILD_OF`, `FOLLOWS_FROM`) or the older `parentSpanID`, the kind in the
//! `span.kind` tag, the service in the span's process.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use super::TraceError;
use super::spans::{Kind, RawSpan, RawTrace, attributes_into, parse_json};

#[derive(Debug, Deserialize)]
struct Doc {
    data: Vec<Trace>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Trace {
    #[serde(rename = "traceID")]
    trace_id: String,
    spans: Vec<Span>,
    #[serde(default)]
    processes: HashMap<String, Process>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Process {
    service_name: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Span {
    #[serde(rename = "spanID")]
    span_id: String,
    #[serde(default)]
    operation_name: String,
    #[serde(default)]
    references: Vec<Reference>,
    #[serde(rename = "parentSpanID", default)]
    parent_span_id: Option<String>,
    start_time: f64,
    duration: f64,
    #[serde(default)]
    tags: Vec<Tag>,
    #[serde(rename = "processID", default)]
    process_id: Option<String>,
    #[serde(default)]
    process: Option<Process>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Reference {
    ref_type: String,
    #[serde(rename = "spanID")]
    span_id: String,
}

#[derive(Debug, Deserialize)]
struct Tag {
    key: String,
    #[serde(default)]
    value: serde_json::Value,
}

fn text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The largest magnitude of a raw `startTime` or `duration`, µs (about 31,700 years): what
/// lies beyond cannot be a time, and would overflow the nanoseconds below.
const MAX_RAW_US: f64 = 1e18;

/// µs to ns without losing the last digits of epoch times (beyond 2^53 ns as a float);
/// `None` beyond [`MAX_RAW_US`].
fn us_to_ns(us: f64) -> Option<i128> {
    (us.abs() <= MAX_RAW_US)
        .then(|| us.trunc() as i128 * 1000 + (us.fract() * 1000.0).round() as i128)
}

/// Parses Jaeger JSON; `path` names it in errors.
pub(crate) fn parse(body: &str, path: &Path) -> Result<Vec<RawTrace>, TraceError> {
    let doc: Doc = parse_json(body, path)?;
    let mut traces = Vec::with_capacity(doc.data.len());
    for t in doc.data {
        let mut spans = Vec::with_capacity(t.spans.len());
        for s in t.spans {
            let ns = |field: &str, us: f64| {
                us_to_ns(us).ok_or_else(|| TraceError::Span {
                    origin: path.display().to_string(),
                    trace: t.trace_id.clone(),
                    span: s.span_id.clone(),
                    problem: format!(
                        "`{field}` {us:e} µs is out of range (at most {MAX_RAW_US:e})"
                    ),
                })
            };
            let (start_ns, duration_ns) =
                (ns("startTime", s.start_time)?, ns("duration", s.duration)?);
            spans.push(raw_span(s, &t.processes, start_ns, duration_ns));
        }
        traces.push(RawTrace {
            trace_id: t.trace_id,
            spans,
        });
    }
    Ok(traces)
}

/// One span as read: its CHILD_OF parent (or `parentSpanID`), FOLLOWS_FROM reference,
/// service, times, and sizes and kind from its tags.
fn raw_span(
    s: Span,
    processes: &HashMap<String, Process>,
    start_ns: i128,
    duration_ns: i128,
) -> RawSpan {
    let child_of = s
        .references
        .iter()
        .find(|r| r.ref_type.eq_ignore_ascii_case("CHILD_OF"))
        .map(|r| r.span_id.clone())
        .or(s
            .parent_span_id
            .clone()
            .filter(|p| !p.is_empty() && p != "0"));
    let follows_from = s
        .references
        .iter()
        .find(|r| r.ref_type.eq_ignore_ascii_case("FOLLOWS_FROM"))
        .map(|r| r.span_id.clone());
    let service = s
        .process
        .as_ref()
        .or_else(|| s.process_id.as_ref().and_then(|id| processes.get(id)))
        .map(|p| p.service_name.clone());
    let mut span = RawSpan {
        span_id: s.span_id,
        parent: child_of,
        follows_from,
        service,
        operation: s.operation_name,
        kind: Kind::Unspecified,
        start_ns,
        duration_ns,
        request_bytes: None,
        response_bytes: None,
        peer: None,
    };
    let tags: HashMap<&str, &serde_json::Value> =
        s.tags.iter().map(|t| (t.key.as_str(), &t.value)).collect();
    attributes_into(&mut span, |k| tags.get(k).and_then(|v| text(v)));
    span
}
