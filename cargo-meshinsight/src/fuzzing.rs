//! Entry points for the cargo-fuzz targets in `fuzz/` (nightly; docs/traces.md, "Hostile
//! input"): each parser or loader on arbitrary bytes, with the checks of the property tests.
//! A refusal must be one line; what loads must give finite figures, and a trace's graph must
//! be a valid ECG whose CRISP path adds up to its root. A failed check panics, which the
//! fuzzer reports as a crash.

use std::path::Path;

use crate::analyze::critical_path::{Mesh, trace_report};
use crate::ecg::{Defaults, Ecg};
use crate::model::Profile;
use crate::predict::{ProfileSet, Speedup, predict};
use crate::traces::{Graph, Problems, jaeger, otlp, spans, stream};

/// A refusal is one line.
fn one_line(e: &dyn std::error::Error) {
    let msg = e.to_string();
    assert!(!msg.trim().is_empty() && !msg.contains('\n'), "{msg:?}");
}

/// The paper's profile set.
fn paper() -> ProfileSet {
    ProfileSet::new(vec![Profile::paper()])
}

/// An ECG fixture (TOML, and the same bytes as JSON).
pub fn ecg(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for name in ["f.toml", "f.json"] {
        match Ecg::parse(text, Path::new(name)) {
            Err(e) => one_line(&e),
            Ok(ecg) => match predict(&ecg, &paper(), None) {
                Err(e) => one_line(&e),
                Ok(p) => {
                    let f = &p.figures;
                    for v in [
                        f.predicted_latency_us,
                        f.latency_overhead_us,
                        f.cpu_overhead_cores,
                    ] {
                        assert!(v.is_finite(), "{v}");
                    }
                    assert!(f.latency_overhead_us >= -1e-6 * p.base_latency_us.max(1.0));
                }
            },
        }
    }
}

/// A profile (JSON).
pub fn profile(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Profile::from_json(text, Path::new("p.json")) {
        Err(e) => one_line(&e),
        Ok(p) => {
            for mode in p.modes.keys() {
                let config = crate::vocab::SidecarConfig::plain(*mode);
                for s in [0.0, 100.0, crate::ecg::MAX_BYTES as f64] {
                    let c = p.traversal_cost(&config, s);
                    assert!(c.latency_total().is_finite() && c.latency_total() >= -1e-6);
                    assert!(c.cpu_total().is_finite() && c.cpu_total() >= -1e-6);
                }
            }
        }
    }
}

/// A speedup profile (TOML), applied to the paper's profile.
pub fn speedup(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Speedup::parse(text, Path::new("s.toml")) {
        Err(e) => one_line(&e),
        Ok(s) => match s.apply(&Profile::paper()) {
            Err(e) => one_line(&e),
            Ok(p) => assert!(p.validate().is_ok()),
        },
    }
}

/// A baseline (JSON).
pub fn baseline(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = crate::gate::Baseline::from_json(text, "b.json") {
        one_line(&e);
    }
}

/// What every graph a trace reader gives must satisfy.
fn check_graph(g: &Graph) {
    let ecg = Ecg::resolve(g.to_ecg_doc(&Defaults::default(), "fuzz"), Path::new("g"))
        .unwrap_or_else(|e| panic!("a trace's graph must be a valid ECG: {e}"));
    let mesh = Mesh {
        profiles: paper(),
        config: crate::vocab::SidecarConfig::plain(crate::vocab::Mode::Http),
    };
    let r = trace_report(&ecg, Some(&mesh)).expect("the paper's profile prices http");
    let root = ecg.calls[ecg.root].duration_us;
    let sum: f64 = r.path.path.iter().map(|s| s.exclusive_us).sum();
    assert!(
        (sum - root).abs() <= 1e-9 * root.max(1.0),
        "{sum} vs {root}"
    );
    let m = r.with_mesh.expect("a mesh was given");
    assert!(m.overhead_us.is_finite() && m.overhead_us >= 0.0);
}

fn span_files(traces: Result<Vec<spans::RawTrace>, crate::traces::TraceError>) {
    match traces {
        Err(e) => one_line(&e),
        Ok(traces) => {
            for t in &traces {
                match spans::to_graph(t, &mut Problems::default()) {
                    Err(e) => one_line(&e.in_file("t")),
                    Ok(Some(g)) => check_graph(&g),
                    Ok(None) => {}
                }
            }
        }
    }
}

/// A Jaeger JSON file.
pub fn jaeger(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        span_files(jaeger::parse(text, Path::new("t.json")));
    }
}

/// An OTLP JSON (Lines) file.
pub fn otlp(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        span_files(otlp::parse(text, Path::new("t.jsonl")));
    }
}

/// An Alibaba CallGraph CSV file, streamed by two workers.
pub fn alibaba(data: &[u8]) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("t.csv");
    std::fs::write(&file, data).expect("the input is written");
    let config = stream::StreamConfig {
        threads: 2,
        temp_dir: Some(dir.path().to_path_buf()),
        ..stream::StreamConfig::default()
    };
    match stream::read_all(&[file], &config) {
        Err(e) => one_line(&e),
        Ok((graphs, _)) => graphs.iter().for_each(check_graph),
    }
}
