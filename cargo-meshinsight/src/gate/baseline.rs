//! Baselines: `baselines/<platform-id>.json`, read from git (through git2, never from the
//! working tree), from a path, or not at all; written atomically and optionally committed.
//! Schema: docs/gate.md.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use git2::{Oid, Repository};
use serde::{Deserialize, Serialize};

use super::compare::{Spread, spread_of};
use super::snapshot::Snapshot;
use super::{BaselineInvalid, GateError};

/// The version of the baseline file format this build reads and writes.
pub(crate) const FORMAT_VERSION: u32 = 1;

/// The largest magnitude of a stored figure (µs, cores, or a spread of either): far beyond
/// any prediction of a valid fixture and profile, far below where differences overflow.
const MAX_FIGURE: f64 = 1e15;

/// A baseline document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Baseline {
    /// Always [`FORMAT_VERSION`].
    pub(crate) format_version: u32,
    /// The platform id; the file is `<platform_id>.json`.
    pub(crate) platform_id: String,
    /// Version of the tool that wrote it.
    pub(crate) tool_version: String,
    /// The profile and the fixture results.
    #[serde(flatten)]
    pub(crate) snapshot: Snapshot,
    /// Run-to-run standard deviation per metric key, from this file's history when written.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) spread: Spread,
    /// How many versions (this one included) the spread was computed from.
    #[serde(default)]
    pub(crate) history_versions: usize,
}

impl Baseline {
    /// A baseline of `snapshot`, with the spread over `earlier` versions (oldest first) and it.
    pub(crate) fn new(snapshot: Snapshot, earlier: &[Baseline]) -> Baseline {
        let mut series: Vec<_> = earlier.iter().map(|b| b.snapshot.metrics()).collect();
        series.push(snapshot.metrics());
        Baseline {
            format_version: FORMAT_VERSION,
            platform_id: snapshot.profile.platform.id.clone(),
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            spread: spread_of(&series),
            history_versions: series.len(),
            snapshot,
        }
    }

    /// Parses and validates a baseline document; `origin` names it in errors.
    pub(crate) fn from_json(text: &str, origin: &str) -> Result<Baseline, GateError> {
        let invalid = |reason| GateError::InvalidBaseline {
            origin: origin.to_string(),
            reason,
        };
        let mut b: Baseline = crate::versioned::from_json(text, FORMAT_VERSION)
            .map_err(|e| invalid(BaselineInvalid::Document(e)))?;
        b.snapshot
            .profile
            .validate()
            .map_err(|e| invalid(BaselineInvalid::Profile(e)))?;
        if b.snapshot.profile.platform.id != b.platform_id {
            return Err(invalid(BaselineInvalid::PlatformMismatch {
                platform_id: b.platform_id.clone(),
                profile: b.snapshot.profile.platform.id.clone(),
            }));
        }
        b.check_numbers().map_err(invalid)?;
        b.snapshot.profile.find_unstored_splits();
        Ok(b)
    }

    /// Checks the numbers the profile's rules do not cover: spreads and standard errors are
    /// not negative, and no figure is beyond [`MAX_FIGURE`] (JSON has no infinity, but
    /// 1e308 minus -1e308 is one).
    fn check_numbers(&self) -> Result<(), BaselineInvalid> {
        use crate::model::Problem;
        let check = |at: String, v: f64, signed: bool| {
            let problem = if v.abs() > MAX_FIGURE {
                Problem::OutOfRange {
                    value: v,
                    max: MAX_FIGURE,
                }
            } else if !signed && v < 0.0 {
                Problem::Negative(v)
            } else {
                return Ok(());
            };
            Err(BaselineInvalid::Number { at, problem })
        };
        for (key, &v) in &self.spread {
            check(format!("spread.{key}"), v, false)?;
        }
        for (i, f) in self.snapshot.fixtures.iter().enumerate() {
            let at = |field: &str| format!("fixtures[{i}].{field}");
            check(at("latency_overhead_us"), f.latency_overhead_us, true)?;
            check(at("cpu_overhead_cores"), f.cpu_overhead_cores, true)?;
            for (field, se) in [
                ("latency_se_us", f.latency_se_us),
                ("cpu_se_cores", f.cpu_se_cores),
            ] {
                if let Some(se) = se {
                    check(at(field), se, false)?;
                }
            }
            for (part, c) in &f.components {
                check(
                    at(&format!("components.{part}.latency_us")),
                    c.latency_us,
                    true,
                )?;
                check(
                    at(&format!("components.{part}.cpu_cores")),
                    c.cpu_cores,
                    true,
                )?;
            }
        }
        Ok(())
    }

