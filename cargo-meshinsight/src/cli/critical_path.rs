//! `cargo meshinsight critical-path`.

use std::path::{Path, PathBuf};

use comfy_table::presets::{ASCII_MARKDOWN, UTF8_BORDERS_ONLY};
use comfy_table::{CellAlignment, Table};
use serde::Serialize;

use crate::app::error::Error;
use crate::app::output::Output;
use crate::app::predict::load_profiles;
use crate::ecg::{Defaults, Ecg};
use crate::exit;
use crate::model::CostVector;
use crate::predict::{ProfileSet, call_costs, rebuild};
use crate::report::{Format, us};
use crate::traces::crisp::{PathStep, critical_path, steps};
use crate::traces::{Problems, load_graphs};
use crate::vocab::SidecarConfig;

/// Print each trace's critical path as CRISP computes it, and with the mesh's overhead.
#[derive(Debug, clap::Args)]
pub struct CriticalPathArgs {
    /// Trace files: Jaeger or OTLP JSON, or Alibaba CallGraph CSV
    #[arg(value_name = "FILE", required = true)]
    files: Vec<PathBuf>,
    /// Profile JSON: also show the path with the sidecars' overhead added [default with --config: the paper's]
    #[arg(long, value_name = "FILE")]
    profile: Option<PathBuf>,
    /// Sidecar configuration of every service, MODE[+filter,...] [default with --profile: http]
    #[arg(long, value_name = "CONFIG")]
    config: Option<SidecarConfig>,
    /// Request and response size of calls the trace gives none, bytes
    #[arg(long, value_name = "BYTES", default_value_t = 100)]
    size: u64,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// A path with its total.
#[derive(Clone, Debug, Serialize)]
pub struct PathReport {
    /// The root's duration, µs.
    pub total_us: f64,
    /// The calls on the path, root first.
    pub path: Vec<PathStep>,
}

/// The path with the mesh.
#[derive(Clone, Debug, Serialize)]
pub struct MeshPath {
    /// The sidecar configuration of every service.
    pub config: String,
    /// Platform id of the profile.
    pub profile: String,
    /// Added end-to-end latency, µs.
    pub overhead_us: f64,
    /// The path after adding the overhead.
    #[serde(flatten)]
    pub path: PathReport,
}

/// One trace's report.
#[derive(Clone, Debug, Serialize)]
pub struct TraceReport {
    /// The trace id.
    pub trace_id: String,
    /// The path without the mesh (CRISP).
    #[serde(flatten)]
    pub path: PathReport,
    /// The path with the mesh, when a profile or configuration was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub with_mesh: Option<MeshPath>,
    /// What was repaired in the trace or left off the path (FOLLOWS_FROM-only spans, orphans,
    /// ...), by kind.
    #[serde(skip_serializing_if = "Problems::is_empty")]
    pub problems: Problems,
}

pub(super) fn run(args: CriticalPathArgs, out: &mut Output) -> Result<u8, Error> {
    let (graphs, problems) = load_graphs(None, &args.files)?;
    if !problems.is_empty() {
        out.warn(format!("problems in the traces: {}", problems.summary()));
    }
    let mesh = if args.profile.is_some() || args.config.is_some() {
        let profiles = load_profiles(&args.profile.iter().cloned().collect::<Vec<_>>(), out)?;
        let config = args
            .config
            .clone()
            .unwrap_or_else(|| "http".parse().expect("a valid configuration"));
        Some((profiles, config))
    } else {
        None
    };
    let mut reports = Vec::with_capacity(graphs.len());
    for g in &graphs {
        let mut defaults = Defaults {
            request_bytes: args.size,
            response_bytes: args.size,
            ..Defaults::default()
        };
        if let Some((_, c)) = &mesh {
            defaults.mode = c.mode;
            defaults.filters = c.filters.clone();
        }
        let doc = g.to_ecg_doc(&defaults, "critical-path");
        let origin = Path::new(&g.trace_id);
        let ecg = Ecg::resolve(doc, origin)?;
        let mut r = report(&ecg, mesh.as_ref())?;
        r.problems = g.problems.clone();
        reports.push(r);
    }
    let text = match args.format {
        Format::Json => {
            let mut s = serde_json::to_string_pretty(&reports).expect("reports serialize");
            s.push('\n');
            s
        }
        Format::Table => tables(&reports, false),
        Format::Markdown => tables(&reports, true),
    };
    out.out()
        .write_all(text.as_bytes())
        .map_err(|source| Error::Write {
            what: "the critical paths".into(),
            source,
        })?;
    Ok(exit::OK)
}

/// The report of one call graph: CRISP's path, and the path with the mesh when asked.
pub fn report(ecg: &Ecg, mesh: Option<&(ProfileSet, SidecarConfig)>) -> Result<TraceReport, Error> {
    let start: Vec<f64> = ecg.calls.iter().map(|c| c.start_us).collect();
    let dur: Vec<f64> = ecg.calls.iter().map(|c| c.duration_us).collect();
    let path = critical_path(ecg);
    let base = PathReport {
        total_us: dur[ecg.root],
        path: steps(ecg, &path, &start, &dur),
    };
    let with_mesh = match mesh {
        None => None,
        Some((profiles, config)) => {
            let costs = call_costs(ecg, profiles)?;
            let overhead: Vec<f64> = costs.iter().map(CostVector::latency_total).collect();
            let t = rebuild(ecg, &overhead);
            Some(MeshPath {
                config: config.to_string(),
                profile: profiles.primary().platform.id.clone(),
                overhead_us: t.duration_us[ecg.root] - dur[ecg.root],
                path: PathReport {
                    total_us: t.duration_us[ecg.root],
                    path: steps(ecg, &t.critical_path, &t.start_us, &t.duration_us),
                },
            })
        }
    };
    Ok(TraceReport {
        trace_id: ecg.name.clone(),
        path: base,
        with_mesh,
        problems: Problems::default(),
    })
}

fn tables(reports: &[TraceReport], markdown: bool) -> String {
    let mut text = String::new();
    for r in reports {
        let mut t = Table::new();
        t.load_style(if markdown {
            ASCII_MARKDOWN
        } else {
            UTF8_BORDERS_ONLY
        });
        let mut header = vec!["call", "service", "operation", "exclusive µs"];
        if r.with_mesh.is_some() {
            header.push("with mesh µs");
        }
        t.set_header(header);
        let mesh_of = |id: &str| {
            r.with_mesh
                .as_ref()
                .and_then(|m| m.path.path.iter().find(|s| s.id == id))
        };
        for s in &r.path.path {
            let mut row = vec![
                s.id.clone(),
                s.service.clone(),
                s.operation.clone(),
                us(s.exclusive_us),
            ];
            if r.with_mesh.is_some() {
                row.push(mesh_of(&s.id).map_or("off path".into(), |m| us(m.exclusive_us)));
            }
            t.add_row(row);
        }
        if let Some(m) = &r.with_mesh {
            for s in &m.path.path {
                if !r.path.path.iter().any(|b| b.id == s.id) {
                    t.add_row(vec![
                        s.id.clone(),
                        s.service.clone(),
                        s.operation.clone(),
                        "off path".into(),
                        us(s.exclusive_us),
                    ]);
                }
            }
        }
        let mut total = vec![
            "total".to_string(),
            String::new(),
            String::new(),
            us(r.path.total_us),
        ];
        if let Some(m) = &r.with_mesh {
            total.push(us(m.path.total_us));
        }
        t.add_row(total);
        for i in 3..t.column_count() {
            if let Some(c) = t.column_mut(i) {
                c.set_cell_alignment(CellAlignment::Right);
            }
        }
        text.push_str(&format!("trace {}", r.trace_id));
        if let Some(m) = &r.with_mesh {
            text.push_str(&format!(
                " (with the mesh: {} on profile {}, +{} µs)",
                m.config,
                m.profile,
                us(m.overhead_us)
            ));
        }
        text.push('\n');
        if !r.problems.is_empty() {
            text.push_str(&format!("  {}\n", r.problems.summary()));
        }
        text.push_str(&t.to_string());
        text.push_str("\n\n");
    }
    text
}
