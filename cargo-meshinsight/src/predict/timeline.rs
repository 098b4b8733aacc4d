//! The fork/join rebuild (docs/prediction.md): every call's duration recomputed bottom-up after
//! overhead is added, and the critical path through the new timeline.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use petgraph::visit::{DfsPostOrder, Walker};

use crate::ecg::Ecg;

/// The rebuilt timeline of one ECG.
#[derive(Clone, Debug, PartialEq)]
pub struct Timeline {
    /// New start of each call, µs, on the original clock (the root keeps its start).
    pub start_us: Vec<f64>,
    /// New duration of each call (its processing plus its own overhead), µs.
    pub duration_us: Vec<f64>,
    /// The critical path, root first, children in time order.
    pub critical_path: Vec<usize>,
}

/// A float ordered by `total_cmp`, for the heap below.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Key(f64, usize);
impl Eq for Key {}
impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Key {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0).then(self.1.cmp(&other.1))
    }
}

/// The latest of a set of predecessors: by new end (which decides the start, and which
/// predecessor the critical path follows) and by original end (which decides the gap kept
/// before the call).
#[derive(Clone, Copy, Debug)]
struct Latest {
    new_end: Option<(f64, usize)>,
    orig_end: f64,
}

impl Latest {
    const NONE: Latest = Latest {
        new_end: None,
        orig_end: f64::MIN,
    };

    fn add(&mut self, new_end: f64, orig_end: f64, k: usize) {
        if self.new_end.is_none_or(|(e, _)| new_end > e) {
            self.new_end = Some((new_end, k));
        }
        self.orig_end = self.orig_end.max(orig_end);
    }
}

/// Rebuilds the timeline of `ecg` with `overhead_us[k]` added to call `k`.
///
/// A child with predecessors (its explicit `after`, or the siblings that [`Ecg::precedes`] it:
/// they started before it and ended before it started, overlaps under 1% of the parent's
/// duration tolerated) starts after the latest of them by the gap it originally had; a child without starts at
/// its original offset from its parent. A parent's processing ends after its latest child
/// by the tail it originally had.
pub fn rebuild(ecg: &Ecg, overhead_us: &[f64]) -> Timeline {
    let n = ecg.calls.len();
    assert_eq!(overhead_us.len(), n, "one overhead per call");
    let calls = &ecg.calls;
    let mut rel_start = vec![0.0f64; n];
    let mut dur = vec![0.0f64; n];
    let mut latest_pred: Vec<Option<usize>> = vec![None; n];

    // Children before parents: a post-order walk of the call tree.
    let tree = CallTree(ecg);
    for p in DfsPostOrder::new(tree, ecg.root).iter(tree) {
        let call = &calls[p];
        let kids = &ecg.children[p];
        if kids.is_empty() {
            dur[p] = call.duration_us + overhead_us[p];
            continue;
        }
        // Siblings that started strictly earlier, by original end, waiting to become
        // predecessors: a sweep over the children in start order, so that the rule of
        // `Ecg::precedes` costs O(n log n) per parent instead of O(n²).
        let mut pending: BinaryHeap<Reverse<Key>> = BinaryHeap::new();
        let mut done = Latest::NONE;
        let mut max_new_end = f64::MIN;
        let mut max_orig_end = f64::MIN;
        let mut i = 0;
        while i < kids.len() {
            let s = calls[kids[i]].start_us;
            let mut j = i;
            while j < kids.len() && calls[kids[j]].start_us == s {
                j += 1;
            }
            // Everything pending started before `s`; whether it precedes the calls starting at
            // `s` then grows with its end, so the heap pops exactly the new predecessors.
            while let Some(Reverse(Key(end, k))) = pending.peek().copied() {
                if !ecg.precedes(k, kids[i]) {
                    break;
                }
                pending.pop();
                done.add(rel_start[k] + dur[k], end, k);
            }
            for &k in &kids[i..j] {
                let kc = &calls[k];
                let offset = kc.start_us - call.start_us;
                let preds = match &kc.after {
                    Some(list) => {
                        let mut l = Latest::NONE;
                        for &a in list {
                            l.add(rel_start[a] + dur[a], calls[a].end_us(), a);
                        }
                        l
                    }
                    None => done,
                };
                (rel_start[k], latest_pred[k]) = match preds.new_end {
                    Some((new_end, who)) => (
                        (new_end + (kc.start_us - preds.orig_end)).max(0.0),
                        Some(who),
                    ),
                    None => (offset, None),
                };
                max_new_end = max_new_end.max(rel_start[k] + dur[k]);
                max_orig_end = max_orig_end.max(kc.end_us());
            }
            for &k in &kids[i..j] {
                pending.push(Reverse(Key(calls[k].end_us(), k)));
            }
            i = j;
        }
        let processing = max_new_end + (call.end_us() - max_orig_end);
        dur[p] = processing.max(0.0) + overhead_us[p];
    }

    // Absolute starts, parents before children.
    let mut start_us = vec![0.0f64; n];
    start_us[ecg.root] = calls[ecg.root].start_us;
    let mut stack = vec![ecg.root];
    while let Some(p) = stack.pop() {
        for &k in &ecg.children[p] {
            start_us[k] = start_us[p] + rel_start[k];
            stack.push(k);
        }
    }

    // The critical path: the child that ends last, then its latest predecessor, and so on.
    let mut critical_path = Vec::new();
    let mut stack = vec![ecg.root];
    while let Some(p) = stack.pop() {
        critical_path.push(p);
        let last = ecg.children[p].iter().copied().reduce(|best, k| {
            if rel_start[k] + dur[k] > rel_start[best] + dur[best] {
                k
            } else {
                best
            }
        });
        let mut at = last;
        while let Some(k) = at {
            stack.push(k);
            at = latest_pred[k];
        }
    }

    Timeline {
        start_us,
        duration_us: dur,
        critical_path,
    }
}

/// The call tree as a petgraph graph (edges from parent to child), for its walkers.
#[derive(Clone, Copy)]
struct CallTree<'a>(&'a Ecg);

impl petgraph::visit::GraphBase for CallTree<'_> {
    type NodeId = usize;
    type EdgeId = (usize, usize);
}

impl petgraph::visit::GraphRef for CallTree<'_> {}

impl<'a> petgraph::visit::IntoNeighbors for CallTree<'a> {
    type Neighbors = std::iter::Copied<std::slice::Iter<'a, usize>>;
    fn neighbors(self, n: usize) -> Self::Neighbors {
        self.0.children[n].iter().copied()
    }
}

impl petgraph::visit::Visitable for CallTree<'_> {
    type Map = fixedbitset::FixedBitSet;
    fn visit_map(&self) -> Self::Map {
        fixedbitset::FixedBitSet::with_capacity(self.0.calls.len())
    }
    fn reset_map(&self, map: &mut Self::Map) {
        map.clear();
    }
}
