//! The whole adoption as a proxy team goes through it, measured for real: package the crate,
//! install it from the package into a temporary root, `cargo new` a workspace with a tiny
//! relay, `init`, `doctor`, the first baseline through the baseline job's script, a branch
//! that adds 30 µs of work per message to the relay, the check job's script (exit 100, naming
//! `other`) and the comment job's script posting to a fake GitHub and updating its comment on
//! a second run. It measures (root) and builds the tool in release mode, so it is a
//! `privileged_*` test: run it holding the measure lock.

mod support {
    pub mod fake_github;
}

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use support::fake_github::{FakeGithub, FakePull};

/// The relay: `relay --listen ADDR --upstream ADDR --mode tcp|http`, std only. `busy()` is
/// where the slower version does its extra work, once per message and direction.
const RELAY: &str = r#"//! A tiny TCP and HTTP/1.1 relay: listen, connect upstream, copy both ways.
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};

fn busy() {}

fn tcp(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n) = from.read(&mut buf) {
        if n == 0 {
            break;
        }
        busy();
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// One message (head and content-length body) at a time.
fn http(from: TcpStream, mut to: TcpStream) {
    let mut from = BufReader::new(from);
    loop {
        let mut message = Vec::new();
        let mut length = 0;
        loop {
            let mut line = Vec::new();
            match from.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => {
                    let _ = to.shutdown(Shutdown::Write);
                    return;
                }
                Ok(_) => {}
            }
            let text = String::from_utf8_lossy(&line).to_ascii_lowercase();
            if let Some(v) = text.strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
            message.extend_from_slice(&line);
            if line == b"\r\n" {
                break;
            }
        }
        let start = message.len();
        message.resize(start + length, 0);
        if from.read_exact(&mut message[start..]).is_err() {
            return;
        }
        busy();
        if to.write_all(&message).is_err() {
            return;
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| {
        let i = args.iter().position(|a| a == name).unwrap_or_else(|| panic!("{name} is required"));
        args[i + 1].clone()
    };
    let (listen, upstream, mode) = (flag("--listen"), flag("--upstream"), flag("--mode"));
    let copy: fn(TcpStream, TcpStream) = match mode.as_str() {
        "tcp" => tcp,
        "http" => http,
        other => panic!("mode {other} is not supported"),
    };
    let listener = TcpListener::bind(&listen).expect("listen");
    for client in listener.incoming().flatten() {
        let Ok(server) = TcpStream::connect(&upstream) else { continue };
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
        std::thread::spawn(move || copy(client, server));
        std::thread::spawn(move || copy(s2, c2));
    }
}
"#;

const BUSY: &str = "fn busy() {\n    let start = std::time::Instant::now();\n    while start.elapsed() < std::time::Duration::from_micros(30) {\n        std::hint::spin_loop();\n    }\n}";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn shown(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        text(&o.stdout),
        text(&o.stderr)
    )
}

/// A command with the environment `cargo test` gives this test removed (the adopter's builds
/// must use their own target directory and package).
fn clean(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut c = Command::new(program);
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        if k.starts_with("CARGO_PKG_")
            || k.starts_with("CARGO_MANIFEST_")
            || k.starts_with("CARGO_BIN_")
            || k.starts_with("CARGO_CRATE_")
            || k == "CARGO_TARGET_DIR"
            || k == "CARGO_PRIMARY_PACKAGE"
            || k == "OUT_DIR"
        {
            c.env_remove(k);
        }
    }
    c.env("NO_COLOR", "1");
    c
}

fn ok(what: &str, o: Output) -> Output {
    assert!(o.status.success(), "{what}: {}", shown(&o));
    o
}

