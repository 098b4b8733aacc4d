//! One measurement's resources and steps: the probe, the CPU plan and the clocks; starting the
//! echo application and chains of sidecars; one load run between two probe snapshots and its
//! record; the maximum-rate search; and what a finished measurement records besides its runs.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::quiet::Sample;
use super::{MeasureConfig, MeasureError};
use crate::harness::cpus::CpuPlan;
use crate::harness::loadgen::{
    ClosedLoop, LoadResult, MaxRateSearch, OpenLoop, Stop, find_max_rate, run_closed_loop,
    run_open_loop,
};
use crate::harness::process::{AffinityGuard, TempDir, confine_current_thread};
use crate::harness::{
    EchoServer, Endpoint, HarnessError, Launch, RunningSidecar, Sidecar, Upstream,
};
use crate::model::assemble::assemble;
use crate::model::runs::{Load, Run};
use crate::model::settings::{MachineLoad, Settings};
use crate::model::{FORMAT_VERSION, Platform, Profile};
use crate::probe::{Probe, ProbeComponent, ProbeOptions, ProbeReport, ProbeSet, Role};
use crate::vocab::{Mode, SidecarConfig};

/// Requests in flight at once in every open loop of a measurement.
const OPEN_LOOP_CONNECTIONS: usize = 32;

/// A measurement under way: the probe (on this process, the client, from the start), where
/// the processes run, and the clocks.
pub(super) struct Session {
    pub(super) probe: Probe,
    pub(super) cpus: CpuPlan,
    started: Instant,
    cores: Option<u32>,
    quiet_since: Option<Sample>,
    /// Restores this thread's CPU affinity when the measurement ends, also on an error.
    _affinity: AffinityGuard,
}

/// A load run's result and the probe's snapshots before and after it.
pub(super) type Measured = (LoadResult, ProbeReport, ProbeReport);

impl Session {
    /// Starts a measurement: the probe on this process (the client), the CPU plan, the clocks.
    pub(super) fn start(cfg: &MeasureConfig) -> Result<Session, MeasureError> {
        let started = Instant::now();
        let affinity = AffinityGuard::save();
        // Before any pinning narrows what this process sees of the machine.
        let cores = std::thread::available_parallelism()
            .ok()
            .map(|n| n.get() as u32);
        let cpus = CpuPlan::new(cfg.pin, cfg.cpus.as_ref()).map_err(HarnessError::from)?;
        // Children inherit the measuring thread's CPUs; the guard gives them back at the end.
        if let Some(set) = &cpus.confine {
            confine_current_thread(set)?;
        }
        let probe = Probe::attach(
            &[(std::process::id(), Role::Client)],
            &ProbeOptions {
                probe_set: cfg.probe_set,
                ..ProbeOptions::default()
            },
        )?;
        Ok(Session {
            probe,
            cpus,
            started,
            cores,
            quiet_since: Sample::now(),
            _affinity: affinity,
        })
    }

    /// How many CPUs the machine has (read before any pinning).
    pub(super) fn cores(&self) -> Option<u32> {
        self.cores
    }

    /// One load run at `target`, between two probe snapshots.
    pub(super) fn run_once(
        &mut self,
        cfg: &MeasureConfig,
        mode: Mode,
        target: &Endpoint,
        size: u64,
        load: Load,
    ) -> Result<Measured, MeasureError> {
        let before = self.probe.snapshot()?;
        let result = match load {
            Load::Closed => run_closed_loop(&ClosedLoop {
                mode,
                target: target.clone(),
                size: size as usize,
                warmup: 0,
                stop: Stop::Requests(cfg.blocks().1),
                pin_cpu: self.cpus.load,
            })?,
            Load::Open { rate, .. } => run_open_loop(&OpenLoop {
                mode,
                target: target.clone(),
                size: size as usize,
                rate,
                connections: OPEN_LOOP_CONNECTIONS,
                warmup: Duration::ZERO,
                duration: cfg.open_duration,
                pin_cpu: self.cpus.load,
            })?,
        };
        let after = self.probe.snapshot()?;
        Ok((result, before, after))
    }

