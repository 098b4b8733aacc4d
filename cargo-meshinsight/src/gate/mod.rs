//! The gate (DESIGN §7): predict every fixture under the current profile, load the baseline
//! of this platform from git, compare, and decide. [`compare`] is pure; [`baseline`] does the
//! git and file I/O; [`check`] and [`update`] tie them together for the CLI and for
//! [`crate::libtest`].
//!
//! The head profile comes from a file (`--profile`) or is measured now ([`source`]; a `bin`
//! sidecar is built with cargo first, [`build`]). [`paired`] measures a base sidecar
//! interleaved with the head and judges the per-point differences instead of a baseline.

pub mod baseline;
pub mod build;
pub mod compare;
pub mod confirm;
pub mod paired;
pub mod snapshot;
pub mod source;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use baseline::{Baseline, BaselineSource, Loaded};
pub use compare::{CompareSettings, MetricResult, MetricVerdict};
pub use paired::{PairedBase, PairedInfo};
pub use snapshot::{FixtureResult, MetricId, Quantity, Snapshot};
pub use source::ProfileSource;

use crate::config::Settings;
use crate::ecg::Ecg;
use crate::error::{Error, exit};
use crate::output::Output;
use crate::profile::{Platform, Profile};

/// The version of the verdict (report) format.
pub const FORMAT_VERSION: u32 = 1;

/// A baseline could not be read, written or found.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    /// A file could not be read.
    #[error("failed to read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error("failed to write {path}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A baseline document is malformed.
    #[error("invalid baseline {origin}: {message}")]
    InvalidBaseline {
        /// The file, and the commit it was read at.
        origin: String,
        /// What is wrong.
        message: String,
    },
    /// A git operation failed.
    #[error("failed to {what}: {message}")]
    Git {
        /// What was being done.
        what: String,
        /// libgit2's message.
        message: String,
    },
    /// The target branch is neither a remote-tracking nor a local branch.
    #[error("failed to find the target branch `{branch}` (neither origin/{branch} nor {branch})")]
    NoTargetBranch {
        /// The branch.
        branch: String,
    },
    /// `--require-baseline` and there is none.
    #[error("no baseline for platform `{platform}` at {origin}")]
    NoBaseline {
        /// The platform id.
        platform: String,
        /// Where it was looked for.
        origin: String,
    },
    /// The confirming measurement found another platform than the first one.
    #[error(
        "the confirming measurement ran on platform `{second}`, the first on `{first}`: the \
         two cannot be judged together"
    )]
    PlatformChanged {
        /// The first measurement's platform id.
        first: String,
        /// The second's.
        second: String,
    },
    /// The profile's platform id cannot name a baseline file.
    #[error(
        "platform id `{id}` cannot name a baseline file (letters, digits, `-`, `_`, `.`, `+`; not starting with `.`)"
    )]
    BadPlatformId {
        /// The id.
        id: String,
    },
    /// A `bin` sidecar could not be built.
    #[error("failed to build the sidecar binary `{name}`: {message}")]
    Build {
        /// The binary target.
        name: String,
        /// Cargo's error, one line.
        message: String,
    },
    /// The base of a paired check could not be exported or configured.
    #[error("failed to prepare the base sidecar of the paired check: {message}")]
    PairedBase {
        /// What is wrong.
        message: String,
    },
    /// A saved report could not be used.
    #[error("invalid report {path}: {message}")]
    InvalidReport {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl GateError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            GateError::InvalidBaseline { .. } => Some(
                "regenerate it with `cargo meshinsight baseline update`; the format is in docs/gate.md"
                    .into(),
            ),
            GateError::NoTargetBranch { .. } => Some(
                "fetch the target branch (actions/checkout with fetch-depth: 0), or pass --baseline-rev"
                    .into(),
            ),
            GateError::NoBaseline { .. } => Some(
                "record one on the target branch with `cargo meshinsight baseline update --commit`"
                    .into(),
            ),
            GateError::PlatformChanged { .. } => Some(
                "keep the machine's CPUs and sidecar the same during a check, or pass \
                 --no-confirm"
                    .into(),
            ),
            GateError::BadPlatformId { .. } => {
                Some("change `platform.id` in the profile".into())
            }
            GateError::Build { name, .. } => Some(format!(
                "cargo's messages are above; `cargo build --release --bin {name}` reproduces the build"
            )),
            GateError::PairedBase { .. } => Some(
                "pass the base as a command with --base-sidecar, or another revision with --base-rev"
                    .into(),
            ),
            GateError::InvalidReport { .. } => {
                Some("pass the JSON written by `cargo meshinsight check --report FILE`".into())
            }
            _ => None,
        }
    }
}

