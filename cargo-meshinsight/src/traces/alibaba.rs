//! Alibaba cluster-trace-microservices CallGraph CSV, v2021 and v2022.
//!
//! v2021: `,traceid,timestamp,rpcid,um,rpctype,dm,interface,rt` (also without the index
//! column); v2022: `timestamp,traceid,service,rpc_id,rpctype,um,uminstanceid,interface,dm,
//! dminstanceid,rt`. Columns are found by name, so any order works. Times are milliseconds.
//!
//! A call is one rpcid; its parent is the rpcid without its last segment. rpc and http calls
//! are recorded twice (the caller's row with a positive rt, the callee's with a negative one),
//! mc, db and mq calls once. Repairs (each counted in [`Problems`]): a missing service name
//! (`(?)`, `NaN`, empty) is taken from the call's other row or from its children's `um`; a
//! missing parent call is rebuilt from its children (callee = their `um`, window = theirs);
//! duplicated rows are dropped; rows are taken in any order.

use std::borrow::Cow;
use std::cmp::Ordering;

use super::{Graph, GraphCall, MAX_TIME_US, Problems, breadth_first, clip_to_parents, positions};

/// The largest timestamp and response time accepted, ms: [`MAX_TIME_US`] in milliseconds.
const MAX_TIME_MS: f64 = MAX_TIME_US / 1000.0;

/// Column positions of one CSV file, found from its header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Columns {
    /// Number of fields in a row.
    pub(crate) len: usize,
    traceid: usize,
    timestamp: usize,
    rpcid: usize,
    um: usize,
    rpctype: usize,
    dm: usize,
    interface: usize,
    rt: usize,
}

/// A header row that is not an Alibaba CallGraph header.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HeaderError {
    /// A column every schema has is missing.
    #[error(
        "not an Alibaba CallGraph header: no `{column}` column (expected v2021 \
         `traceid,timestamp,rpcid,um,rpctype,dm,interface,rt` or v2022 \
         `timestamp,traceid,service,rpc_id,rpctype,um,uminstanceid,interface,dm,dminstanceid,rt`)"
    )]
    MissingColumn {
        /// The column's first name.
        column: &'static str,
    },
}

impl Columns {
    /// Reads the header row; the error says which column is missing.
    pub(crate) fn from_header(fields: &[&str]) -> Result<Columns, HeaderError> {
        let need = |names: &[&'static str]| {
            fields
                .iter()
                .position(|f| names.iter().any(|n| f.trim().eq_ignore_ascii_case(n)))
                .ok_or(HeaderError::MissingColumn { column: names[0] })
        };
        Ok(Columns {
            len: fields.len(),
            traceid: need(&["traceid", "trace_id"])?,
            timestamp: need(&["timestamp"])?,
            rpcid: need(&["rpcid", "rpc_id"])?,
            um: need(&["um"])?,
            rpctype: need(&["rpctype", "rpc_type"])?,
            dm: need(&["dm"])?,
            interface: need(&["interface"])?,
            rt: need(&["rt"])?,
        })
    }
}

/// Whether a name field means "unknown".
pub(crate) fn missing_name(s: &str) -> bool {
    let s = s.trim();
    s.is_empty() || s == "(?)" || s.eq_ignore_ascii_case("nan") || s.eq_ignore_ascii_case("null")
}

fn clean(s: &str) -> &str {
    let s = s.trim();
    if missing_name(s) { "" } else { s }
}

/// One row, checked and normalized, ready to be written to a partition file.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Record<'a> {
    /// Trace id.
    pub(crate) traceid: &'a str,
    /// rpcid as a string.
    pub(crate) rpcid: &'a str,
    /// rpc, http, mc, db, mq, ...
    pub(crate) rpctype: &'a str,
    /// Caller service, empty when unknown.
    pub(crate) um: &'a str,
    /// Callee service, empty when unknown.
    pub(crate) dm: &'a str,
    /// Interface, empty when unknown.
    pub(crate) interface: &'a str,
    /// Timestamp, ms.
    pub(crate) timestamp_ms: f64,
    /// Response time, ms (negative on the callee's row); `None` when unusable.
    pub(crate) rt_ms: Option<f64>,
}

/// What to do with a row that is not a record.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum RowError {
    /// The row cannot be used, and says nothing wrong with the file: drop and count it.
    Drop(&'static str),
    /// The file is malformed here.
    Fatal(String),
}

