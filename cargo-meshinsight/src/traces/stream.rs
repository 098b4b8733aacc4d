//! Streaming Alibaba CSV by trace, in bounded memory, on every core.
//!
//! Pass 1 reads the files in blocks (one reader thread), and worker threads parse and check
//! each row and append it, normalized, to one of P partition files chosen by a hash of its
//! trace id. Every row of a trace thus lands in the same partition, whichever file and in
//! whatever order it came. Pass 2 loads one partition at a time per worker, sorts its rows
//! by trace and rpcid and hands each trace's call graph to the caller. P grows with the input
//! so that one partition stays near [`PARTITION_BYTES`]: memory is bounded by the number of
//! workers times that, not by the input.

use std::fs::File;
use std::hash::Hasher;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use super::alibaba::{Columns, Record, RowError, build_graph_with, row_order};
use super::{Graph, Problems, TraceError};

/// Target size of one partition file, bytes.
pub const PARTITION_BYTES: u64 = 16 << 20;
/// Most partitions made (inputs beyond `MAX_PARTITIONS × PARTITION_BYTES` get larger ones).
pub const MAX_PARTITIONS: usize = 1024;
const BLOCK_BYTES: usize = 4 << 20;

/// How to stream.
#[derive(Clone, Debug, Default)]
pub struct StreamConfig {
    /// Worker threads (0: one per core).
    pub threads: usize,
    /// Where the partition files go (default: the system's temporary directory).
    pub temp_dir: Option<PathBuf>,
    /// Leave call ids, services and operations out of the graphs (faster; analysis needs
    /// only shapes and times).
    pub lean: bool,
    /// Counters a caller can watch to show progress.
    pub progress: Option<Arc<StreamProgress>>,
}

/// How far a stream is: bytes read in the first pass, partitions built in the second.
#[derive(Debug, Default)]
pub struct StreamProgress {
    /// Bytes of CSV read so far.
    pub bytes_read: AtomicU64,
    /// Bytes of CSV in all the input files.
    pub bytes_total: AtomicU64,
    /// Partitions turned into graphs so far.
    pub partitions_done: AtomicU64,
    /// Partitions in all.
    pub partitions_total: AtomicU64,
}

impl StreamConfig {
    /// The number of worker threads used: `threads`, or one per core.
    pub fn threads_or_cores(&self) -> usize {
        if self.threads > 0 {
            self.threads
        } else {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        }
    }
}

/// What a stream saw besides the graphs.
#[derive(Clone, Debug, Default)]
pub struct StreamSummary {
    /// Rows read.
    pub rows: u64,
    /// Traces handed to the caller.
    pub graphs: u64,
    /// Problems, by kind.
    pub problems: Problems,
    /// Partitions used.
    pub partitions: usize,
    /// Wall time of pass 1 (reading and partitioning), seconds.
    pub partition_secs: f64,
    /// Wall time of pass 2 (building and handing over the graphs), seconds.
    pub graph_secs: f64,
}

struct Block {
    file: usize,
    columns: Columns,
    first_line: u64,
    bytes: Vec<u8>,
}

struct Failure(Mutex<Option<TraceError>>, AtomicBool);

impl Failure {
    fn set(&self, e: TraceError) {
        let mut slot = self.0.lock().expect("failure lock");
        if slot.is_none() {
            *slot = Some(e);
        }
        self.1.store(true, Ordering::Relaxed);
    }
    fn failed(&self) -> bool {
        self.1.load(Ordering::Relaxed)
    }
}

fn hash_of(s: &str) -> u64 {
    // A fixed-key hash: the same trace goes to the same partition in every worker.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    h.write(s.as_bytes());
    h.finish()
}

