//! `cargo meshinsight bench`: the black-box overhead of a sidecar, the ground truth the
//! component model must explain.
//!
//! One echo application and one sidecar in front of it stay up for the whole benchmark. Each
//! of K repetitions runs the load twice, straight to the echo application (baseline) and
//! through the sidecar, alternating which goes first. The overhead of a percentile is the mean
//! over repetitions of (sidecar − baseline), with a Student-t 95 % confidence interval from
//! the spread of those K differences. Baseline and sidecar percentiles are over all
//! repetitions' requests pooled.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};

use super::cpus::{CpuList, CpuPlan};
use super::loadgen::{
    ClosedLoop, Latency, LoadResult, OpenLoop, Stop, run_closed_loop, run_open_loop,
};
use super::process::{AffinityGuard, TempDir, confine_current_thread};
use super::sidecar::{RunningSidecar, Sidecar, Upstream};
use super::{EchoServer, Endpoint, FORMAT_VERSION, HarnessError, Launch};
use crate::vocab::{Filter, Mode, SidecarConfig};

/// What to benchmark.
#[derive(Clone, Debug)]
pub struct BenchConfig {
    /// The sidecar under test.
    pub sidecar: Sidecar,
    /// Its mode and filters.
    pub config: SidecarConfig,
    /// Payload bytes per request and per response.
    pub size: usize,
    /// Open loop at this rate (requests per second); closed loop when `None`.
    pub rate: Option<f64>,
    /// Repetitions (each measures baseline and sidecar once).
    pub repeat: usize,
    /// Closed loop: measured requests per run.
    pub requests: u64,
    /// Open loop: measured time per run.
    pub duration: Duration,
    /// Closed loop: requests before measuring (open loop: a tenth of `duration`).
    pub warmup: u64,
    /// Open loop: requests in flight at most.
    pub connections: usize,
    /// Pin the load generator, the echo application and the sidecar to separate CPUs.
    pub pin: bool,
    /// The CPUs to measure on (real ids, within the allowed set); `None`: the allowed set.
    pub cpus: Option<CpuList>,
}

impl BenchConfig {
    /// Defaults: 100 bytes, closed loop, 5 repetitions of 2000 requests.
    pub fn new(sidecar: Sidecar, config: SidecarConfig) -> Self {
        BenchConfig {
            sidecar,
            config,
            size: 100,
            rate: None,
            repeat: 5,
            requests: 2000,
            duration: Duration::from_secs(1),
            warmup: 200,
            connections: 32,
            pin: false,
            cpus: None,
        }
    }
}

/// Progress of a benchmark, for a progress bar.
#[derive(Clone, Debug)]
pub enum BenchProgress {
    /// Processes are up; `runs` load runs follow.
    Started {
        /// Number of load runs.
        runs: usize,
        /// The sidecar's version, when known.
        sidecar_version: Option<String>,
    },
    /// One load run finished.
    RunDone {
        /// Whether it went through the sidecar.
        with_sidecar: bool,
        /// Its median latency, µs.
        p50_us: f64,
    },
}

/// One repetition's two runs.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Repetition {
    /// Straight to the echo application.
    pub baseline: Latency,
    /// Through the sidecar.
    pub sidecar: Latency,
}

/// The result of `bench`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BenchResult {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// `envoy`, `builtin` or `command`.
    pub sidecar: String,
    /// The sidecar's version, when known.
    pub sidecar_version: Option<String>,
    /// Protocol.
    pub mode: Mode,
    /// Filters.
    pub filters: Vec<Filter>,
    /// How the sidecar reached the application.
    pub upstream: Upstream,
    /// Payload bytes.
    pub size: usize,
    /// Open-loop rate; `None` for a closed loop.
    pub rate: Option<f64>,
    /// Repetitions.
    pub repeat: usize,
    /// Measured requests per run (summed over repetitions: `repeat` times this).
    pub requests_per_run: u64,
    /// Baseline median, µs (all repetitions pooled).
    pub baseline_p50_us: f64,
    /// Baseline 90th percentile, µs.
    pub baseline_p90_us: f64,
    /// Baseline 99th percentile, µs.
    pub baseline_p99_us: f64,
    /// Baseline mean, µs.
    pub baseline_mean_us: f64,
    /// Median through the sidecar, µs.
    pub sidecar_p50_us: f64,
    /// 90th percentile through the sidecar, µs.
    pub sidecar_p90_us: f64,
    /// 99th percentile through the sidecar, µs.
    pub sidecar_p99_us: f64,
    /// Mean through the sidecar, µs.
    pub sidecar_mean_us: f64,
    /// Overhead of the median: mean over repetitions of (sidecar − baseline), µs.
    pub overhead_p50_us: f64,
    /// Half-width of its 95 % confidence interval, µs (`None` with one repetition).
    pub overhead_ci95_us: Option<f64>,
    /// Standard deviation of the per-repetition median overheads, µs.
    pub overhead_p50_stdev_us: Option<f64>,
    /// Overhead of the 90th percentile, µs.
    pub overhead_p90_us: f64,
    /// Overhead of the 99th percentile, µs.
    pub overhead_p99_us: f64,
    /// Overhead of the mean, µs.
    pub overhead_mean_us: f64,
    /// Half-width of its 95 % confidence interval, µs.
    pub overhead_mean_ci95_us: Option<f64>,
    /// Every repetition.
    pub repetitions: Vec<Repetition>,
}

