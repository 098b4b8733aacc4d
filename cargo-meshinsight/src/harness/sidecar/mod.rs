//! The sidecar under test: real Envoy, the built-in reference proxy, or any
//! command, started in front of a running echo application.

pub(crate) mod builtin;
pub(crate) mod envoy;
pub(crate) mod filters;

pub use envoy::TemplateProblem;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::echo::EchoServer;
use super::process::{ManagedChild, TempDir, free_port, is_port_collision};
use super::{Endpoint, HarnessError, Launch};
use crate::vocab::{Mode, SidecarConfig};

/// How long a sidecar may take to accept connections.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

/// How the sidecar reaches the application behind it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Upstream {
    /// TCP over loopback.
    #[default]
    Tcp,
    /// A Unix domain socket (the paper's IPC what-if).
    Uds,
}

/// Which sidecar to run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sidecar {
    /// Real Envoy with a bootstrap generated per mode and filters, or the user's bootstrap
    /// template for the modes that have one.
    Envoy {
        /// The binary (`None`: `envoy` on `PATH`).
        path: Option<PathBuf>,
        /// Worker threads (`--concurrency`).
        concurrency: usize,
        /// Bootstrap templates by mode (`{listen_port}`, `{upstream_port}`, ... replaced;
        /// [`envoy::expand_template`]); modes without one get the generated bootstrap.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        templates: BTreeMap<Mode, PathBuf>,
    },
    /// The built-in reference sidecar (`__sidecar`).
    Builtin {
        /// How it reaches the application.
        upstream: Upstream,
        /// `MSG_ZEROCOPY` writes.
        zerocopy: bool,
        /// Timed busy work per message, µs (an injected regression).
        extra_work_us: u64,
        /// Write syscalls each write is issued in (an injected structural regression; 1:
        /// each write whole).
        #[serde(default = "one_piece")]
        split_writes: u32,
    },
    /// A user command run with `sh -c`; `{listen}`, `{upstream}` (HOST:PORT), `{mode}` and
    /// `{filters}` are replaced.
    Command {
        /// The command line.
        template: String,
    },
}

fn one_piece() -> u32 {
    1
}

impl Sidecar {
    /// Real Envoy from `PATH`, one worker, generated bootstraps.
    pub fn envoy() -> Sidecar {
        Sidecar::Envoy {
            path: None,
            concurrency: 1,
            templates: BTreeMap::new(),
        }
    }

    /// The user's bootstrap template for `mode`, when this is Envoy with one.
    pub fn template(&self, mode: Mode) -> Option<&Path> {
        match self {
            Sidecar::Envoy { templates, .. } => templates.get(&mode).map(PathBuf::as_path),
            _ => None,
        }
    }

    /// The built-in reference sidecar, TCP upstream, no injected work.
    pub fn builtin() -> Sidecar {
        Sidecar::Builtin {
            upstream: Upstream::Tcp,
            zerocopy: false,
            extra_work_us: 0,
            split_writes: 1,
        }
    }

