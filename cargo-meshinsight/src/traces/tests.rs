use std::path::{Path, PathBuf};

use super::spans::{Kind, RawSpan, RawTrace, to_graph};
use super::*;
use crate::ecg::Ecg;
use crate::predict::rebuild;

/// The size limit of files read whole, in these tests.
const LIMIT: u64 = 1 << 30;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/traces")
        .join(name)
}

fn ecgs(file: &str) -> (Vec<Ecg>, Problems) {
    let (graphs, problems) = load_graphs(None, &[fixture(file)], LIMIT).unwrap();
    let ecgs = graphs
        .iter()
        .map(|g| Ecg::resolve(g.to_ecg_doc(&Defaults::default(), "test"), Path::new(file)).unwrap())
        .collect();
    (ecgs, problems)
}

fn path_ids(ecg: &Ecg) -> Vec<String> {
    crisp::critical_path(ecg)
        .into_iter()
        .map(|k| ecg.calls[k].id.clone())
        .collect()
}

#[test]
fn jaeger_and_otlp_give_crisp_paths() {
    for file in ["jaeger-crisp.json", "otlp-crisp.jsonl"] {
        let (ecgs, problems) = ecgs(file);
        assert_eq!(ecgs.len(), 2, "{file}");
        // Overlap of 5 µs < 1% of 1000 µs: c2 runs before c3; 20 µs > 1%: it does not.
        assert_eq!(path_ids(&ecgs[0]), ["s0", "c1", "c2", "c3", "c4"], "{file}");
        assert_eq!(path_ids(&ecgs[1]), ["s0", "c1", "c5", "c3", "c4"], "{file}");
        for ecg in &ecgs {
            // A client span and its server span are one call, named after the server.
            let svc: Vec<&str> = ecg
                .calls
                .iter()
                .map(|c| ecg.services[c.to].name.as_str())
                .collect();
            assert_eq!(
                svc,
                ["frontend", "auth", "cart", "price", "db", "(unknown)"],
                "{file}"
            );
            let c3 = ecg.calls.iter().find(|c| c.id == "c3").unwrap();
            assert_eq!(
                c3.end_us(),
                700.0,
                "{file}: the server span's overhang is cut"
            );
            let c1 = ecg.calls.iter().find(|c| c.id == "c1").unwrap();
            assert_eq!((c1.request_bytes, c1.response_bytes), (512, 2048));
            assert_eq!(c1.operation.as_deref(), Some("Check"));
            // With zero overhead, the prediction's path is CRISP's.
            let zero = vec![0.0; ecg.calls.len()];
            assert_eq!(rebuild(ecg, &zero).critical_path, crisp::critical_path(ecg));
        }
        for (kind, n) in [
            ("FOLLOWS_FROM-only spans (left off, with their subtrees)", 2),
            (
                "orphan spans: parent not in the trace (left off, with their subtrees)",
                2,
            ),
            (
                "spans with a missing process or service name (service `(unknown)`)",
                2,
            ),
            (
                "spans without a remote peer (local work, folded into their call)",
                2,
            ),
            ("calls truncated to their parent's window", 2),
        ] {
            assert_eq!(
                problems.get(kind),
                n,
                "{file}: {kind}: {}",
                problems.summary()
            );
        }
    }
}

#[test]
fn exclusive_times_add_up_to_the_root() {
    let (ecgs, _) = ecgs("jaeger-crisp.json");
    let e = &ecgs[0];
    let dur: Vec<f64> = e.calls.iter().map(|c| c.duration_us).collect();
    let steps = crisp::steps(e, &crisp::critical_path(e), &dur);
    let ex: Vec<f64> = steps.iter().map(|s| s.exclusive_us).collect();
    // Root: 1000 less its children on the path, 290 + 302 + 105 + 285 (CRISP's getMetrics;
    // c1 overlaps c2 by 2 µs and c2 overlaps c3 by 5 µs, each counted once).
    assert_eq!(ex, [18.0, 290.0, 302.0, 105.0, 285.0]);
    assert_eq!(ex.iter().sum::<f64>(), 1000.0);
    assert_eq!(steps[4].service, "(unknown)");
    assert_eq!(steps[4].operation, "Render");
}