impl Columns {
    /// Checks and normalizes one row (`fields` of a CSV record).
    pub(crate) fn record<'a>(&self, fields: &[&'a str]) -> Result<Record<'a>, RowError> {
        if fields.len() != self.len {
            return Err(RowError::Fatal(format!(
                "expected {} fields as in the header, found {}",
                self.len,
                fields.len()
            )));
        }
        let ts = fields[self.timestamp].trim();
        let timestamp_ms: f64 =
            ts.parse()
                .ok()
                .filter(|v: &f64| v.is_finite())
                .ok_or_else(|| {
                    RowError::Fatal(format!("timestamp `{ts}` is not a number of milliseconds"))
                })?;
        if !(0.0..=MAX_TIME_MS).contains(&timestamp_ms) {
            return Err(RowError::Fatal(format!(
                "timestamp `{ts}` is out of range (0 to {MAX_TIME_MS:e} ms, about 115 days)"
            )));
        }
        let rt = fields[self.rt].trim();
        let rt_ms = if missing_name(rt) {
            None
        } else {
            let v = rt
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| {
                    RowError::Fatal(format!("rt `{rt}` is not a number of milliseconds"))
                })?;
            if v.abs() > MAX_TIME_MS {
                return Err(RowError::Fatal(format!(
                    "rt `{rt}` is out of range (-{MAX_TIME_MS:e} to {MAX_TIME_MS:e} ms)"
                )));
            }
            Some(v)
        };
        let traceid = clean(fields[self.traceid]);
        if traceid.is_empty() {
            return Err(RowError::Drop("rows without a trace id (dropped)"));
        }
        let rpcid = clean(fields[self.rpcid]);
        if rpcid.is_empty() || !valid_rpcid(rpcid) {
            return Err(RowError::Drop("rows without a usable rpcid (dropped)"));
        }
        Ok(Record {
            traceid,
            rpcid,
            rpctype: clean(fields[self.rpctype]),
            um: clean(fields[self.um]),
            dm: clean(fields[self.dm]),
            interface: clean(fields[self.interface]),
            timestamp_ms,
            rt_ms,
        })
    }
}

fn valid_rpcid(s: &str) -> bool {
    s.split('.').all(|seg| !seg.is_empty())
        && !s
            .bytes()
            .any(|b| b == b'\t' || b == b'\n' || b == b'\r' || b == b' ')
}

impl Record<'_> {
    /// Appends the record as one tab-separated line (the partition file format).
    pub(crate) fn write_line(&self, out: &mut Vec<u8>) {
        fn field(out: &mut Vec<u8>, s: &str) {
            for &b in s.as_bytes() {
                out.push(if b == b'\t' || b == b'\n' || b == b'\r' {
                    b' '
                } else {
                    b
                });
            }
            out.push(b'\t');
        }
        field(out, self.traceid);
        field(out, self.rpcid);
        field(out, self.rpctype);
        field(out, self.um);
        field(out, self.dm);
        field(out, self.interface);
        let mut buf = ryu::Buffer::new();
        out.extend_from_slice(buf.format(self.timestamp_ms).as_bytes());
        out.push(b'\t');
        if let Some(rt) = self.rt_ms {
            out.extend_from_slice(buf.format(rt).as_bytes());
        }
        out.push(b'\n');
    }

    /// Parses a line written by [`Record::write_line`] (without its newline).
    pub(crate) fn read_line(line: &str) -> Option<Record<'_>> {
        let mut it = line.split('\t');
        let traceid = it.next()?;
        let rpcid = it.next()?;
        let rpctype = it.next()?;
        let um = it.next()?;
        let dm = it.next()?;
        let interface = it.next()?;
        let timestamp_ms = it.next()?.parse().ok()?;
        let rt = it.next()?;
        let rt_ms = if rt.is_empty() {
            None
        } else {
            Some(rt.parse().ok()?)
        };
        Some(Record {
            traceid,
            rpcid,
            rpctype,
            um,
            dm,
            interface,
            timestamp_ms,
            rt_ms,
        })
    }
}

/// The parent rpcid: the rpcid without its last segment.
pub(crate) fn parent_rpcid(rpcid: &str) -> Option<&str> {
    rpcid.rfind('.').map(|i| &rpcid[..i])
}

fn recorded_twice(rpctype: &str) -> bool {
    rpctype.eq_ignore_ascii_case("rpc") || rpctype.eq_ignore_ascii_case("http")
}