fn git(dir: &Path, args: &[&str]) -> String {
    let o = clean("git").args(args).current_dir(dir).output().unwrap();
    text(&ok(&format!("git {args:?}"), o).stdout)
        .trim()
        .to_string()
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// Packages the crate, unpacks it and installs it from there with the install script into
/// `tools`; returns the binary. The build shares this workspace's target directory (with its
/// release settings), so only the crate itself is compiled again.
fn install_from_package(tmp: &Path) -> PathBuf {
    let pkg = tmp.join("package");
    ok(
        "cargo package",
        clean(cargo())
            .args([
                "package",
                "--no-verify",
                "--allow-dirty",
                "--offline",
                "-p",
                "cargo-meshinsight",
                "--target-dir",
            ])
            .arg(&pkg)
            .current_dir(repo_root())
            .output()
            .unwrap(),
    );
    let version = env!("CARGO_PKG_VERSION");
    let krate = pkg.join(format!("package/cargo-meshinsight-{version}.crate"));
    // Outside the workspace (cargo would take it for a member), at a fixed place.
    let source = unpack(&krate, &std::env::temp_dir().join("meshinsight-adopt-e2e"));
    assert!(
        source.join("bpf/probe.bpf.o").is_file() && !source.join("bpf/probe.bpf.o").is_symlink(),
        "the package carries its BPF object"
    );
    let o = ok(
        "ci/meshinsight-install.sh",
        clean("bash")
            .arg(repo_root().join("ci/meshinsight-install.sh"))
            .env("MESHINSIGHT_VERSION", version)
            .env("MESHINSIGHT_ROOT", tmp.join("tools"))
            .env("MESHINSIGHT_SOURCE", &source)
            .env("CARGO_NET_OFFLINE", "true")
            .env("CARGO_TARGET_DIR", repo_root().join("target"))
            .env("CARGO_PROFILE_RELEASE_DEBUG", "line-tables-only")
            .current_dir(tmp)
            .output()
            .unwrap(),
    );
    let bin = PathBuf::from(text(&o.stdout).trim());
    assert_eq!(
        bin,
        tmp.join(format!("tools/{version}/bin/cargo-meshinsight"))
    );
    // Outside any clone: from the temporary directory, in both forms.
    for args in [&["meshinsight", "--version"][..], &["--version"][..]] {
        let o = ok(
            "--version",
            clean(&bin).args(args).current_dir(tmp).output().unwrap(),
        );
        assert_eq!(text(&o.stdout), format!("cargo-meshinsight {version}\n"));
    }
    bin
}

/// Unpacks `krate` into `parent`, and leaves an earlier unpacked copy as it is when the files
/// are the same: cargo judges a path source by its files' times, so an unchanged copy keeps
/// the release build fresh, and a changed one is unpacked with new times and rebuilt.
fn unpack(krate: &Path, parent: &Path) -> PathBuf {
    std::fs::create_dir_all(parent).unwrap();
    let name = krate.file_stem().unwrap().to_string_lossy().into_owned();
    let dest = parent.join(&name);
    let fresh = tempfile::tempdir_in(parent).unwrap();
    let tar = |dir: &Path, touch: bool| {
        let mut c = Command::new("tar");
        c.arg("xzf").arg(krate).arg("-C").arg(dir);
        if touch {
            c.arg("--touch");
        }
        ok("tar", c.output().unwrap());
    };
    tar(fresh.path(), false);
    if files(&dest) != files(&fresh.path().join(&name)) {
        let _ = std::fs::remove_dir_all(&dest);
        tar(parent, true);
    }
    dest
}

/// Every file under `dir` with its bytes (empty when `dir` does not exist), but the record of
/// the commit it was packaged from, which does not change what is built.
fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if !p.ends_with(".cargo_vcs_info.json") {
                out.push((
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                ));
            }
        }
    }
    out.sort();
    out
}

/// `cargo new` of the relay, in git on `main`, pushed to a bare `origin`.
fn new_relay(tmp: &Path) -> (PathBuf, PathBuf) {
    let dir = tmp.join("relay");
    ok(
        "cargo new",
        clean(cargo())
            .args(["new", "--vcs", "git", "--bin", "relay"])
            .current_dir(tmp)
            .output()
            .unwrap(),
    );
    std::fs::write(dir.join("src/main.rs"), RELAY).unwrap();
    git(&dir, &["config", "user.name", "Proxy Team"]);
    git(&dir, &["config", "user.email", "team@example.com"]);
    git(&dir, &["checkout", "-q", "-b", "main"]);
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-q", "-m", "a relay"]);
    let remote = tmp.join("origin.git");
    git(
        tmp,
        &[
            "init",
            "-q",
            "--bare",
            "-b",
            "main",
            remote.to_str().unwrap(),
        ],
    );
    git(&dir, &["remote", "add", "origin", remote.to_str().unwrap()]);
    git(&dir, &["push", "-q", "origin", "main"]);
    (dir, remote)
}

/// Every object of the JSON verdict judged a regression, as text.
fn regressed(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(map) => {
            if map.get("verdict").and_then(|x| x.as_str()) == Some("regression") {
                out.push(v.to_string());
            }
            map.values().for_each(|x| regressed(x, out));
        }
        serde_json::Value::Array(items) => items.iter().for_each(|x| regressed(x, out)),
        _ => {}
    }
}