/// The overall outcome. The strings are stable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// At least one metric regressed.
    Regression,
    /// No regression, at least one improvement.
    Improvement,
    /// Nothing moved beyond the threshold with significance.
    Pass,
    /// No baseline for this platform: nothing was compared.
    NoBaseline,
}

impl Outcome {
    /// The stable code.
    pub fn code(self) -> &'static str {
        match self {
            Outcome::Regression => "regression",
            Outcome::Improvement => "improvement",
            Outcome::Pass => "pass",
            Outcome::NoBaseline => "no-baseline",
        }
    }

    /// The process exit code of `check`.
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Regression => exit::REGRESSION,
            _ => exit::OK,
        }
    }
}

/// Where the baseline came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BaselineInfo {
    /// The file and commit.
    pub origin: String,
    /// The commit, when read from git.
    pub commit: Option<String>,
    /// Versions of the baseline the run-to-run spread was computed from.
    pub history_versions: usize,
}

/// Counts of metric verdicts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Regressions.
    pub regression: usize,
    /// Improvements.
    pub improvement: usize,
    /// Beyond the threshold, within the noise.
    pub not_significant: usize,
    /// Within the threshold.
    pub unchanged: usize,
    /// Only in the head.
    pub new: usize,
    /// Only in the baseline.
    pub removed: usize,
    /// Flagged by one of two measurements only (a regression to confirm).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unconfirmed: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The result of `check`: what the reports render and `comment` posts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// Always [`FORMAT_VERSION`].
    pub format_version: u32,
    /// The outcome code.
    pub verdict: Outcome,
    /// One line saying what happened.
    pub summary: String,
    /// The platform of the current profile.
    pub platform: Platform,
    /// The baseline compared against.
    pub baseline: Option<BaselineInfo>,
    /// Threshold, α and correction.
    pub settings: CompareSettings,
    /// How many metrics got each verdict.
    pub counts: Counts,
    /// Every compared metric.
    pub metrics: Vec<MetricResult>,
    /// Remarks a reader should know.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The pull request the check ran for, when known (used by `comment`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<u64>,
    /// Present when base and head were measured interleaved in this run (`check --paired`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paired: Option<PairedInfo>,
}

impl Verdict {
    /// Parses a saved report; `path` names it in errors.
    pub fn from_json(text: &str, path: &Path) -> Result<Verdict, GateError> {
        let invalid = |message: String| GateError::InvalidReport {
            path: path.to_path_buf(),
            message,
        };
        crate::versioned::from_json(text, FORMAT_VERSION).map_err(invalid)
    }

    /// Fixture metrics, in key order.
    pub fn fixtures(&self) -> impl Iterator<Item = &MetricResult> {
        self.metrics
            .iter()
            .filter(|m| matches!(m.id, MetricId::Fixture { .. }))
    }

    /// Coefficients that regressed or improved: the components that moved.
    pub fn moved(&self) -> impl Iterator<Item = &MetricResult> {
        self.metrics.iter().filter(|m| {
            matches!(m.id, MetricId::Coefficient { .. })
                && matches!(
                    m.verdict,
                    MetricVerdict::Regression | MetricVerdict::Improvement
                )
        })
    }
}

