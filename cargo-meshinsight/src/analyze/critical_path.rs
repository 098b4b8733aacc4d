//! The critical path of one call graph as CRISP computes it ([`crate::traces::crisp`]), and
//! the path the same graph takes once every service runs behind a sidecar: CRISP's rule on
//! the timeline the fork/join rebuild gives (docs/prediction.md), so that with no overhead
//! the two paths are the same.

use serde::Serialize;

use crate::ecg::Ecg;
use crate::model::CostVector;
use crate::predict::{PredictError, ProfileSet, call_costs, rebuild};
use crate::traces::Problems;
use crate::traces::crisp::{PathStep, critical_path, path_on, steps};
use crate::vocab::SidecarConfig;

/// The mesh to add: the sidecar of every service, priced by the profiles.
#[derive(Clone, Debug)]
pub(crate) struct Mesh {
    /// The profiles (the primary one names the platform).
    pub(crate) profiles: ProfileSet,
    /// The sidecar configuration of every service.
    pub(crate) config: SidecarConfig,
}

/// A path with its total.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct PathReport {
    /// The root's duration, µs.
    pub(crate) total_us: f64,
    /// The calls on the path, root first.
    pub(crate) path: Vec<PathStep>,
}

/// The path with the mesh.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct MeshPath {
    /// The sidecar configuration of every service.
    pub(crate) config: String,
    /// Platform id of the profile.
    pub(crate) profile: String,
    /// Added end-to-end latency, µs.
    pub(crate) overhead_us: f64,
    /// The path after adding the overhead.
    #[serde(flatten)]
    pub(crate) path: PathReport,
}

/// One trace's report.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct TraceReport {
    /// The trace id.
    pub(crate) trace_id: String,
    /// The path without the mesh (CRISP).
    #[serde(flatten)]
    pub(crate) path: PathReport,
    /// The path with the mesh, when a profile or configuration was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) with_mesh: Option<MeshPath>,
    /// What was repaired in the trace or left off the path (FOLLOWS_FROM-only spans, orphans,
    /// ...), by kind.
    #[serde(skip_serializing_if = "Problems::is_empty")]
    pub(crate) problems: Problems,
}

/// The report of one call graph: CRISP's path, and the path with `mesh` when given. The
/// problems are left empty for the caller, who knows the trace they came from.
pub(crate) fn trace_report(ecg: &Ecg, mesh: Option<&Mesh>) -> Result<TraceReport, PredictError> {
    let dur: Vec<f64> = ecg.calls.iter().map(|c| c.duration_us).collect();
    let path = critical_path(ecg);
    let base = PathReport {
        total_us: dur[ecg.root],
        path: steps(ecg, &path, &dur),
    };
    let with_mesh = match mesh {
        None => None,
        Some(mesh) => {
            let costs = call_costs(ecg, &mesh.profiles)?;
            let overhead: Vec<f64> = costs.iter().map(CostVector::latency_total).collect();
            let t = rebuild(ecg, &overhead);
            let path = path_on(ecg, &t.start_us, &t.duration_us);
            Some(MeshPath {
                config: mesh.config.to_string(),
                profile: mesh.profiles.primary().platform.id.clone(),
                overhead_us: t.duration_us[ecg.root] - dur[ecg.root],
                path: PathReport {
                    total_us: t.duration_us[ecg.root],
                    path: steps(ecg, &path, &t.duration_us),
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
