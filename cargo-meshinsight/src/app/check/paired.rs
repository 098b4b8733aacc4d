//! The default check: base and head measured interleaved, in rounds of fresh processes, until
//! a regression is decided, every primary metric is decided, or the time budget is spent; a
//! regression measured again by the same rule; and the head against the last merged baseline
//! as a coarse, informational second signal.

use std::cell::Cell;
use std::time::{Duration, Instant};

use super::{
    BaselineChoice, CheckConfig, compare_settings, confirm_by_measuring_again, load_baseline,
};
use crate::app::error::Error;
use crate::app::head_profile::{self, ProfileSource, Resolved, gate_settings};
use crate::app::measuring::measure_paired;
use crate::app::output::Output;
use crate::app::paired_base::{self, PairedBase, PreparedBase};
use crate::ecg::Ecg;
use crate::gate::paired::{PairedInfo, Rounds, Stopped};
use crate::gate::replicates::{self, blocks_of, merged, renumber};
use crate::gate::verdict::{Coarse, coarse};
use crate::gate::{CompareSettings, Snapshot, Verdict, judge_paired};
use crate::harness::Launch;
use crate::measure::MeasureConfig;
use crate::measure::paired::PairedProfiles;
use crate::project::config::Settings;

/// Rounds measured before the stopping rule is asked: two rounds give four replicates, the
/// fewest whose pooled noise has enough degrees of freedom for an interval that can clear the
/// threshold (docs/gate.md).
pub(crate) const MIN_ROUNDS: usize = 2;

/// The rounds of one measurement, and their verdict (which says how it ended).
struct Measured {
    rounds: Vec<PairedProfiles>,
    verdict: Verdict,
}

/// Everything a paired check measures and judges with.
struct Session<'a> {
    settings: &'a Settings,
    ecgs: &'a [Ecg],
    cfg: MeasureConfig,
    launch: Launch,
    head: Resolved,
    base: PreparedBase,
    compare: CompareSettings,
}

/// `check` (paired): measure the base and the head interleaved, judge the per-replicate
/// differences; confirm a regression; add the coarse signal against the stored baseline.
pub(super) fn check_paired(
    config: &CheckConfig,
    settings: &Settings,
    ecgs: &[Ecg],
    base: &PairedBase,
    out: &mut Output,
) -> Result<Verdict, Error> {
    let head_spec = match &config.profile {
        ProfileSource::Measure { quick, sidecar } => {
            if *quick {
                out.status(
                    "Note",
                    "--quick changes nothing: the gate measures with its own short settings",
                );
            }
            sidecar.clone()
        }
        ProfileSource::File(_) => return Err(Error::PairedNeedsMeasuring),
    };
    let launch = super::super::launch::launch(settings.user.as_deref(), out)?;
    let head = match head_spec {
        Some(sidecar) => Resolved::preset(sidecar),
        None => head_profile::resolve_sidecar(
            &settings.sidecar,
            &settings.manifest,
            None,
            &launch,
            out,
        )?,
    };
    let base = paired_base::prepare_base(
        settings,
        base,
        config.target_branch.as_deref(),
        &launch,
        out,
    )?;
    let session = Session {
        cfg: head_profile::measure_config(
            settings,
            head.sidecar.clone(),
            gate_settings::ROUND_REPEAT,
        )?,
        launch,
        settings,
        ecgs,
        head,
        base,
        compare: compare_settings(settings),
    };
    let budget = config
        .time_budget
        .or(settings.time_budget)
        .unwrap_or(super::DEFAULT_TIME_BUDGET);
    let Measured {
        rounds: mut last,
        verdict: first_verdict,
    } = session.measure(budget, out)?;
    let first_rounds = first_verdict.paired.as_ref().map(|p| p.rounds.clone());
    let again = Cell::new(false);
    let mut v = confirm_by_measuring_again(config, first_verdict, "base and head", out, |out| {
        again.set(true);
        let Measured { rounds, verdict } = session.measure(budget, out)?;
        last = rounds;
        Ok(verdict)
    })?;
    // The verdict carries the second measurement's figures; say how both were measured.
    if again.get()
        && let (Some(p), Some(first_rounds)) = (v.paired.as_mut(), first_rounds)
    {
        p.confirmation = Some(std::mem::replace(&mut p.rounds, first_rounds));
    }
    v.coarse = Some(session.coarse(&last, config, out));
    Ok(v)
}

