//! The probe's own cost: loopback ping-pong round trips with and without the probe.
//! Run with `cargo-meshinsight __probe-overhead` (docs/probe.md has the numbers).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::{Probe, ProbeComponent, ProbeError, ProbeOptions, ProbeSet, Role, capability};
use crate::util::stats::quantile;

/// What to run.
#[derive(Clone, Debug)]
pub(crate) struct OverheadConfig {
    /// Pairs of blocks (one without, one with the probe; the order alternates).
    pub repetitions: usize,
    /// Round trips per block.
    pub round_trips: usize,
    /// Bytes per message.
    pub size: usize,
    /// Pin this thread to CPU 0 and the echo server to CPU 1.
    pub pin: bool,
    /// The probe's options.
    pub options: ProbeOptions,
}

/// The result: per-repetition mean round trips and their differences.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct OverheadReport {
    /// The programs that measured.
    pub probe_set: ProbeSet,
    /// Why the raw tracepoint set was not used, if it was wanted and failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_reason: Option<String>,
    /// Pairs of blocks.
    pub repetitions: usize,
    /// Round trips per block.
    pub round_trips: usize,
    /// Bytes per message.
    pub size: usize,
    /// Mean round trip of each block without the probe, ns.
    pub without_ns: Vec<f64>,
    /// Mean round trip of each block with the probe, ns.
    pub with_ns: Vec<f64>,
    /// Median of `without_ns`.
    pub median_without_ns: f64,
    /// Median of `with_ns`.
    pub median_with_ns: f64,
    /// Median of the paired differences (with − without), ns: the added cost per round trip.
    pub median_added_ns: f64,
    /// 25th percentile of the paired differences, ns.
    pub added_p25_ns: f64,
    /// 75th percentile of the paired differences, ns.
    pub added_p75_ns: f64,
    /// Reads the probe saw in this process: proof that it was attached in the probed blocks.
    pub probed_reads: u64,
    /// Median on-CPU time of both processes per round trip without the probe, ns.
    pub median_cpu_without_ns: f64,
    /// Median of the paired differences of on-CPU time per round trip, ns: the CPU the
    /// probe adds to the two processes (its programs run in their context).
    pub median_cpu_added_ns: f64,
    /// 25th percentile of those differences, ns.
    pub cpu_added_p25_ns: f64,
    /// 75th percentile of those differences, ns.
    pub cpu_added_p75_ns: f64,
}