/// A call being assembled from its rows.
struct Pending<'a> {
    rpcid: Cow<'a, str>,
    service: &'a str,
    operation: &'a str,
    um: &'a str,
    window: Option<(f64, f64)>,
    parent: Option<usize>,
}

/// Orders rows by rpcid, then the caller's row (rt >= 0) before the callee's.
pub(crate) fn row_order(a: &Record<'_>, b: &Record<'_>) -> Ordering {
    let side = |r: &Record<'_>| r.rt_ms.is_some_and(|v| v.is_sign_negative());
    a.rpcid
        .cmp(b.rpcid)
        .then_with(|| side(a).cmp(&side(b)))
        .then_with(|| a.timestamp_ms.total_cmp(&b.timestamp_ms))
        .then_with(|| b.dm.is_empty().cmp(&a.dm.is_empty()))
}

/// Builds the call graph of one trace from its rows (sorted with [`row_order`]), repairing
/// what can be repaired and counting every problem; the graph keeps its own problems. `None`
/// when nothing usable is left. Without `names`, call ids, services and operations are left
/// empty and the graph keeps no problems (all an analysis needs is the shape and the times,
/// and names cost allocations).
pub(crate) fn build_graph(
    trace_id: &str,
    rows: &[Record<'_>],
    problems: &mut Problems,
    names: bool,
) -> Option<Graph> {
    if !names {
        return build(trace_id, rows, problems, false);
    }
    let mut own = Problems::default();
    let graph = build(trace_id, rows, &mut own, true);
    problems.merge(&own);
    graph.map(|g| Graph { problems: own, ..g })
}

fn build(
    trace_id: &str,
    rows: &[Record<'_>],
    problems: &mut Problems,
    names: bool,
) -> Option<Graph> {
    debug_assert!(
        rows.windows(2)
            .all(|w| row_order(&w[0], &w[1]) != Ordering::Greater)
    );
    let mut calls = calls_of_rows(rows, problems);
    if calls.is_empty() {
        problems.add("traces with no usable row (dropped)", 1);
        return None;
    }
    link_parents(&mut calls, problems);
    let children = children_of(&calls);
    repair_rebuilt(&mut calls, &children, problems);
    let root = entry_call(&calls, problems);
    let order = breadth_first(root, &children);
    let calls = clip_to_parents(graph_calls(&calls, &order, names), problems);
    Some(Graph {
        trace_id: trace_id.to_string(),
        calls,
        problems: Problems::default(),
    })
}

/// What merging a trace's rows into calls dropped or repaired.
#[derive(Default)]
struct RowCounts {
    no_rt: u64,
    duplicates: u64,
    once: u64,
    from_other_row: u64,
}

/// One call per rpcid, from the rows (sorted with [`row_order`]); rpcids without a usable row
/// are left out.
fn calls_of_rows<'a>(rows: &[Record<'a>], problems: &mut Problems) -> Vec<Pending<'a>> {
    let mut counts = RowCounts::default();
    let calls: Vec<Pending<'a>> = rows
        .chunk_by(|a, b| a.rpcid == b.rpcid)
        .filter_map(|group| call_of_rows(group, &mut counts))
        .collect();
    problems.add("rows without a response time (dropped)", counts.no_rt);
    problems.add("duplicated rows (dropped)", counts.duplicates);
    problems.add(
        "rpc/http calls with only one of their two rows",
        counts.once,
    );
    problems.add("missing service names (repaired)", counts.from_other_row);
    calls
}

/// The call of one rpcid's rows: the caller's row gives the window (else the callee's), either
/// row the names. `None` when no row has a response time.
fn call_of_rows<'a>(group: &[Record<'a>], counts: &mut RowCounts) -> Option<Pending<'a>> {
    let mut usable = 0u64;
    let (mut first, mut caller, mut callee) = (None, None, None);
    for r in group {
        match r.rt_ms {
            None => counts.no_rt += 1,
            Some(v) => {
                usable += 1;
                first.get_or_insert(r);
                // The callee's row has a negative rt (also `-0`).
                if v.is_sign_negative() {
                    callee.get_or_insert(r);
                } else {
                    caller.get_or_insert(r);
                }
            }
        }
    }
    let first = first?;
    let twice = recorded_twice(first.rpctype);
    let expected = if twice {
        u64::from(caller.is_some()) + u64::from(callee.is_some())
    } else {
        1
    };
    counts.duplicates += usable - expected;
    if twice && expected == 1 {
        counts.once += 1;
    }
    let main = caller.or(callee).unwrap_or(first);
    let sides = || [caller, callee].into_iter().flatten();
    let service = sides().map(|r| r.dm).find(|s| !s.is_empty()).unwrap_or("");
    if sides().next().is_some_and(|r| r.dm.is_empty()) && !service.is_empty() {
        counts.from_other_row += 1;
    }
    let operation = sides()
        .map(|r| r.interface)
        .find(|s| !s.is_empty())
        .unwrap_or("");
    let um = sides().map(|r| r.um).find(|s| !s.is_empty()).unwrap_or("");
    let rt = main.rt_ms.unwrap_or(0.0).abs();
    Some(Pending {
        rpcid: Cow::Borrowed(main.rpcid),
        service,
        operation,
        um,
        window: Some((main.timestamp_ms, main.timestamp_ms + rt)),
        parent: None,
    })
}

