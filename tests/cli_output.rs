//! The command line's grammar and output, end to end with the real binary: tables that fit
//! `COLUMNS`, colour as the flag and the environment say, one spelling per concept with the
//! old spellings still accepted, `predict`'s project fixtures and `check --junit`.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use cargo_meshinsight::vocab::{Component, Mode};
use common::{root, stderr, stdout};

/// The binary in `dir` with `env` and nothing of the caller's colour or width settings.
fn command(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cargo-meshinsight"));
    c.current_dir(dir).args(args);
    for var in [
        "COLUMNS",
        "NO_COLOR",
        "CLICOLOR",
        "CLICOLOR_FORCE",
        "CARGO_TERM_COLOR",
        "TERM",
        "GITHUB_TOKEN",
        "GITHUB_REPOSITORY",
        "GITHUB_EVENT_PATH",
        "GITHUB_REF",
        "GITHUB_API_URL",
        "GITHUB_STEP_SUMMARY",
        "GITHUB_BASE_REF",
    ] {
        c.env_remove(var);
    }
    c.envs(env.iter().copied());
    c
}

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    command(&root(), args, env)
        .output()
        .expect("the binary runs")
}

fn widest(text: &str) -> usize {
    text.lines().map(|l| l.chars().count()).max().unwrap_or(0)
}

/// Every command's result table, at 80 and at 160 columns: no line wider, and stable.
#[test]
fn tables_fit_80_and_160_columns() {
    let dir = tempfile::tempdir().unwrap();
    let refit = dir.path().join("refit.json");
    let commands: [(&str, Vec<&str>); 5] = [
        ("predict", vec!["predict"]),
        (
            "predict_speedup",
            vec![
                "predict",
                "--ecg",
                "fixtures/ecg/hotel-q2-search.toml",
                "fixtures/ecg/mixed-modes.toml",
                "--speedup",
                "fixtures/speedups/uds-ipc.toml",
            ],
        ),
        (
            "profile",
            vec![
                "profile",
                "--refit",
                "fixtures/profiles/builtin-quick-measured.json",
                "-o",
                refit.to_str().unwrap(),
            ],
        ),
        (
            "analyze",
            vec![
                "analyze",
                "--traces",
                "fixtures/traces/alibaba-v2021-a.csv",
                "--config",
                "tcp",
                "http+fault",
            ],
        ),
        (
            "critical_path",
            vec![
                "critical-path",
                "fixtures/traces/jaeger-crisp.json",
                "--config",
                "http",
            ],
        ),
    ];
    for (name, args) in &commands {
        for width in [80usize, 160] {
            let o = run(args, &[("COLUMNS", &width.to_string())]);
            assert!(o.status.success(), "{name}: {}", stderr(&o));
            let text = stdout(&o);
            assert!(
                widest(&text) <= width,
                "{name} at {width} columns is {} wide:\n{text}",
                widest(&text)
            );
            insta::assert_snapshot!(format!("{name}_{width}"), text);
        }
    }
}

/// Without a terminal and without `COLUMNS`, tables are laid out for 160 columns.
#[test]
fn without_columns_the_width_is_160() {
    let o = run(&["predict"], &[]);
    let at_160 = run(&["predict"], &[("COLUMNS", "160")]);
    assert_eq!(stdout(&o), stdout(&at_160));
}

/// Whether a status line is green, for each way of asking.
#[test]
fn colour_follows_the_flag_then_the_environment() {
    let coloured = |args: &[&str], env: &[(&str, &str)]| {
        let o = run(args, env);
        assert!(o.status.success(), "{}", stderr(&o));
        stderr(&o).contains("\u{1b}[")
    };
    let predict = ["predict", "--format", "json"];
    // Standard error is not a terminal here: plain unless forced.
    assert!(!coloured(&predict, &[]));
    assert!(coloured(&predict, &[("CLICOLOR_FORCE", "1")]));
    assert!(!coloured(
        &predict,
        &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]
    ));
    assert!(coloured(&predict, &[("CARGO_TERM_COLOR", "always")]));
    assert!(!coloured(
        &predict,
        &[("CARGO_TERM_COLOR", "never"), ("CLICOLOR_FORCE", "1")]
    ));
    let always = ["predict", "--format", "json", "--color", "always"];
    assert!(coloured(&always, &[("NO_COLOR", "1"), ("TERM", "dumb")]));
    let never = ["--color=never", "predict", "--format", "json"];
    assert!(!coloured(&never, &[("CLICOLOR_FORCE", "1")]));
    // clap's own errors too, before the arguments parse.
    let o = run(&["predict", "--color", "always", "--format", "yaml"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("\u{1b}["), "{}", stderr(&o));
    let o = run(&["predict", "--color", "purple"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("invalid value 'purple'"),
        "{}",
        stderr(&o)
    );
}

/// Durations are humantime everywhere, with bare seconds still accepted; nonsense is a usage
/// error naming the flag.
#[test]
fn durations_share_one_grammar() {
    for args in [
        ["bench", "--duration", "soon"],
        ["bench", "--duration", "0s"],
        ["probe", "--duration=-1s", "--pid=1"],
    ] {
        let o = run(&args, &[]);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("invalid value") && stderr(&o).contains("--duration"),
            "{}",
            stderr(&o)
        );
    }
}