fn span(id: &str, parent: Option<&str>, service: &str, kind: Kind, s: i128, e: i128) -> RawSpan {
    RawSpan {
        span_id: id.into(),
        parent: parent.map(String::from),
        follows_from: None,
        service: Some(service.into()),
        operation: format!("op-{id}"),
        kind,
        start_ns: s * 1000,
        duration_ns: (e - s) * 1000,
        request_bytes: None,
        response_bytes: None,
        peer: None,
    }
}

#[test]
fn spans_without_kinds_become_calls_when_the_service_changes() {
    let t = RawTrace {
        trace_id: "t".into(),
        spans: vec![
            span("a", None, "web", Kind::Unspecified, 0, 100),
            span("b", Some("a"), "web", Kind::Unspecified, 10, 50),
            span("c", Some("b"), "api", Kind::Unspecified, 20, 40),
            RawSpan {
                peer: Some("redis".into()),
                ..span("d", Some("a"), "web", Kind::Client, 60, 70)
            },
            // Overhangs its parent by 5 µs; it becomes a call and is cut to 100.
            span("e", Some("a"), "log", Kind::Server, 90, 105),
        ],
    };
    let mut p = Problems::default();
    let g = to_graph(&t, &mut p).unwrap().unwrap();
    let calls: Vec<(&str, Option<usize>, &str)> = g
        .calls
        .iter()
        .map(|c| (c.id.as_str(), c.parent, c.service.as_str()))
        .collect();
    assert_eq!(
        calls,
        [
            ("a", None, "web"),
            ("d", Some(0), "redis"),
            ("e", Some(0), "log"),
            ("c", Some(0), "api"),
        ]
    );
    assert_eq!(g.calls[2].end_us(), 100.0);
    assert_eq!(
        p.get("spans without a remote peer (local work, folded into their call)"),
        1
    );
    assert_eq!(
        p.get("client spans without a server span (callee named from peer attributes)"),
        1
    );
}

#[test]
fn a_trace_without_a_root_is_dropped_and_counted() {
    let t = RawTrace {
        trace_id: "t".into(),
        spans: vec![span("b", Some("zz"), "web", Kind::Server, 0, 10)],
    };
    let mut p = Problems::default();
    assert!(to_graph(&t, &mut p).unwrap().is_none());
    assert_eq!(p.get("traces without a root span (dropped)"), 1);
}

#[test]
fn malformed_json_names_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.json");
    std::fs::write(
        &f,
        "{\"data\": [\n {\"traceID\": \"x\",\n  \"spans\": [{\"spanID\": 3}]}]}\n",
    )
    .unwrap();
    let e = load_graphs(Some(TraceFormat::Jaeger), std::slice::from_ref(&f), LIMIT).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("bad.json: line 3:"), "{msg}");
    assert!(msg.contains("data[0].spans[0].spanID"), "{msg}");
    let f = dir.path().join("bad.jsonl");
    std::fs::write(&f, "{\"resourceSpans\": []}\n{\"resourceSpans\": [}\n").unwrap();
    let e = load_graphs(Some(TraceFormat::Otlp), std::slice::from_ref(&f), LIMIT).unwrap_err();
    assert!(e.to_string().contains("bad.jsonl: line 2:"), "{e}");
}

#[test]
fn malformed_csv_names_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.csv");
    std::fs::write(
        &f,
        "traceid,timestamp,rpcid,um,rpctype,dm,interface,rt\nT,0,0,U,http,A,/,5\nT,zero,0.1,A,rpc,B,x,1\n",
    )
    .unwrap();
    let e = load_graphs(None, std::slice::from_ref(&f), LIMIT).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "invalid trace file {}: line 3: timestamp `zero` is not a number of milliseconds",
            f.display()
        )
    );
    std::fs::write(&f, "a,b,c\n1,2,3\n").unwrap();
    let e = load_graphs(None, std::slice::from_ref(&f), LIMIT).unwrap_err();
    assert!(
        e.to_string()
            .contains("line 1: not an Alibaba CallGraph header"),
        "{e}"
    );
}