/// Links every call to its parent (calls are sorted by rpcid, so each is found by binary
/// search); a missing parent is rebuilt, appended after the sorted calls, with its children's
/// `um` as its service and no window yet.
fn link_parents(calls: &mut Vec<Pending<'_>>, problems: &mut Problems) {
    let mut synthesized = 0;
    let sorted = calls.len();
    // Rebuilt parents are linked too, as the loop reaches them.
    let mut k = 0;
    while k < calls.len() {
        if let Some(pid) = parent_rpcid(&calls[k].rpcid).map(str::to_string) {
            let found = calls[..sorted]
                .binary_search_by(|c| c.rpcid.as_ref().cmp(pid.as_str()))
                .ok()
                .or_else(|| {
                    calls[sorted..]
                        .iter()
                        .position(|c| c.rpcid == pid.as_str())
                        .map(|p| p + sorted)
                });
            let p = match found {
                Some(p) => p,
                None => {
                    synthesized += 1;
                    calls.push(Pending {
                        rpcid: Cow::Owned(pid),
                        service: calls[k].um,
                        operation: "",
                        um: "",
                        window: None,
                        parent: None,
                    });
                    calls.len() - 1
                }
            };
            calls[k].parent = Some(p);
        }
        k += 1;
    }
    problems.add(
        "missing parent calls (rebuilt from their children)",
        synthesized,
    );
}

/// The children of each call, in call order.
fn children_of(calls: &[Pending<'_>]) -> Vec<Vec<usize>> {
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); calls.len()];
    for (c, call) in calls.iter().enumerate() {
        if let Some(p) = call.parent {
            children[p].push(c);
        }
    }
    children
}

