//! The offline profiler's runs (DESIGN §4): for each mode and size, closed-loop latency runs
//! and open-loop runs at fractions of the measured maximum rate, each without and with the
//! sidecar, interleaved, with the eBPF probe on every process of the run; filters measured
//! against the plain mode. [`crate::model::assemble`] turns the runs into models.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub mod paired;
pub mod quiet;

use crate::harness::loadgen::{
    ClosedLoop, LoadResult, MaxRateSearch, OpenLoop, Stop, find_max_rate, run_closed_loop,
    run_open_loop,
};
use crate::harness::process::TempDir;
use crate::harness::sidecar::filters::BUILTIN_FILTERS;
use crate::harness::{
    EchoServer, Endpoint, HarnessError, Launch, RunningSidecar, Sidecar, Upstream,
};
use crate::model::assemble::assemble;
use crate::model::runs::{Load, Run};
use crate::model::settings::{MachineLoad, Settings};
use crate::model::{FORMAT_VERSION, Platform, Profile, SidecarInfo};
use crate::probe::{Probe, ProbeComponent, ProbeError, ProbeOptions, ProbeReport, ProbeSet, Role};
use crate::util::hash::{sha256_file, slug};
use crate::vocab::{Filter, Mode, SidecarConfig};
use quiet::Sample;

