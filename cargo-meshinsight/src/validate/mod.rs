//! Accuracy validation: deploy an ECG for real on this machine, measure the
//! end-to-end overhead of the mesh (client latency and CPU of every process, with minus
//! without the sidecars), and compare it with what [`crate::predict`] says for the same ECG.
//!
//! - [`service`]: the `__service` process, which replays one call's timeline per request.
//! - [`deploy`]: services and sidecars started from an ECG.
//!
//! Connections (the entry call here, downstream calls in the services) are the harness's
//! client ([`crate::harness::client`]), with per-call request and response sizes.

pub(crate) mod deploy;
pub(crate) mod service;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::ecg::Ecg;
use crate::harness::client::{CallError, Client, Expect};
use crate::harness::wire;
use crate::harness::{HarnessError, Launch, Sidecar};
use crate::measure::MAX_CHAIN;
use crate::model::{CpuPrice, Profile};
use crate::predict::{PredictError, ProfileSet, call_costs, predict};

/// Version of the serialized [`ValidateReport`].
pub const FORMAT_VERSION: u32 = 1;

/// Why validation stopped.
#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    /// A process or connection failed.
    #[error(transparent)]
    Harness(#[from] HarnessError),
    /// The fixture cannot be deployed.
    #[error("cannot deploy {path}: {problem}")]
    Fixture {
        /// The fixture.
        path: PathBuf,
        /// Why.
        problem: deploy::DeployError,
    },
    /// The prediction for a fixture failed.
    #[error(transparent)]
    Predict(#[from] PredictError),
}

/// What to validate.
#[derive(Clone, Debug)]
pub struct ValidateConfig {
    /// The sidecar deployed in the mesh.
    pub sidecar: Sidecar,
    /// Fixture files.
    pub fixtures: Vec<PathBuf>,
    /// Measured requests per run.
    pub requests: u64,
    /// Requests before measuring.
    pub warmup: u64,
    /// Runs with and without the mesh, interleaved.
    pub repeat: u32,
    /// A case passes when its latency error is within this many percent.
    pub tolerance_pct: f64,
}

/// One measured run of a deployed topology.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Mean client-measured latency, µs.
    pub mean_us: f64,
    /// Median, µs.
    pub p50_us: f64,
    /// On-CPU time of all services and sidecars per request, µs.
    pub cpu_us: f64,
    /// The part of `cpu_us` spent in sidecar processes (0 without the mesh), µs.
    #[serde(default)]
    pub sidecar_cpu_us: f64,
}

/// The result of one fixture.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaseResult {
    /// The fixture's name.
    pub name: String,
    /// Its file.
    pub file: String,
    /// Calls in it.
    pub calls: usize,
    /// Sidecar processes deployed with the mesh.
    pub sidecars: usize,
    /// How many sidecars in series the profile that priced it was measured with.
    #[serde(default = "one")]
    pub profile_chain: u32,
    /// Runs without the mesh.
    pub without: Vec<Sample>,
    /// Runs with the mesh.
    pub with: Vec<Sample>,
    /// Measured latency overhead: mean over repetitions of (with − without) mean latency, µs.
    pub measured_us: f64,
    /// Smallest and largest per-repetition overhead, µs.
    pub measured_range_us: (f64, f64),
    /// Predicted latency overhead, µs.
    pub predicted_us: f64,
    /// (predicted − measured) / measured, %.
    pub error_pct: f64,
    /// Measured CPU overhead per request (all services and sidecars), µs.
    pub measured_cpu_us: f64,
    /// The sidecars' own on-CPU time per request with the mesh, µs (the rest of
    /// `measured_cpu_us` is what the services spend differently with the mesh).
    #[serde(default)]
    pub measured_sidecar_cpu_us: f64,
    /// Predicted CPU per request (every call once), µs.
    pub predicted_cpu_us: f64,
    /// (predicted − measured) / measured CPU, %.
    pub cpu_error_pct: f64,
    /// (predicted − the sidecars' own) / the sidecars' own CPU, %: what the model prices, as
    /// the rest is the services' (they run slower beside the sidecars on a small machine).
    #[serde(default)]
    pub sidecar_cpu_error_pct: f64,
    /// Whether the latency error is within the tolerance.
    pub pass: bool,
}