    /// `envoy`, `builtin` or `command`.
    pub fn name(&self) -> &'static str {
        match self {
            Sidecar::Envoy { .. } => "envoy",
            Sidecar::Builtin { .. } => "builtin",
            Sidecar::Command { .. } => "command",
        }
    }

    /// How it reaches the application (only `builtin` can use a Unix domain socket).
    pub fn upstream(&self) -> Upstream {
        match self {
            Sidecar::Builtin { upstream, .. } => *upstream,
            _ => Upstream::Tcp,
        }
    }

    /// Starts the sidecar in front of `echo`; returns once it accepts connections.
    pub fn start(
        &self,
        launch: &Launch,
        config: &SidecarConfig,
        echo: &EchoServer,
        cpus: Option<&[usize]>,
    ) -> Result<RunningSidecar, HarnessError> {
        if echo.mode() != config.mode {
            return Err(HarnessError::Config(format!(
                "the echo application speaks {}, the sidecar is configured for {}",
                echo.mode(),
                config.mode
            )));
        }
        let upstream = match self.upstream() {
            Upstream::Tcp => echo.endpoint().clone(),
            Upstream::Uds => echo.unix_endpoint().cloned().ok_or_else(|| {
                HarnessError::Config(
                    "a uds upstream needs an echo application on a unix socket".into(),
                )
            })?,
        };
        self.start_to(launch, config, &upstream, cpus)
    }

    /// Starts the sidecar in front of any server at `upstream` (a service of a deployed
    /// topology, or another sidecar); returns once it accepts connections.
    pub fn start_to(
        &self,
        launch: &Launch,
        config: &SidecarConfig,
        upstream: &Endpoint,
        cpus: Option<&[usize]>,
    ) -> Result<RunningSidecar, HarnessError> {
        let upstream = upstream.clone();
        match self {
            Sidecar::Envoy {
                path, concurrency, ..
            } => {
                let envoy = Envoy {
                    path: path.as_deref(),
                    concurrency: *concurrency,
                    template: self.template(config.mode),
                };
                envoy.start(launch, config, &upstream, cpus)
            }
            Sidecar::Builtin {
                zerocopy,
                extra_work_us,
                split_writes,
                ..
            } => {
                if let Some(f) = config
                    .filters
                    .iter()
                    .find(|f| !filters::BUILTIN_FILTERS.contains(f))
                {
                    return Err(HarnessError::Config(format!(
                        "the builtin sidecar has no {f} filter (asked for {config}); it has fault and ratelimit, Envoy has all five"
                    )));
                }
                if *zerocopy && config.mode == crate::vocab::Mode::Grpc {
                    return Err(HarnessError::Config(
                        "--zerocopy needs the tcp or http mode (h2 owns its sockets)".into(),
                    ));
                }
                let mut cmd = launch.command(&launch.exe);
                cmd.args([
                    "__sidecar",
                    "--mode",
                    config.mode.as_str(),
                    "--listen",
                    "127.0.0.1:0",
                ])
                .arg("--upstream")
                .arg(upstream.to_string());
                if *zerocopy {
                    cmd.arg("--zerocopy");
                }
                if *extra_work_us > 0 {
                    cmd.arg("--extra-work-us").arg(extra_work_us.to_string());
                }
                if *split_writes > 1 {
                    cmd.arg("--split-writes").arg(split_writes.to_string());
                }
                if !config.filters.is_empty() {
                    let names: Vec<&str> = config.filters.iter().map(|f| f.as_str()).collect();
                    cmd.arg("--filters").arg(names.join(","));
                }
                let mut child =
                    ManagedChild::spawn(format!("sidecar `builtin` ({config})"), cmd, cpus)?;
                let listen = child
                    .read_listening(STARTUP_TIMEOUT)?
                    .into_iter()
                    .next()
                    .ok_or_else(|| {
                        HarnessError::Config("the builtin sidecar announced no address".into())
                    })?;
                Ok(RunningSidecar {
                    name: "builtin",
                    child,
                    listen,
                    version: None,
                    _dirs: Vec::new(),
                })
            }
            Sidecar::Command { template } => {
                start_command(launch, template, config, &upstream, cpus)
            }
        }
    }
}

/// The builtin sidecar's variant as flags give it (`--upstream`, `--zerocopy`,
/// `--extra-work-us`, `--split-writes` of `bench` and `profile`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BuiltinVariant {
    /// How it reaches the echo application.
    pub(crate) upstream: Upstream,
    /// `MSG_ZEROCOPY` writes.
    pub(crate) zerocopy: bool,
    /// Timed busy work per message, µs.
    pub(crate) extra_work_us: u64,
    /// Write syscalls per write.
    pub(crate) split_writes: u32,
}

impl Default for BuiltinVariant {
    fn default() -> Self {
        BuiltinVariant {
            upstream: Upstream::Tcp,
            zerocopy: false,
            extra_work_us: 0,
            split_writes: 1,
        }
    }
}

