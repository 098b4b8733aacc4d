//! Replicates: each repeat of a measurement fitted on its own. A repeat's runs are a complete
//! small profile (every mode, size and filter, with and without the sidecar), so fitting them
//! alone gives one independent value of every metric; the spread of those values between
//! repeats is the noise the check itself observed, including what makes the runs of one repeat
//! move together (a slow phase of the machine), which the errors of one fit over all runs
//! cannot see.
//!
//! A check measures in rounds (fresh processes each); [`renumber`] keeps the repeats of
//! successive rounds apart so that their runs can be pooled into one profile.

use std::collections::BTreeMap;

use super::snapshot::Snapshot;
use crate::ecg::Ecg;
use crate::model::Profile;
use crate::model::assemble::assemble;
use crate::model::runs::{Load, Run};
use crate::predict::PredictError;

/// Closed-loop blocks per repeat of a profile: its runs' `repeat` is `repeat · blocks + block`
/// for a closed loop (`MeasureConfig::slots`). 1 for profiles that do not say.
pub(crate) fn blocks_of(profile: &Profile) -> u32 {
    profile
        .settings
        .as_ref()
        .and_then(|s| {
            let per_block = s.block_requests.filter(|b| *b > 0)?;
            Some(s.requests.div_ceil(per_block).max(1) as u32)
        })
        .unwrap_or(1)
}

/// The repeat a run belongs to.
pub(crate) fn replicate_of(run: &Run, blocks: u32) -> u32 {
    match run.load {
        Load::Closed => run.repeat / blocks.max(1),
        Load::Open { .. } => run.repeat,
    }
}

/// Numbers the runs of round `round` (0-based; each round measured `repeat` repeats of
/// `blocks` closed-loop blocks) after those of the rounds before it, so that runs of different
/// rounds never pair with each other and each repeat stays a replicate of its own.
pub(crate) fn renumber(runs: &mut [Run], round: u32, repeat: u32, blocks: u32) {
    let offset = round * repeat;
    for run in runs {
        run.repeat = match run.load {
            Load::Closed => run.repeat + offset * blocks.max(1),
            Load::Open { .. } => run.repeat + offset,
        };
    }
}

/// The runs of `profile` by replicate.
fn by_replicate(profile: &Profile) -> BTreeMap<u32, Vec<Run>> {
    let blocks = blocks_of(profile);
    let mut out: BTreeMap<u32, Vec<Run>> = BTreeMap::new();
    for run in &profile.runs {
        out.entry(replicate_of(run, blocks))
            .or_default()
            .push(run.clone());
    }
    out
}

/// A profile of `template`'s platform fitted from `runs` alone (without keeping them).
fn fitted(template: &Profile, runs: &[Run]) -> Profile {
    let (modes, _) = assemble(runs);
    Profile {
        format_version: template.format_version,
        source: None,
        notes: Vec::new(),
        platform: template.platform.clone(),
        modes,
        settings: template.settings.clone(),
        checks: None,
        runs: Vec::new(),
    }
}

/// One replicate's figures: every metric of the profile fitted from its runs alone, and the
/// fixtures predicted under it (without standard errors).
fn replicate(template: &Profile, runs: &[Run], ecgs: &[Ecg]) -> Result<Snapshot, PredictError> {
    Snapshot::values_only(fitted(template, runs), ecgs)
}

/// The figures of every replicate of `profile` (in replicate order). Empty when the profile
/// has no runs (the paper's, a hand-made one).
pub(crate) fn replicates(profile: &Profile, ecgs: &[Ecg]) -> Result<Vec<Snapshot>, PredictError> {
    by_replicate(profile)
        .values()
        .map(|runs| replicate(profile, runs, ecgs))
        .collect()
}

/// The replicates of a paired measurement: `(head, base)` figures of every replicate that both
/// sides measured. `head` and `base` are the two sides' profiles (each with the shared runs
/// straight to the application).
pub(crate) fn paired_replicates(
    head: &Profile,
    base: &Profile,
    ecgs: &[Ecg],
) -> Result<Vec<(Snapshot, Snapshot)>, PredictError> {
    let (heads, bases) = (by_replicate(head), by_replicate(base));
    heads
        .iter()
        .filter_map(|(r, h)| bases.get(r).map(|b| (h, b)))
        .map(|(h, b)| Ok((replicate(head, h, ecgs)?, replicate(base, b, ecgs)?)))
        .collect()
}

