//! The comment client against a local fake of GitHub's issue-comment endpoints.

use std::time::Duration;

use super::*;

#[path = "../../../../tests/support/fake_github.rs"]
#[expect(
    unreachable_pub,
    reason = "the fake server is shared with the integration tests, which need it public"
)]
mod fake;
use fake::FakeGithub;

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
            timeout: Duration::from_secs(10),
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
fn an_api_url_with_a_path_prefix_is_kept_for_every_call() {
    let fake = FakeGithub::start();
    for i in 0..3 {
        fake.add_comment(7, &format!("human {i}"));
    }
    let m = marker("box-1");
    let mut c = config(&fake);
    c.api_url = format!("{}/api/v3", fake.url);
    assert!(matches!(
        post(&c, &m, &format!("{m}\nx")).unwrap(),
        CommentAction::Created(_)
    ));
    let s = fake.state.lock().unwrap();
    assert_eq!(s.log.len(), 3, "{:?}", s.log);
    assert!(
        s.log
            .iter()
            .all(|l| l.contains(" /api/v3/repos/acme/proxy/")),
        "{:?}",
        s.log
    );
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
fn a_server_that_never_answers_times_out_and_gives_up() {
    // Connections complete in the kernel's backlog; nothing ever reads or answers them.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let c = PostConfig {
        api_url: format!("http://{}", silent.local_addr().unwrap()),
        token: Token("t".into()),
        pr: PrContext {
            owner: "a".into(),
            repo: "b".into(),
            number: 1,
        },
        retry: Retry {
            attempts: 2,
            base_delay: Duration::from_millis(1),
            timeout: Duration::from_millis(150),
        },
    };
    let start = std::time::Instant::now();
    let e = post(&c, "m", "x").unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("no answer within 150ms, 2 attempts"),
        "{text}"
    );
    assert!(start.elapsed() < Duration::from_secs(5));
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
