//! Synthetic Alibaba CallGraph CSV, for tests and benchmarks (never real rows: their licence
//! is research-only).
//!
//! Shape: heavy-tailed graph sizes (a third of the graphs have 1 to 3 calls, the rest a
//! Pareto tail capped at 400), bounded depth, stateful leaves (mc, db, mq) under rpc/http
//! calls, children run one after another or side by side. rpc and http calls get two rows
//! (caller rt > 0, callee rt < 0 and up to 1 ms later), mc/db/mq one. With `problems`, the
//! data has the faults of the real trace at small rates: missing names (`(?)`, `NaN`,
//! empty), duplicated rows, missing parent and root calls, unusable rt, children overhanging
//! their parent by a millisecond, rows out of order and traces split across files.

use std::io::Write;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};

/// The CSV schema to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Schema {
    /// `,traceid,timestamp,rpcid,um,rpctype,dm,interface,rt` (with the index column).
    V2021,
    /// `timestamp,traceid,service,rpc_id,rpctype,um,uminstanceid,interface,dm,dminstanceid,rt`.
    V2022,
}

/// What to generate.
#[derive(Clone, Debug)]
pub(crate) struct GenConfig {
    /// Number of call graphs (traces).
    pub(crate) graphs: u64,
    /// Number of files the rows are spread over (by time, as the real trace is).
    pub(crate) files: usize,
    /// Random seed: the same seed gives the same files.
    pub(crate) seed: u64,
    /// Schema.
    pub(crate) schema: Schema,
    /// Put the real trace's data problems in.
    pub(crate) problems: bool,
}

/// What was generated.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct GenSummary {
    /// Rows written.
    pub(crate) rows: u64,
    /// Calls generated (before any problem was put in).
    pub(crate) calls: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Http,
    Rpc,
    Mc,
    Db,
    Mq,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Http => "http",
            Kind::Rpc => "rpc",
            Kind::Mc => "mc",
            Kind::Db => "db",
            Kind::Mq => "mq",
        }
    }
    fn stateless(self) -> bool {
        matches!(self, Kind::Http | Kind::Rpc)
    }
}

struct GenCall {
    parent: Option<usize>,
    kind: Kind,
    rpcid: String,
    service: u32,
    interface: u32,
    children: Vec<usize>,
    start: i64,
    rt: i64,
}

struct Row {
    trace: u64,
    ts: i64,
    rpcid: String,
    um: String,
    kind: Kind,
    dm: String,
    interface: u32,
    rt: String,
    file: usize,
}

const SERVICES: u32 = 3000;
const ENTRY_SERVICES: u32 = 60;

fn service_name(kind: Kind, n: u32) -> String {
    match kind {
        Kind::Http | Kind::Rpc => format!("MS_{n}"),
        Kind::Mc => format!("MEMCACHED_{}", n % 200),
        Kind::Db => format!("DB_{}", n % 300),
        Kind::Mq => format!("MQ_{}", n % 50),
    }
}

fn graph_size(rng: &mut StdRng) -> usize {
    if rng.random_bool(0.35) {
        rng.random_range(1..=3)
    } else {
        // Pareto(x_m = 3, alpha = 1.4), capped.
        let u: f64 = rng.random_range(f64::EPSILON..1.0);
        ((3.0 / u.powf(1.0 / 1.4)).ceil() as usize).min(400)
    }
}

fn make_graph(rng: &mut StdRng, base_ms: i64) -> Vec<GenCall> {
    let n = graph_size(rng);
    let mut calls: Vec<GenCall> = Vec::with_capacity(n);
    calls.push(GenCall {
        parent: None,
        kind: Kind::Http,
        rpcid: "0".into(),
        service: rng.random_range(0..ENTRY_SERVICES),
        interface: rng.random_range(0..20),
        children: Vec::new(),
        start: base_ms,
        rt: 0,
    });
    let mut depth = vec![0usize];
    for i in 1..n {
        // A parent that can call out: a recent one (depth) or any one (fan-out).
        let mut parent = if rng.random_bool(0.5) {
            rng.random_range(i.saturating_sub(3)..i)
        } else {
            rng.random_range(0..i)
        };
        while !calls[parent].kind.stateless() || depth[parent] >= 6 {
            parent = calls[parent].parent.unwrap_or(0);
        }
        let kind = match rng.random_range(0..100) {
            0..50 => Kind::Rpc,
            50..75 => Kind::Mc,
            75..90 => Kind::Db,
            90..95 => Kind::Mq,
            _ => Kind::Http,
        };
        let ordinal = calls[parent].children.len() + 1;
        let rpcid = format!("{}.{ordinal}", calls[parent].rpcid);
        calls[parent].children.push(i);
        depth.push(depth[parent] + 1);
        calls.push(GenCall {
            parent: Some(parent),
            kind,
            rpcid,
            service: rng.random_range(ENTRY_SERVICES..SERVICES),
            interface: rng.random_range(0..40),
            children: Vec::new(),
            start: 0,
            rt: 0,
        });
    }
    // Durations bottom-up (children have larger indices), then starts top-down.
    let mut sequential = vec![false; n];
    for i in (0..n).rev() {
        let own: i64 = match calls[i].kind {
            Kind::Mc | Kind::Mq => rng.random_range(0..=1),
            Kind::Db => rng.random_range(1..=8),
            Kind::Rpc | Kind::Http => rng.random_range(1..=6),
        };
        let kids = &calls[i].children;
        let span = if kids.is_empty() {
            0
        } else if rng.random_bool(0.5) {
            sequential[i] = true;
            kids.iter().map(|&k| calls[k].rt).sum::<i64>()
        } else {
            kids.iter().map(|&k| calls[k].rt).max().unwrap_or(0)
        };
        calls[i].rt = own + span;
    }
    for i in 0..n {
        let mut at = calls[i].start + rng.random_range(0..=1).min(calls[i].rt);
        let kids = calls[i].children.clone();
        for k in kids {
            calls[k].start = at;
            if sequential[i] {
                at += calls[k].rt;
            }
        }
    }
    calls
}

