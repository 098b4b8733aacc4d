//! The offline profiler's runs: for each mode and size, closed-loop latency runs and
//! open-loop runs at fractions of the measured maximum rate, each without and with the
//! sidecar, interleaved, with the eBPF probe on every process of the run; filters measured
//! against the plain mode. [`crate::model::assemble`] turns the runs into models.
//!
//! A plain profile and a paired measurement ([`paired`]) build a [`plan::Plan`] of targets per
//! point and go through the same run loop ([`run`]).

use std::path::PathBuf;
use std::time::Duration;

pub(crate) mod paired;
pub(crate) mod plan;
pub(crate) mod quiet;
mod run;
mod session;

use crate::harness::sidecar::filters::BUILTIN_FILTERS;
use crate::harness::{CpuList, HarnessError, Launch, Sidecar, Upstream};
use crate::model::runs::Load;
use crate::model::{Platform, Profile, SidecarInfo};
use crate::probe::{ProbeError, ProbeSet};
use crate::util::hash::{sha256_file, slug};
use crate::vocab::{Filter, Mode};
use plan::Plan;

/// Why profiling stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MeasureError {
    /// The probe could not attach or read.
    #[error(transparent)]
    Probe(#[from] ProbeError),
    /// A process or load run failed.
    #[error(transparent)]
    Harness(#[from] HarnessError),
    /// The settings cannot be measured.
    #[error("cannot profile: {0}")]
    Settings(SettingsError),
    /// No open-loop rate went through a sidecar at all.
    #[error("cannot profile: the {mode} sidecar sustained no rate at all")]
    NoRate {
        /// The mode measured.
        mode: Mode,
    },
    /// A mode and filters that do not go together.
    #[error(transparent)]
    Config(#[from] crate::vocab::VocabError),
}

/// Settings that cannot be measured.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SettingsError {
    /// No mode was asked for.
    #[error("no modes to profile")]
    NoModes,
    /// A size of 0 or above 16 MiB.
    #[error("sizes must be between 1 byte and 16 MiB")]
    Sizes,
    /// A rate fraction outside (0, 1].
    #[error("rates are percentages of the maximum rate, in (0, 100]")]
    Rates,
    /// A count of 0.
    #[error("--repeat, --requests and --block-requests must be at least 1")]
    ZeroCount,
    /// Too few or too many sidecars in series.
    #[error("--chain must be between 1 and {MAX_CHAIN} sidecars in series (got {0})")]
    Chain(u32),
    /// Sidecars in series with filters.
    #[error(
        "--chain measures the plain modes only; profile filters with --chain 1 (or pass --filters '')"
    )]
    ChainWithFilters,
    /// Filters without http or grpc.
    #[error("filters need the http or grpc mode")]
    FiltersNeedHttp,
    /// A filter the builtin sidecar does not have.
    #[error(
        "the builtin sidecar has no {0} filter (it has fault and ratelimit); profile {0} with --sidecar envoy"
    )]
    NotBuiltin(Filter),
    /// Filters asked of a mode that runs the user's Envoy bootstrap template.
    #[error(
        "the Envoy bootstrap template for {0} is measured as it is: the generated filters do not apply to it (its own filters are part of the {0} cost); measure no filters"
    )]
    TemplateFilters(Mode),
    /// Sidecars in series in a paired measurement.
    #[error("a paired check measures one sidecar per path; --chain is for `profile`")]
    PairedChain,
}

impl From<SettingsError> for MeasureError {
    fn from(e: SettingsError) -> Self {
        MeasureError::Settings(e)
    }
}

/// What to measure.
#[derive(Clone, Debug)]
pub(crate) struct MeasureConfig {
    /// The sidecar under test.
    pub sidecar: Sidecar,
    /// Modes (tcp is added when http or grpc are asked for: Parsing needs it).
    pub modes: Vec<Mode>,
    /// Filters, measured on top of http (or grpc when http is not profiled).
    pub filters: Vec<Filter>,
    /// Payload sizes, bytes.
    pub sizes: Vec<u64>,
    /// Open-loop rates as fractions of the maximum rate (0..1]; empty: no open loop.
    pub rate_fractions: Vec<f64>,
    /// Repetitions of every run.
    pub repeat: u32,
    /// Measured requests per closed-loop point and repeat.
    pub requests: u64,
    /// The closed-loop requests of a point are measured in blocks of about this many, each
    /// block once without and once with the sidecar, and each block pair is a run pair of its
    /// own: more short runs average over more of the states a run can get (docs/profiling.md).
    pub block_requests: u64,
    /// Measured time per open-loop run.
    pub open_duration: Duration,
    /// Pin load generator, application and sidecar to CPUs.
    pub pin: bool,
    /// The CPUs to measure on (real ids, within the allowed set; `--cpus`, `cpus = "2-7"`);
    /// `None`: the allowed set.
    pub cpus: Option<CpuList>,
    /// Sidecars in series on the measured path (1: one sidecar in front of the application;
    /// 2: an outbound sidecar into an inbound one, as a mesh hop deploys them). Each
    /// component's cost is divided by it: the profile prices one sidecar as it runs in a hop.
    pub chain: u32,
    /// The probe's programs (`None`: raw tracepoints where they load, else classic). The
    /// profiler defaults to the classic set: its profiles vary less from run to run
    /// (docs/results.md), although the raw set costs less per event.
    pub probe_set: Option<ProbeSet>,
}

