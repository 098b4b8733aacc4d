//! The pull-request comment (docs/gate.md): one comment per platform, found by a hidden marker
//! and updated in place, through octocrab.
//!
//! Environment (GitHub Actions): `GITHUB_API_URL` (API base, default `https://api.github.com`;
//! tests point it at a local server), `GITHUB_TOKEN` (trimmed; never printed), `GITHUB_REPOSITORY`
//! (`owner/name`, checked), and the pull request from `GITHUB_EVENT_PATH`
//! (`pull_request.number`) or `GITHUB_REF` (`refs/pull/N/merge`). Server errors (5xx) and
//! transport failures are retried with exponential backoff; a 403 is reported as
//! [`GithubError::Forbidden`] so that the caller can warn instead of failing.
//!
//! Every error that leaves [`post`] has the token, and its base64 forms, replaced by `***`
//! ([`Redactor`]): servers and proxies may echo request headers in their error bodies. The
//! comment list follows `Link: rel="next"` on the API's own host only, never reads a page
//! twice and stops after [`MAX_PAGES`] pages; when it stops early without finding the comment,
//! nothing is posted rather than a second comment.

use std::collections::HashSet;
use std::time::Duration;

use base64::Engine as _;
use octocrab::{Octocrab, Page};
use serde::Deserialize;

/// The public API of github.com.
pub(crate) const DEFAULT_API_URL: &str = "https://api.github.com";

/// Pages of 100 comments read at most when looking for the gate's comment.
pub(crate) const MAX_PAGES: usize = 100;

/// Characters of a server's message kept in an error (one line).
const MAX_MESSAGE_CHARS: usize = 300;

/// The pull-request comment could not be posted.
#[derive(Debug, thiserror::Error)]
pub(crate) enum GithubError {
    /// No token in the environment.
    #[error("failed to authenticate to GitHub: GITHUB_TOKEN is not set")]
    NoToken,
    /// The token, trimmed, still cannot be sent in an `Authorization` header.
    #[error(
        "failed to authenticate to GitHub: the token in GITHUB_TOKEN is not a valid HTTP header \
         value: not posting"
    )]
    BadToken,
    /// The repository or pull request could not be told from the environment.
    #[error("failed to find the pull request: {0}")]
    NoContext(String),
    /// `GITHUB_REPOSITORY` is not `owner/name`.
    #[error(
        "failed to find the pull request: GITHUB_REPOSITORY `{0}` is not owner/name (letters, \
         digits, `-`, `_`; the name also `.`)"
    )]
    BadRepository(String),
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
    /// The comments were not all read, and the gate's comment was not among those that were.
    #[error(
        "failed to find the gate's comment on pull request #{number} in {pages} page(s) of \
         comments: {reason}; not posting, so as not to add a second one"
    )]
    ListingIncomplete {
        /// The pull request.
        number: u64,
        /// Pages read.
        pages: usize,
        /// Why the listing stopped.
        reason: ListingStop,
    },
}

/// Why the comment listing stopped before its last page.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ListingStop {
    /// A `next` link named a page already read.
    #[error("the `Link: rel=\"next\"` header led back to a page already read")]
    Loop,
    /// [`MAX_PAGES`] pages were read.
    #[error("the listing stopped at its cap of {0} pages")]
    PageCap(usize),
    /// A `next` link named another host, which would have been sent the token.
    #[error("the next page is on another host ({0}), which would be sent the token")]
    OtherHost(String),
}

impl GithubError {
    /// What the user can do about it.
    pub(crate) fn hint(&self) -> Option<String> {
        match self {
            GithubError::NoToken => Some(
                "pass the workflow's token: `env: GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}`"
                    .into(),
            ),
            GithubError::BadToken => Some(
                "set GITHUB_TOKEN to the token alone, without quotes, inner line breaks or \
                 control characters"
                    .into(),
            ),
            GithubError::NoContext(_) => Some(
                "run in a pull_request workflow, or pass --pr NUMBER and set GITHUB_REPOSITORY"
                    .into(),
            ),
            GithubError::BadRepository(_) => Some(
                "GITHUB_REPOSITORY is `owner/name` as GitHub Actions sets it; correct or unset it"
                    .into(),
            ),
            GithubError::Forbidden { .. } => Some(
                "pull requests from forks get a read-only token: post from a separate \
                 workflow_run job with `cargo meshinsight comment --report FILE` (ci/README.md)"
                    .into(),
            ),
            GithubError::ListingIncomplete { .. } => Some(
                "the verdict is in the job's log and step summary; check what answers at \
                 GITHUB_API_URL (a proxy rewriting `Link` headers?)"
                    .into(),
            ),
            GithubError::Api { .. } => None,
        }
    }

