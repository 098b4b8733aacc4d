//! A fake of GitHub's issue-comment endpoints on 127.0.0.1:0 (tiny_http), shared by the
//! library's unit tests and the CLI tests: comments of any repository, pages of two with
//! `Link: rel="next"`, a queue of forced error statuses answered first, and the misbehaviours
//! a client must survive: error bodies that echo the credentials, `next` links that loop, never
//! end or lead to another host.

#![allow(
    dead_code,
    reason = "each test crate that includes the fake uses some of its misbehaviours"
)]

use std::sync::{Arc, Mutex};

use base64::Engine as _;

/// A fake GitHub API: issue comments of one repository, a page size of 2, and a queue of
/// forced error statuses answered before the real handling.
#[derive(Default)]
pub struct FakeState {
    pub comments: Vec<(u64, u64, String)>, // (pr, id, body)
    pub next_id: u64,
    pub forced: Vec<u16>,
    /// How forced errors answer.
    pub error_body: ErrorBody,
    /// Where the comment list's `next` links point.
    pub next: NextLink,
    pub log: Vec<String>,
    pub auth: Vec<String>,
    /// Pull requests, for the scripts that look them up or open one.
    pub pulls: Vec<FakePull>,
}

/// A pull request of the fake: its number, head (`owner:branch` and commit) and base.
#[derive(Clone, Debug, Default)]
pub struct FakePull {
    pub number: u64,
    pub head_label: String,
    pub head_sha: String,
    pub base: String,
    pub title: String,
}

/// The body of a forced error.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ErrorBody {
    /// GitHub's JSON `{"message": ...}`.
    #[default]
    Plain,
    /// JSON whose message echoes the `Authorization` header, raw and as base64 of
    /// `x-access-token:TOKEN` (what a misconfigured proxy may send back).
    EchoJson,
    /// A multi-line HTML page echoing the same (a proxy's error page).
    EchoHtml,
}

/// Where the comment list's `next` links point.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum NextLink {
    /// The next page while there are more comments.
    #[default]
    Pages,
    /// The page requested, always.
    ToItself,
    /// One more page, always, comments or not.
    Endless,
    /// Page 2 on this other `host:port`.
    OtherHost(String),
}

