use std::collections::BTreeMap;

use super::*;
use crate::model::runs::{Load, Run, WorkCounter};
use crate::vocab::{Component, SidecarConfig};

/// A closed-loop run with `writes` write syscalls and `write_bytes` bytes per request, the
/// other counters fixed.
fn run(config: &str, through: bool, size: u64, repeat: u32, writes: f64, wakeups: f64) -> Run {
    let counters = BTreeMap::from([
        (WorkCounter::WriteSyscalls, writes),
        (WorkCounter::WriteBytes, writes * size as f64),
        (WorkCounter::Wakeups, wakeups),
        (WorkCounter::ReadSyscalls, 2.0),
    ]);
    Run {
        config: config.parse().unwrap(),
        through_sidecar: through,
        size,
        load: Load::Closed,
        repeat,
        requests: 1000,
        achieved_rps: 10_000.0,
        client_mean_us: 50.0,
        client_p50_us: 50.0,
        path_us: BTreeMap::new(),
        cpu_us: BTreeMap::new(),
        lost_events: 0,
        events: BTreeMap::new(),
        reference_for: None,
        sidecars: 1,
        counters,
    }
}

/// A side of a paired measurement: direct runs with 2 writes and 2 wake-ups per request, the
/// sidecar's runs with `writes` and `wakeups` more, at sizes 100 and 4000, `repeats` blocks.
fn side(writes: impl Fn(u64, u32) -> f64, wakeups: f64, repeats: u32) -> Vec<Run> {
    let mut runs = Vec::new();
    for size in [100, 4000] {
        for repeat in 0..repeats {
            runs.push(run("http", false, size, repeat, 2.0, 2.0));
            let w = 2.0 + writes(size, repeat);
            runs.push(run("http", true, size, repeat, w, 2.0 + wakeups));
        }
    }
    runs
}

fn result<'a>(results: &'a [CounterResult], key: &str) -> &'a CounterResult {
    results
        .iter()
        .find(|r| r.key == key)
        .unwrap_or_else(|| panic!("no {key} in {results:#?}"))
}

#[test]
fn counters_per_traversal_are_through_minus_direct_over_the_sidecars_in_series() {
    let mut runs = side(|_, _| 2.0, 2.0, 2);
    // Two sidecars in series: their 4 extra writes are 2 per traversal.
    for r in runs
        .iter_mut()
        .filter(|r| r.through_sidecar && r.size == 100)
    {
        r.sidecars = 2;
        r.counters.insert(WorkCounter::WriteSyscalls, 6.0);
    }
    // Open-loop runs and runs without counters are left out.
    let mut open = run("http", true, 100, 0, 50.0, 50.0);
    open.load = Load::Open {
        fraction: 0.5,
        rate: 1000.0,
    };
    runs.push(open);
    let mut old = run("tcp", true, 100, 0, 9.0, 9.0);
    old.counters.clear();
    runs.push(old);
    runs.push(run("tcp", false, 100, 0, 2.0, 2.0));

    let counters = counters_of_runs(&runs);
    assert_eq!(counters.configs.len(), 1, "{counters:#?}");
    let http = counters.get(&"http".parse().unwrap()).unwrap();
    assert_eq!(http.points.len(), 4);
    for p in &http.points {
        assert_eq!(p.values[&WorkCounter::WriteSyscalls], 2.0, "{p:?}");
        assert_eq!(
            p.values[&WorkCounter::Wakeups],
            2.0 / f64::from(if p.size == 100 { 2 } else { 1 })
        );
        assert_eq!(p.values[&WorkCounter::ReadSyscalls], 0.0);
    }
    assert_eq!(http.mean[&WorkCounter::WriteSyscalls], 2.0);
}

