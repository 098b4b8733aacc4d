//! Bad input gets a one-line error naming the file and the call or service.

use std::path::Path;

use super::*;

fn err(toml: &str) -> String {
    let path = Path::new("f.toml");
    let e = EcgDoc::parse(toml, path).and_then(|doc| Ecg::resolve(doc, path));
    let msg = e.expect_err("must be refused").to_string();
    assert!(!msg.contains('\n'), "one line: {msg}");
    assert!(msg.starts_with("invalid ECG fixture f.toml: "), "{msg}");
    msg
}

const OK: &str = r#"
name = "t"
[[calls]]
id = "a"
to = "A"
start_us = 0
duration_us = 100
[[calls]]
id = "b"
parent = "a"
to = "B"
start_us = 10
duration_us = 50
"#;

#[test]
fn a_valid_fixture_resolves_with_defaults() {
    let e = Ecg::resolve(
        EcgDoc::parse(OK, Path::new("f.toml")).unwrap(),
        Path::new("f.toml"),
    )
    .unwrap();
    assert_eq!(e.root, 0);
    assert_eq!(e.children[0], vec![1]);
    let b = &e.calls[1];
    assert_eq!(
        (b.request_bytes, b.response_bytes, b.rate),
        (100, 100, 1000.0)
    );
    assert_eq!(e.services[b.from.unwrap()].name, "A");
    assert_eq!(e.callee(1).sidecar.as_ref().unwrap().mode, Mode::Http);
}

#[test]
fn json_fixtures_are_accepted() {
    let json = r#"{"name":"j","defaults":{"mode":"grpc"},"calls":[{"id":"a","to":"A","start_us":0,"duration_us":5}]}"#;
    let doc = EcgDoc::parse(json, Path::new("f.json")).unwrap();
    assert_eq!(doc.defaults.mode, Mode::Grpc);
    let e = EcgDoc::parse(r#"{"name":"j","calls":[{"id":"a"}]}"#, Path::new("f.json"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("line 1") && e.contains("missing field `to`"),
        "{e}"
    );
}

#[test]
fn missing_parent() {
    let m = err(&OK.replace("parent = \"a\"", "parent = \"zz\""));
    assert!(m.ends_with("call `b`: parent `zz` does not exist"), "{m}");
}

#[test]
fn duplicate_ids() {
    let m = err(&OK.replace("id = \"b\"", "id = \"a\""));
    assert!(m.ends_with("call id `a` is used twice"), "{m}");
}

#[test]
fn two_roots() {
    let m = err(&OK.replace("parent = \"a\"\n", ""));
    assert!(m.contains("two entry calls, `a` and `b`"), "{m}");
}

#[test]
fn a_cycle() {
    let toml = format!(
        "{OK}\n[[calls]]\nid = \"x\"\nparent = \"y\"\nto = \"X\"\nstart_us = 0\nduration_us = 1\n\
         [[calls]]\nid = \"y\"\nparent = \"x\"\nto = \"Y\"\nstart_us = 0\nduration_us = 1\n"
    );
    let m = err(&toml);
    assert!(m.contains("part of a parent cycle"), "{m}");
    let m = err(&OK.replace("parent = \"a\"", "parent = \"b\""));
    assert!(
        m.contains("call `b` is its own parent") || m.contains("cycle"),
        "{m}"
    );
}

#[test]
fn no_root() {
    let m = err(&OK.replacen("id = \"a\"\n", "id = \"a\"\nparent = \"b\"\n", 1));
    assert!(m.contains("cycle") || m.contains("no entry call"), "{m}");
}

#[test]
fn negative_and_absurd_sizes() {
    let m = err(&OK.replace("duration_us = 50", "duration_us = 50\nrequest_bytes = -5"));
    assert!(m.contains("line 14") && m.contains("expected u64"), "{m}");
    let m = err(&OK.replace(
        "duration_us = 50",
        "duration_us = 50\nresponse_bytes = 5000000000",
    ));
    assert!(
        m.contains("call `b`: `response_bytes` is 5000000000 bytes"),
        "{m}"
    );
    let m = err(&OK.replace("duration_us = 50", "duration_us = -50"));
    assert!(
        m.contains("call `b`: `duration_us` must be a number between 0 and 1e13 µs"),
        "{m}"
    );
    let m = err(&OK.replace("duration_us = 50", "duration_us = 50\nrate = -1.0"));
    assert!(m.contains("call `b`: `rate`"), "{m}");
}

#[test]
fn a_child_outside_its_parent() {
    let m = err(&OK.replace("start_us = 10", "start_us = 60"));
    assert!(
        m.contains("call `b` (60 to 110 µs) lies outside its parent `a` (0 to 100 µs)"),
        "{m}"
    );
}

#[test]
fn unknown_mode_filter_and_field() {
    let m = err(&OK.replace("name = \"t\"", "name = \"t\"\n[defaults]\nmode = \"quic\""));
    assert!(
        m.contains("line 4") && m.contains("unknown mode `quic`"),
        "{m}"
    );
    let m = err(&format!("{OK}\n[services.B]\nfilters = [\"nope\"]\n"));
    assert!(m.contains("unknown filter `nope`"), "{m}");
    let m = err(&OK.replace("to = \"B\"", "to = \"B\"\ncolour = 3"));
    assert!(m.contains("unknown field `colour`"), "{m}");
}

#[test]
fn filters_on_a_tcp_service() {
    let m = err(&OK.replace(
        "name = \"t\"",
        "name = \"t\"\n[defaults]\nfilters = [\"lua\"]\n[services.B]\nmode = \"tcp\"",
    ));
    assert!(
        m.contains("service `B`: filters (lua) need the http or grpc mode"),
        "{m}"
    );
    assert!(m.contains("set `filters = []`"), "{m}");
}