pub struct FakeGithub {
    pub url: String,
    pub state: Arc<Mutex<FakeState>>,
    server: Arc<tiny_http::Server>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for FakeGithub {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

const PAGE: usize = 2;

impl FakeGithub {
    pub fn start() -> FakeGithub {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let port = server.server_addr().to_ip().unwrap().port();
        let url = format!("http://127.0.0.1:{port}");
        let state = Arc::new(Mutex::new(FakeState {
            next_id: 1000,
            ..FakeState::default()
        }));
        let (srv, st, base) = (server.clone(), state.clone(), url.clone());
        let thread = std::thread::spawn(move || {
            for mut req in srv.incoming_requests() {
                let mut body = String::new();
                let _ = req.as_reader().read_to_string(&mut body);
                let (status, text, link) = handle(&st, &base, &req, &body);
                let mut resp = tiny_http::Response::from_string(text)
                    .with_status_code(status)
                    .with_header(
                        tiny_http::Header::from_bytes("Content-Type", "application/json").unwrap(),
                    );
                if let Some(link) = link {
                    resp.add_header(tiny_http::Header::from_bytes("Link", link).unwrap());
                }
                let _ = req.respond(resp);
            }
        });
        FakeGithub {
            url,
            state,
            server,
            thread: Some(thread),
        }
    }

    pub fn add_comment(&self, pr: u64, body: &str) -> u64 {
        let mut s = self.state.lock().unwrap();
        s.next_id += 1;
        let id = s.next_id;
        s.comments.push((pr, id, body.to_string()));
        id
    }
}

fn handle(
    st: &Mutex<FakeState>,
    base: &str,
    req: &tiny_http::Request,
    body: &str,
) -> (u16, String, Option<String>) {
    let mut s = st.lock().unwrap();
    let url = req.url().to_string();
    s.log.push(format!("{} {url}", req.method()));
    if let Some(h) = req
        .headers()
        .iter()
        .find(|h| h.field.equiv("Authorization"))
    {
        s.auth.push(h.value.to_string());
    }
    if !s.forced.is_empty() {
        let code = s.forced.remove(0);
        let msg = if code == 403 {
            "Resource not accessible by integration"
        } else {
            "Server Error"
        };
        let auth = s.auth.last().cloned().unwrap_or_default();
        return (code, error_body(s.error_body, msg, &auth), None);
    }
    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
    // GitHub Enterprise Server serves the API under /api/v3.
    let route = path.strip_prefix("/api/v3").unwrap_or(path);
    let parts: Vec<&str> = route.trim_start_matches('/').split('/').collect();
    let json_body = |v: serde_json::Value| v.to_string();
    match (req.method(), parts.as_slice()) {
        (tiny_http::Method::Get, ["repos", _, _, "issues", n, "comments"]) => {
            let pr: u64 = n.parse().unwrap();
            let page: usize = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("page="))
                .map(|p| p.parse().unwrap())
                .unwrap_or(1);
            let all: Vec<_> = s.comments.iter().filter(|c| c.0 == pr).collect();
            let items: Vec<_> = all
                .iter()
                .skip((page - 1) * PAGE)
                .take(PAGE)
                .map(|c| serde_json::json!({"id": c.1, "body": c.2, "user": {"login": "bot"}}))
                .collect();
            let link = match &s.next {
                NextLink::Pages => (page * PAGE < all.len())
                    .then(|| format!("{base}{path}?per_page=100&page={}", page + 1)),
                NextLink::ToItself => Some(format!("{base}{url}")),
                NextLink::Endless => Some(format!("{base}{path}?per_page=100&page={}", page + 1)),
                NextLink::OtherHost(host) => {
                    Some(format!("http://{host}{path}?per_page=100&page=2"))
                }
            }
            .map(|next| format!("<{next}>; rel=\"next\""));
            (200, json_body(serde_json::Value::Array(items)), link)
        }
        (tiny_http::Method::Post, ["repos", _, _, "issues", n, "comments"]) => {
            let pr: u64 = n.parse().unwrap();
            let text = serde_json::from_str::<serde_json::Value>(body).unwrap()["body"]
                .as_str()
                .unwrap()
                .to_string();
            s.next_id += 1;
            let id = s.next_id;
            s.comments.push((pr, id, text.clone()));
            (
                201,
                json_body(serde_json::json!({"id": id, "body": text})),
                None,
            )
        }
        (tiny_http::Method::Patch, ["repos", _, _, "issues", "comments", id]) => {
            let id: u64 = id.parse().unwrap();
            let text = serde_json::from_str::<serde_json::Value>(body).unwrap()["body"]
                .as_str()
                .unwrap()
                .to_string();
            match s.comments.iter_mut().find(|c| c.1 == id) {
                Some(c) => {
                    c.2 = text.clone();
                    (
                        200,
                        json_body(serde_json::json!({"id": id, "body": text})),
                        None,
                    )
                }
                None => (404, "{\"message\": \"Not Found\"}".into(), None),
            }
        }
        (method, ["repos", _, _, "pulls", ..]) => pulls(&mut s, method, &parts[3..], query, body),
        _ => (404, "{\"message\": \"Not Found\"}".into(), None),
    }
}

/// A forced error's body, echoing `auth` (the `Authorization` header received) when asked to.
fn error_body(kind: ErrorBody, msg: &str, auth: &str) -> String {
    let token = auth.strip_prefix("Bearer ").unwrap_or(auth);
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{token}"));
    match kind {
        ErrorBody::Plain => serde_json::json!({ "message": msg }).to_string(),
        ErrorBody::EchoJson => serde_json::json!({
            "message": format!("{msg}: you sent Authorization: {auth} (as Basic {basic})"),
        })
        .to_string(),
        ErrorBody::EchoHtml => format!(
            "<html>\n<head><title>{msg}</title></head>\n<body>\n<pre>\nAuthorization: {auth}\n\
             Proxy-Authorization: Basic {basic}\n</pre>\n</body>\n</html>\n"
        ),
    }
}

/// `GET pulls/N`, `GET pulls?head=owner:branch` and `POST pulls`.
fn pulls(
    s: &mut FakeState,
    method: &tiny_http::Method,
    parts: &[&str],
    query: &str,
    body: &str,
) -> (u16, String, Option<String>) {
    let json = |p: &FakePull| {
        serde_json::json!({"number": p.number, "title": p.title, "base": {"ref": p.base},
            "head": {"sha": p.head_sha, "label": p.head_label},
            "html_url": format!("https://github.example/pull/{}", p.number)})
    };
    let not_found = (404, "{\"message\": \"Not Found\"}".to_string(), None);
    match (method, parts) {
        (tiny_http::Method::Get, ["pulls", n]) => {
            match s.pulls.iter().find(|p| n.parse() == Ok(p.number)) {
                Some(p) => (200, json(p).to_string(), None),
                None => not_found,
            }
        }
        (tiny_http::Method::Get, ["pulls"]) => {
            let head = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("head="))
                .map(|h| h.replace("%3A", ":").replace("%3a", ":"));
            let found: Vec<_> = s
                .pulls
                .iter()
                .filter(|p| head.as_deref().is_none_or(|h| h == p.head_label))
                .map(json)
                .collect();
            (200, serde_json::Value::Array(found).to_string(), None)
        }
        (tiny_http::Method::Post, ["pulls"]) => {
            let v: serde_json::Value = serde_json::from_str(body).unwrap();
            let number = 100 + s.pulls.len() as u64 + 1;
            let pull = FakePull {
                number,
                head_label: v["head"].as_str().unwrap().to_string(),
                head_sha: String::new(),
                base: v["base"].as_str().unwrap().to_string(),
                title: v["title"].as_str().unwrap().to_string(),
            };
            let answer = json(&pull).to_string();
            s.pulls.push(pull);
            (201, answer, None)
        }
        _ => not_found,
    }
}
