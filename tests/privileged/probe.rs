//! The probe on the calibrated workload (`__probe-workload`). These tests need root (or
//! CAP_BPF + CAP_PERFMON) and tracepoints: without them they FAIL, they never skip.
//! Select them with `cargo test --test probe_privileged privileged_`.

use crate::common;
use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::LazyLock;

use cargo_meshinsight::probe::workload::WorkloadResult;
use cargo_meshinsight::probe::{
    Probe, ProbeComponent, ProbeOptions, ProbeReport, ProbeSet, ProcessReport, Role,
};

const EXE: &str = env!("CARGO_BIN_EXE_cargo-meshinsight");
const MESSAGES: u64 = 2000;
const SIZE: u64 = 1000;
/// User work per message, µs: large beside the probe's own cost of about 6 µs per round
/// trip (docs/probe.md), which lands in the user time between two syscalls.
const WORK_US: u64 = 200;

struct Side {
    child: Child,
    stdout: BufReader<ChildStdout>,
}

impl Side {
    fn spawn(args: &[&str]) -> Side {
        let mut child = Command::new(EXE)
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn the workload");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        Side { child, stdout }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.stdout
            .read_line(&mut line)
            .expect("read the workload's output");
        line.trim().to_string()
    }

    /// Waits until the side has stopped itself (SIGSTOP).
    fn wait_stopped(&self) {
        let mut status = 0;
        // SAFETY: waiting for our own child.
        let rc = unsafe { libc::waitpid(self.pid() as i32, &mut status, libc::WUNTRACED) };
        assert_eq!(rc, self.pid() as i32, "waitpid failed");
        assert!(
            libc::WIFSTOPPED(status),
            "workload {} did not stop but ended: status {status:#x}",
            self.pid()
        );
    }

    fn cont(&self) {
        // SAFETY: signalling our own child.
        assert_eq!(unsafe { libc::kill(self.pid() as i32, libc::SIGCONT) }, 0);
    }

    /// On-CPU ns of all threads so far (the scheduler's own account).
    fn sched_cpu_ns(&self) -> u64 {
        let mut total = 0;
        for task in std::fs::read_dir(format!("/proc/{}/task", self.pid()))
            .expect("tasks")
            .flatten()
        {
            let text = std::fs::read_to_string(task.path().join("schedstat")).expect("schedstat");
            total += text
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
                .expect("schedstat value");
        }
        total
    }

    /// Voluntary context switches of all threads so far (the kernel's `nvcsw`).
    fn voluntary_switches(&self) -> u64 {
        let mut total = 0;
        for task in std::fs::read_dir(format!("/proc/{}/task", self.pid()))
            .expect("tasks")
            .flatten()
        {
            let text = std::fs::read_to_string(task.path().join("status")).expect("status");
            total += text
                .lines()
                .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .expect("voluntary_ctxt_switches");
        }
        total
    }
}

struct PairRun {
    report: ProbeReport,
    set: ProbeSet,
    server: u32,
    client: u32,
    busy: u32,
    server_work: WorkloadResult,
    client_work: WorkloadResult,
    server_sched_ns: u64,
    client_sched_ns: u64,
    /// Voluntary context switches the kernel counted while probed.
    server_switches: u64,
    client_switches: u64,
    /// Steal time of all CPUs while probed (`/proc/stat`).
    steal_ns: u64,
}

/// One side of a [`PairRun`]: what its workload and the kernel said while it was probed.
struct SideRun<'a> {
    pid: u32,
    work: &'a WorkloadResult,
    sched_ns: u64,
    switches: u64,
}

impl PairRun {
    /// The server's and the client's figures.
    fn sides(&self) -> [SideRun<'_>; 2] {
        [
            SideRun {
                pid: self.server,
                work: &self.server_work,
                sched_ns: self.server_sched_ns,
                switches: self.server_switches,
            },
            SideRun {
                pid: self.client,
                work: &self.client_work,
                sched_ns: self.client_sched_ns,
                switches: self.client_switches,
            },
        ]
    }
}

/// One run shared by the tests: server and client exchange MESSAGES messages of SIZE bytes
/// while a third, busy process reads and writes on the side.
static RUN: LazyLock<PairRun> = LazyLock::new(|| run_pair(&ProbeOptions::default()));

