//! From an [`EcgDoc`] to a validated [`Ecg`]: ids, tree shape, services, sizes, timings.

use std::collections::HashMap;
use std::path::Path;

use petgraph::algo::toposort;
use petgraph::graph::{DiGraph, NodeIndex};

use super::{Call, Ecg, EcgDoc, MAX_BYTES, MAX_RATE, MAX_TIME_US, Service};
use crate::util::shown;
use crate::vocab::{SidecarConfig, VocabError};

/// A rule of the ECG format that a document breaks; one line, naming the call, service or key.
#[derive(Debug, thiserror::Error)]
pub enum EcgInvalid {
    /// The fixture has no name.
    #[error("`name` is empty")]
    EmptyName,
    /// The fixture has no calls.
    #[error("there are no `[[calls]]`")]
    NoCalls,
    /// A call has no id; `number` counts from 1 in file order.
    #[error("call #{number} has an empty `id`")]
    EmptyId {
        /// The call's place in the file.
        number: usize,
    },
    /// Two calls share an id.
    #[error("call id `{id}` is used twice")]
    DuplicateId {
        /// The id.
        id: String,
    },
    /// A call goes to a service without a name.
    #[error("a call has an empty `to`")]
    EmptyCallee,
    /// A service's mode and filters do not go together.
    #[error("service `{name}`: {error}{}", inherits_note(*.inherited))]
    Service {
        /// The service.
        name: String,
        /// What is wrong with its sidecar configuration.
        error: VocabError,
        /// Whether it took its filters from `[defaults]`.
        inherited: bool,
    },
    /// A call names a parent that does not exist.
    #[error("call `{call}`: parent `{parent}` does not exist")]
    NoParent {
        /// The call.
        call: String,
        /// The parent it names.
        parent: String,
    },
    /// A call is its own parent.
    #[error("call `{call}` is its own parent")]
    OwnParent {
        /// The call.
        call: String,
    },
    /// The parents form a cycle.
    #[error("call `{call}` is part of a parent cycle")]
    ParentCycle {
        /// A call on the cycle.
        call: String,
    },
    /// Every call has a parent.
    #[error("there is no entry call (a call without `parent`)")]
    NoEntry,
    /// More than one call has no parent.
    #[error(
        "there are two entry calls, `{first}` and `{second}`: an ECG has one root (give the others a `parent`)"
    )]
    TwoEntries {
        /// The first in file order.
        first: String,
        /// The second.
        second: String,
    },
    /// A message size over [`MAX_BYTES`].
    #[error("{at} is {bytes} bytes, more than the {MAX_BYTES} bytes (1 GiB) this tool accepts")]
    TooLarge {
        /// The key (`[defaults].request_bytes`, ``call `b`: `response_bytes` ``).
        at: String,
        /// The size given.
        bytes: u64,
    },
    /// A rate that is negative, too large or not a number.
    #[error(
        "{at} must be a number of requests per second between 0 and {MAX_RATE:e}, found {}",
        shown(*rate)
    )]
    BadRate {
        /// The key.
        at: String,
        /// The rate given.
        rate: f64,
    },
    /// A start time that is not a number, or beyond [`MAX_TIME_US`] either side of 0.
    #[error(
        "{at} must be a number between -{MAX_TIME_US:e} and {MAX_TIME_US:e} µs, found {}",
        shown(*start)
    )]
    BadStart {
        /// The key.
        at: String,
        /// The start given.
        start: f64,
    },
    /// A duration that is negative, beyond [`MAX_TIME_US`] or not a number.
    #[error(
        "{at} must be a number between 0 and {MAX_TIME_US:e} µs (about 115 days), found {}",
        shown(*duration)
    )]
    BadDuration {
        /// The key.
        at: String,
        /// The duration given.
        duration: f64,
    },
    /// `[services.NAME]` names a service no call goes to: a typo, or a leftover.
    #[error("[services.{name}] is not the callee (`to`) of any call")]
    UnusedService {
        /// The service.
        name: String,
    },
    /// A call does not lie within its parent's time window.
    #[error(
        "call `{call}` ({start} to {end} µs) lies outside its parent `{parent}` ({parent_start} to {parent_end} µs): a child must start and end within its parent"
    )]
    OutsideParent {
        /// The call.
        call: String,
        /// Its start, µs.
        start: f64,
        /// Its end, µs.
        end: f64,
        /// Its parent.
        parent: String,
        /// The parent's start, µs.
        parent_start: f64,
        /// The parent's end, µs.
        parent_end: f64,
    },
    /// `after` names a call that does not exist.
    #[error("call `{call}`: `after` names `{after}`, which does not exist")]
    AfterUnknown {
        /// The call.
        call: String,
        /// The name in its `after`.
        after: String,
    },
    /// `after` names a call of another parent (or the call itself).
    #[error("call `{call}`: `after` names `{after}`, which is not a sibling (same parent)")]
    AfterNotSibling {
        /// The call.
        call: String,
        /// The name in its `after`.
        after: String,
    },
    /// `after` names a sibling that starts later.
    #[error(
        "call `{call}`: `after` names `{after}`, which starts later; a predecessor must start first"
    )]
    AfterStartsLater {
        /// The call.
        call: String,
        /// The name in its `after`.
        after: String,
    },
}

