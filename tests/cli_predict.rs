//! `cargo meshinsight predict` end to end: the real binary on the shipped fixtures.

mod common;

use common::{root, run, run_in, stderr, stdout};

#[test]
fn predict_json_covers_every_fixture_with_the_documented_fields() {
    let o = run(&["meshinsight", "predict", "--format", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let arr = v.as_array().unwrap();
    let fixtures = std::fs::read_dir(root().join("fixtures/ecg"))
        .unwrap()
        .count();
    assert_eq!(arr.len(), fixtures);
    for p in arr {
        for field in [
            "name",
            "latency_overhead_us",
            "cpu_overhead_cores",
            "base_latency_us",
            "predicted_latency_us",
            "critical_path",
            "components",
        ] {
            assert!(p.get(field).is_some(), "{field} missing in {p}");
        }
        let over = p["latency_overhead_us"].as_f64().unwrap();
        let base = p["base_latency_us"].as_f64().unwrap();
        let pred = p["predicted_latency_us"].as_f64().unwrap();
        assert!((pred - base - over).abs() < 1e-6);
        assert!(over > 0.0);
        assert!(p["components"]["ipc"]["latency_us"].as_f64().unwrap() > 0.0);
        assert!(p["components"]["ipc"]["cpu_cores"].as_f64().unwrap() > 0.0);
        assert!(p.get("speedup").is_none());
    }
    let bookinfo = arr.iter().find(|p| p["name"] == "bookinfo").unwrap();
    assert_eq!(
        bookinfo["critical_path"],
        serde_json::json!(["frontend", "product", "reviews", "ratings"])
    );
    let switch = arr.iter().find(|p| p["name"] == "fanout-switch").unwrap();
    assert_eq!(
        switch["base_critical_path"],
        serde_json::json!(["root", "slow"])
    );
    assert_eq!(switch["critical_path_switched"], true);
}

#[test]
fn predict_with_a_speedup_reports_both() {
    let o = run(&[
        "predict",
        "--ecg",
        "fixtures/ecg/chain-3hop.toml",
        "--speedup",
        "fixtures/speedups/uds-ipc.toml",
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let p = &v[0];
    let before = p["latency_overhead_us"].as_f64().unwrap();
    let after = p["speedup"]["latency_overhead_us"].as_f64().unwrap();
    let ipc = p["components"]["ipc"]["latency_us"].as_f64().unwrap();
    // The speedup makes IPC 30% cheaper and leaves everything else alone; chain-3hop is
    // sequential, so the whole IPC saving shows end to end.
    assert!(
        (before - after - 0.3 * ipc).abs() < 1e-6,
        "{before} {after} {ipc}"
    );
}

#[test]
fn table_and_markdown_output_are_stable() {
    let o = run(&["predict"]);
    assert!(o.status.success(), "{}", stderr(&o));
    insta::assert_snapshot!("predict_table", stdout(&o));
    assert!(stderr(&o).contains("Using the paper's profile"));
    let o = run(&["predict", "--format", "markdown"]);
    insta::assert_snapshot!("predict_markdown", stdout(&o));
}

#[test]
fn help_is_stable() {
    let o = run(&["meshinsight", "predict", "--help"]);
    assert!(o.status.success());
    insta::assert_snapshot!("predict_help", stdout(&o));
}

fn fails_with(args: &[&str], code: i32, needle: &str) {
    let o = run(args);
    assert_eq!(o.status.code(), Some(code), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains(needle), "expected `{needle}` in:\n{err}");
    assert!(
        stdout(&o).is_empty(),
        "no half-written output: {}",
        stdout(&o)
    );
}

#[test]
fn bad_input_is_one_clear_line_and_exit_101() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "name = \"x\"\n[[calls]]\nid = \"a\"\nto = \"A\"\nstart_us = 0\nduration_us = 5\n\
         [[calls]]\nid = \"b\"\nparent = \"nope\"\nto = \"B\"\nstart_us = 0\nduration_us = 1\n",
    )
    .unwrap();
    let bad = bad.to_str().unwrap();
    fails_with(
        &["predict", "--ecg", bad],
        101,
        "call `b`: parent `nope` does not exist",
    );
    fails_with(
        &["predict", "--ecg", bad],
        101,
        "hint: the ECG fixture format",
    );
    fails_with(
        &[
            "predict",
            "--ecg",
            "fixtures/ecg/bookinfo.toml",
            "--profile",
            "no-such.json",
        ],
        101,
        "failed to read profile no-such.json",
    );
    fails_with(
        &["predict", "--ecg", "no-such.toml"],
        101,
        "failed to read ECG fixture no-such.toml",
    );
    let grpc_only = dir.path().join("p.json");
    let mut v: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("fixtures/profiles/socc23-envoy-1.21.json")).unwrap(),
    )
    .unwrap();
    v["modes"].as_object_mut().unwrap().remove("grpc");
    std::fs::write(&grpc_only, v.to_string()).unwrap();
    fails_with(
        &[
            "predict",
            "--ecg",
            "fixtures/ecg/hotel-q1-user.toml",
            "--profile",
            grpc_only.to_str().unwrap(),
        ],
        101,
        "service `frontend` needs mode grpc, which profile `socc23-xeon-gold-6142-envoy-1.21` lacks",
    );
    fails_with(&["predict", "--format", "yaml"], 2, "invalid value 'yaml'");
}

#[test]
fn without_fixtures_it_says_where_it_looked() {
    let dir = tempfile::tempdir().unwrap();
    let o = run_in(dir.path(), &["predict"]);
    assert_eq!(o.status.code(), Some(101));
    assert!(
        stderr(&o).contains("no ECG fixtures found under fixtures/ecg"),
        "{}",
        stderr(&o)
    );
}
