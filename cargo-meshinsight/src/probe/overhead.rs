//! The probe's own cost: loopback ping-pong round trips with and without the probe.
//! Run with `cargo-meshinsight __probe-overhead` (docs/probe.md has the numbers).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::{Probe, ProbeError, ProbeOptions, Role};

/// What to run.
#[derive(Clone, Debug)]
pub struct OverheadConfig {
    /// Pairs of blocks (one without, one with the probe; the order alternates).
    pub repetitions: usize,
    /// Round trips per block.
    pub round_trips: usize,
    /// Bytes per message.
    pub size: usize,
}

/// The result: per-repetition mean round trips and their differences.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OverheadReport {
    /// The configuration.
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
    /// 25th and 75th percentile of the paired differences, ns.
    pub added_p25_ns: f64,
    /// See `added_p25_ns`.
    pub added_p75_ns: f64,
}

/// Errors of the benchmark.
#[derive(Debug, thiserror::Error)]
pub enum OverheadError {
    /// The echo server or the socket failed.
    #[error("run the ping-pong")]
    Io(#[from] io::Error),
    /// The probe failed.
    #[error(transparent)]
    Probe(#[from] ProbeError),
}

fn quantile(values: &[f64], q: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return 0.0;
    }
    let pos = q * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
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

fn block(stream: &mut TcpStream, round_trips: usize, size: usize) -> io::Result<f64> {
    let msg = vec![0x33u8; size];
    let mut buf = vec![0u8; size];
    let start = Instant::now();
    for _ in 0..round_trips {
        stream.write_all(&msg)?;
        stream.read_exact(&mut buf)?;
    }
    Ok(start.elapsed().as_nanos() as f64 / round_trips as f64)
}

/// Runs the benchmark; `exe` is this program (it serves `__probe-workload echo`).
pub fn run(
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
    let targets = [
        (echo.child.id(), Role::App),
        (std::process::id(), Role::Client),
    ];
    // Warm up caches, the scheduler and the TCP connection.
    block(&mut echo.stream, cfg.round_trips, cfg.size)?;
    let mut without = Vec::new();
    let mut with = Vec::new();
    for rep in 0..cfg.repetitions {
        let probed_first = rep % 2 == 1;
        for probed in [probed_first, !probed_first] {
            if probed {
                let probe = Probe::attach(&targets, &ProbeOptions::default())?;
                with.push(block(&mut echo.stream, cfg.round_trips, cfg.size)?);
                drop(probe);
            } else {
                without.push(block(&mut echo.stream, cfg.round_trips, cfg.size)?);
            }
        }
        progress(rep + 1);
    }
    let diffs: Vec<f64> = with.iter().zip(&without).map(|(w, o)| w - o).collect();
    Ok(OverheadReport {
        repetitions: cfg.repetitions,
        round_trips: cfg.round_trips,
        size: cfg.size,
        median_without_ns: quantile(&without, 0.5),
        median_with_ns: quantile(&with, 0.5),
        median_added_ns: quantile(&diffs, 0.5),
        added_p25_ns: quantile(&diffs, 0.25),
        added_p75_ns: quantile(&diffs, 0.75),
        without_ns: without,
        with_ns: with,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn quantile_interpolates() {
        assert_eq!(super::quantile(&[3.0, 1.0, 2.0, 4.0], 0.5), 2.5);
        assert_eq!(super::quantile(&[5.0], 0.25), 5.0);
    }
}
