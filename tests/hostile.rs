//! The hostile-input corpus (tests/hostile/cases.toml) against the real binary: every case
//! under a timeout, with its documented exit code and one-line error; then the cases that
//! need more than one command or a look at the files written (name collisions, sets of
//! files replaced whole, an interrupted `generate`, the umask's permissions, a closed
//! standard output).

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::root;

/// How long one case may run: the slowest takes about a second; a hang is caught here.
const TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Cases {
    case: Vec<Case>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    args: Vec<String>,
    #[serde(default)]
    env: std::collections::BTreeMap<String, String>,
    exit: i32,
    #[serde(default)]
    error: Option<String>,
}

/// Runs `cmd` to completion or kills it after [`TIMEOUT`]; `None` when it had to be killed.
fn run_with_timeout(mut cmd: Command) -> Option<Output> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    // Drain the pipes in threads so that a chatty child cannot block on a full pipe.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut out, &mut v).map(|_| v)
    });
    let err = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut err, &mut v).map(|_| v)
    });
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Some(Output {
        status,
        stdout: out.join().unwrap().unwrap(),
        stderr: err.join().unwrap().unwrap(),
    })
}

/// A FIFO at `path`.
fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo(3) with a valid NUL-terminated path.
    assert_eq!(
        unsafe { libc::mkfifo(c.as_ptr(), 0o600) },
        0,
        "mkfifo {}",
        path.display()
    );
}

/// `s` with the case's placeholders filled in, making what they name.
fn expand(s: &str, tmp: &Path) -> String {
    let mut s = s.replace("{tmp}", tmp.to_str().unwrap());
    if s.contains("{fifo}") {
        let f = tmp.join("fifo.toml");
        if !f.exists() {
            mkfifo(&f);
        }
        s = s.replace("{fifo}", f.to_str().unwrap());
    }
    if s.contains("{fifo_dir}") {
        let d = tmp.join("fixtures");
        if !d.exists() {
            std::fs::create_dir(&d).unwrap();
            std::fs::copy(
                root().join("fixtures/ecg/chain-3hop.toml"),
                d.join("a.toml"),
            )
            .unwrap();
            mkfifo(&d.join("x.toml"));
        }
        s = s.replace("{fifo_dir}", d.to_str().unwrap());
    }
    if s.contains("{big}") {
        let f = tmp.join("big.json");
        if !f.exists() {
            std::fs::File::create(&f)
                .unwrap()
                .set_len(300_000_000)
                .unwrap();
        }
        s = s.replace("{big}", f.to_str().unwrap());
    }
    s
}

/// The `error:` lines of standard error; a panic counts as a failure of the case.
fn error_lines(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.starts_with("error")).collect()
}

