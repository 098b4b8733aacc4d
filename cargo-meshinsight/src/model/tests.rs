use std::path::Path;

use super::*;

#[test]
fn the_paper_profile_matches_table_2_and_3() {
    let p = Profile::paper();
    let total = |mode: Mode| {
        let cost = p.traversal_cost(&SidecarConfig::new(mode, vec![]).unwrap(), 100.0);
        (cost.latency_total(), cost.cpu_total() * 30_000.0 / 1e6)
    };
    for (mode, lat, vcpu) in [
        (Mode::Tcp, 41.09, 3.35),
        (Mode::Http, 165.17, 9.70),
        (Mode::Grpc, 191.67, 13.36),
    ] {
        let (l, c) = total(mode);
        assert!((l - lat).abs() < 0.01, "{mode}: {l} != {lat}");
        assert!((c - vcpu).abs() < 0.01, "{mode}: {c} != {vcpu}");
    }
    let lua = SidecarConfig::new(Mode::Http, vec![Filter::Lua]).unwrap();
    let cost = p.traversal_cost(&lua, 100.0);
    assert!((cost.latency_total() - 165.17 - 80.59).abs() < 0.01);
    assert!(p.supports(&lua).is_ok());
    let grpc_lua = SidecarConfig::new(Mode::Grpc, vec![Filter::Lua]).unwrap();
    assert_eq!(
        p.supports(&grpc_lua).unwrap_err().to_string(),
        "filter lua for mode grpc"
    );
}

#[test]
fn a_profile_round_trips_through_json() {
    let p = Profile::paper();
    let again = Profile::from_json(&p.to_json(), Path::new("x.json")).unwrap();
    assert_eq!(again, p);
}

fn err(edit: impl Fn(&mut serde_json::Value)) -> String {
    let mut v: serde_json::Value = serde_json::from_str(PAPER_PROFILE_JSON).unwrap();
    edit(&mut v);
    let e = Profile::from_json(&v.to_string(), Path::new("p.json"))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("invalid profile p.json: "), "{e}");
    assert!(!e.contains('\n'), "{e}");
    e
}

#[test]
fn bad_profiles_are_refused_with_a_location() {
    let e = err(|v| v["format_version"] = 2.into());
    assert!(
        e.contains("format_version is 2, this build reads version 1"),
        "{e}"
    );
    let e = err(|v| {
        v["modes"]["http"]["components"]
            .as_object_mut()
            .unwrap()
            .remove("read");
    });
    assert!(e.ends_with("modes.http.components lacks `read`"), "{e}");
    let e = err(|v| v["modes"]["tcp"]["filters"] = v["modes"]["http"]["filters"].clone());
    assert!(e.contains("filters apply to http and grpc only"), "{e}");
    let e = err(|v| v["modes"]["grpc"]["components"]["ipc"]["latency"]["r2"] = 1.5.into());
    assert!(
        e.contains("modes.grpc.components.ipc.latency.r2 must lie in [0, 1]"),
        "{e}"
    );
    let e =
        err(|v| v["modes"]["grpc"]["components"]["ipc"]["latency"]["base_se_us"] = (-1.0).into());
    assert!(e.contains("base_se_us is negative"), "{e}");
    let e = err(|v| v["modes"]["quic"] = v["modes"]["tcp"].clone());
    assert!(
        e.contains("unknown mode `quic` (expected tcp, http or grpc)"),
        "{e}"
    );
    let e = err(|v| v["modes"]["tcp"]["components"]["ipc"]["latency"]["base_us"] = "fast".into());
    assert!(
        e.contains("modes.tcp.components.ipc.latency.base_us"),
        "{e}"
    );
    let e = Profile::from_json("{", Path::new("p.json"))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("invalid profile p.json: EOF"), "{e}");
}

#[test]
fn standard_error_at_a_size_uses_the_covariance() {
    let m = LinearModel {
        base_us: 1.0,
        per_byte_us: 0.01,
        base_se_us: Some(0.3),
        per_byte_se_us: Some(0.001),
        cov: Some(-0.0002),
        r2: Some(0.9),
        n: Some(10),
    };
    // var = 0.09 + 1e6 * 1e-6 + 2 * 1000 * -0.0002 = 0.69
    assert!((m.se_at(1000.0).unwrap() - 0.69f64.sqrt()).abs() < 1e-12);
    assert_eq!(LinearModel::new(1.0, 0.0).se_at(5.0), None);
}

