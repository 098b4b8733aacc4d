//! Files the tool writes: atomically (a temporary file beside the target, synced, renamed
//! over it), so a reader never sees half a file and a failure leaves nothing behind, with the
//! permissions a plain `create` would give (the umask's), or the target's own when it exists.
//! Run as root (through sudo, to measure), the tool leaves the project's files to their
//! owners: a file keeps its owner, and a new file or directory gets its directory's.

use std::fs::Permissions;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A file could not be written.
#[derive(Debug, thiserror::Error)]
#[error("failed to write {path}")]
pub(crate) struct WriteError {
    /// The file.
    pub(crate) path: PathBuf,
    /// Why.
    #[source]
    pub(crate) source: std::io::Error,
}

/// Writes `bytes` to `path` atomically; creates the parent directory when it is missing.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    let err = |source| WriteError {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    create_dirs(dir).map_err(err)?;
    let existing = std::fs::metadata(path).ok().filter(|m| m.is_file());
    let mode = match &existing {
        Some(meta) => meta.permissions().mode() & 0o7777,
        None => 0o666 & !umask(),
    };
    let owner = match &existing {
        Some(meta) => (meta.uid(), meta.gid()),
        None => owner_of(dir).map_err(err)?,
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(
            ".{}.",
            path.file_name().unwrap_or_default().to_string_lossy()
        ))
        .suffix(".tmp")
        .permissions(Permissions::from_mode(mode))
        .tempfile_in(dir)
        .map_err(err)?;
    tmp.write_all(bytes).map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    // The mode asked for at creation is reduced by the umask; set it exactly.
    std::fs::set_permissions(tmp.path(), Permissions::from_mode(mode)).map_err(err)?;
    give_back(tmp.path(), owner).map_err(err)?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}

/// Creates `dir` and its missing parents, each owned as the directory it is made in.
fn create_dirs(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_dirs(parent)?;
    }
    match std::fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => return Ok(()),
        Err(e) => return Err(e),
    }
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    give_back(dir, owner_of(parent)?)
}

/// The owner and group of `path`.
fn owner_of(path: &Path) -> std::io::Result<(u32, u32)> {
    let meta = std::fs::metadata(path)?;
    Ok((meta.uid(), meta.gid()))
}

/// Run as root, gives `path` to `owner`; otherwise nothing (only root can, and whatever this
/// process creates is its user's anyway).
fn give_back(path: &Path, (uid, gid): (u32, u32)) -> std::io::Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(());
    }
    std::os::unix::fs::chown(path, Some(uid), Some(gid))
}

/// A set of files written into a hidden staging directory inside their target directory
/// (the same file system), then moved into place together by [`Staging::commit`]: a failure
/// or a Ctrl-C while they are written leaves the target directory as it was (the staging
/// directory is removed on drop and by the interrupt handler). Files get the permissions a
/// plain `create` would give.
#[derive(Debug)]
pub(crate) struct Staging {
    dir: crate::harness::process::TempDir,
    target: PathBuf,
    mode: u32,
    names: Vec<String>,
}

impl Staging {
    /// A staging directory in `target` (created when missing).
    pub(crate) fn new(target: &Path) -> Result<Staging, WriteError> {
        let err = |source| WriteError {
            path: target.to_path_buf(),
            source,
        };
        create_dirs(target).map_err(err)?;
        let dir = tempfile::Builder::new()
            .prefix(".meshinsight-staging-")
            .tempdir_in(target)
            .map_err(err)?;
        Ok(Staging {
            dir: crate::harness::process::TempDir::adopt(dir),
            target: target.to_path_buf(),
            mode: 0o666 & !umask(),
            names: Vec::new(),
        })
    }

    /// Creates the staged file that will become `target/name`.
    pub(crate) fn create(&mut self, name: &str) -> Result<std::fs::File, WriteError> {
        let path = self.dir.path().join(name);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .and_then(|f| {
                f.set_permissions(Permissions::from_mode(self.mode))?;
                Ok(f)
            })
            .map_err(|source| WriteError {
                path: self.target.join(name),
                source,
            })?;
        self.names.push(name.to_string());
        Ok(file)
    }

    /// Writes `bytes` as the staged file `name`.
    pub(crate) fn write(&mut self, name: &str, bytes: &[u8]) -> Result<(), WriteError> {
        let mut f = self.create(name)?;
        f.write_all(bytes).map_err(|source| WriteError {
            path: self.target.join(name),
            source,
        })
    }