/// How to fix a service whose filters came from `[defaults]`.
fn inherits_note(inherited: bool) -> &'static str {
    if inherited {
        " (it inherits the filters of [defaults]; set `filters = []`)"
    } else {
        ""
    }
}

pub(super) fn resolve(doc: EcgDoc, origin: &Path) -> Result<Ecg, EcgInvalid> {
    check_defaults(&doc)?;
    let index = call_index(&doc)?;
    let (services, service_index) = services(&doc)?;
    let (parent, root) = tree(&doc, &index)?;
    let calls = calls(&doc, &parent, &service_index)?;
    let children = children(&calls, &parent)?;
    let calls = with_explicit_predecessors(&doc, &index, &children, calls)?;
    Ok(Ecg {
        name: doc.name,
        origin: origin.to_path_buf(),
        services,
        calls,
        root,
        children,
    })
}

/// The document-wide keys: a name, some calls, valid defaults.
fn check_defaults(doc: &EcgDoc) -> Result<(), EcgInvalid> {
    if doc.name.trim().is_empty() {
        return Err(EcgInvalid::EmptyName);
    }
    if doc.calls.is_empty() {
        return Err(EcgInvalid::NoCalls);
    }
    check_rate("[defaults].rate", doc.defaults.rate)?;
    check_bytes("[defaults].request_bytes", doc.defaults.request_bytes)?;
    check_bytes("[defaults].response_bytes", doc.defaults.response_bytes)
}

/// Each call's place in the file by its id; ids are present and unique.
fn call_index(doc: &EcgDoc) -> Result<HashMap<&str, usize>, EcgInvalid> {
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(doc.calls.len());
    for (i, c) in doc.calls.iter().enumerate() {
        if c.id.trim().is_empty() {
            return Err(EcgInvalid::EmptyId { number: i + 1 });
        }
        if index.insert(c.id.as_str(), i).is_some() {
            return Err(EcgInvalid::DuplicateId { id: c.id.clone() });
        }
    }
    Ok(index)
}