    /// The same error with every form of the token in its text replaced by `***`.
    fn redacted(self, r: &Redactor) -> GithubError {
        match self {
            GithubError::NoContext(m) => GithubError::NoContext(r.apply(&m)),
            GithubError::BadRepository(m) => GithubError::BadRepository(r.apply(&m)),
            GithubError::Forbidden { what, message } => GithubError::Forbidden {
                what: r.apply(&what),
                message: r.apply(&message),
            },
            GithubError::Api {
                what,
                status,
                message,
            } => GithubError::Api {
                what: r.apply(&what),
                status,
                message: r.apply(&message),
            },
            e @ (GithubError::NoToken
            | GithubError::BadToken
            | GithubError::ListingIncomplete { .. }) => e,
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
    /// Pull request number (at least 1).
    pub(crate) number: u64,
}

impl PrContext {
    /// The pull request of the Actions environment; `number` overrides the one found there.
    /// `Ok(None)`: not in a pull-request context. A malformed `GITHUB_REPOSITORY` or a pull
    /// request numbered 0 is an error, whether or not there is a pull request.
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
        let (owner, repo) = split_repository(&full).ok_or_else(|| {
            GithubError::BadRepository(
                full.chars()
                    .take(120)
                    .collect::<String>()
                    .escape_debug()
                    .to_string(),
            )
        })?;
        let number = match number {
            Some(n) => Some(n),
            None => pr_from_event(&env)?.or_else(|| pr_from_ref(env("GITHUB_REF").as_deref())),
        };
        if number == Some(0) {
            return Err(GithubError::NoContext(
                "pull request number 0 (numbers start at 1)".into(),
            ));
        }
        Ok(number.map(|number| PrContext {
            owner: owner.to_string(),
            repo: repo.to_string(),
            number,
        }))
    }
}

/// `owner/name` as GitHub allows them, or `None`: an owner of ASCII letters, digits, `-` and
/// `_` (GitHub Enterprise's managed users have `_`), a name of those and `.` other than `.` and
/// `..`, each at most 100 characters. They become URL paths, so nothing else may pass.
fn split_repository(full: &str) -> Option<(&str, &str)> {
    let (owner, name) = full.split_once('/')?;
    let fits = |s: &str, dot: bool| {
        !s.is_empty()
            && s.len() <= 100
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || (dot && c == '.'))
    };
    (fits(owner, false) && fits(name, true) && name != "." && name != "..").then_some((owner, name))
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

/// A secret that does not print: the token, trimmed, and known to fit an HTTP header.
#[derive(Clone)]
pub(crate) struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(***)")
    }
}

impl Token {
    /// `raw` without the whitespace around it (a secret pasted with its newline); `Ok(None)`
    /// when nothing is left. A token that still is not a valid header value is
    /// [`GithubError::BadToken`]: octocrab would panic building its `Authorization` header.
    pub(crate) fn new(raw: &str) -> Result<Option<Token>, GithubError> {
        let token = raw.trim();
        if token.is_empty() {
            return Ok(None);
        }
        http::HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| GithubError::BadToken)?;
        Ok(Some(Token(token.to_string())))
    }

    /// What hides this token in text.
    pub(crate) fn redactor(&self) -> Redactor {
        Redactor::new(&self.0)
    }
}

/// Shortest run of a secret's bytes whose base64 text is hidden: shorter runs give patterns
/// that would match ordinary words.
const MIN_BASE64_BYTES: usize = 6;

/// Hides a secret in text: the secret itself (and so its `Bearer` and `token` forms), and its
/// base64 text wherever it sits in the encoded data (a `Basic` header of
/// `x-access-token:TOKEN`).
#[derive(Clone)]
pub(crate) struct Redactor {
    /// The texts replaced, longest first.
    patterns: Vec<String>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} patterns)", self.patterns.len())
    }
}

impl Redactor {
    /// A redactor of `secret`.
    ///
    /// Base64 encodes three-byte groups counted from the start of the data, so whatever
    /// precedes the secret, the groups wholly inside it encode to one of three texts (one per
    /// offset modulo 3), in both alphabets. Those are hidden; at most two bytes at each end of
    /// the secret stay visible in such an encoding.
    pub(crate) fn new(secret: &str) -> Redactor {
        let mut patterns = vec![secret.to_string()];
        let bytes = secret.as_bytes();
        for skip in 0..3 {
            let rest = bytes.get(skip..).unwrap_or_default();
            let whole = &rest[..rest.len() / 3 * 3];
            if whole.len() < MIN_BASE64_BYTES {
                continue;
            }
            for engine in [
                &base64::engine::general_purpose::STANDARD_NO_PAD,
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            ] {
                patterns.push(engine.encode(whole));
            }
        }
        patterns.retain(|p| !p.is_empty());
        patterns.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        patterns.dedup();
        Redactor { patterns }
    }

    /// `text` with every pattern replaced by `***`.
    pub(crate) fn apply(&self, text: &str) -> String {
        let mut out = text.to_string();
        for p in &self.patterns {
            if out.contains(p.as_str()) {
                out = out.replace(p.as_str(), "***");
            }
        }
        out
    }
}

/// A server's message as one line of at most [`MAX_MESSAGE_CHARS`] characters, the secret
/// hidden first (a cut could otherwise leave part of it).
fn server_message(text: &str, r: &Redactor) -> String {
    let one_line = r
        .apply(text)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    match one_line.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((cut, _)) => format!("{}…", &one_line[..cut]),
        None => one_line,
    }
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
    /// The API base, whose host alone is followed by `next` links.
    base: http::Uri,
    retry: Retry,
    redactor: Redactor,
}

