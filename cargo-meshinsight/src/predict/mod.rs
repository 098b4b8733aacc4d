//! Prediction (docs/prediction.md): from an ECG and a profile to the end-to-end latency and CPU
//! overhead of the mesh, with the critical path and the share of each component.

pub mod speedup;
pub mod timeline;
pub(crate) mod whatif;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::ecg::{Ecg, Service};
use crate::model::split::Split;
use crate::model::{CostPart, CostVector, CpuPrice, Profile, Unsupported};
use crate::vocab::Component;
pub use speedup::Speedup;
pub use timeline::{Timeline, rebuild};

/// The version of the prediction output format.
pub const FORMAT_VERSION: u32 = 1;

/// A prediction could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PredictError {
    /// A service needs figures the profile does not have.
    #[error(
        "cannot predict {path}: service `{service}` needs {what}, which profile `{profile}` lacks"
    )]
    Unsupported {
        /// The fixture.
        path: PathBuf,
        /// The service.
        service: String,
        /// The profile's platform id.
        profile: String,
        /// What is missing (`mode grpc`, `filter lua for mode http`).
        what: Unsupported,
    },
    /// Two profiles given for one prediction are for the same platform: a service naming it
    /// could only get one of them.
    #[error(
        "{} and {} are both profiles of platform `{platform}`: pass one profile per platform",
        first.display(),
        second.display()
    )]
    DuplicatePlatform {
        /// The platform id.
        platform: String,
        /// The first file with it.
        first: PathBuf,
        /// The second.
        second: PathBuf,
    },
    /// A service names a platform no loaded profile is for.
    #[error(
        "cannot predict {path}: service `{service}` runs on platform `{platform}`, and no loaded profile is for it (loaded: {loaded})"
    )]
    NoProfileForPlatform {
        /// The fixture.
        path: PathBuf,
        /// The service.
        service: String,
        /// The platform it names.
        platform: String,
        /// Platform ids of the loaded profiles.
        loaded: String,
    },
}

/// The profiles a prediction may draw on: the first one is the default, others are picked
/// by services whose `platform` names their platform id.
#[derive(Clone, Debug)]
pub struct ProfileSet {
    profiles: Vec<Profile>,
    cpu_price: CpuPrice,
}

impl ProfileSet {
    /// A set pricing CPU [`CpuPrice::Loaded`]; panics when empty.
    pub fn new(profiles: Vec<Profile>) -> Self {
        assert!(!profiles.is_empty(), "a profile set needs a profile");
        ProfileSet {
            profiles,
            cpu_price: CpuPrice::default(),
        }
    }

    /// A set of the profiles read from files, refusing two of one platform; panics when empty.
    pub fn from_files(files: Vec<(PathBuf, Profile)>) -> Result<Self, PredictError> {
        for (i, (second, p)) in files.iter().enumerate() {
            if let Some((first, _)) = files[..i]
                .iter()
                .find(|(_, q)| q.platform.id == p.platform.id)
            {
                return Err(PredictError::DuplicatePlatform {
                    platform: p.platform.id.clone(),
                    first: first.clone(),
                    second: second.clone(),
                });
            }
        }
        Ok(ProfileSet::new(files.into_iter().map(|(_, p)| p).collect()))
    }

    /// The set pricing CPU with `price`.
    pub fn with_cpu_price(mut self, price: CpuPrice) -> Self {
        self.cpu_price = price;
        self
    }

    /// Which CPU model prices a traversal.
    pub fn cpu_price(&self) -> CpuPrice {
        self.cpu_price
    }

    /// The default profile.
    pub fn primary(&self) -> &Profile {
        &self.profiles[0]
    }

    /// All profiles.
    pub fn profiles(&self) -> &[Profile] {
        &self.profiles
    }

    /// The set with a speedup applied to every profile.
    pub fn with_speedup(&self, speedup: &Speedup) -> Result<ProfileSet, speedup::SpeedupError> {
        Ok(ProfileSet {
            profiles: self
                .profiles
                .iter()
                .map(|p| speedup.apply(p))
                .collect::<Result<_, _>>()?,
            cpu_price: self.cpu_price,
        })
    }