#[test]
fn alibaba_files_are_read_whole_across_files() {
    let (graphs, p) = load_graphs(
        Some(TraceFormat::Alibaba),
        &[
            fixture("alibaba-v2021-a.csv"),
            fixture("alibaba-v2021-b.csv"),
        ],
        LIMIT,
    )
    .unwrap();
    let ids: Vec<&str> = graphs.iter().map(|g| g.trace_id.as_str()).collect();
    assert_eq!(ids, ["T1", "T2", "T3", "T4", "T5", "T6"]);
    // T5's rows are out of order and split over both files.
    let t5 = &graphs[4];
    let calls: Vec<(&str, &str)> = t5
        .calls
        .iter()
        .map(|c| (c.id.as_str(), c.service.as_str()))
        .collect();
    assert_eq!(calls, [("0", "A"), ("0.1", "F"), ("0.2", "G")]);
    for (kind, n) in [
        ("duplicated rows (dropped)", 1),
        ("missing parent calls (rebuilt from their children)", 1),
        ("missing service names (repaired)", 1),
        ("missing service names (left as `(unknown)`)", 2),
        ("rows without a response time (dropped)", 1),
        ("calls truncated to their parent's window", 1),
    ] {
        assert_eq!(p.get(kind), n, "{kind}: {}", p.summary());
    }
    let (v2022, p) = load_graphs(None, &[fixture("alibaba-v2022.csv")], LIMIT).unwrap();
    assert_eq!(v2022[0].calls.len(), 3);
    assert_eq!(v2022[0].calls[1].service, "B");
    assert_eq!(p.get("duplicated rows (dropped)"), 0);
}

/// With ms ties (siblings touching, ending together) the rebuild's chain of predecessors can
/// differ from CRISP's path (docs/traces.md); what `critical-path` shows with the mesh is
/// CRISP's rule on the rebuilt timeline, which with zero overhead is CRISP's path.
#[test]
fn on_generated_alibaba_graphs_with_ms_ties_the_zero_overhead_path_is_crisps() {
    let dir = tempfile::tempdir().unwrap();
    let config = generator::GenConfig {
        graphs: 1500,
        files: 2,
        seed: 11,
        schema: generator::Schema::V2021,
        problems: true,
    };
    let (files, _) = generator::write_files(&config, dir.path()).unwrap();
    let (graphs, _) = stream::read_all(&files, &stream::StreamConfig::default()).unwrap();
    let mut checked = 0;
    for g in &graphs {
        let ecg = Ecg::resolve(g.to_ecg_doc(&Defaults::default(), "t"), Path::new("g")).unwrap();
        let zero = vec![0.0; ecg.calls.len()];
        let t = rebuild(&ecg, &zero);
        assert_eq!(
            crisp::path_on(&ecg, &t.start_us, &t.duration_us),
            crisp::critical_path(&ecg),
            "trace {}",
            g.trace_id
        );
        assert_eq!(t.duration_us[ecg.root], ecg.calls[ecg.root].duration_us);
        checked += usize::from(ecg.calls.len() > 5);
    }
    assert!(checked > 200, "{checked}");
}

mod proptests {
    //! Jaeger, OTLP and Alibaba files, arbitrary or built from hostile spans and rows, give
    //! call graphs or one clear error. Every graph they give is a valid ECG whose numbers are
    //! finite, whose CRISP path keeps inside the root and whose exclusive times add up to the
    //! root's duration; it survives the import → critical-path round trip (TOML and back)
    //! with the same path; and with the paper's (positive) costs, the mesh never makes it
    //! faster.

    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::analyze::critical_path::{Mesh, trace_report};
    use crate::ecg::EcgDoc;
    use crate::model::Profile;
    use crate::predict::ProfileSet;
    use crate::test_support::hostile::{assert_one_line, hostile_f64};

