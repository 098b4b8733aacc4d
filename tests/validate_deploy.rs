//! `validate`'s deployments for real, without root: fixtures that need more than one timeline
//! per service, and gRPC through chained builtin sidecars, deployed with and without the mesh
//! and driven past 100 requests per connection. The prediction side uses the paper's profile
//! (the privileged test measures one): what is checked here is that the topology deploys,
//! answers, and is counted and priced per call.

use std::path::{Path, PathBuf};

use cargo_meshinsight::harness::Sidecar;
use cargo_meshinsight::model::Profile;
use cargo_meshinsight::predict::{ProfileSet, predict};
use cargo_meshinsight::validate::{CaseResult, ValidateConfig, validate_case};

mod common;

use common::{launch, root};

fn run(fixture: &Path) -> CaseResult {
    let cfg = ValidateConfig {
        sidecar: Sidecar::builtin(),
        fixtures: vec![fixture.to_path_buf()],
        requests: 150,
        warmup: 10,
        repeat: 2,
        tolerance_pct: 25.0,
    };
    let profiles = ProfileSet::new(vec![Profile::paper()]);
    let ecg = common::load_ecg(fixture);
    let case = validate_case(&cfg, &ecg, fixture, &profiles, &launch())
        .unwrap_or_else(|e| panic!("{}: {e:?}", fixture.display()));
    // Every repetition ran on both deployments, and the prediction is `predict`'s.
    assert_eq!((case.with.len(), case.without.len()), (2, 2));
    let predicted = predict(&ecg, &profiles, None).unwrap();
    assert_eq!(case.predicted_us, predicted.figures.latency_overhead_us);
    // The sidecars' CPU is a part of the deployment's, and there is none without the mesh.
    for s in &case.without {
        assert_eq!(s.sidecar_cpu_us, 0.0, "{s:?}");
    }
    for s in &case.with {
        assert!(
            s.sidecar_cpu_us > 0.0 && s.sidecar_cpu_us < s.cpu_us,
            "{s:?}"
        );
    }
    case
}

#[test]
fn a_service_called_by_two_callers_and_twice_by_one_deploys_once() {
    let case = run(&root().join("fixtures/validate/fan-in.toml"));
    assert_eq!(case.calls, 5);
    // Inbound: frontend, users, cart. Outbound: frontend→users, frontend→cart, cart→users
    // (frontend's two calls to cart share its outbound sidecar to cart).
    assert_eq!(case.sidecars, 6);
    // The frontend's 2000 µs timeline was replayed (at least; a debug build on a loaded
    // 2-core machine adds ~1 ms of hops, so no upper bound: that each request runs its own
    // route is the service's unit test `requests_pick_their_route`).
    for s in &case.without {
        assert!(s.p50_us >= 2000.0, "{s:?}");
    }
    // The prediction prices every call: two traversals (out + in) per call but the entry's.
    assert!(case.predicted_us > 0.0);
}

#[test]
fn grpc_calls_deploy_through_chained_builtin_sidecars() {
    // The CI chain in gRPC: an outbound sidecar into an inbound one on every in-mesh call,
    // past the 100 requests per connection at which h2 used to reset it.
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(root().join("fixtures/validate/ci-chain-tcp.toml"))
        .unwrap()
        .replace("name = \"ci-chain-tcp\"", "name = \"ci-chain-grpc\"")
        .replace("mode = \"tcp\"", "mode = \"grpc\"");
    assert!(text.contains("mode = \"grpc\""), "{text}");
    let fixture: PathBuf = dir.path().join("ci-chain-grpc.toml");
    std::fs::write(&fixture, text).unwrap();
    let case = run(&fixture);
    assert_eq!((case.calls, case.sidecars), (2, 3));
    assert!(case.with.iter().all(|s| s.mean_us > 0.0));
}
