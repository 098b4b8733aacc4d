//! The pull-request comment (docs/gate.md): one comment per platform, found by a hidden marker
//! and updated in place, through octocrab.
//!
//! Environment (GitHub Actions): `GITHUB_API_URL` (API base, default `https://api.github.com`;
//! tests point it at a local server), `GITHUB_TOKEN` (never printed), `GITHUB_REPOSITORY`
//! (`owner/name`), and the pull request from `GITHUB_EVENT_PATH` (`pull_request.number`) or
//! `GITHUB_REF` (`refs/pull/N/merge`). Server errors (5xx) and transport failures are retried
//! with exponential backoff; a 403 is reported as [`GithubError::Forbidden`] so that the
//! caller can warn instead of failing.

use std::time::Duration;

use octocrab::{Octocrab, Page};
use serde::Deserialize;

/// The public API of github.com.
pub(crate) const DEFAULT_API_URL: &str = "https://api.github.com";

/// The pull-request comment could not be posted.
#[derive(Debug, thiserror::Error)]
pub(crate) enum GithubError {
    /// No token in the environment.
    #[error("failed to authenticate to GitHub: GITHUB_TOKEN is not set")]
    NoToken,
    /// The repository or pull request could not be told from the environment.
    #[error("failed to find the pull request: {0}")]
    NoContext(String),
    /// GitHub answered 403: the token may not write comments (a fork's read-only token).
    #[error("failed to {what}: GitHub answered 403 ({message})")]
    Forbidden {
        /// What was being done.
        what: String,
        /// GitHub's message.
        message: String,
    },
    /// Any other failure, after the retries.
    #[error("failed to {what}: {message}")]
    Api {
        /// What was being done.
        what: String,
        /// The HTTP status, when there was a response.
        status: Option<u16>,
        /// What went wrong.
        message: String,
    },
}

impl GithubError {
    /// What the user can do about it.
    pub(crate) fn hint(&self) -> Option<String> {
        match self {
            GithubError::NoToken => Some(
                "pass the workflow's token: `env: GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}`"
                    .into(),
            ),
            GithubError::NoContext(_) => Some(
                "run in a pull_request workflow, or pass --pr NUMBER and set GITHUB_REPOSITORY"
                    .into(),
            ),
            GithubError::Forbidden { .. } => Some(
                "pull requests from forks get a read-only token: post from a separate \
                 workflow_run job with `cargo meshinsight comment --report FILE` (ci/README.md)"
                    .into(),
            ),
            GithubError::Api { .. } => None,
        }
    }
}

/// The pull request a comment goes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PrContext {
    /// Repository owner.
    pub(crate) owner: String,
    /// Repository name.
    pub(crate) repo: String,
    /// Pull request number.
    pub(crate) number: u64,
}

impl PrContext {
    /// The pull request of the Actions environment; `number` overrides the one found there.
    /// `Ok(None)`: not in a pull-request context.
    pub(crate) fn from_env(
        env: impl Fn(&str) -> Option<String>,
        number: Option<u64>,
    ) -> Result<Option<PrContext>, GithubError> {
        let Some(full) = env("GITHUB_REPOSITORY").filter(|s| !s.is_empty()) else {
            return match number {
                Some(_) => Err(GithubError::NoContext(
                    "GITHUB_REPOSITORY is not set".into(),
                )),
                None => Ok(None),
            };
        };
        let (owner, repo) = full
            .split_once('/')
            .filter(|(o, r)| !o.is_empty() && !r.is_empty() && !r.contains('/'))
            .ok_or_else(|| {
                GithubError::NoContext(format!("GITHUB_REPOSITORY `{full}` is not owner/name"))
            })?;
        let number = match number {
            Some(n) => Some(n),
            None => pr_from_event(&env)?.or_else(|| pr_from_ref(env("GITHUB_REF").as_deref())),
        };
        Ok(number.map(|number| PrContext {
            owner: owner.to_string(),
            repo: repo.to_string(),
            number,
        }))
    }
}