    /// Pretty JSON with a final newline.
    pub(crate) fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("a baseline serializes");
        s.push('\n');
        s
    }
}

/// The file name of a platform's baseline; the id must be usable as a file name.
pub(crate) fn file_name(platform_id: &str) -> Result<String, GateError> {
    let ok = !platform_id.is_empty()
        && !platform_id.starts_with('.')
        && platform_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+'));
    if !ok {
        return Err(GateError::BadPlatformId {
            id: platform_id.to_string(),
        });
    }
    Ok(format!("{platform_id}.json"))
}

/// Where a baseline is read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum BaselineSource {
    /// A git revision (commit, branch, tag), read through git2 without a checkout.
    GitRev(String),
    /// A file on disk.
    Path(PathBuf),
    /// No baseline: nothing is compared.
    None,
}

/// A baseline as loaded, with where it came from and its history.
#[derive(Clone, Debug)]
pub(crate) struct Loaded {
    /// The baseline.
    pub(crate) baseline: Baseline,
    /// Where it came from, for reports (`baselines/x.json at 1a2b3c4 (main)`).
    pub(crate) origin: String,
    /// Its commit, when read from git.
    pub(crate) commit: Option<String>,
    /// Earlier versions of the file on the first-parent line, oldest first, this one last.
    pub(crate) history: Vec<Baseline>,
}

impl Loaded {
    /// The run-to-run spread: from the git history when it has two versions or more, else
    /// the one stored in the file.
    pub(crate) fn spread(&self) -> (Spread, usize) {
        if self.history.len() >= 2 {
            let series: Vec<_> = self.history.iter().map(|b| b.snapshot.metrics()).collect();
            (spread_of(&series), self.history.len())
        } else {
            (self.baseline.spread.clone(), self.baseline.history_versions)
        }
    }
}

/// Maps a git2 error to [`GateError::Git`], saying what was being done.
pub(crate) fn git_err(what: impl Into<String>) -> impl FnOnce(git2::Error) -> GateError {
    let what = what.into();
    move |source| GateError::Git { what, source }
}

/// The repository that holds `root`, and the path of `file` relative to its working tree.
pub(crate) fn open_repo(root: &Path, file: &Path) -> Result<(Repository, PathBuf), GateError> {
    let repo = Repository::discover(root).map_err(git_err(format!(
        "find a git repository at {}",
        root.display()
    )))?;
    let workdir = repo
        .workdir()
        .ok_or_else(|| GateError::BareRepository {
            path: root.to_path_buf(),
        })?
        .canonicalize()
        .map_err(|source| GateError::Read {
            path: root.to_path_buf(),
            source,
        })?;
    // The file (and its directory) may not exist yet: resolve the nearest existing ancestor.
    let mut abs = file.to_path_buf();
    for anc in file.ancestors().skip(1) {
        if let Ok(real) = anc.canonicalize() {
            abs = real.join(file.strip_prefix(anc).unwrap_or(file));
            break;
        }
    }
    let rel = abs
        .strip_prefix(&workdir)
        .map_err(|_| GateError::OutsideRepository {
            path: file.to_path_buf(),
            workdir: workdir.clone(),
        })?
        .to_path_buf();
    Ok((repo, rel))
}