impl BuiltinVariant {
    /// Sets the variant on a builtin `sidecar`; an error when one is asked of another sidecar.
    pub(crate) fn apply(&self, sidecar: &mut Sidecar) -> Result<(), HarnessError> {
        let asked = *self != BuiltinVariant::default();
        match sidecar {
            Sidecar::Builtin {
                upstream,
                zerocopy,
                extra_work_us,
                split_writes,
            } => {
                *upstream = self.upstream;
                *zerocopy = self.zerocopy;
                *extra_work_us = self.extra_work_us;
                *split_writes = self.split_writes;
                Ok(())
            }
            _ if asked => Err(HarnessError::Config(
                "--upstream uds, --zerocopy, --extra-work-us and --split-writes need --sidecar builtin"
                    .into(),
            )),
            _ => Ok(()),
        }
    }
}

/// A sidecar spec that names no known sidecar.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown sidecar `{spec}`: {reason}; expected `envoy` (options: --binary PATH, \
     --config [MODE=]FILE), `builtin` (options: --extra-work-us N, --split-writes N, \
     --upstream tcp|uds, --zerocopy), or a command with a {{listen}} placeholder, e.g. \
     'my-proxy --listen {{listen}} --upstream {{upstream}} --mode {{mode}}'"
)]
pub struct SpecError {
    /// The spec as given.
    pub spec: String,
    /// What is wrong with it.
    pub reason: SpecProblem,
}

/// What is wrong with a sidecar spec.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SpecProblem {
    /// Nothing was given.
    #[error("it is empty")]
    Empty,
    /// An option `envoy` does not have.
    #[error("`envoy` has no option `{0}`")]
    EnvoyOption(String),
    /// `--binary` without a path.
    #[error("--binary takes the path of an Envoy binary")]
    EnvoyBinary,
    /// `--config` without `FILE` or `MODE=FILE`.
    #[error("--config takes a bootstrap template FILE (for http and grpc) or MODE=FILE")]
    EnvoyConfig,
    /// Unbalanced quotes.
    #[error("its quotes do not balance")]
    Quotes,
    /// Neither a preset nor a command.
    #[error("not a preset, and not a command (no {{listen}} placeholder)")]
    Unknown,
    /// `--extra-work-us` without a whole number.
    #[error("--extra-work-us takes a whole number of microseconds")]
    ExtraWork,
    /// `--split-writes` without a whole number of at least 1.
    #[error("--split-writes takes a whole number of pieces, at least 1")]
    SplitWrites,
    /// `--upstream` without tcp or uds.
    #[error("--upstream takes tcp or uds")]
    Upstream,
    /// An option `builtin` does not have.
    #[error("`builtin` has no option `{0}`")]
    BuiltinOption(String),
}

/// The one grammar of a sidecar spec (`--sidecar`, `--base-sidecar`): `envoy` or `builtin`
/// with their options (words split as a shell would, so a path may be quoted), or a command
/// template, which must have a `{listen}` placeholder. Anything else is an error: a typo is
/// never run as a shell command.
impl FromStr for Sidecar {
    type Err = SpecError;
    fn from_str(spec: &str) -> Result<Self, SpecError> {
        let spec = spec.trim();
        let bad = |reason: SpecProblem| SpecError {
            spec: spec.to_string(),
            reason,
        };
        if spec.contains("{listen}") {
            return Ok(Sidecar::Command {
                template: spec.to_string(),
            });
        }
        let words = shlex::split(spec).ok_or_else(|| bad(SpecProblem::Quotes))?;
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        match words.split_first() {
            Some((&"envoy", options)) => envoy_with(options).map_err(bad),
            Some((&"builtin", options)) => builtin_with(options).map_err(bad),
            Some(_) => Err(bad(SpecProblem::Unknown)),
            None => Err(bad(SpecProblem::Empty)),
        }
    }
}

