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

use super::alibaba::{Columns, Record, RowError, build_graph, row_order};
use super::{Graph, Problems, TraceError};
use crate::harness::process::TempDir;

/// Target size of one partition file, bytes.
pub(crate) const PARTITION_BYTES: u64 = 16 << 20;
/// Most partitions made (inputs beyond `MAX_PARTITIONS × PARTITION_BYTES` get larger ones).
pub(crate) const MAX_PARTITIONS: usize = 1024;
/// Most worker threads (each writes a file per partition it meets, so more would only add
/// open files).
pub(crate) const MAX_THREADS: usize = 1024;
const BLOCK_BYTES: usize = 4 << 20;
/// The longest line read: a CSV row of the published traces is under 200 bytes, and a file
/// without newlines (or a device) must not be read whole into one line.
const MAX_LINE_BYTES: usize = 1 << 20;

/// How to stream.
#[derive(Clone, Debug, Default)]
pub(crate) struct StreamConfig {
    /// Worker threads (0: one per core).
    pub(crate) threads: usize,
    /// Where the partition files go (default: the system's temporary directory).
    pub(crate) temp_dir: Option<PathBuf>,
    /// Leave call ids, services and operations out of the graphs (faster; analysis needs
    /// only shapes and times).
    pub(crate) lean: bool,
    /// Counters a caller can watch to show progress.
    pub(crate) progress: Option<Arc<StreamProgress>>,
}

/// How far a stream is: bytes read in the first pass, partitions built in the second.
#[derive(Debug, Default)]
pub(crate) struct StreamProgress {
    /// Bytes of CSV read so far.
    pub(crate) bytes_read: AtomicU64,
    /// Bytes of CSV in all the input files.
    pub(crate) bytes_total: AtomicU64,
    /// Partitions turned into graphs so far.
    pub(crate) partitions_done: AtomicU64,
    /// Partitions in all.
    pub(crate) partitions_total: AtomicU64,
}

impl StreamConfig {
    /// The number of worker threads used: `threads`, or one per core; at most
    /// [`MAX_THREADS`].
    pub(crate) fn threads_or_cores(&self) -> usize {
        let n = if self.threads > 0 {
            self.threads
        } else {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        };
        n.min(MAX_THREADS)
    }
}

/// What a stream saw besides the graphs.
#[derive(Clone, Debug, Default)]
pub(crate) struct StreamSummary {
    /// Rows read.
    pub(crate) rows: u64,
    /// Traces handed to the caller.
    pub(crate) graphs: u64,
    /// Problems, by kind.
    pub(crate) problems: Problems,
    /// Partitions used.
    pub(crate) partitions: usize,
    /// Wall time of pass 1 (reading and partitioning), seconds.
    pub(crate) partition_secs: f64,
    /// Wall time of pass 2 (building and handing over the graphs), seconds.
    pub(crate) graph_secs: f64,
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
        let mut slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
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

/// The partition files of one stream: `count` partitions, each written by every worker to
/// a file of its own, in a temporary directory removed on drop.
struct Partitions {
    dir: TempDir,
    count: usize,
    workers: usize,
}

impl Partitions {
    /// As many partitions as keep each near [`PARTITION_BYTES`] of `total` bytes, at least
    /// one per worker and at most [`MAX_PARTITIONS`], in a new directory under the configured
    /// temporary directory.
    fn create(total: u64, workers: usize, config: &StreamConfig) -> Result<Partitions, TraceError> {
        let temp_root = config.temp_dir.clone().unwrap_or_else(std::env::temp_dir);
        // Removed on drop, and on Ctrl-C when the command installed the interrupt cleanup.
        let dir = TempDir::adopt(
            tempfile::Builder::new()
                .prefix("meshinsight-traces-")
                .tempdir_in(&temp_root)
                .map_err(|source| TraceError::Temp {
                    path: temp_root.clone(),
                    source,
                })?,
        );
        let wanted = usize::try_from(total.div_ceil(PARTITION_BYTES)).unwrap_or(usize::MAX);
        Ok(Partitions {
            dir,
            count: wanted.min(MAX_PARTITIONS).max(workers),
            workers,
        })
    }

    /// The file of partition `p` written by worker `w`.
    fn path(&self, p: usize, w: usize) -> PathBuf {
        self.dir.path().join(format!("p{p}-w{w}"))
    }