impl Session<'_> {
    /// Measures rounds, each a paired measurement with fresh processes, its repeats numbered
    /// after the rounds before it, until [`Session::stop`] says why to stop.
    fn measure(&self, budget: Duration, out: &mut Output) -> Result<Measured, Error> {
        let start = Instant::now();
        let (head_label, base_label) = (self.head.label(), self.base.resolved.label());
        let mut rounds: Vec<PairedProfiles> = Vec::new();
        loop {
            let n = rounds.len() as u32;
            out.status("Round", format!("{} of the paired measurement", n + 1));
            // The head starts first in every other round (`measure_paired`).
            let mut m = measure_paired(
                &self.cfg,
                &self.base.resolved.sidecar,
                n % 2 == 1,
                &base_label,
                &head_label,
                &self.launch,
                out,
            )?;
            self.head.relabel(&mut m.head);
            self.base.resolved.relabel(&mut m.base);
            let blocks = blocks_of(&m.head);
            renumber(&mut m.head.runs, n, self.cfg.repeat, blocks);
            renumber(&mut m.base.runs, n, self.cfg.repeat, blocks);
            rounds.push(m);
            let elapsed = start.elapsed();
            if let Some(verdict) = self.stop(&rounds, elapsed, budget, out)? {
                return Ok(Measured { rounds, verdict });
            }
        }
    }

    /// The verdict of `rounds` when it is time to stop (none: measure another round). From
    /// [`MIN_ROUNDS`] on: a decided regression (the rest need not be decided to fail the gate),
    /// every primary metric decided, or another round would overrun the budget.
    fn stop(
        &self,
        rounds: &[PairedProfiles],
        elapsed: Duration,
        budget: Duration,
        out: &mut Output,
    ) -> Result<Option<Verdict>, Error> {
        if rounds.len() < MIN_ROUNDS {
            return Ok(None);
        }
        // Judged as if stopped by the budget; the reason is set below once it is known.
        let mut v = self.verdict(rounds, Stopped::Budget, elapsed, budget)?;
        let undecided = v.undecided().count();
        let per_round = elapsed / rounds.len() as u32;
        let stopped = if v.regression_decided() {
            Stopped::Regression
        } else if undecided == 0 {
            Stopped::Decided
        } else if elapsed + per_round > budget {
            Stopped::Budget
        } else {
            out.status(
                "Undecided",
                format!(
                    "{undecided} primary metric(s) after {} rounds ({:.0} s of the {} s \
                     budget): measuring another round",
                    rounds.len(),
                    elapsed.as_secs_f64(),
                    budget.as_secs()
                ),
            );
            return Ok(None);
        };
        if let Some(p) = v.paired.as_mut() {
            p.rounds.stopped = stopped;
        }
        Ok(Some(v))
    }

    /// The verdict of the replicates of `rounds`.
    fn verdict(
        &self,
        rounds: &[PairedProfiles],
        stopped: Stopped,
        elapsed: Duration,
        budget: Duration,
    ) -> Result<Verdict, Error> {
        let head = merged(&rounds.iter().map(|r| &r.head).collect::<Vec<_>>());
        let base = merged(&rounds.iter().map(|r| &r.base).collect::<Vec<_>>());
        let pairs = replicates::paired_replicates(&head, &base, self.ecgs)?;
        let info = PairedInfo {
            base: self.base.resolved.label(),
            head: self.head.label(),
            base_commit: self.base.commit.clone(),
            points: rounds.iter().map(|r| r.points).sum(),
            test: "Student's t on the mean per-replicate difference head − base, noise pooled \
                   over the primary metrics"
                .into(),
            rounds: Rounds {
                rounds: rounds.len() as u32,
                replicates: pairs.len(),
                stopped,
                budget_s: budget.as_secs_f64(),
                elapsed_s: elapsed.as_secs_f64(),
            },
            confirmation: None,
        };
        let modes = head.modes.len();
        let mut v = judge_paired(head.platform.clone(), &pairs, modes, info, &self.compare);
        v.counters = crate::gate::counters::counter_lines(&head, &base);
        v.settle();
        Ok(v)
    }

    /// The head of `m` (all its runs fitted together) against the stored baseline at the merge
    /// base: large changes only, informational. A missing or unreadable baseline is a note.
    fn coarse(&self, rounds: &[PairedProfiles], config: &CheckConfig, out: &mut Output) -> Coarse {
        let head = merged(&rounds.iter().map(|r| &r.head).collect::<Vec<_>>());
        let id = head.platform.id.clone();
        let empty = |note: String| Coarse {
            origin: None,
            history_versions: 0,
            threshold_pct: crate::gate::verdict::COARSE_FACTOR * self.compare.threshold_pct,
            note: Some(note),
            metrics: Vec::new(),
        };
        let loaded = load_baseline(
            self.settings,
            &id,
            &BaselineChoice::MergeBase,
            config.target_branch.as_deref(),
        );
        let loaded = match loaded {
            Ok((Some(l), _)) => l,
            Ok((None, origin)) => {
                return empty(format!(
                    "no stored baseline for platform `{id}` at {origin}"
                ));
            }
            Err(e) => return empty(format!("the stored baseline could not be read: {e}")),
        };
        out.status(
            "Comparing",
            format!("the head with {} (coarse)", loaded.origin),
        );
        let snapshot = head
            .refit()
            .map_err(|e| e.to_string())
            .and_then(|p| Snapshot::new(p, self.ecgs).map_err(|e| e.to_string()));
        match snapshot {
            Ok(s) => coarse(&s, &loaded, &self.compare),
            Err(e) => empty(format!("the head could not be fitted as a whole: {e}")),
        }
    }
}