    /// Ends the measurement: reads the profiled processes' CPU and detaches the probe.
    pub(super) fn finish(self) -> Result<Finished, MeasureError> {
        let ours_cpu_ns: u64 = self
            .probe
            .snapshot()?
            .total
            .values()
            .map(|c| c.cpu_ns)
            .sum();
        let probe_set = self.probe.probe_set();
        drop(self.probe);
        Ok(Finished {
            probe_set,
            machine_load: self
                .quiet_since
                .and_then(|s| s.load_since(ours_cpu_ns, self.cores.unwrap_or(1))),
            elapsed_s: self.started.elapsed().as_secs_f64(),
        })
    }
}

/// Per request, the difference of two snapshots' totals: on the request path, and on CPU.
fn per_request(
    before: &ProbeReport,
    after: &ProbeReport,
    requests: u64,
) -> (BTreeMap<ProbeComponent, f64>, BTreeMap<ProbeComponent, f64>) {
    let n = requests.max(1) as f64;
    let mut path = BTreeMap::new();
    let mut cpu = BTreeMap::new();
    for c in ProbeComponent::ALL {
        let get = |r: &ProbeReport| r.total.get(&c).cloned().unwrap_or_default();
        let (a, b) = (get(after), get(before));
        let cpu_ns = a.cpu_ns.saturating_sub(b.cpu_ns) as f64;
        let wall_ns = a.wall_ns.saturating_sub(b.wall_ns) as f64;
        // On the request path: on-CPU time, and for notify the wake-up delay as well (a
        // blocked read's wall time is waiting for the others, not work of its own).
        let on_path = if c == ProbeComponent::Notify {
            wall_ns
        } else {
            cpu_ns
        };
        path.insert(c, on_path / 1000.0 / n);
        cpu.insert(c, cpu_ns / 1000.0 / n);
    }
    (path, cpu)
}

/// The run record of one measured load run (one sidecar on its path, no reference).
pub(super) fn record(
    config: &SidecarConfig,
    through_sidecar: bool,
    size: u64,
    load: Load,
    repeat: u32,
    (result, before, after): Measured,
) -> Run {
    let (path_us, cpu_us) = per_request(&before, &after, result.requests);
    Run {
        config: config.clone(),
        through_sidecar,
        size,
        load,
        repeat,
        requests: result.requests,
        achieved_rps: result.achieved_rps,
        client_mean_us: result.latency.mean_us,
        client_p50_us: result.latency.p50_us,
        path_us,
        cpu_us,
        lost_events: after.drops.lost().saturating_sub(before.drops.lost()),
        events: crate::model::runs::events_per_request(&before, &after, result.requests),
        reference_for: None,
        sidecars: 1,
        counters: crate::model::runs::counters_per_request(&before, &after, result.requests),
    }
}

/// The sidecars of one configuration: some in series in front of the echo application, the
/// first listening for the load generator.
pub(super) struct Chain {
    /// Front (where the load goes) first.
    sidecars: Vec<RunningSidecar>,
}

impl Chain {
    /// Where the load generator sends requests.
    pub(super) fn listen(&self) -> &Endpoint {
        self.sidecars[0].listen()
    }

    /// The sidecar's version, when it says.
    pub(super) fn version(&self) -> Option<&str> {
        self.sidecars[0].version()
    }

    /// An error when any of the sidecars has exited.
    pub(super) fn check_running(&mut self) -> Result<(), HarnessError> {
        self.sidecars.iter_mut().try_for_each(|s| s.check_running())
    }
}

/// Starts `count` sidecars `sidecar` of `config` in series in front of `echo` (the last one
/// first), with the probe on each when given.
pub(super) fn start_chain(
    sidecar: &Sidecar,
    launch: &Launch,
    config: &SidecarConfig,
    echo: &EchoServer,
    cpus: Option<&[usize]>,
    count: u32,
    mut probe: Option<&mut Probe>,
) -> Result<Chain, MeasureError> {
    let mut sidecars: Vec<RunningSidecar> = Vec::new();
    for _ in 0..count.max(1) {
        let started = match sidecars.last() {
            None => sidecar.start(launch, config, echo, cpus)?,
            Some(next) => sidecar.start_to(launch, config, &next.listen().clone(), cpus)?,
        };
        if let Some(probe) = probe.as_deref_mut() {
            for pid in started.pids() {
                probe.add_target(pid, Role::Sidecar)?;
            }
        }
        sidecars.push(started);
    }
    sidecars.reverse();
    Ok(Chain { sidecars })
}