/// Errors of the benchmark.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OverheadError {
    /// The echo server or the socket failed.
    #[error("run the ping-pong")]
    Io(#[from] io::Error),
    /// The probe failed.
    #[error(transparent)]
    Probe(#[from] ProbeError),
}

struct Echo {
    child: Child,
    stream: TcpStream,
}

impl Drop for Echo {
    fn drop(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
        let _ = self.child.wait();
    }
}

fn pin(pid: u32, cpu: usize) -> io::Result<()> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes inside it.
    let rc = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(pid as libc::pid_t, size_of::<libc::cpu_set_t>(), &set)
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// On-CPU ns of all threads of `pid` so far, from the scheduler (`/proc/PID/task/*/schedstat`).
fn sched_cpu_ns(pid: u32) -> io::Result<u64> {
    let mut total = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let text = std::fs::read_to_string(task?.path().join("schedstat"))?;
        total += text
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Ok(total)
}

/// One block: (mean round trip, mean on-CPU time of both processes per round trip), ns.
fn block(echo: &mut Echo, round_trips: usize, size: usize) -> io::Result<(f64, f64)> {
    let msg = vec![0x33u8; size];
    let mut buf = vec![0u8; size];
    let pids = [std::process::id(), echo.child.id()];
    let cpu0: u64 = pids
        .iter()
        .map(|&p| sched_cpu_ns(p))
        .sum::<io::Result<u64>>()?;
    let start = Instant::now();
    for _ in 0..round_trips {
        echo.stream.write_all(&msg)?;
        echo.stream.read_exact(&mut buf)?;
    }
    let elapsed = start.elapsed().as_nanos() as f64;
    let cpu1: u64 = pids
        .iter()
        .map(|&p| sched_cpu_ns(p))
        .sum::<io::Result<u64>>()?;
    let n = round_trips as f64;
    Ok((elapsed / n, (cpu1 - cpu0) as f64 / n))
}

/// Runs the benchmark; `exe` is this program (it serves `__probe-workload echo`).
///
/// The probe is loaded once and then attached and detached around the probed blocks, from
/// the calling thread, which therefore mounts tracefs in a private mount namespace of its
/// own when the host has none mounted and the classic set is used.
pub(crate) fn run(
    cfg: &OverheadConfig,
    exe: &std::path::Path,
    mut progress: impl FnMut(usize),
) -> Result<OverheadReport, OverheadError> {
    let mut child = Command::new(exe)
        .args(["__probe-workload", "echo", "--size", &cfg.size.to_string()])
        .stdout(Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(
        child
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("no stdout"))?,
    )
    .read_line(&mut line)?;
    let port: u16 = line
        .trim()
        .parse()
        .map_err(|_| io::Error::other(format!("bad port line `{}`", line.trim())))?;
    let stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_nodelay(true)?;
    let mut echo = Echo { child, stream };
    if cfg.pin {
        pin(echo.child.id(), 1)?;
        pin(0, 0)?;
    }
    let targets = [
        (echo.child.id(), Role::App),
        (std::process::id(), Role::Client),
    ];
    let mut probe = Probe::attach(&targets, &cfg.options)?;
    if probe.probe_set() == ProbeSet::Tracepoint && capability::mounted_tracefs().is_none() {
        // Fell back to the classic set, which attaches (at every resume) through tracefs.
        capability::mount_private_tracefs()?;
    }
    probe.pause()?;
    let probe_set = probe.probe_set();
    let fallback_reason = probe.fallback_reason().map(str::to_string);
    // Warm up caches, the scheduler and the TCP connection.
    block(&mut echo, cfg.round_trips, cfg.size)?;
    let mut without = Vec::new();
    let mut with = Vec::new();
    let mut cpu_without = Vec::new();
    let mut cpu_with = Vec::new();
    for rep in 0..cfg.repetitions {
        let probed_first = rep % 2 == 1;
        for probed in [probed_first, !probed_first] {
            if probed {
                probe.resume()?;
                let (rtt, cpu) = block(&mut echo, cfg.round_trips, cfg.size)?;
                with.push(rtt);
                cpu_with.push(cpu);
                probe.pause()?;
            } else {
                let (rtt, cpu) = block(&mut echo, cfg.round_trips, cfg.size)?;
                without.push(rtt);
                cpu_without.push(cpu);
            }
        }
        progress(rep + 1);
    }
    let seen = probe.snapshot()?;
    drop(probe);
    let probed_reads = seen
        .process(std::process::id())
        .map_or(0, |p| p.components[&ProbeComponent::Read].count);
    let diffs: Vec<f64> = with.iter().zip(&without).map(|(w, o)| w - o).collect();
    let cpu_diffs: Vec<f64> = cpu_with
        .iter()
        .zip(&cpu_without)
        .map(|(w, o)| w - o)
        .collect();
    Ok(OverheadReport {
        probe_set,
        fallback_reason,
        repetitions: cfg.repetitions,
        round_trips: cfg.round_trips,
        size: cfg.size,
        median_without_ns: quantile(&without, 0.5),
        median_with_ns: quantile(&with, 0.5),
        median_added_ns: quantile(&diffs, 0.5),
        added_p25_ns: quantile(&diffs, 0.25),
        added_p75_ns: quantile(&diffs, 0.75),
        probed_reads,
        median_cpu_without_ns: quantile(&cpu_without, 0.5),
        median_cpu_added_ns: quantile(&cpu_diffs, 0.5),
        cpu_added_p25_ns: quantile(&cpu_diffs, 0.25),
        cpu_added_p75_ns: quantile(&cpu_diffs, 0.75),
        without_ns: without,
        with_ns: with,
    })
}

#[cfg(test)]
mod tests {}