#[test]
fn the_split_is_stored_and_an_older_file_finds_it_in_its_runs() {
    let http = SidecarConfig::plain(Mode::Http);
    let mut p = Profile::paper();
    p.runs = split::stepped_runs(&http, &[100, 4000, 8000, 16000]);
    p.detect_splits();
    let stored = p.modes[&Mode::Http].split.clone().expect("a split");
    assert_eq!(Some(&stored), split::detect(&p.runs, &http).as_ref());
    assert!(p.modes[&Mode::Tcp].split.is_none());
    // Written and read back, the stored split is kept.
    let json = p.to_json();
    assert!(json.contains("\"split\""), "{json}");
    assert_eq!(Profile::from_json(&json, Path::new("x.json")).unwrap(), p);
    // A file written before the split was stored has runs but no split: found on load.
    let mut v: serde_json::Value = serde_json::from_str(&json).unwrap();
    v["modes"]["http"].as_object_mut().unwrap().remove("split");
    let older = Profile::from_json(&v.to_string(), Path::new("x.json")).unwrap();
    assert_eq!(older.modes[&Mode::Http].split, Some(stored));
}

mod proptests {
    //! Arbitrary and mutated profiles load or fail in one line; one that loads prices every
    //! configuration it has at any size with finite, non-negative totals.

    use proptest::prelude::*;

    use super::*;
    use crate::test_support::hostile::{apply, assert_one_line, edits, json_number};

    fn check(text: &str) {
        match Profile::from_json(text, Path::new("p.json")) {
            Err(e) => assert_one_line(&e),
            Ok(p) => {
                for (mode, mp) in &p.modes {
                    let mut configs = vec![SidecarConfig::plain(*mode)];
                    for f in mp.filters.keys() {
                        configs.push(SidecarConfig::new(*mode, vec![*f]).unwrap());
                    }
                    for config in &configs {
                        for s in [0.0, 100.0, 65_536.0, crate::ecg::MAX_BYTES as f64] {
                            for price in [CpuPrice::Loaded, CpuPrice::Unloaded] {
                                let c = p.traversal_cost_priced(config, s, price);
                                let (l, u) = (c.latency_total(), c.cpu_total());
                                assert!(l.is_finite() && u.is_finite(), "{config} at {s}");
                                assert!(l >= -1e-6 && u >= -1e-6, "{config} at {s}: {l}, {u}");
                            }
                        }
                    }
                }
            }
        }
    }

    proptest! {
        #[test]
        fn proptest_profile_arbitrary_text_never_panics(text in ".{0,300}") {
            check(&text);
        }

        #[test]
        fn proptest_profile_mutated_paper_profile_loads_or_fails_in_one_line(e in edits()) {
            check(&apply(PAPER_PROFILE_JSON, &e, json_number));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(
            std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(24)
        ))]
        #[test]
        fn proptest_profile_mutated_measured_profile_loads_or_fails_in_one_line(e in edits()) {
            let text = std::fs::read_to_string(
                crate::test_support::repo_root().join("fixtures/profiles/builtin-quick-measured.json"),
            )
            .unwrap();
            check(&apply(&text, &e, json_number));
        }
    }
}

#[test]
fn absurd_coefficients_and_negative_totals_are_refused_with_their_path() {
    let p = Profile::paper().to_json();
    let with = |from: &str, to: &str| {
        assert!(p.contains(from), "{from}");
        Profile::from_json(&p.replacen(from, to, 1), Path::new("p.json"))
            .unwrap_err()
            .to_string()
    };
    // The first latency base_us of http (ipc's 12.73).
    let e = with("\"base_us\": 12.73", "\"base_us\": 1e308");
    assert!(
        e.contains(
            "modes.http.components.ipc.latency.base_us must lie in [-1e6, 1e6], found 1e308"
        ),
        "{e}"
    );
    let e = with("\"base_us\": 12.73", "\"base_us\": -1000");
    assert!(
        e.contains("modes.http makes one traversal cost -847.56 µs of latency at 0 bytes"),
        "{e}"
    );
    let e = with("\"format_version\": 1", "\"format_version\": \"1\"");
    assert!(
        e.contains("`format_version` must be the number 1, found \"1\""),
        "{e}"
    );
}
