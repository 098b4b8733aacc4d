//! The base of a paired check: a sidecar given on the command line, or the sidecar the base
//! revision configures. Its tree is exported from git (no checkout, the working tree is not
//! touched), its `[*.metadata.meshinsight]` read there, and a `bin` sidecar built there.

use super::error::Error;
use super::head_profile::{Resolved, resolve_sidecar};
use super::output::Output;
use crate::gate::baseline::{self, git_err, short};
use crate::harness::{Launch, Sidecar};
use crate::project::config::Settings;
use crate::project::export::{export_tree, target_dir};

/// Where the base of a paired check comes from.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum PairedBase {
    /// The configured `base-sidecar`, else the sidecar configured at the merge base with the
    /// target branch.
    Default,
    /// A sidecar given on the command line (`--base-sidecar`).
    Sidecar(Sidecar),
    /// The sidecar configured at a revision (`--base-rev`; `None`: the merge base with the
    /// target branch).
    Rev(Option<String>),
}

/// The base sidecar, ready to run, and what it came from.
#[derive(Debug)]
pub(crate) struct PreparedBase {
    /// The sidecar.
    pub(crate) resolved: Resolved,
    /// The commit it came from.
    pub(crate) commit: Option<String>,
    /// The exported tree (kept until the run ends).
    _tree: Option<tempfile::TempDir>,
}

/// Resolves the base sidecar of a paired check; a `bin` sidecar is built as the user `launch`
/// runs its children as (the exported tree is theirs).
pub(crate) fn prepare_base(
    settings: &Settings,
    base: &PairedBase,
    target_branch: Option<&str>,
    launch: &Launch,
    out: &mut Output,
) -> Result<PreparedBase, Error> {
    let preset = |sidecar: &Sidecar| PreparedBase {
        resolved: Resolved::preset(sidecar.clone()),
        commit: None,
        _tree: None,
    };
    let rev = match (base, &settings.base_sidecar) {
        (PairedBase::Sidecar(sidecar), _) | (PairedBase::Default, Some(sidecar)) => {
            return Ok(preset(sidecar));
        }
        (PairedBase::Default, None) => &None,
        (PairedBase::Rev(rev), _) => rev,
    };
    let (repo, rel_manifest) = baseline::open_repo(&settings.root, &settings.manifest)?;
    let (at, label) = match rev {
        Some(r) => {
            let c = repo
                .revparse_single(r)
                .and_then(|o| o.peel_to_commit())
                .map_err(git_err(format!("resolve revision `{r}`")))?;
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
        .map_err(|source| Error::Io {
            what: "make a temporary directory for the base tree".into(),
            source,
        })?;
    export_tree(&repo, at, dir.path())?;
    if let Some(user) = &launch.user {
        user.give(dir.path())
            .map_err(crate::harness::HarnessError::from)?;
    }
    let manifest = dir.path().join(&rel_manifest);
    if !manifest.is_file() {
        return Err(Error::NoBaseManifest {
            manifest: rel_manifest,
            commit: short(at),
        });
    }
    let base_settings = Settings::load(Some(&manifest))?;
    // Beside the head's target directory (not over it: the names are the same), kept between
    // runs so that the base builds incrementally.
    let target = target_dir(&settings.manifest)?.join("meshinsight-base");
    let resolved = resolve_sidecar(
        &base_settings.sidecar,
        &manifest,
        Some(&target),
        launch,
        out,
    )?;
    Ok(PreparedBase {
        resolved,
        commit: Some(at.to_string()),
        _tree: Some(dir),
    })
}