fn run_pair(options: &ProbeOptions) -> PairRun {
    let (m, s, w) = (MESSAGES.to_string(), SIZE.to_string(), WORK_US.to_string());
    let mut server = Side::spawn(&[
        "__probe-workload",
        "server",
        "--messages",
        &m,
        "--size",
        &s,
        "--work-us",
        &w,
    ]);
    let port = server.line();
    let mut client = Side::spawn(&[
        "__probe-workload",
        "client",
        "--port",
        &port,
        "--messages",
        &m,
        "--size",
        &s,
        "--work-us",
        &w,
    ]);
    let mut busy = Command::new(EXE)
        .args(["__probe-workload", "busy", "--millis", "20000"])
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn the busy process");
    server.wait_stopped();
    client.wait_stopped();
    let sched0 = (server.sched_cpu_ns(), client.sched_cpu_ns());
    let switches0 = (server.voluntary_switches(), client.voluntary_switches());
    let steal0 = steal_ns();
    let probe = Probe::attach(
        &[(server.pid(), Role::App), (client.pid(), Role::Client)],
        options,
    )
    .unwrap_or_else(|e| {
        panic!("the probe must attach (these tests need root and tracepoints): {e:?}")
    });
    server.cont();
    client.cont();
    server.wait_stopped();
    client.wait_stopped();
    let report = probe.snapshot().expect("snapshot");
    let set = probe.probe_set();
    let sched1 = (server.sched_cpu_ns(), client.sched_cpu_ns());
    let switches1 = (server.voluntary_switches(), client.voluntary_switches());
    let steal = steal_ns() - steal0;
    drop(probe);
    server.cont();
    client.cont();
    let server_work: WorkloadResult = serde_json::from_str(&server.line()).expect("server result");
    let client_work: WorkloadResult = serde_json::from_str(&client.line()).expect("client result");
    assert!(server.child.wait().expect("server exit").success());
    assert!(client.child.wait().expect("client exit").success());
    let busy_pid = busy.id();
    let _ = busy.kill();
    let _ = busy.wait();
    PairRun {
        report,
        set,
        server: server.pid(),
        client: client.pid(),
        busy: busy_pid,
        server_work,
        client_work,
        server_sched_ns: sched1.0 - sched0.0,
        client_sched_ns: sched1.1 - sched0.1,
        server_switches: switches1.0 - switches0.0,
        client_switches: switches1.1 - switches0.1,
        steal_ns: steal,
    }
}

/// Steal time of all CPUs so far (`/proc/stat`, read as `measure::quiet` reads it).
fn steal_ns() -> u64 {
    use procfs::{CurrentSI, KernelStats};
    let stats = KernelStats::current().expect("/proc/stat");
    let ticks = stats.total.steal.expect("steal in /proc/stat");
    ticks * 1_000_000_000 / procfs::ticks_per_second()
}

fn process(pid: u32) -> &'static ProcessReport {
    RUN.report
        .process(pid)
        .unwrap_or_else(|| panic!("process {pid} missing from {:#?}", RUN.report.processes))
}

#[test]
fn privileged_read_and_write_counts_are_exact() {
    let _turn = common::measuring();
    for pid in [RUN.server, RUN.client] {
        let p = process(pid);
        let read = &p.components[&ProbeComponent::Read];
        let write = &p.components[&ProbeComponent::Write];
        assert_eq!(
            (read.count, read.bytes),
            (MESSAGES, MESSAGES * SIZE),
            "reads of {pid}"
        );
        assert_eq!(
            (write.count, write.bytes),
            (MESSAGES, MESSAGES * SIZE),
            "writes of {pid}"
        );
        assert!(read.p50_us > 0.0 && read.p99_us >= read.p50_us);
    }
    assert_eq!(RUN.report.total[&ProbeComponent::Read].count, 2 * MESSAGES);
    assert_eq!(
        RUN.report.total[&ProbeComponent::Write].bytes,
        2 * MESSAGES * SIZE
    );
    assert_eq!(RUN.report.drops.lost(), 0, "{:?}", RUN.report.drops);
    assert_eq!(
        RUN.report.drops.unmatched_syscalls, 0,
        "{:?}",
        RUN.report.drops
    );
}

