use std::path::PathBuf;

use super::*;
use crate::model::Profile;
use crate::vocab::Mode;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn config(traces: Vec<PathBuf>, configs: &[&str]) -> AnalyzeConfig {
    AnalyzeConfig {
        traces,
        profiles: Vec::new(),
        configs: configs.iter().map(|c| c.parse().unwrap()).collect(),
        size_bytes: 100.0,
        rate: 1000.0,
        speedup: None,
        stream: StreamConfig::default(),
        format: Format::Json,
        plot: None,
    }
}

fn hop(mode: Mode) -> (f64, f64) {
    let c = SidecarConfig::new(mode, Vec::new()).unwrap();
    let v = Profile::paper().traversal_cost(&c, 100.0);
    (v.latency_total(), v.cpu_total())
}

#[test]
fn a_chain_and_a_lone_root_give_hand_computed_figures() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("t.csv");
    std::fs::write(
        &f,
        "traceid,timestamp,rpcid,um,rpctype,dm,interface,rt\n\
         A,0,0,USER,http,X,/,10\n\
         A,2,0.1,X,rpc,Y,get,3\n\
         A,2,0.1,X,rpc,Y,get,-3\n\
         B,0,0,USER,http,X,/,4\n",
    )
    .unwrap();
    let (mut out, _) = Output::captured();
    let a = analyze(&config(vec![f], &["tcp"]), &mut out).unwrap();
    let (lat, cpu) = hop(Mode::Tcp);
    assert_eq!(a.graphs, 2);
    let v = &a.variants[0];
    // A: the entry call crosses one sidecar, the call under it two; both on the path.
    // B: one sidecar.
    let lo = &v.latency_overhead_us;
    assert!((lo.p50 - lat).abs() < 1e-9, "{lo:?}");
    assert!((lo.max - 3.0 * lat).abs() < 1e-9, "{lo:?}");
    assert!((lo.mean - 2.0 * lat).abs() < 1e-9);
    let pct = &v.latency_overhead_pct;
    assert!((pct.p50 - 100.0 * lat / 4000.0).abs() < 1e-9, "{pct:?}");
    assert!(
        (pct.max - 100.0 * 3.0 * lat / 10000.0).abs() < 1e-9,
        "{pct:?}"
    );
    let c = &v.cpu_overhead_cores;
    assert!((c.max - 1000.0 * 3.0 * cpu / 1e6).abs() < 1e-12, "{c:?}");
    assert_eq!(a.calls_with_default_size, 3);
}

#[test]
fn configurations_and_a_speedup_are_reported_side_by_side() {
    let mut c = config(
        vec![root().join("fixtures/traces/alibaba-v2022.csv")],
        &["tcp", "http+lua"],
    );
    c.speedup = Some(root().join("fixtures/speedups/uds-ipc.toml"));
    let (mut out, _) = Output::captured();
    let a = analyze(&c, &mut out).unwrap();
    let labels: Vec<String> = a.variants.iter().map(|v| v.label()).collect();
    assert_eq!(labels.len(), 4);
    assert_eq!(labels[0], "tcp");
    assert_eq!(labels[1], "http+lua");
    assert!(labels[2].starts_with("tcp after "), "{labels:?}");
    let before = a.variants[1].latency_overhead_us.mean;
    let after = a.variants[3].latency_overhead_us.mean;
    assert!(after < before, "{after} !< {before}");
    assert!(a.variants[1].latency_overhead_us.mean > a.variants[0].latency_overhead_us.mean);
    let svg = crate::report::analyze_plot::svg(&a);
    assert!(svg.starts_with("<svg"), "{}", &svg[..50.min(svg.len())]);
    assert!(svg.contains("http+lua"));
}

#[test]
fn span_traces_are_analyzed_with_their_own_sizes() {
    let c = config(
        vec![root().join("fixtures/traces/jaeger-crisp.json")],
        &["http"],
    );
    let (mut out, _) = Output::captured();
    let a = analyze(&c, &mut out).unwrap();
    assert_eq!(a.graphs, 2);
    // Two traces of six calls; c1 of each has its sizes.
    assert_eq!(a.calls_with_default_size, 10);
    assert!(
        a.problems
            .get("FOLLOWS_FROM-only spans (left off, with their subtrees)")
            == 2
    );
}

#[test]
fn a_configuration_the_profile_lacks_is_refused() {
    let mut c = config(
        vec![root().join("fixtures/traces/alibaba-v2022.csv")],
        &["http"],
    );
    c.profiles = vec![root().join("fixtures/profiles/socc23-envoy-1.21.json")];
    c.configs = vec!["grpc+tap".parse().unwrap()];
    let (mut out, _) = Output::captured();
    let e = analyze(&c, &mut out).unwrap_err();
    assert!(
        e.to_string().contains("has no filter tap for mode grpc"),
        "{e}"
    );
}
