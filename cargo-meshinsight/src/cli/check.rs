//! `cargo meshinsight check`.

use std::path::PathBuf;

use crate::app::check::{self, BaselineChoice, CheckConfig, CheckMode, ReportConfig};
use crate::app::comment::CommentConfig;
use crate::app::error::Error;
use crate::app::head_profile::ProfileSource;
use crate::app::output::Output;
use crate::app::paired_base::PairedBase;
use crate::gate::BaselineSource;
use crate::report::Format;

use super::comment::CommentArgs;
use super::profile_source::ProfileSourceArgs;

/// Measure the sidecar against its base, interleaved, and exit 100 on a regression.
///
/// By default the head (the working tree's sidecar) and the base (the sidecar configured at the
/// merge base with the target branch, or `base-sidecar` of the config) are measured side by
/// side in rounds until a regression is decided, every primary metric is decided, or the time
/// budget is spent; a regression or improvement is measured once more and must repeat (root;
/// docs/gate.md). `--unpaired` compares the head with the stored baseline instead; `--profile`,
/// `--baseline-rev`, `--baseline-file`, `--no-baseline` and `--require-baseline` imply it.
#[derive(Debug, clap::Args)]
pub(crate) struct CheckArgs {
    #[command(flatten)]
    source: ProfileSourceArgs,
    /// Compare the head with the stored baseline of this platform instead of measuring the
    /// base beside it (implied by --profile and the --baseline-* flags)
    #[arg(long)]
    unpaired: bool,
    /// Accepted for compatibility: paired is the default
    #[arg(long = "paired", hide = true, conflicts_with = "unpaired")]
    _paired: bool,
    /// The base: `builtin`, `builtin --extra-work-us N`, `envoy`, or a command template
    /// [default: `base-sidecar` of the config, else the sidecar configured at the merge base]
    #[arg(
        long,
        value_name = "SIDECAR",
        conflicts_with_all = ["base_rev", "unpaired", "profile", "baseline_rev", "baseline_file", "no_baseline", "require_baseline"]
    )]
    base_sidecar: Option<crate::harness::Sidecar>,
    /// The base: the sidecar configured (and for `bin`, built) at this revision
    #[arg(
        long,
        value_name = "REV",
        conflicts_with_all = ["unpaired", "profile", "baseline_rev", "baseline_file", "no_baseline", "require_baseline"]
    )]
    base_rev: Option<String>,
    /// How long each paired measurement (the first, and a confirming one) may take before it
    /// judges what it has, e.g. `3m`, `90s` [default: `time-budget` of the config, 3m]
    #[arg(
        long,
        value_name = "DURATION",
        value_parser = humantime::parse_duration,
        conflicts_with_all = ["unpaired", "profile", "baseline_rev", "baseline_file", "no_baseline", "require_baseline"]
    )]
    time_budget: Option<std::time::Duration>,
    /// Path to Cargo.toml of the project
    #[arg(long, value_name = "PATH")]
    manifest_path: Option<PathBuf>,
    /// Unpaired: read the baseline at this git revision [default: the merge base with the
    /// target branch]
    #[arg(long, value_name = "REV", conflicts_with_all = ["baseline_file", "no_baseline"])]
    baseline_rev: Option<String>,
    /// Unpaired: read the baseline from this file instead of git
    #[arg(long, value_name = "FILE", conflicts_with = "no_baseline")]
    baseline_file: Option<PathBuf>,
    /// Unpaired: compare against nothing (report the head only)
    #[arg(long)]
    no_baseline: bool,
    /// Branch whose merge base holds the base and the baseline [default: `target-branch` of
    /// the config, `main`]
    #[arg(
        long,
        value_name = "BRANCH",
        env = "GITHUB_BASE_REF",
        hide_env_values = true
    )]
    target_branch: Option<String>,
    /// Unpaired: fail (exit 101) when there is no baseline for this platform, instead of
    /// passing
    #[arg(long)]
    require_baseline: bool,
    /// Relative change that counts, percent [default: `threshold-pct` of the config, 5]
    #[arg(long, value_name = "PCT")]
    threshold: Option<f64>,
    /// Significance level after the multiple-testing correction [default: config, 0.05]
    #[arg(long, value_name = "ALPHA")]
    alpha: Option<f64>,
    /// When measuring now and a regression or improvement is found: do not measure once more
    /// to confirm it (by default either must repeat in a second measurement)
    #[arg(long, conflicts_with = "profile")]
    no_confirm: bool,
    /// When measuring: use these CPUs (real ids, e.g. 2-7; within the allowed set)
    /// [default: `cpus` of the config, else the allowed set]
    #[arg(long, value_name = "LIST", conflicts_with = "profile")]
    cpus: Option<crate::harness::CpuList>,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Also write the verdict as JSON to this file (for `cargo meshinsight comment`)
    #[arg(short, long, value_name = "FILE", alias = "report")]
    output: Option<PathBuf>,
    /// Also write the verdict as JUnit XML to this file (one test case per metric; a
    /// regression is a failure)
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Do not post the pull-request comment even when a token and a pull request are present
    #[arg(long, conflicts_with = "require_comment")]
    no_comment: bool,
    #[command(flatten)]
    comment: CommentArgs,
}

impl CheckArgs {
    /// Whether the check compares with the stored baseline: `--unpaired`, or a flag that only
    /// means something then.
    fn unpaired(&self) -> bool {
        self.unpaired
            || matches!(self.source.source(), ProfileSource::File(_))
            || self.baseline_rev.is_some()
            || self.baseline_file.is_some()
            || self.no_baseline
            || self.require_baseline
    }
}

impl From<&CheckArgs> for CheckConfig {
    fn from(a: &CheckArgs) -> Self {
        let mode = if a.unpaired() {
            let baseline = if a.no_baseline {
                BaselineChoice::Source(BaselineSource::None)
            } else if let Some(f) = &a.baseline_file {
                BaselineChoice::Source(BaselineSource::Path(f.clone()))
            } else if let Some(r) = &a.baseline_rev {
                BaselineChoice::Source(BaselineSource::GitRev(r.clone()))
            } else {
                BaselineChoice::MergeBase
            };
            CheckMode::Unpaired {
                baseline,
                require_baseline: a.require_baseline,
            }
        } else if let Some(s) = &a.base_sidecar {
            CheckMode::Paired(PairedBase::Sidecar(s.clone()))
        } else if let Some(r) = &a.base_rev {
            CheckMode::Paired(PairedBase::Rev(Some(r.clone())))
        } else {
            CheckMode::Paired(PairedBase::Default)
        };
        CheckConfig {
            manifest_path: a.manifest_path.clone(),
            profile: a.source.source(),
            mode,
            target_branch: a.target_branch.clone().filter(|b| !b.is_empty()),
            threshold_pct: a.threshold,
            alpha: a.alpha,
            time_budget: a.time_budget,
            no_confirm: a.no_confirm,
            cpus: a.cpus.clone(),
        }
    }
}

impl From<&CheckArgs> for ReportConfig {
    fn from(a: &CheckArgs) -> Self {
        ReportConfig {
            format: a.format,
            report: a.output.clone(),
            junit: a.junit.clone(),
            comment: CommentConfig::from(&a.comment),
            post_comment: !a.no_comment,
            width: std::env::var("COLUMNS")
                .ok()
                .and_then(|c| c.trim().parse().ok())
                .filter(|w| *w > 0),
        }
    }
}

pub(super) fn run(args: CheckArgs, out: &mut Output) -> Result<u8, Error> {
    check::run(&CheckConfig::from(&args), &ReportConfig::from(&args), out)
}