    fn for_service(&self, ecg: &Ecg, service: &Service) -> Result<&Profile, PredictError> {
        let profile = match &service.platform {
            None => self.primary(),
            Some(id) => self
                .profiles
                .iter()
                .find(|p| &p.platform.id == id)
                .ok_or_else(|| PredictError::NoProfileForPlatform {
                    path: ecg.origin.clone(),
                    service: service.name.clone(),
                    platform: id.clone(),
                    loaded: self
                        .profiles
                        .iter()
                        .map(|p| p.platform.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                })?,
        };
        if let Some(config) = &service.sidecar {
            profile
                .supports(config)
                .map_err(|what| PredictError::Unsupported {
                    path: ecg.origin.clone(),
                    service: service.name.clone(),
                    profile: profile.platform.id.clone(),
                    what,
                })?;
        }
        Ok(profile)
    }
}

/// Latency on the critical path and CPU of one cost part.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ComponentFigure {
    /// Overhead of this part summed over the calls on the predicted critical path, µs.
    pub latency_us: f64,
    /// CPU of this part summed over all calls at their rates, cores.
    pub cpu_cores: f64,
}

/// The predicted figures of one ECG under one profile set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    /// End-to-end latency with the mesh, µs.
    pub predicted_latency_us: f64,
    /// Predicted minus base latency, µs.
    pub latency_overhead_us: f64,
    /// The same, in percent of the base latency.
    pub latency_overhead_pct: f64,
    /// CPU the sidecars use for this call graph at its rates, cores.
    pub cpu_overhead_cores: f64,
    /// Call ids on the predicted critical path, root first.
    pub critical_path: Vec<String>,
    /// Whether the critical path differs from the one without the mesh.
    pub critical_path_switched: bool,
    /// Per part (`ipc`, ..., `filter:lua`): latency on the critical path and CPU.
    pub components: BTreeMap<String, ComponentFigure>,
}

/// The figures after a speedup profile.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpeedupFigures {
    /// The speedup's name.
    pub name: String,
    /// The figures with it applied.
    #[serde(flatten)]
    pub figures: Figures,
}

/// The prediction for one ECG.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// Always [`FORMAT_VERSION`].
    pub format_version: u32,
    /// The fixture's name.
    pub name: String,
    /// The file it came from.
    pub file: String,
    /// Number of calls.
    pub calls: usize,
    /// Platform id of the (default) profile used.
    pub profile: String,
    /// Which CPU model priced the traversals (`loaded` in predictions made before it was
    /// recorded).
    #[serde(default)]
    pub cpu_price: CpuPrice,
    /// The root call's original duration, µs.
    pub base_latency_us: f64,
    /// The critical path without the mesh, root first.
    pub base_critical_path: Vec<String>,
    /// The figures with the mesh.
    #[serde(flatten)]
    pub figures: Figures,
    /// The figures after the speedup, when one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speedup: Option<SpeedupFigures>,
}

/// The overhead of each call: the caller's outbound sidecar plus the callee's inbound one.
pub(crate) fn call_costs(
    ecg: &Ecg,
    profiles: &ProfileSet,
) -> Result<Vec<CostVector>, PredictError> {
    let priced: Vec<Option<&Profile>> = ecg
        .services
        .iter()
        .map(|s| {
            s.sidecar
                .as_ref()
                .map(|_| profiles.for_service(ecg, s))
                .transpose()
        })
        .collect::<Result<_, _>>()?;
    // Each service's split model, stored with its mode when the profile was fitted. It was
    // measured on the plain mode, against runs without the sidecar; a configuration with
    // filters has no such runs and gets no correction.
    let splits: Vec<Option<&Split>> = ecg
        .services
        .iter()
        .zip(&priced)
        .map(|(svc, p)| match (p, &svc.sidecar) {
            (Some(p), Some(config)) if config.filters.is_empty() => {
                p.modes.get(&config.mode).and_then(|mp| mp.split.as_ref())
            }
            _ => None,
        })
        .collect();
    let (read, write) = (
        CostPart::Component(Component::Read).slot(),
        CostPart::Component(Component::Write).slot(),
    );
    Ok(ecg
        .calls
        .iter()
        .map(|call| {
            let s = call.traversal_bytes();
            let mut cost = CostVector::default();
            for svc in call.from.into_iter().chain(std::iter::once(call.to)) {
                if let (Some(profile), Some(config)) = (priced[svc], &ecg.services[svc].sidecar) {
                    cost.add(&profile.traversal_cost_priced(config, s, profiles.cpu_price));
                    if let Some(split) = splits[svc] {
                        // The extra reads and writes of a split message, half each.
                        let (lat, cpu) = split.correction(s);
                        for slot in [read, write] {
                            cost.latency_us[slot] += lat / 2.0;
                            cost.cpu_us[slot] += cpu / 2.0;
                        }
                    }
                }
            }
            cost
        })
        .collect())
}

