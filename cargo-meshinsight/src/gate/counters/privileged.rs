//! The work counters measured for real (root: the eBPF probe): a paired measurement of the
//! builtin sidecar against itself and against `builtin --split-writes 2`, closed loop, every
//! mode. They launch the `cargo-meshinsight` binary that `cargo test` builds beside this test
//! binary (unoptimised under `cargo test`: the work a sidecar does is counted, not timed), and
//! fail (never skip) without root.
//!
//! The probe counts every thread of the measuring process (the load generator's): each test
//! runs in a process of its own ([`isolated`]), not beside the other unit tests of this binary,
//! whose syscalls would be counted.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::Mutex;

use super::{CounterResult, CounterVerdict, Counters, compare_counters, counters_of};
use crate::harness::{Launch, Sidecar};
use crate::measure::MeasureConfig;
use crate::measure::paired::measure_paired;
use crate::model::runs::WorkCounter;
use crate::vocab::{Mode, SidecarConfig};

/// Set in the process [`isolated`] starts.
const ISOLATED: &str = "MESHINSIGHT_ISOLATED_TEST";

/// Runs `body` in a process of its own: this test binary again, running only the test
/// `name` (of this module), one thread. In that process, runs `body`.
fn isolated(name: &str, body: impl FnOnce()) {
    if std::env::var_os(ISOLATED).is_some() {
        body();
        return;
    }
    // One measurement at a time.
    static MEASURING: Mutex<()> = Mutex::new(());
    let _turn = MEASURING.lock().unwrap_or_else(|e| e.into_inner());
    let test = format!(
        "{}::{name}",
        module_path!().trim_start_matches("cargo_meshinsight::")
    );
    let out = Command::new(std::env::current_exe().expect("the test binary's path"))
        .args([test.as_str(), "--exact", "--test-threads=1", "--nocapture"])
        .env(ISOLATED, "1")
        .output()
        .expect("run the test in a process of its own");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = writeln!(std::io::stderr(), "{text}");
    assert!(out.status.success(), "{test} failed in its own process");
    assert!(text.contains("1 passed"), "{test} did not run: {text}");
}

/// The `cargo-meshinsight` binary of this build: `target/<profile>/cargo-meshinsight`, beside
/// the `deps/` directory this test binary is in.
fn binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let bin = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps/")
        .join("cargo-meshinsight");
    assert!(
        bin.is_file(),
        "{} is missing: run these tests with `cargo test` (it builds the binary), not `--lib` \
         alone",
        bin.display()
    );
    bin
}

/// A process that keeps one CPU busy until dropped.
struct BusyLoop(Child);

impl BusyLoop {
    fn start() -> BusyLoop {
        let child = Command::new("sh")
            .args(["-c", "while :; do :; done"])
            .spawn()
            .expect("start a busy loop");
        BusyLoop(child)
    }
}

