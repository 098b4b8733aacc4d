//! `cargo meshinsight check`: measure the head and the base interleaved until the primary
//! metrics are decided (the default, [`paired`]), or compare the head with the stored baseline
//! (`--unpaired`); confirm a regression by measuring again, and report.

mod paired;

use std::path::PathBuf;
use std::time::Duration;

use super::comment::{CommentConfig, post_verdict, write_step_summary};
use super::error::Error;
use super::head_profile::ProfileSource;
use super::input::load_ecg;
use super::output::Output;
use super::paired_base::PairedBase;
use crate::ecg::Ecg;
use crate::gate::baseline::{self, BaselineSource, Loaded};
use crate::gate::{BaselineInvalid, CompareSettings, GateError, Outcome, Snapshot, Verdict, judge};
use crate::model::Profile;
use crate::project::config::Settings;
use crate::project::github::PrContext;
use crate::report::{Format, verdict};

/// Loads the fixtures of `settings` and predicts them under `profile`.
pub(crate) fn snapshot(settings: &Settings, profile: Profile) -> Result<Snapshot, Error> {
    Ok(Snapshot::new(profile, &fixtures(settings)?)?)
}

/// Which baseline `check --unpaired` compares against.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub(crate) enum BaselineChoice {
    /// The baseline file at the merge base of `HEAD` and the target branch.
    #[default]
    MergeBase,
    /// An explicit source.
    Source(BaselineSource),
}

/// How `check` judges the head.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum CheckMode {
    /// Measure this base interleaved with the head, adaptively, and judge the differences.
    Paired(PairedBase),
    /// Compare the head's profile with a stored baseline.
    Unpaired {
        /// The baseline.
        baseline: BaselineChoice,
        /// Fail (exit 101) instead of passing when there is no baseline.
        require_baseline: bool,
    },
}

impl Default for CheckMode {
    /// The default check: paired, against the configured base.
    fn default() -> Self {
        CheckMode::Paired(PairedBase::Default)
    }
}

/// How long a paired check measures at most before it judges what it has.
pub(crate) const DEFAULT_TIME_BUDGET: Duration = Duration::from_secs(180);

/// What `check` does.
#[derive(Clone, Debug, Default)]
pub(crate) struct CheckConfig {
    /// The manifest of the project (`--manifest-path`).
    pub(crate) manifest_path: Option<PathBuf>,
    /// The profile of the head: a file, or measured now.
    pub(crate) profile: ProfileSource,
    /// Paired (the default) or against a stored baseline.
    pub(crate) mode: CheckMode,
    /// Overrides the configured target branch (e.g. from `GITHUB_BASE_REF`).
    pub(crate) target_branch: Option<String>,
    /// Overrides the configured threshold, percent.
    pub(crate) threshold_pct: Option<f64>,
    /// Overrides the configured α.
    pub(crate) alpha: Option<f64>,
    /// Overrides the configured time budget of a paired check.
    pub(crate) time_budget: Option<Duration>,
    /// Do not measure again to confirm a regression or improvement (`--no-confirm`;
    /// [`confirm`]).
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
    /// The width the terminal table is fitted to (`COLUMNS`; `None`: the terminal's, when
    /// standard output is one).
    pub(crate) width: Option<u16>,
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
    out.write_result(
        &verdict::render(&v, report.format, report.width),
        "the verdict",
    )?;
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

/// The project's fixtures, loaded once for every prediction of a check.
pub(crate) fn fixtures(settings: &Settings) -> Result<Vec<Ecg>, Error> {
    let paths = settings.fixture_paths()?;
    let mut ecgs = Vec::with_capacity(paths.len());
    for p in &paths {
        let mut ecg = load_ecg(p)?;
        if let Ok(rel) = p.strip_prefix(&settings.root) {
            ecg.origin = rel.to_path_buf();
        }
        ecgs.push(ecg);
    }
    Ok(ecgs)
}

/// `check`: measure base and head interleaved (the default), or read or measure the head and
/// compare it with a stored baseline; then say which commits and which CI run.
pub(crate) fn check(config: &CheckConfig, out: &mut Output) -> Result<Verdict, Error> {
    config.check_overrides()?;
    let settings = with_overrides(config, Settings::load(config.manifest_path.as_deref())?);
    let ecgs = fixtures(&settings)?;
    let mut v = match &config.mode {
        CheckMode::Paired(base) => paired::check_paired(config, &settings, &ecgs, base, out)?,
        CheckMode::Unpaired {
            baseline,
            require_baseline,
        } => check_unpaired(config, &settings, &ecgs, (baseline, *require_baseline), out)?,
    };
    let env = |k: &str| std::env::var(k).ok();
    v.provenance.head_commit = head_commit(&settings, env);
    v.provenance.run_url = run_url(env);
    Ok(v)
}

/// `check --unpaired`: the head's profile against the stored baseline; a regression found by
/// a measurement made now is measured once more.
fn check_unpaired(
    config: &CheckConfig,
    settings: &Settings,
    ecgs: &[Ecg],
    (choice, require): (&BaselineChoice, bool),
    out: &mut Output,
) -> Result<Verdict, Error> {
    let profile = config.profile.obtain(settings, out)?;
    let loaded = baseline_for_check(config, settings, choice, require, &profile.platform.id, out)?;
    let first = judge_profile(settings, ecgs, profile, loaded.as_ref(), out)?;
    if !matches!(config.profile, ProfileSource::Measure { .. }) {
        return Ok(first);
    }
    confirm_by_measuring_again(config, first, "the head", out, |out| {
        let profile = config.profile.obtain(settings, out)?;
        judge_profile(settings, ecgs, profile, loaded.as_ref(), out)
    })
}

/// The head's commit: `GITHUB_SHA` in GitHub Actions (the commit the run is for), else
/// `HEAD` of the project's repository.
fn head_commit(settings: &Settings, env: impl Fn(&str) -> Option<String>) -> Option<String> {
    if let Some(sha) = env("GITHUB_SHA").filter(|s| !s.trim().is_empty()) {
        return Some(sha.trim().to_string());
    }
    let repo = git2::Repository::discover(&settings.root).ok()?;
    let head = repo.head().ok()?.peel_to_commit().ok()?;
    Some(head.id().to_string())
}

/// The link to the GitHub Actions run: `$GITHUB_SERVER_URL/$GITHUB_REPOSITORY/actions/runs/
/// $GITHUB_RUN_ID`, when all three are set (and look like what GitHub sets).
pub(crate) fn run_url(env: impl Fn(&str) -> Option<String>) -> Option<String> {
    let server = env("GITHUB_SERVER_URL")?;
    let repository = env("GITHUB_REPOSITORY")?;
    let run = env("GITHUB_RUN_ID")?;
    let server = server.trim().trim_end_matches('/');
    let ok = (server.starts_with("https://") || server.starts_with("http://"))
        && !server.contains(char::is_whitespace)
        && repository.split('/').count() == 2
        && repository.split('/').all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        })
        && !run.is_empty()
        && run.chars().all(|c| c.is_ascii_digit());
    ok.then(|| format!("{server}/{repository}/actions/runs/{run}"))
}

