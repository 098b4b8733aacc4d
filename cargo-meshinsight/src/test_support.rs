//! Helpers the unit tests of several layers share: the repository's fixtures, the paper
//! profile with fit statistics, and a real git repository in a temporary directory.

pub(crate) mod hostile;

use std::path::{Path, PathBuf};

use git2::Repository;

use crate::ecg::Ecg;
use crate::gate::{Baseline, CompareSettings, Correction, Loaded, Snapshot};
use crate::model::Profile;
use crate::vocab::{Component, Mode};

pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub(crate) fn ecgs() -> Vec<Ecg> {
    ["chain-3hop.toml", "bookinfo.toml", "mixed-modes.toml"]
        .iter()
        .map(|f| load_ecg(&repo_root().join("fixtures/ecg").join(f)))
        .collect()
}

/// The paper profile with fit statistics: every coefficient gets a standard error of
/// `rel_se` of its value (slopes get 1e-4 µs/B), as if fitted from repeated runs.
pub(crate) fn fitted(rel_se: f64) -> Profile {
    let mut p = Profile::paper();
    p.platform.id = "test-box".into();
    for mp in p.modes.values_mut() {
        let sets = std::iter::once(&mut mp.components)
            .chain(mp.filters.values_mut().map(|f| &mut f.components));
        for cs in sets {
            for m in cs.values_mut() {
                for lm in [&mut m.latency, &mut m.cpu] {
                    lm.base_se_us = Some(rel_se * lm.base_us.abs());
                    lm.per_byte_se_us = Some(1e-4);
                    lm.cov = Some(0.0);
                    lm.n = Some(40);
                }
            }
        }
    }
    p
}

/// One component model of `p`: of `mode`, or of `filter` on it.
pub(crate) fn component_mut(
    p: &mut Profile,
    mode: Mode,
    filter: Option<crate::vocab::Filter>,
    c: Component,
) -> &mut crate::model::ComponentModel {
    let mp = p.modes.get_mut(&mode).unwrap();
    let components = match filter {
        None => &mut mp.components,
        Some(f) => &mut mp.filters.get_mut(&f).unwrap().components,
    };
    components.get_mut(&c).unwrap()
}

/// `p` with one component's latency and CPU intercepts scaled by `factor`.
pub(crate) fn scaled(mut p: Profile, mode: Mode, c: Component, factor: f64) -> Profile {
    let m = component_mut(&mut p, mode, None, c);
    m.latency.base_us *= factor;
    m.cpu.base_us *= factor;
    p
}

pub(crate) fn snap(p: Profile) -> Snapshot {
    Snapshot::new(p, &ecgs()).unwrap()
}

pub(crate) struct Project {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) repo: Repository,
}

impl Project {
    pub(crate) fn new() -> Project {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        let mut cfg = repo.config().unwrap();
        cfg.set_str("user.name", "Test").unwrap();
        cfg.set_str("user.email", "test@example.com").unwrap();
        let p = Project { dir, repo };
        p.write("README", "demo\n");
        p.commit("initial");
        // Name the first branch `main` whatever init.defaultBranch says.
        {
            let head = p.repo.head().unwrap().peel_to_commit().unwrap();
            p.repo.branch("main", &head, true).unwrap();
        }
        p.repo.set_head("refs/heads/main").unwrap();
        p
    }

    pub(crate) fn root(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn write(&self, rel: &str, text: &str) {
        let path = self.root().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    pub(crate) fn commit(&self, msg: &str) -> git2::Oid {
        let mut index = self.repo.index().unwrap();
        index
            .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
            .unwrap();
        index.write().unwrap();
        let tree = self.repo.find_tree(index.write_tree().unwrap()).unwrap();
        let sig = self.repo.signature().unwrap();
        let parents: Vec<git2::Commit<'_>> = self
            .repo
            .head()
            .ok()
            .and_then(|h| h.peel_to_commit().ok())
            .into_iter()
            .collect();
        let parents: Vec<&git2::Commit<'_>> = parents.iter().collect();
        self.repo
            .commit(Some("HEAD"), &sig, &sig, msg, &tree, &parents)
            .unwrap()
    }

    pub(crate) fn checkout_new_branch(&self, name: &str) {
        let head = self.repo.head().unwrap().peel_to_commit().unwrap();
        self.repo.branch(name, &head, false).unwrap();
        self.repo.set_head(&format!("refs/heads/{name}")).unwrap();
    }

    pub(crate) fn switch(&self, name: &str) {
        self.repo.set_head(&format!("refs/heads/{name}")).unwrap();
        self.repo
            .checkout_head(Some(git2::build::CheckoutBuilder::new().force()))
            .unwrap();
    }

    pub(crate) fn baseline_file(&self) -> PathBuf {
        self.root().join("baselines/test-box.json")
    }
}

pub(crate) fn version(ipc_factor: f64) -> Baseline {
    Baseline::new(
        snap(scaled(fitted(0.01), Mode::Http, Component::Ipc, ipc_factor)),
        &[],
    )
}

/// The gate's default comparison: 5 % threshold, α 0.05, Holm.
pub(crate) fn compare_settings() -> CompareSettings {
    CompareSettings {
        threshold_pct: 5.0,
        alpha: 0.05,
        correction: Correction::Holm,
    }
}

/// `b` as a loaded baseline with one version of history.
pub(crate) fn loaded(b: Snapshot) -> Loaded {
    loaded_with_history(b, 1)
}

/// `b` as a loaded baseline with `versions` identical versions of history.
pub(crate) fn loaded_with_history(b: Snapshot, versions: usize) -> Loaded {
    let baseline = Baseline::new(b, &[]);
    Loaded {
        history: vec![baseline.clone(); versions],
        baseline,
        origin: "test".into(),
        commit: None,
    }
}

pub(crate) fn ipc_of(b: &Baseline) -> f64 {
    b.snapshot.profile.modes[&Mode::Http].components[&Component::Ipc]
        .latency
        .base_us
}

/// The ECG fixture at `path`; panics when it is not valid.
pub(crate) fn load_ecg(path: &Path) -> Ecg {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Ecg::parse(&text, path).unwrap_or_else(|e| panic!("{e}"))
}

/// The profile at `path`; panics when it is not valid.
pub(crate) fn load_profile(path: &Path) -> Profile {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Profile::from_json(&text, path).unwrap_or_else(|e| panic!("{e}"))
}

/// The `.toml` and `.json` fixtures under `dir`, recursively, sorted.
pub(crate) fn fixtures_in(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "toml" || e == "json") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}