/// A progress line, straight to standard error (not captured): the test takes minutes.
fn step(start: Instant, what: &str) {
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr(),
        "[{:>5.0}s] {what}",
        start.elapsed().as_secs_f64()
    );
}

#[test]
fn privileged_adopt_end_to_end() {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "this test measures: run it as root"
    );
    let start = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let tmp = tmp.path();
    let bin = install_from_package(tmp);
    step(start, "installed from the package");
    let (relay, remote) = new_relay(tmp);
    let tool = |args: &[&str]| {
        clean(&bin)
            .arg("meshinsight")
            .args(args)
            .current_dir(&relay)
            .output()
            .unwrap()
    };

    let o = ok("init", tool(&["init"]));
    assert!(
        text(&o.stderr).contains(
            "sidecar = { bin = \"relay\" } (the binary target `relay` looks like a proxy)"
        ),
        "{}",
        shown(&o)
    );
    git(&relay, &["add", "-A"]);
    git(&relay, &["commit", "-q", "-m", "the gate"]);
    git(&relay, &["push", "-q", "origin", "main"]);
    let o = tool(&["doctor", "--sample", "1s"]);
    assert_eq!(o.status.code(), Some(0), "doctor: {}", shown(&o));
    assert!(text(&o.stdout).contains("✔ privileges"), "{}", shown(&o));
    step(start, "init and doctor");

    let script = |name: &str, env: &[(&str, &str)], args: &[&str]| {
        let mut c = clean("bash");
        c.arg(relay.join("ci").join(name))
            .args(args)
            .current_dir(&relay)
            .env("MESHINSIGHT_BIN", &bin);
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    };
    ok(
        "the baseline job",
        script("meshinsight-baseline.sh", &[], &["--quick"]),
    );
    let subject = git(&remote, &["log", "-1", "--format=%s", "main"]);
    assert!(
        subject.starts_with("meshinsight: update baseline for relay-"),
        "{subject}"
    );
    step(start, "the first baseline");

    git(&relay, &["checkout", "-q", "-b", "slower"]);
    let main_rs = std::fs::read_to_string(relay.join("src/main.rs")).unwrap();
    std::fs::write(
        relay.join("src/main.rs"),
        main_rs.replace("fn busy() {}", BUSY),
    )
    .unwrap();
    git(&relay, &["commit", "-q", "-am", "30 µs more per message"]);
    let head = git(&relay, &["rev-parse", "HEAD"]);
    let o = script(
        "meshinsight-check.sh",
        &[("GITHUB_BASE_REF", "main")],
        &["--quick"],
    );
    assert_eq!(o.status.code(), Some(100), "the check job: {}", shown(&o));
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(relay.join("meshinsight-out/report.json")).unwrap(),
    )
    .unwrap();
    let mut regressions = Vec::new();
    regressed(&report, &mut regressions);
    assert!(
        regressions.iter().any(|r| r.contains("\"other\"")),
        "`other` is among what regressed: {regressions:#?}\n{}",
        shown(&o)
    );
    step(start, "the check of the slower relay");

    let fake = FakeGithub::start();
    fake.state.lock().unwrap().pulls.push(FakePull {
        number: 7,
        head_label: "team:slower".into(),
        head_sha: head.clone(),
        base: "main".into(),
        title: "30 µs more".into(),
    });
    let env = [
        ("GITHUB_TOKEN", "ghs_e2eToken"),
        ("GITHUB_REPOSITORY", "team/relay"),
        ("GITHUB_API_URL", fake.url.as_str()),
        ("MESHINSIGHT_PR", "7"),
        ("MESHINSIGHT_HEAD_SHA", head.as_str()),
        ("MESHINSIGHT_RUN_CONCLUSION", "failure"),
        (
            "MESHINSIGHT_RUN_URL",
            "https://github.example/team/relay/actions/runs/1",
        ),
    ];
    for _ in 0..2 {
        ok(
            "the comment job",
            script("meshinsight-comment.sh", &env, &[]),
        );
    }
    let s = fake.state.lock().unwrap();
    assert_eq!(s.comments.len(), 1, "{:?}", s.comments);
    assert!(
        s.comments[0]
            .2
            .starts_with("<!-- cargo-meshinsight:gate:relay-"),
        "{}",
        s.comments[0].2
    );
    let posts = s.log.iter().filter(|l| l.starts_with("POST")).count();
    let patches = s.log.iter().filter(|l| l.starts_with("PATCH")).count();
    assert_eq!((posts, patches), (1, 1), "{:?}", s.log);
    step(start, "commented, then updated the comment");
}