    /// Syncs every staged file, renames each into the target directory (replacing a file of
    /// the same name), then removes `stale` (files of an earlier set that this one does not
    /// replace). Each rename is atomic; the caller keeps signals from stopping the renames
    /// half-way.
    pub(crate) fn commit(self, stale: &[PathBuf]) -> Result<Vec<PathBuf>, WriteError> {
        let mut written = Vec::with_capacity(self.names.len());
        for name in &self.names {
            let from = self.dir.path().join(name);
            let to = self.target.join(name);
            let err = |source| WriteError {
                path: to.clone(),
                source,
            };
            std::fs::File::open(&from)
                .and_then(|f| f.sync_all())
                .map_err(err)?;
            written.push(to);
        }
        for (name, to) in self.names.iter().zip(&written) {
            std::fs::rename(self.dir.path().join(name), to).map_err(|source| WriteError {
                path: to.clone(),
                source,
            })?;
        }
        for path in stale {
            match std::fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(WriteError {
                        path: path.clone(),
                        source,
                    });
                }
            }
        }
        // The renames are durable once the directory is.
        std::fs::File::open(&self.target)
            .and_then(|d| d.sync_all())
            .map_err(|source| WriteError {
                path: self.target.clone(),
                source,
            })?;
        Ok(written)
    }
}

/// The process's umask, read from /proc (setting it to read it back would race other threads).
fn umask() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Umask:"))
                .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        })
        .unwrap_or(0o022)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Run as root (as CI runs), a file written into a directory of another user is that
    /// user's, and so are the directories made for it; an existing file keeps its owner.
    #[test]
    fn as_root_new_files_belong_to_their_directorys_owner() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI runs the unprivileged suite as root; this test needs it"
            );
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::chown(dir.path(), Some(65534), Some(65534)).unwrap();
        let path = dir.path().join("baselines/sub/x.json");
        write_atomic(&path, b"one").unwrap();
        for p in [
            &path,
            &dir.path().join("baselines"),
            &dir.path().join("baselines/sub"),
        ] {
            assert_eq!(owner_of(p).unwrap(), (65534, 65534), "{}", p.display());
        }
        let kept = dir.path().join("kept.json");
        std::fs::write(&kept, "a").unwrap();
        std::os::unix::fs::chown(&kept, Some(1), Some(1)).unwrap();
        write_atomic(&kept, b"b").unwrap();
        assert_eq!(owner_of(&kept).unwrap(), (1, 1));
    }

    #[test]
    fn writes_whole_files_with_the_umask_permissions_and_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/out.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o666 & !umask());
        let names: Vec<_> = std::fs::read_dir(dir.path().join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["out.json"]);
    }

    #[test]
    fn staged_files_appear_together_with_the_umask_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("old-1.csv"), "old").unwrap();
        std::fs::write(target.join("keep.txt"), "mine").unwrap();
        let mut staging = Staging::new(&target).unwrap();
        staging.write("a.csv", b"new a").unwrap();
        staging.write("b.csv", b"new b").unwrap();
        // Nothing is visible before the commit but the staging directory.
        let listed = |d: &Path| {
            let mut v: Vec<String> = std::fs::read_dir(d)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        };
        let before = listed(&target);
        assert_eq!(before.len(), 3, "{before:?}");
        assert!(before[0].starts_with(".meshinsight-staging-"), "{before:?}");
        staging.commit(&[target.join("old-1.csv")]).unwrap();
        assert_eq!(listed(&target), ["a.csv", "b.csv", "keep.txt"]);
        let mode = std::fs::metadata(target.join("a.csv"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o666 & !umask());
        // Dropped without a commit: nothing changes, nothing is left.
        let mut staging = Staging::new(&target).unwrap();
        staging.write("c.csv", b"c").unwrap();
        drop(staging);
        assert_eq!(listed(&target), ["a.csv", "b.csv", "keep.txt"]);
    }

    #[test]
    fn an_existing_file_keeps_its_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x");
        std::fs::write(&path, "a").unwrap();
        std::fs::set_permissions(&path, Permissions::from_mode(0o640)).unwrap();
        write_atomic(&path, b"b").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
    }

    #[test]
    fn write_atomic_leaves_no_temporary_file_and_fails_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b/x.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two");
        let names: Vec<_> = std::fs::read_dir(dir.path().join("b"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("x.json")]);
        // The target is a directory: the rename fails, the directory and no temp file remain.
        let as_dir = dir.path().join("b/d.json");
        std::fs::create_dir(&as_dir).unwrap();
        std::fs::write(as_dir.join("keep"), "").unwrap();
        let e = write_atomic(&as_dir, b"x").unwrap_err();
        assert!(e.to_string().contains("d.json"), "{e}");
        let mut names: Vec<_> = std::fs::read_dir(dir.path().join("b"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["d.json", "x.json"]);
    }
}
