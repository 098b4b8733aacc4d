//! Helpers shared by the integration tests: the repository root, the binary under test,
//! `bench` runs, the one-measurement-at-a-time lock. Included with `mod common;` from
//! `tests/*.rs` and with `#[path = "../common/mod.rs"] mod common;` from `tests/privileged/`.

#![allow(dead_code, reason = "each test crate uses some of these helpers")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cargo_meshinsight::ecg::Ecg;
use cargo_meshinsight::harness::Launch;
use cargo_meshinsight::model::Profile;
use cargo_meshinsight::vocab::{Component, Mode};

/// The repository root (fixtures, baselines, docs).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The profile at `path`; panics when it is not valid.
pub fn load_profile(path: &Path) -> Profile {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Profile::from_json(&text, path).unwrap_or_else(|e| panic!("{e}"))
}

/// The ECG fixture at `path`; panics when it is not valid.
pub fn load_ecg(path: &Path) -> Ecg {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Ecg::parse(&text, path).unwrap_or_else(|e| panic!("{e}"))
}

/// One measurement at a time: two at once on a small machine would measure each other. Every
/// privileged test holds this for its whole run.
pub fn measuring() -> std::sync::MutexGuard<'static, ()> {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// The release binary, as users run it: measuring tests measure optimised code (the debug
/// build's user-space work is several times slower and is what they would measure). Built
/// once per test binary with `cargo build --release --locked -p cargo-meshinsight --bin
/// cargo-meshinsight` into the target directory of the binary under test; `.ci/run` builds it
/// before the tests, so this only checks that it is fresh.
pub fn release_binary() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let debug = Path::new(env!("CARGO_BIN_EXE_cargo-meshinsight"));
            let target = debug
                .parent()
                .and_then(Path::parent)
                .expect("the binary under test is in <target>/<profile>/");
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let o = Command::new(cargo)
                .args(["build", "--release", "--locked", "-p", "cargo-meshinsight"])
                .args(["--bin", "cargo-meshinsight", "--target-dir"])
                .arg(target)
                .current_dir(root())
                .output()
                .expect("cargo runs");
            assert!(
                o.status.success(),
                "cargo build --release failed:\n{}",
                String::from_utf8_lossy(&o.stderr)
            );
            target.join("release/cargo-meshinsight")
        })
        .clone()
}

/// Launches services and sidecars from the binary under test.
pub fn launch() -> Launch {
    Launch::with_exe(env!("CARGO_BIN_EXE_cargo-meshinsight"))
}

/// The binary under test, run in the repository root, without colour, its tables laid out
/// for the default width (docs/cli.md).
pub fn meshinsight() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cargo-meshinsight"));
    c.current_dir(root())
        .env("NO_COLOR", "1")
        .env_remove("COLUMNS");
    c
}

/// Runs the binary with `args` in the repository root.
pub fn run(args: &[&str]) -> Output {
    run_in(&root(), args)
}

/// Runs the binary with `args` in `dir`.
pub fn run_in(dir: &Path, args: &[&str]) -> Output {
    meshinsight()
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the binary runs")
}

/// Its standard output.
pub fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// Its standard error.
pub fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