/// Judges `head` against a loaded baseline (or none). Pure.
pub fn judge(head: &Snapshot, loaded: Option<&Loaded>, settings: &CompareSettings) -> Verdict {
    let platform = head.profile.platform.clone();
    let Some(loaded) = loaded else {
        return Verdict {
            format_version: FORMAT_VERSION,
            verdict: Outcome::NoBaseline,
            summary: format!(
                "no baseline for platform `{}`: nothing compared",
                platform.id
            ),
            platform,
            baseline: None,
            settings: *settings,
            counts: Counts::default(),
            metrics: Vec::new(),
            notes: Vec::new(),
            pull_request: None,
            paired: None,
        };
    };
    let (spread, history_versions) = loaded.spread();
    let spread_df = (history_versions >= 2).then(|| (history_versions - 1) as f64);
    let metrics = compare::compare(
        head,
        &loaded.baseline.snapshot,
        &spread,
        spread_df,
        settings,
    );
    let mut notes = Vec::new();
    if history_versions < 2 {
        notes.push(
            "the baseline has no history yet: run-to-run spread unknown, only fit errors count"
                .into(),
        );
    }
    let info = BaselineInfo {
        origin: loaded.origin.clone(),
        commit: loaded.commit.clone(),
        history_versions,
    };
    decide(platform, info, metrics, notes, settings)
}

/// Counts, the outcome and the summary of compared metrics.
fn decide(
    platform: Platform,
    baseline: BaselineInfo,
    metrics: Vec<MetricResult>,
    mut notes: Vec<String>,
    settings: &CompareSettings,
) -> Verdict {
    let mut counts = Counts::default();
    for m in &metrics {
        *match m.verdict {
            MetricVerdict::Regression => &mut counts.regression,
            MetricVerdict::Improvement => &mut counts.improvement,
            MetricVerdict::NotSignificant => &mut counts.not_significant,
            MetricVerdict::Unchanged => &mut counts.unchanged,
            MetricVerdict::New => &mut counts.new,
            MetricVerdict::Removed => &mut counts.removed,
            MetricVerdict::Unconfirmed => &mut counts.unconfirmed,
        } += 1;
    }
    let verdict = if counts.regression > 0 {
        Outcome::Regression
    } else if counts.improvement > 0 {
        Outcome::Improvement
    } else {
        Outcome::Pass
    };
    let exact = metrics
        .iter()
        .filter(|m| m.p.is_some() && m.se.is_none_or(|s| s == 0.0))
        .count();
    let note = format!(
        "{exact} metric(s) have no known uncertainty (no fit statistics, no history): the \
         threshold alone judges them"
    );
    // A verdict decided again (confirmation) already has it.
    if exact > 0 && !notes.contains(&note) {
        notes.insert(0, note);
    }
    let tested = metrics.iter().filter(|m| m.p.is_some()).count();
    let summary = summary_line(verdict, &counts, &metrics, tested);
    Verdict {
        format_version: FORMAT_VERSION,
        verdict,
        summary,
        platform,
        baseline: Some(baseline),
        settings: *settings,
        counts,
        metrics,
        notes,
        pull_request: None,
        paired: None,
    }
}

/// Judges a paired run: `head` and `base` measured interleaved, `errors` the snapshot of the
/// head with the errors of the per-point differences ([`paired::with_difference_errors`]).
/// Pure.
pub fn judge_paired(
    head: &Snapshot,
    base: &Snapshot,
    errors: &Snapshot,
    info: PairedInfo,
    settings: &CompareSettings,
) -> Verdict {
    let difference = paired::difference_errors(errors);
    let metrics = compare::compare_paired(head, base, &difference, settings);
    let mut notes = Vec::new();
    let unknown = metrics
        .iter()
        .filter(|m| m.p.is_some() && m.se.is_none())
        .count();
    if unknown > 0 {
        notes.push(format!(
            "{unknown} metric(s) have too few matched points for a paired test: never significant"
        ));
    }
    let baseline = BaselineInfo {
        origin: format!("base `{}` measured interleaved in this run", info.base),
        commit: info.base_commit.clone(),
        history_versions: 0,
    };
    let mut v = decide(
        head.profile.platform.clone(),
        baseline,
        metrics,
        notes,
        settings,
    );
    v.paired = Some(info);
    v
}