/// Why profiling stopped.
#[derive(Debug, thiserror::Error)]
pub enum MeasureError {
    /// The probe could not attach or read.
    #[error(transparent)]
    Probe(#[from] ProbeError),
    /// A process or load run failed.
    #[error(transparent)]
    Harness(#[from] HarnessError),
    /// The settings cannot be measured.
    #[error("cannot profile: {0}")]
    Settings(String),
    /// A mode and filters that do not go together.
    #[error(transparent)]
    Config(#[from] crate::vocab::VocabError),
}

/// What to measure.
#[derive(Clone, Debug)]
pub struct MeasureConfig {
    /// The sidecar under test.
    pub sidecar: Sidecar,
    /// Modes (tcp is added when http or grpc are asked for: Parsing needs it).
    pub modes: Vec<Mode>,
    /// Filters, measured on top of http (or grpc when http is not profiled).
    pub filters: Vec<Filter>,
    /// Payload sizes, bytes.
    pub sizes: Vec<u64>,
    /// Open-loop rates as fractions of the maximum rate (0..1]; empty: no open loop.
    pub rate_fractions: Vec<f64>,
    /// Repetitions of every run.
    pub repeat: u32,
    /// Measured requests per closed-loop point and repeat.
    pub requests: u64,
    /// The closed-loop requests of a point are measured in blocks of about this many, each
    /// block once without and once with the sidecar (the order alternating), and each block
    /// pair is a run pair of its own: on this VM the state a run happens to get (where the
    /// scheduler puts a hop, how fast an idle vCPU wakes) varies more between runs than the
    /// requests within a run do, so more short runs beat fewer long ones.
    pub block_requests: u64,
    /// Measured time per open-loop run.
    pub open_duration: Duration,
    /// Pin load generator, application and sidecar to CPUs.
    pub pin: bool,
    /// Sidecars in series on the measured path (1: one sidecar in front of the application;
    /// 2: an outbound sidecar into an inbound one, as a mesh hop deploys them). Each
    /// component's cost is divided by it: the profile prices one sidecar as it runs in a hop.
    pub chain: u32,
    /// The probe's programs (`None`: raw tracepoints where they load, else classic). The
    /// profiler uses the classic set: side by side on this VM, three quick builtin profiles
    /// with each set, the raw set's total latency coefficients varied 13–18 % (CV) against
    /// 3–4 % with the classic set (docs/results.md), although it costs less per event.
    pub probe_set: Option<ProbeSet>,
}

impl MeasureConfig {
    /// The defaults of DESIGN §4: 100..4000 bytes, 25/50/75/100 % of the maximum rate.
    pub fn full(sidecar: Sidecar) -> Self {
        MeasureConfig {
            sidecar,
            modes: Mode::ALL.to_vec(),
            filters: Filter::ALL.to_vec(),
            sizes: vec![100, 1000, 2000, 3000, 4000],
            rate_fractions: vec![0.25, 0.5, 0.75, 1.0],
            repeat: 2,
            requests: 1500,
            block_requests: 250,
            open_duration: Duration::from_millis(400),
            pin: true,
            chain: 1,
            probe_set: Some(ProbeSet::Tracepoint),
        }
    }

    /// `--quick`: tcp and http, three sizes, two rates, no filters; four repeats, so that
    /// each load has 12 points per mode and a disturbed run can be screened out.
    pub fn quick(sidecar: Sidecar) -> Self {
        MeasureConfig {
            modes: vec![Mode::Tcp, Mode::Http],
            filters: vec![],
            sizes: vec![100, 2000, 4000],
            rate_fractions: vec![0.5, 1.0],
            repeat: 4,
            ..MeasureConfig::full(sidecar)
        }
    }

    pub(super) fn modes_in_order(&self) -> Vec<Mode> {
        let mut modes = self.modes.clone();
        if modes.iter().any(|m| *m != Mode::Tcp) && !modes.contains(&Mode::Tcp) {
            modes.push(Mode::Tcp);
        }
        modes.sort();
        modes.dedup();
        modes
    }

    /// The mode filters are measured on.
    pub fn filter_mode(&self) -> Option<Mode> {
        let modes = self.modes_in_order();
        [Mode::Http, Mode::Grpc]
            .into_iter()
            .find(|m| modes.contains(m))
    }

    /// Closed-loop blocks per point and repeat, and the requests of each.
    pub fn blocks(&self) -> (u64, u64) {
        let blocks = self.requests.div_ceil(self.block_requests.max(1)).max(1);
        (blocks, self.requests.div_ceil(blocks))
    }

    /// The runs of one repeat: every closed-loop block (numbered `repeat · blocks + block`, so
    /// that each block pair is a run pair of its own) and every open-loop load (numbered
    /// `repeat`).
    pub(super) fn slots(&self, loads: &[Load], repeat: u32) -> Vec<(Load, u32)> {
        let blocks = self.blocks().0 as u32;
        loads
            .iter()
            .flat_map(|&load| match load {
                Load::Closed => (0..blocks)
                    .map(|b| (load, repeat * blocks + b))
                    .collect::<Vec<_>>(),
                Load::Open { .. } => vec![(load, repeat)],
            })
            .collect()
    }

    /// Every run point of one configuration in the order they are measured: repeat by repeat,
    /// every size within each repeat (the first size rotating from one repeat to the next),
    /// and every load slot of that size. Sizes are interleaved in time rather than measured one
    /// after another, because on this VM the cost of the same work through a sidecar changes
    /// in steps that last seconds to tens of seconds (docs/results.md): measured one size
    /// after another, a step that falls between two sizes bends the size means, and the
    /// per-byte fits with them.
    pub(super) fn schedule(&self, loads: &[Load]) -> Vec<(u64, Load, u32)> {
        (0..self.repeat)
            .flat_map(|repeat| {
                (0..self.sizes.len()).flat_map(move |i| {
                    let size = self.sizes[(i + repeat as usize) % self.sizes.len()];
                    self.slots(loads, repeat)
                        .into_iter()
                        .map(move |(load, slot)| (size, load, slot))
                })
            })
            .collect()
    }

    /// Number of load runs of a paired measurement: three per plain-mode point (no sidecar,
    /// base, head), four per filter point (base and head, each with and without the filter).
    pub(super) fn planned_paired_runs(&self) -> u64 {
        let points = self.sizes.len() as u64
            * self.repeat as u64
            * (self.blocks().0 + self.rate_fractions.len() as u64);
        let filters = if self.filter_mode().is_some() {
            self.filters.len() as u64
        } else {
            0
        };
        points * (3 * self.modes_in_order().len() as u64 + 4 * filters)
    }

    /// Number of load runs (for progress), not counting the maximum-rate searches.
    pub fn planned_runs(&self) -> u64 {
        let loads = self.blocks().0 + self.rate_fractions.len() as u64;
        let per_config = self.sizes.len() as u64 * self.repeat as u64 * loads * 2;
        let modes = self.modes_in_order().len() as u64;
        let filters = if self.filter_mode().is_some() {
            self.filters.len() as u64
        } else {
            0
        };
        let combined = if filters >= 2 {
            self.sizes.len() as u64 * self.repeat as u64 * 2 * self.blocks().0
        } else {
            0
        };
        (modes + filters) * per_config + combined
    }

    pub(crate) fn validate(&self) -> Result<(), MeasureError> {
        let bad = |m: String| Err(MeasureError::Settings(m));
        if self.modes.is_empty() {
            return bad("no modes to profile".into());
        }
        if self.sizes.is_empty() || self.sizes.iter().any(|s| *s == 0 || *s > 1 << 24) {
            return bad("sizes must be between 1 byte and 16 MiB".into());
        }
        if self.rate_fractions.iter().any(|f| !(*f > 0.0 && *f <= 1.0)) {
            return bad("rates are percentages of the maximum rate, in (0, 100]".into());
        }
        if self.repeat == 0 || self.requests == 0 || self.block_requests == 0 {
            return bad("--repeat, --requests and --block-requests must be at least 1".into());
        }
        if !(1..=MAX_CHAIN).contains(&self.chain) {
            return bad(format!(
                "--chain must be between 1 and {MAX_CHAIN} sidecars in series (got {})",
                self.chain
            ));
        }
        if self.chain > 1 && !self.filters.is_empty() {
            return bad(
                "--chain measures the plain modes only; profile filters with --chain 1 (or \
                 pass --filters '')"
                    .into(),
            );
        }
        if !self.filters.is_empty() {
            if self.filter_mode().is_none() {
                return bad("filters need the http or grpc mode".into());
            }
            if let Sidecar::Builtin { .. } = self.sidecar
                && let Some(f) = self.filters.iter().find(|f| !BUILTIN_FILTERS.contains(f))
            {
                return bad(format!(
                    "the builtin sidecar has no {f} filter (it has fault and ratelimit); profile {f} with --sidecar envoy"
                ));
            }
        }
        Ok(())
    }
}

/// The longest `--chain`.
pub const MAX_CHAIN: u32 = 4;

/// Progress of a profile.
#[derive(Clone, Debug)]
pub enum Progress {
    /// A phase started (`measuring tcp`, `finding the maximum rate of http`, ...).
    Phase(String),
    /// A load run finished.
    Run,
}

/// The processes of one block of runs and the probe on them.
pub(super) struct Block<'a> {
    pub(super) probe: &'a mut Probe,
    pub(super) cfg: &'a MeasureConfig,
    pub(super) cpus: CpuPlan,
}

impl Block<'_> {
    pub(super) fn run_once(
        &mut self,
        mode: Mode,
        target: &Endpoint,
        size: u64,
        load: Load,
    ) -> Result<(LoadResult, ProbeReport, ProbeReport), MeasureError> {
        let before = self.probe.snapshot()?;
        let result = match load {
            Load::Closed => run_closed_loop(&ClosedLoop {
                mode,
                target: target.clone(),
                size: size as usize,
                warmup: 0,
                stop: Stop::Requests(self.cfg.blocks().1),
                pin_cpu: self.cpus.0,
            })?,
            Load::Open { rate, .. } => run_open_loop(&OpenLoop {
                mode,
                target: target.clone(),
                size: size as usize,
                rate,
                connections: 32,
                warmup: Duration::ZERO,
                duration: self.cfg.open_duration,
                pin_cpu: self.cpus.0,
            })?,
        };
        let after = self.probe.snapshot()?;
        Ok((result, before, after))
    }
}

/// Per request, the difference of two snapshots' totals.
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

pub(super) fn record(
    config: &SidecarConfig,
    through_sidecar: bool,
    size: u64,
    load: Load,
    repeat: u32,
    (result, before, after): (LoadResult, ProbeReport, ProbeReport),
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
    }
}

