//! `cargo meshinsight comment`, and the comment options `check` shares with it.

use std::path::PathBuf;

use crate::app::comment::{self, CommentConfig};
use crate::app::error::Error;
use crate::app::output::Output;

/// Options of the pull-request comment.
#[derive(Debug, clap::Args)]
pub(crate) struct CommentArgs {
    /// Fail (exit 101) when the comment cannot be posted, instead of warning
    #[arg(long)]
    pub(crate) require_comment: bool,
    // Numbers start at 1: `--pr 0` is a usage error (exit 2) before anything is measured.
    /// Pull request number [default: from GITHUB_EVENT_PATH or GITHUB_REF, or the report]
    #[arg(long, value_name = "NUMBER", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) pr: Option<u64>,
}

impl From<&CommentArgs> for CommentConfig {
    fn from(a: &CommentArgs) -> Self {
        CommentConfig {
            require_comment: a.require_comment,
            pr: a.pr,
        }
    }
}

/// Post a saved `check` report as the pull-request comment (for the `workflow_run` job that
/// comments on pull requests from forks).
#[derive(Debug, clap::Args)]
pub(crate) struct CommentCmdArgs {
    /// The JSON verdict written by `cargo meshinsight check -o FILE`
    #[arg(long, value_name = "FILE")]
    report: PathBuf,
    #[command(flatten)]
    comment: CommentArgs,
    /// Print the comment's markdown (with its hidden marker) instead of posting it, for a job
    /// that posts it without this tool (ci/meshinsight-comment.sh)
    #[arg(long, conflicts_with_all = ["require_comment", "pr"])]
    render_only: bool,
}

pub(super) fn run(args: CommentCmdArgs, out: &mut Output) -> Result<u8, Error> {
    if args.render_only {
        return comment::render(&args.report, out);
    }
    comment::run(&args.report, CommentConfig::from(&args.comment), out)
}
