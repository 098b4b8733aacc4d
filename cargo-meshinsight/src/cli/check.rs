//! `cargo meshinsight check`.

use std::path::PathBuf;

use crate::app::check::{self, BaselineChoice, CheckConfig};
use crate::app::error::Error;
use crate::app::output::Output;
use crate::app::paired_base::PairedBase;
use crate::gate::BaselineSource;
use crate::report::{Format, verdict};

use super::comment::{CommentArgs, post_verdict, write_step_summary};
use super::profile_source::ProfileSourceArgs;

/// Compare the sidecar's overhead with the baseline of this platform; exit 100 on a regression.
///
/// Without `--profile`, the configured sidecar is profiled now (root; docs/profiling.md).
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
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
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Also write the verdict as JSON to this file (for `cargo meshinsight comment`)
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
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
        }
    }
}

pub(super) fn run(args: CheckArgs, out: &mut Output) -> Result<u8, Error> {
    for (name, v) in [("--threshold", args.threshold), ("--alpha", args.alpha)] {
        if let Some(v) = v {
            let ok = if name == "--alpha" {
                v > 0.0 && v < 1.0
            } else {
                v.is_finite() && v >= 0.0
            };
            if !ok {
                return Err(Error::Other {
                    message: format!("invalid {name} {v}"),
                    hint: Some("--threshold is a percentage >= 0; --alpha lies in (0, 1)".into()),
                });
            }
        }
    }
    let mut v = check::check(&CheckConfig::from(&args), out)?;
    let env = |k: &str| std::env::var(k).ok();
    if let Ok(Some(pr)) = crate::project::github::PrContext::from_env(env, args.comment.pr) {
        v.pull_request = Some(pr.number);
    }
    out.out()
        .write_all(verdict::render(&v, args.format).as_bytes())
        .map_err(|source| Error::Write {
            what: "the verdict".into(),
            source,
        })?;
    if let Some(path) = &args.report {
        let mut json = serde_json::to_string_pretty(&v).expect("a verdict serializes");
        json.push('\n');
        crate::project::fs::write_atomic(path, json.as_bytes())?;
        out.status("Wrote", path.display());
    }
    write_step_summary(&v, out);
    if !args.no_comment {
        post_verdict(&v, &args.comment, false, out)?;
    }
    Ok(v.verdict.exit_code())
}