/// Mean, and the half-width of the Student-t 95 % interval and the standard deviation when
/// there are at least two values.
pub fn mean_ci95(values: &[f64]) -> (f64, Option<f64>, Option<f64>) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return (mean, None, None);
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let sd = var.sqrt();
    let t = StudentsT::new(0.0, 1.0, n - 1.0)
        .expect("positive degrees of freedom")
        .inverse_cdf(0.975);
    (mean, Some(t * sd / n.sqrt()), Some(sd))
}

/// Runs the benchmark. `progress` is told when processes are up and after every load run.
pub fn run_bench(
    launch: &Launch,
    cfg: &BenchConfig,
    progress: &mut dyn FnMut(BenchProgress),
) -> Result<BenchResult, HarnessError> {
    if cfg.repeat == 0 {
        return Err(HarnessError::Config("--repeat must be at least 1".into()));
    }
    // The load generator's pinning and confinement end with the benchmark.
    let _affinity = AffinityGuard::save();
    let mut bench = Bench::start(launch, cfg)?;
    progress(BenchProgress::Started {
        runs: 2 * cfg.repeat,
        sidecar_version: bench.sidecar.version().map(str::to_string),
    });
    let repetitions = (0..cfg.repeat)
        .map(|k| bench.repetition(k, progress))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(bench.result(repetitions))
}

/// A benchmark under way: the echo application and the sidecar in front of it, up for the
/// whole benchmark, and every run's latencies pooled per side.
struct Bench<'a> {
    cfg: &'a BenchConfig,
    load_cpu: Option<usize>,
    /// Holds the echo application's socket for a uds upstream.
    _socket_dir: TempDir,
    echo: EchoServer,
    sidecar: RunningSidecar,
    pooled_baseline: Histogram<u64>,
    pooled_sidecar: Histogram<u64>,
}

impl<'a> Bench<'a> {
    fn start(launch: &Launch, cfg: &'a BenchConfig) -> Result<Self, HarnessError> {
        let cpus = CpuPlan::new(cfg.pin, cfg.cpus.as_ref())?;
        if let Some(set) = &cpus.confine {
            confine_current_thread(set)?;
        }
        let socket_dir = TempDir::new("meshinsight-echo-", "a directory for the echo socket")?;
        launch.hand_over(&socket_dir)?;
        let uds =
            (cfg.sidecar.upstream() == Upstream::Uds).then(|| socket_dir.path().join("echo.sock"));
        let echo = EchoServer::start(launch, cfg.config.mode, uds.as_deref(), cpus.app.as_deref())?;
        let sidecar = cfg
            .sidecar
            .start(launch, &cfg.config, &echo, cpus.sidecar.as_deref())?;
        Ok(Bench {
            cfg,
            load_cpu: cpus.load,
            _socket_dir: socket_dir,
            echo,
            sidecar,
            pooled_baseline: new_histogram(),
            pooled_sidecar: new_histogram(),
        })
    }

    /// One load run at `target`: the closed loop, or the open loop at the configured rate.
    fn load(&self, target: &Endpoint) -> Result<LoadResult, HarnessError> {
        let cfg = self.cfg;
        match cfg.rate {
            None => run_closed_loop(&ClosedLoop {
                mode: cfg.config.mode,
                target: target.clone(),
                size: cfg.size,
                warmup: cfg.warmup,
                stop: Stop::Requests(cfg.requests),
                pin_cpu: self.load_cpu,
            }),
            Some(rate) => run_open_loop(&OpenLoop {
                mode: cfg.config.mode,
                target: target.clone(),
                size: cfg.size,
                rate,
                connections: cfg.connections,
                warmup: cfg.duration / 10,
                duration: cfg.duration,
                pin_cpu: self.load_cpu,
            }),
        }
    }

