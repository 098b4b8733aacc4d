//! Building a `bin` sidecar with cargo: `cargo build --release -p PKG --bin NAME` in the
//! project of a manifest, cargo's own messages shown as progress, the binary found through
//! cargo's JSON artifact messages (or cargo_metadata's `target_directory`). Cargo runs as the
//! user the tool's children run as (the invoking user under sudo), never as root for them:
//! its files in `target/` stay theirs, and it finds their toolchain.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use cargo_metadata::{Message, Metadata, MetadataCommand};

use crate::harness::{Launch, RunAs};

/// The user sudo names (`SUDO_UID`) when this process runs as root: whose toolchain and
/// project `cargo metadata` reads. `None` otherwise, and when SUDO_UID names nobody (the
/// command reports that when it starts its children).
pub(crate) fn invoking_user() -> Option<RunAs> {
    RunAs::from_environment(None).unwrap_or_default()
}

/// `cargo metadata` as `cmd` describes it, run as `user` when given (what
/// [`MetadataCommand::exec`] does, as another user).
pub(crate) fn metadata(
    cmd: &MetadataCommand,
    user: Option<&RunAs>,
) -> Result<Metadata, cargo_metadata::Error> {
    let mut command = cmd.cargo_command();
    if let Some(user) = user {
        user.apply(&mut command);
    }
    let output = command.output()?;
    if !output.status.success() {
        return Err(cargo_metadata::Error::CargoMetadata {
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let json = stdout
        .lines()
        .find(|line| line.starts_with('{'))
        .ok_or(cargo_metadata::Error::NoJson)?;
    MetadataCommand::parse(json)
}

/// A `bin` sidecar could not be built.
#[derive(Debug, thiserror::Error)]
#[error("failed to build the sidecar binary `{name}`: {message}")]
pub(crate) struct BuildError {
    /// The binary target.
    pub(crate) name: String,
    /// Cargo's error, one line.
    pub(crate) message: String,
}

/// How a build shows itself: cargo's colour, and where its stderr lines go.
pub(crate) struct BuildOutput<'a> {
    /// Ask cargo for colour.
    pub(crate) color: bool,
    /// Receives each line cargo prints on stderr (progress and diagnostics).
    pub(crate) line: &'a mut dyn FnMut(&str),
}

/// Builds binary target `name` of the workspace of `manifest` in release mode, as the user
/// `launch` runs its children as, and returns the executable. `target_dir` overrides cargo's
/// target directory (the base of a paired check builds beside the head, not over it).
pub(crate) fn build_bin(
    manifest: &Path,
    name: &str,
    target_dir: Option<&Path>,
    launch: &Launch,
    out: BuildOutput<'_>,
) -> Result<PathBuf, BuildError> {
    let failed = |message: String| BuildError {
        name: name.to_string(),
        message,
    };
    let meta = metadata(
        MetadataCommand::new().manifest_path(manifest).no_deps(),
        launch.user.as_ref(),
    )
    .map_err(|e| failed(format!("cargo metadata: {}", first_line(&e.to_string()))))?;
    let package = meta
        .workspace_packages()
        .into_iter()
        .find(|p| p.targets.iter().any(|t| t.is_bin() && t.name == name))
        .ok_or_else(|| failed(format!("no binary target `{name}` in the workspace")))?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = launch.command(cargo);
    cmd.args([
        "build",
        "--release",
        "--message-format",
        "json-render-diagnostics",
    ])
    .arg("--manifest-path")
    .arg(manifest)
    .args(["-p", &package.name, "--bin", name])
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    if let Some(dir) = target_dir {
        cmd.env("CARGO_TARGET_DIR", dir);
    }
    if out.color {
        cmd.arg("--color=always");
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| failed(format!("cannot run cargo: {e}")))?;
    // Artifact messages on stdout (a thread), cargo's progress and diagnostics on stderr.
    let stdout = child.stdout.take().expect("piped");
    let wanted = name.to_string();
    let artifacts = std::thread::spawn(move || {
        Message::parse_stream(BufReader::new(stdout))
            .flatten()
            .filter_map(|m| match m {
                Message::CompilerArtifact(a) if a.target.is_bin() && a.target.name == wanted => {
                    a.executable.map(|p| p.into_std_path_buf())
                }
                _ => None,
            })
            .last()
    });
    // The first compiler error and its location make the one-line message.
    let mut first_error: Option<String> = None;
    let mut last_error: Option<String> = None;
    let mut expect_location = false;
    let stderr = child.stderr.take().expect("piped");
    for line in BufReader::new(stderr).lines().map_while(Result::ok) {
        (out.line)(&line);
        let plain = strip_ansi(&line);
        let plain = plain.trim();
        if expect_location {
            expect_location = false;
            if let (Some(e), Some(loc)) = (first_error.as_mut(), plain.strip_prefix("--> ")) {
                e.push_str(&format!(" at {loc}"));
            }
        }
        if plain.starts_with("error") {
            let message = plain
                .split_once(": ")
                .map(|(_, m)| m)
                .unwrap_or(plain)
                .to_string();
            if first_error.is_none() && plain.starts_with("error[") {
                first_error = Some(message);
                expect_location = true;
            } else {
                last_error = Some(message);
            }
        }
    }
    let status = child
        .wait()
        .map_err(|e| failed(format!("cannot wait for cargo: {e}")))?;
    let executable = artifacts.join().ok().flatten();
    if !status.success() {
        let why = first_error
            .or(last_error)
            .unwrap_or_else(|| format!("cargo build exited with {status}"));
        return Err(failed(why));
    }
    let target = target_dir
        .map(Path::to_path_buf)
        .unwrap_or_else(|| meta.target_directory.clone().into_std_path_buf());
    let path = executable.unwrap_or_else(|| target.join("release").join(name));
    if !path.is_file() {
        return Err(failed(format!(
            "cargo reported success but {} does not exist",
            path.display()
        )));
    }
    Ok(path)
}

fn first_line(s: &str) -> &str {
    s.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("failed")
}

fn strip_ansi(s: &str) -> String {
    anstream::adapter::strip_str(s).to_string()
}

/// Quotes `s` for `sh -c`.
pub(crate) fn shell_quote(s: &str) -> String {
    shlex::try_quote(s)
        .map(|q| q.into_owned())
        .unwrap_or_else(|_| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_the_shell() {
        assert_eq!(shell_quote("/a/b-c"), "/a/b-c");
        assert_eq!(
            shlex::split(&shell_quote("/a b/it's")).unwrap(),
            ["/a b/it's"]
        );
        assert_eq!(strip_ansi("\u{1b}[1merror\u{1b}[0m: x"), "error: x");
    }
}