pub(super) fn start_sidecar(
    cfg: &MeasureConfig,
    launch: &Launch,
    config: &SidecarConfig,
    echo: &EchoServer,
    cpus: Option<&[usize]>,
    probe: &mut Probe,
) -> Result<RunningSidecar, MeasureError> {
    let chain = start_chain(cfg, launch, config, echo, cpus, 1, Some(probe))?;
    Ok(chain
        .sidecars
        .into_iter()
        .next()
        .expect("a chain of one has one sidecar"))
}

/// The sidecars of one configuration: `cfg.chain` of them in series in front of the echo
/// application, the first listening for the load generator.
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

/// Starts `count` sidecars of `config` in series in front of `echo` (the last one first),
/// with the probe on each when given.
pub(super) fn start_chain(
    cfg: &MeasureConfig,
    launch: &Launch,
    config: &SidecarConfig,
    echo: &EchoServer,
    cpus: Option<&[usize]>,
    count: u32,
    mut probe: Option<&mut Probe>,
) -> Result<Chain, MeasureError> {
    let mut sidecars: Vec<RunningSidecar> = Vec::new();
    for _ in 0..count.max(1) {
        let sidecar = match sidecars.last() {
            None => cfg.sidecar.start(launch, config, echo, cpus)?,
            Some(next) => cfg
                .sidecar
                .start_to(launch, config, &next.listen().clone(), cpus)?,
        };
        if let Some(probe) = probe.as_deref_mut() {
            for pid in sidecar.pids() {
                probe.add_target(pid, Role::Sidecar)?;
            }
        }
        sidecars.push(sidecar);
    }
    sidecars.reverse();
    Ok(Chain { sidecars })
}

