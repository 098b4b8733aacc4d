//! `cargo meshinsight profile --refit`: fitting a measured profile's kept runs again, without
//! root, on a profile this tool measured (fixtures/profiles/builtin-quick-measured.json); and
//! the errors of `profile --project` that come before any measuring.

mod common;

use std::path::Path;

use common::{root, run};

const MEASURED: &str = "fixtures/profiles/builtin-quick-measured.json";

#[test]
fn refit_fits_the_kept_runs_again_and_is_stable() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first.json");
    let o = run(&[
        "profile",
        "--refit",
        MEASURED,
        "--format",
        "json",
        "-o",
        first.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(stderr.contains("Refitted"), "{stderr}");
    let saved = common::load_profile(&root().join(MEASURED));
    let refit = common::load_profile(&first);
    assert_eq!(refit.runs, saved.runs);
    assert_eq!(refit.platform, saved.platform);
    assert!(refit.source.as_deref().unwrap().contains("refitted"));
    // What was printed is what was written.
    let printed: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(printed["runs"].as_array().unwrap().len(), saved.runs.len());
    // Every screened-out pair is one of the profile's runs.
    let checks = refit.checks.as_ref().unwrap();
    for out in &checks.outliers {
        assert!(
            saved
                .runs
                .iter()
                .any(|r| r.size == out.size && r.repeat == out.repeat && r.through_sidecar),
            "{out:?}"
        );
    }
    // Refitting a refit changes nothing.
    let second = dir.path().join("second.json");
    let o = run(&[
        "profile",
        "--refit",
        first.to_str().unwrap(),
        "-o",
        second.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(common::load_profile(&second).modes, refit.modes);
    // The table report names the screening.
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(table.contains("A1 additivity"), "{table}");
    assert!(table.contains("split, tcp: none up to 4000 B"), "{table}");
    assert!(table.contains("in blocks of 250"), "{table}");
    // The closed-loop CPU is fitted beside the open-loop one, and the report shows both.
    for mp in refit.modes.values() {
        assert!(
            mp.components.values().all(|c| c.cpu_unloaded.is_some()),
            "{mp:?}"
        );
    }
    assert!(
        table.contains("under load / one request in flight"),
        "{table}"
    );
}

#[test]
fn refit_errors_are_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("never.json");
    for (args, code, needle) in [
        (
            vec![
                "profile",
                "--refit",
                "fixtures/profiles/socc23-envoy-1.21.json",
            ],
            101,
            "has no runs",
        ),
        (
            vec!["profile", "--refit", "no/such/profile.json"],
            101,
            "no/such/profile.json",
        ),
        (
            vec!["profile", "--refit", MEASURED, "--sidecar", "envoy"],
            2,
            "cannot be used with",
        ),
    ] {
        fails_without_writing(&args, &out, code, needle);
    }
}

/// Runs `args` with `-o out`: exits with `code`, says `needle` and writes nothing. Returns
/// what it printed on stderr.
fn fails_without_writing(args: &[&str], out: &Path, code: i32, needle: &str) -> String {
    let mut args = args.to_vec();
    args.extend(["-o", out.to_str().unwrap()]);
    let o = run(&args);
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(code), "{args:?}: {stderr}");
    assert!(stderr.contains(needle), "{args:?}: {stderr}");
    assert!(!out.exists(), "{args:?} wrote a file");
    stderr
}

/// `profile --project` measures what `check` would; before measuring, a project that cannot
/// be read or an option it replaces is a one-line error, and nothing is written.
#[test]
fn project_profile_errors_are_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("never.json");
    let missing = dir.path().join("nowhere/Cargo.toml");
    for (args, code, needle) in [
        (
            vec![
                "profile",
                "--project",
                "--manifest-path",
                missing.to_str().unwrap(),
            ],
            101,
            "nowhere/Cargo.toml",
        ),
        (
            vec!["profile", "--project", "--modes", "tcp"],
            2,
            "cannot be used with",
        ),
        (
            vec!["profile", "--manifest-path", "Cargo.toml"],
            2,
            "--project",
        ),
    ] {
        let stderr = fails_without_writing(&args, &out, code, needle);
        assert_eq!(
            stderr
                .trim()
                .lines()
                .filter(|l| l.starts_with("error"))
                .count(),
            1,
            "{stderr}"
        );
    }
}
