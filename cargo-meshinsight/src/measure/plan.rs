//! What a measurement runs, before anything starts: phases of targets, and the points each
//! phase is measured at. A plain profile and a paired measurement share the points and differ
//! only in the targets of each point (and a plain profile's combination of filters).

use super::MeasureConfig;
use crate::model::runs::Load;
use crate::vocab::{Filter, Mode};

/// Where one load run of a point goes. Sidecars are numbered in the order they are measured
/// side by side: a plain profile has sidecar 0; a paired measurement the base (0) and the
/// head (1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// Straight to the application.
    Direct,
    /// Through sidecar `i` running the plain mode; in a filter phase, the reference of the
    /// filtered runs beside it.
    Plain(usize),
    /// Through sidecar `i` running the phase's filters.
    Filtered(usize),
}

impl Target {
    /// The sidecar the run goes through, if any.
    pub(crate) fn sidecar(self) -> Option<usize> {
        match self {
            Target::Direct => None,
            Target::Plain(i) | Target::Filtered(i) => Some(i),
        }
    }
}

/// One stretch of a measurement: one mode, plain or with filters, measured at every point of
/// the schedule with the same processes.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Phase {
    /// The mode of the echo application and the sidecars.
    pub(crate) mode: Mode,
    /// The filters measured against the plain mode; empty: the plain mode against no sidecar.
    pub(crate) filters: Vec<Filter>,
    /// The runs of every point, in the order of the first point (rotated from point to point).
    pub(crate) targets: Vec<Target>,
    /// Whether the open-loop loads run too (the combination of filters serves the additivity
    /// check of the closed-loop latencies only).
    pub(crate) open_loop: bool,
}

impl Phase {
    /// The loads of this phase, of the measurement's `loads` (closed loop first).
    pub(crate) fn loads(&self, loads: &[Load]) -> Vec<Load> {
        loads
            .iter()
            .copied()
            .filter(|l| self.open_loop || *l == Load::Closed)
            .collect()
    }

    /// Every (size, load, slot) point of this phase in the order measured.
    pub(crate) fn schedule(&self, cfg: &MeasureConfig, loads: &[Load]) -> Vec<(u64, Load, u32)> {
        cfg.schedule(&self.loads(loads))
    }

    /// The order of this phase's targets (indices into [`Phase::targets`]) at its point `j`.
    /// With two sidecars, the targets in their listed order with base and head exchanged at
    /// every other point: the two blocks of a size mirror each other, so that within every
    /// size and repeat each side takes every place, and follows every other target, equally
    /// often. A rotation cannot do that for three targets over four points per repeat, and
    /// what it left unbalanced favoured one side by a few percent in A/A checks
    /// (docs/gate.md). With one sidecar, a rotation ([`order`]).
    pub(crate) fn order(&self, j: usize) -> Vec<usize> {
        let paired = self.targets.iter().any(|t| t.sidecar() == Some(1));
        if !paired {
            return order(self.targets.len(), j);
        }
        let mirrored = |t: Target| match t {
            Target::Plain(i) if j % 2 == 1 => Target::Plain(1 - i),
            Target::Filtered(i) if j % 2 == 1 => Target::Filtered(1 - i),
            t => t,
        };
        self.targets
            .iter()
            .map(|&t| {
                let t = mirrored(t);
                self.targets
                    .iter()
                    .position(|&u| u == t)
                    .expect("both sides")
            })
            .collect()
    }

    /// How many points [`Phase::schedule`] has, without knowing the rates.
    fn points(&self, cfg: &MeasureConfig) -> u64 {
        let open = if self.open_loop {
            cfg.rate_fractions.len() as u64
        } else {
            0
        };
        cfg.sizes.len() as u64 * u64::from(cfg.repeat) * (cfg.blocks().0 + open)
    }
}

/// One point of a measurement: a phase (an index into [`Plan::phases`]) at one size, load and
/// slot of the schedule.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Point {
    pub(crate) phase: usize,
    pub(crate) size: u64,
    pub(crate) load: Load,
    pub(crate) slot: u32,
}

/// The phases of a measurement in the order they run: per mode, the plain mode, then on the
/// filter mode each filter (and for a plain profile with two or more filters, their
/// combination).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Plan {
    /// How many sidecars are measured side by side.
    pub(crate) sidecars: usize,
    /// The phases, grouped by mode.
    pub(crate) phases: Vec<Phase>,
}

impl Plan {
    /// A profile of one sidecar: each point once straight to the application and once
    /// through the sidecar; each filter beside the plain sidecar, and the combination of
    /// filters (closed loop) for the additivity check.
    pub(crate) fn plain(cfg: &MeasureConfig) -> Plan {
        Plan::build(cfg, 1, true)
    }

    /// A base and a head measured interleaved: each point straight to the application,
    /// through the base and through the head; each filter with and without it on both sides.
    pub(crate) fn paired(cfg: &MeasureConfig) -> Plan {
        Plan::build(cfg, 2, false)
    }

