//! The load generator: closed loop (exactly one request in flight, for latency), open loop at
//! a constant rate with coordinated-omission correction (for CPU), and a search for the
//! maximum sustainable rate. Protocols tcp, http and grpc; every response's payload is
//! checked. Latencies go into an HdrHistogram (nanoseconds, 3 significant digits).
//!
//! Runs in the calling process on a single-threaded tokio runtime; the open loop's schedule is
//! kept by a separate timer thread (tokio's timer has millisecond granularity).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::client::{CallError, Client, Expect};
use super::process::pin_current_thread;
use super::wire;
use super::{Endpoint, FORMAT_VERSION, HarnessError};
use crate::vocab::Mode;

/// When a run ends.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Stop {
    /// After this many measured requests.
    Requests(u64),
    /// After this much measured time.
    Duration(Duration),
}

/// A closed-loop run: one connection, one request in flight.
#[derive(Clone, Debug)]
pub struct ClosedLoop {
    /// Protocol.
    pub mode: Mode,
    /// Where to send requests (the echo application or a sidecar in front of it).
    pub target: Endpoint,
    /// Payload bytes per request (and per response).
    pub size: usize,
    /// Requests sent before measuring.
    pub warmup: u64,
    /// When to stop measuring.
    pub stop: Stop,
    /// Pin the load generator's thread to this CPU.
    pub pin_cpu: Option<usize>,
}

/// An open-loop run at a constant rate, latency measured from each request's intended send
/// time (coordinated-omission correction, as wrk2 does).
#[derive(Clone, Debug)]
pub struct OpenLoop {
    /// Protocol.
    pub mode: Mode,
    /// Where to send requests.
    pub target: Endpoint,
    /// Payload bytes per request (and per response).
    pub size: usize,
    /// Requests per second.
    pub rate: f64,
    /// Requests that may be in flight at once (connections for tcp/http, streams on one
    /// connection for grpc).
    pub connections: usize,
    /// Time at the rate before measuring.
    pub warmup: Duration,
    /// Time measured.
    pub duration: Duration,
    /// Pin the load generator's thread to this CPU.
    pub pin_cpu: Option<usize>,
}

/// Latency percentiles of a run, in microseconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Median.
    pub p50_us: f64,
    /// 90th percentile.
    pub p90_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// Smallest.
    pub min_us: f64,
    /// Largest.
    pub max_us: f64,
    /// Mean.
    pub mean_us: f64,
    /// Standard deviation.
    pub stdev_us: f64,
}

impl Latency {
    pub(crate) fn from_histogram(h: &Histogram<u64>) -> Self {
        let us = |ns: f64| ns / 1000.0;
        let q = |q: f64| us(h.value_at_quantile(q) as f64);
        Latency {
            p50_us: q(0.5),
            p90_us: q(0.9),
            p99_us: q(0.99),
            p999_us: q(0.999),
            min_us: us(h.min() as f64),
            max_us: us(h.max() as f64),
            mean_us: us(h.mean()),
            stdev_us: us(h.stdev()),
        }
    }
}

/// The result of one load run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LoadResult {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// `closed` or `open`.
    pub kind: String,
    /// Protocol.
    pub mode: Mode,
    /// Where the requests went.
    pub target: String,
    /// Payload bytes.
    pub size: usize,
    /// The open loop's rate.
    pub target_rps: Option<f64>,
    /// Measured requests.
    pub requests: u64,
    /// Open loop: measured requests that had not been sent when the run was cut off.
    pub unfinished: u64,
    /// Measured time in seconds.
    pub seconds: f64,
    /// Measured requests per second.
    pub achieved_rps: f64,
    /// Latency percentiles.
    pub latency: Latency,
    /// Start of the measured window (Unix time, ns), to line up with probe data.
    pub started_unix_ns: u64,
    /// End of the measured window (Unix time, ns).
    pub ended_unix_ns: u64,
    #[serde(skip)]
    pub(crate) histogram: Option<Histogram<u64>>,
}

impl LoadResult {
    /// The raw histogram (nanoseconds), for merging runs.
    pub fn histogram(&self) -> Option<&Histogram<u64>> {
        self.histogram.as_ref()
    }
}

fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000_000, 3).expect("valid histogram bounds")
}

fn unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