/// The probe's voluntary switches are the kernel's own count. Checked for both program sets:
/// the classic record marks a preemption in `prev_state`, which must not count as sleeping,
/// and the busy third process makes preemptions happen (about 1300 per side here). Every
/// sleep ends with a wake-up (but the last, stopped at the end), and a side is woken at most
/// once per message it waits for (and by the SIGCONT): how often it sleeps depends on whether
/// the message arrives before it waited (600 to 800 times of 2000 on this machine).
fn assert_event_counts_match_the_kernel(run: &PairRun) {
    for SideRun {
        pid,
        switches: kernel_switches,
        ..
    } in run.sides()
    {
        let p = run.report.process(pid).expect("traced");
        let e = &p.events;
        let skipped = run.report.drops.nested_events;
        assert!(
            e.switches.abs_diff(kernel_switches) <= skipped,
            "{pid} ({:?}): probe {e:?}, kernel {kernel_switches} voluntary switches",
            run.set
        );
        assert!(
            e.switches <= e.wakeups + 1 + skipped && e.wakeups <= MESSAGES + 1,
            "{pid} ({:?}): {e:?}",
            run.set
        );
        assert!(e.net_softirqs > 0, "{pid}: {e:?}");
        let ipc = &p.components[&ProbeComponent::Ipc];
        assert!(e.net_softirqs <= ipc.count, "{pid}: {e:?}, {ipc:?}");
    }
    let e = &run.report.events_total;
    assert_eq!(
        e.switches,
        run.report
            .processes
            .iter()
            .map(|p| p.events.switches)
            .sum::<u64>()
    );
}

#[test]
fn privileged_event_counts_match_the_kernels() {
    let _turn = common::measuring();
    assert_event_counts_match_the_kernel(&RUN);
}

#[test]
fn privileged_busy_third_process_is_not_counted() {
    let _turn = common::measuring();
    assert!(
        RUN.report.process(RUN.busy).is_none(),
        "busy process {} was counted",
        RUN.busy
    );
    let pids: Vec<u32> = RUN.report.processes.iter().map(|p| p.pid).collect();
    assert_eq!(pids.len(), 2, "only the pair is traced: {pids:?}");
}

#[test]
fn privileged_user_cpu_matches_calibrated_work() {
    let _turn = common::measuring();
    for side in RUN.sides() {
        assert_eq!(side.work.messages, MESSAGES);
        let calibrated = side.work.work_ns as f64;
        let expected_min = (MESSAGES * WORK_US * 1000) as f64 * 0.9;
        assert!(
            calibrated > expected_min,
            "work of {} is {calibrated} ns, below {expected_min}",
            side.pid
        );
        assert_user_is_the_calibrated_work(&side, process(side.pid), RUN.steal_ns);
    }
}

/// The probe's `user` is the calibrated work (the task clock around the spin) to within
/// 10 %, once the probe's excess over the scheduler's account is taken out: that excess
/// (CLOCK_MONOTONIC time the task clock does not see, mostly in `user`, growing with load)
/// is bounded by [`assert_sums_to_schedulers_account`]. Time lost from `user`, or kernel
/// time counted in it, still fails.
fn assert_user_is_the_calibrated_work(side: &SideRun, p: &ProcessReport, steal_ns: u64) {
    let user = p.components[&ProbeComponent::User].cpu_ns as f64;
    let excess = (p.cpu_ns() as f64 - side.sched_ns as f64).max(0.0);
    let calibrated = side.work.work_ns as f64;
    let error = (user - excess - calibrated).abs() / calibrated;
    assert!(
        error < 0.10,
        "user CPU of {}: {user} ns, {excess} ns of it over the scheduler's account, vs \
         calibrated {calibrated} ns ({:.1} % off; steal on all CPUs meanwhile {steal_ns} ns)",
        side.pid,
        error * 100.0
    );
}

#[test]
fn privileged_ipc_is_counted_once() {
    let _turn = common::measuring();
    for pid in [RUN.server, RUN.client] {
        let p = process(pid);
        let ipc = &p.components[&ProbeComponent::Ipc];
        assert!(ipc.count > 0 && ipc.cpu_ns > 0, "no IPC for {pid}: {ipc:?}");
        // NET_RX nested in a write is subtracted from the write's wall time and kept out of
        // its CPU time. Counted in write's CPU as well as in ipc, it would push write's CPU
        // above its wall time (writes to loopback do not block).
        let write = &p.components[&ProbeComponent::Write];
        assert!(write.count > 0, "{write:?}");
        assert!(
            write.wall_ns >= write.cpu_ns,
            "{pid}: write {write:?}, ipc {ipc:?}"
        );
    }
}