    /// What every graph a reader gives must satisfy.
    fn check_graph(g: &Graph) {
        for c in &g.calls {
            assert!(c.start_us.is_finite() && c.duration_us.is_finite(), "{c:?}");
            assert!(c.duration_us >= 0.0, "{c:?}");
        }
        let doc = g.to_ecg_doc(&Defaults::default(), "proptest");
        let ecg = Ecg::resolve(doc.clone(), Path::new("g"))
            .unwrap_or_else(|e| panic!("a trace's graph must be a valid ECG: {e}\n{g:?}"));
        let mesh = Mesh {
            profiles: ProfileSet::new(vec![Profile::paper()]),
            config: "http".parse().unwrap(),
        };
        let r = trace_report(&ecg, Some(&mesh)).unwrap();
        let root = &ecg.calls[ecg.root];
        let sum: f64 = r.path.path.iter().map(|s| s.exclusive_us).sum();
        assert!(
            (sum - root.duration_us).abs() <= 1e-9 * root.duration_us.max(1.0),
            "exclusive times add up to {sum}, the root lasts {}",
            root.duration_us
        );
        for &k in &crisp::critical_path(&ecg) {
            let c = &ecg.calls[k];
            assert!(c.start_us >= root.start_us && c.end_us() <= root.end_us() + 1e-6);
        }
        let m = r.with_mesh.unwrap();
        assert!(
            m.overhead_us.is_finite() && m.overhead_us >= 0.0,
            "{}",
            m.overhead_us
        );
        let msum: f64 = m.path.path.iter().map(|s| s.exclusive_us).sum();
        assert!((msum - m.path.total_us).abs() <= 1e-9 * m.path.total_us.max(1.0));
        // import writes the TOML, critical-path (or predict) reads it back: same path.
        let back = EcgDoc::parse(&doc.to_toml(), Path::new("g.toml")).unwrap();
        let back = Ecg::resolve(back, Path::new("g.toml")).unwrap();
        let ids = |e: &Ecg| -> Vec<String> {
            crisp::critical_path(e)
                .into_iter()
                .map(|k| e.calls[k].id.clone())
                .collect()
        };
        assert_eq!(ids(&ecg), ids(&back));
    }

    fn check_spans(body: &str, format: TraceFormat) {
        let path = Path::new(if format == TraceFormat::Jaeger {
            "t.json"
        } else {
            "t.jsonl"
        });
        let traces = match format {
            TraceFormat::Jaeger => jaeger::parse(body, path),
            _ => otlp::parse(body, path),
        };
        let traces = match traces {
            Err(e) => return assert_one_line(&e),
            Ok(t) => t,
        };
        for t in &traces {
            match to_graph(t, &mut Problems::default()) {
                Err(e) => assert_one_line(&e.in_file("t.json")),
                Ok(None) => {}
                Ok(Some(g)) => check_graph(&g),
            }
        }
    }

    /// One span: parent (an earlier span, none, or one not in the trace), kind, service,
    /// start and duration (µs; hostile or ordinary), and a request size attribute.
    type SpanSpec = (Option<usize>, usize, usize, f64, f64, f64);

    fn span() -> impl Strategy<Value = SpanSpec> {
        (
            // An earlier span (its index modulo the span's own), mostly; else none, a
            // FOLLOWS_FROM or a parent not in the trace (see `parent_ref`).
            prop_oneof![12 => (0..12usize).prop_map(Some), 1 => Just(None)],
            0..7usize,
            0..5usize,
            // Mostly ordinary times, so that most documents get as far as a call graph.
            prop_oneof![40 => 0.0..2000.0f64, 1 => hostile_f64()],
            prop_oneof![40 => (0.0..2000.0f64).prop_map(f64::round), 1 => hostile_f64()],
            prop_oneof![10 => 0.0..1e4f64, 1 => hostile_f64()],
        )
    }

    enum Ref {
        Parent(usize),
        Root,
        FollowsFrom,
        Gone,
    }

    /// The reference of span `i`: the first is the root; the others mostly a child of an
    /// earlier span, sometimes a second root, a FOLLOWS_FROM or an orphan.
    fn parent_ref(i: usize, parent: Option<usize>) -> Ref {
        match parent {
            _ if i == 0 => Ref::Root,
            None => Ref::Root,
            Some(10) => Ref::FollowsFrom,
            Some(11) => Ref::Gone,
            Some(p) => Ref::Parent(p % i),
        }
    }