#[test]
fn after_must_name_an_earlier_sibling() {
    let three = format!(
        "{OK}\n[[calls]]\nid = \"c\"\nparent = \"a\"\nto = \"C\"\nstart_us = 70\nduration_us = 10\nafter = [\"b\"]\n"
    );
    let doc = EcgDoc::parse(&three, Path::new("f.toml")).unwrap();
    let e = Ecg::resolve(doc, Path::new("f.toml")).unwrap();
    assert_eq!(e.calls[2].after, Some(vec![1]));
    let m = err(&three.replace("after = [\"b\"]", "after = [\"a\"]"));
    assert!(
        m.contains("`after` names `a`, which is not a sibling"),
        "{m}"
    );
    let m = err(&three.replace("after = [\"b\"]", "after = [\"q\"]"));
    assert!(m.contains("`after` names `q`, which does not exist"), "{m}");
    let m = err(&three.replace("start_us = 70", "start_us = 5"));
    assert!(m.contains("which starts later"), "{m}");
}

#[test]
fn the_shipped_fixtures_load() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/ecg");
    let files = crate::test_support::fixtures_in(&dir);
    assert!(files.len() >= 10, "{files:?}");
    for f in files {
        crate::test_support::load_ecg(&f);
    }
}

#[test]
fn sidecars_in_series_count_the_longest_line_of_calls() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/validate");
    let count = |name: &str| crate::test_support::load_ecg(&root.join(name)).sidecars_in_series();
    // Entry: a's inbound; each further hop: the caller's outbound and the callee's inbound.
    assert_eq!(count("ci-chain-tcp.toml"), 3);
    assert_eq!(count("chain-3hop.toml"), 5);
    // frontend -> product -> reviews -> ratings, beside the shorter details branch.
    assert_eq!(count("bookinfo.toml"), 7);
    // edge -> orders -> audit; edge -> orders -> db is one shorter: db has no sidecar.
    assert_eq!(count("mixed-modes.toml"), 5);
    let no_db = std::fs::read_to_string(root.join("mixed-modes.toml"))
        .unwrap()
        .replace("to = \"audit\"", "to = \"db\"");
    let doc = EcgDoc::parse(&no_db, Path::new("m.toml")).unwrap();
    assert_eq!(
        Ecg::resolve(doc, Path::new("m.toml"))
            .unwrap()
            .sidecars_in_series(),
        4
    );
}

mod proptests {
    //! Arbitrary and mutated fixtures give a call graph or one clear error, never a panic; a
    //! graph that loads predicts finite figures, and with a profile of non-negative costs the
    //! latency with the mesh is never below the latency without.

    use proptest::prelude::*;

    use super::*;
    use crate::model::Profile;
    use crate::predict::{ProfileSet, predict};
    use crate::test_support::hostile::{apply, assert_one_line, edits, hostile_f64, toml_number};

    fn fixture_texts() -> Vec<(String, String)> {
        let dir = crate::test_support::repo_root().join("fixtures/ecg");
        crate::test_support::fixtures_in(&dir)
            .into_iter()
            .map(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                (name, std::fs::read_to_string(&p).unwrap())
            })
            .collect()
    }

    /// Parses and resolves `text`; a graph must predict finite figures.
    fn check(text: &str, name: &str) {
        let path = Path::new(name);
        match Ecg::parse(text, path) {
            Err(e) => assert_one_line(&e),
            Ok(ecg) => {
                let profiles = ProfileSet::new(vec![Profile::paper()]);
                match predict(&ecg, &profiles, None) {
                    Err(e) => assert_one_line(&e),
                    Ok(p) => {
                        let f = &p.figures;
                        for v in [
                            f.predicted_latency_us,
                            f.latency_overhead_us,
                            f.latency_overhead_pct,
                            f.cpu_overhead_cores,
                            p.base_latency_us,
                        ] {
                            assert!(v.is_finite(), "{name}: {v} in {p:?}");
                        }
                        // The paper's costs are all positive: the mesh never makes it faster.
                        assert!(
                            f.latency_overhead_us >= -1e-6 * p.base_latency_us.max(1.0),
                            "{name}: {}",
                            f.latency_overhead_us
                        );
                    }
                }
            }
        }
    }

    proptest! {
        #[test]
        fn proptest_ecg_arbitrary_text_never_panics(text in ".{0,400}") {
            check(&text, "a.toml");
            check(&text, "a.json");
        }

        #[test]
        fn proptest_ecg_mutated_fixtures_load_or_fail_in_one_line(
            which in any::<prop::sample::Index>(),
            e in edits(),
        ) {
            let texts = fixture_texts();
            let (name, text) = &texts[which.index(texts.len())];
            check(&apply(text, &e, toml_number), name);
        }

        #[test]
        fn proptest_ecg_hostile_numbers_are_refused_or_predicted(
            start in hostile_f64(),
            dur in hostile_f64(),
            child_start in hostile_f64(),
            child_dur in hostile_f64(),
            rate in hostile_f64(),
            bytes in any::<u64>(),
        ) {
            let text = format!(
                "name = \"t\"\n[defaults]\nrate = {}\n[[calls]]\nid = \"a\"\nto = \"A\"\n\
                 start_us = {}\nduration_us = {}\n[[calls]]\nid = \"b\"\nparent = \"a\"\n\
                 to = \"B\"\nrequest_bytes = {bytes}\nstart_us = {}\nduration_us = {}\n",
                toml_number(rate),
                toml_number(start),
                toml_number(dur),
                toml_number(child_start),
                toml_number(child_dur),
            );
            check(&text, "t.toml");
        }
    }
}
