//! `cargo meshinsight comment`: post a saved `check` report as the pull-request comment; and
//! the comment and step-summary steps `check` shares with it.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::error::Error;
use super::output::Output;
use crate::exit;
use crate::gate::{GateError, Verdict};
use crate::project::github::{self, GithubError, PostConfig, PrContext, Retry, Token};
use crate::report::verdict;

/// Options of the pull-request comment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct CommentConfig {
    /// Fail when the comment cannot be posted, instead of warning.
    pub(crate) require_comment: bool,
    /// The pull request, when not taken from the environment or the report.
    pub(crate) pr: Option<u64>,
}

/// `comment`: posts the verdict saved at `report`; a failure to post is an error.
pub(crate) fn run(report: &Path, config: CommentConfig, out: &mut Output) -> Result<u8, Error> {
    let v = read_report(report)?;
    // Posting is the whole point of the command.
    let config = CommentConfig {
        require_comment: true,
        ..config
    };
    post_verdict(&v, &config, true, out)?;
    Ok(exit::OK)
}

/// `comment --render-only`: prints the comment that `comment` would post (marker first).
pub(crate) fn render(report: &Path, out: &mut Output) -> Result<u8, Error> {
    let v = read_report(report)?;
    let marker = github::marker(&v.platform.id);
    out.write_result(&verdict::markdown(&v, Some(&marker)), "the comment")?;
    Ok(exit::OK)
}

fn read_report(report: &Path) -> Result<Verdict, Error> {
    let text = std::fs::read_to_string(report).map_err(|source| GateError::Read {
        path: report.to_path_buf(),
        source,
    })?;
    Ok(Verdict::from_json(&text, report)?)
}

/// Appends the markdown report to `$GITHUB_STEP_SUMMARY` when set; warns on failure.
pub(crate) fn write_step_summary(v: &Verdict, out: &mut Output) {
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
/// A failure warns, unless `require_comment`.
pub(crate) fn post_verdict(
    v: &Verdict,
    config: &CommentConfig,
    explicit: bool,
    out: &mut Output,
) -> Result<(), Error> {
    let must = explicit || config.require_comment;
    let result = post_config(v, config, must).and_then(|found| {
        let Some(post) = found else {
            return Ok(None);
        };
        let marker = github::marker(&v.platform.id);
        let body = verdict::markdown(v, Some(&marker));
        github::post(&post, &marker, &body).map(|a| Some((a, post.pr.number)))
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
        Err(e) if config.require_comment => Err(e.into()),
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

/// Where to post, from the environment: `None` outside a pull request or without a token,
/// unless the comment `must` be posted. The token is trimmed; one that is not a valid header
/// value is an error (a warning unless the comment must be posted).
fn post_config(
    v: &Verdict,
    config: &CommentConfig,
    must: bool,
) -> Result<Option<PostConfig>, GithubError> {
    let env = |k: &str| std::env::var(k).ok();
    let Some(pr) = PrContext::from_env(env, config.pr.or(v.pull_request))? else {
        if !must {
            return Ok(None);
        }
        return Err(GithubError::NoContext(
            "no pull request in GITHUB_EVENT_PATH or GITHUB_REF, and no --pr".into(),
        ));
    };
    let token = match env("GITHUB_TOKEN") {
        Some(raw) => Token::new(&raw)?,
        None => None,
    };
    let Some(token) = token else {
        return if must {
            Err(GithubError::NoToken)
        } else {
            Ok(None)
        };
    };
    Ok(Some(PostConfig {
        api_url: env("GITHUB_API_URL")
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| github::DEFAULT_API_URL.to_string()),
        token,
        pr,
        retry: Retry::default(),
    }))
}