/// A `first` verdict that found a regression or an improvement, measured once more with
/// `again` and judged by both measurements ([`confirm`]); `first` itself when it found neither
/// or `--no-confirm` says so. `what` names what is measured again. An improvement is confirmed
/// too: the pull-request comment must not praise a change that one noisy measurement made.
pub(super) fn confirm_by_measuring_again(
    config: &CheckConfig,
    first: Verdict,
    what: &str,
    out: &mut Output,
    again: impl FnOnce(&mut Output) -> Result<Verdict, Error>,
) -> Result<Verdict, Error> {
    let changed = matches!(first.verdict, Outcome::Regression | Outcome::Improvement);
    if !changed || config.no_confirm {
        return Ok(first);
    }
    out.status(
        "Confirming",
        format!(
            "{}: measuring {what} once more (a regression or improvement must repeat; \
             --no-confirm skips this)",
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

/// The baseline of platform `id` that `check --unpaired` compares against; `None` (with a
/// warning) when there is none and one is not required.
fn baseline_for_check(
    config: &CheckConfig,
    settings: &Settings,
    choice: &BaselineChoice,
    require: bool,
    id: &str,
    out: &mut Output,
) -> Result<Option<Loaded>, Error> {
    let (loaded, origin) = load_baseline(settings, id, choice, config.target_branch.as_deref())?;
    match &loaded {
        Some(l) => out.status("Comparing", format!("against {}", l.origin)),
        None if require => {
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
pub(crate) fn compare_settings(settings: &Settings) -> CompareSettings {
    CompareSettings {
        threshold_pct: settings.threshold_pct,
        alpha: settings.alpha,
        correction: settings.correction,
    }
}

/// Predicts the fixtures under `profile` and compares with `loaded`; the profile's own
/// replicates give its noise when the baseline's history is short.
fn judge_profile(
    settings: &Settings,
    ecgs: &[Ecg],
    profile: Profile,
    loaded: Option<&Loaded>,
    out: &mut Output,
) -> Result<Verdict, Error> {
    out.status("Predicting", "the fixtures under the profile");
    let modes = profile.modes.len();
    let replicates = crate::gate::replicates::replicates(&profile, ecgs)?;
    let noise = crate::gate::decision::replicate_noise(&replicates, modes);
    let head = Snapshot::new(profile, ecgs)?;
    Ok(judge(
        &head,
        loaded,
        noise.as_ref(),
        &compare_settings(settings),
    ))
}

mod junit;
#[cfg(test)]
mod tests;
