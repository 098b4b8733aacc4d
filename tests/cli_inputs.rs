//! Inputs the gate must not trust, end to end with the real binary: a baseline file that is
//! not there, a baseline path that holds no file in git, non-finite configuration values, and a
//! GitHub API (the local fake) that echoes the token, loops its pages, or is named wrongly.
//! Each either fails with one line or warns while the verdict's exit code stands.

mod support {
    pub mod fake_github;
    pub mod project;
}

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{stderr, stdout};
use support::fake_github::{ErrorBody, FakeGithub, NextLink};
use support::project::Project;

/// A token shaped like the ones Actions hands out.
const GHS: &str = "ghs_16C7e42F292c6912E7710c838347Ae178B4a";

/// The `error:` lines of a failed run: exactly one.
fn error_line(o: &Output) -> String {
    let err = stderr(o);
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    lines[0].to_string()
}

#[test]
fn a_baseline_file_that_is_not_there_is_an_error_not_a_pass() {
    let p = Project::new("");
    let o = p.run(
        &[
            "check",
            "--profile",
            "slow.json",
            "--baseline-file",
            "/nonexistent/typo.json",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(101), "{}", stderr(&o));
    assert_eq!(
        error_line(&o),
        "error: baseline file /nonexistent/typo.json does not exist"
    );
    assert!(stderr(&o).contains("hint: check the path given to --baseline-file"));
    assert!(stdout(&o).is_empty());

    // A directory there is no baseline either.
    let o = p.run(
        &[
            "check",
            "--profile",
            "slow.json",
            "--baseline-file",
            "fixtures",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(101), "{}", stderr(&o));
    assert!(
        error_line(&o).contains("failed to read fixtures"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_baseline_path_that_holds_no_file_at_the_merge_base_is_an_error_naming_path_and_commit() {
    let p = Project::new("");
    let dir = p.root().join("baselines/ci-box.json");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("oops.json"), "{}").unwrap();
    p.commit("a directory where the baseline goes");
    let at = p
        .repo
        .head()
        .unwrap()
        .peel_to_commit()
        .unwrap()
        .id()
        .to_string();
    p.feature_branch();
    let o = p.run(&["check", "--profile", "slow.json"], &[]);
    assert_eq!(o.status.code(), Some(101), "{}", stderr(&o));
    let line = error_line(&o);
    assert!(
        line.contains(&format!("baselines/ci-box.json at {}", &at[..7])),
        "{line}"
    );
    assert!(line.contains("not a file but a directory"), "{line}");

    // A symbolic link to a directory, or to nothing, is no file either.
    for target in ["../fixtures", "gone.json"] {
        p.repo.set_head("refs/heads/main").unwrap();
        std::fs::remove_dir_all(p.root().join("baselines")).unwrap();
        std::fs::create_dir(p.root().join("baselines")).unwrap();
        std::os::unix::fs::symlink(target, &dir).unwrap();
        p.commit("a link where the baseline goes");
        let o = p.run(&["check", "--profile", "slow.json"], &[]);
        assert_eq!(o.status.code(), Some(101), "{target}: {}", stderr(&o));
        let line = error_line(&o);
        assert!(line.contains("baselines/ci-box.json at "), "{line}");
        assert!(line.contains("not a file but"), "{line}");
    }

    // A link to a baseline file is read through, as a checkout would.
    p.repo.set_head("refs/heads/main").unwrap();
    std::fs::remove_dir_all(p.root().join("baselines")).unwrap();
    let o = p.run(&["baseline", "update", "--profile", "base.json"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    std::fs::create_dir(p.root().join("store")).unwrap();
    std::fs::rename(&dir, p.root().join("store/ci-box.json")).unwrap();
    std::os::unix::fs::symlink("../store/ci-box.json", &dir).unwrap();
    p.commit("the baseline behind a link");
    let o = p.run(&["check", "--profile", "slow.json"], &[]);
    assert_eq!(o.status.code(), Some(100), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("Comparing against baselines/ci-box.json at"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_non_finite_config_value_is_an_error_naming_the_key_and_the_manifest() {
    for (meta, key) in [
        ("threshold-pct = nan", "threshold-pct"),
        ("alpha = inf", "alpha"),
    ] {
        let p = Project::new(meta);
        let o = p.run(&["check", "--profile", "base.json"], &[]);
        assert_eq!(o.status.code(), Some(101), "{meta}: {}", stderr(&o));
        let line = error_line(&o);
        assert!(
            line.contains(&format!("at `{key}`: not a finite number"))
                && line.contains("Cargo.toml"),
            "{line}"
        );
    }
}

/// The environment of a pull-request job against the fake, with `token` as GITHUB_TOKEN.
fn pr_env<'a>(fake: &'a FakeGithub, token: &'a str) -> [(&'static str, &'a str); 4] {
    [
        ("GITHUB_API_URL", fake.url.as_str()),
        ("GITHUB_TOKEN", token),
        ("GITHUB_REPOSITORY", "acme/proxy"),
        ("GITHUB_REF", "refs/pull/3/merge"),
    ]
}

#[test]
fn a_token_with_a_trailing_newline_is_trimmed_and_posts() {
    let p = Project::new("").with_baseline();
    let fake = FakeGithub::start();
    let token = format!("{GHS}\n");
    let o = p.run(&["check", "--profile", "slow.json"], &pr_env(&fake, &token));
    assert_eq!(o.status.code(), Some(100), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("Commented on pull request #3"),
        "{}",
        stderr(&o)
    );
    let s = fake.state.lock().unwrap();
    assert_eq!(s.auth[0], format!("Bearer {GHS}"));
    assert_eq!(s.comments.len(), 1);
}

#[test]
fn a_token_that_is_no_header_value_warns_and_the_verdict_stands() {
    let p = Project::new("").with_baseline();
    let fake = FakeGithub::start();
    let token = "ghs_first\nghs_second";
    for (profile, code) in [("slow.json", 100), ("base.json", 0)] {
        let o = p.run(&["check", "--profile", profile], &pr_env(&fake, token));
        assert_eq!(o.status.code(), Some(code), "{}", stderr(&o));
        let err = stderr(&o);
        assert!(
            err.contains("warning: failed to authenticate to GitHub: the token in GITHUB_TOKEN is not a valid HTTP header value: not posting"),
            "{err}"
        );
        assert!(!err.contains("panicked") && !err.contains("ghs_"), "{err}");
    }
    let o = p.run(
        &["check", "--profile", "slow.json", "--require-comment"],
        &pr_env(&fake, token),
    );
    assert_eq!(o.status.code(), Some(101), "{}", stderr(&o));
    assert!(error_line(&o).contains("not a valid HTTP header value"));
    assert!(
        fake.state.lock().unwrap().log.is_empty(),
        "nothing was sent"
    );
}

#[test]
fn a_server_that_echoes_the_token_does_not_get_it_into_the_output() {
    let p = Project::new("").with_baseline();
    p.saved_report("3");
    let basic = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{GHS}"))
    };
    let cases: [(&[&str], Vec<u16>, ErrorBody, i32); 4] = [
        (
            &["check", "--profile", "slow.json"],
            vec![401],
            ErrorBody::EchoJson,
            100,
        ),
        // Four attempts with backoff: about 3.5 s.
        (
            &["check", "--profile", "base.json"],
            vec![502; 4],
            ErrorBody::EchoHtml,
            0,
        ),
        (
            &["comment", "--report", "report.json"],
            vec![403],
            ErrorBody::EchoJson,
            101,
        ),
        (
            &["comment", "--report", "report.json"],
            vec![422],
            ErrorBody::EchoHtml,
            101,
        ),
    ];
    for (args, forced, body, code) in cases {
        let fake = FakeGithub::start();
        {
            let mut s = fake.state.lock().unwrap();
            s.forced = forced.clone();
            s.error_body = body;
        }
        let o = p.run(args, &pr_env(&fake, GHS));
        let all = format!("{}{}", stdout(&o), stderr(&o));
        assert_eq!(o.status.code(), Some(code), "{args:?} {forced:?}: {all}");
        assert!(all.contains("Bearer ***"), "the server echoed it: {all}");
        assert!(!all.contains(GHS), "{args:?} {forced:?}: {all}");
        assert!(!all.contains("16C7e42F"), "{all}");
        assert!(!all.contains(&basic[24..60]), "{all}");
        assert!(
            fake.state.lock().unwrap().forced.is_empty(),
            "every error was answered"
        );
    }
}

#[test]
fn a_pagination_loop_is_stopped_and_no_duplicate_comment_is_posted() {
    let p = Project::new("").with_baseline();
    p.saved_report("3");
    let fake = FakeGithub::start();
    fake.add_comment(3, "a human");
    fake.state.lock().unwrap().next = NextLink::ToItself;
    let o = p.run(&["check", "--profile", "slow.json"], &pr_env(&fake, GHS));
    assert_eq!(o.status.code(), Some(100), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("warning: failed to find the gate's comment"),
        "{err}"
    );
    assert!(err.contains("not posting"), "{err}");
    let o = p.run(&["comment", "--report", "report.json"], &pr_env(&fake, GHS));
    assert_eq!(o.status.code(), Some(101), "{}", stderr(&o));
    let s = fake.state.lock().unwrap();
    assert_eq!(s.log.len(), 2, "one GET per run: {:?}", s.log);
    assert_eq!(s.comments.len(), 1, "no comment was added");
}

#[test]
fn a_bad_repository_or_pull_request_number_is_refused_before_any_request() {
    let p = Project::new("").with_baseline();
    p.saved_report("3");
    let fake = FakeGithub::start();
    let mut env = pr_env(&fake, GHS);
    env[2] = ("GITHUB_REPOSITORY", "o/r?x=1#");
    let o = p.run(&["check", "--profile", "slow.json"], &env);
    assert_eq!(o.status.code(), Some(100), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("warning: failed to find the pull request: GITHUB_REPOSITORY `o/r?x=1#` is not owner/name"),
        "{}",
        stderr(&o)
    );
    let o = p.run(&["comment", "--report", "report.json"], &env);
    assert_eq!(o.status.code(), Some(101), "{}", stderr(&o));
    assert!(
        error_line(&o).contains("is not owner/name"),
        "{}",
        stderr(&o)
    );

    let env = pr_env(&fake, GHS);
    for args in [
        &["check", "--profile", "slow.json", "--pr", "0"][..],
        &["comment", "--report", "report.json", "--pr", "0"][..],
    ] {
        let o = p.run(args, &env);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("--pr"), "{}", stderr(&o));
    }
    assert!(fake.state.lock().unwrap().log.is_empty());
}

#[test]
fn without_manifest_path_the_member_of_the_current_directory_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(
        root.join("Cargo.toml"),
        "[workspace]\nmembers = [\"a\"]\nresolver = \"2\"\n\n[workspace.metadata.meshinsight]\nthreshold-pct = 7.5\n",
    )
    .unwrap();
    std::fs::create_dir_all(root.join("a/src")).unwrap();
    std::fs::write(root.join("a/src/lib.rs"), "").unwrap();
    std::fs::write(
        root.join("a/Cargo.toml"),
        "[package]\nname = \"a\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[package.metadata.meshinsight]\nthreshold-pct = nan\n",
    )
    .unwrap();
    let run = |cwd: &Path| {
        Command::new(env!("CARGO_BIN_EXE_cargo-meshinsight"))
            .args(["meshinsight", "check", "--profile", "none.json"])
            .current_dir(cwd)
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    };
    // In the member (or below it) its table is read, and its `nan` is an error.
    for cwd in [root.join("a"), root.join("a/src")] {
        let o = run(&cwd);
        assert_eq!(o.status.code(), Some(101), "{}", stderr(&o));
        let line = error_line(&o);
        assert!(
            line.contains("[package.metadata.meshinsight]")
                && line.contains("a/Cargo.toml")
                && line.contains("at `threshold-pct`: not a finite number"),
            "{line}"
        );
    }
    // At the workspace root only the workspace table is read: the check gets past its
    // fixtures as far as the missing profile.
    std::fs::create_dir_all(root.join("fixtures/ecg")).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/ecg/chain-3hop.toml"),
        root.join("fixtures/ecg/chain-3hop.toml"),
    )
    .unwrap();
    let o = run(root);
    assert_eq!(o.status.code(), Some(101), "{}", stderr(&o));
    assert!(!stderr(&o).contains("threshold-pct"), "{}", stderr(&o));
    assert!(stderr(&o).contains("none.json"), "{}", stderr(&o));
}