    /// The rows of partition `p`, from every worker's file, into `buf`; the files are removed.
    fn load(&self, p: usize, buf: &mut Vec<u8>) -> Result<(), TraceError> {
        let mut result = Ok(());
        for w in 0..self.workers {
            let path = self.path(p, w);
            let read = match File::open(&path) {
                Ok(mut f) => f.read_to_end(buf).map(drop),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(e),
            };
            let _ = std::fs::remove_file(&path);
            if let Err(source) = read
                && result.is_ok()
            {
                result = Err(TraceError::Temp { path, source });
            }
        }
        result
    }
}

/// Streams the Alibaba CSV `paths` by trace. Each worker starts with `init()` and calls
/// `each(state, graph)` for every trace it builds; the states are returned for merging.
pub(crate) fn for_each_graph<S, I, F>(
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
        total = total.saturating_add(super::check_regular(p)?.len());
    }
    let parts = Partitions::create(total, workers, config)?;
    let progress = config.progress.clone().unwrap_or_default();
    progress.bytes_total.store(total, Ordering::Relaxed);
    progress
        .partitions_total
        .store(parts.count as u64, Ordering::Relaxed);

    let started = std::time::Instant::now();
    let (rows, mut problems) = partition_pass(paths, &parts, &progress)?;
    let partition_secs = started.elapsed().as_secs_f64();
    let started = std::time::Instant::now();
    let (results, graphs) = graph_pass(&parts, config.lean, &progress, init, each)?;
    let mut states = Vec::with_capacity(results.len());
    for (s, p) in results {
        problems.merge(&p);
        states.push(s);
    }
    Ok((
        states,
        StreamSummary {
            rows,
            graphs,
            problems,
            partitions: parts.count,
            partition_secs,
            graph_secs: started.elapsed().as_secs_f64(),
        },
    ))
}

/// Pass 1: one thread reads the files in blocks, the workers parse them and append each row
/// to its trace's partition. Returns the rows read and the problems met.
fn partition_pass(
    paths: &[PathBuf],
    parts: &Partitions,
    progress: &StreamProgress,
) -> Result<(u64, Problems), TraceError> {
    let failure = Failure(Mutex::new(None), AtomicBool::new(false));
    let rows = AtomicU64::new(0);
    let (tx, rx) = mpsc::sync_channel::<Block>(parts.workers * 2);
    // Each worker holds the receiver: when they all stop (a panic too), it is dropped and the
    // reader's next send fails instead of blocking forever.
    let rx = Arc::new(Mutex::new(rx));
    let worker_problems: Vec<Problems> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..parts.workers)
            .map(|w| {
                let (rx, failure, rows) = (rx.clone(), &failure, &rows);
                scope.spawn(move || partition_worker(w, parts, &rx, paths, failure, rows))
            })
            .collect();
        drop(rx);
        read_blocks(paths, &tx, &failure, &progress.bytes_read);
        drop(tx);
        join_all(handles)
    });
    if let Some(e) = failure.0.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    let mut problems = Problems::default();
    for p in &worker_problems {
        problems.merge(p);
    }
    Ok((rows.into_inner(), problems))
}

/// Joins every worker, then re-raises the first panic among them: a panicking worker stops
/// the stream (after the others have ended) rather than being waited for or ignored.
fn join_all<T>(handles: Vec<std::thread::ScopedJoinHandle<'_, T>>) -> Vec<T> {
    let mut results = Vec::with_capacity(handles.len());
    let mut panic = None;
    for h in handles {
        match h.join() {
            Ok(r) => results.push(r),
            Err(payload) => {
                panic.get_or_insert(payload);
            }
        }
    }
    if let Some(payload) = panic {
        std::panic::resume_unwind(payload);
    }
    results
}

