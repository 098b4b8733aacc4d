//! The committed BPF object (`bpf/probe.bpf.o`) must be built from the current sources, so
//! that a machine without clang embeds the right program.

use std::path::{Path, PathBuf};

include!("../cargo-meshinsight/bpf_inputs.rs");

fn bpf_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .join("bpf")
}

#[test]
fn committed_object_hash_matches_the_sources() {
    let dir = bpf_dir();
    let recorded =
        std::fs::read_to_string(dir.join("probe.bpf.o.sha256")).expect("bpf/probe.bpf.o.sha256");
    assert_eq!(
        recorded.trim(),
        bpf_inputs_hash(&dir),
        "bpf/probe.bpf.o is stale: run `MESHINSIGHT_BLESS_BPF=1 cargo build` and commit bpf/"
    );
}

#[test]
fn committed_object_equals_a_fresh_build_when_clang_is_here() {
    let Some(clang) = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("clang"))
            .find(|c| c.is_file())
    }) else {
        // Without clang only the hash can be checked (the test above); CI must have clang.
        assert!(
            std::env::var_os("CI").is_none(),
            "clang is needed to check bpf/probe.bpf.o in CI: apt-get install clang"
        );
        return;
    };
    let dir = bpf_dir();
    let out = tempfile::tempdir().expect("tempdir");
    let object = out.path().join("probe.bpf.o");
    let output = clang_command(&clang, &dir, &object)
        .output()
        .expect("run clang");
    assert!(
        output.status.success(),
        "clang failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let fresh = std::fs::read(&object).expect("fresh object");
    let committed = std::fs::read(dir.join("probe.bpf.o")).expect("committed object");
    assert!(
        fresh == committed,
        "bpf/probe.bpf.o differs from a fresh build: run `MESHINSIGHT_BLESS_BPF=1 cargo build`"
    );
}
