//! The critical path as Uber's CRISP computes it, on a call graph.
//!
//! The rule is CRISP's `computeCriticalPath` and `happensBefore` (the copy MeshInsight ships,
//! `meshinsight/predictor/CRISP/graph.py`; Uber's current `crisp/graph.py` has the same two
//! functions). For a call: sort its children by end, latest first (ties: the one later in the
//! file first, as Python's stable sort reversed gives); the first is on the path. Then walk
//! the rest in that order and take each child that *happens before* the last one taken:
//!
//! - it ends strictly before the taken one starts; or
//! - it ends before the taken one ends, starts before it starts, overlaps it by less than 1%
//!   of the parent's duration, and no other sibling starts or ends inside the overlap
//!   (exactly two child events, its end and the taken one's start, in the closed window).
//!
//! Every call taken is recursed into. Children were already clipped to their parent's window
//! as CRISP's `sanitizeOverflowingChildren` does ([`super::clip_mask`]), so the clock-skew
//! cases are settled before the path is found. A parent of zero duration has no overlap
//! allowance (CRISP would divide by zero).
//!
//! Exclusive times are CRISP's too (`getMetrics`): a call's duration minus the durations of
//! its children on the path. They add up to the root's duration exactly; a call whose two
//! children on the path overlap within the tolerance gets the overlap taken off twice (a
//! negative exclusive time is possible, by less than 1% of its duration per overlap).

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
    /// Its duration minus the durations of its children on the path, µs.
    pub(crate) exclusive_us: f64,
}

/// The critical path of `ecg`'s original timeline: call indices, root first.
pub(crate) fn critical_path(ecg: &Ecg) -> Vec<usize> {
    let starts: Vec<f64> = ecg.calls.iter().map(|c| c.start_us).collect();
    let durations: Vec<f64> = ecg.calls.iter().map(|c| c.duration_us).collect();
    path_on(ecg, &starts, &durations)
}

/// CRISP's critical path through the timeline `start`, `dur` of `ecg`'s calls: the root,
/// then (depth first) each call's children on the path in time order, earliest first.
pub(crate) fn path_on(ecg: &Ecg, start: &[f64], dur: &[f64]) -> Vec<usize> {
    let mut path = Vec::new();
    let mut stack = vec![ecg.root];
    while let Some(p) = stack.pop() {
        path.push(p);
        // Taken latest first; the stack then pops the earliest first.
        stack.extend(children_on_path(&ecg.children[p], dur[p], start, dur));
    }
    path
}

/// The children of a call (`kids`, of duration `parent_dur`) that CRISP puts on the path, in
/// the order it takes them: latest end first.
fn children_on_path(kids: &[usize], parent_dur: f64, start: &[f64], dur: &[f64]) -> Vec<usize> {
    let end = |k: usize| start[k] + dur[k];
    let mut by_end: Vec<usize> = kids.to_vec();
    // Call indices are file order: among equal ends the later call comes first.
    by_end.sort_by(|&a, &b| end(b).total_cmp(&end(a)).then(b.cmp(&a)));
    let Some((&first, rest)) = by_end.split_first() else {
        return Vec::new();
    };
    let events = ChildEvents::new(kids, start, dur);
    let mut taken = vec![first];
    let mut last = first;
    for &k in rest {
        if happens_before(k, last, parent_dur, start, dur, &events) {
            taken.push(k);
            last = k;
        }
    }
    taken
}

/// CRISP's `happensBefore(parent, children, a, b)`: `a` ended before `b` started, or
/// overlapped it by under 1% of the parent's duration with no other child event in between.
fn happens_before(
    a: usize,
    b: usize,
    parent_dur: f64,
    start: &[f64],
    dur: &[f64],
    events: &ChildEvents,
) -> bool {
    let (a_start, a_end) = (start[a], start[a] + dur[a]);
    let (b_start, b_end) = (start[b], start[b] + dur[b]);
    if a_end < b_start {
        return true;
    }
    a_end < b_end
        && a_start < b_start
        && parent_dur > 0.0
        && (a_end - b_start) / parent_dur < CLOCK_TOLERANCE
        && events.in_window(b_start, a_end) == 2
}

/// The starts and the ends of a call's children, each sorted, to count the events in a
/// window in O(log n) (CRISP counts them in a loop).
struct ChildEvents {
    starts: Vec<f64>,
    ends: Vec<f64>,
}

