//! Builds `bpf/probe.bpf.c` into the BPF object that the probe embeds.
//!
//! The sources are read from the package's own `bpf/` (in the repository, symbolic links to
//! the workspace's `bpf/`, which `cargo package` turns into copies), so that the published
//! crate builds without anything outside it.
//!
//! With clang on the machine, the object is compiled into OUT_DIR (aya's
//! integration-test recipe: clang with a cleared environment, `rerun-if-changed` per file,
//! failures print the full command and stderr). Without clang, the committed
//! `bpf/probe.bpf.o` is used; `bpf/probe.bpf.o.sha256` holds the hash of the inputs it was
//! built from, and `tests/bpf_object.rs` fails when that hash is stale. After changing
//! `bpf/`, refresh the committed object with `MESHINSIGHT_BLESS_BPF=1 cargo build`.

#![expect(
    clippy::disallowed_macros,
    reason = "a build script talks to cargo through standard output"
)]

use std::path::{Path, PathBuf};

include!("bpf_inputs.rs");

fn main() {
    let manifest_dir =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let bpf_dir = manifest_dir.join("bpf");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    let committed = bpf_dir.join("probe.bpf.o");
    let committed_hash = bpf_dir.join("probe.bpf.o.sha256");
    let out = out_dir.join("probe.bpf.o");

    println!("cargo:rerun-if-env-changed=MESHINSIGHT_BLESS_BPF");
    println!("cargo:rerun-if-env-changed=MESHINSIGHT_CLANG");
    println!("cargo:rerun-if-changed={}", bpf_dir.display());
    for file in bpf_sources(&bpf_dir) {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    println!("cargo:rerun-if-changed={}", committed.display());
    println!("cargo:rerun-if-changed={}", committed_hash.display());

    let hash = bpf_inputs_hash(&bpf_dir);
    let recorded = std::fs::read_to_string(&committed_hash).unwrap_or_default();
    let stale = recorded.trim() != hash;

    match find_clang() {
        Some(clang) => {
            compile(&clang, &bpf_dir, &out);
            if std::env::var_os("MESHINSIGHT_BLESS_BPF").is_some() {
                std::fs::copy(&out, &committed).expect("failed to copy the object into bpf/");
                std::fs::write(&committed_hash, format!("{hash}\n"))
                    .expect("failed to write the hash");
            } else if stale {
                println!(
                    "cargo:warning=bpf/probe.bpf.o is stale; refresh it with `MESHINSIGHT_BLESS_BPF=1 cargo build`"
                );
            }
        }
        None => {
            if stale {
                println!(
                    "cargo:warning=clang not found and bpf/probe.bpf.o is stale (built from other inputs); install clang"
                );
            }
            std::fs::copy(&committed, &out).unwrap_or_else(|e| {
                panic!(
                    "failed to copy {} (no clang to build it): {e}",
                    committed.display()
                )
            });
        }
    }
}

/// clang from `MESHINSIGHT_CLANG` (`none`: use the committed object), else the first
/// `clang` on PATH.
fn find_clang() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("MESHINSIGHT_CLANG") {
        return (path != "none").then(|| PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("clang"))
        .find(|p| p.is_file())
}

fn compile(clang: &Path, bpf_dir: &Path, out: &Path) {
    let mut cmd = clang_command(clang, bpf_dir, out);
    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("failed to run {cmd:?}: {e}"));
    if !output.status.success() {
        panic!(
            "failed to compile the BPF program: {cmd:?} exited with {}\n--- stdout\n{}\n--- stderr\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