/// CPUs for the load generator, the application and the sidecar (`bench::cpu_plan`).
pub(super) type CpuPlan = (Option<usize>, Option<Vec<usize>>, Option<Vec<usize>>);

/// The clocks of a measurement: when it started, how many CPUs the machine has, and the
/// machine's counters at the start (for [`MachineLoad`]).
pub(super) struct Clock {
    started: Instant,
    pub(super) cores: Option<u32>,
    quiet_since: Option<Sample>,
    /// Restores this thread's CPU affinity when the measurement ends, also on an error.
    _affinity: crate::harness::process::AffinityGuard,
}

/// Starts a measurement: the probe on this process (the client), the CPU plan, the clocks.
pub(super) fn start_session(cfg: &MeasureConfig) -> Result<(Probe, CpuPlan, Clock), MeasureError> {
    let started = Instant::now();
    let affinity = crate::harness::process::AffinityGuard::save();
    // Before any pinning narrows what this process sees of the machine.
    let cores = std::thread::available_parallelism()
        .ok()
        .map(|n| n.get() as u32);
    let probe = Probe::attach(
        &[(std::process::id(), Role::Client)],
        &ProbeOptions {
            probe_set: cfg.probe_set,
            ..ProbeOptions::default()
        },
    )?;
    let quiet_since = Sample::now();
    let cpus = if cfg.pin {
        crate::harness::bench::cpu_plan()
    } else {
        (None, None, None)
    };
    Ok((
        probe,
        cpus,
        Clock {
            started,
            cores,
            quiet_since,
            _affinity: affinity,
        },
    ))
}

/// What a finished measurement records besides its runs.
pub(super) struct Finished {
    probe_set: ProbeSet,
    machine_load: Option<MachineLoad>,
    elapsed_s: f64,
}