fn write_row(out: &mut impl Write, schema: Schema, index: u64, r: &Row) -> std::io::Result<()> {
    let iface = r.interface;
    match schema {
        Schema::V2021 => writeln!(
            out,
            "{index},T{:016x},{},{},{},{},{},op_{iface},{}",
            r.trace,
            r.ts,
            r.rpcid,
            r.um,
            r.kind.as_str(),
            r.dm,
            r.rt
        ),
        Schema::V2022 => writeln!(
            out,
            "{},T{:016x},{},{},{},{},{}_1,op_{iface},{},{}_1,{}",
            r.ts,
            r.trace,
            r.um,
            r.rpcid,
            r.kind.as_str(),
            r.um,
            r.um,
            r.dm,
            r.dm,
            r.rt
        ),
    }
}

impl GenConfig {
    /// The number of files written: `files`, at least one.
    pub(crate) fn file_count(&self) -> usize {
        self.files.max(1)
    }
}

/// The name of file `f` of a generated set.
pub(crate) fn file_name(f: usize) -> String {
    format!("alibaba-{f}.csv")
}

/// The number `f` of a file named [`file_name`]`(f)`, for any other name `None`.
pub(crate) fn file_number(name: &str) -> Option<usize> {
    let n = name.strip_prefix("alibaba-")?.strip_suffix(".csv")?;
    // `file_name` writes no sign and no leading zero.
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) || (n.len() > 1 && n.starts_with('0'))
    {
        return None;
    }
    n.parse().ok()
}

/// Writes the CSV of `config` to `outs`, one file each (its header first, then the rows that
/// fall in its time range), and flushes them.
pub(crate) fn write<W: Write>(config: &GenConfig, outs: &mut [W]) -> std::io::Result<GenSummary> {
    let files = outs.len();
    for w in outs.iter_mut() {
        match config.schema {
            Schema::V2021 => writeln!(w, ",traceid,timestamp,rpcid,um,rpctype,dm,interface,rt")?,
            Schema::V2022 => writeln!(
                w,
                "timestamp,traceid,service,rpc_id,rpctype,um,uminstanceid,interface,dm,dminstanceid,rt"
            )?,
        }
    }
    let mut summary = GenSummary::default();
    let mut rng = StdRng::seed_from_u64(config.seed);
    let mut index = vec![0u64; files];
    let mut batch: Vec<Row> = Vec::new();
    let trace_salt: u64 = rng.random();
    for t in 0..config.graphs {
        let file = ((t as u128 * files as u128) / config.graphs.max(1) as u128) as usize;
        let base_ms = (t * 10_800_000 / config.graphs.max(1)) as i64;
        let calls = make_graph(&mut rng, base_ms);
        summary.calls += calls.len() as u64;
        let trace = t.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ trace_salt;
        let mut faults = Faults {
            on: config.problems,
            rng: &mut rng,
        };
        trace_rows(&mut faults, &calls, trace, (file, files), &mut batch);
        if batch.len() >= 4096 || t + 1 == config.graphs {
            if config.problems {
                batch.shuffle(&mut rng);
            } else {
                batch.sort_by_key(|r| r.ts);
            }
            for r in batch.drain(..) {
                write_row(&mut outs[r.file], config.schema, index[r.file], &r)?;
                index[r.file] += 1;
                summary.rows += 1;
            }
        }
    }
    for w in outs.iter_mut() {
        w.flush()?;
    }
    Ok(summary)
}

/// The random source of the data problems, silent when they are off.
struct Faults<'r> {
    on: bool,
    rng: &'r mut StdRng,
}

impl Faults<'_> {
    /// Whether to put in a problem that happens with probability `prob`.
    fn hit(&mut self, prob: f64) -> bool {
        self.on && self.rng.random_bool(prob)
    }
}