/// `envoy` with `options` (`--binary PATH`, `--config FILE` for http and grpc, `--config
/// MODE=FILE`).
fn envoy_with(options: &[&str]) -> Result<Sidecar, SpecProblem> {
    let mut sidecar = Sidecar::envoy();
    let Sidecar::Envoy {
        path, templates, ..
    } = &mut sidecar
    else {
        unreachable!("Sidecar::envoy() is envoy")
    };
    let mut rest = options.iter();
    while let Some(option) = rest.next() {
        match *option {
            "--binary" => {
                let p = rest.next().filter(|p| !p.is_empty());
                *path = Some(PathBuf::from(p.ok_or(SpecProblem::EnvoyBinary)?));
            }
            "--config" => {
                let value = rest.next().ok_or(SpecProblem::EnvoyConfig)?;
                for (mode, file) in template_modes(value).ok_or(SpecProblem::EnvoyConfig)? {
                    templates.insert(mode, file);
                }
            }
            other => return Err(SpecProblem::EnvoyOption(other.to_string())),
        }
    }
    Ok(sidecar)
}

/// The modes a `--config` value applies to: `MODE=FILE`, or `FILE` for http and grpc (an
/// HTTP configuration; tcp, the reference for Parsing, keeps the generated `tcp_proxy`).
pub(crate) fn template_modes(value: &str) -> Option<Vec<(Mode, PathBuf)>> {
    if let Some((mode, file)) = value.split_once('=')
        && let Ok(mode) = mode.parse::<Mode>()
    {
        return (!file.is_empty()).then(|| vec![(mode, PathBuf::from(file))]);
    }
    (!value.is_empty()).then(|| {
        [Mode::Http, Mode::Grpc]
            .into_iter()
            .map(|m| (m, PathBuf::from(value)))
            .collect()
    })
}

/// `builtin` with `options` (`--extra-work-us N`, `--split-writes N`, `--upstream tcp|uds`,
/// `--zerocopy`).
fn builtin_with(options: &[&str]) -> Result<Sidecar, SpecProblem> {
    let mut sidecar = Sidecar::builtin();
    let Sidecar::Builtin {
        upstream,
        zerocopy,
        extra_work_us,
        split_writes,
    } = &mut sidecar
    else {
        unreachable!("Sidecar::builtin() is builtin")
    };
    let mut rest = options.iter();
    while let Some(option) = rest.next() {
        match *option {
            "--zerocopy" => *zerocopy = true,
            "--extra-work-us" => {
                *extra_work_us = rest
                    .next()
                    .and_then(|n| n.parse().ok())
                    .ok_or(SpecProblem::ExtraWork)?;
            }
            "--split-writes" => {
                *split_writes = rest
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|n| *n >= 1)
                    .ok_or(SpecProblem::SplitWrites)?;
            }
            "--upstream" => {
                *upstream = match rest.next() {
                    Some(&"tcp") => Upstream::Tcp,
                    Some(&"uds") => Upstream::Uds,
                    _ => return Err(SpecProblem::Upstream),
                };
            }
            other => return Err(SpecProblem::BuiltinOption(other.to_string())),
        }
    }
    Ok(sidecar)
}

/// The spec that parses back to the same sidecar (Envoy's workers aside, which are not part
/// of the grammar).
impl fmt::Display for Sidecar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sidecar::Envoy {
                path, templates, ..
            } => {
                f.write_str("envoy")?;
                if let Some(p) = path {
                    write!(f, " --binary {}", shell_quote(&p.to_string_lossy()))?;
                }
                let http = templates.get(&Mode::Http);
                let both = http.is_some() && http == templates.get(&Mode::Grpc);
                for (mode, file) in templates {
                    let file = file.to_string_lossy();
                    match mode {
                        Mode::Http if both => write!(f, " --config {}", shell_quote(&file))?,
                        Mode::Grpc if both => {}
                        _ => write!(f, " --config {mode}={}", shell_quote(&file))?,
                    }
                }
                Ok(())
            }
            Sidecar::Command { template } => f.write_str(template),
            Sidecar::Builtin {
                upstream,
                zerocopy,
                extra_work_us,
                split_writes,
            } => {
                f.write_str("builtin")?;
                if *extra_work_us > 0 {
                    write!(f, " --extra-work-us {extra_work_us}")?;
                }
                if *split_writes > 1 {
                    write!(f, " --split-writes {split_writes}")?;
                }
                if *upstream == Upstream::Uds {
                    f.write_str(" --upstream uds")?;
                }
                if *zerocopy {
                    f.write_str(" --zerocopy")?;
                }
                Ok(())
            }
        }
    }
}

