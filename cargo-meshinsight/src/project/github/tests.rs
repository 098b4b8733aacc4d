//! The comment client against a local fake of GitHub's issue-comment endpoints.

use std::time::Duration;

use super::*;

#[path = "../../../../tests/support/fake_github.rs"]
#[expect(
    unreachable_pub,
    reason = "the fake server is shared with the integration tests, which need it public"
)]
mod fake;
use fake::{ErrorBody, FakeGithub, NextLink};

/// A token as read from the environment.
fn token(raw: &str) -> Token {
    Token::new(raw).unwrap().unwrap()
}

fn config(fake: &FakeGithub) -> PostConfig {
    PostConfig {
        api_url: fake.url.clone(),
        token: token("s3cret-token"),
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
        token: token("t0ken-for-timeouts"),
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
        token: token("s3cret-token"),
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

/// A token shaped like the ones Actions hands out.
const GHS: &str = "ghs_16C7e42F292c6912E7710c838347Ae178B4a";

#[test]
fn a_token_is_trimmed_and_one_that_is_no_header_value_is_refused() {
    let fake = FakeGithub::start();
    let m = marker("box-1");
    let mut c = config(&fake);
    c.token = token("  s3cret-token\r\n");
    post(&c, &m, &format!("{m}\nx")).unwrap();
    let auth = fake.state.lock().unwrap().auth.clone();
    assert_eq!(auth, ["Bearer s3cret-token"; 2]);

    assert!(
        Token::new(" \n").unwrap().is_none(),
        "only whitespace: no token"
    );
    for bad in ["s3cret\ntoken", "s3cret\u{7f}", "s3\0cret"] {
        let e = Token::new(bad).unwrap_err();
        assert!(matches!(e, GithubError::BadToken), "{e:?}");
        let text = format!("{e} {}", e.hint().unwrap());
        assert!(
            text.contains("not a valid HTTP header value: not posting"),
            "{text}"
        );
        assert!(!text.contains("s3"), "{text}");
    }
}

#[test]
fn the_redactor_hides_the_token_in_any_base64_alignment_and_alphabet() {
    let r = Redactor::new(GHS);
    for text in [
        GHS.to_string(),
        format!("Authorization: Bearer {GHS}"),
        format!("token {GHS}, again {GHS}"),
    ] {
        let out = r.apply(&text);
        assert!(!out.contains("16C7e42F"), "{out}");
        assert!(out.contains("***"), "{out}");
    }
    let engines = [
        base64::engine::general_purpose::STANDARD,
        base64::engine::general_purpose::URL_SAFE,
    ];
    for prefix in ["", "x", "x-", "x-access-token:", "user:", ":"] {
        for suffix in ["", ":", "x-oauth-basic"] {
            for engine in &engines {
                let encoded = engine.encode(format!("{prefix}{GHS}{suffix}"));
                let out = r.apply(&encoded);
                // At most two bytes at each end of the 40-byte token stay visible: the 12
                // whole groups inside it (48 characters) become `***`.
                assert!(
                    out.len() + 45 <= encoded.len(),
                    "{prefix}|{suffix}: {encoded} -> {out}"
                );
            }
        }
    }
    // Ordinary text is left alone, even with a short secret.
    assert_eq!(Redactor::new("t").apply("no answer"), "no answer");
    assert_eq!(
        Redactor::new("abcdefgh").apply("HTTP 500 (Server Error)"),
        "HTTP 500 (Server Error)"
    );
}

#[test]
fn a_token_echoed_by_the_server_appears_in_no_error() {
    for (forced, body) in [
        (vec![401], ErrorBody::EchoJson),
        (vec![403], ErrorBody::EchoJson),
        (vec![500; 3], ErrorBody::EchoJson),
        (vec![422], ErrorBody::EchoHtml),
        (vec![502; 3], ErrorBody::EchoHtml),
    ] {
        let fake = FakeGithub::start();
        {
            let mut s = fake.state.lock().unwrap();
            s.forced = forced.clone();
            s.error_body = body;
        }
        let mut c = config(&fake);
        c.token = token(GHS);
        let e = post(&c, "m", "x").unwrap_err();
        let text = format!("{e} {e:?} {}", e.hint().unwrap_or_default());
        let basic =
            base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{GHS}"));
        assert!(!text.contains(GHS), "{forced:?} {body:?}: {text}");
        assert!(
            !text.contains(&basic[24..60]),
            "{forced:?} {body:?}: {text}"
        );
        assert!(!text.contains("16C7e42F"), "{forced:?} {body:?}: {text}");
        assert!(text.contains("Bearer ***"), "the echo was seen: {text}");
        assert!(!e.to_string().contains('\n'), "one line: {e}");
        assert_eq!(fake.state.lock().unwrap().log.len(), forced.len());
    }
}

#[test]
fn a_next_link_to_the_same_page_stops_the_listing_and_nothing_is_posted() {
    let fake = FakeGithub::start();
    fake.add_comment(7, "a human");
    fake.state.lock().unwrap().next = NextLink::ToItself;
    let m = marker("box-1");
    let e = post(&config(&fake), &m, &format!("{m}\nx")).unwrap_err();
    assert!(
        matches!(
            e,
            GithubError::ListingIncomplete {
                number: 7,
                pages: 1,
                reason: ListingStop::Loop
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("not posting"), "{e}");
    let s = fake.state.lock().unwrap();
    assert_eq!(
        s.log,
        ["GET /repos/acme/proxy/issues/7/comments?per_page=100"]
    );
    assert_eq!(s.comments.len(), 1, "no second comment");
}

#[test]
fn a_self_link_is_caught_even_when_the_first_url_is_spelled_otherwise() {
    let fake = FakeGithub::start();
    for i in 0..3 {
        fake.add_comment(7, &format!("human {i}"));
    }
    fake.state.lock().unwrap().next = NextLink::ToItself;
    // With a trailing `/` on the API URL the first page may be spelled otherwise than the
    // listing expects; its self link is then caught on the second request at the latest.
    let mut c = config(&fake);
    c.api_url = format!("{}/", fake.url);
    let e = post(&c, &marker("box-1"), "x").unwrap_err();
    assert!(
        matches!(
            e,
            GithubError::ListingIncomplete {
                reason: ListingStop::Loop,
                ..
            }
        ),
        "{e:?}"
    );
    let gets = fake.state.lock().unwrap().log.len();
    assert!(gets <= 2, "{gets} requests");
}

#[test]
fn an_endless_listing_stops_at_the_page_cap_and_posts_nothing() {
    let fake = FakeGithub::start();
    fake.state.lock().unwrap().next = NextLink::Endless;
    let m = marker("box-1");
    let e = post(&config(&fake), &m, "x").unwrap_err();
    assert!(
        matches!(
            e,
            GithubError::ListingIncomplete {
                pages: MAX_PAGES,
                reason: ListingStop::PageCap(MAX_PAGES),
                ..
            }
        ),
        "{e:?}"
    );
    let s = fake.state.lock().unwrap();
    assert_eq!(s.log.len(), MAX_PAGES);
    assert!(s.log.iter().all(|l| l.starts_with("GET ")), "{:?}", s.log);
}

#[test]
fn a_next_link_to_another_host_is_not_followed() {
    let fake = FakeGithub::start();
    let other = FakeGithub::start();
    let host = other.url.trim_start_matches("http://").to_string();
    fake.state.lock().unwrap().next = NextLink::OtherHost(host.clone());
    let e = post(&config(&fake), "m", "x").unwrap_err();
    assert!(
        matches!(&e, GithubError::ListingIncomplete { reason: ListingStop::OtherHost(h), .. } if *h == host),
        "{e:?}"
    );
    assert!(
        other.state.lock().unwrap().log.is_empty(),
        "the token went elsewhere"
    );
    assert_eq!(fake.state.lock().unwrap().log.len(), 1);
}

#[test]
fn the_comment_found_before_a_bad_link_is_updated() {
    let fake = FakeGithub::start();
    let m = marker("box-1");
    let ours = fake.add_comment(7, &format!("{m}\nold"));
    fake.state.lock().unwrap().next = NextLink::ToItself;
    let action = post(&config(&fake), &m, &format!("{m}\nnew")).unwrap();
    assert_eq!(action, CommentAction::Updated(ours));
    assert_eq!(fake.state.lock().unwrap().log.len(), 2, "GET, PATCH");
}

#[test]
fn the_repository_must_be_owner_slash_name() {
    let env = |repo: &'static str| {
        move |k: &str| match k {
            "GITHUB_REPOSITORY" => Some(repo.to_string()),
            "GITHUB_REF" => Some("refs/pull/4/merge".to_string()),
            _ => None,
        }
    };
    for good in ["acme/proxy", "a-b_c/re.po-1", "Octo_Org/.github", "o/r"] {
        let ctx = PrContext::from_env(env(good), None).unwrap().unwrap();
        assert_eq!(format!("{}/{}", ctx.owner, ctx.repo), good);
    }
    for bad in [
        "o/r?x=1#", "no-slash", "a/b/c", "/r", "o/", "o/.", "o/..", "o r/x", "o/r#frag", "ö/r",
        "o/r\n", "o.x/r", "o/r%2F..",
    ] {
        let e = PrContext::from_env(env(bad), None).unwrap_err();
        assert!(matches!(e, GithubError::BadRepository(_)), "{bad:?}: {e:?}");
        let text = e.to_string();
        assert!(
            !text.contains('\n') && text.contains("is not owner/name"),
            "{text}"
        );
    }
}

#[test]
fn pull_request_zero_is_an_error_wherever_it_comes_from() {
    let dir = tempfile::tempdir().unwrap();
    let event = dir.path().join("event.json");
    std::fs::write(&event, r#"{"pull_request": {"number": 0}}"#).unwrap();
    let ev = event.to_string_lossy().into_owned();
    let cases = [
        (vec![("GITHUB_EVENT_PATH", ev)], None),
        (vec![("GITHUB_REF", "refs/pull/0/merge".to_string())], None),
        (vec![], Some(0)),
    ];
    for (mut vars, number) in cases {
        vars.push(("GITHUB_REPOSITORY", "acme/proxy".into()));
        let env = |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone());
        let e = PrContext::from_env(env, number).unwrap_err();
        assert!(e.to_string().contains("pull request number 0"), "{e}");
    }
}