    const KINDS: [&str; 7] = [
        "server", "client", "internal", "producer", "consumer", "", "x",
    ];
    const SERVICES: [&str; 5] = ["a", "b", "", " ", "c"];

    fn jaeger(spans: &[SpanSpec], trace: &str) -> String {
        let spans: Vec<serde_json::Value> = spans
            .iter()
            .enumerate()
            .map(|(i, &(parent, kind, service, start, dur, size))| {
                let refs = match parent_ref(i, parent) {
                    Ref::Parent(p) => {
                        vec![json!({"refType": "CHILD_OF", "spanID": format!("s{p}")})]
                    }
                    Ref::FollowsFrom => vec![json!({"refType": "FOLLOWS_FROM", "spanID": "s0"})],
                    Ref::Gone => vec![json!({"refType": "CHILD_OF", "spanID": "gone"})],
                    Ref::Root => vec![],
                };
                json!({
                    "spanID": if i == 5 { String::new() } else { format!("s{i}") },
                    "operationName": format!("op{i}"),
                    "references": refs,
                    "startTime": 1.7e15 + start,
                    "duration": dur,
                    "processID": format!("p{service}"),
                    "tags": [
                        {"key": "span.kind", "value": KINDS[kind]},
                        {"key": "http.request.body.size", "value": size},
                        {"key": "peer.service", "value": SERVICES[(service + 1) % 5]},
                    ],
                })
            })
            .collect();
        let processes: serde_json::Map<String, serde_json::Value> = (0..5)
            .map(|s| (format!("p{s}"), json!({"serviceName": SERVICES[s]})))
            .collect();
        json!({"data": [{"traceID": trace, "spans": spans, "processes": processes}]}).to_string()
    }

    fn otlp(spans: &[SpanSpec]) -> String {
        let ns = |us: f64| -> String {
            if (0.0..1.8e16).contains(&us) {
                ((1.7e18 + us * 1000.0) as u64).to_string()
            } else {
                format!("{us}")
            }
        };
        let spans: Vec<serde_json::Value> = spans
            .iter()
            .enumerate()
            .map(|(i, &(parent, kind, _, start, dur, size))| {
                json!({
                    "traceId": "AB",
                    "spanId": format!("{i:x}"),
                    "parentSpanId": match parent_ref(i, parent) {
                        Ref::Parent(p) => format!("{p:x}"),
                        Ref::Gone | Ref::FollowsFrom => "ff".into(),
                        Ref::Root => String::new(),
                    },
                    "name": format!("op{i}"),
                    "kind": (kind + 1) as u64,
                    "startTimeUnixNano": ns(start),
                    "endTimeUnixNano": ns(start + dur),
                    "attributes": [{"key": "rpc.request.size", "value": {"doubleValue": size}}],
                })
            })
            .collect();
        json!({"resourceSpans": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]},
            "scopeSpans": [{"spans": spans}],
        }]})
        .to_string()
    }

    proptest! {
        #[test]
        fn proptest_jaeger_hostile_spans_give_valid_graphs_or_one_line(
            spans in prop::collection::vec(span(), 1..12),
            trace in prop::sample::select(vec!["t1", "", " ", "a/b"]),
        ) {
            check_spans(&jaeger(&spans, trace), TraceFormat::Jaeger);
        }

        #[test]
        fn proptest_otlp_hostile_spans_give_valid_graphs_or_one_line(
            spans in prop::collection::vec(span(), 1..12),
        ) {
            check_spans(&otlp(&spans), TraceFormat::Otlp);
        }

        #[test]
        fn proptest_span_files_arbitrary_text_never_panics(text in ".{0,300}") {
            check_spans(&text, TraceFormat::Jaeger);
            check_spans(&text, TraceFormat::Otlp);
        }
    }

    /// One Alibaba row's fields (v2021 without the index column).
    fn row() -> impl Strategy<Value = String> {
        let pick = |v: &[&'static str]| prop::sample::select(v.to_vec());
        let number = prop_oneof![
            60 => (0u32..50).prop_map(|v| v.to_string()),
            1 => hostile_f64().prop_map(|v| format!("{v}")),
            1 => pick(&["NaN", "", "-0", "x", "1e999"]).prop_map(String::from),
        ];
        (
            pick(&["T1", "T2", "(?)", ""]),
            number.clone(),
            pick(&["0", "0.1", "0.1.1", "0.2", "0.2.1.1", "0..1", "1", "0.1.2"]),
            pick(&["A", "B", "(?)", "NaN", ""]),
            pick(&["rpc", "http", "mc", "db", "mq", ""]),
            pick(&["A", "B", "C", "(?)", ""]),
            number,
        )
            .prop_map(|(t, ts, id, um, kind, dm, rt)| {
                format!("{t},{ts},{id},{um},{kind},{dm},op,{rt}")
            })
    }

    fn check_csv(body: &str, threads: usize) {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("t.csv");
        std::fs::write(&f, body).unwrap();
        let config = stream::StreamConfig {
            threads,
            temp_dir: Some(dir.path().to_path_buf()),
            ..stream::StreamConfig::default()
        };
        match stream::read_all(&[f], &config) {
            Err(e) => assert_one_line(&e),
            Ok((graphs, _)) => graphs.iter().for_each(check_graph),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(
            std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(96)
        ))]
        #[test]
        fn proptest_alibaba_hostile_rows_give_valid_graphs_or_one_line(
            rows in prop::collection::vec(row(), 0..25),
            threads in 1..3usize,
        ) {
            let body = format!("traceid,timestamp,rpcid,um,rpctype,dm,interface,rt\n{}\n", rows.join("\n"));
            check_csv(&body, threads);
        }

        #[test]
        fn proptest_alibaba_arbitrary_text_never_panics(text in "(.|\n){0,300}") {
            check_csv(&text, 1);
            check_csv(&format!("traceid,timestamp,rpcid,um,rpctype,dm,interface,rt\n{text}"), 2);
        }
    }
}