    fn build(cfg: &MeasureConfig, sidecars: usize, combination: bool) -> Plan {
        let plain: Vec<Target> = (0..sidecars).map(Target::Plain).collect();
        let with_filter: Vec<Target> = plain
            .iter()
            .copied()
            .chain((0..sidecars).map(Target::Filtered))
            .collect();
        let mut phases = Vec::new();
        for mode in cfg.modes_in_order() {
            phases.push(Phase {
                mode,
                filters: Vec::new(),
                targets: std::iter::once(Target::Direct)
                    .chain(plain.iter().copied())
                    .collect(),
                open_loop: true,
            });
            if cfg.filter_mode() != Some(mode) {
                continue;
            }
            for filter in &cfg.filters {
                phases.push(Phase {
                    mode,
                    filters: vec![*filter],
                    targets: with_filter.clone(),
                    open_loop: true,
                });
            }
            if combination && cfg.filters.len() >= 2 {
                phases.push(Phase {
                    mode,
                    filters: cfg.filters.clone(),
                    targets: with_filter.clone(),
                    open_loop: false,
                });
            }
        }
        Plan { sidecars, phases }
    }

    /// The modes in the order they are measured.
    pub(crate) fn modes(&self) -> Vec<Mode> {
        let mut modes: Vec<Mode> = self.phases.iter().map(|p| p.mode).collect();
        modes.dedup();
        modes
    }

    /// The phases of `mode`, with their indices.
    pub(crate) fn phases_of(&self, mode: Mode) -> impl Iterator<Item = (usize, &Phase)> {
        self.phases
            .iter()
            .enumerate()
            .filter(move |(_, p)| p.mode == mode)
    }

    /// Every point in the order measured, given the loads of the measurement.
    pub(crate) fn points(&self, cfg: &MeasureConfig, loads: &[Load]) -> Vec<Point> {
        self.phases
            .iter()
            .enumerate()
            .flat_map(|(phase, p)| {
                p.schedule(cfg, loads)
                    .into_iter()
                    .map(move |(size, load, slot)| Point {
                        phase,
                        size,
                        load,
                        slot,
                    })
            })
            .collect()
    }

    /// How many load runs the plan has (not counting the maximum-rate searches).
    pub(crate) fn runs(&self, cfg: &MeasureConfig) -> u64 {
        self.phases
            .iter()
            .map(|p| p.points(cfg) * p.targets.len() as u64)
            .sum()
    }
}