/// The merge base of `HEAD` with the target branch (`origin/<branch>` preferred, then the
/// local `<branch>`).
pub(crate) fn merge_base(repo: &Repository, branch: &str) -> Result<(Oid, String), GateError> {
    let head = repo
        .head()
        .and_then(|h| h.peel_to_commit())
        .map_err(git_err("read HEAD"))?;
    let candidates = [
        format!("refs/remotes/origin/{branch}"),
        format!("refs/heads/{branch}"),
    ];
    for name in &candidates {
        if let Ok(r) = repo.find_reference(name) {
            let target = r
                .peel_to_commit()
                .map_err(git_err(format!("read {name}")))?;
            let base = repo
                .merge_base(head.id(), target.id())
                .map_err(git_err(format!("find the merge base of HEAD and {name}")))?;
            let short = name
                .trim_start_matches("refs/remotes/")
                .trim_start_matches("refs/heads/");
            return Ok((base, short.to_string()));
        }
    }
    Err(GateError::NoTargetBranch {
        branch: branch.to_string(),
    })
}

/// What a commit's tree holds at a path.
enum AtPath {
    /// Nothing (or a directory on the way is missing).
    Missing,
    /// A file, found directly or through symbolic links inside the tree.
    File(Oid),
    /// Something else: what it is.
    NotAFile(String),
}

/// Symbolic links followed at most in a commit's tree.
const MAX_LINKS: usize = 8;

/// What `commit`'s tree holds at `rel`, following symbolic links inside the tree the way a
/// checkout would.
fn at_path(repo: &Repository, commit: &git2::Commit<'_>, rel: &Path) -> Result<AtPath, GateError> {
    let tree = commit.tree().map_err(git_err("read a commit's tree"))?;
    // Components still to resolve, the next on top; `done` is the directory reached so far.
    let mut todo: Vec<std::ffi::OsString> = rel.iter().rev().map(|c| c.to_os_string()).collect();
    let mut done = PathBuf::new();
    let mut links = 0;
    while let Some(name) = todo.pop() {
        if name == "." {
            continue;
        }
        if name == ".." {
            if !done.pop() {
                return Ok(AtPath::NotAFile(
                    "a symbolic link that leads out of the repository".into(),
                ));
            }
            continue;
        }
        let here = done.join(&name);
        let entry = match tree.get_path(&here) {
            Ok(e) => e,
            Err(e) if e.code() == git2::ErrorCode::NotFound => {
                return Ok(match links {
                    0 => AtPath::Missing,
                    _ => AtPath::NotAFile(format!(
                        "a symbolic link to {}, which does not exist",
                        here.display()
                    )),
                });
            }
            Err(e) => return Err(git_err(format!("look up {}", here.display()))(e)),
        };
        let last = todo.is_empty();
        match entry.kind() {
            Some(git2::ObjectType::Tree) if last => {
                return Ok(AtPath::NotAFile(format!(
                    "a directory ({})",
                    here.display()
                )));
            }
            Some(git2::ObjectType::Tree) => done = here,
            Some(git2::ObjectType::Blob) if entry.filemode() == 0o120000 => {
                links += 1;
                if links > MAX_LINKS {
                    return Ok(AtPath::NotAFile(format!(
                        "a chain of more than {MAX_LINKS} symbolic links"
                    )));
                }
                let target = repo.find_blob(entry.id()).map_err(git_err(format!(
                    "read the symbolic link {}",
                    here.display()
                )))?;
                let target = PathBuf::from(String::from_utf8_lossy(target.content()).as_ref());
                if target.is_absolute() {
                    return Ok(AtPath::NotAFile(format!(
                        "a symbolic link to the absolute path {}",
                        target.display()
                    )));
                }
                todo.extend(target.iter().rev().map(|c| c.to_os_string()));
            }
            Some(git2::ObjectType::Blob) if last => return Ok(AtPath::File(entry.id())),
            Some(git2::ObjectType::Blob) => {
                return Ok(AtPath::NotAFile(format!(
                    "{} is a file, not a directory",
                    here.display()
                )));
            }
            Some(git2::ObjectType::Commit) => {
                return Ok(AtPath::NotAFile(format!(
                    "a submodule ({})",
                    here.display()
                )));
            }
            _ => return Ok(AtPath::NotAFile("an unknown kind of git object".into())),
        }
    }
    Ok(AtPath::NotAFile(format!(
        "a directory ({})",
        done.display()
    )))
}

