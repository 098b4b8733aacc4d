//! Paired mode (`check --paired`): the base sidecar and the head sidecar measured interleaved
//! in one run ([`crate::profile::paired`]) and judged with a paired test on the per-point
//! differences. The base is a sidecar given on the command line, or the sidecar the base
//! revision configures: its tree is exported from git (no checkout, the working tree is not
//! touched), its `[*.metadata.meshinsight]` read there, and a `bin` sidecar built there.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use git2::{ObjectType, Oid, Repository, TreeWalkMode, TreeWalkResult};
use serde::{Deserialize, Serialize};

use super::baseline::{self, short};
use super::snapshot::Snapshot;
use super::source::{Resolved, parse_spec, resolve_sidecar};
use super::{GateError, ProfileSource};
use crate::config::Settings;
use crate::error::Error;
use crate::output::Output;
use crate::profile::{LinearModel, Profile};

/// Where the base of a paired check comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PairedBase {
    /// A sidecar given as on the command line: `builtin`, `builtin --extra-work-us N`,
    /// `envoy`, or a command template (`--base-sidecar`).
    Sidecar(String),
    /// The sidecar configured at a revision (`--base-rev`; `None`: the merge base with the
    /// target branch).
    Rev(Option<String>),
}

/// How a paired check was made (in the verdict: the "paired" marker of every report).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairedInfo {
    /// The base sidecar.
    pub base: String,
    /// The head sidecar.
    pub head: String,
    /// The commit the base was built or configured from, when it came from git.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_commit: Option<String>,
    /// Matched points (mode, size, repetition, load) measured on both sides.
    pub points: usize,
    /// The test, in words.
    pub test: String,
}

/// The base sidecar, ready to run, and what it came from.
#[derive(Debug)]
pub struct PreparedBase {
    /// The sidecar.
    pub resolved: Resolved,
    /// The commit it came from.
    pub commit: Option<String>,
    /// The exported tree (kept until the run ends).
    _tree: Option<tempfile::TempDir>,
}

/// Resolves the base sidecar of a paired check.
pub fn prepare_base(
    settings: &Settings,
    base: &PairedBase,
    target_branch: Option<&str>,
    out: &mut Output,
) -> Result<PreparedBase, Error> {
    let rev = match base {
        PairedBase::Sidecar(spec) => {
            return Ok(PreparedBase {
                resolved: Resolved::preset(parse_spec(spec)),
                commit: None,
                _tree: None,
            });
        }
        PairedBase::Rev(rev) => rev,
    };
    let (repo, rel_manifest) = baseline::open_repo(&settings.root, &settings.manifest)?;
    let (at, label) = match rev {
        Some(r) => {
            let c = repo
                .revparse_single(r)
                .and_then(|o| o.peel_to_commit())
                .map_err(|e| GateError::Git {
                    what: format!("resolve revision `{r}`"),
                    message: e.message().to_string(),
                })?;
            (c.id(), r.clone())
        }
        None => {
            let branch = target_branch.unwrap_or(&settings.target_branch);
            let (at, name) = baseline::merge_base(&repo, branch)?;
            (at, format!("merge base with {name}"))
        }
    };
    out.status(
        "Exporting",
        format!("the base tree at {} ({label})", short(at)),
    );
    let dir = tempfile::Builder::new()
        .prefix("meshinsight-base-")
        .tempdir()
        .map_err(|e| GateError::PairedBase {
            message: format!("cannot make a temporary directory: {e}"),
        })?;
    export_tree(&repo, at, dir.path())?;
    let manifest = dir.path().join(&rel_manifest);
    if !manifest.is_file() {
        return Err(GateError::PairedBase {
            message: format!("{} does not exist at {}", rel_manifest.display(), short(at)),
        }
        .into());
    }
    let base_settings = Settings::load(Some(&manifest))?;
    // Beside the head's target directory (not over it: the names are the same), kept between
    // runs so that the base builds incrementally.
    let target = head_target_dir(&settings.manifest)?.join("meshinsight-base");
    let resolved = resolve_sidecar(&base_settings.sidecar, &manifest, Some(&target), out)?;
    Ok(PreparedBase {
        resolved,
        commit: Some(at.to_string()),
        _tree: Some(dir),
    })
}

fn head_target_dir(manifest: &Path) -> Result<PathBuf, Error> {
    let meta = cargo_metadata::MetadataCommand::new()
        .manifest_path(manifest)
        .no_deps()
        .exec()
        .map_err(|e| GateError::PairedBase {
            message: format!("cargo metadata: {e}"),
        })?;
    Ok(meta.target_directory.into_std_path_buf())
}

