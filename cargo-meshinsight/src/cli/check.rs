//! `cargo meshinsight check`.

use std::path::PathBuf;

use crate::app::check::{self, BaselineChoice, CheckConfig, ReportConfig};
use crate::app::comment::CommentConfig;
use crate::app::error::Error;
use crate::app::output::Output;
use crate::app::paired_base::PairedBase;
use crate::gate::BaselineSource;
use crate::report::Format;

use super::comment::CommentArgs;
use super::profile_source::ProfileSourceArgs;

/// Compare the sidecar's overhead with the baseline of this platform; exit 100 on a regression.
///
/// Without `--profile`, the configured sidecar is profiled now (root; docs/profiling.md).
#[derive(Debug, clap::Args)]
pub(crate) struct CheckArgs {
    #[command(flatten)]
    source: ProfileSourceArgs,
    /// Paired mode: measure a base sidecar interleaved with the head in this run and judge the
    /// per-point differences with a paired test, instead of reading a baseline [default base:
    /// the sidecar configured at the merge base with the target branch]
    #[arg(long, conflicts_with_all = ["profile", "baseline_rev", "baseline_file", "no_baseline", "require_baseline"])]
    paired: bool,
    /// The base of --paired: `builtin`, `builtin --extra-work-us N`, `envoy`, or a command
    /// template
    #[arg(
        long,
        value_name = "SIDECAR",
        requires = "paired",
        conflicts_with = "base_rev"
    )]
    base_sidecar: Option<crate::harness::Sidecar>,
    /// The base of --paired: the sidecar configured (and for `bin`, built) at this revision
    #[arg(long, value_name = "REV", requires = "paired")]
    base_rev: Option<String>,
    /// Path to Cargo.toml of the project
    #[arg(long, value_name = "PATH")]
    manifest_path: Option<PathBuf>,
    /// Read the baseline at this git revision [default: the merge base with the target branch]
    #[arg(long, value_name = "REV", conflicts_with_all = ["baseline_file", "no_baseline"])]
    baseline_rev: Option<String>,
    /// Read the baseline from this file instead of git
    #[arg(long, value_name = "FILE", conflicts_with = "no_baseline")]
    baseline_file: Option<PathBuf>,
    /// Compare against nothing (report the head only)
    #[arg(long)]
    no_baseline: bool,
    /// Branch whose merge base holds the baseline [default: `target-branch` of the config, `main`]
    #[arg(
        long,
        value_name = "BRANCH",
        env = "GITHUB_BASE_REF",
        hide_env_values = true
    )]
    target_branch: Option<String>,
    /// Fail (exit 101) when there is no baseline for this platform, instead of passing
    #[arg(long)]
    require_baseline: bool,
    /// Relative change that counts, percent [default: `threshold-pct` of the config, 5]
    #[arg(long, value_name = "PCT")]
    threshold: Option<f64>,
    /// Significance level after the multiple-testing correction [default: config, 0.05]
    #[arg(long, value_name = "ALPHA")]
    alpha: Option<f64>,
    /// When profiling now (also with --paired) and a regression is found: do not measure
    /// once more to confirm it (by default a regression must repeat in a second measurement)
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

impl From<&CheckArgs> for CheckConfig {
    fn from(a: &CheckArgs) -> Self {
        let baseline = if a.no_baseline {
            BaselineChoice::Source(BaselineSource::None)
        } else if let Some(f) = &a.baseline_file {
            BaselineChoice::Source(BaselineSource::Path(f.clone()))
        } else if let Some(r) = &a.baseline_rev {
            BaselineChoice::Source(BaselineSource::GitRev(r.clone()))
        } else {
            BaselineChoice::MergeBase
        };
        CheckConfig {
            manifest_path: a.manifest_path.clone(),
            profile: a.source.source(),
            paired: a.paired.then(|| match &a.base_sidecar {
                Some(s) => PairedBase::Sidecar(s.clone()),
                None => PairedBase::Rev(a.base_rev.clone()),
            }),
            baseline,
            require_baseline: a.require_baseline,
            target_branch: a.target_branch.clone().filter(|b| !b.is_empty()),
            threshold_pct: a.threshold,
            alpha: a.alpha,
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
        }
    }
}

pub(super) fn run(args: CheckArgs, out: &mut Output) -> Result<u8, Error> {
    check::run(&CheckConfig::from(&args), &ReportConfig::from(&args), out)
}
