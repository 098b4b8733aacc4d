//! `cargo meshinsight init`: sets a project up for the gate. Writes the `metadata.meshinsight`
//! table (the sidecar: a binary target that looks like a proxy, else Envoy when it is on PATH,
//! else the builtin one), a starter call graph, and the workflows and their scripts pinned to
//! this version. Idempotent; a file that differs from what init writes is only overwritten
//! with `--force`, and then nothing is written at all without it.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use super::error::Error;
use super::output::Output;
use crate::project::config::{Sidecar, defaults};
use crate::project::fs::write_atomic;
use crate::project::manifest::{self, KeyOutcome, Project};

/// What `init` does.
#[derive(Clone, Debug, Default)]
pub(crate) struct InitConfig {
    /// The project's manifest (`--manifest-path`).
    pub(crate) manifest_path: Option<PathBuf>,
    /// Overwrite files that differ, and replace table keys that hold other values.
    pub(crate) force: bool,
}

/// `init` refused to go on.
#[derive(Debug, thiserror::Error)]
pub(crate) enum InitError {
    /// A file exists with other content and `--force` was not given.
    #[error("{path} differs from what init writes{}", others_note(*others))]
    Differs {
        /// The first such file, relative to the repository.
        path: PathBuf,
        /// How many more.
        others: usize,
    },
    /// The manifest could not be edited.
    #[error(transparent)]
    Manifest(#[from] manifest::ManifestError),
    /// A file could not be read.
    #[error("failed to read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

fn others_note(others: usize) -> String {
    match others {
        0 => String::new(),
        1 => " (and 1 more file)".to_string(),
        n => format!(" (and {n} more files)"),
    }
}

/// The files `init` writes besides the manifest: (path in the repository, content, executable).
const TEMPLATES: &[(&str, &str, bool)] = &[
    (
        ".github/workflows/meshinsight-check.yml",
        include_str!("../../assets/init/meshinsight-check.yml"),
        false,
    ),
    (
        ".github/workflows/meshinsight-comment.yml",
        include_str!("../../assets/init/meshinsight-comment.yml"),
        false,
    ),
    (
        ".github/workflows/meshinsight-baseline.yml",
        include_str!("../../assets/init/meshinsight-baseline.yml"),
        false,
    ),
    (
        "ci/meshinsight-lib.sh",
        include_str!("../../assets/init/meshinsight-lib.sh"),
        true,
    ),
    (
        "ci/meshinsight-install.sh",
        include_str!("../../assets/init/meshinsight-install.sh"),
        true,
    ),
    (
        "ci/meshinsight-check.sh",
        include_str!("../../assets/init/meshinsight-check.sh"),
        true,
    ),
    (
        "ci/meshinsight-comment.sh",
        include_str!("../../assets/init/meshinsight-comment.sh"),
        true,
    ),
    (
        "ci/meshinsight-baseline.sh",
        include_str!("../../assets/init/meshinsight-baseline.sh"),
        true,
    ),
];

/// The starter call graph, written when the project has none.
const EXAMPLE_FIXTURE: (&str, &str) = (
    "fixtures/ecg/example.toml",
    include_str!("../../assets/init/example.toml"),
);

/// Binary target names that say "proxy".
const PROXY_WORDS: &[&str] = &["proxy", "sidecar", "relay", "envoy", "mesh"];

/// The sidecar `init` configures, and why.
pub(crate) fn choose_sidecar(bins: &[String], envoy_on_path: bool) -> (Sidecar, String) {
    let bin = |name: &str| Sidecar::Bin {
        name: name.to_string(),
        args: None,
    };
    let candidates: Vec<&String> = bins
        .iter()
        .filter(|b| b.as_str() != "cargo-meshinsight")
        .collect();
    let proxies: Vec<&&String> = candidates
        .iter()
        .filter(|b| {
            let lower = b.to_lowercase();
            PROXY_WORDS.iter().any(|w| lower.contains(w))
        })
        .collect();
    match (proxies.as_slice(), candidates.as_slice()) {
        ([one], _) => (bin(one), format!("the binary target `{one}` looks like a proxy")),
        ([first, ..], _) => (
            bin(first),
            format!(
                "of the binary targets that look like proxies ({}), the first",
                proxies.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            ),
        ),
        ([], [one]) => (bin(one), format!("`{one}` is the only binary target")),
        ([], _) if envoy_on_path => (
            Sidecar::envoy(),
            "no binary target looks like a proxy, and envoy is on PATH".to_string(),
        ),
        ([], _) => (
            Sidecar::Builtin,
            "no binary target looks like a proxy and envoy is not on PATH: the built-in reference proxy"
                .to_string(),
        ),
    }
}

/// One file to write.
#[derive(Debug)]
struct Planned {
    /// Where, absolute.
    path: PathBuf,
    /// Where, as shown (relative to the repository).
    shown: PathBuf,
    /// The content.
    bytes: Vec<u8>,
    /// Give it the execute bits the umask allows.
    executable: bool,
    /// What is there now.
    state: FileState,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FileState {
    New,
    Same,
    Differs,
}

fn plan(path: PathBuf, shown: PathBuf, bytes: Vec<u8>, executable: bool) -> Result<Planned, Error> {
    let state = match std::fs::read(&path) {
        Ok(old) if old == bytes => FileState::Same,
        Ok(_) => FileState::Differs,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => FileState::New,
        Err(source) => return Err(InitError::Read { path, source }.into()),
    };
    Ok(Planned {
        path,
        shown,
        bytes,
        executable,
        state,
    })
}

/// `init`: plans every file, refuses when one differs (without `--force`), then writes.
pub(crate) fn run(config: &InitConfig, out: &mut Output) -> Result<u8, Error> {
    let project = Project::load(config.manifest_path.as_deref())?;
    let repo = repository_root(&project.root, out);
    let (sidecar, why) = choose_sidecar(&project.bins, which::which("envoy").is_ok());
    let manifest_text =
        std::fs::read_to_string(&project.manifest).map_err(|source| InitError::Read {
            path: project.manifest.clone(),
            source,
        })?;
    let edit = manifest::set_table(&manifest_text, &project.manifest, &sidecar, config.force)
        .map_err(InitError::from)?;
    let shown = |p: &Path| p.strip_prefix(&repo).unwrap_or(p).to_path_buf();

    let mut files = Vec::new();
    files.push(plan(
        project.manifest.clone(),
        shown(&project.manifest),
        edit.text.clone().into_bytes(),
        false,
    )?);
    let example = project.root.join(EXAMPLE_FIXTURE.0);
    if example.exists() || !has_fixtures(&project.root) {
        files.push(plan(
            example.clone(),
            shown(&example),
            EXAMPLE_FIXTURE.1.as_bytes().to_vec(),
            false,
        )?);
    }
    for (rel, text, executable) in TEMPLATES {
        let path = repo.join(rel);
        files.push(plan(
            path,
            PathBuf::from(rel),
            text.as_bytes().to_vec(),
            *executable,
        )?);
    }
    // The manifest never "differs" as a whole: its keys are kept or replaced one by one.
    let differs: Vec<&Planned> = files
        .iter()
        .skip(1)
        .filter(|f| f.state == FileState::Differs)
        .collect();
    if let [first, rest @ ..] = differs.as_slice()
        && !config.force
    {
        return Err(InitError::Differs {
            path: first.shown.clone(),
            others: rest.len(),
        }
        .into());
    }

    report_table(&edit, &sidecar, &why, out);
    let mut written = 0;
    for f in &files {
        if f.state == FileState::Same {
            continue;
        }
        write_atomic(&f.path, &f.bytes)?;
        if f.executable {
            make_executable(&f.path)?;
        }
        let verb = match f.state {
            FileState::New => "Created",
            _ => "Updated",
        };
        out.status(verb, f.shown.display());
        written += 1;
    }
    if written == 0 {
        out.status(
            "Unchanged",
            "every file is as init writes it: nothing to do",
        );
    }
    out.write_result(&next_steps(), "the next steps")?;
    Ok(crate::exit::OK)
}

/// The repository's top directory (where `.github/` goes), or the workspace root outside git.
fn repository_root(workspace: &Path, out: &mut Output) -> PathBuf {
    match git2::Repository::discover(workspace)
        .ok()
        .and_then(|r| r.workdir().map(Path::to_path_buf))
    {
        Some(dir) => {
            let dir = dir.canonicalize().unwrap_or(dir);
            let ws = workspace
                .canonicalize()
                .unwrap_or_else(|_| workspace.to_path_buf());
            if dir != ws {
                out.warn(format!(
                    "the workspace is in {} of the repository: the workflows run at the repository's top, so pass `--manifest-path` to the scripts they call",
                    ws.strip_prefix(&dir).unwrap_or(&ws).display()
                ));
            }
            dir
        }
        None => {
            out.warn("not in a git repository: the workflows need one (git init)");
            workspace.to_path_buf()
        }
    }
}

/// Whether the default fixture directory already has call graphs.
fn has_fixtures(root: &Path) -> bool {
    let dir = root.join("fixtures/ecg");
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.filter_map(Result::ok).any(|e| {
            let p = e.path();
            p.is_file() && p.extension().is_some_and(|x| x == "toml" || x == "json")
        })
    })
}

fn make_executable(path: &Path) -> Result<(), Error> {
    let err = |source| Error::Io {
        what: format!("make {} executable", path.display()),
        source,
    };
    let mode = std::fs::metadata(path).map_err(err)?.permissions().mode();
    // Read bits become execute bits, as `chmod +x` does under the umask.
    let mode = mode | ((mode & 0o444) >> 2);
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(err)
}

/// Status lines for the table's keys.
fn report_table(edit: &manifest::TableEdit, sidecar: &Sidecar, why: &str, out: &mut Output) {
    let table = edit.at.name();
    for (key, outcome) in &edit.keys {
        let value = if *key == "sidecar" {
            manifest::sidecar_value(sidecar).to_string()
        } else {
            format!("[\"{}\"]", defaults::FIXTURES)
        };
        let because = if *key == "sidecar" {
            format!(" ({why})")
        } else {
            String::new()
        };
        match outcome {
            KeyOutcome::Added => {
                out.status("Configured", format!("{table}: {key} = {value}{because}"))
            }
            KeyOutcome::Replaced(old) => out.status(
                "Configured",
                format!("{table}: {key} = {value} (was {old}){because}"),
            ),
            KeyOutcome::Kept(old) => out.status(
                "Kept",
                format!("{table}: {key} = {old} (init would write {value}; --force replaces it)"),
            ),
            KeyOutcome::Same => {}
        }
    }
}

fn next_steps() -> String {
    let repo = env!("CARGO_PKG_REPOSITORY");
    format!(
        "\nNext steps (docs/quickstart.md of {repo}):\n\
         1. A runner: a self-hosted Linux runner labelled `self-hosted, linux, meshinsight`, with\n   \
            the probe's privileges (root through sudo, or CAP_BPF + CAP_PERFMON); run\n   \
            `cargo meshinsight doctor` on it and fix what it marks with ✘.\n\
         2. The first baseline: commit these files and merge them into main; the baseline\n   \
            workflow records baselines/<platform>.json (or run\n   \
            `sudo cargo meshinsight baseline update --commit` on the runner and push).\n\
         3. The first pull request: the check workflow measures it against main side by side\n   \
            and the comment workflow posts the verdict on it.\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_proxy_looking_or_only_bin_is_chosen_else_envoy_or_builtin() {
        let (s, why) = choose_sidecar(&names(&["cli", "my-relay", "worker"]), true);
        assert_eq!(
            s,
            Sidecar::Bin {
                name: "my-relay".into(),
                args: None
            }
        );
        assert!(why.contains("looks like a proxy"), "{why}");
        let (s, _) = choose_sidecar(&names(&["server"]), true);
        assert!(matches!(s, Sidecar::Bin { name, .. } if name == "server"));
        let (s, why) = choose_sidecar(&names(&["MeshProxy", "sidecar-b"]), false);
        assert!(matches!(s, Sidecar::Bin { name, .. } if name == "MeshProxy"));
        assert!(why.contains("MeshProxy, sidecar-b"), "{why}");
        assert_eq!(
            choose_sidecar(&names(&["a", "b"]), true).0,
            Sidecar::envoy()
        );
        assert_eq!(
            choose_sidecar(&names(&["a", "b"]), false).0,
            Sidecar::Builtin
        );
        assert_eq!(
            choose_sidecar(&names(&["cargo-meshinsight"]), false).0,
            Sidecar::Builtin
        );
    }

    #[test]
    fn the_workflows_pin_this_version() {
        let pin = format!("MESHINSIGHT_VERSION: \"{}\"", env!("CARGO_PKG_VERSION"));
        for (path, text, _) in TEMPLATES.iter().filter(|t| t.0.ends_with(".yml")) {
            if text.contains("MESHINSIGHT_VERSION") {
                assert!(text.contains(&pin), "{path} does not pin {pin}");
            }
        }
        let pinned = TEMPLATES.iter().filter(|t| t.1.contains(&pin)).count();
        assert_eq!(
            pinned, 2,
            "the check and baseline workflows install the tool"
        );
    }

    #[test]
    fn the_workflows_call_only_scripts_init_writes() {
        for (path, text, _) in TEMPLATES.iter().filter(|t| t.0.ends_with(".yml")) {
            for called in text.split("bash ").skip(1) {
                let script = called.split_whitespace().next().unwrap_or_default();
                assert!(
                    TEMPLATES.iter().any(|t| t.0 == script),
                    "{path} calls {script}, which init does not write"
                );
            }
        }
    }
}