/// Every callee and every service of `[services]`, in name order, with the defaults where
/// `[services]` says nothing; and each one's place by name.
fn services(doc: &EcgDoc) -> Result<(Vec<Service>, HashMap<&str, usize>), EcgInvalid> {
    let mut names: Vec<&str> = doc.calls.iter().map(|c| c.to.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    if let Some(unused) = doc
        .services
        .keys()
        .find(|k| names.binary_search(&k.as_str()).is_err())
    {
        return Err(EcgInvalid::UnusedService {
            name: unused.clone(),
        });
    }
    let mut services = Vec::with_capacity(names.len());
    for name in &names {
        if name.trim().is_empty() {
            return Err(EcgInvalid::EmptyCallee);
        }
        let spec = doc.services.get(*name).cloned().unwrap_or_default();
        let sidecar = if spec.sidecar == Some(false) {
            None
        } else {
            let mode = spec.mode.unwrap_or(doc.defaults.mode);
            let filters = spec
                .filters
                .clone()
                .unwrap_or_else(|| doc.defaults.filters.clone());
            let inherited = spec.filters.is_none() && !filters.is_empty();
            Some(
                SidecarConfig::new(mode, filters).map_err(|error| EcgInvalid::Service {
                    name: (*name).to_string(),
                    error,
                    inherited,
                })?,
            )
        };
        services.push(Service {
            name: (*name).to_string(),
            sidecar,
            platform: spec.platform.or_else(|| doc.defaults.platform.clone()),
        });
    }
    let service_index = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    Ok((services, service_index))
}

/// Each call's parent, and the one root; the parents form a tree (petgraph finds cycles).
fn tree(
    doc: &EcgDoc,
    index: &HashMap<&str, usize>,
) -> Result<(Vec<Option<usize>>, usize), EcgInvalid> {
    let mut graph: DiGraph<usize, ()> = DiGraph::with_capacity(doc.calls.len(), doc.calls.len());
    let nodes: Vec<NodeIndex> = (0..doc.calls.len()).map(|i| graph.add_node(i)).collect();
    let mut parent = vec![None; doc.calls.len()];
    let mut roots = Vec::new();
    for (i, c) in doc.calls.iter().enumerate() {
        let Some(p) = &c.parent else {
            roots.push(i);
            continue;
        };
        let &pi = index.get(p.as_str()).ok_or_else(|| EcgInvalid::NoParent {
            call: c.id.clone(),
            parent: p.clone(),
        })?;
        if pi == i {
            return Err(EcgInvalid::OwnParent { call: c.id.clone() });
        }
        parent[i] = Some(pi);
        graph.add_edge(nodes[pi], nodes[i], ());
    }
    if let Err(cycle) = toposort(&graph, None) {
        let call = doc.calls[graph[cycle.node_id()]].id.clone();
        return Err(EcgInvalid::ParentCycle { call });
    }
    match roots.as_slice() {
        [r] => Ok((parent, *r)),
        [] => Err(EcgInvalid::NoEntry),
        [a, b, ..] => Err(EcgInvalid::TwoEntries {
            first: doc.calls[*a].id.clone(),
            second: doc.calls[*b].id.clone(),
        }),
    }
}

/// The calls with their sizes, rates and timings checked; `after` is filled in later.
fn calls(
    doc: &EcgDoc,
    parent: &[Option<usize>],
    service_index: &HashMap<&str, usize>,
) -> Result<Vec<Call>, EcgInvalid> {
    let mut calls = Vec::with_capacity(doc.calls.len());
    for (i, c) in doc.calls.iter().enumerate() {
        let at = |field: &str| format!("call `{}`: `{field}`", c.id);
        let request_bytes = c.request_bytes.unwrap_or(doc.defaults.request_bytes);
        let response_bytes = c.response_bytes.unwrap_or(doc.defaults.response_bytes);
        check_bytes(&at("request_bytes"), request_bytes)?;
        check_bytes(&at("response_bytes"), response_bytes)?;
        let rate = c.rate.unwrap_or(doc.defaults.rate);
        check_rate(&at("rate"), rate)?;
        if !(c.start_us.is_finite() && c.start_us.abs() <= MAX_TIME_US) {
            return Err(EcgInvalid::BadStart {
                at: at("start_us"),
                start: c.start_us,
            });
        }
        if !(c.duration_us.is_finite() && (0.0..=MAX_TIME_US).contains(&c.duration_us)) {
            return Err(EcgInvalid::BadDuration {
                at: at("duration_us"),
                duration: c.duration_us,
            });
        }
        calls.push(Call {
            id: c.id.clone(),
            parent: parent[i],
            from: parent[i].map(|p| service_index[doc.calls[p].to.as_str()]),
            to: service_index[c.to.as_str()],
            operation: c.operation.clone(),
            request_bytes,
            response_bytes,
            rate,
            start_us: c.start_us,
            duration_us: c.duration_us,
            after: None,
        });
    }
    Ok(calls)
}

/// The children of each call, sorted by start (ties keep file order), each inside its
/// parent's window.
fn children(calls: &[Call], parent: &[Option<usize>]) -> Result<Vec<Vec<usize>>, EcgInvalid> {
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); calls.len()];
    for (i, p) in parent.iter().enumerate() {
        if let Some(p) = *p {
            children[p].push(i);
        }
    }
    for (p, kids) in children.iter_mut().enumerate() {
        kids.sort_by(|&a, &b| {
            calls[a]
                .start_us
                .total_cmp(&calls[b].start_us)
                .then(a.cmp(&b))
        });
        let pc = &calls[p];
        // Rounding: a part per billion of the parent's duration, and a few units in the last
        // place of its times (a child clipped to its parent can end an ulp past it).
        let magnitude = pc.start_us.abs().max(pc.end_us().abs());
        let slack = 1e-9 * pc.duration_us.max(1.0) + 8.0 * f64::EPSILON * magnitude;
        for &k in kids.iter() {
            let kc = &calls[k];
            if kc.start_us < pc.start_us - slack || kc.end_us() > pc.end_us() + slack {
                return Err(EcgInvalid::OutsideParent {
                    call: kc.id.clone(),
                    start: kc.start_us,
                    end: kc.end_us(),
                    parent: pc.id.clone(),
                    parent_start: pc.start_us,
                    parent_end: pc.end_us(),
                });
            }
        }
    }
    Ok(children)
}