fn pr_from_event(env: &impl Fn(&str) -> Option<String>) -> Result<Option<u64>, GithubError> {
    let Some(path) = env("GITHUB_EVENT_PATH").filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(&path).map_err(|e| {
        GithubError::NoContext(format!("cannot read GITHUB_EVENT_PATH {path}: {e}"))
    })?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        GithubError::NoContext(format!("GITHUB_EVENT_PATH {path} is not JSON: {e}"))
    })?;
    Ok(v.pointer("/pull_request/number")
        .and_then(|n| n.as_u64())
        .or_else(|| {
            v.pointer("/workflow_run/pull_requests/0/number")
                .and_then(|n| n.as_u64())
        }))
}

fn pr_from_ref(r: Option<&str>) -> Option<u64> {
    r?.strip_prefix("refs/pull/")?
        .split('/')
        .next()?
        .parse()
        .ok()
}

/// The hidden marker that identifies the gate's comment for a platform.
pub(crate) fn marker(platform_id: &str) -> String {
    format!("<!-- cargo-meshinsight:gate:{platform_id} -->")
}

/// How retries back off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Retry {
    /// Attempts in all (at least 1).
    pub(crate) attempts: u32,
    /// Delay before the first retry; doubled each time.
    pub(crate) base_delay: Duration,
    /// Time allowed for one request; running out counts as a transport failure.
    pub(crate) timeout: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            attempts: 4,
            base_delay: Duration::from_millis(500),
            timeout: Duration::from_secs(30),
        }
    }
}

/// What happened to the comment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CommentAction {
    /// A new comment was created, with this id.
    Created(u64),
    /// The existing comment with this id was updated.
    Updated(u64),
}

#[derive(Debug, Deserialize)]
struct RawComment {
    id: u64,
    #[serde(default)]
    body: Option<String>,
}

/// A GitHub API client.
#[derive(Debug)]
pub(crate) struct Client {
    octo: Octocrab,
    retry: Retry,
}

impl Client {
    /// A client for `api_url` authenticated with `token`. Needs a Tokio runtime.
    pub(crate) fn new(api_url: &str, token: &str, retry: Retry) -> Result<Client, GithubError> {
        let setup = |message: String| GithubError::Api {
            what: "set up the GitHub client".into(),
            status: None,
            message,
        };
        let octo = Octocrab::builder()
            .base_uri(api_url)
            .map_err(|e| setup(format!("bad GITHUB_API_URL `{api_url}`: {e}")))?
            .personal_token(token.to_string())
            .build()
            .map_err(|e| setup(e.to_string()))?;
        Ok(Client { octo, retry })
    }

    /// HTTP status, message, and whether a retry may help.
    fn classify(e: &octocrab::Error) -> (Option<u16>, String, bool) {
        match e {
            octocrab::Error::GitHub { source, .. } => {
                let s = source.status_code.as_u16();
                (Some(s), source.message.clone(), s >= 500)
            }
            octocrab::Error::Hyper { source, .. } => (None, source.to_string(), true),
            octocrab::Error::Service { source, .. } => (None, source.to_string(), true),
            other => (None, other.to_string(), false),
        }
    }

    async fn with_retry<T, F, Fut>(&self, what: &str, mut call: F) -> Result<T, GithubError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = octocrab::Result<T>>,
    {
        let mut delay = self.retry.base_delay;
        let attempts = self.retry.attempts.max(1);
        for attempt in 1..=attempts {
            let e = match tokio::time::timeout(self.retry.timeout, call()).await {
                Ok(Ok(v)) => return Ok(v),
                Ok(Err(e)) => Some(e),
                Err(_) => None,
            };
            let (status, message, retryable) = match &e {
                None => (
                    None,
                    format!("no answer within {:?}", self.retry.timeout),
                    true,
                ),
                Some(e) => Self::classify(e),
            };

            if status == Some(403) {
                return Err(GithubError::Forbidden {
                    what: what.to_string(),
                    message,
                });
            }
            if !retryable || attempt == attempts {
                let message = match status {
                    Some(s) if retryable => {
                        format!("HTTP {s} ({message}), {attempts} attempts")
                    }
                    Some(s) => format!("HTTP {s} ({message})"),
                    None if attempts > 1 => format!("{message}, {attempts} attempts"),
                    None => message,
                };
                return Err(GithubError::Api {
                    what: what.to_string(),
                    status,
                    message,
                });
            }
            tokio::time::sleep(delay).await;
            delay *= 2;
        }
        unreachable!("the loop returns on the last attempt")
    }