/// Streams the Alibaba CSV `paths` by trace. Each worker starts with `init()` and calls
/// `each(state, graph)` for every trace it builds; the states are returned for merging.
pub fn for_each_graph<S, I, F>(
    paths: &[PathBuf],
    config: &StreamConfig,
    init: I,
    each: F,
) -> Result<(Vec<S>, StreamSummary), TraceError>
where
    S: Send,
    I: Fn() -> S + Sync,
    F: Fn(&mut S, Graph) + Sync,
{
    let workers = config.threads_or_cores();
    let mut total = 0u64;
    for p in paths {
        total += std::fs::metadata(p)
            .map_err(|source| TraceError::Read {
                path: p.clone(),
                source,
            })?
            .len();
    }
    let partitions = (total.div_ceil(PARTITION_BYTES) as usize).clamp(workers, MAX_PARTITIONS);
    let progress = config.progress.clone().unwrap_or_default();
    progress.bytes_total.store(total, Ordering::Relaxed);
    progress
        .partitions_total
        .store(partitions as u64, Ordering::Relaxed);
    let temp_root = config.temp_dir.clone().unwrap_or_else(std::env::temp_dir);
    // Removed on drop, and on Ctrl-C when the command installed the interrupt cleanup.
    let dir = crate::harness::process::TempDir::adopt(
        tempfile::Builder::new()
            .prefix("meshinsight-traces-")
            .tempdir_in(&temp_root)
            .map_err(|source| TraceError::Temp {
                path: temp_root.clone(),
                source,
            })?,
    );
    let part_path = |p: usize, w: usize| dir.path().join(format!("p{p}-w{w}"));

    // Pass 1: partition.
    let started = std::time::Instant::now();
    let failure = Failure(Mutex::new(None), AtomicBool::new(false));
    let rows = AtomicU64::new(0);
    let mut problems = Problems::default();
    {
        let (tx, rx) = mpsc::sync_channel::<Block>(workers * 2);
        let rx = Mutex::new(rx);
        let failure = &failure;
        let rows = &rows;
        let part_path = &part_path;
        let worker_problems: Vec<Problems> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers)
                .map(|w| {
                    let rx = &rx;
                    scope.spawn(move || {
                        partition_worker(w, partitions, rx, paths, part_path, failure, rows)
                    })
                })
                .collect();
            read_blocks(paths, &tx, failure, &progress.bytes_read);
            drop(tx);
            handles
                .into_iter()
                .map(|h| h.join().expect("partition worker panicked"))
                .collect()
        });
        for p in &worker_problems {
            problems.merge(p);
        }
    }
    if let Some(e) = failure.0.into_inner().expect("failure lock") {
        return Err(e);
    }

    // Pass 2: one partition at a time per worker.
    let partition_secs = started.elapsed().as_secs_f64();
    let started = std::time::Instant::now();
    let next = AtomicUsize::new(0);
    let graphs = AtomicU64::new(0);
    let failure = Failure(Mutex::new(None), AtomicBool::new(false));
    let results: Vec<(S, Problems)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut state = init();
                    let mut problems = Problems::default();
                    let mut buf = Vec::new();
                    loop {
                        let p = next.fetch_add(1, Ordering::Relaxed);
                        if p >= partitions || failure.failed() {
                            break;
                        }
                        buf.clear();
                        for w in 0..workers {
                            let path = part_path(p, w);
                            match File::open(&path) {
                                Ok(mut f) => {
                                    if let Err(source) = f.read_to_end(&mut buf) {
                                        failure.set(TraceError::Temp { path, source });
                                    }
                                }
                                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                                Err(source) => failure.set(TraceError::Temp { path, source }),
                            }
                            let _ = std::fs::remove_file(part_path(p, w));
                        }
                        let n = graphs_of_partition(&buf, config.lean, &mut problems, |g| {
                            each(&mut state, g);
                        });
                        graphs.fetch_add(n, Ordering::Relaxed);
                        progress.partitions_done.fetch_add(1, Ordering::Relaxed);
                    }
                    (state, problems)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("analysis worker panicked"))
            .collect()
    });
    if let Some(e) = failure.0.into_inner().expect("failure lock") {
        return Err(e);
    }
    let mut states = Vec::with_capacity(results.len());
    for (s, p) in results {
        problems.merge(&p);
        states.push(s);
    }
    Ok((
        states,
        StreamSummary {
            rows: rows.into_inner(),
            graphs: graphs.into_inner(),
            problems,
            partitions,
            partition_secs,
            graph_secs: started.elapsed().as_secs_f64(),
        },
    ))
}