    /// One run straight to the application or through the sidecar, pooled with its side's.
    fn run(&mut self, with_sidecar: bool) -> Result<LoadResult, HarnessError> {
        let target = if with_sidecar {
            self.sidecar.listen().clone()
        } else {
            self.echo.endpoint().clone()
        };
        let result = match self.load(&target) {
            Ok(r) => r,
            Err(e) => {
                // A dead process explains a failed run better than the failed request.
                if with_sidecar {
                    self.sidecar
                        .check_running_after(Duration::from_millis(500))?;
                }
                self.echo.check_running()?;
                return Err(e);
            }
        };
        self.sidecar.check_running()?;
        let pooled = if with_sidecar {
            &mut self.pooled_sidecar
        } else {
            &mut self.pooled_baseline
        };
        if let Some(h) = result.histogram() {
            let _ = pooled.add(h);
        }
        Ok(result)
    }

    /// Repetition `k`: both runs, the baseline first in even repetitions.
    fn repetition(
        &mut self,
        k: usize,
        progress: &mut dyn FnMut(BenchProgress),
    ) -> Result<Repetition, HarnessError> {
        let order = if k.is_multiple_of(2) {
            [false, true]
        } else {
            [true, false]
        };
        let (mut baseline, mut sidecar) = (None, None);
        for with_sidecar in order {
            let result = self.run(with_sidecar)?;
            progress(BenchProgress::RunDone {
                with_sidecar,
                p50_us: result.latency.p50_us,
            });
            if with_sidecar {
                sidecar = Some(result.latency);
            } else {
                baseline = Some(result.latency);
            }
        }
        Ok(Repetition {
            baseline: baseline.expect("baseline ran"),
            sidecar: sidecar.expect("sidecar ran"),
        })
    }

    /// The overheads (mean over repetitions of sidecar − baseline, with their intervals) and
    /// the pooled percentiles.
    fn result(self, repetitions: Vec<Repetition>) -> BenchResult {
        let cfg = self.cfg;
        let diffs = |f: fn(&Latency) -> f64| -> Vec<f64> {
            repetitions
                .iter()
                .map(|r| f(&r.sidecar) - f(&r.baseline))
                .collect()
        };
        let (overhead_p50_us, overhead_ci95_us, overhead_p50_stdev_us) =
            mean_ci95(&diffs(|l| l.p50_us));
        let (overhead_p90_us, _, _) = mean_ci95(&diffs(|l| l.p90_us));
        let (overhead_p99_us, _, _) = mean_ci95(&diffs(|l| l.p99_us));
        let (overhead_mean_us, overhead_mean_ci95_us, _) = mean_ci95(&diffs(|l| l.mean_us));
        let b = Latency::from_histogram(&self.pooled_baseline);
        let s = Latency::from_histogram(&self.pooled_sidecar);
        BenchResult {
            format_version: FORMAT_VERSION,
            sidecar: cfg.sidecar.name().to_string(),
            sidecar_version: self.sidecar.version().map(str::to_string),
            mode: cfg.config.mode,
            filters: cfg.config.filters.clone(),
            upstream: cfg.sidecar.upstream(),
            size: cfg.size,
            rate: cfg.rate,
            repeat: cfg.repeat,
            requests_per_run: repetitions_requests(cfg),
            baseline_p50_us: b.p50_us,
            baseline_p90_us: b.p90_us,
            baseline_p99_us: b.p99_us,
            baseline_mean_us: b.mean_us,
            sidecar_p50_us: s.p50_us,
            sidecar_p90_us: s.p90_us,
            sidecar_p99_us: s.p99_us,
            sidecar_mean_us: s.mean_us,
            overhead_p50_us,
            overhead_ci95_us,
            overhead_p50_stdev_us,
            overhead_p90_us,
            overhead_p99_us,
            overhead_mean_us,
            overhead_mean_ci95_us,
            repetitions,
        }
    }
}

fn repetitions_requests(cfg: &BenchConfig) -> u64 {
    match cfg.rate {
        None => cfg.requests,
        Some(rate) => (rate * cfg.duration.as_secs_f64()).round() as u64,
    }
}

fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000_000, 3).expect("valid histogram bounds")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confidence_interval_uses_student_t() {
        let (mean, ci, sd) = mean_ci95(&[10.0, 12.0, 14.0]);
        assert_eq!(mean, 12.0);
        assert!((sd.unwrap() - 2.0).abs() < 1e-12);
        // t(0.975, 2) = 4.303: 4.303 * 2 / sqrt(3) = 4.968.
        assert!((ci.unwrap() - 4.968).abs() < 0.01, "{ci:?}");
        assert_eq!(mean_ci95(&[5.0]), (5.0, None, None));
    }
}