    /// Every comment of the pull request, following the `Link: rel="next"` pages.
    async fn comments(&self, pr: &PrContext) -> Result<Vec<RawComment>, GithubError> {
        let route = format!(
            "/repos/{}/{}/issues/{}/comments",
            pr.owner, pr.repo, pr.number
        );
        let what = format!("list the comments of pull request #{}", pr.number);
        let mut page: Page<RawComment> = self
            .with_retry(&what, || {
                self.octo.get(route.as_str(), Some(&[("per_page", "100")]))
            })
            .await?;
        let mut all = std::mem::take(&mut page.items);
        const MAX_PAGES: usize = 1000;
        for _ in 0..MAX_PAGES {
            let next = page.next.clone();
            if next.is_none() {
                break;
            }
            match self
                .with_retry(&what, || self.octo.get_page::<RawComment>(&next))
                .await?
            {
                Some(mut p) => {
                    all.append(&mut p.items);
                    page = p;
                }
                None => break,
            }
        }
        Ok(all)
    }

    /// Creates the comment carrying `marker`, or updates the one that already does.
    pub(crate) async fn upsert_comment(
        &self,
        pr: &PrContext,
        marker: &str,
        body: &str,
    ) -> Result<CommentAction, GithubError> {
        let existing = self
            .comments(pr)
            .await?
            .into_iter()
            .find(|c| c.body.as_deref().is_some_and(|b| b.contains(marker)));
        let payload = serde_json::json!({ "body": body });
        match existing {
            Some(c) => {
                let route = format!("/repos/{}/{}/issues/comments/{}", pr.owner, pr.repo, c.id);
                let what = format!("update comment {} on pull request #{}", c.id, pr.number);
                let done: RawComment = self
                    .with_retry(&what, || self.octo.patch(route.as_str(), Some(&payload)))
                    .await?;
                Ok(CommentAction::Updated(done.id))
            }
            None => {
                let route = format!(
                    "/repos/{}/{}/issues/{}/comments",
                    pr.owner, pr.repo, pr.number
                );
                let what = format!("comment on pull request #{}", pr.number);
                let done: RawComment = self
                    .with_retry(&what, || self.octo.post(route.as_str(), Some(&payload)))
                    .await?;
                Ok(CommentAction::Created(done.id))
            }
        }
    }
}

/// Where and how to post, as read from the environment.
#[derive(Clone, Debug)]
pub(crate) struct PostConfig {
    /// API base URL.
    pub(crate) api_url: String,
    /// The token (never printed: `Debug` hides it).
    pub(crate) token: Token,
    /// The pull request.
    pub(crate) pr: PrContext,
    /// Retry policy.
    pub(crate) retry: Retry,
}

/// A secret that does not print.
#[derive(Clone)]
pub(crate) struct Token(pub String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(***)")
    }
}

/// Posts (creates or updates) the comment, blocking on a private single-thread runtime.
pub(crate) fn post(
    config: &PostConfig,
    marker: &str,
    body: &str,
) -> Result<CommentAction, GithubError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| GithubError::Api {
            what: "start the HTTP runtime".into(),
            status: None,
            message: e.to_string(),
        })?;
    rt.block_on(async {
        let client = Client::new(&config.api_url, &config.token.0, config.retry)?;
        client.upsert_comment(&config.pr, marker, body).await
    })
}

#[cfg(test)]
mod tests;
