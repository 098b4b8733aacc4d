//! Synthetic call graphs of a chosen size, for benchmarks and scale tests.

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::{CallSpec, Defaults, EcgDoc, ServiceSpec};
use crate::vocab::Mode;

/// A random but valid ECG with `calls` calls: a tree of bounded depth whose siblings run
/// either one after another or side by side, inside their parent's window, over services
/// of mixed modes. The same `seed` gives the same graph.
pub fn synthetic(calls: usize, seed: u64) -> EcgDoc {
    let calls = calls.max(1);
    let mut rng = StdRng::seed_from_u64(seed);
    // Shape: half the calls hang off a recent call (depth), half off any call (fan-out).
    let mut parent = vec![None; calls];
    for (i, p) in parent.iter_mut().enumerate().skip(1) {
        *p = Some(if rng.random_bool(0.5) {
            rng.random_range(i.saturating_sub(4)..i)
        } else {
            rng.random_range(0..i)
        });
    }
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); calls];
    for (i, p) in parent.iter().enumerate() {
        if let Some(p) = p {
            children[*p].push(i);
        }
    }
    let service_count = (calls / 5).clamp(1, 5000);
    let mut window = vec![(0.0f64, 0.0f64); calls];
    window[0] = (0.0, 1_000_000.0);
    // Parents come before children in index order, so one pass assigns every window.
    for p in 0..calls {
        let (s, e) = window[p];
        let kids = &children[p];
        if kids.is_empty() {
            continue;
        }
        let w = e - s;
        let inner_start = s + 0.05 * w;
        let inner = 0.9 * w;
        if rng.random_bool(0.5) {
            let slot = inner / kids.len() as f64;
            for (n, &k) in kids.iter().enumerate() {
                let start = inner_start + n as f64 * slot + 0.1 * slot;
                window[k] = (start, start + rng.random_range(0.5..0.8) * slot);
            }
        } else {
            for &k in kids {
                let start = inner_start + rng.random_range(0.0..0.1) * inner;
                let dur = rng.random_range(0.3..0.85) * inner;
                window[k] = (start, start + dur);
            }
        }
    }
    let modes = [Mode::Tcp, Mode::Http, Mode::Grpc];
    let mut services = BTreeMap::new();
    for n in 0..service_count {
        services.insert(
            format!("svc{n}"),
            ServiceSpec {
                mode: Some(modes[n % 3]),
                ..ServiceSpec::default()
            },
        );
    }
    let calls: Vec<CallSpec> = (0..calls)
        .map(|i| CallSpec {
            id: format!("c{i}"),
            parent: parent[i].map(|p| format!("c{p}")),
            to: format!("svc{}", rng.random_range(0..service_count)),
            operation: None,
            request_bytes: Some(rng.random_range(50..4000)),
            response_bytes: Some(rng.random_range(50..4000)),
            rate: None,
            start_us: window[i].0,
            duration_us: window[i].1 - window[i].0,
            after: None,
        })
        .collect();
    // A `[services]` table no call goes to is refused (a typo); keep the called ones.
    let called: std::collections::HashSet<&str> = calls.iter().map(|c| c.to.as_str()).collect();
    services.retain(|name: &String, _| called.contains(name.as_str()));
    EcgDoc {
        name: format!("synthetic-{calls}-{seed}", calls = parent.len()),
        description: Some("synthetic call graph for benchmarks".into()),
        provenance: Some("cargo_meshinsight::ecg::synthetic".into()),
        defaults: Defaults::default(),
        services,
        calls,
    }
}
