//! The gate as tests: each fixture and metric becomes a libtest-mimic trial, so `cargo test`
//! (and nextest) show it. Use it from a `harness = false` test target:
//!
//! ```no_run
//! fn main() -> std::process::ExitCode {
//!     cargo_meshinsight::libtest::GateTests::new("Cargo.toml", "profile.json")
//!         .baseline_rev("HEAD")
//!         .run()
//! }
//! ```
//!
//! The check compares the profile file with the stored baseline (`check --unpaired`). Trials
//! are named `gate::<fixture>::latency` and `gate::<fixture>::cpu`. A regression fails
//! its trial with the change, its p-value and the component that moved; without a baseline
//! for the platform every trial is ignored (reported as such, never as a pass); when the
//! gate cannot run at all, a single `gate::setup` trial fails with the error.

use std::path::PathBuf;

use libtest_mimic::{Arguments, Completion, Failed, Trial};

use super::check::{self, BaselineChoice, CheckConfig, CheckMode};
use super::error::causes;
use super::head_profile::ProfileSource;
use super::output::Output;
use crate::gate::snapshot::Unit;
use crate::gate::{BaselineSource, MetricId, MetricVerdict, Outcome};
use crate::report::{cores, us};

/// How one trial ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrialOutcome {
    /// No regression.
    Pass,
    /// A regression, or the gate could not run: the message says which.
    Fail(String),
    /// Nothing to compare against: the reason.
    Ignore(String),
}

/// One trial: its name and how it ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GateTrial {
    /// `gate::<fixture>::<latency|cpu>` or `gate::setup`.
    pub name: String,
    /// The judgement.
    pub outcome: TrialOutcome,
}

/// Builds the gate's trials.
#[derive(Clone, Debug)]
pub struct GateTests {
    config: CheckConfig,
}

impl GateTests {
    /// Trials for the project of `manifest_path`, with the head profile from `profile`.
    /// The baseline defaults to the merge base with the target branch, as for `check`.
    pub fn new(manifest_path: impl Into<PathBuf>, profile: impl Into<PathBuf>) -> Self {
        GateTests {
            config: CheckConfig {
                manifest_path: Some(manifest_path.into()),
                profile: ProfileSource::File(profile.into()),
                mode: CheckMode::Unpaired {
                    baseline: BaselineChoice::MergeBase,
                    require_baseline: false,
                },
                ..CheckConfig::default()
            },
        }
    }

    /// Reads the baseline at `rev` instead.
    pub fn baseline_rev(self, rev: impl Into<String>) -> Self {
        self.with_baseline(BaselineSource::GitRev(rev.into()))
    }

    /// Reads the baseline from a file instead.
    pub fn baseline_file(self, path: impl Into<PathBuf>) -> Self {
        self.with_baseline(BaselineSource::Path(path.into()))
    }

    fn with_baseline(mut self, source: BaselineSource) -> Self {
        self.config.mode = CheckMode::Unpaired {
            baseline: BaselineChoice::Source(source),
            require_baseline: false,
        };
        self
    }

    /// Runs the gate and turns the verdict into libtest-mimic trials.
    pub fn trials(&self) -> Vec<Trial> {
        self.evaluate()
            .into_iter()
            .map(|t| match t.outcome {
                TrialOutcome::Pass => Trial::test(t.name, || Ok(())),
                TrialOutcome::Fail(m) => Trial::test(t.name, move || Err(Failed::from(m))),
                TrialOutcome::Ignore(r) => {
                    Trial::ignorable_test(t.name, move || Ok(Completion::ignored_with(r)))
                }
            })
            .collect()
    }

    /// Runs the gate and judges each trial, without running them through libtest-mimic.
    pub fn evaluate(&self) -> Vec<GateTrial> {
        let (mut out, _captured) = Output::captured();
        let v = match check::check(&self.config, &mut out) {
            Ok(v) => v,
            Err(e) => {
                let mut text = e.to_string();
                for cause in causes(&e) {
                    text.push_str(&format!("\n  caused by: {cause}"));
                }
                if let Some(h) = e.hint() {
                    text.push_str(&format!("\n  hint: {h}"));
                }
                return vec![GateTrial {
                    name: "gate::setup".into(),
                    outcome: TrialOutcome::Fail(text),
                }];
            }
        };
        let no_baseline = v.verdict == Outcome::NoBaseline;
        if no_baseline {
            // Still one trial per fixture, each ignored with the reason.
            let fixtures =
                crate::project::config::Settings::load(self.config.manifest_path.as_deref())
                    .ok()
                    .and_then(|s| check::snapshot(&s, profile_or_none(&self.config)?).ok());
            let reason = v.summary.clone();
            return fixtures
                .map(|snap| snap.fixtures)
                .unwrap_or_default()
                .into_iter()
                .flat_map(|f| {
                    ["latency", "cpu"].map(|q| GateTrial {
                        name: format!("gate::{}::{q}", f.name),
                        outcome: TrialOutcome::Ignore(reason.clone()),
                    })
                })
                .collect();
        }
        v.fixtures()
            .filter_map(|m| {
                let MetricId::Fixture { fixture, quantity } = &m.id else {
                    return None;
                };
                let name = format!("gate::{fixture}::{}", quantity.as_str());
                let fmt = |x: f64| {
                    if m.unit == Unit::Cores {
                        format!("{} cores", cores(x))
                    } else {
                        format!("{} µs", us(x))
                    }
                };
                let message = format!(
                    "{}: {} → {} ({:+.1}%, adjusted p {}){}",
                    m.verdict.code(),
                    m.base.map(fmt).unwrap_or_else(|| "-".into()),
                    m.head.map(fmt).unwrap_or_else(|| "-".into()),
                    m.change_pct.unwrap_or(0.0),
                    m.p_adjusted
                        .map(|p| format!("{p:.4}"))
                        .unwrap_or_else(|| "-".into()),
                    m.parts
                        .first()
                        .map(|a| format!("; moved most: {} ({:.0}%)", a.part, a.share_pct))
                        .unwrap_or_default()
                );
                let outcome = match m.verdict {
                    MetricVerdict::Regression => TrialOutcome::Fail(message),
                    _ => TrialOutcome::Pass,
                };
                Some(GateTrial { name, outcome })
            })
            .collect()
    }

    /// Parses the test binary's arguments, runs the trials and returns the exit code.
    pub fn run(&self) -> std::process::ExitCode {
        let args = Arguments::from_args();
        libtest_mimic::run(&args, self.trials()).exit_code()
    }
}

fn profile_or_none(c: &CheckConfig) -> Option<crate::model::Profile> {
    match &c.profile {
        ProfileSource::File(path) => super::input::load_profile(path).ok(),
        ProfileSource::Measure { .. } => None,
    }
}