#[test]
fn every_corpus_case_exits_as_documented_within_the_timeout() {
    let text = std::fs::read_to_string(root().join("tests/hostile/cases.toml")).unwrap();
    let cases: Cases = toml::from_str(&text).unwrap();
    assert!(cases.case.len() >= 30, "the corpus lost cases");
    let mut failures = Vec::new();
    for case in &cases.case {
        let tmp = tempfile::tempdir().unwrap();
        let mut cmd = common::meshinsight();
        cmd.args(case.args.iter().map(|a| expand(a, tmp.path())));
        for (k, v) in &case.env {
            cmd.env(k, expand(v, tmp.path()));
        }
        let Some(o) = run_with_timeout(cmd) else {
            failures.push(format!("{}: still running after {TIMEOUT:?}", case.name));
            continue;
        };
        let stderr = String::from_utf8_lossy(&o.stderr);
        let errors = error_lines(&stderr);
        let problem = if stderr.contains("panicked") {
            Some("panicked".to_string())
        } else if o.status.code() != Some(case.exit) {
            Some(format!(
                "exit {:?}, expected {}",
                o.status.code(),
                case.exit
            ))
        } else if case.exit == 0 {
            (!errors.is_empty()).then(|| "printed an error".to_string())
        } else if errors.len() != 1 {
            Some(format!("{} error lines", errors.len()))
        } else if let Some(want) = &case.error
            && !errors[0].contains(want.as_str())
        {
            Some(format!("the error does not say `{want}`"))
        } else {
            None
        };
        if let Some(p) = problem {
            failures.push(format!("{}: {p}\n{stderr}", case.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n---\n"));
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn ok(args: &[&str]) -> Output {
    let o = common::run(args);
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

#[test]
fn trace_ids_that_clean_to_one_file_name_get_files_of_their_own() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let o = ok(&[
        "import",
        "jaeger",
        "tests/hostile/jaeger-colliding-ids.json",
        "-o",
        out.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("Imported 5 traces"), "{stderr}");
    assert!(
        stderr.contains(
            "4 trace ids are not usable as a file name as they are: written with a hash suffix"
        ),
        "{stderr}"
    );
    let files = names(&out);
    assert_eq!(files.len(), 5, "{files:?}");
    assert!(files.contains(&"a_b.toml".to_string()), "{files:?}");
    // Each file holds its own trace.
    let mut traces: Vec<String> = files
        .iter()
        .map(|f| {
            let doc: toml::Value =
                toml::from_str(&std::fs::read_to_string(out.join(f)).unwrap()).unwrap();
            doc["name"].as_str().unwrap().to_string()
        })
        .collect();
    traces.sort();
    assert_eq!(traces.len(), 5);
    traces.dedup();
    assert_eq!(traces.len(), 5);
}

#[test]
fn generate_replaces_a_larger_set_whole_and_analyze_reads_only_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("g");
    let d = dir.to_str().unwrap();
    ok(&["generate", "--graphs", "400", "--files", "4", "-o", d]);
    ok(&["generate", "--graphs", "100", "--files", "2", "-o", d]);
    assert_eq!(names(&dir), ["alibaba-0.csv", "alibaba-1.csv"]);
    let o = ok(&[
        "analyze",
        "--traces",
        d,
        "--format",
        "json",
        "--temp-dir",
        tmp.path().to_str().unwrap(),
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["graphs"], 100, "only the new set is read");
}

#[test]
fn an_interrupted_generate_leaves_the_earlier_set() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("g");
    let d = dir.to_str().unwrap();
    ok(&[
        "generate", "--graphs", "300", "--files", "3", "--seed", "1", "-o", d,
    ]);
    let before: Vec<(String, Vec<u8>)> = names(&dir)
        .into_iter()
        .map(|n| {
            let bytes = std::fs::read(dir.join(&n)).unwrap();
            (n, bytes)
        })
        .collect();
    let mut child = common::meshinsight()
        .args([
            "generate", "--graphs", "3000000", "--files", "2", "--seed", "2", "-o", d,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Interrupt it once it is writing (its staging directory exists).
    let deadline = Instant::now() + Duration::from_secs(60);
    while !names(&dir)
        .iter()
        .any(|n| n.starts_with(".meshinsight-staging-"))
    {
        assert!(
            child.try_wait().unwrap().is_none(),
            "generate ended too soon"
        );
        assert!(Instant::now() < deadline, "no staging directory appeared");
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(200));
    // SAFETY: kill(2) on our own child's pid.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    assert_eq!(child.wait().unwrap().code(), Some(130));
    let after: Vec<(String, Vec<u8>)> = names(&dir)
        .into_iter()
        .map(|n| {
            let bytes = std::fs::read(dir.join(&n)).unwrap();
            (n, bytes)
        })
        .collect();
    assert!(
        before == after,
        "the earlier set changed: {:?}",
        names(&dir)
    );
}

/// Every file a command writes has the permissions the umask gives, and an existing file
/// keeps its own.
#[test]
fn written_files_take_the_umask_permissions() {
    let tmp = tempfile::tempdir().unwrap();
    let t = |p: &str| tmp.path().join(p);
    let mode = |p: &PathBuf| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let umask = |cmd: &mut Command, m: u32| {
        use std::os::unix::process::CommandExt;
        // SAFETY: umask(2) in the child before exec; it touches no memory.
        unsafe {
            cmd.pre_exec(move || {
                libc::umask(m as libc::mode_t);
                Ok(())
            });
        }
    };
    let run = |args: Vec<String>, m: u32| {
        let mut cmd = common::meshinsight();
        cmd.args(&args);
        umask(&mut cmd, m);
        let o = cmd.output().unwrap();
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let speedup = t("s.toml");
    let plot = t("cdf.svg");
    let fixtures = t("fx");
    let generated = t("gen");
    for m in [0o022, 0o077, 0o002] {
        for p in [&speedup, &plot] {
            let _ = std::fs::remove_file(p);
        }
        let _ = std::fs::remove_dir_all(&fixtures);
        let _ = std::fs::remove_dir_all(&generated);
        run(
            [
                "speedup",
                "--base",
                "fixtures/profiles/socc23-envoy-1.21.json",
                "--variant",
                "fixtures/profiles/socc23-envoy-1.21.json",
                "-o",
            ]
            .iter()
            .map(|a| a.to_string())
            .chain([s(&speedup)])
            .collect(),
            m,
        );
        run(
            vec![
                "analyze".into(),
                "--traces".into(),
                "fixtures/traces/alibaba-v2021-a.csv".into(),
                "--plot".into(),
                s(&plot),
                "--temp-dir".into(),
                s(tmp.path()),
            ],
            m,
        );
        run(
            vec![
                "import".into(),
                "jaeger".into(),
                "fixtures/traces/jaeger-crisp.json".into(),
                "-o".into(),
                s(&fixtures),
            ],
            m,
        );
        run(
            vec![
                "generate".into(),
                "--graphs".into(),
                "20".into(),
                "-o".into(),
                s(&generated),
            ],
            m,
        );
        let want = 0o666 & !m;
        let mut written = vec![speedup.clone(), plot.clone()];
        written.extend(names(&fixtures).iter().map(|n| fixtures.join(n)));
        written.extend(names(&generated).iter().map(|n| generated.join(n)));
        assert!(written.len() >= 6, "{written:?}");
        for p in &written {
            assert_eq!(mode(p), want, "{} under umask {m:03o}", p.display());
        }
    }
    // An existing 0644 file stays 0644 under umask 077.
    std::fs::set_permissions(&speedup, std::fs::Permissions::from_mode(0o644)).unwrap();
    run(
        [
            "speedup",
            "--base",
            "fixtures/profiles/socc23-envoy-1.21.json",
            "--variant",
            "fixtures/profiles/socc23-envoy-1.21.json",
            "-o",
        ]
        .iter()
        .map(|a| a.to_string())
        .chain([s(&speedup)])
        .collect(),
        0o077,
    );
    assert_eq!(mode(&speedup), 0o644);
}

#[test]
fn a_closed_standard_output_is_an_error_not_a_silent_success() {
    use std::os::unix::process::CommandExt;
    let mut cmd = common::meshinsight();
    cmd.args(["predict", "--ecg", "fixtures/ecg/chain-3hop.toml"]);
    // SAFETY: close(2) of descriptor 1 in the child before exec, as `>&-` does.
    unsafe {
        cmd.pre_exec(|| {
            libc::close(1);
            Ok(())
        });
    }
    let o = cmd.stderr(Stdio::piped()).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(101), "{stderr}");
    assert!(stderr.contains("error: failed to write"), "{stderr}");
    assert!(stderr.contains("standard output is closed"), "{stderr}");
}