/// `calls` with their explicit `after` lists: siblings that come earlier in start order.
fn with_explicit_predecessors(
    doc: &EcgDoc,
    index: &HashMap<&str, usize>,
    children: &[Vec<usize>],
    mut calls: Vec<Call>,
) -> Result<Vec<Call>, EcgInvalid> {
    let mut rank = vec![0usize; calls.len()];
    for kids in children {
        for (r, &k) in kids.iter().enumerate() {
            rank[k] = r;
        }
    }
    for (i, c) in doc.calls.iter().enumerate() {
        let Some(after) = &c.after else { continue };
        let mut list = Vec::with_capacity(after.len());
        for a in after {
            let &j = index
                .get(a.as_str())
                .ok_or_else(|| EcgInvalid::AfterUnknown {
                    call: c.id.clone(),
                    after: a.clone(),
                })?;
            if calls[j].parent != calls[i].parent || j == i {
                return Err(EcgInvalid::AfterNotSibling {
                    call: c.id.clone(),
                    after: a.clone(),
                });
            }
            if rank[j] >= rank[i] {
                return Err(EcgInvalid::AfterStartsLater {
                    call: c.id.clone(),
                    after: a.clone(),
                });
            }
            list.push(j);
        }
        list.sort_unstable();
        list.dedup();
        calls[i].after = Some(list);
    }
    Ok(calls)
}

fn check_bytes(at: &str, bytes: u64) -> Result<(), EcgInvalid> {
    if bytes > MAX_BYTES {
        return Err(EcgInvalid::TooLarge {
            at: at.to_string(),
            bytes,
        });
    }
    Ok(())
}

fn check_rate(at: &str, rate: f64) -> Result<(), EcgInvalid> {
    if !(rate.is_finite() && (0.0..=MAX_RATE).contains(&rate)) {
        return Err(EcgInvalid::BadRate {
            at: at.to_string(),
            rate,
        });
    }
    Ok(())
}
