//! Paired measurement (the gate's paired mode): a base and a head sidecar in front of the
//! same echo application, measured interleaved in one run. At every point (mode, size,
//! repetition, load) the load runs once straight to the application, once through the base
//! and once through the head, base and head taking turns from point to point
//! ([`super::plan::Phase::order`]), so that whatever the machine does slowly (other jobs,
//! frequency, cache state) and whatever one run leaves for the next fall on both sides alike.
//!
//! Two profiles come out: the base's and the head's, each against the shared no-sidecar runs.
//! The gate fits each repeat of both on its own and judges the per-repeat differences
//! (`gate::replicates`).
//!
//! Filters: on the filter mode, a base and a head sidecar with each filter run beside the
//! plain ones, four runs per point, the sides taking turns in the same way. Each side's filter
//! cost pairs with its plain run of the same point (`Run::reference_for`).

use super::plan::Plan;
use super::{MeasureConfig, MeasureError, Progress, SettingsError, fingerprint, run};
use crate::harness::{Launch, Sidecar};
use crate::model::Profile;
use crate::model::runs::Run;

/// What a paired run measured.
#[derive(Clone, Debug)]
pub(crate) struct PairedProfiles {
    /// The base sidecar against the shared no-sidecar runs.
    pub base: Profile,
    /// The head sidecar against the shared no-sidecar runs.
    pub head: Profile,
    /// Matched points (closed-loop and open-loop), over all modes.
    pub points: usize,
}

/// The runs of a paired measurement by where they went.
struct Sides {
    direct: Vec<Run>,
    base: Vec<Run>,
    head: Vec<Run>,
}

impl Sides {
    /// Splits runs measured with the base as sidecar 0 and the head as sidecar 1 (the other
    /// way round when `head_first`).
    fn split(runs: Vec<(Option<usize>, Run)>, head_first: bool) -> Sides {
        let mut sides = Sides {
            direct: Vec::new(),
            base: Vec::new(),
            head: Vec::new(),
        };
        for (sidecar, run) in runs {
            match sidecar {
                None => sides.direct.push(run),
                Some(0) => sides.base.push(run),
                Some(_) => sides.head.push(run),
            }
        }
        if head_first {
            std::mem::swap(&mut sides.base, &mut sides.head);
        }
        sides
    }
}

/// Measures `base` and `cfg.sidecar` (the head) interleaved, plain modes and each filter
/// (the combination of filters is not measured: it serves the additivity check only).
/// `head_first` makes the head sidecar 0: started first, listed first, first at the even
/// points. The gate alternates it from round to round, so that whatever favours the first side
/// of a round falls on both sides alike (docs/gate.md, "Order effects").
pub(crate) fn measure_paired(
    cfg: &MeasureConfig,
    base: &Sidecar,
    head_first: bool,
    launch: &Launch,
    progress: &mut dyn FnMut(Progress),
) -> Result<PairedProfiles, MeasureError> {
    cfg.validate()?;
    if cfg.chain > 1 {
        return Err(SettingsError::PairedChain.into());
    }
    let base_cfg = MeasureConfig {
        sidecar: base.clone(),
        ..cfg.clone()
    };
    base_cfg.validate()?; // the base may lack a filter the head has
    let sidecars = if head_first {
        [&cfg.sidecar, base]
    } else {
        [base, &cfg.sidecar]
    };
    let measured = run::execute(cfg, &Plan::paired(cfg), &sidecars, launch, progress)?;
    let mut versions = measured.versions.into_iter();
    let (mut base_version, mut head_version) =
        (versions.next().flatten(), versions.next().flatten());
    if head_first {
        std::mem::swap(&mut base_version, &mut head_version);
    }
    let sides = Sides::split(measured.runs, head_first);
    let done = measured.finished;
    let settings = done.settings(cfg, measured.max_rate_rps);
    let profile = |sidecar: &Sidecar, version: Option<String>, through: Vec<Run>, what: &str| {
        let runs: Vec<Run> = sides.direct.iter().cloned().chain(through).collect();
        done.profile(
            &format!("{what} of a paired run, "),
            fingerprint(sidecar, launch, version, measured.cores),
            measured.notes.clone(),
            settings.clone(),
            runs,
        )
    };
    let head_profile = profile(&cfg.sidecar, head_version, sides.head, "the head");
    let base_profile = profile(base, base_version, sides.base, "the base");
    Ok(PairedProfiles {
        base: base_profile,
        head: head_profile,
        points: measured.points,
    })
}