/// A running sidecar: where it listens, its process, its version.
#[derive(Debug)]
pub struct RunningSidecar {
    name: &'static str,
    child: ManagedChild,
    listen: Endpoint,
    version: Option<String>,
    /// Its configuration and output directories, removed when it stops.
    _dirs: Vec<TempDir>,
}

impl RunningSidecar {
    /// `envoy`, `builtin` or `command`.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Its process id (the process group leader: for a command, the shell).
    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// Every process of the sidecar: the members of its process group.
    pub fn pids(&self) -> Vec<u32> {
        let pgid = self.child.pid();
        let mut pids: Vec<u32> = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .ok()
                    .and_then(|stat| {
                        // Fields after the command name: state, ppid, pgrp.
                        let rest = &stat[stat.rfind(')')? + 2..];
                        rest.split(' ').nth(2)?.parse::<u32>().ok()
                    })
                    == Some(pgid)
            })
            .collect();
        if !pids.contains(&pgid) {
            pids.push(pgid);
        }
        pids.sort_unstable();
        pids
    }

    /// Where clients connect.
    pub fn listen(&self) -> &Endpoint {
        &self.listen
    }

    /// The sidecar's version (Envoy's `--version`), when known.
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// An error with the tail of its stderr if it has exited.
    pub fn check_running(&mut self) -> Result<(), HarnessError> {
        self.child.check_running("during the run")
    }

    /// After a failed run: give a dying sidecar `grace` to finish dying, then report it.
    pub fn check_running_after(&mut self, grace: Duration) -> Result<(), HarnessError> {
        self.child.check_running_after(grace, "during the run")
    }

    /// The last lines of its standard error.
    pub fn stderr_tail(&self) -> String {
        self.child.stderr_tail()
    }
}

/// Envoy as one start sees it: the binary, its workers, the bootstrap template of the mode.
struct Envoy<'a> {
    path: Option<&'a Path>,
    concurrency: usize,
    template: Option<&'a Path>,
}

impl Envoy<'_> {
    /// Starts Envoy: its configuration goes to a directory under the system's temporary
    /// directory (Envoy 1.36 and 1.37 refuse configuration paths under /dev), what it writes
    /// while measured (tap traces) to one in memory; both belong to the children's user.
    fn start(
        &self,
        launch: &Launch,
        config: &SidecarConfig,
        upstream: &Endpoint,
        cpus: Option<&[usize]>,
    ) -> Result<RunningSidecar, HarnessError> {
        if let Some(template) = self.template
            && !config.filters.is_empty()
        {
            return Err(HarnessError::Config(format!(
                "the Envoy bootstrap template {} for {} is measured as it is: the generated filters ({config}) do not apply to it",
                template.display(),
                config.mode
            )));
        }
        let binary = envoy::resolve(self.path)?;
        let version = envoy::version(launch, &binary)?;
        let mut attempt = 0;
        loop {
            let dir = TempDir::new("meshinsight-sidecar-", "a directory for the sidecar")?;
            let output = TempDir::in_memory("meshinsight-tap-", "a directory for tap traces")?;
            let listen = Endpoint::Tcp(([127, 0, 0, 1], free_port()?).into());
            let bootstrap = match self.template {
                Some(template) => envoy::write_template(
                    template,
                    config,
                    &listen,
                    upstream,
                    dir.path(),
                    output.path(),
                )?,
                None => envoy::write_files(config, &listen, upstream, dir.path(), output.path())?,
            };
            launch.hand_over(&dir)?;
            launch.hand_over(&output)?;
            let mut cmd = launch.command(&binary);
            cmd.arg("-c")
                .arg(&bootstrap)
                .args(["--concurrency", &self.concurrency.max(1).to_string()])
                .args(["--disable-hot-restart", "--log-level", "warn"]);
            let mut child = ManagedChild::spawn(format!("sidecar `envoy` ({config})"), cmd, cpus)?;
            match child.wait_connectable(&listen, STARTUP_TIMEOUT) {
                Ok(()) => {
                    return Ok(RunningSidecar {
                        name: "envoy",
                        child,
                        listen,
                        version: Some(version),
                        _dirs: vec![dir, output],
                    });
                }
                Err(e) if attempt < 3 && is_port_collision(&e) => attempt += 1,
                Err(e) => return Err(e),
            }
        }
    }
}