impl ChildEvents {
    fn new(kids: &[usize], start: &[f64], dur: &[f64]) -> ChildEvents {
        let mut starts: Vec<f64> = kids.iter().map(|&k| start[k]).collect();
        let mut ends: Vec<f64> = kids.iter().map(|&k| start[k] + dur[k]).collect();
        starts.sort_by(f64::total_cmp);
        ends.sort_by(f64::total_cmp);
        ChildEvents { starts, ends }
    }

    /// Starts plus ends in `[lo, hi]` (CRISP's `numSyncEventsInWindowInclusive`).
    fn in_window(&self, lo: f64, hi: f64) -> usize {
        let count = |v: &[f64]| v.partition_point(|&x| x <= hi) - v.partition_point(|&x| x < lo);
        count(&self.starts) + count(&self.ends)
    }
}

/// The steps of a path with their exclusive time, given each call's start and duration.
pub(crate) fn steps(ecg: &Ecg, path: &[usize], dur: &[f64]) -> Vec<PathStep> {
    let mut on_path = vec![false; ecg.calls.len()];
    for &k in path {
        on_path[k] = true;
    }
    path.iter()
        .map(|&k| {
            let children: f64 = ecg.children[k]
                .iter()
                .filter(|&&c| on_path[c])
                .map(|&c| dur[c])
                .sum();
            let call = &ecg.calls[k];
            PathStep {
                id: call.id.clone(),
                service: ecg.services[call.to].name.clone(),
                operation: call.operation.clone().unwrap_or_default(),
                exclusive_us: dur[k] - children,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ecg::synthetic::synthetic;
    use crate::ecg::{CallSpec, Defaults, EcgDoc};
    use crate::predict::rebuild;

    /// An ECG of calls `(id, parent, start, end)` in file order, the first the root.
    fn graph(calls: &[(&str, Option<&str>, f64, f64)]) -> Ecg {
        let doc = EcgDoc {
            name: "t".into(),
            description: None,
            provenance: None,
            defaults: Defaults::default(),
            services: Default::default(),
            calls: calls
                .iter()
                .map(|&(id, parent, s, e)| CallSpec {
                    id: id.into(),
                    parent: parent.map(String::from),
                    to: format!("svc-{id}"),
                    operation: None,
                    request_bytes: None,
                    response_bytes: None,
                    rate: None,
                    start_us: s,
                    duration_us: e - s,
                    after: None,
                })
                .collect(),
        };
        Ecg::resolve(doc, std::path::Path::new("t")).unwrap()
    }

    /// The path's call ids and their exclusive times.
    fn path(ecg: &Ecg) -> (Vec<String>, Vec<f64>) {
        let dur: Vec<f64> = ecg.calls.iter().map(|c| c.duration_us).collect();
        let steps = steps(ecg, &critical_path(ecg), &dur);
        let sum: f64 = steps.iter().map(|s| s.exclusive_us).sum();
        assert!(
            (sum - dur[ecg.root]).abs() <= 1e-9 * dur[ecg.root].max(1.0),
            "the exclusive times add up to {sum}, the root lasts {}",
            dur[ecg.root]
        );
        (
            steps.iter().map(|s| s.id.clone()).collect(),
            steps.iter().map(|s| s.exclusive_us).collect(),
        )
    }

    #[test]
    fn crisps_own_example_splits_the_root_in_two() {
        // graph.py's docstring: A (0, 100) calls B (10, 60); expected {A: 50, B: 50}.
        let e = graph(&[("A", None, 0.0, 100.0), ("B", Some("A"), 10.0, 60.0)]);
        assert_eq!(path(&e), (vec!["A".into(), "B".into()], vec![50.0, 50.0]));
    }

    #[test]
    fn an_overlap_under_one_percent_is_sequential_and_counted_once() {
        // A ends 5 µs (0.5% of the root) after B starts, and nothing else happens in
        // between: A happens before B. Exclusive times as CRISP's getMetrics: the root less
        // A's and B's whole durations, so they add up to the root's 1000 µs, not 1005.
        let e = graph(&[
            ("R", None, 0.0, 1000.0),
            ("A", Some("R"), 100.0, 500.0),
            ("B", Some("R"), 495.0, 900.0),
        ]);
        assert_eq!(
            path(&e),
            (
                vec!["R".into(), "A".into(), "B".into()],
                vec![195.0, 400.0, 405.0]
            )
        );
    }

    #[test]
    fn an_overlap_with_another_event_inside_is_not_sequential() {
        // C starts inside A's overlap with B: three events in [495, 500], so A does not
        // happen before B; C starts after B, so neither does C.
        let e = graph(&[
            ("R", None, 0.0, 1000.0),
            ("A", Some("R"), 100.0, 500.0),
            ("B", Some("R"), 495.0, 900.0),
            ("C", Some("R"), 497.0, 520.0),
        ]);
        assert_eq!(path(&e), (vec!["R".into(), "B".into()], vec![595.0, 405.0]));
    }

    #[test]
    fn an_overlap_of_one_percent_or_more_is_parallel() {
        let e = graph(&[
            ("R", None, 0.0, 1000.0),
            ("A", Some("R"), 100.0, 510.0),
            ("B", Some("R"), 500.0, 900.0),
        ]);
        assert_eq!(path(&e).0, ["R", "B"]);
        // Just under: 9.99 µs of 1000.
        let e = graph(&[
            ("R", None, 0.0, 1000.0),
            ("A", Some("R"), 100.0, 509.99),
            ("B", Some("R"), 500.0, 900.0),
        ]);
        assert_eq!(path(&e).0, ["R", "A", "B"]);
    }

    #[test]
    fn touching_siblings_are_sequential_unless_a_third_event_shares_the_instant() {
        let e = graph(&[
            ("R", None, 0.0, 1000.0),
            ("A", Some("R"), 100.0, 495.0),
            ("B", Some("R"), 495.0, 900.0),
        ]);
        assert_eq!(path(&e).0, ["R", "A", "B"]);
        // C starts at 495 too: A's end, B's and C's starts are three events at that instant.
        let e = graph(&[
            ("R", None, 0.0, 1000.0),
            ("A", Some("R"), 100.0, 495.0),
            ("B", Some("R"), 495.0, 900.0),
            ("C", Some("R"), 495.0, 600.0),
        ]);
        assert_eq!(path(&e).0, ["R", "B"]);
    }

    #[test]
    fn children_ending_together_go_to_the_later_one_in_the_file() {
        // sorted(children, key=endTime)[::-1]: a stable sort reversed puts B before A.
        let e = graph(&[
            ("R", None, 0.0, 1000.0),
            ("A", Some("R"), 100.0, 500.0),
            ("B", Some("R"), 200.0, 500.0),
        ]);
        assert_eq!(path(&e).0, ["R", "B"]);
    }

    #[test]
    fn a_parent_of_zero_duration_allows_no_overlap() {
        let e = graph(&[
            ("R", None, 0.0, 10.0),
            ("P", Some("R"), 5.0, 5.0),
            ("A", Some("P"), 5.0, 5.0),
            ("B", Some("P"), 5.0, 5.0),
        ]);
        // B comes first of the two ending together; A does not end before B ends.
        assert_eq!(path(&e).0, ["R", "P", "B"]);
    }

    #[test]
    fn the_rebuild_with_zero_overhead_follows_crisp() {
        for seed in 0..200 {
            let doc = synthetic(2 + (seed as usize % 60), seed);
            let ecg = Ecg::resolve(doc, std::path::Path::new("synthetic")).unwrap();
            let zero = vec![0.0; ecg.calls.len()];
            let t = rebuild(&ecg, &zero);
            assert_eq!(t.critical_path, critical_path(&ecg), "seed {seed}");
            // And CRISP's rule on the rebuilt timeline is CRISP's path.
            assert_eq!(
                path_on(&ecg, &t.start_us, &t.duration_us),
                critical_path(&ecg),
                "seed {seed}"
            );
        }
    }

    #[test]
    fn a_deep_chain_is_walked_in_linear_time() {
        // 50,000 calls, each the only child of the one before: no recursion, no quadratic
        // scan (the benchmark `critical_path` times the command on such a trace).
        let n = 50_000;
        let doc = EcgDoc {
            name: "deep".into(),
            description: None,
            provenance: None,
            defaults: Defaults::default(),
            services: Default::default(),
            calls: (0..n)
                .map(|i| CallSpec {
                    id: format!("c{i}"),
                    parent: (i > 0).then(|| format!("c{}", i - 1)),
                    to: "svc".into(),
                    operation: None,
                    request_bytes: None,
                    response_bytes: None,
                    rate: None,
                    start_us: i as f64,
                    duration_us: (2 * n - 2 * i) as f64,
                    after: None,
                })
                .collect(),
        };
        let ecg = Ecg::resolve(doc, std::path::Path::new("deep")).unwrap();
        assert_eq!(critical_path(&ecg).len(), n);
        let (_, exclusive) = path(&ecg);
        assert_eq!(exclusive[0], 2.0);
    }
}