impl MeasureConfig {
    /// The defaults: 100..4000 bytes, 25/50/75/100 % of the maximum rate.
    pub(crate) fn full(sidecar: Sidecar) -> Self {
        MeasureConfig {
            sidecar,
            modes: Mode::ALL.to_vec(),
            filters: Filter::ALL.to_vec(),
            sizes: vec![100, 1000, 2000, 3000, 4000],
            rate_fractions: vec![0.25, 0.5, 0.75, 1.0],
            repeat: 2,
            requests: 1500,
            block_requests: 250,
            open_duration: Duration::from_millis(400),
            pin: true,
            cpus: None,
            chain: 1,
            probe_set: Some(ProbeSet::Tracepoint),
        }
    }

    /// `--quick`: tcp and http, three sizes, two rates, no filters; four repeats, so that
    /// each load has 12 points per mode and a disturbed run can be screened out.
    pub(crate) fn quick(sidecar: Sidecar) -> Self {
        MeasureConfig {
            modes: vec![Mode::Tcp, Mode::Http],
            filters: vec![],
            sizes: vec![100, 2000, 4000],
            rate_fractions: vec![0.5, 1.0],
            repeat: 4,
            ..MeasureConfig::full(sidecar)
        }
    }

    pub(super) fn modes_in_order(&self) -> Vec<Mode> {
        let mut modes = self.modes.clone();
        if modes.iter().any(|m| *m != Mode::Tcp) && !modes.contains(&Mode::Tcp) {
            modes.push(Mode::Tcp);
        }
        modes.sort();
        modes.dedup();
        modes
    }

    /// The mode filters are measured on.
    pub(crate) fn filter_mode(&self) -> Option<Mode> {
        let modes = self.modes_in_order();
        [Mode::Http, Mode::Grpc]
            .into_iter()
            .find(|m| modes.contains(m))
    }

    /// Closed-loop blocks per point and repeat, and the requests of each.
    pub(crate) fn blocks(&self) -> (u64, u64) {
        let blocks = self.requests.div_ceil(self.block_requests.max(1)).max(1);
        (blocks, self.requests.div_ceil(blocks))
    }

    /// The runs of one repeat: every closed-loop block (numbered `repeat · blocks + block`, so
    /// that each block pair is a run pair of its own) and every open-loop load (numbered
    /// `repeat`).
    pub(super) fn slots(&self, loads: &[Load], repeat: u32) -> Vec<(Load, u32)> {
        let blocks = self.blocks().0 as u32;
        loads
            .iter()
            .flat_map(|&load| match load {
                Load::Closed => (0..blocks)
                    .map(|b| (load, repeat * blocks + b))
                    .collect::<Vec<_>>(),
                Load::Open { .. } => vec![(load, repeat)],
            })
            .collect()
    }

    /// Every run point of one configuration in the order they are measured: repeat by repeat,
    /// every size within each repeat (the first size rotating from one repeat to the next),
    /// and every load slot of that size. Sizes are interleaved in time so that a slow change
    /// of the machine falls on every size alike instead of bending the per-byte fits
    /// (docs/profiling.md).
    pub(super) fn schedule(&self, loads: &[Load]) -> Vec<(u64, Load, u32)> {
        (0..self.repeat)
            .flat_map(|repeat| {
                (0..self.sizes.len()).flat_map(move |i| {
                    let size = self.sizes[(i + repeat as usize) % self.sizes.len()];
                    self.slots(loads, repeat)
                        .into_iter()
                        .map(move |(load, slot)| (size, load, slot))
                })
            })
            .collect()
    }

    /// Number of load runs of a paired measurement (not counting the maximum-rate searches):
    /// three per plain-mode point (no sidecar, base, head), four per filter point (base and
    /// head, each with and without the filter).
    pub(super) fn planned_paired_runs(&self) -> u64 {
        Plan::paired(self).runs(self)
    }