fn summary_line(
    verdict: Outcome,
    counts: &Counts,
    metrics: &[MetricResult],
    tested: usize,
) -> String {
    // The largest fixture change names the component that moved; coefficients come second.
    let worst = |v: MetricVerdict| {
        let pick = |fixtures: bool| {
            metrics.iter().filter(move |m| {
                m.verdict == v && matches!(m.id, MetricId::Fixture { .. }) == fixtures
            })
        };
        let mut candidates: Vec<&MetricResult> = pick(true).collect();
        if candidates.is_empty() {
            candidates = pick(false).collect();
        }
        candidates
            .into_iter()
            .max_by(|a, b| {
                let x = a.change_pct.unwrap_or(0.0).abs();
                x.total_cmp(&b.change_pct.unwrap_or(0.0).abs())
            })
            .map(|m| {
                let mut s = format!("{} {:+.1}%", m.key, m.change_pct.unwrap_or(0.0));
                if let Some(a) = &m.attribution {
                    s.push_str(&format!(", mostly {}", a.part));
                }
                s
            })
    };
    let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    match verdict {
        Outcome::Regression => format!(
            "{} in {tested} metrics (largest: {})",
            plural(counts.regression, "regression"),
            worst(MetricVerdict::Regression).unwrap_or_default()
        ),
        Outcome::Improvement => format!(
            "no regression in {tested} metrics; {} (largest: {})",
            plural(counts.improvement, "improvement"),
            worst(MetricVerdict::Improvement).unwrap_or_default()
        ),
        Outcome::Pass if counts.unconfirmed > 0 => format!(
            "no regression in {tested} metrics; {} not repeated by a second measurement ({})",
            plural(counts.unconfirmed, "change"),
            worst(MetricVerdict::Unconfirmed).unwrap_or_default()
        ),
        Outcome::Pass => format!("no regression in {tested} metrics"),
        Outcome::NoBaseline => "no baseline: nothing compared".into(),
    }
}

/// Loads the fixtures of `settings` and predicts them under `profile`.
pub fn snapshot(settings: &Settings, profile: Profile) -> Result<Snapshot, Error> {
    let paths = settings.fixture_paths()?;
    let mut ecgs = Vec::with_capacity(paths.len());
    for p in &paths {
        let mut ecg = Ecg::load(p)?;
        if let Ok(rel) = p.strip_prefix(&settings.root) {
            ecg.origin = rel.to_path_buf();
        }
        ecgs.push(ecg);
    }
    Ok(Snapshot::new(profile, &ecgs)?)
}

/// Which baseline `check` compares against.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum BaselineChoice {
    /// The baseline file at the merge base of `HEAD` and the target branch.
    #[default]
    MergeBase,
    /// An explicit source.
    Source(BaselineSource),
}

/// What `check` does.
#[derive(Clone, Debug, Default)]
pub struct CheckConfig {
    /// The manifest of the project (`--manifest-path`).
    pub manifest_path: Option<PathBuf>,
    /// The profile of the head: a file, or measured now.
    pub profile: ProfileSource,
    /// The baseline.
    pub baseline: BaselineChoice,
    /// Fail (exit 101) instead of passing when there is no baseline.
    pub require_baseline: bool,
    /// Overrides the configured target branch (e.g. from `GITHUB_BASE_REF`).
    pub target_branch: Option<String>,
    /// Overrides the configured threshold, percent.
    pub threshold_pct: Option<f64>,
    /// Overrides the configured α.
    pub alpha: Option<f64>,
    /// Paired mode: measure this base interleaved with the head instead of reading a
    /// baseline.
    pub paired: Option<PairedBase>,
    /// Do not measure again to confirm a regression found against a baseline or by a paired
    /// check (`--no-confirm`; [`confirm`]).
    pub no_confirm: bool,
}

