//! `cargo meshinsight check`: measure (or read) the head, compare with the base measured side
//! by side or with the stored baseline, confirm a regression by measuring again, and report.

use std::path::PathBuf;

use super::comment::{CommentConfig, post_verdict, write_step_summary};
use super::error::Error;
use super::head_profile::{self, ProfileSource};
use super::input::load_ecg;
use super::output::Output;
use super::paired_base::{self, PairedBase};
use crate::gate::baseline::{self, BaselineSource, Loaded};
use crate::gate::paired::{self, PairedInfo};
use crate::gate::{
    BaselineInvalid, CompareSettings, GateError, Outcome, Snapshot, Verdict, judge, judge_paired,
};
use crate::model::Profile;
use crate::project::config::Settings;
use crate::project::github::PrContext;
use crate::report::{Format, verdict};

/// Loads the fixtures of `settings` and predicts them under `profile`.
pub(crate) fn snapshot(settings: &Settings, profile: Profile) -> Result<Snapshot, Error> {
    let paths = settings.fixture_paths()?;
    let mut ecgs = Vec::with_capacity(paths.len());
    for p in &paths {
        let mut ecg = load_ecg(p)?;
        if let Ok(rel) = p.strip_prefix(&settings.root) {
            ecg.origin = rel.to_path_buf();
        }
        ecgs.push(ecg);
    }
    Ok(Snapshot::new(profile, &ecgs)?)
}

/// Which baseline `check` compares against.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub(crate) enum BaselineChoice {
    /// The baseline file at the merge base of `HEAD` and the target branch.
    #[default]
    MergeBase,
    /// An explicit source.
    Source(BaselineSource),
}

/// What `check` does.
#[derive(Clone, Debug, Default)]
pub(crate) struct CheckConfig {
    /// The manifest of the project (`--manifest-path`).
    pub(crate) manifest_path: Option<PathBuf>,
    /// The profile of the head: a file, or measured now.
    pub(crate) profile: ProfileSource,
    /// The baseline.
    pub(crate) baseline: BaselineChoice,
    /// Fail (exit 101) instead of passing when there is no baseline.
    pub(crate) require_baseline: bool,
    /// Overrides the configured target branch (e.g. from `GITHUB_BASE_REF`).
    pub(crate) target_branch: Option<String>,
    /// Overrides the configured threshold, percent.
    pub(crate) threshold_pct: Option<f64>,
    /// Overrides the configured α.
    pub(crate) alpha: Option<f64>,
    /// Paired mode: measure this base interleaved with the head instead of reading a
    /// baseline.
    pub(crate) paired: Option<PairedBase>,
    /// Do not measure again to confirm a regression found against a baseline or by a paired
    /// check (`--no-confirm`; [`confirm`]).
    pub(crate) no_confirm: bool,
    /// Measure on these CPUs instead of the configured ones (`--cpus`).
    pub(crate) cpus: Option<crate::harness::CpuList>,
}

impl CheckConfig {
    /// The threshold must be a percentage of at least 0, α lie in (0, 1).
    fn check_overrides(&self) -> Result<(), Error> {
        if let Some(value) = self.threshold_pct
            && !(value.is_finite() && value >= 0.0)
        {
            return Err(Error::InvalidOverride {
                flag: "--threshold",
                value,
            });
        }
        if let Some(value) = self.alpha
            && !(value > 0.0 && value < 1.0)
        {
            return Err(Error::InvalidOverride {
                flag: "--alpha",
                value,
            });
        }
        Ok(())
    }
}

/// What the `check` command does with its verdict.
#[derive(Clone, Debug, Default)]
pub(crate) struct ReportConfig {
    /// How the verdict is printed.
    pub(crate) format: Format,
    /// Also write the verdict as JSON to this file.
    pub(crate) report: Option<PathBuf>,
    /// Also write the verdict as JUnit XML to this file.
    pub(crate) junit: Option<PathBuf>,
    /// The pull-request comment's options (its `pr` also names the report's pull request).
    pub(crate) comment: CommentConfig,
    /// Post the comment when a token and a pull request are present.
    pub(crate) post_comment: bool,
}

/// The `check` command: judges as `config` says, prints the verdict, writes the JSON report
/// and the step summary, posts the comment; returns the exit code of the outcome.
pub(crate) fn run(
    config: &CheckConfig,
    report: &ReportConfig,
    out: &mut Output,
) -> Result<u8, Error> {
    let mut v = check(config, out)?;
    let env = |k: &str| std::env::var(k).ok();
    if let Ok(Some(pr)) = PrContext::from_env(env, report.comment.pr) {
        v.pull_request = Some(pr.number);
    }
    out.write_result(&verdict::render(&v, report.format), "the verdict")?;
    if let Some(path) = &report.report {
        let mut json = serde_json::to_string_pretty(&v).expect("a verdict serializes");
        json.push('\n');
        crate::project::fs::write_atomic(path, json.as_bytes())?;
        out.status("Wrote", path.display());
    }
    if let Some(path) = &report.junit {
        junit::write(&v, path, out)?;
    }
    write_step_summary(&v, out);
    if report.post_comment {
        post_verdict(&v, &report.comment, false, out)?;
    }
    Ok(v.verdict.exit_code())
}

/// Loads the baseline `check` compares against.
pub(crate) fn load_baseline(
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
            reason: BaselineInvalid::OtherPlatform {
                found: l.baseline.platform_id.clone(),
                expected: platform_id.to_string(),
            },
        });
    }
    Ok(loaded)
}

/// `check`: predict, load the baseline, compare.
///
/// The head profile is read or measured as `config.profile` says.
pub(crate) fn check(config: &CheckConfig, out: &mut Output) -> Result<Verdict, Error> {
    config.check_overrides()?;
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
    Ok(crate::gate::verdict::confirmed(&first, second))
}

/// The project's settings with the command line's threshold and α.
fn with_overrides(config: &CheckConfig, mut settings: Settings) -> Settings {
    if let Some(t) = config.threshold_pct {
        settings.threshold_pct = t;
    }
    if let Some(a) = config.alpha {
        settings.alpha = a;
    }
    if config.cpus.is_some() {
        settings.cpus.clone_from(&config.cpus);
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
pub(crate) fn check_paired(
    config: &CheckConfig,
    settings: Settings,
    base: &PairedBase,
    out: &mut Output,
) -> Result<Verdict, Error> {
    let (quick, head_spec) = paired_base::measure_options(&config.profile)?;
    let launch = super::launch::launch(settings.user.as_deref(), out)?;
    let head = match &head_spec {
        Some(sidecar) => head_profile::Resolved::preset(sidecar.clone()),
        None => head_profile::resolve_sidecar(
            &settings.sidecar,
            &settings.manifest,
            None,
            &launch,
            out,
        )?,
    };
    let base = paired_base::prepare_base(
        &settings,
        base,
        config.target_branch.as_deref(),
        &launch,
        out,
    )?;
    let cfg = head_profile::measure_config(&settings, quick, head.sidecar.clone())?;
    let (base_label, head_label) = (base.resolved.label(), head.label());
    let compare = compare_settings(&settings);
    let measure_and_judge = |out: &mut Output| -> Result<Verdict, Error> {
        let mut measured = super::measuring::measure_paired(
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
    // slows one of the two processes for seconds (docs/gate.md). Such a phase mostly does not
    // repeat; a change of the sidecar does.
    confirm_by_measuring_again(config, first, "base and head", out, measure_and_judge)
}

mod junit;
#[cfg(test)]
mod tests;