/// The validation report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ValidateReport {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// `envoy`, `builtin` or `command`.
    pub sidecar: String,
    /// The profile's platform id.
    pub profile: String,
    /// 1-minute load average when validation started.
    pub load_average: Option<f64>,
    /// The tolerance of the verdicts, %.
    pub tolerance_pct: f64,
    /// Which CPU model of the profile priced the predictions (`loaded` in reports written
    /// before it was recorded).
    #[serde(default)]
    pub cpu_price: CpuPrice,
    /// Per fixture.
    pub cases: Vec<CaseResult>,
    /// Median of the absolute latency errors, %.
    pub median_abs_error_pct: Option<f64>,
    /// Largest absolute latency error, %.
    pub max_abs_error_pct: Option<f64>,
}

fn one() -> u32 {
    1
}

/// The 1-minute load average.
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// On-CPU time of every thread of `pids`, ns, by (pid, tid) (from /proc/PID/task/TID/schedstat).
fn cpu_snapshot(pids: &[u32]) -> HashMap<(u32, u32), u64> {
    let mut threads = HashMap::new();
    for &pid in pids {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            let Some(tid) = task.file_name().to_str().and_then(|t| t.parse().ok()) else {
                continue;
            };
            if let Some(ns) = std::fs::read_to_string(task.path().join("schedstat"))
                .ok()
                .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
            {
                threads.insert((pid, tid), ns);
            }
        }
    }
    threads
}

/// CPU time spent between two snapshots, ns: per thread, so that a thread that exits in
/// between (a runtime's idle blocking thread) does not make the sum go backwards; threads
/// born in between count whole.
fn cpu_delta_ns(before: &HashMap<(u32, u32), u64>, after: &HashMap<(u32, u32), u64>) -> u64 {
    after
        .iter()
        .map(|(k, &a)| a.saturating_sub(before.get(k).copied().unwrap_or(0)))
        .sum()
}

/// Drives the entry call in a closed loop; returns the sample.
fn run_once(
    top: &mut deploy::Topology,
    requests: u64,
    warmup: u64,
) -> Result<Sample, ValidateError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| HarnessError::Io {
            what: "start the client's runtime".into(),
            source,
        })?;
    let pids = top.pids();
    let sidecar_pids = top.sidecar_pids();
    let entry = top.entry.clone();
    let (req, resp) = top.entry_bytes;
    let (mode, route) = (top.entry_mode, top.entry_route);
    let load_err = |completed: u64, source: CallError| HarnessError::Load {
        target: entry.to_string(),
        completed,
        source,
    };
    let result = rt.block_on(async {
        let mut client = Client::connect(mode, &entry)
            .await
            .map_err(|e| load_err(0, e))?
            .with_timeout(service::CALL_TIMEOUT)
            .with_route(route);
        let payload = wire::payload(req as usize, u64::from(route));
        for i in 0..warmup {
            client
                .call(&payload, Expect::Bytes(resp as usize))
                .await
                .map_err(|e| load_err(i, e))?;
        }
        let cpu0 = cpu_snapshot(&pids);
        let mut times = Vec::with_capacity(requests as usize);
        for i in 0..requests {
            let t = Instant::now();
            client
                .call(&payload, Expect::Bytes(resp as usize))
                .await
                .map_err(|e| load_err(i, e))?;
            times.push(t.elapsed().as_secs_f64() * 1e6);
        }
        let cpu1 = cpu_snapshot(&pids);
        let per_request = |ns: u64| ns as f64 / 1e3 / requests as f64;
        let cpu = per_request(cpu_delta_ns(&cpu0, &cpu1));
        let in_sidecars = |m: &HashMap<(u32, u32), u64>| -> HashMap<(u32, u32), u64> {
            m.iter()
                .filter(|((pid, _), _)| sidecar_pids.contains(pid))
                .map(|(k, v)| (*k, *v))
                .collect()
        };
        let sidecar_cpu = per_request(cpu_delta_ns(&in_sidecars(&cpu0), &in_sidecars(&cpu1)));
        times.sort_by(f64::total_cmp);
        Ok::<_, HarnessError>(Sample {
            mean_us: times.iter().sum::<f64>() / times.len() as f64,
            p50_us: times[times.len() / 2],
            cpu_us: cpu,
            sidecar_cpu_us: sidecar_cpu,
        })
    });
    match result {
        Ok(s) => {
            top.check_running()?;
            Ok(s)
        }
        Err(e) => {
            std::thread::sleep(std::time::Duration::from_millis(50));
            top.check_running()?;
            Err(e.into())
        }
    }
}