/// The reader: splits each file into blocks of whole lines, after its header.
fn read_blocks(
    paths: &[PathBuf],
    tx: &mpsc::SyncSender<Block>,
    failure: &Failure,
    bytes_read: &AtomicU64,
) {
    for (fi, path) in paths.iter().enumerate() {
        if failure.failed() {
            return;
        }
        let read_err = |source| TraceError::Read {
            path: path.clone(),
            source,
        };
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) => return failure.set(read_err(e)),
        };
        let mut reader = BufReader::with_capacity(1 << 16, file);
        let mut header = String::new();
        if let Err(e) = reader.read_line(&mut header) {
            return failure.set(read_err(e));
        }
        let header = header.trim_end_matches(['\n', '\r']);
        let fields: Vec<&str> = header.split(',').collect();
        let columns = match Columns::from_header(&fields) {
            Ok(c) => c,
            Err(message) => {
                return failure.set(TraceError::Invalid {
                    path: path.clone(),
                    line: 1,
                    message,
                });
            }
        };
        let mut line = 2u64;
        let mut carry: Vec<u8> = Vec::new();
        loop {
            if failure.failed() {
                return;
            }
            let mut block = std::mem::take(&mut carry);
            let start = block.len();
            block.resize(start + BLOCK_BYTES, 0);
            let n = match read_full(&mut reader, &mut block[start..]) {
                Ok(n) => n,
                Err(e) => return failure.set(read_err(e)),
            };
            block.truncate(start + n);
            bytes_read.fetch_add(n as u64, Ordering::Relaxed);
            let eof = n == 0;
            if !eof {
                // Keep the unfinished last line for the next block.
                if let Some(cut) = block.iter().rposition(|&b| b == b'\n') {
                    carry = block.split_off(cut + 1);
                } else {
                    carry = block;
                    continue;
                }
            }
            if block.is_empty() {
                break;
            }
            let lines = block.iter().filter(|&&b| b == b'\n').count() as u64;
            let sent = tx.send(Block {
                file: fi,
                columns: columns.clone(),
                first_line: line,
                bytes: block,
            });
            if sent.is_err() {
                return;
            }
            line += lines;
            if eof {
                break;
            }
        }
    }
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn partition_worker(
    w: usize,
    partitions: usize,
    rx: &Mutex<mpsc::Receiver<Block>>,
    paths: &[PathBuf],
    part_path: &(dyn Fn(usize, usize) -> PathBuf + Sync),
    failure: &Failure,
    rows: &AtomicU64,
) -> Problems {
    let mut problems = Problems::default();
    let mut writers: Vec<Option<BufWriter<File>>> = (0..partitions).map(|_| None).collect();
    let mut line_buf = Vec::with_capacity(256);
    loop {
        let block = match rx.lock().expect("channel lock").recv() {
            Ok(b) => b,
            Err(_) => break,
        };
        if failure.failed() {
            continue;
        }
        let path = &paths[block.file];
        let mut csv = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(&block.bytes[..]);
        let mut record = csv::StringRecord::new();
        let mut n = 0u64;
        loop {
            let at_line =
                |r: &csv::StringRecord| block.first_line + r.position().map_or(1, |p| p.line()) - 1;
            match csv.read_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => {
                    let line = e
                        .position()
                        .map_or(block.first_line, |p| block.first_line + p.line() - 1);
                    let message = match e.kind() {
                        csv::ErrorKind::Utf8 { .. } => "not valid UTF-8".to_string(),
                        _ => e.to_string(),
                    };
                    failure.set(TraceError::Invalid {
                        path: path.clone(),
                        line,
                        message,
                    });
                    break;
                }
            }
            n += 1;
            let mut fields = [""; 32];
            let mut count = 0;
            for f in record.iter() {
                if count < fields.len() {
                    fields[count] = f;
                }
                count += 1;
            }
            let parsed = if count > fields.len() {
                Err(RowError::Fatal(format!(
                    "expected {} fields as in the header, found {count}",
                    block.columns.len
                )))
            } else {
                block.columns.record(&fields[..count])
            };
            match parsed {
                Ok(r) => {
                    let p = (hash_of(r.traceid) % partitions as u64) as usize;
                    line_buf.clear();
                    r.write_line(&mut line_buf);
                    let writer = match &mut writers[p] {
                        Some(wr) => wr,
                        slot @ None => {
                            let pp = part_path(p, w);
                            match File::create(&pp) {
                                Ok(f) => slot.insert(BufWriter::with_capacity(32 << 10, f)),
                                Err(source) => {
                                    failure.set(TraceError::Temp { path: pp, source });
                                    break;
                                }
                            }
                        }
                    };
                    if let Err(source) = writer.write_all(&line_buf) {
                        failure.set(TraceError::Temp {
                            path: part_path(p, w),
                            source,
                        });
                        break;
                    }
                }
                Err(RowError::Drop(kind)) => problems.add(kind, 1),
                Err(RowError::Fatal(message)) => {
                    failure.set(TraceError::Invalid {
                        path: path.clone(),
                        line: at_line(&record),
                        message,
                    });
                    break;
                }
            }
        }
        rows.fetch_add(n, Ordering::Relaxed);
    }
    for (p, wr) in writers.iter_mut().enumerate() {
        if let Some(wr) = wr
            && let Err(source) = wr.flush()
        {
            failure.set(TraceError::Temp {
                path: part_path(p, w),
                source,
            });
        }
    }
    problems
}

