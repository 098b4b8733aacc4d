//! OTLP JSON (the OTLP/HTTP JSON encoding, and the file exporter's JSON Lines): one or more
//! `{"resourceSpans":[{resource, scopeSpans:[{spans:[..]}]}]}` documents, hex ids, times as
//! nanosecond strings, `kind` as a number (1 internal, 2 server, 3 client, 4 producer,
//! 5 consumer) or a name, the service in the resource's `service.name`. A span without a
//! parent but with a link follows from the linked span (OTLP's FOLLOWS_FROM).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::Deserialize;

use super::TraceError;
use super::spans::{Kind, RawSpan, RawTrace, attributes_into};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Doc {
    #[serde(alias = "resource_spans")]
    resource_spans: Vec<ResourceSpans>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResourceSpans {
    #[serde(default)]
    resource: Option<Resource>,
    #[serde(default, alias = "scope_spans", alias = "instrumentationLibrarySpans")]
    scope_spans: Vec<ScopeSpans>,
}

#[derive(Debug, Deserialize)]
struct Resource {
    #[serde(default)]
    attributes: Vec<KeyValue>,
}

#[derive(Debug, Deserialize)]
struct ScopeSpans {
    #[serde(default)]
    spans: Vec<Span>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Span {
    #[serde(alias = "trace_id")]
    trace_id: String,
    #[serde(alias = "span_id")]
    span_id: String,
    #[serde(default, alias = "parent_span_id")]
    parent_span_id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: serde_json::Value,
    #[serde(alias = "start_time_unix_nano")]
    start_time_unix_nano: Nanos,
    #[serde(alias = "end_time_unix_nano")]
    end_time_unix_nano: Nanos,
    #[serde(default)]
    attributes: Vec<KeyValue>,
    #[serde(default)]
    links: Vec<Link>,
}

/// Nanoseconds: a decimal string (as the JSON encoding writes 64-bit integers) or a number.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Nanos {
    Text(String),
    Number(u64),
}

/// A time that is not a number of nanoseconds.
#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not a number of nanoseconds")]
struct NotNanos(String);

impl Nanos {
    fn value(&self) -> Result<i128, NotNanos> {
        match self {
            Nanos::Number(n) => Ok(i128::from(*n)),
            Nanos::Text(s) => s
                .trim()
                .parse::<u64>()
                .map(i128::from)
                .map_err(|_| NotNanos(s.clone())),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Link {
    #[serde(alias = "span_id")]
    span_id: String,
}

#[derive(Debug, Deserialize)]
struct KeyValue {
    key: String,
    #[serde(default)]
    value: serde_json::Value,
}

/// The text of an OTLP `AnyValue` (`{"stringValue": ..}`, `{"intValue": ..}`, ...).
fn any_value(v: &serde_json::Value) -> Option<String> {
    let obj = v.as_object()?;
    let (_, inner) = obj.iter().next()?;
    match inner {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn kind(v: &serde_json::Value) -> Kind {
    match v {
        serde_json::Value::Number(n) => match n.as_u64() {
            Some(1) => Kind::Internal,
            Some(2) => Kind::Server,
            Some(3) => Kind::Client,
            Some(4) => Kind::Producer,
            Some(5) => Kind::Consumer,
            _ => Kind::Unspecified,
        },
        serde_json::Value::String(s) => Kind::parse(s),
        _ => Kind::Unspecified,
    }
}

/// Parses OTLP JSON (one document or several, one per line); `path` names it in errors.
pub(crate) fn parse(body: &str, path: &Path) -> Result<Vec<RawTrace>, TraceError> {
    let invalid = |line: usize, message: String| TraceError::Invalid {
        path: path.to_path_buf(),
        line: line as u64,
        message,
    };
    let mut traces: BTreeMap<String, Vec<RawSpan>> = BTreeMap::new();
    let mut stream = serde_json::Deserializer::from_str(body).into_iter::<Doc>();
    loop {
        let line_before = body[..stream.byte_offset()].matches('\n').count() + 1;
        let doc = match stream.next() {
            None => break,
            Some(Ok(d)) => d,
            Some(Err(e)) => {
                let m = e.to_string();
                let m = match m.rfind(" at line ") {
                    Some(i) => m[..i].to_string(),
                    None => m,
                };
                return Err(invalid(e.line(), m));
            }
        };
        for rs in doc.resource_spans {
            let service = rs.resource.as_ref().and_then(|r| {
                r.attributes
                    .iter()
                    .find(|a| a.key == "service.name")
                    .and_then(|a| any_value(&a.value))
            });
            for ss in rs.scope_spans {
                for s in ss.spans {
                    let start = s
                        .start_time_unix_nano
                        .value()
                        .map_err(|m| invalid(line_before, format!("span {}: {m}", s.span_id)))?;
                    let end = s
                        .end_time_unix_nano
                        .value()
                        .map_err(|m| invalid(line_before, format!("span {}: {m}", s.span_id)))?;
                    let parent =
                        Some(s.parent_span_id.to_ascii_lowercase()).filter(|p| !p.is_empty());
                    let mut span = RawSpan {
                        span_id: s.span_id.to_ascii_lowercase(),
                        follows_from: if parent.is_none() {
                            s.links.first().map(|l| l.span_id.to_ascii_lowercase())
                        } else {
                            None
                        },
                        parent,
                        service: service.clone(),
                        operation: s.name,
                        kind: kind(&s.kind),
                        start_ns: start,
                        duration_ns: end - start,
                        request_bytes: None,
                        response_bytes: None,
                        peer: None,
                    };
                    let attrs: HashMap<&str, &serde_json::Value> = s
                        .attributes
                        .iter()
                        .map(|a| (a.key.as_str(), &a.value))
                        .collect();
                    attributes_into(&mut span, |k| attrs.get(k).and_then(|v| any_value(v)));
                    traces
                        .entry(s.trace_id.to_ascii_lowercase())
                        .or_default()
                        .push(span);
                }
            }
        }
    }
    Ok(traces
        .into_iter()
        .map(|(trace_id, spans)| RawTrace { trace_id, spans })
        .collect())
}