/// Loads the baseline `check` compares against.
pub fn load_baseline(
    settings: &Settings,
    platform_id: &str,
    choice: &BaselineChoice,
    target_branch: Option<&str>,
) -> Result<(Option<Loaded>, String), GateError> {
    let name = baseline::file_name(platform_id)?;
    let file = settings.baseline_dir_abs().join(&name);
    let shown = settings.baseline_dir.join(&name).display().to_string();
    let loaded = match choice {
        BaselineChoice::MergeBase => {
            let branch = target_branch.unwrap_or(&settings.target_branch);
            let (repo, rel) = baseline::open_repo(&settings.root, &file)?;
            let (at, name) = baseline::merge_base(&repo, branch)?;
            let label = format!("merge base with {name}");
            let where_ = format!("{shown} at {} ({label})", baseline::short(at));
            (
                baseline::load_at(&repo, at, &rel, &label, settings.history_depth)?,
                where_,
            )
        }
        BaselineChoice::Source(source) => {
            let where_ = match source {
                BaselineSource::GitRev(rev) => format!("{shown} at {rev}"),
                BaselineSource::Path(p) => p.display().to_string(),
                BaselineSource::None => "nowhere (--no-baseline)".into(),
            };
            (
                baseline::load(source, &settings.root, &file, settings.history_depth)?,
                where_,
            )
        }
    };
    if let (Some(l), _) = &loaded
        && l.baseline.platform_id != platform_id
    {
        return Err(GateError::InvalidBaseline {
            origin: l.origin.clone(),
            message: format!(
                "it is for platform `{}`, not `{platform_id}`",
                l.baseline.platform_id
            ),
        });
    }
    Ok(loaded)
}

/// `check`: predict, load the baseline, compare.
///
/// The head profile is read or measured as `config.profile` says.
pub fn check(config: &CheckConfig, out: &mut Output) -> Result<Verdict, Error> {
    let settings = with_overrides(config, Settings::load(config.manifest_path.as_deref())?);
    if let Some(base) = &config.paired {
        return check_paired(config, settings, base, out);
    }
    let profile = config.profile.obtain(&settings, out)?;
    let loaded = baseline_for_check(config, &settings, &profile.platform.id, out)?;
    let first = judge_profile(&settings, profile, loaded.as_ref(), out)?;
    if !matches!(config.profile, ProfileSource::Measure { .. }) {
        return Ok(first);
    }
    confirm_by_measuring_again(config, first, "the head", out, |out| {
        let profile = config.profile.obtain(&settings, out)?;
        judge_profile(&settings, profile, loaded.as_ref(), out)
    })
}

/// A `first` verdict that found a regression, measured once more with `again` and judged by
/// both measurements ([`confirm`]); `first` itself when it found none or `--no-confirm` says
/// so. `what` names what is measured again.
fn confirm_by_measuring_again(
    config: &CheckConfig,
    first: Verdict,
    what: &str,
    out: &mut Output,
    again: impl FnOnce(&mut Output) -> Result<Verdict, Error>,
) -> Result<Verdict, Error> {
    if first.verdict != Outcome::Regression || config.no_confirm {
        return Ok(first);
    }
    out.status(
        "Confirming",
        format!(
            "{}: measuring {what} once more (a regression must repeat; --no-confirm skips this)",
            first.summary
        ),
    );
    let second = again(out)?;
    if second.platform.id != first.platform.id {
        return Err(GateError::PlatformChanged {
            first: first.platform.id.clone(),
            second: second.platform.id,
        }
        .into());
    }
    Ok(confirmed(&first, second))
}