fn read_blob(repo: &Repository, id: Oid, origin: &str) -> Result<String, GateError> {
    let blob = repo
        .find_blob(id)
        .map_err(git_err(format!("read {origin}")))?;
    String::from_utf8(blob.content().to_vec()).map_err(|_| GateError::InvalidBaseline {
        origin: origin.to_string(),
        reason: BaselineInvalid::NotUtf8,
    })
}

/// The versions of `rel` along the first-parent line from `start`, newest first: at most
/// `depth` distinct blobs, stopping where no file was there (nothing, a directory, a link to no
/// file). Versions that no longer parse (an older format) end the history.
pub(crate) fn history(
    repo: &Repository,
    start: Oid,
    rel: &Path,
    depth: usize,
) -> Result<Vec<(Oid, Baseline)>, GateError> {
    const MAX_COMMITS: usize = 100_000;
    let mut out = Vec::new();
    let mut last: Option<Oid> = None;
    let mut commit = repo
        .find_commit(start)
        .map_err(git_err(format!("read commit {start}")))?;
    for _ in 0..MAX_COMMITS {
        if out.len() >= depth {
            break;
        }
        let AtPath::File(blob) = at_path(repo, &commit, rel)? else {
            break;
        };
        if last != Some(blob) {
            let origin = format!("{} at {}", rel.display(), short(commit.id()));
            let text = read_blob(repo, blob, &origin)?;
            match Baseline::from_json(&text, &origin) {
                Ok(b) => out.push((commit.id(), b)),
                Err(_) if !out.is_empty() => break,
                Err(e) => return Err(e),
            }
            last = Some(blob);
        }
        match commit.parent(0) {
            Ok(p) => commit = p,
            Err(_) => break,
        }
    }
    Ok(out)
}

/// Seven hex digits of a commit id.
pub(crate) fn short(id: Oid) -> String {
    id.to_string()[..7].to_string()
}

/// Loads the baseline `file` (absolute path in the project at `root`) from `source`.
/// `Ok(None)`: the revision has no baseline for this platform (a file named by path must
/// exist).
pub(crate) fn load(
    source: &BaselineSource,
    root: &Path,
    file: &Path,
    depth: usize,
) -> Result<Option<Loaded>, GateError> {
    match source {
        BaselineSource::None => Ok(None),
        BaselineSource::Path(p) => {
            // A file named on the command line must be there: a typo is not "no baseline".
            let text = std::fs::read_to_string(p).map_err(|source| match source.kind() {
                std::io::ErrorKind::NotFound => GateError::NoBaselineFile { path: p.clone() },
                _ => GateError::Read {
                    path: p.clone(),
                    source,
                },
            })?;
            let origin = p.display().to_string();
            let baseline = Baseline::from_json(&text, &origin)?;
            Ok(Some(Loaded {
                history: vec![baseline.clone()],
                baseline,
                origin,
                commit: None,
            }))
        }
        BaselineSource::GitRev(rev) => {
            let (repo, rel) = open_repo(root, file)?;
            let commit = repo
                .revparse_single(rev)
                .and_then(|o| o.peel_to_commit())
                .map_err(git_err(format!("resolve revision `{rev}`")))?;
            load_at(&repo, commit.id(), &rel, rev, depth)
        }
    }
}

/// Loads the baseline at commit `at`; `label` says how the commit was chosen.
pub(crate) fn load_at(
    repo: &Repository,
    at: Oid,
    rel: &Path,
    label: &str,
    depth: usize,
) -> Result<Option<Loaded>, GateError> {
    // Something other than a file at the commit asked for is an error, not "no baseline".
    let commit = repo
        .find_commit(at)
        .map_err(git_err(format!("read commit {at}")))?;
    if let AtPath::NotAFile(what) = at_path(repo, &commit, rel)? {
        return Err(GateError::InvalidBaseline {
            origin: format!("{} at {}", rel.display(), short(at)),
            reason: BaselineInvalid::NotAFile(what),
        });
    }
    let mut versions = history(repo, at, rel, depth.max(1))?;
    if versions.is_empty() {
        return Ok(None);
    }
    versions.reverse();
    let baseline = versions.last().expect("not empty").1.clone();
    let origin = if label.starts_with(&short(at)) {
        format!("{} at {}", rel.display(), short(at))
    } else {
        format!("{} at {} ({label})", rel.display(), short(at))
    };
    Ok(Some(Loaded {
        baseline,
        origin,
        commit: Some(at.to_string()),
        history: versions.into_iter().map(|(_, b)| b).collect(),
    }))
}