/// The old spellings of renamed flags still parse (hidden from the help).
#[test]
fn old_flag_spellings_are_aliases() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("gen");
    let o = run(
        &[
            "generate",
            "--graphs",
            "5",
            "--files",
            "1",
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(std::fs::read_dir(&out).unwrap().count() >= 1);
    // Parsing only: both reach a later error (the fixture does not exist), not a usage error.
    for args in [
        vec!["validate", "--svg", "x.svg", "--ecg", "no-such.toml"],
        vec![
            "validate",
            "--save-profile",
            "p.json",
            "--ecg",
            "no-such.toml",
        ],
    ] {
        let o = run(&args, &[]);
        assert_eq!(o.status.code(), Some(101), "{args:?}: {}", stderr(&o));
    }
    let help = stdout(&run(&["validate", "--help"], &[]));
    assert!(
        help.contains("--plot <FILE>") && !help.contains("--svg"),
        "{help}"
    );
}

/// A crate configured with its own fixture glob, in a temporary directory.
fn project(glob: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root_dir = dir.path();
    std::fs::write(
        root_dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"proxy\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
             [lib]\npath = \"lib.rs\"\n\n[workspace]\n\n\
             [workspace.metadata.meshinsight]\nfixtures = [\"{glob}\"]\n"
        ),
    )
    .unwrap();
    std::fs::write(root_dir.join("lib.rs"), "").unwrap();
    std::fs::create_dir_all(root_dir.join("graphs/deep")).unwrap();
    std::fs::copy(
        root().join("fixtures/ecg/chain-3hop.toml"),
        root_dir.join("graphs/chain.toml"),
    )
    .unwrap();
    dir
}

fn predicted_names(o: &Output) -> Vec<String> {
    assert!(o.status.success(), "{}", stderr(o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect()
}

/// `predict` without `--ecg` predicts what the project configures, found from a
/// subdirectory or named with `--manifest-path`.
#[test]
fn predict_reads_the_configured_fixtures() {
    let p = project("graphs/*.toml");
    let sub = p.path().join("graphs/deep");
    let o = command(&sub, &["predict", "--format", "json"], &[])
        .output()
        .unwrap();
    assert_eq!(predicted_names(&o), ["chain-3hop"]);
    assert!(
        stderr(&o).contains("Reading the fixtures") && stderr(&o).contains("graphs/*.toml"),
        "{}",
        stderr(&o)
    );
    let elsewhere = tempfile::tempdir().unwrap();
    let manifest = p.path().join("Cargo.toml");
    let o = command(
        elsewhere.path(),
        &[
            "predict",
            "--manifest-path",
            manifest.to_str().unwrap(),
            "--format",
            "json",
        ],
        &[],
    )
    .output()
    .unwrap();
    assert_eq!(predicted_names(&o), ["chain-3hop"]);
    // A glob that selects nothing is an error, not the fixtures/ecg fallback.
    let empty = project("none/*.toml");
    let o = command(empty.path(), &["predict"], &[]).output().unwrap();
    assert_eq!(o.status.code(), Some(101));
    assert!(
        stderr(&o).contains("fixture pattern `none/*.toml`"),
        "{}",
        stderr(&o)
    );
    // --ecg and --manifest-path name the fixtures two ways: refused.
    let o = run(
        &[
            "predict",
            "--ecg",
            "fixtures/ecg/bookinfo.toml",
            "--manifest-path",
            "Cargo.toml",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

/// `check --junit FILE` writes one test case per metric, the regressions as failures, and
/// `-o` (formerly `--report`) the JSON verdict.
#[test]
fn check_writes_junit_and_the_json_verdict() {
    let p = project("graphs/*.toml");
    let dir = p.path();
    std::fs::write(
        dir.join("base.json"),
        common::scaled_profile_json("junit-box", Mode::Http, Component::Parsing, 1.0),
    )
    .unwrap();
    std::fs::write(
        dir.join("slow.json"),
        common::scaled_profile_json("junit-box", Mode::Http, Component::Parsing, 1.3),
    )
    .unwrap();
    let o = command(dir, &["baseline", "update", "--profile", "base.json"], &[])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let args = [
        "check",
        "--profile",
        "slow.json",
        "--baseline-file",
        "baselines/junit-box.json",
        "--no-comment",
        "--junit",
        "out/junit.xml",
        "--report",
        "verdict.json",
    ];
    let o = command(dir, &args, &[]).output().unwrap();
    assert_eq!(o.status.code(), Some(100), "{}", stderr(&o));
    let xml = std::fs::read_to_string(dir.join("out/junit.xml")).unwrap();
    assert!(xml.starts_with("<?xml"), "{xml}");
    assert!(xml.contains("<failure "), "{xml}");
    assert!(
        xml.contains(r#"<testcase name="fixture/chain-3hop/latency""#),
        "{xml}"
    );
    let verdict: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("verdict.json")).unwrap()).unwrap();
    assert_eq!(verdict["verdict"], "regression");
    let cases = xml.matches("<testcase ").count();
    assert_eq!(cases, verdict["metrics"].as_array().unwrap().len());
}