/// The order of `n` targets at point `i`: a rotation, and every other cycle reversed, so each
/// target takes every place equally often.
pub(crate) fn order(n: usize, i: usize) -> Vec<usize> {
    let r = i % n;
    let mut o: Vec<usize> = (0..n).map(|k| (r + k) % n).collect();
    if (i / n) % 2 == 1 {
        o.reverse();
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::Sidecar;

    fn seen(n: usize) -> Vec<Vec<u32>> {
        let mut seen = vec![vec![0u32; n]; n];
        for i in 0..2 * n {
            let o = order(n, i);
            let mut sorted = o.clone();
            sorted.sort();
            assert_eq!(sorted, (0..n).collect::<Vec<_>>());
            for (place, target) in o.into_iter().enumerate() {
                seen[target][place] += 1;
            }
        }
        seen
    }

    #[test]
    fn every_target_takes_every_place_equally_often() {
        for n in 2..=4 {
            assert_eq!(seen(n), vec![vec![2; n]; n], "{n} targets");
        }
    }

    fn with_filters() -> MeasureConfig {
        MeasureConfig {
            filters: vec![Filter::Fault, Filter::Ratelimit],
            ..MeasureConfig::quick(Sidecar::builtin())
        }
    }

    fn loads() -> [Load; 3] {
        [
            Load::Closed,
            Load::Open {
                fraction: 0.5,
                rate: 500.0,
            },
            Load::Open {
                fraction: 1.0,
                rate: 1000.0,
            },
        ]
    }

    /// (mode, filters, size, load, slot) of every point, leaving out the combination of
    /// filters.
    fn points(plan: &Plan, cfg: &MeasureConfig) -> Vec<(Mode, Vec<Filter>, u64, Load, u32)> {
        plan.points(cfg, &loads())
            .into_iter()
            .map(|p| (&plan.phases[p.phase], p))
            .filter(|(phase, _)| phase.filters.len() < 2)
            .map(|(phase, p)| (phase.mode, phase.filters.clone(), p.size, p.load, p.slot))
            .collect()
    }

    #[test]
    fn plain_and_paired_measurements_run_the_same_points() {
        let cfg = with_filters();
        let (plain, paired) = (Plan::plain(&cfg), Plan::paired(&cfg));
        let same = points(&plain, &cfg);
        assert_eq!(same, points(&paired, &cfg));
        // tcp, http, http+fault, http+ratelimit: 4 phases × 3 sizes × 4 repeats × (6 + 2).
        assert_eq!(same.len(), 4 * 3 * 4 * 8);

        // They differ in the targets of each point ...
        use Target::{Direct, Filtered, Plain};
        for phase in plain.phases.iter().filter(|p| p.filters.len() < 2) {
            let expected = if phase.filters.is_empty() {
                vec![Direct, Plain(0)]
            } else {
                vec![Plain(0), Filtered(0)]
            };
            assert_eq!(phase.targets, expected, "{phase:?}");
        }
        for phase in &paired.phases {
            let expected = if phase.filters.is_empty() {
                vec![Direct, Plain(0), Plain(1)]
            } else {
                vec![Plain(0), Plain(1), Filtered(0), Filtered(1)]
            };
            assert_eq!(phase.targets, expected, "{phase:?}");
        }
        // ... and in the plain profile's combination of filters, measured in closed loop last.
        let last = plain.phases.last().unwrap();
        assert_eq!(last.filters, [Filter::Fault, Filter::Ratelimit]);
        assert!(!last.open_loop);
        assert_eq!(plain.phases.len(), paired.phases.len() + 1);
        assert!(paired.phases.iter().all(|p| p.filters.len() < 2));
    }

    /// The gate's settings: two sizes, two blocks per size, two repeats per round.
    fn gate_like() -> MeasureConfig {
        MeasureConfig {
            sizes: vec![100, 4000],
            repeat: 2,
            requests: 500,
            block_requests: 250,
            rate_fractions: vec![],
            ..with_filters()
        }
    }

    /// In every phase of a paired measurement, within every size and repeat, base and head
    /// take every place equally often and follow each kind of run (direct, the same side, the
    /// other side; the one before the first run of a size and repeat being its last) equally
    /// often: no order effect can favour one side.
    #[test]
    fn paired_sides_are_balanced_within_every_size_and_repeat() {
        use std::collections::BTreeMap;
        let cfg = gate_like();
        let plan = Plan::paired(&cfg);
        let points = plan.points(&cfg, &[Load::Closed]);
        for (index, phase) in plan.phases.iter().enumerate() {
            let n = phase.targets.len();
            let mut groups: BTreeMap<(u64, u32), Vec<Target>> = BTreeMap::new();
            for (j, p) in points.iter().filter(|p| p.phase == index).enumerate() {
                let repeat = p.slot / cfg.blocks().0 as u32;
                let runs = groups.entry((p.size, repeat)).or_default();
                runs.extend(phase.order(j).into_iter().map(|k| phase.targets[k]));
            }
            assert_eq!(groups.len(), 4, "two sizes, two repeats");
            for (group, runs) in &groups {
                // (filtered, side) -> sorted (place, what ran before: 0 direct, 1 the same
                // side, 2 the other side; whether it was filtered).
                type Seen = Vec<(usize, u8, bool)>;
                let mut seen: BTreeMap<(bool, usize), Seen> = BTreeMap::new();
                for (i, &t) in runs.iter().enumerate() {
                    let Some(side) = t.sidecar() else { continue };
                    let before = runs[(i + runs.len() - 1) % runs.len()];
                    let who = match before.sidecar() {
                        None => 0,
                        Some(s) if s == side => 1,
                        Some(_) => 2,
                    };
                    let filtered = matches!(t, Target::Filtered(_));
                    seen.entry((filtered, side)).or_default().push((
                        i % n,
                        who,
                        matches!(before, Target::Filtered(_)),
                    ));
                }
                for v in seen.values_mut() {
                    v.sort();
                }
                for filtered in [false, true] {
                    assert_eq!(
                        seen.get(&(filtered, 0)),
                        seen.get(&(filtered, 1)),
                        "{:?} {group:?}: {runs:?}",
                        phase.filters
                    );
                }
            }
            if phase.filters.is_empty() {
                // Direct first, then base and head in turns.
                use Target::{Direct, Plain};
                let at = |j| -> Vec<Target> {
                    phase
                        .order(j)
                        .into_iter()
                        .map(|k| phase.targets[k])
                        .collect()
                };
                assert_eq!(at(0), [Direct, Plain(0), Plain(1)]);
                assert_eq!(at(1), [Direct, Plain(1), Plain(0)]);
            }
        }
    }

    #[test]
    fn the_planned_runs_are_the_plans() {
        let full = MeasureConfig::full(Sidecar::envoy());
        for cfg in [
            with_filters(),
            MeasureConfig::quick(Sidecar::builtin()),
            full.clone(),
            MeasureConfig {
                rate_fractions: vec![],
                ..full
            },
        ] {
            let loads: Vec<Load> = std::iter::once(Load::Closed)
                .chain(cfg.rate_fractions.iter().map(|&f| Load::Open {
                    fraction: f,
                    rate: 1000.0 * f,
                }))
                .collect();
            for (plan, planned) in [
                (Plan::plain(&cfg), cfg.planned_runs()),
                (Plan::paired(&cfg), cfg.planned_paired_runs()),
            ] {
                let runs: usize = plan
                    .points(&cfg, &loads)
                    .iter()
                    .map(|p| plan.phases[p.phase].targets.len())
                    .sum();
                assert_eq!(planned, runs as u64);
            }
        }
        // Paired: three runs per plain point, four per filter point; 3 sizes × 4 repeats ×
        // (6 blocks + 2 rates) points per phase.
        let per_phase = 3 * 4 * (6 + 2);
        assert_eq!(
            with_filters().planned_paired_runs(),
            per_phase * (2 * 3 + 2 * 4)
        );
    }
}