impl Clock {
    /// Ends the measurement: reads the profiled processes' CPU and detaches the probe.
    pub(super) fn finish(self, probe: Probe) -> Result<Finished, MeasureError> {
        let ours_cpu_ns: u64 = probe.snapshot()?.total.values().map(|c| c.cpu_ns).sum();
        let probe_set = probe.probe_set();
        drop(probe);
        Ok(Finished {
            probe_set,
            machine_load: self
                .quiet_since
                .and_then(|s| s.load_since(ours_cpu_ns, self.cores.unwrap_or(1))),
            elapsed_s: self.started.elapsed().as_secs_f64(),
        })
    }
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

/// Starts the echo application of `mode`; for a builtin sidecar with a Unix-socket upstream
/// also on a socket in the returned directory (the runs without the sidecar stay on TCP
/// loopback, as an application's caller's would).
pub(super) fn start_echo(
    cfg: &MeasureConfig,
    launch: &Launch,
    mode: Mode,
    cpus: Option<&[usize]>,
) -> Result<(TempDir, EchoServer), MeasureError> {
    let socket_dir = TempDir::in_memory("meshinsight-echo-", "a directory for the echo socket")?;
    let socket =
        (cfg.sidecar.upstream() == Upstream::Uds).then(|| socket_dir.path().join("echo.sock"));
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
            connections: 32,
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
        return Err(MeasureError::Settings(format!(
            "the {mode} sidecar sustained no rate at all"
        )));
    }
    notes.push(format!(
        "{mode}: no rate met the maximum-rate criteria (p99 under 10 ms, 95% completed); \
         the open-loop rates are fractions of the lowest rate tried, {lowest:.0} requests/s"
    ));
    Ok(lowest)
}