fn runtime() -> Result<tokio::runtime::Runtime, HarnessError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| HarnessError::Io {
            what: "start the load generator's runtime".into(),
            source,
        })
}

fn load_error(target: &Endpoint, completed: u64, source: CallError) -> HarnessError {
    HarnessError::Load {
        target: target.to_string(),
        completed,
        source,
    }
}

/// Runs a closed loop: one connection, the next request after the previous response.
pub fn run_closed_loop(cfg: &ClosedLoop) -> Result<LoadResult, HarnessError> {
    if let Some(cpu) = cfg.pin_cpu {
        pin_current_thread(cpu)?;
    }
    runtime()?.block_on(async {
        let mut client = Client::connect(cfg.mode, &cfg.target)
            .await
            .map_err(|e| load_error(&cfg.target, 0, e))?;
        let mut seq = 0u64;
        for _ in 0..cfg.warmup {
            client
                .call(&wire::payload(cfg.size, seq), Expect::Echo)
                .await
                .map_err(|e| load_error(&cfg.target, seq, e))?;
            seq += 1;
        }
        let mut hist = new_histogram();
        let started_unix_ns = unix_ns();
        let start = Instant::now();
        let mut n = 0u64;
        loop {
            match cfg.stop {
                Stop::Requests(count) if n >= count => break,
                Stop::Duration(d) if start.elapsed() >= d => break,
                _ => {}
            }
            let p = wire::payload(cfg.size, seq);
            let t = Instant::now();
            client
                .call(&p, Expect::Echo)
                .await
                .map_err(|e| load_error(&cfg.target, seq, e))?;
            hist.saturating_record(t.elapsed().as_nanos() as u64);
            n += 1;
            seq += 1;
        }
        let seconds = start.elapsed().as_secs_f64();
        Ok(LoadResult {
            format_version: FORMAT_VERSION,
            kind: "closed".into(),
            mode: cfg.mode,
            target: cfg.target.to_string(),
            size: cfg.size,
            target_rps: None,
            requests: n,
            unfinished: 0,
            seconds,
            achieved_rps: n as f64 / seconds.max(1e-9),
            latency: Latency::from_histogram(&hist),
            started_unix_ns,
            ended_unix_ns: unix_ns(),
            histogram: Some(hist),
        })
    })
}

/// Runs an open loop at `cfg.rate` requests per second: a ticker thread hands out each
/// request's intended send time, and one worker per connection sends them.
pub fn run_open_loop(cfg: &OpenLoop) -> Result<LoadResult, HarnessError> {
    if !(cfg.rate > 0.0 && cfg.rate.is_finite()) {
        return Err(HarnessError::Config(format!(
            "rate must be positive, not {}",
            cfg.rate
        )));
    }
    if let Some(cpu) = cfg.pin_cpu {
        pin_current_thread(cpu)?;
    }
    runtime()?.block_on(async {
        let clients = connect_all(cfg)
            .await
            .map_err(|e| load_error(&cfg.target, 0, e))?;
        let window = Window::new(cfg);
        let shared = Arc::new(Shared {
            failed: AtomicBool::new(false),
            hist: Mutex::new(new_histogram()),
            completed: AtomicU64::new(0),
            unfinished: AtomicU64::new(0),
        });
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<(u64, Instant)>();
        let ticker = spawn_ticker(window, Duration::from_secs_f64(1.0 / cfg.rate), &shared, tx)?;
        let rx = Arc::new(tokio::sync::Mutex::new(rx));
        let mut workers = tokio::task::JoinSet::new();
        for client in clients {
            workers.spawn(worker(client, cfg.size, window, rx.clone(), shared.clone()));
        }
        let started_unix_ns = unix_ns()
            + window
                .measure_from
                .saturating_duration_since(Instant::now())
                .as_nanos() as u64;
        let mut first_error = None;
        while let Some(done) = workers.join_next().await {
            match done {
                Ok(Err(e)) if first_error.is_none() => first_error = Some(e),
                Err(e) if first_error.is_none() => first_error = Some(CallError::Task(e)),
                _ => {}
            }
        }
        let _ = ticker.join();
        let n = shared.completed.load(Ordering::Relaxed);
        if let Some(e) = first_error {
            return Err(load_error(&cfg.target, n, e));
        }
        Ok(open_result(cfg, shared, started_unix_ns))
    })
}

