// The inputs of the committed BPF object and their hash. Shared (through `include!`) by
// build.rs and by tests/bpf_object.rs, which fails when the committed object is stale.

/// Flags passed to clang, part of the inputs hash.
pub const CLANG_FLAGS: &[&str] = &["-g", "-O2", "-target", "bpfel", "-Wall", "-Werror"];

/// The BPF program source files in `bpf_dir` (`*.c` and `*.h`), sorted by name.
pub fn bpf_sources(bpf_dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(bpf_dir)
        .unwrap_or_else(|e| panic!("failed to list {}: {e}", bpf_dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "c" || e == "h"))
        .collect();
    files.sort();
    files
}

/// Hex SHA-256 over the clang flags and the names and contents of the sources.
pub fn bpf_inputs_hash(bpf_dir: &std::path::Path) -> String {
    use sha2::Digest as _;
    let mut hasher = sha2::Sha256::new();
    for flag in CLANG_FLAGS {
        hasher.update(flag.as_bytes());
        hasher.update([0]);
    }
    for file in bpf_sources(bpf_dir) {
        let name = file.file_name().expect("file name").to_string_lossy().into_owned();
        let text = std::fs::read(&file)
            .unwrap_or_else(|e| panic!("failed to read {}: {e}", file.display()));
        hasher.update(name.as_bytes());
        hasher.update([0]);
        hasher.update(&text);
        hasher.update([0]);
    }
    hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The clang invocation that builds `probe.bpf.c` in `bpf_dir` into `out`: a cleared
/// environment, and debug paths mapped so the object does not depend on the checkout.
pub fn clang_command(
    clang: &std::path::Path,
    bpf_dir: &std::path::Path,
    out: &std::path::Path,
) -> std::process::Command {
    let mut cmd = std::process::Command::new(clang);
    cmd.env_clear()
        .current_dir(bpf_dir)
        .args(CLANG_FLAGS)
        .arg(format!("-fdebug-prefix-map={}=bpf", bpf_dir.display()))
        .arg("-c")
        .arg("probe.bpf.c")
        .arg("-o")
        .arg(out);
    cmd
}
