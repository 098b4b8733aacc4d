//! Ctrl-C during `analyze` removes its partition files: no temporary data is left behind.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn partitions(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("meshinsight-traces-"))
        .collect()
}

#[test]
fn ctrl_c_during_analyze_removes_the_partition_files() {
    let exe = env!("CARGO_BIN_EXE_cargo-meshinsight");
    let work = tempfile::tempdir().unwrap();
    let traces = work.path().join("traces");
    let temp = work.path().join("tmp");
    std::fs::create_dir(&temp).unwrap();
    let o = Command::new(exe)
        .args([
            "generate", "--graphs", "60000", "--files", "2", "--seed", "3", "--out",
        ])
        .arg(&traces)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let mut child = Command::new(exe)
        .args(["analyze", "--config", "http", "--threads", "1", "--traces"])
        .arg(&traces)
        .arg("--temp-dir")
        .arg(&temp)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the partition directory exists, then interrupt.
    let deadline = Instant::now() + Duration::from_secs(60);
    while partitions(&temp).is_empty() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "analyze ended before its partitions were seen: make the input larger"
        );
        assert!(Instant::now() < deadline, "no partition directory appeared");
        std::thread::sleep(Duration::from_millis(5));
    }
    // SAFETY: kill(2) on our own child's pid.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "interrupted analyze exits 130");
    assert!(
        partitions(&temp).is_empty(),
        "left behind: {:?}",
        partitions(&temp)
    );
}