    /// Number of load runs (for progress), not counting the maximum-rate searches.
    pub(crate) fn planned_runs(&self) -> u64 {
        Plan::plain(self).runs(self)
    }

    pub(crate) fn validate(&self) -> Result<(), SettingsError> {
        if self.modes.is_empty() {
            return Err(SettingsError::NoModes);
        }
        if self.sizes.is_empty() || self.sizes.iter().any(|s| *s == 0 || *s > 1 << 24) {
            return Err(SettingsError::Sizes);
        }
        if self.rate_fractions.iter().any(|f| !(*f > 0.0 && *f <= 1.0)) {
            return Err(SettingsError::Rates);
        }
        if self.repeat == 0 || self.requests == 0 || self.block_requests == 0 {
            return Err(SettingsError::ZeroCount);
        }
        if !(1..=MAX_CHAIN).contains(&self.chain) {
            return Err(SettingsError::Chain(self.chain));
        }
        if self.chain > 1 && !self.filters.is_empty() {
            return Err(SettingsError::ChainWithFilters);
        }
        if !self.filters.is_empty() {
            if self.filter_mode().is_none() {
                return Err(SettingsError::FiltersNeedHttp);
            }
            if let Sidecar::Builtin { .. } = self.sidecar
                && let Some(f) = self.filters.iter().find(|f| !BUILTIN_FILTERS.contains(f))
            {
                return Err(SettingsError::NotBuiltin(*f));
            }
            if let Some(mode) = self.filter_mode()
                && self.sidecar.template(mode).is_some()
            {
                return Err(SettingsError::TemplateFilters(mode));
            }
        }
        Ok(())
    }
}

/// The longest `--chain`.
pub(crate) const MAX_CHAIN: u32 = 4;

/// Progress of a profile.
#[derive(Clone, Debug)]
pub(crate) enum Progress {
    /// A phase started (`measuring tcp`, `finding the maximum rate of http`, ...).
    Phase(String),
    /// A load run finished.
    Run,
}

/// Measures and fits a profile. `progress` hears of phases and finished runs.
pub(crate) fn measure(
    cfg: &MeasureConfig,
    launch: &Launch,
    progress: &mut dyn FnMut(Progress),
) -> Result<Profile, MeasureError> {
    cfg.validate()?;
    let mut notes = sidecar_notes(cfg);
    let measured = run::execute(cfg, &Plan::plain(cfg), &[&cfg.sidecar], launch, progress)?;
    notes.extend(measured.notes);
    let version = measured.versions.into_iter().next().flatten();
    let platform = fingerprint(&cfg.sidecar, launch, version, measured.cores);
    let settings = measured.finished.settings(cfg, measured.max_rate_rps);
    let runs = measured.runs.into_iter().map(|(_, run)| run).collect();
    Ok(measured
        .finished
        .profile("", platform, notes, settings, runs))
}

/// What a profile says about how its sidecar ran: a builtin sidecar's variant, sidecars in
/// series.
fn sidecar_notes(cfg: &MeasureConfig) -> Vec<String> {
    let mut notes = Vec::new();
    if let Sidecar::Builtin {
        upstream,
        zerocopy,
        extra_work_us,
        split_writes,
    } = &cfg.sidecar
    {
        let mut variant = Vec::new();
        if *upstream == Upstream::Uds {
            variant.push("a Unix-domain-socket upstream".to_string());
        }
        if *zerocopy {
            variant.push("MSG_ZEROCOPY writes".to_string());
        }
        if *extra_work_us > 0 {
            variant.push(format!("{extra_work_us} µs of extra work per message"));
        }
        if *split_writes > 1 {
            variant.push(format!("every write in {split_writes} write syscalls"));
        }
        if !variant.is_empty() {
            notes.push(format!("builtin sidecar with {}", variant.join(", ")));
        }
    }
    if let Sidecar::Envoy { templates, .. } = &cfg.sidecar
        && !templates.is_empty()
    {
        let used: Vec<String> = templates
            .iter()
            .map(|(mode, file)| format!("{mode} from {}", file.display()))
            .collect();
        notes.push(format!(
            "Envoy ran the user's bootstrap templates ({}); other modes ran the generated configuration, and no generated filter applies to a template",
            used.join(", ")
        ));
    }
    if cfg.chain > 1 {
        notes.push(format!(
            "every run through the sidecar went through {} of them in series (as a mesh hop's \
             outbound and inbound sidecars); each cost is per sidecar, the difference divided by {}",
            cfg.chain, cfg.chain
        ));
    }
    notes
}