/// Predicts the figures of `ecg` under `profiles`, given the timeline without the mesh.
fn figures(ecg: &Ecg, profiles: &ProfileSet, base: &Timeline) -> Result<Figures, PredictError> {
    let costs = call_costs(ecg, profiles)?;
    let overhead: Vec<f64> = costs.iter().map(CostVector::latency_total).collect();
    let timeline = rebuild(ecg, &overhead);
    let base_latency = ecg.calls[ecg.root].duration_us;
    let predicted = timeline.duration_us[ecg.root];

    let mut on_path = CostVector::default();
    for &k in &timeline.critical_path {
        on_path.add(&costs[k]);
    }
    let mut cpu = [0.0f64; crate::model::COST_SLOTS];
    for (call, cost) in ecg.calls.iter().zip(&costs) {
        for (slot, c) in cpu.iter_mut().enumerate() {
            *c += call.rate * cost.cpu_us[slot] / 1e6;
        }
    }
    let used_filters: Vec<bool> = CostPart::all()
        .map(|part| match part {
            CostPart::Component(_) => true,
            CostPart::Filter(f) => ecg
                .services
                .iter()
                .any(|s| s.sidecar.as_ref().is_some_and(|c| c.filters.contains(&f))),
        })
        .collect();
    let components = CostPart::all()
        .filter(|part| used_filters[part.slot()])
        .map(|part| {
            (
                part.key(),
                ComponentFigure {
                    latency_us: on_path.latency_us[part.slot()],
                    cpu_cores: cpu[part.slot()],
                },
            )
        })
        .collect();
    let overhead_us = predicted - base_latency;
    Ok(Figures {
        predicted_latency_us: predicted,
        latency_overhead_us: overhead_us,
        latency_overhead_pct: if base_latency > 0.0 {
            100.0 * overhead_us / base_latency
        } else {
            0.0
        },
        cpu_overhead_cores: cpu.iter().sum(),
        critical_path_switched: timeline.critical_path != base.critical_path,
        critical_path: ids(ecg, &timeline.critical_path),
        components,
    })
}

fn ids(ecg: &Ecg, path: &[usize]) -> Vec<String> {
    path.iter().map(|&k| ecg.calls[k].id.clone()).collect()
}

/// Predicts one ECG, and the same after `speedup` when given.
pub fn predict(
    ecg: &Ecg,
    profiles: &ProfileSet,
    speedup: Option<(&Speedup, &ProfileSet)>,
) -> Result<Prediction, PredictError> {
    let base = rebuild(ecg, &vec![0.0; ecg.calls.len()]);
    let figures_with_mesh = figures(ecg, profiles, &base)?;
    let speedup = match speedup {
        Some((s, faster)) => Some(SpeedupFigures {
            name: s.name.clone(),
            figures: figures(ecg, faster, &base)?,
        }),
        None => None,
    };
    Ok(Prediction {
        format_version: FORMAT_VERSION,
        name: ecg.name.clone(),
        file: ecg.origin.display().to_string(),
        calls: ecg.calls.len(),
        profile: profiles.primary().platform.id.clone(),
        cpu_price: profiles.cpu_price,
        base_latency_us: ecg.calls[ecg.root].duration_us,
        base_critical_path: ids(ecg, &base.critical_path),
        figures: figures_with_mesh,
        speedup,
    })
}

#[cfg(test)]
mod tests;