/// Measures and fits a profile. `progress` hears of phases and finished runs.
pub fn measure(
    cfg: &MeasureConfig,
    launch: &Launch,
    progress: &mut dyn FnMut(Progress),
) -> Result<Profile, MeasureError> {
    cfg.validate()?;
    let (mut probe, cpus, clock) = start_session(cfg)?;
    let mut runs = Vec::new();
    let mut max_rate_rps = BTreeMap::new();
    let mut sidecar_version = None;
    let mut notes = Vec::new();
    if let Sidecar::Builtin {
        upstream,
        zerocopy,
        extra_work_us,
    } = &cfg.sidecar
    {
        let mut variant = Vec::new();
        if *upstream == Upstream::Uds {
            variant.push("a Unix-domain-socket upstream".to_string());
        }
        if *zerocopy {
            variant.push("MSG_ZEROCOPY writes".to_string());
        }
        if *extra_work_us > 0 {
            variant.push(format!("{extra_work_us} µs of extra work per message"));
        }
        if !variant.is_empty() {
            notes.push(format!("builtin sidecar with {}", variant.join(", ")));
        }
    }
    if cfg.chain > 1 {
        notes.push(format!(
            "every run through the sidecar went through {} of them in series (as a mesh hop's \
             outbound and inbound sidecars); each cost is per sidecar, the difference divided by {}",
            cfg.chain, cfg.chain
        ));
    }
    let smallest = *cfg.sizes.iter().min().expect("validated");

    // Every mode's open loops run at the same absolute rates, fractions of the lowest of the
    // modes' maximum rates: per-request CPU depends on the rate (A3), and Parsing subtracts
    // tcp's user time from the mode's, which is only like for like at the same rate.
    if !cfg.rate_fractions.is_empty() {
        for mode in cfg.modes_in_order() {
            progress(Progress::Phase(format!("{mode}: finding the maximum rate")));
            let (_socket_dir, echo) = start_echo(cfg, launch, mode, cpus.1.as_deref())?;
            let plain = SidecarConfig::plain(mode);
            let mut sidecar = start_chain(
                cfg,
                launch,
                &plain,
                &echo,
                cpus.2.as_deref(),
                cfg.chain,
                None,
            )?;
            let max_rps = max_rate(mode, sidecar.listen(), smallest, cpus.0, &mut notes)?;
            sidecar.check_running()?;
            max_rate_rps.insert(mode, max_rps);
        }
    }
    let common_max = max_rate_rps
        .iter()
        .min_by(|a, b| a.1.total_cmp(b.1))
        .map(|(m, r)| (*m, *r));
    if let Some((mode, rate)) = common_max
        && max_rate_rps.len() > 1
    {
        notes.push(format!(
            "open-loop rates are fractions of the lowest maximum rate of the profiled modes, \
             {rate:.0} requests/s ({mode}), so that every mode is measured at the same rates"
        ));
    }

    for mode in cfg.modes_in_order() {
        progress(Progress::Phase(format!(
            "{mode}: starting the application and the sidecar"
        )));
        let (_socket_dir, echo) = start_echo(cfg, launch, mode, cpus.1.as_deref())?;
        probe.add_target(echo.pid(), Role::App)?;
        let plain = SidecarConfig::plain(mode);
        let mut sidecar = start_chain(
            cfg,
            launch,
            &plain,
            &echo,
            cpus.2.as_deref(),
            cfg.chain,
            Some(&mut probe),
        )?;
        sidecar_version = sidecar.version().map(str::to_string).or(sidecar_version);

        let loads: Vec<Load> = std::iter::once(Load::Closed)
            .chain(common_max.iter().flat_map(|(_, max_rps)| {
                cfg.rate_fractions.iter().map(move |f| Load::Open {
                    fraction: *f,
                    rate: f * max_rps,
                })
            }))
            .collect();

        progress(Progress::Phase(format!("{mode}: measuring")));
        let mut block = Block {
            probe: &mut probe,
            cfg,
            cpus: cpus.clone(),
        };
        let targets = [
            (false, echo.endpoint().clone()),
            (true, sidecar.listen().clone()),
        ];
        let mut flip = false;
        for (size, load, slot) in cfg.schedule(&loads) {
            flip = !flip;
            let order: Vec<_> = if flip {
                targets.iter().collect()
            } else {
                targets.iter().rev().collect()
            };
            for (through, target) in order {
                let r = block.run_once(mode, target, size, load)?;
                if *through {
                    sidecar.check_running()?;
                }
                runs.push(Run {
                    sidecars: if *through { cfg.chain.max(1) } else { 1 },
                    ..record(&plain, *through, size, load, slot, r)
                });
                progress(Progress::Run);
            }
        }

        if cfg.filter_mode() == Some(mode) && !cfg.filters.is_empty() {
            let mut configs: Vec<SidecarConfig> = cfg
                .filters
                .iter()
                .map(|f| SidecarConfig::new(mode, vec![*f]))
                .collect::<Result<_, _>>()?;
            if cfg.filters.len() >= 2 {
                configs.push(SidecarConfig::new(mode, cfg.filters.clone())?);
            }
            for config in configs {
                progress(Progress::Phase(format!(
                    "{config}: measuring against plain {mode}"
                )));
                let combined = config.filters.len() > 1;
                let mut filtered =
                    start_sidecar(cfg, launch, &config, &echo, cpus.2.as_deref(), &mut probe)?;
                let mut block = Block {
                    probe: &mut probe,
                    cfg,
                    cpus: cpus.clone(),
                };
                let loads: Vec<Load> = if combined {
                    vec![Load::Closed]
                } else {
                    loads.clone()
                };
                for (size, load, slot) in cfg.schedule(&loads) {
                    flip = !flip;
                    let pair = [
                        (&plain, sidecar.listen().clone()),
                        (&config, filtered.listen().clone()),
                    ];
                    let order: Vec<_> = if flip {
                        pair.iter().collect()
                    } else {
                        pair.iter().rev().collect()
                    };
                    for (c, target) in order {
                        let r = block.run_once(mode, target, size, load)?;
                        filtered.check_running()?;
                        sidecar.check_running()?;
                        let mut run = record(c, true, size, load, slot, r);
                        if c.filters.is_empty() {
                            run.reference_for = Some(config.clone());
                        }
                        runs.push(run);
                        progress(Progress::Run);
                    }
                }
            }
        }
    }
    let cores = clock.cores;
    let done = clock.finish(probe)?;
    let platform = fingerprint(&cfg.sidecar, launch, sidecar_version, cores);
    let settings = done.settings(cfg, max_rate_rps);
    Ok(done.profile("", platform, notes, settings, runs))
}