/// CPU model, core count, kernel, sidecar name, version and binary hash, tool version.
pub(crate) fn fingerprint(
    sidecar: &Sidecar,
    launch: &Launch,
    version: Option<String>,
    cores: Option<u32>,
) -> Platform {
    let cpu_model = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|s| {
        s.lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
    });
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .ok()
        .map(|s| s.trim().to_string());
    let binary: Option<PathBuf> = match sidecar {
        Sidecar::Envoy { path: Some(p), .. } => Some(p.clone()),
        Sidecar::Envoy { path: None, .. } => which::which("envoy").ok(),
        Sidecar::Builtin { .. } => Some(launch.exe.clone()),
        Sidecar::Command { .. } => None,
    };
    let version = match sidecar {
        Sidecar::Builtin { .. } => Some(env!("CARGO_PKG_VERSION").to_string()),
        _ => version,
    };
    let kernel_mm = kernel
        .as_deref()
        .map(|k| k.split('.').take(2).collect::<Vec<_>>().join("."))
        .unwrap_or_else(|| "unknown".into());
    let id = format!(
        "{}-{}-{}c-linux-{}",
        sidecar.name(),
        slug(cpu_model.as_deref().unwrap_or("unknown-cpu")),
        cores.unwrap_or(0),
        kernel_mm
    );
    Platform {
        id,
        cpu_model,
        cores,
        kernel,
        sidecar: SidecarInfo {
            name: match sidecar {
                Sidecar::Command { template } => template.clone(),
                other => other.name().to_string(),
            },
            version,
            binary_sha256: binary.as_deref().and_then(sha256_file),
        },
        tool_version: Some(env!("CARGO_PKG_VERSION").to_string()),
        probe_set: Some("tracepoint".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_refused_for_a_mode_that_runs_a_bootstrap_template() {
        let sidecar: Sidecar = "envoy --config mesh.yaml".parse().unwrap();
        let cfg = MeasureConfig {
            filters: vec![Filter::Lua],
            ..MeasureConfig::quick(sidecar.clone())
        };
        assert_eq!(
            cfg.validate(),
            Err(SettingsError::TemplateFilters(Mode::Http))
        );
        let plain = MeasureConfig::quick(sidecar);
        assert_eq!(plain.validate(), Ok(()));
        assert!(sidecar_notes(&plain)[0].contains("http from mesh.yaml"));
    }

    #[test]
    fn closed_loops_are_measured_in_blocks_that_pair_on_their_own() {
        let cfg = MeasureConfig::quick(Sidecar::builtin());
        assert_eq!(cfg.blocks(), (6, 250));
        let odd = MeasureConfig {
            requests: 800,
            ..cfg.clone()
        };
        assert_eq!(odd.blocks(), (4, 200));
        let one = MeasureConfig {
            block_requests: 5000,
            ..cfg.clone()
        };
        assert_eq!(one.blocks(), (1, 1500));
        let loads = [
            Load::Closed,
            Load::Open {
                fraction: 0.5,
                rate: 1000.0,
            },
        ];
        let slots = cfg.slots(&loads, 1);
        let closed: Vec<u32> = slots
            .iter()
            .filter(|(l, _)| *l == Load::Closed)
            .map(|(_, s)| *s)
            .collect();
        assert_eq!(closed, (6..12).collect::<Vec<_>>());
        assert_eq!(slots.last().unwrap().1, 1);
        // Sizes interleave in time: each repeat measures every size, the first rotating.
        let schedule = cfg.schedule(&loads);
        assert_eq!(schedule.len(), 4 * 3 * (6 + 1));
        let firsts: Vec<u64> = schedule.iter().step_by(3 * 7).map(|p| p.0).collect();
        assert_eq!(firsts, [100, 2000, 4000, 100]);
        let repeat1: Vec<(u64, u32)> = schedule[21..42]
            .iter()
            .filter(|p| p.1 == Load::Closed)
            .map(|p| (p.0, p.2))
            .collect();
        let sizes: Vec<u64> = repeat1.iter().step_by(6).map(|p| p.0).collect();
        assert_eq!(sizes, [2000, 4000, 100]);
        assert!(repeat1.iter().all(|p| (6..12).contains(&p.1)));
        // Every (size, load, slot) point once.
        let mut points: Vec<_> = schedule
            .iter()
            .map(|p| (p.0, p.2, p.1 == Load::Closed))
            .collect();
        points.sort();
        points.dedup();
        assert_eq!(points.len(), schedule.len());
        // 2 modes × 3 sizes × 4 repeats × (6 blocks + 2 rates) × (with, without).
        assert_eq!(cfg.planned_runs(), 2 * 3 * 4 * 8 * 2);
        let zero = MeasureConfig {
            block_requests: 0,
            ..cfg
        };
        assert!(zero.validate().is_err());
    }
}
