//! The one run loop of plain and paired measurements: it finds the open-loop rates, starts
//! each mode's processes, runs every point of the [`Plan`] with its targets in the order of
//! [`super::plan::Phase::order`] and records the runs.

use std::collections::BTreeMap;

use super::plan::{Phase, Plan, Point, Target};
use super::session::{
    Chain, Finished, Measured, Session, max_rate, record, start_chain, start_echo,
};
use super::{MeasureConfig, MeasureError, Progress};
use crate::harness::cpus::CpuPlan;
use crate::harness::{EchoServer, Launch, Sidecar};
use crate::model::runs::{Load, Run};
use crate::probe::Role;
use crate::vocab::{Mode, SidecarConfig};

/// What the run loop measured.
pub(super) struct Measurement {
    /// Every run in the order measured, with the sidecar it went through (`None`: straight
    /// to the application).
    pub(super) runs: Vec<(Option<usize>, Run)>,
    /// Per mode, the lowest maximum rate of its measured sidecars.
    pub(super) max_rate_rps: BTreeMap<Mode, f64>,
    /// What the profiles should say about the rates.
    pub(super) notes: Vec<String>,
    /// Each measured sidecar's version, when it says.
    pub(super) versions: Vec<Option<String>>,
    /// Points measured, over all phases.
    pub(super) points: usize,
    /// How many CPUs the machine has.
    pub(super) cores: Option<u32>,
    /// The clocks and the probe's figures at the end.
    pub(super) finished: Finished,
}

/// Measures `plan` with `sidecars` (numbered as the plan's targets number them).
pub(super) fn execute(
    cfg: &MeasureConfig,
    plan: &Plan,
    sidecars: &[&Sidecar],
    launch: &Launch,
    progress: &mut dyn FnMut(Progress),
) -> Result<Measurement, MeasureError> {
    assert_eq!(plan.sidecars, sidecars.len(), "one sidecar per plan slot");
    let session = Session::start(cfg)?;
    let cores = session.cores();
    let mut notes = Vec::new();
    let search = RateSearch {
        cfg,
        plan,
        sidecars,
        launch,
        cpus: &session.cpus,
    };
    let (max_rate_rps, loads) = search.run(&mut *progress, &mut notes)?;
    let mut runner = Runner {
        cfg,
        plan,
        sidecars,
        launch,
        session,
        progress,
        runs: Vec::new(),
        versions: vec![None; sidecars.len()],
    };
    let points = plan.points(cfg, &loads);
    for mode in plan.modes() {
        runner.measure_mode(mode, &points)?;
    }
    let Runner {
        session,
        runs,
        versions,
        ..
    } = runner;
    Ok(Measurement {
        runs,
        max_rate_rps,
        notes,
        versions,
        points: points.len(),
        cores,
        finished: session.finish()?,
    })
}

/// The search for the open-loop rates, before anything is measured.
struct RateSearch<'a> {
    cfg: &'a MeasureConfig,
    plan: &'a Plan,
    sidecars: &'a [&'a Sidecar],
    launch: &'a Launch,
    cpus: &'a CpuPlan,
}

impl RateSearch<'_> {
    /// The maximum rate of each mode (the lowest of its sidecars') and the measurement's
    /// loads: the closed loop, and open loops at fractions of the lowest maximum over every
    /// mode and every sidecar. Per-request CPU depends on the rate, Parsing subtracts tcp's
    /// user time from the mode's, and a paired difference compares base and head: each is
    /// like for like only at the same rates.
    fn run(
        &self,
        progress: &mut dyn FnMut(Progress),
        notes: &mut Vec<String>,
    ) -> Result<(BTreeMap<Mode, f64>, Vec<Load>), MeasureError> {
        let mut max_rate_rps = BTreeMap::new();
        if self.cfg.rate_fractions.is_empty() {
            return Ok((max_rate_rps, vec![Load::Closed]));
        }
        for mode in self.plan.modes() {
            progress(Progress::Phase(format!("{mode}: finding the maximum rate")));
            max_rate_rps.insert(mode, self.of_mode(mode, notes)?);
        }
        let (mode, rate) = max_rate_rps
            .iter()
            .min_by(|a, b| a.1.total_cmp(b.1))
            .map(|(m, r)| (*m, *r))
            .expect("a plan has a mode");
        if max_rate_rps.len() > 1 || self.sidecars.len() > 1 {
            notes.push(self.note(mode, rate));
        }
        let loads = std::iter::once(Load::Closed)
            .chain(self.cfg.rate_fractions.iter().map(|f| Load::Open {
                fraction: *f,
                rate: f * rate,
            }))
            .collect();
        Ok((max_rate_rps, loads))
    }

    /// The lowest maximum rate of `mode`'s sidecars, at the smallest size.
    fn of_mode(&self, mode: Mode, notes: &mut Vec<String>) -> Result<f64, MeasureError> {
        let smallest = *self.cfg.sizes.iter().min().expect("validated");
        let (_socket_dir, echo) =
            start_echo(self.sidecars, self.launch, mode, self.cpus.app.as_deref())?;
        let plain = SidecarConfig::plain(mode);
        let mut lowest = f64::INFINITY;
        for sidecar in self.sidecars {
            let mut chain = start_chain(
                sidecar,
                self.launch,
                &plain,
                &echo,
                self.cpus.sidecar.as_deref(),
                self.cfg.chain,
                None,
            )?;
            lowest = lowest.min(max_rate(
                mode,
                chain.listen(),
                smallest,
                self.cpus.load,
                notes,
            )?);
            chain.check_running()?;
        }
        Ok(lowest)
    }

    fn note(&self, mode: Mode, rate: f64) -> String {
        if self.sidecars.len() > 1 {
            format!(
                "open-loop rates are fractions of the lowest maximum rate of the profiled modes \
                 through base and head, {rate:.0} requests/s ({mode}), so that every mode and \
                 both sidecars are measured at the same rates"
            )
        } else {
            format!(
                "open-loop rates are fractions of the lowest maximum rate of the profiled modes, \
                 {rate:.0} requests/s ({mode}), so that every mode is measured at the same rates"
            )
        }
    }
}