/// Starts the echo application of `mode`; when a sidecar reaches it over a Unix socket, also
/// on a socket in the returned directory (the runs without the sidecar stay on TCP loopback,
/// as an application's caller's would).
pub(super) fn start_echo(
    sidecars: &[&Sidecar],
    launch: &Launch,
    mode: Mode,
    cpus: Option<&[usize]>,
) -> Result<(TempDir, EchoServer), MeasureError> {
    let socket_dir = TempDir::in_memory("meshinsight-echo-", "a directory for the echo socket")?;
    launch.hand_over(&socket_dir)?;
    let socket = sidecars
        .iter()
        .any(|s| s.upstream() == Upstream::Uds)
        .then(|| socket_dir.path().join("echo.sock"));
    let echo = EchoServer::start(launch, mode, socket.as_deref(), cpus)?;
    Ok((socket_dir, echo))
}

/// The maximum rate `target` sustains at `size` (p99 under 10 ms, 95 % completed). When no
/// rate meets the criteria (a loaded machine), the lowest rate tried, with a note.
pub(super) fn max_rate(
    mode: Mode,
    target: &Endpoint,
    size: u64,
    pin_cpu: Option<usize>,
    notes: &mut Vec<String>,
) -> Result<f64, MeasureError> {
    let found = find_max_rate(&MaxRateSearch {
        max_steps: 10,
        precision: 0.1,
        ..MaxRateSearch::new(OpenLoop {
            mode,
            target: target.clone(),
            size: size as usize,
            rate: 0.0,
            connections: OPEN_LOOP_CONNECTIONS,
            warmup: Duration::from_millis(50),
            duration: Duration::from_millis(300),
            pin_cpu,
        })
    })?;
    if found.max_rps > 0.0 {
        return Ok(found.max_rps);
    }
    let lowest = found
        .steps
        .iter()
        .filter_map(|s| s.target_rps)
        .fold(f64::MAX, f64::min);
    if !(lowest.is_finite() && lowest > 0.0 && lowest < f64::MAX) {
        return Err(MeasureError::NoRate { mode });
    }
    notes.push(format!(
        "{mode}: no rate met the maximum-rate criteria (p99 under 10 ms, 95% completed); \
         the open-loop rates are fractions of the lowest rate tried, {lowest:.0} requests/s"
    ));
    Ok(lowest)
}

/// What a finished measurement records besides its runs.
pub(super) struct Finished {
    probe_set: ProbeSet,
    machine_load: Option<MachineLoad>,
    elapsed_s: f64,
}

impl Finished {
    /// The settings `cfg` was measured with.
    pub(super) fn settings(
        &self,
        cfg: &MeasureConfig,
        max_rate_rps: BTreeMap<Mode, f64>,
    ) -> Settings {
        Settings {
            sizes: cfg.sizes.clone(),
            rates_pct: cfg.rate_fractions.iter().map(|f| f * 100.0).collect(),
            repeat: cfg.repeat,
            requests: cfg.requests,
            block_requests: Some(cfg.blocks().1),
            open_duration_ms: cfg.open_duration.as_millis() as u64,
            max_rate_rps,
            elapsed_s: self.elapsed_s,
            pinned: cfg.pin,
            chain: (cfg.chain > 1).then_some(cfg.chain),
            machine_load: self.machine_load,
        }
    }

    /// The profile fitted from `runs`; `of` says whose it is in `source` (e.g. `the head of a
    /// paired run, `), empty for a plain measurement.
    pub(super) fn profile(
        &self,
        of: &str,
        mut platform: Platform,
        notes: Vec<String>,
        settings: Settings,
        runs: Vec<Run>,
    ) -> Profile {
        let (modes, mut checks) = assemble(&runs);
        checks
            .warnings
            .extend(self.machine_load.and_then(|l| l.warning()));
        platform.probe_set = Some(self.probe_set.name().into());
        Profile {
            format_version: FORMAT_VERSION,
            source: Some(format!(
                "{of}measured by cargo-meshinsight {} with the {} probe",
                env!("CARGO_PKG_VERSION"),
                self.probe_set
            )),
            notes,
            platform,
            modes,
            settings: Some(settings),
            checks: Some(checks),
            runs,
        }
    }
}