/// Gives rebuilt parents the window their children span, and calls without a service name
/// their children's `um`, deepest first so rebuilt grandparents see their rebuilt children.
fn repair_rebuilt(calls: &mut [Pending<'_>], children: &[Vec<usize>], problems: &mut Problems) {
    let depth = |id: &str| id.bytes().filter(|&b| b == b'.').count();
    let mut by_depth: Vec<usize> = (0..calls.len()).collect();
    by_depth.sort_by_key(|&c| std::cmp::Reverse(depth(&calls[c].rpcid)));
    let (mut repaired, mut unknown) = (0, 0);
    for &c in &by_depth {
        if calls[c].window.is_none() {
            calls[c].window = children[c].iter().filter_map(|&k| calls[k].window).fold(
                None,
                |acc: Option<(f64, f64)>, (s, e)| {
                    Some(acc.map_or((s, e), |(a, b)| (a.min(s), b.max(e))))
                },
            );
        }
        if calls[c].service.is_empty() {
            let from_children = children[c]
                .iter()
                .map(|&k| calls[k].um)
                .find(|s| !s.is_empty());
            match from_children {
                Some(s) => {
                    calls[c].service = s;
                    repaired += 1;
                }
                None => unknown += 1,
            }
        }
    }
    problems.add("missing service names (repaired)", repaired);
    problems.add("missing service names (left as `(unknown)`)", unknown);
}

/// The entry call: the top-level call with the lowest rpcid; other top-level calls are
/// dropped with their calls.
fn entry_call(calls: &[Pending<'_>], problems: &mut Problems) -> usize {
    let tops: Vec<usize> = (0..calls.len())
        .filter(|&c| calls[c].parent.is_none())
        .collect();
    let root = *tops
        .iter()
        .min_by(|&&a, &&b| calls[a].rpcid.cmp(&calls[b].rpcid))
        .expect("a non-empty forest has a top");
    problems.add(
        "extra entry calls (dropped with their calls)",
        (tops.len() - 1) as u64,
    );
    root
}

/// The calls in `order` (parents first) as graph calls, ms turned into µs; without `names`,
/// ids, services and operations are left empty.
fn graph_calls(calls: &[Pending<'_>], order: &[usize], names: bool) -> Vec<GraphCall> {
    let new_index = positions(order, calls.len());
    let name = |s: &str| if names { s.to_string() } else { String::new() };
    order
        .iter()
        .map(|&c| {
            let p = &calls[c];
            let (s, e) = p.window.unwrap_or((0.0, 0.0));
            GraphCall {
                id: name(&p.rpcid),
                parent: p.parent.map(|q| new_index[q]),
                service: name(if p.service.is_empty() {
                    "(unknown)"
                } else {
                    p.service
                }),
                operation: name(p.operation),
                start_us: s * 1000.0,
                duration_us: (e - s) * 1000.0,
                request_bytes: None,
                response_bytes: None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols() -> Columns {
        Columns::from_header(&[
            "",
            "traceid",
            "timestamp",
            "rpcid",
            "um",
            "rpctype",
            "dm",
            "interface",
            "rt",
        ])
        .unwrap()
    }

    fn rec<'a>(line: &'a str) -> Record<'a> {
        let f: Vec<&str> = line.split(',').collect();
        cols().record(&f).unwrap()
    }

    fn graph(lines: &[&str]) -> (Graph, Problems) {
        let mut rows: Vec<Record<'_>> = lines.iter().map(|l| rec(l)).collect();
        rows.sort_by(row_order);
        let mut p = Problems::default();
        let g = build_graph("T", &rows, &mut p, true).unwrap();
        (g, p)
    }

    #[test]
    fn header_variants_are_recognized() {
        let v2022 =
            "timestamp,traceid,service,rpc_id,rpctype,um,uminstanceid,interface,dm,dminstanceid,rt";
        let c = Columns::from_header(&v2022.split(',').collect::<Vec<_>>()).unwrap();
        assert_eq!((c.len, c.traceid, c.rpcid, c.dm, c.rt), (11, 1, 3, 8, 10));
        let bare = "traceid,timestamp,rpcid,um,rpctype,dm,interface,rt";
        let c = Columns::from_header(&bare.split(',').collect::<Vec<_>>()).unwrap();
        assert_eq!((c.len, c.traceid, c.rt), (8, 0, 7));
        let err = Columns::from_header(&["a", "b"]).unwrap_err().to_string();
        assert!(err.contains("no `traceid` column"), "{err}");
    }

    #[test]
    fn rpc_pairs_become_one_call_and_ms_become_us() {
        let (g, p) = graph(&[
            "1,T,100,0,USER,http,A,/home,50",
            "2,T,110,0.1,A,rpc,B,get,20",
            "3,T,111,0.1,A,rpc,B,get,-18",
            "4,T,135,0.2,A,db,DB1,select,5",
        ]);
        // The entry call has only the callee's row here.
        assert_eq!(p.get("rpc/http calls with only one of their two rows"), 1);
        assert_eq!(p.0.len(), 1, "{}", p.summary());
        assert_eq!(g.calls.len(), 3);
        assert_eq!(g.calls[0].id, "0");
        assert_eq!(g.calls[0].service, "A");
        assert_eq!(g.calls[0].start_us, 100_000.0);
        assert_eq!(g.calls[0].duration_us, 50_000.0);
        assert_eq!(g.calls[1].service, "B");
        assert_eq!(g.calls[1].parent, Some(0));
        // The caller's row gives the window.
        assert_eq!(g.calls[1].start_us, 110_000.0);
        assert_eq!(g.calls[1].duration_us, 20_000.0);
        assert_eq!(g.calls[2].service, "DB1");
    }

    #[test]
    fn missing_names_are_repaired_from_the_other_row_or_the_children() {
        let (g, p) = graph(&[
            "1,T,0,0,USER,http,A,/,100",
            "2,T,10,0.1,A,rpc,(?),get,50",
            "3,T,10,0.1,A,rpc,B,get,-50",
            "4,T,20,0.2,A,rpc,NaN,put,10",
            "5,T,21,0.2.1,C,mc,MC,get,1",
            "6,T,40,0.3,A,rpc,,x,5",
        ]);
        let svc = |id: &str| g.calls.iter().find(|c| c.id == id).unwrap().service.clone();
        assert_eq!(svc("0.1"), "B");
        assert_eq!(svc("0.2"), "C");
        assert_eq!(svc("0.3"), "(unknown)");
        assert_eq!(p.get("missing service names (repaired)"), 2);
        assert_eq!(p.get("missing service names (left as `(unknown)`)"), 1);
        assert_eq!(p.get("rpc/http calls with only one of their two rows"), 3);
    }

    #[test]
    fn duplicated_rows_are_dropped_and_counted() {
        let (g, p) = graph(&[
            "1,T,0,0,USER,http,A,/,100",
            "2,T,10,0.1,A,rpc,B,get,50",
            "2,T,10,0.1,A,rpc,B,get,50",
            "3,T,10,0.1,A,rpc,B,get,-50",
            "4,T,20,0.2,A,db,D,q,3",
            "4,T,20,0.2,A,db,D,q,3",
        ]);
        assert_eq!(g.calls.len(), 3);
        assert_eq!(p.get("duplicated rows (dropped)"), 2);
    }

    #[test]
    fn missing_parents_are_rebuilt_from_their_children() {
        let (g, p) = graph(&[
            "1,T,0,0,USER,http,A,/,100",
            "2,T,30,0.1.1,B,mc,M,get,2",
            "3,T,40,0.1.2,B,db,D,q,10",
        ]);
        assert_eq!(
            p.get("missing parent calls (rebuilt from their children)"),
            1
        );
        let rebuilt = g.calls.iter().find(|c| c.id == "0.1").unwrap();
        assert_eq!(rebuilt.service, "B");
        assert_eq!(rebuilt.parent, Some(0));
        assert_eq!(rebuilt.start_us, 30_000.0);
        assert_eq!(rebuilt.duration_us, 20_000.0);
        // A missing root too.
        let (g, p) = graph(&["2,T,30,0.1,A,rpc,B,get,2", "3,T,40,0.2,A,db,D,q,10"]);
        assert_eq!(
            p.get("missing parent calls (rebuilt from their children)"),
            1
        );
        assert_eq!(g.calls[0].id, "0");
        assert_eq!(g.calls[0].service, "A");
        assert_eq!(
            (g.calls[0].start_us, g.calls[0].duration_us),
            (30_000.0, 20_000.0)
        );
    }

    #[test]
    fn overhanging_children_are_truncated_and_unusable_rows_dropped() {
        let (g, p) = graph(&[
            "1,T,0,0,USER,http,A,/,10",
            "2,T,5,0.1,A,rpc,B,get,9",
            "3,T,20,0.2,A,rpc,C,get,1",
            "4,T,3,0.3,A,rpc,C,get,NaN",
        ]);
        assert_eq!(g.calls.len(), 2);
        assert_eq!(g.calls[1].duration_us, 5_000.0);
        assert_eq!(p.get("calls truncated to their parent's window"), 1);
        assert_eq!(p.get("calls outside their parent's window (dropped)"), 1);
        assert_eq!(p.get("rows without a response time (dropped)"), 1);
    }

    #[test]
    fn malformed_rows_are_fatal_and_bad_ids_dropped() {
        let c = cols();
        let e = c
            .record(&["1", "T", "x", "0", "U", "rpc", "A", "i", "1"])
            .unwrap_err();
        assert_eq!(
            e,
            RowError::Fatal("timestamp `x` is not a number of milliseconds".into())
        );
        let e = c.record(&["1", "T", "0"]).unwrap_err();
        assert!(matches!(e, RowError::Fatal(m) if m.contains("expected 9 fields")));
        let e = c
            .record(&["1", "(?)", "0", "0", "U", "rpc", "A", "i", "1"])
            .unwrap_err();
        assert_eq!(e, RowError::Drop("rows without a trace id (dropped)"));
        let e = c
            .record(&["1", "T", "0", "0..1", "U", "rpc", "A", "i", "1"])
            .unwrap_err();
        assert_eq!(e, RowError::Drop("rows without a usable rpcid (dropped)"));
    }

    #[test]
    fn records_round_trip_through_the_partition_format() {
        let r = rec("1,T1,12,0.1.2,A,rpc,B,get x,-3.5");
        let mut buf = Vec::new();
        r.write_line(&mut buf);
        let line = std::str::from_utf8(&buf).unwrap().trim_end_matches('\n');
        assert_eq!(Record::read_line(line).unwrap(), r);
    }
}
