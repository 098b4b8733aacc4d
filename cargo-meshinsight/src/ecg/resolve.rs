//! From an [`EcgDoc`] to a validated [`Ecg`]: ids, tree shape, services, sizes, timings.

use std::collections::HashMap;
use std::path::Path;

use petgraph::algo::toposort;
use petgraph::graph::{DiGraph, NodeIndex};

use super::{Call, Ecg, EcgDoc, MAX_BYTES, MAX_RATE, Service};
use crate::vocab::SidecarConfig;

pub(super) fn resolve(doc: EcgDoc, origin: &Path) -> Result<Ecg, String> {
    if doc.name.trim().is_empty() {
        return Err("`name` is empty".into());
    }
    if doc.calls.is_empty() {
        return Err("there are no `[[calls]]`".into());
    }
    check_rate("[defaults].rate", doc.defaults.rate)?;
    check_bytes("[defaults].request_bytes", doc.defaults.request_bytes)?;
    check_bytes("[defaults].response_bytes", doc.defaults.response_bytes)?;

    // Ids.
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(doc.calls.len());
    for (i, c) in doc.calls.iter().enumerate() {
        if c.id.trim().is_empty() {
            return Err(format!("call #{} has an empty `id`", i + 1));
        }
        if index.insert(c.id.as_str(), i).is_some() {
            return Err(format!("call id `{}` is used twice", c.id));
        }
    }

    // Services: every callee, with the defaults where `[services]` says nothing.
    let mut names: Vec<&str> = doc.calls.iter().map(|c| c.to.as_str()).collect();
    names.extend(doc.services.keys().map(String::as_str));
    names.sort_unstable();
    names.dedup();
    let mut services = Vec::with_capacity(names.len());
    for name in &names {
        if name.trim().is_empty() {
            return Err("a call has an empty `to`".into());
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
            Some(SidecarConfig::new(mode, filters).map_err(|e| {
                let fix = if inherited {
                    " (it inherits the filters of [defaults]; set `filters = []`)"
                } else {
                    ""
                };
                format!("service `{name}`: {e}{fix}")
            })?)
        };
        services.push(Service {
            name: (*name).to_string(),
            sidecar,
            platform: spec.platform.or_else(|| doc.defaults.platform.clone()),
        });
    }
    let service_index: HashMap<&str, usize> =
        names.iter().enumerate().map(|(i, n)| (*n, i)).collect();

    // Parents, roots, and the tree's shape (petgraph finds cycles).
    let mut graph: DiGraph<usize, ()> = DiGraph::with_capacity(doc.calls.len(), doc.calls.len());
    let nodes: Vec<NodeIndex> = (0..doc.calls.len()).map(|i| graph.add_node(i)).collect();
    let mut parent = vec![None; doc.calls.len()];
    let mut roots = Vec::new();
    for (i, c) in doc.calls.iter().enumerate() {
        match &c.parent {
            None => roots.push(i),
            Some(p) => {
                let &pi = index
                    .get(p.as_str())
                    .ok_or_else(|| format!("call `{}`: parent `{p}` does not exist", c.id))?;
                if pi == i {
                    return Err(format!("call `{}` is its own parent", c.id));
                }
                parent[i] = Some(pi);
                graph.add_edge(nodes[pi], nodes[i], ());
            }
        }
    }
    if let Err(cycle) = toposort(&graph, None) {
        let at = &doc.calls[graph[cycle.node_id()]].id;
        return Err(format!("call `{at}` is part of a parent cycle"));
    }
    let root = match roots.as_slice() {
        [r] => *r,
        [] => return Err("there is no entry call (a call without `parent`)".into()),
        [a, b, ..] => {
            return Err(format!(
                "there are two entry calls, `{}` and `{}`: an ECG has one root (give the others a `parent`)",
                doc.calls[*a].id, doc.calls[*b].id
            ));
        }
    };

    // Calls: sizes, rates, timings.
    let mut calls = Vec::with_capacity(doc.calls.len());
    for (i, c) in doc.calls.iter().enumerate() {
        let at = |field: &str| format!("call `{}`: `{field}`", c.id);
        let request_bytes = c.request_bytes.unwrap_or(doc.defaults.request_bytes);
        let response_bytes = c.response_bytes.unwrap_or(doc.defaults.response_bytes);
        check_bytes(&at("request_bytes"), request_bytes)?;
        check_bytes(&at("response_bytes"), response_bytes)?;
        let rate = c.rate.unwrap_or(doc.defaults.rate);
        check_rate(&at("rate"), rate)?;
        if !c.start_us.is_finite() {
            return Err(format!("{} is not a finite number", at("start_us")));
        }
        if !(c.duration_us.is_finite() && c.duration_us >= 0.0) {
            return Err(format!(
                "{} must be a non-negative number, found {}",
                at("duration_us"),
                c.duration_us
            ));
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

    // Children inside their parent's window, sorted by start.
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
        let slack = 1e-9 * pc.duration_us.max(1.0);
        for &k in kids.iter() {
            let kc = &calls[k];
            if kc.start_us < pc.start_us - slack || kc.end_us() > pc.end_us() + slack {
                return Err(format!(
                    "call `{}` ({} to {} µs) lies outside its parent `{}` ({} to {} µs): \
                     a child must start and end within its parent",
                    kc.id,
                    kc.start_us,
                    kc.end_us(),
                    pc.id,
                    pc.start_us,
                    pc.end_us()
                ));
            }
        }
    }

    // Explicit predecessors: siblings that come earlier in start order.
    let mut rank = vec![0usize; calls.len()];
    for kids in &children {
        for (r, &k) in kids.iter().enumerate() {
            rank[k] = r;
        }
    }
    for (i, c) in doc.calls.iter().enumerate() {
        let Some(after) = &c.after else { continue };
        let mut list = Vec::with_capacity(after.len());
        for a in after {
            let &j = index.get(a.as_str()).ok_or_else(|| {
                format!("call `{}`: `after` names `{a}`, which does not exist", c.id)
            })?;
            if parent[j] != parent[i] || j == i {
                return Err(format!(
                    "call `{}`: `after` names `{a}`, which is not a sibling (same parent)",
                    c.id
                ));
            }
            if rank[j] >= rank[i] {
                return Err(format!(
                    "call `{}`: `after` names `{a}`, which starts later; a predecessor must start first",
                    c.id
                ));
            }
            list.push(j);
        }
        list.sort_unstable();
        list.dedup();
        calls[i].after = Some(list);
    }

    Ok(Ecg {
        name: doc.name,
        origin: origin.to_path_buf(),
        services,
        calls,
        root,
        children,
    })
}

fn check_bytes(at: &str, bytes: u64) -> Result<(), String> {
    if bytes > super::MAX_BYTES {
        return Err(format!(
            "{at} is {bytes} bytes, more than the {} bytes (1 GiB) this tool accepts",
            MAX_BYTES
        ));
    }
    Ok(())
}

fn check_rate(at: &str, rate: f64) -> Result<(), String> {
    if !(rate.is_finite() && (0.0..=MAX_RATE).contains(&rate)) {
        return Err(format!(
            "{at} must be a number of requests per second between 0 and {MAX_RATE:e}, found {rate}"
        ));
    }
    Ok(())
}
