//! Helpers shared by the integration tests: the repository root, the binary under test,
//! `bench` runs, the one-measurement-at-a-time lock. Included with `mod common;` from
//! `tests/*.rs` and with `#[path = "../common/mod.rs"] mod common;` from `tests/privileged/`.

#![allow(dead_code, reason = "each test crate uses some of these helpers")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cargo_meshinsight::ecg::Ecg;
use cargo_meshinsight::harness::Launch;
use cargo_meshinsight::model::Profile;

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

/// The binary under test, run in the repository root, without colour.
pub fn meshinsight() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cargo-meshinsight"));
    c.current_dir(root()).env("NO_COLOR", "1");
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
