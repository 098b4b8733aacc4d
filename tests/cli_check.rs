//! `cargo meshinsight check`, `baseline update` and `comment` end to end: the real binary on a
//! temporary project in a real git repository, and a local fake of the GitHub API.

mod support {
    pub mod fake_github;
    pub mod project;
}

mod common;

use std::process::Command;

use common::{stderr, stdout};
use support::fake_github::FakeGithub;
use support::project::Project;

#[test]
fn baseline_update_commits_and_check_passes_on_the_same_profile() {
    let p = Project::new("").with_baseline();
    let head = p.repo.head().unwrap().peel_to_commit().unwrap();
    assert_eq!(
        head.message().unwrap(),
        "meshinsight: update baseline for ci-box"
    );
    let file = p.root().join("baselines/ci-box.json");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(doc["format_version"], 1);
    assert_eq!(doc["platform_id"], "ci-box");
    assert_eq!(doc["fixtures"].as_array().unwrap().len(), 2);

    let o = p.run(&["check", "--profile", "base.json"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("pass: no regression in"), "{out}");
    assert!(out.contains("merge base with main"), "{out}");
}

#[test]
fn a_slower_profile_is_a_regression_with_exit_100_and_names_parsing() {
    let p = Project::new("").with_baseline();
    let o = p.run(&["check", "--profile", "slow.json"], &[]);
    assert_eq!(o.status.code(), Some(100), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("regression"), "{out}");
    assert!(out.contains("mostly parsing"), "{out}");

    let o = p.run(
        &["check", "--profile", "slow.json", "--format", "json"],
        &[],
    );
    assert_eq!(o.status.code(), Some(100));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["verdict"], "regression");
    let chain = v["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["key"] == "fixture/chain-3hop/latency")
        .unwrap();
    assert_eq!(chain["verdict"], "regression");
    assert_eq!(chain["parts"][0]["part"], "parsing");
    // The primary family decides; coefficients only attribute.
    assert_eq!(v["format_version"], 2);
    assert!(
        v["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["id"]["kind"] != "coefficient")
    );
    let parsing = v["coefficients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["key"] == "coef/http/parsing/latency/base")
        .unwrap();
    assert!(parsing["delta"].as_f64().unwrap() > 24.0, "{parsing}");
    // 5 HTTP traversals × 20% × 122.07 µs.
    assert!((chain["delta"].as_f64().unwrap() - 122.07).abs() < 1e-6);

    // A higher threshold lets it through.
    let o = p.run(
        &["check", "--profile", "slow.json", "--threshold", "25"],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}

#[test]
fn missing_baseline_passes_with_a_warning_or_fails_when_required() {
    let p = Project::new("");
    let o = p.run(&["check", "--profile", "slow.json"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("no baseline for platform `ci-box`"));
    let o = p.run(
        &["check", "--profile", "slow.json", "--require-baseline"],
        &[],
    );
    assert_eq!(o.status.code(), Some(101));
    let err = stderr(&o);
    assert!(
        err.contains("error: no baseline for platform `ci-box`"),
        "{err}"
    );
    assert!(err.contains("hint:"), "{err}");
    assert!(stdout(&o).is_empty());
}

#[test]
fn malformed_baseline_and_config_fail_with_one_line_naming_the_file() {
    let p = Project::new("");
    std::fs::create_dir(p.root().join("baselines")).unwrap();
    std::fs::write(
        p.root().join("baselines/ci-box.json"),
        "{\"format_version\": 1,",
    )
    .unwrap();
    p.commit("broken baseline");
    let o = p.run(&["check", "--profile", "base.json"], &[]);
    assert_eq!(o.status.code(), Some(101));
    let err = stderr(&o);
    let first = err.lines().find(|l| l.starts_with("error:")).unwrap();
    assert!(
        first.contains("invalid baseline baselines/ci-box.json at"),
        "{err}"
    );
    assert!(stdout(&o).is_empty());

    let p = Project::new("threshold-pct = -3");
    let o = p.run(&["check", "--profile", "base.json"], &[]);
    assert_eq!(o.status.code(), Some(101));
    let err = stderr(&o);
    assert!(
        err.contains("Cargo.toml") && err.contains("threshold-pct"),
        "{err}"
    );

    // baseline update on a malformed profile writes nothing.
    let p = Project::new("");
    std::fs::write(p.root().join("bad.json"), "{}").unwrap();
    let o = p.run(&["baseline", "update", "--profile", "bad.json"], &[]);
    assert_eq!(o.status.code(), Some(101));
    assert!(stderr(&o).contains("bad.json"));
    assert!(!p.root().join("baselines").exists());
}

#[test]
fn check_comments_on_the_pull_request_and_updates_the_comment_next_time() {
    let p = Project::new("").with_baseline();
    let fake = FakeGithub::start();
    fake.add_comment(12, "a human");
    let event = p.root().join("event.json");
    std::fs::write(&event, r#"{"pull_request": {"number": 12}}"#).unwrap();
    let summary = p.root().join("summary.md");
    let env = [
        ("GITHUB_API_URL", fake.url.as_str()),
        ("GITHUB_TOKEN", "tok-123"),
        ("GITHUB_REPOSITORY", "acme/proxy"),
        ("GITHUB_EVENT_PATH", event.to_str().unwrap()),
        ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
    ];
    let o = p.run(&["check", "--profile", "slow.json"], &env);
    assert_eq!(o.status.code(), Some(100), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("Commented on pull request #12"),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("tok-123"));
    let o = p.run(&["check", "--profile", "base.json"], &env);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("Updated on pull request #12"),
        "{}",
        stderr(&o)
    );
    {
        let s = fake.state.lock().unwrap();
        assert_eq!(s.comments.len(), 2);
        let body = &s.comments[1].2;
        assert!(
            body.starts_with("<!-- cargo-meshinsight:gate:ci-box -->"),
            "{body}"
        );
        assert!(body.contains("pass: no regression"), "{body}");
        assert!(body.contains("<details>"), "{body}");
        assert!(s.auth.iter().all(|a| a.contains("tok-123")));
        assert!(s.next_id > 1000 && s.forced.is_empty() && !s.log.is_empty());
    }
    let summary = std::fs::read_to_string(&summary).unwrap();
    assert_eq!(summary.matches("### ").count(), 2, "{summary}");
    assert!(
        summary.contains("| fixture/chain-3hop/latency"),
        "{summary}"
    );
}

#[test]
fn forbidden_comment_warns_and_keeps_the_verdict_unless_required() {
    let p = Project::new("").with_baseline();
    let fake = FakeGithub::start();
    let env = [
        ("GITHUB_API_URL", fake.url.as_str()),
        ("GITHUB_TOKEN", "tok"),
        ("GITHUB_REPOSITORY", "acme/proxy"),
        ("GITHUB_REF", "refs/pull/3/merge"),
    ];
    fake.state.lock().unwrap().forced = vec![403];
    let o = p.run(&["check", "--profile", "slow.json"], &env);
    assert_eq!(o.status.code(), Some(100), "{}", stderr(&o));
    assert!(stderr(&o).contains("warning:") && stderr(&o).contains("403"));
    fake.state.lock().unwrap().forced = vec![403];
    let o = p.run(
        &["check", "--profile", "slow.json", "--require-comment"],
        &env,
    );
    assert_eq!(o.status.code(), Some(101), "{}", stderr(&o));
}

#[test]
fn comment_posts_a_saved_report_for_the_workflow_run_job() {
    let p = Project::new("").with_baseline();
    p.saved_report("21");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.root().join("report.json")).unwrap())
            .unwrap();
    assert_eq!(report["pull_request"], 21);
    let fake = FakeGithub::start();
    let env = [
        ("GITHUB_API_URL", fake.url.as_str()),
        ("GITHUB_TOKEN", "tok"),
        ("GITHUB_REPOSITORY", "acme/proxy"),
    ];
    let o = p.run(&["comment", "--report", "report.json"], &env);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let s = fake.state.lock().unwrap();
    assert_eq!(s.comments.len(), 1);
    assert_eq!(s.comments[0].0, 21);
    assert!(s.comments[0].2.contains("❌"), "{}", s.comments[0].2);
    drop(s);
    // Without a token `comment` fails: it has nothing else to do.
    let o = p.run(
        &["comment", "--report", "report.json"],
        &[("GITHUB_REPOSITORY", "acme/proxy")],
    );
    assert_eq!(o.status.code(), Some(101));
    assert!(
        stderr(&o).contains("GITHUB_TOKEN is not set"),
        "{}",
        stderr(&o)
    );
    std::fs::write(p.root().join("bad.json"), "[]").unwrap();
    let o = p.run(&["comment", "--report", "bad.json"], &env);
    assert_eq!(o.status.code(), Some(101));
    assert!(
        stderr(&o).contains("invalid report bad.json"),
        "{}",
        stderr(&o)
    );
}

/// Replaces 7-hex-digit commit ids (they depend on the clock) with `<commit>`.
fn redact_commits(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find(" at ") {
        let (head, tail) = rest.split_at(i + 4);
        out.push_str(head);
        let hex = tail.chars().take_while(|c| c.is_ascii_hexdigit()).count();
        if hex == 7 {
            out.push_str("<commit>");
            rest = &tail[7..];
        } else {
            rest = tail;
        }
    }
    out.push_str(rest);
    out
}

#[test]
fn check_help() {
    let p = Project::new("");
    let o = p.run(&["check", "--help"], &[]);
    assert_eq!(o.status.code(), Some(0));
    insta::assert_snapshot!(stdout(&o));
}

#[test]
fn regression_markdown_comment() {
    let p = Project::new("").with_baseline();
    let o = p.run(
        &["check", "--profile", "slow.json", "--format", "markdown"],
        &[
            ("GITHUB_SHA", "fedcba9876543210fedcba9876543210fedcba98"),
            ("GITHUB_SERVER_URL", "https://github.com"),
            ("GITHUB_REPOSITORY", "acme/proxy"),
            ("GITHUB_RUN_ID", "42"),
        ],
    );
    assert_eq!(o.status.code(), Some(100), "{}", stderr(&o));
    insta::assert_snapshot!(redact_commits(&stdout(&o)));
}

/// The flags of the unpaired check imply it; the base's flags and the time budget belong to
/// the paired check and conflict with them; a bad duration is a usage error.
#[test]
fn unpaired_flags_imply_unpaired_and_conflict_with_the_paired_ones() {
    let p = Project::new("").with_baseline();
    let o = p.run(&["check", "--profile", "slow.json", "--paired"], &[]);
    assert_eq!(o.status.code(), Some(100), "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with("Gate: regression:"),
        "{}",
        stdout(&o)
    );
    for args in [
        &[
            "check",
            "--profile",
            "base.json",
            "--base-sidecar",
            "builtin",
        ][..],
        &["check", "--baseline-file", "x.json", "--base-rev", "HEAD"],
        &["check", "--unpaired", "--time-budget", "1m"],
        &["check", "--unpaired", "--paired"],
        &["check", "--time-budget", "soon"],
    ] {
        let o = p.run(args, &[]);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
    }
}

/// A report of the first verdict format is refused in one line.
#[test]
fn comment_refuses_a_report_of_the_first_format() {
    let p = Project::new("");
    std::fs::write(
        p.root().join("old.json"),
        r#"{"format_version": 1, "verdict": "pass"}"#,
    )
    .unwrap();
    let o = p.run(&["comment", "--report", "old.json", "--pr", "1"], &[]);
    assert_eq!(o.status.code(), Some(101));
    let err = stderr(&o);
    let first = err.lines().next().unwrap();
    assert!(
        first.contains("invalid report old.json: format_version is 1, this build reads version 2"),
        "{err}"
    );
}

#[test]
fn libtest_trials_fail_on_a_regression_and_are_ignored_without_a_baseline() {
    use cargo_meshinsight::libtest::{GateTests, TrialOutcome};
    let p = Project::new("").with_baseline();
    let slow = GateTests::new(p.root().join("Cargo.toml"), p.root().join("slow.json")).evaluate();
    let mut names: Vec<&str> = slow.iter().map(|t| t.name.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "gate::bookinfo::cpu",
            "gate::bookinfo::latency",
            "gate::chain-3hop::cpu",
            "gate::chain-3hop::latency"
        ]
    );
    let chain = slow
        .iter()
        .find(|t| t.name == "gate::chain-3hop::latency")
        .unwrap();
    let TrialOutcome::Fail(msg) = &chain.outcome else {
        panic!("{chain:?}")
    };
    assert!(
        msg.starts_with("regression: 826 µs → 948 µs (+14.8%"),
        "{msg}"
    );
    assert!(msg.contains("moved most: parsing (100%)"), "{msg}");
    assert!(
        slow.iter()
            .all(|t| matches!(t.outcome, TrialOutcome::Fail(_)))
    );
    // The same trials through libtest-mimic: four trials, the regressions fail.
    let trials = GateTests::new(p.root().join("Cargo.toml"), p.root().join("slow.json")).trials();
    assert_eq!(trials.len(), 4);

    let same = GateTests::new(p.root().join("Cargo.toml"), p.root().join("base.json")).evaluate();
    assert!(
        same.iter().all(|t| t.outcome == TrialOutcome::Pass),
        "{same:?}"
    );

    let q = Project::new("");
    let none = GateTests::new(q.root().join("Cargo.toml"), q.root().join("slow.json")).evaluate();
    assert_eq!(none.len(), 4);
    assert!(
        none.iter()
            .all(|t| matches!(&t.outcome, TrialOutcome::Ignore(r) if r.contains("no baseline"))),
        "{none:?}"
    );

    // A gate that cannot run is one failing trial, not a pass.
    let broken =
        GateTests::new(q.root().join("Cargo.toml"), q.root().join("missing.json")).evaluate();
    assert_eq!(broken.len(), 1);
    assert_eq!(broken[0].name, "gate::setup");
    assert!(
        matches!(&broken[0].outcome, TrialOutcome::Fail(m) if m.contains("missing.json")),
        "{broken:?}"
    );
}

#[test]
fn successive_baseline_updates_record_the_history_spread() {
    let p = Project::new("");
    for profile in ["base.json", "slow.json", "base.json"] {
        let o = p.run(
            &["baseline", "update", "--profile", profile, "--commit"],
            &[],
        );
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    }
    let doc: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(p.root().join("baselines/ci-box.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(doc["history_versions"], 3);
    // Parsing latency went 122.07 → 146.484 → 122.07: MSSD sd = √(2 d² / 4) = d / √2.
    let d = 0.2 * 122.07;
    let sd = doc["spread"]["coef/http/parsing/latency/base"]
        .as_f64()
        .unwrap();
    assert!((sd - d / 2f64.sqrt()).abs() < 1e-6, "{sd}");
    assert_eq!(doc["spread"]["coef/http/ipc/latency/base"], 0.0);
    // Three commits on top of the initial one.
    let mut walk = p.repo.revwalk().unwrap();
    walk.push_head().unwrap();
    assert_eq!(walk.count(), 4);
}

#[test]
fn a_bin_sidecar_that_does_not_build_is_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("src/bin")).unwrap();
    std::fs::create_dir_all(root.join("fixtures")).unwrap();
    std::fs::copy(
        common::root().join("fixtures/ecg/chain-3hop.toml"),
        root.join("fixtures/chain-3hop.toml"),
    )
    .unwrap();
    std::fs::write(root.join("src/lib.rs"), "").unwrap();
    std::fs::write(
        root.join("src/bin/relay.rs"),
        "fn main() { let x: u32 = \"not a number\"; }\n",
    )
    .unwrap();
    std::fs::write(
        root.join("Cargo.toml"),
        "[package]\nname = \"relay\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n\n\
         [package.metadata.meshinsight]\nsidecar = { bin = \"relay\" }\nfixtures = [\"fixtures/*.toml\"]\n",
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_cargo-meshinsight"))
        .args(["check", "--quick", "--no-baseline", "--no-comment"])
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"))
        .env("NO_COLOR", "1")
        .env_remove("GITHUB_TOKEN")
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(101), "{err}");
    // Cargo's own diagnostics are shown, then one line of ours with a hint.
    assert!(err.contains("mismatched types"), "{err}");
    let ours: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("error: failed to build the sidecar binary `relay`"))
        .collect();
    assert_eq!(ours.len(), 1, "{err}");
    assert!(
        ours[0].contains("mismatched types at src/bin/relay.rs:1:"),
        "{err}"
    );
    assert!(
        err.contains("hint: cargo's messages are above; `cargo build --release --bin relay`"),
        "{err}"
    );
}

/// The table report of a regression fits the terminal: every line within `COLUMNS`.
#[test]
fn regression_table_fits_80_and_160_columns() {
    let p = Project::new("").with_baseline();
    for width in [80usize, 160] {
        let columns = width.to_string();
        let o = p.run(
            &["check", "--profile", "slow.json"],
            &[
                ("COLUMNS", columns.as_str()),
                ("GITHUB_SHA", "fedcba9876543210fedcba9876543210fedcba98"),
            ],
        );
        assert_eq!(o.status.code(), Some(100), "{}", stderr(&o));
        let text = redact_commits(&stdout(&o));
        for line in text.lines() {
            assert!(
                line.chars().count() <= width,
                "a line wider than {width}:\n{line}\n\n{text}"
            );
        }
        insta::assert_snapshot!(format!("regression_table_{width}"), text);
    }
}