/// `meshinsight bench` with `args` (sidecar, mode, filters) and `repeat` short repetitions;
/// asserts that it succeeded and returns its JSON report.
pub fn bench_json(args: &[&str], repeat: u32) -> serde_json::Value {
    let repeat = repeat.to_string();
    let mut all = vec!["meshinsight", "bench"];
    all.extend_from_slice(args);
    all.extend_from_slice(&[
        "--repeat",
        &repeat,
        "--requests",
        "200",
        "--warmup",
        "20",
        "--format",
        "json",
    ]);
    let out = run(&all);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A child process seen while a command ran: its command line and what /proc/PID/status says.
#[derive(Clone, Debug)]
pub struct SeenChild {
    /// Its command line, arguments joined by spaces.
    pub cmdline: String,
    /// The real, effective, saved and filesystem uids (`Uid:` of /proc/PID/status).
    pub uids: Vec<u32>,
    /// The CPUs it may run on (`Cpus_allowed_list:`).
    pub cpus: String,
}

/// Runs `cmd` and, while it runs, records its direct children (every 10 ms, each once, as
/// they look once they run their own program); returns its output and those children.
pub fn run_watching_children(cmd: Command) -> (Output, Vec<SeenChild>) {
    run_watching(cmd, false)
}

/// As [`run_watching_children`], with every descendant (through sudo, say).
pub fn run_watching_descendants(cmd: Command) -> (Output, Vec<SeenChild>) {
    run_watching(cmd, true)
}

fn run_watching(mut cmd: Command, descendants: bool) -> (Output, Vec<SeenChild>) {
    use std::collections::BTreeMap;
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().expect("the command starts");
    let root = child.id();
    let watcher = std::thread::spawn(move || {
        let mut seen: BTreeMap<u32, SeenChild> = BTreeMap::new();
        while Path::new(&format!("/proc/{root}")).exists() {
            for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
                let Some(pid) = entry
                    .file_name()
                    .to_str()
                    .and_then(|s| s.parse::<u32>().ok())
                else {
                    continue;
                };
                if seen.contains_key(&pid) || !descends(pid, root, descendants) {
                    continue;
                }
                // Between fork and exec a child still runs its parent's program.
                if parent_of(pid).is_some_and(|p| cmdline(p) == cmdline(pid)) {
                    continue;
                }
                if let Some(c) = describe(pid) {
                    seen.insert(pid, c);
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        seen.into_values().collect::<Vec<_>>()
    });
    let output = child.wait_with_output().expect("the command runs");
    (output, watcher.join().expect("the watcher runs"))
}

/// Whether `pid` is a child of `root` (or, with `deep`, any descendant).
fn descends(pid: u32, root: u32, deep: bool) -> bool {
    let mut at = pid;
    for _ in 0..64 {
        match parent_of(at) {
            Some(p) if p == root => return true,
            Some(p) if deep && p > 1 => at = p,
            _ => return false,
        }
    }
    false
}

fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 2..].split(' ').nth(1)?.parse().ok()
}

fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            String::from_utf8_lossy(&b)
                .replace('\0', " ")
                .trim()
                .to_string()
        })
        .unwrap_or_default()
}

fn describe(pid: u32) -> Option<SeenChild> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
    };
    Some(SeenChild {
        cmdline: cmdline(pid),
        uids: field("Uid:")?
            .split_whitespace()
            .filter_map(|u| u.parse().ok())
            .collect(),
        cpus: field("Cpus_allowed_list:")?,
    })
}

/// The CPUs this process may run on (`Cpus_allowed_list` of /proc/self/status).
pub fn allowed_cpus() -> Vec<usize> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let list = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap()
        .trim()
        .to_string();
    list.split(',')
        .flat_map(|part| match part.split_once('-') {
            Some((a, b)) => (a.parse::<usize>().unwrap()..=b.parse().unwrap()).collect(),
            None => vec![part.parse().unwrap()],
        })
        .collect()
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().nth(1).map(|e| e == "0"))
        .unwrap_or(false)
}

/// The paper's profile as platform `platform`, with the small standard errors of a
/// well-measured profile, and `component` of `mode` scaled by `factor`, as JSON.
pub fn scaled_profile_json(
    platform: &str,
    mode: Mode,
    component: Component,
    factor: f64,
) -> String {
    let mut p = Profile::paper();
    p.platform.id = platform.into();
    for mp in p.modes.values_mut() {
        for m in mp.components.values_mut() {
            for lm in [&mut m.latency, &mut m.cpu] {
                lm.base_se_us = Some(0.01 * lm.base_us);
                lm.per_byte_se_us = Some(1e-4);
                lm.n = Some(40);
            }
        }
    }
    let scaled = p
        .modes
        .get_mut(&mode)
        .unwrap()
        .components
        .get_mut(&component)
        .unwrap();
    scaled.latency.base_us *= factor;
    scaled.cpu.base_us *= factor;
    p.to_json()
}
