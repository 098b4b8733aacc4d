//! `cargo meshinsight comment`, and the comment/step-summary steps `check` shares with it.

use std::io::Write as _;
use std::path::PathBuf;

use crate::app::error::Error;
use crate::app::output::Output;
use crate::exit;
use crate::gate::{GateError, Verdict};
use crate::project::github::{self, GithubError, PostConfig, PrContext, Retry, Token};
use crate::report::verdict;

/// Options of the pull-request comment.
#[derive(Debug, clap::Args)]
pub struct CommentArgs {
    /// Fail (exit 101) when the comment cannot be posted, instead of warning
    #[arg(long)]
    pub require_comment: bool,
    /// Pull request number [default: from GITHUB_EVENT_PATH or GITHUB_REF, or the report]
    #[arg(long, value_name = "NUMBER")]
    pub pr: Option<u64>,
}

/// Post a saved `check` report as the pull-request comment (for the `workflow_run` job that
/// comments on pull requests from forks).
#[derive(Debug, clap::Args)]
pub struct CommentCmdArgs {
    /// The JSON verdict written by `cargo meshinsight check --report FILE`
    #[arg(long, value_name = "FILE")]
    report: PathBuf,
    #[command(flatten)]
    comment: CommentArgs,
}

/// Appends the markdown report to `$GITHUB_STEP_SUMMARY` when set; warns on failure.
pub(super) fn write_step_summary(v: &Verdict, out: &mut Output) {
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) else {
        return;
    };
    let text = verdict::markdown(v, None);
    let r = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(text.as_bytes()));
    if let Err(e) = r {
        out.warn(format!(
            "failed to write the step summary {}: {e}",
            PathBuf::from(path).display()
        ));
    }
}

/// Posts the comment. `explicit`: the user asked for it (`comment`), so a missing token or
/// pull request is an error; from `check` it silently does nothing outside a pull request.
/// A failure warns, unless `--require-comment`.
pub(super) fn post_verdict(
    v: &Verdict,
    args: &CommentArgs,
    explicit: bool,
    out: &mut Output,
) -> Result<(), Error> {
    let env = |k: &str| std::env::var(k).ok();
    let must = explicit || args.require_comment;
    let setup = (|| {
        let pr = PrContext::from_env(env, args.pr.or(v.pull_request))?;
        let token = env("GITHUB_TOKEN").filter(|t| !t.is_empty());
        match (pr, token) {
            (Some(pr), Some(token)) => Ok(Some((pr, token))),
            (None, _) if must => Err(GithubError::NoContext(
                "no pull request in GITHUB_EVENT_PATH or GITHUB_REF, and no --pr".into(),
            )),
            (Some(_), None) if must => Err(GithubError::NoToken),
            _ => Ok(None),
        }
    })();
    let result = setup.and_then(|found| {
        let Some((pr, token)) = found else {
            return Ok(None);
        };
        let config = PostConfig {
            api_url: env("GITHUB_API_URL")
                .filter(|u| !u.is_empty())
                .unwrap_or_else(|| github::DEFAULT_API_URL.to_string()),
            token: Token(token),
            pr,
            retry: Retry::default(),
        };
        let marker = github::marker(&v.platform.id);
        let body = verdict::markdown(v, Some(&marker));
        github::post(&config, &marker, &body).map(|a| Some((a, config.pr.number)))
    });
    match result {
        Ok(None) => Ok(()),
        Ok(Some((action, number))) => {
            let (verb, id) = match action {
                github::CommentAction::Created(id) => ("Commented", id),
                github::CommentAction::Updated(id) => ("Updated", id),
            };
            out.status(verb, format!("on pull request #{number} (comment {id})"));
            Ok(())
        }
        Err(e) if args.require_comment => Err(e.into()),
        Err(e) => {
            let hint = e.hint();
            out.warn(format!(
                "{e}; the verdict stands (pass --require-comment to fail instead){}",
                hint.map(|h| format!("\n  hint: {h}")).unwrap_or_default()
            ));
            Ok(())
        }
    }
}

pub(super) fn run(args: CommentCmdArgs, out: &mut Output) -> Result<u8, Error> {
    let text = std::fs::read_to_string(&args.report).map_err(|source| GateError::Read {
        path: args.report.clone(),
        source,
    })?;
    let v = Verdict::from_json(&text, &args.report)?;
    let mut comment = args.comment;
    // `comment` is the whole point of the command: a failure is an error.
    comment.require_comment = true;
    post_verdict(&v, &comment, true, out)?;
    Ok(exit::OK)
}
