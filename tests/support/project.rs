//! The temporary project of the gate's end-to-end tests: a crate with the gate configured, two
//! fixtures and two profiles, in a real git repository on `main`. Included from `tests/*.rs`
//! that also declare `mod common;`.

#![allow(dead_code, reason = "each test crate uses some of these helpers")]

use std::path::Path;
use std::process::{Command, Output};

use cargo_meshinsight::vocab::{Component, Mode};
use git2::Repository;

use crate::common;

/// A crate with the gate configured (`meta` appended to its table), two fixtures and two
/// profiles (`base.json`, `slow.json`: a regression), in git on `main`.
pub struct Project {
    pub dir: tempfile::TempDir,
    pub repo: Repository,
}

impl Project {
    pub fn new(meta: &str) -> Project {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(
            root.join("Cargo.toml"),
            format!(
                "[package]\nname = \"proxy\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[lib]\npath = \"lib.rs\"\n\n[workspace]\n\n[workspace.metadata.meshinsight]\nfixtures = [\"fixtures/*.toml\"]\n{meta}\n"
            ),
        )
        .unwrap();
        std::fs::write(root.join("lib.rs"), "").unwrap();
        std::fs::create_dir(root.join("fixtures")).unwrap();
        for f in ["chain-3hop.toml", "bookinfo.toml"] {
            std::fs::copy(
                common::root().join("fixtures/ecg").join(f),
                root.join("fixtures").join(f),
            )
            .unwrap();
        }
        std::fs::write(
            root.join("base.json"),
            common::scaled_profile_json("ci-box", Mode::Http, Component::Parsing, 1.0),
        )
        .unwrap();
        std::fs::write(
            root.join("slow.json"),
            common::scaled_profile_json("ci-box", Mode::Http, Component::Parsing, 1.2),
        )
        .unwrap();
        std::fs::write(root.join(".gitignore"), "/*.json\ntarget\n").unwrap();
        let repo = Repository::init(root).unwrap();
        {
            let mut cfg = repo.config().unwrap();
            cfg.set_str("user.name", "Test").unwrap();
            cfg.set_str("user.email", "test@example.com").unwrap();
        }
        repo.set_head("refs/heads/main").unwrap();
        let p = Project { dir, repo };
        p.commit("initial");
        p
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Commits the whole working tree (deletions too) on the current branch.
    pub fn commit(&self, msg: &str) {
        let mut index = self.repo.index().unwrap();
        index.clear().unwrap();
        index
            .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
            .unwrap();
        index.write().unwrap();
        let tree = self.repo.find_tree(index.write_tree().unwrap()).unwrap();
        let sig = self.repo.signature().unwrap();
        let parent = self.repo.head().ok().and_then(|h| h.peel_to_commit().ok());
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        let id = self
            .repo
            .commit(None, &sig, &sig, msg, &tree, &parents)
            .unwrap();
        let branch = self
            .repo
            .find_reference("HEAD")
            .ok()
            .and_then(|r| r.symbolic_target().ok().flatten().map(String::from))
            .expect("HEAD names a branch");
        self.repo.reference(&branch, id, true, msg).unwrap();
    }

    /// Moves to a new branch `name` at the current commit.
    pub fn branch(&self, name: &str) {
        let head = self.repo.head().unwrap().peel_to_commit().unwrap();
        self.repo.branch(name, &head, false).unwrap();
        self.repo.set_head(&format!("refs/heads/{name}")).unwrap();
    }

    /// Moves to a new branch `feature` at the current commit.
    pub fn feature_branch(&self) {
        self.branch("feature");
    }

    /// The binary under test in the project, without any `GITHUB_*` of this environment.
    pub fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cargo-meshinsight"));
        cmd.arg("meshinsight")
            .args(args)
            .current_dir(self.root())
            .env("NO_COLOR", "1");
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("GITHUB_") {
                cmd.env_remove(k);
            }
        }
        cmd.envs(env.iter().copied());
        cmd.output().unwrap()
    }

    /// Records the baseline of `base.json` on main and moves to a feature branch.
    pub fn with_baseline(self) -> Project {
        let o = self.run(
            &["baseline", "update", "--profile", "base.json", "--commit"],
            &[],
        );
        assert_eq!(o.status.code(), Some(0), "{}", common::stderr(&o));
        self.feature_branch();
        self
    }

    /// A `check` verdict of `slow.json` saved as `report.json`, for `comment`, on PR `pr`.
    pub fn saved_report(&self, pr: &str) {
        let o = self.run(
            &[
                "check",
                "--profile",
                "slow.json",
                "--report",
                "report.json",
                "--pr",
                pr,
            ],
            &[("GITHUB_REPOSITORY", "acme/proxy")],
        );
        assert_eq!(o.status.code(), Some(100), "{}", common::stderr(&o));
    }
}