#[test]
fn privileged_components_sum_to_the_schedulers_account() {
    let _turn = common::measuring();
    for side in RUN.sides() {
        assert_sums_to_schedulers_account(&side, process(side.pid));
    }
}

/// The components partition the process's CPU time (docs/probe.md, "Against the
/// scheduler's account"). The probe must not lose time: its sum is at least the scheduler's
/// account (`/proc/PID/task/*/schedstat`, softirq time included: this kernel has no
/// CONFIG_IRQ_TIME_ACCOUNTING), less [`SWITCH_GAP_NS`] per voluntary switch the kernel
/// counted. It may exceed it: on our loaded VMs the excess grows with the machine's load
/// (0-2 % idle, up to 13 % at load 7, mostly in `user`, both probe sets), time that
/// CLOCK_MONOTONIC sees and the task clock does not.
fn assert_sums_to_schedulers_account(side: &SideRun, p: &ProcessReport) {
    let probed = p.cpu_ns() as f64;
    let gap = (side.switches * SWITCH_GAP_NS) as f64;
    let sched = side.sched_ns as f64;
    assert!(
        probed > 0.97 * sched - gap && probed < 1.25 * sched,
        "{}: components sum to {probed} ns, the scheduler says {sched} ns ({} voluntary \
         switches): {:#?}",
        side.pid,
        side.switches,
        p.components
    );
}

/// Kernel time per voluntary switch that the scheduler counts and the probe does not see,
/// at most: with one core busy and the pair waking each other across the two CPUs, the sum
/// falls 8-15 µs per switch short (5-6 % here; docs/probe.md), not settled why.
const SWITCH_GAP_NS: u64 = 20_000;

#[test]
fn privileged_without_loopback_transmit_ipc_is_softirq_only() {
    let _turn = common::measuring();
    let run = run_pair(&ProbeOptions {
        loopback_transmit: false,
        ..ProbeOptions::default()
    });
    for pid in [run.server, run.client] {
        let p = run.report.process(pid).expect("traced");
        let ipc = &p.components[&ProbeComponent::Ipc];
        let write = &p.components[&ProbeComponent::Write];
        assert_eq!((write.count, write.bytes), (MESSAGES, MESSAGES * SIZE));
        assert!(ipc.count > 0 && ipc.cpu_ns > 0, "{ipc:?}");
        // Transmits carry the bytes; softirq runs carry none.
        assert_eq!(ipc.bytes, 0, "{ipc:?}");
    }
    let with_xmit = &process(RUN.client).components[&ProbeComponent::Ipc];
    assert!(
        with_xmit.bytes >= MESSAGES * SIZE,
        "loopback transmits counted: {with_xmit:?}"
    );
}

/// The default options use the raw tracepoint set where the kernel loads it (all our
/// machines: kernel BTF, raw tracepoints allowed).
#[test]
fn privileged_default_set_is_raw_tracepoints() {
    let _turn = common::measuring();
    assert!(
        std::path::Path::new("/sys/kernel/btf/vmlinux").exists(),
        "no kernel BTF: the raw tracepoint set cannot load here"
    );
    assert_eq!(RUN.set, ProbeSet::RawTracepoint);
}

/// The fallback: the classic tracepoint set, forced, measures the same things.
#[test]
fn privileged_classic_tracepoint_set_measures_the_same() {
    let _turn = common::measuring();
    let run = run_pair(&ProbeOptions {
        probe_set: Some(ProbeSet::Tracepoint),
        ..ProbeOptions::default()
    });
    assert_eq!(run.set, ProbeSet::Tracepoint);
    for side in run.sides() {
        let p = run.report.process(side.pid).expect("traced");
        let read = &p.components[&ProbeComponent::Read];
        let write = &p.components[&ProbeComponent::Write];
        let ipc = &p.components[&ProbeComponent::Ipc];
        assert_eq!((read.count, read.bytes), (MESSAGES, MESSAGES * SIZE));
        assert_eq!((write.count, write.bytes), (MESSAGES, MESSAGES * SIZE));
        assert!(ipc.count > 0 && ipc.bytes >= MESSAGES * SIZE, "{ipc:?}");
        assert_user_is_the_calibrated_work(&side, p, run.steal_ns);
        assert_sums_to_schedulers_account(&side, p);
    }
    assert_eq!(run.report.drops.lost(), 0, "{:?}", run.report.drops);
    assert!(run.report.process(run.busy).is_none());
    assert_event_counts_match_the_kernel(&run);
}