/// The verdict of two measurements of the head against the same baseline ([`confirm`]).
fn confirmed(first: &Verdict, second: Verdict) -> Verdict {
    let flagged = first.counts.regression;
    let metrics = confirm::combine(&first.metrics, second.metrics);
    let mut notes = second.notes;
    let repeated = metrics
        .iter()
        .filter(|m| {
            m.verdict == MetricVerdict::Regression
                && m.first
                    .as_ref()
                    .is_some_and(|f| f.verdict == MetricVerdict::Regression)
        })
        .count();
    notes.push(format!(
        "measured twice: the first measurement found {flagged} regression(s), {repeated} of \
         them repeated in the second; a regression counts only when both find it"
    ));
    let mut v = decide(
        second.platform,
        second.baseline.expect("a regression had a baseline"),
        metrics,
        notes,
        &second.settings,
    );
    v.pull_request = second.pull_request;
    v.paired = second.paired;
    v
}

/// The project's settings with the command line's threshold and α.
fn with_overrides(config: &CheckConfig, mut settings: Settings) -> Settings {
    if let Some(t) = config.threshold_pct {
        settings.threshold_pct = t;
    }
    if let Some(a) = config.alpha {
        settings.alpha = a;
    }
    settings
}

/// The baseline of platform `id` that `check` compares against; `None` (with a warning) when
/// there is none and one is not required.
fn baseline_for_check(
    config: &CheckConfig,
    settings: &Settings,
    id: &str,
    out: &mut Output,
) -> Result<Option<Loaded>, Error> {
    let (loaded, origin) = load_baseline(
        settings,
        id,
        &config.baseline,
        config.target_branch.as_deref(),
    )?;
    match &loaded {
        Some(l) => out.status("Comparing", format!("against {}", l.origin)),
        None if config.require_baseline => {
            return Err(GateError::NoBaseline {
                platform: id.to_string(),
                origin,
            }
            .into());
        }
        None => out.warn(format!(
            "no baseline for platform `{id}` at {origin}: nothing to compare, passing"
        )),
    }
    Ok(loaded)
}

/// The comparison settings of the project's `settings`.
fn compare_settings(settings: &Settings) -> CompareSettings {
    CompareSettings {
        threshold_pct: settings.threshold_pct,
        alpha: settings.alpha,
        correction: settings.correction,
    }
}

/// Predicts the fixtures under `profile` and compares with `loaded`.
fn judge_profile(
    settings: &Settings,
    profile: Profile,
    loaded: Option<&Loaded>,
    out: &mut Output,
) -> Result<Verdict, Error> {
    out.status("Predicting", "the fixtures under the profile");
    let head = snapshot(settings, profile)?;
    Ok(judge(&head, loaded, &compare_settings(settings)))
}

/// `check --paired`: measure the base and the head interleaved, predict the fixtures under
/// both, and judge the per-point differences with a paired test.
///
/// `settings` are the project's with the command line's overrides ([`check`]).
pub fn check_paired(
    config: &CheckConfig,
    settings: Settings,
    base: &PairedBase,
    out: &mut Output,
) -> Result<Verdict, Error> {
    let (quick, head_spec) = paired::measure_options(&config.profile)?;
    let head = match &head_spec {
        Some(spec) => source::Resolved::preset(source::parse_spec(spec)),
        None => source::resolve_sidecar(&settings.sidecar, &settings.manifest, None, out)?,
    };
    let base = paired::prepare_base(&settings, base, config.target_branch.as_deref(), out)?;
    let cfg = source::measure_config(&settings, quick, head.sidecar.clone())?;
    crate::harness::install_interrupt_cleanup();
    let launch = crate::harness::Launch::current()?;
    let (base_label, head_label) = (base.resolved.label(), head.label());
    let compare = compare_settings(&settings);
    let measure_and_judge = |out: &mut Output| -> Result<Verdict, Error> {
        let mut measured = crate::profile::paired::measure_paired_reporting(
            &cfg,
            &base.resolved.sidecar,
            &base_label,
            &head_label,
            &launch,
            out,
        )?;
        head.relabel(&mut measured.head);
        head.relabel(&mut measured.difference);
        base.resolved.relabel(&mut measured.base);
        out.status("Predicting", "the fixtures under both profiles");
        let errors = snapshot(
            &settings,
            paired::with_difference_errors(&measured.head, &measured.difference),
        )?;
        let head_snap = snapshot(&settings, measured.head)?;
        let base_snap = snapshot(&settings, measured.base)?;
        let info = PairedInfo {
            base: base_label.clone(),
            head: head_label.clone(),
            base_commit: base.commit.clone(),
            points: measured.points,
            test: "paired t-test on the per-point differences head − base (OLS on size)".into(),
        };
        Ok(judge_paired(
            &head_snap, &base_snap, &errors, info, &compare,
        ))
    };
    let first = measure_and_judge(out)?;
    // Interleaving cancels what the machine does to both sidecars alike, not a phase that
    // slows one of the two processes for seconds: an A/A paired check (builtin against
    // builtin) flagged 4 regressions in 1 of 8 runs that way (docs/gate.md). Such a phase
    // mostly does not repeat; a change of the sidecar does.
    confirm_by_measuring_again(config, first, "base and head", out, measure_and_judge)
}