/// One profile of several rounds of the same measurement (renumbered with [`renumber`]): the
/// first round's fit with every round's runs; its settings count every repeat and the time of
/// every round. [`Profile::refit`] fits the runs together.
pub(crate) fn merged(rounds: &[&Profile]) -> Profile {
    let first = rounds.first().expect("a measurement has a round");
    let mut settings = first.settings.clone();
    if let Some(s) = settings.as_mut() {
        s.repeat = rounds
            .iter()
            .filter_map(|p| p.settings.as_ref().map(|s| s.repeat))
            .sum();
        s.elapsed_s = rounds
            .iter()
            .filter_map(|p| p.settings.as_ref().map(|s| s.elapsed_s))
            .sum();
    }
    Profile {
        runs: rounds.iter().flat_map(|p| p.runs.iter().cloned()).collect(),
        settings,
        ..(*first).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::runs::LoadKey;

    fn run(load: Load, repeat: u32) -> Run {
        Run {
            config: crate::vocab::SidecarConfig::plain(crate::vocab::Mode::Tcp),
            through_sidecar: true,
            size: 100,
            load,
            repeat,
            requests: 250,
            achieved_rps: 1000.0,
            client_mean_us: 50.0,
            client_p50_us: 50.0,
            path_us: BTreeMap::new(),
            cpu_us: BTreeMap::new(),
            lost_events: 0,
            events: BTreeMap::new(),
            reference_for: None,
            sidecars: 1,
            counters: BTreeMap::new(),
        }
    }

    /// The blocks a profile's settings imply are the ones the profiler measured.
    #[test]
    fn blocks_follow_the_recorded_settings() {
        use crate::measure::MeasureConfig;
        for (requests, block) in [
            (500, 250),
            (300, 250),
            (1500, 250),
            (800, 250),
            (7, 2),
            (100, 9),
        ] {
            let cfg = MeasureConfig {
                requests,
                block_requests: block,
                ..MeasureConfig::quick(crate::harness::Sidecar::builtin())
            };
            let (blocks, per_block) = cfg.blocks();
            let mut p = Profile::paper();
            p.settings = Some(crate::model::settings::Settings {
                sizes: vec![100],
                rates_pct: vec![],
                repeat: 2,
                requests,
                block_requests: Some(per_block),
                open_duration_ms: 0,
                max_rate_rps: BTreeMap::new(),
                elapsed_s: 0.0,
                pinned: true,
                chain: None,
                machine_load: None,
            });
            assert_eq!(u64::from(blocks_of(&p)), blocks, "{requests}/{block}");
        }
        assert_eq!(blocks_of(&Profile::paper()), 1);
    }

    #[test]
    fn rounds_are_renumbered_apart_and_blocks_belong_to_their_repeat() {
        let open = Load::Open {
            fraction: 0.5,
            rate: 100.0,
        };
        // A round of 2 repeats with 3 closed-loop blocks each: closed runs 0..6, open 0..2.
        let mut round: Vec<Run> = (0..6)
            .map(|b| run(Load::Closed, b))
            .chain((0..2).map(|r| run(open, r)))
            .collect();
        let first: Vec<u32> = round.iter().map(|r| replicate_of(r, 3)).collect();
        assert_eq!(first, [0, 0, 0, 1, 1, 1, 0, 1]);
        renumber(&mut round, 2, 2, 3);
        let closed: Vec<u32> = round.iter().take(6).map(|r| r.repeat).collect();
        assert_eq!(closed, [12, 13, 14, 15, 16, 17]);
        let reps: Vec<u32> = round.iter().map(|r| replicate_of(r, 3)).collect();
        assert_eq!(reps, [4, 4, 4, 5, 5, 5, 4, 5]);
        assert_eq!(round[6].load.key(), LoadKey::Open(500));
    }
}
