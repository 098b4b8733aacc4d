//! The comment client against a local fake of GitHub's issue-comment endpoints.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;

/// A fake GitHub API: issue comments of one repository, a page size of 2, and a queue of
/// forced error statuses answered before the real handling.
#[derive(Default)]
pub(crate) struct FakeState {
    pub comments: Vec<(u64, u64, String)>, // (pr, id, body)
    pub next_id: u64,
    pub forced: Vec<u16>,
    pub log: Vec<String>,
    pub auth: Vec<String>,
}

pub(crate) struct FakeGithub {
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
        return (code, format!("{{\"message\": \"{msg}\"}}"), None);
    }
    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
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
            let link = (page * PAGE < all.len()).then(|| {
                format!(
                    "<{base}{path}?per_page=100&page={}>; rel=\"next\"",
                    page + 1
                )
            });
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
        _ => (404, "{\"message\": \"Not Found\"}".into(), None),
    }
}

fn config(fake: &FakeGithub) -> PostConfig {
    PostConfig {
        api_url: fake.url.clone(),
        token: Token("s3cret-token".into()),
        pr: PrContext {
            owner: "acme".into(),
            repo: "proxy".into(),
            number: 7,
        },
        retry: Retry {
            attempts: 3,
            base_delay: Duration::from_millis(5),
        },
    }
}

#[test]
fn first_run_creates_the_comment_and_second_updates_it_in_place() {
    let fake = FakeGithub::start();
    let m = marker("box-1");
    let c = config(&fake);
    let first = post(&c, &m, &format!("{m}\nfirst")).unwrap();
    let CommentAction::Created(id) = first else {
        panic!("{first:?}")
    };
    let second = post(&c, &m, &format!("{m}\nsecond")).unwrap();
    assert_eq!(second, CommentAction::Updated(id));
    let s = fake.state.lock().unwrap();
    assert_eq!(s.comments.len(), 1);
    assert_eq!(s.comments[0], (7, id, format!("{m}\nsecond")));
    assert!(
        s.auth.iter().all(|a| a.ends_with("s3cret-token")),
        "{:?}",
        s.auth
    );
    assert_eq!(
        s.log,
        [
            "GET /repos/acme/proxy/issues/7/comments?per_page=100",
            "POST /repos/acme/proxy/issues/7/comments",
            "GET /repos/acme/proxy/issues/7/comments?per_page=100",
            &format!("PATCH /repos/acme/proxy/issues/comments/{id}"),
        ]
    );
}

#[test]
fn the_marked_comment_is_found_on_a_later_page() {
    let fake = FakeGithub::start();
    let m = marker("box-1");
    for i in 0..5 {
        fake.add_comment(7, &format!("human comment {i}"));
    }
    // Another platform's comment must be left alone.
    fake.add_comment(7, &format!("{}\nother platform", marker("box-2")));
    let ours = fake.add_comment(7, &format!("{m}\nold"));
    fake.add_comment(8, &format!("{m}\nanother PR"));
    let action = post(&config(&fake), &m, &format!("{m}\nnew")).unwrap();
    assert_eq!(action, CommentAction::Updated(ours));
    let s = fake.state.lock().unwrap();
    let gets = s.log.iter().filter(|l| l.starts_with("GET")).count();
    assert_eq!(gets, 4, "7 comments on PR 7 in pages of 2: {:?}", s.log);
    assert!(s.log[1].ends_with("page=2"), "{:?}", s.log);
    let bodies: Vec<&str> = s.comments.iter().map(|c| c.2.as_str()).collect();
    assert!(bodies.contains(&format!("{m}\nnew").as_str()));
    assert!(bodies.contains(&format!("{m}\nanother PR").as_str()));
    assert_eq!(s.comments.len(), 8);
}