/// What `baseline update` does.
#[derive(Clone, Debug, Default)]
pub struct UpdateConfig {
    /// The manifest of the project.
    pub manifest_path: Option<PathBuf>,
    /// The profile to record: a file, or measured now.
    pub profile: ProfileSource,
    /// Commit the file with git2.
    pub commit: bool,
}

/// What `baseline update` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Updated {
    /// The file written.
    pub path: PathBuf,
    /// Versions the spread was computed from.
    pub history_versions: usize,
    /// The commit made, when asked and the file changed.
    pub commit: Option<String>,
}

/// `baseline update`: predict, compute the spread with the file's history at `HEAD`, write
/// `<baseline-dir>/<platform-id>.json` atomically and optionally commit it.
pub fn update(config: &UpdateConfig, out: &mut Output) -> Result<Updated, Error> {
    let settings = Settings::load(config.manifest_path.as_deref())?;
    let profile = config.profile.obtain(&settings, out)?;
    update_profile(config, &settings, profile, out)
}

/// `baseline update` of a given profile, with the project's `settings`.
pub fn update_profile(
    config: &UpdateConfig,
    settings: &Settings,
    profile: Profile,
    out: &mut Output,
) -> Result<Updated, Error> {
    let id = profile.platform.id.clone();
    let head = snapshot(settings, profile)?;
    let file = settings.baseline_dir_abs().join(baseline::file_name(&id)?);
    let earlier = match baseline::open_repo(&settings.root, &file) {
        Ok((repo, rel)) => match repo.head().and_then(|h| h.peel_to_commit()) {
            Ok(c) => {
                let mut v = baseline::history(&repo, c.id(), &rel, settings.history_depth)?;
                v.reverse();
                v.into_iter().map(|(_, b)| b).collect()
            }
            Err(_) => Vec::new(),
        },
        Err(e) if config.commit => return Err(e.into()),
        Err(_) => {
            out.warn("not in a git repository: the baseline gets no history spread");
            Vec::new()
        }
    };
    let baseline = Baseline::new(head, &earlier);
    baseline::write_atomic(&file, &baseline.to_json())?;
    out.status("Wrote", file.display());
    let commit = if config.commit {
        let msg = format!("meshinsight: update baseline for {id}");
        let c = baseline::commit_file(&settings.root, &file, &msg)?;
        match c {
            Some(c) => out.status("Committed", format!("{} {msg}", baseline::short(c))),
            None => out.status("Unchanged", "the committed baseline is identical"),
        }
        c.map(|c| c.to_string())
    } else {
        None
    };
    Ok(Updated {
        path: file,
        history_versions: baseline.history_versions,
        commit,
    })
}

#[cfg(test)]
mod tests;
