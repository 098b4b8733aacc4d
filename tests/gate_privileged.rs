//! `check` and `baseline update` that profile the configured sidecar now (root, real eBPF).

use std::path::Path;
use std::process::{Command, Output};

fn project(dir: &Path) {
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::create_dir_all(dir.join("ecg")).unwrap();
    std::fs::write(dir.join("src/lib.rs"), "").unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        r#"[package]
name = "gated-proxy"
version = "0.1.0"
edition = "2024"

[package.metadata.meshinsight]
sidecar = "builtin"
fixtures = ["ecg/*.toml"]
profile = { sizes = [100, 4000], rates = [], repeat = 2, requests = 300 }
"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("ecg/chain.toml"),
        r#"name = "chain"
[defaults]
mode = "tcp"
[[calls]]
id = "a"
to = "A"
start_us = 0
duration_us = 1000
[[calls]]
id = "b"
parent = "a"
to = "B"
start_us = 100
duration_us = 800
"#,
    )
    .unwrap();
}

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cargo-meshinsight"))
        .args(args)
        .arg("--manifest-path")
        .arg(dir.join("Cargo.toml"))
        .env("NO_COLOR", "1")
        .env_remove("GITHUB_TOKEN")
        .output()
        .unwrap()
}

#[test]
fn privileged_check_and_baseline_update_profile_the_configured_sidecar() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    project(dir);

    let o = run(
        dir,
        &[
            "check",
            "--quick",
            "--no-baseline",
            "--no-comment",
            "--format",
            "json",
        ],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    // The project's settings were used: the modes its fixtures use, its sizes.
    assert!(
        err.contains("Profiling builtin (1 modes, 0 filters, sizes [100, 4000], 8 runs)"),
        "{err}"
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        v["platform"]["id"]
            .as_str()
            .unwrap()
            .starts_with("builtin-"),
        "{v}"
    );

    let o = run(dir, &["baseline", "update", "--quick"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let written: Vec<_> = std::fs::read_dir(dir.join("baselines"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(written.len(), 1, "{written:?}");
    let text = std::fs::read_to_string(written[0].path()).unwrap();
    let b: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(b["format_version"], 1);
}

#[test]
fn bad_profile_settings_are_one_clear_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    project(dir);
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        manifest.replace("repeat = 2", "repeats = 2"),
    )
    .unwrap();
    let o = run(dir, &["check", "--quick", "--no-baseline", "--no-comment"]);
    assert_eq!(o.status.code(), Some(101));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("unknown key `profile.repeats`"), "{err}");
}
