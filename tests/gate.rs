//! The repository's own gate as tests (`harness = false`): every fixture's latency and CPU
//! prediction under the paper profile, against the baseline committed at `HEAD`.
//!
//! Under the fixed paper profile this guards the prediction engine and the fixtures: a change
//! that moves a fixture's predicted overhead by more than the threshold fails here.
//! After a deliberate change, re-record with
//! `cargo run -- meshinsight baseline update --profile fixtures/profiles/socc23-envoy-1.21.json`
//! and commit the file.

use std::path::Path;

fn main() -> std::process::ExitCode {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    cargo_meshinsight::libtest::GateTests::new(
        root.join("Cargo.toml"),
        root.join(cargo_meshinsight::model::PAPER_PROFILE_PATH),
    )
    .baseline_rev("HEAD")
    .run()
}