/// The measuring part of the loop, and what it has recorded so far.
struct Runner<'a> {
    cfg: &'a MeasureConfig,
    plan: &'a Plan,
    sidecars: &'a [&'a Sidecar],
    launch: &'a Launch,
    session: Session,
    progress: &'a mut dyn FnMut(Progress),
    runs: Vec<(Option<usize>, Run)>,
    versions: Vec<Option<String>>,
}

impl Runner<'_> {
    /// What the status lines call the measured sidecars.
    fn whom(&self) -> (&'static str, &'static str) {
        if self.plan.sidecars > 1 {
            ("both sidecars", " base and head")
        } else {
            ("the sidecar", "")
        }
    }

    /// Every phase of `mode`, with one echo application and the plain sidecars up throughout.
    fn measure_mode(&mut self, mode: Mode, points: &[Point]) -> Result<(), MeasureError> {
        let (starting, _) = self.whom();
        (self.progress)(Progress::Phase(format!(
            "{mode}: starting the application and {starting}"
        )));
        let (_socket_dir, echo) = start_echo(
            self.sidecars,
            self.launch,
            mode,
            self.session.cpus.app.as_deref(),
        )?;
        self.session.probe.add_target(echo.pid(), Role::App)?;
        let mut plain = self.start_chains(&SidecarConfig::plain(mode), &echo)?;
        for (chain, version) in plain.iter().zip(&mut self.versions) {
            *version = chain.version().map(str::to_string).or(version.take());
        }
        let plan = self.plan;
        for (i, phase) in plan.phases_of(mode) {
            self.measure_phase(phase, i, points, &echo, &mut plain)?;
        }
        Ok(())
    }

    /// One chain of `config` per measured sidecar, with the probe on each.
    fn start_chains(
        &mut self,
        config: &SidecarConfig,
        echo: &EchoServer,
    ) -> Result<Vec<Chain>, MeasureError> {
        let mut chains = Vec::with_capacity(self.sidecars.len());
        for sidecar in self.sidecars {
            chains.push(start_chain(
                sidecar,
                self.launch,
                config,
                echo,
                self.session.cpus.sidecar.as_deref(),
                self.cfg.chain,
                Some(&mut self.session.probe),
            )?);
        }
        Ok(chains)
    }

    /// Every point of `phase` (number `index` of the plan): each of its targets once per
    /// point, in the order [`Phase::order`] gives the point's place in the phase.
    fn measure_phase(
        &mut self,
        phase: &Phase,
        index: usize,
        points: &[Point],
        echo: &EchoServer,
        plain: &mut [Chain],
    ) -> Result<(), MeasureError> {
        let (_, measuring) = self.whom();
        let mode = phase.mode;
        let config = SidecarConfig::new(mode, phase.filters.clone())?;
        let mut filtered = if phase.filters.is_empty() {
            (self.progress)(Progress::Phase(format!("{mode}: measuring{measuring}")));
            Vec::new()
        } else {
            (self.progress)(Progress::Phase(format!(
                "{config}: measuring{measuring} against plain {mode}"
            )));
            self.start_chains(&config, echo)?
        };
        for (j, point) in points.iter().filter(|p| p.phase == index).enumerate() {
            let &Point {
                size, load, slot, ..
            } = point;
            for k in phase.order(j) {
                let target = phase.targets[k];
                let endpoint = match target {
                    Target::Direct => echo.endpoint(),
                    Target::Plain(i) => plain[i].listen(),
                    Target::Filtered(i) => filtered[i].listen(),
                }
                .clone();
                let measured = self
                    .session
                    .run_once(self.cfg, mode, &endpoint, size, load)?;
                for chain in plain.iter_mut().chain(filtered.iter_mut()) {
                    chain.check_running()?;
                }
                let run = self.record(&config, target, (size, load, slot), measured);
                self.runs.push((target.sidecar(), run));
                (self.progress)(Progress::Run);
            }
        }
        Ok(())
    }

    /// The record of a run of the phase of `config` at `target`: a plain run of a filter
    /// phase is the reference of the filtered runs beside it.
    fn record(
        &self,
        config: &SidecarConfig,
        target: Target,
        (size, load, slot): (u64, Load, u32),
        measured: Measured,
    ) -> Run {
        let plain = SidecarConfig::plain(config.mode);
        let sidecars = self.cfg.chain.max(1);
        match target {
            Target::Direct => record(&plain, false, size, load, slot, measured),
            Target::Plain(_) => Run {
                sidecars,
                reference_for: (!config.filters.is_empty()).then(|| config.clone()),
                ..record(&plain, true, size, load, slot, measured)
            },
            Target::Filtered(_) => Run {
                sidecars,
                ..record(config, true, size, load, slot, measured)
            },
        }
    }
}