/// Appends the rows of one trace to `batch`: one per mc/db/mq call, two per rpc/http call,
/// with the data problems when they are on. `file` is the trace's file of `files`.
fn trace_rows(
    f: &mut Faults<'_>,
    calls: &[GenCall],
    trace: u64,
    (file, files): (usize, usize),
    batch: &mut Vec<Row>,
) {
    let split = files > 1 && file + 1 < files && f.hit(0.03);
    // Calls whose rows go missing: an inner one (its children lose their parent) or the root.
    let mut missing = usize::MAX;
    if f.hit(0.01) {
        missing = (1..calls.len())
            .find(|&i| !calls[i].children.is_empty())
            .unwrap_or(usize::MAX);
    }
    if f.hit(0.005) && calls.len() > 1 {
        missing = 0;
    }
    let start_row = batch.len();
    for (i, c) in calls.iter().enumerate() {
        if i == missing {
            continue;
        }
        let um = match c.parent {
            None => "USER".to_string(),
            Some(q) => service_name(calls[q].kind, calls[q].service),
        };
        let dm = service_name(c.kind, c.service);
        let mut rt = c.rt;
        if c.parent.is_some() && f.hit(0.02) {
            rt += 1; // overhangs its parent after rounding
        }
        let file = if split && c.rpcid.matches('.').count() >= 2 {
            file + 1
        } else {
            file
        };
        let row = |ts: i64, rt: String, dm: String| Row {
            trace,
            ts,
            rpcid: c.rpcid.clone(),
            um: um.clone(),
            kind: c.kind,
            dm,
            interface: c.interface,
            rt,
            file,
        };
        let caller_dm = if f.hit(0.02) {
            ["(?)", "NaN", ""][f.rng.random_range(0..3)].to_string()
        } else {
            dm.clone()
        };
        batch.push(row(c.start, rt.to_string(), caller_dm));
        if c.kind.stateless() {
            let lag = f.rng.random_range(0..=1).min(rt);
            let callee_rt = if f.hit(0.005) {
                "NaN".to_string()
            } else {
                format!("-{}", rt - lag)
            };
            batch.push(row(c.start + lag, callee_rt, dm));
        }
    }
    if f.hit(0.01) && batch.len() > start_row {
        let k = f.rng.random_range(start_row..batch.len());
        let dup = Row {
            rpcid: batch[k].rpcid.clone(),
            um: batch[k].um.clone(),
            dm: batch[k].dm.clone(),
            rt: batch[k].rt.clone(),
            ..batch[k]
        };
        batch.push(dup);
    }
}

/// Writes the files of `config` into `dir` (for tests; the `generate` command opens them
/// itself).
#[cfg(test)]
pub(crate) fn write_files(
    config: &GenConfig,
    dir: &std::path::Path,
) -> std::io::Result<(Vec<std::path::PathBuf>, GenSummary)> {
    let paths: Vec<_> = (0..config.file_count())
        .map(|f| dir.join(file_name(f)))
        .collect();
    let mut outs = paths
        .iter()
        .map(|p| std::fs::File::create(p).map(std::io::BufWriter::new))
        .collect::<std::io::Result<Vec<_>>>()?;
    let summary = write(config, &mut outs)?;
    Ok((paths, summary))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traces::stream::{StreamConfig, read_all};

    #[test]
    fn generated_files_read_back_with_every_problem_counted() {
        let dir = tempfile::tempdir().unwrap();
        let config = GenConfig {
            graphs: 3000,
            files: 3,
            seed: 7,
            schema: Schema::V2021,
            problems: true,
        };
        let (files, s) = write_files(&config, dir.path()).unwrap();
        assert_eq!(files.len(), 3);
        let (graphs, summary) = read_all(&files, &StreamConfig::default()).unwrap();
        assert_eq!(summary.rows, s.rows);
        // Every trace comes back whole, even those split across files.
        assert_eq!(graphs.len(), 3000);
        let calls: usize = graphs.iter().map(|g| g.calls.len()).sum();
        assert!(calls as u64 >= s.calls * 98 / 100, "{calls} of {}", s.calls);
        for kind in [
            "duplicated rows (dropped)",
            "missing parent calls (rebuilt from their children)",
            "missing service names (repaired)",
            "rows without a response time (dropped)",
            "calls truncated to their parent's window",
        ] {
            assert!(
                summary.problems.get(kind) > 0,
                "{kind}: {}",
                summary.problems.summary()
            );
        }
        let mean = s.calls as f64 / 3000.0;
        assert!((4.0..12.0).contains(&mean), "mean graph size {mean}");
    }

    #[test]
    fn clean_v2022_files_read_back_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let config = GenConfig {
            graphs: 500,
            files: 2,
            seed: 1,
            schema: Schema::V2022,
            problems: false,
        };
        let (files, s) = write_files(&config, dir.path()).unwrap();
        let (graphs, summary) = read_all(&files, &StreamConfig::default()).unwrap();
        assert_eq!(graphs.len(), 500);
        let calls: u64 = graphs.iter().map(|g| g.calls.len() as u64).sum();
        assert_eq!(calls, s.calls, "{}", summary.problems.summary());
        let bad: u64 = summary
            .problems
            .0
            .iter()
            .filter(|(k, _)| !k.starts_with("rpc/http calls with only one"))
            .map(|(_, v)| *v)
            .sum();
        assert_eq!(bad, 0, "{}", summary.problems.summary());
    }
}