pub(crate) fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let v: Vec<f64> = v.collect();
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn pct(pred: f64, meas: f64) -> f64 {
    if meas.abs() > 0.0 {
        100.0 * (pred - meas) / meas
    } else {
        f64::NAN
    }
}

/// How many sidecars in series `profile` was measured with (`profile --chain`; 1 when not
/// recorded).
pub fn profile_chain(profile: &Profile) -> u32 {
    profile.settings.as_ref().and_then(|s| s.chain).unwrap_or(1)
}

/// How many sidecars in series to profile for call graphs whose requests pass through at most
/// `in_series` ([`Ecg::sidecars_in_series`]): as many, from 1 up to `--chain`'s
/// [`MAX_CHAIN`].
///
/// Why: on a small machine a sidecar costs more the more sidecars share the path
/// (docs/validation.md, "How many sidecars in series").
pub fn chain_for(in_series: usize) -> u32 {
    u32::try_from(in_series)
        .unwrap_or(MAX_CHAIN)
        .clamp(1, MAX_CHAIN)
}

/// The index of the profile to price `ecg` with, among several of one sidecar: one that can
/// price every sidecar of it, measured with the [`chain_for`] of `ecg` or the closest to it;
/// the first given on a tie. The first profile when none can price it all (the prediction
/// then says what is missing).
pub fn pick_profile<'a>(profiles: impl IntoIterator<Item = &'a Profile>, ecg: &Ecg) -> usize {
    let want = chain_for(ecg.sidecars_in_series());
    profiles
        .into_iter()
        .enumerate()
        .filter(|(_, p)| {
            ecg.services
                .iter()
                .filter_map(|s| s.sidecar.as_ref())
                .all(|c| p.supports(c).is_ok())
        })
        .min_by_key(|(_, p)| profile_chain(p).abs_diff(want))
        .map_or(0, |(i, _)| i)
}

/// Validates one fixture, `ecg` read from `path`: deploys it with and without the mesh,
/// measures, predicts.
pub fn validate_case(
    cfg: &ValidateConfig,
    ecg: &Ecg,
    path: &Path,
    profiles: &ProfileSet,
    launch: &Launch,
) -> Result<CaseResult, ValidateError> {
    let prediction = predict(ecg, profiles, None)?;
    let predicted_cpu_us: f64 = call_costs(ecg, profiles)?
        .iter()
        .map(|c| c.cpu_total())
        .sum();
    let mut plain = deploy::deploy(ecg, None, launch, path)?;
    let mut mesh = deploy::deploy(ecg, Some(&cfg.sidecar), launch, path)?;
    let mut without = Vec::new();
    let mut with = Vec::new();
    for _ in 0..cfg.repeat {
        without.push(run_once(&mut plain, cfg.requests, cfg.warmup)?);
        with.push(run_once(&mut mesh, cfg.requests, cfg.warmup)?);
    }
    let overheads: Vec<f64> = with
        .iter()
        .zip(&without)
        .map(|(w, o)| w.mean_us - o.mean_us)
        .collect();
    let measured_us = mean(overheads.iter().copied());
    let measured_cpu_us =
        mean(with.iter().map(|s| s.cpu_us)) - mean(without.iter().map(|s| s.cpu_us));
    let measured_sidecar_cpu_us = mean(with.iter().map(|s| s.sidecar_cpu_us));
    let predicted_us = prediction.figures.latency_overhead_us;
    let error_pct = pct(predicted_us, measured_us);
    Ok(CaseResult {
        name: ecg.name.clone(),
        file: path.display().to_string(),
        calls: ecg.calls.len(),
        sidecars: mesh.sidecar_count(),
        profile_chain: profile_chain(profiles.primary()),
        measured_range_us: (
            overheads.iter().copied().fold(f64::INFINITY, f64::min),
            overheads.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        ),
        without,
        with,
        measured_us,
        predicted_us,
        error_pct,
        measured_cpu_us,
        measured_sidecar_cpu_us,
        predicted_cpu_us,
        cpu_error_pct: pct(predicted_cpu_us, measured_cpu_us),
        sidecar_cpu_error_pct: pct(predicted_cpu_us, measured_sidecar_cpu_us),
        pass: error_pct.abs() <= cfg.tolerance_pct,
    })
}