#[test]
fn server_errors_are_retried_then_succeed() {
    let fake = FakeGithub::start();
    fake.state.lock().unwrap().forced = vec![502, 503];
    let m = marker("box-1");
    let action = post(&config(&fake), &m, &format!("{m}\nx")).unwrap();
    assert!(matches!(action, CommentAction::Created(_)));
    let s = fake.state.lock().unwrap();
    assert_eq!(s.log.len(), 4, "{:?}", s.log); // 2 failed GETs, the GET, the POST
}

#[test]
fn persistent_server_errors_give_up_after_the_attempts() {
    let fake = FakeGithub::start();
    fake.state.lock().unwrap().forced = vec![500; 10];
    let m = marker("box-1");
    let e = post(&config(&fake), &m, "x").unwrap_err();
    assert!(
        matches!(
            e,
            GithubError::Api {
                status: Some(500),
                ..
            }
        ),
        "{e:?}"
    );
    let text = e.to_string();
    assert!(
        text.contains("HTTP 500") && text.contains("3 attempts"),
        "{text}"
    );
    assert!(!text.contains("s3cret"), "{text}");
    assert_eq!(fake.state.lock().unwrap().log.len(), 3);
}

#[test]
fn forbidden_is_its_own_error_and_not_retried() {
    let fake = FakeGithub::start();
    fake.state.lock().unwrap().forced = vec![403];
    let m = marker("box-1");
    let e = post(&config(&fake), &m, "x").unwrap_err();
    assert!(matches!(e, GithubError::Forbidden { .. }), "{e:?}");
    assert!(e.to_string().contains("403"), "{e}");
    assert!(e.hint().unwrap().contains("workflow_run"));
    assert_eq!(fake.state.lock().unwrap().log.len(), 1);
}

#[test]
fn token_does_not_print() {
    let c = PostConfig {
        api_url: "http://x".into(),
        token: Token("s3cret-token".into()),
        pr: PrContext {
            owner: "a".into(),
            repo: "b".into(),
            number: 1,
        },
        retry: Retry::default(),
    };
    assert!(!format!("{c:?}").contains("s3cret"));
}

#[test]
fn pull_request_comes_from_the_event_then_the_ref() {
    let dir = tempfile::tempdir().unwrap();
    let event = dir.path().join("event.json");
    std::fs::write(
        &event,
        r#"{"action": "opened", "pull_request": {"number": 42}}"#,
    )
    .unwrap();
    let ev = event.to_string_lossy().into_owned();
    let env = |vars: Vec<(&'static str, String)>| {
        move |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
    };
    let ctx = PrContext::from_env(
        env(vec![
            ("GITHUB_REPOSITORY", "acme/proxy".into()),
            ("GITHUB_EVENT_PATH", ev.clone()),
            ("GITHUB_REF", "refs/pull/9/merge".into()),
        ]),
        None,
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        ctx,
        PrContext {
            owner: "acme".into(),
            repo: "proxy".into(),
            number: 42
        }
    );
    let ctx = PrContext::from_env(
        env(vec![
            ("GITHUB_REPOSITORY", "acme/proxy".into()),
            ("GITHUB_REF", "refs/pull/9/merge".into()),
        ]),
        None,
    )
    .unwrap()
    .unwrap();
    assert_eq!(ctx.number, 9);
    // A push to main is no pull request.
    let none = PrContext::from_env(
        env(vec![
            ("GITHUB_REPOSITORY", "acme/proxy".into()),
            ("GITHUB_REF", "refs/heads/main".into()),
        ]),
        None,
    )
    .unwrap();
    assert_eq!(none, None);
    // --pr wins.
    let ctx = PrContext::from_env(
        env(vec![
            ("GITHUB_REPOSITORY", "acme/proxy".into()),
            ("GITHUB_EVENT_PATH", ev),
        ]),
        Some(5),
    )
    .unwrap()
    .unwrap();
    assert_eq!(ctx.number, 5);
    let e =
        PrContext::from_env(env(vec![("GITHUB_REPOSITORY", "no-slash".into())]), None).unwrap_err();
    assert!(
        e.to_string().contains("`no-slash` is not owner/name"),
        "{e}"
    );
}