/// Builds every trace of one partition's rows; returns how many graphs were made.
fn graphs_of_partition(
    buf: &[u8],
    lean: bool,
    problems: &mut Problems,
    mut each: impl FnMut(Graph),
) -> u64 {
    let text = String::from_utf8_lossy(buf);
    // Sorted by a hash of the trace id first: most comparisons end on one integer.
    let mut keyed: Vec<(u64, Record<'_>)> = text
        .split_terminator('\n')
        .filter_map(Record::read_line)
        .map(|r| (hash_of(r.traceid) >> 16, r))
        .collect();
    keyed.sort_unstable_by(|(ka, a), (kb, b)| {
        ka.cmp(kb)
            .then_with(|| a.traceid.cmp(b.traceid))
            .then_with(|| row_order(a, b))
    });
    let rows: Vec<Record<'_>> = keyed.into_iter().map(|(_, r)| r).collect();
    let mut n = 0;
    let mut i = 0;
    while i < rows.len() {
        let t = rows[i].traceid;
        let mut j = i;
        while j < rows.len() && rows[j].traceid == t {
            j += 1;
        }
        if let Some(g) = build_graph_with(t, &rows[i..j], problems, !lean) {
            n += 1;
            each(g);
        }
        i = j;
    }
    n
}

/// Reads every trace of small Alibaba files in one thread, for import and tests.
pub fn read_all(
    paths: &[PathBuf],
    config: &StreamConfig,
) -> Result<(Vec<Graph>, StreamSummary), TraceError> {
    let (states, summary) =
        for_each_graph(paths, config, Vec::new, |v: &mut Vec<Graph>, g| v.push(g))?;
    let mut all: Vec<Graph> = states.into_iter().flatten().collect();
    all.sort_by(|a, b| a.trace_id.cmp(&b.trace_id));
    Ok((all, summary))
}

/// Whether `path` looks like an Alibaba CallGraph CSV (by its header).
pub fn is_alibaba_csv(path: &Path) -> bool {
    let Ok(f) = File::open(path) else {
        return false;
    };
    let mut header = String::new();
    if BufReader::new(f).read_line(&mut header).is_err() {
        return false;
    }
    let fields: Vec<&str> = header.trim_end().split(',').collect();
    Columns::from_header(&fields).is_ok()
}