/// Summarises the cases into a report.
pub fn report(
    cfg: &ValidateConfig,
    profile: &Profile,
    cpu_price: CpuPrice,
    load: Option<f64>,
    cases: Vec<CaseResult>,
) -> ValidateReport {
    let errs: Vec<f64> = cases
        .iter()
        .map(|c| c.error_pct.abs())
        .filter(|e| e.is_finite())
        .collect();
    let median = crate::util::stats::median(&errs);
    ValidateReport {
        format_version: FORMAT_VERSION,
        sidecar: cfg.sidecar.name().to_string(),
        profile: profile.platform.id.clone(),
        load_average: load,
        tolerance_pct: cfg.tolerance_pct,
        cpu_price,
        max_abs_error_pct: errs.last().copied(),
        median_abs_error_pct: median,
        cases,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(name: &str, measured: f64, predicted: f64) -> CaseResult {
        let error_pct = pct(predicted, measured);
        CaseResult {
            name: name.into(),
            file: format!("{name}.toml"),
            calls: 3,
            sidecars: 5,
            profile_chain: 4,
            without: vec![Sample {
                mean_us: 1000.0,
                p50_us: 990.0,
                cpu_us: 50.0,
                sidecar_cpu_us: 0.0,
            }],
            with: vec![Sample {
                mean_us: 1000.0 + measured,
                p50_us: 990.0 + measured,
                cpu_us: 150.0,
                sidecar_cpu_us: 80.0,
            }],
            measured_us: measured,
            measured_range_us: (measured, measured),
            predicted_us: predicted,
            error_pct,
            measured_cpu_us: 100.0,
            measured_sidecar_cpu_us: 80.0,
            predicted_cpu_us: 90.0,
            cpu_error_pct: -10.0,
            sidecar_cpu_error_pct: 12.5,
            pass: error_pct.abs() <= 25.0,
        }
    }

    fn report_of(cases: Vec<CaseResult>) -> ValidateReport {
        ValidateReport {
            format_version: FORMAT_VERSION,
            sidecar: "builtin".into(),
            profile: "p".into(),
            load_average: Some(0.5),
            tolerance_pct: 25.0,
            cpu_price: CpuPrice::Unloaded,
            median_abs_error_pct: None,
            max_abs_error_pct: None,
            cases,
        }
    }

    #[test]
    fn errors_are_signed_relative_to_the_measurement_and_summarised() {
        let cases = vec![
            case("a", 100.0, 110.0),
            case("b", 200.0, 150.0),
            case("c", 100.0, 105.0),
            case("d", 100.0, 140.0),
        ];
        assert!((cases[1].error_pct + 25.0).abs() < 1e-9);
        let cfg = ValidateConfig {
            sidecar: Sidecar::builtin(),
            fixtures: vec![],
            requests: 1,
            warmup: 0,
            repeat: 1,
            tolerance_pct: 25.0,
        };
        let profile: Profile = crate::test_support::load_profile(Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../fixtures/profiles/socc23-envoy-1.21.json"
        )));
        let r = report(&cfg, &profile, CpuPrice::Unloaded, Some(0.3), cases);
        assert_eq!(r.median_abs_error_pct, Some(17.5));
        assert_eq!(r.max_abs_error_pct, Some(40.0));
        let wide = crate::report::Width::DEFAULT;
        let text = crate::report::validate::render(&r, crate::report::Format::Table, wide);
        assert!(text.contains("MISS"), "{text}");
        assert!(text.contains("median |error| 17.5%"), "{text}");
        assert!(text.contains("(CPU priced unloaded)"), "{text}");
        let md = crate::report::validate::render(&r, crate::report::Format::Markdown, wide);
        assert!(md.contains("| case"), "{md}");
        let json: ValidateReport = serde_json::from_str(&crate::report::validate::render(
            &r,
            crate::report::Format::Json,
            wide,
        ))
        .unwrap();
        assert_eq!(json, r);
    }

    #[test]
    fn each_fixture_is_priced_by_the_profile_of_its_sidecars_in_series() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let settings = crate::test_support::load_profile(
            &root.join("fixtures/profiles/builtin-quick-measured.json"),
        )
        .settings;
        let with_chain = |chain: Option<u32>, drop_filters: bool| {
            let mut p = Profile::paper();
            p.settings = settings.clone().map(|mut s| {
                s.chain = chain;
                s
            });
            if drop_filters {
                p.modes.values_mut().for_each(|m| m.filters.clear());
            }
            p
        };
        // One sidecar with filters; four and two in series without.
        let profiles = [
            with_chain(None, false),
            with_chain(Some(4), true),
            with_chain(Some(2), true),
        ];
        let chain_of = |fixture: &str| {
            let ecg = crate::test_support::load_ecg(&root.join("fixtures").join(fixture));
            profile_chain(&profiles[pick_profile(&profiles, &ecg)])
        };
        // 5 and 7 in series: the most measured. 3: 2 and 4 are as close; the first given.
        assert_eq!(chain_of("validate/chain-3hop.toml"), 4);
        assert_eq!(chain_of("validate/bookinfo.toml"), 4);
        assert_eq!(chain_of("validate/ci-chain-tcp.toml"), 4);
        // One sidecar with filters: only the first profile has them.
        assert_eq!(chain_of("validate-filters/filters-all.toml"), 1);
        // Without filters, one in series: the profile of one.
        assert_eq!(chain_of("validate-hops/http-1hop-d20.toml"), 1);
        // A profile without the chain recorded counts as one sidecar.
        assert_eq!(profile_chain(&Profile::paper()), 1);
    }

    #[test]
    fn the_plot_has_every_case() {
        let r = report_of(vec![case("chain", 100.0, 110.0), case("fan", 80.0, 60.0)]);
        let svg = crate::report::validate_plot::svg(&r);
        assert!(svg.starts_with("<svg"), "{}", &svg[..50]);
        assert!(svg.contains("chain") && svg.contains("fan"));
    }

    #[test]
    fn a_thread_that_exits_does_not_make_cpu_time_go_backwards() {
        let before = HashMap::from([((1, 1), 500), ((1, 2), 100)]);
        let after = HashMap::from([((1, 1), 700), ((1, 3), 50)]);
        assert_eq!(cpu_delta_ns(&before, &after), 250);
    }

    #[test]
    fn cpu_time_of_this_process_is_read_from_schedstat() {
        fn thread_cpu_ns() -> u64 {
            let mut ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: clock_gettime writes into the timespec it is given.
            unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
            ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
        }
        let pid = [std::process::id()];
        let a = cpu_snapshot(&pid);
        // 20 ms of this thread's own CPU time, however long that takes on a busy machine.
        let t = thread_cpu_ns();
        while thread_cpu_ns() < t + 20_000_000 {
            std::hint::spin_loop();
        }
        let spent = cpu_delta_ns(&a, &cpu_snapshot(&pid));
        // schedstat of a running thread lags by up to a scheduler tick.
        assert!(spent >= 10_000_000, "{spent} ns");
    }
}