/// The connections of an open loop (for grpc: streams on one connection).
async fn connect_all(cfg: &OpenLoop) -> Result<Vec<Client>, CallError> {
    let connections = cfg.connections.max(1);
    let mut clients = Vec::with_capacity(connections);
    match cfg.mode {
        Mode::Grpc => {
            let client = Client::connect(cfg.mode, &cfg.target).await?;
            for _ in 1..connections {
                clients.push(client.another_stream().expect("a grpc client"));
            }
            clients.push(client);
        }
        _ => {
            for _ in 0..connections {
                clients.push(Client::connect(cfg.mode, &cfg.target).await?);
            }
        }
    }
    Ok(clients)
}

/// When an open loop sends and measures.
#[derive(Clone, Copy)]
struct Window {
    /// The first request's intended send time.
    start: Instant,
    /// Requests intended from here on are measured ...
    measure_from: Instant,
    /// ... until here, when the ticker stops.
    end: Instant,
    /// Requests still waiting to be sent after this are counted as unfinished instead.
    cutoff: Instant,
}

impl Window {
    fn new(cfg: &OpenLoop) -> Window {
        let start = Instant::now() + Duration::from_millis(1);
        let measure_from = start + cfg.warmup;
        let end = measure_from + cfg.duration;
        Window {
            start,
            measure_from,
            end,
            cutoff: end + cfg.duration.max(Duration::from_millis(500)),
        }
    }
}

/// What the ticker and the workers of an open loop share.
struct Shared {
    /// A worker's call failed: everyone stops.
    failed: AtomicBool,
    /// Latencies of measured requests, from their intended send time.
    hist: Mutex<Histogram<u64>>,
    /// Measured requests answered.
    completed: AtomicU64,
    /// Measured requests not sent before the cutoff.
    unfinished: AtomicU64,
}

/// Sends `(sequence number, intended send time)` at `interval` from the window's start to its
/// end, on a thread of its own (tokio's timer has millisecond granularity).
fn spawn_ticker(
    window: Window,
    interval: Duration,
    shared: &Arc<Shared>,
    tx: tokio::sync::mpsc::UnboundedSender<(u64, Instant)>,
) -> Result<std::thread::JoinHandle<()>, HarnessError> {
    let shared = shared.clone();
    std::thread::Builder::new()
        .name("open-loop-ticker".into())
        .spawn(move || {
            // SAFETY: prctl(PR_SET_TIMERSLACK) only changes this thread's timer slack.
            unsafe {
                libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong);
            }
            let mut i = 0u64;
            loop {
                let t = window.start + interval.mul_f64(i as f64);
                if t >= window.end || shared.failed.load(Ordering::Relaxed) {
                    break;
                }
                let now = Instant::now();
                if t > now {
                    std::thread::sleep(t - now);
                }
                if tx.send((i, t)).is_err() {
                    break;
                }
                i += 1;
            }
        })
        .map_err(|source| HarnessError::Io {
            what: "start the ticker thread".into(),
            source,
        })
}