#[test]
fn a_filters_counters_are_what_it_adds_to_the_plain_sidecar_beside_it() {
    let fault: SidecarConfig = "http+fault".parse().unwrap();
    let mut runs = Vec::new();
    for repeat in 0..3 {
        let mut reference = run("http", true, 100, repeat, 4.0, 4.0);
        reference.reference_for = Some(fault.clone());
        runs.push(reference);
        runs.push(run("http+fault", true, 100, repeat, 5.0, 4.0));
    }
    let counters = counters_of_runs(&runs);
    let f = counters.get(&fault).unwrap();
    assert_eq!(f.mean[&WorkCounter::WriteSyscalls], 1.0);
    assert_eq!(f.mean[&WorkCounter::Wakeups], 0.0);
    // The reference runs are no plain configuration of their own (no direct runs here).
    assert!(counters.get(&"http".parse().unwrap()).is_none());
}

/// The injected structural regression: each write in two pieces, 2 → 4 write syscalls per
/// traversal at every point, bytes unchanged.
#[test]
fn split_writes_are_a_regression_of_write_syscalls_only() {
    let base = counters_of_runs(&side(|_, _| 2.0, 2.0, 4));
    let head = counters_of_runs(&side(|_, _| 4.0, 2.0, 4));
    let mut head_bytes = head.clone();
    // The bytes per request stay as they were.
    for (h, b) in head_bytes.configs[0]
        .points
        .iter_mut()
        .zip(&base.configs[0].points)
    {
        h.values
            .insert(WorkCounter::WriteBytes, b.values[&WorkCounter::WriteBytes]);
    }
    let results = compare_counters(&head_bytes, &base);
    let writes = result(&results, "counter/http/write/syscalls");
    assert_eq!(writes.verdict, CounterVerdict::Regression, "{writes:?}");
    assert_eq!(writes.by_size.len(), 2);
    for s in &writes.by_size {
        assert_eq!((s.base, s.head, s.delta), (2.0, 4.0, 2.0), "{s:?}");
        assert_eq!((s.n, s.sd, s.p), (4, 0.0, Some(0.0)), "{s:?}");
        assert_eq!(s.verdict, CounterVerdict::Regression);
    }
    assert_eq!(writes.component, Component::Write);
    for r in results
        .iter()
        .filter(|r| r.counter != WorkCounter::WriteSyscalls)
    {
        assert_eq!(r.verdict, CounterVerdict::Unchanged, "{r:?}");
    }
    let json = serde_json::to_value(writes).unwrap();
    assert_eq!(json["counter"], "write/syscalls");
    assert_eq!(json["component"], "write");
    assert_eq!(json["verdict"], "regression");
    assert_eq!(json["worst"]["delta"], 2.0);
    let back: CounterResult = serde_json::from_value(json).unwrap();
    assert_eq!(&back, writes);
}

#[test]
fn small_noise_is_unchanged_and_fewer_wakeups_everywhere_an_improvement() {
    // A/A: ±0.1 writes per traversal from block to block, under the tolerance of 0.5.
    let noise = |_: u64, r: u32| if r.is_multiple_of(2) { 0.1 } else { -0.1 };
    let base = counters_of_runs(&side(|_, _| 2.0, 2.0, 4));
    let head = counters_of_runs(&side(move |s, r| 2.0 + noise(s, r), 2.0, 4));
    for r in compare_counters(&head, &base) {
        assert_eq!(r.verdict, CounterVerdict::Unchanged, "{r:?}");
    }
    let fewer = counters_of_runs(&side(|_, _| 2.0, 1.0, 4));
    let wakeups = compare_counters(&fewer, &base)
        .into_iter()
        .find(|r| r.counter == WorkCounter::Wakeups)
        .unwrap();
    assert_eq!(wakeups.verdict, CounterVerdict::Improvement, "{wakeups:?}");
    assert_eq!(wakeups.component, Component::Notify);
    assert_eq!(wakeups.key, "counter/http/notify/wakeups");
}