/// Found by fuzzing: a JSON key with an escaped newline, quoted in the error's path, made the
/// error two lines.
#[test]
fn a_key_with_a_newline_keeps_the_error_on_one_line() {
    let text = include_str!("../../../tests/hostile/jaeger-newline-in-key.json");
    let e = jaeger::parse(text, std::path::Path::new("t.json")).unwrap_err();
    let msg = e.to_string();
    assert!(!msg.contains('\n') && msg.contains("\\n"), "{msg:?}");
}

/// CRISP's `sanitizeOverflowingChildren`, case by case: inside kept, one overhang cut, a child
/// overhanging both ends of its parent (or wholly outside it) dropped with its subtree.
#[test]
fn clip_mask_cuts_one_overhang_and_drops_a_child_over_both_ends() {
    let call = |id: &str, parent: Option<usize>, start_us: f64, duration_us: f64| GraphCall {
        id: id.into(),
        parent,
        service: "s".into(),
        operation: "op".into(),
        start_us,
        duration_us,
        request_bytes: None,
        response_bytes: None,
    };
    let mut calls = vec![
        call("root", None, 100.0, 100.0),
        call("inside", Some(0), 120.0, 10.0),
        call("early", Some(0), 90.0, 30.0),
        call("late", Some(0), 180.0, 50.0),
        call("both", Some(0), 50.0, 300.0),
        call("under-both", Some(4), 60.0, 10.0),
        call("outside", Some(0), 250.0, 10.0),
    ];
    let mut problems = Problems::default();
    let keep = clip_mask(&mut calls, &mut problems);
    assert_eq!(keep, [true, true, true, true, false, false, false]);
    assert_eq!((calls[2].start_us, calls[2].duration_us), (100.0, 20.0));
    assert_eq!((calls[3].start_us, calls[3].duration_us), (180.0, 20.0));
    assert_eq!((calls[1].start_us, calls[1].duration_us), (120.0, 10.0));
}