/// Commits `file` (already written) on `HEAD`, leaving everything else in the index and the
/// working tree alone. Returns the new commit, or `None` when the file was unchanged.
pub(crate) fn commit_file(
    root: &Path,
    file: &Path,
    message: &str,
) -> Result<Option<Oid>, GateError> {
    let (repo, rel) = open_repo(root, file)?;
    let text = std::fs::read(file).map_err(|source| GateError::Read {
        path: file.to_path_buf(),
        source,
    })?;
    let head = repo
        .head()
        .and_then(|h| h.peel_to_commit())
        .map_err(git_err("read HEAD (the repository needs a first commit)"))?;
    let blob = repo.blob(&text).map_err(git_err("store the baseline"))?;
    let base_tree = head.tree().map_err(git_err("read HEAD's tree"))?;
    let mut update = git2::build::TreeUpdateBuilder::new();
    update.upsert(&rel, blob, git2::FileMode::Blob);
    let tree_id = update
        .create_updated(&repo, &base_tree)
        .map_err(git_err("build the commit's tree"))?;
    if tree_id == base_tree.id() {
        return Ok(None);
    }
    let tree = repo
        .find_tree(tree_id)
        .map_err(git_err("read the new tree"))?;
    let sig = repo
        .signature()
        .or_else(|_| git2::Signature::now("cargo-meshinsight", "cargo-meshinsight@localhost"))
        .map_err(git_err("make a commit signature"))?;
    let id = repo
        .commit(Some("HEAD"), &sig, &sig, message, &tree, &[&head])
        .map_err(git_err("commit the baseline"))?;
    let mut index = repo.index().map_err(git_err("open the index"))?;
    index
        .add_path(&rel)
        .and_then(|()| index.write())
        .map_err(git_err("stage the baseline"))?;
    Ok(Some(id))
}

#[cfg(test)]
mod proptests {
    //! Mutated baselines load or fail in one line; one that loads has no negative spread or
    //! standard error and no figure beyond the range.

    use proptest::prelude::*;

    use super::*;
    use crate::test_support::hostile::{apply, assert_one_line, edits, json_number};

    fn check(text: &str) {
        match Baseline::from_json(text, "b.json") {
            Err(e) => assert_one_line(&e),
            Ok(b) => {
                assert!(b.spread.values().all(|v| (0.0..=MAX_FIGURE).contains(v)));
                for f in &b.snapshot.fixtures {
                    for se in [f.latency_se_us, f.cpu_se_cores].into_iter().flatten() {
                        assert!((0.0..=MAX_FIGURE).contains(&se));
                    }
                }
            }
        }
    }

    proptest! {
        #[test]
        fn proptest_baseline_mutated_baselines_load_or_fail_in_one_line(e in edits()) {
            let mut b = crate::test_support::version(1.0);
            b.spread.insert("coef/http/ipc/latency/base".into(), 0.5);
            check(&apply(&b.to_json(), &e, json_number));
        }
    }

    #[test]
    fn negative_spreads_and_standard_errors_are_refused() {
        let mut b = crate::test_support::version(1.0);
        b.spread.insert("coef/http/ipc/latency/base".into(), -0.5);
        let e = Baseline::from_json(&b.to_json(), "b.json").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid baseline b.json: `spread.coef/http/ipc/latency/base` is negative (-0.5)"
        );
        let mut b = crate::test_support::version(1.0);
        b.snapshot.fixtures[0].latency_se_us = Some(-2.0);
        let e = Baseline::from_json(&b.to_json(), "b.json").unwrap_err();
        assert!(
            e.to_string().ends_with("latency_se_us` is negative (-2)"),
            "{e}"
        );
    }
}
