//! `critical-path --config` on one trace of 50,000 spans nested 50,000 deep (each span the
//! only child of the one before, client and server alternating), timed as the command a user
//! runs (docs/traces.md, "Critical path at depth"). It must stay under a second; it took
//! 8.2 s when the table's lookups were quadratic in the path's length.
//!
//! cargo bench -p cargo-meshinsight --bench critical_path

use std::process::Command;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};

/// A Jaeger document of one trace of `depth` nested spans.
fn deep_trace(depth: usize) -> String {
    let spans: Vec<serde_json::Value> = (0..depth)
        .map(|i| {
            let kind = if i % 2 == 0 { "server" } else { "client" };
            let mut span = serde_json::json!({
                "spanID": format!("s{i}"),
                "operationName": format!("op{i}"),
                "startTime": 1_700_000_000_000_000u64 + i as u64,
                "duration": (4 * depth - 2 * i) as u64,
                "processID": format!("p{}", i / 2 % 50),
                "tags": [{"key": "span.kind", "value": kind}],
            });
            if i > 0 {
                span["references"] =
                    serde_json::json!([{"refType": "CHILD_OF", "spanID": format!("s{}", i - 1)}]);
            }
            span
        })
        .collect();
    let processes: serde_json::Map<String, serde_json::Value> = (0..50)
        .map(|p| {
            (
                format!("p{p}"),
                serde_json::json!({"serviceName": format!("svc{p}")}),
            )
        })
        .collect();
    serde_json::json!({"data": [{"traceID": "deep", "spans": spans, "processes": processes}]})
        .to_string()
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("deep.json");
    std::fs::write(&file, deep_trace(50_000)).unwrap();
    let run = || {
        let o = Command::new(env!("CARGO_BIN_EXE_cargo-meshinsight"))
            .args([
                "critical-path",
                "--config",
                "http",
                "--format",
                "json",
                "--quiet",
            ])
            .arg(&file)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        o.stdout.len()
    };
    let mut group = c.benchmark_group("critical-path");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.bench_function("--config http, 50k spans 50k deep (Jaeger JSON)", |b| {
        b.iter(run)
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