/// CPU model, core count, kernel, sidecar name, version and binary hash, tool version.
pub fn fingerprint(
    sidecar: &Sidecar,
    launch: &Launch,
    version: Option<String>,
    cores: Option<u32>,
) -> Platform {
    let cpu_model = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|s| {
        s.lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
    });
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .ok()
        .map(|s| s.trim().to_string());
    let binary: Option<PathBuf> = match sidecar {
        Sidecar::Envoy { path: Some(p), .. } => Some(p.clone()),
        Sidecar::Envoy { path: None, .. } => which::which("envoy").ok(),
        Sidecar::Builtin { .. } => Some(launch.exe.clone()),
        Sidecar::Command { .. } => None,
    };
    let version = match sidecar {
        Sidecar::Builtin { .. } => Some(env!("CARGO_PKG_VERSION").to_string()),
        _ => version,
    };
    let kernel_mm = kernel
        .as_deref()
        .map(|k| k.split('.').take(2).collect::<Vec<_>>().join("."))
        .unwrap_or_else(|| "unknown".into());
    let id = format!(
        "{}-{}-{}c-linux-{}",
        sidecar.name(),
        slug(cpu_model.as_deref().unwrap_or("unknown-cpu")),
        cores.unwrap_or(0),
        kernel_mm
    );
    Platform {
        id,
        cpu_model,
        cores,
        kernel,
        sidecar: SidecarInfo {
            name: match sidecar {
                Sidecar::Command { template } => template.clone(),
                other => other.name().to_string(),
            },
            version,
            binary_sha256: binary.as_deref().and_then(sha256_file),
        },
        tool_version: Some(env!("CARGO_PKG_VERSION").to_string()),
        probe_set: Some("tracepoint".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_loops_are_measured_in_blocks_that_pair_on_their_own() {
        let cfg = MeasureConfig::quick(Sidecar::builtin());
        assert_eq!(cfg.blocks(), (6, 250));
        let odd = MeasureConfig {
            requests: 800,
            ..cfg.clone()
        };
        assert_eq!(odd.blocks(), (4, 200));
        let one = MeasureConfig {
            block_requests: 5000,
            ..cfg.clone()
        };
        assert_eq!(one.blocks(), (1, 1500));
        let loads = [
            Load::Closed,
            Load::Open {
                fraction: 0.5,
                rate: 1000.0,
            },
        ];
        let slots = cfg.slots(&loads, 1);
        let closed: Vec<u32> = slots
            .iter()
            .filter(|(l, _)| *l == Load::Closed)
            .map(|(_, s)| *s)
            .collect();
        assert_eq!(closed, (6..12).collect::<Vec<_>>());
        assert_eq!(slots.last().unwrap().1, 1);
        // Sizes interleave in time: each repeat measures every size, the first rotating.
        let schedule = cfg.schedule(&loads);
        assert_eq!(schedule.len(), 4 * 3 * (6 + 1));
        let firsts: Vec<u64> = schedule.iter().step_by(3 * 7).map(|p| p.0).collect();
        assert_eq!(firsts, [100, 2000, 4000, 100]);
        let repeat1: Vec<(u64, u32)> = schedule[21..42]
            .iter()
            .filter(|p| p.1 == Load::Closed)
            .map(|p| (p.0, p.2))
            .collect();
        let sizes: Vec<u64> = repeat1.iter().step_by(6).map(|p| p.0).collect();
        assert_eq!(sizes, [2000, 4000, 100]);
        assert!(repeat1.iter().all(|p| (6..12).contains(&p.1)));
        // Every (size, load, slot) point once.
        let mut points: Vec<_> = schedule
            .iter()
            .map(|p| (p.0, p.2, p.1 == Load::Closed))
            .collect();
        points.sort();
        points.dedup();
        assert_eq!(points.len(), schedule.len());
        // 2 modes × 3 sizes × 4 repeats × (6 blocks + 2 rates) × (with, without).
        assert_eq!(cfg.planned_runs(), 2 * 3 * 4 * 8 * 2);
        let zero = MeasureConfig {
            block_requests: 0,
            ..cfg
        };
        assert!(zero.validate().is_err());
    }
}