/// Quotes `s` for a spec (and a shell) when it needs quotes.
fn shell_quote(s: &str) -> String {
    shlex::try_quote(s)
        .map(|q| q.into_owned())
        .unwrap_or_else(|_| s.to_string())
}

/// Replaces the placeholders of a command template.
pub fn expand_template(
    template: &str,
    listen: &Endpoint,
    upstream: &Endpoint,
    config: &SidecarConfig,
) -> String {
    let filters: Vec<&str> = config.filters.iter().map(|f| f.as_str()).collect();
    template
        .replace("{listen}", &listen.to_string())
        .replace("{upstream}", &upstream.to_string())
        .replace("{mode}", config.mode.as_str())
        .replace("{filters}", &filters.join(","))
}

fn start_command(
    launch: &Launch,
    template: &str,
    config: &SidecarConfig,
    upstream: &Endpoint,
    cpus: Option<&[usize]>,
) -> Result<RunningSidecar, HarnessError> {
    if !template.contains("{listen}") {
        return Err(HarnessError::Config(format!(
            "the sidecar command `{template}` has no {{listen}} placeholder"
        )));
    }
    if !config.filters.is_empty() && !template.contains("{filters}") {
        return Err(HarnessError::Config(format!(
            "the sidecar command `{template}` has no {{filters}} placeholder, so it cannot be asked for {config}; add `{{filters}}` where it takes its filter list"
        )));
    }
    let mut attempt = 0;
    loop {
        let listen = Endpoint::Tcp(([127, 0, 0, 1], free_port()?).into());
        let line = expand_template(template, &listen, upstream, config);
        let mut cmd = launch.command("sh");
        cmd.arg("-c").arg(&line);
        let mut child = ManagedChild::spawn("sidecar command", cmd, cpus)?;
        match child.wait_connectable(&listen, STARTUP_TIMEOUT) {
            Ok(()) => {
                return Ok(RunningSidecar {
                    name: "command",
                    child,
                    listen,
                    version: None,
                    _dirs: Vec::new(),
                });
            }
            Err(HarnessError::Exited { status, .. }) if status == "exit status 127" => {
                let program = line
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string();
                return Err(HarnessError::MissingBinary {
                    what: "sidecar command".into(),
                    program,
                });
            }
            Err(e) if attempt < 3 && is_port_collision(&e) => attempt += 1,
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_to_presets_and_commands_and_print_back() {
        assert_eq!("envoy".parse::<Sidecar>().unwrap(), Sidecar::envoy());
        assert_eq!(" builtin ".parse::<Sidecar>().unwrap(), Sidecar::builtin());
        let cmd: Sidecar = "my-proxy -l {listen}".parse().unwrap();
        assert_eq!(cmd.name(), "command");
        for spec in [
            "builtin --extra-work-us 5",
            "builtin --split-writes 2",
            "builtin --extra-work-us 2 --split-writes 3 --upstream uds",
            "builtin --upstream uds --zerocopy",
            "envoy",
            "envoy --binary /opt/envoy-1.36.2/bin/envoy",
            "envoy --config mesh/envoy.yaml",
            "envoy --binary '/a b/envoy' --config tcp=t.yaml --config http=h.yaml",
            "my-proxy -l {listen}",
        ] {
            let s: Sidecar = spec.parse().unwrap();
            assert_eq!(s.to_string(), spec);
            assert_eq!(s.to_string().parse::<Sidecar>().unwrap(), s);
        }
    }

    #[test]
    fn envoy_takes_a_binary_and_bootstrap_templates_by_mode() {
        let s: Sidecar = "envoy --binary /x/envoy --config m.yaml --config tcp=t.json"
            .parse()
            .unwrap();
        let Sidecar::Envoy {
            path, templates, ..
        } = &s
        else {
            panic!("{s:?}")
        };
        assert_eq!(path.as_deref(), Some(Path::new("/x/envoy")));
        assert_eq!(s.template(Mode::Tcp), Some(Path::new("t.json")));
        assert_eq!(s.template(Mode::Http), Some(Path::new("m.yaml")));
        assert_eq!(s.template(Mode::Grpc), Some(Path::new("m.yaml")));
        assert_eq!(templates.len(), 3);
        assert_eq!(Sidecar::envoy().template(Mode::Http), None);
        for (bad, reason) in [
            ("envoy --binary", SpecProblem::EnvoyBinary),
            ("envoy --config", SpecProblem::EnvoyConfig),
            ("envoy --config http=", SpecProblem::EnvoyConfig),
            ("envoy --turbo", SpecProblem::EnvoyOption("--turbo".into())),
            ("envoy --binary '/a", SpecProblem::Quotes),
        ] {
            assert_eq!(bad.parse::<Sidecar>().unwrap_err().reason, reason, "{bad}");
        }
    }

    #[test]
    fn a_typo_is_an_error_naming_the_known_sidecars_not_a_shell_command() {
        let e = "enovy".parse::<Sidecar>().unwrap_err().to_string();
        assert!(e.contains("unknown sidecar `enovy`"), "{e}");
        assert!(
            e.contains("expected `envoy` (options: --binary PATH"),
            "{e}"
        );
        assert!(e.contains("`builtin` (options"), "{e}");
        assert!(e.contains("{listen} placeholder"), "{e}");
        for bad in [
            "",
            "builtin --extra-work-us",
            "builtin --split-writes",
            "builtin --split-writes 0",
            "builtin --split-writes two",
            "builtin --turbo",
            "envoy --x",
        ] {
            assert!(bad.parse::<Sidecar>().is_err(), "{bad}");
        }
    }

    #[test]
    fn templates_expand_every_placeholder() {
        let line = expand_template(
            "p --listen {listen} --to {upstream} --mode {mode} --filters {filters}",
            &"127.0.0.1:1".parse().unwrap(),
            &"127.0.0.1:2".parse().unwrap(),
            &"http+lua,wasm".parse().unwrap(),
        );
        assert_eq!(
            line,
            "p --listen 127.0.0.1:1 --to 127.0.0.1:2 --mode http --filters lua,wasm"
        );
    }

    /// Asked for filters, a command without a `{filters}` placeholder (it would run without
    /// them) and builtin asked for a filter it lacks are refused before anything starts.
    #[test]
    fn filters_a_sidecar_cannot_take_are_refused() {
        let launch = Launch::with_exe("/nonexistent/cargo-meshinsight");
        let upstream: Endpoint = "127.0.0.1:9".parse().unwrap();
        let fault: SidecarConfig = "http+fault".parse().unwrap();
        let lua: SidecarConfig = "http+lua".parse().unwrap();
        let err = "my-proxy --listen {listen} --to {upstream}"
            .parse::<Sidecar>()
            .unwrap()
            .start_to(&launch, &fault, &upstream, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no {filters} placeholder"), "{err}");
        let err = Sidecar::builtin()
            .start_to(&launch, &lua, &upstream, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("has no lua filter"), "{err}");
    }
}