impl Client {
    /// A client for `api_url` authenticated with `token`. Needs a Tokio runtime.
    pub(crate) fn new(api_url: &str, token: &Token, retry: Retry) -> Result<Client, GithubError> {
        let setup = |message: String| GithubError::Api {
            what: "set up the GitHub client".into(),
            status: None,
            message,
        };
        let base: http::Uri = api_url
            .parse()
            .map_err(|e| setup(format!("bad GITHUB_API_URL `{api_url}`: {e}")))?;
        let octo = Octocrab::builder()
            .base_uri(api_url)
            .map_err(|e| setup(format!("bad GITHUB_API_URL `{api_url}`: {e}")))?
            .personal_token(token.0.clone())
            .build()
            .map_err(|e| setup(e.to_string()))?;
        Ok(Client {
            octo,
            base,
            retry,
            redactor: token.redactor(),
        })
    }

    /// HTTP status, message (one line, the token hidden), and whether a retry may help.
    fn classify(&self, e: &octocrab::Error) -> (Option<u16>, String, bool) {
        let (status, message, retryable) = match e {
            octocrab::Error::GitHub { source, .. } => {
                let s = source.status_code.as_u16();
                (Some(s), source.message.clone(), s >= 500)
            }
            octocrab::Error::Hyper { source, .. } => (None, source.to_string(), true),
            octocrab::Error::Service { source, .. } => (None, source.to_string(), true),
            other => (None, other.to_string(), false),
        };
        (status, server_message(&message, &self.redactor), retryable)
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
                Some(e) => self.classify(e),
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

    /// Why the listing must not follow `next`, a link found after `pages` pages, or `None`.
    /// `seen` holds the path and query of every page requested.
    fn refuse_next(
        &self,
        next: &http::Uri,
        pages: usize,
        seen: &mut HashSet<String>,
    ) -> Option<ListingStop> {
        if pages >= MAX_PAGES {
            return Some(ListingStop::PageCap(MAX_PAGES));
        }
        let same_host = next.authority().is_none()
            || (next.authority() == self.base.authority() && next.scheme() == self.base.scheme());
        if !same_host {
            let host = next.authority().map(|a| a.as_str()).unwrap_or_default();
            return Some(ListingStop::OtherHost(server_message(host, &self.redactor)));
        }
        let key = next.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        (!seen.insert(key.to_string())).then_some(ListingStop::Loop)
    }

    /// The id of the pull request's first comment that carries `marker`, reading the pages of
    /// comments until it is found; `None` when every page was read without it.
    async fn find_marked(&self, pr: &PrContext, marker: &str) -> Result<Option<u64>, GithubError> {
        let route = format!(
            "/repos/{}/{}/issues/{}/comments",
            pr.owner, pr.repo, pr.number
        );
        let what = format!("list the comments of pull request #{}", pr.number);
        let mut seen = HashSet::from([format!(
            "{}{route}?per_page=100",
            self.base.path().trim_end_matches('/')
        )]);
        let mut page: Page<RawComment> = self
            .with_retry(&what, || {
                self.octo.get(route.as_str(), Some(&[("per_page", "100")]))
            })
            .await?;
        let mut pages = 1;
        loop {
            let found = page
                .items
                .iter()
                .find(|c| c.body.as_deref().is_some_and(|b| b.contains(marker)));
            if let Some(c) = found {
                return Ok(Some(c.id));
            }
            let Some(next) = page.next.take() else {
                return Ok(None);
            };
            if let Some(reason) = self.refuse_next(&next, pages, &mut seen) {
                return Err(GithubError::ListingIncomplete {
                    number: pr.number,
                    pages,
                    reason,
                });
            }
            let next = Some(next);
            match self
                .with_retry(&what, || self.octo.get_page::<RawComment>(&next))
                .await?
            {
                Some(p) => page = p,
                None => return Ok(None),
            }
            pages += 1;
        }
    }

    /// Creates the comment carrying `marker`, or updates the one that already does.
    pub(crate) async fn upsert_comment(
        &self,
        pr: &PrContext,
        marker: &str,
        body: &str,
    ) -> Result<CommentAction, GithubError> {
        let existing = self.find_marked(pr, marker).await?;
        let payload = serde_json::json!({ "body": body });
        match existing {
            Some(id) => {
                let route = format!("/repos/{}/{}/issues/comments/{id}", pr.owner, pr.repo);
                let what = format!("update comment {id} on pull request #{}", pr.number);
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

/// Posts (creates or updates) the comment, blocking on a private single-thread runtime. The
/// error, if any, has the token hidden.
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
        let client = Client::new(&config.api_url, &config.token, config.retry)?;
        client.upsert_comment(&config.pr, marker, body).await
    })
    .map_err(|e| e.redacted(&config.token.redactor()))
}

#[cfg(test)]
mod tests;
