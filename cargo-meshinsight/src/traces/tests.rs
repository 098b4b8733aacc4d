use std::path::{Path, PathBuf};

use super::spans::{Kind, RawSpan, RawTrace, to_graph};
use super::*;
use crate::ecg::Ecg;
use crate::predict::rebuild;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/traces")
        .join(name)
}

fn ecgs(file: &str) -> (Vec<Ecg>, Problems) {
    let (graphs, problems) = load_graphs(None, &[fixture(file)]).unwrap();
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
fn exclusive_times_add_up_to_the_root_less_overlaps() {
    let (ecgs, _) = ecgs("jaeger-crisp.json");
    let e = &ecgs[0];
    let start: Vec<f64> = e.calls.iter().map(|c| c.start_us).collect();
    let dur: Vec<f64> = e.calls.iter().map(|c| c.duration_us).collect();
    let steps = crisp::steps(e, &crisp::critical_path(e), &start, &dur);
    let ex: Vec<f64> = steps.iter().map(|s| s.exclusive_us).collect();
    // Root: 1000 less the union [10,700] and [705,990].
    assert_eq!(ex, [25.0, 290.0, 302.0, 105.0, 285.0]);
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
    let g = to_graph(&t, &mut p).unwrap();
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
    assert!(to_graph(&t, &mut p).is_none());
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
    let e = load_graphs(Some(TraceFormat::Jaeger), std::slice::from_ref(&f)).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("bad.json: line 3:"), "{msg}");
    assert!(msg.contains("data[0].spans[0].spanID"), "{msg}");
    let f = dir.path().join("bad.jsonl");
    std::fs::write(&f, "{\"resourceSpans\": []}\n{\"resourceSpans\": [}\n").unwrap();
    let e = load_graphs(Some(TraceFormat::Otlp), std::slice::from_ref(&f)).unwrap_err();
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
    let e = load_graphs(None, std::slice::from_ref(&f)).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "invalid trace file {}: line 3: timestamp `zero` is not a number of milliseconds",
            f.display()
        )
    );
    std::fs::write(&f, "a,b,c\n1,2,3\n").unwrap();
    let e = load_graphs(None, std::slice::from_ref(&f)).unwrap_err();
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
    let (v2022, p) = load_graphs(None, &[fixture("alibaba-v2022.csv")]).unwrap();
    assert_eq!(v2022[0].calls.len(), 3);
    assert_eq!(v2022[0].calls[1].service, "B");
    assert_eq!(p.get("duplicated rows (dropped)"), 0);
}

#[test]
fn on_generated_alibaba_graphs_with_ms_ties_the_rebuild_follows_crisp() {
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
            t.critical_path,
            crisp::critical_path(&ecg),
            "trace {}",
            g.trace_id
        );
        assert_eq!(t.duration_us[ecg.root], ecg.calls[ecg.root].duration_us);
        checked += usize::from(ecg.calls.len() > 5);
    }
    assert!(checked > 200, "{checked}");
}
