//! `cargo meshinsight validate` end to end: a small topology deployed for real (services and
//! builtin sidecars), a profile measured first with the eBPF probe (root), measured overhead
//! against the prediction. Fails (does not skip) without root or eBPF.

use crate::common;

use common::meshinsight;

#[test]
fn privileged_validate_measures_a_two_hop_chain_and_compares_with_the_prediction() {
    let _turn = common::measuring();
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("profile.json");
    let o = meshinsight()
        .args([
            "validate",
            "--sidecar",
            "builtin",
            "--ecg",
            "fixtures/validate/ci-chain-tcp.toml",
            "--requests",
            "400",
            "--warmup",
            "50",
            "--repeat",
            "2",
            "--profile-requests",
            "2000",
            "--profile-repeat",
            "3",
            "--format",
            "json",
            "--save-profile",
        ])
        .arg(&profile)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "validate failed:\n{stderr}");
    assert!(stderr.contains("Profiling"), "{stderr}");
    assert!(profile.exists(), "the measured profile was not saved");
    // The quick profile measures as many sidecars in series as a request of the fixture
    // passes (a's inbound, a's outbound, b's inbound), and fits the closed-loop CPU that
    // prices this closed-loop deployment.
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&profile).unwrap()).unwrap();
    assert_eq!(saved["settings"]["chain"], 3, "{}", saved["settings"]);
    let ipc = &saved["modes"]["tcp"]["components"]["ipc"];
    assert!(ipc["cpu_unloaded"]["base_us"].is_f64(), "{ipc}");
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["sidecar"], "builtin");
    assert_eq!(report["cpu_price"], "unloaded");
    let cases = report["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 1);
    let case = &cases[0];
    assert_eq!(case["name"], "ci-chain-tcp");
    assert_eq!(case["calls"], 2);
    // Entry inbound of a, outbound of a, inbound of b.
    assert_eq!(case["sidecars"], 3);
    // Every repetition: the mesh costs latency, and the sidecars cost CPU.
    let with = case["with"].as_array().unwrap();
    let without = case["without"].as_array().unwrap();
    assert_eq!((with.len(), without.len()), (2, 2));
    for (w, n) in with.iter().zip(without) {
        let (w, n) = (
            w["mean_us"].as_f64().unwrap(),
            n["mean_us"].as_f64().unwrap(),
        );
        assert!(w > n, "with the mesh {w} µs, without {n} µs");
        // The timeline: a's 400 µs of fixture time at least.
        assert!(
            n >= 400.0,
            "without the mesh {n} µs is shorter than the fixture's 400 µs"
        );
    }
    let measured = case["measured_us"].as_f64().unwrap();
    let predicted = case["predicted_us"].as_f64().unwrap();
    assert!(measured > 0.0 && predicted > 0.0, "{case}");
    assert!(case["measured_cpu_us"].as_f64().unwrap() > 0.0, "{case}");
    assert!(
        case["measured_sidecar_cpu_us"].as_f64().unwrap() > 0.0,
        "{case}"
    );
    // A sanity bound (same order of magnitude: catches a lost unit, a missing sidecar, a zero
    // model), not the accuracy target: a debug build, a quick profile and a noisy 2-core
    // machine give errors of ±100% here (docs/validation.md).
    let error = case["error_pct"].as_f64().unwrap();
    assert!(
        predicted > measured / 4.0 && predicted < measured * 4.0,
        "predicted {predicted:.0} µs vs measured {measured:.0} µs ({error:+.0}%)"
    );
    let verdict_ok = case["pass"].as_bool().unwrap();
    assert_eq!(verdict_ok, error.abs() <= 25.0);
}

#[test]
fn validate_refuses_a_fixture_it_cannot_deploy_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("twice.toml");
    std::fs::write(
        &bad,
        "name = \"t\"\n[[calls]]\nid = \"a\"\nto = \"a\"\nstart_us = 0\nduration_us = 100\n\
         [[calls]]\nid = \"b\"\nparent = \"a\"\nto = \"a\"\nstart_us = 10\nduration_us = 10\n",
    )
    .unwrap();
    let o = meshinsight()
        .args(["validate", "--ecg"])
        .arg(&bad)
        .args(["--profile", "fixtures/profiles/socc23-envoy-1.21.json"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(101));
    let stderr = String::from_utf8_lossy(&o.stderr);
    let first = stderr.lines().next().unwrap();
    assert!(first.contains("twice.toml"), "{stderr}");
    assert!(first.contains("service `a` calls itself"), "{stderr}");
    assert!(stderr.contains("docs/validation.md"), "{stderr}");
}

#[test]
fn validate_refuses_profiles_of_two_platforms_in_one_line() {
    let o = meshinsight()
        .args([
            "validate",
            "--ecg",
            "fixtures/validate/ci-chain-tcp.toml",
            "--profile",
            "fixtures/profiles/socc23-envoy-1.21.json",
            "--profile",
            "fixtures/profiles/builtin-quick-measured.json",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(101));
    let stderr = String::from_utf8_lossy(&o.stderr);
    let first = stderr.lines().next().unwrap();
    assert!(
        first.contains("builtin-quick-measured.json is a profile of `builtin-"),
        "{stderr}"
    );
    assert!(
        first.contains("socc23-envoy-1.21.json of `socc23"),
        "{stderr}"
    );
    // Nothing was deployed or measured.
    assert!(!stderr.contains("Validating"), "{stderr}");
}
