//! The `probe` command's help text.

#[test]
fn probe_help_snapshot() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_cargo-meshinsight"))
        .args(["probe", "--help"])
        .output()
        .expect("run --help");
    assert!(output.status.success());
    insta::assert_snapshot!(String::from_utf8_lossy(&output.stdout));
}