impl Drop for BusyLoop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Measures `base` and `head` interleaved (every mode, sizes 100 and 4000 B, two repeats of
/// two blocks of 250 requests, closed loop), the head started first when `head_first`, and
/// returns their counters.
fn measure(base: &str, head: &str, head_first: bool) -> (Counters, Counters) {
    let base: Sidecar = base.parse().expect("a sidecar spec");
    let cfg = MeasureConfig {
        modes: Mode::ALL.to_vec(),
        filters: Vec::new(),
        sizes: vec![100, 4000],
        rate_fractions: Vec::new(),
        repeat: 2,
        requests: 500,
        block_requests: 250,
        ..MeasureConfig::full(head.parse().expect("a sidecar spec"))
    };
    let paired = measure_paired(
        &cfg,
        &base,
        head_first,
        &Launch::with_exe(binary()),
        &mut |_| {},
    )
    .unwrap_or_else(|e| panic!("the paired measurement must run (root, eBPF): {e:?}"));
    (counters_of(&paired.head), counters_of(&paired.base))
}

/// The comparison as a table (printed with `--nocapture`, and in every failure).
fn table(results: &[CounterResult]) -> String {
    let mut text = String::new();
    for r in results {
        for s in &r.by_size {
            text.push_str(&format!(
                "{:<34} {:>5} B base {:>9.3} head {:>9.3} delta {:>+9.4} sd {:>7.4} n {:>2} tol {:>7.3} {:?}\n",
                r.key, s.size, s.base, s.head, s.delta, s.sd, s.n, s.tolerance, s.verdict
            ));
        }
    }
    text
}

fn show(what: &str, results: &[CounterResult]) {
    let _ = writeln!(std::io::stderr(), "{what}\n{}", table(results));
}

fn result(results: &[CounterResult], mode: Mode, counter: WorkCounter) -> &CounterResult {
    let config = SidecarConfig::plain(mode);
    results
        .iter()
        .find(|r| r.config == config && r.counter == counter)
        .unwrap_or_else(|| panic!("no {mode} {counter}:\n{}", table(results)))
}

/// Writing every message in two pieces doubles the sidecar's write syscalls per traversal in
/// every mode (2 → 4 for tcp and http: the request upstream, the response downstream), and
/// the bytes written stay as they were.
#[test]
fn privileged_split_writes_double_the_write_syscalls_per_traversal() {
    isolated(
        "privileged_split_writes_double_the_write_syscalls_per_traversal",
        split_writes_double_the_write_syscalls,
    );
}

fn split_writes_double_the_write_syscalls() {
    let _busy = BusyLoop::start();
    // Either side started first: the counters go to the side that did the work.
    for head_first in [false, true] {
        let (head, base) = measure("builtin", "builtin --split-writes 2", head_first);
        let results = compare_counters(&head, &base);
        show(
            &format!(
                "builtin --split-writes 2 against builtin, one core busy, head first: {head_first}"
            ),
            &results,
        );
        split_writes_doubled(&results);
    }
}

/// The head's write syscalls per traversal are twice the base's (two per message for builtin)
/// in every mode and size, with the bytes written unchanged.
fn split_writes_doubled(results: &[CounterResult]) {
    for mode in Mode::ALL {
        let writes = result(results, mode, WorkCounter::WriteSyscalls);
        let all = table(results);
        assert_eq!(writes.verdict, CounterVerdict::Regression, "{mode}:\n{all}");
        for s in &writes.by_size {
            assert_eq!(s.verdict, CounterVerdict::Regression, "{mode}:\n{all}");
            assert!(
                (s.head - 2.0 * s.base).abs() <= s.tolerance,
                "{mode}: the head should write twice as often:\n{all}"
            );
            if mode != Mode::Grpc {
                assert!((s.base - 2.0).abs() < 0.05, "{mode}:\n{all}");
            }
        }
        let bytes = result(results, mode, WorkCounter::WriteBytes);
        assert_eq!(bytes.verdict, CounterVerdict::Unchanged, "{mode}:\n{all}");
    }
}

/// The same sidecar on both sides: no counter moves, neither alone nor with one core kept
/// busy beside the measurement.
#[test]
fn privileged_an_aa_pair_moves_no_counter_alone_or_with_a_core_busy() {
    isolated(
        "privileged_an_aa_pair_moves_no_counter_alone_or_with_a_core_busy",
        an_aa_pair_moves_no_counter,
    );
}

fn an_aa_pair_moves_no_counter() {
    aa_pair_moves_no_counter("builtin", &[CounterVerdict::Unchanged]);
}

/// Envoy against Envoy: its work counts per traversal are as steady as builtin's.
#[test]
fn privileged_envoy_aa_pair_moves_no_counter_alone_or_with_a_core_busy() {
    isolated(
        "privileged_envoy_aa_pair_moves_no_counter_alone_or_with_a_core_busy",
        // Envoy's gRPC read counts at 4000 B can move in some blocks and not in others (once
        // -0.38 read syscalls per traversal, sd 0.47 over four blocks): inconsistent at
        // worst, never a regression.
        || {
            aa_pair_moves_no_counter(
                "envoy",
                &[CounterVerdict::Unchanged, CounterVerdict::Inconsistent],
            )
        },
    );
}

/// `sidecar` against itself, alone and with a core busy: every counter's verdict is one of
/// `allowed`.
fn aa_pair_moves_no_counter(sidecar: &str, allowed: &[CounterVerdict]) {
    for busy in [false, true] {
        let _busy = busy.then(BusyLoop::start);
        // The busy run starts the head first: neither order moves a counter.
        let (head, base) = measure(sidecar, sidecar, busy);
        let results = compare_counters(&head, &base);
        let what = if busy { "one core busy" } else { "alone" };
        show(&format!("{sidecar} against {sidecar}, {what}"), &results);
        assert_eq!(results.len(), Mode::ALL.len() * WorkCounter::ALL.len());
        let moved: Vec<&CounterResult> = results
            .iter()
            .filter(|r| !allowed.contains(&r.verdict))
            .collect();
        assert!(moved.is_empty(), "{what}: {moved:#?}\n{}", table(&results));
    }
}
