//! `cargo meshinsight probe` end to end: following children, JSON output, and the exit
//! code and hint when privileges are missing. Tests named `privileged_` need root and FAIL
//! without it.

use crate::common;
use std::process::{Command, Stdio};

use cargo_meshinsight::probe::{Probe, ProbeComponent, ProbeOptions, ProbeReport, Role};

const EXE: &str = env!("CARGO_BIN_EXE_cargo-meshinsight");

fn wait_stopped(pid: u32) {
    let mut status = 0;
    // SAFETY: waiting for our own child.
    let rc = unsafe { libc::waitpid(pid as i32, &mut status, libc::WUNTRACED) };
    assert_eq!(rc, pid as i32);
    assert!(libc::WIFSTOPPED(status), "{pid} did not stop: {status:#x}");
}

fn cont(pid: u32) {
    // SAFETY: signalling our own child.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGCONT) }, 0);
}

#[test]
fn privileged_children_forked_after_attach_are_followed() {
    let _turn = common::measuring();
    // The shell stops itself; once the probe is attached it forks `head`, which writes
    // exactly 5000 bytes to /dev/null.
    let mut sh = Command::new("sh")
        .args(["-c", "kill -STOP $$; head -c 5000 /dev/zero > /dev/null"])
        .spawn()
        .expect("spawn sh");
    let pid = sh.id();
    wait_stopped(pid);
    let probe = Probe::attach(&[(pid, Role::Sidecar)], &ProbeOptions::default())
        .unwrap_or_else(|e| panic!("the probe must attach (needs root and tracepoints): {e:?}"));
    cont(pid);
    assert!(sh.wait().expect("sh exit").success());
    let report = probe.snapshot().expect("snapshot");
    let children: Vec<_> = report.processes.iter().filter(|p| p.pid != pid).collect();
    assert_eq!(
        children.len(),
        1,
        "one child (head): {:#?}",
        report.processes
    );
    let head = children[0];
    assert_eq!(head.role, Role::Sidecar, "children inherit the role");
    assert_eq!(head.components[&ProbeComponent::Write].bytes, 5000);
    assert_eq!(report.drops.lost(), 0);
    // sh has exited: its event counts are the ones its thread left when it exited. SIGCONT
    // woke it, it slept waiting for head, and head's exit woke it again.
    let sh = report.process(pid).expect("sh is in the report");
    assert!(
        sh.events.wakeups >= 2 && sh.events.switches >= 1,
        "{:?}",
        sh.events
    );
}

#[test]
fn privileged_probe_command_prints_json_per_process_and_total() {
    let _turn = common::measuring();
    let mut busy = Command::new(EXE)
        .args(["__probe-workload", "busy", "--millis", "3000"])
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn busy");
    let output = Command::new(EXE)
        .args([
            "probe",
            "--pid",
            &busy.id().to_string(),
            "--role",
            "app",
            "--duration",
            "500ms",
            "--format",
            "json",
        ])
        .output()
        .expect("run probe");
    let _ = busy.kill();
    let _ = busy.wait();
    assert!(
        output.status.success(),
        "probe failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON on stdout");
    for c in ["read", "write", "ipc", "notify", "user", "other_kernel"] {
        for field in ["count", "bytes", "wall_us", "cpu_us", "p50_us", "p99_us"] {
            assert!(
                json["total"][c][field].is_number(),
                "total.{c}.{field} in {json}"
            );
            assert!(
                json["processes"][0]["components"][c][field].is_number(),
                "processes[0].{c}.{field}"
            );
        }
    }
    let report: ProbeReport = serde_json::from_value(json).expect("a ProbeReport");
    assert_eq!(report.processes.len(), 1);
    let p = &report.processes[0];
    assert_eq!((p.role, p.comm.as_str()), (Role::App, "cargo-meshinsig"));
    // The busy loop reads 256 bytes from /dev/zero and writes them to /dev/null, forever.
    let read = &p.components[&ProbeComponent::Read];
    let write = &p.components[&ProbeComponent::Write];
    assert!(read.count > 100, "{read:?}");
    assert_eq!(read.bytes, 256 * read.count);
    // The probe is detached before the snapshot, one tracepoint after the other: at most
    // the syscalls in flight during the detach are cut.
    assert!(write.count.abs_diff(read.count) <= 2, "{read:?} {write:?}");
    assert!(p.components[&ProbeComponent::User].cpu_ns > 0);
}

#[test]
fn privileged_missing_privilege_exits_102_with_a_hint() {
    let _turn = common::measuring();
    // Run the probe as `nobody`: no CAP_BPF, no CAP_PERFMON.
    let output = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            EXE,
        ])
        .args(["probe", "--pid", "1", "--duration", "100ms"])
        .output()
        .expect("setpriv (util-linux) must be installed");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(102), "stderr: {stderr}");
    assert!(stderr.contains("error: load eBPF programs"), "{stderr}");
    assert!(stderr.contains("hint: run as root"), "{stderr}");
}

#[test]
fn privileged_threads_before_and_after_attach_are_followed() {
    let _turn = common::measuring();
    use cargo_meshinsight::probe::workload::{THREAD_WRITE_SIZE, THREAD_WRITES};
    let mut child = Command::new(EXE)
        .args([
            "__probe-workload",
            "threads",
            "--before",
            "2",
            "--after",
            "3",
        ])
        .spawn()
        .expect("spawn the threads workload");
    let pid = child.id();
    wait_stopped(pid);
    let probe = Probe::attach(&[(pid, Role::Sidecar)], &ProbeOptions::default())
        .unwrap_or_else(|e| panic!("the probe must attach (needs root and tracepoints): {e:?}"));
    cont(pid);
    wait_stopped(pid);
    let report = probe.snapshot().expect("snapshot");
    cont(pid);
    assert!(child.wait().expect("exit").success());
    assert_eq!(report.processes.len(), 1, "{:#?}", report.processes);
    let write = &report.processes[0].components[&ProbeComponent::Write];
    // Main thread + 2 threads from before the attach + 3 started after it.
    assert_eq!(write.count, 6 * THREAD_WRITES, "{write:?}");
    assert_eq!(write.bytes, 6 * THREAD_WRITES * THREAD_WRITE_SIZE as u64);
}

#[test]
fn privileged_ctrl_c_stops_early_and_still_prints() {
    let _turn = common::measuring();
    let mut busy = Command::new(EXE)
        .args(["__probe-workload", "busy", "--millis", "5000"])
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn busy");
    let start = std::time::Instant::now();
    let probe = Command::new(EXE)
        .args([
            "probe",
            "--pid",
            &busy.id().to_string(),
            "--duration",
            "60s",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run probe");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    // SAFETY: signalling our own child.
    assert_eq!(unsafe { libc::kill(probe.id() as i32, libc::SIGINT) }, 0);
    let output = probe.wait_with_output().expect("probe output");
    let _ = busy.kill();
    let _ = busy.wait();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        start.elapsed().as_secs() < 10,
        "Ctrl-C did not stop the probe early"
    );
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(
        table.contains("total over") && table.contains("other_kernel"),
        "{table}"
    );
}