/// Pass 2: each worker takes the next partition, builds its traces and hands them to `each`.
/// Returns each worker's state and problems, and the number of graphs built.
fn graph_pass<S, I, F>(
    parts: &Partitions,
    lean: bool,
    progress: &StreamProgress,
    init: I,
    each: F,
) -> Result<(Vec<(S, Problems)>, u64), TraceError>
where
    S: Send,
    I: Fn() -> S + Sync,
    F: Fn(&mut S, Graph) + Sync,
{
    let next = AtomicUsize::new(0);
    let graphs = AtomicU64::new(0);
    let failure = Failure(Mutex::new(None), AtomicBool::new(false));
    let results: Vec<(S, Problems)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..parts.workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut state = init();
                    let mut problems = Problems::default();
                    let mut buf = Vec::new();
                    loop {
                        let p = next.fetch_add(1, Ordering::Relaxed);
                        if p >= parts.count || failure.failed() {
                            break;
                        }
                        buf.clear();
                        if let Err(e) = parts.load(p, &mut buf) {
                            failure.set(e);
                        }
                        let n = graphs_of_partition(&buf, lean, &mut problems, |g| {
                            each(&mut state, g);
                        });
                        graphs.fetch_add(n, Ordering::Relaxed);
                        progress.partitions_done.fetch_add(1, Ordering::Relaxed);
                    }
                    (state, problems)
                })
            })
            .collect();
        join_all(handles)
    });
    if let Some(e) = failure.0.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    Ok((results, graphs.into_inner()))
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
        let mut reader = match File::open(path) {
            Ok(f) => BufReader::with_capacity(1 << 16, f),
            Err(e) => return failure.set(read_err(e)),
        };
        let columns = match read_header(&mut reader, path) {
            Ok(c) => c,
            Err(e) => return failure.set(e),
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
                } else if block.len() > MAX_LINE_BYTES {
                    return failure.set(TraceError::Invalid {
                        path: path.clone(),
                        line,
                        message: format!("a line longer than {MAX_LINE_BYTES} bytes"),
                    });
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

/// The columns of a file, from its first line.
fn read_header(reader: &mut impl BufRead, path: &Path) -> Result<Columns, TraceError> {
    let mut header = String::new();
    let limit = MAX_LINE_BYTES as u64 + 1;
    reader
        .take(limit)
        .read_line(&mut header)
        .map_err(|source| TraceError::Read {
            path: path.to_path_buf(),
            source,
        })?;
    if header.len() as u64 >= limit {
        return Err(TraceError::Invalid {
            path: path.to_path_buf(),
            line: 1,
            message: format!("a line longer than {MAX_LINE_BYTES} bytes"),
        });
    }
    let header = header.trim_end_matches(['\n', '\r']);
    let fields: Vec<&str> = header.split(',').collect();
    Columns::from_header(&fields).map_err(|e| TraceError::Invalid {
        path: path.to_path_buf(),
        line: 1,
        message: e.to_string(),
    })
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

/// A partition worker: parses the blocks it receives and appends their rows to its own file
/// of each partition. Returns the problems met; failures go to `failure`.
fn partition_worker(
    w: usize,
    parts: &Partitions,
    rx: &Arc<Mutex<mpsc::Receiver<Block>>>,
    paths: &[PathBuf],
    failure: &Failure,
    rows: &AtomicU64,
) -> Problems {
    let mut problems = Problems::default();
    let mut files = PartitionFiles {
        worker: w,
        parts,
        writers: (0..parts.count).map(|_| None).collect(),
        line: Vec::with_capacity(256),
    };
    loop {
        // A worker that panicked holding the lock poisons it: stop too, the panic is re-raised.
        let Ok(guard) = rx.lock() else { break };
        let Ok(block) = guard.recv() else {
            break;
        };
        drop(guard);
        if failure.failed() {
            continue;
        }
        match partition_block(&block, &paths[block.file], &mut files, &mut problems) {
            Ok(n) => {
                rows.fetch_add(n, Ordering::Relaxed);
            }
            Err(e) => failure.set(e),
        }
    }
    files.flush(failure);
    problems
}

/// One worker's files of every partition, opened on first use.
struct PartitionFiles<'p> {
    worker: usize,
    parts: &'p Partitions,
    writers: Vec<Option<BufWriter<File>>>,
    line: Vec<u8>,
}

impl PartitionFiles<'_> {
    /// Appends `r` to the partition of its trace.
    fn append(&mut self, r: &Record<'_>) -> Result<(), TraceError> {
        let p = (hash_of(r.traceid) % self.parts.count as u64) as usize;
        let (parts, worker) = (self.parts, self.worker);
        let temp = |source| TraceError::Temp {
            path: parts.path(p, worker),
            source,
        };
        self.line.clear();
        r.write_line(&mut self.line);
        let writer = match &mut self.writers[p] {
            Some(wr) => wr,
            slot @ None => {
                let f = File::create(parts.path(p, worker)).map_err(temp)?;
                slot.insert(BufWriter::with_capacity(32 << 10, f))
            }
        };
        writer.write_all(&self.line).map_err(temp)
    }

    /// Flushes every file; failures go to `failure`.
    fn flush(&mut self, failure: &Failure) {
        for (p, wr) in self.writers.iter_mut().enumerate() {
            if let Some(wr) = wr
                && let Err(source) = wr.flush()
            {
                failure.set(TraceError::Temp {
                    path: self.parts.path(p, self.worker),
                    source,
                });
            }
        }
    }
}

/// Parses the rows of one block and appends each to its partition; returns the rows read.
/// Unusable rows are dropped and counted; a malformed one is an error naming its line.
fn partition_block(
    block: &Block,
    path: &Path,
    files: &mut PartitionFiles<'_>,
    problems: &mut Problems,
) -> Result<u64, TraceError> {
    let invalid = |line, message| TraceError::Invalid {
        path: path.to_path_buf(),
        line,
        message,
    };
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(&block.bytes[..]);
    let mut record = csv::StringRecord::new();
    let mut n = 0u64;
    loop {
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
                return Err(invalid(line, message));
            }
        }
        n += 1;
        match parse_row(&block.columns, &record) {
            Ok(r) => files.append(&r)?,
            Err(RowError::Drop(kind)) => problems.add(kind, 1),
            Err(RowError::Fatal(message)) => {
                let line = block.first_line + record.position().map_or(1, |p| p.line()) - 1;
                return Err(invalid(line, message));
            }
        }
    }
    Ok(n)
}

