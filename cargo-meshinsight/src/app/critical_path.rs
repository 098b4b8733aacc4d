//! `cargo meshinsight critical-path`: each trace's critical path as CRISP computes it, and
//! with the mesh's overhead when a profile or configuration is given.

use std::path::{Path, PathBuf};

use super::error::Error;
use super::import::trace_graph_error;
use super::input::max_input_bytes;
use super::output::Output;
use super::predict::load_profiles;
use crate::analyze::critical_path::{Mesh, TraceReport, trace_report};
use crate::ecg::{Defaults, Ecg};
use crate::exit;
use crate::report::{self, Format};
use crate::traces::{Graph, load_graphs};
use crate::vocab::SidecarConfig;

/// Which traces, with which mesh, printed how.
#[derive(Clone, Debug)]
pub(crate) struct CriticalPathConfig {
    /// Trace files, each in the format it is detected to be.
    pub(crate) files: Vec<PathBuf>,
    /// Profile files for the path with the mesh; empty with a `config`: the paper's.
    pub(crate) profiles: Vec<PathBuf>,
    /// The sidecar configuration of every service; `None` with profiles: `http`.
    pub(crate) config: Option<SidecarConfig>,
    /// Request and response size of calls the trace gives none, bytes.
    pub(crate) size_bytes: u64,
    /// How to print the paths.
    pub(crate) format: Format,
}

/// Reads the traces and prints each one's critical path, without and with the mesh.
pub(crate) fn run(config: &CriticalPathConfig, out: &mut Output) -> Result<u8, Error> {
    let (graphs, problems) = load_graphs(None, &config.files, max_input_bytes()?)?;
    if !problems.is_empty() {
        out.warn(format!("problems in the traces: {}", problems.summary()));
    }
    if graphs.is_empty() {
        return Err(Error::NoUsableGraphs);
    }
    let mesh = if !config.profiles.is_empty() || config.config.is_some() {
        Some(Mesh {
            profiles: load_profiles(&config.profiles, out)?,
            config: config
                .config
                .clone()
                .unwrap_or_else(|| "http".parse().expect("a valid configuration")),
        })
    } else {
        None
    };
    let reports = graphs
        .iter()
        .map(|g| report_of(g, config, mesh.as_ref()))
        .collect::<Result<Vec<_>, _>>()?;
    let text = report::critical_path::render(&reports, config.format, out.width());
    out.out()
        .write_all(text.as_bytes())
        .map_err(|source| Error::Write {
            what: "the critical paths".into(),
            source,
        })?;
    Ok(exit::OK)
}

/// The report of one trace: its graph as an ECG (sizes defaulting to `size_bytes`, sidecars
/// from the mesh), its paths, and its problems.
fn report_of(
    g: &Graph,
    config: &CriticalPathConfig,
    mesh: Option<&Mesh>,
) -> Result<TraceReport, Error> {
    let mut defaults = Defaults {
        request_bytes: config.size_bytes,
        response_bytes: config.size_bytes,
        ..Defaults::default()
    };
    if let Some(m) = mesh {
        defaults.mode = m.config.mode;
        defaults.filters = m.config.filters.clone();
    }
    let doc = g.to_ecg_doc(&defaults, "critical-path");
    let ecg = Ecg::resolve(doc, Path::new(&g.trace_id))
        .map_err(|e| trace_graph_error(e, g, &config.files))?;
    let mut r = trace_report(&ecg, mesh)?;
    r.problems = g.problems.clone();
    Ok(r)
}
