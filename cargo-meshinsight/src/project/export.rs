//! The base of a paired check, from git: the tree of a commit written into a directory
//! (reading only the object database: no checkout, the working tree is not touched), and the
//! target directory a build of it goes to.

use std::path::{Path, PathBuf};

use git2::{ObjectType, Oid, Repository, TreeWalkMode, TreeWalkResult};

/// The base tree could not be exported.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ExportError {
    /// A git operation failed.
    #[error("failed to {what}")]
    Git {
        /// What was being done.
        what: String,
        /// libgit2's error.
        #[source]
        source: git2::Error,
    },
    /// A file of the tree could not be written.
    #[error("failed to write {path}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `cargo metadata` failed.
    #[error("failed to read the workspace of {manifest} with cargo metadata")]
    Metadata {
        /// The manifest.
        manifest: PathBuf,
        /// Cargo's error.
        #[source]
        source: cargo_metadata::Error,
    },
}

/// The target directory of the workspace of `manifest`.
pub(crate) fn target_dir(manifest: &Path) -> Result<PathBuf, ExportError> {
    let meta = super::build::metadata(
        cargo_metadata::MetadataCommand::new()
            .manifest_path(manifest)
            .no_deps(),
        super::build::invoking_user().as_ref(),
    )
    .map_err(|source| ExportError::Metadata {
        manifest: manifest.to_path_buf(),
        source,
    })?;
    Ok(meta.target_directory.into_std_path_buf())
}

/// Writes the tree of commit `at` into `dest` (files, executable bits, symlinks; submodules
/// are left out). Reads only the object database.
pub(crate) fn export_tree(repo: &Repository, at: Oid, dest: &Path) -> Result<(), ExportError> {
    let git = |what: &str| {
        let what = what.to_string();
        move |source: git2::Error| ExportError::Git { what, source }
    };
    let tree = repo
        .find_commit(at)
        .and_then(|c| c.tree())
        .map_err(git("read the base tree"))?;
    let mut failure: Option<ExportError> = None;
    tree.walk(TreeWalkMode::PreOrder, |parent, entry| {
        let Ok(name) = entry.name() else {
            return TreeWalkResult::Skip;
        };
        let path = dest.join(parent).join(name);
        let result = (|| -> Result<(), ExportError> {
            let io = |source: std::io::Error| ExportError::Write {
                path: path.clone(),
                source,
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