/// One disturbed block (a reconnection's extra syscalls) moves the mean past the tolerance
/// but not the other points: inconsistent, not a regression.
#[test]
fn one_disturbed_point_is_inconsistent_not_a_regression() {
    let base = counters_of_runs(&side(|_, _| 2.0, 2.0, 4));
    let head = counters_of_runs(&side(
        |s, r| if (s, r) == (100, 1) { 10.0 } else { 2.0 },
        2.0,
        4,
    ));
    let writes = compare_counters(&head, &base)
        .into_iter()
        .find(|r| r.counter == WorkCounter::WriteSyscalls)
        .unwrap();
    assert_eq!(writes.worst.size, 100);
    assert!(writes.worst.delta > writes.worst.tolerance, "{writes:?}");
    assert_eq!(writes.verdict, CounterVerdict::Inconsistent, "{writes:?}");
}

/// A change at one size only (a message past a buffer's length now takes one more write) is
/// a regression of that size, however steady the others are.
#[test]
fn a_change_at_one_size_is_a_regression_of_that_size() {
    let base = counters_of_runs(&side(|_, _| 2.0, 2.0, 4));
    let head = counters_of_runs(&side(|s, _| if s == 4000 { 3.0 } else { 2.0 }, 2.0, 4));
    let writes = compare_counters(&head, &base)
        .into_iter()
        .find(|r| r.counter == WorkCounter::WriteSyscalls)
        .unwrap();
    assert_eq!(writes.verdict, CounterVerdict::Regression, "{writes:?}");
    assert_eq!((writes.worst.size, writes.worst.delta), (4000, 1.0));
    let small = &writes.by_size[0];
    assert_eq!(
        (small.size, small.verdict),
        (100, CounterVerdict::Unchanged)
    );
}

#[test]
fn the_tolerance_is_the_larger_of_its_absolute_and_relative_parts() {
    let t = Tolerance::of(WorkCounter::WriteBytes);
    assert_eq!(t.at(100.0), t.abs);
    assert_eq!(t.at(1e6), t.rel * 1e6);
    // Bytes of the same traversal may move by a few header bytes, never by a message.
    let base = counters_of_runs(&side(|_, _| 2.0, 2.0, 2));
    let mut head = base.clone();
    for p in &mut head.configs[0].points {
        *p.values.get_mut(&WorkCounter::WriteBytes).unwrap() += 8.0;
    }
    let bytes = compare_counters(&head, &base)
        .into_iter()
        .find(|r| r.counter == WorkCounter::WriteBytes)
        .unwrap();
    assert_eq!(bytes.verdict, CounterVerdict::Unchanged, "{bytes:?}");
}

/// A stored baseline measured with other repetitions pairs with the head by size.
#[test]
fn points_pair_by_size_when_no_repetition_matches() {
    let base = counters_of_runs(&side(|_, _| 2.0, 2.0, 2));
    let mut head = counters_of_runs(&side(|_, _| 3.0, 2.0, 3));
    for p in &mut head.configs[0].points {
        p.repeat += 10;
    }
    let writes = compare_counters(&head, &base)
        .into_iter()
        .find(|r| r.counter == WorkCounter::WriteSyscalls)
        .unwrap();
    for s in &writes.by_size {
        assert_eq!((s.n, s.delta, s.p), (1, 1.0, None), "{s:?}");
    }
    assert_eq!(writes.verdict, CounterVerdict::Regression);
    // Nothing in common: nothing compared.
    let other: SidecarConfig = "tcp".parse().unwrap();
    head.configs[0].config = other;
    assert!(compare_counters(&head, &base).is_empty());
}

#[test]
fn counters_round_trip_through_json() {
    let counters = counters_of_runs(&side(|_, _| 2.0, 2.0, 2));
    let json = serde_json::to_string(&counters).unwrap();
    assert!(json.contains("\"write/syscalls\":2.0"), "{json}");
    let back: Counters = serde_json::from_str(&json).unwrap();
    assert_eq!(back, counters);
}
