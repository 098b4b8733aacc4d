//! `import`, `critical-path`, `analyze` and `generate` end to end: the real binary on the
//! hand-written traces under fixtures/traces and on generated Alibaba CSV.

mod common;

use common::{run, stderr, stdout};

#[test]
fn critical_path_json_lists_each_trace_root_first() {
    let o = run(&[
        "meshinsight",
        "critical-path",
        "fixtures/traces/jaeger-crisp.json",
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let traces = v.as_array().unwrap();
    assert_eq!(traces.len(), 2);
    assert_eq!(traces[0]["trace_id"], "a1");
    let path = traces[0]["path"].as_array().unwrap();
    let names: Vec<(&str, &str)> = path
        .iter()
        .map(|s| {
            (
                s["service"].as_str().unwrap(),
                s["operation"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("frontend", "GET /"),
            ("auth", "Check"),
            ("cart", "List"),
            ("db", "Query"),
            ("(unknown)", "Render")
        ]
    );
    // CRISP's exclusive time: the root's 1000 µs less its children on the path (290 + 302 +
    // 105 + 285), so the path adds up to the root's duration exactly.
    assert_eq!(path[0]["exclusive_us"], 18.0);
    assert_eq!(traces[0]["total_us"], 1000.0);
    assert!(traces[0].get("with_mesh").is_none());
    // What was left off the path is reported per trace.
    let problems = &traces[0]["problems"];
    assert_eq!(
        problems["FOLLOWS_FROM-only spans (left off, with their subtrees)"],
        1
    );
    assert_eq!(
        problems["orphan spans: parent not in the trace (left off, with their subtrees)"],
        1
    );
    assert!(stderr(&o).contains("FOLLOWS_FROM-only spans (left off, with their subtrees): 2"));
}

#[test]
fn critical_path_with_a_profile_adds_the_sidecars() {
    let o = run(&[
        "critical-path",
        "fixtures/traces/otlp-crisp.jsonl",
        "--profile",
        "fixtures/profiles/socc23-envoy-1.21.json",
        "--config",
        "tcp",
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let m = &v[0]["with_mesh"];
    assert_eq!(m["config"], "tcp");
    // Root (one sidecar) and four calls on the path (two each) at tcp's 41.09 µs at 100 bytes
    // (c1 is priced at its own sizes, so the figure is not a round multiple).
    let over = m["overhead_us"].as_f64().unwrap();
    assert!(over > 9.0 * 41.0 && over < 9.0 * 45.0, "{over}");
    let total = m["total_us"].as_f64().unwrap();
    assert!((total - 1000.0 - over).abs() < 1e-6);
    let ids: Vec<&str> = m["path"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["s0", "c1", "c2", "c3", "c4"]);
    // The table says the same.
    let o = run(&[
        "critical-path",
        "fixtures/traces/otlp-crisp.jsonl",
        "--config",
        "tcp",
    ]);
    assert!(stdout(&o).contains("with mesh µs"), "{}", stdout(&o));
}

#[test]
fn imported_fixtures_predict() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let o = run(&[
        "import",
        "jaeger",
        "fixtures/traces/jaeger-crisp.json",
        "-o",
        out,
        "--mode",
        "grpc",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("Imported 2 traces (12 calls)"), "{err}");
    assert!(
        err.contains("10 of 12 calls have no size in the trace"),
        "{err}"
    );
    let text = std::fs::read_to_string(dir.path().join("a1.toml")).unwrap();
    assert!(text.contains("mode = \"grpc\""), "{text}");
    let o = run(&["predict", "--ecg", out, "--format", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert_eq!(
        v[0]["base_critical_path"],
        serde_json::json!(["s0", "c1", "c2", "c3", "c4"])
    );
    assert_eq!(
        v[1]["base_critical_path"],
        serde_json::json!(["s0", "c1", "c5", "c3", "c4"])
    );
}

#[test]
fn alibaba_import_counts_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let o = run(&[
        "import",
        "alibaba",
        "fixtures/traces/alibaba-v2021-a.csv",
        "fixtures/traces/alibaba-v2021-b.csv",
        "-o",
        out,
        "--limit",
        "4",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    for kind in [
        "duplicated rows (dropped): 1",
        "missing parent calls (rebuilt from their children): 1",
        "missing service names (repaired): 1",
        "rows without a response time (dropped): 1",
    ] {
        assert!(err.contains(kind), "{kind} in {err}");
    }
    assert!(err.contains("(2 more left out by --limit)"), "{err}");
    let mut files: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, ["T1.toml", "T2.toml", "T3.toml", "T4.toml"]);
}

#[test]
fn malformed_traces_fail_with_one_line_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        ",traceid,timestamp,rpcid,um,rpctype,dm,interface,rt\n0,T,0,0,U,http,A,/,5\n1,T,1,0.1,A,rpc\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let o = run(&[
        "import",
        "alibaba",
        "fixtures/traces/alibaba-v2022.csv",
        bad.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(101));
    let err = stderr(&o);
    let first = err.lines().next().unwrap();
    assert_eq!(
        first,
        format!(
            "error: invalid trace file {}: line 3: expected 9 fields as in the header, found 6",
            bad.display()
        )
    );
    assert!(err.contains("hint: "), "{err}");
    // Nothing was written, not even the good file's trace.
    assert!(!out.join("T1.toml").exists());

    let plot = dir.path().join("plot.svg");
    let o = run(&[
        "analyze",
        "--traces",
        bad.to_str().unwrap(),
        "--plot",
        plot.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(101));
    assert!(stderr(&o).contains("line 3"), "{}", stderr(&o));
    assert!(!plot.exists());
}

#[test]
fn generated_traces_are_analyzed_with_a_plot() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let o = run(&[
        "generate",
        "--graphs",
        "2000",
        "--files",
        "3",
        "--seed",
        "3",
        "-o",
        data.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let plot = dir.path().join("cdf.svg");
    let o = run(&[
        "analyze",
        "--traces",
        data.to_str().unwrap(),
        "--config",
        "tcp",
        "grpc",
        "--speedup",
        "fixtures/speedups/uds-ipc.toml",
        "--format",
        "json",
        "--plot",
        plot.to_str().unwrap(),
        "--threads",
        "2",
        "--temp-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["graphs"], 2000);
    let variants = v["variants"].as_array().unwrap();
    assert_eq!(variants.len(), 4);
    for var in variants {
        let s = &var["latency_overhead_us"];
        assert_eq!(s["count"], 2000);
        let q: Vec<f64> = ["p25", "p50", "p75", "p90", "p99", "max"]
            .iter()
            .map(|k| s[*k].as_f64().unwrap())
            .collect();
        assert!(q.windows(2).all(|w| w[0] <= w[1]), "{q:?}");
        assert!(q[0] > 0.0);
    }
    assert!(v["problems"]["duplicated rows (dropped)"].as_u64().unwrap() > 0);
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("grpc after"),
        "{}",
        &svg[..100]
    );
    // The partition files are gone.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left.len(), 2, "{left:?}");
}

#[test]
fn help_of_the_trace_commands_is_stable() {
    for cmd in ["import", "critical-path", "analyze", "generate"] {
        let o = run(&["meshinsight", cmd, "--help"]);
        assert!(o.status.success(), "{}", stderr(&o));
        insta::assert_snapshot!(format!("{cmd}_help"), stdout(&o));
    }
}