/// Checks one CSV record against the file's columns.
fn parse_row<'r>(columns: &Columns, record: &'r csv::StringRecord) -> Result<Record<'r>, RowError> {
    let mut fields = [""; 32];
    let mut count = 0;
    for f in record.iter() {
        if count < fields.len() {
            fields[count] = f;
        }
        count += 1;
    }
    if count > fields.len() {
        return Err(RowError::Fatal(format!(
            "expected {} fields as in the header, found {count}",
            columns.len
        )));
    }
    columns.record(&fields[..count])
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
        if let Some(g) = build_graph(t, &rows[i..j], problems, !lean) {
            n += 1;
            each(g);
        }
        i = j;
    }
    n
}

/// Reads every trace of small Alibaba files in one thread, for import and tests.
pub(crate) fn read_all(
    paths: &[PathBuf],
    config: &StreamConfig,
) -> Result<(Vec<Graph>, StreamSummary), TraceError> {
    let (states, summary) =
        for_each_graph(paths, config, Vec::new, |v: &mut Vec<Graph>, g| v.push(g))?;
    let mut all: Vec<Graph> = states.into_iter().flatten().collect();
    all.sort_by(|a, b| a.trace_id.cmp(&b.trace_id));
    Ok((all, summary))
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc::RecvTimeoutError;
    use std::time::Duration;

    use super::*;
    use crate::traces::generator::{GenConfig, Schema, write_files};

    fn generated(dir: &Path) -> Vec<PathBuf> {
        let config = GenConfig {
            graphs: 300,
            files: 2,
            seed: 3,
            schema: Schema::V2021,
            problems: true,
        };
        write_files(&config, dir).unwrap().0
    }

    /// Runs `f` in a thread; fails the test if it has not ended within a minute.
    fn ends_in_time<T: Send + 'static>(
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::thread::Result<T> {
        let (tx, rx) = mpsc::channel();
        let h = std::thread::spawn(move || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            let _ = tx.send(());
            r
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(()) | Err(RecvTimeoutError::Disconnected) => h.join().unwrap(),
            Err(RecvTimeoutError::Timeout) => panic!("still running after a minute: a hang"),
        }
    }

    #[test]
    fn a_panicking_worker_ends_the_stream_with_its_panic() {
        let dir = tempfile::tempdir().unwrap();
        let files = generated(dir.path());
        let temp = dir.path().to_path_buf();
        let r = ends_in_time(move || {
            let config = StreamConfig {
                threads: 3,
                temp_dir: Some(temp),
                ..StreamConfig::default()
            };
            for_each_graph(
                &files,
                &config,
                || 0u32,
                |n, _| {
                    *n += 1;
                    assert!(*n < 5, "a worker's bug");
                },
            )
        });
        let payload = r.expect_err("the worker's panic is raised again");
        let msg = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        assert!(msg.contains("a worker's bug"), "{msg}");
    }

    #[test]
    fn more_threads_than_partitions_are_fine() {
        let dir = tempfile::tempdir().unwrap();
        let files = generated(dir.path());
        let config = |threads| StreamConfig {
            threads,
            temp_dir: Some(dir.path().to_path_buf()),
            ..StreamConfig::default()
        };
        assert_eq!(config(usize::MAX).threads_or_cores(), MAX_THREADS);
        // 1025 workers once panicked in `clamp(workers, MAX_PARTITIONS)`.
        let (graphs, _) = read_all(&files, &config(MAX_THREADS + 1)).unwrap();
        assert_eq!(graphs.len(), 300);
    }

    #[test]
    fn a_file_without_newlines_is_refused_not_read_into_one_line() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("t.csv");
        let mut body = b"traceid,timestamp,rpcid,um,rpctype,dm,interface,rt\n".to_vec();
        body.resize(body.len() + 3 * MAX_LINE_BYTES + 10, b'x');
        std::fs::write(&f, &body).unwrap();
        let e = read_all(std::slice::from_ref(&f), &StreamConfig::default()).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "invalid trace file {}: line 2: a line longer than {MAX_LINE_BYTES} bytes",
                f.display()
            )
        );
        std::fs::write(&f, vec![b'y'; 2 * MAX_LINE_BYTES]).unwrap();
        let e = read_all(std::slice::from_ref(&f), &StreamConfig::default()).unwrap_err();
        assert!(e.to_string().contains("line 1: a line longer than"), "{e}");
        let e = read_all(&[PathBuf::from("/dev/zero")], &StreamConfig::default()).unwrap_err();
        assert_eq!(e.to_string(), "trace file /dev/zero is not a regular file");
    }
}
