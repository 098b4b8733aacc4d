//! The critical path as Uber's CRISP computes it, on a call graph.
//!
//! From a call, take its last-finishing child; then, repeatedly, the latest-finishing sibling
//! that started before the current one and finished no later than its start plus 1% of the
//! parent's duration (CRISP's clock tolerance); recurse into each. Children were already
//! clipped to their parent's window on import, and FOLLOWS_FROM-only and orphan spans left
//! out, so they are never on the path. Ties go to the earlier child (start order, then file
//! order), as in [`crate::predict::timeline::rebuild`], whose path with zero overhead is this
//! one (a test checks it).

use serde::Serialize;

use crate::ecg::{CLOCK_TOLERANCE, Ecg};

/// One call on a critical path.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct PathStep {
    /// The call (span) id.
    pub(crate) id: String,
    /// The callee service.
    pub(crate) service: String,
    /// What it does.
    pub(crate) operation: String,
    /// Time on the path not covered by a child on the path, µs.
    pub(crate) exclusive_us: f64,
}

/// The critical path of `ecg`'s original timeline: call indices, root first.
pub(crate) fn critical_path(ecg: &Ecg) -> Vec<usize> {
    let starts: Vec<f64> = ecg.calls.iter().map(|c| c.start_us).collect();
    let durations: Vec<f64> = ecg.calls.iter().map(|c| c.duration_us).collect();
    path_on(ecg, &starts, &durations)
}

fn path_on(ecg: &Ecg, start: &[f64], dur: &[f64]) -> Vec<usize> {
    let end = |k: usize| start[k] + dur[k];
    let mut path = Vec::new();
    let mut stack = vec![ecg.root];
    while let Some(p) = stack.pop() {
        path.push(p);
        let kids = &ecg.children[p];
        let tol = CLOCK_TOLERANCE * ecg.calls[p].duration_us;
        // Last finishing child; ties keep the earliest in start order.
        let mut cur = kids
            .iter()
            .copied()
            .reduce(|best, k| if end(k) > end(best) { k } else { best });
        let mut chain = Vec::new();
        while let Some(c) = cur {
            chain.push(c);
            // The latest-finishing sibling that started earlier and ended before c started
            // (within the tolerance); ties go to the lower index.
            cur = kids
                .iter()
                .copied()
                .filter(|&k| {
                    ecg.calls[k].start_us < ecg.calls[c].start_us
                        && ecg.calls[k].end_us() <= ecg.calls[c].start_us + tol
                })
                .reduce(|best, k| {
                    if end(k) > end(best) || (end(k) == end(best) && k < best) {
                        k
                    } else {
                        best
                    }
                });
        }
        // The stack pops the earliest first: root first, siblings in time order.
        stack.extend(chain);
    }
    path
}

/// The steps of a path with their exclusive time, given each call's start and duration.
pub(crate) fn steps(ecg: &Ecg, path: &[usize], start: &[f64], dur: &[f64]) -> Vec<PathStep> {
    let on_path: std::collections::HashSet<usize> = path.iter().copied().collect();
    path.iter()
        .map(|&k| {
            // Union of the on-path children's intervals, inside k's window.
            let (ks, ke) = (start[k], start[k] + dur[k]);
            let mut spans: Vec<(f64, f64)> = ecg.children[k]
                .iter()
                .filter(|c| on_path.contains(c))
                .map(|&c| (start[c].max(ks), (start[c] + dur[c]).min(ke)))
                .filter(|(s, e)| e > s)
                .collect();
            spans.sort_by(|a, b| a.0.total_cmp(&b.0));
            let mut covered = 0.0;
            let mut reach = f64::MIN;
            for (s, e) in spans {
                let s = s.max(reach);
                if e > s {
                    covered += e - s;
                    reach = e;
                }
            }
            let call = &ecg.calls[k];
            PathStep {
                id: call.id.clone(),
                service: ecg.services[call.to].name.clone(),
                operation: call.operation.clone().unwrap_or_default(),
                exclusive_us: (dur[k] - covered).max(0.0),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ecg::synthetic::synthetic;
    use crate::predict::rebuild;

    #[test]
    fn the_rebuild_with_zero_overhead_follows_crisp() {
        for seed in 0..200 {
            let doc = synthetic(2 + (seed as usize % 60), seed);
            let ecg = Ecg::resolve(doc, std::path::Path::new("synthetic")).unwrap();
            let zero = vec![0.0; ecg.calls.len()];
            assert_eq!(
                rebuild(&ecg, &zero).critical_path,
                critical_path(&ecg),
                "seed {seed}"
            );
        }
    }
}