/// Writes the tree of commit `at` into `dest` (files, executable bits, symlinks; submodules
/// are left out). Reads only the object database.
pub fn export_tree(repo: &Repository, at: Oid, dest: &Path) -> Result<(), GateError> {
    let git = |what: &str| {
        let what = what.to_string();
        move |e: git2::Error| GateError::Git {
            what,
            message: e.message().to_string(),
        }
    };
    let tree = repo
        .find_commit(at)
        .and_then(|c| c.tree())
        .map_err(git("read the base tree"))?;
    let mut failure: Option<GateError> = None;
    tree.walk(TreeWalkMode::PreOrder, |parent, entry| {
        let Ok(name) = entry.name() else {
            return TreeWalkResult::Skip;
        };
        let path = dest.join(parent).join(name);
        let result = (|| -> Result<(), GateError> {
            let io = |e: std::io::Error| GateError::Write {
                path: path.clone(),
                source: e,
            };
            match entry.kind() {
                Some(ObjectType::Tree) => std::fs::create_dir_all(&path).map_err(io)?,
                Some(ObjectType::Blob) => {
                    let blob = repo
                        .find_blob(entry.id())
                        .map_err(git("read a blob of the base tree"))?;
                    if entry.filemode() == 0o120000 {
                        let target = String::from_utf8_lossy(blob.content()).into_owned();
                        std::os::unix::fs::symlink(target, &path).map_err(io)?;
                    } else {
                        std::fs::write(&path, blob.content()).map_err(io)?;
                        if entry.filemode() == 0o100755 {
                            use std::os::unix::fs::PermissionsExt;
                            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                                .map_err(io)?;
                        }
                    }
                }
                _ => {}
            }
            Ok(())
        })();
        match result {
            Ok(()) => TreeWalkResult::Ok,
            Err(e) => {
                failure = Some(e);
                TreeWalkResult::Abort
            }
        }
    })
    .or_else(|e| match failure.take() {
        Some(_) => Ok(()),
        None => Err(git("walk the base tree")(e)),
    })?;
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// `head` with the standard errors, covariances and point counts of `difference`: its
/// fixture predictions then carry the errors of head − base.
pub fn with_difference_errors(head: &Profile, difference: &Profile) -> Profile {
    let mut out = head.clone();
    for (mode, mp) in out.modes.iter_mut() {
        let Some(dmp) = difference.modes.get(mode) else {
            continue;
        };
        let filters = mp.filters.iter_mut().map(|(f, fp)| {
            let from = dmp.filters.get(f).map(|d| &d.components);
            (&mut fp.components, from)
        });
        for (components, from) in
            std::iter::once((&mut mp.components, Some(&dmp.components))).chain(filters)
        {
            for (component, cm) in components.iter_mut() {
                let d = from.and_then(|f| f.get(component));
                for (model, dm) in [
                    (&mut cm.latency, d.map(|d| &d.latency)),
                    (&mut cm.cpu, d.map(|d| &d.cpu)),
                ] {
                    copy_errors(model, dm);
                }
            }
        }
    }
    out
}

fn copy_errors(model: &mut LinearModel, from: Option<&LinearModel>) {
    let from = from.copied().unwrap_or_default();
    model.base_se_us = from.base_se_us;
    model.per_byte_se_us = from.per_byte_se_us;
    model.cov = from.cov;
    model.n = from.n;
}

/// Per metric key of `errors` (a snapshot of [`with_difference_errors`]): the standard error
/// of head − base and the degrees of freedom of its t test (points − 2; for a fixture, the
/// fewest among the models; 0 when unknown, which is never significant). Both are the
/// snapshot's own ([`super::snapshot::Metric`]).
pub fn difference_errors(errors: &Snapshot) -> BTreeMap<String, (Option<f64>, f64)> {
    errors
        .metrics()
        .into_iter()
        .map(|(key, metric)| (key, (metric.se, metric.df.unwrap_or(0.0))))
        .collect()
}

/// `check --paired` needs a measurement: the head's `--sidecar` and `--quick` come from the
/// profile source.
pub fn measure_options(source: &ProfileSource) -> Result<(bool, Option<String>), Error> {
    match source {
        ProfileSource::Measure { quick, sidecar } => Ok((*quick, sidecar.clone())),
        ProfileSource::File(_) => Err(Error::Other {
            message: "--paired measures base and head now; it cannot use --profile".into(),
            hint: Some("drop --profile (paired mode needs root)".into()),
        }),
    }
}
