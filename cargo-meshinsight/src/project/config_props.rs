//! Property test of the configuration loader: a `[package.metadata.meshinsight]` table with
//! hostile keys and values gives settings or one clear error, never a panic, and never a
//! non-finite threshold. Each case runs `cargo metadata`, so there are few of them
//! (`PROPTEST_CASES` sets more).

use proptest::prelude::*;

use super::config::Settings;
use crate::test_support::hostile::{assert_one_line, hostile_f64, toml_number};

/// One line of the table: a known key with a hostile value, or an unknown key.
fn line() -> impl Strategy<Value = String> {
    let number = hostile_f64().prop_map(toml_number).boxed();
    prop_oneof![
        number.clone().prop_map(|v| format!("threshold-pct = {v}")),
        number.clone().prop_map(|v| format!("alpha = {v}")),
        number.prop_map(|v| format!("history-depth = {v}")),
        prop::sample::select(vec![
            "sidecar = \"envoy\"",
            "sidecar = \"nope\"",
            "sidecar = { bin = \"x\", args = \"no listen\" }",
            "sidecar = { command = \"c {listen}\", args = \"x\" }",
            "sidecar = 3",
            "modes = [\"http\", \"quic\"]",
            "filters = [\"lua\"]",
            "fixtures = []",
            "fixtures = [\"*.toml\"]",
            "correction = \"holm\"",
            "correction = 1",
            "typo = 1",
            "profile = { sizes = [100], bogus = 1 }",
            "profile = 5",
            "baseline-dir = \"b\"",
            "target-branch = \"\"",
        ])
        .prop_map(String::from),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(12)
    ))]
    #[test]
    fn proptest_config_hostile_tables_load_or_fail_in_one_line(
        lines in prop::collection::vec(line(), 0..4),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("Cargo.toml");
        std::fs::write(
            &manifest,
            format!(
                "[package]\nname = \"demo\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
                 [lib]\npath = \"lib.rs\"\n\n[workspace]\n\n\
                 [package.metadata.meshinsight]\n{}\n",
                lines.join("\n")
            ),
        )
        .unwrap();
        std::fs::write(dir.path().join("lib.rs"), "").unwrap();
        match Settings::load(Some(&manifest)) {
            Err(e) => assert_one_line(&e),
            Ok(s) => {
                prop_assert!(s.threshold_pct.is_finite() && s.threshold_pct >= 0.0);
                prop_assert!(s.alpha > 0.0 && s.alpha < 1.0);
            }
        }
    }
}