/// One connection of an open loop: sends each request the ticker hands out, and records the
/// latency of the measured ones.
async fn worker(
    mut client: Client,
    size: usize,
    window: Window,
    rx: Arc<tokio::sync::Mutex<tokio::sync::mpsc::UnboundedReceiver<(u64, Instant)>>>,
    shared: Arc<Shared>,
) -> Result<(), CallError> {
    loop {
        let job = rx.lock().await.recv().await;
        let Some((seq, intended)) = job else {
            return Ok(());
        };
        if shared.failed.load(Ordering::Relaxed) {
            return Ok(());
        }
        if Instant::now() > window.cutoff {
            if intended >= window.measure_from {
                shared.unfinished.fetch_add(1, Ordering::Relaxed);
            }
            continue;
        }
        let p = wire::payload(size, seq);
        if let Err(e) = client.call(&p, Expect::Echo).await {
            shared.failed.store(true, Ordering::Relaxed);
            return Err(e);
        }
        if intended >= window.measure_from {
            let latency = Instant::now().saturating_duration_since(intended);
            shared
                .hist
                .lock()
                .expect("histogram lock")
                .saturating_record(latency.as_nanos() as u64);
            shared.completed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The result of a finished open loop (its workers and ticker done).
fn open_result(cfg: &OpenLoop, shared: Arc<Shared>, started_unix_ns: u64) -> LoadResult {
    let n = shared.completed.load(Ordering::Relaxed);
    let unfinished = shared.unfinished.load(Ordering::Relaxed);
    let hist = Arc::try_unwrap(shared)
        .map(|s| s.hist.into_inner().expect("histogram lock"))
        .unwrap_or_else(|arc| arc.hist.lock().expect("histogram lock").clone());
    let seconds = cfg.duration.as_secs_f64();
    LoadResult {
        format_version: FORMAT_VERSION,
        kind: "open".into(),
        mode: cfg.mode,
        target: cfg.target.to_string(),
        size: cfg.size,
        target_rps: Some(cfg.rate),
        requests: n,
        unfinished,
        seconds,
        achieved_rps: n as f64 / seconds,
        latency: Latency::from_histogram(&hist),
        started_unix_ns,
        ended_unix_ns: started_unix_ns + cfg.duration.as_nanos() as u64,
        histogram: Some(hist),
    }
}

/// A search for the highest rate the target sustains.
#[derive(Clone, Debug)]
pub struct MaxRateSearch {
    /// The open loop to run (its `rate` is ignored).
    pub open_loop: OpenLoop,
    /// A rate is sustained when its p99 stays under this (µs) ...
    pub max_p99_us: f64,
    /// ... and at least this share of the requests completed in the window.
    pub min_completion: f64,
    /// Stop when the bracket is this narrow, relative.
    pub precision: f64,
    /// Give up after this many steps.
    pub max_steps: usize,
    /// Run a failing rate once more and call it not sustained only when it fails again: on a
    /// shared machine one stall of a few ms fails a 300 ms step, and a binary search never
    /// goes back above a rate it once saw fail.
    pub confirm_failures: bool,
}

impl MaxRateSearch {
    /// Defaults: p99 under 10 ms, 95 % completed, 5 % precision, 12 steps, failures confirmed.
    pub fn new(open_loop: OpenLoop) -> Self {
        MaxRateSearch {
            open_loop,
            max_p99_us: 10_000.0,
            min_completion: 0.95,
            precision: 0.05,
            max_steps: 12,
            confirm_failures: true,
        }
    }
}

/// The result of a maximum-rate search.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MaxRate {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// Protocol.
    pub mode: Mode,
    /// Payload bytes.
    pub size: usize,
    /// The highest rate that was sustained (requests per second).
    pub max_rps: f64,
    /// Every step, in order.
    pub steps: Vec<LoadResult>,
}

/// Finds the maximum sustainable rate: doubling from the closed-loop rate, then bisecting.
pub fn find_max_rate(search: &MaxRateSearch) -> Result<MaxRate, HarnessError> {
    let base = &search.open_loop;
    let probe = run_closed_loop(&ClosedLoop {
        mode: base.mode,
        target: base.target.clone(),
        size: base.size,
        warmup: 50,
        stop: Stop::Duration(Duration::from_millis(200)),
        pin_cpu: base.pin_cpu,
    })?;
    let mut steps = Vec::new();
    let sustained = |rate: f64, steps: &mut Vec<LoadResult>| -> Result<bool, HarnessError> {
        // A confirmation is a step too: never more than `max_steps` in all.
        let tries = if search.confirm_failures && steps.len() + 2 <= search.max_steps {
            2
        } else {
            1
        };
        for _ in 0..tries {
            let run = run_open_loop(&OpenLoop {
                rate,
                ..base.clone()
            })?;
            let ok = run.unfinished == 0
                && run.achieved_rps >= search.min_completion * rate
                && run.latency.p99_us <= search.max_p99_us;
            steps.push(run);
            if ok {
                return Ok(true);
            }
        }
        Ok(false)
    };
    let (mut lo, mut hi) = (0.0, probe.achieved_rps.max(10.0));
    while steps.len() < search.max_steps && sustained(hi, &mut steps)? {
        lo = hi;
        hi *= 2.0;
    }
    while steps.len() < search.max_steps && (hi - lo) / hi > search.precision {
        let mid = (lo + hi) / 2.0;
        if sustained(mid, &mut steps)? {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(MaxRate {
        format_version: FORMAT_VERSION,
        mode: base.mode,
        size: base.size,
        max_rps: lo,
        steps,
    })
}
